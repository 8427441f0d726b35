"""Prescriptions written through the API: saved in DoseSpot as pending, sent, followed.

DoseSpot has no idempotency keys, so every write looks before it writes: a save looks for
the prescription by our id (``NonDoseSpotPrescriptionId``) among the patient's before it
creates one, and a send reads the prescription first and sends only if DoseSpot has not
taken it yet. A retry after a timeout (DoseSpot took the send but its answer was lost) so
never sends twice.

Controlled substances and the prescriber's PIN and one-time code
----------------------------------------------------------------
The PIN and code must never be stored, logged or put into any workflow payload or history,
not even encrypted. So they never leave the API process that received them:

* the API keeps them in memory only (:class:`EpcsVault`), under a random one-time nonce with
  a short time to live;
* each API process runs a small Temporal worker of its own on a task queue of its own
  (``erx-epcs-<uuid>``) that hosts only :meth:`EpcsSigningActivities.send_epcs_prescription`;
* the send request tells the Prescription workflow that queue and the nonce (neither is a
  secret); the workflow schedules the activity there, and the activity takes the PIN and
  code out of memory (deleting them) and calls DoseSpot's ``sendEpcs`` with them.

If the API process ends before the activity runs, or a retry finds the nonce used or
expired, the codes are gone: the activity fails with ``SignatureRequired`` and the
prescription waits, visibly, to be signed again (never a silent retry with stale codes).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.dosespot_access import DoseSpotActivities
from activities.errors import dosespot_errors_as_application_errors
from activities.proxies import as_drafting_proxy
from db.models import ClinicianEnrollment
from db.models import Prescription as PrescriptionRow
from db.patients import PatientRegistration
from dosespot import DoseSpotClient
from dosespot.models import (
    CodedPrescriptionCreate,
    CompoundIngredientCreate,
    CompoundPrescriptionCreate,
    FreeTextSupplyPrescriptionCreate,
    PrescriptionCreate,
    PrescriptionDiagnosisIds,
    SupplyPrescriptionCreate,
)
from erx.codec import SecretBox
from workflows.failures import DomainFailure
from workflows.prescription_models import (
    SENDABLE_STATUSES,
    CancelInput,
    DoseSpotRefs,
    PrescriptionRef,
    PrescriptionSnapshot,
    SendInput,
    SendResult,
    StatusInput,
    StatusObservation,
)

EPCS_CODE_TTL_SECONDS = 120.0


class PrescriptionMissing(DomainFailure):
    """The draft, its patient's registration or its prescriber's enrollment is gone."""


class SignatureRequired(DomainFailure):
    """The PIN and one-time code of a controlled-substance send are no longer held."""


@dataclass
class _Held:
    pin: str = field(repr=False)
    otp: str = field(repr=False)
    expires: float


class EpcsVault:
    """The prescriber's PIN and one-time code, in this process's memory only, each pair
    under a random nonce, taken once, gone after ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float = EPCS_CODE_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._held: dict[str, _Held] = {}

    def __repr__(self) -> str:
        return f"EpcsVault({len(self._held)} held)"

    def put(self, pin: str, otp: str) -> str:
        self._expire()
        nonce = secrets.token_urlsafe(24)
        self._held[nonce] = _Held(pin, otp, time.monotonic() + self._ttl)
        return nonce

    def take(self, nonce: str) -> tuple[str, str] | None:
        self._expire()
        held = self._held.pop(nonce, None)
        return None if held is None else (held.pin, held.otp)

    def discard(self, nonce: str) -> None:
        self._held.pop(nonce, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for nonce in [n for n, h in self._held.items() if h.expires < now]:
            del self._held[nonce]


def prescription_body(row: PrescriptionRow) -> PrescriptionCreate:
    """The draft as DoseSpot's create request of its kind: a coded medication, a supply of
    the catalogue, a free-text supply, or a compiled compound."""
    details: dict[str, Any] = json.loads(row.details)
    effective = details.get("effective_date")
    ids: list[int] = details.get("diagnosis_ids") or []
    common: dict[str, Any] = {
        "quantity": float(details["dispense_quantity"]),
        "dispense_unit_id": int(details["dispense_unit_id"]),
        "refills": int(details["refills"]),
        "days_supply": details.get("days_supply"),
        "directions": details["directions"],
        "pharmacy_id": row.pharmacy_id,
        "pharmacy_notes": details.get("pharmacy_notes"),
        "no_substitutions": bool(details.get("no_substitutions")),
        "is_urgent": bool(details.get("urgent")),
        "effective_date": date.fromisoformat(effective) if effective else None,
        "non_dosespot_prescription_id": row.rx_id,
        "first_prescription_diagnosis": PrescriptionDiagnosisIds(
            primary_diagnosis_id=ids[0], secondary_diagnosis_id=ids[1] if len(ids) > 1 else None
        )
        if ids
        else None,
    }
    item: dict[str, Any] = details.get("item") or {
        "kind": "medication",
        "dispensable_drug_id": row.dispensable_drug_id,
    }
    if item["kind"] == "supply" and item.get("supply_id"):
        return SupplyPrescriptionCreate(supply_id=item["supply_id"], **common)
    if item["kind"] == "supply":
        return FreeTextSupplyPrescriptionCreate(display_name=item["name"], **common)
    if item["kind"] == "compound":
        return CompoundPrescriptionCreate(
            compound_description=item["description"],
            compound_ingredients=[
                CompoundIngredientCreate(
                    dispensable_drug_id=i.get("dispensable_drug_id"),
                    free_text=i.get("name"),
                    quantity=i["quantity"],
                    dispense_unit_id=i.get("dispense_unit_id"),
                )
                for i in item["ingredients"]
            ],
            **common,
        )
    return CodedPrescriptionCreate(dispensable_drug_id=item["dispensable_drug_id"], **common)


def _name(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "name", value))


class PrescriptionActivities(DoseSpotActivities):
    @activity.defn(name="save_prescription")
    async def save_prescription(self, ref: PrescriptionRef) -> DoseSpotRefs:
        """The prescription as a pending prescription in DoseSpot, written by its prescriber:
        found by our id if an earlier attempt wrote it, else created."""
        async with self._sessionmaker() as session:
            row = await session.get(PrescriptionRow, (ref.workspace_id, ref.rx_id))
            if row is None:
                raise PrescriptionMissing("the prescription draft is gone")
            patient = await session.get(PatientRegistration, (ref.workspace_id, row.client_id))
            enrollment = await session.get(
                ClinicianEnrollment, (ref.workspace_id, row.prescriber_member_id)
            )
        if patient is None or patient.dosespot_patient_id is None:
            raise PrescriptionMissing("the patient is not registered with DoseSpot")
        if patient.dosespot_clinic_id is None:
            raise PrescriptionMissing("the patient has no DoseSpot clinic")
        if enrollment is None or enrollment.dosespot_clinician_id is None:
            raise PrescriptionMissing("the prescriber is not registered with DoseSpot")
        refs = DoseSpotRefs(
            clinic_id=patient.dosespot_clinic_id,
            patient_id=patient.dosespot_patient_id,
            prescriber_id=enrollment.dosespot_clinician_id,
            prescription_id=row.dosespot_prescription_id or 0,
        )
        client, supervisor = await as_drafting_proxy(
            await self._in_clinic(refs.clinic_id, refs.prescriber_id),
            self._sessionmaker, ref.workspace_id, row.created_by, row.prescriber_member_id,
        )  # fmt: skip
        body = prescription_body(row).model_copy(update={"supervisor_id": supervisor})
        with dosespot_errors_as_application_errors():
            found = row.dosespot_prescription_id or await self._find(client, refs, ref.rx_id)
            if found is None:
                found = await client.add_prescription(refs.patient_id, body)
        async with self._sessionmaker() as session:
            stored = await session.get(PrescriptionRow, (ref.workspace_id, ref.rx_id))
            if stored is not None:
                stored.dosespot_prescription_id = found
                stored.dosespot_patient_id = refs.patient_id
                await session.commit()
        return refs.model_copy(update={"prescription_id": found})

    async def _find(self, client: DoseSpotClient, refs: DoseSpotRefs, rx_id: str) -> int | None:
        today = datetime.now(UTC).date()
        written = await client.patient_prescriptions(
            refs.patient_id, today - timedelta(days=2), today + timedelta(days=1)
        )
        for rx in written:
            if rx.non_dosespot_prescription_id == rx_id and _name(rx.status) != "Deleted":
                activity.logger.info("found the prescription an earlier attempt saved")
                return int(rx.prescription_id)
        return None

    @activity.defn(name="send_prescription")
    async def send_prescription(self, input: SendInput) -> SendResult:
        """Send as the prescriber, unless DoseSpot already took the prescription."""
        client = await self._in_clinic(input.refs.clinic_id, input.refs.prescriber_id)
        with dosespot_errors_as_application_errors():
            taken = await _already_taken(client, input.refs)
            if taken is not None:
                return taken
            (outcome,) = await client.send_prescriptions(
                input.refs.patient_id, [input.refs.prescription_id]
            )
        return SendResult(accepted=outcome.accepted, description=outcome.description)

    @activity.defn(name="prescription_status")
    async def prescription_status(self, input: StatusInput) -> StatusObservation:
        """DoseSpot's status of the prescription, with its error text if it failed."""
        refs = input.refs
        client = await self._in_clinic(refs.clinic_id, refs.prescriber_id)
        with dosespot_errors_as_application_errors():
            rx = await client.get_prescription(refs.patient_id, refs.prescription_id)
            status = _name(rx.status)
            details = None
            if status in {"Error", "EpcsError"}:
                for error in await client.transmission_errors():
                    if getattr(error, "prescription_id", None) == refs.prescription_id:
                        details = getattr(error, "error_details", None)
        return StatusObservation(status=status, details=details)

    @activity.defn(name="cancel_prescription")
    async def cancel_prescription(self, input: CancelInput) -> None:
        """Delete the pending prescription in DoseSpot (a deleted one stays deleted)."""
        refs = input.refs
        client = await self._in_clinic(refs.clinic_id, refs.prescriber_id)
        with dosespot_errors_as_application_errors():
            (outcome,) = await client.delete_prescriptions(refs.patient_id, [refs.prescription_id])
        if not outcome.accepted:
            raise DomainFailure(outcome.description or "DoseSpot refused to delete it")

    @activity.defn(name="record_prescription")
    async def record_prescription(self, snapshot: PrescriptionSnapshot) -> None:
        """Bring the read model up to the workflow's state (never back to an older one)."""
        async with self._sessionmaker() as session:
            row = await session.get(
                PrescriptionRow, (snapshot.workspace_id, snapshot.rx_id), with_for_update=True
            )
            if row is None or row.revision > snapshot.revision:
                return
            values = snapshot.model_dump(exclude={"workspace_id", "rx_id"})
            for name, value in values.items():
                if name in {"dosespot_prescription_id", "dosespot_patient_id"} and value is None:
                    continue
                setattr(row, name, value)
            await session.commit()


async def _already_taken(client: DoseSpotClient, refs: DoseSpotRefs) -> SendResult | None:
    """A send answered by DoseSpot's record: taken already (by an attempt whose answer was
    lost, or by the prescriber in DoseSpot's UI), or None when it still waits to be sent."""
    rx = await client.get_prescription(refs.patient_id, refs.prescription_id)
    status = _name(rx.status)
    if status in SENDABLE_STATUSES:
        return None
    activity.logger.info(
        "prescription %s is %s in DoseSpot: not sent again", refs.prescription_id, status
    )
    return SendResult(accepted=True, already_taken=True, status=status)


class EpcsSigningActivities(DoseSpotActivities):
    """Hosted by each API process on its own task queue, beside the vault holding the codes."""

    def __init__(
        self,
        dosespot: DoseSpotClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        admin_user_id: int,
        vault: EpcsVault,
    ) -> None:
        super().__init__(dosespot, sessionmaker, secrets, admin_user_id)
        self._vault = vault

    @activity.defn(name="send_epcs_prescription")
    async def send_epcs_prescription(self, input: SendInput) -> SendResult:
        """Sign and send a controlled substance with the PIN and code held under the nonce.

        DoseSpot's record is read first; the codes are taken out of memory only when a send
        is due, so a retry after a lost answer finds the prescription taken and stops.
        """
        client = await self._in_clinic(input.refs.clinic_id, input.refs.prescriber_id)
        with dosespot_errors_as_application_errors():
            taken = await _already_taken(client, input.refs)
            if taken is not None:
                if input.nonce:
                    self._vault.discard(input.nonce)
                return taken
        codes = self._vault.take(input.nonce) if input.nonce else None
        if codes is None:
            raise SignatureRequired("the PIN and one-time code are no longer held: sign again")
        pin, otp = codes
        with dosespot_errors_as_application_errors():
            (outcome,) = await client.send_epcs_prescriptions(
                input.refs.patient_id, [input.refs.prescription_id], pin=pin, otp=otp
            )
        return SendResult(accepted=outcome.accepted, description=outcome.description)


def epcs_task_queue(base: str) -> str:
    return f"{base}-epcs-{secrets.token_hex(8)}"
