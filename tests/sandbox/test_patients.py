"""Patients, allergies, insurance and pharmacies in the sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.sandbox import (
    CONFIG,
    api,
    born_years_ago,
    create_clinic,
    create_patient,
    get_token,
    partner_api,
    patient_body,
    post_valid,
)

PAGE_SIZE = 5
NOT_AUTHORIZED = "User is not authorized to access this patient."


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = SandboxConfig(default_confirmation_delay_seconds=0, page_size=PAGE_SIZE)
    with sandbox_server(config) as url:
        yield url


@pytest.fixture(scope="module")
def partner(base_url: str) -> Iterator[httpx.Client]:
    with partner_api(base_url) as client:
        yield client


@pytest.fixture(scope="module")
def other_clinic(base_url: str, partner: httpx.Client) -> Iterator[httpx.Client]:
    """The partner user acting in a second clinic of its own."""
    clinic_id, clinic_key = create_clinic(partner)
    token = get_token(base_url, clinic_id, clinic_key, CONFIG.partner_user_id)
    with api(base_url, token) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    assert payload["Result"]["ResultCode"] == "OK", payload
    return payload


def refused(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    result = response.json()["Result"]
    assert result["ResultCode"] == "ERROR", response.json()
    description: str = result["ResultDescription"]
    return description


def model_state(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["Message"] == "The request is invalid."
    state: dict[str, list[str]] = body["ModelState"]
    return state


# Patients


def test_a_patient_is_stored_and_read_back_with_enums_as_names(partner: httpx.Client) -> None:
    body = patient_body(
        MiddleName="Q",
        Suffix="Jr",
        Email="ada@example.com",
        Address2="Apt 4",
        PhoneAdditional1="6175550199x12",
        PhoneAdditionalType1=4,
        Gender=2,
        PrimaryPhoneType="cell",
        Weight=61.5,
        WeightMetric=2,
        Height=170,
        HeightMetric="cm",
        NonDoseSpotMedicalRecordNumber="cl_7f3a",
        Encounter="enc-1",
        IsHospice=False,
    )
    patient_id = ok(partner.post("api/patients", json=body))["Id"]
    item = ok(partner.get(f"api/patients/{patient_id}"))["Item"]
    assert item["PatientId"] == patient_id
    assert (item["Gender"], item["PrimaryPhoneType"], item["PhoneAdditionalType1"]) == (
        "Female",
        "Cell",
        "Home",
    )
    assert (item["Weight"], item["WeightMetric"], item["Height"], item["HeightMetric"]) == (
        61.5,
        "kg",
        170,
        "cm",
    )
    assert item["NonDoseSpotMedicalRecordNumber"] == "cl_7f3a"
    assert item["DateOfBirth"] == "1980-04-02T00:00:00"
    assert item["HasSSN"] is False


def test_an_edit_replaces_the_record(partner: httpx.Client) -> None:
    patient_id = create_patient(partner, MiddleName="Q", Email="old@example.com")
    edited = patient_body(LastName="Okafor-Smith", Email="new@example.com")
    ok(partner.put(f"api/patients/{patient_id}", json=edited))
    item = ok(partner.get(f"api/patients/{patient_id}"))["Item"]
    assert (item["LastName"], item["Email"]) == ("Okafor-Smith", "new@example.com")
    assert "MiddleName" not in item
    assert refused(partner.put("api/patients/424242", json=edited)) == "Patient not found."
    assert refused(partner.get("api/patients/424242")) == "Patient not found."


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"FirstName": "A" * 36}, "request.FirstName"),
        ({"LastName": "B" * 36}, "request.LastName"),
        ({"Address1": "1" * 36}, "request.Address1"),
        ({"ZipCode": "02110-12345"}, "request.ZipCode"),
        ({"Email": "a" * 69 + "@example.com"}, "request.Email"),
        ({"FirstName": None}, "request.FirstName"),
        ({"FirstName": "  "}, "request.FirstName"),
        ({"Active": None}, "request.Active"),
        ({"Gender": None}, "request.Gender"),
        ({"Gender": "Other"}, "request.Gender"),
        ({"Gender": 7}, "request.Gender"),
        ({"PrimaryPhoneType": None}, "request.PrimaryPhoneType"),
        ({"PrimaryPhone": "+16175551234"}, "request.PrimaryPhone"),
        ({"PrimaryPhone": "16175551234"}, "request.PrimaryPhone"),
        ({"PrimaryPhone": "1175551234"}, "request.PrimaryPhone"),
        ({"PrimaryPhone": "5555551234"}, "request.PrimaryPhone"),
        ({"PrimaryPhone": "6177777777"}, "request.PrimaryPhone"),
        ({"PrimaryPhone": "617555123"}, "request.PrimaryPhone"),
        ({"PhoneAdditional1": ""}, "request.PhoneAdditional1"),
        ({"PhoneAdditionalType1": "Primary", "PhoneAdditional1": "6175550199"}, None),
        ({"DateOfBirth": "2999-01-01"}, "request.DateOfBirth"),
        ({"DateOfBirth": "1850-01-01"}, "request.DateOfBirth"),
        ({"DateOfBirth": "04/02/1980"}, "request.DateOfBirth"),
        ({"Weight": 70}, "request.WeightMetric"),
        ({"HeightMetric": "in"}, "request.HeightMetric"),
        ({"Weight": -3, "WeightMetric": "kg"}, "request.Weight"),
    ],
)
def test_invalid_patients_are_refused_with_model_state(
    partner: httpx.Client, overrides: dict[str, Any], field: str | None
) -> None:
    body = {k: v for k, v in patient_body(**overrides).items() if v is not None}
    state = model_state(partner.post("api/patients", json=body))
    assert field is None or field in state, state
    if field is None:
        assert "request.PhoneAdditionalType1" in state


def test_a_refused_edit_changes_nothing(partner: httpx.Client) -> None:
    patient_id = create_patient(partner)
    model_state(partner.put(f"api/patients/{patient_id}", json=patient_body(FirstName="x" * 40)))
    assert ok(partner.get(f"api/patients/{patient_id}"))["Item"]["FirstName"] == "Ada"


VITALS = {"Weight": 40.2, "WeightMetric": "kg", "Height": 150, "HeightMetric": "cm"}


@pytest.mark.parametrize("years", [0, 12, 17, 18])
def test_patients_18_and_under_need_height_and_weight(partner: httpx.Client, years: int) -> None:
    state = model_state(
        partner.post("api/patients", json=patient_body(DateOfBirth=born_years_ago(years)))
    )
    assert set(state) == {
        "request.Weight",
        "request.WeightMetric",
        "request.Height",
        "request.HeightMetric",
    }
    assert "18 and under" in state["request.Weight"][0]
    only_weight = patient_body(DateOfBirth=born_years_ago(years), Weight=90, WeightMetric="lb")
    assert set(model_state(partner.post("api/patients", json=only_weight))) == {
        "request.Height",
        "request.HeightMetric",
    }
    create_patient(partner, DateOfBirth=born_years_ago(years), **VITALS)


def test_a_patient_who_turns_19_today_needs_no_metrics(partner: httpx.Client) -> None:
    create_patient(partner, DateOfBirth=born_years_ago(19))


def test_metrics_given_as_integers_are_read_as_units(partner: httpx.Client) -> None:
    # Integers are what some integrators send; the Swagger declares names.
    body = patient_body(
        DateOfBirth=born_years_ago(5), Weight=44, WeightMetric=1, Height=43, HeightMetric=1
    )
    patient_id = ok(partner.post("api/patients", json=body))["Id"]
    item = ok(partner.get(f"api/patients/{patient_id}"))["Item"]
    assert (item["WeightMetric"], item["HeightMetric"]) == ("lb", "inch")


def test_the_minor_cut_off_is_configurable() -> None:
    with sandbox_server(SandboxConfig(minor_max_age=17)) as url, partner_api(url) as client:
        create_patient(client, DateOfBirth=born_years_ago(18))
        model_state(client.post("api/patients", json=patient_body(DateOfBirth=born_years_ago(17))))


def test_another_clinic_cannot_see_or_change_the_patient(
    partner: httpx.Client, other_clinic: httpx.Client
) -> None:
    patient_id = create_patient(partner, LastName="Privacy")
    assert refused(other_clinic.get(f"api/patients/{patient_id}")) == NOT_AUTHORIZED
    assert refused(other_clinic.put(f"api/patients/{patient_id}", json=patient_body())) == (
        NOT_AUTHORIZED
    )
    for path in ("allergies", "pharmacies", "prescriptions", "selfReportedMedications"):
        assert refused(other_clinic.get(f"api/patients/{patient_id}/{path}")) == NOT_AUTHORIZED
    assert (
        refused(
            other_clinic.post(f"api/patients/{patient_id}/pharmacies", json={"PharmacyId": 7901})
        )
        == NOT_AUTHORIZED
    )
    assert refused(other_clinic.post(f"api/patients/{patient_id}/allergies/noKnownAllergy")) == (
        NOT_AUTHORIZED
    )
    found = ok(other_clinic.get("api/patients/search", params={"lastName": "Privacy"}))
    assert found["Items"] == []
    assert ok(partner.get(f"api/patients/{patient_id}"))["Item"]["LastName"] == "Privacy"


def test_search_by_name_and_date_of_birth_is_paged(partner: httpx.Client) -> None:
    ids = [
        create_patient(
            partner,
            FirstName=f"Pat{i}",
            LastName="Pagerson",
            DateOfBirth=f"1990-01-0{1 + i % 2}T00:00:00",
        )
        for i in range(7)
    ]
    first = ok(partner.get("api/patients/search", params={"lastName": "pagerson"}))
    assert first["PageResult"] == {
        "CurrentPage": 1,
        "TotalPages": 2,
        "PageSize": PAGE_SIZE,
        "TotalCount": 7,
        "HasPrevious": False,
        "HasNext": True,
    }
    second = ok(
        partner.get("api/patients/search", params={"lastName": "pagerson", "pageNumber": 2})
    )
    assert (len(first["Items"]), len(second["Items"])) == (5, 2)
    assert {p["PatientId"] for p in first["Items"] + second["Items"]} == set(ids)
    assert "HasSSN" not in first["Items"][0]

    by_dob = ok(partner.get("api/patients/search", params={"lastName": "Pag", "dob": "1/02/1990"}))
    assert by_dob["PageResult"]["TotalCount"] == 3
    iso = ok(partner.get("api/patients/search", params={"firstName": "pat0", "dob": "1990-01-01"}))
    assert [p["PatientId"] for p in iso["Items"]] == [ids[0]]


def test_search_filters_by_status_and_refuses_empty_or_bad_queries(partner: httpx.Client) -> None:
    active = create_patient(partner, LastName="Statusfield")
    inactive = create_patient(partner, LastName="Statusfield", Active=False)
    for status, expected in (
        ("ActiveOnly", [active]),
        ("InactiveOnly", [inactive]),
        ("Both", [active, inactive]),
        ("1", [inactive]),
    ):
        found = ok(
            partner.get("api/patients/search", params={"lastName": "Statusfield", "status": status})
        )
        assert sorted(p["PatientId"] for p in found["Items"]) == expected, status
    assert refused(partner.get("api/patients/search"))
    assert refused(partner.get("api/patients/search", params={"lastName": "S"}))
    assert "pageNumber" in model_state(
        partner.get("api/patients/search", params={"lastName": "Sta", "pageNumber": 0})
    )
    assert "status" in model_state(
        partner.get("api/patients/search", params={"lastName": "Sta", "status": "Maybe"})
    )
    assert "dob" in model_state(
        partner.get("api/patients/search", params={"lastName": "Sta", "dob": "yesterday"})
    )


# Insurance


def test_custom_insurance_is_stored_and_returned_as_eligibility(partner: httpx.Client) -> None:
    patient_id = create_patient(partner)
    insurance = {
        "PatientInsuranceIdentifierType": "PayerID",
        "PatientInsuranceIdentifier": "60054",
        "PayerName": "Aetna",
        "PersonCode": "01",
        "CustomEligibilityDetails": [
            {"CustomEligibilityInfoType": "CardholderID", "CustomEligibilityInfoValue": "W123"},
            {"CustomEligibilityInfoType": "PCN", "CustomEligibilityInfoValue": "ADV"},
            {"CustomEligibilityInfoType": "GroupID", "CustomEligibilityInfoValue": "G-77"},
        ],
    }
    insurance_id = ok(post_valid(partner, f"api/patients/{patient_id}/insurance", insurance))["Id"]
    items = ok(partner.get(f"api/patients/{patient_id}/eligibilities"))["Items"]
    assert items == [
        {
            "PatientEligibilityId": insurance_id,
            "PayerName": "Aetna",
            "PayerId": "60054",
            "PCN": "ADV",
            "MemberId": "W123",
            "CoverageId": "G-77",
            "PharmacyEligibilities": [],
            "DemographicChanges": False,
            "InfoMessage": "Custom insurance entered by the clinic.",
        }
    ]
    bad = partner.post(
        f"api/patients/{patient_id}/insurance",
        json={"PatientInsuranceIdentifierType": "Medicare", "PatientInsuranceIdentifier": "x"},
    )
    assert "request.PatientInsuranceIdentifierType" in model_state(bad)


# Allergies


def test_allergies_coded_free_text_edited_and_deleted(partner: httpx.Client) -> None:
    patient_id = create_patient(partner)
    found = ok(partner.get("api/allergens/search", params={"name": "penicillin"}))["Items"]
    penicillins = next(a for a in found if a["Name"] == "Penicillins")
    coded = ok(
        post_valid(
            partner,
            f"api/patients/{patient_id}/allergies/coded",
            {
                "AllergenId": penicillins["AllergenId"],
                "Reaction": "Hives",
                "ReactionType": "Allergy",
                "StatusType": "Active",
                "OnsetDate": "2019-06-01T00:00:00",
            },
        )
    )["Id"]
    free = ok(
        partner.post(
            f"api/patients/{patient_id}/allergies/freetext",
            json={"FreeTextDisplayName": "Strawberries", "ReactionType": 2, "StatusType": 1},
        )
    )["Id"]
    items = {
        a["PatientAllergyId"]: a
        for a in ok(partner.get(f"api/patients/{patient_id}/allergies"))["Items"]
    }
    assert items[coded]["DisplayName"] == "Penicillins"
    assert items[coded]["AllergenType"] == "AllergenClass"
    assert (items[free]["DisplayName"], items[free]["ReactionType"]) == (
        "Strawberries",
        "AdverseReaction",
    )
    assert refused(partner.post(f"api/patients/{patient_id}/allergies/noKnownAllergy")) == (
        "The patient has active allergies."
    )
    ok(
        partner.put(
            f"api/patients/{patient_id}/allergies/{free}",
            json={"ReactionType": "Allergy", "StatusType": "Deleted"},
        )
    )
    statuses = {
        a["PatientAllergyId"]: a["StatusType"]
        for a in ok(partner.get(f"api/patients/{patient_id}/allergies"))["Items"]
    }
    assert statuses == {coded: "Active", free: "Deleted"}
    assert refused(
        partner.put(
            f"api/patients/{patient_id}/allergies/424242",
            json={"ReactionType": "Allergy", "StatusType": "Active"},
        )
    )
    assert (
        refused(
            partner.post(
                f"api/patients/{patient_id}/allergies/coded",
                json={"AllergenId": 1, "ReactionType": "Allergy", "StatusType": "Active"},
            )
        )
        == "Allergen not found."
    )
    assert "request.StatusType" in model_state(
        partner.post(
            f"api/patients/{patient_id}/allergies/freetext",
            json={"FreeTextDisplayName": "Dust", "ReactionType": "Allergy"},
        )
    )


def test_no_known_allergies_gives_way_to_a_real_allergy(partner: httpx.Client) -> None:
    patient_id = create_patient(partner)
    nka = ok(partner.post(f"api/patients/{patient_id}/allergies/noKnownAllergy"))["Id"]
    ok(
        partner.post(
            f"api/patients/{patient_id}/allergies/coded",
            json={"AllergenId": 3013, "ReactionType": "Allergy", "StatusType": "Active"},
        )
    )
    items = ok(partner.get(f"api/patients/{patient_id}/allergies"))["Items"]
    by_name = {a["DisplayName"]: a for a in items}
    assert by_name["No Known Allergies"]["PatientAllergyId"] == nka
    assert by_name["No Known Allergies"]["StatusType"] == "Deleted"
    assert by_name["Peanut"]["StatusType"] == "Active"


def test_allergen_search_needs_three_characters(partner: httpx.Client) -> None:
    assert refused(partner.get("api/allergens/search", params={"name": "pe"}))
    assert "name" in model_state(partner.get("api/allergens/search"))
    brand = ok(partner.get("api/allergens/search", params={"name": "advil"}))["Items"]
    assert [a["Name"] for a in brand] == ["Ibuprofen"]
    assert ok(partner.get("api/allergens/3012"))["Item"]["Name"] == "Latex"
    assert refused(partner.get("api/allergens/1"))


# Pharmacies


def search(client: httpx.Client, **params: Any) -> dict[str, Any]:
    return ok(client.get("api/pharmacies/search", params=params))


def test_pharmacy_directory_filters(partner: httpx.Client) -> None:
    by_name = search(partner, name="walgreens")
    assert by_name["PageResult"]["TotalCount"] == 4
    assert all("Walgreens" in p["StoreName"] for p in by_name["Items"])
    assert {p["StoreName"] for p in search(partner, name="sandbox")["Items"]} == {
        "Sandbox Pharmacy Rejects",
        "Sandbox Transmission Failure",
    }
    assert [p["PharmacyId"] for p in search(partner, zip="87111", name="Smith")["Items"]] == [7922]
    assert [p["PharmacyId"] for p in search(partner, ncpdpId="2207905")["Items"]] == [7905]
    assert [p["PharmacyId"] for p in search(partner, phoneOrFax="(212) 555-0152")["Items"]] == [
        7906
    ]
    assert [
        p["PharmacyId"] for p in search(partner, city="Austin", address="Congress")["Items"]
    ] == [7912]
    mail = search(partner, state="CA", specialty="MailOrder")["Items"]
    assert [p["StoreName"] for p in mail] == ["Kaiser Permanente Mail Order Pharmacy"]
    ltc = partner.get(
        "api/pharmacies/search",
        params=[("state", "WA"), ("specialty", "LongTermCarePharmacy"), ("specialty", "MailOrder")],
    )
    assert {p["PharmacyId"] for p in ok(ltc)["Items"]} == {7921, 7927}


def test_pharmacy_search_refusals_and_paging(partner: httpx.Client) -> None:
    assert refused(partner.get("api/pharmacies/search"))
    assert refused(partner.get("api/pharmacies/search", params={"name": "cv"}))
    assert "specialty" in model_state(
        partner.get("api/pharmacies/search", params={"state": "MA", "specialty": "Drive-thru"})
    )
    page1 = search(partner, state="MA")
    page2 = search(partner, state="MA", pageNumber=2)
    assert page1["PageResult"]["TotalCount"] == 7
    assert (len(page1["Items"]), len(page2["Items"])) == (5, 2)
    assert page2["PageResult"]["HasPrevious"] is True
    assert search(partner, state="MA", pageNumber=9)["Items"] == []


def test_pharmacy_details_and_service_levels(partner: httpx.Client) -> None:
    cvs = ok(partner.get("api/pharmacies/7901"))["Item"]
    assert cvs["ServiceLevel"] & 2048 and cvs["ServiceLevel"] & 1
    assert cvs["PharmacySpecialties"] == ["Retail", "EPCS"]
    basic = ok(partner.get("api/pharmacies/7904"))["Item"]
    assert basic["ServiceLevel"] == 1 | 2
    missing = partner.get("api/pharmacies/424242")
    assert missing.status_code == 404


def test_patient_pharmacies_keep_one_primary(partner: httpx.Client) -> None:
    patient_id = create_patient(partner)
    path = f"api/patients/{patient_id}/pharmacies"
    ok(post_valid(partner, path, {"PharmacyId": 7901, "SetAsPrimary": True}))
    ok(post_valid(partner, path, {"PharmacyId": 7905}))
    items = ok(partner.get(path))["Items"]
    assert [(p["PharmacyId"], p["IsDefault"]) for p in items] == [(7901, True), (7905, False)]
    ok(post_valid(partner, path, {"PharmacyId": 7905, "SetAsPrimary": True}))
    items = ok(partner.get(path))["Items"]
    assert [(p["PharmacyId"], p["IsDefault"]) for p in items] == [(7905, True), (7901, False)]
    ok(partner.delete(f"{path}/7905"))
    assert [p["PharmacyId"] for p in ok(partner.get(path))["Items"]] == [7901]
    assert refused(partner.delete(f"{path}/7905"))
    assert refused(post_valid(partner, path, {"PharmacyId": 424242})) == "Pharmacy not found."


# Medication catalogue


def test_medication_search_and_select(partner: httpx.Client) -> None:
    found = ok(partner.get("api/medications/search", params={"name": "sertraline"}))["Items"]
    assert [m["Strength"] for m in found] == ["25 mg", "50 mg", "100 mg"]
    assert refused(partner.get("api/medications/search", params={"name": "se"}))
    assert "name" in model_state(partner.get("api/medications/search", params={"name": "s"}))
    schedules: dict[int, str] = {}
    for drug_id in range(4001, 4032):
        item = ok(partner.get("api/medications/select", params={"dispensableDrugId": drug_id}))[
            "Item"
        ]
        assert item["DispenseUnitId"] > 0
        schedules.setdefault(item["Schedule"], item["DisplayName"])
    assert set(schedules) == {0, 2, 3, 4, 5}
    by_rxcui = ok(partner.get("api/medications/select", params={"rXCUI": 1049621}))["Item"]
    assert (by_rxcui["Schedule"], by_rxcui["DrugName"]) == (2, "oxycodone hydrochloride")
    assert refused(partner.get("api/medications/select"))
    assert refused(partner.get("api/medications/select", params={"dispensableDrugId": 1}))
    obsolete = ok(partner.get("api/medications/search", params={"name": "ranitidine"}))
    assert obsolete["Items"] == []
    every = partner.get(
        "api/medications/search", params={"name": "ranitidine", "drugStatus": "All"}
    )
    assert len(ok(every)["Items"]) == 1


def test_supplies_and_dispense_units(partner: httpx.Client) -> None:
    strips = ok(partner.get("api/supplies/search", params={"name": "test strips"}))["Items"]
    assert len(strips) == 2
    by_ndc = ok(partner.get("api/supplies/search", params={"ndc": strips[0]["NDC"]}))["Items"]
    assert by_ndc == [strips[0]]
    assert refused(partner.get("api/supplies/search"))
    assert ok(partner.get(f"api/supplies/{strips[0]['SupplyId']}"))["Item"] == strips[0]
    units = ok(partner.get("api/dispenseUnits"))["Items"]
    assert {"Tablet", "Capsule", "Milliliter"} <= {u["Name"] for u in units}
    assert ok(partner.get("api/dispenseUnits/2"))["Item"]["Name"] == "Tablet"


def test_medications_by_rxcui(partner: httpx.Client) -> None:
    found = ok(partner.get("api/medications/searchByRxCUI", params={"rxCUI": "308191"}))
    assert [m["DispensableDrugId"] for m in found["Items"]] == [4002]
    assert ok(partner.get("api/medications/searchByRxCUI", params={"rxCUI": "1"}))["Items"] == []
    assert refused(partner.get("api/medications/searchByRxCUI"))


def test_names_take_ascii_punctuation(partner: httpx.Client) -> None:
    first, last = 'Ann-Marie !"#$%&()*+,/', "O'Brien :;<=>?@[]^_`{|}"
    patient_id = create_patient(partner, FirstName=first, LastName=last)
    item = ok(partner.get(f"api/patients/{patient_id}"))["Item"]
    assert (item["FirstName"], item["LastName"]) == (first, last)


def test_the_catalogue_control_lists_the_reference_data(base_url: str) -> None:
    catalogue = httpx.get(f"{base_url}/_sandbox/catalogue").json()
    pharmacies = {p["StoreName"]: p for p in catalogue["pharmacies"]}
    assert len(pharmacies) >= 30
    assert len({p["State"] for p in pharmacies.values()}) >= 10
    assert {"Sandbox Pharmacy Rejects", "Sandbox Transmission Failure"} <= set(pharmacies)
    assert {m["Schedule"] for m in catalogue["medications"]} == {0, 2, 3, 4, 5}
    for pharmacy in pharmacies.values():
        has_epcs = bool(pharmacy["ServiceLevel"] & 2048)
        assert has_epcs == ("EPCS" in pharmacy["PharmacySpecialties"]), pharmacy["StoreName"]
    assert catalogue["supplies"] and catalogue["allergens"] and catalogue["dispense_units"]
