"""Every sandbox route for patients, allergies, insurance, pharmacies, the drug catalogue,
prescriptions, self-reported medications, refills and notification counts: each request
fits the operation's published parameters and body, and each answer, success and refusal,
fits its published response schema (closed definitions, formats checked)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dosespot_sandbox import SandboxConfig, validation
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import (
    load_swagger,
    validate_parameters,
    validate_request,
    validate_response,
)
from tests.sandbox import (
    CONFIG,
    api,
    clinic_body,
    clinician_body,
    get_token,
    partner_api,
    patient_body,
)

UNKNOWN_ID = 424242


def call(
    client: httpx.Client,
    method: str,
    path: str,
    body: Any = None,
    params: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Send a request that fits the Swagger and check the answer against it too."""
    validate_parameters(method, "/" + path, params or [])
    if body is not None:
        validate_request(method, "/" + path, body)
    response = client.request(
        method, path, json=body, params=httpx.QueryParams(tuple(params or []))
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    validate_response(method, "/" + path, payload)
    return payload


def code(payload: dict[str, Any]) -> str:
    result: str = payload["Result"]["ResultCode"]
    return result


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = SandboxConfig(
        default_confirmation_delay_seconds=0,
        prescription_sent_delay_seconds=0,
        pharmacy_verified_delay_seconds=0,
        page_size=3,
    )
    with sandbox_server(config) as url:
        yield url


@pytest.fixture(scope="module")
def partner(base_url: str) -> Iterator[httpx.Client]:
    with partner_api(base_url) as client:
        yield client


@pytest.fixture(scope="module")
def elsewhere(base_url: str, partner: httpx.Client) -> Iterator[httpx.Client]:
    """A token for a second clinic, which may not see the partner clinic's patients."""
    created = call(partner, "POST", "api/clinics", clinic_body())
    token = get_token(base_url, created["ClinicId"], created["ClinicKey"], CONFIG.partner_user_id)
    with api(base_url, token) as client:
        yield client


@pytest.fixture(scope="module")
def prescriber(partner: httpx.Client) -> int:
    clinician_id: int = call(partner, "POST", "api/clinicians", clinician_body())["Id"]
    deadline = time.monotonic() + 5
    path = f"api/clinicians/{clinician_id}/registrationStatus"
    while call(partner, "GET", path)["Item"] != "RegistrationSuccess":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return clinician_id


@pytest.fixture(scope="module")
def patient(partner: httpx.Client) -> int:
    body = patient_body(
        MiddleName="Q",
        Prefix="Ms",
        Suffix="Jr",
        Email="ada@example.com",
        Address2="Apt 4",
        PhoneAdditional1="6175550199",
        PhoneAdditionalType1="Home",
        PhoneAdditional2="6175550198",
        PhoneAdditionalType2="Work",
        Weight=61.5,
        WeightMetric="kg",
        Height=170.5,
        HeightMetric="cm",
        NonDoseSpotMedicalRecordNumber="cl_1",
        Encounter="enc-1",
        IsHospice=False,
    )
    assert set(body) == set(load_swagger()["definitions"]["AddEditPatientRequest"]["properties"])
    created = call(partner, "POST", "api/patients", body)
    assert code(created) == "OK"
    patient_id: int = created["Id"]
    call(
        partner,
        "POST",
        f"api/patients/{patient_id}/pharmacies",
        {"PharmacyId": 7901, "SetAsPrimary": True},
    )
    return patient_id


def ui(base_url: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{base_url}/_sandbox/{path}", json=body)
    assert response.is_success, response.text
    return response.json()


def test_patient_routes(partner: httpx.Client, elsewhere: httpx.Client, patient: int) -> None:
    item = call(partner, "GET", f"api/patients/{patient}")
    assert code(item) == "OK" and item["Item"]["PatientId"] == patient
    assert code(call(partner, "PUT", f"api/patients/{patient}", patient_body())) == "OK"
    assert code(call(partner, "PUT", f"api/patients/{UNKNOWN_ID}", patient_body())) == "ERROR"
    assert code(call(elsewhere, "GET", f"api/patients/{patient}")) == "ERROR"
    assert code(call(partner, "GET", f"api/patients/{UNKNOWN_ID}")) == "ERROR"
    found = call(
        partner,
        "GET",
        "api/patients/search",
        params=[
            ("firstName", "Ada"),
            ("lastName", "Okafor"),
            ("dob", "1980-04-02T00:00:00"),
            ("status", "ActiveOnly"),
            ("pageNumber", "1"),
        ],
    )
    assert found["PageResult"]["TotalCount"] >= 1
    assert code(call(partner, "GET", "api/patients/search")) == "ERROR"


def test_insurance_routes(partner: httpx.Client, elsewhere: httpx.Client, patient: int) -> None:
    body = {
        "PatientInsuranceIdentifierType": "IINNumber",
        "PatientInsuranceIdentifier": "610014",
        "PersonCode": "01",
        "PayerName": "Express Scripts",
        "CustomEligibilityDetails": [
            {"CustomEligibilityInfoType": "PCN", "CustomEligibilityInfoValue": "A4"},
            {"CustomEligibilityInfoType": "CardholderID", "CustomEligibilityInfoValue": "Z9"},
        ],
    }
    assert code(call(partner, "POST", f"api/patients/{patient}/insurance", body)) == "OK"
    refused = call(elsewhere, "POST", f"api/patients/{patient}/insurance", body)
    assert (code(refused), refused["Id"]) == ("ERROR", 0)
    eligibilities = call(partner, "GET", f"api/patients/{patient}/eligibilities")
    assert eligibilities["Items"][0]["BIN"] == "610014"
    assert code(call(elsewhere, "GET", f"api/patients/{patient}/eligibilities")) == "ERROR"


def test_allergen_and_allergy_routes(
    base_url: str, partner: httpx.Client, elsewhere: httpx.Client, patient: int
) -> None:
    found = call(
        partner, "GET", "api/allergens/search", params=[("name", "peni"), ("pageNumber", "1")]
    )
    assert found["Items"]
    assert code(call(partner, "GET", "api/allergens/search", params=[("name", "pe")])) == "ERROR"
    assert code(call(partner, "GET", "api/allergens/3001")) == "OK"
    assert code(call(partner, "GET", f"api/allergens/{UNKNOWN_ID}")) == "ERROR"

    path = f"api/patients/{patient}/allergies"
    coded = call(
        partner,
        "POST",
        f"{path}/coded",
        {
            "AllergenId": 3001,
            "Reaction": "Hives",
            "ReactionType": "Allergy",
            "StatusType": "Active",
            "OnsetDate": "2019-06-01T00:00:00",
        },
    )
    assert code(coded) == "OK"
    free = {
        "FreeTextDisplayName": "Kiwi",
        "ReactionType": "AdverseReaction",
        "StatusType": "Active",
    }
    assert code(call(partner, "POST", f"{path}/freetext", free)) == "OK"
    assert code(call(partner, "POST", f"{path}/noKnownAllergy")) == "ERROR"
    edit = {"ReactionType": "Allergy", "StatusType": "Inactive", "Reaction": "Rash"}
    assert code(call(partner, "PUT", f"{path}/{coded['Id']}", edit)) == "OK"
    assert code(call(partner, "PUT", f"{path}/{UNKNOWN_ID}", edit)) == "ERROR"
    assert code(call(elsewhere, "POST", f"{path}/coded", {**edit, "AllergenId": 3001})) == "ERROR"
    ui(base_url, f"patients/{patient}/allergies", {"allergen": 3014})
    listed = call(partner, "GET", path)
    assert {a["DisplayName"] for a in listed["Items"]} >= {"Penicillins", "Kiwi", "Shellfish"}
    assert code(call(elsewhere, "GET", path)) == "ERROR"
    fresh = call(partner, "POST", "api/patients", patient_body())["Id"]
    nka = call(partner, "POST", f"api/patients/{fresh}/allergies/noKnownAllergy")
    assert code(nka) == "OK"
    assert call(partner, "GET", f"api/patients/{fresh}/allergies")["Items"][0]["StatusType"] == (
        "Active"
    )


def test_pharmacy_routes(partner: httpx.Client, elsewhere: httpx.Client, patient: int) -> None:
    found = call(
        partner,
        "GET",
        "api/pharmacies/search",
        params=[
            ("name", "Walgreens"),
            ("state", "IL"),
            ("city", "Chicago"),
            ("zip", "60611"),
            ("address", "Michigan"),
            ("specialty", "Retail"),
            ("specialty", "EPCS"),
            ("pageNumber", "1"),
        ],
    )
    assert [p["PharmacyId"] for p in found["Items"]] == [7916]
    by_phone = call(
        partner,
        "GET",
        "api/pharmacies/search",
        params=[("phoneOrFax", "3125550251"), ("ncpdpId", "2207916")],
    )
    assert len(by_phone["Items"]) == 1
    assert code(call(partner, "GET", "api/pharmacies/search")) == "ERROR"
    for pharmacy_id in (7901, 7928, 7998, 7999):
        assert code(call(partner, "GET", f"api/pharmacies/{pharmacy_id}")) == "OK"

    path = f"api/patients/{patient}/pharmacies"
    assert code(call(partner, "POST", path, {"PharmacyId": 7905, "SetAsPrimary": False})) == "OK"
    assert code(call(partner, "POST", path, {"PharmacyId": UNKNOWN_ID})) == "ERROR"
    assert code(call(elsewhere, "POST", path, {"PharmacyId": 7905})) == "ERROR"
    listed = call(partner, "GET", path)
    assert listed["Items"][0]["IsDefault"] is True
    assert code(call(elsewhere, "GET", path)) == "ERROR"
    assert code(call(partner, "DELETE", f"{path}/7905")) == "OK"
    assert code(call(partner, "DELETE", f"{path}/7905")) == "ERROR"


def test_catalogue_routes(partner: httpx.Client) -> None:
    found = call(
        partner,
        "GET",
        "api/medications/search",
        params=[("name", "amoxicillin"), ("drugStatus", "Active"), ("pageNumber", "1")],
    )
    assert found["PageResult"]["TotalCount"] == 3
    assert code(call(partner, "GET", "api/medications/search", params=[("name", "am")])) == (
        "ERROR"
    )
    for params in ([("dispensableDrugId", "4024")], [("rXCUI", "308048")]):
        assert code(call(partner, "GET", "api/medications/select", params=params)) == "OK"
    ndc = call(partner, "GET", "api/medications/select", params=[("dispensableDrugId", "4018")])
    assert ndc["Item"]["StateSchedule"]
    by_ndc = [("nDC", ndc["Item"]["NDC"])]
    assert call(partner, "GET", "api/medications/select", params=by_ndc)["Item"] == ndc["Item"]
    assert code(call(partner, "GET", "api/medications/select")) == "ERROR"
    by_rxcui = call(partner, "GET", "api/medications/searchByRxCUI", params=[("rxCUI", "308048")])
    assert [m["DispensableDrugId"] for m in by_rxcui["Items"]] == [4026]
    assert code(call(partner, "GET", "api/medications/searchByRxCUI")) == "ERROR"
    supplies = call(
        partner,
        "GET",
        "api/supplies/search",
        params=[("name", "lancets"), ("supplyStatus", "All"), ("pageNumber", "1")],
    )
    supply_id = supplies["Items"][0]["SupplyId"]
    assert code(call(partner, "GET", f"api/supplies/{supply_id}")) == "OK"
    assert code(call(partner, "GET", f"api/supplies/{UNKNOWN_ID}")) == "ERROR"
    by_upc = [("upc", supplies["Items"][0]["UPC"])]
    assert call(partner, "GET", "api/supplies/search", params=by_upc)["Items"]
    assert code(call(partner, "GET", "api/supplies/search")) == "ERROR"
    assert call(partner, "GET", "api/dispenseUnits")["Items"]
    assert code(call(partner, "GET", "api/dispenseUnits/1")) == "OK"
    assert code(call(partner, "GET", f"api/dispenseUnits/{UNKNOWN_ID}")) == "ERROR"


def test_prescription_routes(
    base_url: str,
    partner: httpx.Client,
    elsewhere: httpx.Client,
    prescriber: int,
    patient: int,
) -> None:
    created = ui(
        base_url,
        f"patients/{patient}/prescribe",
        {
            "clinician_id": prescriber,
            "items": [
                {"medication": 4002, "days_supply": 10, "pharmacy_notes": "Call when ready"},
                {"supply": 6001, "send": False},
            ],
        },
    )["prescriptions"]
    ui(
        base_url,
        f"patients/{patient}/prescribe",
        {
            "clinician_id": prescriber,
            "pharmacy_id": 7999,
            "items": [{"medication": 4004}],
        },
    )
    time.sleep(0.1)
    rx_id = created[0]["PrescriptionId"]
    path = f"api/patients/{patient}/prescriptions"
    listed = call(
        partner,
        "GET",
        path,
        params=[
            ("startDate", "2020-01-01T00:00:00"),
            ("endDate", "2099-01-01T00:00:00"),
            ("statusClass", "Active"),
            ("sortColumn", "DateWritten"),
            ("sortOrder", "Desc"),
            ("pageNumber", "1"),
        ],
    )
    assert rx_id in {rx["PrescriptionId"] for rx in listed["Items"]}
    for status in ("PharmacyVerified", "Entered", "Error"):
        rows = call(partner, "GET", path, params=[("prescriptionStatus", status)])["Items"]
        assert rows, status
    assert code(call(elsewhere, "GET", path)) == "ERROR"
    single = call(partner, "GET", f"{path}/{rx_id}")
    assert single["Prescription"]["PrescriptionId"] == rx_id
    assert code(call(partner, "GET", f"{path}/{UNKNOWN_ID}")) == "ERROR"
    stop = {"Status": "Discontinued", "Comment": "Course finished early", "InactiveDate": None}
    stop = {k: v for k, v in stop.items() if v is not None}
    assert code(call(partner, "POST", f"{path}/{rx_id}/medicationStatus", stop)) == "OK"
    no_comment = call(partner, "POST", f"{path}/{rx_id}/medicationStatus", {"Status": "Completed"})
    assert code(no_comment) == "ERROR"
    assert call(partner, "GET", f"{path}/{rx_id}")["Prescription"]["MedicationStatus"] == (
        "Discontinued"
    )
    failed = call(partner, "GET", path, params=[("prescriptionStatus", "Error")])["Items"][0]
    ignore = {"Comment": "Sent by fax instead"}
    ignored = call(partner, "POST", f"{path}/{failed['PrescriptionId']}/ignoreError", ignore)
    assert code(ignored) == "OK"
    assert code(call(partner, "POST", f"{path}/{rx_id}/ignoreError", ignore)) == "ERROR"
    assert code(call(elsewhere, "POST", f"{path}/{rx_id}/ignoreError", ignore)) == "ERROR"


def test_self_reported_medication_routes(
    base_url: str, partner: httpx.Client, elsewhere: httpx.Client, patient: int
) -> None:
    path = f"api/patients/{patient}/selfReportedMedications"
    common = {
        "Refills": 1,
        "DaysSupply": 30,
        "DispenseUnitId": 2,
        "Quantity": 30.0,
        "Directions": "1 daily",
        "WrittenDate": "2026-01-05T00:00:00",
        "Status": "Active",
        "Comment": "Reported at intake",
        "Encounter": "enc-2",
    }
    free = call(partner, "POST", f"{path}/freetext", {"DisplayName": "Vitamin D3", **common})
    coded = call(partner, "POST", f"{path}/coded", {"DispensableDrugId": 4006, **common})
    simple = call(partner, "POST", f"{path}/simple", {"RoutedDoseFormDrugId": 5010, **common})
    assert [code(p) for p in (free, coded, simple)] == ["OK", "OK", "OK"]
    missing = call(partner, "POST", f"{path}/coded", {"DispensableDrugId": 1, "Status": "Active"})
    assert (code(missing), missing["Id"]) == ("ERROR", 0)
    ui(base_url, f"patients/{patient}/self-reported-medications", {"display_name": "Zinc"})
    listed = call(
        partner,
        "GET",
        path,
        params=[
            ("startDate", "2020-01-01T00:00:00"),
            ("endDate", "2099-01-01T00:00:00"),
            ("pageNumber", "1"),
        ],
    )
    assert listed["PageResult"]["TotalCount"] == 4
    assert code(call(partner, "GET", f"{path}/{coded['Id']}")) == "OK"
    assert code(call(partner, "GET", f"{path}/{UNKNOWN_ID}")) == "ERROR"
    assert code(call(elsewhere, "GET", path)) == "ERROR"
    edits = (
        ("freetext", free["Id"], {"DisplayName": "Vitamin D3 2000 IU", **common}),
        ("coded", coded["Id"], {"DispensableDrugId": 4005, **common}),
        ("simple", simple["Id"], {"RoutedDoseFormDrugId": 5012, **common}),
    )
    for kind, srm_id, body in edits:
        edited = call(partner, "PUT", f"{path}/{kind}/{srm_id}", body)
        assert (code(edited), edited["Id"]) == ("OK", srm_id)
    missing_edit = call(partner, "PUT", f"{path}/freetext/{UNKNOWN_ID}", edits[0][2])
    assert (code(missing_edit), missing_edit["Id"]) == ("ERROR", 0)
    update = {"Status": "Completed", "Comment": "Done", "InactiveDate": "2026-02-01T00:00:00"}
    assert code(call(partner, "POST", f"{path}/{free['Id']}/updateStatus", update)) == "OK"
    assert code(call(partner, "POST", f"{path}/{UNKNOWN_ID}/updateStatus", update)) == "ERROR"


def test_refill_and_notification_routes(
    base_url: str,
    partner: httpx.Client,
    elsewhere: httpx.Client,
    prescriber: int,
    patient: int,
) -> None:
    (rx,) = ui(
        base_url,
        f"patients/{patient}/prescribe",
        {"clinician_id": prescriber, "items": [{"medication": 4014}]},
    )["prescriptions"]
    ui(base_url, f"patients/{patient}/refill-requests", {"prescription_id": rx["PrescriptionId"]})
    pending = call(
        partner,
        "GET",
        "api/refills/pending",
        params=[("clinic", "Current"), ("patientId", str(patient)), ("pageNumber", "1")],
    )
    assert pending["Items"][0]["Patient"]["PatientId"] == patient
    assert code(call(partner, "GET", "api/refills/pending", params=[("clinic", "All")])) == "OK"
    refused = call(elsewhere, "GET", "api/refills/pending", params=[("patientId", str(patient))])
    assert code(refused) == "ERROR"
    token = get_token(base_url, CONFIG.partner_clinic_id, CONFIG.partner_clinic_key, prescriber)
    with api(base_url, token) as doctor:
        counts = call(doctor, "GET", "api/notifications/counts")
        assert counts["RefillRequestsCount"] >= 1
        assert code(call(doctor, "GET", "api/notifications/errors")) == "OK"
    errors = call(
        partner,
        "GET",
        "api/notifications/errors",
        params=[("clinic", "All"), ("pageNumber", "1")],
    )
    assert code(errors) == "OK"


@pytest.mark.parametrize(
    ("definition", "spec"),
    [
        ("AddEditPatientRequest", validation.ADD_EDIT_PATIENT_REQUEST),
        ("CodedPatientAllergyRequest", validation.CODED_PATIENT_ALLERGY_REQUEST),
        ("FreetextPatientAllergyRequest", validation.FREETEXT_PATIENT_ALLERGY_REQUEST),
        ("EditPatientAllergyRequest", validation.EDIT_PATIENT_ALLERGY_REQUEST),
        ("CustomInsuranceRequest", validation.CUSTOM_INSURANCE_REQUEST),
        ("CustomEligibilityInfo", validation.CUSTOM_ELIGIBILITY_INFO),
        ("AddEditPatientPharmacyRequest", validation.ADD_EDIT_PATIENT_PHARMACY_REQUEST),
        ("IgnoreAlertRequest", validation.IGNORE_ALERT_REQUEST),
        (
            "CodedSelfReportedMedicationRequest",
            validation.CODED_SELF_REPORTED_MEDICATION_REQUEST,
        ),
        (
            "SimpleSelfReportedMedicationRequest",
            validation.SIMPLE_SELF_REPORTED_MEDICATION_REQUEST,
        ),
        (
            "FreeTextSelfReportedMedicationRequest",
            validation.FREE_TEXT_SELF_REPORTED_MEDICATION_REQUEST,
        ),
        (
            "UpdateSelfReportedMedicationStatusRequest",
            validation.UPDATE_SELF_REPORTED_MEDICATION_STATUS_REQUEST,
        ),
        (
            "UpdatePrescriptionMedicationStatusRequest",
            validation.UPDATE_PRESCRIPTION_MEDICATION_STATUS_REQUEST,
        ),
    ],
)
def test_request_rules_match_the_swagger(definition: str, spec: validation.Spec) -> None:
    """The sandbox enforces exactly the published members, required set, lengths and enums."""
    schema = load_swagger()["definitions"][definition]
    assert set(spec.members) == set(schema["properties"])
    assert {name for name, member in spec.members.items() if member.required} == set(
        schema.get("required", [])
    )
    kinds = {"string": "string", "boolean": "boolean", "integer": "integer", "number": "number"}
    for name, prop in schema["properties"].items():
        member = spec.members[name]
        assert member.max_length == prop.get("maxLength"), name
        assert member.pattern == prop.get("pattern"), name
        enum_names = prop.get("enum")
        assert (list(member.enum.members) if member.enum else None) == enum_names, name
        if prop.get("format") == "date-time":
            assert member.kind == "date-time", name
        elif not enum_names and prop.get("type") in kinds:
            assert member.kind == kinds[prop["type"]], name
