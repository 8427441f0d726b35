"""Talking to PatientErx workflows: registration with update-with-start, sync, retry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy

from api.clinician_service import call
from api.errors import Conflict, NotFound
from api.patient_schemas import PatientRegistrationIn, patient_registration
from db.models import Client as ClientRecord
from db.models import ClinicRegistration
from db.patients import PatientRegistration
from erx.settings import Settings
from erx.temporal import update_result_within
from workflows.models import ClinicStatus
from workflows.patient_erx import PatientErxWorkflow, patient_workflow_id
from workflows.patient_models import (
    InsurancePlan,
    Measure,
    PatientDetails,
    PatientErxInput,
    PatientErxStatus,
    PatientRegistrationRequest,
    PatientTimings,
    Sex,
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


async def _clinic_for(session: AsyncSession, ws: str, current: PatientRegistration | None) -> int:
    """The DoseSpot clinic the patient lives in: theirs, or the workspace's first."""
    if current is not None and current.dosespot_clinic_id is not None:
        return current.dosespot_clinic_id
    clinic_id = await session.scalar(
        select(ClinicRegistration.dosespot_clinic_id)
        .where(
            ClinicRegistration.workspace_id == ws,
            ClinicRegistration.status == ClinicStatus.registered.value,
        )
        .order_by(ClinicRegistration.created_at)
        .limit(1)
    )
    if clinic_id is None:
        raise Conflict(
            "Register the clinic with DoseSpot before registering patients",
            state="no_clinic",
            allowed_actions=["register_clinic"],
        )
    return clinic_id


async def registration_request(
    session: AsyncSession,
    settings: Settings,
    ws: str,
    client_id: str,
    client: ClientRecord,
    body: PatientRegistrationIn,
) -> PatientRegistrationRequest:
    """What DoseSpot is sent: the client record with the body's overrides, checked (422)."""
    merged = patient_registration(
        client, body, datetime.now(UTC).date(), settings.pediatric_vitals_max_age
    )
    current = await session.get(PatientRegistration, (ws, client_id))
    return PatientRegistrationRequest(
        dosespot_clinic_id=await _clinic_for(session, ws, current),
        details=PatientDetails(
            first_name=merged.first_name,
            middle_name=merged.middle_name,
            last_name=merged.last_name,
            date_of_birth=merged.date_of_birth,
            sex=Sex(merged.sex),
            phone=merged.phone,
            phone_type=merged.phone_type,
            email=merged.email,
            address1=merged.address.street_address,
            address2=merged.address.suburb,
            city=merged.address.city,
            state=merged.address.state,
            zip_code=merged.address.zip_code,
            medical_record_number=merged.medical_record_number,
            height=Measure(value=merged.height.value, unit=merged.height.unit)
            if merged.height
            else None,
            weight=Measure(value=merged.weight.value, unit=merged.weight.unit)
            if merged.weight
            else None,
            insurance=InsurancePlan(
                payer_name=merged.insurance.payer_name,
                payer_id=merged.insurance.payer_id,
                member_id=merged.insurance.member_id,
                group_id=merged.insurance.group_id,
            )
            if merged.insurance and merged.insurance.payer_id
            else None,
        ),
    )


async def follow_client_record(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    ws: str,
    client: ClientRecord,
) -> None:
    """A registered patient's DoseSpot record follows a change of the client record.

    The changed record is checked as a registration would be (422, nothing written), and
    sent from the client record alone: overrides given to an earlier registration apply to
    that registration only.
    """
    current = await session.get(PatientRegistration, (ws, client.id))
    if current is None or current.state == "unregistered":
        return
    request = await registration_request(
        session, settings, ws, client.id, client, PatientRegistrationIn()
    )
    await session.commit()
    await register(temporal, settings, ws, client.id, request)


async def client_record(session: AsyncSession, ws: str, client_id: str) -> ClientRecord:
    """The workspace's client, or NotFound (another workspace's does not exist here)."""
    client = await session.get(ClientRecord, (ws, client_id))
    if client is None:
        raise NotFound("no such client")
    return client


async def registered_patient(session: AsyncSession, ws: str, client_id: str) -> PatientRegistration:
    """The client's DoseSpot registration, or Conflict (409) if there is none yet."""
    row = await session.get(PatientRegistration, (ws, client_id))
    if row is None or row.dosespot_patient_id is None or row.state == "unregistered":
        raise Conflict(
            "the patient is not registered with DoseSpot",
            state=row.state if row else "unregistered",
            allowed_actions=["register"],
        )
    return row
