"""eRx setup: clinic registration and the four-step progress."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from temporalio.client import Client

from api import setup_service
from api.auth import Role
from api.deps import PrincipalDep, ReadingPrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.errors import Conflict, NotFound, Unprocessable
from api.routes.directory import upsert_location
from api.schemas import (
    ClinicKeySupply,
    ClinicPublic,
    ConsistencyQuery,
    ErxProgressPublic,
    ErxSetupPublic,
    ErxSetupRequest,
    PathId,
    json_answer,
)
from db.models import ClinicRegistration, Location
from erx.codec import SecretBox
from erx.settings import Settings
from workflows.clinic_setup import clinic_setup_workflow_id
from workflows.models import KEY_INVALID, KEY_MISSING, KEY_SUPPLIED, ClinicStatus, SetupProgress

router = APIRouter(prefix="/v1/workspaces/{ws}/erx", tags=["erx"])


def progress_public(progress: SetupProgress) -> ErxProgressPublic:
    clinics = [ClinicPublic.from_record(c) for c in progress.clinics]
    registered = [c for c in clinics if c.status == ClinicStatus.registered.value]
    return ErxProgressPublic(
        workspace_id=progress.workspace_id,
        stage=progress.stage,
        active_step=progress.active_step,
        steps=progress.steps,
        clinic=registered[0] if registered else (clinics[0] if clinics else None),
        clinics=clinics,
        blocked_reason=progress.blocked_reason,
        summary=progress.summary,
    )


@router.post(
    "/setup",
    response_model=ErxSetupPublic,
    responses={202: {"model": ErxSetupPublic, "description": "Still registering"}},
)
async def setup(
    ws: PathId,
    body: ErxSetupRequest,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> ErxSetupPublic:
    """Register a practice location as the workspace's DoseSpot clinic (idempotent)."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    if body.location is not None:
        location_id = body.location.id
        await upsert_location(session, ws, location_id, body.location)
    else:
        assert body.location_id is not None
        location_id = body.location_id
        if await session.get(Location, (ws, location_id)) is None:
            raise Unprocessable("location_id", "no location with this id in the workspace")
    await session.commit()
    return await _register(temporal, settings, ws, location_id, response)


async def _register(
    temporal: Client, settings: Settings, ws: str, location_id: str, response: Response
) -> ErxSetupPublic:
    record = await setup_service.register_clinic(
        temporal, settings, ws, location_id, wait=settings.setup_wait_seconds
    )
    progress = progress_public(await setup_service.progress(temporal, ws))
    workflow_id = clinic_setup_workflow_id(ws)
    if record is None:
        response.status_code = status.HTTP_202_ACCEPTED
        return ErxSetupPublic(
            workflow_id=workflow_id, status="registering", clinic=None, progress=progress
        )
    return ErxSetupPublic(
        workflow_id=workflow_id,
        status="registered" if record.status == ClinicStatus.registered else "blocked",
        clinic=ClinicPublic.from_record(record),
        progress=progress,
    )


@router.put("/clinics/{location_id}/clinic-key", response_model=ErxSetupPublic)
async def supply_clinic_key(
    ws: PathId,
    location_id: PathId,
    body: ClinicKeySupply,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> ErxSetupPublic:
    """Enter a clinic's DoseSpot ClinicKey by hand; it is checked with DoseSpot, then used."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    registration = await session.get(ClinicRegistration, (ws, location_id))
    if registration is None:
        raise NotFound("no clinic registration for this location")
    if registration.blocked_reason not in (KEY_MISSING, KEY_INVALID):
        raise Conflict(
            "this clinic does not need a key", status=registration.status, allowed_actions=[]
        )
    secrets = SecretBox(settings.codec_keys, settings.codec_active_key_id)
    registration.clinic_key_key_id, registration.clinic_key_ciphertext = secrets.seal(
        body.clinic_key.encode()
    )
    registration.status = KEY_SUPPLIED
    await session.commit()
    return await _register(temporal, settings, ws, location_id, response)


@router.get("", response_model=ErxProgressPublic)
async def get_progress(
    ws: PathId,
    principal: ReadingPrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    consistency: ConsistencyQuery = "eventual",
) -> Response:
    """The four-step progress with the registered clinic(s), from the read model
    (``consistency=strong``: from the workspace's ClinicSetup workflow)."""
    principal.require_workspace(ws)
    return json_answer(
        progress_public(
            await setup_service.progress_from_read_model(
                session, temporal, ws, strong=consistency == "strong"
            )
        )
    )
