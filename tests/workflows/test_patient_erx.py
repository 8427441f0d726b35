"""PatientErx on the time-skipping server, DoseSpot scripted: registration, updates,
blocked and retry, syncs on request and on pushes, and the reconciliation poll that
catches a lost push within one interval and then stops."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from erx.settings import Settings
from erx.temporal import SA_BLOCKED_REASON
from tests.conftest import time_skipping_env
from worker import WORKFLOWS
from workflows.models import DoseSpotEvent
from workflows.patient_erx import PatientErxWorkflow, patient_workflow_id
from workflows.patient_models import (
    EnsurePatientInput,
    Measure,
    PatientDetails,
    PatientErxInput,
    PatientRegistrationRequest,
    PatientSnapshot,
    PatientTimings,
    Sex,
    SyncPatientInput,
    SyncSummary,
)

DETAILS = PatientDetails(
    first_name="Sam",
    last_name="Rivera",
    date_of_birth=date(2015, 6, 1),
    sex=Sex.Female,
    phone="+12127365000",
    address1="1 Main St",
    city="Austin",
    state="TX",
    zip_code="78701",
    height=Measure(value=130, unit="cm"),
    weight=Measure(value=28, unit="kg"),
)
REQUEST = PatientRegistrationRequest(dosespot_clinic_id=77, details=DETAILS)
TIMINGS = PatientTimings(reconcile_interval_seconds=600, reconcile_window_hours=2)


@dataclass
class ScriptedPatients:
    ensures: list[EnsurePatientInput] = field(default_factory=list)
    syncs: int = 0
    snapshots: list[PatientSnapshot] = field(default_factory=list)
    failures: dict[str, list[BaseException]] = field(default_factory=dict)

    def _maybe_fail(self, name: str) -> None:
        pending = self.failures.get(name)
        if pending:
            raise pending.pop(0)

    def activities(self) -> list[Any]:
        @activity.defn(name="ensure_patient")
        async def ensure_patient(input: EnsurePatientInput) -> int:
            self._maybe_fail("ensure_patient")
            self.ensures.append(input)
            return input.dosespot_patient_id or 9001

        @activity.defn(name="sync_patient")
        async def sync_patient(input: SyncPatientInput) -> SyncSummary:
            self._maybe_fail("sync_patient")
            self.syncs += 1
            return SyncSummary(prescriptions=2, synced_at=datetime.now(UTC))

        @activity.defn(name="record_patient")
        async def record_patient(snapshot: PatientSnapshot) -> None:
            self.snapshots.append(snapshot)

        return [ensure_patient, sync_patient, record_patient]


@pytest.fixture
async def time_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env(settings) as env:
        yield env


@asynccontextmanager
async def patient(
    env: WorkflowEnvironment, scripted: ScriptedPatients, timings: PatientTimings = TIMINGS
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    queue = f"patient-{uuid.uuid4()}"
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=scripted.activities()
    ):
        handle = await env.client.start_workflow(
            PatientErxWorkflow.run,
            PatientErxInput(workspace_id=ws, client_id="c_1", timings=timings),
            id=patient_workflow_id(ws, "c_1"),
            task_queue=queue,
        )
        yield handle


async def register(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], request: PatientRegistrationRequest
) -> Any:
    pending = await handle.start_update(
        PatientErxWorkflow.register, request, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    await env.sleep(timedelta(seconds=5))
    return await pending.result()


async def test_registers_then_updates_the_same_patient(time_env: WorkflowEnvironment) -> None:
    scripted = ScriptedPatients()
    async with patient(time_env, scripted) as handle:
        status = await register(time_env, handle, REQUEST)
        assert status.state == "registered"
        assert status.dosespot_patient_id == 9001
        assert scripted.ensures[0].dosespot_patient_id is None
        assert scripted.syncs == 1, "a registration pulls the medication record"
        assert scripted.snapshots[-1].state == "registered"

        edited = REQUEST.model_copy(
            update={"details": DETAILS.model_copy(update={"last_name": "Rivera-Cruz"})}
        )
        status = await register(time_env, handle, edited)
        assert status.state == "registered"
        assert len(scripted.ensures) == 2
        # The second request updates the patient the first one made.
        assert scripted.ensures[1].dosespot_patient_id == 9001
        assert scripted.ensures[1].request.details.last_name == "Rivera-Cruz"


async def test_a_refusal_blocks_and_retry_registers(time_env: WorkflowEnvironment) -> None:
    scripted = ScriptedPatients()
    scripted.failures["ensure_patient"] = [
        ApplicationError("Weight is required", type="DoseSpotValidationError", non_retryable=True)
    ]
    async with patient(time_env, scripted) as handle:
        status = await register(time_env, handle, REQUEST)
        assert status.state == "blocked"
        assert status.blocked is not None
        assert status.blocked.reason == "dosespot_rejected_data"
        assert status.blocked.message == "Weight is required"
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert description.typed_search_attributes.get(SA_BLOCKED_REASON) == (
            "dosespot_rejected_data"
        )
        assert scripted.snapshots[-1].blocked_reason == "dosespot_rejected_data"

        assert (await handle.execute_update(PatientErxWorkflow.retry)).state == "registering"
        await time_env.sleep(timedelta(seconds=5))
        status = await handle.query(PatientErxWorkflow.status)
        assert status.state == "registered"
        assert status.blocked is None


async def test_pushes_and_requests_sync_and_the_poll_stops_after_the_window(
    time_env: WorkflowEnvironment,
) -> None:
    scripted = ScriptedPatients()
    async with patient(time_env, scripted) as handle:
        await register(time_env, handle, REQUEST)
        assert scripted.syncs == 1

        status = await handle.execute_update(PatientErxWorkflow.sync)
        assert status.last_synced is not None
        assert scripted.syncs == 2

        await handle.signal(
            PatientErxWorkflow.dosespot_event,
            DoseSpotEvent(event_type="PrescriptionResult", data={"PatientId": 9001}),
        )
        await time_env.sleep(timedelta(seconds=5))
        assert scripted.syncs == 3

        # No push comes: the reconciliation poll pulls every 10 minutes for 2 hours...
        await time_env.sleep(timedelta(hours=3))
        polled = scripted.syncs - 3
        assert 10 <= polled <= 13, polled
        # ...and then stops: a quiet patient costs nothing.
        await time_env.sleep(timedelta(days=30))
        assert scripted.syncs - 3 == polled


async def test_a_lost_push_is_caught_within_one_interval(time_env: WorkflowEnvironment) -> None:
    scripted = ScriptedPatients()
    async with patient(time_env, scripted) as handle:
        await register(time_env, handle, REQUEST)
        before = scripted.syncs
        await time_env.sleep(timedelta(seconds=TIMINGS.reconcile_interval_seconds + 30))
        assert scripted.syncs == before + 1


async def test_history_stays_bounded_by_continue_as_new(time_env: WorkflowEnvironment) -> None:
    scripted = ScriptedPatients()
    timings = TIMINGS.model_copy(
        update={"reconcile_window_hours": 48, "continue_as_new_after_events": 200}
    )
    async with patient(time_env, scripted, timings) as handle:
        first_run = (await handle.describe()).run_id
        await register(time_env, handle, REQUEST)
        await time_env.sleep(timedelta(hours=48))
        status = await handle.query(PatientErxWorkflow.status)
        assert status.state == "registered"
        assert status.dosespot_patient_id == 9001
        assert (await handle.describe()).run_id != first_run
        assert len((await handle.fetch_history()).events) < 300
        assert scripted.syncs > 200
