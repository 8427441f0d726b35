"""The identity of a DoseSpot push notification (dosespot.notifications.event_key)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from dosespot.notifications import MalformedNotification, event_key, parse_notification

SECRET = "test-webhook-secret"


def prescription_result(**data: Any) -> dict[str, Any]:
    return {
        "EventType": "PrescriptionResult",
        "Data": {
            "PatientId": 55501,
            "ClinicId": 98765,
            "ClinicianId": 123456,
            "PrescriptionId": 7700123,
            "PrescriptionStatus": "eRxSent",
            "StatusDateTime": "2024-05-01T14:03:27",
            "StatusDetails": "Sent",
            **data,
        },
    }


def counts(pending: int, refills: int = 0) -> dict[str, Any]:
    return {
        "EventType": "PrescriberNotificationCounts",
        "Data": {
            "ClinicianId": 123456,
            "ClinicId": 98765,
            "PendingPrescriptionCount": pending,
            "TransmissionErrorCount": 0,
            "RefillRequestCount": refills,
            "ChangeRequestCount": 0,
            "Total": {"PendingPrescriptionCount": pending},
        },
    }


def test_the_key_is_an_hmac_of_type_ids_and_status_keyed_by_the_secret() -> None:
    canonical = json.dumps(
        {
            "EventType": "ClinicianConfirmed",
            "ClinicianId": 123456,
            "ClinicId": None,
            "PatientId": None,
            "PrescriptionId": None,
            "Status": None,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    body = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": 123456}}
    expected = hmac.new(SECRET.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    assert event_key(body, SECRET) == expected
    assert event_key(body, "another secret") != expected
    assert event_key(body, SECRET) != hashlib.sha256(canonical.encode()).hexdigest()
    assert "123456" not in event_key(body, SECRET)


@pytest.mark.parametrize(
    "copy",
    [
        # Redelivered with a new timestamp or text: still the same event.
        prescription_result(StatusDateTime="2024-05-01T14:05:00", StatusDetails="Sent again"),
        # Ids as strings, the status in another case, key names in another case.
        {
            "eventtype": "prescriptionresult",
            "data": {
                "patientid": "55501",
                "ClinicID": " 98765 ",
                "ClinicianId": "123456",
                "PrescriptionId": 7700123.0,
                "PrescriptionStatus": "erxSent",
            },
        },
        json.dumps(prescription_result()).encode(),
    ],
)
def test_copies_of_one_event_share_its_identity(copy: Any) -> None:
    original = prescription_result()
    assert event_key(copy, SECRET) == event_key(original, SECRET)
    assert event_key(parse_notification(copy), SECRET) == event_key(original, SECRET)


@pytest.mark.parametrize(
    "other",
    [
        {"EventType": "MedicationStatusUpdate", "Data": prescription_result()["Data"]},
        prescription_result(PatientId=55502),
        prescription_result(ClinicId=98766),
        prescription_result(ClinicianId=123457),
        prescription_result(PrescriptionId=7700124),
        prescription_result(PrescriptionStatus="Error"),
    ],
)
def test_another_type_id_or_status_is_another_event(other: dict[str, Any]) -> None:
    assert event_key(other, SECRET) != event_key(prescription_result(), SECRET)


def test_the_status_field_may_go_by_either_name() -> None:
    as_status = {"EventType": "PharmacyStatusUpdate", "Data": {"PrescriptionId": 1, "Status": "4"}}
    as_pharmacy_status = {
        "EventType": "PharmacyStatusUpdate",
        "Data": {"PrescriptionId": 1, "PharmacyStatus": 4},
    }
    assert event_key(as_status, SECRET) == event_key(as_pharmacy_status, SECRET)


def test_new_counts_are_a_new_event_and_the_same_counts_the_same() -> None:
    assert event_key(counts(1), SECRET) != event_key(counts(2), SECRET)
    assert event_key(counts(1), SECRET) != event_key(counts(1, refills=1), SECRET)
    assert event_key(counts(1), SECRET) == event_key(counts(1), SECRET)


def test_clinician_events_are_told_apart_by_type_and_clinician() -> None:
    keys = {
        event_key({"EventType": kind, "Data": {"ClinicianId": clinician}}, SECRET)
        for kind in ("ClinicianConfirmed", "ClinicianTfaActivateSuccess", "ClinicianPINReset")
        for clinician in (123456, 123457)
    }
    assert len(keys) == 6
    assert all(len(k) == 64 for k in keys)


@pytest.mark.parametrize("body", [b"{not json", b"[]", {"Data": {"ClinicianId": 1}}])
def test_not_a_notification_has_no_identity(body: Any) -> None:
    with pytest.raises(MalformedNotification):
        event_key(body, SECRET)
