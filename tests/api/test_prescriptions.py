"""Prescriptions through the API on the real stack (dev server, worker, sandbox over HTTP,
the API over HTTP receiving DoseSpot's pushes): drafts with their bad input, review with
DoseSpot's drug-allergy interactions, save as pending, send and the status that follows
(PharmacyVerified, a failure pharmacy's Error), controlled substances refused without EPCS
access and signed with a PIN and one-time code that never land anywhere, a send retried
after a timeout that DoseSpot takes once, and a second send answered 409."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from sqlalchemy import select, text
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from db.models import EpcsAuditEntry
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi
from tests.api.test_medication_record import PHARMACY, prescribing_patient
from workflows.clinician_enrollment import CONTROLLED_SUBSTANCE_REFUSAL
from workflows.prescription import prescription_workflow_id

AMOXICILLIN = 4001
OXYCODONE = 4020
TRANSMISSION_FAILURE = 7999


def item(drug: int = AMOXICILLIN, **changes: Any) -> dict[str, Any]:
    return {
        "dispensable_drug_id": drug,
        "diagnosis_codes": ["J02.9"],
        "sig": {
            "action": "Take",
            "dose_quantity": 1,
            "dose_form": "capsule",
            "route": "by mouth",
            "frequency": "twice daily",
            "duration": "for 10 days",
        },
        "dispense_quantity": 20,
        "dispense_unit_id": 1,
        "days_supply": 10,
        "refills": 0,
        "urgent": True,
        "pharmacy_notes": "Call when ready",
        **changes,
    }


def rx_base(j: Journey) -> str:
    return f"{j.base}/erx/patients/c_rx/prescriptions"


async def draft(j: Journey, *items: dict[str, Any], who: str = "service") -> list[dict[str, Any]]:
    resp = await j.api.post(
        rx_base(j),
        json={"prescriber_member_id": "m_ada", "items": list(items)},
        headers=j.headers(who),
    )
    assert resp.status_code == 201, resp.text
    drafted: list[dict[str, Any]] = resp.json()["items"]
    return drafted


async def sandbox_prescriptions(j: Journey, patient_id: int) -> list[dict[str, Any]]:
    record = (await j.sandbox.get(f"/_sandbox/patients/{patient_id}")).json()
    found: list[dict[str, Any]] = record["prescriptions"]
    return found


async def until(j: Journey, rx_id: str, check: Any, seconds: float = 30) -> dict[str, Any]:
    for _ in range(int(seconds / 0.25)):
        resp = await j.api.get(f"{rx_base(j)}/{rx_id}", headers=j.headers())
        assert resp.status_code == 200, resp.text
        current: dict[str, Any] = resp.json()
        if check(current):
            return current
        await asyncio.sleep(0.25)
    raise AssertionError(f"the prescription never matched: {current}")


async def test_drafts_review_edit_cancel_and_bad_input(journey: Journey) -> None:
    j = journey
    _, patient_id = await prescribing_patient(j)
    allergies = await j.api.put(
        f"{j.base}/erx/patients/c_rx/allergies",
        json={"allergies": [{"allergen_id": 3001, "reaction": "Hives",
                             "reaction_type": "Allergy", "status": "Active"}]},
        headers=j.headers(),
    )  # fmt: skip
    assert allergies.status_code == 200, allergies.text

    (amoxicillin, lisinopril) = await draft(
        j, item(), item(4004, sig=None, directions="1 tablet daily", dispense_unit_id=2)
    )
    assert amoxicillin["state"] == "draft"
    assert amoxicillin["directions"] == "Take 1 capsule by mouth twice daily for 10 days"
    assert amoxicillin["pharmacy_id"] == PHARMACY, "the patient's default pharmacy"
    assert amoxicillin["effective_date"] == datetime.now(UTC).date().isoformat()
    assert amoxicillin["medication"].startswith("amoxicillin")
    assert amoxicillin["controlled_schedule"] is None
    assert lisinopril["directions"] == "1 tablet daily"

    review = await j.api.get(f"{rx_base(j)}/{amoxicillin['rx_id']}", headers=j.headers())
    assert review.status_code == 200, review.text

    edited = await j.api.put(
        f"{rx_base(j)}/{amoxicillin['rx_id']}",
        json=item(dispense_quantity=28, refills=2, diagnosis_codes=["J02.9", "J06.9"]),
        headers=j.headers(),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["dispense_quantity"] == "28" and edited.json()["refills"] == 2

    cancelled = await j.api.delete(f"{rx_base(j)}/{lisinopril['rx_id']}", headers=j.headers())
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = await j.api.post(
        f"{rx_base(j)}/{lisinopril['rx_id']}/send", json={}, headers=j.headers()
    )
    assert again.status_code == 409

    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    bad = {
        "items.0.diagnosis_codes": item(diagnosis_codes=["J02.9", "R50.9", "R05"]),
        "items.0.directions": item(sig=None, directions="x" * 1001),
        "items.0.pharmacy_notes": item(pharmacy_notes="n" * 211),
        "items.0.refills": item(refills=100),
        "items.0.dispense_quantity": item(dispense_quantity=0),
        "items.0.effective_date": item(effective_date=yesterday),
    }
    before = await sandbox_prescriptions(j, patient_id)
    for field, body in bad.items():
        resp = await j.api.post(
            rx_base(j), json={"prescriber_member_id": "m_ada", "items": [body]},
            headers=j.headers(),
        )  # fmt: skip
        assert resp.status_code == 422, (field, resp.text)
        assert [e["field"] for e in resp.json()["errors"]] == [field], resp.text
    assert await sandbox_prescriptions(j, patient_id) == before, "nothing reached DoseSpot"
    for field, value in (("pin", "123"), ("otp", "12345"), ("pin", "12a4")):
        resp = await j.api.post(
            f"{rx_base(j)}/{amoxicillin['rx_id']}/send", json={field: value}, headers=j.headers()
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == field
        assert value not in resp.text
    assert await sandbox_prescriptions(j, patient_id) == before

    # Saved as pending in DoseSpot, the review shows DoseSpot's allergy warning.
    saved = await j.api.post(f"{rx_base(j)}/{amoxicillin['rx_id']}/save", headers=j.headers())
    assert saved.status_code == 200, saved.text
    assert saved.json()["state"] == "pending" and saved.json()["dosespot_status"] == "Entered"
    review = await j.api.get(f"{rx_base(j)}/{amoxicillin['rx_id']}", headers=j.headers())
    assert any("Penicillins" in w for w in review.json()["allergy_interactions"]), review.text
    (pending,) = [
        rx for rx in await sandbox_prescriptions(j, patient_id) if rx["Status"] == "Entered"
    ]
    assert pending["Quantity"] == "28" and pending["PharmacyNotes"] == "Call when ready"
    assert pending["NonDoseSpotPrescriptionId"] == amoxicillin["rx_id"]
    diagnosis = pending["FirstPrescriptionDiagnosis"]
    assert diagnosis["PrimaryDiagnosis"]["DiagnosisCode"] == "J02.9"
    assert diagnosis["SecondaryDiagnosis"]["DiagnosisCode"] == "J06.9"
    unknown = await j.api.post(
        rx_base(j),
        json={"prescriber_member_id": "m_ada", "items": [item(diagnosis_codes=["J99.9"])]},
        headers=j.headers(),
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["errors"][0]["field"] == "items.0.diagnosis_codes"


async def test_send_reaches_pharmacy_verified_and_a_second_send_is_409(journey: Journey) -> None:
    j = journey
    await prescribing_patient(j)
    (rx,) = await draft(j, item())
    sent = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers())
    assert sent.status_code == 200, sent.text
    assert sent.json()["state"] in ("transmitting", "sent")
    done = await until(j, rx["rx_id"], lambda r: r["state"] == "sent")
    assert done["dosespot_status"] == "PharmacyVerified"
    again = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers())
    assert again.status_code == 409, again.text
    assert "already sent" in again.json()["detail"]


async def test_a_failure_pharmacy_shows_error_with_details_and_can_be_sent_again(
    journey: Journey,
) -> None:
    j = journey
    await prescribing_patient(j)
    (rx,) = await draft(j, item(pharmacy_id=TRANSMISSION_FAILURE))
    sent = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers())
    assert sent.status_code == 200, sent.text
    failed = await until(j, rx["rx_id"], lambda r: r["state"] == "error")
    assert failed["dosespot_status"] == "Error" and failed["status_details"], failed
    assert failed["allowed_actions"] == ["send", "cancel"]
    resent = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers())
    assert resent.status_code == 200, resent.text


async def test_only_the_prescriber_sends(journey: Journey) -> None:
    j = journey
    await prescribing_patient(j)
    (rx,) = await draft(j, item(), who="admin")
    resp = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers("admin"))
    assert resp.status_code == 403, resp.text
    saved = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/save", headers=j.headers("admin"))
    assert saved.status_code == 200 and saved.json()["state"] == "pending", saved.text
    mine = await j.api.post(
        f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers("member")
    )
    assert mine.status_code == 200, mine.text


async def test_a_send_retried_after_a_timeout_reaches_dosespot_once(journey: Journey) -> None:
    j = journey
    _, patient_id = await prescribing_patient(j)
    (rx,) = await draft(j, item())
    saved = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/save", headers=j.headers())
    assert saved.status_code == 200, saved.text
    fault = await j.sandbox.put(
        "/_sandbox/faults",
        json={"rules": [{"method": "POST", "path": "api/patients/*/prescriptions/send",
                         "kind": "timeout_after_commit", "delay_seconds": 4.0, "times": 1}]},
    )  # fmt: skip
    assert fault.status_code == 200, fault.text
    sent = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers())
    assert sent.status_code in (200, 202), sent.text
    done = await until(j, rx["rx_id"], lambda r: r["state"] == "sent", seconds=40)
    assert done["dosespot_status"] == "PharmacyVerified"
    assert done["message"] is None, "the retry did not send again (it would be refused)"
    (sandbox_rx,) = [
        p for p in await sandbox_prescriptions(j, patient_id)
        if p["NonDoseSpotPrescriptionId"] == rx["rx_id"]
    ]  # fmt: skip
    assert sandbox_rx["Status"] == "PharmacyVerified"


async def epcs_enabled(j: Journey) -> int:
    """Ada, prescribing for c_rx, with EPCS access granted (two approvers) and a PIN."""
    await j.register_clinic()
    await j.add_member("m_grace", "Grace", "Hopper")
    ada_npi, grace_npi = valid_npi(), valid_npi()
    fast = {"confirmation_delay_seconds": 0.2, "attempt_delay_seconds": 0.2,
            "tfa_delay_seconds": 0.2}  # fmt: skip
    await j.scenario(ada_npi, **fast)
    await j.scenario(grace_npi, **fast)
    await j.invite("m_ada", "m_grace")
    assert (await j.enroll("m_ada", ada_npi, valid_dea("AL"))).status_code == 200
    assert (await j.enroll("m_grace", grace_npi, valid_dea("BH"))).status_code == 200
    await j.verify("m_ada")
    await j.verify("m_grace")
    for member_id in ("m_ada", "m_grace"):
        resp = await j.api.post(
            f"{j.base}/erx/clinicians/{member_id}/two-factor", headers=j.headers()
        )
        assert resp.status_code == 200, resp.text
        await j.wait_for(member_id, "tfa_active")
    return (await j.clinician_ids())["m_ada"]


async def test_controlled_substances_need_epcs_access_and_the_codes_land_nowhere(
    journey: Journey, temporal: Client, caplog: pytest.LogCaptureFixture
) -> None:
    j = journey
    caplog.set_level(logging.DEBUG)
    clinician = await epcs_enabled(j)
    from tests.api.test_patients import born_years_ago, client_body, put_client, register

    await put_client(j, "c_rx", client_body(born_years_ago(52)))
    registered = await register(j, "c_rx")
    assert registered.status_code == 200, registered.text
    patient_id = registered.json()["patient"]["dosespot_patient_id"]
    await j.sandbox.post(
        f"/_sandbox/patients/{patient_id}/pharmacies",
        json={"pharmacy_id": PHARMACY, "primary": True},
    )
    oxycodone = item(
        OXYCODONE,
        dispense_quantity=12,
        dispense_unit_id=2,
        sig=None,
        directions="1 tablet every 6 hours as needed for pain",
    )
    (rx,) = await draft(j, oxycodone)
    assert rx["controlled_schedule"] == 2
    send_url = f"{rx_base(j)}/{rx['rx_id']}/send"

    refused = await j.api.post(send_url, json={"pin": "4444", "otp": "444444"}, headers=j.headers())
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == CONTROLLED_SUBSTANCE_REFUSAL
    async with j.sessionmaker() as session:
        audit = (
            await session.scalars(
                select(EpcsAuditEntry).where(EpcsAuditEntry.workspace_id == j.ws.id)
            )
        ).all()
    assert [(a.action, a.outcome) for a in audit if a.action == "send"] == [("send", "refused")]
    assert await sandbox_prescriptions(j, patient_id) == []

    approvals = f"{j.base}/erx/clinicians/m_ada/epcs-approvals"
    assert (await j.api.post(approvals, headers=j.headers("admin"))).status_code == 200
    granted = await j.api.post(approvals, headers=j.headers("m_grace"))
    assert granted.json()["state"] == "epcs_enabled", granted.text

    pin = "8253"
    resp = await j.sandbox.put(f"/_sandbox/clinicians/{clinician}/epcs-pin", json={"pin": pin})
    assert resp.status_code == 200

    async def one_time_code() -> str:
        code: str = (await j.sandbox.post(f"/_sandbox/clinicians/{clinician}/otp")).json()["otp"]
        return code

    wrong_code = await one_time_code()
    wrong = await j.api.post(send_url, json={"pin": "1357", "otp": wrong_code}, headers=j.headers())
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["detail"] == "The PIN entered is incorrect."
    assert "1357" not in wrong.text and wrong_code not in wrong.text

    otp = await one_time_code()
    signed = await j.api.post(send_url, json={"pin": pin, "otp": otp}, headers=j.headers())
    assert signed.status_code == 200, signed.text
    await until(j, rx["rx_id"], lambda r: r["dosespot_status"] == "PharmacyVerified")

    canaries = [pin, otp, "1357", wrong_code]
    handle = temporal.get_workflow_handle(prescription_workflow_id(j.ws.id, rx["rx_id"]))
    history = await handle.fetch_history()
    raw = history.to_json()
    codec = temporal.data_converter.payload_codec
    assert codec is not None
    payloads = [p for event in history.events for p in _payloads(event)]
    assert payloads, "the history carries payloads"
    decoded = b"".join(p.data for p in await codec.decode(payloads)).decode("utf-8", "replace")
    assert rx["rx_id"] in decoded, "the history was decoded"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    async with j.sessionmaker() as session:
        stored = []
        for table in ("prescriptions", "epcs_audit_log", "dosespot_inbox"):
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608
            stored.append(repr(rows))
    for canary in canaries:
        # As a value of its own: not inside a longer number, hash or timestamp.
        alone = re.compile(rf"(?<![0-9A-Za-z]){canary}(?![0-9A-Za-z])")
        assert not alone.search(raw), "raw history"
        assert not alone.search(decoded), "decoded history"
        assert not alone.search(logged), "logs"
        assert not alone.search("".join(stored)), "database"


def _payloads(event: Any) -> list[Payload]:
    """Every payload an event carries (inputs, results, failures' details)."""
    found: list[Payload] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node:
                found.append(
                    Payload(
                        metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
                        data=base64.b64decode(node["data"]),
                    )
                )
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(MessageToDict(event))
    return found


async def test_the_dose_calculator_uses_the_registered_weight(journey: Journey) -> None:
    j = journey
    from tests.api.test_patients import born_years_ago, client_body, put_client

    url = f"{j.base}/erx/patients/c_kid/prescriptions/dose-calculation"
    await put_client(j, "c_kid", client_body(born_years_ago(8)))
    none = await j.api.post(url, json={"dose_per_kg": 15}, headers=j.headers())
    assert none.status_code == 422 and none.json()["errors"][0]["field"] == "weight"

    weighed = {
        "height": {"value": 130, "unit": "cm"},
        "weight": {"value": 65, "unit": "lb"},
        "vitals_recorded_at": "2026-11-02T09:30:00Z",
    }
    await put_client(j, "c_kid", client_body(born_years_ago(8), **weighed))
    dose = await j.api.post(url, json={"dose_per_kg": 15, "unit": "mg"}, headers=j.headers())
    assert dose.status_code == 200, dose.text
    body = dose.json()
    assert body["weight_kg"] == "29.48" and body["weight_as_recorded"] == "65 lb"
    assert body["dose"] == "442.2" and body["unit"] == "mg" and body["capped"] is False
    assert body["weight_recorded_at"] == "2026-11-02T09:30:00Z"
    capped = await j.api.post(url, json={"dose_per_kg": 15, "max_dose": 400}, headers=j.headers())
    assert capped.json()["dose"] == "400" and capped.json()["capped"] is True
