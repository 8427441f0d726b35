"""ClinicSetup against the real dev server with stand-in activities."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

from erx.settings import Settings
from erx.temporal import SA_STAGE, data_converter
from worker import WORKFLOWS
from workflows.clinic_setup import ClinicSetupWorkflow
from workflows.models import (
    Address,
    ClinicRecord,
    ClinicSetupInput,
    ClinicStatus,
    EnsureClinicInput,
    RegisterClinicRequest,
)

ADDRESS = Address(street_address="1 Main St", city="Austin", state="TX", zip_code="78701")


def registered(input: EnsureClinicInput) -> ClinicRecord:
    return ClinicRecord(
        location_id=input.location_id,
        status=ClinicStatus.registered,
        clinic_name="Main Street Clinic",
        address=ADDRESS,
        dosespot_clinic_id=4242,
    )


@asynccontextmanager
async def setup_workflow(
    client: Client, ensure: Callable[[EnsureClinicInput], ClinicRecord]
) -> AsyncIterator[WorkflowHandle]:
    @activity.defn(name="ensure_clinic")
    async def ensure_clinic(input: EnsureClinicInput) -> ClinicRecord:
        return ensure(input)

    queue = f"test-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=[ensure_clinic]):
        handle = await client.start_workflow(
            ClinicSetupWorkflow.run,
            ClinicSetupInput(workspace_id=f"ws_{uuid.uuid4().hex[:8]}"),
            id=f"test-setup-{uuid.uuid4()}",
            task_queue=queue,
        )
        try:
            yield handle
        finally:
            await handle.terminate()


async def test_transient_failures_are_retried_then_step_two(temporal: Client) -> None:
    calls = {"n": 0}

    def flaky(input: EnsureClinicInput) -> ClinicRecord:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ApplicationError("DoseSpot is down", type="DoseSpotUnavailable")
        return registered(input)

    async with setup_workflow(temporal, flaky) as handle:
        record = await handle.execute_update(
            ClinicSetupWorkflow.register_clinic, RegisterClinicRequest(location_id="loc-1")
        )
        assert record.status == ClinicStatus.registered
        assert calls["n"] == 3
        progress = await handle.query(ClinicSetupWorkflow.progress)
        assert progress.stage == "inviting"
        assert progress.active_step == 2
        # A second request for the same location does not register it again.
        again = await handle.execute_update(
            ClinicSetupWorkflow.register_clinic, RegisterClinicRequest(location_id="loc-1")
        )
        assert again.dosespot_clinic_id == 4242
        assert calls["n"] == 3
        assert (await _details(handle)).startswith("Invite clinicians (inviting)")
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(SA_STAGE) == "inviting"


async def _details(handle: WorkflowHandle) -> str:
    """What ``workflow.set_current_details`` last said, as the Temporal UI shows it."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_refusal_blocks_then_retry_signal_registers(temporal: Client) -> None:
    outcome = {"refuse": True}

    def refusing(input: EnsureClinicInput) -> ClinicRecord:
        if outcome["refuse"]:
            raise ApplicationError(
                "Clinic address is invalid", type="DoseSpotRefused", non_retryable=True
            )
        return registered(input)

    async with setup_workflow(temporal, refusing) as handle:
        record = await handle.execute_update(
            ClinicSetupWorkflow.register_clinic, RegisterClinicRequest(location_id="loc-1")
        )
        assert record.status == ClinicStatus.blocked
        assert record.blocked_reason == "dosespot_refused"
        assert record.message == "Clinic address is invalid"
        progress = await handle.query(ClinicSetupWorkflow.progress)
        assert progress.stage == "registration_blocked"
        assert progress.blocked_reason == "dosespot_refused"

        outcome["refuse"] = False
        record = await handle.execute_update(
            ClinicSetupWorkflow.register_clinic, RegisterClinicRequest(location_id="loc-1")
        )
        assert record.status == ClinicStatus.registered
        progress = await handle.query(ClinicSetupWorkflow.progress)
        assert progress.stage == "inviting"
        assert progress.blocked_reason is None


async def test_second_location_keeps_stage_and_history_replays(
    temporal: Client, settings: Settings
) -> None:
    async with setup_workflow(temporal, registered) as handle:
        for location_id in ("loc-1", "loc-2"):
            await handle.execute_update(
                ClinicSetupWorkflow.register_clinic,
                RegisterClinicRequest(location_id=location_id),
            )
        progress = await handle.query(ClinicSetupWorkflow.progress)
        assert progress.stage == "inviting"
        assert sorted(c.location_id for c in progress.clinics) == ["loc-1", "loc-2"]
        history = await handle.fetch_history()
    await Replayer(workflows=WORKFLOWS, data_converter=data_converter(settings)).replay_workflow(
        history
    )
