"""A proxy or prescribing agent acting for a prescriber: the token form carries
``acr_values=OnBehalfOfUserId``, the token cache keeps the proxy's tokens per prescriber, a
refused pairing is an auth error, and the supervisor calls fit DoseSpot's Swagger."""

from __future__ import annotations

import json

import pytest

from dosespot import DoseSpotCredentials
from dosespot.errors import DoseSpotAuthError
from dosespot.protocol import (
    remove_supervisors_request,
    set_supervisor_request,
    token_request,
)
from tests.contract.swagger import validate_request
from tests.dosespot import (
    OK,
    REGISTRATION_STATUS,
    FakeDoseSpot,
    json_response,
    make_client,
)

PROXY = DoseSpotCredentials(clinic_id=1001, clinic_key="clinic-key-abc", user_id=601)
CLINICIAN_ID = 3003
STATUS_ROUTE = f"GET api/clinicians/{CLINICIAN_ID}/registrationStatus"


def test_the_token_form_names_the_prescriber_only_when_acting_for_one() -> None:
    own = token_request(PROXY).form
    assert own is not None and "acr_values" not in own
    acting = token_request(PROXY.on_behalf_of(501)).form
    assert acting is not None
    assert acting["username"] == "601"
    assert acting["acr_values"] == "OnBehalfOfUserId=501"
    assert {k: v for k, v in acting.items() if k != "acr_values"} == own


def test_the_token_key_tells_a_proxy_for_each_prescriber_apart() -> None:
    keys = {PROXY.token_key, PROXY.on_behalf_of(501).token_key, PROXY.on_behalf_of(502).token_key}
    assert len(keys) == 3
    assert PROXY.on_behalf_of(501) == PROXY.on_behalf_of(501)
    assert "clinic-key-abc" not in repr(PROXY.on_behalf_of(501))


async def test_each_pairing_gets_its_own_token_and_the_cache_keeps_them_apart() -> None:
    fake = FakeDoseSpot({STATUS_ROUTE: [json_response(200, REGISTRATION_STATUS)]})
    async with make_client(fake, PROXY) as own:
        for_ada = own.as_user(PROXY.on_behalf_of(501))
        for_bo = own.as_user(PROXY.on_behalf_of(502))
        for client in (own, for_ada, for_bo, for_ada, own):
            await client.registration_status(CLINICIAN_ID)
    forms = fake.token_forms()
    assert [f.get("acr_values") for f in forms] == [
        None,
        "OnBehalfOfUserId=501",
        "OnBehalfOfUserId=502",
    ]
    assert {f["username"] for f in forms} == {"601"}
    assert [r.headers["Authorization"] for r in fake.calls(STATUS_ROUTE)] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
        "Bearer token-2",
        "Bearer token-1",
    ]


async def test_a_refused_pairing_is_an_auth_error_with_dosespots_words() -> None:
    refused = json_response(
        400, {"error": "invalid_grant", "error_description": "OnBehalfOfUser validation failed"}
    )
    fake = FakeDoseSpot({"POST connect/token": [refused]})
    async with make_client(fake, PROXY.on_behalf_of(501)) as client:
        with pytest.raises(DoseSpotAuthError, match="OnBehalfOfUser validation failed"):
            await client.registration_status(CLINICIAN_ID)


async def test_supervisor_calls_fit_the_swagger() -> None:
    put = set_supervisor_request(3003, 1001, 501)
    validate_request("PUT", "/" + put.path, put.json)
    assert put.json == [{"ClinicId": 1001, "SupervisorId": 501}]
    delete = remove_supervisors_request(3003, [1001])
    validate_request("DELETE", "/" + delete.path, delete.json)

    fake = FakeDoseSpot(
        {
            "PUT api/clinicians/3003/supervisors": [json_response(200, {"Result": OK})],
            "DELETE api/clinicians/3003/supervisors": [json_response(200, {"Result": OK})],
        }
    )
    async with make_client(fake) as client:
        await client.set_supervisor(3003, 1001, 501)
        await client.remove_supervisors(3003, [1001])
    (sent,) = fake.calls("PUT api/clinicians/3003/supervisors")
    assert json.loads(sent.content) == [{"ClinicId": 1001, "SupervisorId": 501}]
    (removed,) = fake.calls("DELETE api/clinicians/3003/supervisors")
    assert json.loads(removed.content) == {"ClinicIds": [1001]}
