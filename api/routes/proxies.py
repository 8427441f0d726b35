"""Proxies and prescribing agents (DoseSpot's roles): registration, and the SSO link that
opens DoseSpot's UI as the proxy acting for a supervising prescriber."""

from __future__ import annotations

from fastapi import APIRouter

from api import proxy_service as svc
from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.dosespot_calls import DoseSpotDep, patient_access
from api.proxy_schemas import (
    ProxiesPublic,
    ProxyPublic,
    ProxyRegistrationIn,
    ProxySessionIn,
    ProxySessionPublic,
)
from api.schemas import PathId
from dosespot.sso import build_sso_url

router = APIRouter(prefix="/v1/workspaces/{ws}/erx/proxies", tags=["proxies"])


@router.put("/{member_id}", response_model=ProxyPublic)
async def register_proxy(
    ws: PathId,
    member_id: PathId,
    body: ProxyRegistrationIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> ProxyPublic:
    """Register a member as a proxy or prescribing agent for verified prescribers (idempotent:
    a repeat makes no second DoseSpot user)."""
    principal.require_workspace(ws)
    svc.require_registrar(principal)
    row = await svc.register(session, dosespot, settings, ws, member_id, body)
    return svc.public(row)


@router.delete("/{member_id}", response_model=ProxyPublic)
async def remove_proxy(
    ws: PathId,
    member_id: PathId,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> ProxyPublic:
    """Remove a proxy or prescribing agent: its DoseSpot user is deactivated (state
    ``removed``); registering the member again reactivates the same user."""
    principal.require_workspace(ws)
    svc.require_registrar(principal)
    return svc.public(await svc.remove(session, dosespot, settings, ws, member_id))


@router.get("/{member_id}", response_model=ProxyPublic)
async def get_proxy(
    ws: PathId, member_id: PathId, principal: PrincipalDep, session: SessionDep
) -> ProxyPublic:
    """A proxy's or prescribing agent's registration."""
    principal.require_workspace(ws)
    return svc.public(await svc.registration(session, ws, member_id))


@router.get("", response_model=ProxiesPublic)
async def list_proxies(ws: PathId, principal: PrincipalDep, session: SessionDep) -> ProxiesPublic:
    """The workspace's proxies and prescribing agents."""
    principal.require_workspace(ws)
    return ProxiesPublic(items=[svc.public(r) for r in await svc.registrations(session, ws)])


@router.post("/{member_id}/prescribing-session", response_model=ProxySessionPublic)
async def proxy_prescribing_session(
    ws: PathId,
    member_id: PathId,
    body: ProxySessionIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> ProxySessionPublic:
    """The link that opens DoseSpot's prescribing UI for a patient, signed in as the proxy
    acting for one of its supervising prescribers."""
    principal.require_workspace(ws)
    svc.require_proxy_or_service(principal, member_id)
    row = await svc.registration(session, ws, member_id)
    supervisor = await svc.active_supervisor(session, row, body.supervisor_member_id)
    access = await patient_access(session, settings, ws, body.client_id)
    assert row.dosespot_clinician_id is not None
    assert supervisor.dosespot_clinician_id is not None
    return ProxySessionPublic(
        sso_url=build_sso_url(
            settings.dosespot_sso_url,
            access.clinic.clinic_id,
            access.clinic.key,
            row.dosespot_clinician_id,
            patient_id=None if body.refills_errors else access.patient_id,
            refills_errors=body.refills_errors,
            on_behalf_of_user_id=supervisor.dosespot_clinician_id,
        ),
        member_id=member_id,
        supervisor_member_id=supervisor.member_id,
        client_id=body.client_id,
    )
