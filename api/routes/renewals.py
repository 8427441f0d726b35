"""Renewal (refill) requests: the list, and the prescriber's approval or denial.

The list answers from the read model after asking DoseSpot's queues (bounded, so a slow
DoseSpot only delays it). Answers wait on the request's workflow with no database
connection held (``session.commit()`` before the await).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import renewal_service as svc
from api.auth import Principal, Role
from api.clinician_service import UpdateRefused, require_controlled_substance_permission
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.dosespot_calls import DoseSpotDep
from api.errors import Conflict
from api.renewal_schemas import RenewalApprovalIn, RenewalDenialIn, RenewalList, RenewalPublic
from api.schemas import PathId, ResourceId, utc
from db.audit import append_audit
from db.models import RenewalRequestRecord
from workflows.clinician_enrollment import CONTROLLED_SUBSTANCE_REFUSAL
from workflows.models import EpcsAuditInput
from workflows.renewal_lifecycle import renewal_allowed_actions
from workflows.renewal_models import RenewalApproval, RenewalDenial, RenewalStatus

logger = logging.getLogger("api.renewals")

router = APIRouter(prefix="/v1/workspaces/{ws}/erx/renewals", tags=["renewals"])

RefillId = Annotated[int, Path(ge=1, le=2**31 - 1, description="DoseSpot's RefillId")]


class RenewalAnswerPublic(BaseModel):
    status: str = Field(
        description="approved | denied | decided_in_dosespot | expired | blocked | pending"
    )
    renewal: RenewalPublic


def _public(row: RenewalRequestRecord) -> RenewalPublic:
    return RenewalPublic(
        refill_id=row.refill_id,
        state=row.state,
        allowed_actions=renewal_allowed_actions(row.state),
        clinician_member_id=row.member_id,
        client_id=row.client_id,
        dosespot_clinician_id=row.dosespot_clinician_id,
        dosespot_patient_id=row.dosespot_patient_id,
        medication=row.medication,
        controlled=row.controlled,
        schedule=row.schedule,
        pharmacy_id=row.pharmacy_id,
        requested_at=utc(row.requested_at),
        expires_at=utc(row.expires_at),
        decision=row.decision,
        refills=row.refills,
        denial_reason=row.denial_reason,
        blocked_reason=row.blocked_reason,
        message=row.message,
        ended_at=utc(row.ended_at),
    )


@router.get("", response_model=RenewalList)
async def list_renewals(
    ws: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
    clinician_member_id: Annotated[
        ResourceId | None, Query(description="Only this prescriber's requests")
    ] = None,
    client_id: Annotated[ResourceId | None, Query(description="Only this patient's")] = None,
    state: Annotated[
        Literal["open", "all"] | None,
        Query(description="open (default: waiting, being sent, blocked) or all"),
    ] = None,
) -> RenewalList:
    """Renewal requests per clinician and patient, oldest first, with DoseSpot's expiry."""
    principal.require_workspace(ws)
    try:
        await asyncio.wait_for(
            svc.discover(session, temporal, settings, dosespot, ws),
            timeout=svc.DISCOVERY_SECONDS,
        )
    except TimeoutError:
        await session.rollback()
        logger.warning("renewal queues of workspace %s not read in time", ws)
        # The watch reads them in the background; the next list shows what it found.
        await svc.ensure_watch(temporal, settings, ws, look_now=True)
    except Conflict:
        await session.rollback()
    else:
        await svc.ensure_watch(temporal, settings, ws, look_now=False)
    query = select(RenewalRequestRecord).where(RenewalRequestRecord.workspace_id == ws)
    if state != "all":
        query = query.where(RenewalRequestRecord.state.in_(svc.OPEN_STATES))
    if clinician_member_id is not None:
        query = query.where(RenewalRequestRecord.member_id == clinician_member_id)
    if client_id is not None:
        query = query.where(RenewalRequestRecord.client_id == client_id)
    rows = (
        await session.scalars(
            query.order_by(
                RenewalRequestRecord.requested_at, RenewalRequestRecord.refill_id
            ).execution_options(populate_existing=True)
        )
    ).all()
    return RenewalList(items=[_public(r) for r in rows], count=len(rows))


@router.get("/{refill_id}", response_model=RenewalPublic)
async def get_renewal(
    ws: PathId, refill_id: RefillId, principal: PrincipalDep, session: SessionDep
) -> RenewalPublic:
    """One renewal request: where it stands, the answer given, DoseSpot's refusal."""
    principal.require_workspace(ws)
    return _public(await svc.renewal(session, ws, refill_id))


async def _for_the_prescriber(
    principal: Principal, session: AsyncSession, ws: str, refill_id: int
) -> RenewalRequestRecord:
    """The request, if the principal may answer it (its prescriber, or the service key);
    the session is given back before the answer goes to the workflow."""
    principal.require_workspace(ws)
    row = await svc.renewal(session, ws, refill_id)
    svc.require_prescriber(principal, row)
    await session.commit()
    return row


async def _answered(
    session: AsyncSession,
    ws: str,
    refill_id: int,
    result: RenewalStatus | None,
    response: Response,
) -> RenewalAnswerPublic:
    row = await svc.renewal(session, ws, refill_id)
    if result is None:
        response.status_code = status.HTTP_202_ACCEPTED
        return RenewalAnswerPublic(status="pending", renewal=_public(row))
    return RenewalAnswerPublic(status=result.state, renewal=_public(row))


async def _audit_refusal(
    request: Request, ws: str, row: RenewalRequestRecord, principal: Principal, reason: str
) -> None:
    """A refused controlled-substance renewal is audited in its own transaction."""
    async with request.app.state.sessionmaker() as audit_session:
        await append_audit(
            audit_session,
            EpcsAuditInput(
                workspace_id=ws,
                subject_member_id=row.member_id or f"dosespot:{row.dosespot_clinician_id}",
                actor_member_id=principal.member_id,
                action="renew_controlled",
                outcome="refused",
                reason=reason,
                idempotency_key=f"api:{uuid.uuid4()}",
            ),
        )
        await audit_session.commit()


@router.post("/{refill_id}/approve", response_model=RenewalAnswerPublic)
async def approve_renewal(
    ws: PathId,
    refill_id: RefillId,
    body: RenewalApprovalIn,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RenewalAnswerPublic:
    """Approve the renewal (refills 1-99, a comment, an effective date): DoseSpot sends the
    prescription to the pharmacy. A controlled substance needs the prescriber's EPCS access."""
    row = await _for_the_prescriber(principal, session, ws, refill_id)
    if row.controlled:
        try:
            if row.member_id is None:
                raise UpdateRefused(403, "forbidden", CONTROLLED_SUBSTANCE_REFUSAL)
            await require_controlled_substance_permission(temporal, ws, row.member_id)
        except UpdateRefused as err:
            await _audit_refusal(request, ws, row, principal, err.message)
            raise
    approval = RenewalApproval(
        refills=body.refills,
        comment=body.comment,
        effective_date=body.effective_date,
        actor_member_id=principal.member_id,
    )
    result = await svc.approve(temporal, settings, ws, row, approval)
    return await _answered(session, ws, refill_id, result, response)


@router.post("/{refill_id}/deny", response_model=RenewalAnswerPublic)
async def deny_renewal(
    ws: PathId,
    refill_id: RefillId,
    body: RenewalDenialIn,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RenewalAnswerPublic:
    """Deny the renewal with one of DoseSpot's 18 denial reasons and a note (70 characters)."""
    row = await _for_the_prescriber(principal, session, ws, refill_id)
    denial = RenewalDenial(
        denial_reason=body.denial_reason, note=body.note, actor_member_id=principal.member_id
    )
    result = await svc.deny(temporal, settings, ws, row, denial)
    return await _answered(session, ws, refill_id, result, response)


@router.post("/{refill_id}/retry", response_model=RenewalAnswerPublic)
async def retry_renewal(
    ws: PathId,
    refill_id: RefillId,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RenewalAnswerPublic:
    """Send a blocked answer to DoseSpot again (the prescriber, an admin or the service)."""
    principal.require_workspace(ws)
    row = await svc.renewal(session, ws, refill_id)
    if principal.role == Role.member:
        svc.require_prescriber(principal, row)
    await session.commit()
    result = await svc.retry(temporal, settings, ws, row)
    return await _answered(session, ws, refill_id, result, response)
