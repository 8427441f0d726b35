"""The verification journey over real HTTP: agreements, identity proofing, two-factor, SSO,
edits and deactivation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dosespot import build_sso_url
from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.journey import TRANSITIONS, move
from dosespot_sandbox.testing import sandbox_server
from tests.sandbox import (
    CONFIG,
    SUBSCRIPTION,
    Receiver,
    api,
    clinician_body,
    control,
    create_clinic,
    create_clinician,
    create_patient,
    get_token,
    partner_api,
    post_valid,
    registration_status,
    token_form,
    wait_for_status,
)

PARTNER_CLINIC = CONFIG.partner_clinic_id
CLINIC_KEY = CONFIG.partner_clinic_key
FAST = {
    "confirmation_delay_seconds": 0,
    "attempt_delay_seconds": 0.05,
    "idme_delay_seconds": 0.05,
    "tfa_delay_seconds": 0.05,
}
JOURNEY = [
    "RegistrationSuccess",
    "IDPInitializeSuccess",
    "IDPSuccess",
    "TFAActivateInit",
    "TFAActivatedSuccess",
]


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0)) as url:
        yield url


@pytest.fixture
def base_url(shared_sandbox: str) -> str:
    control(shared_sandbox, "POST", "reset")
    control(shared_sandbox, "PUT", "scenarios/default", json=FAST)
    return shared_sandbox


@pytest.fixture
def partner(base_url: str) -> Iterator[httpx.Client]:
    with partner_api(base_url) as client:
        yield client


def notify(base_url: str, receiver: Receiver, **settings: Any) -> None:
    control(base_url, "PUT", "notifications", json={"url": receiver.url, **settings})


def new_clinician(base_url: str, partner: httpx.Client, **scenario: Any) -> int:
    """A confirmed clinician whose NPI has ``scenario`` over the fast default."""
    body = clinician_body()
    if scenario:
        control(base_url, "PUT", f"scenarios/clinicians/{body['NPINumber']}", json=scenario)
    clinician_id = create_clinician(partner, NPINumber=body["NPINumber"])
    wait_for_status(partner, clinician_id, "RegistrationSuccess")
    return clinician_id


def result(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 200, response.text
    outcome = response.json()["Result"]
    return outcome["ResultCode"], outcome["ResultDescription"]


def idp_init(client: httpx.Client, clinician_id: int) -> tuple[str, str]:
    return result(client.post(f"api/clinicians/{clinician_id}/idpInit"))


def tfa_init(client: httpx.Client, clinician_id: int, tfa: str = "Mobile") -> tuple[str, str]:
    path = f"api/clinicians/{clinician_id}/initTfaActivate"
    return result(post_valid(client, path, {"TfaTypeId": tfa}))


def journey(base_url: str, clinician_id: int) -> dict[str, Any]:
    view: dict[str, Any] = control(base_url, "GET", f"clinicians/{clinician_id}")
    return view


def fail_experian(client: httpx.Client, clinician_id: int, times: int) -> None:
    for _ in range(times):
        assert idp_init(client, clinician_id) == ("OK", "")
        wait_for_status(client, clinician_id, "IDPError")


def watch_statuses(client: httpx.Client, clinician_id: int, until: str) -> list[str]:
    """Every distinct status seen while polling until ``until``."""
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = registration_status(client, clinician_id)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == until:
            return seen
        time.sleep(0.01)
    raise AssertionError(f"never reached {until}: {seen}")


def sso(base_url: str, clinician_id: int, clinic_id: int = PARTNER_CLINIC, **options: Any):
    key = options.pop("clinic_key", CLINIC_KEY)
    url = build_sso_url(f"{base_url}/LoginSingleSignOn.aspx", clinic_id, key, clinician_id)
    return httpx.get(url, params=options.pop("params", None))


def sso_page(base_url: str, clinician_id: int, **options: Any) -> tuple[str, str]:
    response = sso(base_url, clinician_id, **options)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.headers["X-Sandbox-SSO-Result"], response.text


def event_types(receiver: Receiver) -> list[str]:
    return [event["EventType"] for event in receiver.events()]


# The journey


def test_happy_path_through_proofing_and_two_factor(
    base_url: str, partner: httpx.Client, receiver: Receiver
) -> None:
    notify(base_url, receiver)
    slow = {"attempt_delay_seconds": 0.2, "tfa_delay_seconds": 0.2}
    clinician_id = new_clinician(base_url, partner, **slow)
    agreements = partner.get(f"api/clinicians/{clinician_id}/legalAgreements").json()["Items"]
    assert [(a["AgreementId"], "AgreementDate" in a) for a in agreements] == [
        (1, False),
        (2, False),
        (3, False),
    ]

    assert idp_init(partner, clinician_id) == ("OK", "")
    seen = watch_statuses(partner, clinician_id, "IDPSuccess")
    assert tfa_init(partner, clinician_id) == ("OK", "")
    seen += watch_statuses(partner, clinician_id, "TFAActivatedSuccess")
    assert ["RegistrationSuccess", *seen] == JOURNEY

    # The clinician signed all three agreements in DoseSpot's UI as proofing began.
    agreements = partner.get(f"api/clinicians/{clinician_id}/legalAgreements").json()["Items"]
    assert all(a["AgreementDate"] for a in agreements)
    item = partner.get(f"api/clinicians/{clinician_id}").json()["Item"]
    assert item["ClinicInfo"][0]["HasEpcs"] is True

    control(base_url, "POST", "notifications/flush")
    assert event_types(receiver) == [
        "ClinicianConfirmed",
        "ClinicianIDPCompleteSuccess",
        "ClinicianTfaActivateSuccess",
    ]
    idp_event = receiver.events()[1]["Data"]
    assert idp_event["ClinicianId"] == clinician_id
    assert idp_event["IDPCompleteType"] == "Experian"
    assert idp_event["ClinicianIDPCompleteDate"][:2] == "20"
    assert receiver.events()[2]["Data"] == {"ClinicianId": clinician_id}

    view = journey(base_url, clinician_id)
    assert view["registration_status"] == "TFAActivatedSuccess"
    assert view["identity_proofing"]["path"] == "experian"
    assert view["identity_proofing"]["experian_attempts_used"] == 1
    assert view["identity_proofing"]["completed_type"] == "Experian"
    assert view["two_factor"] == {
        "state": "activated",
        "tfa_type": "Mobile",
        "attempts": 1,
        "in_progress": None,
    }
    assert all(agreement["accepted"] for agreement in view["agreements"])


def test_fail_fail_pass_pushes_only_the_success(
    base_url: str, partner: httpx.Client, receiver: Receiver
) -> None:
    notify(base_url, receiver)
    clinician_id = new_clinician(base_url, partner, experian_outcomes=["fail", "fail", "pass"])
    fail_experian(partner, clinician_id, 2)

    view = journey(base_url, clinician_id)["identity_proofing"]
    assert (view["experian_attempts_used"], view["experian_failures"]) == (2, 2)
    result_name, page = sso_page(base_url, clinician_id)
    assert result_name == "signed_in"
    assert "attempt 3 of 3 is next" in page

    assert idp_init(partner, clinician_id) == ("OK", "")
    wait_for_status(partner, clinician_id, "IDPSuccess")
    control(base_url, "POST", "notifications/flush")
    assert event_types(receiver) == ["ClinicianConfirmed", "ClinicianIDPCompleteSuccess"]
    assert receiver.events()[1]["Data"]["IDPCompleteType"] == "Experian"
    assert idp_init(partner, clinician_id) == (
        "ERROR",
        "Identity proofing has already been completed.",
    )


def test_three_experian_failures_lead_to_id_me(
    base_url: str, partner: httpx.Client, receiver: Receiver
) -> None:
    notify(base_url, receiver)
    clinician_id = new_clinician(base_url, partner, experian_outcomes=["fail"])
    fail_experian(partner, clinician_id, 3)
    assert "ID.me is offered next" in sso_page(base_url, clinician_id)[1]

    assert idp_init(partner, clinician_id) == ("OK", "")
    wait_for_status(partner, clinician_id, "IDPSuccess")
    view = journey(base_url, clinician_id)["identity_proofing"]
    assert (view["path"], view["experian_attempts_used"], view["idme_attempts"]) == ("idme", 3, 1)
    control(base_url, "POST", "notifications/flush")
    assert receiver.events()[-1]["Data"]["IDPCompleteType"] == "IDme"


def test_id_me_that_never_finishes_waits_for_the_manual_control(
    base_url: str, partner: httpx.Client
) -> None:
    clinician_id = new_clinician(
        base_url, partner, experian_outcomes=["fail"], idme_outcome="never"
    )
    fail_experian(partner, clinician_id, 3)
    assert idp_init(partner, clinician_id) == ("OK", "")
    time.sleep(0.2)
    assert registration_status(partner, clinician_id) == "IDPInitializeSuccess"
    # A repeated idpInit while an attempt is in progress does not start another one.
    assert idp_init(partner, clinician_id) == ("OK", "")
    view = journey(base_url, clinician_id)["identity_proofing"]
    assert view["idme_attempts"] == 1
    assert view["in_progress"]["due_in_seconds"] is None
    assert "ID.me is in progress" in sso_page(base_url, clinician_id)[1]

    no_outcome = httpx.post(f"{base_url}/_sandbox/clinicians/{clinician_id}/idp/complete")
    assert no_outcome.status_code == 409
    done = control(
        base_url, "POST", f"clinicians/{clinician_id}/idp/complete", json={"outcome": "pass"}
    )
    assert done["registration_status"] == "IDPSuccess"
    assert done["identity_proofing"]["completed_type"] == "IDme"


def test_manual_idp_completion_overrides_the_scenario(base_url: str, partner: httpx.Client) -> None:
    clinician_id = new_clinician(base_url, partner, attempt_delay_seconds=3600)
    assert idp_init(partner, clinician_id) == ("OK", "")
    assert "Experian attempt 1 of 3" in sso_page(base_url, clinician_id)[1]
    failed = control(
        base_url, "POST", f"clinicians/{clinician_id}/idp/complete", json={"outcome": "fail"}
    )
    assert failed["registration_status"] == "IDPError"
    nothing = httpx.post(f"{base_url}/_sandbox/clinicians/{clinician_id}/idp/complete")
    assert nothing.status_code == 409
    assert idp_init(partner, clinician_id) == ("OK", "")
    passed = control(base_url, "POST", f"clinicians/{clinician_id}/idp/complete")
    assert passed["registration_status"] == "IDPSuccess"
    assert passed["identity_proofing"]["experian_attempts_used"] == 2


def test_two_factor_failure_then_manual_success(
    base_url: str, partner: httpx.Client, receiver: Receiver
) -> None:
    notify(base_url, receiver)
    clinician_id = new_clinician(base_url, partner, tfa_outcome="fail")
    assert idp_init(partner, clinician_id) == ("OK", "")
    wait_for_status(partner, clinician_id, "IDPSuccess")
    assert "Two-factor authentication has not been started" in sso_page(base_url, clinician_id)[1]

    assert tfa_init(partner, clinician_id, "Token") == ("OK", "")
    wait_for_status(partner, clinician_id, "TFAActivatedError")
    assert journey(base_url, clinician_id)["two_factor"]["state"] == "failed"
    item = partner.get(f"api/clinicians/{clinician_id}").json()["Item"]
    assert item["ClinicInfo"][0]["HasEpcs"] is False

    npi = item["NPINumber"]
    control(base_url, "PUT", f"scenarios/clinicians/{npi}", json={"tfa_outcome": "never"})
    assert tfa_init(partner, clinician_id) == ("OK", "")
    time.sleep(0.15)
    assert registration_status(partner, clinician_id) == "TFAActivateInit"
    assert "activate Duo" in sso_page(base_url, clinician_id)[1]
    done = control(
        base_url, "POST", f"clinicians/{clinician_id}/tfa/complete", json={"outcome": "pass"}
    )
    assert done["registration_status"] == "TFAActivatedSuccess"
    assert done["two_factor"]["attempts"] == 2
    assert tfa_init(partner, clinician_id) == (
        "ERROR",
        "Two-factor authentication is already active.",
    )
    control(base_url, "POST", "notifications/flush")
    assert event_types(receiver) == [
        "ClinicianConfirmed",
        "ClinicianIDPCompleteSuccess",
        "ClinicianTfaActivateSuccess",
    ]
    missing = httpx.post(f"{base_url}/_sandbox/clinicians/{clinician_id}/tfa/complete")
    assert missing.status_code == 409


def test_steps_out_of_order_are_refused(base_url: str, partner: httpx.Client) -> None:
    control(base_url, "PUT", "scenarios/default", json={"confirmation_delay_seconds": 3600})
    pending = create_clinician(partner)
    assert idp_init(partner, pending) == ("ERROR", "Clinician is not confirmed.")
    control(base_url, "POST", f"clinicians/{pending}/confirm")
    assert tfa_init(partner, pending) == (
        "ERROR",
        "Identity proofing must be completed before two-factor authentication.",
    )
    assert idp_init(partner, 424242) == ("ERROR", "Clinician not found.")
    bad_type = partner.post(f"api/clinicians/{pending}/initTfaActivate", json={"TfaTypeId": "Sms"})
    assert bad_type.status_code == 400
    assert set(bad_type.json()["ModelState"]) == {"request.TfaTypeId"}
    # A late confirmation does not rewind a clinician who has moved on.
    assert idp_init(partner, pending) == ("OK", "")
    control(base_url, "POST", f"clinicians/{pending}/confirm")
    assert registration_status(partner, pending) == "IDPInitializeSuccess"
    assert httpx.get(f"{base_url}/_sandbox/clinicians/424242").status_code == 404


# Agreements


def test_agreements_signed_by_the_clinician_release_the_waiting_attempt(
    base_url: str, partner: httpx.Client
) -> None:
    clinician_id = new_clinician(base_url, partner, accept_agreements=False)
    assert idp_init(partner, clinician_id) == ("OK", "")
    time.sleep(0.15)
    assert registration_status(partner, clinician_id) == "IDPInitializeSuccess"
    assert journey(base_url, clinician_id)["identity_proofing"]["in_progress"][
        "waiting_for_agreements"
    ]
    assert "Accept the legal agreements" in sso_page(base_url, clinician_id)[1]
    refused = httpx.post(f"{base_url}/_sandbox/clinicians/{clinician_id}/idp/complete")
    assert refused.status_code == 409

    token = get_token(base_url, PARTNER_CLINIC, CLINIC_KEY, clinician_id)
    with api(base_url, token) as clinician:
        for agreement_id in (1, 2):
            signed = post_valid(
                clinician,
                "api/clinicians/acceptAgreement",
                {"AgreementId": agreement_id, "NameSigned": "Dana Reyes"},
            ).json()
            assert signed["AgreementId"] == agreement_id
            assert signed["NameSigned"] == "Dana Reyes"
        unknown = post_valid(
            clinician, "api/clinicians/acceptAgreement", {"AgreementId": 99, "NameSigned": "D R"}
        ).json()
        assert unknown["Result"] == {
            "ResultCode": "ERROR",
            "ResultDescription": "Agreement not found.",
        }
        items = clinician.get(f"api/clinicians/{clinician_id}/legalAgreements").json()["Items"]
        assert [("AgreementDate" in item) for item in items] == [True, True, False]
        assert [item["AgreementText"].splitlines()[0] for item in items] == [
            "ePrescribing Authorization",
            "HIPAA Business Associate",
            "Identity Proofing",
        ]
        time.sleep(0.1)
        assert registration_status(partner, clinician_id) == "IDPInitializeSuccess"
        post_valid(
            clinician,
            "api/clinicians/acceptAgreement",
            {"AgreementId": 3, "NameSigned": "Dana Reyes"},
        )
    wait_for_status(partner, clinician_id, "IDPSuccess")


def test_agreements_control_signs_all_three(base_url: str, partner: httpx.Client) -> None:
    clinician_id = new_clinician(base_url, partner, accept_agreements=False)
    before = journey(base_url, clinician_id)
    assert [a["accepted"] for a in before["agreements"]] == [False, False, False]
    after = control(base_url, "POST", f"clinicians/{clinician_id}/agreements/accept")
    assert [a["accepted"] for a in after["agreements"]] == [True, True, True]
    assert all(a["accepted_at"] for a in after["agreements"])
    assert idp_init(partner, clinician_id) == ("OK", "")
    wait_for_status(partner, clinician_id, "IDPSuccess")


def test_empty_name_signed_is_a_model_error(base_url: str, partner: httpx.Client) -> None:
    response = partner.post(
        "api/clinicians/acceptAgreement", json={"AgreementId": 1, "NameSigned": ""}
    )
    assert response.status_code == 400
    assert set(response.json()["ModelState"]) == {"request.NameSigned"}


# Single sign-on


def test_sso_signs_in_with_a_correct_link(base_url: str, partner: httpx.Client) -> None:
    clinician_id = new_clinician(base_url, partner)
    outcome, page = sso_page(base_url, clinician_id, params=None)
    assert outcome == "signed_in"
    assert f"signed in as clinician {clinician_id} in clinic {PARTNER_CLINIC}" in page
    assert "Accept the legal agreements" in page

    patient_id = create_patient(partner)
    url = build_sso_url(
        f"{base_url}/LoginSingleSignOn.aspx",
        PARTNER_CLINIC,
        CLINIC_KEY,
        clinician_id,
        patient_id=patient_id,
        refills_errors=True,
    )
    page = httpx.get(url).text
    assert f"patient {patient_id}" in page
    assert "notification queues" in page


def test_sso_refusals_are_error_pages(base_url: str, partner: httpx.Client) -> None:
    control(base_url, "PUT", "scenarios/default", json={"confirmation_delay_seconds": 3600})
    unconfirmed = create_clinician(partner)
    clinic_id, clinic_key = create_clinic(partner)
    url = build_sso_url(
        f"{base_url}/LoginSingleSignOn.aspx", PARTNER_CLINIC, CLINIC_KEY, unconfirmed
    )
    tampered = url.replace("SingleSignOnCode=", "SingleSignOnCode=x")

    cases = {
        "incorrect_sso_calculations": httpx.get(tampered),
        "not_confirmed": httpx.get(url),
        "no_access_to_clinic": sso(base_url, unconfirmed, clinic_id, clinic_key=clinic_key),
        "data_validation": httpx.get(url + "&PatientName=Ada"),
    }
    wrong_key = sso(base_url, unconfirmed, clinic_key=clinic_key)
    assert wrong_key.headers["X-Sandbox-SSO-Result"] == "incorrect_sso_calculations"
    for outcome, response in cases.items():
        assert response.status_code == 200
        assert response.headers["X-Sandbox-SSO-Result"] == outcome
        assert "single sign-on failed" in response.text
    assert "incorrect SSO calculations" in cases["incorrect_sso_calculations"].text
    assert "has not been confirmed" in cases["not_confirmed"].text


# Edits and deactivation


def test_edit_replaces_the_record_and_deactivation_locks_the_clinician_out(
    base_url: str, partner: httpx.Client
) -> None:
    clinician_id = new_clinician(base_url, partner)
    body = partner.get(f"api/clinicians/{clinician_id}").json()["Item"]
    edit = clinician_body(NPINumber=body["NPINumber"], LastName="Reyes-Hart", DEANumber=None)
    edit = {k: v for k, v in edit.items() if v is not None}
    validate = partner.put(f"api/clinicians/{clinician_id}", json=edit)
    assert result(validate) == ("OK", "")
    item = partner.get(f"api/clinicians/{clinician_id}").json()["Item"]
    assert (item["LastName"], item["Active"], "DEANumber" in item) == ("Reyes-Hart", True, False)

    token = get_token(base_url, PARTNER_CLINIC, CLINIC_KEY, clinician_id)
    with api(base_url, token) as own:
        assert own.get("api/general/check").status_code == 200
        assert (
            result(partner.put(f"api/clinicians/{clinician_id}", json={**edit, "Active": False}))[0]
            == "OK"
        )
        assert own.get("api/general/check").status_code == 401
    refused = httpx.post(
        base_url + "/webapi/v2/connect/token",
        data=token_form(PARTNER_CLINIC, CLINIC_KEY, clinician_id),
        headers=SUBSCRIPTION,
    )
    assert refused.json()["error_description"] == "Your account is inactive"
    outcome, page = sso_page(base_url, clinician_id)
    assert (outcome, "Your account is inactive" in page) == ("inactive", True)
    assert partner.get(f"api/clinicians/{clinician_id}").json()["Item"]["Active"] is False
    assert idp_init(partner, clinician_id) == ("ERROR", "Clinician is not active.")


def test_edit_is_validated_like_a_create(base_url: str, partner: httpx.Client) -> None:
    clinician_id = new_clinician(base_url, partner)
    invalid = partner.put(f"api/clinicians/{clinician_id}", json=clinician_body(PrimaryFax=""))
    assert invalid.status_code == 400
    assert set(invalid.json()["ModelState"]) == {"request.PrimaryFax"}
    unknown = partner.put("api/clinicians/424242", json=clinician_body())
    assert result(unknown) == ("ERROR", "Clinician not found.")


# Pushes, scenarios, durability


def test_journey_pushes_go_through_the_notification_controls(
    base_url: str, partner: httpx.Client, receiver: Receiver
) -> None:
    clinician_id = new_clinician(base_url, partner)
    notify(base_url, receiver, duplicate_probability=1, seed=1)
    assert idp_init(partner, clinician_id) == ("OK", "")
    wait_for_status(partner, clinician_id, "IDPSuccess")
    log = control(base_url, "POST", "notifications/flush")
    idp = [entry for entry in log if entry["event_type"] == "ClinicianIDPCompleteSuccess"]
    assert [(entry["outcome"], entry["duplicate"]) for entry in idp] == [
        ("delivered", False),
        ("delivered", True),
    ]
    assert event_types(receiver) == ["ClinicianIDPCompleteSuccess"] * 2


def test_scenarios_layer_npi_over_default_over_configuration(base_url: str) -> None:
    control(base_url, "DELETE", "scenarios")
    control(base_url, "PUT", "scenarios/default", json={"attempt_delay_seconds": 0.1})
    npi = control(
        base_url,
        "PUT",
        "scenarios/clinicians/1234567893",
        json={"experian_outcomes": ["fail", "pass"], "registration_outcome": "error"},
    )
    assert npi["attempt_delay_seconds"] == 0.1
    assert npi["experian_outcomes"] == ["fail", "pass"]
    assert npi["registration_outcome"] == "error"
    # The module's sandbox is configured to confirm at once.
    assert npi["confirmation_delay_seconds"] == 0
    listed = control(base_url, "GET", "scenarios")
    assert listed["clinicians"]["1234567893"] == npi
    assert listed["default"]["experian_outcomes"] == ["pass"]
    assert listed["default"]["idme_outcome"] == "pass"
    bad = httpx.put(f"{base_url}/_sandbox/scenarios/default", json={"experian_outcomes": ["maybe"]})
    assert bad.status_code == 422


def test_pending_attempt_completes_after_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    config = SandboxConfig(
        state_path=tmp_path / "sandbox.db",
        default_confirmation_delay_seconds=0,
        notification_url=receiver.url,
    )
    with sandbox_server(config) as url, partner_api(url) as partner:
        control(url, "PUT", "scenarios/default", json={**FAST, "attempt_delay_seconds": 0.5})
        clinician_id = create_clinician(partner)
        wait_for_status(partner, clinician_id, "RegistrationSuccess")
        assert idp_init(partner, clinician_id) == ("OK", "")
    assert "ClinicianIDPCompleteSuccess" not in event_types(receiver)

    with sandbox_server(config) as url, partner_api(url) as partner:
        wait_for_status(partner, clinician_id, "IDPSuccess")
        control(url, "POST", "notifications/flush")
    assert event_types(receiver)[-1] == "ClinicianIDPCompleteSuccess"


def test_reset_forgets_the_partner_users_journey(base_url: str, partner: httpx.Client) -> None:
    partner_user = CONFIG.partner_user_id
    assert idp_init(partner, partner_user) == ("OK", "")
    control(base_url, "POST", "reset")
    view = journey(base_url, partner_user)
    assert view["registration_status"] == "RegistrationSuccess"
    assert view["identity_proofing"]["experian_attempts_used"] == 0
    assert not any(agreement["accepted"] for agreement in view["agreements"])


def test_statuses_move_only_as_dosespot_reports_them() -> None:
    doc = {"RegistrationStatus": "Pending"}
    for status in JOURNEY:
        move(doc, status)
    with pytest.raises(RuntimeError):
        move({"RegistrationStatus": "RegistrationSuccess"}, "IDPSuccess")
    with pytest.raises(RuntimeError):
        move({"RegistrationStatus": "TFAActivatedSuccess"}, "TFAActivateInit")
    assert TRANSITIONS["IDPError"] == {"IDPInitializeSuccess"}
    assert TRANSITIONS["TFAActivatedError"] == {"TFAActivateInit"}
