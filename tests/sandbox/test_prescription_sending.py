"""Prescriptions written through the API: pending coded prescriptions, edits, deletes,
``send`` and ``sendEpcs`` with the prescriber's PIN and one-time code, the status
progression per pharmacy and the pushes that follow. Every request and answer is checked
against DoseSpot's published Swagger."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dosespot_sandbox import SandboxConfig, prescriptions
from dosespot_sandbox.prescriptions import (
    CONTROLLED_NEEDS_EPCS,
    NO_EPCS_PERMISSION,
    NOT_PENDING,
    NOT_PRESCRIBER,
    REFILLS_RANGE,
    WRONG_OTP,
    WRONG_PIN,
)
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import load_swagger, validate_request, validate_response
from tests.sandbox import (
    CONFIG,
    Receiver,
    api,
    clinician_body,
    create_patient,
    get_token,
    partner_api,
    post_valid,
    wait_for_status,
)

AMOXICILLIN = 4001
OXYCODONE = 4020
CVS = 7901
REJECTS = 7998
TRANSMISSION_FAILURE = 7999


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = SandboxConfig(
        default_confirmation_delay_seconds=0,
        prescription_sent_delay_seconds=0.1,
        pharmacy_verified_delay_seconds=0.2,
    )
    with sandbox_server(config) as url:
        yield url


@pytest.fixture(scope="module")
def partner(base_url: str) -> Iterator[httpx.Client]:
    with partner_api(base_url) as client:
        yield client


def control(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{base_url}/_sandbox/{path}", **kwargs)
    assert response.is_success, response.text
    return response.json()


@pytest.fixture(scope="module")
def epcs_prescriber(base_url: str, partner: httpx.Client) -> int:
    """A prescriber with two-factor active and a signing PIN of 2468."""
    body = clinician_body()
    control(
        base_url,
        "PUT",
        f"scenarios/clinicians/{body['NPINumber']}",
        json={"attempt_delay_seconds": 0, "tfa_delay_seconds": 0},
    )
    clinician_id: int = post_valid(partner, "api/clinicians", body).json()["Id"]
    wait_for_status(partner, clinician_id, "RegistrationSuccess")
    partner.post(f"api/clinicians/{clinician_id}/idpInit").raise_for_status()
    wait_for_status(partner, clinician_id, "IDPSuccess")
    partner.post(
        f"api/clinicians/{clinician_id}/initTfaActivate", json={"TfaTypeId": "Mobile"}
    ).raise_for_status()
    wait_for_status(partner, clinician_id, "TFAActivatedSuccess")
    control(base_url, "PUT", f"clinicians/{clinician_id}/epcs-pin", json={"pin": "2468"})
    return clinician_id


@pytest.fixture(scope="module")
def doctor(base_url: str, epcs_prescriber: int) -> Iterator[httpx.Client]:
    token = get_token(
        base_url, CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, epcs_prescriber
    )
    with api(base_url, token) as client:
        yield client


@pytest.fixture
def patient(doctor: httpx.Client) -> int:
    patient_id = create_patient(doctor)
    post_valid(
        doctor, f"api/patients/{patient_id}/pharmacies", {"PharmacyId": CVS, "SetAsPrimary": True}
    )
    return patient_id


def call(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    if body is not None:
        validate_request(method, "/" + path, body)
    response = client.request(method, path, json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    validate_response(method, "/" + path, payload)
    return payload


def coded(drug: int = AMOXICILLIN, **changes: Any) -> dict[str, Any]:
    return {
        "DispensableDrugId": drug,
        "Quantity": 20,
        "DispenseUnitId": 1,
        "Refills": 0,
        "DaysSupply": 10,
        "Directions": "Take 1 capsule by mouth twice daily for 10 days",
        "NoSubstitutions": False,
        "IsUrgent": True,
        "PharmacyNotes": "Call when ready",
        "EffectiveDate": datetime.now(UTC).strftime("%Y-%m-%dT00:00:00"),
        "Status": "Active",
        **changes,
    }


def create(client: httpx.Client, patient: int, body: dict[str, Any]) -> int:
    created = call(client, "POST", f"api/patients/{patient}/prescriptions/coded", body)
    assert created["Result"]["ResultCode"] == "OK", created
    rx_id: int = created["Id"]
    return rx_id


def get(client: httpx.Client, patient: int, rx_id: int) -> dict[str, Any]:
    rx: dict[str, Any] = call(client, "GET", f"api/patients/{patient}/prescriptions/{rx_id}")[
        "Prescription"
    ]
    return rx


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def results(receiver: Receiver, rx_id: int) -> list[dict[str, Any]]:
    return [
        e["Data"]
        for e in receiver.events()
        if e["EventType"] == "PrescriptionResult" and e["Data"]["PrescriptionId"] == rx_id
    ]


def test_pending_prescription_is_sent_and_verified_with_pushes(
    base_url: str, doctor: httpx.Client, patient: int, receiver: Receiver
) -> None:
    control(base_url, "PUT", "notifications", json={"url": receiver.url})
    try:
        rx_id = create(doctor, patient, coded())
        pending = get(doctor, patient, rx_id)
        assert pending["Status"] == "Entered" and pending["PharmacyId"] == CVS
        assert pending["IsUrgent"] is True and pending["PharmacyNotes"] == "Call when ready"

        edited = call(
            doctor,
            "PUT",
            f"api/patients/{patient}/prescriptions/coded/{rx_id}",
            coded(Quantity=28, Refills=1),
        )
        assert edited["Result"]["ResultCode"] == "OK"
        assert get(doctor, patient, rx_id)["Quantity"] == "28"

        sent = call(
            doctor,
            "POST",
            f"api/patients/{patient}/prescriptions/send",
            {"PrescriptionIds": [rx_id]},
        )
        assert sent == [{"Id": rx_id, "Result": {"ResultCode": "OK", "ResultDescription": ""}}]
        eventually(lambda: get(doctor, patient, rx_id)["Status"] == "PharmacyVerified")
        pushed = eventually(lambda: len(results(receiver, rx_id)) == 2 and results(receiver, rx_id))
        assert [p["PrescriptionStatus"] for p in pushed] == [4, 13]

        again = call(
            doctor,
            "POST",
            f"api/patients/{patient}/prescriptions/send",
            {"PrescriptionIds": [rx_id]},
        )
        assert again[0]["Result"] == {"ResultCode": "ERROR", "ResultDescription": NOT_PENDING}
    finally:
        control(base_url, "PUT", "notifications", json={"url": None})


def test_failure_pharmacy_ends_in_error_and_can_be_sent_again(
    doctor: httpx.Client, patient: int
) -> None:
    rx_id = create(doctor, patient, coded(PharmacyId=TRANSMISSION_FAILURE))
    call(doctor, "POST", f"api/patients/{patient}/prescriptions/send", {"PrescriptionIds": [rx_id]})
    failed = eventually(lambda: (rx := get(doctor, patient, rx_id))["Status"] == "Error" and rx)
    assert failed["Status"] == "Error"
    again = call(
        doctor, "POST", f"api/patients/{patient}/prescriptions/send", {"PrescriptionIds": [rx_id]}
    )
    assert again[0]["Result"]["ResultCode"] == "OK"


def test_controlled_substances_need_the_pin_and_a_fresh_one_time_code(
    base_url: str, doctor: httpx.Client, patient: int, epcs_prescriber: int
) -> None:
    rx_id = create(doctor, patient, coded(OXYCODONE, Quantity=12, DispenseUnitId=2))
    path = f"api/patients/{patient}/prescriptions"
    plain = call(doctor, "POST", f"{path}/send", {"PrescriptionIds": [rx_id]})
    assert plain[0]["Result"]["ResultDescription"] == CONTROLLED_NEEDS_EPCS

    def otp() -> str:
        code: str = control(base_url, "POST", f"clinicians/{epcs_prescriber}/otp")["otp"]
        return code

    wrong_pin = call(
        doctor,
        "POST",
        f"{path}/sendEpcs",
        {"PrescriptionIds": [rx_id], "Pin": "1111", "OTP": otp()},
    )
    assert wrong_pin[0]["Result"] == {"ResultCode": "ERROR", "ResultDescription": WRONG_PIN}
    wrong_code = call(
        doctor,
        "POST",
        f"{path}/sendEpcs",
        {"PrescriptionIds": [rx_id], "Pin": "2468", "OTP": "000000"},
    )
    assert wrong_code[0]["Result"]["ResultDescription"] == WRONG_OTP
    code = otp()
    signed = call(
        doctor, "POST", f"{path}/sendEpcs", {"PrescriptionIds": [rx_id], "Pin": "2468", "OTP": code}
    )
    assert signed[0]["Result"]["ResultCode"] == "OK", signed
    reused = create(doctor, patient, coded(OXYCODONE, Quantity=12, DispenseUnitId=2))
    replay = call(
        doctor,
        "POST",
        f"{path}/sendEpcs",
        {"PrescriptionIds": [reused], "Pin": "2468", "OTP": code},
    )
    assert replay[0]["Result"]["ResultDescription"] == WRONG_OTP
    eventually(lambda: get(doctor, patient, rx_id)["Status"] == "PharmacyVerified")

    bad = doctor.post(f"{path}/sendEpcs", json={"PrescriptionIds": [rx_id], "Pin": "12a4"})
    assert bad.status_code == 400 and "Pin" in str(bad.json()["ModelState"])


def test_only_the_prescriber_sends_and_only_with_two_factor(
    base_url: str, partner: httpx.Client, doctor: httpx.Client, patient: int
) -> None:
    rx_id = create(doctor, patient, coded())
    path = f"api/patients/{patient}/prescriptions"
    other = call(partner, "POST", f"{path}/send", {"PrescriptionIds": [rx_id]})
    assert other[0]["Result"]["ResultDescription"] == NOT_PRESCRIBER

    body = clinician_body()
    clinician_id: int = post_valid(partner, "api/clinicians", body).json()["Id"]
    wait_for_status(partner, clinician_id, "RegistrationSuccess")
    token = get_token(base_url, CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, clinician_id)
    with api(base_url, token) as no_tfa:
        mine = create(no_tfa, patient, coded(OXYCODONE, DispenseUnitId=2))
        refused = call(
            no_tfa,
            "POST",
            f"{path}/sendEpcs",
            {"PrescriptionIds": [mine], "Pin": "2468", "OTP": "123456"},
        )
    assert refused[0]["Result"]["ResultDescription"] == NO_EPCS_PERMISSION


def test_refusals_and_deletes(doctor: httpx.Client, patient: int) -> None:
    path = f"api/patients/{patient}/prescriptions"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00")
    for changes in ({"Quantity": 0}, {"EffectiveDate": yesterday}):
        refused = call(doctor, "POST", f"{path}/coded", coded(**changes))
        assert refused["Result"]["ResultCode"] == "ERROR" and refused["Id"] == 0, changes
    # Outside the Swagger's own range (0-99): refused whatever the envelope.
    out_of_range = doctor.post(f"{path}/coded", json=coded(Refills=100)).json()
    assert out_of_range["Result"]["ResultDescription"] == REFILLS_RANGE
    too_long = doctor.post(f"{path}/coded", json=coded(PharmacyNotes="x" * 211))
    assert too_long.status_code == 400

    rx_id = create(doctor, patient, coded())
    deleted = call(doctor, "DELETE", path, {"PrescriptionIds": [rx_id]})
    assert deleted[0]["Result"]["ResultCode"] == "OK"
    assert get(doctor, patient, rx_id)["Status"] == "Deleted"


def test_drug_allergy_interactions(doctor: httpx.Client, patient: int) -> None:
    post_valid(
        doctor,
        f"api/patients/{patient}/allergies/coded",
        {
            "AllergenId": 3001,
            "Reaction": "Hives",
            "ReactionType": "Allergy",
            "StatusType": "Active",
        },
    )
    create(doctor, patient, coded())
    found = call(doctor, "GET", f"api/patients/{patient}/interactions/allergies")
    assert len(found["Items"]) == 1
    assert "Penicillins" in found["Items"][0]["InteractionMessage"]


@pytest.mark.parametrize(
    ("definition", "spec"),
    [
        ("CodedPrescriptionRequest", prescriptions.CODED_PRESCRIPTION_REQUEST),
        ("SendPrescriptionsRequest", prescriptions.SEND_PRESCRIPTIONS_REQUEST),
        ("SendEpcsPrescriptionsRequest", prescriptions.SEND_EPCS_PRESCRIPTIONS_REQUEST),
        ("PrescriptionIdListRequest", prescriptions.PRESCRIPTION_ID_LIST_REQUEST),
    ],
)
def test_request_rules_match_the_swagger(definition: str, spec: Any) -> None:
    """The sandbox takes exactly the published members, required set, lengths and patterns."""
    schema = load_swagger()["definitions"][definition]
    assert set(spec.members) == set(schema["properties"])
    required = {name for name, member in spec.members.items() if member.required}
    assert required == set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        assert spec.members[name].max_length == prop.get("maxLength"), name
        assert spec.members[name].pattern == prop.get("pattern"), name
