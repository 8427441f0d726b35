"""Patients in DoseSpot and their medication record in the read model."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from temporalio import activity

from activities.dosespot_access import DoseSpotActivities
from activities.errors import dosespot_errors_as_application_errors
from db.counts import record_counts
from db.patients import (
    PatientMedication,
    PatientPharmacy,
    PatientRegistration,
    PatientRenewalRequest,
)
from db.upsert import upsert
from dosespot import DoseSpotClient, DoseSpotError
from dosespot.enums import pharmacy_services
from dosespot.models import PatientCreate, PatientInsuranceCreate
from erx.us import dosespot_phone
from erx.vitals import DOSESPOT_HEIGHT_METRIC, DOSESPOT_WEIGHT_METRIC
from workflows.patient_models import (
    EnsurePatientInput,
    PatientDetails,
    PatientSnapshot,
    SyncPatientInput,
    SyncSummary,
)

# Prescriptions are pulled for this far back: the medication record's horizon.
HISTORY_DAYS = 730
# Medication statuses that put a prescription under the Inactive tab.
INACTIVE_MEDICATION_STATUSES = {
    "Inactive",
    "Discontinued",
    "Deleted",
    "Completed",
    "CancelRequested",
    "CancelPending",
    "Cancelled",
    "Changed",
}
INACTIVE_PRESCRIPTION_STATUSES = {"Deleted"}
# DoseSpot's ServiceLevel names as our API spells them.
SERVICE_NAMES = {
    "NewRx": "new_rx",
    "Refill": "refill",
    "Change": "change",
    "RxFill": "rx_fill",
    "Cancel": "cancel",
    "EPCS": "epcs",
}


class PatientActivities(DoseSpotActivities):
    @activity.defn(name="ensure_patient")
    async def ensure_patient(self, input: EnsurePatientInput) -> int:
        """The DoseSpot patient for this client: updated if known or found, else created.

        DoseSpot has no idempotency keys, so the patient is looked up first (by name and
        date of birth, the medical record number deciding between namesakes), and a
        patient already linked to another of our clients is never taken.
        """
        request = input.request
        client = await self._in_clinic(request.dosespot_clinic_id)
        body = patient_body(request.details)
        with dosespot_errors_as_application_errors():
            patient_id = input.dosespot_patient_id or await self._find(client, input)
            if patient_id is None:
                patient_id = await client.add_patient(body)
                plan = request.details.insurance
                if plan is not None:
                    await client.add_patient_insurance(
                        patient_id,
                        PatientInsuranceCreate.for_plan(
                            plan.payer_name, plan.payer_id, plan.member_id, plan.group_id
                        ),
                    )
            else:
                await client.edit_patient(patient_id, body)
        return patient_id

    async def _find(self, client: DoseSpotClient, input: EnsurePatientInput) -> int | None:
        details = input.request.details
        found = await client.search_patients(
            details.first_name, details.last_name, details.date_of_birth
        )
        async with self._sessionmaker() as session:
            claimed = set(
                (
                    await session.scalars(
                        select(PatientRegistration.dosespot_patient_id).where(
                            PatientRegistration.dosespot_patient_id.is_not(None),
                            (PatientRegistration.workspace_id != input.workspace_id)
                            | (PatientRegistration.client_id != input.client_id),
                        )
                    )
                ).all()
            )
        mrn = details.medical_record_number
        for candidate in found:
            if candidate.patient_id in claimed:
                continue
            if candidate.date_of_birth != details.date_of_birth:
                continue
            theirs = getattr(candidate, "non_dosespot_medical_record_number", None)
            if mrn and theirs and theirs != mrn:
                continue
            activity.logger.info("found the DoseSpot patient an earlier attempt created")
            return int(candidate.patient_id)
        return None

    @activity.defn(name="sync_patient")
    async def sync_patient(self, input: SyncPatientInput) -> SyncSummary:
        """Pull the patient's medication record from DoseSpot into the read model."""
        client = await self._in_clinic(input.dosespot_clinic_id)
        today = datetime.now(UTC).date()
        with dosespot_errors_as_application_errors():
            prescriptions = await client.patient_prescriptions(
                input.dosespot_patient_id,
                today - timedelta(days=HISTORY_DAYS),
                today + timedelta(days=1),
            )
            self_reported = await client.self_reported_medications(input.dosespot_patient_id)
            refills = await client.pending_refills(patient_id=input.dosespot_patient_id)
            pharmacies = await client.patient_pharmacies(input.dosespot_patient_id)
        keys = {"workspace_id": input.workspace_id, "client_id": input.client_id}
        async with self._sessionmaker() as session:
            rows = [prescription_row(p, input.status_details) for p in prescriptions] + [
                self_reported_row(m) for m in self_reported
            ]
            # A pull is DoseSpot's current record: it replaces what an earlier pull stored.
            for row in rows:
                await upsert(session, PatientMedication, keys | row)
            await session.execute(
                delete(PatientRenewalRequest).where(
                    PatientRenewalRequest.workspace_id == input.workspace_id,
                    PatientRenewalRequest.client_id == input.client_id,
                )
            )
            names = {p.prescription_id: p.display_name for p in prescriptions}
            for refill in refills:
                await upsert(session, PatientRenewalRequest, keys | renewal_row(refill, names))
            await session.execute(
                delete(PatientPharmacy).where(
                    PatientPharmacy.workspace_id == input.workspace_id,
                    PatientPharmacy.client_id == input.client_id,
                )
            )
            for pharmacy in pharmacies:
                await upsert(session, PatientPharmacy, keys | pharmacy_row(pharmacy))
            await session.commit()
        await self._poll_counts(input, {p.prescriber_id for p in prescriptions})
        return SyncSummary(
            prescriptions=len(prescriptions),
            self_reported=len(self_reported),
            renewal_requests=len(refills),
            synced_at=datetime.now(UTC),
        )

    async def _poll_counts(self, input: SyncPatientInput, prescribers: set[int | None]) -> None:
        """The notification counts of the patient's prescribers, asked as each of them:
        the polling fallback for lost PrescriberNotificationCounts pushes."""
        for prescriber in sorted(p for p in prescribers if p is not None):
            try:
                client = await self._in_clinic(input.dosespot_clinic_id, prescriber)
                counts = await client.notification_counts()
            except DoseSpotError as err:
                activity.logger.warning(
                    "notification counts of clinician %s not read: %s",
                    prescriber,
                    type(err).__name__,
                )
                continue
            async with self._sessionmaker() as session:
                await record_counts(
                    session,
                    workspace_id=input.workspace_id,
                    clinician_id=prescriber,
                    clinic_id=input.dosespot_clinic_id,
                    pending_prescriptions=counts.pending_prescriptions_count,
                    transmission_errors=counts.transaction_errors_count,
                    refill_requests=counts.refill_requests_count,
                    change_requests=counts.pending_rx_change_count,
                    observed_at=datetime.now(UTC),
                    source="poll",
                )
                await session.commit()

    @activity.defn(name="record_patient")
    async def record_patient(self, snapshot: PatientSnapshot) -> None:
        """Bring the patient registration read model up to the workflow's state."""
        values: dict[str, Any] = snapshot.model_dump()
        async with self._sessionmaker() as session:
            await upsert(session, PatientRegistration, values)
            await session.commit()


def patient_body(details: PatientDetails) -> PatientCreate:
    height, weight = details.height, details.weight
    return PatientCreate(
        first_name=details.first_name,
        last_name=details.last_name,
        middle_name=details.middle_name,
        date_of_birth=details.date_of_birth,
        gender=details.sex.value,
        address1=details.address1,
        address2=details.address2,
        city=details.city,
        state=details.state,
        zip_code=details.zip_code,
        primary_phone=dosespot_phone(details.phone),
        primary_phone_type=details.phone_type,
        email=details.email,
        non_dosespot_medical_record_number=details.medical_record_number,
        height=height.value if height else None,
        height_metric=DOSESPOT_HEIGHT_METRIC[height.unit] if height else None,
        weight=weight.value if weight else None,
        weight_metric=DOSESPOT_WEIGHT_METRIC[weight.unit] if weight else None,
        active=True,
    )


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "name", value))


def _day(value: Any) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def prescription_row(p: Any, details: dict[int, str]) -> dict[str, Any]:
    status = _name(getattr(p, "status", None))
    medication_status = _name(getattr(p, "medication_status", None))
    inactive = (
        medication_status in INACTIVE_MEDICATION_STATUSES
        or status in INACTIVE_PRESCRIPTION_STATUSES
    )
    return {
        "kind": "prescription",
        "dosespot_id": int(p.prescription_id),
        "tab": "inactive" if inactive else "active",
        "display_name": p.display_name or "",
        "status": status,
        "medication_status": medication_status,
        "status_details": details.get(int(p.prescription_id)) if status == "Error" else None,
        "directions": getattr(p, "directions", None),
        "effective_date": _day(getattr(p, "effective_date", None)),
        "written_date": getattr(p, "written_date", None),
        "last_fill_date": _day(getattr(p, "last_fill_date", None)),
        "quantity": _text(getattr(p, "quantity", None)),
        "dispense_unit": _text(getattr(p, "dispense_unit_id", None)),
        "refills": _text(getattr(p, "refills", None)),
        "days_supply": getattr(p, "days_supply", None),
        "prescriber_clinician_id": getattr(p, "prescriber_id", None),
        "pharmacy_id": getattr(p, "pharmacy_id", None),
        "pharmacy_notes": getattr(p, "pharmacy_notes", None),
        # DoseSpot's schedule 0 means not controlled.
        "schedule": _text(getattr(p, "schedule", None) or None),
        "status_at": None,
    }


def self_reported_row(m: Any) -> dict[str, Any]:
    return {
        "kind": "self_reported",
        "dosespot_id": int(m.self_reported_medication_id),
        "tab": "self_reported",
        "display_name": m.display_name or "",
        "status": _name(getattr(m, "status", None)),
        "medication_status": _name(getattr(m, "status", None)),
        "directions": getattr(m, "directions", None),
        "effective_date": _day(getattr(m, "date_reported", None)),
        "status_at": None,
    }


def renewal_row(r: Any, names: dict[int, str | None]) -> dict[str, Any]:
    name = names.get(r.original_prescription_id) or names.get(r.requested_prescription_id)
    return {
        "dosespot_id": int(r.refill_id),
        "display_name": name or "Renewal request",
        "requested_at": getattr(r, "requested_date", None),
        "prescriber_clinician_id": getattr(r, "clinician_id", None),
        "pharmacy_id": getattr(r, "pharmacy_id", None),
    }


def pharmacy_row(p: Any) -> dict[str, Any]:
    address = ", ".join(
        part
        for part in (
            getattr(p, "address1", None),
            getattr(p, "city", None),
            getattr(p, "state", None),
        )
        if part
    )
    return {
        "pharmacy_id": int(p.pharmacy_id),
        "name": getattr(p, "store_name", None) or "",
        "address": address or None,
        "phone": getattr(p, "primary_phone", None),
        "is_default": bool(getattr(p, "is_default", False)),
        "services": ",".join(
            sorted(
                SERVICE_NAMES.get(name, name.lower())
                for name in pharmacy_services(getattr(p, "service_level", 0) or 0)
            )
        ),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
