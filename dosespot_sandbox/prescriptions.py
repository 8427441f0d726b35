"""Prescriptions, self-reported medications, refill requests and the prescriber's
notification counts, as the API reads them; coded prescriptions written through the API
(pending, ``Entered``), edited, deleted and sent (``send``, ``sendEpcs``).

Sending follows DoseSpot's rules as integrators report them: only the prescriber sends,
a proxy or agent only creates pending prescriptions; a controlled substance (schedule 2-5)
goes through ``sendEpcs`` with the prescriber's 4-digit PIN and a 6-digit one-time code
from their two-factor device, and a wrong PIN or code is refused with DoseSpot's words.
Each sent prescription then moves through its pharmacy's status progression
(:mod:`dosespot_sandbox.records`), which pushes ``PrescriptionResult``. Each item of a send
answers ``{Id, Result}`` on its own: one refused item does not stop the others.

The sandbox plays the prescriber's two-factor device: ``PUT /_sandbox/clinicians/{id}/epcs-pin``
sets the PIN (done in DoseSpot's UI with Duo) and ``POST /_sandbox/clinicians/{id}/otp``
issues a one-time code, good for one signing within five minutes.
"""

from __future__ import annotations

import re
import secrets
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, Session, SessionDep, clinics_in_scope
from dosespot_sandbox.body import read_body
from dosespot_sandbox.catalogue import MEDICATIONS, MEDICATIONS_BY_ROUTED, PHARMACIES, SUPPLIES
from dosespot_sandbox.diagnoses import diagnosis_detail
from dosespot_sandbox.enums import (
    CLINIC_SCOPE,
    MEDICATION_STATUS,
    PRESCRIPTION_STATUS,
    SERVICE_EPCS,
    SERVICE_NEW_RX,
    SORT_COLUMN,
    SORT_ORDER,
    STATUS_CLASS,
)
from dosespot_sandbox.patients import (
    PATIENT_KIND,
    date_param,
    enum_param,
    page_param,
    patient_in_session,
    query,
    record_of_patient,
)
from dosespot_sandbox.pharmacies import add_patient_pharmacy
from dosespot_sandbox.records import (
    ERROR_STATUSES,
    PENDING_STATUSES,
    PRESCRIPTION_KIND,
    SELF_REPORTED_KIND,
    render_prescription,
    render_self_reported,
    status_class,
)
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import (
    BOOLEAN,
    CODED_SELF_REPORTED_MEDICATION_REQUEST,
    DATE_TIME,
    FREE_TEXT_SELF_REPORTED_MEDICATION_REQUEST,
    IGNORE_ALERT_REQUEST,
    INTEGER,
    SIMPLE_SELF_REPORTED_MEDICATION_REQUEST,
    UPDATE_PRESCRIPTION_MEDICATION_STATUS_REQUEST,
    UPDATE_SELF_REPORTED_MEDICATION_STATUS_REQUEST,
    Spec,
    array,
    enum,
    obj,
    string,
)

router = APIRouter()

PRESCRIPTION_NOT_FOUND = "Prescription not found."
SELF_REPORTED_NOT_FOUND = "Self-reported medication not found."
MEDICATION_NOT_FOUND = "Medication not found."
COMMENT_REQUIRED = "A comment is required to complete or discontinue a medication."


def _range(params: dict[str, str]) -> tuple[str | None, str | None]:
    """startDate/endDate as comparable stamps; a date-only end date covers that whole day."""
    start = date_param("startDate", params.get("startdate"))
    end = date_param("endDate", params.get("enddate"))
    if end is not None and len(params.get("enddate", "").strip()) <= 10:
        end = end + timedelta(days=1) - timedelta(seconds=1)
    return (
        start.isoformat(timespec="seconds") if start else None,
        end.isoformat(timespec="seconds") if end else None,
    )


def _within(stamp: str, start: str | None, end: str | None) -> bool:
    return (start is None or stamp >= start) and (end is None or stamp <= end)


@router.get("/api/patients/{patientId}/prescriptions")
async def get_prescriptions(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    params = query(request)
    page = page_param(params)
    start, end = _range(params)
    wanted_class = enum_param(STATUS_CLASS, "statusClass", params.get("statusclass"))
    wanted_status = enum_param(
        PRESCRIPTION_STATUS, "prescriptionStatus", params.get("prescriptionstatus")
    )
    enum_param(SORT_COLUMN, "sortColumn", params.get("sortcolumn"))
    descending = enum_param(SORT_ORDER, "sortOrder", params.get("sortorder")) == "Desc"
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    rows = [
        rx
        for rx in sandbox.records.prescriptions_of(patientId)
        if _within(rx["WrittenDate"], start, end)
        and (wanted_class is None or status_class(rx) == wanted_class)
        and (rx["Status"] == wanted_status if wanted_status else not rx.get("Hidden"))
    ]
    if descending:
        rows.reverse()
    items = [render_prescription(rx) for rx in rows]
    return envelope.paged(items, page, sandbox.config.page_size)


def _prescription(
    sandbox: Sandbox, session: Session, patient_id: int, rx_id: int
) -> tuple[dict[str, Any] | None, str]:
    return record_of_patient(
        sandbox, session, patient_id, PRESCRIPTION_KIND, rx_id, PRESCRIPTION_NOT_FOUND
    )


def _self_reported(
    sandbox: Sandbox, session: Session, patient_id: int, srm_id: int
) -> tuple[dict[str, Any] | None, str]:
    return record_of_patient(
        sandbox, session, patient_id, SELF_REPORTED_KIND, srm_id, SELF_REPORTED_NOT_FOUND
    )


@router.get("/api/patients/{patientId}/prescriptions/{prescriptionId}")
async def get_prescription(
    patientId: int, prescriptionId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    rx, refusal = _prescription(sandbox, session, patientId, prescriptionId)
    if rx is None:
        return envelope.error(refusal)
    return envelope.ok(Prescription=render_prescription(rx))


@router.post("/api/patients/{patientId}/prescriptions/{prescriptionId}/medicationStatus")
async def update_medication_status(
    patientId: int,
    prescriptionId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, UPDATE_PRESCRIPTION_MEDICATION_STATUS_REQUEST)
    rx, refusal = _prescription(sandbox, session, patientId, prescriptionId)
    if rx is None:
        return envelope.error(refusal)
    if fields["Status"] in {"Discontinued", "Completed"} and not fields.get("Comment"):
        return envelope.error(COMMENT_REQUIRED)
    sandbox.records.set_medication_status(
        rx,
        fields["Status"],
        session.user_id,
        comment=fields.get("Comment"),
        inactive_date=fields.get("InactiveDate"),
    )
    return envelope.ok()


@router.post("/api/patients/{patientId}/prescriptions/{prescriptionId}/ignoreError")
async def ignore_error(
    patientId: int,
    prescriptionId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, IGNORE_ALERT_REQUEST)
    rx, refusal = _prescription(sandbox, session, patientId, prescriptionId)
    if rx is None:
        return envelope.error(refusal)
    if rx["Status"] not in ERROR_STATUSES:
        return envelope.error("The prescription has no transmission error.")
    sandbox.records.ignore_error(rx, fields.get("Comment"))
    return envelope.ok()


# -- self-reported medications -------------------------------------------------------


@router.get("/api/patients/{patientId}/selfReportedMedications")
async def get_self_reported_medications(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    params = query(request)
    page = page_param(params)
    start, end = _range(params)
    doc, refusal = patient_in_session(sandbox, session, patientId)
    if doc is None:
        return envelope.error(refusal)
    items = [
        render_self_reported(srm)
        for srm in sandbox.records.self_reported_of(patientId)
        if _within(srm["DateReported"], start, end)
    ]
    return envelope.paged(items, page, sandbox.config.page_size)


@router.get("/api/patients/{patientId}/selfReportedMedications/{selfReportedMedicationId}")
async def get_self_reported_medication(
    patientId: int, selfReportedMedicationId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    srm, refusal = _self_reported(sandbox, session, patientId, selfReportedMedicationId)
    if srm is None:
        return envelope.error(refusal)
    return envelope.ok(Item=render_self_reported(srm))


async def _add_self_reported(
    patient_id: int,
    fields: dict[str, Any],
    medication: dict[str, Any] | None,
    session: Session,
    sandbox: Sandbox,
) -> JSONResponse:
    patient, refusal = patient_in_session(sandbox, session, patient_id)
    if patient is None:
        return envelope.error(refusal, Id=0)
    if fields["Status"] in {"Discontinued", "Completed"} and not fields.get("Comment"):
        return envelope.error(COMMENT_REQUIRED, Id=0)
    srm = sandbox.records.add_self_reported(patient, fields, medication, session.user_id)
    return envelope.ok(Id=srm["SelfReportedMedicationId"])


@router.post("/api/patients/{patientId}/selfReportedMedications/freetext")
async def add_free_text_self_reported(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, FREE_TEXT_SELF_REPORTED_MEDICATION_REQUEST)
    return await _add_self_reported(patientId, fields, None, session, sandbox)


@router.post("/api/patients/{patientId}/selfReportedMedications/coded")
async def add_coded_self_reported(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, CODED_SELF_REPORTED_MEDICATION_REQUEST)
    medication = MEDICATIONS.get(fields["DispensableDrugId"])
    if medication is None:
        return envelope.error(MEDICATION_NOT_FOUND, Id=0)
    return await _add_self_reported(patientId, fields, medication, session, sandbox)


@router.post("/api/patients/{patientId}/selfReportedMedications/simple")
async def add_simple_self_reported(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, SIMPLE_SELF_REPORTED_MEDICATION_REQUEST)
    medication = MEDICATIONS_BY_ROUTED.get(fields["RoutedDoseFormDrugId"])
    if medication is None:
        return envelope.error(MEDICATION_NOT_FOUND, Id=0)
    return await _add_self_reported(patientId, fields, medication, session, sandbox)


async def _edit_self_reported(
    patient_id: int,
    srm_id: int,
    fields: dict[str, Any],
    medication: dict[str, Any] | None,
    session: Session,
    sandbox: Sandbox,
) -> JSONResponse:
    srm, refusal = _self_reported(sandbox, session, patient_id, srm_id)
    if srm is None:
        return envelope.error(refusal, Id=0)
    sandbox.records.replace_self_reported(srm, fields, medication, session.user_id)
    return envelope.ok(Id=srm_id)


@router.put("/api/patients/{patientId}/selfReportedMedications/freetext/{selfReportedMedicationId}")
async def edit_free_text_self_reported(
    patientId: int,
    selfReportedMedicationId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, FREE_TEXT_SELF_REPORTED_MEDICATION_REQUEST)
    return await _edit_self_reported(
        patientId, selfReportedMedicationId, fields, None, session, sandbox
    )


@router.put("/api/patients/{patientId}/selfReportedMedications/coded/{selfReportedMedicationId}")
async def edit_coded_self_reported(
    patientId: int,
    selfReportedMedicationId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, CODED_SELF_REPORTED_MEDICATION_REQUEST)
    medication = MEDICATIONS.get(fields["DispensableDrugId"])
    if medication is None:
        return envelope.error(MEDICATION_NOT_FOUND, Id=0)
    return await _edit_self_reported(
        patientId, selfReportedMedicationId, fields, medication, session, sandbox
    )


@router.put("/api/patients/{patientId}/selfReportedMedications/simple/{selfReportedMedicationId}")
async def edit_simple_self_reported(
    patientId: int,
    selfReportedMedicationId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, SIMPLE_SELF_REPORTED_MEDICATION_REQUEST)
    medication = MEDICATIONS_BY_ROUTED.get(fields["RoutedDoseFormDrugId"])
    if medication is None:
        return envelope.error(MEDICATION_NOT_FOUND, Id=0)
    return await _edit_self_reported(
        patientId, selfReportedMedicationId, fields, medication, session, sandbox
    )


@router.post(
    "/api/patients/{patientId}/selfReportedMedications/{selfReportedMedicationId}/updateStatus"
)
async def update_self_reported_status(
    patientId: int,
    selfReportedMedicationId: int,
    request: Request,
    session: SessionDep,
    sandbox: SandboxDep,
) -> JSONResponse:
    fields = await read_body(request, UPDATE_SELF_REPORTED_MEDICATION_STATUS_REQUEST)
    srm, refusal = _self_reported(sandbox, session, patientId, selfReportedMedicationId)
    if srm is None:
        return envelope.error(refusal)
    if fields["Status"] in {"Discontinued", "Completed"} and not fields.get("Comment"):
        return envelope.error(COMMENT_REQUIRED)
    sandbox.records.update_self_reported(srm, fields, session.user_id)
    return envelope.ok()


# -- the prescriber's notification counts and transmission errors --------------------


@router.get("/api/notifications/counts")
async def notification_counts(session: SessionDep, sandbox: SandboxDep) -> JSONResponse:
    sandbox.advance()
    counts = sandbox.records.counts(session.user_id, session.clinic_id)
    return envelope.ok(
        RefillRequestsCount=counts["refills"],
        TransactionErrorsCount=counts["errors"],
        PendingPrescriptionsCount=counts["pending"],
        PendingRxChangeCount=counts["changes"],
    )


@router.get("/api/notifications/errors")
async def transmission_errors(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    scope = enum_param(CLINIC_SCOPE, "clinic", params.get("clinic"))
    sandbox.advance()
    clinics = clinics_in_scope(sandbox, session, scope)
    rows = sorted(
        (
            rx
            for rx in sandbox.store.all(PRESCRIPTION_KIND)
            if rx["Status"] in ERROR_STATUSES
            and not rx.get("ErrorIgnored")
            and rx["PrescriberId"] == session.user_id
            and rx["ClinicId"] in clinics
        ),
        key=lambda rx: rx["PrescriptionId"],
    )
    items = [
        {
            "PrescriptionId": rx["PrescriptionId"],
            "DateWritten": rx["WrittenDate"],
            "ErrorDateTimeStamp": rx.get("ErrorAt", rx["WrittenDate"]),
            "ErrorDetails": rx.get("StatusDetails", ""),
            "PatientId": rx["PatientId"],
            "ClinicId": rx["ClinicId"],
        }
        for rx in rows
    ]
    return envelope.paged(items, page, sandbox.config.page_size)


# -- prescriptions written and sent through the API ----------------------------------

PRESCRIPTION_DIAGNOSIS_IDS = obj({"PrimaryDiagnosisId": INTEGER, "SecondaryDiagnosisId": INTEGER})
_PRESCRIPTION_FIELDS: dict[str, Spec] = {
    "FirstPrescriptionDiagnosis": PRESCRIPTION_DIAGNOSIS_IDS,
    "SecondPrescriptionDiagnosis": PRESCRIPTION_DIAGNOSIS_IDS,
    "Refills": Spec("integer", required=True),
    "DaysSupply": INTEGER,
    "DispenseUnitId": Spec("integer", required=True),
    "Quantity": Spec("number", required=True),
    "Directions": string(required=True, max_length=1000),
    "PharmacyId": INTEGER,
    "PharmacyNotes": string(max_length=210),
    "NoSubstitutions": BOOLEAN,
    "EffectiveDate": DATE_TIME,
    "RxReferenceNumber": string(max_length=35),
    "EligibilityId": INTEGER,
    "NonDoseSpotPrescriptionId": string(max_length=35),
    "IsRefillReplace": BOOLEAN,
    "IsUrgent": BOOLEAN,
    "SupervisorId": INTEGER,
    "RetailPharmacyToMailToPatient": BOOLEAN,
    "RTPSCoupon": obj({}),
    "Status": enum(MEDICATION_STATUS, required=True),
    "InactiveDate": DATE_TIME,
    "Comment": string(max_length=500),
    "Encounter": string(max_length=50),
}
CODED_PRESCRIPTION_REQUEST = obj(
    {
        "DispensableDrugId": Spec("integer", required=True),
        "PatientFormularyId": INTEGER,
        **_PRESCRIPTION_FIELDS,
    }
)
SUPPLY_PRESCRIPTION_REQUEST = obj(
    {"SupplyId": Spec("integer", required=True), **_PRESCRIPTION_FIELDS}
)
FREE_TEXT_SUPPLY_PRESCRIPTION_REQUEST = obj(
    {
        "DisplayName": string(required=True, max_length=300),
        "NotControlled": Spec("boolean", required=True),
        **_PRESCRIPTION_FIELDS,
    }
)
COMPOUND_INGREDIENT = obj(
    {
        "DispensableDrugId": INTEGER,
        "FreeText": string(),
        "DispenseUnitId": INTEGER,
        "Quantity": string(required=True),
        "IsFreeTextEPCS": BOOLEAN,
    }
)
COMPOUND_PRESCRIPTION_REQUEST = obj(
    {
        "CompoundDescription": string(required=True),
        "CompoundIngredients": array(COMPOUND_INGREDIENT, required=True),
        **_PRESCRIPTION_FIELDS,
    }
)
SEND_PRESCRIPTIONS_REQUEST = obj(
    {
        "Pin": string(pattern=r"^(?:\d{4})?$"),
        "PrescriptionIds": array(INTEGER, required=True),
        "PharmacyOverride": BOOLEAN,
    }
)
SEND_EPCS_PRESCRIPTIONS_REQUEST = obj(
    {
        "Pin": string(required=True, pattern=r"^[0-9]{4}$"),
        "OTP": string(pattern=r"^[0-9]{6}$"),
        "PrescriptionIds": array(INTEGER, required=True),
        "NoEPCSPrescriptionIds": array(INTEGER),
    }
)
PRESCRIPTION_ID_LIST_REQUEST = obj({"PrescriptionIds": array(INTEGER)})

# DoseSpot's words for the refusals integrators report.
NO_EPCS_PERMISSION = "You do not have permission to send controlled substances"
WRONG_PIN = "The PIN entered is incorrect."
WRONG_OTP = "The one-time password entered is incorrect or has expired."
NOT_PRESCRIBER = "Only the prescriber may send this prescription."
NOT_PENDING = "The prescription has already been sent."
CONTROLLED_NEEDS_EPCS = "Controlled substances must be sent with sendEpcs."
NOT_CONTROLLED = "The prescription is not for a controlled substance: send it with send."
NO_PHARMACY = "The prescription has no pharmacy."
PHARMACY_NO_NEW_RX = "The pharmacy does not accept electronic new prescriptions."
PHARMACY_NO_EPCS = "The pharmacy does not accept electronic controlled substance prescriptions."
NOT_EDITABLE = "Only a pending prescription can be edited."
OBSOLETE = "The medication is obsolete."
REFILLS_RANGE = "Refills must be between 0 and 99."
DAYS_SUPPLY_RANGE = "Days supply must be between 0 and 365."
QUANTITY_RANGE = "Quantity must be greater than 0."
EFFECTIVE_DATE_PAST = "The effective date cannot be in the past."
SUPPLY_NOT_FOUND = "Supply not found."
SUPERVISOR_MISMATCH = "SupervisorId is not the prescriber this prescription is written for."
DISPLAY_NAME_REQUIRED = "A display name is required."
FREE_TEXT_CONTROLLED = "A free-text supply must be marked not controlled."
COMPOUND_DESCRIPTION_REQUIRED = "A compound description is required."
COMPOUND_INGREDIENTS_REQUIRED = "A compound needs at least one ingredient."
COMPOUND_INGREDIENT_ONE = "Each ingredient is a dispensable drug or free text."
# Statuses from which a prescription can be sent (again): pending, or failed.
SENDABLE_STATUSES = PENDING_STATUSES | ERROR_STATUSES
# A prescription may be printed while pending or failed, and printed again.
PRINTABLE_STATUSES = SENDABLE_STATUSES | {"Printed"}
PRINTED_DETAIL = "Prescription printed"
OTP_LIFETIME_SECONDS = 300
PRESCRIBING_ROLES = {"PrescribingClinician"}


def _diagnosis(ids: dict[str, Any] | None) -> dict[str, Any] | None:
    """The prescription's Diagnosis pair, each with its code and description."""
    if not ids:
        return None
    found = {
        key: diagnosis_detail(ids[f"{key}Id"]) or {"DiagnosisId": ids[f"{key}Id"]}
        for key in ("PrimaryDiagnosis", "SecondaryDiagnosis")
        if ids.get(f"{key}Id") is not None
    }
    return found or None


Product = tuple[dict[str, Any] | None, str | None]


def _range_refusal(fields: dict[str, Any]) -> str | None:
    """DoseSpot's business checks of any prescription (the ranges its UI enforces)."""
    if not 0 <= fields["Refills"] <= 99:
        return REFILLS_RANGE
    days = fields.get("DaysSupply")
    if days is not None and not 0 <= days <= 365:
        return DAYS_SUPPLY_RANGE
    if fields["Quantity"] <= 0:
        return QUANTITY_RANGE
    effective = fields.get("EffectiveDate")
    if effective is not None and str(effective)[:10] < datetime.now(UTC).date().isoformat():
        return EFFECTIVE_DATE_PAST
    return None


def _coded_product(fields: dict[str, Any]) -> Product:
    medication = MEDICATIONS.get(fields["DispensableDrugId"])
    if medication is None:
        return None, MEDICATION_NOT_FOUND
    if medication.get("IsObsolete"):
        return None, OBSOLETE
    return {
        "Type": "Coded",
        "DispensableDrugId": medication["DispensableDrugId"],
        "DisplayName": medication["DisplayName"],
        "Strength": medication["Strength"],
        "Schedule": medication["Schedule"],
    }, None


def _supply_product(fields: dict[str, Any]) -> Product:
    supply = SUPPLIES.get(fields["SupplyId"])
    if supply is None:
        return None, SUPPLY_NOT_FOUND
    if supply.get("IsObsolete"):
        return None, OBSOLETE
    return {
        "Type": "Supply",
        "SupplyId": supply["SupplyId"],
        "DisplayName": supply["Name"],
        "Schedule": 0,
    }, None


def _free_text_product(fields: dict[str, Any]) -> Product:
    name = (fields.get("DisplayName") or "").strip()
    if not name:
        return None, DISPLAY_NAME_REQUIRED
    if not fields["NotControlled"]:
        return None, FREE_TEXT_CONTROLLED
    return {"Type": "FreeText", "FreeTextType": "Supply", "DisplayName": name, "Schedule": 0}, None


def _compound_product(fields: dict[str, Any]) -> Product:
    """A compiled compound: its schedule is its most controlled ingredient's."""
    description = (fields.get("CompoundDescription") or "").strip()
    ingredients = fields.get("CompoundIngredients") or []
    if not description:
        return None, COMPOUND_DESCRIPTION_REQUIRED
    if not ingredients:
        return None, COMPOUND_INGREDIENTS_REQUIRED
    schedule = 0
    kept = []
    for ingredient in ingredients:
        drug_id = ingredient.get("DispensableDrugId")
        text = (ingredient.get("FreeText") or "").strip()
        if (drug_id is None) == (not text):
            return None, COMPOUND_INGREDIENT_ONE
        if drug_id is not None:
            medication = MEDICATIONS.get(drug_id)
            if medication is None:
                return None, MEDICATION_NOT_FOUND
            schedule = max(schedule, medication["Schedule"] or 0)
        elif ingredient.get("IsFreeTextEPCS"):
            schedule = max(schedule, 2)
        kept.append({k: v for k, v in ingredient.items() if v is not None})
    return {
        "Type": "Compound",
        "DisplayName": description[:300],
        "Schedule": schedule,
        "CompoundIngredients": kept,
    }, None


def _apply(doc: dict[str, Any], fields: dict[str, Any], product: dict[str, Any],
           pharmacy_id: int | None) -> None:  # fmt: skip
    effective = fields.get("EffectiveDate")
    doc.update(
        {
            **product,
            "Directions": fields["Directions"],
            "Quantity": f"{fields['Quantity']:g}",
            "DispenseUnitId": fields["DispenseUnitId"],
            "Refills": str(fields["Refills"]),
            "NoSubstitutions": bool(fields.get("NoSubstitutions", False)),
            "IsUrgent": bool(fields.get("IsUrgent", False)),
            "MedicationStatus": fields["Status"],
        }
    )
    if effective is not None:
        doc["EffectiveDate"] = f"{str(effective)[:10]}T00:00:00"
    for name in ("DaysSupply", "PharmacyNotes", "NonDoseSpotPrescriptionId", "Comment",
                 "Encounter", "SupervisorId"):  # fmt: skip
        if fields.get(name) is not None:
            doc[name] = fields[name]
        else:
            doc.pop(name, None)
    for name in ("FirstPrescriptionDiagnosis", "SecondPrescriptionDiagnosis"):
        diagnosis = _diagnosis(fields.get(name))
        if diagnosis:
            doc[name] = diagnosis
        else:
            doc.pop(name, None)
    if pharmacy_id is not None:
        doc["PharmacyId"] = pharmacy_id


def _pharmacy_for(patient: dict[str, Any], fields: dict[str, Any]) -> int | None:
    if fields.get("PharmacyId") is not None:
        return int(fields["PharmacyId"])
    primary = next((e for e in patient.get("Pharmacies", []) if e["IsDefault"]), None)
    return int(primary["PharmacyId"]) if primary else None


async def _add_prescription(
    patient_id: int,
    request: Request,
    session: Session,
    sandbox: Sandbox,
    spec: Spec,
    product_of: Callable[[dict[str, Any]], Product],
) -> JSONResponse:
    """A pending (``Entered``) prescription written by the session's user: a prescriber,
    or a proxy or agent for the prescriber the token acts on behalf of."""
    fields = await read_body(request, spec)
    patient, refusal = patient_in_session(sandbox, session, patient_id)
    if patient is None:
        return envelope.error(refusal, Id=0)
    product, problem = product_of(fields)
    problem = problem or _range_refusal(fields)
    if problem or product is None:
        return envelope.error(problem or MEDICATION_NOT_FOUND, Id=0)
    supervisor = fields.get("SupervisorId")
    if supervisor is not None and supervisor != session.on_behalf_of_user_id:
        # Only a prescription written for a prescriber names that prescriber as supervisor.
        return envelope.error(SUPERVISOR_MISMATCH, Id=0)
    pharmacy_id = _pharmacy_for(patient, fields)
    if pharmacy_id is not None and pharmacy_id not in PHARMACIES:
        return envelope.error("Pharmacy not found.", Id=0)
    doc = sandbox.records.prescribe(
        patient,
        session.prescriber_id,
        pharmacy_id or 0,
        product,
        {
            "directions": fields["Directions"],
            "quantity": f"{fields['Quantity']:g}",
            "dispense_unit_id": fields["DispenseUnitId"],
            "refills": fields["Refills"],
            "no_substitutions": bool(fields.get("NoSubstitutions", False)),
            "send": False,
        },
    )
    _apply(doc, fields, product, pharmacy_id)
    if session.on_behalf_of_user_id is not None:
        doc["PrescriberAgentId"] = session.user_id
    if pharmacy_id is None:
        doc.pop("PharmacyId", None)
    elif not any(e["PharmacyId"] == pharmacy_id for e in patient.get("Pharmacies", [])):
        add_patient_pharmacy(sandbox, patient, pharmacy_id, False, session.user_id)
    sandbox.store.put(PRESCRIPTION_KIND, doc["PrescriptionId"], doc)
    sandbox.records.push_counts(doc["PrescriberId"], doc["ClinicId"])
    return envelope.ok(Id=doc["PrescriptionId"])


@router.post("/api/patients/{patientId}/prescriptions/coded")
async def add_coded_prescription(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    return await _add_prescription(
        patientId, request, session, sandbox, CODED_PRESCRIPTION_REQUEST, _coded_product
    )


@router.post("/api/patients/{patientId}/prescriptions/supply")
async def add_supply_prescription(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """A supply from the catalogue (``GET api/supplies/search``)."""
    return await _add_prescription(
        patientId, request, session, sandbox, SUPPLY_PRESCRIPTION_REQUEST, _supply_product
    )


@router.post("/api/patients/{patientId}/prescriptions/supply/freetext")
async def add_free_text_supply_prescription(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """A custom supply written out; the prescriber attests it is not controlled."""
    return await _add_prescription(
        patientId,
        request,
        session,
        sandbox,
        FREE_TEXT_SUPPLY_PRESCRIPTION_REQUEST,
        _free_text_product,
    )


@router.post("/api/patients/{patientId}/prescriptions/compiledcompound")
async def add_compound_prescription(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """A compound compiled from coded or written ingredients."""
    return await _add_prescription(
        patientId, request, session, sandbox, COMPOUND_PRESCRIPTION_REQUEST, _compound_product
    )


@router.put("/api/patients/{patientId}/prescriptions/coded/{prescriptionId}")
async def edit_coded_prescription(
    patientId: int, prescriptionId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, CODED_PRESCRIPTION_REQUEST)
    rx, refusal = _prescription(sandbox, session, patientId, prescriptionId)
    if rx is None:
        return envelope.error(refusal)
    if rx["Status"] not in PENDING_STATUSES or rx.get("Hidden"):
        return envelope.error(NOT_EDITABLE)
    product, problem = _coded_product(fields)
    problem = problem or _range_refusal(fields)
    if problem or product is None:
        return envelope.error(problem or MEDICATION_NOT_FOUND)
    patient = sandbox.store.get(PATIENT_KIND, patientId) or {}
    _apply(rx, fields, product, _pharmacy_for(patient, fields))
    rx["Status"] = "Edited"
    sandbox.store.put(PRESCRIPTION_KIND, prescriptionId, rx)
    return envelope.ok()


@router.delete("/api/patients/{patientId}/prescriptions")
async def delete_prescriptions(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """Pending prescriptions are deleted; a sent one cannot be (it is cancelled instead)."""
    fields = await read_body(request, PRESCRIPTION_ID_LIST_REQUEST)
    answers = []
    touched: set[tuple[int, int]] = set()
    for rx_id in fields.get("PrescriptionIds") or []:
        rx, refusal = _prescription(sandbox, session, patientId, rx_id)
        if rx is None:
            answers.append(_item_error(rx_id, refusal))
        elif rx["Status"] == "Deleted":
            answers.append(_item_ok(rx_id))
        elif rx["Status"] not in PENDING_STATUSES | ERROR_STATUSES:
            answers.append(_item_error(rx_id, "Only a pending prescription can be deleted."))
        else:
            rx.update(Status="Deleted", MedicationStatus="Deleted", Steps=[])
            sandbox.store.put(PRESCRIPTION_KIND, rx_id, rx)
            touched.add((rx["PrescriberId"], rx["ClinicId"]))
            answers.append(_item_ok(rx_id))
    for prescriber, clinic in touched:
        sandbox.records.push_counts(prescriber, clinic)
    return JSONResponse(answers)


def _item_ok(rx_id: int) -> dict[str, Any]:
    return {"Id": rx_id, "Result": envelope.result()}


def _item_error(rx_id: int, description: str) -> dict[str, Any]:
    return {"Id": rx_id, "Result": envelope.result(description, envelope.ERROR)}


def _send_refusal(
    sandbox: Sandbox, session: Session, rx: dict[str, Any], *, epcs: bool
) -> str | None:
    """Why the session's user cannot send this prescription now, or None."""
    if rx["Status"] not in SENDABLE_STATUSES or rx.get("Hidden"):
        return NOT_PENDING
    if rx["PrescriberId"] != session.user_id:
        return NOT_PRESCRIBER
    clinician = sandbox.store.get(CLINICIAN_KIND, session.user_id) or {}
    roles = set(clinician.get("ClinicianRoleType", []))
    if roles and not roles & PRESCRIBING_ROLES:
        return NOT_PRESCRIBER
    pharmacy = PHARMACIES.get(rx.get("PharmacyId") or 0)
    if pharmacy is None:
        return NO_PHARMACY
    if not pharmacy["ServiceLevel"] & SERVICE_NEW_RX:
        return PHARMACY_NO_NEW_RX
    controlled = (rx.get("Schedule") or 0) >= 2
    if controlled and not epcs:
        return CONTROLLED_NEEDS_EPCS
    if epcs and not controlled:
        return NOT_CONTROLLED
    if controlled and not clinician.get("TfaActivated"):
        return NO_EPCS_PERMISSION
    if controlled and not pharmacy["ServiceLevel"] & SERVICE_EPCS:
        return PHARMACY_NO_EPCS
    return None


def _send_each(
    sandbox: Sandbox, session: Session, patient_id: int, ids: list[int], *, epcs: bool
) -> JSONResponse:
    answers = []
    for rx_id in ids:
        rx, refusal = _prescription(sandbox, session, patient_id, rx_id)
        if rx is not None:
            refusal = _send_refusal(sandbox, session, rx, epcs=epcs) or ""
        if rx is None or refusal:
            answers.append(_item_error(rx_id, refusal))
            continue
        rx["ErrorIgnored"] = False
        if epcs:
            rx["StatusDetails"] = "Signed with two-factor authentication"
        sandbox.records.send(rx)
        answers.append(_item_ok(rx_id))
    sandbox.advance()
    return JSONResponse(answers)


@router.post("/api/patients/{patientId}/prescriptions/send")
async def send_prescriptions(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    fields = await read_body(request, SEND_PRESCRIPTIONS_REQUEST)
    patient, refusal = patient_in_session(sandbox, session, patientId)
    if patient is None:
        return JSONResponse([_item_error(i, refusal) for i in fields["PrescriptionIds"]])
    return _send_each(sandbox, session, patientId, fields["PrescriptionIds"], epcs=False)


@router.post("/api/patients/{patientId}/prescriptions/sendEpcs")
async def send_epcs_prescriptions(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """Signing with the prescriber's PIN and one-time code; both are checked before any item
    is sent, and the code is used up whatever the outcome."""
    fields = await read_body(request, SEND_EPCS_PRESCRIPTIONS_REQUEST)
    ids: list[int] = fields["PrescriptionIds"]
    patient, refusal = patient_in_session(sandbox, session, patientId)
    if patient is None:
        return JSONResponse([_item_error(i, refusal) for i in ids])
    clinician = sandbox.store.get(CLINICIAN_KIND, session.user_id) or {}
    if not clinician.get("TfaActivated"):
        return JSONResponse([_item_error(i, NO_EPCS_PERMISSION) for i in ids])
    pin_ok = epcs_devices(sandbox).check_pin(session.user_id, fields["Pin"])
    otp_ok = epcs_devices(sandbox).use_code(session.user_id, fields.get("OTP") or "")
    if not pin_ok:
        return JSONResponse([_item_error(i, WRONG_PIN) for i in ids])
    if not otp_ok:
        return JSONResponse([_item_error(i, WRONG_OTP) for i in ids])
    return _send_each(sandbox, session, patientId, ids, epcs=True)


@router.post("/api/patients/{patientId}/prescriptions/setPrinted")
async def set_prescriptions_printed(
    patientId: int, request: Request, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """The prescriptions were printed: each becomes ``Printed`` (pushed as
    ``PrescriptionResult``) and leaves the pending queue. A pending or failed prescription
    may be printed, a printed one again (each print is recorded); one DoseSpot sent cannot,
    and then none of the request's prescriptions is marked."""
    fields = await read_body(request, SEND_PRESCRIPTIONS_REQUEST)
    found = []
    for rx_id in fields["PrescriptionIds"]:
        rx, refusal = _prescription(sandbox, session, patientId, rx_id)
        if rx is None:
            return envelope.error(refusal)
        if rx["Status"] not in PRINTABLE_STATUSES or rx.get("Hidden"):
            return envelope.error(NOT_PENDING)
        found.append(rx)
    for rx in found:
        sandbox.records._set_status(rx, "Printed", PRINTED_DETAIL)
        sandbox.store.put(PRESCRIPTION_KIND, rx["PrescriptionId"], rx)
    for prescriber, clinic in {(rx["PrescriberId"], rx["ClinicId"]) for rx in found}:
        sandbox.records.push_counts(prescriber, clinic)
    return envelope.ok()


@router.get("/api/patients/{patientId}/interactions/allergies")
async def allergy_interactions(
    patientId: int, session: SessionDep, sandbox: SandboxDep
) -> JSONResponse:
    """The patient's active allergies against their current and pending prescriptions."""
    patient, refusal = patient_in_session(sandbox, session, patientId)
    if patient is None:
        return envelope.error(refusal)
    messages = []
    allergies = [
        a for a in patient.get("Allergies", []) if a.get("StatusType", "Active") == "Active"
    ]
    for rx in sandbox.records.prescriptions_of(patientId):
        if rx["Status"] == "Deleted" or rx.get("Hidden") or "DispensableDrugId" not in rx:
            continue
        if rx.get("MedicationStatus") in {"Discontinued", "Deleted", "Completed", "Cancelled"}:
            continue
        medication = MEDICATIONS.get(rx["DispensableDrugId"], {})
        text = f"{medication.get('DrugName', '')} {medication.get('DrugClassification', '')}"
        for allergy in allergies:
            name = str(allergy.get("DisplayName") or "")
            stem = name.split()[0].lower().rstrip("s") if name.split() else ""
            if len(stem) >= 4 and re.search(re.escape(stem), text, re.IGNORECASE):
                messages.append(
                    {
                        "InteractionMessage": f"{rx['DisplayName']}: the patient is allergic "
                        f"to {name} ({allergy.get('Reaction') or 'reaction not recorded'})."
                    }
                )
    return envelope.ok(Items=messages)


# -- the prescriber's two-factor device ------------------------------------------------


class EpcsDevices:
    """Each prescriber's signing PIN and the one-time codes their device has shown."""

    def __init__(self) -> None:
        self._pins: dict[int, str] = {}
        self._codes: dict[int, dict[str, float]] = {}

    def set_pin(self, clinician_id: int, pin: str) -> None:
        self._pins[clinician_id] = pin

    def issue_code(self, clinician_id: int) -> str:
        code = f"{secrets.randbelow(10**6):06d}"
        self._codes.setdefault(clinician_id, {})[code] = time.time() + OTP_LIFETIME_SECONDS
        return code

    def check_pin(self, clinician_id: int, pin: str) -> bool:
        expected = self._pins.get(clinician_id)
        return expected is not None and secrets.compare_digest(expected, pin)

    def use_code(self, clinician_id: int, code: str) -> bool:
        expires = self._codes.get(clinician_id, {}).pop(code, None)
        return expires is not None and expires >= time.time()


_DEVICES: weakref.WeakKeyDictionary[Sandbox, EpcsDevices] = weakref.WeakKeyDictionary()


def epcs_devices(sandbox: Sandbox) -> EpcsDevices:
    """The sandbox's prescribers' devices (kept in memory: a restart asks for a new PIN)."""
    devices = _DEVICES.get(sandbox)
    if devices is None:
        devices = _DEVICES[sandbox] = EpcsDevices()
    return devices


control_router = APIRouter(prefix="/_sandbox", tags=["sandbox controls"])


class EpcsPin(BaseModel):
    pin: str = Field(pattern=r"^[0-9]{4}$")


@control_router.put("/clinicians/{clinician_id}/epcs-pin")
async def set_epcs_pin(clinician_id: int, body: EpcsPin, sandbox: SandboxDep) -> dict[str, Any]:
    """The prescriber sets the PIN they sign controlled-substance prescriptions with."""
    if sandbox.store.get(CLINICIAN_KIND, clinician_id) is None:
        raise HTTPException(404, "no such clinician")
    epcs_devices(sandbox).set_pin(clinician_id, body.pin)
    return {"clinician_id": clinician_id, "pin_set": True}


@control_router.post("/clinicians/{clinician_id}/otp")
async def one_time_code(clinician_id: int, sandbox: SandboxDep) -> dict[str, Any]:
    """The code the prescriber's two-factor device shows now (good for one signing)."""
    if sandbox.store.get(CLINICIAN_KIND, clinician_id) is None:
        raise HTTPException(404, "no such clinician")
    return {"clinician_id": clinician_id, "otp": epcs_devices(sandbox).issue_code(clinician_id)}
