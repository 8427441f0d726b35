"""Talking to PatientErx workflows: registration with update-with-start, sync, retry."""

from __future__ import annotations

from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy

from api.clinician_service import call
from erx.settings import Settings
from erx.temporal import update_result_within
from workflows.patient_erx import PatientErxWorkflow, patient_workflow_id
from workflows.patient_models import (
    PatientErxInput,
    PatientErxStatus,
    PatientRegistrationRequest,
    PatientTimings,
)


def timings(settings: Settings) -> PatientTimings:
    return PatientTimings(
        reconcile_interval_seconds=settings.patient_reconcile_interval_seconds,
        reconcile_window_hours=settings.patient_reconcile_window_hours,
        continue_as_new_after_events=settings.continue_as_new_after_events,
    )


def handle_for(client: Client, workspace_id: str, client_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle_for(
        PatientErxWorkflow.run, patient_workflow_id(workspace_id, client_id)
    )


async def register(
    temporal: Client,
    settings: Settings,
    workspace_id: str,
    client_id: str,
    request: PatientRegistrationRequest,
) -> PatientErxStatus | None:
    """Start the patient's workflow if it has none (never a second), then register.

    The answer once DoseSpot has the patient (or refused it), or None after
    ``ERX_PATIENT_WAIT_SECONDS`` while the workflow goes on.
    """
    start = WithStartWorkflowOperation(
        PatientErxWorkflow.run,
        PatientErxInput(workspace_id=workspace_id, client_id=client_id, timings=timings(settings)),
        id=patient_workflow_id(workspace_id, client_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=settings.task_queue,
    )
    update = await call(
        temporal.start_update_with_start_workflow(
            PatientErxWorkflow.register,
            request,
            start_workflow_operation=start,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
    )
    return await call(update_result_within(update, settings.patient_wait_seconds))


async def sync(
    temporal: Client, settings: Settings, workspace_id: str, client_id: str
) -> PatientErxStatus | None:
    handle = handle_for(temporal, workspace_id, client_id)
    update = await call(
        handle.start_update(PatientErxWorkflow.sync, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    )
    return await call(update_result_within(update, settings.patient_wait_seconds))


async def retry(temporal: Client, workspace_id: str, client_id: str) -> PatientErxStatus:
    handle = handle_for(temporal, workspace_id, client_id)
    status: PatientErxStatus = await call(handle.execute_update(PatientErxWorkflow.retry))
    return status
