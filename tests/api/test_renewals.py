"""Renewal requests end to end: pharmacies ask through the sandbox, the API lists the
requests, the prescriber approves or denies them through the API (DoseSpot's validation,
the pushes that follow), a request answered in DoseSpot's UI is picked up, and a
controlled substance obeys the EPCS rule."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus

from activities.dosespot_access import clinic_key
from db.models import ClinicRegistration, EpcsAuditEntry
from dosespot import DoseSpotClient, DoseSpotCredentials
from dosespot.models import RefillApproval, RefillDenial
from dosespot.protocol import (
    Request,
    approve_refill_request,
    deny_refill_request,
    pending_refills_detailed_request,
)
from erx.codec import SecretBox
from erx.settings import Settings
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi
from tests.api.test_medication_record import prescribe, prescribing_patient, settle
from tests.api.test_patients import born_years_ago, client_body, put_client, register
from tests.contract.swagger import validate_request, validate_response
from workflows.clinician_enrollment import CONTROLLED_SUBSTANCE_REFUSAL
from workflows.renewal_watch import (
    RenewalWatchInput,
    RenewalWatchWorkflow,
    renewal_watch_workflow_id,
)

NO_EPCS = CONTROLLED_SUBSTANCE_REFUSAL
PHARMACY = 7901


async def ask_for_renewal(j: Journey, patient: int, **body: Any) -> int:
    """A pharmacy's renewal request for the patient; its RefillId."""
    resp = await j.sandbox.post(f"/_sandbox/patients/{patient}/refill-requests", json=body)
    assert resp.status_code == 200, resp.text
    return int(resp.json()["RefillId"])


async def in_dosespot(j: Journey, patient: int) -> dict[int, dict[str, Any]]:
    """The patient's refill requests and prescriptions as DoseSpot holds them."""
    resp = await j.sandbox.get(f"/_sandbox/patients/{patient}")
    assert resp.status_code == 200, resp.text
    view = resp.json()
    return {r["RefillId"]: r for r in view["refill_requests"]} | {
        -p["PrescriptionId"]: p for p in view["prescriptions"]
    }


async def renewals(j: Journey, who: str = "service", **params: str) -> dict[str, Any]:
    resp = await j.api.get(f"{j.base}/erx/renewals", params=params, headers=j.headers(who))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def renewal(j: Journey, refill: int) -> dict[str, Any]:
    resp = await j.api.get(f"{j.base}/erx/renewals/{refill}", headers=j.headers())
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def as_clinician(
    j: Journey, settings: Settings, dosespot: DoseSpotClient, clinician: int
) -> DoseSpotClient:
    async with j.sessionmaker() as session:
        registration = await session.scalar(
            select(ClinicRegistration).where(ClinicRegistration.workspace_id == j.ws.id)
        )
    assert registration is not None and registration.dosespot_clinic_id is not None
    key = clinic_key(registration, SecretBox(settings.codec_keys, settings.codec_active_key_id))
    assert key is not None
    return dosespot.as_user(
        DoseSpotCredentials(
            clinic_id=registration.dosespot_clinic_id, clinic_key=key, user_id=clinician
        )
    )


async def raw(client: DoseSpotClient, request: Request, *, valid: bool = True) -> tuple[int, Any]:
    """Send one request as built by the client's protocol core (checked against the
    Swagger unless it is meant to be invalid); the sandbox's status and body, the body
    checked against the Swagger when it is a 200."""
    if valid and request.json is not None:
        validate_request(request.method, "/" + request.template, request.json)
    reply = await client._call(request)
    body = json.loads(reply.body)
    if reply.status == 200:
        validate_response(request.method, "/" + request.template, body)
    return reply.status, body


async def test_renewals_approved_denied_and_answered_in_dosespot(
    journey: Journey, settings: Settings, dosespot: DoseSpotClient
) -> None:
    j = journey
    clinician, patient = await prescribing_patient(j)
    sertraline, lisinopril, atorvastatin = await prescribe(
        j,
        patient,
        clinician,
        items=[
            {"medication": "sertraline 50 mg", "quantity": 30, "refills": 1},
            {"medication": "lisinopril 10 mg", "quantity": 90},
            {"medication": "atorvastatin 20 mg", "quantity": 30},
        ],
    )
    for rx in (sertraline, lisinopril, atorvastatin):
        await settle(j, rx)
    first = await ask_for_renewal(j, patient, prescription_id=sertraline)
    second = await ask_for_renewal(j, patient, prescription_id=lisinopril)
    third = await ask_for_renewal(j, patient, prescription_id=atorvastatin)

    # The list: per clinician and patient, oldest first, with DoseSpot's expiry.
    listed = await renewals(j, clinician_member_id="m_ada", client_id="c_rx")
    assert listed["count"] == 3
    items = listed["items"]
    assert [i["refill_id"] for i in items] == [first, second, third]
    assert [i["medication"].split()[0] for i in items] == [
        "sertraline",
        "lisinopril",
        "atorvastatin",
    ]
    for item in items:
        assert item["state"] == "pending"
        assert item["allowed_actions"] == ["approve", "deny"]
        assert item["clinician_member_id"] == "m_ada" and item["client_id"] == "c_rx"
        assert item["dosespot_clinician_id"] == clinician
        assert item["dosespot_patient_id"] == patient
        assert item["controlled"] is False
        requested = datetime.fromisoformat(item["requested_at"])
        expires = datetime.fromisoformat(item["expires_at"])
        assert expires - requested == timedelta(days=30)
    assert (await renewals(j, client_id="c_other"))["count"] == 0
    assert (await renewals(j, who="member"))["count"] == 3

    # DoseSpot's queue, the approve and deny bodies as our client builds them: the Swagger's.
    ada = await as_clinician(j, settings, dosespot, clinician)
    status, queue = await raw(ada, pending_refills_detailed_request(clinic="All"))
    assert status == 200
    assert {i["RefillId"] for i in queue["Items"]} == {first, second, third}
    assert all(i["RequestedPrescription"]["Schedule"] == 0 for i in queue["Items"])
    # DoseSpot's own model validation, as the sandbox plays it.
    status, body = await raw(
        ada,
        Request(
            "POST",
            f"api/refills/{first}/approve",
            "api/refills/{refillId}/approve",
            json={"Refills": 100},
        ),
        valid=False,
    )
    assert status == 400 and "request.Refills" in body["ModelState"]
    status, body = await raw(
        ada,
        Request(
            "POST",
            f"api/refills/{first}/deny",
            "api/refills/{refillId}/deny",
            json={"DenialReason": "DeniedBecauseNo", "Note": "x" * 71},
        ),
        valid=False,
    )
    assert status == 400
    assert set(body["ModelState"]) == {"request.DenialReason", "request.Note"}

    # Bad input: 422 naming the field and the reason, and nothing reaches DoseSpot.
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    bad = [
        ("approve", {"refills": 0}, "refills", "greater than or equal to 1"),
        ("approve", {"refills": 100}, "refills", "less than or equal to 99"),
        ("approve", {"refills": 2, "comment": "x" * 501}, "comment", "at most 500"),
        ("approve", {"refills": 2, "effective_date": yesterday}, "effective_date", "today"),
        ("deny", {"denial_reason": "DeniedTooSoon", "note": "x" * 71}, "note", "at most 70"),
        ("deny", {"denial_reason": "TooSoon"}, "denial_reason", "unknown denial reason"),
        ("deny", {"note": "no reason"}, "denial_reason", "required"),
    ]
    for action, body, field, reason in bad:
        resp = await j.api.post(
            f"{j.base}/erx/renewals/{first}/{action}", json=body, headers=j.headers()
        )
        assert resp.status_code == 422, (body, resp.text)
        errors = resp.json()["errors"]
        assert [e["field"] for e in errors] == [field], errors
        assert reason in errors[0]["reason"], errors
    held = await in_dosespot(j, patient)
    assert [held[r]["State"] for r in (first, second, third)] == ["Pending"] * 3
    assert (await renewal(j, first))["state"] == "pending"

    # Only the prescriber the request waits for answers it (or the EHR for them).
    resp = await j.api.post(
        f"{j.base}/erx/renewals/{first}/approve", json={"refills": 2}, headers=j.headers("admin")
    )
    assert resp.status_code == 403, resp.text

    # Approved: DoseSpot sends the prescription with the refills given.
    today = datetime.now(UTC).date().isoformat()
    resp = await j.api.post(
        f"{j.base}/erx/renewals/{first}/approve",
        json={"refills": 2, "comment": "Continue the current dose", "effective_date": today},
        headers=j.headers("member"),
    )
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["status"] == "approved"
    assert answer["renewal"]["state"] == "approved"
    assert answer["renewal"]["decision"] == "approve" and answer["renewal"]["refills"] == 2
    assert answer["renewal"]["allowed_actions"] == []
    held = await in_dosespot(j, patient)
    assert held[first]["State"] == "Approved"
    sent = held[-held[first]["RequestedPrescriptionId"]]
    assert sent["Refills"] == "2"
    assert sent["Status"] in {"Sending", "eRxSent", "PharmacyVerified"}

    # Denied with one of DoseSpot's reasons.
    resp = await j.api.post(
        f"{j.base}/erx/renewals/{second}/deny",
        json={"denial_reason": "DeniedNeedAppointment", "note": "Please book a visit"},
        headers=j.headers(),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "denied"
    assert resp.json()["renewal"]["denial_reason"] == "DeniedNeedAppointment"
    held = await in_dosespot(j, patient)
    assert held[second]["State"] == "Denied"
    assert held[second]["Response"]["DenialReason"] == "DeniedNeedAppointment"
    assert held[second]["Response"]["Note"] == "Please book a visit"

    # DoseSpot refuses a second answer to a closed request, in the Swagger's shape.
    status, body = await raw(ada, approve_refill_request(first, RefillApproval(refills=1)))
    assert status == 200 and body["Result"]["ResultCode"] == "ERROR"
    status, body = await raw(
        ada, deny_refill_request(first, RefillDenial.model_validate({"DenialReason": 7}))
    )
    assert status == 200 and body["Result"]["ResultCode"] == "ERROR"
    # And so do we, before anything reaches DoseSpot.
    resp = await j.api.post(
        f"{j.base}/erx/renewals/{first}/deny",
        json={"denial_reason": "DeniedTooSoon"},
        headers=j.headers(),
    )
    assert resp.status_code == 409 and resp.json()["state"] == "approved", resp.text

    # Answered in DoseSpot's UI: its counts push makes the request's workflow look.
    resolved = await j.sandbox.post(f"/_sandbox/refill-requests/{third}/resolve")
    assert resolved.status_code == 200, resolved.text
    for _ in range(100):
        current = await renewal(j, third)
        if current["state"] != "pending":
            break
        await asyncio.sleep(0.2)
    assert current["state"] == "decided_in_dosespot", current
    assert current["decision"] is None and current["ended_at"] is not None

    assert (await renewals(j))["count"] == 0
    everything = await renewals(j, state="all")
    assert [(i["refill_id"], i["state"]) for i in everything["items"]] == [
        (first, "approved"),
        (second, "denied"),
        (third, "decided_in_dosespot"),
    ]


async def test_a_controlled_substance_renewal_needs_epcs(
    journey: Journey, settings: Settings, dosespot: DoseSpotClient
) -> None:
    j = journey
    await j.register_clinic()
    await j.add_member("m_grace", "Grace", "Hopper")
    ada_npi, grace_npi = valid_npi(), valid_npi()
    fast = {"confirmation_delay_seconds": 0.2, "attempt_delay_seconds": 0.2}
    await j.scenario(ada_npi, tfa_delay_seconds=0.2, **fast)
    await j.scenario(grace_npi, tfa_delay_seconds=0.2, **fast)
    await j.invite("m_ada", "m_grace")
    assert (await j.enroll("m_ada", ada_npi, valid_dea("AL"))).status_code == 200
    assert (await j.enroll("m_grace", grace_npi, valid_dea("BH"))).status_code == 200
    await j.verify("m_ada")
    await j.verify("m_grace")
    await put_client(j, "c_rx", client_body(born_years_ago(40)))
    registered = await register(j, "c_rx")
    assert registered.status_code == 200, registered.text
    patient = registered.json()["patient"]["dosespot_patient_id"]
    primary = await j.sandbox.post(
        f"/_sandbox/patients/{patient}/pharmacies", json={"pharmacy_id": PHARMACY, "primary": True}
    )
    assert primary.status_code == 200, primary.text
    ada = (await j.clinician_ids())["m_ada"]
    refill = await ask_for_renewal(j, patient, medication="alprazolam", clinician_id=ada)

    (item,) = (await renewals(j))["items"]
    assert item["refill_id"] == refill
    assert item["controlled"] is True and item["schedule"] == 4

    approve = f"{j.base}/erx/renewals/{refill}/approve"
    refused = await j.api.post(approve, json={"refills": 1}, headers=j.headers())
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == NO_EPCS

    # Two-factor alone is not EPCS access: two people must approve it.
    for member_id in ("m_ada", "m_grace"):
        resp = await j.api.post(
            f"{j.base}/erx/clinicians/{member_id}/two-factor", headers=j.headers()
        )
        assert resp.status_code == 200, resp.text
        await j.wait_for(member_id, "tfa_active")
    refused = await j.api.post(approve, json={"refills": 1}, headers=j.headers("member"))
    assert refused.status_code == 403 and refused.json()["detail"] == NO_EPCS
    held = await in_dosespot(j, patient)
    assert held[refill]["State"] == "Pending"

    # DoseSpot itself: another prescriber may not answer it, nor date it in the past.
    grace = await as_clinician(j, settings, dosespot, (await j.clinician_ids())["m_grace"])
    status, body = await raw(grace, approve_refill_request(refill, RefillApproval(refills=1)))
    assert status == 200 and body["Result"] == {
        "ResultCode": "ERROR",
        "ResultDescription": "User is not authorized to respond to this refill request.",
    }
    as_ada = await as_clinician(j, settings, dosespot, ada)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    status, body = await raw(
        as_ada,
        approve_refill_request(refill, RefillApproval(refills=1, effective_date=yesterday)),
    )
    assert status == 200
    assert body["Result"]["ResultDescription"] == "The effective date cannot be in the past."

    approvals = f"{j.base}/erx/clinicians/m_ada/epcs-approvals"
    assert (await j.api.post(approvals, headers=j.headers("admin"))).status_code == 200
    granted = await j.api.post(approvals, headers=j.headers("m_grace"))
    assert granted.status_code == 200 and granted.json()["state"] == "epcs_enabled", granted.text

    allowed = await j.api.post(approve, json={"refills": 1}, headers=j.headers("member"))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["status"] == "approved"
    held = await in_dosespot(j, patient)
    assert held[refill]["State"] == "Approved"

    async with j.sessionmaker() as session:
        audit = (
            await session.scalars(
                select(EpcsAuditEntry)
                .where(
                    EpcsAuditEntry.workspace_id == j.ws.id,
                    EpcsAuditEntry.action == "renew_controlled",
                )
                .order_by(EpcsAuditEntry.id)
            )
        ).all()
    assert [(a.subject_member_id, a.actor_member_id, a.outcome, a.reason) for a in audit] == [
        ("m_ada", None, "refused", NO_EPCS),
        ("m_ada", "m_ada", "refused", NO_EPCS),
    ]


async def test_a_refused_answer_blocks_until_retried_and_a_lost_reply_is_not_sent_twice(
    journey: Journey,
) -> None:
    j = journey
    clinician, patient = await prescribing_patient(j)
    (sertraline,) = await prescribe(
        j, patient, clinician, items=[{"medication": "sertraline 50 mg", "quantity": 30}]
    )
    await settle(j, sertraline)
    refused_once = await ask_for_renewal(j, patient, prescription_id=sertraline)
    reply_lost = await ask_for_renewal(j, patient, prescription_id=sertraline)
    assert (await renewals(j))["count"] == 2
    faults = {
        "rules": [
            {
                "method": "POST",
                "path": f"api/refills/{refused_once}/approve",
                "kind": "result_error",
                "description": "The pharmacy could not be reached.",
                "times": 1,
            },
            {
                # DoseSpot approves, but its answer never arrives: the client times out.
                "method": "POST",
                "path": f"api/refills/{reply_lost}/approve",
                "kind": "timeout_after_commit",
                "delay_seconds": 5,
                "times": 1,
            },
        ]
    }
    assert (await j.sandbox.put("/_sandbox/faults", json=faults)).status_code == 200
    try:
        resp = await j.api.post(
            f"{j.base}/erx/renewals/{refused_once}/approve",
            json={"refills": 1},
            headers=j.headers(),
        )
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        assert answer["status"] == "blocked"
        blocked = answer["renewal"]
        assert blocked["state"] == "blocked"
        assert blocked["blocked_reason"] == "dosespot_refused"
        assert blocked["message"].endswith(": The pharmacy could not be reached.")
        assert blocked["allowed_actions"] == ["approve", "deny", "retry"]
        assert (await in_dosespot(j, patient))[refused_once]["State"] == "Pending"
        retried = await j.api.post(
            f"{j.base}/erx/renewals/{refused_once}/retry", headers=j.headers("admin")
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "approved"
        assert (await in_dosespot(j, patient))[refused_once]["State"] == "Approved"

        resp = await j.api.post(
            f"{j.base}/erx/renewals/{reply_lost}/approve",
            json={"refills": 3},
            headers=j.headers(),
        )
        assert resp.status_code == 200, resp.text
        # The retried call found the request closed: by our first attempt, so approved.
        assert resp.json()["status"] == "approved"
        held = await in_dosespot(j, patient)
        assert held[reply_lost]["State"] == "Approved"
        assert held[reply_lost]["Response"] == {"Approved": True, "Refills": 3}
    finally:
        await j.sandbox.delete("/_sandbox/faults")


async def test_the_watch_finds_a_request_whose_push_was_lost(
    journey: Journey, temporal: Client, settings: Settings
) -> None:
    """Nobody lists the renewals and DoseSpot's pushes are lost: the workspace's
    RenewalWatch still finds the request and starts its workflow."""
    j = journey
    clinician, patient = await prescribing_patient(j)
    (sertraline,) = await prescribe(
        j, patient, clinician, items=[{"medication": "sertraline 50 mg", "quantity": 30}]
    )
    await settle(j, sertraline)
    # The invitation started the watch at the everyday interval; this one reads every 2 s.
    watch = temporal.get_workflow_handle(renewal_watch_workflow_id(j.ws.id))
    assert (await watch.describe()).status == WorkflowExecutionStatus.RUNNING
    await watch.terminate("a quicker watch for the test")
    quick = await temporal.start_workflow(
        RenewalWatchWorkflow.run,
        RenewalWatchInput(workspace_id=j.ws.id, poll_minutes=2 / 60),
        id=renewal_watch_workflow_id(j.ws.id),
        task_queue=settings.task_queue,
    )
    for _ in range(100):
        if await quick.query(RenewalWatchWorkflow.rounds) >= 1:
            break
        await asyncio.sleep(0.1)
    # Its first round is over: only a later one can find what is asked from here on.
    drop = await j.sandbox.post("/_sandbox/notifications/next", json={"action": "drop", "count": 5})
    assert drop.status_code == 200, drop.text
    refill = await ask_for_renewal(j, patient, prescription_id=sertraline)
    try:
        for _ in range(120):
            found = await j.api.get(f"{j.base}/erx/renewals/{refill}", headers=j.headers())
            if found.status_code == 200:
                break
            assert found.status_code == 404, found.text
            await asyncio.sleep(0.25)
        assert found.status_code == 200, "the watch never found the request"
        assert found.json()["state"] == "pending"
        assert found.json()["clinician_member_id"] == "m_ada"
    finally:
        await temporal.get_workflow_handle(renewal_watch_workflow_id(j.ws.id)).terminate("done")
