"""Talking to the ClinicSetup workflow: start-if-absent, register a clinic, read progress."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
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
from db.clinics import clinic_record
from db.models import ClinicianEnrollment, ClinicRegistration
from erx.settings import Settings
from erx.temporal import SA_STAGE, SA_WORKSPACE, update_result_within
from workflows.clinic_setup import ClinicSetupWorkflow, clinic_setup_workflow_id, setup_summary
from workflows.lifecycles import SETUP_ACTIVE_STEP, setup_stage_for, setup_steps
from workflows.models import (
    ClinicRecord,
    ClinicSetupInput,
    ClinicStatus,
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
    handle = client.get_workflow_handle(clinic_setup_workflow_id(workspace_id))
    try:
        return await handle.query(ClinicSetupWorkflow.progress)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return empty_progress(workspace_id)
        raise


async def progress_from_read_model(
    session: AsyncSession, client: Client, workspace_id: str, strong: bool = False
) -> SetupProgress:
    """The four steps, answered from the read model while every clinic is registered.

    The clinicians' part (steps 2 to 4) always comes from the clinicians' rows, which each
    enrollment updates before it answers or moves on, so this never shows fewer verified
    clinicians than a clinician's own answer. A clinic still registering or blocked (or
    ``strong``) is read from the ClinicSetup workflow, which holds the failed call's facts.
    The session's connection is given back before the workflow is asked.
    """
    registrations = (
        await session.scalars(
            select(ClinicRegistration)
            .where(ClinicRegistration.workspace_id == workspace_id)
            .order_by(ClinicRegistration.created_at)
        )
    ).all()
    # One row per state, not per clinician.
    counted = {
        state: count
        for state, count in await session.execute(
            select(ClinicianEnrollment.state, func.count())
            .where(ClinicianEnrollment.workspace_id == workspace_id)
            .group_by(ClinicianEnrollment.state)
        )
    }
    await session.commit()
    final = bool(registrations) and all(
        r.status == ClinicStatus.registered.value for r in registrations
    )
    if strong or not final:
        answer = await progress(client, workspace_id)
        if answer.stage not in CLINICIAN_STAGES:
            return answer
        clinics = answer.clinics
    else:
        clinics = [clinic_record(r) for r in registrations]
    stage = setup_stage_for(list(counted))
    invited = sum(n for state, n in counted.items() if state != "deactivated")
    return SetupProgress(
        workspace_id=workspace_id,
        stage=stage,
        active_step=SETUP_ACTIVE_STEP[stage],
        steps=setup_steps(stage),
        clinics=clinics,
        summary=setup_summary(stage, clinics, invited, None),
    )


# The stages past clinic registration, where the clinicians decide the step.
CLINICIAN_STAGES = ("inviting", "verifying", "ready")
