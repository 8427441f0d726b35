"""Prescriptions, self-reported medications, refill requests and the prescriber's
notification counts, as the API reads them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosespot_sandbox import envelope
from dosespot_sandbox.auth import SandboxDep, Session, SessionDep
from dosespot_sandbox.body import read_body
from dosespot_sandbox.catalogue import MEDICATIONS, MEDICATIONS_BY_ROUTED
from dosespot_sandbox.enums import (
    CLINIC_SCOPE,
    PRESCRIPTION_STATUS,
    SORT_COLUMN,
    SORT_ORDER,
    STATUS_CLASS,
)
from dosespot_sandbox.patients import (
    PATIENT_KIND,
    date_param,
    enum_param,
    int_param,
    page_param,
    patient_in_session,
    query,
    render_patient,
)
from dosespot_sandbox.records import (
    ERROR_STATUSES,
    PRESCRIPTION_KIND,
    SELF_REPORTED_KIND,
    render_prescription,
    render_self_reported,
    status_class,
)
from dosespot_sandbox.registration import CLINICIAN_KIND
from dosespot_sandbox.runtime import Sandbox
from dosespot_sandbox.validation import (
    CODED_SELF_REPORTED_MEDICATION_REQUEST,
    FREE_TEXT_SELF_REPORTED_MEDICATION_REQUEST,
    IGNORE_ALERT_REQUEST,
    SIMPLE_SELF_REPORTED_MEDICATION_REQUEST,
    UPDATE_PRESCRIPTION_MEDICATION_STATUS_REQUEST,
    UPDATE_SELF_REPORTED_MEDICATION_STATUS_REQUEST,
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
    patient, refusal = patient_in_session(sandbox, session, patient_id)
    if patient is None:
        return None, refusal
    rx = sandbox.store.get(PRESCRIPTION_KIND, rx_id)
    if rx is None or rx["PatientId"] != patient_id:
        return None, PRESCRIPTION_NOT_FOUND
    return rx, ""


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


def _self_reported(
    sandbox: Sandbox, session: Session, patient_id: int, srm_id: int
) -> tuple[dict[str, Any] | None, str]:
    patient, refusal = patient_in_session(sandbox, session, patient_id)
    if patient is None:
        return None, refusal
    srm = sandbox.store.get(SELF_REPORTED_KIND, srm_id)
    if srm is None or srm["PatientId"] != patient_id:
        return None, SELF_REPORTED_NOT_FOUND
    return srm, ""


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


# -- refill requests and the prescriber's queues -------------------------------------


def _clinics_in_scope(sandbox: Sandbox, session: Session, scope: str | None) -> set[int]:
    if scope == "All":
        user = sandbox.store.get(CLINICIAN_KIND, session.user_id) or {}
        return set(user.get("ClinicIds", [])) | {session.clinic_id}
    return {session.clinic_id}


@router.get("/api/refills/pending")
async def pending_refills(request: Request, session: SessionDep, sandbox: SandboxDep):
    params = query(request)
    page = page_param(params)
    scope = enum_param(CLINIC_SCOPE, "clinic", params.get("clinic"))
    patient_id = int_param("patientId", params.get("patientid"))
    sandbox.advance()
    if patient_id is not None:
        patient, refusal = patient_in_session(sandbox, session, patient_id)
        if patient is None:
            return envelope.error(refusal)
    clinics = _clinics_in_scope(sandbox, session, scope)
    items = []
    for refill in sandbox.records.pending_refills():
        if refill["ClinicId"] not in clinics:
            continue
        if patient_id is not None and refill["PatientId"] != patient_id:
            continue
        patient_doc = sandbox.store.get(PATIENT_KIND, refill["PatientId"])
        row: dict[str, Any] = {
            k: refill[k]
            for k in (
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
            if k in refill
        }
        if patient_doc is not None:
            row["Patient"] = render_patient(patient_doc, with_ssn_flag=False)
        items.append(row)
    return envelope.paged(items, page, sandbox.config.page_size)


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
    clinics = _clinics_in_scope(sandbox, session, scope)
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
