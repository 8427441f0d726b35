"""Pharmacies: DoseSpot's directory search, a patient's pharmacies with the default, and
the pharmacy benefit plan (insurance) DoseSpot checks prescriptions against.

Answers are ours, not DoseSpot's: addresses as one object, phones as +1 numbers, the
prescribing services decoded from DoseSpot's ``ServiceLevel`` bits, specialties by name.
Every request is validated before anything is sent to DoseSpot.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from temporalio.client import Client
from temporalio.service import RPCError

from api import patient_service as svc
from api.deps import PrincipalDep, SessionDep, SettingsDep, TemporalDep
from api.dosespot_calls import (
    DoseSpotDep,
    dosespot_errors,
    patient_access,
    workspace_clinic,
)
from api.errors import Conflict, DomainError, Unprocessable
from api.routes.clients import ClientId
from api.schemas import NoControl, PathId, PharmacyServices, RequestModel
from db.models import Client as ClientRecord
from dosespot import DoseSpotClient
from dosespot.enums import (
    PharmacySpecialty,
    pharmacy_services,
)
from dosespot.errors import DoseSpotNotFound, DoseSpotRefused
from dosespot.models import (
    PatientInsuranceCreate,
    PatientPharmacy,
    Pharmacy,
    PharmacyQuery,
)
from erx.settings import Settings
from erx.us import check_state, refuse_non_ascii_digits

router = APIRouter(prefix="/v1/workspaces/{ws}/erx", tags=["pharmacies"])
logger = logging.getLogger("api.pharmacies")

# DoseSpot refuses a search criterion shorter than this (the state excepted).
MIN_CRITERION = 3
MAX_PAGE = 1000
INT32_MAX = 2**31 - 1

Specialty = Literal[
    "Retail",
    "MailOrder",
    "SpecialtyPharmacy",
    "LongTermCarePharmacy",
    "TwentyFourHourPharmacy",
    "EPCS",
    "FaxPharmacy",
]
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")
_DOSESPOT_PHONE = re.compile(r"([0-9]{10})(?:\s*x\s*([0-9]{1,6}))?", re.IGNORECASE)


SearchText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=MIN_CRITERION, max_length=70),
    NoControl,
]


class PharmacySearch(BaseModel):
    """Filters of a pharmacy search: at least one of name, city, state, zip, ncpdp_id or
    phone_or_fax; ``specialty`` (repeatable) narrows any of them."""

    model_config = ConfigDict(extra="forbid")

    name: SearchText | None = Field(default=None, description="Part of the store name")
    city: SearchText | None = None
    state: str | None = Field(default=None, description="US state code, e.g. NY")
    zip: str | None = Field(default=None, description="5 or 9 digits (12345 or 12345-6789)")
    ncpdp_id: str | None = Field(default=None, description="The pharmacy's 7-digit NCPDP id")
    phone_or_fax: str | None = Field(default=None, description="10 digits, +1 optional")
    specialty: list[Specialty] = Field(default_factory=list)
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Pages hold 20 pharmacies")

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        return None if value is None else check_state(value)

    @field_validator("zip")
    @classmethod
    def _zip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = refuse_non_ascii_digits(value.strip())
        if not re.fullmatch(r"[0-9]{5}(-?[0-9]{4})?", code):
            raise ValueError("must be 5 or 9 digits (12345 or 12345-6789)")
        return code.replace("-", "")

    @field_validator("ncpdp_id")
    @classmethod
    def _ncpdp(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = refuse_non_ascii_digits(value.strip())
        if not re.fullmatch(r"[0-9]{7}", code):
            raise ValueError("must be the 7 digits of an NCPDP id")
        return code

    @field_validator("phone_or_fax")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = _PHONE_PUNCTUATION.sub("", refuse_non_ascii_digits(value))
        compact = compact.removeprefix("+1")
        if not re.fullmatch(r"[0-9]{10}", compact):
            raise ValueError("must be a 10-digit US phone or fax number")
        return compact

    def query(self) -> PharmacyQuery:
        filters = (self.name, self.city, self.state, self.zip, self.ncpdp_id, self.phone_or_fax)
        if not any(filters):
            raise Unprocessable(
                "filters",
                "a search needs at least one filter: name, city, state, zip, ncpdp_id or "
                "phone_or_fax (specialty only narrows one)",
            )
        return PharmacyQuery(
            name=self.name,
            city=self.city,
            state=self.state,
            zip=self.zip,
            ncpdp_id=self.ncpdp_id,
            phone_or_fax=self.phone_or_fax,
            specialty=[PharmacySpecialty[name] for name in self.specialty],
        )


class PharmacyAddress(BaseModel):
    line1: str | None
    line2: str | None
    city: str | None
    state: str | None
    zip: str | None


class PharmacyPublic(BaseModel):
    pharmacy_id: int
    store_name: str | None
    address: PharmacyAddress
    phone: str | None = Field(description="+1 and 10 digits, with any extension after 'x'")
    fax: str | None
    ncpdp_id: str | None
    specialties: list[str] = Field(description="e.g. Retail, MailOrder, EPCS")
    services: PharmacyServices


class PageInfo(BaseModel):
    page: int
    page_size: int | None
    total_pages: int
    total_count: int | None
    has_next: bool
    has_previous: bool


class PharmacySearchPublic(BaseModel):
    items: list[PharmacyPublic]
    page: PageInfo


class PatientPharmacyPublic(PharmacyPublic):
    is_default: bool


class PatientPharmaciesPublic(BaseModel):
    client_id: str
    default_pharmacy_id: int | None
    items: list[PatientPharmacyPublic] = Field(description="The default first")
    synced: bool | None = Field(
        default=None,
        description="After a change: whether the medication record's pharmacy panel was "
        "refreshed before the answer (it follows shortly when not)",
    )


class DefaultPharmacyUpdate(RequestModel):
    pharmacy_id: int = Field(gt=0, le=INT32_MAX, description="DoseSpot's PharmacyId")


def _phone(raw: str | None) -> str | None:
    if not raw or not raw.strip():
        return None
    match = _DOSESPOT_PHONE.fullmatch(raw.strip())
    if match is None:
        return raw.strip()
    digits, extension = match.groups()
    return f"+1{digits}" + (f" x{extension}" if extension else "")


def _specialties(raw: list[str]) -> list[str]:
    names: list[str] = []
    for item in raw:
        if item.strip().isdigit():
            # Some integrators' payloads carry the specialty bits as a number.
            bits = int(item)
            names += [s.name for s in PharmacySpecialty if s.value and bits & s.value == s.value]
        else:
            try:
                names.append(PharmacySpecialty.parse(item).name)
            except ValueError:
                names.append(item.strip())
    return list(dict.fromkeys(n for n in names if n))


def pharmacy_public(pharmacy: Pharmacy) -> PharmacyPublic:
    services = pharmacy_services(pharmacy.service_level)
    return PharmacyPublic(
        pharmacy_id=pharmacy.pharmacy_id,
        store_name=pharmacy.store_name,
        address=PharmacyAddress(
            line1=pharmacy.address1 or None,
            line2=pharmacy.address2 or None,
            city=pharmacy.city or None,
            state=pharmacy.state or None,
            zip=pharmacy.zip_code or None,
        ),
        phone=_phone(pharmacy.primary_phone),
        fax=_phone(pharmacy.primary_fax),
        ncpdp_id=pharmacy.ncpdp_id or None,
        specialties=_specialties(pharmacy.pharmacy_specialties),
        services=PharmacyServices(
            new_rx="NewRx" in services,
            refill="Refill" in services,
            change="Change" in services,
            rx_fill="RxFill" in services,
            cancel="Cancel" in services,
            epcs="EPCS" in services,
        ),
    )


def _patient_pharmacies(
    client_id: str, pharmacies: list[PatientPharmacy]
) -> PatientPharmaciesPublic:
    items = [
        PatientPharmacyPublic(**pharmacy_public(p).model_dump(), is_default=p.is_default)
        for p in sorted(pharmacies, key=lambda p: not p.is_default)
    ]
    default = next((p.pharmacy_id for p in items if p.is_default), None)
    return PatientPharmaciesPublic(client_id=client_id, default_pharmacy_id=default, items=items)


@router.get("/pharmacies", response_model=PharmacySearchPublic)
async def search_pharmacies(
    ws: PathId,
    filters: Annotated[PharmacySearch, Query()],
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> PharmacySearchPublic:
    """Search DoseSpot's pharmacy directory (20 a page), in the workspace's first clinic."""
    principal.require_workspace(ws)
    query = filters.query()
    clinic = await workspace_clinic(session, settings, ws)
    await session.commit()
    with dosespot_errors("pharmacy search", ws):
        found = await clinic.client(dosespot, settings).search_pharmacies(query, filters.page)
    return PharmacySearchPublic(
        items=[pharmacy_public(p) for p in found.items],
        page=PageInfo(
            page=found.page.current_page,
            page_size=found.page.page_size,
            total_pages=found.page.total_pages,
            total_count=found.page.total_count,
            has_next=found.page.has_next,
            has_previous=found.page.has_previous,
        ),
    )


@router.get("/patients/{client_id}/pharmacies", response_model=PatientPharmaciesPublic)
async def patient_pharmacies(
    ws: PathId,
    client_id: ClientId,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> PatientPharmaciesPublic:
    """The patient's pharmacies as DoseSpot holds them now, the default marked and first."""
    principal.require_workspace(ws)
    patient = await patient_access(session, settings, ws, client_id)
    await session.commit()
    with dosespot_errors("patient pharmacies", ws):
        pharmacies = await patient.clinic.client(dosespot, settings).patient_pharmacies(
            patient.patient_id
        )
    return _patient_pharmacies(client_id, pharmacies)


async def _known_pharmacy(doses: DoseSpotClient, pharmacy_id: int) -> None:
    """DoseSpot answers an unknown pharmacy with HTTP 404 or ``ResultCode: ERROR``."""
    try:
        await doses.get_pharmacy(pharmacy_id)
    except (DoseSpotNotFound, DoseSpotRefused) as exc:
        raise Unprocessable("pharmacy_id", "no such pharmacy") from exc


async def _refresh_record(temporal: Client, settings: Settings, ws: str, client_id: str) -> bool:
    """Pull the medication record (pharmacy panel included) into the read model.

    DoseSpot already has the change, so a sync that cannot run now is not the caller's
    failure: the patient's workflow syncs again on DoseSpot's PharmacyStatusUpdate push
    and by its reconciliation poll.
    """
    try:
        return await svc.sync(temporal, settings, ws, client_id) is not None
    except (DomainError, RPCError) as exc:
        logger.warning("sync after a pharmacy change in workspace %s: %s", ws, type(exc).__name__)
        return False


@router.put("/patients/{client_id}/pharmacy", response_model=PatientPharmaciesPublic)
async def set_default_pharmacy(
    ws: PathId,
    client_id: ClientId,
    body: DefaultPharmacyUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    dosespot: DoseSpotDep,
) -> PatientPharmaciesPublic:
    """Make a pharmacy the patient's default in DoseSpot (added if new), then refresh the
    medication record's pharmacy panel; answers the patient's pharmacies."""
    principal.require_workspace(ws)
    patient = await patient_access(session, settings, ws, client_id)
    await session.commit()
    doses = patient.clinic.client(dosespot, settings)
    with dosespot_errors("set default pharmacy", ws):
        await _known_pharmacy(doses, body.pharmacy_id)
        current = await doses.patient_pharmacies(patient.patient_id)
        if not any(p.pharmacy_id == body.pharmacy_id and p.is_default for p in current):
            await doses.add_patient_pharmacy(patient.patient_id, body.pharmacy_id, True)
            logger.info(
                "default pharmacy %d set for DoseSpot patient %d in workspace %s",
                body.pharmacy_id,
                patient.patient_id,
                ws,
            )
        pharmacies = await doses.patient_pharmacies(patient.patient_id)
    synced = await _refresh_record(temporal, settings, ws, client_id)
    answer = _patient_pharmacies(client_id, pharmacies)
    answer.synced = synced
    return answer


class InsurancePublic(BaseModel):
    client_id: str
    dosespot_insurance_id: int = Field(description="DoseSpot's id of the custom insurance")
    payer_name: str
    payer_id: str


@router.put("/patients/{client_id}/insurance", response_model=InsurancePublic)
async def send_insurance(
    ws: PathId,
    client_id: ClientId,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    dosespot: DoseSpotDep,
) -> InsurancePublic:
    """Send the client record's pharmacy benefit plan to DoseSpot as the patient's custom
    insurance (PayerID, cardholder and group ids). DoseSpot adds one each time it is sent:
    send it when the plan changes."""
    principal.require_workspace(ws)
    patient = await patient_access(session, settings, ws, client_id)
    client = await session.get(ClientRecord, (ws, client_id))
    assert client is not None
    if client.insurance_member_id is None or client.insurance_payer_name is None:
        raise Conflict(
            "the client record has no insurance: add it with PUT .../clients/{client_id}",
            state="no_insurance",
        )
    if client.insurance_payer_id is None:
        raise Conflict(
            "the client record's insurance has no payer_id, which DoseSpot needs to name the plan",
            state="no_payer_id",
        )
    insurance = PatientInsuranceCreate.for_plan(
        client.insurance_payer_name,
        client.insurance_payer_id,
        client.insurance_member_id,
        client.insurance_group_id,
    )
    payer_name, payer_id = client.insurance_payer_name, client.insurance_payer_id
    await session.commit()
    with dosespot_errors("add patient insurance", ws):
        insurance_id = await patient.clinic.client(dosespot, settings).add_patient_insurance(
            patient.patient_id, insurance
        )
    logger.info(
        "insurance %d sent for DoseSpot patient %d in workspace %s",
        insurance_id,
        patient.patient_id,
        ws,
    )
    return InsurancePublic(
        client_id=client_id,
        dosespot_insurance_id=insurance_id,
        payer_name=payer_name,
        payer_id=payer_id,
    )
