"""Printing a prescription written through the API: the PDF, and DoseSpot's record of it.

Only a non-controlled prescription is printed (a controlled substance goes by EPCS, 409),
and only by whoever may send it: its prescriber's own key or the EHR's service key. A draft
is first saved in DoseSpot as pending (through its Prescription workflow, as ``save``
does), so DoseSpot holds every prescription that was printed. DoseSpot's record is read
before anything is marked: a prescription DoseSpot sent is not printed (409), one already
``Printed`` is printed again without recording a second print, anything else is marked
printed (``setPrinted``, as its prescriber) after the PDF is made.

What is printed comes from DoseSpot's record of the prescription (the medication,
directions, quantity, refills, dates), DoseSpot's record of the prescriber (name, NPI), the
practice location of the patient's clinic, and our client record (name, date of birth,
address). The PDF exists only in memory for the response; the logs name ids, never a fact.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api import prescription_service as svc
from api.auth import Principal
from api.dosespot_calls import PatientAccess, dosespot_errors, patient_access
from api.errors import Conflict, Unavailable
from api.patient_service import client_record
from api.prescription_pdf import Patient, Prescriber, PrintedPrescription, render_prescription_pdf
from db.models import Client as ClientRecord
from db.models import ClinicianEnrollment, ClinicRegistration, Location
from db.models import Prescription as PrescriptionRow
from dosespot import DoseSpotClient, DoseSpotCredentials
from dosespot.models import Clinician
from dosespot.models import Prescription as DoseSpotPrescription
from erx.settings import Settings

PRINTED = "Printed"
# DoseSpot's statuses from which a prescription may be printed: waiting for its prescriber,
# failed, or printed before (printed again, not recorded again).
PRINTABLE_STATUSES = frozenset(
    {"Entered", "Edited", "ReadyToSign", "PharmacySelect", "Error", "EpcsError", PRINTED}
)


def refuse_controlled(row: PrescriptionRow) -> None:
    if svc.is_controlled(row.schedule):
        raise Conflict(
            "a controlled substance is never printed: it is sent by EPCS",
            state=row.state,
            allowed_actions=svc.actions_of(row),
        )


async def in_dosespot(
    session: AsyncSession, temporal: Client, settings: Settings, row: PrescriptionRow
) -> PrescriptionRow:
    """The prescription saved in DoseSpot: a draft is saved as pending first."""
    if row.state == "cancelled":
        raise Conflict("the prescription was cancelled", state="cancelled", allowed_actions=[])
    if row.dosespot_prescription_id is not None:
        return row
    await svc.mark_started(session, row, "saving")
    result = await svc.save(temporal, settings, row)
    if result is None:
        raise Unavailable("DoseSpot is still saving the prescription; print it again shortly")
    saved = await svc.draft_row(session, row.workspace_id, row.client_id, row.rx_id)
    if saved.dosespot_prescription_id is None:
        raise Conflict(
            f"the prescription is {saved.state}, not saved in DoseSpot",
            state=saved.state,
            allowed_actions=svc.actions_of(saved),
        )
    return saved


async def _practice(
    session: AsyncSession, ws: str, clinic_id: int
) -> tuple[tuple[str, ...], str | None]:
    """The address lines and phone of the practice location behind a DoseSpot clinic."""
    registration = await session.scalar(
        select(ClinicRegistration).where(
            ClinicRegistration.workspace_id == ws,
            ClinicRegistration.dosespot_clinic_id == clinic_id,
        )
    )
    if registration is None:
        return (), None
    address = json.loads(registration.address_json)
    lines = [registration.clinic_name, address["street_address"]]
    if address.get("suburb"):
        lines.append(address["suburb"])
    lines.append(f"{address['city']}, {address['state']} {address['zip_code']}")
    location = await session.get(Location, (ws, registration.location_id))
    return tuple(lines), location.phone if location else None


def _name(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _patient(client: ClientRecord) -> Patient:
    address = [client.address1, client.address2] if client.address2 else [client.address1]
    return Patient(
        name=_name(client.first_name, client.middle_name, client.last_name),
        date_of_birth=client.date_of_birth,
        address_lines=(*address, f"{client.city}, {client.state} {client.zip_code}"),
    )


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def printable(
    rx: DoseSpotPrescription,
    row: PrescriptionRow,
    clinician: Clinician,
    practice: tuple[tuple[str, ...], str | None],
    client: ClientRecord,
) -> PrintedPrescription:
    """The facts to print: DoseSpot's record of the prescription and its prescriber."""
    details = json.loads(row.details)
    try:
        quantity = Decimal(rx.quantity or details["dispense_quantity"])
        refills = int(rx.refills if rx.refills not in (None, "") else details["refills"])
    except (InvalidOperation, ValueError) as err:
        raise Conflict("DoseSpot's record of the prescription cannot be printed") from err
    if clinician.npi_number is None:
        raise Conflict("DoseSpot holds no NPI for the prescriber")
    address_lines, phone = practice
    return PrintedPrescription(
        prescriber=Prescriber(
            name=_name(
                clinician.prefix,
                clinician.first_name,
                clinician.middle_name,
                clinician.last_name,
                clinician.suffix,
            ),
            npi=clinician.npi_number,
            address_lines=address_lines,
            phone=phone or clinician.primary_phone,
        ),
        patient=_patient(client),
        medication=rx.display_name or row.medication,
        directions=rx.directions or details["directions"],
        quantity=quantity,
        refills=refills,
        written=_day(rx.written_date) or datetime.now(UTC).date(),
        effective=_day(rx.effective_date),
        days_supply=rx.days_supply,
        dispense_as_written=bool(rx.no_substitutions),
        diagnosis_codes=tuple(details.get("diagnosis_codes") or ()),
        reference=rx.rx_reference_number,
    )


def _status(rx: DoseSpotPrescription) -> str | None:
    return None if rx.status is None else str(getattr(rx.status, "name", rx.status))


async def print_prescription(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    dosespot: DoseSpotClient,
    principal: Principal,
    ws: str,
    client_id: str,
    rx_id: str,
) -> bytes:
    """The prescription as a PDF, recorded in DoseSpot as printed (once)."""
    row = await svc.draft_row(session, ws, client_id, rx_id)
    refuse_controlled(row)
    svc.require_sender(principal, row.prescriber_member_id)
    row = await in_dosespot(session, temporal, settings, row)
    access: PatientAccess = await patient_access(session, settings, ws, client_id)
    client = await client_record(session, ws, client_id)
    enrollment = await session.get(ClinicianEnrollment, (ws, row.prescriber_member_id))
    if enrollment is None or enrollment.dosespot_clinician_id is None:
        raise Conflict("the prescriber is not registered with DoseSpot")
    practice = await _practice(session, ws, access.clinic.clinic_id)
    clinician_id, prescription_id = enrollment.dosespot_clinician_id, row.dosespot_prescription_id
    assert prescription_id is not None
    await session.commit()

    admin = access.clinic.client(dosespot, settings)
    as_prescriber = dosespot.as_user(
        DoseSpotCredentials(
            clinic_id=access.clinic.clinic_id, clinic_key=access.clinic.key, user_id=clinician_id
        )
    )
    with dosespot_errors("print prescription", ws):
        rx = await as_prescriber.get_prescription(access.patient_id, prescription_id)
        status = _status(rx)
        if status not in PRINTABLE_STATUSES:
            raise Conflict(
                f"the prescription is not printed: DoseSpot's status is {status}",
                state=row.state,
                dosespot_status=status,
                allowed_actions=svc.actions_of(row),
            )
        clinician = await admin.get_clinician(clinician_id)
        pdf = render_prescription_pdf(printable(rx, row, clinician, practice, client))
        if status != PRINTED:
            await as_prescriber.set_prescriptions_printed(access.patient_id, [prescription_id])
    if status != PRINTED:
        await _record_printed(session, temporal, ws, client_id, rx_id)
    return pdf


async def _record_printed(
    session: AsyncSession, temporal: Client, ws: str, client_id: str, rx_id: str
) -> None:
    """The read model shows the print at once, so a send or a cancel of a printed
    prescription is refused before it reaches the workflow; the workflow is told, and ends
    on paper."""
    row = await svc.draft_row(session, ws, client_id, rx_id)
    row.dosespot_status = PRINTED
    row.state = "printed"
    row.status_at = datetime.now(UTC)
    await session.commit()
    await svc.tell_printed(temporal, row)
