"""Push notification parsing, with the shapes DoseSpot's supplement (v1.0.3) shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dosespot.enums import MedicationStatus, PrescriptionStatus
from dosespot.notifications import (
    CLINICIAN_EVENTS,
    PATIENT_EVENTS,
    MalformedNotification,
    PushCounts,
    PushNotification,
    event_key,
    parse_notification,
)

SECRET = "test-webhook-secret"

CLINICIAN_CONFIRMED: dict[str, Any] = {
    "EventType": "ClinicianConfirmed",
    "Data": {"ClinicianId": 123456},
}

IDP_COMPLETE: dict[str, Any] = {
    "EventType": "ClinicianIDPCompleteSuccess",
    "Data": {
        "ClinicianId": 123456,
        "ClinicianIDPCompleteDate": "2024-05-01T14:03:27.000",
        "IDPCompleteType": "Experian",
    },
}

LOCKED_OUT: dict[str, Any] = {
    "EventType": "ClinicianLockedOut",
    "Data": {
        "ClinicianId": "123456",
        "LockoutDateTime": "2024-05-01T14:03:27",
        "ErrorDetails": "Too many failed PIN attempts",
    },
}

NOTIFICATION_COUNTS: dict[str, Any] = {
    "EventType": "PrescriberNotificationCounts",
    "Data": {
        "ClinicianId": 123456,
        "ClinicId": 98765,
        "PendingPrescriptionCount": 1,
        "TransmissionErrorCount": 0,
        "RefillRequestCount": 2,
        "ChangeRequestCount": 0,
        "Total": {
            "PendingPrescriptionCount": 3,
            "TransmissionErrorCount": 1,
            "RefillRequestCount": 4,
            "ChangeRequestCount": 0,
        },
    },
}

# Numbers as strings and the status by name in odd casing, as in DoseSpot's own example.
PRESCRIPTION_RESULT: dict[str, Any] = {
    "EventType": "PrescriptionResult",
    "Data": {
        "PatientId": "55501",
        "ClinicId": "98765",
        "ClinicianId": "123456",
        "AgentId": None,
        "PrescriptionId": "7700123",
        "RelatedRxRequestQueueItemId": None,
        "PrescriptionStatus": "erxSent",
        "StatusDateTime": "2024-05-01T14:03:27",
        "StatusDetails": "",
    },
}

MEDICATION_STATUS: dict[str, Any] = {
    "EventType": "MedicationStatusUpdate",
    "Data": {
        "PatientId": 55501,
        "ClinicId": 98765,
        "ClinicianId": 123456,
        "PrescriptionId": 7700123,
        "MedicationStatus": 3,
        "StatusNotes": "Discontinued by prescriber",
    },
}

PHARMACY_STATUS_AS_STATUS: dict[str, Any] = {
    "EventType": "PharmacyStatusUpdate",
    "Data": {"PatientId": 55501, "ClinicId": 98765, "PrescriptionId": 7700123, "Status": "4"},
}
PHARMACY_STATUS_AS_PHARMACY_STATUS: dict[str, Any] = {
    "EventType": "PharmacyStatusUpdate",
    "Data": {"PatientId": 55501, "ClinicId": 98765, "PrescriptionId": 7700123, "PharmacyStatus": 4},
}


def test_clinician_confirmed() -> None:
    parsed = parse_notification(CLINICIAN_CONFIRMED)
    assert parsed == PushNotification(
        event_type="ClinicianConfirmed", clinician_id=123456, data={"ClinicianId": 123456}
    )
    assert parsed.known and parsed.concerns_clinician


def test_idp_complete_keeps_data_as_received() -> None:
    parsed = parse_notification(IDP_COMPLETE)
    assert parsed.event_type == "ClinicianIDPCompleteSuccess"
    assert parsed.clinician_id == 123456
    assert parsed.data == IDP_COMPLETE["Data"]


def test_clinician_id_as_string() -> None:
    parsed = parse_notification(LOCKED_OUT)
    assert parsed.clinician_id == 123456
    assert parsed.concerns_clinician


def test_notification_counts_name_clinician_and_clinic() -> None:
    parsed = parse_notification(NOTIFICATION_COUNTS)
    assert (parsed.clinician_id, parsed.clinic_id) == (123456, 98765)
    assert parsed.concerns_clinician
    assert parsed.data["Total"]["RefillRequestCount"] == 4


def test_prescription_result_with_numbers_as_strings() -> None:
    parsed = parse_notification(PRESCRIPTION_RESULT)
    assert parsed.patient_id == 55501
    assert parsed.clinic_id == 98765
    assert parsed.clinician_id == 123456
    assert parsed.prescription_id == 7700123
    assert parsed.status == "erxSent"
    # It names a clinician, but a patient's prescriptions are not the enrollment's business.
    assert not parsed.concerns_clinician


def test_medication_status_is_read_from_its_own_field() -> None:
    parsed = parse_notification(MEDICATION_STATUS)
    assert parsed.status == 3
    assert parsed.prescription_id == 7700123


def test_status_and_pharmacy_status_read_alike() -> None:
    a = parse_notification(PHARMACY_STATUS_AS_STATUS)
    b = parse_notification(PHARMACY_STATUS_AS_PHARMACY_STATUS)
    assert a.status == b.status == 4
    assert a.prescription_id == b.prescription_id == 7700123


@pytest.mark.parametrize(
    "spelling", ["clinicianconfirmed", "CLINICIANCONFIRMED", " ClinicianConfirmed "]
)
def test_event_type_in_any_case(spelling: str) -> None:
    parsed = parse_notification({"EventType": spelling, "Data": {"ClinicianId": 1}})
    assert parsed.event_type == "ClinicianConfirmed"


def test_keys_in_any_case() -> None:
    parsed = parse_notification({"eventType": "ClinicianPINReset", "data": {"clinicianID": 7}})
    assert parsed.event_type == "ClinicianPINReset"
    assert parsed.clinician_id == 7


def test_unknown_event_type_is_kept() -> None:
    parsed = parse_notification({"EventType": "ClinicianSomethingNew", "Data": {"ClinicianId": 9}})
    assert parsed.event_type == "ClinicianSomethingNew"
    assert parsed.clinician_id == 9
    assert not parsed.known
    assert not parsed.concerns_clinician


def test_raw_bytes_and_missing_data() -> None:
    parsed = parse_notification(b'{"EventType": "ClinicianTfaActivateSuccess"}')
    assert parsed.event_type == "ClinicianTfaActivateSuccess"
    assert parsed.data == {}
    assert parsed.clinician_id is None
    assert not parsed.concerns_clinician


def test_data_encoded_as_a_json_string() -> None:
    parsed = parse_notification({"EventType": "ClinicianConfirmed", "Data": '{"ClinicianId": 5}'})
    assert parsed.clinician_id == 5


@pytest.mark.parametrize("value", [True, "12a", 1.5, [], {"Id": 1}, ""])
def test_ids_that_are_not_integers_read_as_absent(value: Any) -> None:
    parsed = parse_notification({"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": value}})
    assert parsed.clinician_id is None


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        "",
        [],
        "[1, 2]",
        {"Data": {"ClinicianId": 1}},
        {"EventType": "", "Data": {}},
        {"EventType": 5, "Data": {}},
        {"EventType": "ClinicianConfirmed", "Data": [1]},
        {"EventType": "ClinicianConfirmed", "Data": "not json"},
    ],
)
def test_not_a_notification(body: Any) -> None:
    with pytest.raises(MalformedNotification):
        parse_notification(body)
    with pytest.raises(MalformedNotification):
        event_key(body, SECRET)


def test_event_key_ignores_key_order_whitespace_and_type_casing() -> None:
    reordered = json.dumps(
        {"Data": dict(reversed(list(NOTIFICATION_COUNTS["Data"].items()))), "EventType": "x"}
    ).replace('"x"', '"prescribernotificationcounts"')
    assert event_key(reordered.encode(), SECRET) == event_key(NOTIFICATION_COUNTS, SECRET)
    assert event_key(parse_notification(NOTIFICATION_COUNTS), SECRET) == event_key(
        NOTIFICATION_COUNTS, SECRET
    )


def test_event_key_tells_different_events_apart() -> None:
    keys = {
        event_key(CLINICIAN_CONFIRMED, SECRET),
        event_key({"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": 123457}}, SECRET),
        event_key(
            {"EventType": "ClinicianTfaActivateSuccess", "Data": {"ClinicianId": 123456}}, SECRET
        ),
        event_key(PHARMACY_STATUS_AS_STATUS, SECRET),
    }
    assert len(keys) == 4
    # The same event spelled two ways is one event.
    assert event_key(PHARMACY_STATUS_AS_STATUS, SECRET) == event_key(
        PHARMACY_STATUS_AS_PHARMACY_STATUS, SECRET
    )
    assert all(len(k) == 64 for k in keys)


def test_routable_events_are_the_clinician_events() -> None:
    assert {
        "ClinicianConfirmed",
        "ClinicianIDPCompleteSuccess",
        "ClinicianTfaActivateSuccess",
        "ClinicianTfaDeactivateSuccess",
        "ClinicianLockedOut",
        "ClinicianPINReset",
        "PrescriberNotificationCounts",
    } == CLINICIAN_EVENTS


# Patient-side events


def test_prescription_result_reads_the_status_as_a_prescription_status() -> None:
    parsed = parse_notification(PRESCRIPTION_RESULT)
    assert parsed.prescription_status is PrescriptionStatus.eRxSent
    assert parsed.medication_status is None
    assert parsed.status_date_time == datetime(2024, 5, 1, 14, 3, 27, tzinfo=UTC)
    assert parsed.status_details is None  # an empty StatusDetails
    assert parsed.concerns_patient


def test_pharmacy_verified_is_not_erx_sent() -> None:
    verified = {**PRESCRIPTION_RESULT["Data"], "PrescriptionStatus": 13, "AgentId": "77"}
    parsed = parse_notification({"EventType": "PrescriptionResult", "Data": verified})
    assert parsed.prescription_status is PrescriptionStatus.PharmacyVerified
    assert parsed.agent_id == 77
    assert event_key(parsed, SECRET) != event_key(PRESCRIPTION_RESULT, SECRET)


def test_a_prescription_error_keeps_its_details() -> None:
    data = {
        **PRESCRIPTION_RESULT["Data"],
        "PrescriptionStatus": "Error",
        "StatusDetails": " Pharmacy rejected: unknown patient ",
        "StatusDateTime": "2024-05-01T14:03:27.000-04:00",
    }
    parsed = parse_notification({"EventType": "PrescriptionResult", "Data": data})
    assert parsed.prescription_status is PrescriptionStatus.Error
    assert parsed.status_details == "Pharmacy rejected: unknown patient"
    assert parsed.status_date_time == datetime(2024, 5, 1, 18, 3, 27, tzinfo=UTC)


def test_an_unknown_status_is_kept_as_sent_but_names_no_member() -> None:
    data = {**PRESCRIPTION_RESULT["Data"], "PrescriptionStatus": "Teleported"}
    parsed = parse_notification({"EventType": "PrescriptionResult", "Data": data})
    assert parsed.status == "Teleported"
    assert parsed.prescription_status is None


def test_medication_status_update_reads_a_medication_status() -> None:
    parsed = parse_notification(MEDICATION_STATUS)
    assert parsed.medication_status is MedicationStatus.Discontinued
    assert parsed.prescription_status is None
    assert parsed.status_details == "Discontinued by prescriber"
    assert (parsed.patient_id, parsed.clinic_id, parsed.clinician_id) == (55501, 98765, 123456)
    assert parsed.concerns_patient


def test_self_reported_medication_update_names_the_medication() -> None:
    parsed = parse_notification(
        {
            "EventType": "SelfReportedMedicationStatusUpdate",
            "Data": {
                "PatientId": 55501,
                "SelfReportedMedicationId": "880",
                "Status": "Added",
                "StatusDateTime": "2024-05-01T14:03:27",
                "ClinicianId": 123456,
                "AgentId": None,
            },
        }
    )
    assert parsed.self_reported_medication_id == 880
    assert parsed.status == "Added"
    assert parsed.medication_status is None  # Added/Edited/Deleted is not a MedicationStatus
    assert parsed.concerns_patient and not parsed.concerns_clinician


@pytest.mark.parametrize(
    "body",
    [
        {"EventType": "PatientStatusUpdate", "Data": {"PatientId": 55501, "ClinicId": 98765}},
        {
            "EventType": "PatientStatusUpdate",
            "Data": {"PatientId": "55501", "SourceType": "SureScripts", "Status": "Added"},
        },
        PHARMACY_STATUS_AS_STATUS,
        {"EventType": "pharmacystatusupdate", "Data": {"patientid": 55501, "PharmacyId": 9001}},
    ],
)
def test_patient_and_pharmacy_updates_concern_the_patient(body: dict[str, Any]) -> None:
    parsed = parse_notification(body)
    assert parsed.patient_id == 55501
    assert parsed.concerns_patient


def test_a_patient_event_without_a_patient_concerns_nobody() -> None:
    parsed = parse_notification({"EventType": "PrescriptionResult", "Data": {"ClinicId": 1}})
    assert not parsed.concerns_patient and not parsed.concerns_clinician


def test_notification_counts_are_read_with_their_total() -> None:
    parsed = parse_notification(NOTIFICATION_COUNTS)
    assert parsed.counts == PushCounts(
        pending_prescription_count=1, refill_request_count=2, transmission_error_count=0
    )
    assert parsed.total_counts is not None and parsed.total_counts.total == 8
    sparse = parse_notification(
        {
            "EventType": "PrescriberNotificationCounts",
            "Data": {"ClinicianId": 1, "RefillRequestCount": "3", "Total": None},
        }
    )
    assert sparse.counts is not None and sparse.counts.total == 3
    assert sparse.total_counts is None
    assert parse_notification(CLINICIAN_CONFIRMED).counts is None


def test_patient_events_and_clinician_events_are_apart() -> None:
    assert {
        "PrescriptionResult",
        "MedicationStatusUpdate",
        "SelfReportedMedicationStatusUpdate",
        "PatientStatusUpdate",
        "PharmacyStatusUpdate",
    } <= PATIENT_EVENTS
    assert not PATIENT_EVENTS & CLINICIAN_EVENTS
