"""Patients in DoseSpot: registration, the embedded prescribing session, the medication record.

Reads answer from the read model; a request that waits on a workflow has released its
database connection first (``session.commit()`` before the await).
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.dosespot_access import clinic_key
from api import patient_service as svc
from api.auth import Principal, Role
from api.clinician_service import verified_prescriber
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.errors import Conflict, Forbidden, Unprocessable
from api.patient_schemas import PatientRegistrationIn
from api.routes.clients import ClientId
from api.schemas import PathId, PharmacyServices, RequestModel, ResourceId, UtcDateTime, utc
from db.models import ClinicRegistration
from db.patients import (
    PatientMedication,
    PatientPharmacy,
    PatientRegistration,
    PatientRenewalRequest,
)
from dosespot.sso import build_sso_url
from erx.codec import SecretBox
from workflows.lifecycles import patient_allowed_actions
from workflows.models import Blocked
from workflows.patient_models import (
    PatientErxStatus,
)

router = APIRouter(prefix="/v1/workspaces/{ws}/erx/patients", tags=["patients"])


class PatientPublic(BaseModel):
    client_id: str
    state: str = Field(description="unregistered | registering | registered | blocked")
    allowed_actions: list[str]
    dosespot_patient_id: int | None = None
    blocked: Blocked | None = None
    message: str | None = None
    last_synced_at: UtcDateTime | None = None


class PatientRegistrationPublic(BaseModel):
    status: str = Field(description="registered | blocked | pending")
    patient: PatientPublic


class PrescribingSessionIn(RequestModel):
    clinician_member_id: ResourceId | None = Field(
        default=None,
        description="The clinician the link signs in as; a service key must name one, a "
        "member or admin key may only name itself",
    )
    refills_errors: StrictBool = Field(
        default=False, description="Open the clinician's notification queue instead"
    )


class PrescribingSessionPublic(BaseModel):
    sso_url: str
    clinician_member_id: str = Field(description="The clinician the link signs in as")
    client_id: str


class MedicationCard(BaseModel):
    dosespot_id: int
    medication: str
    status: str | None = Field(description="DoseSpot's prescription status, e.g. eRxSent")
    medication_status: str | None
    status_details: str | None
    directions: str | None
    effective_date: date | None
    dispense_quantity: str | None
    dispense_unit_id: int | None = Field(description="DoseSpot's dispense unit id")
    refills: str | None
    prescriber_clinician_id: int | None
    last_filled: date | None
    days_supply: int | None
    pharmacy_id: int | None
    pharmacy_notes: str | None
    schedule: str | None = Field(description="Controlled-substance schedule (2-5), if any")


class RenewalCard(BaseModel):
    dosespot_id: int
    medication: str
    requested_at: UtcDateTime | None
    prescriber_clinician_id: int | None
    pharmacy_id: int | None


class Tab(BaseModel):
    count: int
    items: list[MedicationCard]


class RenewalTab(BaseModel):
    count: int
    items: list[RenewalCard]


class PharmacyCard(BaseModel):
    pharmacy_id: int
    name: str
    address: str | None
    phone: str | None
    is_default: bool
    services: PharmacyServices


class MedicationsPublic(BaseModel):
    client_id: str
    last_synced_at: UtcDateTime | None
    active: Tab
    inactive: Tab
    self_reported: Tab
    renewal_requests: RenewalTab
    pharmacies: list[PharmacyCard]


def _public(client_id: str, row: PatientRegistration | None) -> PatientPublic:
    if row is None:
        return PatientPublic(
            client_id=client_id,
            state="unregistered",
            allowed_actions=patient_allowed_actions("unregistered"),
        )
    return PatientPublic(
        client_id=client_id,
        state=row.state,
        allowed_actions=patient_allowed_actions(row.state),
        dosespot_patient_id=row.dosespot_patient_id,
        message=row.message,
        last_synced_at=utc(row.last_synced_at),
    )


def _from_status(status_: PatientErxStatus) -> PatientPublic:
    return PatientPublic(
        client_id=status_.client_id,
        state=status_.state,
        allowed_actions=status_.allowed_actions,
        dosespot_patient_id=status_.dosespot_patient_id,
        blocked=status_.blocked,
        message=status_.blocked.message if status_.blocked else None,
        last_synced_at=status_.last_synced,
    )


@router.put(
    "/{client_id}",
    response_model=PatientRegistrationPublic,
    responses={202: {"model": PatientRegistrationPublic, "description": "still registering"}},
)
async def register_patient(
    ws: PathId,
    client_id: ClientId,
    body: PatientRegistrationIn,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> PatientRegistrationPublic:
    """Register the client in DoseSpot (or update the DoseSpot patient), from the client
    record with the body's overrides. Height and weight are required at
    ``ERX_PEDIATRIC_VITALS_MAX_AGE`` (18) and under."""
    principal.require_workspace(ws)
    client = await svc.client_record(session, ws, client_id)
    request = await svc.registration_request(session, settings, ws, client_id, client, body)
    await session.commit()
    result = await svc.register(temporal, settings, ws, client_id, request)
    if result is None:
        response.status_code = status.HTTP_202_ACCEPTED
        row = await session.get(PatientRegistration, (ws, client_id), populate_existing=True)
        return PatientRegistrationPublic(status="pending", patient=_public(client_id, row))
    return PatientRegistrationPublic(
        status="blocked" if result.state == "blocked" else "registered",
        patient=_from_status(result),
    )


@router.get("/{client_id}", response_model=PatientPublic)
async def get_patient(
    ws: PathId, client_id: ClientId, principal: PrincipalDep, session: SessionDep
) -> PatientPublic:
    """The client's DoseSpot registration: state, DoseSpot's patient id, why it is blocked."""
    principal.require_workspace(ws)
    await svc.client_record(session, ws, client_id)
    return _public(client_id, await session.get(PatientRegistration, (ws, client_id)))


@router.post("/{client_id}/retry", response_model=PatientPublic)
async def retry_patient(
    ws: PathId,
    client_id: ClientId,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> PatientPublic:
    """Re-drive a blocked patient from the step that stopped (admin or service)."""
    principal.require_workspace(ws)
    principal.require_role(Role.service, Role.admin)
    await svc.client_record(session, ws, client_id)
    await session.commit()
    return _from_status(await svc.retry(temporal, ws, client_id))


@router.post("/{client_id}/sync", response_model=MedicationsPublic)
async def sync_patient(
    ws: PathId,
    client_id: ClientId,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> MedicationsPublic:
    """Pull the medication record from DoseSpot now (call it when the prescribing session
    closes); answers with the record once it is in, or 202 with the record so far."""
    principal.require_workspace(ws)
    await svc.client_record(session, ws, client_id)
    await svc.registered_patient(session, ws, client_id)
    await session.commit()
    if await svc.sync(temporal, settings, ws, client_id) is None:
        response.status_code = status.HTTP_202_ACCEPTED
    return await _medications(session, ws, client_id)


@router.get("/{client_id}/medications", response_model=MedicationsPublic)
async def medications(
    ws: PathId, client_id: ClientId, principal: PrincipalDep, session: SessionDep
) -> MedicationsPublic:
    """The medication record: Active, Inactive, Self-reported and Renewal requests, each
    with its count, and the patient's pharmacies with the default marked."""
    principal.require_workspace(ws)
    await svc.client_record(session, ws, client_id)
    return await _medications(session, ws, client_id)


async def _medications(session: AsyncSession, ws: str, client_id: str) -> MedicationsPublic:
    registration = await session.get(PatientRegistration, (ws, client_id), populate_existing=True)
    rows = (
        await session.scalars(
            select(PatientMedication)
            .where(PatientMedication.workspace_id == ws, PatientMedication.client_id == client_id)
            .order_by(PatientMedication.written_date.desc(), PatientMedication.dosespot_id.desc())
            .execution_options(populate_existing=True)
        )
    ).all()
    renewals = (
        await session.scalars(
            select(PatientRenewalRequest)
            .where(
                PatientRenewalRequest.workspace_id == ws,
                PatientRenewalRequest.client_id == client_id,
            )
            .order_by(PatientRenewalRequest.dosespot_id)
            .execution_options(populate_existing=True)
        )
    ).all()
    pharmacies = (
        await session.scalars(
            select(PatientPharmacy)
            .where(PatientPharmacy.workspace_id == ws, PatientPharmacy.client_id == client_id)
            .order_by(PatientPharmacy.is_default.desc(), PatientPharmacy.name)
            .execution_options(populate_existing=True)
        )
    ).all()

    def tab(name: str) -> Tab:
        items = [_card(m) for m in rows if m.tab == name]
        return Tab(count=len(items), items=items)

    return MedicationsPublic(
        client_id=client_id,
        last_synced_at=utc(registration.last_synced_at) if registration else None,
        active=tab("active"),
        inactive=tab("inactive"),
        self_reported=tab("self_reported"),
        renewal_requests=RenewalTab(
            count=len(renewals),
            items=[
                RenewalCard(
                    dosespot_id=r.dosespot_id,
                    medication=r.display_name,
                    requested_at=utc(r.requested_at),
                    prescriber_clinician_id=r.prescriber_clinician_id,
                    pharmacy_id=r.pharmacy_id,
                )
                for r in renewals
            ],
        ),
        pharmacies=[
            PharmacyCard(
                pharmacy_id=p.pharmacy_id,
                name=p.name,
                address=p.address,
                phone=p.phone,
                is_default=p.is_default,
                services=_services(p.services),
            )
            for p in pharmacies
        ],
    )


def _services(stored: str) -> PharmacyServices:
    taken = set(stored.split(","))
    return PharmacyServices(**{name: name in taken for name in PharmacyServices.model_fields})


def _card(m: PatientMedication) -> MedicationCard:
    return MedicationCard(
        dosespot_id=m.dosespot_id,
        medication=m.display_name,
        status=m.status,
        medication_status=m.medication_status,
        status_details=m.status_details,
        directions=m.directions,
        effective_date=m.effective_date,
        dispense_quantity=m.quantity,
        dispense_unit_id=int(m.dispense_unit) if m.dispense_unit else None,
        refills=m.refills,
        prescriber_clinician_id=m.prescriber_clinician_id,
        last_filled=m.last_fill_date,
        days_supply=m.days_supply,
        pharmacy_id=m.pharmacy_id,
        pharmacy_notes=m.pharmacy_notes,
        schedule=m.schedule,
    )


def _signing_in_as(principal: Principal, body: PrescribingSessionIn) -> str:
    """The clinician the link signs in as: a person's own key, or the service key for them."""
    if principal.role == Role.service:
        if body.clinician_member_id is None:
            raise Unprocessable(
                "clinician_member_id", "a service key names the clinician the link signs in as"
            )
        return body.clinician_member_id
    assert principal.member_id is not None
    if body.clinician_member_id not in (None, principal.member_id):
        raise Forbidden(
            "the link signs in as the clinician: only their own key, or the EHR's service "
            "key acting for them, may ask for it"
        )
    return principal.member_id


@router.post("/{client_id}/prescribing-session", response_model=PrescribingSessionPublic)
async def prescribing_session(
    ws: PathId,
    client_id: ClientId,
    body: PrescribingSessionIn,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> PrescribingSessionPublic:
    """The link that opens DoseSpot's prescribing UI for this patient, signed in as the
    clinician (to embed for the clinician signed in to the EHR)."""
    principal.require_workspace(ws)
    member_id = _signing_in_as(principal, body)
    await svc.client_record(session, ws, client_id)
    enrollment = await verified_prescriber(
        session, ws, member_id, "the clinician is not verified for e-prescribing yet"
    )
    assert enrollment.dosespot_clinician_id is not None
    patient = await svc.registered_patient(session, ws, client_id)
    assert patient.dosespot_clinic_id is not None and patient.dosespot_patient_id is not None
    registration = await session.scalar(
        select(ClinicRegistration).where(
            ClinicRegistration.dosespot_clinic_id == patient.dosespot_clinic_id
        )
    )
    secrets = SecretBox(settings.codec_keys, settings.codec_active_key_id)
    key = clinic_key(registration, secrets) if registration else None
    if key is None:
        raise Conflict("the patient's clinic is not registered with DoseSpot")
    return PrescribingSessionPublic(
        sso_url=build_sso_url(
            settings.dosespot_sso_url,
            patient.dosespot_clinic_id,
            key,
            enrollment.dosespot_clinician_id,
            patient_id=None if body.refills_errors else patient.dosespot_patient_id,
            refills_errors=body.refills_errors,
        ),
        clinician_member_id=member_id,
        client_id=client_id,
    )
