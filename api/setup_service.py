"""Talking to the ClinicSetup workflow: start-if-absent, register a clinic, read progress."""

from __future__ import annotations

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict
from erx.settings import Settings
from erx.temporal import SA_STAGE, SA_WORKSPACE, update_result_within
from workflows.clinic_setup import ClinicSetupWorkflow, clinic_setup_workflow_id
from workflows.lifecycles import setup_steps
from workflows.models import (
    ClinicRecord,
    ClinicSetupInput,
    RegisterClinicRequest,
    SetupProgress,
)


def _start_operation(settings: Settings, workspace_id: str) -> WithStartWorkflowOperation:
    return WithStartWorkflowOperation(
        ClinicSetupWorkflow.run,
        ClinicSetupInput(workspace_id=workspace_id),
        id=clinic_setup_workflow_id(workspace_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(SA_WORKSPACE, workspace_id),
                SearchAttributePair(SA_STAGE, "no_clinic"),
            ]
        ),
    )


async def register_clinic(
    client: Client, settings: Settings, workspace_id: str, location_id: str, wait: float
) -> ClinicRecord | None:
    """Ask the workspace's ClinicSetup (started if absent) to register the location.

    Returns the clinic once registered or blocked, or None if it is still registering
    after ``wait`` seconds (the workflow carries on).
    """
    try:
        handle = await client.start_update_with_start_workflow(
            ClinicSetupWorkflow.register_clinic,
            RegisterClinicRequest(location_id=location_id),
            start_workflow_operation=_start_operation(settings, workspace_id),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
    except WorkflowUpdateFailedError as err:
        raise Conflict(str(err.cause or err)) from err
    return await update_result_within(handle, wait)


def empty_progress(workspace_id: str) -> SetupProgress:
    return SetupProgress(
        workspace_id=workspace_id,
        stage="no_clinic",
        active_step=1,
        steps=setup_steps("no_clinic"),
        clinics=[],
        summary="Create workspace (no_clinic); eRx setup has not started",
    )


async def progress(client: Client, workspace_id: str) -> SetupProgress:
    handle = client.get_workflow_handle_for(
        ClinicSetupWorkflow.run, clinic_setup_workflow_id(workspace_id)
    )
    try:
        return await handle.query(ClinicSetupWorkflow.progress)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return empty_progress(workspace_id)
        raise
