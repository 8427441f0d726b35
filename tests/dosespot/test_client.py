"""The httpx shell against a scripted DoseSpot (httpx.MockTransport)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from dosespot import (
    DoseSpotAuthError,
    DoseSpotClient,
    DoseSpotCredentials,
    DoseSpotRateLimited,
    DoseSpotRefused,
    DoseSpotUnavailable,
    DoseSpotValidationError,
    RegistrationStatus,
    UnknownRegistrationStatus,
)
from tests.dosespot import (
    ADMIN,
    CHECK,
    CLINIC_DETAIL,
    CLINIC_IDS,
    CLINIC_KEY,
    CLINICIAN,
    CLINICIAN_DETAIL,
    CLINICIAN_ID,
    LINKED,
    MODEL_STATE_400,
    OK,
    REFUSED_ON_200,
    REGISTRATION_STATUS,
    SUBSCRIPTION_KEY,
    TOKEN,
    TOKEN_REFUSED,
    FakeDoseSpot,
    clinic_create,
    clinician_create,
    json_response,
    make_client,
)

CHECK_ROUTE = "GET api/general/check"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer(request: httpx.Request) -> str | None:
    return request.headers.get("Authorization")


async def test_every_call_sends_subscription_key_and_accept_including_token():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(200, CHECK)]})
    async with make_client(fake) as client:
        await client.check()
        await client.check()
    assert len(fake.requests) == 3
    for request in fake.requests:
        assert request.headers["Subscription-Key"] == SUBSCRIPTION_KEY
        assert request.headers["Accept"] == "application/json"
    token_call, *api_calls = fake.requests
    assert str(token_call.url) == "https://dosespot.test/webapi/v2/connect/token"
    assert "Authorization" not in token_call.headers
    assert all(bearer(r) == "Bearer token-1" for r in api_calls)
    assert str(api_calls[0].url) == "https://dosespot.test/webapi/v2/api/general/check"


async def test_token_request_is_form_encoded_password_grant():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(200, CHECK)]})
    async with make_client(fake) as client:
        await client.check()
    token_call = fake.calls("POST connect/token")[0]
    assert token_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert fake.token_forms() == [
        {
            "grant_type": "password",
            "client_id": "1001",
            "client_secret": "clinic-key-abc",
            "username": "501",
            "password": "clinic-key-abc",
            "scope": "api",
        }
    ]


async def test_token_is_cached_until_shortly_before_expiry():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(200, CHECK)]})
    clock = Clock()
    async with make_client(fake, clock=clock) as client:
        await client.check()
        clock.now += 500
        await client.check()
        assert fake.tokens_issued == 1
        clock.now += 70  # 570 s: within 30 s of the 599 s lifetime
        await client.check()
    assert fake.tokens_issued == 2
    assert [bearer(r) for r in fake.calls(CHECK_ROUTE)] == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_401_refreshes_the_token_once_and_retries():
    fake = FakeDoseSpot(
        {
            "GET api/clinicians/3003": [
                json_response(401, {"Message": "Authorization has been denied"}),
                json_response(200, CLINICIAN_DETAIL),
            ]
        }
    )
    async with make_client(fake) as client:
        clinician = await client.get_clinician(3003)
    assert clinician.clinician_id == 3003
    assert fake.tokens_issued == 2
    assert [bearer(r) for r in fake.calls("GET api/clinicians/3003")] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_401_after_refresh_is_an_auth_error():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(401, {"Message": "denied"})]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotAuthError) as caught:
            await client.check()
    assert caught.value.http_status == 401
    assert caught.value.retryable is False
    assert fake.tokens_issued == 2
    assert len(fake.calls(CHECK_ROUTE)) == 2


async def test_refused_token_is_an_auth_error():
    fake = FakeDoseSpot(
        {
            "POST connect/token": [json_response(400, TOKEN_REFUSED)],
            CHECK_ROUTE: [json_response(200, CHECK)],
        }
    )
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotAuthError, match="Clinic is not valid"):
            await client.check()
    assert fake.calls(CHECK_ROUTE) == []


async def test_429_raises_at_once_with_the_retry_after_dosespot_sent():
    route = "GET api/clinicians/3003/clinicIds"
    fake = FakeDoseSpot(
        {route: [json_response(429, {}, {"Retry-After": "37"}), json_response(200, CLINIC_IDS)]}
    )
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRateLimited) as caught:
            await client.clinician_clinic_ids(3003)
    assert len(fake.calls(route)) == 1
    assert (caught.value.retryable, caught.value.retry_after) == (True, 37.0)
    assert caught.value.http_status == 429


async def test_429_without_retry_after_asks_for_dosespots_ten_seconds():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(429, {}), json_response(200, CHECK)]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRateLimited) as caught:
            await client.check()
    assert len(fake.calls(CHECK_ROUTE)) == 1
    assert caught.value.retry_after == 10.0


async def test_429_is_raised_however_long_the_wait():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(429, {}, {"Retry-After": "3600"})]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRateLimited) as caught:
            await client.check()
    assert len(fake.calls(CHECK_ROUTE)) == 1
    assert caught.value.retry_after == 3600.0


async def test_429_on_the_token_call_is_raised_at_once_too():
    fake = FakeDoseSpot(
        {
            "POST connect/token": [
                json_response(429, {}, {"Retry-After": "4"}),
                json_response(200, TOKEN),
            ],
            CHECK_ROUTE: [json_response(200, CHECK)],
        }
    )
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRateLimited) as caught:
            await client.check()
        assert caught.value.retry_after == 4.0
        assert len(fake.requests) == 1
        # The next attempt (Temporal's retry) gets a token and goes through.
        await client.check()
    assert len(fake.calls("POST connect/token")) == 2
    assert bearer(fake.calls(CHECK_ROUTE)[0]) == "Bearer token-1"


async def test_429_after_a_401_refresh_is_raised_without_waiting():
    fake = FakeDoseSpot(
        {
            CHECK_ROUTE: [
                json_response(401, {}),
                json_response(429, {}, {"Retry-After": "2"}),
                json_response(200, CHECK),
            ]
        }
    )
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRateLimited) as caught:
            await client.check()
    assert caught.value.retry_after == 2.0
    assert len(fake.calls(CHECK_ROUTE)) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_unavailable_and_retryable(status: int):
    fake = FakeDoseSpot(
        {CHECK_ROUTE: [json_response(status, {"Message": "boom"}, {"Request-Id": "rq"})]}
    )
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotUnavailable) as caught:
            await client.check()
    assert (caught.value.http_status, caught.value.retryable, caught.value.request_id) == (
        status,
        True,
        "rq",
    )


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
async def test_network_failure_is_unavailable(failure: Exception):
    fake = FakeDoseSpot({CHECK_ROUTE: [failure]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotUnavailable) as caught:
            await client.check()
    assert caught.value.retryable is True
    assert caught.value.http_status is None


async def test_network_failure_on_token_call_is_unavailable():
    fake = FakeDoseSpot({"POST connect/token": [httpx.ConnectTimeout("slow")]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotUnavailable):
            await client.check()


async def test_as_user_uses_its_own_token_and_shares_the_cache():
    fake = FakeDoseSpot(
        {"GET api/clinicians/3003/registrationStatus": [json_response(200, REGISTRATION_STATUS)]}
    )
    async with make_client(fake) as admin:
        clinician = admin.as_user(CLINICIAN)
        assert clinician.credentials == CLINICIAN
        assert await clinician.registration_status(3003) is RegistrationStatus.IDPSuccess
        await admin.registration_status(3003)
        await admin.as_user(CLINICIAN).registration_status(3003)
        await clinician.aclose()
        await admin.registration_status(3003)
    assert [form["username"] for form in fake.token_forms()] == ["777", "501"]
    assert [bearer(r) for r in fake.calls("GET api/clinicians/3003/registrationStatus")] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_unknown_registration_status_fails_closed():
    fake = FakeDoseSpot(
        {
            "GET api/clinicians/3003/registrationStatus": [
                json_response(200, {"Item": 42, "Result": OK})
            ]
        }
    )
    async with make_client(fake) as client:
        with pytest.raises(UnknownRegistrationStatus):
            await client.registration_status(3003)


async def test_create_clinic_and_get_clinic():
    fake = FakeDoseSpot(
        {
            "POST api/clinics": [json_response(200, CLINIC_KEY)],
            "GET api/clinics/2002": [json_response(200, CLINIC_DETAIL)],
        }
    )
    async with make_client(fake) as client:
        credentials = await client.create_clinic(clinic_create())
        clinic = await client.get_clinic(credentials.clinic_id)
    assert (credentials.clinic_id, credentials.clinic_key) == (2002, "NEWKEY42")
    assert clinic.clinic_name == "Harbor Family Health"
    sent = fake.calls("POST api/clinics")[0]
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content)["PrimaryPhoneType"] == "Work"


async def test_create_clinician_returns_id_and_surfaces_validation_errors():
    fake = FakeDoseSpot(
        {
            "POST api/clinicians": [
                json_response(200, CLINICIAN_ID),
                json_response(400, MODEL_STATE_400),
            ]
        }
    )
    async with make_client(fake) as client:
        assert await client.create_clinician(clinician_create()) == 3003
        with pytest.raises(DoseSpotValidationError) as caught:
            await client.create_clinician(clinician_create())
    assert set(caught.value.field_errors) == {"request.PrimaryFax", "request.DateOfBirth"}
    assert "Okafor" not in str(caught.value)


async def test_error_on_200_is_refused():
    fake = FakeDoseSpot({"GET api/clinicians/3003": [json_response(200, REFUSED_ON_200)]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRefused) as caught:
            await client.get_clinician(3003)
    assert caught.value.retryable is False
    assert "not authorized" in str(caught.value)


async def test_find_clinician_by_npi():
    not_found = {"Result": {"ResultCode": "ERROR", "ResultDescription": "Clinician not found."}}
    fake = FakeDoseSpot(
        {
            "GET api/clinician": [
                json_response(200, CLINICIAN_ID),
                json_response(200, {"Id": 0, "Result": OK}),
                json_response(404, {"Message": "Not found"}),
                json_response(200, not_found),
            ]
        }
    )
    async with make_client(fake) as client:
        assert await client.find_clinician_by_npi("1234567893") == 3003
        assert await client.find_clinician_by_npi("1234567893") is None
        assert await client.find_clinician_by_npi("1234567893") is None
        assert await client.find_clinician_by_npi("1234567893") is None
        with pytest.raises(ValueError):
            await client.find_clinician_by_npi("  ")
    assert fake.calls("GET api/clinician")[0].url.params["npi"] == "1234567893"


async def test_add_clinician_to_clinics():
    refused = [
        {"Result": OK},
        {"Result": {"ResultCode": "ERROR", "ResultDescription": "Clinic is inactive"}},
    ]
    fake = FakeDoseSpot(
        {
            "POST api/clinicians/3003/clinics": [
                json_response(200, LINKED),
                json_response(200, refused),
            ]
        }
    )
    async with make_client(fake) as client:
        await client.add_clinician_to_clinics(3003, [1001, 2002, 1001])
        with pytest.raises(DoseSpotRefused, match="Clinic is inactive"):
            await client.add_clinician_to_clinics(3003, [1001, 2002])
        await client.add_clinician_to_clinics(3003, [])
    calls = fake.calls("POST api/clinicians/3003/clinics")
    assert len(calls) == 2
    assert json.loads(calls[0].content) == {"ClinicIds": [1001, 2002]}


async def test_find_clinic_looks_before_write():
    other = json.loads(json.dumps(CLINIC_DETAIL))
    other["Clinic"].update(ClinicId=1001, ClinicName="Head Office")
    fake = FakeDoseSpot(
        {
            "GET api/clinics/1001": [json_response(200, other)],
            "GET api/clinics/2002": [json_response(200, CLINIC_DETAIL)],
        }
    )
    candidate = clinic_create(clinic_name="HARBOR family health", primary_phone="207-555-0143")
    async with make_client(fake) as client:
        found = await client.find_clinic(candidate, [404, 1001, 2002])
        missing = await client.find_clinic(clinic_create(city="Bangor"), [1001, 2002])
    assert found is not None and found.clinic_id == 2002
    assert missing is None


async def test_find_clinic_reports_progress_after_each_clinic_it_scans():
    fake = FakeDoseSpot({"GET api/clinics/2002": [json_response(200, CLINIC_DETAIL)]})
    progress: list[tuple[int, int]] = []
    async with make_client(fake) as client:
        missing = await client.find_clinic(
            clinic_create(city="Bangor"),
            [404, 2002, 404, 2002],
            on_progress=lambda scanned, total: progress.append((scanned, total)),
        )
        progress_until_found: list[tuple[int, int]] = []
        found = await client.find_clinic(
            clinic_create(),
            [404, 2002, 1001],
            on_progress=lambda scanned, total: progress_until_found.append((scanned, total)),
        )
    assert missing is None
    assert progress == [(1, 2), (2, 2)]
    assert found is not None and found.clinic_id == 2002
    assert progress_until_found == [(1, 3), (2, 3)]


async def test_find_clinic_does_not_guess_absent_on_failure():
    fake = FakeDoseSpot({"GET api/clinics/2002": [json_response(503, {})]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotUnavailable):
            await client.find_clinic(clinic_create(), [2002])


async def test_logs_name_route_and_status_but_no_personal_data(caplog: pytest.LogCaptureFixture):
    fake = FakeDoseSpot(
        {
            "GET api/clinician": [json_response(200, CLINICIAN_ID)],
            "POST api/clinicians": [json_response(400, MODEL_STATE_400)],
        }
    )
    caplog.set_level(logging.DEBUG, logger="dosespot")
    async with make_client(fake) as client:
        await client.find_clinician_by_npi("1234567893")
        with pytest.raises(DoseSpotValidationError):
            await client.create_clinician(clinician_create())
    text = caplog.text
    assert "GET api/clinician -> 200" in text
    assert "POST api/clinicians -> 400" in text
    for secret in ("1234567893", "Okafor", "1980", "clinic-key-abc", "token-1", SUBSCRIPTION_KEY):
        assert secret not in text


async def test_derived_client_close_keeps_the_shared_pool_open():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(200, CHECK)]})
    admin = make_client(fake)
    other = admin.as_user(DoseSpotCredentials(clinic_id=2002, clinic_key="NEWKEY42", user_id=9))
    await other.aclose()
    await admin.check()
    await admin.aclose()
    with pytest.raises(RuntimeError):
        await admin.check()


async def test_base_url_without_trailing_slash_is_accepted():
    fake = FakeDoseSpot({CHECK_ROUTE: [json_response(200, CHECK)]})
    base = "https://dosespot.test/webapi/v2"
    async with DoseSpotClient(base, SUBSCRIPTION_KEY, ADMIN, transport=fake.transport) as client:
        await client.check()
    assert str(fake.calls(CHECK_ROUTE)[0].url) == f"{base}/api/general/check"
