"""Renewal (refill) requests as the prescriber answers them through the API (Full plan):
the queue, plain and detailed; approve and deny, with DoseSpot's validation and the pushes
that follow.

Approving sends the prescription the pharmacy proposed, with the refills given, down the
same transmission as any other (``PrescriptionResult`` pushes carry the request's id as
``RelatedRxRequestQueueItemId``); approving or denying takes the request out of the
prescriber's queue (``PrescriberNotificationCounts``). A controlled substance needs the
prescriber's two-factor activation, as a send does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, Session, SessionDep, clinics_in_scope
from dosespot_sandbox.body import read_body
from dosespot_sandbox.enums import CLINIC_SCOPE, EnumType
from dosespot_sandbox.patients import (
    PATIENT_KIND,
    enum_param,
    int_param,
    page_param,
    patient_in_session,
    query,
    render_patient,
)
from dosespot_sandbox.records import PRESCRIPTION_KIND, REFILL_KIND, render_prescription
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import (
    DATE_TIME,
    INTEGER,
    InvalidRequest,
    enum,
    obj,
    string,
)

router = APIRouter()

REFILL_NOT_FOUND = "Refill request not found."
NOT_PENDING = "The refill request is no longer pending."
NOT_YOURS = "User is not authorized to respond to this refill request."
NO_EPCS = "You do not have permission to send controlled substances"
PAST_EFFECTIVE_DATE = "The effective date cannot be in the past."


def _denial_reasons() -> EnumType:
    """DenialReason: the Swagger's 18 names with DoseSpot's published, non-positional codes."""
    codes = {
        "DeniedPatientUnknown": 4,
        "DeniedPatientNotUnderCare": 5,
        "DeniedPatientNoLongerUnderPatientCare": 6,
        "DeniedTooSoon": 7,
        "DeniedNeverPrescribed": 8,
        "DeniedHavePatientContact": 9,
        "DeniedRefillInappropriate": 10,
        "DeniedAlreadyPickedUp": 11,
        "DeniedAlreadyPickedUpPartialFill": 12,
        "DeniedNotPickedUp": 13,
        "DeniedChangeInappropriate": 14,
        "DeniedNeedAppointment": 15,
        "DeniedPrescriberNotAssociateWithLocation": 16,
        "DeniedNoPriorAuthAttempt": 17,
        "DeniedAlreadyHandled": 18,
        "DeniedAtPatientRequest": 21,
        "DeniedPatientAllergicToRequestMed": 22,
        "DeniedMedicationDiscontinued": 23,
    }
    reasons = EnumType("DenialReason", list(codes), 0)
    reasons.values = dict(codes)
    reasons._by_value = {v: k for k, v in codes.items()}
    return reasons


DENIAL_REASON = _denial_reasons()
APPROVE_REFILL_REQUEST = obj(
    {
        "Refills": INTEGER,
        "Comment": string(max_length=500),
        "EffectiveDate": DATE_TIME,
    }
)
DENY_REFILL_REQUEST = obj(
    {"DenialReason": enum(DENIAL_REASON, required=True), "Note": string(max_length=70)}
)


# What each listing shows of a request, in DoseSpot's order.
_LISTED = (
    "RefillId",
    "NewPatient",
    "ClinicId",
    "ClinicianId",
    "RequestedPrescriptionId",
    "OriginalPrescriptionId",
    "PharmacyId",
    "RequestedDate",
    "RequestExpirationDate",
)
_DETAILED = tuple(k for k in _LISTED if not k.endswith("PrescriptionId"))


def _queue(
    sandbox: Sandbox, session: Session, params: dict[str, str], fields: tuple[str, ...]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], str]:
    """The pending requests in the clinics of the asked scope (and of the asked patient), each
    with its listing's row (the fields given and the patient), or DoseSpot's refusal."""
    scope = enum_param(CLINIC_SCOPE, "clinic", params.get("clinic"))
    patient_id = int_param("patientId", params.get("patientid"))
    sandbox.advance()
    if patient_id is not None:
        patient, refusal = patient_in_session(sandbox, session, patient_id)
        if patient is None:
            return [], refusal
    clinics = clinics_in_scope(sandbox, session, scope)
    queue = []
    for refill in sandbox.records.pending_refills():
        if refill["ClinicId"] not in clinics:
            continue
        if patient_id is not None and refill["PatientId"] != patient_id:
            continue
        row: dict[str, Any] = {k: refill[k] for k in fields if k in refill}
        patient_doc = sandbox.store.get(PATIENT_KIND, refill["PatientId"])
        if patient_doc is not None:
            row["Patient"] = render_patient(patient_doc, with_ssn_flag=False)
        queue.append((refill, row))
    return queue, ""


@router.get("/api/refills/pending")
async def pending_refills(
    request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    params = query(request)
    page = page_param(params)
    queue, refusal = _queue(sandbox, session, params, _LISTED)
    if refusal:
        return envelope.error(refusal)
    return envelope.paged([row for _, row in queue], page, sandbox.config.page_size)


@router.get("/api/refills/pending/detailed")
async def pending_refills_detailed(
    request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    params = query(request)
    page = page_param(params)
    queue, refusal = _queue(sandbox, session, params, _DETAILED)
    if refusal:
        return envelope.error(refusal)
    for refill, row in queue:
        for name, key in (
            ("RequestedPrescription", "RequestedPrescriptionId"),
            ("OriginalPrescription", "OriginalPrescriptionId"),
        ):
            prescription = sandbox.store.get(PRESCRIPTION_KIND, refill.get(key) or 0)
            if prescription is not None:
                row[name] = render_prescription(prescription)
    return envelope.paged([row for _, row in queue], page, sandbox.config.page_size)


def _pending_for(
    sandbox: Sandbox, session: Session, refill_id: int
) -> tuple[dict[str, Any] | None, str]:
    """The refill request the session's prescriber may answer, or DoseSpot's refusal."""
    sandbox.advance()
    refill = sandbox.store.get(REFILL_KIND, refill_id)
    if refill is None or refill["ClinicId"] not in clinics_in_scope(sandbox, session, "All"):
        return None, REFILL_NOT_FOUND
    if refill["ClinicId"] != session.clinic_id or refill["ClinicianId"] != session.user_id:
        return None, NOT_YOURS
    if refill["State"] != "Pending":
        return None, NOT_PENDING
    return refill, ""


@router.post("/api/refills/{refillId}/approve")
async def approve_refill(
    refillId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, APPROVE_REFILL_REQUEST)
    refills = fields.get("Refills")
    if refills is None:
        raise InvalidRequest({"request.Refills": ["The Refills field is required."]})
    if not 1 <= refills <= 99:
        raise InvalidRequest({"request.Refills": ["The field Refills must be between 1 and 99."]})
    refill, refusal = _pending_for(sandbox, session, refillId)
    if refill is None:
        return envelope.error(refusal, Id=0)
    effective = fields.get("EffectiveDate")
    today = datetime.now(UTC).date().isoformat()
    if effective is not None and effective[:10] < today:
        return envelope.error(PAST_EFFECTIVE_DATE, Id=0)
    prescription = sandbox.store.get(PRESCRIPTION_KIND, refill["RequestedPrescriptionId"])
    if prescription is None:
        return envelope.error(REFILL_NOT_FOUND, Id=0)
    clinician = sandbox.store.get(CLINICIAN_KIND, session.user_id) or {}
    if int(prescription.get("Schedule") or 0) >= 2 and not clinician.get("TfaActivated"):
        return envelope.error(NO_EPCS, Id=0)
    prescription.update(Refills=str(refills), Hidden=False, MedicationStatus="Active")
    if fields.get("Comment"):
        prescription["Comment"] = fields["Comment"]
    if effective is not None:
        prescription["EffectiveDate"] = f"{effective[:10]}T00:00:00"
    refill["Response"] = {"Approved": True, "Refills": refills}
    sandbox.records.close_refill_request(refill, "Approved")
    sandbox.records.send(prescription)
    return envelope.ok(Id=prescription["PrescriptionId"])


@router.post("/api/refills/{refillId}/deny")
async def deny_refill(
    refillId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, DENY_REFILL_REQUEST)
    refill, refusal = _pending_for(sandbox, session, refillId)
    if refill is None:
        return envelope.error(refusal, Id=0)
    refill["Response"] = {
        "Approved": False,
        "DenialReason": fields["DenialReason"],
        "Note": fields.get("Note", ""),
    }
    sandbox.records.close_refill_request(refill, "Denied")
    return envelope.ok(Id=refill["RefillId"])
