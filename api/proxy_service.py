"""Proxies and prescribing agents: members who work in DoseSpot for prescribers.

DoseSpot's roles as this service uses them:

* ``proxy`` is DoseSpot's ProxyClinician (6): clerical staff who draft and save pending
  prescriptions for a prescriber. DoseSpot links no supervisor to a proxy; the prescribers a
  proxy works for here are the ``supervisor_member_ids`` given, and a draft by the proxy for
  any other prescriber is saved as any staff member's would be (as the prescriber).
* ``agent`` is PrescribingAgentClinician (5): DoseSpot keeps one supervising prescriber per
  clinic (``PUT api/clinicians/{id}/supervisors``), so an agent names exactly one.

Neither is billed, identity-proofed or given two-factor, and neither ever sends: DoseSpot
refuses a send made with their token, and the API refuses it before that (only the
prescriber's own key or the EHR's service key acting for the prescriber sends).

Registration runs while the request waits and is safe to repeat. DoseSpot has no
idempotency keys and, without an NPI, no way to look a user up, so this table is the look
before the create: the row is written first, a create is claimed on it
(``creating_since``) so a concurrent or repeated request does not create a second user, and
the DoseSpot id is stored the moment DoseSpot answers. A repeated request finds the id and
only brings the role, the clinics and an agent's supervisor up to date. If DoseSpot's answer
to a create is lost, the claim holds for :data:`CREATE_CLAIM_SECONDS`; a retry after that
creates again (the first user, if DoseSpot made it, stays unused: proxies are not billed).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, Role
from api.clinician_service import verified_prescriber
from api.dosespot_calls import ClinicAccess, _access, dosespot_errors, workspace_clinic
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.proxy_schemas import ProxyPublic, ProxyRegistrationIn
from db.models import (
    ClinicianEnrollment,
    ClinicRegistration,
    Location,
    Member,
    ProxyRegistration,
    utcnow,
)
from dosespot import ClinicianCreate, ClinicianRoleType, DoseSpotClient, PhoneType
from dosespot.errors import DoseSpotError
from erx.settings import Settings
from erx.us import dosespot_phone
from workflows.models import ClinicStatus

logger = logging.getLogger("api.proxies")

CREATE_CLAIM_SECONDS = 120
DOSESPOT_ROLES = {
    "proxy": ClinicianRoleType.ProxyClinician,
    "agent": ClinicianRoleType.PrescribingAgentClinician,
}


REMOVED = "removed"


def supervisors_of(row: ProxyRegistration) -> list[str]:
    members: list[str] = json.loads(row.supervisor_member_ids)
    return members


def public(row: ProxyRegistration) -> ProxyPublic:
    return ProxyPublic(
        member_id=row.member_id,
        role=row.role,  # type: ignore[arg-type]
        supervisor_member_ids=supervisors_of(row),
        state=row.state,  # type: ignore[arg-type]
        dosespot_clinician_id=row.dosespot_clinician_id,
        updated_at=row.updated_at.replace(tzinfo=UTC)
        if row.updated_at.tzinfo is None
        else row.updated_at,
    )


async def registration(session: AsyncSession, ws: str, member_id: str) -> ProxyRegistration:
    row = await session.get(ProxyRegistration, (ws, member_id), populate_existing=True)
    if row is None:
        raise NotFound("this member is not registered as a proxy or prescribing agent")
    return row


async def registrations(session: AsyncSession, ws: str) -> list[ProxyRegistration]:
    return list(
        (
            await session.scalars(
                select(ProxyRegistration)
                .where(ProxyRegistration.workspace_id == ws)
                .order_by(ProxyRegistration.member_id)
            )
        ).all()
    )


# Checks: every one before anything is written ---------------------------------------------


def check_body(member_id: str, body: ProxyRegistrationIn) -> None:
    ids = body.supervisor_member_ids
    if len(set(ids)) != len(ids):
        raise Unprocessable("supervisor_member_ids", "a member is named more than once")
    if member_id in ids:
        raise Unprocessable("supervisor_member_ids", "a member cannot supervise themself")
    if body.role == "agent" and len(ids) != 1:
        raise Unprocessable(
            "supervisor_member_ids",
            "a prescribing agent works under exactly one supervising prescriber "
            "(DoseSpot keeps one per clinic)",
        )


async def supervisors(
    session: AsyncSession, ws: str, member_ids: list[str]
) -> list[ClinicianEnrollment]:
    """Each supervisor's enrollment: a verified prescriber of the workspace, else 409."""
    found = []
    for member_id in member_ids:
        enrollment = await verified_prescriber(
            session,
            ws,
            member_id,
            "a supervisor must be a prescriber of the workspace verified for e-prescribing",
            supervisor_member_id=member_id,
        )
        found.append(enrollment)
    return found


async def check_member(session: AsyncSession, ws: str, member_id: str) -> Member:
    member = await session.get(Member, (ws, member_id))
    if member is None:
        raise NotFound("no such member")
    enrollment = await session.get(ClinicianEnrollment, (ws, member_id))
    if enrollment is not None and enrollment.state != "deactivated":
        raise Conflict(
            "this member is invited or enrolled as a prescriber; a prescriber is not also a proxy",
            state=enrollment.state,
            allowed_actions=[],
        )
    return member


async def workspace_clinics(session: AsyncSession, settings: Settings, ws: str) -> list[int]:
    rows = (
        await session.scalars(
            select(ClinicRegistration).where(
                ClinicRegistration.workspace_id == ws,
                ClinicRegistration.status == ClinicStatus.registered.value,
            )
        )
    ).all()
    return [a.clinic_id for a in (_access(r, ws, settings) for r in rows) if a is not None]


# Registration ------------------------------------------------------------------------------


def clinician_body(
    member: Member, location: Location, body: ProxyRegistrationIn
) -> ClinicianCreate:
    """DoseSpot's user for the member: their name and email, the practice's address and
    phone, and the role. No NPI, DEA or licence: a proxy does not prescribe."""
    return ClinicianCreate(
        first_name=member.first_name,
        last_name=member.last_name,
        date_of_birth=body.date_of_birth,
        email=member.email,
        address1=location.address1,
        address2=location.address2,
        city=location.city,
        state=location.state,
        zip_code=location.zip_code,
        primary_phone=dosespot_phone(location.phone),
        primary_phone_type=PhoneType.Work,
        primary_fax=dosespot_phone(location.fax or location.phone),
        roles=[DOSESPOT_ROLES[body.role]],
    )


async def _claim_create(session: AsyncSession, row: ProxyRegistration) -> bool:
    """Whether this request may create the DoseSpot user (no other create is in flight)."""
    now = utcnow()
    claimed = await session.execute(
        update(ProxyRegistration)
        .where(
            ProxyRegistration.workspace_id == row.workspace_id,
            ProxyRegistration.member_id == row.member_id,
            ProxyRegistration.dosespot_clinician_id.is_(None),
            ProxyRegistration.creating_since.is_(None)
            | (ProxyRegistration.creating_since < now - timedelta(seconds=CREATE_CLAIM_SECONDS)),
        )
        .values(creating_since=now)
    )
    await session.commit()
    return bool(getattr(claimed, "rowcount", 0))


async def register(
    session: AsyncSession,
    dosespot: DoseSpotClient,
    settings: Settings,
    ws: str,
    member_id: str,
    body: ProxyRegistrationIn,
) -> ProxyRegistration:
    check_body(member_id, body)
    member = await check_member(session, ws, member_id)
    supervising = await supervisors(session, ws, body.supervisor_member_ids)
    access = await workspace_clinic(session, settings, ws)
    clinics = await workspace_clinics(session, settings, ws)
    clinic_row = await session.scalar(
        select(ClinicRegistration).where(
            ClinicRegistration.workspace_id == ws,
            ClinicRegistration.dosespot_clinic_id == access.clinic_id,
        )
    )
    location = await session.get(Location, (ws, clinic_row.location_id)) if clinic_row else None
    if location is None:
        raise Conflict("the clinic's practice location is gone", state="no_clinic")

    row = await session.get(ProxyRegistration, (ws, member_id), with_for_update=True)
    if row is None:
        row = ProxyRegistration(workspace_id=ws, member_id=member_id, dosespot_clinic_id=None)
        session.add(row)
    row.role = body.role
    row.supervisor_member_ids = json.dumps(body.supervisor_member_ids)
    if row.dosespot_clinician_id is None or row.dosespot_role != body.role:
        row.state = "registering"
    await session.commit()

    client = access.client(dosespot, settings)
    with dosespot_errors("proxy registration", ws):
        if row.dosespot_clinician_id is None:
            await _create(session, client, row, clinician_body(member, location, body), access)
        elif row.dosespot_role == REMOVED:
            # Registered again after a removal: the same DoseSpot user, active again.
            await client.update_clinician_fields(
                row.dosespot_clinician_id, active=True, roles=[DOSESPOT_ROLES[body.role]]
            )
        elif row.dosespot_role != body.role:
            await _change_role(client, row, body, clinics)
        assert row.dosespot_clinician_id is not None
        others = [c for c in clinics if c != access.clinic_id]
        if others:
            await client.add_clinician_to_clinics(row.dosespot_clinician_id, others)
        if body.role == "agent":
            await _supervise(client, row.dosespot_clinician_id, supervising[0], clinics)
    row.dosespot_role = body.role
    row.state = "active"
    await session.commit()
    logger.info(
        "workspace %s: member %s is a DoseSpot %s (clinician %s)",
        ws,
        member_id,
        body.role,
        row.dosespot_clinician_id,
    )
    return row


async def remove(
    session: AsyncSession, dosespot: DoseSpotClient, settings: Settings, ws: str, member_id: str
) -> ProxyRegistration:
    """The member is no longer a proxy or agent: an agent's supervisors are cleared and the
    DoseSpot user deactivated (DoseSpot deletes no user; its prescriptions keep naming it).
    Drafts the member writes from now on are saved as their prescriber. Idempotent; a later
    registration makes the same user active again."""
    row = await registration(session, ws, member_id)
    if row.state == REMOVED:
        return row
    access = await workspace_clinic(session, settings, ws)
    clinics = await workspace_clinics(session, settings, ws)
    row.state = "removing"
    await session.commit()
    if row.dosespot_clinician_id is not None:
        client = access.client(dosespot, settings)
        with dosespot_errors("proxy removal", ws):
            if row.dosespot_role == "agent":
                await client.remove_supervisors(row.dosespot_clinician_id, clinics)
            await client.deactivate_clinician(row.dosespot_clinician_id)
        row.dosespot_role = REMOVED
    row.state = REMOVED
    await session.commit()
    logger.info("workspace %s: member %s is no longer a DoseSpot proxy", ws, member_id)
    return row


async def _create(
    session: AsyncSession,
    client: DoseSpotClient,
    row: ProxyRegistration,
    clinician: ClinicianCreate,
    access: ClinicAccess,
) -> None:
    if not await _claim_create(session, row):
        await session.refresh(row)
        if row.dosespot_clinician_id is not None:
            return
        raise Conflict(
            "this member's registration with DoseSpot is in progress; try again shortly",
            state="registering",
            allowed_actions=["register"],
        )
    try:
        clinician_id = await client.create_clinician(clinician)
    except DoseSpotError as err:
        if not err.retryable:
            # DoseSpot refused it: nothing was made, so the next try may create at once.
            row.creating_since = None
            await session.commit()
        raise
    row.dosespot_clinician_id = clinician_id
    row.dosespot_clinic_id = access.clinic_id
    row.dosespot_role = row.role
    row.creating_since = None
    await session.commit()


async def _change_role(
    client: DoseSpotClient, row: ProxyRegistration, body: ProxyRegistrationIn, clinics: list[int]
) -> None:
    assert row.dosespot_clinician_id is not None
    if row.dosespot_role == "agent":
        await client.remove_supervisors(row.dosespot_clinician_id, clinics)
    await client.update_clinician_fields(
        row.dosespot_clinician_id, roles=[DOSESPOT_ROLES[body.role]]
    )


async def _supervise(
    client: DoseSpotClient, agent_id: int, supervisor: ClinicianEnrollment, clinics: list[int]
) -> None:
    """The supervisor in every clinic of the workspace both belong to."""
    assert supervisor.dosespot_clinician_id is not None
    theirs = set(await client.clinician_clinic_ids(supervisor.dosespot_clinician_id))
    for clinic_id in clinics:
        if clinic_id in theirs:
            await client.set_supervisor(agent_id, clinic_id, supervisor.dosespot_clinician_id)


# Who acts --------------------------------------------------------------------------------


def require_registrar(principal: Principal) -> None:
    principal.require_role(Role.service, Role.admin)


def require_proxy_or_service(principal: Principal, member_id: str) -> None:
    if principal.role == Role.service:
        return
    if principal.member_id != member_id:
        raise Forbidden(
            "the link signs in as the proxy: only their own key, or the EHR's service key "
            "acting for them, may ask for it"
        )


async def active_supervisor(
    session: AsyncSession, row: ProxyRegistration, supervisor_member_id: str | None
) -> ClinicianEnrollment:
    """The prescriber a proxy session is for: named (one of the proxy's), or the only one."""
    if row.state != "active" or row.dosespot_clinician_id is None:
        raise Conflict(
            "the proxy is not active with DoseSpot (registering, or removed)",
            state=row.state,
            allowed_actions=["register"],
        )
    theirs = supervisors_of(row)
    if supervisor_member_id is None:
        if len(theirs) != 1:
            raise Unprocessable("supervisor_member_id", "name the prescriber the proxy works for")
        supervisor_member_id = theirs[0]
    elif supervisor_member_id not in theirs:
        raise Unprocessable("supervisor_member_id", "not one of this proxy's supervisors")
    (enrollment,) = await supervisors(session, row.workspace_id, [supervisor_member_id])
    return enrollment
