"""A patient's allergies: coded, free text, or "no known allergies"; edits set the status
(``StatusType: Deleted`` is how an allergy is removed: the Swagger has no DELETE)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, SessionDep
from dosespot_sandbox.body import read_body
from dosespot_sandbox.catalogue import ALLERGENS
from dosespot_sandbox.journey import timestamp
from dosespot_sandbox.patients import PATIENT_KIND, emit, patient_in_session
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import (
    CODED_PATIENT_ALLERGY_REQUEST,
    EDIT_PATIENT_ALLERGY_REQUEST,
    FREETEXT_PATIENT_ALLERGY_REQUEST,
)

router = APIRouter()

NO_KNOWN_ALLERGIES = "No Known Allergies"
ALLERGEN_NOT_FOUND = "Allergen not found."
ALLERGY_NOT_FOUND = "Patient allergy not found."
HAS_ALLERGIES = "The patient has active allergies."
ALLERGY_FIELDS = (
    "PatientAllergyId",
    "DisplayName",
    "AllergenId",
    "AllergenType",
    "Reaction",
    "ReactionType",
    "StatusType",
    "OnsetDate",
    "LastUpdatedUserId",
)


def render_allergy(entry: dict[str, Any]) -> dict[str, Any]:
    return {name: entry[name] for name in ALLERGY_FIELDS if name in entry}


def allergy_event(
    sandbox: Sandbox, doc: dict[str, Any], entry: dict[str, Any], status: str, clinician_id: int
) -> None:
    emit(
        sandbox,
        "AllergyStatusUpdate",
        {
            "PatientId": doc["PatientId"],
            "ClinicId": doc["ClinicId"],
            "ClinicianId": clinician_id,
            "PatientAllergyId": entry["PatientAllergyId"],
            "AllergyStatus": status,
            "StatusDateTime": timestamp(milliseconds=True),
        },
    )


def add_allergy(
    sandbox: Sandbox, doc: dict[str, Any], fields: dict[str, Any], user_id: int
) -> tuple[int, str]:
    """Record an allergy (``AllergenId`` or ``FreeTextDisplayName``, or neither for "no known
    allergies"); the new id, or 0 and the refusal text."""
    entries: list[dict[str, Any]] = doc.setdefault("Allergies", [])
    entry: dict[str, Any] = {
        name: fields[name]
        for name in ("Reaction", "ReactionType", "StatusType", "OnsetDate")
        if name in fields
    }
    if "AllergenId" in fields:
        allergen = ALLERGENS.get(fields["AllergenId"])
        if allergen is None:
            return 0, ALLERGEN_NOT_FOUND
        entry.update(
            DisplayName=allergen["Name"],
            AllergenId=allergen["AllergenId"],
            AllergenType=allergen["AllergenType"],
        )
    elif "FreeTextDisplayName" in fields:
        entry["DisplayName"] = fields["FreeTextDisplayName"]
    else:
        if any(e["StatusType"] == "Active" and not e.get("NoKnown") for e in entries):
            return 0, HAS_ALLERGIES
        entry.update(DisplayName=NO_KNOWN_ALLERGIES, StatusType="Active", NoKnown=True)
    if not entry.get("NoKnown") and entry["StatusType"] == "Active":
        # A real allergy ends "no known allergies".
        for other in entries:
            if other.get("NoKnown") and other["StatusType"] == "Active":
                other["StatusType"] = "Deleted"
    entry["PatientAllergyId"] = sandbox.store.next_id()
    entry["LastUpdatedUserId"] = user_id
    entries.append(entry)
    sandbox.store.put(PATIENT_KIND, doc["PatientId"], doc)
    allergy_event(sandbox, doc, entry, "Added", user_id)
    return entry["PatientAllergyId"], ""


@router.get("/api/patients/{patientId}/allergies")
async def get_allergies(patientId: int, session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    return envelope.ok(Items=[render_allergy(e) for e in doc.get("Allergies", [])])


async def _add(
    patient_id: int, fields: dict[str, Any], session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    doc, refusal = patient_in_session(sandbox, session, patient_id)
    if doc is None:
        return envelope.error(refusal, Id=0)
    allergy_id, refusal = add_allergy(sandbox, doc, fields, session.user_id)
    return envelope.ok(Id=allergy_id) if allergy_id else envelope.error(refusal, Id=0)


@router.post("/api/patients/{patientId}/allergies/coded")
async def add_coded_allergy(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, CODED_PATIENT_ALLERGY_REQUEST)
    return await _add(patientId, fields, session, sandbox)


@router.post("/api/patients/{patientId}/allergies/freetext")
async def add_freetext_allergy(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, FREETEXT_PATIENT_ALLERGY_REQUEST)
    return await _add(patientId, fields, session, sandbox)


@router.post("/api/patients/{patientId}/allergies/noKnownAllergy")
async def add_no_known_allergy(
    patientId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    return await _add(patientId, {}, session, sandbox)


@router.put("/api/patients/{patientId}/allergies/{patientAllergyId}")
async def edit_allergy(
    patientId: int,
    patientAllergyId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, EDIT_PATIENT_ALLERGY_REQUEST)
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    entry = next(
        (e for e in doc.get("Allergies", []) if e["PatientAllergyId"] == patientAllergyId), None
    )
    if entry is None:
        return envelope.error(ALLERGY_NOT_FOUND)
    for name in ("Reaction", "OnsetDate"):
        entry.pop(name, None)
    entry.update(fields)
    entry["LastUpdatedUserId"] = session.user_id
    sandbox.store.put(PATIENT_KIND, patientId, doc)
    status = "Deleted" if entry["StatusType"] == "Deleted" else "Edited"
    allergy_event(sandbox, doc, entry, status, session.user_id)
    return envelope.ok()
