"""Patients: create, edit, read, search; custom insurance and what the eligibility read returns.

A patient belongs to the clinic whose token created it. Any other clinic's token is refused
with ResultCode ERROR "User is not authorized to access this patient.", on every patient
route (allergies, pharmacies, prescriptions, self-reported medications too).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, Session, SessionDep
from dosespot_sandbox.body import read_body
from dosespot_sandbox.enums import PATIENT_STATUS, EnumType
from dosespot_sandbox.journey import timestamp
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import (
    ADD_EDIT_PATIENT_REQUEST,
    CUSTOM_INSURANCE_REQUEST,
    InvalidRequest,
)

router = APIRouter()

PATIENT_KIND = "patient"
PATIENT_NOT_FOUND = "Patient not found."
NOT_IN_CLINIC = "User is not authorized to access this patient."

PATIENT_FIELDS = tuple(ADD_EDIT_PATIENT_REQUEST.members)
PHONE_FIELDS = ("PrimaryPhone", "PhoneAdditional1", "PhoneAdditional2")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")
_EXTENSION = re.compile(r"x[0-9]{1,6}$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# Shared by every patient route


def today() -> date:
    return datetime.now(UTC).date()


def patient_in_session(
    sandbox: Sandbox, session: Session, patient_id: int
) -> tuple[dict[str, Any] | None, str]:
    """The patient if the session's clinic may see it, else None and the refusal text."""
    sandbox.advance()
    doc = sandbox.store.get(PATIENT_KIND, patient_id)
    if doc is None:
        return None, PATIENT_NOT_FOUND
    if doc["ClinicId"] != session.clinic_id:
        return None, NOT_IN_CLINIC
    return doc, ""


def record_of_patient(
    sandbox: Sandbox, session: Session, patient_id: int, kind: str, record_id: int, missing: str
) -> tuple[dict[str, Any] | None, str]:
    """One of the patient's records (a prescription, a self-reported medication) if the
    session's clinic may see the patient, else None and the refusal text (``missing`` when
    the patient has no such record)."""
    patient, refusal = patient_in_session(sandbox, session, patient_id)
    if patient is None:
        return None, refusal
    doc = sandbox.store.get(kind, record_id)
    if doc is None or doc["PatientId"] != patient_id:
        return None, missing
    return doc, ""


def query(request: Request) -> dict[str, str]:
    """Query parameters by lower-cased name: ASP.NET binds them case-insensitively."""
    return {key.lower(): value for key, value in request.query_params.items()}


def enum_param(enum_type: EnumType, name: str, raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = enum_type.parse(raw)
    if value is None:
        raise InvalidRequest({name: [f"The value '{raw}' is not valid."]})
    return value


def int_param(name: str, raw: str | None, *, minimum: int | None = None) -> int | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not text.lstrip("-").isdigit() or (minimum is not None and int(text) < minimum):
        raise InvalidRequest({name: [f"The value '{raw}' is not valid."]})
    return int(text)


def page_param(params: dict[str, str]) -> int:
    return int_param("pageNumber", params.get("pagenumber"), minimum=1) or 1


def date_param(name: str, raw: str | None) -> datetime | None:
    """ISO dates and date-times, or the M/d/yyyy the Swagger mentions for dob."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    for parse in (
        lambda t: datetime.fromisoformat(t),
        lambda t: datetime.strptime(t, "%m/%d/%Y"),
    ):
        try:
            return parse(text).replace(tzinfo=None)
        except ValueError:
            continue
    raise InvalidRequest({name: [f"The value '{raw}' is not valid."]})


def emit(sandbox: Sandbox, event_type: str, data: dict[str, Any]) -> None:
    sandbox.notifier.emit(event_type, data)


def patient_status_event(
    sandbox: Sandbox, doc: dict[str, Any], status: str, clinician_id: int, source: str
) -> None:
    emit(
        sandbox,
        "PatientStatusUpdate",
        {
            "PatientId": doc["PatientId"],
            "ClinicId": doc["ClinicId"],
            "ClinicianId": clinician_id,
            "AgentId": None,
            "PatientStatus": status,
            "StatusDateTime": timestamp(milliseconds=True),
            "SourceType": source,
        },
    )


# ---------------------------------------------------------------------------------------
# Rules beyond the Swagger's (DoseSpot's own validation)


def phone_problem(value: str) -> str | None:
    """DoseSpot's phone rules: 10 digits without +1, a real area code, no long repeats."""
    compact = _EXTENSION.sub("", _PHONE_PUNCTUATION.sub("", value))
    if not compact:
        return "must not be empty."
    if not compact.isascii() or not compact.isdigit() or len(compact) != 10:
        return "must be 10 digits, without the country code."
    area = compact[:3]
    if area[0] in "01":
        return f"has an invalid area code {area}."
    if area == "555":
        return "has the fictitious area code 555."
    if re.search(r"([0-9])\1{6}", compact):
        return "must not contain 7 or more repeated digits."
    return None


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def check_patient(fields: dict[str, Any], minor_max_age: int) -> None:
    """Raise InvalidRequest (HTTP 400, ModelState) for what DoseSpot refuses beyond the schema."""
    errors: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        errors.setdefault(f"request.{name}", []).append(message)

    born = datetime.fromisoformat(fields["DateOfBirth"]).date()
    now = today()
    if born > now:
        refuse("DateOfBirth", "The date of birth cannot be in the future.")
    elif born.year < 1900:
        refuse("DateOfBirth", "The date of birth must be after 1900.")

    for name in PHONE_FIELDS:
        if name in fields:
            problem = phone_problem(fields[name])
            if problem:
                refuse(name, f"The {name} field {problem}")
    for index in (1, 2):
        if fields.get(f"PhoneAdditionalType{index}") == "Primary":
            refuse(f"PhoneAdditionalType{index}", "Only the primary phone can be of type Primary.")

    minor = born <= now and age_on(born, now) <= minor_max_age
    for value, metric in (("Weight", "WeightMetric"), ("Height", "HeightMetric")):
        if value in fields and fields[value] <= 0:
            refuse(value, f"The {value} field must be greater than 0.")
        if value in fields and metric not in fields:
            refuse(metric, f"The {metric} field is required when {value} is given.")
        if metric in fields and value not in fields:
            refuse(value, f"The {value} field is required when {metric} is given.")
        if minor:
            for name in (value, metric):
                if name not in fields:
                    refuse(
                        name,
                        f"The {name} field is required for patients {minor_max_age} and under.",
                    )
    if errors:
        raise InvalidRequest(errors)


# ---------------------------------------------------------------------------------------
# Rendering


def render_patient(doc: dict[str, Any], *, with_ssn_flag: bool) -> dict[str, Any]:
    """``GetPatient`` (with HasSSN) or ``Patient`` (search and refill rows)."""
    item: dict[str, Any] = {"PatientId": doc["PatientId"]}
    item.update({name: doc[name] for name in PATIENT_FIELDS if name in doc})
    if with_ssn_flag:
        item["HasSSN"] = False
    return item


# ---------------------------------------------------------------------------------------
# Routes


@router.post("/api/patients")
async def add_patient(request: Request, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    fields = await read_body(request, ADD_EDIT_PATIENT_REQUEST)
    check_patient(fields, sandbox.config.minor_max_age)
    patient_id = sandbox.store.next_id()
    doc: dict[str, Any] = {
        **fields,
        "PatientId": patient_id,
        "ClinicId": session.clinic_id,
        "CreatedBy": session.user_id,
        "Pharmacies": [],
        "Allergies": [],
        "Insurance": [],
    }
    sandbox.store.put(PATIENT_KIND, patient_id, doc)
    patient_status_event(sandbox, doc, "Added", session.user_id, "API")
    return envelope.ok(Id=patient_id)


@router.put("/api/patients/{patientId}")
async def edit_patient(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, ADD_EDIT_PATIENT_REQUEST)
    check_patient(fields, sandbox.config.minor_max_age)
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    for name in PATIENT_FIELDS:
        doc.pop(name, None)
    doc.update(fields)
    sandbox.store.put(PATIENT_KIND, patientId, doc)
    patient_status_event(sandbox, doc, "Edited", session.user_id, "API")
    return envelope.ok()


@router.get("/api/patients/search")
async def search_patients(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    status = enum_param(PATIENT_STATUS, "status", params.get("status")) or enum_param(
        PATIENT_STATUS, "patientStatus", params.get("patientstatus")
    )
    first = (params.get("firstname") or "").strip().lower()
    last = (params.get("lastname") or "").strip().lower()
    dob = date_param("dob", params.get("dob"))
    if not first and not last and dob is None:
        return envelope.error("A first name, last name or date of birth is required.")
    if any(0 < len(name) < 2 for name in (first, last)):
        return envelope.error("Names must be at least 2 characters.")
    matches = []
    for doc in sandbox.store.all(PATIENT_KIND):
        if doc["ClinicId"] != session.clinic_id:
            continue
        if first and not doc.get("FirstName", "").lower().startswith(first):
            continue
        if last and not doc.get("LastName", "").lower().startswith(last):
            continue
        if dob is not None and doc["DateOfBirth"][:10] != dob.date().isoformat():
            continue
        active = doc.get("Active", True)
        if (status == "ActiveOnly" and not active) or (status == "InactiveOnly" and active):
            continue
        matches.append(doc)
    matches.sort(key=lambda d: (d["LastName"].lower(), d["FirstName"].lower(), d["PatientId"]))
    items = [render_patient(doc, with_ssn_flag=False) for doc in matches]
    return envelope.paged(items, page, sandbox.config.page_size)


@router.get("/api/patients/{patientId}")
async def get_patient(patientId: int, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    return envelope.ok(Item=render_patient(doc, with_ssn_flag=True))


@router.post("/api/patients/{patientId}/insurance")
async def add_custom_insurance(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, CUSTOM_INSURANCE_REQUEST)
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal, Id=0)
    insurance_id = sandbox.store.next_id()
    doc["Insurance"].append({**fields, "PatientEligibilityId": insurance_id})
    sandbox.store.put(PATIENT_KIND, patientId, doc)
    return envelope.ok(Id=insurance_id)


def render_eligibility(insurance: dict[str, Any]) -> dict[str, Any]:
    details = {
        entry.get("CustomEligibilityInfoType"): entry.get("CustomEligibilityInfoValue")
        for entry in insurance.get("CustomEligibilityDetails", [])
    }
    item: dict[str, Any] = {
        "PatientEligibilityId": insurance["PatientEligibilityId"],
        "PayerName": insurance.get("PayerName", ""),
        "PharmacyEligibilities": [],
        "DemographicChanges": False,
        "InfoMessage": "Custom insurance entered by the clinic.",
    }
    if insurance["PatientInsuranceIdentifierType"] == "IINNumber":
        item["BIN"] = insurance["PatientInsuranceIdentifier"]
    else:
        item["PayerId"] = insurance["PatientInsuranceIdentifier"]
    for source, target in (("PCN", "PCN"), ("CardholderID", "MemberId"), ("GroupID", "CoverageId")):
        if details.get(source):
            item[target] = details[source]
    return item


@router.get("/api/patients/{patientId}/eligibilities")
async def get_eligibilities(
    patientId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    return envelope.ok(Items=[render_eligibility(entry) for entry in doc["Insurance"]])
