"""Prescribing every kind of item, and from favourites and order sets in one step, on the
real stack (dev server, worker, sandbox over HTTP): a custom compound, a free-text supply
and a catalogue supply drafted and sent to the pharmacy; a clinic favourite and the
prescriber's order set prescribed and sent by one request; what a favourite leaves out or
a request gets wrong answered 422 with nothing written."""

from __future__ import annotations

from typing import Any, cast

from tests.api.test_catalogue import AMOXICILLIN as AMOXICILLIN_ITEM
from tests.api.test_catalogue import COTTON, MOUTHWASH, OXYCODONE, SWABS, favorite
from tests.api.test_clinician_journey import Journey
from tests.api.test_medication_record import prescribing_patient
from tests.api.test_prescriptions import (
    draft,
    item,
    rx_base,
    sandbox_prescriptions,
    until,
)


def written(kind: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = item(**changes)
    del body["dispensable_drug_id"]
    return {**body, "item": kind}


async def send_and_follow(j: Journey, rx_id: str) -> dict[str, Any]:
    sent = await j.api.post(f"{rx_base(j)}/{rx_id}/send", json={}, headers=j.headers())
    assert sent.status_code == 200, sent.text
    return await until(j, rx_id, lambda r: r["state"] == "sent")


async def test_a_custom_compound_and_supplies_are_sent(journey: Journey) -> None:
    j = journey
    _, patient_id = await prescribing_patient(j)
    compound, cotton, swabs = await draft(
        j,
        written(MOUTHWASH, sig=None, directions="Swish 5 mL and spit every 4 hours"),
        written(COTTON, sig=None, directions="Use as directed", dispense_unit_id=6),
        written(SWABS, sig=None, directions="Use before each injection", dispense_unit_id=6),
    )
    assert (compound["kind"], compound["dispensable_drug_id"]) == ("compound", None)
    assert compound["medication"].startswith("Magic mouthwash")
    lidocaine, amoxicillin = cast(list[dict[str, Any]], MOUTHWASH["ingredients"])
    assert compound["item"] == {**MOUTHWASH, "ingredients": [
        {"dispensable_drug_id": None, "dispense_unit_id": None, **lidocaine},
        {"name": None, **amoxicillin},
    ]}  # fmt: skip
    assert compound["controlled_schedule"] is None
    assert (cotton["kind"], cotton["medication"]) == ("supply", "Cotton balls, sterile")
    assert (swabs["kind"], swabs["medication"]) == ("supply", "BD Alcohol Swabs")

    for rx in (compound, cotton, swabs):
        done = await send_and_follow(j, rx["rx_id"])
        assert done["dosespot_status"] == "PharmacyVerified", done
    in_dosespot = {
        p["NonDoseSpotPrescriptionId"]: p for p in await sandbox_prescriptions(j, patient_id)
    }
    assert in_dosespot[compound["rx_id"]]["Type"] == "Compound"
    assert len(in_dosespot[compound["rx_id"]]["CompoundIngredients"]) == 2
    assert in_dosespot[cotton["rx_id"]]["Type"] == "FreeText"
    assert in_dosespot[cotton["rx_id"]]["DisplayName"] == "Cotton balls, sterile"
    assert (in_dosespot[swabs["rx_id"]]["Type"], in_dosespot[swabs["rx_id"]]["SupplyId"]) == (
        "Supply",
        SWABS["supply_id"],
    )


async def test_a_bad_item_is_422_and_nothing_is_drafted(journey: Journey) -> None:
    j = journey
    await prescribing_patient(j)
    both = {**written(COTTON), "dispensable_drug_id": 4001}
    neither = written(COTTON)
    del neither["item"]
    unnamed = written({"kind": "compound", "description": "Nothing named",
                       "ingredients": [{"quantity": "1"}]})  # fmt: skip
    for body, field in [
        (both, "items.0"),
        (neither, "items.0"),
        (unnamed, "items.0.item.compound.ingredients.0"),
    ]:
        resp = await j.api.post(
            rx_base(j),
            json={"prescriber_member_id": "m_ada", "items": [body]},
            headers=j.headers(),
        )
        assert resp.status_code == 422, resp.text
        assert [e["field"] for e in resp.json()["errors"]] == [field], resp.json()
    listed = await j.api.get(rx_base(j), headers=j.headers())
    assert listed.json()["items"] == []


async def order_set_of_ada(j: Journey, *entries: dict[str, Any]) -> int:
    body = {"title": "Strep and swabs", "items": list(entries)}
    resp = await j.api.post(
        f"{j.base}/erx/order-sets/clinicians/m_ada", json=body, headers=j.headers()
    )
    assert resp.status_code == 201, resp.text
    order_set_id: int = resp.json()["order_set_id"]
    return order_set_id


def entry(kind: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = favorite(kind, **changes)
    del body["title"]
    return body


async def test_a_clinic_favourite_and_an_order_set_prescribe_in_one_step(
    journey: Journey,
) -> None:
    j = journey
    _, patient_id = await prescribing_patient(j)
    preset = await j.api.post(
        f"{j.base}/erx/favorites/clinic", json=favorite(AMOXICILLIN_ITEM), headers=j.headers()
    )
    assert preset.status_code == 201, preset.text
    opioid = await j.api.post(
        f"{j.base}/erx/favorites/clinic",
        json=favorite(OXYCODONE, title="Post-op pain", quantity="12"),
        headers=j.headers(),
    )
    assert opioid.status_code == 201, opioid.text
    order_set_id = await order_set_of_ada(
        j,
        entry(AMOXICILLIN_ITEM, refills=1),
        entry(SWABS, dispense_unit_id=6, directions="Use before each injection"),
    )
    body = {
        "prescriber_member_id": "m_ada",
        "favorites": [
            {"scope": "clinic", "favorite_id": preset.json()["favorite_id"],
             "pharmacy_notes": "Patient waits"},
            {"scope": "clinic", "favorite_id": opioid.json()["favorite_id"]},
        ],
        "order_set": {"scope": "clinician", "order_set_id": order_set_id},
        "send": True,
    }  # fmt: skip

    # Only the prescriber sends: the admin's one-step request drafts nothing.
    refused = await j.api.post(rx_base(j), json=body, headers=j.headers("admin"))
    assert refused.status_code == 403, refused.text
    assert (await j.api.get(rx_base(j), headers=j.headers())).json()["items"] == []

    resp = await j.api.post(rx_base(j), json=body, headers=j.headers())
    assert resp.status_code == 201, resp.text
    amoxicillin, oxycodone, from_set, swabs = resp.json()["items"]
    assert amoxicillin["directions"] == "Take 1 capsule by mouth 3 times a day for 10 days"
    assert (amoxicillin["dispense_quantity"], amoxicillin["days_supply"]) == ("30", 10)
    assert amoxicillin["diagnosis_codes"] and amoxicillin["pharmacy_notes"] == "Patient waits"
    assert (from_set["refills"], swabs["kind"]) == (1, "supply")
    # The controlled substance waits, saved, for the PIN and one-time code.
    assert oxycodone["controlled_schedule"] == 2
    assert oxycodone["state"] == "pending" and "send" in oxycodone["allowed_actions"]
    for rx in (amoxicillin, from_set, swabs):
        assert rx["state"] in ("transmitting", "sent"), rx
        done = await until(j, rx["rx_id"], lambda r: r["state"] == "sent")
        assert done["dosespot_status"] == "PharmacyVerified"
    in_dosespot = {
        p["NonDoseSpotPrescriptionId"]: p for p in await sandbox_prescriptions(j, patient_id)
    }
    assert in_dosespot[oxycodone["rx_id"]]["Status"] == "Entered"
    assert len(in_dosespot) == 4, "each prescription written once"


async def test_what_a_favourite_leaves_out_or_gets_wrong_is_422(journey: Journey) -> None:
    j = journey
    _, patient_id = await prescribing_patient(j)
    preset = await j.api.post(
        f"{j.base}/erx/favorites/clinic", json=favorite(AMOXICILLIN_ITEM), headers=j.headers()
    )
    favorite_id = preset.json()["favorite_id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"favorites": [{"scope": "clinic", "favorite_id": 999999}]}, "favorites.0.favorite_id"),
        ({"favorites": [{"scope": "clinic", "favorite_id": favorite_id, "refills": 100}]},
         "favorites.0.refills"),
        ({"favorites": [{"scope": "clinic", "favorite_id": favorite_id,
                         "pharmacy_notes": "n" * 211}]}, "favorites.0.pharmacy_notes"),
        ({"order_set": {"scope": "clinic", "order_set_id": 999999}},
         "order_set.order_set_id"),
        ({}, "body"),
    ]  # fmt: skip
    for changes, field in cases:
        resp = await j.api.post(
            rx_base(j), json={"prescriber_member_id": "m_ada", **changes}, headers=j.headers()
        )
        assert resp.status_code == 422, resp.text
        assert field in [e["field"] for e in resp.json()["errors"]], resp.json()
    assert (await j.api.get(rx_base(j), headers=j.headers())).json()["items"] == []
    assert await sandbox_prescriptions(j, patient_id) == []
