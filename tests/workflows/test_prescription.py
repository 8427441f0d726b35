"""The Prescription workflow with stand-in activities on the dev server: save, send, the
status followed by polling and pushes, a refused send, a second send of a prescription
DoseSpot took, and a controlled-substance send whose codes are gone (sign again)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.worker import Worker

from worker import WORKFLOWS
from workflows.models import DoseSpotEvent
from workflows.prescription import PrescriptionWorkflow, prescription_workflow_id
from workflows.prescription_models import (
    CancelInput,
    DoseSpotRefs,
    EpcsSigning,
    PrescriptionInput,
    PrescriptionRef,
    PrescriptionSnapshot,
    PrescriptionTimings,
    SendInput,
    SendRequest,
    SendResult,
    StatusInput,
    StatusObservation,
)

FAST = PrescriptionTimings(poll_seconds=0.2, poll_max_seconds=0.5, epcs_pickup_seconds=1.0)


@dataclass
class ScriptedDoseSpot:
    """Stand-ins for the prescription activities, under their real names."""

    statuses: list[str] = field(default_factory=lambda: ["eRxSent", "PharmacyVerified"])
    refusals: list[str] = field(default_factory=list)
    sends: int = 0
    snapshots: list[PrescriptionSnapshot] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="save_prescription")
        async def save_prescription(ref: PrescriptionRef) -> DoseSpotRefs:
            return DoseSpotRefs(clinic_id=1, patient_id=2, prescriber_id=3, prescription_id=44)

        @activity.defn(name="send_prescription")
        async def send_prescription(input: SendInput) -> SendResult:
            if self.refusals:
                return SendResult(accepted=False, description=self.refusals.pop(0))
            self.sends += 1
            return SendResult(accepted=True)

        @activity.defn(name="prescription_status")
        async def prescription_status(input: StatusInput) -> StatusObservation:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return StatusObservation(
                status=status, details="Rejected" if status == "Error" else None
            )

        @activity.defn(name="cancel_prescription")
        async def cancel_prescription(input: CancelInput) -> None:
            return None

        @activity.defn(name="record_prescription")
        async def record_prescription(snapshot: PrescriptionSnapshot) -> None:
            self.snapshots.append(snapshot)

        return [
            save_prescription,
            send_prescription,
            prescription_status,
            cancel_prescription,
            record_prescription,
        ]


async def start(
    client: Client, queue: str, controlled: bool = False
) -> tuple[str, WorkflowHandle[Any, Any]]:
    rx_id = f"rx_{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(
        PrescriptionWorkflow.run,
        PrescriptionInput(workspace_id="ws_t", rx_id=rx_id, controlled=controlled, timings=FAST),
        id=prescription_workflow_id("ws_t", rx_id),
        task_queue=queue,
    )
    return rx_id, handle


async def test_saved_sent_and_followed_to_pharmacy_verified(temporal: Client) -> None:
    scripted = ScriptedDoseSpot()
    queue = f"rx-{uuid.uuid4()}"
    async with Worker(
        temporal, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        _, handle = await start(temporal, queue)
        saved = await handle.execute_update(PrescriptionWorkflow.save)
        assert saved.state == "pending" and saved.dosespot_prescription_id == 44
        sent = await handle.execute_update(PrescriptionWorkflow.send, SendRequest())
        assert sent.state == "transmitting"
        final = await handle.result()
    assert final.state == "sent" and final.dosespot_status == "PharmacyVerified"
    assert scripted.sends == 1
    recorded = [s.dosespot_status for s in scripted.snapshots]
    assert recorded.index("eRxSent") < recorded.index("PharmacyVerified"), recorded
    assert scripted.snapshots[-1].state == "sent"


async def test_a_refused_send_stays_pending_and_a_taken_one_is_not_sent_again(
    temporal: Client,
) -> None:
    scripted = ScriptedDoseSpot(statuses=["eRxSent"], refusals=["The pharmacy is closed."])
    queue = f"rx-{uuid.uuid4()}"
    async with Worker(
        temporal, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        _, handle = await start(temporal, queue)
        refused = await handle.execute_update(PrescriptionWorkflow.send, SendRequest())
        assert refused.state == "pending" and refused.refusal == "The pharmacy is closed."
        sent = await handle.execute_update(PrescriptionWorkflow.send, SendRequest())
        assert sent.state == "transmitting" and sent.refusal is None
        for _ in range(50):
            status = await handle.query(PrescriptionWorkflow.status)
            if status.dosespot_status == "eRxSent":
                break
            await asyncio.sleep(0.1)
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await handle.execute_update(PrescriptionWorkflow.send, SendRequest())
        assert "already sent" in str(again.value.cause)
        await handle.terminate("done")
    assert scripted.sends == 1


async def test_a_push_reports_an_error_with_its_details(temporal: Client) -> None:
    scripted = ScriptedDoseSpot(statuses=["Sending"])
    queue = f"rx-{uuid.uuid4()}"
    async with Worker(
        temporal, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        _, handle = await start(temporal, queue)
        await handle.execute_update(PrescriptionWorkflow.send, SendRequest())
        await handle.signal(
            PrescriptionWorkflow.dosespot_event,
            DoseSpotEvent(
                event_type="PrescriptionResult",
                clinician_id=3,
                data={"PrescriptionId": 44, "PrescriptionStatus": 6, "StatusDetails": "NCPDP 12"},
                received_at="2026-11-27T10:00:00+00:00",
            ),
        )
        for _ in range(50):
            status = await handle.query(PrescriptionWorkflow.status)
            if status.state == "error":
                break
            await asyncio.sleep(0.1)
        assert status.dosespot_status == "Error" and status.status_details == "NCPDP 12"
        assert status.allowed_actions == ["send", "cancel"]
        await handle.terminate("done")


async def test_a_controlled_send_nobody_can_sign_asks_to_sign_again(temporal: Client) -> None:
    """The API process holding the codes is gone: no worker takes its queue."""
    scripted = ScriptedDoseSpot()
    queue = f"rx-{uuid.uuid4()}"
    async with Worker(
        temporal, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        _, handle = await start(temporal, queue, controlled=True)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(PrescriptionWorkflow.send, SendRequest())
        gone = EpcsSigning(task_queue=f"erx-epcs-{uuid.uuid4().hex}", nonce="n1")
        status = await handle.execute_update(PrescriptionWorkflow.send, SendRequest(epcs=gone))
        assert status.state == "signature_required"
        assert status.allowed_actions == ["send", "cancel"]
        await handle.terminate("done")
    assert scripted.sends == 0
