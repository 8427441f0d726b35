"""The pharmacy directory and a patient's pharmacies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, SessionDep
from dosespot_sandbox.body import read_body
from dosespot_sandbox.catalogue import PHARMACIES, specialty_bits
from dosespot_sandbox.enums import PHARMACY_SPECIALTY
from dosespot_sandbox.journey import timestamp
from dosespot_sandbox.patients import (
    PATIENT_KIND,
    emit,
    page_param,
    patient_in_session,
    query,
)
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import ADD_EDIT_PATIENT_PHARMACY_REQUEST, InvalidRequest

router = APIRouter()

PHARMACY_NOT_FOUND = "Pharmacy not found."
NOT_PATIENT_PHARMACY = "The pharmacy is not in the patient's pharmacies."
SEARCH_FILTERS = ("name", "city", "state", "zip", "address", "phoneorfax", "ncpdpid")
MIN_CRITERION = 3


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _specialty_filter(request: Request) -> int:
    """The OR of the requested specialty bits; 0 for none or ``Any``."""
    bits = 0
    for key, raw in request.query_params.multi_items():
        if key.lower() != "specialty":
            continue
        for part in raw.split(","):
            if not part.strip():
                continue
            name = PHARMACY_SPECIALTY.parse(part)
            if name is None:
                raise InvalidRequest({"specialty": [f"The value '{part}' is not valid."]})
            bits |= PHARMACY_SPECIALTY.values[name]
    return bits


def _matches(pharmacy: dict[str, Any], criteria: dict[str, str], specialties: int) -> bool:
    checks = {
        "name": lambda v: v.lower() in pharmacy["StoreName"].lower(),
        "city": lambda v: v.lower() == pharmacy["City"].lower(),
        "state": lambda v: v.upper() == pharmacy["State"],
        "zip": lambda v: pharmacy["ZipCode"].startswith(_digits(v)),
        "address": lambda v: v.lower() in pharmacy["Address1"].lower(),
        "phoneorfax": lambda v: _digits(v) in (pharmacy["PrimaryPhone"], pharmacy["PrimaryFax"]),
        "ncpdpid": lambda v: v == pharmacy["NCPDPID"],
    }
    if not all(checks[key](value) for key, value in criteria.items()):
        return False
    return specialties == 0 or bool(specialty_bits(pharmacy) & specialties)


@router.get("/api/pharmacies/search")
async def search_pharmacies(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    specialties = _specialty_filter(request)
    criteria = {key: params[key].strip() for key in SEARCH_FILTERS if params.get(key, "").strip()}
    if not criteria:
        return envelope.error("At least one search criterion is required.")
    short = [k for k, v in criteria.items() if k != "state" and len(v) < MIN_CRITERION]
    if short:
        return envelope.error(f"Search criteria must be at least {MIN_CRITERION} characters.")
    found = [p for p in PHARMACIES.values() if _matches(p, criteria, specialties)]
    found.sort(key=lambda p: (p["StoreName"].lower(), p["PharmacyId"]))
    return envelope.paged([dict(p) for p in found], page, sandbox.config.page_size)


@router.get("/api/pharmacies/{pharmacyId}")
async def get_pharmacy(pharmacyId: int, session: SessionDep) -> JSONResponse:
    pharmacy = PHARMACIES.get(pharmacyId)
    if pharmacy is None:
        # DoseSpot answers an unknown pharmacy with HTTP 404 (integrators rely on it).
        return JSONResponse({"Message": PHARMACY_NOT_FOUND}, status_code=404)
    return envelope.ok(Item=dict(pharmacy))


def patient_pharmacies(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The patient's pharmacies, the default first, then in the order they were added."""
    entries = sorted(doc.get("Pharmacies", []), key=lambda e: not e["IsDefault"])
    return [
        {"IsDefault": e["IsDefault"], **PHARMACIES[e["PharmacyId"]]}
        for e in entries
        if e["PharmacyId"] in PHARMACIES
    ]


def pharmacy_event(
    sandbox: Sandbox, doc: dict[str, Any], pharmacy_id: int, status: str, clinician_id: int
) -> None:
    emit(
        sandbox,
        "PharmacyStatusUpdate",
        {
            "PatientId": doc["PatientId"],
            "ClinicId": doc["ClinicId"],
            "ClinicianId": clinician_id,
            "PharmacyId": pharmacy_id,
            "PharmacyStatus": status,
            "StatusDateTime": timestamp(milliseconds=True),
        },
    )


def add_patient_pharmacy(
    sandbox: Sandbox, doc: dict[str, Any], pharmacy_id: int, primary: bool, clinician_id: int
) -> str | None:
    """Link (or re-mark) a pharmacy; the refusal text, or None when done."""
    if pharmacy_id not in PHARMACIES:
        return PHARMACY_NOT_FOUND
    entries: list[dict[str, Any]] = doc.setdefault("Pharmacies", [])
    existing = next((e for e in entries if e["PharmacyId"] == pharmacy_id), None)
    if primary:
        for entry in entries:
            entry["IsDefault"] = False
    if existing is None:
        entries.append({"PharmacyId": pharmacy_id, "IsDefault": primary})
        status = "Added"
    else:
        existing["IsDefault"] = existing["IsDefault"] or primary
        status = "Edited"
    sandbox.store.put(PATIENT_KIND, doc["PatientId"], doc)
    pharmacy_event(sandbox, doc, pharmacy_id, status, clinician_id)
    return None


@router.get("/api/patients/{patientId}/pharmacies")
async def get_patient_pharmacies(
    patientId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    return envelope.ok(Items=patient_pharmacies(doc))


@router.post("/api/patients/{patientId}/pharmacies")
async def post_patient_pharmacy(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, ADD_EDIT_PATIENT_PHARMACY_REQUEST)
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    refused = add_patient_pharmacy(
        sandbox,
        doc,
        fields.get("PharmacyId", 0),
        fields.get("SetAsPrimary", False),
        session.user_id,
    )
    return envelope.error(refused) if refused else envelope.ok()


@router.delete("/api/patients/{patientId}/pharmacies/{pharmacyId}")
async def delete_patient_pharmacy(
    patientId: int, pharmacyId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    entries = doc.get("Pharmacies", [])
    remaining = [e for e in entries if e["PharmacyId"] != pharmacyId]
    if len(remaining) == len(entries):
        return envelope.error(NOT_PATIENT_PHARMACY)
    # Queued or sent prescriptions keep their pharmacy, as in DoseSpot.
    doc["Pharmacies"] = remaining
    sandbox.store.put(PATIENT_KIND, patientId, doc)
    pharmacy_event(sandbox, doc, pharmacyId, "Deleted", session.user_id)
    return envelope.ok()
