"""Clinicians: create, edit, read, look up by NPI/DEA, registration status, and a
prescribing agent's supervising prescriber per clinic.

A clinician is visible to a token only if it is linked to the token's clinic; anything
else is refused with ResultCode ERROR, as DoseSpot does for records outside the clinic.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, Session, SessionDep, revoke_user_tokens
from dosespot_sandbox.body import JSON_TYPES, UnsupportedMediaType, read_body
from dosespot_sandbox.enums import CLINICIAN_SPECIALTY_TYPE
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import (
    ADD_EDIT_CLINICIAN_REQUEST,
    InvalidRequest,
    Spec,
    array,
    obj,
    parse_json_body,
    validate,
)

router = APIRouter()

CLINICIAN_NOT_FOUND = "Clinician not found."
NOT_IN_CLINIC = "User is not authorized to access this clinician."

# Members of AddEditClinicianRequest echoed under the same name in Clinician.
ECHOED = tuple(
    name
    for name in ADD_EDIT_CLINICIAN_REQUEST.members
    if name not in {"ClinicianRoleType", "EPCSRequested", "ClinicianSpecialtyType"}
)


def clinician_in_session(
    sandbox: Sandbox, session: Session, clinician_id: int
) -> tuple[dict[str, Any] | None, str]:
    """The clinician if the session's clinic may see it, else None and the refusal text."""
    sandbox.advance()
    doc = sandbox.store.get(CLINICIAN_KIND, clinician_id)
    if doc is None:
        return None, CLINICIAN_NOT_FOUND
    if session.clinic_id not in doc.get("ClinicIds", []):
        return None, NOT_IN_CLINIC
    return doc, ""


def render_clinician(doc: dict[str, Any]) -> dict[str, Any]:
    confirmed = bool(doc.get("Confirmed"))
    item: dict[str, Any] = {"ClinicianId": doc["ClinicianId"]}
    item.update({name: doc[name] for name in ECHOED if name in doc})
    # Clinician requires PrimaryPhoneType although the request does not.
    item.setdefault("PrimaryPhoneType", "Undefined")
    item["Roles"] = list(doc.get("ClinicianRoleType", []))
    if "ClinicianSpecialtyType" in doc:
        item["SpecialtyTypeId"] = CLINICIAN_SPECIALTY_TYPE.values[doc["ClinicianSpecialtyType"]]
    item["Confirmed"] = confirmed
    item["Active"] = doc.get("Active", True)
    item["AccountLocked"] = doc.get("AccountLocked", False)
    item["EpcsRequested"] = doc.get("EPCSRequested", False)
    item["ClinicInfo"] = [
        {
            "ClinicId": clinic_id,
            "HasNewRx": confirmed,
            "HasRefills": confirmed,
            "HasRxChange": confirmed,
            "HasCancel": confirmed,
            "HasRxFill": confirmed,
            "HasEpcs": bool(doc.get("TfaActivated")),
            "HasEpa": False,
        }
        for clinic_id in doc.get("ClinicIds", [])
    ]
    return item


@router.post("/api/clinicians")
async def add_clinician(request: Request, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    fields = await read_body(request, ADD_EDIT_CLINICIAN_REQUEST)
    clinician_id = sandbox.store.next_id()
    doc: dict[str, Any] = {
        "Active": True,
        **fields,
        "ClinicianId": clinician_id,
        "ClinicIds": [session.clinic_id],
    }
    sandbox.registrations.start(doc)
    sandbox.store.put(CLINICIAN_KIND, clinician_id, doc)
    return envelope.ok(Id=clinician_id)


@router.put("/api/clinicians/{clinicianId}")
async def edit_clinician(
    clinicianId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, ADD_EDIT_CLINICIAN_REQUEST)
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    was_active = doc.get("Active", True)
    # The body replaces the record; Active is kept unless given, so an edit that leaves
    # it out does not reactivate or deactivate anyone.
    for name in ADD_EDIT_CLINICIAN_REQUEST.members:
        if name != "Active":
            doc.pop(name, None)
    doc.update(fields)
    sandbox.store.put(CLINICIAN_KIND, clinicianId, doc)
    if was_active and not doc.get("Active", True):
        revoke_user_tokens(sandbox, clinicianId)
    return envelope.ok()


@router.get("/api/clinicians/{clinicianId}")
async def get_clinician(clinicianId: int, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    return envelope.ok(Item=render_clinician(doc))


@router.get("/api/clinician")
async def find_clinician(
    session: SessionDep, sandbox: SandboxDep, npi: str | None = None, dea: str | None = None
) -> JSONResponse:
    npi = (npi or "").strip()
    dea = (dea or "").strip().upper()
    if not npi and not dea:
        return envelope.error("An NPI or a DEA number is required.", Id=0)
    matches = []
    for doc in sandbox.store.all(CLINICIAN_KIND):
        if session.clinic_id not in doc.get("ClinicIds", []):
            continue
        deas = {doc.get("DEANumber", "").upper()} | {
            entry.get("DEANumber", "").upper() for entry in doc.get("DEANumbers", [])
        }
        if (not npi or doc.get("NPINumber") == npi) and (not dea or dea in deas):
            matches.append(doc["ClinicianId"])
    if not matches:
        return envelope.error(CLINICIAN_NOT_FOUND, Id=0)
    # Creates are not idempotent, so duplicates can exist: the oldest one answers.
    return envelope.ok(Id=min(matches))


@router.get("/api/clinicians/{clinicianId}/registrationStatus")
async def registration_status(
    clinicianId: int,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    return envelope.ok(Item=doc.get("RegistrationStatus", "Pending"))


# -- a prescribing agent's supervising prescriber, one per clinic ----------------------

SUPERVISOR_TO_CLINICIAN_REQUEST = obj(
    {"ClinicId": Spec("integer", required=True), "SupervisorId": Spec("integer")}
)
DELETE_CLINICIAN_SUPERVISOR_REQUEST = obj({"ClinicIds": array(Spec("integer"), required=True)})
NOT_AN_AGENT = "Only a prescribing agent has a supervisor."
SUPERVISOR_NOT_PRESCRIBER = "The supervisor must be a prescribing clinician of the clinic."


async def _supervisor_items(request: Request) -> list[dict[str, Any]]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise UnsupportedMediaType(media_type)
    body = parse_json_body(await request.body())
    if not isinstance(body, list):
        raise InvalidRequest({"request": ["The request must be a JSON array."]})
    return [validate(SUPERVISOR_TO_CLINICIAN_REQUEST, item) for item in body]


@router.put("/api/clinicians/{clinicianId}/supervisors")
async def add_supervisors(
    clinicianId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """Set the agent's supervisor in each clinic named (DoseSpot keeps one per clinic: a new
    one replaces the old). Every item is checked before any is applied."""
    items = await _supervisor_items(request)
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    if "PrescribingAgentClinician" not in doc.get("ClinicianRoleType", []):
        return envelope.error(NOT_AN_AGENT)
    supervisors = dict(doc.get("Supervisors", {}))
    for item in items:
        clinic_id, supervisor_id = item["ClinicId"], item.get("SupervisorId")
        if clinic_id not in doc.get("ClinicIds", []):
            return envelope.error(NOT_IN_CLINIC)
        supervisor = sandbox.store.get(CLINICIAN_KIND, supervisor_id or 0)
        if (
            supervisor is None
            or clinic_id not in supervisor.get("ClinicIds", [])
            or "PrescribingClinician" not in supervisor.get("ClinicianRoleType", [])
        ):
            return envelope.error(SUPERVISOR_NOT_PRESCRIBER)
        supervisors[str(clinic_id)] = supervisor_id
    doc["Supervisors"] = supervisors
    sandbox.store.put(CLINICIAN_KIND, clinicianId, doc)
    return envelope.ok()


@router.delete("/api/clinicians/{clinicianId}/supervisors")
async def remove_supervisors(
    clinicianId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """Clear the supervisor of each clinic named (nothing to clear is not an error)."""
    fields = await read_body(request, DELETE_CLINICIAN_SUPERVISOR_REQUEST)
    doc, refusal = clinician_in_session(sandbox, session, clinicianId)
    if doc is None:
        return envelope.error(refusal)
    supervisors = dict(doc.get("Supervisors", {}))
    for clinic_id in fields["ClinicIds"]:
        supervisors.pop(str(clinic_id), None)
    doc["Supervisors"] = supervisors
    sandbox.store.put(CLINICIAN_KIND, clinicianId, doc)
    revoke_user_tokens(sandbox, clinicianId)
    return envelope.ok()
