"""The prescribing catalogue (diagnoses, supplies, favourites, order sets) against
DoseSpot's Swagger, both sides.

The client's requests are checked at the wire (path, query and body against the operation,
definitions closed) and its parsers read replies built from the operations' own response
definitions, every member filled. The sandbox is then driven by the same client over HTTP,
each request and each 200 answer (refusals included) checked against the Swagger.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from dosespot import DoseSpotClient, DoseSpotCredentials, DoseSpotRefused
from dosespot.models import (
    CompoundIngredientCreate,
    DiagnosisSearchResult,
    FavoriteCreate,
    OrderSet,
    OrderSetCreate,
    OrderSetEntry,
    PrescriptionDiagnosisIds,
    PrescriptionFavorite,
    Supply,
)
from dosespot_sandbox import SandboxConfig
from dosespot_sandbox.testing import sandbox_server
from tests.contract.swagger import validate_parameters, validate_request, validate_response
from tests.contract.test_client_patients import (
    CheckedTransport,
    definitions,
    filled,
    names,
    swagger_sample,
)
from tests.contract.test_client_requests import ContractDoseSpot, swagger_reply
from tests.dosespot import OK, make_client
from tests.sandbox import CONFIG as SANDBOX
from tests.sandbox import api, clinician_body, get_token, partner_api

CLINIC = 1001
AMOXICILLIN_500, OXYCODONE_5 = 4002, 4020
ALCOHOL_SWABS = 6001
TABLET, CAPSULE, EACH, GRAM = 2, 1, 6, 7
PHARYNGITIS, STREP = 8001, 8002

IDENTIFIER = {"Id": 7001, "Result": OK}
RESPONSE = {"Result": OK}


def coded(**changes: Any) -> FavoriteCreate:
    fields: dict[str, Any] = {
        "title": "Amoxicillin for strep",
        "dispensable_drug_id": AMOXICILLIN_500,
        "directions": "Take 1 capsule by mouth 3 times a day for 10 days",
        "quantity": "30",
        "dispense_unit_type_id": CAPSULE,
        "refills": 0,
        "days_supply": 10,
        "no_substitutions": False,
        "notes": "Finish the course",
        "first_prescription_diagnosis": PrescriptionDiagnosisIds(
            primary_diagnosis_id=STREP, secondary_diagnosis_id=PHARYNGITIS
        ),
        "second_prescription_diagnosis": PrescriptionDiagnosisIds(primary_diagnosis_id=STREP),
        "specialty_type": 5,
    }
    fields.update(changes)
    return FavoriteCreate(**fields)


def supply(**changes: Any) -> FavoriteCreate:
    fields: dict[str, Any] = {
        "title": "Alcohol swabs",
        "supply_id": ALCOHOL_SWABS,
        "directions": "Use before each injection",
        "quantity": "100",
        "dispense_unit_type_id": EACH,
        "refills": 3,
    }
    fields.update(changes)
    return FavoriteCreate(**fields)


def compound(**changes: Any) -> FavoriteCreate:
    fields: dict[str, Any] = {
        "title": "Magic mouthwash",
        "compound_description": "Lidocaine, diphenhydramine and antacid 1:1:1",
        "compound_ingredients": [
            CompoundIngredientCreate(free_text="Lidocaine viscous 2%", quantity="80"),
            CompoundIngredientCreate(free_text="Diphenhydramine 12.5 mg/5 mL", quantity="80"),
        ],
        "directions": "Swish 10 mL and spit every 6 hours as needed",
        "quantity": "240",
        "dispense_unit_type_id": GRAM,
        "refills": 1,
    }
    fields.update(changes)
    return FavoriteCreate(**fields)


# The client against Swagger-shaped replies

OPERATIONS: list[tuple[str, str, Any]] = [
    ("get", "/api/diagnoses/search", swagger_sample("get", "/api/diagnoses/search")),
    ("get", "/api/supplies/search", swagger_sample("get", "/api/supplies/search")),
    ("get", "/api/medications/search", swagger_sample("get", "/api/medications/search")),
    (
        "get",
        f"/api/clinics/{CLINIC}/prescriptionFavorites",
        swagger_sample("get", "/api/clinics/{clinicId}/prescriptionFavorites"),
    ),
    (
        "get",
        "/api/clinicians/777/prescriptionFavorites",
        swagger_sample("get", "/api/clinicians/{clinicianId}/prescriptionFavorites"),
    ),
    *[
        ("post", f"/api/clinics/{CLINIC}/prescriptionFavorites/{kind}", IDENTIFIER)
        for kind in ("coded", "supply", "compiledcompound")
    ],
    *[
        ("put", f"/api/clinics/{CLINIC}/prescriptionFavorites/{kind}/55", RESPONSE)
        for kind in ("coded", "supply", "compiledcompound")
    ],
    *[
        ("post", f"/api/clinicians/prescriptionFavorites/{kind}", IDENTIFIER)
        for kind in ("coded", "supply", "compiledcompound")
    ],
    *[
        ("put", f"/api/clinicians/prescriptionFavorites/{kind}/55", RESPONSE)
        for kind in ("coded", "supply", "compiledcompound")
    ],
    ("delete", "/api/clinicians/prescriptionFavorites", [IDENTIFIER, {"Id": 56, "Result": OK}]),
    ("get", "/api/clinic/ordersets", swagger_sample("get", "/api/clinic/ordersets")),
    ("get", "/api/clinicians/ordersets", swagger_sample("get", "/api/clinicians/ordersets")),
    (
        "get",
        "/api/clinicians/ordersets/66/details",
        swagger_sample("get", "/api/clinicians/ordersets/{orderSetId}/details"),
    ),
    ("post", "/api/clinicians/ordersets", IDENTIFIER),
    ("put", "/api/clinicians/ordersets/66", RESPONSE),
    ("delete", "/api/clinicians/ordersets/66", RESPONSE),
]


def contract_dosespot() -> ContractDoseSpot:
    return ContractDoseSpot(
        {
            f"{method.upper()} {path.lstrip('/')}": [swagger_reply(method, path, body)]
            for method, path, body in OPERATIONS
        }
    )


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
def test_reply_samples_fit_the_swagger(method: str, path: str, body: Any) -> None:
    validate_response(method, path, body)


FAVORITE_REQUESTS = [
    "ClinicPrescriptionFavoriteMedicationRequest",
    "ClinicPrescriptionFavoriteSupplyRequest",
    "ClinicPrescriptionFavoriteCompiledCompoundRequest",
    "ClinicianPrescriptionFavoriteCodedRequest",
    "ClinicianPrescriptionFavoriteSupplyRequest",
    "ClinicianPrescriptionFavoriteCompiledCompoundRequest",
]


def members(*definition_names: str) -> set[str]:
    found: set[str] = set()
    for name in definition_names:
        found |= set(definitions()[name]["properties"])
    return found - {"Result"}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (DiagnosisSearchResult, members("DiagnosisSearchResult")),
        (Supply, members("SupplySearchResultForAPI")),
        (
            PrescriptionFavorite,
            members("ClinicFavoritePrescriptionResponse", "ClinicianFavoritePrescriptionResponse"),
        ),
        (
            OrderSet,
            members("OrderSetResponse", "ClinicOrderSetResponse", "OrderSetDetailsResponse"),
        ),
        (PrescriptionDiagnosisIds, members("PrescriptionDiagnosisIds")),
        (CompoundIngredientCreate, members("CompoundIngredient")),
        (OrderSetEntry, members("OrderSetFavorite")),
        (OrderSetCreate, members("OrderSetRequest")),
        (FavoriteCreate, members(*FAVORITE_REQUESTS)),
    ],
)
def test_each_model_names_every_member_of_its_definitions(
    model: type[BaseModel], expected: set[str]
) -> None:
    assert names(model) == expected


def sent_body(fake: ContractDoseSpot, route: str) -> Any:
    (request,) = fake.calls(route)
    return json.loads(request.content)


async def test_every_catalogue_operation_sends_the_swagger_and_reads_its_reply() -> None:
    fake = contract_dosespot()
    async with make_client(fake) as client:
        diagnoses = await client.search_diagnoses("pharyngitis", page=2)
        assert filled(diagnoses.items[0]) == members("DiagnosisSearchResult")
        supplies = await client.search_supplies("swab")
        assert filled(supplies.items[0]) == members("SupplySearchResultForAPI")
        drugs = await client.medication_page("amoxicillin")
        assert drugs.page.total_pages == 1 and drugs.items[0].dispensable_drug_id

        clinic = await client.clinic_favorites(CLINIC, search_name="amox")
        read = filled(clinic.items[0]) | {"ClinicFavoritePrescriptionId", "DispenseUnitTypeId"}
        assert read - {"favorite_id", "dispense_unit_type_id"} == members(
            "ClinicFavoritePrescriptionResponse"
        )
        mine = await client.clinician_favorites(777)
        assert mine.items[0].favorite_id and mine.items[0].clinician_id
        assert mine.items[0].first_diagnosis and mine.items[0].compound_ingredients

        for favorite in (coded(), supply(), compound()):
            assert await client.add_clinic_favorite(CLINIC, favorite) == 7001
            await client.edit_clinic_favorite(CLINIC, 55, favorite)
            assert await client.add_clinician_favorite(favorite) == 7001
            await client.edit_clinician_favorite(55, favorite)
        await client.delete_clinician_favorites([7001, 56, 7001])

        for scope in (await client.clinic_order_sets(), await client.clinician_order_sets()):
            assert scope.items[0].order_set_id and scope.items[0].favorites[0].title
        details = await client.clinician_order_set(66)
        assert details.order_set_id and details.favorites[0].directions
        order_set = OrderSetCreate(
            title="Strep throat",
            favorites=[OrderSetEntry(**coded().model_dump(exclude={"title", "specialty_type"}))],
        )
        assert await client.add_clinician_order_set(order_set) == 7001
        await client.edit_clinician_order_set(66, order_set)
        await client.delete_clinician_order_set(66)

    search = fake.calls("GET api/diagnoses/search")[0].url.params
    assert dict(search) == {"searchTerm": "pharyngitis", "pageNumber": "2"}
    clinic_coded = sent_body(fake, f"POST api/clinics/{CLINIC}/prescriptionFavorites/coded")
    assert clinic_coded["SpecialtyType"] == 5 and clinic_coded["DispensableDrugId"] == 4002
    assert clinic_coded["FirstPrescriptionDiagnosis"] == {
        "PrimaryDiagnosisId": STREP,
        "SecondaryDiagnosisId": PHARYNGITIS,
    }
    clinician_coded = sent_body(fake, "POST api/clinicians/prescriptionFavorites/coded")
    assert "SpecialtyType" not in clinician_coded
    assert sent_body(fake, "DELETE api/clinicians/prescriptionFavorites") == {
        "FavoriteIds": [7001, 56]
    }
    compound_body = sent_body(fake, "POST api/clinicians/prescriptionFavorites/compiledcompound")
    assert [i["FreeText"] for i in compound_body["CompoundIngredients"]] == [
        "Lidocaine viscous 2%",
        "Diphenhydramine 12.5 mg/5 mL",
    ]


async def test_a_refused_favourite_delete_refuses_the_call() -> None:
    refused = {"Id": 56, "Result": {"ResultCode": "ERROR", "ResultDescription": "Not found."}}
    fake = ContractDoseSpot(
        {
            "DELETE api/clinicians/prescriptionFavorites": [
                swagger_reply("delete", "/api/clinicians/prescriptionFavorites", [refused])
            ]
        }
    )
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRefused):
            await client.delete_clinician_favorites([56])


def test_a_template_names_exactly_one_item() -> None:
    with pytest.raises(ValueError, match="name one item"):
        coded(supply_id=ALCOHOL_SWABS)
    with pytest.raises(ValueError, match="name one item"):
        supply(supply_id=None)
    with pytest.raises(ValueError, match="id or as free text"):
        supply(free_text="Cotton balls")
    with pytest.raises(ValueError, match="description and its ingredients"):
        compound(compound_ingredients=[])
    assert supply(supply_id=None, free_text="Cotton balls").kind == "supply"
    assert compound().kind == "compiledcompound" and coded().kind == "coded"


# The sandbox, driven by the client


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_server(SandboxConfig(default_confirmation_delay_seconds=0)) as url:
        yield url


@pytest.fixture(scope="module")
def prescriber(sandbox_url: str) -> int:
    """A confirmed clinician of the partner clinic."""
    with partner_api(sandbox_url) as partner:
        response = partner.post("api/clinicians", json=clinician_body())
        assert response.status_code == 200, response.text
        clinician_id: int = response.json()["Id"]
        deadline = time.monotonic() + 5
        while not partner.get(f"api/clinicians/{clinician_id}").json()["Item"]["Confirmed"]:
            assert time.monotonic() < deadline, "the clinician was never confirmed"
            time.sleep(0.02)
    return clinician_id


def checked_client(sandbox_url: str, transport: CheckedTransport, user_id: int) -> DoseSpotClient:
    credentials = DoseSpotCredentials(
        SANDBOX.partner_clinic_id, SANDBOX.partner_clinic_key, user_id
    )
    return DoseSpotClient(
        f"{sandbox_url}/webapi/v2/", SANDBOX.subscription_key, credentials, transport=transport
    )


async def test_the_client_and_the_sandbox_agree_on_the_catalogue(
    sandbox_url: str, prescriber: int
) -> None:
    transport = CheckedTransport()
    admin = checked_client(sandbox_url, transport, SANDBOX.partner_user_id)
    clinician = admin.as_user(
        DoseSpotCredentials(SANDBOX.partner_clinic_id, SANDBOX.partner_clinic_key, prescriber)
    )
    clinic_id = SANDBOX.partner_clinic_id
    async with admin:
        found = await admin.search_diagnoses("pharyngitis")
        assert {(d.diagnosis_code, d.diagnosis_name) for d in found.items} == {
            ("J02.9", "Acute pharyngitis, unspecified"),
            ("J02.0", "Streptococcal pharyngitis"),
        }
        assert [d.diagnosis_code for d in (await admin.search_diagnoses("I10")).items] == ["I10"]
        assert (await admin.search_diagnoses("no such illness")).items == []
        swabs = await admin.search_supplies("alcohol swab")
        assert [s.supply_id for s in swabs.items] == [ALCOHOL_SWABS]

        # Clinic favourites: every kind added, listed, filtered and edited.
        ids = [
            await admin.add_clinic_favorite(clinic_id, favorite)
            for favorite in (
                coded(),
                supply(),
                supply(supply_id=None, free_text="Cotton balls", title="Cotton balls"),
            )
        ]
        ids.append(await admin.add_clinic_favorite(clinic_id, compound()))
        listed = {f.favorite_id: f for f in (await admin.clinic_favorites(clinic_id)).items}
        assert set(ids) <= set(listed)
        amoxicillin = listed[ids[0]]
        assert (amoxicillin.dispensable_drug_id, amoxicillin.med_strength_string) == (
            AMOXICILLIN_500,
            "500 mg",
        )
        assert amoxicillin.first_diagnosis is not None
        assert amoxicillin.first_diagnosis.primary_diagnosis is not None
        assert amoxicillin.first_diagnosis.primary_diagnosis.diagnosis_code == "J02.0"
        assert amoxicillin.specialty_type == "FamilyMedicine"
        assert (amoxicillin.refills, amoxicillin.days_supply, amoxicillin.quantity) == (
            0,
            10,
            "30",
        )
        assert listed[ids[1]].is_supply and listed[ids[1]].supply_id == ALCOHOL_SWABS
        assert listed[ids[2]].med_display_name == "Cotton balls"
        assert listed[ids[3]].is_compound and len(listed[ids[3]].compound_ingredients) == 2
        found_by_name = await admin.clinic_favorites(clinic_id, search_name="swabs")
        assert [f.favorite_id for f in found_by_name.items] == [ids[1]]
        await admin.edit_clinic_favorite(clinic_id, ids[0], coded(refills=2, title="Strep"))
        edited = {f.favorite_id: f for f in (await admin.clinic_favorites(clinic_id)).items}
        assert (edited[ids[0]].refills, edited[ids[0]].title) == (2, "Strep")
        with pytest.raises(DoseSpotRefused, match="Medication not found"):
            await admin.add_clinic_favorite(clinic_id, coded(dispensable_drug_id=424242))
        with pytest.raises(DoseSpotRefused, match="Favorite not found"):
            await admin.edit_clinic_favorite(clinic_id, ids[1], coded())  # a supply favourite
        with pytest.raises(DoseSpotRefused, match="not authorized"):
            await admin.clinic_favorites(clinic_id + 1)

        # Clinician favourites belong to the token's clinician.
        own = await clinician.add_clinician_favorite(coded(dispensable_drug_id=OXYCODONE_5))
        other = await clinician.add_clinician_favorite(supply())
        mine = await admin.clinician_favorites(prescriber)
        assert {f.favorite_id for f in mine.items} == {own, other}
        assert {f.clinician_id for f in mine.items} == {prescriber}
        assert (await admin.clinician_favorites(SANDBOX.partner_user_id)).items == []
        await clinician.edit_clinician_favorite(own, coded(dispensable_drug_id=OXYCODONE_5))
        with pytest.raises(DoseSpotRefused, match="Favorite not found"):
            await admin.edit_clinician_favorite(own, coded())
        with pytest.raises(DoseSpotRefused, match="Favorite not found"):
            await admin.delete_clinician_favorites([other])

        # Order sets: the clinician's own, and the clinic's (made in DoseSpot's UI).
        entry = OrderSetEntry(
            **supply().model_dump(exclude={"title", "specialty_type"}), favorite_id=other
        )
        strep = OrderSetEntry(**coded().model_dump(exclude={"title", "specialty_type"}))
        order_set_id = await clinician.add_clinician_order_set(
            OrderSetCreate(title="Diabetes start", favorites=[entry, strep])
        )
        (listed_set,) = (await clinician.clinician_order_sets()).items
        assert listed_set.order_set_id == order_set_id and len(listed_set.favorites) == 2
        assert listed_set.favorites[0].favorite_id == other
        await clinician.edit_clinician_order_set(
            order_set_id, OrderSetCreate(title="Diabetes supplies", favorites=[entry])
        )
        details = await clinician.clinician_order_set(order_set_id)
        assert (details.title, len(details.favorites)) == ("Diabetes supplies", 1)
        assert (await admin.clinician_order_sets()).items == []
        await clinician.delete_clinician_order_set(order_set_id)
        assert (await clinician.clinician_order_sets()).items == []
        with pytest.raises(DoseSpotRefused, match="Order set not found"):
            await clinician.clinician_order_set(order_set_id)
        async with httpx.AsyncClient(base_url=f"{sandbox_url}/_sandbox/") as control:
            made = await control.post(
                f"clinics/{clinic_id}/order-sets",
                json={"title": "Sore throat", "favorite_ids": [ids[0], ids[1]]},
            )
        assert made.status_code == 200, made.text
        (clinic_set,) = (await admin.clinic_order_sets(search="sore")).items
        assert [f.favorite_id for f in clinic_set.favorites] == ids[:2]

        await clinician.delete_clinician_favorites([own, other])
        assert (await admin.clinician_favorites(prescriber)).items == []
    assert len(set(transport.checked)) >= 17


def test_the_sandbox_refuses_what_the_swagger_refuses(sandbox_url: str) -> None:
    token = get_token(
        sandbox_url, SANDBOX.partner_clinic_id, SANDBOX.partner_clinic_key, SANDBOX.partner_user_id
    )
    path = f"api/clinics/{SANDBOX.partner_clinic_id}/prescriptionFavorites/coded"
    body = coded().favorite_body(clinic=True)
    validate_request("post", "/" + path, body)
    with api(sandbox_url, token) as client:
        too_many = client.post(path, json={**body, "Refills": 100})
        assert too_many.status_code == 400
        assert "Refills" in json.dumps(too_many.json()["ModelState"])
        missing = client.post(path, json={k: v for k, v in body.items() if k != "Directions"})
        assert missing.status_code == 400
        short = client.get("api/diagnoses/search", params={"searchTerm": "ph"})
        validate_parameters("get", "/api/diagnoses/search", [("searchTerm", "ph")])
        assert short.status_code == 200 and short.json()["Result"]["ResultCode"] == "ERROR"
        validate_response("get", "/api/diagnoses/search", short.json())
        unknown = client.post("api/clinicians/prescriptionFavorites/bogus", json=body)
        assert unknown.status_code == 404
