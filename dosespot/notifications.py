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
from typing import Any

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

KNOWN_EVENTS: frozenset[str] = CLINICIAN_EVENTS | {
    "PrescriptionResult",
    "MedicationStatusUpdate",
    "SelfReportedMedicationStatusUpdate",
    "PharmacyStatusUpdate",
    "PatientStatusUpdate",
    "AllergyStatusUpdate",
    "PriorAuthorizationStatusUpdate",
}
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

    @property
    def known(self) -> bool:
        return self.event_type in KNOWN_EVENTS

    @property
    def concerns_clinician(self) -> bool:
        return self.event_type in CLINICIAN_EVENTS and self.clinician_id is not None


def parse_notification(body: Any) -> PushNotification:
    """Read a notification from its decoded JSON (or the raw bytes / text of it)."""
    event_type, data = _envelope(body)
    return PushNotification(
        event_type=event_type,
        clinician_id=_id(data, "ClinicianId"),
        clinic_id=_id(data, "ClinicId"),
        patient_id=_id(data, "PatientId"),
        prescription_id=_id(data, "PrescriptionId"),
        status=_status(data),
        data=data,
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


def _id(data: Mapping[str, Any], key: str) -> int | None:
    return _integer(_get(data, key))


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
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
