"""What can be prescribed, end to end: the API over the real dev server and worker,
DoseSpot played by the sandbox over HTTP. Diagnoses, the five tabs, clinic presets, a
clinician's favourites and order sets; every refusal is checked at the sandbox too (a
request the API refuses never reaches it)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from db.models import ClinicRegistration
from tests.api.test_clinician_journey import Journey, enrollment_form, valid_npi
from tests.api.test_pharmacies_allergies import assert_invalid, sandbox_calls
from tests.api.test_setup import unique_location

AMOXICILLIN_500, OXYCODONE_5 = 4002, 4020
ALCOHOL_SWABS = 6001
CAPSULE, TABLET, EACH, GRAM = 1, 2, 6, 7
STREP, PHARYNGITIS = 8002, 8001
# What a catalogue request could send to DoseSpot. Other workflows of the test session call
# DoseSpot meanwhile (polls, pushes), so only these calls are counted.
CATALOGUE_CALLS = (
    "api/diagnoses*",
    "api/medications*",
    "api/supplies*",
    "*prescriptionFavorites*",
    "*ordersets*",
)


async def catalogue_calls(j: Journey) -> int:
    return sum([await sandbox_calls(j, pattern) for pattern in CATALOGUE_CALLS])


def favorite(item: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Strep throat",
        "item": item,
        "directions": "Take 1 capsule by mouth 3 times a day for 10 days",
        "quantity": "30",
        "dispense_unit_id": CAPSULE,
        "refills": 0,
        "days_supply": 10,
        "primary_diagnosis_id": STREP,
    }
    body.update(changes)
    return body


AMOXICILLIN = {"kind": "medication", "dispensable_drug_id": AMOXICILLIN_500}
OXYCODONE = {"kind": "medication", "dispensable_drug_id": OXYCODONE_5}
SWABS = {"kind": "supply", "supply_id": ALCOHOL_SWABS}
COTTON = {"kind": "supply", "name": "Cotton balls, sterile"}
MOUTHWASH = {
    "kind": "compound",
    "description": "Magic mouthwash: lidocaine, diphenhydramine, antacid 1:1:1",
    "ingredients": [
        {"name": "Lidocaine viscous 2%", "quantity": "80"},
        {"dispensable_drug_id": AMOXICILLIN_500, "quantity": "1.5", "dispense_unit_id": CAPSULE},
    ],
}


async def tab(j: Journey, who: str = "service", **params: Any) -> dict[str, Any]:
    resp = await j.api.get(f"{j.base}/erx/medications", params=params, headers=j.headers(who))
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def clinic_id(j: Journey) -> int:
    async with j.sessionmaker() as session:
        found = await session.scalar(
            select(ClinicRegistration.dosespot_clinic_id).where(
                ClinicRegistration.workspace_id == j.ws.id
            )
        )
    assert found is not None
    return found


async def enrolled(j: Journey, member_id: str = "m_ada") -> None:
    """The member invited and registered with DoseSpot (confirmed)."""
    await j.invite(member_id)
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2)
    resp = await j.enroll(member_id, npi, None)
    assert resp.status_code == 200 and resp.json()["status"] == "confirmed", resp.text


# Diagnoses and the catalogue tabs


async def test_diagnoses_by_name_and_by_code(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    url = f"{j.base}/erx/diagnoses"
    resp = await j.api.get(url, params={"name": "pharyngitis"}, headers=j.headers("member"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"] == [
        {"diagnosis_id": PHARYNGITIS, "code": "J02.9", "name": "Acute pharyngitis, unspecified"},
        {"diagnosis_id": STREP, "code": "J02.0", "name": "Streptococcal pharyngitis"},
    ]
    assert resp.json()["page"]["total_count"] == 2
    by_code = await j.api.get(url, params={"name": "E11.9"}, headers=j.headers())
    assert [d["name"] for d in by_code.json()["items"]] == [
        "Type 2 diabetes mellitus without complications"
    ]
    nothing = await j.api.get(url, params={"name": "no such illness"}, headers=j.headers())
    assert nothing.json()["items"] == []


async def test_medications_come_with_form_route_schedule_and_ids(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    answer = await tab(j, "member", name="oxycodone")
    assert answer["tab"] == "medications" and answer["order_sets"] == []
    (oxycodone,) = answer["items"]
    assert oxycodone == {
        "kind": "medication",
        "display_name": "oxycodone hydrochloride 5 mg tablet",
        "strength": "5 mg",
        "dose_form": "tablet",
        "route": "oral",
        "schedule": 2,
        "controlled": True,
        "otc": False,
        "obsolete": False,
        "ids": {
            "dispensable_drug_id": OXYCODONE_5,
            "routed_dose_form_drug_id": 5016,
            "ndc": oxycodone["ids"]["ndc"],
            "rxcui": 1049621,
            "supply_id": None,
            "upc": None,
            "compound_id": None,
        },
        "favorite": None,
    }
    assert oxycodone["ids"]["ndc"]
    amoxicillin = (await tab(j, name="amoxicillin"))["items"]
    assert [(a["strength"], a["dose_form"], a["controlled"]) for a in amoxicillin] == [
        ("250 mg", "capsule", False),
        ("500 mg", "capsule", False),
        ("875 mg", "tablet", False),
    ]
    supplies = await tab(j, name="test strips", tab="supplies")
    assert {s["display_name"] for s in supplies["items"]} == {
        "FreeStyle Lite Blood Glucose Test Strips",
        "Accu-Chek Guide Test Strips",
    }
    assert all(s["kind"] == "supply" and s["ids"]["supply_id"] for s in supplies["items"])
    assert all(s["ids"]["upc"] and s["schedule"] is None for s in supplies["items"])


@pytest.mark.parametrize(
    ("path", "params", "field", "reason"),
    [
        ("diagnoses", {"name": "ph"}, "name", "at least 3"),
        ("diagnoses", {}, "name", "field required"),
        ("diagnoses", {"name": "phar\u202e"}, "name", "invisible"),
        ("medications", {"name": "am"}, "name", "at least 3"),
        ("medications", {}, "name", "searches by name"),
        ("medications", {"name": "amox", "tab": "drugs"}, "tab", "'medications'"),
        ("medications", {"name": "amox", "color": "red"}, "color", "unknown field"),
        ("medications", {"name": "amox", "page": "0"}, "page", ""),
        ("medications", {"tab": "supplies", "name": "sw"}, "name", "at least 3"),
        ("medications", {"tab": "clinic_favorites", "name": "ab"}, "name", "at least 3"),
        (
            "medications",
            {"tab": "clinic_favorites", "clinician_member_id": "m_ada"},
            "clinician_member_id",
            "the clinic's",
        ),
        ("medications", {"tab": "clinician_favorites"}, "clinician_member_id", "service key"),
        (
            "medications",
            {"tab": "clinician_favorites", "clinician_member_id": "m ada"},
            "clinician_member_id",
            "",
        ),
    ],
)
async def test_a_bad_search_is_422_and_never_reaches_dosespot(
    journey: Journey, path: str, params: dict[str, str], field: str, reason: str
) -> None:
    j = journey
    await j.register_clinic()
    before = await catalogue_calls(j)
    resp = await j.api.get(f"{j.base}/erx/{path}", params=params, headers=j.headers())
    assert_invalid(resp, field, reason)
    assert await catalogue_calls(j) == before


async def test_searches_need_a_registered_clinic(journey: Journey) -> None:
    j = journey
    for path, params in (("diagnoses", {"name": "asthma"}), ("medications", {"name": "amox"})):
        resp = await j.api.get(f"{j.base}/erx/{path}", params=params, headers=j.headers())
        assert resp.status_code == 409 and resp.json()["state"] == "no_clinic", resp.text


# Clinic presets


async def test_clinic_presets_are_added_listed_and_edited(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    url = f"{j.base}/erx/favorites/clinic"
    saved: dict[str, int] = {}
    for name, item, who in (
        ("amoxicillin", AMOXICILLIN, "service"),
        ("swabs", SWABS, "admin"),
        ("cotton", COTTON, "service"),
        ("mouthwash", MOUTHWASH, "service"),
    ):
        body = favorite(item, title=f"Preset {name}", dispense_unit_id=EACH)
        resp = await j.api.post(url, json=body, headers=j.headers(who))
        assert resp.status_code == 201, resp.text
        assert resp.json()["scope"] == "clinic" and resp.json()["kind"] == item["kind"]
        saved[name] = resp.json()["favorite_id"]

    presets = await tab(j, "member", tab="clinic_favorites")
    found = {p["favorite"]["favorite_id"]: p for p in presets["items"]}
    assert set(found) == set(saved.values())
    amoxicillin = found[saved["amoxicillin"]]
    assert (amoxicillin["kind"], amoxicillin["dose_form"], amoxicillin["route"]) == (
        "medication",
        "capsule",
        "oral",
    )
    assert (amoxicillin["schedule"], amoxicillin["controlled"]) == (0, False)
    assert amoxicillin["ids"]["dispensable_drug_id"] == AMOXICILLIN_500
    assert amoxicillin["favorite"] == {
        "favorite_id": saved["amoxicillin"],
        "scope": "clinic",
        "title": "Preset amoxicillin",
        "directions": "Take 1 capsule by mouth 3 times a day for 10 days",
        "quantity": "30",
        "dispense_unit_id": EACH,
        "refills": 0,
        "days_supply": 10,
        "no_substitutions": False,
        "notes": None,
        "diagnoses": [
            {"diagnosis_id": STREP, "code": "J02.0", "name": "Streptococcal pharyngitis"}
        ],
        "ingredients": [],
    }
    assert found[saved["swabs"]]["ids"]["supply_id"] == ALCOHOL_SWABS
    assert found[saved["cotton"]]["display_name"] == "Cotton balls, sterile"
    mouthwash = found[saved["mouthwash"]]
    assert mouthwash["kind"] == "compound" and mouthwash["ids"]["compound_id"]
    assert [i["quantity"] for i in mouthwash["favorite"]["ingredients"]] == ["80", "1.5"]
    narrowed = await tab(j, tab="clinic_favorites", name="cotton")
    assert [p["favorite"]["favorite_id"] for p in narrowed["items"]] == [saved["cotton"]]

    # An edit replaces what the preset prefills; it keeps its kind.
    edit = favorite(AMOXICILLIN, title="Strep, adult", refills=1, notes="Check allergies")
    resp = await j.api.put(f"{url}/{saved['amoxicillin']}", json=edit, headers=j.headers())
    assert resp.status_code == 200, resp.text
    presets = await tab(j, tab="clinic_favorites", name="adult")
    (edited,) = presets["items"]
    assert (edited["favorite"]["refills"], edited["favorite"]["notes"]) == (1, "Check allergies")
    before = await sandbox_calls(j, "api/clinics/*/prescriptionFavorites/*", "PUT")
    resp = await j.api.put(
        f"{url}/{saved['swabs']}", json=favorite(AMOXICILLIN), headers=j.headers()
    )
    assert_invalid(resp, "item.kind", "a favourite keeps its kind: this one is a supply")
    missing = await j.api.put(f"{url}/424242", json=favorite(AMOXICILLIN), headers=j.headers())
    assert missing.status_code == 404, missing.text
    assert await sandbox_calls(j, "api/clinics/*/prescriptionFavorites/*", "PUT") == before

    # DoseSpot's refusal of what the preset names is the caller's input.
    unknown = favorite({"kind": "medication", "dispensable_drug_id": 424242})
    resp = await j.api.post(url, json=unknown, headers=j.headers())
    assert_invalid(resp, "item", "Medication not found")
    # Presets are the clinic's: a member key cannot write them.
    resp = await j.api.post(url, json=favorite(AMOXICILLIN), headers=j.headers("member"))
    assert resp.status_code == 403, resp.text


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"refills": 100}, "refills", "less than or equal to 99"),
        ({"days_supply": 0}, "days_supply", "greater than or equal to 1"),
        ({"quantity": "0"}, "quantity", "greater than zero"),
        ({"quantity": "ten"}, "quantity", "greater than zero"),
        ({"directions": ""}, "directions", "at least 1"),
        ({"title": "x" * 501}, "title", "at most 500"),
        ({"item": {"kind": "drug", "dispensable_drug_id": 1}}, "item", "'medication'"),
        ({"item": {"kind": "supply"}}, "item.supply", "supply_id or by name"),
        ({"item": {**SWABS, "name": "Swabs"}}, "item.supply", "not both"),
        ({"item": {**MOUTHWASH, "ingredients": []}}, "item.compound.ingredients", "at least 1"),
        ({"item": {"kind": "medication"}}, "item.medication.dispensable_drug_id", "required"),
        (
            {"secondary_diagnosis_id": PHARYNGITIS, "primary_diagnosis_id": None},
            "secondary_diagnosis_id",
            "primary",
        ),
        ({"dosespot_clinic_id": 1}, "dosespot_clinic_id", "unknown field"),
    ],
)
async def test_a_bad_favourite_is_422_and_never_reaches_dosespot(
    journey: Journey, changes: dict[str, Any], field: str, reason: str
) -> None:
    j = journey
    await j.register_clinic()
    before = await catalogue_calls(j)
    body = {**favorite(AMOXICILLIN), **changes}
    resp = await j.api.post(f"{j.base}/erx/favorites/clinic", json=body, headers=j.headers())
    assert_invalid(resp, field, reason)
    assert await catalogue_calls(j) == before


# A clinician's favourites and order sets


async def test_a_clinician_keeps_favourites_and_order_sets(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    await enrolled(j, "m_ada")
    mine = f"{j.base}/erx/favorites/clinicians/m_ada"

    # Ada's own key writes her favourites; Grace's cannot, and Grace has no DoseSpot user.
    resp = await j.api.post(
        mine, json=favorite(OXYCODONE, title="Post-op pain"), headers=j.headers("member")
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["clinician_member_id"] == "m_ada"
    oxycodone_id = resp.json()["favorite_id"]
    resp = await j.api.post(
        mine,
        json=favorite(MOUTHWASH, title="Mucositis", dispense_unit_id=GRAM),
        headers=j.headers(),
    )
    assert resp.status_code == 201, resp.text
    mouthwash_id = resp.json()["favorite_id"]
    await j.add_member("m_grace", "Grace", "Hopper")
    other = f"{j.base}/erx/favorites/clinicians/m_grace"
    refused = await j.api.post(other, json=favorite(SWABS), headers=j.headers("member"))
    assert refused.status_code == 403, refused.text
    not_enrolled = await j.api.post(other, json=favorite(SWABS), headers=j.headers())
    assert not_enrolled.status_code == 409 and not_enrolled.json()["state"] == "not_invited"

    own = await tab(j, "member", tab="clinician_favorites")
    assert own["clinician_member_id"] == "m_ada"
    items = {i["favorite"]["favorite_id"]: i for i in own["items"]}
    assert set(items) == {oxycodone_id, mouthwash_id}
    assert (items[oxycodone_id]["schedule"], items[oxycodone_id]["controlled"]) == (2, True)
    assert items[oxycodone_id]["favorite"]["scope"] == "clinician"
    as_service = await tab(j, tab="clinician_favorites", clinician_member_id="m_ada")
    assert as_service["items"] == own["items"]
    clinic_tab = await tab(j, tab="clinic_favorites")
    assert clinic_tab["items"] == []

    resp = await j.api.put(
        f"{mine}/{oxycodone_id}",
        json=favorite(OXYCODONE, title="Post-op pain", refills=0, quantity="12"),
        headers=j.headers("member"),
    )
    assert resp.status_code == 200, resp.text

    # An order set of her own, and one of the clinic's (made in DoseSpot's UI).
    sets = f"{j.base}/erx/order-sets/clinicians/m_ada"
    entry = {k: v for k, v in favorite(OXYCODONE, quantity="12").items() if k != "title"}
    order_set = {"title": "Post-op", "items": [{**entry, "favorite_id": oxycodone_id}]}
    resp = await j.api.post(sets, json=order_set, headers=j.headers("member"))
    assert resp.status_code == 201, resp.text
    order_set_id = resp.json()["order_set_id"]
    clinic_preset = await j.api.post(
        f"{j.base}/erx/favorites/clinic",
        json=favorite(SWABS, dispense_unit_id=EACH),
        headers=j.headers(),
    )
    made = await j.sandbox.post(
        f"/_sandbox/clinics/{await clinic_id(j)}/order-sets",
        json={"title": "Diabetes supplies", "favorite_ids": [clinic_preset.json()["favorite_id"]]},
    )
    assert made.status_code == 200, made.text

    listed = await tab(j, "member", tab="order_sets")
    assert [(s["scope"], s["title"]) for s in listed["order_sets"]] == [
        ("clinic", "Diabetes supplies"),
        ("clinician", "Post-op"),
    ]
    (post_op,) = [s for s in listed["order_sets"] if s["scope"] == "clinician"]
    assert post_op["order_set_id"] == order_set_id
    (opioid,) = post_op["items"]
    assert (opioid["controlled"], opioid["favorite"]["quantity"]) == (True, "12")
    clinic_only = await tab(j, tab="order_sets")
    assert [s["scope"] for s in clinic_only["order_sets"]] == ["clinic"]

    edited = {"title": "Post-op, day 1", "items": [entry, {**entry, "quantity": "6"}]}
    resp = await j.api.put(f"{sets}/{order_set_id}", json=edited, headers=j.headers())
    assert resp.status_code == 200 and resp.json()["items"] == 2, resp.text
    listed = await tab(j, "member", tab="order_sets", name="day 1")
    (post_op,) = [s for s in listed["order_sets"] if s["scope"] == "clinician"]
    assert [i["favorite"]["quantity"] for i in post_op["items"]] == ["12", "6"]

    # Deleting: gone for good, and a second delete is 404.
    for url in (f"{sets}/{order_set_id}", f"{mine}/{mouthwash_id}"):
        resp = await j.api.delete(url, headers=j.headers("member"))
        assert resp.status_code == 204, resp.text
        again = await j.api.delete(url, headers=j.headers("member"))
        assert again.status_code == 404, again.text
    own = await tab(j, "member", tab="clinician_favorites")
    assert [i["favorite"]["favorite_id"] for i in own["items"]] == [oxycodone_id]
    listed = await tab(j, "member", tab="order_sets")
    assert [s["scope"] for s in listed["order_sets"]] == ["clinic"]


async def test_another_workspace_sees_none_of_it(journey: Journey, api: httpx.AsyncClient) -> None:
    j = journey
    await j.register_clinic()
    elsewhere = "/v1/workspaces/ws_someone_else/erx"
    for method, path in (
        ("GET", f"{elsewhere}/medications?name=amoxicillin"),
        ("GET", f"{elsewhere}/diagnoses?name=asthma"),
        ("DELETE", f"{elsewhere}/favorites/clinicians/m_ada/1"),
    ):
        resp = await api.request(method, path, headers=j.headers())
        assert resp.status_code == 404, resp.text


async def test_a_clinician_acts_in_their_default_locations_clinic(journey: Journey) -> None:
    """A workspace with two clinics: a clinician enrolled at the second reads and writes
    there (DoseSpot knows them only in that clinic), and sees that clinic's order sets."""
    j = journey
    await j.register_clinic()
    first = await clinic_id(j)
    resp = await j.api.post(
        f"{j.base}/erx/setup", json={"location": unique_location("loc-two")}, headers=j.headers()
    )
    assert resp.status_code == 200 and resp.json()["status"] == "registered", resp.text
    async with j.sessionmaker() as session:
        second = await session.scalar(
            select(ClinicRegistration.dosespot_clinic_id).where(
                ClinicRegistration.workspace_id == j.ws.id,
                ClinicRegistration.location_id == "loc-two",
            )
        )
    assert second is not None and second != first
    await j.invite("m_ada")
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2)
    form = enrollment_form(npi, locations=[{"location_id": "loc-two", "is_default": True}])
    resp = await j.api.put(
        f"{j.base}/erx/clinicians/m_ada/enrollment", json=form, headers=j.headers()
    )
    assert resp.status_code == 200 and resp.json()["status"] == "confirmed", resp.text

    resp = await j.api.post(
        f"{j.base}/erx/favorites/clinicians/m_ada",
        json=favorite(SWABS, dispense_unit_id=EACH),
        headers=j.headers("member"),
    )
    assert resp.status_code == 201, resp.text
    for clinic, title in ((first, "First clinic's set"), (second, "Second clinic's set")):
        made = await j.sandbox.post(
            f"/_sandbox/clinics/{clinic}/order-sets", json={"title": title, "favorite_ids": []}
        )
        assert made.status_code == 200, made.text
    listed = await tab(j, "member", tab="order_sets")
    assert [s["title"] for s in listed["order_sets"]] == ["Second clinic's set"]
    own = await tab(j, "member", tab="clinician_favorites")
    assert [i["ids"]["supply_id"] for i in own["items"]] == [ALCOHOL_SWABS]
