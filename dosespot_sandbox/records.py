"""The medication record: prescriptions moving through DoseSpot's statuses over time,
self-reported medications, pharmacies' refill requests, and the prescriber's queues.

A prescription sent from the embedded UI is ``Sending``; after
``prescription_sent_delay_seconds`` it is ``eRxSent`` and, after
``pharmacy_verified_delay_seconds`` more, ``PharmacyVerified`` (except at the pharmacies
that never confirm receipt, where it stays ``eRxSent``). At "Sandbox Pharmacy
Rejects" it goes ``eRxSent`` then ``Error`` (the pharmacy's rejection); at "Sandbox
Transmission Failure" it goes straight to ``Error``. Each step is stored with its due time,
so a restart with a state file finishes what was pending, and each pushes
``PrescriptionResult``. Queue changes (pending, errors, refill requests) push
``PrescriberNotificationCounts``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dosespot_sandbox.catalogue import (
    DISPENSE_UNITS,
    NEVER_VERIFY_PHARMACY_IDS,
    PHARMACIES,
    REJECTION_DETAIL,
    REJECTS_PHARMACY_ID,
    TRANSMISSION_FAILURE_DETAIL,
    TRANSMISSION_FAILURE_PHARMACY_ID,
)
from dosespot_sandbox.enums import MEDICATION_STATUS, PRESCRIPTION_STATUS, SERVICE_RX_FILL
from dosespot_sandbox.journey import timestamp

if TYPE_CHECKING:
    from dosespot_sandbox.runtime import Sandbox
    from dosespot_sandbox.state import Store

PRESCRIPTION_KIND = "prescription"
SELF_REPORTED_KIND = "self_reported_medication"
REFILL_KIND = "refill_request"

PRESCRIPTION_FIELDS = (
    "FirstPrescriptionDiagnosis",
    "SecondPrescriptionDiagnosis",
    "Refills",
    "PrescriptionId",
    "WrittenDate",
    "Directions",
    "Quantity",
    "DispenseUnitId",
    "DaysSupply",
    "PharmacyId",
    "PharmacyNotes",
    "NoSubstitutions",
    "EffectiveDate",
    "LastFillDate",
    "PrescriberId",
    "PrescriberAgentId",
    "RxReferenceNumber",
    "Status",
    "Formulary",
    "EligibilityId",
    "Type",
    "NonDoseSpotPrescriptionId",
    "ErrorIgnored",
    "SupplyId",
    "FreeTextType",
    "ClinicId",
    "SupervisorId",
    "IsUrgent",
    "IsRxRenewal",
    "RxRenewalNote",
    "Strength",
    "PatientMedicationId",
    "MedicationStatus",
    "Comment",
    "DateInactive",
    "Encounter",
    "DisplayName",
    "DispensableDrugId",
    "Schedule",
    "CompoundIngredients",
)
SELF_REPORTED_FIELDS = (
    "SelfReportedMedicationId",
    "DateReported",
    "DatePrescribed",
    "DisplayName",
    "DispenseUnitType",
    "DosageText",
    "Directions",
    "DaysSupply",
    "Dispense",
    "Quantity",
    "DispenseUnitTypeId",
    "Refills",
    "Comment",
    "Status",
    "DiscontinuedDate",
    "Schedule",
    "Encounter",
    "DispensableDrugID",
    "RoutedDoseformDrugID",
    "RoutedDoseFormDrugID",
    "OTC",
    "NDC",
    "DoseForm",
    "Route",
    "Strength",
)

# Waiting for the prescriber (signing, sending): the "pending prescriptions" queue.
PENDING_STATUSES = frozenset({"Entered", "Edited", "ReadyToSign", "EpcsSigned", "PharmacySelect"})
ERROR_STATUSES = frozenset({"Error", "EpcsError"})
INACTIVE_MEDICATION_STATUSES = frozenset(
    {"Inactive", "Discontinued", "Deleted", "Completed", "CancelRequested", "CancelPending",
     "Cancelled"}
)  # fmt: skip
# PrescriptionResult is pushed at these statuses only, MedicationStatusUpdate at these.
RESULT_STATUSES = frozenset({"eRxSent", "PharmacyVerified", "Printed", "Error", "EpcsError"})
MEDICATION_UPDATE_STATUSES = frozenset(
    {"Discontinued", "Deleted", "Completed", "Cancelled", "CancelDenied", "FullFill",
     "PartialFill", "NoFill"}
)  # fmt: skip
SENT_DETAIL = "Prescription sent"
VERIFIED_DETAIL = "Pharmacy verified receipt of the prescription"
FILLED_DETAIL = "Dispensed in full"


def status_class(doc: dict[str, Any]) -> str:
    """Active, Inactive or Pending, as ``statusClass`` filters."""
    if doc["Status"] in PENDING_STATUSES:
        return "Pending"
    if doc["MedicationStatus"] in INACTIVE_MEDICATION_STATUSES:
        return "Inactive"
    return "Active"


def render_prescription(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: doc[name] for name in PRESCRIPTION_FIELDS if name in doc}


def render_self_reported(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: doc[name] for name in SELF_REPORTED_FIELDS if name in doc}


def _expires_at(refill: dict[str, Any]) -> float:
    if "ExpiresAt" in refill:
        return float(refill["ExpiresAt"])
    stamp = datetime.fromisoformat(refill["RequestExpirationDate"]).replace(tzinfo=UTC)
    return stamp.timestamp()


def midnight(stamp: str) -> str:
    return f"{stamp[:10]}T00:00:00"


class MedicationRecords:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._due: dict[int, float] = {}
        # Pending refill requests by id -> when they expire.
        self._expiring: dict[int, float] = {}
        self.rebuild()

    @property
    def _store(self) -> Store:
        return self._sandbox.store

    def rebuild(self) -> None:
        self._due = {
            doc["PrescriptionId"]: doc["Steps"][0]["at"]
            for doc in self._store.all(PRESCRIPTION_KIND)
            if doc.get("Steps")
        }
        self._expiring = {
            doc["RefillId"]: _expires_at(doc)
            for doc in self._store.all(REFILL_KIND)
            if doc["State"] == "Pending"
        }

    # -- prescriptions ---------------------------------------------------------------

    def prescribe(
        self,
        patient: dict[str, Any],
        clinician_id: int,
        pharmacy_id: int,
        medication: dict[str, Any],
        item: dict[str, Any],
    ) -> dict[str, Any]:
        """Create one prescription as the clinician makes it in the embedded UI."""
        written = timestamp()
        rx_id = self._store.next_id()
        doc: dict[str, Any] = {
            "PrescriptionId": rx_id,
            "PatientId": patient["PatientId"],
            "ClinicId": patient["ClinicId"],
            "PrescriberId": clinician_id,
            "WrittenDate": written,
            "EffectiveDate": item.get("effective_date") or midnight(written),
            "Directions": item["directions"],
            "Quantity": item["quantity"],
            "DispenseUnitId": item["dispense_unit_id"],
            "Refills": str(item["refills"]),
            "PharmacyId": pharmacy_id,
            "NoSubstitutions": item["no_substitutions"],
            "Formulary": False,
            "ErrorIgnored": False,
            "IsUrgent": False,
            "IsRxRenewal": False,
            "DisplayName": medication.get("DisplayName") or medication["Name"],
            "MedicationStatus": "Active",
            "PatientMedicationId": self._store.next_id(),
            "RxReferenceNumber": f"SBX{rx_id:08d}",
            "Steps": [],
        }
        if item.get("days_supply") is not None:
            doc["DaysSupply"] = item["days_supply"]
        if item.get("pharmacy_notes"):
            doc["PharmacyNotes"] = item["pharmacy_notes"]
        if "SupplyId" in medication:
            doc.update(Type="Supply", SupplyId=medication["SupplyId"])
        elif "DispensableDrugId" not in medication:
            doc.update(
                {k: medication[k] for k in ("Type", "FreeTextType", "Schedule",
                                            "CompoundIngredients") if k in medication}
            )  # fmt: skip
        else:
            doc.update(
                Type="Coded",
                DispensableDrugId=medication["DispensableDrugId"],
                Strength=medication["Strength"],
                Schedule=medication["Schedule"],
            )
        doc["Status"] = "Entered"
        if item["send"]:
            self._schedule_transmission(doc)
        self._store.put(PRESCRIPTION_KIND, rx_id, doc)
        return doc

    def send(self, doc: dict[str, Any]) -> None:
        """The clinician sends a pending prescription: it leaves the pending queue."""
        self._schedule_transmission(doc)
        self._store.put(PRESCRIPTION_KIND, doc["PrescriptionId"], doc)
        self.push_counts(doc["PrescriberId"], doc["ClinicId"])

    def _schedule_transmission(self, doc: dict[str, Any]) -> None:
        """``Sending`` now, then the pharmacy's steps, each after its delay."""
        config = self._sandbox.config
        pharmacy_id = doc["PharmacyId"]
        sent_at = time.time() + config.prescription_sent_delay_seconds
        verified_at = sent_at + config.pharmacy_verified_delay_seconds
        if pharmacy_id == TRANSMISSION_FAILURE_PHARMACY_ID:
            steps = [(sent_at, "Error", TRANSMISSION_FAILURE_DETAIL)]
        elif pharmacy_id == REJECTS_PHARMACY_ID:
            steps = [(sent_at, "eRxSent", SENT_DETAIL), (verified_at, "Error", REJECTION_DETAIL)]
        elif pharmacy_id in NEVER_VERIFY_PHARMACY_IDS:
            steps = [(sent_at, "eRxSent", SENT_DETAIL)]
        else:
            steps = [
                (sent_at, "eRxSent", SENT_DETAIL),
                (verified_at, "PharmacyVerified", VERIFIED_DETAIL),
            ]
        doc["Status"] = "Sending"
        doc["Steps"] = [{"at": at, "Status": s, "Details": d} for at, s, d in steps]
        fill_delay = config.pharmacy_fill_delay_seconds
        pharmacy = PHARMACIES.get(pharmacy_id, {})
        if (
            fill_delay is not None
            and steps[-1][1] == "PharmacyVerified"
            and pharmacy.get("ServiceLevel", 0) & SERVICE_RX_FILL
        ):
            # The pharmacy reports the fill (RxFill): the medication status moves on.
            doc["Steps"].append(
                {
                    "at": verified_at + fill_delay,
                    "MedicationStatus": "FullFill",
                    "Details": FILLED_DETAIL,
                }
            )
        self._due[doc["PrescriptionId"]] = doc["Steps"][0]["at"]

    def advance(self) -> None:
        now = time.time()
        for rx_id, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due <= now:
                self.step(rx_id, until=now)
        for refill_id, expires in sorted(self._expiring.items(), key=lambda item: item[1]):
            if expires <= now:
                refill = self._store.get(REFILL_KIND, refill_id)
                if refill is not None:
                    self.close_refill_request(refill, "Expired")
                self._expiring.pop(refill_id, None)

    def step(self, rx_id: int, until: float | None = None) -> bool:
        """Apply the prescription's due steps (every one due by ``until``, or just the next
        one now); False when nothing was pending."""
        doc = self._store.get(PRESCRIPTION_KIND, rx_id)
        self._due.pop(rx_id, None)
        if doc is None or not doc.get("Steps"):
            return False
        while doc["Steps"] and (until is None or doc["Steps"][0]["at"] <= until):
            step = doc["Steps"].pop(0)
            if "MedicationStatus" in step:
                self._set_medication_status(
                    doc, step["MedicationStatus"], doc["PrescriberId"], notes=step["Details"]
                )
            else:
                self._set_status(doc, step["Status"], step["Details"])
            if until is None:
                break
        if doc["Steps"]:
            self._due[rx_id] = doc["Steps"][0]["at"]
        self._store.put(PRESCRIPTION_KIND, rx_id, doc)
        if doc["Status"] in ERROR_STATUSES:
            self.push_counts(doc["PrescriberId"], doc["ClinicId"])
        return True

    def _set_status(self, doc: dict[str, Any], status: str, details: str) -> None:
        doc["Status"] = status
        doc["StatusDetails"] = details
        doc["StatusDateTime"] = timestamp(milliseconds=True)
        if status in ERROR_STATUSES:
            doc["ErrorAt"] = timestamp()
            # An error ends the rest of the transmission.
            doc["Steps"] = []
        if status in RESULT_STATUSES:
            self._sandbox.notifier.emit(
                "PrescriptionResult",
                {
                    "PatientId": doc["PatientId"],
                    "ClinicId": doc["ClinicId"],
                    "ClinicianId": doc["PrescriberId"],
                    "AgentId": doc.get("PrescriberAgentId"),
                    "PrescriptionId": doc["PrescriptionId"],
                    "RelatedRxRequestQueueItemId": doc.get("RefillId"),
                    "PrescriptionStatus": PRESCRIPTION_STATUS.values[status],
                    "StatusDateTime": doc["StatusDateTime"],
                    "StatusDetails": details,
                },
            )

    def set_medication_status(
        self,
        doc: dict[str, Any],
        status: str,
        clinician_id: int,
        *,
        comment: str | None = None,
        inactive_date: str | None = None,
        notes: str = "",
    ) -> None:
        self._set_medication_status(
            doc, status, clinician_id, comment=comment, inactive_date=inactive_date, notes=notes
        )
        self._store.put(PRESCRIPTION_KIND, doc["PrescriptionId"], doc)

    def _set_medication_status(
        self,
        doc: dict[str, Any],
        status: str,
        clinician_id: int,
        *,
        comment: str | None = None,
        inactive_date: str | None = None,
        notes: str = "",
    ) -> None:
        doc["MedicationStatus"] = status
        if comment:
            doc["Comment"] = comment
        if status in INACTIVE_MEDICATION_STATUSES:
            doc["DateInactive"] = inactive_date or timestamp()
        else:
            doc.pop("DateInactive", None)
        if status in {"FullFill", "PartialFill"}:
            doc["LastFillDate"] = midnight(timestamp())
        if status in MEDICATION_UPDATE_STATUSES:
            self._sandbox.notifier.emit(
                "MedicationStatusUpdate",
                {
                    "PatientId": doc["PatientId"],
                    "ClinicId": doc["ClinicId"],
                    "ClinicianId": clinician_id,
                    "AgentId": doc.get("PrescriberAgentId"),
                    "PrescriptionId": doc["PrescriptionId"],
                    "RelatedRxChangeQueueItemId": None,
                    "MedicationStatus": MEDICATION_STATUS.values[status],
                    "StatusDateTime": timestamp(milliseconds=True),
                    "StatusNotes": notes or comment or "",
                },
            )

    def ignore_error(self, doc: dict[str, Any], comment: str | None) -> None:
        """The error leaves the prescriber's transmission-error queue."""
        doc["ErrorIgnored"] = True
        if comment:
            doc["Comment"] = comment
        self._store.put(PRESCRIPTION_KIND, doc["PrescriptionId"], doc)
        self.push_counts(doc["PrescriberId"], doc["ClinicId"])

    def prescriptions_of(self, patient_id: int) -> list[dict[str, Any]]:
        return sorted(
            (d for d in self._store.all(PRESCRIPTION_KIND) if d["PatientId"] == patient_id),
            key=lambda d: (d["WrittenDate"], d["PrescriptionId"]),
        )

    # -- the prescriber's queues -------------------------------------------------------

    def counts(self, clinician_id: int, clinic_id: int | None) -> dict[str, int]:
        """The four queues of one clinician, in one clinic or (None) across all."""
        pending = errors = 0
        for doc in self._store.all(PRESCRIPTION_KIND):
            if doc["PrescriberId"] != clinician_id or doc.get("Hidden"):
                continue
            if clinic_id is not None and doc["ClinicId"] != clinic_id:
                continue
            pending += doc["Status"] in PENDING_STATUSES
            errors += doc["Status"] in ERROR_STATUSES and not doc.get("ErrorIgnored")
        refills = sum(
            1
            for doc in self.pending_refills()
            if doc["ClinicianId"] == clinician_id
            and (clinic_id is None or doc["ClinicId"] == clinic_id)
        )
        return {"pending": pending, "errors": errors, "refills": refills, "changes": 0}

    def push_counts(self, clinician_id: int, clinic_id: int) -> None:
        def push_names(counts: dict[str, int]) -> dict[str, int]:
            return {
                "PendingPrescriptionCount": counts["pending"],
                "TransmissionErrorCount": counts["errors"],
                "RefillRequestCount": counts["refills"],
                "ChangeRequestCount": counts["changes"],
            }

        self._sandbox.notifier.emit(
            "PrescriberNotificationCounts",
            {
                "ClinicianId": clinician_id,
                "ClinicId": clinic_id,
                **push_names(self.counts(clinician_id, clinic_id)),
                "Total": push_names(self.counts(clinician_id, None)),
            },
        )

    # -- self-reported medications -----------------------------------------------------

    def add_self_reported(
        self,
        patient: dict[str, Any],
        fields: dict[str, Any],
        medication: dict[str, Any] | None,
        clinician_id: int,
    ) -> dict[str, Any]:
        srm_id = self._store.next_id()
        doc = self._self_reported_doc(srm_id, patient, fields, medication)
        self._store.put(SELF_REPORTED_KIND, srm_id, doc)
        self._self_reported_event(doc, "Added", clinician_id)
        return doc

    def _self_reported_doc(
        self,
        srm_id: int,
        patient: dict[str, Any],
        fields: dict[str, Any],
        medication: dict[str, Any] | None,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "SelfReportedMedicationId": srm_id,
            "PatientId": patient["PatientId"],
            "ClinicId": patient["ClinicId"],
            "DateReported": timestamp(),
            "Status": fields["Status"],
        }
        if medication is not None:
            doc.update(
                DisplayName=medication["DisplayName"],
                DispensableDrugID=medication["DispensableDrugId"],
                RoutedDoseFormDrugID=medication["RoutedDoseFormDrugId"],
                RoutedDoseformDrugID=medication["RoutedDoseFormDrugId"],
                OTC=medication["OTC"],
                NDC=medication["NDC"],
                DoseForm=medication["DoseForm"],
                Route=medication["Route"],
                Strength=medication["Strength"],
                Schedule=medication["Schedule"],
            )
        else:
            doc["DisplayName"] = fields["DisplayName"]
        copied = {
            "Directions": "Directions",
            "DaysSupply": "DaysSupply",
            "Refills": "Refills",
            "Comment": "Comment",
            "Encounter": "Encounter",
            "WrittenDate": "DatePrescribed",
        }
        for source, target in copied.items():
            if source in fields:
                doc[target] = fields[source]
        if "Quantity" in fields:
            quantity = fields["Quantity"]
            doc["Quantity"] = f"{quantity:g}" if isinstance(quantity, float) else str(quantity)
            doc["Dispense"] = doc["Quantity"]
        unit = DISPENSE_UNITS.get(fields.get("DispenseUnitId", 0))
        if unit is not None:
            doc.update(DispenseUnitTypeId=unit["StandardDispenseUnitTypeID"])
            doc["DispenseUnitType"] = unit["Name"]
        if doc["Status"] in INACTIVE_MEDICATION_STATUSES:
            doc["DiscontinuedDate"] = fields.get("InactiveDate") or timestamp()
        return doc

    def replace_self_reported(
        self,
        doc: dict[str, Any],
        fields: dict[str, Any],
        medication: dict[str, Any] | None,
        clinician_id: int,
    ) -> None:
        """An edit: the request's members replace the stored ones (the id and date stay)."""
        patient = {"PatientId": doc["PatientId"], "ClinicId": doc["ClinicId"]}
        srm_id, reported = doc["SelfReportedMedicationId"], doc["DateReported"]
        doc.clear()
        doc.update(self._self_reported_doc(srm_id, patient, fields, medication))
        doc["DateReported"] = reported
        self._store.put(SELF_REPORTED_KIND, srm_id, doc)
        self._self_reported_event(doc, "Edited", clinician_id)

    def update_self_reported(
        self, doc: dict[str, Any], fields: dict[str, Any], clinician_id: int
    ) -> None:
        doc["Status"] = fields["Status"]
        for name in ("Comment", "Encounter"):
            if name in fields:
                doc[name] = fields[name]
        if doc["Status"] in INACTIVE_MEDICATION_STATUSES:
            doc["DiscontinuedDate"] = fields.get("InactiveDate") or timestamp()
        else:
            doc.pop("DiscontinuedDate", None)
        self._store.put(SELF_REPORTED_KIND, doc["SelfReportedMedicationId"], doc)
        self._self_reported_event(
            doc, "Deleted" if doc["Status"] == "Deleted" else "Edited", clinician_id
        )

    def _self_reported_event(self, doc: dict[str, Any], status: str, clinician_id: int) -> None:
        self._sandbox.notifier.emit(
            "SelfReportedMedicationStatusUpdate",
            {
                "PatientId": doc["PatientId"],
                "ClinicId": doc["ClinicId"],
                "ClinicianId": clinician_id,
                "AgentId": None,
                "SelfReportedMedicationId": doc["SelfReportedMedicationId"],
                "Status": status,
                "StatusDateTime": timestamp(milliseconds=True),
            },
        )

    def self_reported_of(self, patient_id: int) -> list[dict[str, Any]]:
        return sorted(
            (d for d in self._store.all(SELF_REPORTED_KIND) if d["PatientId"] == patient_id),
            key=lambda d: (d["DateReported"], d["SelfReportedMedicationId"]),
        )

    # -- refill requests ---------------------------------------------------------------

    def add_refill_request(
        self,
        patient: dict[str, Any],
        clinician_id: int,
        pharmacy_id: int,
        medication: dict[str, Any],
        item: dict[str, Any],
        original: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A pharmacy asks the clinician to renew: the request and the prescription it
        proposes (``Requested``, listed only when asked for by that status)."""
        refill_id = self._store.next_id()
        requested = self.prescribe(
            patient, clinician_id, pharmacy_id, medication, {**item, "send": False}
        )
        requested.update(Status="Requested", MedicationStatus="Unknown", Hidden=True)
        requested.update(RefillId=refill_id, IsRxRenewal=True)
        self._store.put(PRESCRIPTION_KIND, requested["PrescriptionId"], requested)
        now = datetime.now(UTC)
        lifetime = timedelta(days=self._sandbox.config.refill_request_lifetime_days)
        expires = now + lifetime
        doc: dict[str, Any] = {
            "RefillId": refill_id,
            "NewPatient": False,
            "PatientId": patient["PatientId"],
            "ClinicId": patient["ClinicId"],
            "ClinicianId": clinician_id,
            "RequestedPrescriptionId": requested["PrescriptionId"],
            "PharmacyId": pharmacy_id,
            "RequestedDate": now.strftime("%Y-%m-%dT%H:%M:%S"),
            "RequestExpirationDate": expires.strftime("%Y-%m-%dT%H:%M:%S"),
            "ExpiresAt": expires.timestamp(),
            "State": "Pending",
        }
        if original is not None:
            doc["OriginalPrescriptionId"] = original["PrescriptionId"]
        self._store.put(REFILL_KIND, refill_id, doc)
        self._expiring[refill_id] = doc["ExpiresAt"]
        self.push_counts(clinician_id, patient["ClinicId"])
        return doc

    def close_refill_request(self, doc: dict[str, Any], state: str) -> None:
        """The request leaves the queue: ``Resolved`` by the clinician, or ``Expired``."""
        doc["State"] = state
        self._store.put(REFILL_KIND, doc["RefillId"], doc)
        self._expiring.pop(doc["RefillId"], None)
        self.push_counts(doc["ClinicianId"], doc["ClinicId"])

    def pending_refills(self) -> list[dict[str, Any]]:
        return sorted(
            (d for d in self._store.all(REFILL_KIND) if d["State"] == "Pending"),
            key=lambda d: d["RefillId"],
        )
