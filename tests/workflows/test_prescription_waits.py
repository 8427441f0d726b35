"""No wait of a prescription is open-ended, on the dev server with stand-in activities: a
pending prescription looks itself up in DoseSpot by its deadline and picks up a send made
in DoseSpot's own UI; a push while it waits is taken at once and passed on to the
patient's workflow (and a patient without one does not stop it); printing ends it on
paper; a blocked step is tried again by itself; a long wait continues as new, keeping its
state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from tests.workflows.test_prescription import ScriptedDoseSpot
from worker import WORKFLOWS
from workflows.models import DoseSpotEvent
from workflows.patient_erx import patient_workflow_id
from workflows.prescription import PrescriptionWorkflow, prescription_workflow_id
from workflows.prescription_models import (
    DoseSpotRefs,
    PrescriptionInput,
    PrescriptionRef,
    PrescriptionStatus,
    PrescriptionTimings,
    SendRequest,
)

SECOND = 1 / 3600
QUICK = PrescriptionTimings(
    poll_seconds=0.2,
    poll_max_seconds=0.5,
    epcs_pickup_seconds=1.0,
    check_hours=SECOND,
    check_max_hours=SECOND,
)


def push(status: int) -> DoseSpotEvent:
    return DoseSpotEvent(
        event_type="PrescriptionResult",
        clinician_id=3,
        data={"PrescriptionId": 44, "PrescriptionStatus": status},
        received_at="2026-11-27T10:00:00+00:00",
    )


@workflow.defn(name="PatientStandIn", sandboxed=False)
class PatientStandIn:
    """Takes the pushes a prescription passes on, under the patient's workflow id."""

    def __init__(self) -> None:
        self._events: list[DoseSpotEvent] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal
    def dosespot_event(self, event: DoseSpotEvent) -> None:
        self._events.append(event)

    @workflow.query
    def events(self) -> list[DoseSpotEvent]:
        return self._events


async def start(
    client: Client,
    queue: str,
    timings: PrescriptionTimings = QUICK,
    client_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    rx_id = f"rx_{uuid.uuid4().hex[:12]}"
    return await client.start_workflow(
        PrescriptionWorkflow.run,
        PrescriptionInput(workspace_id="ws_w", rx_id=rx_id, timings=timings, client_id=client_id),
        id=prescription_workflow_id("ws_w", rx_id),
        task_queue=queue,
    )


def worker(client: Client, queue: str, activities: list[Callable[..., Any]]) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[*WORKFLOWS, PatientStandIn],
        activities=activities,
    )


async def until(
    handle: WorkflowHandle[Any, Any], check: Callable[[PrescriptionStatus], bool]
) -> PrescriptionStatus:
    for _ in range(150):
        status: PrescriptionStatus = await handle.query(PrescriptionWorkflow.status)
        if check(status):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"never matched: {status}")


async def test_a_send_in_dosespots_ui_is_picked_up_by_the_deadline_check(
    temporal: Client,
) -> None:
    scripted = ScriptedDoseSpot(statuses=["Entered", "eRxSent", "PharmacyVerified"])
    queue = f"rx-{uuid.uuid4()}"
    async with worker(temporal, queue, scripted.activities()):
        handle = await start(temporal, queue)
        saved = await handle.execute_update(PrescriptionWorkflow.save)
        assert saved.state == "pending"
        final = await handle.result()
    assert (final.state, final.dosespot_status) == ("sent", "PharmacyVerified")
    assert scripted.sends == 0, "DoseSpot's UI sent it; we did not"


async def test_a_push_while_pending_is_taken_and_passed_to_the_patient(
    temporal: Client,
) -> None:
    scripted = ScriptedDoseSpot(statuses=["PharmacyVerified"])
    queue = f"rx-{uuid.uuid4()}"
    slow = QUICK.model_copy(update={"check_hours": 1.0, "check_max_hours": 1.0})
    async with worker(temporal, queue, scripted.activities()):
        patient = await temporal.start_workflow(
            PatientStandIn.run, id=patient_workflow_id("ws_w", "c_w1"), task_queue=queue
        )
        handle = await start(temporal, queue, slow, client_id="c_w1")
        await handle.execute_update(PrescriptionWorkflow.save)
        await handle.signal(PrescriptionWorkflow.dosespot_event, push(4))
        final = await handle.result()
        passed_on = await patient.query(PatientStandIn.events)
        await patient.terminate("done")

        # A patient with no running workflow does not hold the prescription up.
        orphan = await start(temporal, queue, slow, client_id="c_nobody")
        await orphan.execute_update(PrescriptionWorkflow.save)
        await orphan.signal(PrescriptionWorkflow.dosespot_event, push(4))
        assert (await orphan.result()).state == "sent"
    assert (final.state, final.dosespot_status) == ("sent", "PharmacyVerified")
    assert [e.data["PrescriptionStatus"] for e in passed_on] == [4]
    assert scripted.sends == 0


async def test_printing_ends_it_on_paper(temporal: Client) -> None:
    scripted = ScriptedDoseSpot()
    queue = f"rx-{uuid.uuid4()}"
    slow = QUICK.model_copy(update={"check_hours": 1.0})
    async with worker(temporal, queue, scripted.activities()):
        handle = await start(temporal, queue, slow)
        await handle.execute_update(PrescriptionWorkflow.save)
        await handle.signal(PrescriptionWorkflow.printed)
        final = await handle.result()
    assert (final.state, final.dosespot_status) == ("printed", "Printed")
    assert final.allowed_actions == []
    assert scripted.snapshots[-1].state == "printed"


async def test_a_blocked_save_is_tried_again_by_itself(temporal: Client) -> None:
    scripted = ScriptedDoseSpot()
    attempts: list[int] = []

    @activity.defn(name="save_prescription")
    async def save_prescription(ref: PrescriptionRef) -> DoseSpotRefs:
        attempts.append(1)
        if len(attempts) == 1:
            raise ApplicationError(
                "Clinic is not valid", type="DoseSpotRefused", non_retryable=True
            )
        return DoseSpotRefs(clinic_id=1, patient_id=2, prescriber_id=3, prescription_id=44)

    activities = [a for a in scripted.activities() if a.__name__ != "save_prescription"]
    queue = f"rx-{uuid.uuid4()}"
    async with worker(temporal, queue, [*activities, save_prescription]):
        handle = await start(temporal, queue)
        blocked = await until(handle, lambda s: s.state == "blocked")
        assert blocked.blocked_reason and blocked.allowed_actions == ["retry", "cancel"]
        pending = await until(handle, lambda s: s.state == "pending")
        assert pending.dosespot_prescription_id == 44 and pending.blocked_reason is None
        await handle.terminate("done")
    assert len(attempts) == 2


async def test_a_long_wait_continues_as_new_and_keeps_its_state(temporal: Client) -> None:
    scripted = ScriptedDoseSpot(statuses=["Entered"])
    queue = f"rx-{uuid.uuid4()}"
    short = QUICK.model_copy(update={"history_limit": 40})
    async with worker(temporal, queue, scripted.activities()):
        handle = await start(temporal, queue, short)
        await handle.execute_update(PrescriptionWorkflow.save)
        first_run = (await handle.describe()).run_id
        for _ in range(200):
            current = await temporal.get_workflow_handle(handle.id).describe()
            if current.run_id != first_run:
                break
            await asyncio.sleep(0.1)
        assert current.run_id != first_run, "it never continued as new"
        latest: WorkflowHandle[Any, PrescriptionStatus] = temporal.get_workflow_handle(
            handle.id, result_type=PrescriptionStatus
        )
        carried = await latest.query(PrescriptionWorkflow.status)
        assert (carried.state, carried.dosespot_prescription_id) == ("pending", 44)
        scripted.statuses = ["PharmacyVerified"]
        sent = await latest.execute_update(PrescriptionWorkflow.send, SendRequest())
        assert sent.state == "transmitting"
        final = await latest.result()
    assert (final.state, final.dosespot_status) == ("sent", "PharmacyVerified")
    assert scripted.sends == 1
