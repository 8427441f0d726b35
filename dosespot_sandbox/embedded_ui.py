"""``/_sandbox/patients/...``: what a clinician does in DoseSpot's embedded UI, played on
demand (prescribe, discontinue, record a self-reported medication or an allergy, choose a
pharmacy) and what pharmacies do (ask for a refill), so an integration's sync can be tested
end to end. Each action pushes what DoseSpot would push."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from dosespot_sandbox.allergies import add_allergy, render_allergy
from dosespot_sandbox.auth import SandboxDep
from dosespot_sandbox.catalogue import (
    ALLERGENS,
    DISPENSE_UNITS,
    MEDICATIONS,
    PHARMACIES,
    SUPPLIES,
)
from dosespot_sandbox.enums import SERVICE_EPCS, SERVICE_NEW_RX, SERVICE_REFILL
from dosespot_sandbox.medications import search_allergens, search_medications
from dosespot_sandbox.patients import PATIENT_KIND
from dosespot_sandbox.pharmacies import add_patient_pharmacy, patient_pharmacies
from dosespot_sandbox.records import (
    PRESCRIPTION_KIND,
    REFILL_KIND,
    render_prescription,
    render_self_reported,
)
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import Sandbox

router = APIRouter(prefix="/_sandbox", tags=["embedded UI"])

NO_EPCS = "You do not have permission to send controlled substances"

MedicationStatusName = Literal[
    "Active",
    "Discontinued",
    "Deleted",
    "Completed",
    "CancelRequested",
    "CancelPending",
    "Cancelled",
    "CancelDenied",
    "FullFill",
    "PartialFill",
    "NoFill",
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrescribedItem(StrictModel):
    """One line of the prescription pad. Name a drug (``medication``: an id, its display
    name, or words that match exactly one drug) or a supply (``supply``: id or name)."""

    medication: int | str | None = None
    supply: int | str | None = None
    quantity: float = Field(default=30, gt=0)
    dispense_unit_id: int | None = None
    refills: int = Field(default=0, ge=0, le=99)
    directions: str = Field(default="Take as directed.", min_length=1, max_length=1000)
    days_supply: int | None = Field(default=None, ge=1, le=999)
    pharmacy_notes: str | None = Field(default=None, max_length=210)
    no_substitutions: bool = False
    # False leaves it Entered (the clinician's pending queue) instead of sending it.
    send: bool = True
    effective_date: date | None = None


class Prescribe(StrictModel):
    clinician_id: int | None = None
    # The patient's primary pharmacy when left out.
    pharmacy_id: int | None = None
    items: list[PrescribedItem] = Field(min_length=1, max_length=50)


class MedicationStatusChange(StrictModel):
    status: MedicationStatusName
    clinician_id: int | None = None
    comment: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=500)


class Discontinue(StrictModel):
    clinician_id: int | None = None
    comment: str = Field(default="Discontinued by the prescriber.", max_length=500)


class SelfReported(StrictModel):
    clinician_id: int | None = None
    medication: int | str | None = None
    display_name: str | None = Field(default=None, max_length=300)
    directions: str | None = Field(default=None, max_length=500)
    quantity: float | None = Field(default=None, gt=0)
    dispense_unit_id: int | None = None
    days_supply: int | None = Field(default=None, ge=1)
    refills: int | None = Field(default=None, ge=0)
    status: MedicationStatusName = "Active"
    comment: str | None = Field(default=None, max_length=500)


class RefillRequest(StrictModel):
    """A pharmacy asks for a renewal: of one of the patient's prescriptions
    (``prescription_id``), or of a drug DoseSpot never prescribed (``medication``)."""

    prescription_id: int | None = None
    medication: int | str | None = None
    clinician_id: int | None = None
    pharmacy_id: int | None = None
    quantity: float | None = Field(default=None, gt=0)
    refills: int = Field(default=0, ge=0, le=99)
    directions: str | None = None


class Allergy(StrictModel):
    clinician_id: int | None = None
    allergen: int | str | None = None
    free_text: str | None = Field(default=None, min_length=1, max_length=200)
    no_known_allergies: bool = False
    reaction: str | None = Field(default=None, max_length=200)
    reaction_type: Literal["Allergy", "AdverseReaction"] = "Allergy"
    status: Literal["Active", "Inactive"] = "Active"
    onset_date: date | None = None


class PatientPharmacy(StrictModel):
    pharmacy_id: int
    primary: bool = False
    clinician_id: int | None = None


# -- lookups ---------------------------------------------------------------------------


def _patient(sandbox: Sandbox, patient_id: int) -> dict[str, Any]:
    sandbox.advance()
    doc = sandbox.store.get(PATIENT_KIND, patient_id)
    if doc is None:
        raise HTTPException(404, "no such patient")
    return doc


def _clinician(sandbox: Sandbox, patient: dict[str, Any], clinician_id: int | None) -> int:
    """The acting clinician (the patient's creator unless named), who must work in the
    patient's clinic. Roles are not checked: the partner's admin user may prescribe."""
    chosen = clinician_id if clinician_id is not None else patient.get("CreatedBy")
    doc = sandbox.store.get(CLINICIAN_KIND, chosen) if chosen is not None else None
    if doc is None:
        raise HTTPException(404, "no such clinician")
    if patient["ClinicId"] not in doc.get("ClinicIds", []):
        raise HTTPException(409, "the clinician has no access to the patient's clinic")
    if not doc.get("Active", True):
        raise HTTPException(409, "the clinician is not active")
    if not doc.get("Confirmed"):
        raise HTTPException(409, "the clinician has not been confirmed")
    clinician: int = doc["ClinicianId"]
    return clinician


def _by_name(
    entries: list[dict[str, Any]], text: str, label: str, exact_key: str
) -> dict[str, Any]:
    """The one entry ``text`` names: an exact match, else the only candidate; else 422."""
    exact = [e for e in entries if str(e[exact_key]).lower() == text.strip().lower()]
    if len(exact) == 1:
        return exact[0]
    if len(entries) == 1:
        return entries[0]
    if not entries:
        raise HTTPException(422, f"no {label} matches {text!r}")
    names = sorted(str(e[exact_key]) for e in entries)
    raise HTTPException(422, f"{text!r} matches several {label}s: {names}")


def _medication(reference: int | str) -> dict[str, Any]:
    if isinstance(reference, int) or reference.strip().isdigit():
        medication = MEDICATIONS.get(int(reference))
        if medication is None:
            raise HTTPException(422, f"no medication with DispensableDrugId {reference}")
        return medication
    found = search_medications(reference, "All")
    return _by_name(found, reference, "medication", "DisplayName")


def _supply(reference: int | str) -> dict[str, Any]:
    if isinstance(reference, int) or reference.strip().isdigit():
        supply = SUPPLIES.get(int(reference))
        if supply is None:
            raise HTTPException(422, f"no supply with SupplyId {reference}")
        return supply
    words = reference.lower().split()
    found = [s for s in SUPPLIES.values() if all(w in s["Name"].lower() for w in words)]
    return _by_name(found, reference, "supply", "Name")


def _pharmacy(patient: dict[str, Any], pharmacy_id: int | None) -> dict[str, Any]:
    if pharmacy_id is None:
        primary = next((e for e in patient.get("Pharmacies", []) if e["IsDefault"]), None)
        if primary is None:
            raise HTTPException(409, "the patient has no primary pharmacy: name one")
        pharmacy_id = primary["PharmacyId"]
    pharmacy = PHARMACIES.get(pharmacy_id)
    if pharmacy is None:
        raise HTTPException(422, f"no pharmacy with PharmacyId {pharmacy_id}")
    return pharmacy


def _check_can_send(clinician: dict[str, Any], pharmacy: dict[str, Any], schedule: int) -> None:
    if not pharmacy["ServiceLevel"] & SERVICE_NEW_RX:
        raise HTTPException(409, "the pharmacy does not take electronic new prescriptions")
    if schedule >= 2:
        if not clinician.get("TfaActivated"):
            raise HTTPException(409, NO_EPCS)
        if not pharmacy["ServiceLevel"] & SERVICE_EPCS:
            raise HTTPException(409, "the pharmacy does not take controlled substances")


def _prescription_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = render_prescription(doc)
    for name in ("StatusDetails", "StatusDateTime", "Hidden", "RefillId"):
        if name in doc:
            view[name] = doc[name]
    view["PendingSteps"] = [
        {name: value for name, value in step.items() if name != "at"}
        for step in doc.get("Steps", [])
    ]
    return view


def _own_prescription(sandbox: Sandbox, patient_id: int, rx_id: int) -> dict[str, Any]:
    rx = sandbox.store.get(PRESCRIPTION_KIND, rx_id)
    if rx is None or rx["PatientId"] != patient_id:
        raise HTTPException(404, "no such prescription for this patient")
    return rx


# -- controls --------------------------------------------------------------------------


@router.get("/catalogue")
async def get_catalogue() -> dict[str, list[dict[str, Any]]]:
    """The fixed reference data: every pharmacy, drug, supply, allergen and dispense unit."""
    return {
        "pharmacies": list(PHARMACIES.values()),
        "medications": list(MEDICATIONS.values()),
        "supplies": list(SUPPLIES.values()),
        "allergens": list(ALLERGENS.values()),
        "dispense_units": list(DISPENSE_UNITS.values()),
    }


@router.get("/patients/{patient_id}")
async def get_patient_record(patient_id: int, sandbox: SandboxDep) -> dict[str, Any]:
    """Everything stored for a patient, as DoseSpot's UI would show it."""
    patient = _patient(sandbox, patient_id)
    records = sandbox.records
    return {
        "patient": {
            k: v for k, v in patient.items() if k not in {"Pharmacies", "Allergies", "Insurance"}
        },
        "pharmacies": patient_pharmacies(patient),
        "allergies": [render_allergy(entry) for entry in patient.get("Allergies", [])],
        "insurance": patient.get("Insurance", []),
        "prescriptions": [_prescription_view(rx) for rx in records.prescriptions_of(patient_id)],
        "self_reported_medications": [
            render_self_reported(srm) for srm in records.self_reported_of(patient_id)
        ],
        "refill_requests": [
            refill for refill in sandbox.store.all(REFILL_KIND) if refill["PatientId"] == patient_id
        ],
    }


@router.post("/patients/{patient_id}/prescribe")
async def prescribe(patient_id: int, body: Prescribe, sandbox: SandboxDep) -> dict[str, Any]:
    """The clinician writes (and by default sends) these prescriptions in the embedded UI."""
    patient = _patient(sandbox, patient_id)
    if not patient.get("Active", True):
        raise HTTPException(409, "the patient is inactive")
    clinician_id = _clinician(sandbox, patient, body.clinician_id)
    clinician = sandbox.store.get(CLINICIAN_KIND, clinician_id) or {}
    pharmacy = _pharmacy(patient, body.pharmacy_id)
    resolved = []
    for item in body.items:
        if (item.medication is None) == (item.supply is None):
            raise HTTPException(422, "each item names exactly one medication or supply")
        if item.medication is not None:
            medication = _medication(item.medication)
            unit = item.dispense_unit_id or medication["DispenseUnitId"]
        else:
            assert item.supply is not None
            medication = _supply(item.supply)
            unit = item.dispense_unit_id or 6
        if medication.get("IsObsolete"):
            raise HTTPException(422, f"{medication.get('DisplayName')} is obsolete")
        if item.send:
            _check_can_send(clinician, pharmacy, medication.get("Schedule", 0))
        fields = {
            "quantity": f"{item.quantity:g}",
            "dispense_unit_id": unit,
            "refills": item.refills,
            "directions": item.directions,
            "days_supply": item.days_supply,
            "pharmacy_notes": item.pharmacy_notes,
            "no_substitutions": item.no_substitutions,
            "send": item.send,
            "effective_date": (
                f"{item.effective_date.isoformat()}T00:00:00" if item.effective_date else None
            ),
        }
        resolved.append((medication, fields))
    if not any(e["PharmacyId"] == pharmacy["PharmacyId"] for e in patient.get("Pharmacies", [])):
        add_patient_pharmacy(sandbox, patient, pharmacy["PharmacyId"], False, clinician_id)
    created = [
        sandbox.records.prescribe(patient, clinician_id, pharmacy["PharmacyId"], med, fields)
        for med, fields in resolved
    ]
    if any(not fields["send"] for _, fields in resolved):
        sandbox.records.push_counts(clinician_id, patient["ClinicId"])
    sandbox.advance()
    return {
        "patient_id": patient_id,
        "prescriptions": [
            _prescription_view(sandbox.store.get(PRESCRIPTION_KIND, rx["PrescriptionId"]) or rx)
            for rx in created
        ],
    }


@router.post("/patients/{patient_id}/prescriptions/{prescription_id}/medication-status")
async def change_medication_status(
    patient_id: int, prescription_id: int, body: MedicationStatusChange, sandbox: SandboxDep
) -> dict[str, Any]:
    """The clinician (or a pharmacy's fill message) changes a prescription's medication
    status: discontinued, completed, cancelled, filled, ..."""
    patient = _patient(sandbox, patient_id)
    rx = _own_prescription(sandbox, patient_id, prescription_id)
    clinician_id = _clinician(sandbox, patient, body.clinician_id or rx["PrescriberId"])
    sandbox.records.set_medication_status(
        rx, body.status, clinician_id, comment=body.comment, notes=body.notes or ""
    )
    return _prescription_view(_own_prescription(sandbox, patient_id, prescription_id))


@router.post("/patients/{patient_id}/prescriptions/{prescription_id}/discontinue")
async def discontinue(
    patient_id: int,
    prescription_id: int,
    sandbox: SandboxDep,
    body: Annotated[Discontinue | None, Body()] = None,
) -> dict[str, Any]:
    """The clinician discontinues a prescription in the embedded UI."""
    body = body or Discontinue()
    change = MedicationStatusChange(
        status="Discontinued", clinician_id=body.clinician_id, comment=body.comment
    )
    return await change_medication_status(patient_id, prescription_id, change, sandbox)


@router.post("/patients/{patient_id}/prescriptions/{prescription_id}/send")
async def send_pending(
    patient_id: int, prescription_id: int, sandbox: SandboxDep
) -> dict[str, Any]:
    """The prescriber signs and sends a pending (``Entered``) prescription."""
    patient = _patient(sandbox, patient_id)
    rx = _own_prescription(sandbox, patient_id, prescription_id)
    if rx["Status"] != "Entered" or rx.get("Hidden"):
        raise HTTPException(409, f"the prescription is {rx['Status']}, not pending")
    clinician_id = _clinician(sandbox, patient, rx["PrescriberId"])
    clinician = sandbox.store.get(CLINICIAN_KIND, clinician_id) or {}
    _check_can_send(clinician, PHARMACIES[rx["PharmacyId"]], rx.get("Schedule", 0))
    sandbox.records.send(rx)
    sandbox.advance()
    return _prescription_view(_own_prescription(sandbox, patient_id, prescription_id))


@router.post("/prescriptions/{prescription_id}/advance")
async def advance_prescription(prescription_id: int, sandbox: SandboxDep) -> dict[str, Any]:
    """Apply the prescription's next status step now instead of after its delay."""
    if sandbox.store.get(PRESCRIPTION_KIND, prescription_id) is None:
        raise HTTPException(404, "no such prescription")
    if not sandbox.records.step(prescription_id):
        raise HTTPException(409, "the prescription has no status step pending")
    return _prescription_view(sandbox.store.get(PRESCRIPTION_KIND, prescription_id) or {})


@router.post("/patients/{patient_id}/self-reported-medications")
async def add_self_reported(
    patient_id: int, body: SelfReported, sandbox: SandboxDep
) -> dict[str, Any]:
    """The clinician records a medication the patient takes (coded, or free text)."""
    patient = _patient(sandbox, patient_id)
    clinician_id = _clinician(sandbox, patient, body.clinician_id)
    if (body.medication is None) == (body.display_name is None):
        raise HTTPException(422, "name exactly one of medication or display_name")
    medication = _medication(body.medication) if body.medication is not None else None
    fields: dict[str, Any] = {"Status": body.status}
    if body.display_name is not None:
        fields["DisplayName"] = body.display_name
    for source, target in (
        ("directions", "Directions"),
        ("quantity", "Quantity"),
        ("dispense_unit_id", "DispenseUnitId"),
        ("days_supply", "DaysSupply"),
        ("refills", "Refills"),
        ("comment", "Comment"),
    ):
        value = getattr(body, source)
        if value is not None:
            fields[target] = value
    srm = sandbox.records.add_self_reported(patient, fields, medication, clinician_id)
    return render_self_reported(srm)


@router.post("/patients/{patient_id}/refill-requests")
async def add_refill_request(
    patient_id: int, body: RefillRequest, sandbox: SandboxDep
) -> dict[str, Any]:
    """A pharmacy sends a renewal request for the patient."""
    patient = _patient(sandbox, patient_id)
    original = None
    if body.prescription_id is not None:
        original = _own_prescription(sandbox, patient_id, body.prescription_id)
    clinician_id = _clinician(
        sandbox, patient, body.clinician_id or (original or {}).get("PrescriberId")
    )
    if original is not None:
        drug = original.get("DispensableDrugId") or original.get("SupplyId")
        medication = MEDICATIONS.get(drug or 0) or SUPPLIES.get(drug or 0)
        pharmacy_id = body.pharmacy_id or original["PharmacyId"]
        quantity = original["Quantity"]
        directions = original["Directions"]
        unit = original["DispenseUnitId"]
    elif body.medication is not None:
        medication = _medication(body.medication)
        pharmacy_id = _pharmacy(patient, body.pharmacy_id)["PharmacyId"]
        quantity, directions, unit = "30", "Take as directed.", medication["DispenseUnitId"]
    else:
        raise HTTPException(422, "name a prescription_id or a medication")
    assert medication is not None
    pharmacy = PHARMACIES.get(pharmacy_id)
    if pharmacy is None or not pharmacy["ServiceLevel"] & SERVICE_REFILL:
        raise HTTPException(409, "the pharmacy does not send electronic refill requests")
    item = {
        "quantity": f"{body.quantity:g}" if body.quantity else quantity,
        "dispense_unit_id": unit,
        "refills": body.refills,
        "directions": body.directions or directions,
        "no_substitutions": False,
    }
    refill = sandbox.records.add_refill_request(
        patient, clinician_id, pharmacy_id, medication, item, original
    )
    return refill


@router.post("/refill-requests/{refill_id}/resolve")
async def resolve_refill_request(refill_id: int, sandbox: SandboxDep) -> dict[str, Any]:
    """The clinician answers the request in DoseSpot's UI: it leaves the queue."""
    refill = sandbox.store.get(REFILL_KIND, refill_id)
    if refill is None:
        raise HTTPException(404, "no such refill request")
    if refill["State"] != "Pending":
        raise HTTPException(409, "the refill request is no longer pending")
    sandbox.records.close_refill_request(refill, "Resolved")
    return sandbox.store.get(REFILL_KIND, refill_id) or refill


@router.post("/patients/{patient_id}/allergies")
async def add_allergy_in_ui(patient_id: int, body: Allergy, sandbox: SandboxDep) -> dict[str, Any]:
    """The clinician enters an allergy (coded, free text, or no known allergies)."""
    patient = _patient(sandbox, patient_id)
    clinician_id = _clinician(sandbox, patient, body.clinician_id)
    chosen = [body.allergen is not None, body.free_text is not None, body.no_known_allergies]
    if chosen.count(True) != 1:
        raise HTTPException(422, "name exactly one of allergen, free_text, no_known_allergies")
    fields: dict[str, Any] = {"ReactionType": body.reaction_type, "StatusType": body.status}
    if body.reaction:
        fields["Reaction"] = body.reaction
    if body.onset_date:
        fields["OnsetDate"] = f"{body.onset_date.isoformat()}T00:00:00"
    if body.allergen is not None:
        reference = body.allergen
        if isinstance(reference, int) or reference.strip().isdigit():
            if int(reference) not in ALLERGENS:
                raise HTTPException(422, f"no allergen with AllergenId {reference}")
            fields["AllergenId"] = int(reference)
        else:
            allergen = _by_name(search_allergens(reference), reference, "allergen", "Name")
            fields["AllergenId"] = allergen["AllergenId"]
    elif body.free_text is not None:
        fields["FreeTextDisplayName"] = body.free_text
    allergy_id, refusal = add_allergy(sandbox, patient, fields, clinician_id)
    if not allergy_id:
        raise HTTPException(409, refusal)
    stored = sandbox.store.get(PATIENT_KIND, patient_id) or {}
    entry = next(e for e in stored["Allergies"] if e["PatientAllergyId"] == allergy_id)
    return render_allergy(entry)


@router.post("/patients/{patient_id}/pharmacies")
async def choose_pharmacy(
    patient_id: int, body: PatientPharmacy, sandbox: SandboxDep
) -> list[dict[str, Any]]:
    """The clinician adds a pharmacy to the patient (as primary if asked)."""
    patient = _patient(sandbox, patient_id)
    clinician_id = _clinician(sandbox, patient, body.clinician_id)
    refusal = add_patient_pharmacy(sandbox, patient, body.pharmacy_id, body.primary, clinician_id)
    if refusal:
        raise HTTPException(422, refusal)
    return patient_pharmacies(sandbox.store.get(PATIENT_KIND, patient_id) or patient)
