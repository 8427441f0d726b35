"""Every sandbox response, success and refusal, fits DoseSpot's published Swagger."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dosespot_sandbox import SandboxConfig, validation
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import load_swagger, validate_request, validate_response
from tests.sandbox import CONFIG, api, clinic_body, clinician_body, get_token, partner_api

PARTNER_CLINIC = CONFIG.partner_clinic_id
PARTNER_USER = CONFIG.partner_user_id
UNKNOWN_ID = 424242


def call(client: httpx.Client, method: str, path: str, body: Any = None, **params: str) -> Any:
    """Send a Swagger-valid request and return the response body after checking it too."""
    if body is not None:
        validate_request(method, "/" + path, body)
    response = client.request(method, path, json=body, params=params or None)
    assert response.status_code == 200, response.text
    payload = response.json()
    validate_response(method, "/" + path, payload)
    return payload


def result_code(payload: dict[str, Any]) -> str:
    code: str = payload["Result"]["ResultCode"]
    return code


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0)) as url:
        yield url


@pytest.fixture(scope="module")
def partner(base_url: str) -> Iterator[httpx.Client]:
    with partner_api(base_url) as client:
        yield client


@pytest.fixture(scope="module")
def clinic(partner: httpx.Client) -> tuple[int, str]:
    payload = call(partner, "POST", "api/clinics", clinic_body())
    assert result_code(payload) == "OK"
    return payload["ClinicId"], payload["ClinicKey"]


@pytest.fixture(scope="module")
def clinician(partner: httpx.Client) -> int:
    payload = call(
        partner,
        "POST",
        "api/clinicians",
        clinician_body(
            MiddleName="Q",
            DEANumbers=[{"DEANumber": "AR1234563", "State": "MA", "ClinicId": str(PARTNER_CLINIC)}],
            NADEANumbers=[{"NADEANumber": "XA1234567", "State": "MA"}],
            MedicalLicenseNumbers=[{"LicenseNumber": "MD-123", "State": "MA"}],
            ClinicianRoleType=["PrescribingClinician", "EpcsCoordinator"],
            EPCSRequested=True,
            PDMPRoleType="Physician",
            ClinicianSpecialtyType="FamilyMedicine",
        ),
    )
    assert result_code(payload) == "OK"
    clinician_id: int = payload["Id"]
    return clinician_id


def test_health_check(partner: httpx.Client) -> None:
    assert result_code(call(partner, "GET", "api/general/check")) == "OK"


def test_add_clinic_ok_and_refused(base_url: str, partner: httpx.Client, clinician: int) -> None:
    assert result_code(call(partner, "POST", "api/clinics", clinic_body(Active=True))) == "OK"
    token = get_token(base_url, PARTNER_CLINIC, CONFIG.partner_clinic_key, clinician)
    with api(base_url, token) as not_admin:
        assert result_code(call(not_admin, "POST", "api/clinics", clinic_body())) == "ERROR"


def test_clinic_details(partner: httpx.Client, clinic: tuple[int, str]) -> None:
    clinic_id, _ = clinic
    found = call(partner, "GET", f"api/clinics/{clinic_id}")
    assert result_code(found) == "OK"
    assert found["Clinic"]["ClinicId"] == clinic_id
    assert result_code(call(partner, "GET", f"api/clinics/{UNKNOWN_ID}")) == "ERROR"


def test_clinic_ids(partner: httpx.Client, clinic: tuple[int, str]) -> None:
    ids = call(partner, "GET", f"api/clinicians/{PARTNER_USER}/clinicIds")
    assert {"ClinicId": clinic[0]} in ids["Items"]
    active = call(partner, "GET", f"api/clinicians/{PARTNER_USER}/clinicIds", clinicStatus="Active")
    assert result_code(active) == "OK"
    assert result_code(call(partner, "GET", f"api/clinicians/{UNKNOWN_ID}/clinicIds")) == "ERROR"


def test_clinician_details_pending_confirmed_and_missing(
    base_url: str, partner: httpx.Client, clinician: int
) -> None:
    minimal = clinician_body()
    del minimal["PrimaryPhoneType"], minimal["DEANumber"], minimal["Email"]
    httpx.put(
        f"{base_url}/_sandbox/scenarios/default", json={"confirmation_delay_seconds": 3600}
    ).raise_for_status()
    pending_id = call(partner, "POST", "api/clinicians", minimal)["Id"]
    pending = call(partner, "GET", f"api/clinicians/{pending_id}")
    assert pending["Item"]["Confirmed"] is False

    confirmed = call(partner, "GET", f"api/clinicians/{clinician}")
    assert confirmed["Item"]["Confirmed"] is True
    assert confirmed["Item"]["Roles"] == ["PrescribingClinician", "EpcsCoordinator"]
    assert result_code(call(partner, "GET", f"api/clinicians/{UNKNOWN_ID}")) == "ERROR"


def test_lookup_by_npi(partner: httpx.Client, clinician: int) -> None:
    npi = call(partner, "GET", f"api/clinicians/{clinician}")["Item"]["NPINumber"]
    assert call(partner, "GET", "api/clinician", npi=npi)["Id"] == clinician
    assert call(partner, "GET", "api/clinician", dea="AR1234563")["Id"] == clinician
    assert result_code(call(partner, "GET", "api/clinician", npi="1000000000")) == "ERROR"
    assert result_code(call(partner, "GET", "api/clinician")) == "ERROR"


def test_registration_status(partner: httpx.Client, clinician: int) -> None:
    status = call(partner, "GET", f"api/clinicians/{clinician}/registrationStatus")
    assert status["Item"] == "RegistrationSuccess"
    missing = call(partner, "GET", f"api/clinicians/{UNKNOWN_ID}/registrationStatus")
    assert result_code(missing) == "ERROR"


def test_add_clinician_to_clinics(
    partner: httpx.Client, clinic: tuple[int, str], clinician: int
) -> None:
    path = f"api/clinicians/{clinician}/clinics"
    results = call(partner, "POST", path, {"ClinicIds": [clinic[0], UNKNOWN_ID]})
    assert [result_code(entry) for entry in results] == ["OK", "ERROR"]
    refused = call(partner, "POST", f"api/clinicians/{UNKNOWN_ID}/clinics", {"ClinicIds": [1]})
    assert [result_code(entry) for entry in refused] == ["ERROR"]


@pytest.fixture(scope="module")
def verifying(base_url: str, partner: httpx.Client) -> int:
    """A confirmed clinician whose own scenario finishes every step at once."""
    body = clinician_body()
    httpx.put(
        f"{base_url}/_sandbox/scenarios/clinicians/{body['NPINumber']}",
        json={"attempt_delay_seconds": 0, "tfa_delay_seconds": 0},
    ).raise_for_status()
    clinician_id: int = call(partner, "POST", "api/clinicians", body)["Id"]
    httpx.post(f"{base_url}/_sandbox/clinicians/{clinician_id}/confirm").raise_for_status()
    return clinician_id


def wait_for(client: httpx.Client, clinician_id: int, status: str) -> None:
    path = f"api/clinicians/{clinician_id}/registrationStatus"
    deadline = time.monotonic() + 5
    while call(client, "GET", path)["Item"] != status:
        assert time.monotonic() < deadline, f"never reached {status}"
        time.sleep(0.02)


def test_legal_agreements_and_acceptance(base_url: str, partner: httpx.Client, verifying: int):
    path = f"api/clinicians/{verifying}/legalAgreements"
    unsigned = call(partner, "GET", path)
    assert result_code(unsigned) == "OK"
    assert [item["AgreementId"] for item in unsigned["Items"]] == [1, 2, 3]
    assert result_code(call(partner, "GET", f"api/clinicians/{UNKNOWN_ID}/legalAgreements")) == (
        "ERROR"
    )

    token = get_token(base_url, PARTNER_CLINIC, CONFIG.partner_clinic_key, verifying)
    with api(base_url, token) as clinician:
        signed = call(
            clinician,
            "POST",
            "api/clinicians/acceptAgreement",
            {"AgreementId": 2, "NameSigned": "Dana Reyes"},
        )
        assert (result_code(signed), signed["AgreementId"]) == ("OK", 2)
        refused = call(
            clinician,
            "POST",
            "api/clinicians/acceptAgreement",
            {"AgreementId": 99, "NameSigned": "Dana Reyes"},
        )
        assert (result_code(refused), refused["AgreementId"]) == ("ERROR", 0)
    dated = call(partner, "GET", path)["Items"]
    assert ["AgreementDate" in item for item in dated] == [False, True, False]


def test_identity_proofing_and_two_factor(partner: httpx.Client, verifying: int):
    tfa = {"TfaTypeId": "Mobile"}
    early = call(partner, "POST", f"api/clinicians/{verifying}/initTfaActivate", tfa)
    assert result_code(early) == "ERROR"
    assert result_code(call(partner, "POST", f"api/clinicians/{verifying}/idpInit")) == "OK"
    wait_for(partner, verifying, "IDPSuccess")
    assert result_code(call(partner, "POST", f"api/clinicians/{verifying}/idpInit")) == "ERROR"
    started = call(partner, "POST", f"api/clinicians/{verifying}/initTfaActivate", tfa)
    assert result_code(started) == "OK"
    wait_for(partner, verifying, "TFAActivatedSuccess")
    assert result_code(call(partner, "GET", f"api/clinicians/{verifying}")) == "OK"
    for path, body in (
        (f"api/clinicians/{UNKNOWN_ID}/idpInit", None),
        (f"api/clinicians/{UNKNOWN_ID}/initTfaActivate", {"TfaTypeId": "Token"}),
    ):
        assert result_code(call(partner, "POST", path, body)) == "ERROR"


def test_edit_clinician(partner: httpx.Client):
    clinician = call(partner, "POST", "api/clinicians", clinician_body())["Id"]
    current = call(partner, "GET", f"api/clinicians/{clinician}")["Item"]
    body = clinician_body(NPINumber=current["NPINumber"], Suffix="MD", Prefix="Dr")
    assert result_code(call(partner, "PUT", f"api/clinicians/{clinician}", body)) == "OK"
    edited = call(partner, "GET", f"api/clinicians/{clinician}")["Item"]
    assert (edited["Prefix"], edited["Suffix"]) == ("Dr", "MD")
    refused = call(partner, "PUT", f"api/clinicians/{UNKNOWN_ID}", clinician_body())
    assert result_code(refused) == "ERROR"


def test_a_read_returns_every_member_the_last_edit_stored(partner: httpx.Client):
    clinician = call(partner, "POST", "api/clinicians", clinician_body())["Id"]
    npi = call(partner, "GET", f"api/clinicians/{clinician}")["Item"]["NPINumber"]
    edit = clinician_body(
        NPINumber=npi,
        Prefix="Dr.",
        MiddleName="Q",
        Suffix="MD, PhD",
        Address2="Suite 4",
        PhoneAdditional1="6175550001",
        PhoneAdditionalType1="Cell",
        PhoneAdditional2="6175550002",
        PhoneAdditionalType2="Night",
        PhoneAdditional3="6175550003",
        PhoneAdditionalType3="Beeper",
        DEANumbers=[{"DEANumber": "AR1234563", "State": "MA", "ClinicId": str(PARTNER_CLINIC)}],
        NADEANumbers=[{"NADEANumber": "XA1234567", "State": "MA"}],
        MedicalLicenseNumbers=[{"LicenseNumber": "MD-123", "State": "MA"}],
        ClinicianRoleType=["PrescribingClinician", "EpcsCoordinator"],
        EPCSRequested=True,
        Active=True,
        PDMPRoleType="NursePractioner",
        ClinicianSpecialtyType="Psychiatry",
    )
    assert set(edit) == set(load_swagger()["definitions"]["AddEditClinicianRequest"]["properties"])
    assert result_code(call(partner, "PUT", f"api/clinicians/{clinician}", edit)) == "OK"
    item = call(partner, "GET", f"api/clinicians/{clinician}")["Item"]
    renamed = {
        "ClinicianRoleType": "Roles",
        "EPCSRequested": "EpcsRequested",
        "ClinicianSpecialtyType": "SpecialtyTypeId",
    }
    returned = {name: item.get(renamed.get(name, name)) for name in edit}
    # The read numbers the specialty (declared order from 1); the edit names it.
    assert returned == {**edit, "ClinicianSpecialtyType": 11}


@pytest.mark.parametrize(
    ("definition", "spec"),
    [
        ("AddEditClinicRequest", validation.ADD_EDIT_CLINIC_REQUEST),
        ("AddEditClinicianRequest", validation.ADD_EDIT_CLINICIAN_REQUEST),
        ("DeaNumber", validation.DEA_NUMBER),
        ("NaDeaNumber", validation.NADEA_NUMBER),
        ("MedicalLicenseNumber", validation.MEDICAL_LICENSE_NUMBER),
        ("ClinicianAddMultipleClinicsRequest", validation.CLINICIAN_ADD_MULTIPLE_CLINICS_REQUEST),
        ("ClinicianAcceptAgreementRequest", validation.CLINICIAN_ACCEPT_AGREEMENT_REQUEST),
        (
            "ClinicianInitializeTfaActivationRequest",
            validation.CLINICIAN_INITIALIZE_TFA_ACTIVATION_REQUEST,
        ),
    ],
)
def test_request_rules_match_the_swagger(definition: str, spec: validation.Spec) -> None:
    """The sandbox enforces exactly the published members, required set, lengths and patterns."""
    schema = load_swagger()["definitions"][definition]
    assert set(spec.members) == set(schema["properties"])
    assert {name for name, member in spec.members.items() if member.required} == set(
        schema.get("required", [])
    )
    for name, prop in schema["properties"].items():
        member = spec.members[name]
        assert member.max_length == prop.get("maxLength"), name
        assert member.pattern == prop.get("pattern"), name
        enum_names = prop.get("enum") or prop.get("items", {}).get("enum")
        enum_type = member.enum or (member.items.enum if member.items else None)
        assert (list(enum_type.members) if enum_type else None) == enum_names, name
