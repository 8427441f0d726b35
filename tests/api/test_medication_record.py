"""The medication record end to end: the clinician prescribes in the sandbox's embedded UI,
DoseSpot's pushes (lost, duplicated, reordered) and the reconciliation poll bring it into
the read model, and GET .../medications shows the tabs a client record needs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from erx.settings import Settings
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi
from tests.api.test_patients import born_years_ago, client_body, put_client, register

PHARMACY = 7901
REJECTS = 7998


async def prescribing_patient(j: Journey) -> tuple[int, int]:
    """A verified clinician and a registered patient with a primary pharmacy:
    (DoseSpot clinician id, DoseSpot patient id)."""
    await j.register_clinic()
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2, attempt_delay_seconds=0.2)
    await j.invite("m_ada")
    assert (await j.enroll("m_ada", npi, valid_dea("AL"))).status_code == 200
    await j.verify("m_ada")
    await put_client(j, "c_rx", client_body(born_years_ago(52)))
    registered = await register(j, "c_rx")
    assert registered.status_code == 200, registered.text
    patient_id = registered.json()["patient"]["dosespot_patient_id"]
    primary = await j.sandbox.post(
        f"/_sandbox/patients/{patient_id}/pharmacies",
        json={"pharmacy_id": PHARMACY, "primary": True},
    )
    assert primary.status_code == 200, primary.text
    return (await j.clinician_ids())["m_ada"], patient_id


async def prescribe(j: Journey, patient_id: int, clinician: int, **body: Any) -> list[int]:
    resp = await j.sandbox.post(
        f"/_sandbox/patients/{patient_id}/prescribe", json={"clinician_id": clinician, **body}
    )
    assert resp.status_code == 200, resp.text
    return [p["PrescriptionId"] for p in resp.json()["prescriptions"]]


async def settle(j: Journey, prescription: int) -> None:
    """Apply every pending status step of a prescription now."""
    for _ in range(5):
        resp = await j.sandbox.post(f"/_sandbox/prescriptions/{prescription}/advance")
        if resp.status_code == 409:
            return
        assert resp.status_code == 200, resp.text


async def record(j: Journey) -> dict[str, Any]:
    resp = await j.api.get(f"{j.base}/erx/patients/c_rx/medications", headers=j.headers())
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def eventually(
    j: Journey, check: Callable[[dict[str, Any]], bool], seconds: float = 20
) -> dict[str, Any]:
    for _ in range(int(seconds / 0.25)):
        current = await record(j)
        if check(current):
            return current
        await asyncio.sleep(0.25)
    raise AssertionError(f"the record never matched: {current}")


def by_name(tab: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {card["medication"].split()[0].lower(): card for card in tab["items"]}


async def test_played_prescriptions_fill_the_tabs_after_sync(journey: Journey) -> None:
    j = journey
    clinician, patient = await prescribing_patient(j)
    sertraline, lisinopril = await prescribe(
        j,
        patient,
        clinician,
        items=[
            {
                "medication": "sertraline 50 mg",
                "quantity": 30,
                "refills": 2,
                "directions": "Take 1 tablet by mouth daily",
                "days_supply": 30,
            },
            {"medication": "lisinopril 10 mg", "quantity": 90, "directions": "1 tablet daily"},
        ],
    )
    (rejected,) = await prescribe(
        j, patient, clinician, pharmacy_id=REJECTS, items=[{"medication": "atorvastatin 20 mg"}]
    )
    for rx in (sertraline, lisinopril, rejected):
        await settle(j, rx)
    discontinued = await j.sandbox.post(
        f"/_sandbox/patients/{patient}/prescriptions/{lisinopril}/discontinue",
        json={"comment": "cough"},
    )
    assert discontinued.status_code == 200, discontinued.text
    reported = await j.sandbox.post(
        f"/_sandbox/patients/{patient}/self-reported-medications",
        json={"medication": "omeprazole", "directions": "before breakfast"},
    )
    assert reported.status_code == 200, reported.text
    renewal = await j.sandbox.post(
        f"/_sandbox/patients/{patient}/refill-requests", json={"prescription_id": sertraline}
    )
    assert renewal.status_code == 200, renewal.text

    synced = await j.api.post(f"{j.base}/erx/patients/c_rx/sync", headers=j.headers())
    assert synced.status_code == 200, synced.text
    body = synced.json()
    assert body["active"]["count"] == 2, body
    assert body["inactive"]["count"] == 1
    assert body["self_reported"]["count"] == 1
    assert body["renewal_requests"]["count"] == 1
    active = by_name(body["active"])
    card = active["sertraline"]
    assert card["status"] == "PharmacyVerified"
    assert card["directions"] == "Take 1 tablet by mouth daily"
    assert card["dispense_quantity"] in ("30", "30.0")
    assert card["refills"] in ("2", "2.0")
    assert card["days_supply"] == 30
    assert card["prescriber_clinician_id"] == clinician
    assert card["pharmacy_id"] == PHARMACY
    assert card["effective_date"] is not None
    failed = active["atorvastatin"]
    assert failed["status"] == "Error"
    assert failed["pharmacy_id"] == REJECTS
    assert by_name(body["inactive"])["lisinopril"]["medication_status"] == "Discontinued"
    assert by_name(body["self_reported"])["omeprazole"]["directions"] == "before breakfast"
    assert body["renewal_requests"]["items"][0]["medication"].lower().startswith("sertraline")
    pharmacies = {p["pharmacy_id"]: p for p in body["pharmacies"]}
    assert pharmacies[PHARMACY]["is_default"] is True
    assert pharmacies[PHARMACY]["services"]["new_rx"] is True
    again = await record(j)
    assert {k: v for k, v in again.items() if k != "last_synced_at"} == {
        k: v for k, v in body.items() if k != "last_synced_at"
    }

    # The rejecting pharmacy's reason came with DoseSpot's push and shows on the card.
    await eventually(j, lambda r: bool(by_name(r["active"])["atorvastatin"]["status_details"]))


async def test_a_lost_push_is_caught_and_copies_change_nothing(journey: Journey) -> None:
    j = journey
    clinician, patient = await prescribing_patient(j)
    await j.api.post(f"{j.base}/erx/patients/c_rx/sync", headers=j.headers())

    # The push of the next prescription is lost: the reconciliation poll still finds it.
    drop = await j.sandbox.post("/_sandbox/notifications/next", json={"action": "drop", "count": 5})
    assert drop.status_code == 200, drop.text
    (rx,) = await prescribe(j, patient, clinician, items=[{"medication": "sertraline 50 mg"}])
    await settle(j, rx)
    found = await eventually(j, lambda r: r["active"]["count"] == 1)
    assert found["active"]["items"][0]["status"] == "PharmacyVerified"
    await j.sandbox.delete("/_sandbox/notifications/next")

    # Duplicated pushes of a discontinuation end in the same record.
    duplicate = await j.sandbox.post(
        "/_sandbox/notifications/next", json={"action": "duplicate", "count": 3}
    )
    assert duplicate.status_code == 200, duplicate.text
    stopped = await j.sandbox.post(
        f"/_sandbox/patients/{patient}/prescriptions/{rx}/discontinue", json={}
    )
    assert stopped.status_code == 200, stopped.text
    after = await eventually(j, lambda r: r["inactive"]["count"] == 1)
    await asyncio.sleep(3)
    later = await record(j)
    assert later["inactive"] == after["inactive"] and later["active"] == after["active"]
    assert after["active"]["count"] == 0


async def test_reordered_pushes_end_in_the_latest_status(
    journey: Journey, live_api: str, settings: Settings
) -> None:
    """Pushes arrive out of order (each waits up to 2 s): the record still ends at the
    prescription's latest status, never an earlier one."""
    j = journey
    clinician, patient = await prescribing_patient(j)
    shuffled = {
        "url": f"{live_api}/v1/dosespot/notifications",
        "secret": settings.dosespot_webhook_secret,
        "reorder_window_seconds": 2,
        "seed": 7,
    }
    assert (await j.sandbox.put("/_sandbox/notifications", json=shuffled)).status_code == 200
    try:
        (rx,) = await prescribe(j, patient, clinician, items=[{"medication": "sertraline 50 mg"}])
        await settle(j, rx)
        stopped = await j.sandbox.post(
            f"/_sandbox/patients/{patient}/prescriptions/{rx}/discontinue", json={}
        )
        assert stopped.status_code == 200, stopped.text
        final = await eventually(j, lambda r: r["inactive"]["count"] == 1)
        await asyncio.sleep(3)
        later = await record(j)
        assert later["inactive"] == final["inactive"]
        card = later["inactive"]["items"][0]
        assert card["status"] == "PharmacyVerified"
        assert card["medication_status"] == "Discontinued"
        assert later["active"]["count"] == 0
    finally:
        plain = {"url": shuffled["url"], "secret": shuffled["secret"]}
        await j.sandbox.put("/_sandbox/notifications", json=plain)
