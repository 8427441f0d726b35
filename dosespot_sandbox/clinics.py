"""Clinics: create, read, and a clinician's clinic links."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, SessionDep
from dosespot_sandbox.body import read_body
from dosespot_sandbox.clinicians import clinician_in_session
from dosespot_sandbox.enums import EnumType
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import CLINIC_KIND, Sandbox
from dosespot_sandbox.validation import (
    ADD_EDIT_CLINIC_REQUEST,
    CLINICIAN_ADD_MULTIPLE_CLINICS_REQUEST,
    InvalidRequest,
)

router = APIRouter()

CLINIC_FIELDS = tuple(ADD_EDIT_CLINIC_REQUEST.members)
CLINIC_STATUS = EnumType("ClinicStatus", ["Active", "Inactive", "All"], 0)


def render_clinic(doc: dict[str, Any]) -> dict[str, Any]:
    clinic: dict[str, Any] = {"ClinicId": doc["ClinicId"]}
    clinic.update({name: doc[name] for name in CLINIC_FIELDS if name in doc})
    clinic.setdefault("Active", True)
    return clinic


def user_has_clinic(sandbox: Sandbox, user_id: int, clinic_id: int) -> bool:
    user = sandbox.store.get(CLINICIAN_KIND, user_id)
    return user is not None and clinic_id in user.get("ClinicIds", [])


@router.post("/api/clinics")
async def add_clinic(request: Request, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    fields = await read_body(request, ADD_EDIT_CLINIC_REQUEST)
    user = sandbox.store.get(CLINICIAN_KIND, session.user_id)
    if user is None or "ClinicianAdmin" not in user.get("ClinicianRoleType", []):
        return envelope.error("User is not authorized to add clinics.", ClinicId=0)
    clinic_id = sandbox.store.next_id()
    clinic_key = sandbox.new_clinic_key()
    sandbox.store.put(
        CLINIC_KIND,
        clinic_id,
        {"Active": True, **fields, "ClinicId": clinic_id, "ClinicKey": clinic_key},
    )
    # The creating user can administer the new clinic, and so get tokens for it.
    user["ClinicIds"].append(clinic_id)
    sandbox.store.put(CLINICIAN_KIND, session.user_id, user)
    return envelope.ok(ClinicId=clinic_id, ClinicKey=clinic_key)


@router.get("/api/clinics/{clinicId}")
async def get_clinic(clinicId: int, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    doc = sandbox.store.get(CLINIC_KIND, clinicId)
    if doc is None:
        return envelope.error("Clinic not found.")
    if not user_has_clinic(sandbox, session.user_id, clinicId):
        return envelope.error("User is not authorized to access this clinic.")
    return envelope.ok(Clinic=render_clinic(doc))


@router.get("/api/clinicians/{clinicianId}/clinicIds")
async def get_clinician_clinic_ids(
    clinicianId: int,
    session: SessionDep,
    sandbox: SandboxDep,
    includeClinicGroups: bool = False,
    clinicStatus: str = "All",
) -> JSONResponse:
    status = CLINIC_STATUS.parse(clinicStatus)
    if status is None:
        raise InvalidRequest({"clinicStatus": [f"The value '{clinicStatus}' is not valid."]})
    clinician, refusal = clinician_in_session(sandbox, session, clinicianId)
    if clinician is None:
        return envelope.error(refusal)
    items = []
    for clinic_id in clinician.get("ClinicIds", []):
        clinic = sandbox.store.get(CLINIC_KIND, clinic_id)
        if clinic is None:
            continue
        active = clinic.get("Active", True)
        if status == "All" or active == (status == "Active"):
            items.append({"ClinicId": clinic_id})
    return envelope.ok(Items=items)


@router.post("/api/clinicians/{clinicianId}/clinics")
async def add_clinician_clinics(
    clinicianId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, CLINICIAN_ADD_MULTIPLE_CLINICS_REQUEST)
    clinic_ids: list[int] = fields.get("ClinicIds", [])
    clinician, refusal = clinician_in_session(sandbox, session, clinicianId)
    if clinician is None:
        failed = {"Result": envelope.result(refusal, envelope.ERROR)}
        return JSONResponse([failed for _ in clinic_ids] or [failed])
    results = []
    for clinic_id in clinic_ids:
        if sandbox.store.get(CLINIC_KIND, clinic_id) is None:
            results.append({"Result": envelope.result("Clinic not found.", envelope.ERROR)})
        elif not user_has_clinic(sandbox, session.user_id, clinic_id):
            results.append(
                {
                    "Result": envelope.result(
                        "User is not authorized to access this clinic.", envelope.ERROR
                    )
                }
            )
        else:
            if clinic_id not in clinician["ClinicIds"]:
                clinician["ClinicIds"].append(clinic_id)
            results.append({"Result": envelope.result()})
    sandbox.store.put(CLINICIAN_KIND, clinicianId, clinician)
    return JSONResponse(results)
