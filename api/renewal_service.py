"""Talking to RenewalRequest workflows: finding DoseSpot's renewal requests, starting one
workflow per request (never a second), and the prescriber's answers as updates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal, Role
from api.clinician_service import refusal
from api.dosespot_calls import workspace_clinic
from api.errors import Conflict, Forbidden, NotFound
from db.models import ClinicianEnrollment, RenewalRequestRecord
from db.patients import PatientRegistration
from db.renewals import renewal_row
from dosespot import DoseSpotClient, DoseSpotCredentials, DoseSpotError
from dosespot.models import RefillRequestDetail
from erx.settings import Settings
from erx.temporal import update_result_within
from workflows.lifecycles import VERIFIED_STATES
from workflows.renewal import RenewalRequestWorkflow, renewal_workflow_id
from workflows.renewal_lifecycle import RENEWAL_FINAL_STATES
from workflows.renewal_models import (
    RenewalApproval,
    RenewalDenial,
    RenewalFacts,
    RenewalRequestInput,
    RenewalSnapshot,
    RenewalStatus,
    RenewalTimings,
)
from workflows.renewal_watch import (
    RenewalWatchInput,
    RenewalWatchWorkflow,
    renewal_watch_workflow_id,
)

logger = logging.getLogger("api.renewals")

T = TypeVar("T")

OPEN_STATES = ("pending", "approving", "denying", "blocked")
# A list of the renewals waits at most this long for DoseSpot's queues before it answers
# from the read model.
DISCOVERY_SECONDS = 10.0


def timings(settings: Settings) -> RenewalTimings:
    return RenewalTimings(continue_as_new_after_events=settings.continue_as_new_after_events)


def handle_for(temporal: Client, workspace_id: str, refill_id: int) -> WorkflowHandle[Any, Any]:
    return temporal.get_workflow_handle_for(
        RenewalRequestWorkflow.run, renewal_workflow_id(workspace_id, refill_id)
    )


async def call(awaitable: Awaitable[T], state: str) -> T:
    """Await a renewal workflow call; refusals and an ended request become HTTP errors."""
    try:
        return await awaitable
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from err
    except RPCError as err:
        if "already completed" in str(err).lower():
            raise Conflict(
                "this renewal request is no longer pending", state=state, allowed_actions=[]
            ) from err
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound("no such renewal request") from err
        raise


# Finding the requests ------------------------------------------------------------------


async def discover(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    dosespot: DoseSpotClient,
    ws: str,
    *,
    clinician_id: int | None = None,
) -> None:
    """Bring DoseSpot's renewal queues of the workspace's verified clinicians (or one of
    them) into workflows: a request DoseSpot lists gets its RenewalRequest (started once;
    a request already answered or expired is never started again), and the workflow of an
    open request DoseSpot no longer lists is told to look (it was answered in DoseSpot's
    UI, or expired). A clinician whose queue cannot be read is skipped this time.
    """
    query = select(ClinicianEnrollment.member_id, ClinicianEnrollment.dosespot_clinician_id).where(
        ClinicianEnrollment.workspace_id == ws,
        ClinicianEnrollment.dosespot_clinician_id.is_not(None),
        ClinicianEnrollment.state.in_(VERIFIED_STATES),
    )
    if clinician_id is not None:
        query = query.where(ClinicianEnrollment.dosespot_clinician_id == clinician_id)
    prescribers = {row.dosespot_clinician_id: row.member_id for row in await session.execute(query)}
    if not prescribers:
        return
    clinic = await workspace_clinic(session, settings, ws)
    patients = {
        row.dosespot_patient_id: row.client_id
        for row in await session.execute(
            select(PatientRegistration.dosespot_patient_id, PatientRegistration.client_id).where(
                PatientRegistration.workspace_id == ws,
                PatientRegistration.dosespot_patient_id.is_not(None),
            )
        )
    }
    open_requests = (
        await session.execute(
            select(
                RenewalRequestRecord.refill_id, RenewalRequestRecord.dosespot_clinician_id
            ).where(
                RenewalRequestRecord.workspace_id == ws,
                RenewalRequestRecord.state.in_(OPEN_STATES),
                RenewalRequestRecord.dosespot_clinician_id.in_(list(prescribers)),
            )
        )
    ).all()
    await session.commit()

    listed: dict[int, RenewalFacts] = {}
    read: set[int] = set()
    for prescriber in sorted(prescribers):
        client = dosespot.as_user(
            DoseSpotCredentials(
                clinic_id=clinic.clinic_id, clinic_key=clinic.key, user_id=prescriber
            )
        )
        try:
            queue = await client.pending_refills_detailed(clinic="All")
        except DoseSpotError as err:
            logger.warning(
                "renewal queue of clinician %s in workspace %s not read: %s",
                prescriber,
                ws,
                type(err).__name__,
            )
            continue
        read.add(prescriber)
        for request in queue:
            facts = _facts(request, clinic.clinic_id, prescriber, prescribers, patients)
            listed[facts.refill_id] = facts

    await _keep_rows(session, ws, listed.values())
    starts = [_start(temporal, settings, ws, facts) for facts in listed.values()]
    gone = [
        _refresh(temporal, ws, row.refill_id)
        for row in open_requests
        if row.dosespot_clinician_id in read and row.refill_id not in listed
    ]
    await asyncio.gather(*starts, *gone)


def _facts(
    request: RefillRequestDetail,
    clinic_id: int,
    prescriber: int,
    prescribers: dict[int, str],
    patients: dict[int | None, str],
) -> RenewalFacts:
    requested_at = request.requested_date
    expires_at = request.request_expiration_date or (
        (requested_at or datetime.now(UTC)) + timedelta(days=RenewalTimings().default_lifetime_days)
    )
    clinician = request.clinician_id or prescriber
    return RenewalFacts(
        refill_id=request.refill_id,
        dosespot_clinic_id=request.clinic_id or clinic_id,
        dosespot_clinician_id=clinician,
        dosespot_patient_id=request.patient_id,
        member_id=prescribers.get(clinician),
        client_id=patients.get(request.patient_id),
        requested_prescription_id=request.requested_prescription_id
        or (
            request.requested_prescription.prescription_id
            if request.requested_prescription
            else None
        ),
        original_prescription_id=request.original_prescription_id
        or (
            request.original_prescription.prescription_id if request.original_prescription else None
        ),
        pharmacy_id=request.pharmacy_id,
        medication=request.display_name,
        schedule=request.schedule,
        controlled=request.controlled,
        requested_at=requested_at,
        expires_at=expires_at,
    )


async def _keep_rows(session: AsyncSession, ws: str, found: Any) -> None:
    """A row for each request first seen, so the list shows it at once; the workflow
    keeps it current from then on."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for facts in found:
        values = renewal_row(RenewalSnapshot(workspace_id=ws, facts=facts, state="pending"))
        await session.execute(
            insert(RenewalRequestRecord)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["workspace_id", "refill_id"])
        )
    await session.commit()


async def _start(temporal: Client, settings: Settings, ws: str, facts: RenewalFacts) -> None:
    try:
        await temporal.start_workflow(
            RenewalRequestWorkflow.run,
            RenewalRequestInput(workspace_id=ws, facts=facts, timings=timings(settings)),
            id=renewal_workflow_id(ws, facts.refill_id),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # An answered or expired request is never opened again.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass
    except RPCError as err:
        logger.warning(
            "renewal %s of workspace %s not started: %s", facts.refill_id, ws, err.status
        )


async def _refresh(temporal: Client, ws: str, refill_id: int) -> None:
    try:
        await handle_for(temporal, ws, refill_id).signal(RenewalRequestWorkflow.refresh)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            logger.warning("renewal %s of workspace %s not told: %s", refill_id, ws, err.status)


# The prescriber's answers ----------------------------------------------------------------


async def renewal(session: AsyncSession, ws: str, refill_id: int) -> RenewalRequestRecord:
    row = await session.get(RenewalRequestRecord, (ws, refill_id), populate_existing=True)
    if row is None:
        raise NotFound("no such renewal request")
    return row


def require_prescriber(principal: Principal, row: RenewalRequestRecord) -> None:
    """The EHR's service key answers for the prescriber; a person's key only their own."""
    if principal.role == Role.service:
        return
    if principal.member_id is None or principal.member_id != row.member_id:
        raise Forbidden("only the prescriber the request waits for may answer it")


async def approve(
    temporal: Client, settings: Settings, ws: str, row: RenewalRequestRecord, body: RenewalApproval
) -> RenewalStatus | None:
    """The answer once DoseSpot took (or refused) the approval, or None after
    ``ERX_PATIENT_WAIT_SECONDS`` while the workflow goes on."""
    return await _update(temporal, settings, ws, row, RenewalRequestWorkflow.approve, body)


async def deny(
    temporal: Client, settings: Settings, ws: str, row: RenewalRequestRecord, body: RenewalDenial
) -> RenewalStatus | None:
    return await _update(temporal, settings, ws, row, RenewalRequestWorkflow.deny, body)


async def retry(
    temporal: Client, settings: Settings, ws: str, row: RenewalRequestRecord
) -> RenewalStatus | None:
    handle = handle_for(temporal, ws, row.refill_id)
    update = await call(
        handle.start_update(
            RenewalRequestWorkflow.retry, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        ),
        row.state,
    )
    return await call(update_result_within(update, settings.patient_wait_seconds), row.state)


async def _update(
    temporal: Client,
    settings: Settings,
    ws: str,
    row: RenewalRequestRecord,
    update: Any,
    arg: Any,
) -> RenewalStatus | None:
    if row.state in RENEWAL_FINAL_STATES:
        raise Conflict(f"this renewal request is {row.state}", state=row.state, allowed_actions=[])
    handle = handle_for(temporal, ws, row.refill_id)
    started = await call(
        handle.start_update(update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED), row.state
    )
    return await call(update_result_within(started, settings.patient_wait_seconds), row.state)


def discovery(
    temporal: Client,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    dosespot: DoseSpotClient,
) -> Callable[[str], Awaitable[None]]:
    """A round of :func:`discover` for a workspace, as the RenewalWatch runs it; a workspace
    with no registered clinic yet has nothing to read."""

    async def discover_in(ws: str) -> None:
        async with sessionmaker() as session:
            try:
                await discover(session, temporal, settings, dosespot, ws)
            except Conflict:
                await session.rollback()

    return discover_in


async def ensure_watch(temporal: Client, settings: Settings, ws: str, *, look_now: bool) -> None:
    """The workspace's RenewalWatch, started if it is not running (never a second);
    ``look_now`` has it read the queues at once. A failure is logged: the next invitation,
    list or push starts it."""
    try:
        await temporal.start_workflow(
            RenewalWatchWorkflow.run,
            RenewalWatchInput(
                workspace_id=ws,
                poll_minutes=settings.renewal_poll_minutes,
                continue_as_new_after_events=settings.continue_as_new_after_events,
            ),
            id=renewal_watch_workflow_id(ws),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="look_now" if look_now else None,
        )
    except RPCError as err:
        logger.warning("renewal watch of workspace %s not started: %s", ws, err.status)


async def discover_for_clinician(app_state: Any, clinician_id: int) -> None:
    """After a notification-counts push: the clinician's renewal queue, as :func:`discover`.

    Runs after the push is answered, with its own database session; a failure is logged
    and left to the next push or list.
    """
    try:
        async with app_state.sessionmaker() as session:
            ws = await session.scalar(
                select(ClinicianEnrollment.workspace_id).where(
                    ClinicianEnrollment.dosespot_clinician_id == clinician_id
                )
            )
            if ws is None:
                return
            await ensure_watch(app_state.temporal, app_state.settings, ws, look_now=False)
            await asyncio.wait_for(
                discover(
                    session,
                    app_state.temporal,
                    app_state.settings,
                    app_state.dosespot,
                    ws,
                    clinician_id=clinician_id,
                ),
                timeout=DISCOVERY_SECONDS,
            )
    except Exception as err:  # a push's follow-up never fails the API
        logger.warning(
            "renewal queue of clinician %s not read: %s", clinician_id, type(err).__name__
        )
