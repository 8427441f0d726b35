"""Invitations and the clinician lifecycle: enrollment, verification, two-factor, EPCS."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from activities.dosespot_access import clinic_key
from api import clinician_service as svc
from api.auth import Principal, Role
from api.clinician_schemas import (
    ClinicianList,
    ClinicianListItem,
    ClinicianPublic,
    EnrollmentDraft,
    EnrollmentFormIn,
    EnrollmentPublic,
    InvitationPreview,
    InvitationPublic,
    InvitationsPublic,
    MemberSelection,
    VerificationPublic,
)
from api.deps import (
    PrincipalDep,
    ReadingPrincipalDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
)
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.invitations import FAILED, invite_all
from api.schemas import ConsistencyQuery, NotificationCounts, PathId, WaitQuery
from api.watch import RevisionWatch
from db.audit import append_audit
from db.counts import ClinicianNotificationCounts
from db.models import (
    ClinicianEnrollment,
    ClinicRegistration,
    Location,
    Member,
    ProxyRegistration,
)
from dosespot.sso import build_sso_url
from erx.codec import SecretBox
from erx.money import money
from erx.settings import Settings
from erx.temporal import take_interactive_priority
from workflows.clinician_enrollment import ClinicianEnrollmentWorkflow
from workflows.models import (
    ActorRequest,
    Address,
    ClinicianStatus,
    ClinicStatus,
    EnrollmentForm,
    EnrollmentLocation,
    EnrollmentOutcome,
    EnrollmentResult,
    EpcsApproval,
    EpcsAuditInput,
)

router = APIRouter(prefix="/v1/workspaces/{ws}/erx", tags=["clinicians"])


async def _members(session: AsyncSession, ws: str, ids: list[str]) -> dict[str, Member]:
    rows = (
        await session.scalars(select(Member).where(Member.workspace_id == ws, Member.id.in_(ids)))
    ).all()
    found = {m.id: m for m in rows}
    for i, member_id in enumerate(ids):
        if member_id not in found:
            raise Unprocessable(f"member_ids.{i}", f"no member {member_id!r} in this workspace")
    return found


def _public(status_: ClinicianStatus, member: Member | None = None) -> ClinicianPublic:
    return ClinicianPublic(
        member_id=status_.member_id,
        state=status_.state,
        allowed_actions=status_.allowed_actions,
        blocked=status_.blocked,
        first_name=member.first_name if member else None,
        last_name=member.last_name if member else None,
        idp=status_.idp,
        tfa_active=status_.tfa_active,
        epcs_enabled=status_.epcs_enabled,
        epcs_approvers=status_.epcs_approvers,
        billing_started=status_.billing_started,
        message=status_.message,
        summary=status_.summary,
    )


def _acting_for(principal: Principal, ws: str, member_id: str) -> None:
    principal.require_workspace(ws)
    principal.require_self_or(member_id, Role.service, Role.admin)


@router.post("/invitations/preview", response_model=InvitationPreview)
async def preview_invitations(
    ws: PathId,
    body: MemberSelection,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> InvitationPreview:
    """How many clinicians are selected and what they will cost per month once verified."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    selected = list(dict.fromkeys(body.member_ids))
    await _members(session, ws, selected)
    total = len(selected) * settings.price_per_clinician_cents
    return InvitationPreview(
        selected_count=len(selected),
        price_per_clinician_cents=settings.price_per_clinician_cents,
        monthly_total_cents=total,
        monthly_total=money(total, settings.currency),
        currency=settings.currency,
    )


@router.post("/invitations", response_model=InvitationsPublic, response_model_exclude_none=True)
async def invite(
    ws: PathId,
    body: MemberSelection,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> InvitationsPublic:
    """Email each selected clinician an invitation and start their enrollment (idempotent).

    Up to 1,000 members per request; the answer gives each member's outcome (``invited``,
    ``already_invited``, or ``failed`` with a reason: invite that member again).
    """
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    selected = list(dict.fromkeys(body.member_ids))
    await _members(session, ws, selected)
    registered = await session.scalar(
        select(ClinicRegistration.location_id)
        .where(
            ClinicRegistration.workspace_id == ws,
            ClinicRegistration.status == ClinicStatus.registered.value,
        )
        .limit(1)
    )
    proxies = set(
        await session.scalars(
            select(ProxyRegistration.member_id).where(
                ProxyRegistration.workspace_id == ws,
                ProxyRegistration.member_id.in_(selected),
                ProxyRegistration.state != "removed",
            )
        )
    )
    await session.commit()
    if registered is None:
        raise Conflict(
            "Register the clinic with DoseSpot before inviting clinicians",
            state="no_clinic",
            allowed_actions=["register_clinic"],
        )
    prescribers = [m for m in selected if m not in proxies]
    started = await invite_all(
        temporal, request.app.state.sessionmaker, settings, ws, prescribers, svc.timings(settings)
    )
    # A member works in DoseSpot either as a prescriber or as a proxy or agent, not both.
    outcomes = {i.member_id: i for i in started} | {
        m: InvitationPublic(
            member_id=m,
            status=FAILED,
            reason="registered as a proxy or prescribing agent; a prescriber is another member",
        )
        for m in proxies
    }
    total = len(prescribers) * settings.price_per_clinician_cents
    return InvitationsPublic(
        items=[outcomes[m] for m in selected],
        monthly_total=money(total, settings.currency),
    )


@router.get("/clinicians", response_model=ClinicianList)
async def list_clinicians(
    ws: PathId, principal: ReadingPrincipalDep, session: SessionDep
) -> ClinicianList:
    """Every invited clinician's enrollment state, verification progress and EPCS status."""
    principal.require_workspace(ws)
    # Only the columns the list shows: not the whole status each row also keeps.
    rows = (
        await session.execute(
            select(
                ClinicianEnrollment.member_id,
                Member.first_name,
                Member.last_name,
                ClinicianEnrollment.state,
                ClinicianEnrollment.tfa_active,
                ClinicianEnrollment.epcs_enabled,
                ClinicianEnrollment.idp_failed_attempts,
                ClinicianEnrollment.idp_path,
                ClinicianEnrollment.idp_deadline,
                ClinicianEnrollment.verified_at,
            )
            .join(
                Member,
                (Member.workspace_id == ClinicianEnrollment.workspace_id)
                & (Member.id == ClinicianEnrollment.member_id),
            )
            .where(ClinicianEnrollment.workspace_id == ws)
            .order_by(Member.last_name, Member.id)
        )
    ).all()
    items = [ClinicianListItem.model_validate(row._mapping) for row in rows]
    return ClinicianList(items=items, count=len(items))


@router.get(
    "/clinicians/{member_id}",
    response_model=ClinicianPublic,
    responses={304: {"description": "unchanged since the ETag in If-None-Match"}},
)
async def get_clinician(
    ws: PathId,
    member_id: PathId,
    principal: ReadingPrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    request: Request,
    consistency: ConsistencyQuery = "eventual",
    wait: WaitQuery = 0,
) -> Response:
    """One clinician's state, the actions open to them, verification and EPCS status.

    Answered from the read model, which the clinician's workflow updates with every change
    it makes and before any of its update answers (so it never shows less than an answer
    already given). ``consistency=strong`` asks the workflow itself instead.

    The answer's ``ETag`` names it. A request whose ``If-None-Match`` holds the current one
    gets 304 Not Modified; with ``wait`` as well (eventual reads), the request first waits
    up to that many seconds for the clinician's workflow to record a change, and answers
    it the moment it is there: a long poll, one request per change instead of one per
    polling interval. Waiting holds no database connection (api/watch.py).
    """
    _acting_for(principal, ws, member_id)
    body, revision = await _clinician_answer(session, temporal, ws, member_id, consistency)
    tag = _etag(body)
    known = request.headers.get("if-none-match")
    if known is not None and _matches(known, tag):
        if wait > 0 and consistency == "eventual":
            watch: RevisionWatch = request.app.state.watch
            await watch.changed((ws, member_id), revision, wait)
            body, revision = await _clinician_answer(session, temporal, ws, member_id, consistency)
            tag = _etag(body)
        if _matches(known, tag):
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    return Response(body, media_type="application/json", headers={"ETag": tag})


async def _clinician_answer(
    session: AsyncSession, temporal: Client, ws: str, member_id: str, consistency: str
) -> tuple[bytes, int]:
    """The clinician as GET answers it (its JSON, serialized once), and the revision of the
    read-model row behind it (0 without a row). The session's connection is given back
    before Temporal is asked."""
    member, row, counts = await _clinician_row(session, ws, member_id)
    await session.commit()
    if consistency == "strong" or row is None or row.status_json is None:
        clinician = await svc.status(temporal, ws, member_id)
    else:
        clinician = ClinicianStatus.model_validate_json(row.status_json)
    public = _public(clinician, member)
    public.notification_counts = counts
    return public.model_dump_json().encode(), row.revision if row is not None else 0


def _etag(body: bytes) -> str:
    """A weak validator of the whole answer: the state, the member's names and the counts."""
    return f'W/"{hashlib.sha256(body).hexdigest()[:20]}"'


def _matches(if_none_match: str, tag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): ``*`` or any listed tag."""
    opaque = tag.removeprefix("W/")
    for listed in if_none_match.split(","):
        listed = listed.strip()
        if listed == "*" or listed.removeprefix("W/") == opaque:
            return True
    return False


async def _clinician_row(
    session: AsyncSession, ws: str, member_id: str
) -> tuple[Member | None, ClinicianEnrollment | None, NotificationCounts]:
    """The member, their enrollment's read-model row and their notification counts summed,
    in one query."""
    found = (
        await session.execute(
            select(Member, ClinicianEnrollment, ClinicianNotificationCounts)
            .select_from(Member)
            .outerjoin(
                ClinicianEnrollment,
                (ClinicianEnrollment.workspace_id == Member.workspace_id)
                & (ClinicianEnrollment.member_id == Member.id),
            )
            .outerjoin(
                ClinicianNotificationCounts,
                (ClinicianNotificationCounts.workspace_id == ClinicianEnrollment.workspace_id)
                & (
                    ClinicianNotificationCounts.dosespot_clinician_id
                    == ClinicianEnrollment.dosespot_clinician_id
                ),
            )
            .where(Member.workspace_id == ws, Member.id == member_id)
        )
    ).all()
    if not found:
        return None, await session.get(ClinicianEnrollment, (ws, member_id)), NotificationCounts()
    counts = NotificationCounts()
    for _, _, observed in found:
        if observed is not None:
            counts.add(observed)
    return found[0][0], found[0][1], counts


@router.get("/clinicians/{member_id}/enrollment", response_model=EnrollmentDraft)
async def enrollment_draft(
    ws: PathId, member_id: PathId, principal: PrincipalDep, session: SessionDep
) -> EnrollmentDraft:
    """The enrollment form, prefilled from the member and the registered clinic locations."""
    _acting_for(principal, ws, member_id)
    member = await session.get(Member, (ws, member_id))
    if member is None:
        raise NotFound("no such member")
    rows = (
        await session.execute(
            select(Location, ClinicRegistration)
            .join(
                ClinicRegistration,
                (ClinicRegistration.workspace_id == Location.workspace_id)
                & (ClinicRegistration.location_id == Location.id),
            )
            .where(
                Location.workspace_id == ws,
                ClinicRegistration.status == ClinicStatus.registered.value,
            )
            .order_by(ClinicRegistration.created_at)
        )
    ).all()
    return EnrollmentDraft(
        first_name=member.first_name,
        last_name=member.last_name,
        email=member.email,
        locations=[
            {"location_id": loc.id, "name": loc.name, "state": loc.state, "is_default": i == 0}
            for i, (loc, _) in enumerate(rows)
        ],
    )


async def _enrollment_form(
    session: AsyncSession, ws: str, member: Member, body: EnrollmentFormIn
) -> EnrollmentForm:
    """The workflow's form: member defaults, DoseSpot clinic ids, DEA states checked."""
    locations = []
    fax = body.fax
    for i, item in enumerate(body.locations):
        location = await session.get(Location, (ws, item.location_id))
        registration = await session.get(ClinicRegistration, (ws, item.location_id))
        if location is None:
            raise Unprocessable(f"locations.{i}.location_id", "no such location in this workspace")
        if (
            registration is None
            or registration.status != ClinicStatus.registered.value
            or registration.dosespot_clinic_id is None
        ):
            raise Unprocessable(
                f"locations.{i}.location_id", "the location is not registered with DoseSpot yet"
            )
        if item.dea_number and item.dea_state and item.dea_state != location.state:
            raise Unprocessable(
                f"locations.{i}.dea_state",
                f"the DEA registration is for {item.dea_state} but the location is in "
                f"{location.state}; a DEA number is registered per state",
            )
        if item.is_default and fax is None:
            fax = location.fax
        locations.append(
            EnrollmentLocation(
                location_id=item.location_id,
                dosespot_clinic_id=registration.dosespot_clinic_id,
                state=location.state,
                is_default=item.is_default,
                dea_number=item.dea_number,
                nadea_number=item.nadea_number,
                license_number=item.license_number,
            )
        )
    if fax is None:
        raise Unprocessable(
            "fax", "DoseSpot requires a fax number and the default location has none"
        )
    address = body.professional_address
    return EnrollmentForm(
        first_name=body.first_name or member.first_name,
        last_name=body.last_name or member.last_name,
        date_of_birth=body.date_of_birth,
        email=str(body.email) if body.email else member.email,
        npi=body.npi,
        phone=body.phone,
        fax=fax,
        address=Address(
            street_address=address.street_address,
            suburb=address.suburb,
            city=address.city,
            state=address.state,
            zip_code=address.zip_code,
        ),
        locations=locations,
    )


@router.put(
    "/clinicians/{member_id}/enrollment",
    response_model=EnrollmentPublic,
    responses={202: {"model": EnrollmentPublic, "description": "DoseSpot has not confirmed yet"}},
)
async def submit_enrollment(
    ws: PathId,
    member_id: PathId,
    body: EnrollmentFormIn,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> EnrollmentPublic:
    """Register the clinician with DoseSpot; answers when confirmed or after at most 60 s."""
    _acting_for(principal, ws, member_id)
    member = await session.get(Member, (ws, member_id))
    if member is None:
        raise NotFound("no such member")
    form = await _enrollment_form(session, ws, member, body)
    await _refuse_npi_in_use(session, settings, ws, member_id, form.npi)
    row = await session.get(ClinicianEnrollment, (ws, member_id))
    first_form = row is not None and row.state == "invited"
    await session.commit()
    handle = svc.handle_for(temporal, ws, member_id)
    if first_form:
        await take_interactive_priority(temporal, handle.id)
    result = await svc.update_with_wait(
        handle,
        ClinicianEnrollmentWorkflow.submit_enrollment,
        form,
        settings.enrollment_wait_seconds,
    )
    clinician = _public(await _status_after_form(session, temporal, ws, member_id, result), member)
    if result is None:
        response.status_code = status.HTTP_202_ACCEPTED
        return EnrollmentPublic(status="pending", clinician=clinician)
    return EnrollmentPublic(status=result.outcome.value, clinician=clinician)


async def _status_after_form(
    session: AsyncSession,
    temporal: Client,
    ws: str,
    member_id: str,
    result: EnrollmentResult | None,
) -> ClinicianStatus:
    """The clinician's status to answer a form with: the read model's row, which the
    workflow writes before it answers; the workflow is asked only if the row does not show
    the answer's outcome yet."""
    row = await session.get(ClinicianEnrollment, (ws, member_id), populate_existing=True)
    await session.commit()
    if row is not None and row.status_json is not None:
        published = ClinicianStatus.model_validate_json(row.status_json)
        settled = result is None or result.outcome == EnrollmentOutcome.pending
        if settled or published.state not in ("enrolling", "awaiting_confirmation"):
            return published
    return await svc.status(temporal, ws, member_id)


async def _refuse_npi_in_use(
    session: AsyncSession, settings: Settings, ws: str, member_id: str, npi: str
) -> None:
    """One clinician enrolls once: an NPI enrolled for another member is refused (409)
    before anything reaches DoseSpot."""
    secrets = SecretBox(settings.codec_keys, settings.codec_active_key_id)
    other = (
        await session.execute(
            select(ClinicianEnrollment.workspace_id, ClinicianEnrollment.member_id).where(
                ClinicianEnrollment.npi_fingerprint.in_(secrets.fingerprints(npi)),
                (ClinicianEnrollment.workspace_id != ws)
                | (ClinicianEnrollment.member_id != member_id),
            )
        )
    ).first()
    if other is None:
        return
    holder = (
        f"member {other.member_id} of this workspace"
        if other.workspace_id == ws
        else "a clinician of another workspace"
    )
    raise Conflict(
        f"npi: this NPI is already enrolled for {holder}; one clinician enrolls once",
        field="npi",
    )


async def _sso_url(session: AsyncSession, settings: Settings, clinician: ClinicianStatus) -> str:
    if clinician.dosespot_clinic_id is None or clinician.dosespot_clinician_id is None:
        raise Conflict("the clinician is not registered with DoseSpot yet")
    registration = await session.scalar(
        select(ClinicRegistration).where(
            ClinicRegistration.dosespot_clinic_id == clinician.dosespot_clinic_id
        )
    )
    secrets = SecretBox(settings.codec_keys, settings.codec_active_key_id)
    key = clinic_key(registration, secrets) if registration else None
    if key is None:
        raise Conflict("the clinician's clinic is not registered with DoseSpot")
    return build_sso_url(
        settings.dosespot_sso_url,
        clinician.dosespot_clinic_id,
        key,
        clinician.dosespot_clinician_id,
    )


@router.post("/clinicians/{member_id}/verification", response_model=VerificationPublic)
async def start_verification(
    ws: PathId,
    member_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> VerificationPublic:
    """Start (or continue) identity verification; returns the DoseSpot SSO link.

    After an expired ID.me window only an admin (or the EHR's service key) restarts it.
    """
    _acting_for(principal, ws, member_id)
    handle = svc.handle_for(temporal, ws, member_id)
    actor = ActorRequest(actor_member_id=principal.member_id)
    try:
        clinician = await svc.call(
            handle.execute_update(ClinicianEnrollmentWorkflow.start_verification, actor)
        )
    except svc.UpdateRefused as refused:
        # The workflow's own refusal says the ID.me window closed: a restart, for an admin.
        if refused.extra.get("state") != "verification_expired":
            raise
        principal.require_role(Role.admin, Role.service)
        clinician = await svc.call(
            handle.execute_update(ClinicianEnrollmentWorkflow.restart_verification, actor)
        )
    member = await session.get(Member, (ws, member_id))
    return VerificationPublic(
        sso_url=await _sso_url(session, settings, clinician), clinician=_public(clinician, member)
    )


@router.post("/clinicians/{member_id}/two-factor", response_model=ClinicianPublic)
async def start_two_factor(
    ws: PathId,
    member_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> ClinicianPublic:
    """Start DoseSpot's two-factor activation (Duo on the clinician's phone) for EPCS."""
    _acting_for(principal, ws, member_id)
    handle = svc.handle_for(temporal, ws, member_id)
    clinician = await svc.call(
        handle.execute_update(
            ClinicianEnrollmentWorkflow.start_two_factor,
            ActorRequest(actor_member_id=principal.member_id),
        )
    )
    return _public(clinician, await session.get(Member, (ws, member_id)))


async def _approver_facts(session: AsyncSession, ws: str, principal: Principal) -> EpcsApproval:
    assert principal.member_id is not None
    member = await session.get(Member, (ws, principal.member_id))
    enrollment = await session.get(ClinicianEnrollment, (ws, principal.member_id))
    return EpcsApproval(
        approver_member_id=principal.member_id,
        approver_is_admin=principal.role == Role.admin or bool(member and member.is_admin),
        approver_is_dea_registrant_with_tfa=bool(
            enrollment
            and enrollment.dea_registrant
            and enrollment.tfa_active
            and enrollment.state in ("tfa_active", "epcs_enabled")
        ),
    )


async def _audit_refusal(
    request: Request, ws: str, member_id: str, actor: str | None, reason: str
) -> None:
    """Every refused approval is audited, in its own transaction (the request's rolls back)."""
    async with request.app.state.sessionmaker() as audit_session:
        await append_audit(
            audit_session,
            EpcsAuditInput(
                workspace_id=ws,
                subject_member_id=member_id,
                actor_member_id=actor,
                action="approve",
                outcome="refused",
                reason=reason,
                # Each refused request is its own audit event.
                idempotency_key=f"api:{uuid.uuid4()}",
            ),
        )
        await audit_session.commit()


@router.post("/clinicians/{member_id}/epcs-approvals", response_model=ClinicianPublic)
async def approve_epcs(
    ws: PathId,
    member_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    request: Request,
) -> ClinicianPublic:
    """One approver's approval of controlled-substance prescribing; two people are needed."""
    principal.require_workspace(ws)
    try:
        if principal.member_id is None:
            raise Forbidden("EPCS approvals are given by a person: use an admin or member key")
        approval = await _approver_facts(session, ws, principal)
        await session.commit()
        handle = svc.handle_for(temporal, ws, member_id)
        clinician = await svc.call(
            handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, approval)
        )
    except (svc.UpdateRefused, Conflict, NotFound, Forbidden) as err:
        await _audit_refusal(request, ws, member_id, principal.member_id, err.message)
        raise
    return _public(clinician, await session.get(Member, (ws, member_id)))


async def _admin_update(
    update: Any,
    ws: str,
    member_id: str,
    principal: Principal,
    session: AsyncSession,
    temporal: Client,
) -> ClinicianPublic:
    """An admin's (or the service key's) action on a clinician, recorded as theirs."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    handle = svc.handle_for(temporal, ws, member_id)
    clinician = await svc.call(
        handle.execute_update(update, ActorRequest(actor_member_id=principal.member_id))
    )
    return _public(clinician, await session.get(Member, (ws, member_id)))


@router.post("/clinicians/{member_id}/retry", response_model=ClinicianPublic)
async def retry(
    ws: PathId,
    member_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> ClinicianPublic:
    """Re-drive a blocked or stalled clinician from the step that stopped (admin or service)."""
    return await _admin_update(
        ClinicianEnrollmentWorkflow.retry, ws, member_id, principal, session, temporal
    )


@router.delete("/clinicians/{member_id}", response_model=ClinicianPublic)
async def deactivate(
    ws: PathId,
    member_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> ClinicianPublic:
    """Deactivate: revoke EPCS access, stop billing, deactivate in DoseSpot."""
    return await _admin_update(
        ClinicianEnrollmentWorkflow.deactivate, ws, member_id, principal, session, temporal
    )
