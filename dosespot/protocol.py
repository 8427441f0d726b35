"""Sans-I/O core of the DoseSpot client: builds requests, reads replies, maps failures.

Nothing here touches the network or the clock, so every rule about DoseSpot's envelope,
``Result`` codes and error bodies is tested with recorded samples. The only I/O lives in
:mod:`dosespot.client`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from dosespot.enums import (
    DrugStatus,
    PatientSearchStatus,
    PrescriptionStatusClass,
    RefillClinicScope,
    RegistrationStatus,
    TfaType,
)
from dosespot.errors import (
    DEFAULT_RATE_LIMIT_BACKOFF,
    DoseSpotAuthError,
    DoseSpotError,
    DoseSpotNotFound,
    DoseSpotRateLimited,
    DoseSpotRefused,
    DoseSpotUnavailable,
    DoseSpotUnexpectedResponse,
    DoseSpotValidationError,
    UnknownRegistrationStatus,
)
from dosespot.models import (
    AgreementAcceptance,
    AllergyCreate,
    Clinic,
    ClinicCreate,
    ClinicCredentials,
    Clinician,
    ClinicianCreate,
    CodedPrescriptionCreate,
    FavoriteCreate,
    LegalAgreement,
    NotificationCounts,
    OrderSetCreate,
    PageResult,
    Patient,
    PatientCreate,
    PatientInsuranceCreate,
    PharmacyQuery,
    PrescriptionCreate,
    RefillApproval,
    RefillDenial,
    SendOutcome,
    TfaActivation,
    date_at_midnight,
)

M = TypeVar("M", bound=BaseModel)

REQUEST_ID_HEADERS = ("request-id", "x-request-id", "x-correlation-id", "x-ms-request-id")
CONNECT_PATH = "connect/token"
RESULT_OK = "OK"

# DoseSpot words "no such clinician" in several ways when a lookup finds nothing.
_NOT_FOUND_WORDING = re.compile(
    r"not\s+found|no\s+clinician|does\s+not\s+exist|not\s+exist|could\s+not\s+find"
    r"|unable\s+to\s+find|no\s+match",
    re.IGNORECASE,
)


TokenKey = tuple[int, int, int | None]
"""(clinic, user, on-behalf-of user): one token per combination."""


@dataclass(frozen=True, slots=True)
class DoseSpotCredentials:
    """Who a call acts as: a user (clinician or clinic admin) in a clinic.

    ``on_behalf_of_user_id`` is for a proxy (ProxyClinician) or prescribing agent
    (PrescribingAgentClinician) working for a prescriber: the token is asked for as the
    proxy (``username``) with ``acr_values=OnBehalfOfUserId=<prescriber>``, and DoseSpot
    refuses it at token time ("OnBehalfOfUser validation failed") unless the pairing is
    valid in the clinic. Such a token writes pending prescriptions for the prescriber; it
    never sends them.
    """

    clinic_id: int
    clinic_key: str = field(repr=False)
    user_id: int
    on_behalf_of_user_id: int | None = None

    @property
    def token_key(self) -> TokenKey:
        return (self.clinic_id, self.user_id, self.on_behalf_of_user_id)

    def on_behalf_of(self, prescriber_id: int) -> DoseSpotCredentials:
        """The same user and clinic, acting for ``prescriber_id``."""
        return DoseSpotCredentials(
            clinic_id=self.clinic_id,
            clinic_key=self.clinic_key,
            user_id=self.user_id,
            on_behalf_of_user_id=int(prescriber_id),
        )


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request relative to the API base URL.

    ``template`` is the path with placeholders: the only form of the path that is logged.
    """

    method: str
    path: str
    template: str
    params: Mapping[str, str | list[str]] | None = None
    json: Any = None
    form: Mapping[str, str] | None = field(default=None, repr=False)
    authenticated: bool = True


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP response as the parsers need it."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def request_id(self) -> str | None:
        for name in REQUEST_ID_HEADERS:
            value = self.header(name)
            if value:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str = field(repr=False)
    expires_in: float
    token_type: str


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    items: list[M]
    page: PageResult


# Requests


def token_request(credentials: DoseSpotCredentials) -> Request:
    return Request(
        method="POST",
        path=CONNECT_PATH,
        template=CONNECT_PATH,
        form={
            "grant_type": "password",
            "client_id": str(credentials.clinic_id),
            "client_secret": credentials.clinic_key,
            "username": str(credentials.user_id),
            "password": credentials.clinic_key,
            "scope": "api",
            **(
                {"acr_values": f"OnBehalfOfUserId={int(credentials.on_behalf_of_user_id)}"}
                if credentials.on_behalf_of_user_id is not None
                else {}
            ),
        },
        authenticated=False,
    )


def check_request() -> Request:
    return Request("GET", "api/general/check", "api/general/check")


def create_clinic_request(clinic: ClinicCreate) -> Request:
    return Request("POST", "api/clinics", "api/clinics", json=clinic.to_body())


def get_clinic_request(clinic_id: int) -> Request:
    return Request("GET", f"api/clinics/{int(clinic_id)}", "api/clinics/{clinicId}")


def clinician_clinic_ids_request(clinician_id: int) -> Request:
    return Request(
        "GET",
        f"api/clinicians/{int(clinician_id)}/clinicIds",
        "api/clinicians/{clinicianId}/clinicIds",
    )


def create_clinician_request(clinician: ClinicianCreate) -> Request:
    return Request("POST", "api/clinicians", "api/clinicians", json=clinician.to_body())


def get_clinician_request(clinician_id: int) -> Request:
    return Request("GET", f"api/clinicians/{int(clinician_id)}", "api/clinicians/{clinicianId}")


def find_clinician_by_npi_request(npi: str) -> Request:
    return Request("GET", "api/clinician", "api/clinician", params={"npi": npi.strip()})


def registration_status_request(clinician_id: int) -> Request:
    return Request(
        "GET",
        f"api/clinicians/{int(clinician_id)}/registrationStatus",
        "api/clinicians/{clinicianId}/registrationStatus",
    )


def add_clinician_to_clinics_request(clinician_id: int, clinic_ids: Iterable[int]) -> Request:
    return Request(
        "POST",
        f"api/clinicians/{int(clinician_id)}/clinics",
        "api/clinicians/{clinicianId}/clinics",
        json={"ClinicIds": [int(clinic_id) for clinic_id in clinic_ids]},
    )


def set_supervisor_request(clinician_id: int, clinic_id: int, supervisor_id: int) -> Request:
    """``PUT api/clinicians/{clinicianId}/supervisors``: a prescribing agent's supervising
    prescriber in one clinic (DoseSpot keeps one per clinic; a new one replaces it)."""
    return Request(
        "PUT",
        f"api/clinicians/{int(clinician_id)}/supervisors",
        "api/clinicians/{clinicianId}/supervisors",
        json=[{"ClinicId": int(clinic_id), "SupervisorId": int(supervisor_id)}],
    )


def remove_supervisors_request(clinician_id: int, clinic_ids: Iterable[int]) -> Request:
    """``DELETE api/clinicians/{clinicianId}/supervisors``: clears the clinics' supervisor."""
    return Request(
        "DELETE",
        f"api/clinicians/{int(clinician_id)}/supervisors",
        "api/clinicians/{clinicianId}/supervisors",
        json={"ClinicIds": [int(clinic_id) for clinic_id in clinic_ids]},
    )


def update_clinician_request(clinician_id: int, clinician: ClinicianCreate) -> Request:
    return Request(
        "PUT",
        f"api/clinicians/{int(clinician_id)}",
        "api/clinicians/{clinicianId}",
        json=clinician.to_body(),
    )


def legal_agreements_request(clinician_id: int) -> Request:
    return Request(
        "GET",
        f"api/clinicians/{int(clinician_id)}/legalAgreements",
        "api/clinicians/{clinicianId}/legalAgreements",
    )


def accept_agreement_request(acceptance: AgreementAcceptance) -> Request:
    return Request(
        "POST",
        "api/clinicians/acceptAgreement",
        "api/clinicians/acceptAgreement",
        json=acceptance.to_body(),
    )


def idp_init_request(clinician_id: int) -> Request:
    return Request(
        "POST",
        f"api/clinicians/{int(clinician_id)}/idpInit",
        "api/clinicians/{clinicianId}/idpInit",
    )


def init_tfa_activate_request(clinician_id: int, tfa_type: TfaType) -> Request:
    return Request(
        "POST",
        f"api/clinicians/{int(clinician_id)}/initTfaActivate",
        "api/clinicians/{clinicianId}/initTfaActivate",
        json=TfaActivation(tfa_type=tfa_type).to_body(),
    )


# Patients


def _utc_day_start(value: date) -> str:
    return f"{value.isoformat()}T00:00:00Z"


def _utc_day_end(value: date) -> str:
    return f"{value.isoformat()}T23:59:59Z"


def _page_params(page: int) -> dict[str, str]:
    if int(page) < 1:
        raise ValueError("pages are numbered from 1")
    return {"pageNumber": str(int(page))}


def search_patients_request(
    first_name: str,
    last_name: str,
    date_of_birth: date,
    *,
    status: PatientSearchStatus | str | int | None = None,
    page: int = 1,
) -> Request:
    """``GET api/patients/search`` by name and date of birth (names need 2+ characters)."""
    first, last = first_name.strip(), last_name.strip()
    if len(first) < 2 or len(last) < 2:
        raise ValueError("a patient search needs first and last names of 2+ characters")
    params: dict[str, str | list[str]] = {
        "firstName": first,
        "lastName": last,
        "dob": date_at_midnight(date_of_birth),
    }
    if status is not None:
        params["status"] = PatientSearchStatus.parse(status).name
    params.update(_page_params(page))
    return Request("GET", "api/patients/search", "api/patients/search", params=params)


def add_patient_request(patient: PatientCreate) -> Request:
    return Request("POST", "api/patients", "api/patients", json=patient.to_body())


def edit_patient_request(patient_id: int, patient: PatientCreate) -> Request:
    return Request(
        "PUT",
        f"api/patients/{int(patient_id)}",
        "api/patients/{patientId}",
        json=patient.to_body(),
    )


def get_patient_request(patient_id: int) -> Request:
    return Request("GET", f"api/patients/{int(patient_id)}", "api/patients/{patientId}")


def add_patient_insurance_request(patient_id: int, insurance: PatientInsuranceCreate) -> Request:
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/insurance",
        "api/patients/{patientId}/insurance",
        json=insurance.to_body(),
    )


# Allergies


def search_allergens_request(name: str, *, page: int = 1) -> Request:
    """``GET api/allergens/search``: three or more characters."""
    text = name.strip()
    if len(text) < 3:
        raise ValueError("an allergen search needs 3+ characters")
    return Request(
        "GET",
        "api/allergens/search",
        "api/allergens/search",
        params={"name": text, **_page_params(page)},
    )


def patient_allergies_request(patient_id: int) -> Request:
    return Request(
        "GET",
        f"api/patients/{int(patient_id)}/allergies",
        "api/patients/{patientId}/allergies",
    )


def add_patient_allergy_request(patient_id: int, allergy: AllergyCreate) -> Request:
    """The coded or the free-text add, whichever ``allergy`` is."""
    kind = "coded" if allergy.coded else "freetext"
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/allergies/{kind}",
        f"api/patients/{{patientId}}/allergies/{kind}",
        json=allergy.add_body(),
    )


def add_no_known_allergies_request(patient_id: int) -> Request:
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/allergies/noKnownAllergy",
        "api/patients/{patientId}/allergies/noKnownAllergy",
    )


def edit_patient_allergy_request(
    patient_id: int, patient_allergy_id: int, allergy: AllergyCreate
) -> Request:
    return Request(
        "PUT",
        f"api/patients/{int(patient_id)}/allergies/{int(patient_allergy_id)}",
        "api/patients/{patientId}/allergies/{patientAllergyId}",
        json=allergy.edit_body(),
    )


# Pharmacies


def search_pharmacies_request(query: PharmacyQuery, *, page: int = 1) -> Request:
    return Request(
        "GET",
        "api/pharmacies/search",
        "api/pharmacies/search",
        params={**query.params(), **_page_params(page)},
    )


def get_pharmacy_request(pharmacy_id: int) -> Request:
    return Request("GET", f"api/pharmacies/{int(pharmacy_id)}", "api/pharmacies/{pharmacyId}")


def patient_pharmacies_request(patient_id: int) -> Request:
    return Request(
        "GET",
        f"api/patients/{int(patient_id)}/pharmacies",
        "api/patients/{patientId}/pharmacies",
    )


def add_patient_pharmacy_request(
    patient_id: int, pharmacy_id: int, set_as_primary: bool
) -> Request:
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/pharmacies",
        "api/patients/{patientId}/pharmacies",
        json={"PharmacyId": int(pharmacy_id), "SetAsPrimary": bool(set_as_primary)},
    )


def remove_patient_pharmacy_request(patient_id: int, pharmacy_id: int) -> Request:
    return Request(
        "DELETE",
        f"api/patients/{int(patient_id)}/pharmacies/{int(pharmacy_id)}",
        "api/patients/{patientId}/pharmacies/{pharmacyId}",
    )


# Medications, prescriptions and queues


def search_medications_request(
    name: str, *, drug_status: DrugStatus | str | int | None = None, page: int = 1
) -> Request:
    """``GET api/medications/search``: three or more characters."""
    text = name.strip()
    if len(text) < 3:
        raise ValueError("a medication search needs 3+ characters")
    params: dict[str, str | list[str]] = {"name": text, **_page_params(page)}
    if drug_status is not None:
        params["drugStatus"] = DrugStatus.parse(drug_status).name
    return Request("GET", "api/medications/search", "api/medications/search", params=params)


def select_medication_request(
    *,
    dispensable_drug_id: int | None = None,
    ndc: str | None = None,
    rxcui: int | None = None,
) -> Request:
    """``GET api/medications/select`` by exactly one of DispensableDrugId, NDC or RxCUI."""
    chosen = {
        "dispensableDrugId": None if dispensable_drug_id is None else str(int(dispensable_drug_id)),
        "nDC": ndc.strip() if ndc and ndc.strip() else None,
        "rXCUI": None if rxcui is None else str(int(rxcui)),
    }
    params: dict[str, str | list[str]] = {k: v for k, v in chosen.items() if v is not None}
    if len(params) != 1:
        raise ValueError("select a medication by one of dispensable_drug_id, ndc or rxcui")
    return Request("GET", "api/medications/select", "api/medications/select", params=params)


def patient_prescriptions_request(
    patient_id: int,
    start: date,
    end: date,
    *,
    status_class: PrescriptionStatusClass | str | int | None = None,
    page: int = 1,
) -> Request:
    """Prescriptions written from ``start`` to the end of ``end`` (UTC days), newest first."""
    if end < start:
        raise ValueError("end is before start")
    params: dict[str, str | list[str]] = {
        "startDate": _utc_day_start(start),
        "endDate": _utc_day_end(end),
        "sortColumn": "DateWritten",
        "sortOrder": "Desc",
    }
    if status_class is not None:
        params["statusClass"] = PrescriptionStatusClass.parse(status_class).name
    params.update(_page_params(page))
    return Request(
        "GET",
        f"api/patients/{int(patient_id)}/prescriptions",
        "api/patients/{patientId}/prescriptions",
        params=params,
    )


def self_reported_medications_request(
    patient_id: int,
    *,
    start: date | None = None,
    end: date | None = None,
    page: int = 1,
) -> Request:
    params: dict[str, str | list[str]] = {}
    if start is not None:
        params["startDate"] = _utc_day_start(start)
    if end is not None:
        params["endDate"] = _utc_day_end(end)
    params.update(_page_params(page))
    return Request(
        "GET",
        f"api/patients/{int(patient_id)}/selfReportedMedications",
        "api/patients/{patientId}/selfReportedMedications",
        params=params,
    )


def pending_refills_request(
    *,
    patient_id: int | None = None,
    clinic: RefillClinicScope | str | int | None = None,
    page: int = 1,
) -> Request:
    params: dict[str, str | list[str]] = {}
    if clinic is not None:
        params["clinic"] = RefillClinicScope.parse(clinic).name
    if patient_id is not None:
        params["patientId"] = str(int(patient_id))
    params.update(_page_params(page))
    return Request("GET", "api/refills/pending", "api/refills/pending", params=params)


def pending_refills_detailed_request(
    *,
    patient_id: int | None = None,
    clinic: RefillClinicScope | str | int | None = None,
    page: int = 1,
) -> Request:
    """``GET api/refills/pending/detailed``: the requests with their prescriptions."""
    plain = pending_refills_request(patient_id=patient_id, clinic=clinic, page=page)
    return Request(
        "GET", "api/refills/pending/detailed", "api/refills/pending/detailed", params=plain.params
    )


def approve_refill_request(refill_id: int, approval: RefillApproval) -> Request:
    return Request(
        "POST",
        f"api/refills/{int(refill_id)}/approve",
        "api/refills/{refillId}/approve",
        json=approval.to_body(),
    )


def deny_refill_request(refill_id: int, denial: RefillDenial) -> Request:
    return Request(
        "POST",
        f"api/refills/{int(refill_id)}/deny",
        "api/refills/{refillId}/deny",
        json=denial.to_body(),
    )


def transmission_errors_request(
    *, clinic: RefillClinicScope | str | int | None = None, page: int = 1
) -> Request:
    params: dict[str, str | list[str]] = {}
    if clinic is not None:
        params["clinic"] = RefillClinicScope.parse(clinic).name
    params.update(_page_params(page))
    return Request("GET", "api/notifications/errors", "api/notifications/errors", params=params)


def notification_counts_request() -> Request:
    return Request("GET", "api/notifications/counts", "api/notifications/counts")


# The prescribing catalogue: diagnoses, supplies, favourites and order sets

FAVORITE_PAGE_SIZE = 100
"""Favourites a list read asks for per page (DoseSpot's maximum)."""


def _search_text(text: str, what: str) -> str:
    value = text.strip()
    if len(value) < 3:
        raise ValueError(f"a {what} search needs 3+ characters")
    return value


def search_diagnoses_request(text: str, *, page: int = 1) -> Request:
    """``GET api/diagnoses/search``: ICD-10 codes and names, three or more characters."""
    return Request(
        "GET",
        "api/diagnoses/search",
        "api/diagnoses/search",
        params={"searchTerm": _search_text(text, "diagnosis"), **_page_params(page)},
    )


def search_supplies_request(name: str, *, page: int = 1) -> Request:
    """``GET api/supplies/search`` by name (active supplies), three or more characters."""
    return Request(
        "GET",
        "api/supplies/search",
        "api/supplies/search",
        params={"name": _search_text(name, "supply"), **_page_params(page)},
    )


def get_supply_request(supply_id: int) -> Request:
    return Request("GET", f"api/supplies/{int(supply_id)}", "api/supplies/{supplyId}")


def _favorite_params(search_name: str | None, page: int) -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {
        **_page_params(page),
        "pageSize": str(FAVORITE_PAGE_SIZE),
    }
    if search_name is not None:
        params["searchName"] = _search_text(search_name, "favourite")
    return params


def clinic_favorites_request(
    clinic_id: int, *, search_name: str | None = None, page: int = 1
) -> Request:
    return Request(
        "GET",
        f"api/clinics/{int(clinic_id)}/prescriptionFavorites",
        "api/clinics/{clinicId}/prescriptionFavorites",
        params=_favorite_params(search_name, page),
    )


def clinician_favorites_request(
    clinician_id: int, *, search_name: str | None = None, page: int = 1
) -> Request:
    return Request(
        "GET",
        f"api/clinicians/{int(clinician_id)}/prescriptionFavorites",
        "api/clinicians/{clinicianId}/prescriptionFavorites",
        params=_favorite_params(search_name, page),
    )


def add_clinic_favorite_request(clinic_id: int, favorite: FavoriteCreate) -> Request:
    return Request(
        "POST",
        f"api/clinics/{int(clinic_id)}/prescriptionFavorites/{favorite.kind}",
        f"api/clinics/{{clinicId}}/prescriptionFavorites/{favorite.kind}",
        json=favorite.favorite_body(clinic=True),
    )


def edit_clinic_favorite_request(
    clinic_id: int, favorite_id: int, favorite: FavoriteCreate
) -> Request:
    return Request(
        "PUT",
        f"api/clinics/{int(clinic_id)}/prescriptionFavorites/{favorite.kind}/{int(favorite_id)}",
        f"api/clinics/{{clinicId}}/prescriptionFavorites/{favorite.kind}/{{favoriteId}}",
        json=favorite.favorite_body(clinic=True),
    )


def add_clinician_favorite_request(favorite: FavoriteCreate) -> Request:
    """For the token's clinician: the body names none."""
    return Request(
        "POST",
        f"api/clinicians/prescriptionFavorites/{favorite.kind}",
        f"api/clinicians/prescriptionFavorites/{favorite.kind}",
        json=favorite.favorite_body(clinic=False),
    )


def edit_clinician_favorite_request(favorite_id: int, favorite: FavoriteCreate) -> Request:
    return Request(
        "PUT",
        f"api/clinicians/prescriptionFavorites/{favorite.kind}/{int(favorite_id)}",
        f"api/clinicians/prescriptionFavorites/{favorite.kind}/{{favoriteId}}",
        json=favorite.favorite_body(clinic=False),
    )


def delete_clinician_favorites_request(favorite_ids: Iterable[int]) -> Request:
    """``DELETE api/clinicians/prescriptionFavorites`` with the ids in the body."""
    ids = list(dict.fromkeys(int(favorite_id) for favorite_id in favorite_ids))
    if not ids:
        raise ValueError("name at least one favourite to delete")
    return Request(
        "DELETE",
        "api/clinicians/prescriptionFavorites",
        "api/clinicians/prescriptionFavorites",
        json={"FavoriteIds": ids},
    )


def _order_set_params(search: str | None, page: int) -> dict[str, str | list[str]]:
    params: dict[str, str | list[str]] = {**_page_params(page)}
    if search is not None:
        params["searchString"] = _search_text(search, "order set")
    return params


def clinic_order_sets_request(*, search: str | None = None, page: int = 1) -> Request:
    """The token's clinic's order sets."""
    return Request(
        "GET",
        "api/clinic/ordersets",
        "api/clinic/ordersets",
        params=_order_set_params(search, page),
    )


def clinician_order_sets_request(*, search: str | None = None, page: int = 1) -> Request:
    """The token's clinician's order sets."""
    return Request(
        "GET",
        "api/clinicians/ordersets",
        "api/clinicians/ordersets",
        params=_order_set_params(search, page),
    )


def clinician_order_set_request(order_set_id: int) -> Request:
    return Request(
        "GET",
        f"api/clinicians/ordersets/{int(order_set_id)}/details",
        "api/clinicians/ordersets/{orderSetId}/details",
    )


def add_clinician_order_set_request(order_set: OrderSetCreate) -> Request:
    return Request(
        "POST",
        "api/clinicians/ordersets",
        "api/clinicians/ordersets",
        json=order_set.to_body(),
    )


def edit_clinician_order_set_request(order_set_id: int, order_set: OrderSetCreate) -> Request:
    return Request(
        "PUT",
        f"api/clinicians/ordersets/{int(order_set_id)}",
        "api/clinicians/ordersets/{orderSetId}",
        json=order_set.to_body(),
    )


def delete_clinician_order_set_request(order_set_id: int) -> Request:
    return Request(
        "DELETE",
        f"api/clinicians/ordersets/{int(order_set_id)}",
        "api/clinicians/ordersets/{orderSetId}",
    )


# Replies


def retry_after_seconds(reply: Reply, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date), if it has one."""
    value = reply.header("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _json(reply: Reply) -> Any:
    if not reply.body:
        return None
    try:
        return json.loads(reply.body)
    except (UnicodeDecodeError, ValueError):
        return None


def _result(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, Mapping):
        return None, None
    result = body.get("Result")
    if not isinstance(result, Mapping):
        return None, None
    code = result.get("ResultCode")
    description = result.get("ResultDescription")
    return (
        str(code) if code is not None else None,
        str(description) if description else None,
    )


def _describe(body: Any) -> str | None:
    """DoseSpot's own explanation of a failure, from whichever error shape it used."""
    if not isinstance(body, Mapping):
        return None
    _, description = _result(body)
    if description:
        return description
    for key in ("error_description", "Message", "message", "error", "title"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _field_errors(body: Any) -> dict[str, list[str]]:
    if not isinstance(body, Mapping):
        return {}
    state = body.get("ModelState")
    if state is None:
        state = body.get("errors")
    if not isinstance(state, Mapping):
        return {}
    errors: dict[str, list[str]] = {}
    for name, messages in state.items():
        if isinstance(messages, str):
            errors[str(name)] = [messages]
        elif isinstance(messages, list):
            errors[str(name)] = [str(m) for m in messages]
    return errors


def _field_label(name: str) -> str:
    # ASP.NET prefixes the action argument ("request.FirstName"); the field is the point.
    return name.split(".", 1)[1] if name.lower().startswith("request.") else name


def rate_limited(reply: Reply, *, operation: str) -> DoseSpotRateLimited:
    """The error for a 429: wait as long as Retry-After says, else DoseSpot's 10 s."""
    retry_after = retry_after_seconds(reply)
    return DoseSpotRateLimited(
        f"{operation}: rate limited",
        http_status=reply.status,
        request_id=reply.request_id,
        retry_after=DEFAULT_RATE_LIMIT_BACKOFF if retry_after is None else retry_after,
    )


def raise_for_status(reply: Reply, *, operation: str) -> None:
    """Raise the typed error for a non-2xx reply."""
    status = reply.status
    if 200 <= status < 300:
        return
    body = _json(reply)
    description = _describe(body)
    request_id = reply.request_id
    detail = f"{operation}: {description}" if description else operation

    if status == 429:
        raise rate_limited(reply, operation=operation)
    if status >= 500 or status == 408:
        raise DoseSpotUnavailable(
            f"{operation}: DoseSpot unavailable", http_status=status, request_id=request_id
        )
    if status in (401, 403):
        raise DoseSpotAuthError(
            f"{detail} (not authorised)", http_status=status, request_id=request_id
        )
    if status == 404:
        raise DoseSpotNotFound(f"{operation}: not found", http_status=status, request_id=request_id)
    if status in (400, 422):
        field_errors = _field_errors(body)
        message = detail
        if field_errors:
            # Only field names: ASP.NET messages can echo the submitted values.
            fields = ", ".join(sorted(_field_label(name) or "(body)" for name in field_errors))
            message = f"{detail}; invalid fields: {fields}"
        raise DoseSpotValidationError(
            message, field_errors=field_errors, http_status=status, request_id=request_id
        )
    raise DoseSpotError(f"{detail} (unexpected status)", http_status=status, request_id=request_id)


def check_result(body: Any, reply: Reply, *, operation: str) -> None:
    """Raise DoseSpotRefused unless ``Result.ResultCode`` is OK (or absent)."""
    code, description = _result(body)
    if code is None or code.strip().upper() == RESULT_OK:
        return
    raise DoseSpotRefused(
        f"{operation}: {description or f'ResultCode {code}'}",
        description=description,
        http_status=reply.status,
        request_id=reply.request_id,
    )


def read_body(reply: Reply, *, operation: str) -> dict[str, Any]:
    """Status check, JSON object, Result check: the common path of every API reply."""
    raise_for_status(reply, operation=operation)
    body = _json(reply)
    if not isinstance(body, dict):
        raise DoseSpotUnexpectedResponse(
            f"{operation}: response is not a JSON object",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    check_result(body, reply, operation=operation)
    return body


def _validate(model: type[M], data: Any, reply: Reply, *, operation: str, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DoseSpotUnexpectedResponse(
            f"{operation}: {where} is not a valid {model.__name__} ({_invalid_fields(exc)})",
            http_status=reply.status,
            request_id=reply.request_id,
        ) from None


def _invalid_fields(exc: ValidationError) -> str:
    # Locations only: pydantic's message would quote the (personal) values.
    fields = {".".join(str(p) for p in err["loc"]) or "(root)" for err in exc.errors()}
    return ", ".join(sorted(fields))


def _require(body: Mapping[str, Any], key: str, reply: Reply, *, operation: str) -> Any:
    if body.get(key) is None:
        raise DoseSpotUnexpectedResponse(
            f"{operation}: response has no {key}",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    return body[key]


def parse_token(reply: Reply) -> Token:
    """Read ``connect/token``; OAuth error bodies become DoseSpotAuthError."""
    operation = f"POST {CONNECT_PATH}"
    body = _json(reply)
    if reply.status in (400, 401, 403) or (
        isinstance(body, Mapping) and body.get("error") and not body.get("access_token")
    ):
        description = _describe(body) or "token refused"
        error = body.get("error") if isinstance(body, Mapping) else None
        code = f" [{error}]" if error and error != description else ""
        raise DoseSpotAuthError(
            f"{operation}: {description}{code}",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    raise_for_status(reply, operation=operation)
    if not isinstance(body, Mapping) or not isinstance(body.get("access_token"), str):
        raise DoseSpotUnexpectedResponse(
            f"{operation}: response has no access_token",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    try:
        expires_in = float(body.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0.0
    return Token(
        access_token=body["access_token"],
        expires_in=expires_in,
        token_type=str(body.get("token_type") or "Bearer"),
    )


def parse_response(reply: Reply, *, operation: str) -> None:
    """A bare ``Response`` (``{Result}``)."""
    read_body(reply, operation=operation)


def parse_item(reply: Reply, model: type[M], *, operation: str, key: str = "Item") -> M:
    """``{Item, Result}`` (or another single-object key such as ClinicDetailResponse's Clinic)."""
    body = read_body(reply, operation=operation)
    return _validate(
        model,
        _require(body, key, reply, operation=operation),
        reply,
        operation=operation,
        where=key,
    )


def parse_items(reply: Reply, model: type[M], *, operation: str) -> list[M]:
    """``{Items, Result}``; a missing or null Items is an empty list."""
    body = read_body(reply, operation=operation)
    items = body.get("Items") or []
    if not isinstance(items, list):
        raise DoseSpotUnexpectedResponse(
            f"{operation}: Items is not a list",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    return [
        _validate(model, item, reply, operation=operation, where=f"Items[{index}]")
        for index, item in enumerate(items)
    ]


def parse_page(reply: Reply, model: type[M], *, operation: str) -> Page[M]:
    """``{Items, PageResult, Result}``."""
    items = parse_items(reply, model, operation=operation)
    body = _json(reply)
    page = _validate(
        PageResult, body.get("PageResult") or {}, reply, operation=operation, where="PageResult"
    )
    return Page(items=items, page=page)


def parse_body(reply: Reply, model: type[M], *, operation: str) -> M:
    """A reply whose members sit beside ``Result`` (OrderSetDetailsResponse)."""
    body = read_body(reply, operation=operation)
    return _validate(model, body, reply, operation=operation, where="response")


def parse_identifier(reply: Reply, *, operation: str) -> int:
    """``{Id, Result}`` from a create: a missing or zero Id is a broken reply."""
    body = read_body(reply, operation=operation)
    identifier = _as_int(body.get("Id"))
    if not identifier:
        raise DoseSpotUnexpectedResponse(
            f"{operation}: response has no Id",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    return identifier


def parse_clinic_key(reply: Reply, *, operation: str = "POST api/clinics") -> ClinicCredentials:
    """ClinicKeyResponse ``{ClinicId, ClinicKey, Result}``."""
    body = read_body(reply, operation=operation)
    credentials = _validate(ClinicCredentials, body, reply, operation=operation, where="body")
    if credentials.clinic_id <= 0 or not credentials.clinic_key:
        raise DoseSpotUnexpectedResponse(
            f"{operation}: response has no ClinicId or ClinicKey",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    return credentials


def parse_clinic_detail(
    reply: Reply, clinic_id: int, *, operation: str = "GET api/clinics/{clinicId}"
) -> Clinic:
    """ClinicDetailResponse ``{Clinic, Result}``; the id asked for fills a missing ClinicId."""
    body = read_body(reply, operation=operation)
    data = _require(body, "Clinic", reply, operation=operation)
    if isinstance(data, Mapping) and not data.get("ClinicId"):
        data = {**data, "ClinicId": clinic_id}
    return _validate(Clinic, data, reply, operation=operation, where="Clinic")


def parse_clinician(
    reply: Reply, *, operation: str = "GET api/clinicians/{clinicianId}"
) -> Clinician:
    return parse_item(reply, Clinician, operation=operation)


def parse_clinic_ids(
    reply: Reply, *, operation: str = "GET api/clinicians/{clinicianId}/clinicIds"
) -> list[int]:
    """ListResponse[ClinicIdentifier] as plain ids, in DoseSpot's order, without repeats."""
    body = read_body(reply, operation=operation)
    ids: list[int] = []
    for item in body.get("Items") or []:
        identifier = _as_int(item.get("ClinicId")) if isinstance(item, Mapping) else None
        if identifier is None:
            raise DoseSpotUnexpectedResponse(
                f"{operation}: an item has no ClinicId",
                http_status=reply.status,
                request_id=reply.request_id,
            )
        if identifier not in ids:
            ids.append(identifier)
    return ids


def parse_registration_status(
    reply: Reply, *, operation: str = "GET api/clinicians/{clinicianId}/registrationStatus"
) -> RegistrationStatus:
    """ItemResponse[eRxRegistrationStatusType]; an unknown status raises, never guesses."""
    body = read_body(reply, operation=operation)
    try:
        return RegistrationStatus.parse(body.get("Item"))
    except UnknownRegistrationStatus as exc:
        exc.http_status = reply.status
        exc.request_id = reply.request_id
        raise


def parse_legal_agreements(
    reply: Reply, *, operation: str = "GET api/clinicians/{clinicianId}/legalAgreements"
) -> list[LegalAgreement]:
    """ListResponse[AgreementInfoResponse]."""
    return parse_items(reply, LegalAgreement, operation=operation)


def parse_clinician_lookup(reply: Reply, *, operation: str = "GET api/clinician") -> int | None:
    """``GET api/clinician?npi=``: the clinician id, or None when DoseSpot has no match."""
    if reply.status == 404:
        return None
    try:
        body = read_body(reply, operation=operation)
    except DoseSpotRefused as exc:
        if exc.description and _NOT_FOUND_WORDING.search(exc.description):
            return None
        raise
    identifier = _as_int(body.get("Id"))
    return identifier or None


def parse_response_list(
    reply: Reply, *, operation: str = "POST api/clinicians/{clinicianId}/clinics"
) -> None:
    """A JSON list of ``Response``: any item not OK refuses the whole call."""
    raise_for_status(reply, operation=operation)
    body = _json(reply)
    if isinstance(body, Mapping):
        # Some gateways answer a list operation with a single envelope.
        check_result(body, reply, operation=operation)
        return
    if not isinstance(body, list):
        raise DoseSpotUnexpectedResponse(
            f"{operation}: response is not a JSON list",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    failures = []
    for index, item in enumerate(body):
        code, description = _result(item)
        if code is not None and code.strip().upper() != RESULT_OK:
            failures.append(f"[{index}] {description or code}")
    if failures:
        raise DoseSpotRefused(
            f"{operation}: {'; '.join(failures)}",
            description="; ".join(failures),
            http_status=reply.status,
            request_id=reply.request_id,
        )


def parse_patient(reply: Reply, *, operation: str = "GET api/patients/{patientId}") -> Patient:
    """ItemResponse[GetPatient]; the patient id asked for is not echoed by every reply."""
    return parse_item(reply, Patient, operation=operation)


def parse_notification_counts(
    reply: Reply, *, operation: str = "GET api/notifications/counts"
) -> NotificationCounts:
    """PrescriberNotificationCountsResponse: the counts sit beside Result, not in an Item."""
    body = read_body(reply, operation=operation)
    return _validate(NotificationCounts, body, reply, operation=operation, where="body")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# Edits


def clinician_edit(current: Clinician, changes: Mapping[str, Any]) -> ClinicianCreate:
    """The ``PUT api/clinicians/{clinicianId}`` body: ``current`` restated, ``changes`` applied.

    The PUT replaces the whole record, so every member of AddEditClinicianRequest that
    DoseSpot returned is sent back as it was (edits made in DoseSpot's UI survive) and only
    the fields named in ``changes`` (Python names of :class:`ClinicianCreate`) differ.
    A record that cannot be restated raises DoseSpotUnexpectedResponse rather than
    dropping a field, since a dropped field would be cleared in DoseSpot.
    """
    unknown = sorted(set(changes) - set(ClinicianCreate.model_fields))
    if unknown:
        raise ValueError(f"not fields of a clinician edit: {', '.join(unknown)}")
    operation = "GET api/clinicians/{clinicianId}"
    try:
        restated = ClinicianCreate.from_clinician(current)
    except ValidationError as exc:
        raise DoseSpotUnexpectedResponse(
            f"{operation}: the clinician cannot be restated in an edit ({_invalid_fields(exc)})"
        ) from None
    return ClinicianCreate.model_validate({**restated.model_dump(), **changes})


# Look before write


def _text_key(value: str | None) -> str:
    text = unicodedata.normalize("NFKC", value or "").casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _phone_key(value: str | None) -> str:
    digits = re.sub(r"\D", "", value or "")
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def _zip_key(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")[:5]


def clinic_matches(candidate: ClinicCreate, clinic: Clinic) -> bool:
    """Whether ``clinic`` is the location ``candidate`` describes.

    Case, spacing and punctuation are ignored; ZIP+4 matches its five-digit ZIP.
    """
    return (
        _text_key(candidate.clinic_name) == _text_key(clinic.clinic_name)
        and _text_key(candidate.address1) == _text_key(clinic.address1)
        and _text_key(candidate.city) == _text_key(clinic.city)
        and _text_key(candidate.state) == _text_key(clinic.state)
        and _zip_key(candidate.zip_code) == _zip_key(clinic.zip_code)
        and bool(_phone_key(candidate.primary_phone))
        and _phone_key(candidate.primary_phone) == _phone_key(clinic.primary_phone)
    )


# Prescriptions written, sent and signed through the API (Full plan)


def add_prescription_request(patient_id: int, prescription: PrescriptionCreate) -> Request:
    """``POST .../prescriptions/coded``, ``/supply``, ``/supply/freetext`` or
    ``/compiledcompound``, by what the prescription prescribes."""
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/prescriptions/{prescription.kind}",
        f"api/patients/{{patientId}}/prescriptions/{prescription.kind}",
        json=prescription.to_body(),
    )


def add_coded_prescription_request(
    patient_id: int, prescription: CodedPrescriptionCreate
) -> Request:
    return add_prescription_request(patient_id, prescription)


def edit_coded_prescription_request(
    patient_id: int, prescription_id: int, prescription: CodedPrescriptionCreate
) -> Request:
    return Request(
        "PUT",
        f"api/patients/{int(patient_id)}/prescriptions/coded/{int(prescription_id)}",
        "api/patients/{patientId}/prescriptions/coded/{prescriptionId}",
        json=prescription.to_body(),
    )


def get_prescription_request(patient_id: int, prescription_id: int) -> Request:
    return Request(
        "GET",
        f"api/patients/{int(patient_id)}/prescriptions/{int(prescription_id)}",
        "api/patients/{patientId}/prescriptions/{prescriptionId}",
    )


def delete_prescriptions_request(patient_id: int, prescription_ids: Iterable[int]) -> Request:
    return Request(
        "DELETE",
        f"api/patients/{int(patient_id)}/prescriptions",
        "api/patients/{patientId}/prescriptions",
        json={"PrescriptionIds": [int(i) for i in prescription_ids]},
    )


def send_prescriptions_request(patient_id: int, prescription_ids: Iterable[int]) -> Request:
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/prescriptions/send",
        "api/patients/{patientId}/prescriptions/send",
        json={"PrescriptionIds": [int(i) for i in prescription_ids]},
    )


def set_printed_request(patient_id: int, prescription_ids: Iterable[int]) -> Request:
    """``setPrinted``: marks prescriptions printed (DoseSpot's status ``Printed``). It makes
    no printout; the printout is ours."""
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/prescriptions/setPrinted",
        "api/patients/{patientId}/prescriptions/setPrinted",
        json={"PrescriptionIds": [int(i) for i in prescription_ids]},
    )


def send_epcs_request(
    patient_id: int, prescription_ids: Iterable[int], pin: str, otp: str
) -> Request:
    """``sendEpcs``: the prescriber's PIN and one-time code travel only in this body, which
    is never logged (``Request.json`` is left out of the request's repr)."""
    if not (len(pin) == 4 and pin.isascii() and pin.isdigit()):
        raise ValueError("the PIN is 4 digits")
    if not (len(otp) == 6 and otp.isascii() and otp.isdigit()):
        raise ValueError("the one-time code is 6 digits")
    return Request(
        "POST",
        f"api/patients/{int(patient_id)}/prescriptions/sendEpcs",
        "api/patients/{patientId}/prescriptions/sendEpcs",
        json={"PrescriptionIds": [int(i) for i in prescription_ids], "Pin": pin, "OTP": otp},
    )


def allergy_interactions_request(patient_id: int) -> Request:
    return Request(
        "GET",
        f"api/patients/{int(patient_id)}/interactions/allergies",
        "api/patients/{patientId}/interactions/allergies",
    )


def parse_send_outcomes(reply: Reply, *, operation: str) -> list[SendOutcome]:
    """The array of ``{Id, Result}`` a send answers: each item accepted or refused with
    DoseSpot's words. An HTTP failure raises as any other call's would."""
    raise_for_status(reply, operation=operation)
    body = _json(reply)
    if isinstance(body, Mapping):
        # A refusal of the whole request comes back as one envelope.
        check_result(body, reply, operation=operation)
        body = [body]
    if not isinstance(body, list):
        raise DoseSpotUnexpectedResponse(
            f"{operation}: response is not a list of results",
            http_status=reply.status,
            request_id=reply.request_id,
        )
    outcomes = []
    for item in body:
        code, description = _result(item)
        identifier = _as_int(item.get("Id")) if isinstance(item, Mapping) else None
        if identifier is None:
            raise DoseSpotUnexpectedResponse(
                f"{operation}: a result has no Id",
                http_status=reply.status,
                request_id=reply.request_id,
            )
        outcomes.append(
            SendOutcome(
                id=identifier,
                accepted=(code or RESULT_OK).upper() == RESULT_OK,
                description=description,
            )
        )
    return outcomes


__all__ = [
    "DoseSpotCredentials",
    "Page",
    "Reply",
    "Request",
    "Token",
    "TokenKey",
    "accept_agreement_request",
    "add_clinic_favorite_request",
    "add_clinician_favorite_request",
    "add_clinician_order_set_request",
    "add_clinician_to_clinics_request",
    "add_no_known_allergies_request",
    "add_patient_allergy_request",
    "add_patient_insurance_request",
    "add_patient_pharmacy_request",
    "add_patient_request",
    "approve_refill_request",
    "check_request",
    "check_result",
    "clinic_favorites_request",
    "clinic_matches",
    "clinic_order_sets_request",
    "clinician_clinic_ids_request",
    "clinician_edit",
    "clinician_favorites_request",
    "clinician_order_set_request",
    "clinician_order_sets_request",
    "create_clinic_request",
    "create_clinician_request",
    "delete_clinician_favorites_request",
    "delete_clinician_order_set_request",
    "deny_refill_request",
    "edit_clinic_favorite_request",
    "edit_clinician_favorite_request",
    "edit_clinician_order_set_request",
    "edit_patient_allergy_request",
    "edit_patient_request",
    "find_clinician_by_npi_request",
    "get_clinic_request",
    "get_clinician_request",
    "get_patient_request",
    "get_pharmacy_request",
    "idp_init_request",
    "init_tfa_activate_request",
    "legal_agreements_request",
    "notification_counts_request",
    "parse_body",
    "parse_clinic_detail",
    "parse_clinic_ids",
    "parse_clinic_key",
    "parse_clinician",
    "parse_clinician_lookup",
    "parse_identifier",
    "parse_item",
    "parse_items",
    "parse_legal_agreements",
    "parse_notification_counts",
    "parse_page",
    "parse_patient",
    "parse_registration_status",
    "parse_response",
    "parse_response_list",
    "parse_token",
    "patient_allergies_request",
    "patient_pharmacies_request",
    "patient_prescriptions_request",
    "pending_refills_detailed_request",
    "pending_refills_request",
    "raise_for_status",
    "rate_limited",
    "read_body",
    "registration_status_request",
    "remove_patient_pharmacy_request",
    "remove_supervisors_request",
    "retry_after_seconds",
    "search_allergens_request",
    "search_diagnoses_request",
    "search_medications_request",
    "search_patients_request",
    "search_pharmacies_request",
    "search_supplies_request",
    "select_medication_request",
    "self_reported_medications_request",
    "set_supervisor_request",
    "token_request",
    "transmission_errors_request",
    "update_clinician_request",
]
