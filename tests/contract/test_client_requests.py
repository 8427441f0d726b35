"""What the DoseSpot client sends, and what it is fed, checked against DoseSpot's Swagger.

Bodies are captured from the wire (httpx.MockTransport), not from ``to_body()``, so a
change anywhere between the model and the socket is caught. Every reply served to the
client is first validated as the operation's 200 response.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

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
)
from tests.contract.swagger import load_swagger, validate_request, validate_response
from tests.dosespot import (
    AGREEMENT_ACCEPTED,
    CHECK,
    CLINIC_DETAIL,
    CLINIC_IDS,
    CLINIC_KEY,
    CLINICIAN_DETAIL,
    CLINICIAN_EDITED_IN_DOSESPOT,
    CLINICIAN_ID,
    LEGAL_AGREEMENTS,
    LINKED,
    REGISTRATION_STATUS,
    FakeDoseSpot,
    clinic_create,
    clinician_create,
    json_response,
    make_client,
)

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


def fake_dosespot(**replies: Any) -> FakeDoseSpot:
    """DoseSpot serving REPLIES (the first per route), or ``replies`` keyed by route."""
    routes: dict[str, list[Any]] = {}
    for method, path, body in REPLIES:
        routes.setdefault(
            f"{method.upper()} {path.lstrip('/')}", [swagger_reply(method, path, body)]
        )
    for route, body in replies.items():
        method, path = route.split(" ", 1)
        routes[route] = [swagger_reply(method.lower(), "/" + path, body)]
    return FakeDoseSpot(routes)


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
