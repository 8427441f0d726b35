"""What the DoseSpot client sends, and what it is fed, checked against DoseSpot's Swagger.

Requests are captured from the wire (httpx.MockTransport), not from ``to_body()``, so a
change anywhere between the model and the socket is caught: every request the client
makes is checked as it arrives (path and query parameters, and the body, against the
operation's closed definitions). Every reply served to the client is first validated as
the operation's 200 response.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import jsonschema
import pytest

from dosespot import (
    Clinician,
    ClinicianCreate,
    DoseSpotClient,
    MedicalLicenseNumber,
    NaDeaNumber,
    TfaType,
    build_sso_url,
)
from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import (
    load_swagger,
    validate_request,
    validate_response,
    validate_wire_request,
)
from tests.dosespot import (
    AGREEMENT_ACCEPTED,
    API_PREFIX,
    BASE_URL,
    CHECK,
    CLINIC_DETAIL,
    CLINIC_IDS,
    CLINIC_KEY,
    CLINICIAN_DETAIL,
    CLINICIAN_EDITED_IN_DOSESPOT,
    CLINICIAN_ID,
    LEGAL_AGREEMENTS,
    LINKED,
    OK,
    REGISTRATION_STATUS,
    FakeDoseSpot,
    clinic_create,
    clinician_create,
    json_response,
    make_client,
)
from tests.sandbox import CONFIG as SANDBOX
from tests.sandbox import clinician_body, partner_api

# Every reply sample the client tests rely on, by the operation that returns it.
REPLIES: list[tuple[str, str, Any]] = [
    ("get", "/api/general/check", CHECK),
    ("post", "/api/clinics", CLINIC_KEY),
    ("get", "/api/clinics/2002", CLINIC_DETAIL),
    ("get", "/api/clinicians/3003/clinicIds", CLINIC_IDS),
    ("post", "/api/clinicians", CLINICIAN_ID),
    ("get", "/api/clinicians/3003", CLINICIAN_DETAIL),
    ("get", "/api/clinicians/3003", CLINICIAN_EDITED_IN_DOSESPOT),
    ("get", "/api/clinician", CLINICIAN_ID),
    ("get", "/api/clinicians/3003/registrationStatus", REGISTRATION_STATUS),
    ("post", "/api/clinicians/3003/clinics", LINKED),
    ("put", "/api/clinicians/3003", CHECK),
    ("get", "/api/clinicians/3003/legalAgreements", LEGAL_AGREEMENTS),
    ("post", "/api/clinicians/acceptAgreement", AGREEMENT_ACCEPTED),
    ("post", "/api/clinicians/3003/idpInit", CHECK),
    ("post", "/api/clinicians/3003/initTfaActivate", CHECK),
]


def swagger_reply(method: str, path: str, body: Any) -> httpx.Response:
    validate_response(method, path, body)
    return json_response(200, body)


# Members of Clinician a read returns that an edit cannot send back.
READ_ONLY_CLINICIAN = {"ClinicianId", "Confirmed", "AccountLocked", "ClinicInfo"}
# Members an edit sends under another name than the read's.
RENAMED_IN_EDIT = {
    "Roles": "ClinicianRoleType",
    "EpcsRequested": "EPCSRequested",
    "SpecialtyTypeId": "ClinicianSpecialtyType",
}


class ContractDoseSpot(FakeDoseSpot):
    """A FakeDoseSpot that refuses, by raising in the client, any request off the Swagger."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.removeprefix(API_PREFIX) != "connect/token":
            validate_wire_request(request, API_PREFIX)
        return super().__call__(request)


def fake_dosespot(
    replies: list[tuple[str, str, Any]] | None = None, /, **overrides: Any
) -> ContractDoseSpot:
    """DoseSpot serving ``replies`` (REPLIES by default; the first per route), or
    ``overrides`` keyed by route."""
    routes: dict[str, list[Any]] = {}
    for method, path, body in REPLIES if replies is None else replies:
        routes.setdefault(
            f"{method.upper()} {path.lstrip('/')}", [swagger_reply(method, path, body)]
        )
    for route, body in overrides.items():
        method, path = route.split(" ", 1)
        routes[route] = [swagger_reply(method.lower(), "/" + path, body)]
    return ContractDoseSpot(routes)


def definition(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = load_swagger()["definitions"][name]
    return schema


async def sent_body(
    route: str, operation: Callable[[DoseSpotClient], Awaitable[object]]
) -> dict[str, Any]:
    fake = fake_dosespot()
    async with make_client(fake) as client:
        await operation(client)
    (request,) = fake.calls(route)
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.content)


@pytest.mark.parametrize(("method", "path", "body"), REPLIES)
def test_reply_samples_fit_the_swagger(method: str, path: str, body: Any):
    validate_response(method, path, body)


async def test_every_operation_reads_its_swagger_shaped_reply():
    fake = fake_dosespot()
    async with make_client(fake) as client:
        await client.check()
        assert (await client.create_clinic(clinic_create())).clinic_id == 2002
        assert (await client.get_clinic(2002)).clinic_name == "Harbor Family Health"
        assert await client.clinician_clinic_ids(3003) == [1001, 2002]
        assert await client.create_clinician(clinician_create()) == 3003
        assert (await client.get_clinician(3003)).npi_number == "1234567893"
        assert await client.find_clinician_by_npi("1234567893") == 3003
        assert (await client.registration_status(3003)).name == "IDPSuccess"
        await client.add_clinician_to_clinics(3003, [1001, 2002])
        await client.update_clinician(3003, clinician_create())
        await client.update_clinician_fields(3003, email="ada.okafor@example.org")
        await client.deactivate_clinician(3003)
        assert [a.accepted for a in await client.legal_agreements(3003)] == [True, False, False]
        await client.accept_agreement(2, "Ada Okafor")
        await client.idp_init(3003)
        await client.init_tfa_activate(3003)


async def test_create_clinic_body_fits_add_edit_clinic_request():
    body = await sent_body("POST api/clinics", lambda c: c.create_clinic(clinic_create()))
    validate_request("post", "/api/clinics", body)
    assert body["PrimaryPhoneType"] == "Work"


async def test_minimal_create_clinic_body_fits():
    clinic = clinic_create(primary_fax=None, active=None, primary_phone_type=0)
    body = await sent_body("POST api/clinics", lambda c: c.create_clinic(clinic))
    validate_request("post", "/api/clinics", body)
    assert "PrimaryFax" not in body and "Active" not in body


async def test_create_clinician_body_with_dea_nadea_and_licences_fits():
    clinician = clinician_create(
        middle_name="Ngozi",
        address2="Suite 4",
        dea_numbers=[
            {"dea_number": "AO1234563", "state": "ME", "clinic_id": 2002},
            {"dea_number": "AO1234563-X1", "state": "NH", "clinic_id": 1001},
        ],
        nadea_numbers=[NaDeaNumber(nadea_number="xo1234563", state="ME", clinic_id=2002)],
        medical_license_numbers=[
            MedicalLicenseNumber(license_number="MD12345", state="ME", clinic_id=2002),
            MedicalLicenseNumber(license_number="NH-998877", state="NH"),
        ],
        roles=[1, "ReportingClinician", "epcscoordinator"],
        primary_phone_type=4,
    )
    body = await sent_body("POST api/clinicians", lambda c: c.create_clinician(clinician))
    validate_request("post", "/api/clinicians", body)
    assert body["DateOfBirth"] == "1980-04-01T00:00:00"
    assert body["ClinicianRoleType"] == [
        "PrescribingClinician",
        "ReportingClinician",
        "EpcsCoordinator",
    ]
    assert body["PrimaryPhoneType"] == "Home"
    assert body["DEANumbers"][1] == {"DEANumber": "AO1234563-X1", "State": "NH", "ClinicId": "1001"}
    assert body["NADEANumbers"] == [{"NADEANumber": "XO1234563", "State": "ME", "ClinicId": "2002"}]
    assert body["MedicalLicenseNumbers"][1] == {"LicenseNumber": "NH-998877", "State": "NH"}


async def test_minimal_create_clinician_body_fits():
    clinician = ClinicianCreate(
        first_name="Ada",
        last_name="Okafor",
        date_of_birth=date(1980, 4, 1),
        address1="12 Wharf St.",
        city="Portland",
        state="ME",
        zip_code="04101",
        primary_phone="2075550143",
        primary_fax="2075550144",
        roles=["ProxyClinician"],
    )
    body = await sent_body("POST api/clinicians", lambda c: c.create_clinician(clinician))
    validate_request("post", "/api/clinicians", body)
    assert set(body) == {
        "FirstName",
        "LastName",
        "DateOfBirth",
        "Address1",
        "City",
        "State",
        "ZipCode",
        "PrimaryPhone",
        "PrimaryFax",
        "ClinicianRoleType",
    }


async def test_add_clinician_to_clinics_body_fits():
    body = await sent_body(
        "POST api/clinicians/3003/clinics",
        lambda c: c.add_clinician_to_clinics(3003, [1001, 2002]),
    )
    validate_request("post", "/api/clinicians/3003/clinics", body)
    assert body == {"ClinicIds": [1001, 2002]}


async def test_edit_and_deactivate_bodies_fit_add_edit_clinician_request():
    edit = await sent_body(
        "PUT api/clinicians/3003", lambda c: c.update_clinician(3003, clinician_create())
    )
    validate_request("put", "/api/clinicians/3003", edit)
    off = await sent_body("PUT api/clinicians/3003", lambda c: c.deactivate_clinician(3003))
    validate_request("put", "/api/clinicians/3003", off)
    held = Clinician.model_validate(CLINICIAN_DETAIL["Item"])
    assert off == {**ClinicianCreate.from_clinician(held).to_body(), "Active": False}


def test_the_models_name_every_member_of_the_swagger_clinician_schemas():
    edit_members = set(definition("AddEditClinicianRequest")["properties"])
    read_members = set(definition("Clinician")["properties"])
    assert {f.alias for f in ClinicianCreate.model_fields.values()} == edit_members
    assert {f.alias for f in Clinician.model_fields.values()} == read_members - {"ClinicInfo"}
    # Every member an edit accepts comes from the read, so a read-then-edit loses nothing.
    carried = {RENAMED_IN_EDIT.get(name, name) for name in read_members - READ_ONLY_CLINICIAN}
    assert carried == edit_members


async def test_deactivation_puts_back_every_member_dosespot_returned():
    record = CLINICIAN_EDITED_IN_DOSESPOT["Item"]
    assert isinstance(record, dict)
    fake = fake_dosespot(**{"GET api/clinicians/3003": CLINICIAN_EDITED_IN_DOSESPOT})
    async with make_client(fake) as client:
        await client.deactivate_clinician(3003)
    (read,) = fake.calls("GET api/clinicians/3003")
    (request,) = fake.calls("PUT api/clinicians/3003")
    assert fake.requests.index(read) < fake.requests.index(request)
    body = json.loads(request.content)
    validate_request("put", "/api/clinicians/3003", body)
    expected = {
        RENAMED_IN_EDIT.get(name, name): value
        for name, value in record.items()
        if name not in READ_ONLY_CLINICIAN
    }
    expected["ClinicianSpecialtyType"] = "FamilyMedicine"
    assert body == {**expected, "Active": False}
    assert set(body) == set(definition("AddEditClinicianRequest")["properties"])


async def test_accept_agreement_body_fits():
    body = await sent_body(
        "POST api/clinicians/acceptAgreement", lambda c: c.accept_agreement(1, "Ada Okafor")
    )
    validate_request("post", "/api/clinicians/acceptAgreement", body)
    assert body == {"AgreementId": 1, "NameSigned": "Ada Okafor"}


@pytest.mark.parametrize("tfa_type", list(TfaType))
async def test_init_tfa_activate_body_fits(tfa_type: TfaType):
    body = await sent_body(
        "POST api/clinicians/3003/initTfaActivate",
        lambda c: c.init_tfa_activate(3003, tfa_type),
    )
    validate_request("post", "/api/clinicians/3003/initTfaActivate", body)
    assert body == {"TfaTypeId": tfa_type.name}


async def test_idp_init_sends_no_body():
    fake = fake_dosespot()
    async with make_client(fake) as client:
        await client.idp_init(3003)
    (request,) = fake.calls("POST api/clinicians/3003/idpInit")
    assert request.content == b""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/clinics", {**clinic_create().to_body(), "PrimaryPhoneType": 5}),
        ("/api/clinics", {k: v for k, v in clinic_create().to_body().items() if k != "ZipCode"}),
        ("/api/clinicians", {**clinician_create().to_body(), "ClinicianRoleType": ["prescriber"]}),
        ("/api/clinicians", {**clinician_create().to_body(), "DEANumbers": [{"DEANumber": "x"}]}),
        ("/api/clinicians", {**clinician_create().to_body(), "NADEANumbers": [{"State": "ME"}]}),
        ("/api/clinicians/3003/clinics", {"ClinicIds": ["1001"]}),
        ("/api/clinicians/acceptAgreement", {"AgreementId": 1}),
        ("/api/clinicians/acceptAgreement", {"AgreementId": "1", "NameSigned": "Ada"}),
        ("/api/clinicians/3003/initTfaActivate", {"TfaTypeId": "Sms"}),
        ("/api/clinicians/3003/initTfaActivate", {}),
    ],
)
def test_the_contract_check_rejects_off_contract_bodies(path: str, body: dict[str, Any]):
    with pytest.raises(jsonschema.ValidationError):
        validate_request("post", path, body)


# The checks themselves must be able to fail.


def test_a_misspelt_member_fails_the_closed_definition():
    body = clinician_create().to_body()
    validate_request("post", "/api/clinicians", body)
    misspelt = {k: v for k, v in body.items() if k != "EPCSRequested"} | {"EpcsRequested": True}
    with pytest.raises(jsonschema.ValidationError, match="EpcsRequested"):
        validate_request("post", "/api/clinicians", misspelt)
    with pytest.raises(jsonschema.ValidationError, match="Bogus"):
        validate_response("get", "/api/clinicians/3003", {**CLINICIAN_DETAIL, "Bogus": 1})
    nested = {"Items": [{"ClinicId": 1001, "Name": "x"}], "Result": OK}
    with pytest.raises(jsonschema.ValidationError, match="Name"):
        validate_response("get", "/api/clinicians/3003/clinicIds", nested)


def test_a_missing_required_member_fails():
    body = {k: v for k, v in clinician_create().to_body().items() if k != "LastName"}
    with pytest.raises(jsonschema.ValidationError, match="LastName"):
        validate_request("post", "/api/clinicians", body)
    with pytest.raises(jsonschema.ValidationError, match="ResultCode"):
        validate_response("get", "/api/general/check", {"Result": {"ResultDescription": ""}})


@pytest.mark.parametrize(
    "value",
    [
        "2025-05-06T23:43:01.483",
        "1980-04-01T00:00:00",
        "1980-04-01T00:00:00Z",
        "2025-05-06T23:43:01.4830000-04:00",
    ],
)
def test_date_times_as_dotnet_writes_them_pass(value: str):
    validate_request(
        "post", "/api/clinicians", {**clinician_create().to_body(), "DateOfBirth": value}
    )


@pytest.mark.parametrize(
    "value",
    [
        "04/01/1980",
        "1980-04-01",
        "1980-04-01 00:00:00",
        "1980-02-30T00:00:00",
        "1980-04-01T24:00:00",
        "1980-04-01T00:00",
        "1980-04-01T00:00:00+0000",
        "1980-04-01T00:00:00+25:00",
        "",
    ],
)
def test_malformed_date_times_fail(value: str):
    body = {**clinician_create().to_body(), "DateOfBirth": value}
    with pytest.raises(jsonschema.ValidationError, match="date-time"):
        validate_request("post", "/api/clinicians", body)
    with pytest.raises(jsonschema.ValidationError, match="date-time"):
        validate_response(
            "get",
            "/api/clinicians/3003/legalAgreements",
            {"Items": [{"AgreementId": 1, "AgreementDate": value}], "Result": OK},
        )


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "api/clinician?npi=1234567893&NPI=1"),
        ("GET", "api/clinicians/ada/registrationStatus"),
        ("GET", "api/clinicians/99999999999/registrationStatus"),
        ("GET", "api/clinicians/3003/clinicIds?clinicStatus=Open"),
        ("GET", "api/patients/search?firstName=Ada&dob=04%2F01%2F1980"),
        ("GET", "api/patients/search?firstName=Ada&pageNumber=two"),
        ("GET", "api/pharmacies/search?specialty=Retail%2CEPCS"),
        ("GET", "api/allergens/search?pageNumber=1"),
        ("POST", "api/clinicians/3003/idpInit?force=true"),
    ],
)
async def test_requests_off_the_swagger_fail_at_the_wire(method: str, url: str):
    fake = fake_dosespot()
    async with httpx.AsyncClient(base_url=BASE_URL, transport=fake.transport) as http:
        with pytest.raises(jsonschema.ValidationError):
            await http.request(method, url)


async def test_bodies_off_the_swagger_fail_at_the_wire():
    fake = fake_dosespot()
    async with httpx.AsyncClient(base_url=BASE_URL, transport=fake.transport) as http:
        with pytest.raises(jsonschema.ValidationError, match="takes no body"):
            await http.post("api/clinicians/3003/idpInit", json={"Force": True})
        with pytest.raises(jsonschema.ValidationError, match="needs a body"):
            await http.post("api/clinicians/acceptAgreement")
        with pytest.raises(jsonschema.ValidationError):
            await http.post("api/clinicians/acceptAgreement", json={"AgreementId": 1})


# Single sign-on, against DoseSpot's published recipe written out again here: a phrase of
# 32 letters and digits; SingleSignOnCode = phrase + base64(SHA-512(phrase + ClinicKey));
# SingleSignOnUserIdVerify = base64(SHA-512(UserId + phrase[:22] + ClinicKey)); trailing
# "=" removed from both. Nothing from dosespot.sso is used to check dosespot.sso.


def _published_digest(text: str) -> str:
    digest = hashlib.new("sha512", text.encode("utf-8")).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii").rstrip("=")


def published_sso_check(url: str, clinic_key: str) -> dict[str, str]:
    """The link's parameters as DoseSpot decodes them, asserting the published recipe."""
    parts = urlsplit(url)
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        assert name not in params, f"{name} twice"
        params[name] = value
    length = int(params["SingleSignOnPhraseLength"])
    assert length == 32
    code = params["SingleSignOnCode"]
    phrase = code[:length]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", phrase)
    assert code == phrase + _published_digest(phrase + clinic_key)
    user_id = params["SingleSignOnUserId"]
    expected = _published_digest(user_id + phrase[:22] + clinic_key)
    assert params["SingleSignOnUserIdVerify"] == expected
    assert not params["SingleSignOnCode"].endswith("=")
    return params


def published_sso_url(
    base: str, clinic_id: int, clinic_key: str, user_id: int, **extra: str
) -> str:
    phrase = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    params = {
        "SingleSignOnClinicId": str(clinic_id),
        "SingleSignOnUserId": str(user_id),
        "SingleSignOnPhraseLength": "32",
        "SingleSignOnCode": phrase + _published_digest(phrase + clinic_key),
        "SingleSignOnUserIdVerify": _published_digest(f"{user_id}{phrase[:22]}{clinic_key}"),
        **extra,
    }
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    return f"{base}?{query}"


SSO_BASE = "https://my.staging.dosespot.com/LoginSingleSignOn.aspx"


@pytest.mark.parametrize("attempt", range(20))
def test_the_client_sso_link_follows_the_published_recipe(attempt: int):
    # Random phrases: twenty links make a "+", "/" or other character needing escape
    # certain to appear in some digest.
    url = build_sso_url(SSO_BASE, 1001, "K3y+/=Clinic&Key", 777, patient_id=98765)
    params = published_sso_check(url, "K3y+/=Clinic&Key")
    assert params["SingleSignOnClinicId"] == "1001"
    assert params["PatientId"] == "98765"
    assert "RefillsErrors" not in params
    assert url.startswith(SSO_BASE + "?")


def test_the_refills_and_errors_link_follows_the_published_recipe():
    url = build_sso_url(SSO_BASE, 1001, "clinic-key", 777, refills_errors=True)
    params = published_sso_check(url, "clinic-key")
    assert params["RefillsErrors"] == "1"
    assert "PatientId" not in params


def test_the_published_check_refuses_a_link_made_with_another_key():
    url = build_sso_url(SSO_BASE, 1001, "clinic-key", 777)
    with pytest.raises(AssertionError):
        published_sso_check(url, "another-key")
    with pytest.raises(AssertionError):
        published_sso_check(url.replace("SingleSignOnUserId=777", "SingleSignOnUserId=778"), "x")


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0)) as url:
        yield url


@pytest.fixture(scope="module")
def confirmed_clinician(sandbox_url: str) -> int:
    with partner_api(sandbox_url) as partner:
        response = partner.post("api/clinicians", json=clinician_body())
        assert response.status_code == 200, response.text
        clinician_id: int = response.json()["Id"]
        deadline = time.monotonic() + 5
        while partner.get(f"api/clinicians/{clinician_id}").json()["Item"]["Confirmed"] is not True:
            assert time.monotonic() < deadline, "the clinician was never confirmed"
            time.sleep(0.02)
    return clinician_id


def sandbox_sso_result(url: str) -> str:
    response = httpx.get(url)
    assert response.status_code == 200
    result: str = response.headers["X-Sandbox-SSO-Result"]
    return result


def test_the_sandbox_accepts_a_link_made_by_the_published_recipe(
    sandbox_url: str, confirmed_clinician: int
):
    base = f"{sandbox_url}/LoginSingleSignOn.aspx"
    key = SANDBOX.partner_clinic_key
    clinic = SANDBOX.partner_clinic_id
    assert sandbox_sso_result(published_sso_url(base, clinic, key, confirmed_clinician)) == (
        "signed_in"
    )
    queues = published_sso_url(base, clinic, key, confirmed_clinician, RefillsErrors="1")
    assert sandbox_sso_result(queues) == "signed_in"
    client_link = build_sso_url(base, clinic, key, confirmed_clinician, refills_errors=True)
    published_sso_check(client_link, key)
    assert sandbox_sso_result(client_link) == "signed_in"


def test_the_sandbox_refuses_a_link_the_published_recipe_does_not_make(
    sandbox_url: str, confirmed_clinician: int
):
    base = f"{sandbox_url}/LoginSingleSignOn.aspx"
    clinic = SANDBOX.partner_clinic_id
    wrong_key = published_sso_url(base, clinic, "not-the-clinic-key", confirmed_clinician)
    assert sandbox_sso_result(wrong_key) == "incorrect_sso_calculations"
    good = published_sso_url(base, clinic, SANDBOX.partner_clinic_key, confirmed_clinician)
    # The user id bound into the verify digest is not the one signing in.
    other_user = good.replace(
        f"SingleSignOnUserId={confirmed_clinician}",
        f"SingleSignOnUserId={confirmed_clinician + 1}",
    )
    assert sandbox_sso_result(other_user) == "incorrect_sso_calculations"
    # A digest whose "+" arrives as a space (sent unescaped) does not verify.
    params = dict(parse_qsl(urlsplit(good).query))
    unescaped = "&".join(f"{k}={v}" for k, v in params.items())
    if "+" in params["SingleSignOnCode"] + params["SingleSignOnUserIdVerify"]:
        assert sandbox_sso_result(f"{base}?{unescaped}") == "incorrect_sso_calculations"
