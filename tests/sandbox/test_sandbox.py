"""The DoseSpot sandbox over real HTTP."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from dosespot_sandbox import RateLimits, SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.sandbox import (
    CONFIG,
    SUBSCRIPTION,
    Receiver,
    api,
    clinic_body,
    clinician_body,
    control,
    create_clinic,
    create_clinician,
    get_token,
    partner_api,
    post_valid,
    token_form,
    wait_for_status,
)

PARTNER_USER = CONFIG.partner_user_id
TOKEN_URL = "/webapi/v2/connect/token"


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0.2)) as url:
        yield url


@pytest.fixture
def base_url(shared_sandbox: str) -> str:
    """A sandbox holding only the partner account, with no scenarios, faults or logs."""
    control(shared_sandbox, "POST", "reset")
    return shared_sandbox


# Authentication


def test_partner_gets_a_token_that_authorises_calls(base_url: str) -> None:
    response = httpx.post(
        base_url + TOKEN_URL,
        data=token_form(CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, PARTNER_USER),
        headers=SUBSCRIPTION,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 599
    assert body["token_type"] == "bearer"
    with api(base_url, body["access_token"]) as client:
        check = client.get("api/general/check")
    assert check.status_code == 200
    assert check.json()["Result"]["ResultCode"] == "OK"


@pytest.mark.parametrize(
    ("form", "description"),
    [
        (token_form(1000, "wrong-key", 2000), "Clinic is not valid"),
        (token_form(999999, CONFIG.partner_clinic_key, 2000), "Clinic is not valid"),
        (token_form(1000, CONFIG.partner_clinic_key, 424242), "Unknown user"),
    ],
)
def test_token_refusals_are_oauth_errors(
    base_url: str, form: dict[str, str], description: str
) -> None:
    response = httpx.post(base_url + TOKEN_URL, data=form, headers=SUBSCRIPTION)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": description}


def test_inactive_clinician_cannot_get_a_token(base_url: str) -> None:
    with partner_api(base_url) as partner:
        clinician_id = create_clinician(partner, Active=False)
    response = httpx.post(
        base_url + TOKEN_URL,
        data=token_form(CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, clinician_id),
        headers=SUBSCRIPTION,
    )
    assert response.status_code == 400
    assert response.json()["error_description"] == "Your account is inactive"


def test_subscription_key_is_required_everywhere(base_url: str) -> None:
    form = token_form(CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, PARTNER_USER)
    assert httpx.post(base_url + TOKEN_URL, data=form).status_code == 401
    wrong = {"Subscription-Key": "nope"}
    assert httpx.post(base_url + TOKEN_URL, data=form, headers=wrong).status_code == 401
    apim = {"Ocp-Apim-Subscription-Key": CONFIG.subscription_key}
    token_response = httpx.post(base_url + TOKEN_URL, data=form, headers=apim)
    assert token_response.status_code == 200
    bearer = {"Authorization": f"Bearer {token_response.json()['access_token']}"}
    check = f"{base_url}/webapi/v2/api/general/check"
    assert httpx.get(check, headers=bearer).status_code == 401
    assert httpx.get(check, headers={**bearer, **apim}).status_code == 200


def test_missing_and_expired_tokens_get_401(base_url: str) -> None:
    check = f"{base_url}/webapi/v2/api/general/check"
    assert httpx.get(check, headers=SUBSCRIPTION).status_code == 401
    with partner_api(base_url) as client:
        assert client.get("api/general/check").status_code == 200
        assert control(base_url, "POST", "tokens/expire")["expired"] >= 1
        expired = client.get("api/general/check")
        assert expired.status_code == 401
        assert expired.headers["WWW-Authenticate"] == "Bearer"
    with partner_api(base_url) as refreshed:
        assert refreshed.get("api/general/check").status_code == 200


def test_token_lifetime_is_enforced() -> None:
    with sandbox_server(SandboxConfig(token_lifetime_seconds=1)) as url, partner_api(url) as c:
        assert c.get("api/general/check").status_code == 200
        time.sleep(1.05)
        assert c.get("api/general/check").status_code == 401


# Clinics


def test_new_clinic_issues_tokens_and_is_linked_to_its_creator(base_url: str) -> None:
    with partner_api(base_url) as partner:
        # Real clients send enums as integers although the Swagger declares names.
        created = partner.post("api/clinics", json=clinic_body(PrimaryPhoneType=5)).json()
        clinic_id, clinic_key = created["ClinicId"], created["ClinicKey"]
        assert clinic_id not in (CONFIG.partner_clinic_id, PARTNER_USER)
        ids = partner.get(f"api/clinicians/{PARTNER_USER}/clinicIds").json()["Items"]
        assert {"ClinicId": clinic_id} in ids
        clinic = partner.get(f"api/clinics/{clinic_id}").json()["Clinic"]
        # Enums sent as integers come back as names.
        assert clinic["PrimaryPhoneType"] == "Work"
        assert "ClinicKey" not in clinic

    token = get_token(base_url, clinic_id, clinic_key, PARTNER_USER)
    with api(base_url, token) as in_clinic:
        clinician_id = create_clinician(in_clinic)
        item = in_clinic.get(f"api/clinicians/{clinician_id}").json()["Item"]
    assert [info["ClinicId"] for info in item["ClinicInfo"]] == [clinic_id]

    with partner_api(base_url) as partner:
        # Outside the partner clinic the new clinician is refused, not revealed.
        refused = partner.get(f"api/clinicians/{clinician_id}").json()
        assert refused["Result"]["ResultCode"] == "ERROR"
        linked = post_valid(
            partner,
            f"api/clinicians/{clinician_id}/clinics",
            {"ClinicIds": [CONFIG.partner_clinic_id]},
        )
    with api(base_url, token) as in_clinic:
        linked = post_valid(
            in_clinic,
            f"api/clinicians/{clinician_id}/clinics",
            {"ClinicIds": [CONFIG.partner_clinic_id, 99]},
        )
        results = [entry["Result"]["ResultCode"] for entry in linked.json()]
        assert results == ["OK", "ERROR"]
        ids = in_clinic.get(f"api/clinicians/{clinician_id}/clinicIds").json()["Items"]
    assert ids == [{"ClinicId": clinic_id}, {"ClinicId": CONFIG.partner_clinic_id}]


def test_clinicians_cannot_create_clinics(base_url: str) -> None:
    with partner_api(base_url) as partner:
        clinician_id = create_clinician(partner)
    token = get_token(base_url, CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, clinician_id)
    with api(base_url, token) as clinician:
        body = post_valid(clinician, "api/clinics", clinic_body()).json()
    assert body["Result"]["ResultCode"] == "ERROR"
    assert body["ClinicId"] == 0


# Clinicians and registration


def test_clinician_is_confirmed_after_the_delay_and_pushed(
    base_url: str, receiver: Receiver
) -> None:
    control(
        base_url,
        "PUT",
        "notifications",
        json={"url": receiver.url, "secret": "s3cret-s3cret-s3cret-s3cret-0001"},
    )
    control(base_url, "PUT", "scenarios/default", json={"confirmation_delay_seconds": 0.5})
    with partner_api(base_url) as partner:
        clinician_id = create_clinician(partner)
        item = partner.get(f"api/clinicians/{clinician_id}").json()["Item"]
        assert item["Confirmed"] is False
        status = partner.get(f"api/clinicians/{clinician_id}/registrationStatus").json()
        assert status["Item"] == "Pending"
        assert receiver.received == []

        wait_for_status(partner, clinician_id, "RegistrationSuccess")
        assert partner.get(f"api/clinicians/{clinician_id}").json()["Item"]["Confirmed"] is True

    log = control(base_url, "POST", "notifications/flush")
    assert [entry["outcome"] for entry in log] == ["delivered"]
    assert receiver.received == [
        (
            "Secret s3cret-s3cret-s3cret-s3cret-0001",
            {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": clinician_id}},
        )
    ]


def test_scenarios_by_npi_and_manual_confirmation(base_url: str) -> None:
    control(
        base_url,
        "PUT",
        "scenarios/clinicians/1999999999",
        json={"confirmation_delay_seconds": 0, "registration_outcome": "error"},
    )
    control(base_url, "PUT", "scenarios/default", json={"confirmation_delay_seconds": 3600})
    with partner_api(base_url) as partner:
        failing = create_clinician(partner, NPINumber="1999999999")
        waiting = create_clinician(partner)
        wait_for_status(partner, failing, "RegistrationError")
        assert partner.get(f"api/clinicians/{waiting}/registrationStatus").json()["Item"] == (
            "Pending"
        )
        control(base_url, "POST", f"clinicians/{waiting}/confirm")
        status = partner.get(f"api/clinicians/{waiting}/registrationStatus").json()["Item"]
    assert status == "RegistrationSuccess"


def test_notifications_can_be_duplicated_and_dropped(base_url: str, receiver: Receiver) -> None:
    control(base_url, "PUT", "scenarios/default", json={"confirmation_delay_seconds": 3600})
    settings = {"url": receiver.url, "secret": "x" * 32, "seed": 7}
    with partner_api(base_url) as partner:
        duplicated = create_clinician(partner)
        dropped = create_clinician(partner)
    control(base_url, "PUT", "notifications", json={**settings, "duplicate_probability": 1})
    control(base_url, "POST", f"clinicians/{duplicated}/confirm")
    control(base_url, "PUT", "notifications", json={**settings, "drop_probability": 1})
    control(base_url, "POST", f"clinicians/{dropped}/confirm")
    log = control(base_url, "POST", "notifications/flush")

    assert [body["Data"]["ClinicianId"] for _, body in receiver.received] == [
        duplicated,
        duplicated,
    ]
    outcomes = {(e["data"]["ClinicianId"], e["outcome"], e["duplicate"]) for e in log}
    assert outcomes == {
        (duplicated, "delivered", False),
        (duplicated, "delivered", True),
        (dropped, "dropped", False),
    }


def test_lookup_by_npi_and_dea(base_url: str) -> None:
    with partner_api(base_url) as partner:
        clinician_id = create_clinician(
            partner, NPINumber="1111111112", DEANumbers=[{"DEANumber": "BX7654321", "State": "MA"}]
        )
        by_npi = partner.get("api/clinician", params={"npi": "1111111112"}).json()
        by_dea = partner.get("api/clinician", params={"dea": "BX7654321"}).json()
        missing = partner.get("api/clinician", params={"npi": "1111111113"}).json()
    assert by_npi["Id"] == by_dea["Id"] == clinician_id
    assert missing["Id"] == 0
    assert missing["Result"]["ResultCode"] == "ERROR"


def test_unknown_clinician_is_an_error_on_200(base_url: str) -> None:
    with partner_api(base_url) as partner:
        for path in ("api/clinicians/424242", "api/clinicians/424242/registrationStatus"):
            response = partner.get(path)
            assert response.status_code == 200
            assert response.json()["Result"] == {
                "ResultCode": "ERROR",
                "ResultDescription": "Clinician not found.",
            }


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (
            {"FirstName": None},
            "request.FirstName",
            "The FirstName field is required.",
        ),
        (
            {"PrimaryFax": ""},
            "request.PrimaryFax",
            "The PrimaryFax field is required.",
        ),
        (
            {"DEANumber": "ab1234563"},
            "request.DEANumber",
            "The field DEANumber must match the regular expression "
            "'^[A-Z][A-Z9][0-9]{7}(-[A-Z0-9]{1,7})?$'.",
        ),
        (
            {"NADEANumbers": [{"NADEANumber": "12345"}]},
            "request.NADEANumbers[0].NADEANumber",
            "The field NADEANumber must match the regular expression '^[a-zA-Z0-9]{9}$'.",
        ),
        (
            {"Address1": "x" * 36},
            "request.Address1",
            "The field Address1 must be a string with a maximum length of 35.",
        ),
        (
            {"MedicalLicenseNumbers": [{"State": "MA"}]},
            "request.MedicalLicenseNumbers[0].LicenseNumber",
            "The LicenseNumber field is required.",
        ),
        (
            {"ClinicianRoleType": ["Surgeon"]},
            "request.ClinicianRoleType[0]",
            "Error converting value \"Surgeon\" to type 'ClinicianRoleType'.",
        ),
    ],
)
def test_invalid_clinician_gets_model_state(
    base_url: str, change: dict[str, Any], key: str, message: str
) -> None:
    body = {k: v for k, v in {**clinician_body(), **change}.items() if v is not None}
    with partner_api(base_url) as partner:
        response = partner.post("api/clinicians", json=body)
        assert response.status_code == 400
        assert response.json() == {
            "Message": "The request is invalid.",
            "ModelState": {key: [message]},
        }
        # Nothing was created.
        assert (
            control(base_url, "GET", "requests", params={"path": "api/clinicians"})[-1]["status"]
            == 400
        )


def test_invalid_clinic_and_clinic_list_get_model_state(base_url: str) -> None:
    with partner_api(base_url) as partner:
        clinic = partner.post("api/clinics", json=clinic_body(ClinicName="", Address2="y" * 36))
        links = partner.post(f"api/clinicians/{PARTNER_USER}/clinics", json={"ClinicIds": ["a"]})
    assert clinic.status_code == 400
    assert set(clinic.json()["ModelState"]) == {"request.ClinicName", "request.Address2"}
    assert links.status_code == 400
    assert set(links.json()["ModelState"]) == {"request.ClinicIds[0]"}


# Gateway behaviour


def test_rate_limit_answers_429_with_retry_after() -> None:
    config = SandboxConfig(rate_limits=RateLimits(get=3))
    with sandbox_server(config) as url, partner_api(url) as partner:
        statuses = [partner.get("api/general/check").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = partner.get("api/general/check")
        assert limited.headers["Retry-After"] == "10"
        # Writes have their own bucket.
        assert post_valid(partner, "api/clinics", clinic_body()).status_code == 200


def test_5xx_fault_applies_the_given_number_of_times(base_url: str) -> None:
    control(
        base_url,
        "PUT",
        "faults",
        json=[{"method": "POST", "path": "api/clinics", "kind": "error_5xx", "times": 1}],
    )
    with partner_api(base_url) as partner:
        first = post_valid(partner, "api/clinics", clinic_body())
        second = post_valid(partner, "api/clinics", clinic_body())
        unaffected = partner.get(f"api/clinics/{second.json()['ClinicId']}")
    assert first.status_code == 500
    assert second.status_code == 200
    assert unaffected.status_code == 200
    posts = control(base_url, "GET", "requests", params={"path": "api/clinics", "method": "POST"})
    assert [entry["status"] for entry in posts] == [500, 200]
    assert all(set(entry) >= {"method", "path", "status"} for entry in posts)


def test_probabilistic_faults_follow_the_seed(base_url: str) -> None:
    def statuses() -> list[int]:
        control(
            base_url,
            "PUT",
            "faults",
            json={
                "seed": 3,
                "rules": [{"path": "api/general/*", "kind": "rate_limit", "probability": 0.5}],
            },
        )
        with partner_api(base_url) as partner:
            return [partner.get("api/general/check").status_code for _ in range(12)]

    first = statuses()
    assert set(first) == {200, 429}
    assert statuses() == first
    control(base_url, "DELETE", "faults")
    with partner_api(base_url) as partner:
        assert partner.get("api/general/check").status_code == 200


def test_timeout_after_commit_still_writes(base_url: str) -> None:
    control(
        base_url,
        "PUT",
        "faults",
        json=[
            {
                "method": "POST",
                "path": "api/clinicians",
                "kind": "timeout_after_commit",
                "delay_seconds": 0.6,
                "times": 1,
            }
        ],
    )
    body = clinician_body()
    with partner_api(base_url, timeout=0.2) as partner:
        with pytest.raises(httpx.ReadTimeout):
            post_valid(partner, "api/clinicians", body)
        found = partner.get("api/clinician", params={"npi": body["NPINumber"]}).json()
    assert found["Result"]["ResultCode"] == "OK"
    assert found["Id"] > 0


def test_request_log_can_be_cleared(base_url: str) -> None:
    with partner_api(base_url) as partner:
        partner.get("api/general/check")
    assert control(base_url, "GET", "requests", params={"path": "connect/token"})
    control(base_url, "DELETE", "requests")
    assert control(base_url, "GET", "requests") == []


# State


def test_state_survives_a_restart(tmp_path: Path) -> None:
    config = SandboxConfig(state_path=tmp_path / "sandbox.db", default_confirmation_delay_seconds=0)
    with sandbox_server(config) as url, partner_api(url) as partner:
        clinic_id, clinic_key = create_clinic(partner)
        clinician_id = create_clinician(partner)
        wait_for_status(partner, clinician_id, "RegistrationSuccess")
    assert config.state_path is not None
    with closing(sqlite3.connect(config.state_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    with sandbox_server(config) as url:
        token = get_token(url, clinic_id, clinic_key, PARTNER_USER)
        with api(url, token) as in_clinic:
            assert in_clinic.get(f"api/clinics/{clinic_id}").json()["Result"]["ResultCode"] == "OK"
        with partner_api(url) as partner:
            item = partner.get(f"api/clinicians/{clinician_id}").json()["Item"]
            assert item["Confirmed"] is True
            later_clinic, _ = create_clinic(partner)
    assert later_clinic > max(clinic_id, clinician_id)


def test_reset_keeps_only_the_partner_account(base_url: str) -> None:
    with partner_api(base_url) as partner:
        clinic_id, _ = create_clinic(partner)
        clinician_id = create_clinician(partner)
    control(base_url, "POST", "reset")
    with partner_api(base_url) as partner:
        ids = partner.get(f"api/clinicians/{PARTNER_USER}/clinicIds").json()["Items"]
        gone = partner.get(f"api/clinicians/{clinician_id}").json()["Result"]["ResultCode"]
        new_clinic, _ = create_clinic(partner)
    assert ids == [{"ClinicId": CONFIG.partner_clinic_id}]
    assert gone == "ERROR"
    assert new_clinic > clinic_id


async def test_async_context_manager_serves() -> None:
    async with sandbox_server() as url:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{url}/webapi/v2/api/general/check", headers=SUBSCRIPTION)
    assert response.status_code == 401
