"""The patient-side client (patients, allergies, insurance, pharmacies, medications,
prescriptions, queues) against DoseSpot's Swagger.

Every request is checked at the wire by ContractDoseSpot (path, query and body against the
operation, definitions closed). Every reply is built from the operation's own response
definition, every member filled, so each parser is shown to read whatever the Swagger
says DoseSpot may send, and each model to name every member of its definition.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import AliasChoices, BaseModel

from dosespot import (
    Allergen,
    AllergyCreate,
    AllergyStatus,
    DoseSpotClient,
    DoseSpotCredentials,
    DoseSpotNotFound,
    DoseSpotRefused,
    DrugStatus,
    EligibilityDetail,
    Gender,
    HeightMetric,
    MedicationSearchResult,
    MedicationSelection,
    MedicationStatus,
    NotificationCounts,
    Patient,
    PatientAllergy,
    PatientCreate,
    PatientInsuranceCreate,
    PatientPharmacy,
    PatientSearchStatus,
    PatientSummary,
    Pharmacy,
    PharmacyQuery,
    PhoneType,
    Prescription,
    PrescriptionStatus,
    PrescriptionStatusClass,
    RefillClinicScope,
    RefillRequest,
    SelfReportedMedication,
    TransmissionError,
    WeightMetric,
)
from dosespot.enums import (
    AllergenCategory,
    AllergenType,
    EligibilityInfoType,
    FreeTextType,
    InsuranceIdentifierType,
    PharmacySpecialty,
    PrescriptionType,
    ReactionType,
)
from dosespot.models import CompoundIngredient, Diagnosis, PrescriptionDiagnosis, StateSchedule
from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import (
    SWAGGER_FULL,
    load_swagger,
    path_template,
    response_schema,
    validate_request,
    validate_response,
    validate_wire_request,
)
from tests.contract.test_client_requests import ContractDoseSpot, swagger_reply
from tests.dosespot import API_PREFIX, OK, make_client
from tests.sandbox import CONFIG as SANDBOX
from tests.sandbox import clinician_body, partner_api

PATIENT = 5001


def definitions() -> dict[str, Any]:
    defs: dict[str, Any] = load_swagger()["definitions"]
    return defs


# Replies built from the Swagger


class Sampler:
    """A value for every member a schema declares, integers numbered so mappings show."""

    def __init__(self) -> None:
        self._numbers = itertools.count(101)

    def __call__(self, schema: dict[str, Any], name: str = "") -> Any:
        if "$ref" in schema:
            target = schema["$ref"].split("/")[-1]
            return self(definitions()[target], target)
        if "enum" in schema:
            return schema["enum"][-1]
        kind = schema.get("type", "object" if "properties" in schema else None)
        if kind == "object":
            return {key: self(member, key) for key, member in schema.get("properties", {}).items()}
        if kind == "array":
            return [self(schema["items"], name)]
        if kind == "integer":
            return next(self._numbers)
        if kind == "number":
            return 1.5
        if kind == "boolean":
            return True
        if schema.get("format") == "date-time":
            return "2025-05-06T23:43:01.483"
        text = (name or "text")[: schema.get("maxLength", 35)]
        return text or "x"


def swagger_sample(method: str, path: str) -> dict[str, Any]:
    """A full 200 reply of the operation: every member, Result OK, one page."""
    body: dict[str, Any] = Sampler()(response_schema(method, path))
    body["Result"] = OK
    if "PageResult" in body:
        body["PageResult"] = {
            "CurrentPage": 1,
            "TotalPages": 1,
            "PageSize": 20,
            "TotalCount": len(body.get("Items") or []),
            "HasPrevious": False,
            "HasNext": False,
        }
    validate_response(method, path, body)
    return body


IDENTIFIER = {"Id": 7001, "Result": OK}
RESPONSE = {"Result": OK}

# (method, path as sent, reply) for every patient-side operation the client uses.
OPERATIONS: list[tuple[str, str, Any]] = [
    ("get", "/api/patients/search", swagger_sample("get", "/api/patients/search")),
    ("post", "/api/patients", IDENTIFIER),
    ("put", f"/api/patients/{PATIENT}", RESPONSE),
    ("get", f"/api/patients/{PATIENT}", swagger_sample("get", "/api/patients/{patientId}")),
    ("post", f"/api/patients/{PATIENT}/insurance", IDENTIFIER),
    ("get", "/api/allergens/search", swagger_sample("get", "/api/allergens/search")),
    (
        "get",
        f"/api/patients/{PATIENT}/allergies",
        swagger_sample("get", "/api/patients/{patientId}/allergies"),
    ),
    ("post", f"/api/patients/{PATIENT}/allergies/coded", IDENTIFIER),
    ("post", f"/api/patients/{PATIENT}/allergies/freetext", IDENTIFIER),
    ("post", f"/api/patients/{PATIENT}/allergies/noKnownAllergy", IDENTIFIER),
    ("put", f"/api/patients/{PATIENT}/allergies/101", RESPONSE),
    ("get", "/api/pharmacies/search", swagger_sample("get", "/api/pharmacies/search")),
    ("get", "/api/pharmacies/9001", swagger_sample("get", "/api/pharmacies/{pharmacyId}")),
    (
        "get",
        f"/api/patients/{PATIENT}/pharmacies",
        swagger_sample("get", "/api/patients/{patientId}/pharmacies"),
    ),
    ("post", f"/api/patients/{PATIENT}/pharmacies", RESPONSE),
    ("delete", f"/api/patients/{PATIENT}/pharmacies/9001", RESPONSE),
    ("get", "/api/medications/search", swagger_sample("get", "/api/medications/search")),
    ("get", "/api/medications/select", swagger_sample("get", "/api/medications/select")),
    (
        "get",
        f"/api/patients/{PATIENT}/prescriptions",
        swagger_sample("get", "/api/patients/{patientId}/prescriptions"),
    ),
    (
        "get",
        f"/api/patients/{PATIENT}/selfReportedMedications",
        swagger_sample("get", "/api/patients/{patientId}/selfReportedMedications"),
    ),
    ("get", "/api/refills/pending", swagger_sample("get", "/api/refills/pending")),
    ("get", "/api/notifications/counts", swagger_sample("get", "/api/notifications/counts")),
    ("get", "/api/notifications/errors", swagger_sample("get", "/api/notifications/errors")),
]


def contract_dosespot(**overrides: list[httpx.Response]) -> ContractDoseSpot:
    routes: dict[str, list[Any]] = {
        f"{method.upper()} {path.lstrip('/')}": [swagger_reply(method, path, body)]
        for method, path, body in OPERATIONS
    }
    routes.update(overrides)
    return ContractDoseSpot(routes)


def reply_of(method: str, path: str) -> Any:
    return next(body for m, p, body in OPERATIONS if (m, p) == (method, path))


def patient_create(**changes: Any) -> PatientCreate:
    fields: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Okafor",
        "date_of_birth": date(2012, 6, 30),
        "gender": Gender.Female,
        "address1": "12 Wharf St.",
        "city": "Portland",
        "state": "ME",
        "zip_code": "04101",
        "primary_phone": "2077360143",
        "primary_phone_type": PhoneType.Cell,
        "weight": 41.5,
        "weight_metric": WeightMetric.kg,
        "height": 152,
        "height_metric": HeightMetric.cm,
    }
    fields.update(changes)
    return PatientCreate(**fields)


async def sent(
    route: str, operation: Callable[[DoseSpotClient], Awaitable[object]]
) -> httpx.Request:
    """The one request ``operation`` sent to ``route`` (checked against the Swagger on arrival)."""
    fake = contract_dosespot()
    async with make_client(fake) as client:
        await operation(client)
    (request,) = fake.calls(route)
    return request


def body_of(request: httpx.Request) -> dict[str, Any]:
    assert request.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(request.content)
    return body


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
def test_reply_samples_fit_the_swagger(method: str, path: str, body: Any):
    validate_response(method, path, body)


# Every parser reads every member


def names(model: type[BaseModel]) -> set[str]:
    """Every member name ``model`` reads."""
    found: set[str] = set()
    for field in model.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            found.update(str(choice) for choice in field.validation_alias.choices)
        if field.alias:
            found.add(field.alias)
    return found


MODELS: list[tuple[type[BaseModel], str, set[str]]] = [
    (PatientSummary, "Patient", set()),
    (Patient, "GetPatient", set()),
    (PatientCreate, "AddEditPatientRequest", set()),
    (Allergen, "AllergySearchResultForAPI", set()),
    (PatientAllergy, "PatientAllergy", set()),
    (PatientInsuranceCreate, "CustomInsuranceRequest", set()),
    (EligibilityDetail, "CustomEligibilityInfo", set()),
    (Pharmacy, "Pharmacy", set()),
    (PatientPharmacy, "PatientPharmacy", set()),
    (MedicationSearchResult, "MedicationSearchResult", set()),
    (MedicationSelection, "MedicationSelectResult", set()),
    (StateSchedule, "StateSchedule", set()),
    (Prescription, "Prescription", set()),
    (PrescriptionDiagnosis, "PrescriptionDiagnosis", set()),
    (Diagnosis, "Diagnosis", set()),
    (CompoundIngredient, "CompoundIngredient", set()),
    # "MedicationStatus" is v1's name of Status, read too.
    (SelfReportedMedication, "SelfReportedMedicationResponse", {"MedicationStatus"}),
    (RefillRequest, "GetRefillResponse", set()),
    (NotificationCounts, "PrescriberNotificationCountsResponse", set()),
    (TransmissionError, "TransmissionErrors", set()),
]


@pytest.mark.parametrize(("model", "definition", "extra"), MODELS)
def test_each_model_names_every_member_of_its_definition(
    model: type[BaseModel], definition: str, extra: set[str]
):
    members = set(definitions()[definition]["properties"]) - {"Result"}
    assert names(model) == members | extra


def test_allergy_create_names_every_member_of_the_coded_and_free_text_requests():
    coded = set(definitions()["CodedPatientAllergyRequest"]["properties"])
    free_text = set(definitions()["FreetextPatientAllergyRequest"]["properties"])
    edit = set(definitions()["EditPatientAllergyRequest"]["properties"])
    assert names(AllergyCreate) == coded | free_text
    assert edit == coded & free_text


ENUMS: list[tuple[str, str, type[Any], set[str]]] = [
    ("AddEditPatientRequest", "Gender", Gender, set()),
    ("AddEditPatientRequest", "PrimaryPhoneType", PhoneType, set()),
    ("AddEditPatientRequest", "WeightMetric", WeightMetric, set()),
    ("AddEditPatientRequest", "HeightMetric", HeightMetric, set()),
    ("AllergySearchResultForAPI", "AllergenType", AllergenType, set()),
    ("AllergySearchResultForAPI", "AllergenCategory", AllergenCategory, set()),
    ("PatientAllergy", "ReactionType", ReactionType, set()),
    ("PatientAllergy", "StatusType", AllergyStatus, set()),
    ("CustomInsuranceRequest", "PatientInsuranceIdentifierType", InsuranceIdentifierType, set()),
    ("CustomEligibilityInfo", "CustomEligibilityInfoType", EligibilityInfoType, set()),
    # Retracted is only a filter of the prescription list, not a status a read returns.
    ("Prescription", "Status", PrescriptionStatus, {"Retracted"}),
    ("Prescription", "MedicationStatus", MedicationStatus, set()),
    ("Prescription", "Type", PrescriptionType, set()),
    ("Prescription", "FreeTextType", FreeTextType, set()),
    ("SelfReportedMedicationResponse", "Status", MedicationStatus, set()),
]


@pytest.mark.parametrize(("definition", "member", "enum", "extra"), ENUMS)
def test_each_enum_has_exactly_the_swagger_names(
    definition: str, member: str, enum: type[Any], extra: set[str]
):
    declared = definitions()[definition]["properties"][member]["enum"]
    assert [m.name for m in enum if m.name not in extra] == declared


def _query_enum(path: str, name: str) -> list[str]:
    for param in load_swagger()["paths"][path]["get"]["parameters"]:
        if param["name"] == name:
            values: list[str] = param.get("enum") or param["items"]["enum"]
            return values
    raise KeyError(name)


@pytest.mark.parametrize(
    ("path", "name", "enum", "extra"),
    [
        ("/api/patients/search", "status", PatientSearchStatus, set()),
        ("/api/pharmacies/search", "specialty", PharmacySpecialty, set()),
        ("/api/medications/search", "drugStatus", DrugStatus, set()),
        ("/api/patients/{patientId}/prescriptions", "statusClass", PrescriptionStatusClass, set()),
        (
            "/api/patients/{patientId}/prescriptions",
            "prescriptionStatus",
            PrescriptionStatus,
            {"Unknown"},
        ),
        ("/api/refills/pending", "clinic", RefillClinicScope, set()),
    ],
)
def test_each_query_enum_has_exactly_the_swagger_names(
    path: str, name: str, enum: type[Any], extra: set[str]
):
    assert {m.name for m in enum} - extra == set(_query_enum(path, name))


def filled(model: BaseModel) -> set[str]:
    """The aliases of the members ``model`` read as something (not None, not empty)."""
    return {
        field.alias or key
        for key, field in type(model).model_fields.items()
        if getattr(model, key) not in (None, [], "")
    }


async def test_every_operation_reads_its_swagger_shaped_reply():
    fake = contract_dosespot()
    async with make_client(fake) as client:
        found = await client.search_patients("Ada", "Okafor", date(2012, 6, 30))
        assert filled(found[0]) == set(definitions()["Patient"]["properties"])
        assert await client.add_patient(patient_create()) == 7001
        await client.edit_patient(PATIENT, patient_create(active=False))
        patient = await client.get_patient(PATIENT)
        assert filled(patient) == set(definitions()["GetPatient"]["properties"])
        insurance = PatientInsuranceCreate(
            identifier_type="PayerID",
            identifier="T00001",
            eligibility_details=[EligibilityDetail(info_type="GroupID", value="G-1")],
        )
        assert await client.add_patient_insurance(PATIENT, insurance) == 7001

        allergens = await client.search_allergens("penicillin")
        assert filled(allergens[0]) == set(definitions()["AllergySearchResultForAPI"]["properties"])
        allergies = await client.patient_allergies(PATIENT)
        assert filled(allergies[0]) == set(definitions()["PatientAllergy"]["properties"])
        assert await client.add_patient_allergy(PATIENT, AllergyCreate(allergen_id=11)) == 7001
        free_text = AllergyCreate(free_text_display_name="Strawberries", reaction="Hives")
        assert await client.add_patient_allergy(PATIENT, free_text) == 7001
        assert await client.add_no_known_allergies(PATIENT) == 7001
        await client.edit_patient_allergy(PATIENT, 101, AllergyCreate(reaction="Rash"))
        await client.delete_patient_allergy(PATIENT, allergies[0].patient_allergy_id)

        page = await client.search_pharmacies(PharmacyQuery(name="Harbor", state="ME"))
        assert filled(page.items[0]) == set(definitions()["Pharmacy"]["properties"])
        assert page.page.total_pages == 1
        assert (await client.get_pharmacy(9001)).pharmacy_id
        mine = await client.patient_pharmacies(PATIENT)
        assert filled(mine[0]) == set(definitions()["PatientPharmacy"]["properties"])
        await client.add_patient_pharmacy(PATIENT, 9001, set_as_primary=True)
        await client.remove_patient_pharmacy(PATIENT, 9001)

        drugs = await client.search_medications("amoxicillin")
        assert filled(drugs[0]) == set(definitions()["MedicationSearchResult"]["properties"])
        selected = await client.select_medication(dispensable_drug_id=drugs[0].dispensable_drug_id)
        assert filled(selected) == set(definitions()["MedicationSelectResult"]["properties"])

        prescriptions = await client.patient_prescriptions(
            PATIENT, date(2025, 1, 1), date(2025, 12, 31)
        )
        assert filled(prescriptions[0]) == set(definitions()["Prescription"]["properties"])
        reported = await client.self_reported_medications(PATIENT)
        members = set(definitions()["SelfReportedMedicationResponse"]["properties"])
        # The Swagger spells RoutedDoseFormDrugID twice (one "Doseform"): one member here.
        assert filled(reported[0]) == members - {"RoutedDoseformDrugID"}
        refills = await client.pending_refills()
        assert filled(refills[0]) == set(definitions()["GetRefillResponse"]["properties"])
        assert refills[0].patient_id == refills[0].patient.patient_id  # type: ignore[union-attr]
        counts = await client.notification_counts()
        members = set(definitions()["PrescriberNotificationCountsResponse"]["properties"])
        assert filled(counts) == members - {"Result"}
        errors = await client.transmission_errors(clinic="All")
        assert filled(errors[0]) == set(definitions()["TransmissionErrors"]["properties"])


# Request bodies and parameters


async def test_add_patient_body_fits_add_edit_patient_request():
    request = await sent("POST api/patients", lambda c: c.add_patient(patient_create()))
    body = body_of(request)
    validate_request("post", "/api/patients", body)
    assert body == {
        "FirstName": "Ada",
        "LastName": "Okafor",
        "DateOfBirth": "2012-06-30T00:00:00",
        "Gender": "Female",
        "Address1": "12 Wharf St.",
        "City": "Portland",
        "State": "ME",
        "ZipCode": "04101",
        "PrimaryPhone": "2077360143",
        "PrimaryPhoneType": "Cell",
        "Weight": 41.5,
        "WeightMetric": "kg",
        "Height": 152.0,
        "HeightMetric": "cm",
        "Active": True,
    }


async def test_a_full_patient_body_fits():
    patient = patient_create(
        prefix="Ms",
        middle_name="Ngozi",
        suffix="Jr",
        email="ada@example.org",
        address2="Apt 4",
        phone_additional1="(207) 736-0144",
        phone_additional_type1="Home",
        phone_additional2="+1 207 736 0145",
        phone_additional_type2=5,
        weight=91.5,
        weight_metric="LB",
        height=60,
        height_metric="Inch",
        non_dosespot_medical_record_number="client_8f2k",
        encounter="enc-1",
        is_hospice=False,
        gender=3,
    )
    body = body_of(await sent("PUT api/patients/5001", lambda c: c.edit_patient(PATIENT, patient)))
    validate_request("put", f"/api/patients/{PATIENT}", body)
    assert set(body) == set(definitions()["AddEditPatientRequest"]["properties"])
    assert (body["WeightMetric"], body["HeightMetric"]) == ("lb", "inch")
    assert (body["PhoneAdditional2"], body["PhoneAdditionalType2"]) == ("2077360145", "Work")
    assert body["Gender"] == "Unknown"


async def test_patient_search_parameters_fit():
    request = await sent(
        "GET api/patients/search",
        lambda c: c.search_patients(
            "Ada", "Okafor", date(2012, 6, 30), status=PatientSearchStatus.ActiveOnly
        ),
    )
    assert dict(request.url.params) == {
        "firstName": "Ada",
        "lastName": "Okafor",
        "dob": "2012-06-30T00:00:00",
        "status": "ActiveOnly",
        "pageNumber": "1",
    }
    assert request.content == b""


async def test_patient_search_reads_every_page():
    first = swagger_sample("get", "/api/patients/search")
    first["PageResult"] |= {"TotalPages": 2, "HasNext": True, "TotalCount": 2}
    second = swagger_sample("get", "/api/patients/search")
    second["Items"][0]["PatientId"] = 999
    second["PageResult"] |= {"CurrentPage": 2, "TotalPages": 2, "HasPrevious": True}
    fake = contract_dosespot(
        **{
            "GET api/patients/search": [
                swagger_reply("get", "/api/patients/search", first),
                swagger_reply("get", "/api/patients/search", second),
            ]
        }
    )
    async with make_client(fake) as client:
        found = await client.search_patients("Ada", "Okafor", date(2012, 6, 30))
    assert [p.patient_id for p in found] == [first["Items"][0]["PatientId"], 999]
    pages = [r.url.params["pageNumber"] for r in fake.calls("GET api/patients/search")]
    assert pages == ["1", "2"]


async def test_insurance_body_fits_custom_insurance_request():
    insurance = PatientInsuranceCreate(
        identifier_type=InsuranceIdentifierType.PayerID,
        identifier="T00001",
        person_code="01",
        payer_name="Harbor Health Plan",
        eligibility_details=[
            EligibilityDetail(info_type="PCN", value="9999"),
            EligibilityDetail(info_type="CardholderID", value="ZX123"),
            EligibilityDetail(info_type=3, value="G-1"),
        ],
    )
    request = await sent(
        "POST api/patients/5001/insurance", lambda c: c.add_patient_insurance(PATIENT, insurance)
    )
    body = body_of(request)
    validate_request("post", f"/api/patients/{PATIENT}/insurance", body)
    assert body["CustomEligibilityDetails"][2] == {
        "CustomEligibilityInfoType": "GroupID",
        "CustomEligibilityInfoValue": "G-1",
    }


@pytest.mark.parametrize(
    ("allergy", "route"),
    [
        (AllergyCreate(allergen_id=11), "coded"),
        (
            AllergyCreate(
                allergen_id=11,
                reaction="Hives",
                reaction_type="AdverseReaction",
                status_type=2,
                onset_date=date(2020, 3, 1),
            ),
            "coded",
        ),
        (AllergyCreate(free_text_display_name="Strawberries"), "freetext"),
        (AllergyCreate(free_text_display_name="Latex", reaction="Rash"), "freetext"),
    ],
)
async def test_allergy_bodies_fit_their_requests(allergy: AllergyCreate, route: str):
    path = f"api/patients/{PATIENT}/allergies/{route}"
    request = await sent(f"POST {path}", lambda c: c.add_patient_allergy(PATIENT, allergy))
    validate_request("post", "/" + path, body_of(request))


async def test_no_known_allergies_sends_no_body():
    path = f"api/patients/{PATIENT}/allergies/noKnownAllergy"
    request = await sent(f"POST {path}", lambda c: c.add_no_known_allergies(PATIENT))
    assert request.content == b""


async def test_deleting_an_allergy_restates_it_with_status_deleted():
    listed = swagger_sample("get", "/api/patients/{patientId}/allergies")
    held = listed["Items"][0]
    held["StatusType"] = "Active"
    deleted = {**held, "PatientAllergyId": held["PatientAllergyId"] + 1, "StatusType": "Deleted"}
    listed["Items"].append(deleted)
    allergy_id = held["PatientAllergyId"]
    allergies = f"/api/patients/{PATIENT}/allergies"
    fake = contract_dosespot(
        **{
            f"GET {allergies[1:]}": [swagger_reply("get", allergies, listed)],
            f"PUT {allergies[1:]}/{allergy_id}": [
                swagger_reply("put", f"{allergies}/{allergy_id}", RESPONSE)
            ],
        }
    )
    async with make_client(fake) as client:
        await client.delete_patient_allergy(PATIENT, allergy_id)
        await client.delete_patient_allergy(PATIENT, deleted["PatientAllergyId"])
        await client.delete_patient_allergy(PATIENT, 424242)  # not listed: already gone
    assert len(fake.calls(f"GET {allergies[1:]}")) == 3
    (request,) = [r for r in fake.requests if r.method == "PUT"]
    body = body_of(request)
    validate_request("put", f"/api/patients/{PATIENT}/allergies/{allergy_id}", body)
    assert body == {
        "Reaction": held["Reaction"],
        "ReactionType": held["ReactionType"],
        "StatusType": "Deleted",
        "OnsetDate": held["OnsetDate"][:10] + "T00:00:00",
    }


async def test_pharmacy_search_parameters_fit():
    query = PharmacyQuery(
        name="Harbor",
        city="Portland",
        state="ME",
        zip="04101",
        address="12 Wharf",
        ncpdp_id="1234567",
        phone_or_fax="2077360143",
        specialty=["Retail", PharmacySpecialty.EPCS, 64],
    )
    request = await sent("GET api/pharmacies/search", lambda c: c.search_pharmacies(query, 3))
    assert request.url.params.multi_items() == [
        ("name", "Harbor"),
        ("city", "Portland"),
        ("state", "ME"),
        ("zip", "04101"),
        ("address", "12 Wharf"),
        ("phoneOrFax", "2077360143"),
        ("ncpdpId", "1234567"),
        ("specialty", "Retail"),
        ("specialty", "EPCS"),
        ("specialty", "TwentyFourHourPharmacy"),
        ("pageNumber", "3"),
    ]


async def test_patient_pharmacy_body_fits():
    request = await sent(
        "POST api/patients/5001/pharmacies",
        lambda c: c.add_patient_pharmacy(PATIENT, 9001, set_as_primary=True),
    )
    body = body_of(request)
    validate_request("post", f"/api/patients/{PATIENT}/pharmacies", body)
    assert body == {"PharmacyId": 9001, "SetAsPrimary": True}


@pytest.mark.parametrize(
    ("call", "params"),
    [
        ({"dispensable_drug_id": 12}, {"dispensableDrugId": "12"}),
        ({"ndc": "00093415273"}, {"nDC": "00093415273"}),
        ({"rxcui": 308182}, {"rXCUI": "308182"}),
    ],
)
async def test_medication_select_parameters_fit(call: dict[str, Any], params: dict[str, str]):
    request = await sent("GET api/medications/select", lambda c: c.select_medication(**call))
    assert dict(request.url.params) == params


async def test_medication_search_parameters_fit():
    request = await sent(
        "GET api/medications/search",
        lambda c: c.search_medications("amox", drug_status=DrugStatus.Active, page=2),
    )
    assert dict(request.url.params) == {"name": "amox", "pageNumber": "2", "drugStatus": "Active"}


async def test_prescription_list_parameters_fit():
    request = await sent(
        "GET api/patients/5001/prescriptions",
        lambda c: c.patient_prescriptions(
            PATIENT, date(2025, 1, 1), date(2025, 6, 30), status_class="Inactive"
        ),
    )
    assert dict(request.url.params) == {
        "startDate": "2025-01-01T00:00:00Z",
        "endDate": "2025-06-30T23:59:59Z",
        "sortColumn": "DateWritten",
        "sortOrder": "Desc",
        "statusClass": "Inactive",
        "pageNumber": "1",
    }


async def test_self_reported_and_refill_parameters_fit():
    reported = await sent(
        "GET api/patients/5001/selfReportedMedications",
        lambda c: c.self_reported_medications(PATIENT, start=date(2025, 1, 1)),
    )
    assert dict(reported.url.params) == {"startDate": "2025-01-01T00:00:00Z", "pageNumber": "1"}
    refills = await sent(
        "GET api/refills/pending",
        lambda c: c.pending_refills(patient_id=PATIENT, clinic=RefillClinicScope.Current),
    )
    assert dict(refills.url.params) == {
        "clinic": "Current",
        "patientId": str(PATIENT),
        "pageNumber": "1",
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/patients", {**patient_create().to_body(), "Sex": "Female"}),
        ("/api/patients", {**patient_create().to_body(), "WeightMetric": "Kilograms"}),
        ("/api/patients", {**patient_create().to_body(), "HeightMetric": "in"}),
        ("/api/patients", {**patient_create().to_body(), "FirstName": "A" * 36}),
        ("/api/patients", {k: v for k, v in patient_create().to_body().items() if k != "Active"}),
        ("/api/patients/5001/allergies/coded", {"AllergenId": 1, "StatusType": "Active"}),
        (
            "/api/patients/5001/allergies/freetext",
            {"FreeTextDisplayName": "x", "ReactionType": "Allergy", "StatusType": "Removed"},
        ),
        ("/api/patients/5001/pharmacies", {"PharmacyId": 1, "IsPrimary": True}),
        ("/api/patients/5001/insurance", {"PatientInsuranceIdentifier": "T1"}),
    ],
)
def test_the_contract_check_rejects_off_contract_patient_bodies(path: str, body: dict[str, Any]):
    with pytest.raises(jsonschema.ValidationError):
        validate_request("post", path, body)


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_every_patient_operation_is_in_the_embedded_ui_plan_unchanged(method: str, path: str):
    """The JumpStart + EPCS plan (embedded UI) has each operation, with the same contract."""
    template = path_template(method, path)
    full = load_swagger()["paths"][template][method]
    jumpstart = load_swagger(SWAGGER_FULL.with_name("swagger-jumpstart-epcs-v2.json"))
    assert template in jumpstart["paths"] and method in jumpstart["paths"][template]
    theirs = jumpstart["paths"][template][method]
    assert theirs["parameters"] == full["parameters"]
    assert theirs["responses"]["200"] == full["responses"]["200"]


# The client against the sandbox over HTTP, every request and reply checked on the way


class CheckedTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the sandbox; each API request and 200 reply validated against the Swagger."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.checked: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        api_path = request.url.path.removeprefix(API_PREFIX)
        if api_path == "connect/token":
            return await self._inner.handle_async_request(request)
        validate_wire_request(request, API_PREFIX)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if response.status_code == 200:
            validate_response(request.method.lower(), "/" + api_path, response.json())
        self.checked.append(f"{request.method} {path_template(request.method, '/' + api_path)}")
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0)) as url:
        yield url


@pytest.fixture(scope="module")
def prescriber(sandbox_url: str) -> int:
    """A confirmed prescribing clinician of the partner clinic."""
    with partner_api(sandbox_url) as partner:
        response = partner.post("api/clinicians", json=clinician_body())
        assert response.status_code == 200, response.text
        clinician_id: int = response.json()["Id"]
        deadline = time.monotonic() + 5
        while not partner.get(f"api/clinicians/{clinician_id}").json()["Item"]["Confirmed"]:
            assert time.monotonic() < deadline, "the clinician was never confirmed"
            time.sleep(0.02)
    return clinician_id


async def control(sandbox_url: str, path: str, body: Any = None) -> Any:
    """A sandbox control: what the clinician does in DoseSpot's UI."""
    async with httpx.AsyncClient(base_url=f"{sandbox_url}/_sandbox/") as http:
        response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def advance(sandbox_url: str, prescription_id: int) -> bool:
    """Move a prescription to its next status now; False once it has none left."""
    async with httpx.AsyncClient(base_url=f"{sandbox_url}/_sandbox/") as http:
        response = await http.post(f"prescriptions/{prescription_id}/advance")
    assert response.status_code in (200, 409), response.text
    return response.status_code == 200


async def test_the_client_and_the_sandbox_agree_on_a_patients_record(
    sandbox_url: str, prescriber: int
):
    transport = CheckedTransport()
    credentials = DoseSpotCredentials(
        SANDBOX.partner_clinic_id, SANDBOX.partner_clinic_key, SANDBOX.partner_user_id
    )
    client = DoseSpotClient(
        f"{sandbox_url}/webapi/v2/", SANDBOX.subscription_key, credentials, transport=transport
    )
    async with client:
        # Registration: look, create, find, read, edit.
        new = patient_create(last_name="Contract", non_dosespot_medical_record_number="c_1")
        assert await client.search_patients("Ada", "Contract", new.date_of_birth) == []
        patient_id = await client.add_patient(new)
        (found,) = await client.search_patients("Ada", "Contract", new.date_of_birth)
        assert found.patient_id == patient_id
        held = await client.get_patient(patient_id)
        assert (held.weight, held.weight_metric, held.gender) == (
            41.5,
            WeightMetric.kg,
            Gender.Female,
        )
        edit = PatientCreate.from_patient(held).model_copy(update={"city": "Bangor"})
        await client.edit_patient(patient_id, edit)
        assert (await client.get_patient(patient_id)).city == "Bangor"
        insurance = PatientInsuranceCreate(identifier_type="PayerID", identifier="T00001")
        assert await client.add_patient_insurance(patient_id, insurance) > 0

        # Allergies.
        (allergen, *_) = await client.search_allergens("penicillin")
        coded = await client.add_patient_allergy(
            patient_id, AllergyCreate(allergen_id=allergen.allergen_id, reaction="Hives")
        )
        free_text = AllergyCreate(free_text_display_name="Strawberries")
        other = await client.add_patient_allergy(patient_id, free_text)
        await client.edit_patient_allergy(patient_id, other, AllergyCreate(reaction="Rash"))
        await client.delete_patient_allergy(patient_id, coded)
        allergies = {a.patient_allergy_id: a for a in await client.patient_allergies(patient_id)}
        assert allergies[other].reaction == "Rash"
        assert coded not in allergies or allergies[coded].status_type is AllergyStatus.Deleted

        # Pharmacies.
        page = await client.search_pharmacies(PharmacyQuery(name="CVS", state="MA"))
        assert page.items and all("CVS" in (p.store_name or "") for p in page.items)
        pharmacy = await client.get_pharmacy(page.items[0].pharmacy_id)
        assert {"NewRx", "EPCS"} <= pharmacy.services
        await client.add_patient_pharmacy(patient_id, pharmacy.pharmacy_id, set_as_primary=True)
        await client.add_patient_pharmacy(patient_id, 7904, set_as_primary=False)
        await client.remove_patient_pharmacy(patient_id, 7904)
        (mine,) = await client.patient_pharmacies(patient_id)
        assert (mine.pharmacy_id, mine.is_default) == (pharmacy.pharmacy_id, True)
        with pytest.raises((DoseSpotNotFound, DoseSpotRefused)):
            await client.get_pharmacy(424242)

        # Medications, then the clinician prescribes in DoseSpot's UI.
        drugs = await client.search_medications("amoxicillin")
        chosen = await client.select_medication(dispensable_drug_id=drugs[0].dispensable_drug_id)
        assert not chosen.controlled and chosen.dispense_unit_id
        assert (await client.select_medication(rxcui=1049621)).controlled
        prescribed = await control(
            sandbox_url,
            f"patients/{patient_id}/prescribe",
            {
                "clinician_id": prescriber,
                "items": [{"medication": chosen.dispensable_drug_id, "refills": 2}],
            },
        )
        rx_id = prescribed["prescriptions"][0]["PrescriptionId"]
        statuses = []
        while True:
            (rx,) = await client.patient_prescriptions(patient_id, date(2020, 1, 1), date.today())
            statuses.append(rx.status)
            if not await advance(sandbox_url, rx_id):
                break
        assert PrescriptionStatus.eRxSent in statuses
        assert statuses[-1] is PrescriptionStatus.PharmacyVerified
        assert rx.prescription_id == rx_id and rx.refills == "2"
        await control(
            sandbox_url,
            f"patients/{patient_id}/self-reported-medications",
            {"display_name": "Vitamin D"},
        )
        (reported,) = await client.self_reported_medications(patient_id)
        assert reported.display_name == "Vitamin D"
        renewal = {"clinician_id": prescriber, "prescription_id": rx_id}
        assert await control(sandbox_url, f"patients/{patient_id}/refill-requests", renewal)
        refills = await client.pending_refills(patient_id=patient_id)
        assert [r.patient_id for r in refills] == [patient_id]
        # Counts are the clinician's own queues: read them as the prescriber.
        as_prescriber = client.as_user(
            DoseSpotCredentials(SANDBOX.partner_clinic_id, SANDBOX.partner_clinic_key, prescriber)
        )
        assert (await as_prescriber.notification_counts()).refill_requests_count == 1

        # A pharmacy that rejects: the prescription ends in Error, the words come from errors.
        rejected = await control(
            sandbox_url,
            f"patients/{patient_id}/prescribe",
            {
                "clinician_id": prescriber,
                "pharmacy_id": 7998,
                "items": [{"medication": chosen.dispensable_drug_id}],
            },
        )
        failed_id = rejected["prescriptions"][0]["PrescriptionId"]
        while await advance(sandbox_url, failed_id):
            pass
        everything = await client.patient_prescriptions(patient_id, date(2020, 1, 1), date.today())
        failed = next(p for p in everything if p.prescription_id == failed_id)
        assert failed.status is PrescriptionStatus.Error
        errors = await as_prescriber.transmission_errors()
        (error,) = [e for e in errors if e.prescription_id == failed_id]
        assert error.patient_id == patient_id and error.error_details
        assert (await as_prescriber.notification_counts()).transaction_errors_count == 1
    assert len(set(transport.checked)) >= 21
