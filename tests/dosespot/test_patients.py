"""The patient-side client with DoseSpot's replies as integrators see them in the wild:
enums as integers, times without a zone, numbers as strings, nulls for empty lists."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from dosespot import (
    AllergyCreate,
    DoseSpotNotFound,
    DoseSpotRefused,
    DoseSpotUnexpectedResponse,
    Gender,
    MedicationStatus,
    PatientCreate,
    PharmacyQuery,
    PhoneType,
    PrescriptionStatus,
    pharmacy_services,
)
from dosespot import client as client_module
from dosespot.models import Patient
from tests.dosespot import OK, REFUSED_ON_200, FakeDoseSpot, json_response, make_client

PATIENT = 5001


def patient_create(**changes: Any) -> PatientCreate:
    fields: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Okafor",
        "date_of_birth": date(2012, 6, 30),
        "gender": "Female",
        "address1": "12 Wharf St.",
        "city": "Portland",
        "state": "ME",
        "zip_code": "04101",
        "primary_phone": "2077360143",
        "primary_phone_type": "Cell",
    }
    fields.update(changes)
    return PatientCreate(**fields)


def page(items: list[Any], current: int = 1, total: int = 1) -> dict[str, Any]:
    return {
        "Items": items,
        "PageResult": {
            "CurrentPage": current,
            "TotalPages": total,
            "PageSize": 20,
            "TotalCount": len(items),
            "HasPrevious": current > 1,
            "HasNext": current < total,
        },
        "Result": OK,
    }


def fake(route: str, *bodies: Any, status: int = 200) -> FakeDoseSpot:
    return FakeDoseSpot({route: [json_response(status, body) for body in bodies]})


# Patients


def test_patient_create_renders_dosespot_units_and_digits():
    patient = patient_create(
        primary_phone="+1 (207) 736-0143",
        weight=91.5,
        weight_metric="LB",
        height=60,
        height_metric=1,
        middle_name="  ",
        gender=2,
        primary_phone_type=4,
    )
    body = patient.to_body()
    assert body["PrimaryPhone"] == "2077360143"
    assert (body["Weight"], body["WeightMetric"]) == (91.5, "lb")
    assert (body["Height"], body["HeightMetric"]) == (60, "inch")
    assert (body["Gender"], body["PrimaryPhoneType"]) == ("Female", "Home")
    assert body["DateOfBirth"] == "2012-06-30T00:00:00"
    assert "MiddleName" not in body and body["Active"] is True


@pytest.mark.parametrize(
    "changes",
    [
        {"weight": 40},
        {"height_metric": "cm"},
        {"weight": 0, "weight_metric": "kg"},
        {"height": -1, "height_metric": "cm"},
        {"weight_metric": "Kilograms", "weight": 40},
        {"height_metric": "in", "height": 150},
        {"gender": "X"},
        {"gender": 4},
        {"primary_phone": "555-0143"},
        {"primary_phone": "+44 20 7946 0958"},
        {"first_name": "A" * 36},
        {"last_name": ""},
        {"address1": "x" * 36},
        {"zip_code": "041"},
        {"email": "a" * 81},
        {"non_dosespot_medical_record_number": "m" * 36},
        {"phone_additional_type1": "Home"},
        {"sex": "Female"},
    ],
)
def test_patient_create_refuses_what_dosespot_would(changes: dict[str, Any]):
    with pytest.raises(ValidationError):
        patient_create(**changes)


def test_an_edit_restates_the_patient_dosespot_holds():
    held = Patient.model_validate(
        {
            "PatientId": PATIENT,
            "FirstName": "Ada",
            "LastName": "Okafor",
            "DateOfBirth": "2012-06-30T00:00:00",
            "Gender": 2,
            "Address1": "12 Wharf St.",
            "City": "Portland",
            "State": "ME",
            "ZipCode": "04101",
            "PrimaryPhone": "2077360143",
            "PrimaryPhoneType": 2,
            "Weight": 41.5,
            "WeightMetric": 2,
            "Height": 152,
            "HeightMetric": 2,
            "Active": True,
            "HasSSN": True,
            "Email": "",
        }
    )
    edit = PatientCreate.from_patient(held).model_copy(update={"active": False})
    body = edit.to_body()
    assert body["Active"] is False
    assert (body["WeightMetric"], body["HeightMetric"], body["Gender"]) == ("kg", "cm", "Female")
    assert "HasSSN" not in body and "PatientId" not in body and "Email" not in body


async def test_search_reads_integer_enums_and_zoneless_dates():
    reply = page(
        [
            {
                "PatientId": 11,
                "FirstName": "Ada",
                "LastName": "Okafor",
                "DateOfBirth": "2012-06-30T00:00:00",
                "Gender": 2,
                "PrimaryPhoneType": "4",
                "Active": True,
            },
            {
                "PatientId": 12,
                "FirstName": "Ada",
                "LastName": "Okafor",
                "DateOfBirth": "2012-06-30T00:00:00.000Z",
                "Gender": "female",
            },
        ]
    )
    async with make_client(fake("GET api/patients/search", reply)) as client:
        found = await client.search_patients("Ada", "Okafor", date(2012, 6, 30))
    assert [p.patient_id for p in found] == [11, 12]
    assert {p.date_of_birth for p in found} == {date(2012, 6, 30)}
    assert found[0].gender is found[1].gender is Gender.Female
    assert found[0].primary_phone_type is PhoneType.Home


async def test_search_refuses_short_names_before_calling():
    dosespot = fake("GET api/patients/search", page([]))
    async with make_client(dosespot) as client:
        with pytest.raises(ValueError):
            await client.search_patients("A", "Okafor", date(2012, 6, 30))
    assert not dosespot.requests


async def test_a_list_stops_at_an_empty_page_and_refuses_endless_paging(monkeypatch):
    endless = page(
        [{"PatientId": 1, "FirstName": "A", "LastName": "B", "DateOfBirth": "2000-01-01"}]
    )
    endless["PageResult"]["HasNext"] = True
    async with make_client(fake("GET api/patients/search", endless)) as client:
        monkeypatch.setattr(client_module, "MAX_PAGES", 3)
        with pytest.raises(DoseSpotUnexpectedResponse, match="more than 3 pages"):
            await client.search_patients("Ada", "Okafor", date(2000, 1, 1))
    empty_but_more = page([])
    empty_but_more["PageResult"]["HasNext"] = True
    dosespot = fake("GET api/patients/search", empty_but_more)
    async with make_client(dosespot) as client:
        assert await client.search_patients("Ada", "Okafor", date(2000, 1, 1)) == []
    assert len(dosespot.calls("GET api/patients/search")) == 1


async def test_a_create_without_an_id_is_a_broken_reply():
    async with make_client(fake("POST api/patients", {"Id": 0, "Result": OK})) as client:
        with pytest.raises(DoseSpotUnexpectedResponse):
            await client.add_patient(patient_create())


async def test_a_refusal_on_200_raises():
    async with make_client(fake(f"GET api/patients/{PATIENT}", REFUSED_ON_200)) as client:
        with pytest.raises(DoseSpotRefused, match="not authorized"):
            await client.get_patient(PATIENT)


# Allergies


def test_an_allergy_is_coded_or_free_text():
    with pytest.raises(ValidationError):
        AllergyCreate(allergen_id=1, free_text_display_name="Peanuts")
    with pytest.raises(ValueError):
        AllergyCreate().add_body()
    with pytest.raises(ValidationError):
        AllergyCreate(free_text_display_name="x", reaction="r" * 201)
    assert AllergyCreate(free_text_display_name="Peanuts", status_type=3).edit_body() == {
        "ReactionType": "Allergy",
        "StatusType": "Deleted",
    }


async def test_allergies_read_integers_and_unset_dates():
    reply = {
        "Items": [
            {
                "PatientAllergyId": 1,
                "DisplayName": "Penicillins",
                "AllergenId": 44,
                "AllergenType": 1,
                "ReactionType": 2,
                "StatusType": 1,
                "OnsetDate": "0001-01-01T00:00:00",
            },
            {"PatientAllergyId": 2, "DisplayName": "No Known Allergies", "OnsetDate": None},
        ],
        "Result": OK,
    }
    dosespot = fake(f"GET api/patients/{PATIENT}/allergies", reply)
    async with make_client(dosespot) as client:
        allergies = await client.patient_allergies(PATIENT)
    assert allergies[0].reaction_type is not None
    assert allergies[0].reaction_type.name == "AdverseReaction"
    assert allergies[0].onset_date is None and allergies[1].status_type is None


async def test_allergen_search_needs_three_characters():
    async with make_client(fake("GET api/allergens/search", page([]))) as client:
        with pytest.raises(ValueError):
            await client.search_allergens("pe")
        assert await client.search_allergens("pen") == []


# Pharmacies


@pytest.mark.parametrize(
    ("level", "services"),
    [
        (0, set()),
        (1, {"NewRx"}),
        (1 + 2 + 4 + 8 + 16 + 2048, {"NewRx", "Refill", "Change", "RxFill", "Cancel", "EPCS"}),
        (1 + 32 + 64 + 128 + 1024, {"NewRx"}),
        (2048 + 16, {"EPCS", "Cancel"}),
    ],
)
def test_pharmacy_services_decode_the_service_level(level: int, services: set[str]):
    assert pharmacy_services(level) == services


def test_a_pharmacy_search_needs_a_filter():
    with pytest.raises(ValidationError):
        PharmacyQuery()
    with pytest.raises(ValidationError):
        PharmacyQuery(name="  ")
    assert PharmacyQuery(specialty=["EPCS"]).params() == {"specialty": ["EPCS"]}


async def test_pharmacies_as_dosespot_returns_them():
    reply = page(
        [
            {
                "PharmacyId": 9001,
                "StoreName": "Harbor Pharmacy",
                "Address1": "1 Commercial St",
                "City": "Portland",
                "State": "ME",
                "ZipCode": "041011234",
                "PrimaryPhone": "2075550143x669",
                "PrimaryPhoneType": "Work",
                "PrimaryFax": "2075550144",
                "PharmacySpecialties": ["Retail", "EPCS"],
                "ServiceLevel": 2079,
                "NCPDPID": "1234567",
            }
        ],
        total=3,
    )
    dosespot = fake("GET api/pharmacies/search", reply)
    async with make_client(dosespot) as client:
        found = await client.search_pharmacies(PharmacyQuery(name="Harbor"))
    (pharmacy,) = found.items
    assert pharmacy.services == {"NewRx", "Refill", "Change", "RxFill", "Cancel", "EPCS"}
    assert pharmacy.ncpdp_id == "1234567" and pharmacy.primary_phone == "2075550143x669"
    assert (found.page.total_pages, found.page.has_next) == (3, True)
    assert len(dosespot.requests) == 2  # the token and one page


async def test_patient_pharmacies_mark_the_default():
    reply = {
        "Items": [
            {"PharmacyId": 1, "StoreName": "A", "IsDefault": False, "ServiceLevel": None},
            {"PharmacyId": 2, "StoreName": "B", "IsDefault": True, "PharmacySpecialties": None},
            {"PharmacyId": 3, "StoreName": "C", "IsDefault": None},
        ],
        "Result": OK,
    }
    async with make_client(fake(f"GET api/patients/{PATIENT}/pharmacies", reply)) as client:
        mine = await client.patient_pharmacies(PATIENT)
    assert [p.is_default for p in mine] == [False, True, False]
    assert mine[0].services == set() and mine[1].pharmacy_specialties == []


async def test_an_unknown_pharmacy_is_not_found():
    gateway_404 = {"statusCode": 404, "message": "Resource not found"}
    async with make_client(fake("GET api/pharmacies/424242", gateway_404, status=404)) as client:
        with pytest.raises(DoseSpotNotFound):
            await client.get_pharmacy(424242)


# Medications and prescriptions


async def test_medication_search_and_select_need_their_arguments():
    dosespot = FakeDoseSpot()
    async with make_client(dosespot) as client:
        with pytest.raises(ValueError):
            await client.search_medications("am")
        with pytest.raises(ValueError):
            await client.select_medication()
        with pytest.raises(ValueError):
            await client.select_medication(dispensable_drug_id=1, rxcui=2)
    assert not dosespot.requests


@pytest.mark.parametrize(
    ("schedule", "controlled"), [(0, False), (1, False), (2, True), (5, True), (None, False)]
)
async def test_a_selected_medication_says_whether_it_is_controlled(
    schedule: int | None, controlled: bool
):
    reply = {
        "Item": {"DispensableDrugId": 7, "DispenseUnitId": 26, "Schedule": schedule},
        "Result": OK,
    }
    async with make_client(fake("GET api/medications/select", reply)) as client:
        selected = await client.select_medication(dispensable_drug_id=7)
    assert selected.controlled is controlled and selected.dispense_unit_id == 26


PRESCRIPTIONS = page(
    [
        {
            "PrescriptionId": 1,
            "DisplayName": "Amoxicillin 500 mg capsule",
            "Status": 4,
            "MedicationStatus": 1,
            "Refills": 2,
            "Quantity": "30",
            "DaysSupply": 10,
            "WrittenDate": "2025-05-06T23:43:01.483",
            "EffectiveDate": "2025-05-06T00:00:00",
            "PharmacyId": 9001,
            "PrescriberId": 3003,
            "Schedule": 0,
            "CompoundIngredients": None,
        },
        {
            "PrescriptionId": 2,
            "DisplayName": "Oxycodone 5 mg tablet",
            "Status": "PharmacyVerified",
            "MedicationStatus": "Discontinued",
            "LastFillDate": "2025-05-07T10:00:00-04:00",
            "Schedule": 2,
        },
    ]
)


async def test_prescriptions_keep_erx_sent_and_pharmacy_verified_apart():
    dosespot = fake(f"GET api/patients/{PATIENT}/prescriptions", PRESCRIPTIONS)
    async with make_client(dosespot) as client:
        sent, verified = await client.patient_prescriptions(
            PATIENT, date(2025, 1, 1), date(2025, 12, 31)
        )
    assert sent.status is PrescriptionStatus.eRxSent
    assert verified.status is PrescriptionStatus.PharmacyVerified
    assert sent.status != verified.status
    assert (sent.medication_status, verified.medication_status) == (
        MedicationStatus.Active,
        MedicationStatus.Discontinued,
    )
    assert sent.refills == "2" and sent.compound_ingredients == []
    assert sent.written_date == datetime(2025, 5, 6, 23, 43, 1, 483000, tzinfo=UTC)
    assert verified.last_fill_date == datetime(2025, 5, 7, 14, 0, tzinfo=UTC)
    assert (sent.controlled, verified.controlled) == (False, True)


async def test_an_unknown_prescription_status_is_an_unexpected_reply():
    odd = page([{"PrescriptionId": 1, "Status": 99}])
    async with make_client(fake(f"GET api/patients/{PATIENT}/prescriptions", odd)) as client:
        with pytest.raises(DoseSpotUnexpectedResponse, match="Status"):
            await client.patient_prescriptions(PATIENT, date(2025, 1, 1), date(2025, 1, 2))


async def test_a_prescription_window_cannot_end_before_it_starts():
    async with make_client(FakeDoseSpot()) as client:
        with pytest.raises(ValueError):
            await client.patient_prescriptions(PATIENT, date(2025, 2, 1), date(2025, 1, 1))


async def test_self_reported_medications_read_v1_and_v2_status_names():
    reply = page(
        [
            {"SelfReportedMedicationId": 1, "DisplayName": "Vitamin D", "Status": 1},
            {"SelfReportedMedicationId": 2, "DisplayName": "Fish oil", "MedicationStatus": "5"},
            {"SelfReportedMedicationId": 3, "RoutedDoseformDrugID": 77, "Quantity": 30},
        ]
    )
    route = f"GET api/patients/{PATIENT}/selfReportedMedications"
    async with make_client(fake(route, reply)) as client:
        reported = await client.self_reported_medications(PATIENT)
    assert [m.status for m in reported] == [
        MedicationStatus.Active,
        MedicationStatus.Completed,
        None,
    ]
    assert reported[2].routed_dose_form_drug_id == 77 and reported[2].quantity == "30"


async def test_refill_requests_name_their_patient():
    reply = page(
        [
            {
                "RefillId": 41,
                "Patient": {
                    "PatientId": PATIENT,
                    "FirstName": "Ada",
                    "LastName": "Okafor",
                    "DateOfBirth": "2012-06-30T00:00:00",
                },
                "ClinicianId": 3003,
                "RequestedDate": "2025-05-06T08:00:00",
            },
            {"RefillId": 42, "NewPatient": True, "Patient": None},
        ]
    )
    async with make_client(fake("GET api/refills/pending", reply)) as client:
        refills = await client.pending_refills()
    assert [r.patient_id for r in refills] == [PATIENT, None]
    assert refills[0].requested_date == datetime(2025, 5, 6, 8, tzinfo=UTC)


async def test_notification_counts_sit_beside_the_result():
    reply = {
        "RefillRequestsCount": 2,
        "TransactionErrorsCount": 1,
        "PendingPrescriptionsCount": None,
        "PendingRxChangeCount": 3,
        "Result": OK,
    }
    async with make_client(fake("GET api/notifications/counts", reply)) as client:
        counts = await client.notification_counts()
    assert (counts.refill_requests_count, counts.pending_prescriptions_count) == (2, 0)
    assert counts.total == 6


async def test_transmission_errors_read_every_page_with_their_words():
    first = page(
        [
            {
                "PrescriptionId": 1,
                "PatientId": PATIENT,
                "ErrorDetails": "Pharmacy rejected: patient not found",
                "ErrorDateTimeStamp": "2025-05-06T08:00:00",
            }
        ],
        total=2,
    )
    second = page([{"PrescriptionId": 2, "ErrorDetails": None}], current=2, total=2)
    dosespot = fake("GET api/notifications/errors", first, second)
    async with make_client(dosespot) as client:
        errors = await client.transmission_errors(clinic="Current")
    assert [e.prescription_id for e in errors] == [1, 2]
    assert errors[0].error_date_time_stamp == datetime(2025, 5, 6, 8, tzinfo=UTC)
    pages = [dict(r.url.params) for r in dosespot.calls("GET api/notifications/errors")]
    assert pages == [
        {"clinic": "Current", "pageNumber": "1"},
        {"clinic": "Current", "pageNumber": "2"},
    ]
