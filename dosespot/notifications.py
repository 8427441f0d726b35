"""DoseSpot push notifications, parsed leniently (pure, no I/O).

DoseSpot POSTs ``{"EventType": "...", "Data": {...}}``. Its own published examples
disagree with each other (``Status`` vs ``PharmacyStatus``, ids as strings, names in
varying case), so every read here forgives case and type differences. An event type we
do not know is kept as received rather than rejected: DoseSpot adds events over time and
a refused notification is one we can never see again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from dosespot.enums import DoseSpotEnum, MedicationStatus, PrescriptionStatus
from dosespot.errors import UnknownEnumValue

E = TypeVar("E", bound=DoseSpotEnum)

# Events whose Data names the clinician they concern; the clinician's enrollment
# workflow owns them.
CLINICIAN_EVENTS: frozenset[str] = frozenset(
    {
        "ClinicianConfirmed",
        "ClinicianIDPCompleteSuccess",
        "ClinicianTfaActivateSuccess",
        "ClinicianTfaDeactivateSuccess",
        "ClinicianLockedOut",
        "ClinicianPINReset",
        "PrescriberNotificationCounts",
    }
)

# Events whose Data names the patient they concern; the patient's workflow owns them.
PATIENT_EVENTS: frozenset[str] = frozenset(
    {
        "PrescriptionResult",
        "MedicationStatusUpdate",
        "SelfReportedMedicationStatusUpdate",
        "PharmacyStatusUpdate",
        "PatientStatusUpdate",
        "AllergyStatusUpdate",
    }
)

KNOWN_EVENTS: frozenset[str] = (
    CLINICIAN_EVENTS | PATIENT_EVENTS | {"PriorAuthorizationStatusUpdate"}
)
_CANONICAL = {name.casefold(): name for name in KNOWN_EVENTS}

# The status field goes by the entity's name in some examples and plain ``Status`` in others.
_STATUS_KEYS = (
    "Status",
    "PrescriptionStatus",
    "MedicationStatus",
    "PharmacyStatus",
    "PatientStatus",
    "AllergyStatus",
    "PriorAuthorizationStatus",
    "SelfReportedMedicationStatus",
)


@dataclass(frozen=True)
class PushCounts:
    """The queues of a PrescriberNotificationCounts push (the push's names, not REST's)."""

    pending_prescription_count: int = 0
    transmission_error_count: int = 0
    refill_request_count: int = 0
    change_request_count: int = 0

    @property
    def total(self) -> int:
        return (
            self.pending_prescription_count
            + self.transmission_error_count
            + self.refill_request_count
            + self.change_request_count
        )


class MalformedNotification(ValueError):
    """The body is not a DoseSpot notification at all (not JSON, no object, no EventType)."""


@dataclass(frozen=True)
class PushNotification:
    # The canonical name when the event is one we know, otherwise as DoseSpot sent it.
    event_type: str
    clinician_id: int | None = None
    clinic_id: int | None = None
    patient_id: int | None = None
    prescription_id: int | None = None
    # Integer when DoseSpot sent a number (or a numeric string), otherwise the name it sent.
    status: int | str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    agent_id: int | None = None
    self_reported_medication_id: int | None = None
    pharmacy_id: int | None = None
    # Read from PrescriptionResult and MedicationStatusUpdate when the value names a member;
    # ``status`` keeps what DoseSpot sent either way.
    prescription_status: PrescriptionStatus | None = None
    medication_status: MedicationStatus | None = None
    status_date_time: datetime | None = None
    # StatusDetails (free text; errors are spotted by their words) or RxFill's StatusNotes.
    status_details: str | None = None
    # PrescriberNotificationCounts: the clinician's queues at ClinicId, and across clinics.
    counts: PushCounts | None = None
    total_counts: PushCounts | None = None

    @property
    def known(self) -> bool:
        return self.event_type in KNOWN_EVENTS

    @property
    def concerns_clinician(self) -> bool:
        return self.event_type in CLINICIAN_EVENTS and self.clinician_id is not None

    @property
    def concerns_patient(self) -> bool:
        return self.event_type in PATIENT_EVENTS and self.patient_id is not None


def parse_notification(body: Any) -> PushNotification:
    """Read a notification from its decoded JSON (or the raw bytes / text of it)."""
    event_type, data = _envelope(body)
    status = _status(data)
    prescription_status = medication_status = None
    if event_type == "PrescriptionResult":
        prescription_status = _member(PrescriptionStatus, status)
    elif event_type == "MedicationStatusUpdate":
        medication_status = _member(MedicationStatus, status)
    counts = total = None
    if event_type == "PrescriberNotificationCounts":
        counts = _counts(data)
        raw_total = _get(data, "Total")
        total = _counts(raw_total) if isinstance(raw_total, Mapping) else None
    return PushNotification(
        event_type=event_type,
        clinician_id=_id(data, "ClinicianId"),
        clinic_id=_id(data, "ClinicId"),
        patient_id=_id(data, "PatientId"),
        prescription_id=_id(data, "PrescriptionId"),
        status=status,
        data=data,
        agent_id=_id(data, "AgentId"),
        self_reported_medication_id=_id(data, "SelfReportedMedicationId"),
        pharmacy_id=_id(data, "PharmacyId"),
        prescription_status=prescription_status,
        medication_status=medication_status,
        status_date_time=_timestamp(_get(data, "StatusDateTime")),
        status_details=_text(_get(data, "StatusDetails")) or _text(_get(data, "StatusNotes")),
        counts=counts,
        total_counts=total,
    )


# PrescriberNotificationCounts reports counts, not a status: a change of any count is news.
_COUNT_KEYS = (
    "PendingPrescriptionCount",
    "TransmissionErrorCount",
    "RefillRequestCount",
    "ChangeRequestCount",
)


def event_key(body: Any, secret: str) -> str:
    """The event's identity for de-duplication: HMAC-SHA256, keyed by ``secret``, of its
    canonical event type, the ids the parser reads from Data (clinician, clinic, patient,
    prescription), the status it reports and, for notification counts, the counts.

    Timestamps and free text are left out, so a redelivery matches its original; a later
    event with the same identity (two-factor activated again) matches too, and only the time
    it arrives tells it apart (api.routes.notifications). Keyed so that a stored key cannot
    be matched against guessed patient ids.

    Takes the body (as ``parse_notification`` does) or an already parsed notification.
    """
    notification = body if isinstance(body, PushNotification) else parse_notification(body)
    status = notification.status
    identity: dict[str, Any] = {
        "EventType": notification.event_type,
        "ClinicianId": notification.clinician_id,
        "ClinicId": notification.clinic_id,
        "PatientId": notification.patient_id,
        "PrescriptionId": notification.prescription_id,
        # Senders disagree on the casing of status names.
        "Status": status.casefold() if isinstance(status, str) else status,
    }
    if notification.event_type == "PrescriberNotificationCounts":
        identity.update({key: _id(notification.data, key) for key in _COUNT_KEYS})
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def _envelope(body: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(body, bytes | bytearray | str):
        try:
            body = json.loads(body)
        except ValueError as err:
            raise MalformedNotification("body is not JSON") from err
    if not isinstance(body, Mapping):
        raise MalformedNotification("body is not a JSON object")
    raw_type = _get(body, "EventType")
    if not isinstance(raw_type, str) or not raw_type.strip():
        raise MalformedNotification("EventType is missing")
    event_type = raw_type.strip()
    event_type = _CANONICAL.get(event_type.casefold(), event_type)
    data = _get(body, "Data")
    if isinstance(data, str):
        # Some senders double-encode the Data object as a JSON string.
        try:
            data = json.loads(data)
        except ValueError as err:
            raise MalformedNotification("Data is not a JSON object") from err
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise MalformedNotification("Data is not a JSON object")
    return event_type, dict(data)


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    if key in mapping:
        return mapping[key]
    folded = key.casefold()
    for name, value in mapping.items():
        if isinstance(name, str) and name.casefold() == folded:
            return value
    return None


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _id(data: Mapping[str, Any], key: str) -> int | None:
    return _integer(_get(data, key))


def _integer(value: Any) -> int | None:
    number = _any_integer(value)
    # DoseSpot's ids, statuses and counts are Int32: a larger number names nothing of DoseSpot's
    # (and would not fit the read model's columns).
    if number is None or not _INT32_MIN <= number <= _INT32_MAX:
        return None
    return number


def _any_integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        # isdigit and int() also take other scripts' digits: an id is ASCII 0-9.
        if text.isascii() and text.lstrip("+-").isdigit():
            return int(text)
    return None


def _status(data: Mapping[str, Any]) -> int | str | None:
    for key in _STATUS_KEYS:
        value = _get(data, key)
        if value is None:
            continue
        number = _integer(value)
        if number is not None:
            return number
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _member(enum_cls: type[E], value: int | str | None) -> E | None:
    if value is None:
        return None
    try:
        return enum_cls.parse(value)
    except UnknownEnumValue:
        return None


def _counts(data: Mapping[str, Any]) -> PushCounts:
    return PushCounts(
        pending_prescription_count=_id(data, "PendingPrescriptionCount") or 0,
        transmission_error_count=_id(data, "TransmissionErrorCount") or 0,
        refill_request_count=_id(data, "RefillRequestCount") or 0,
        change_request_count=_id(data, "ChangeRequestCount") or 0,
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
