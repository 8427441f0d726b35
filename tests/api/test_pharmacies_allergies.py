"""Pharmacies, allergies and insurance end to end: the API over the real dev server and
worker, DoseSpot played by the sandbox over HTTP.

Every refusal is checked at the sandbox too: a request the API refuses never reaches it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from db.patients import PatientRegistration
from dosespot import DoseSpotClient
from dosespot.enums import AllergyStatus
from dosespot_sandbox.testing import SandboxServer
from erx.settings import Settings
from tests.api.test_clinician_journey import Journey
from tests.api.test_patients import (
    born_years_ago,
    client_body,
    dosespot_patient,
    put_client,
    register,
)

PENICILLINS, CODEINE = 3001, 3009
BROOKLINE_BASIC, CORNER_DRUG_FAX_ONLY, HARBOR_SPECIALTY = 7904, 7928, 7903
CVS_BOSTON, DUANE_READE_NY = 7901, 7905


async def registered_patient(j: Journey, client_id: str, **changes: Any) -> int:
    """A client registered with DoseSpot in the journey's (registered) clinic."""
    await put_client(j, client_id, client_body(born_years_ago(40), **changes))
    resp = await register(j, client_id)
    assert resp.status_code == 200 and resp.json()["status"] == "registered", resp.text
    return int(resp.json()["patient"]["dosespot_patient_id"])


async def sandbox_calls(j: Journey, path: str, method: str | None = None) -> int:
    params = {"path": path} | ({"method": method} if method else {})
    resp = await j.sandbox.get("/_sandbox/requests", params=params)
    resp.raise_for_status()
    return len(resp.json())


def assert_invalid(resp: httpx.Response, field: str, reason: str = "") -> None:
    assert resp.status_code == 422, resp.text
    errors = resp.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors


# Pharmacies


async def test_pharmacy_search_filters_pages_and_decodes_services(
    journey: Journey, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = journey
    await j.register_clinic()
    url = f"{j.base}/erx/pharmacies"

    resp = await j.api.get(url, params={"state": "ma"}, headers=j.headers("member"))
    assert resp.status_code == 200, resp.text
    found = {p["pharmacy_id"]: p for p in resp.json()["items"]}
    assert {p["address"]["state"] for p in found.values()} == {"MA"}
    cvs = found[CVS_BOSTON]
    assert cvs == {
        "pharmacy_id": CVS_BOSTON,
        "store_name": "CVS Pharmacy #1024",
        "address": {
            "line1": "587 Boylston St",
            "line2": None,
            "city": "Boston",
            "state": "MA",
            "zip": "021163614",
        },
        "phone": "+16175550101",
        "fax": "+16175550102",
        "ncpdp_id": "2207901",
        "specialties": ["Retail", "EPCS"],
        "services": {
            "new_rx": True,
            "refill": True,
            "change": True,
            "rx_fill": True,
            "cancel": True,
            "epcs": True,
        },
    }
    assert found[BROOKLINE_BASIC]["services"] == {
        "new_rx": True,
        "refill": True,
        "change": False,
        "rx_fill": False,
        "cancel": False,
        "epcs": False,
    }
    assert not any(found[CORNER_DRUG_FAX_ONLY]["services"].values())
    assert resp.json()["page"]["total_count"] == len(found)

    async def ids(**params: Any) -> list[int]:
        resp = await j.api.get(url, params=params, headers=j.headers())
        assert resp.status_code == 200, (params, resp.text)
        return [p["pharmacy_id"] for p in resp.json()["items"]]

    assert await ids(zip="02116-3614") == [CVS_BOSTON]
    assert await ids(zip="02116") == [CVS_BOSTON]
    assert await ids(ncpdp_id="2207905") == [DUANE_READE_NY]
    assert await ids(phone_or_fax="+1 (617) 555-0102") == [CVS_BOSTON]
    assert await ids(name="duane", city="New York") == [DUANE_READE_NY]
    assert await ids(state="MA", specialty="SpecialtyPharmacy") == [HARBOR_SPECIALTY]
    assert await ids(name="no such store anywhere") == []

    # DoseSpot's pages hold 20; a smaller page shows the paging with the catalogue at hand.
    monkeypatch.setattr(sandbox.config, "page_size", 3)
    pages = []
    for number in (1, 2, 3):
        resp = await j.api.get(url, params={"state": "MA", "page": number}, headers=j.headers())
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
    assert [len(p["items"]) for p in pages] == [3, 3, len(found) - 6]
    assert pages[0]["page"] == {
        "page": 1,
        "page_size": 3,
        "total_pages": 3,
        "total_count": len(found),
        "has_next": True,
        "has_previous": False,
    }
    assert pages[2]["page"]["has_next"] is False and pages[2]["page"]["has_previous"] is True
    paged = [p["pharmacy_id"] for page in pages for p in page["items"]]
    assert sorted(paged) == sorted(found) and len(set(paged)) == len(paged)


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({}, "filters", "a search needs at least one filter"),
        ({"specialty": "Retail"}, "filters", "a search needs at least one filter"),
        ({"zip": "1011"}, "zip", "5 or 9 digits"),
        ({"zip": "101180"}, "zip", "5 or 9 digits"),
        ({"zip": "١٠١١٨"}, "zip", "ASCII"),
        ({"state": "ZZ"}, "state", "not a US state"),
        ({"ncpdp_id": "22079"}, "ncpdp_id", "7 digits"),
        ({"phone_or_fax": "555-0101"}, "phone_or_fax", "10-digit"),
        ({"name": "cv"}, "name", "at least 3"),
        ({"name": "cvs\u202e"}, "name", "invisible"),
        ({"state": "MA", "specialty": "Bakery"}, "specialty.0", ""),
        ({"state": "MA", "page": "0"}, "page", ""),
        ({"state": "MA", "color": "red"}, "color", "unknown field"),
    ],
)
async def test_a_bad_pharmacy_search_is_422_and_never_reaches_dosespot(
    journey: Journey, params: dict[str, str], field: str, reason: str
) -> None:
    j = journey
    await j.register_clinic()
    before = await sandbox_calls(j, "api/pharmacies/search")
    resp = await j.api.get(f"{j.base}/erx/pharmacies", params=params, headers=j.headers())
    assert_invalid(resp, field, reason)
    assert await sandbox_calls(j, "api/pharmacies/search") == before


async def test_a_search_needs_a_registered_clinic(journey: Journey) -> None:
    j = journey
    resp = await j.api.get(f"{j.base}/erx/pharmacies", params={"state": "MA"}, headers=j.headers())
    assert resp.status_code == 409 and resp.json()["state"] == "no_clinic", resp.text


async def medications_panel(j: Journey, client_id: str, default: int) -> list[dict[str, Any]]:
    """The read model's pharmacy panel once it shows ``default`` as the default."""
    for _ in range(50):
        resp = await j.api.get(
            f"{j.base}/erx/patients/{client_id}/medications", headers=j.headers()
        )
        assert resp.status_code == 200, resp.text
        panel: list[dict[str, Any]] = resp.json()["pharmacies"]
        if [p["pharmacy_id"] for p in panel if p["is_default"]] == [default]:
            return panel
        await asyncio.sleep(0.2)
    raise AssertionError(f"the pharmacy panel never showed {default} as default: {panel}")


async def test_the_default_pharmacy_is_set_in_dosespot_and_reaches_the_medication_record(
    journey: Journey,
) -> None:
    j = journey
    await j.register_clinic()
    patient_id = await registered_patient(j, "c_pharmacy")
    url = f"{j.base}/erx/patients/c_pharmacy"
    posts = f"api/patients/{patient_id}/pharmacies"

    empty = await j.api.get(f"{url}/pharmacies", headers=j.headers("member"))
    assert empty.status_code == 200, empty.text
    assert empty.json() == {
        "client_id": "c_pharmacy",
        "default_pharmacy_id": None,
        "items": [],
        "synced": None,
    }

    resp = await j.api.put(
        f"{url}/pharmacy", json={"pharmacy_id": DUANE_READE_NY}, headers=j.headers()
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["default_pharmacy_id"] == DUANE_READE_NY
    assert resp.json()["synced"] is True
    panel = await medications_panel(j, "c_pharmacy", DUANE_READE_NY)
    assert panel[0]["name"] == "Duane Reade #14203"

    # Another default: the first stays on the patient's list, no longer the default.
    resp = await j.api.put(f"{url}/pharmacy", json={"pharmacy_id": CVS_BOSTON}, headers=j.headers())
    assert resp.status_code == 200, resp.text
    listed = await j.api.get(f"{url}/pharmacies", headers=j.headers())
    assert listed.json()["default_pharmacy_id"] == CVS_BOSTON
    assert [(p["pharmacy_id"], p["is_default"]) for p in listed.json()["items"]] == [
        (CVS_BOSTON, True),
        (DUANE_READE_NY, False),
    ]
    assert listed.json()["items"][0]["services"]["epcs"] is True
    panel = await medications_panel(j, "c_pharmacy", CVS_BOSTON)
    assert {p["pharmacy_id"] for p in panel} == {CVS_BOSTON, DUANE_READE_NY}

    # Setting the default it already has sends nothing more to DoseSpot.
    before = await sandbox_calls(j, posts, "POST")
    again = await j.api.put(
        f"{url}/pharmacy", json={"pharmacy_id": CVS_BOSTON}, headers=j.headers()
    )
    assert again.status_code == 200, again.text
    assert await sandbox_calls(j, posts, "POST") == before

    # An unknown pharmacy, or a body that is not one, is refused and nothing is added.
    for body, field, reason in (
        ({"pharmacy_id": 424242}, "pharmacy_id", "no such pharmacy"),
        ({"pharmacy_id": 0}, "pharmacy_id", "greater than 0"),
        ({"pharmacy_id": "CVS"}, "pharmacy_id", ""),
        ({}, "pharmacy_id", "field required"),
        ({"pharmacy_id": CVS_BOSTON, "primary": False}, "primary", "unknown field"),
    ):
        resp = await j.api.put(f"{url}/pharmacy", json=body, headers=j.headers())
        assert_invalid(resp, field, reason)
    assert await sandbox_calls(j, posts, "POST") == before


# Allergies


async def test_allergen_search(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    resp = await j.api.get(
        f"{j.base}/erx/allergens", params={"name": "penicillin"}, headers=j.headers("member")
    )
    assert resp.status_code == 200, resp.text
    found = {a["allergen_id"]: a for a in resp.json()["items"]}
    assert found[PENICILLINS] == {
        "allergen_id": PENICILLINS,
        "name": "Penicillins",
        "brand_name": None,
        "type": "AllergenClass",
        "category": "CommonAllergens",
    }
    before = await sandbox_calls(j, "api/allergens/search")
    for params, reason in (({"name": "pe"}, "at least 3"), ({}, "field required")):
        resp = await j.api.get(f"{j.base}/erx/allergens", params=params, headers=j.headers())
        assert_invalid(resp, "name", reason)
    assert await sandbox_calls(j, "api/allergens/search") == before


async def dosespot_allergies(
    j: Journey, settings: Settings, dosespot: DoseSpotClient, client_id: str
) -> dict[int, Any]:
    """The patient's allergies as DoseSpot holds them, read with our client, by id."""
    _, clinic = await dosespot_patient(settings, dosespot, j.sessionmaker, j.ws.id, client_id)
    async with j.sessionmaker() as session:
        row = await session.get(PatientRegistration, (j.ws.id, client_id))
    assert row is not None and row.dosespot_patient_id is not None
    allergies = await clinic.patient_allergies(row.dosespot_patient_id)
    return {a.patient_allergy_id: a for a in allergies}


def by_name(body: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {a["name"]: (a["status"], a["reaction"]) for a in body["items"]}


async def test_allergies_reach_dosespot_and_come_back_from_its_ui(
    journey: Journey, settings: Settings, dosespot: DoseSpotClient
) -> None:
    j = journey
    await j.register_clinic()
    patient_id = await registered_patient(j, "c_allergic")
    url = f"{j.base}/erx/patients/c_allergic/allergies"
    listed: list[dict[str, Any]] = [
        {
            "allergen_id": PENICILLINS,
            "reaction": "Hives",
            "reaction_type": "Allergy",
            "status": "Active",
        },
        {
            "free_text": "Bee stings",
            "reaction_type": "AdverseReaction",
            "status": "Active",
            "onset_date": "2020-05-01",
        },
    ]
    resp = await j.api.put(url, json={"allergies": listed}, headers=j.headers("member"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["changes"] == {"added": 2, "updated": 0, "inactivated": 0}
    assert by_name(resp.json()) == {
        "Penicillins": ("Active", "Hives"),
        "Bee stings": ("Active", None),
    }
    stored = await dosespot_allergies(j, settings, dosespot, "c_allergic")
    coded = next(a for a in stored.values() if a.allergen_id == PENICILLINS)
    free = next(a for a in stored.values() if a.display_name == "Bee stings")
    assert (coded.reaction, coded.status_type) == ("Hives", AllergyStatus.Active)
    assert free.reaction_type is not None and free.reaction_type.name == "AdverseReaction"
    assert free.onset_date is not None and free.onset_date.date().isoformat() == "2020-05-01"

    # A retried PUT finds everything in place.
    again = await j.api.put(url, json={"allergies": listed}, headers=j.headers())
    assert again.json()["changes"] == {"added": 0, "updated": 0, "inactivated": 0}
    assert await dosespot_allergies(j, settings, dosespot, "c_allergic") == stored

    # The clinician enters an allergy in DoseSpot's UI: it shows in our GET.
    entered = await j.sandbox.post(
        f"/_sandbox/patients/{patient_id}/allergies",
        json={"allergen": "codeine", "reaction": "Nausea", "reaction_type": "AdverseReaction"},
    )
    assert entered.status_code == 200, entered.text
    resp = await j.api.get(url, headers=j.headers("member"))
    assert resp.status_code == 200, resp.text
    codeine = next(a for a in resp.json()["items"] if a["allergen_id"] == CODEINE)
    assert (codeine["name"], codeine["reaction"], codeine["reaction_type"]) == (
        "Codeine",
        "Nausea",
        "AdverseReaction",
    )
    assert resp.json()["no_known_allergies"] is False

    # The EHR's next list: free text matched whatever its case, Codeine no longer listed
    # (kept as Inactive), Penicillins' reaction edited.
    relisted = [
        listed[0] | {"reaction": "Anaphylaxis"},
        {"free_text": "BEE STINGS", "reaction_type": "AdverseReaction", "status": "Active"},
    ]
    resp = await j.api.put(url, json={"allergies": relisted}, headers=j.headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["changes"] == {"added": 0, "updated": 1, "inactivated": 1}
    assert by_name(resp.json()) == {
        "Penicillins": ("Active", "Anaphylaxis"),
        "Bee stings": ("Active", None),
        "Codeine": ("Inactive", "Nausea"),
    }
    after = await dosespot_allergies(j, settings, dosespot, "c_allergic")
    assert set(after) == set(stored) | {entered.json()["PatientAllergyId"]}
    assert after[entered.json()["PatientAllergyId"]].status_type is AllergyStatus.Inactive


async def test_no_known_allergies_and_back(
    journey: Journey, settings: Settings, dosespot: DoseSpotClient
) -> None:
    j = journey
    await j.register_clinic()
    await registered_patient(j, "c_nka")
    url = f"{j.base}/erx/patients/c_nka/allergies"
    penicillins = {"allergen_id": PENICILLINS, "reaction_type": "Allergy", "status": "Active"}
    assert (await j.api.put(url, json={"allergies": [penicillins]}, headers=j.headers())).is_success

    resp = await j.api.put(url, json={"no_known_allergies": True}, headers=j.headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["changes"] == {"added": 1, "updated": 0, "inactivated": 1}
    assert resp.json()["no_known_allergies"] is True
    assert by_name(resp.json()) == {"Penicillins": ("Inactive", None)}
    again = await j.api.put(url, json={"no_known_allergies": True}, headers=j.headers())
    assert again.json()["changes"] == {"added": 0, "updated": 0, "inactivated": 0}
    statuses = [
        a.status_type for a in (await dosespot_allergies(j, settings, dosespot, "c_nka")).values()
    ]
    assert statuses.count(AllergyStatus.Active) == 1  # "no known allergies" itself

    # An allergy after all: the old entry comes back, "no known allergies" ends.
    resp = await j.api.put(url, json={"allergies": [penicillins]}, headers=j.headers())
    assert resp.json()["changes"] == {"added": 0, "updated": 1, "inactivated": 1}
    assert resp.json()["no_known_allergies"] is False
    assert by_name(resp.json()) == {"Penicillins": ("Active", None)}


async def test_bad_allergies_are_422_and_never_reach_dosespot(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    patient_id = await registered_patient(j, "c_bad_allergy")
    url = f"{j.base}/erx/patients/c_bad_allergy/allergies"
    good = {"allergen_id": PENICILLINS, "reaction_type": "Allergy", "status": "Active"}
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    before = await sandbox_calls(j, f"api/patients/{patient_id}/allergies*")
    for body, field, reason in (
        ({}, "body", "list the allergies"),
        ({"allergies": []}, "body", "list the allergies"),
        ({"no_known_allergies": True, "allergies": [good]}, "body", "not both"),
        ({"allergies": [good | {"reaction_type": "Intolerance"}]}, "allergies.0.reaction_type", ""),
        ({"allergies": [good | {"status": "Resolved"}]}, "allergies.0.status", ""),
        ({"allergies": [good | {"onset_date": tomorrow}]}, "allergies.0.onset_date", "future"),
        ({"allergies": [good | {"free_text": "Pollen"}]}, "allergies.0", "exactly one"),
        (
            {"allergies": [{"reaction_type": "Allergy", "status": "Active"}]},
            "allergies.0",
            "exactly one",
        ),
        ({"allergies": [good | {"reaction": "x" * 201}]}, "allergies.0.reaction", "at most 200"),
        (
            {
                "allergies": [
                    {"free_text": "Pollen\u0000", "reaction_type": "Allergy", "status": "Active"}
                ]
            },
            "allergies.0.free_text",
            "control",
        ),
        ({"allergies": [good, good | {"reaction": "Rash"}]}, "body", "listed twice"),
        ({"allergies": [good | {"reaction_type": None}]}, "allergies.0.reaction_type", ""),
        ({"allergies": [good | {"severity": "high"}]}, "allergies.0.severity", "unknown field"),
    ):
        resp = await j.api.put(url, json=body, headers=j.headers())
        assert_invalid(resp, field, reason)
    assert await sandbox_calls(j, f"api/patients/{patient_id}/allergies*") == before


# Insurance


async def test_the_client_records_insurance_is_sent_to_dosespot(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    insurance = {
        "payer_name": "Acme Health",
        "payer_id": "ACME01",
        "member_id": "M1234567",
        "group_id": "G-77",
    }
    patient_id = await registered_patient(j, "c_insured", insurance=insurance)
    # The registration sent the plan; sending it again (a changed plan) adds it once more.
    record = (await j.sandbox.get(f"/_sandbox/patients/{patient_id}")).json()
    assert len(record["insurance"]) == 1
    resp = await j.api.put(f"{j.base}/erx/patients/c_insured/insurance", headers=j.headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["payer_id"] == "ACME01" and resp.json()["dosespot_insurance_id"]
    record = (await j.sandbox.get(f"/_sandbox/patients/{patient_id}")).json()
    assert len(record["insurance"]) == 2
    assert record["insurance"][-1:] == [
        {
            "PatientInsuranceIdentifierType": "PayerID",
            "PatientInsuranceIdentifier": "ACME01",
            "PayerName": "Acme Health",
            "CustomEligibilityDetails": [
                {
                    "CustomEligibilityInfoType": "CardholderID",
                    "CustomEligibilityInfoValue": "M1234567",
                },
                {"CustomEligibilityInfoType": "GroupID", "CustomEligibilityInfoValue": "G-77"},
            ],
            "PatientEligibilityId": resp.json()["dosespot_insurance_id"],
        }
    ]

    await registered_patient(j, "c_uninsured")
    resp = await j.api.put(f"{j.base}/erx/patients/c_uninsured/insurance", headers=j.headers())
    assert resp.status_code == 409 and resp.json()["state"] == "no_insurance", resp.text


# Who may see what


async def test_unregistered_patients_conflict_and_other_workspaces_are_not_found(
    journey: Journey, new_workspace: Any
) -> None:
    j = journey
    await j.register_clinic()
    await registered_patient(j, "c_mine")
    await put_client(j, "c_unregistered", client_body(born_years_ago(50)))
    other = await new_workspace()
    nka = {"no_known_allergies": True}
    routes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "pharmacies", None),
        ("PUT", "pharmacy", {"pharmacy_id": CVS_BOSTON}),
        ("GET", "allergies", None),
        ("PUT", "allergies", nka),
        ("PUT", "insurance", None),
    ]
    for method, tail, body in routes:
        path = f"{j.base}/erx/patients/c_unregistered/{tail}"
        resp = await j.api.request(method, path, json=body, headers=j.headers())
        assert resp.status_code == 409, (method, tail, resp.text)
        for ws in (j.ws.id, other.id):
            path = f"/v1/workspaces/{ws}/erx/patients/c_mine/{tail}"
            resp = await j.api.request(method, path, json=body, headers=other.headers())
            assert resp.status_code == 404, (method, path, resp.text)
    for path in ("pharmacies?state=MA", "allergens?name=penicillin"):
        resp = await j.api.get(f"{j.base}/erx/{path}", headers=other.headers())
        assert resp.status_code == 404, (path, resp.text)


async def test_search_terms_and_names_stay_out_of_our_logs(
    journey: Journey, caplog: pytest.LogCaptureFixture
) -> None:
    j = journey
    await j.register_clinic()
    await registered_patient(j, "c_logged")
    caplog.set_level(logging.DEBUG)
    await j.api.get(f"{j.base}/erx/pharmacies", params={"name": "Walgreens"}, headers=j.headers())
    await j.api.get(f"{j.base}/erx/allergens", params={"name": "Shellfish"}, headers=j.headers())
    await j.api.put(
        f"{j.base}/erx/patients/c_logged/allergies",
        json={
            "allergies": [
                {"free_text": "Kiwi fruit", "reaction_type": "Allergy", "status": "Active"}
            ]
        },
        headers=j.headers(),
    )
    ours = [r for r in caplog.records if r.name.startswith(("api", "dosespot"))]
    assert any("allergies of DoseSpot patient" in r.getMessage() for r in ours)
    for record in ours:
        message = record.getMessage()
        for secret in ("Walgreens", "Shellfish", "Kiwi", "Rivera", "Sam"):
            assert secret not in message, (record.name, message)


async def test_no_database_connection_is_held_while_dosespot_answers(journey: Journey) -> None:
    """A slow DoseSpot holds none of the API's database connections."""
    j = journey
    await j.register_clinic()
    transport = j.api._transport
    assert isinstance(transport, httpx.ASGITransport)
    pool = transport.app.state.sessionmaker.kw["bind"].pool  # type: ignore[attr-defined]
    fault = {"rules": [{"path": "api/pharmacies/search", "kind": "slow", "delay_seconds": 1.0}]}
    assert (await j.sandbox.put("/_sandbox/faults", json=fault)).status_code == 200
    search = asyncio.ensure_future(
        j.api.get(f"{j.base}/erx/pharmacies", params={"state": "MA"}, headers=j.headers())
    )
    await asyncio.sleep(0.5)
    assert not search.done()
    assert pool.checkedout() == 0
    resp = await search
    assert resp.status_code == 200, resp.text


async def test_dosespot_failures_are_told_apart(journey: Journey) -> None:
    """Unknown pharmacy (DoseSpot's ERROR) is the caller's 422; DoseSpot down is a 503 to
    retry; a refusal of what we validated is a 502 with DoseSpot's reason."""
    j = journey
    await j.register_clinic()
    await registered_patient(j, "c_failures")
    url = f"{j.base}/erx/patients/c_failures"
    rules = [
        {"method": "GET", "path": f"api/pharmacies/{CVS_BOSTON}", "kind": "result_error"},
        {"method": "GET", "path": "api/pharmacies/search", "kind": "error_5xx", "status_code": 503},
        {
            "method": "POST",
            "path": "api/patients/*/allergies/coded",
            "kind": "result_error",
            "description": "Allergen not found.",
        },
    ]
    assert (await j.sandbox.put("/_sandbox/faults", json=rules)).status_code == 200

    resp = await j.api.put(f"{url}/pharmacy", json={"pharmacy_id": CVS_BOSTON}, headers=j.headers())
    assert_invalid(resp, "pharmacy_id", "no such pharmacy")
    resp = await j.api.get(f"{j.base}/erx/pharmacies", params={"state": "MA"}, headers=j.headers())
    assert resp.status_code == 503, resp.text
    resp = await j.api.put(
        f"{url}/allergies",
        json={
            "allergies": [
                {"allergen_id": PENICILLINS, "reaction_type": "Allergy", "status": "Active"}
            ]
        },
        headers=j.headers(),
    )
    assert resp.status_code == 502, resp.text
    assert resp.json()["detail"] == "DoseSpot refused the request: Allergen not found."
