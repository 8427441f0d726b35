"""Proxies and prescribing agents on the real stack (dev server, worker, sandbox over HTTP):
registration with its bad input and refusals, made once in DoseSpot however often it is
asked; a proxy's draft saved as pending by the proxy acting for its supervisor (DoseSpot
records the proxy as the agent) and sent by the supervisor, never by the proxy; a bad
on-behalf pairing refused at DoseSpot's token endpoint; the SSO link that opens DoseSpot's
UI as the proxy for the supervisor."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from api.proxy_service import CREATE_CLAIM_SECONDS
from db.models import ClinicRegistration
from dosespot_sandbox.auth import ON_BEHALF_OF_REFUSAL
from erx.codec import SecretBox
from erx.settings import Settings
from tests.api.test_clinician_journey import Journey
from tests.api.test_medication_record import prescribing_patient
from tests.api.test_prescriptions import draft, item, rx_base, sandbox_prescriptions, until

DOB = "04/02/1990"


def proxy_url(j: Journey, member_id: str) -> str:
    return f"{j.base}/erx/proxies/{member_id}"


async def register(
    j: Journey, member_id: str, role: str = "proxy", who: str = "service", **changes: Any
) -> httpx.Response:
    body = {"role": role, "supervisor_member_ids": ["m_ada"], "date_of_birth": DOB, **changes}
    return await j.api.put(proxy_url(j, member_id), json=body, headers=j.headers(who))


async def test_registration_is_checked_and_made_once(journey: Journey) -> None:
    j = journey
    await prescribing_patient(j)
    await j.add_member("m_pat", "Pat", "Proxy")

    bad: dict[str, dict[str, Any]] = {
        "role": {"role": "prescriber"},
        "supervisor_member_ids": {"supervisor_member_ids": []},
        "date_of_birth": {"date_of_birth": "1990-04-02"},
        "nickname": {"nickname": "Pat"},
    }
    for field, changes in bad.items():
        resp = await register(j, "m_pat", **changes)
        assert resp.status_code == 422, (field, resp.text)
        assert [e["field"] for e in resp.json()["errors"]] == [field], resp.text
    for changes, reason in (
        ({"supervisor_member_ids": ["m_ada", "m_ada"]}, "more than once"),
        ({"supervisor_member_ids": ["m_pat"]}, "supervise themself"),
        ({"role": "agent", "supervisor_member_ids": ["m_ada", "m_admin"]}, "exactly one"),
    ):
        resp = await register(j, "m_pat", **changes)
        assert resp.status_code == 422, resp.text
        (error,) = resp.json()["errors"]
        assert error["field"] == "supervisor_member_ids" and reason in error["reason"]
    not_prescriber = await register(j, "m_pat", supervisor_member_ids=["m_admin"])
    assert not_prescriber.status_code == 409, not_prescriber.text
    assert not_prescriber.json()["supervisor_member_id"] == "m_admin"
    assert (await register(j, "m_pat", who="m_pat")).status_code == 403
    assert (await register(j, "m_nobody")).status_code == 404
    prescriber = await register(j, "m_ada", supervisor_member_ids=["m_pat"])
    assert prescriber.status_code == 409, "a prescriber is not also a proxy"
    missing = await j.api.get(proxy_url(j, "m_pat"), headers=j.headers())
    assert missing.status_code == 404, "nothing was written"

    assert await j.dosespot_users("m_pat") == []
    first = await register(j, "m_pat")
    assert first.status_code == 200, first.text
    again = await register(j, "m_pat")
    assert again.status_code == 200, again.text
    assert await j.dosespot_users("m_pat") == [first.json()["dosespot_clinician_id"]], "one user"
    shown = again.json()
    assert shown["dosespot_clinician_id"] == first.json()["dosespot_clinician_id"]
    assert shown["state"] == "active" and shown["role"] == "proxy"
    assert shown["supervisor_member_ids"] == ["m_ada"] and shown["may_send"] is False
    journey_view = await j.sandbox.get(f"/_sandbox/clinicians/{shown['dosespot_clinician_id']}")
    assert journey_view.status_code == 200

    # Made an agent: the same DoseSpot user, with its supervisor in DoseSpot.
    agent = await register(j, "m_pat", role="agent")
    assert agent.status_code == 200, agent.text
    assert agent.json()["dosespot_clinician_id"] == shown["dosespot_clinician_id"]
    assert await j.dosespot_users("m_pat") == [shown["dosespot_clinician_id"]]
    listed = await j.api.get(f"{j.base}/erx/proxies", headers=j.headers())
    assert [p["role"] for p in listed.json()["items"]] == ["agent"]
    assert CREATE_CLAIM_SECONDS > 0

    # A proxy or agent is not also invited to prescribe (nor billed for it).
    invited = await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_pat"]}, headers=j.headers()
    )
    assert invited.status_code == 200, invited.text
    (outcome,) = invited.json()["items"]
    assert (outcome["member_id"], outcome["status"]) == ("m_pat", "failed")
    assert "proxy" in outcome["reason"]
    assert invited.json()["monthly_total"] == "$0.00"
    not_invited = await j.api.get(f"{j.base}/erx/clinicians/m_pat", headers=j.headers())
    assert not_invited.status_code == 404, not_invited.text

    # Removed: the DoseSpot user is deactivated, once; registered again, the same user.
    user = shown["dosespot_clinician_id"]
    assert (
        await j.api.delete(proxy_url(j, "m_pat"), headers=j.headers("member"))
    ).status_code == 403
    for _ in range(2):
        removed = await j.api.delete(proxy_url(j, "m_pat"), headers=j.headers())
        assert removed.status_code == 200, removed.text
        assert removed.json()["state"] == "removed"
    assert (await j.api.delete(proxy_url(j, "m_nobody"), headers=j.headers())).status_code == 404
    in_dosespot = (await j.sandbox.get(f"/_sandbox/clinicians/{user}")).json()
    assert in_dosespot["active"] is False, in_dosespot
    session = await j.api.post(
        f"{proxy_url(j, 'm_pat')}/prescribing-session", json={"client_id": "c_rx"},
        headers=j.headers(),
    )  # fmt: skip
    assert session.status_code == 409, session.text
    back = await register(j, "m_pat")
    assert back.status_code == 200, back.text
    assert (back.json()["state"], back.json()["dosespot_clinician_id"]) == ("active", user)
    assert (await j.sandbox.get(f"/_sandbox/clinicians/{user}")).json()["active"] is True
    assert await j.dosespot_users("m_pat") == [shown["dosespot_clinician_id"]]


async def _pairing_token(
    j: Journey, settings: Settings, user_id: int, prescriber_id: int
) -> httpx.Response:
    async with j.sessionmaker() as session:
        registration = await session.scalar(
            select(ClinicRegistration).where(ClinicRegistration.workspace_id == j.ws.id)
        )
    assert registration is not None and registration.clinic_key_ciphertext is not None
    assert registration.clinic_key_key_id is not None
    box = SecretBox(settings.codec_keys, settings.codec_active_key_id)
    key = box.open(registration.clinic_key_key_id, registration.clinic_key_ciphertext).decode()
    form = {
        "grant_type": "password",
        "client_id": str(registration.dosespot_clinic_id),
        "client_secret": key,
        "username": str(user_id),
        "password": key,
        "scope": "api",
        "acr_values": f"OnBehalfOfUserId={prescriber_id}",
    }
    return await j.sandbox.post(
        f"{settings.dosespot_base_url.rstrip('/')}/connect/token",
        data=form,
        headers={"Subscription-Key": settings.dosespot_subscription_key},
    )


async def test_a_proxys_pending_prescription_is_sent_by_the_supervisor(
    journey: Journey, settings: Settings
) -> None:
    j = journey
    ada, patient_id = await prescribing_patient(j)
    await j.add_member("m_pat", "Pat", "Proxy")
    registered = await register(j, "m_pat")
    assert registered.status_code == 200, registered.text
    proxy = registered.json()["dosespot_clinician_id"]

    (rx,) = await draft(j, item(), who="m_pat")
    saved = await j.api.post(f"{rx_base(j)}/{rx['rx_id']}/save", headers=j.headers("m_pat"))
    assert saved.status_code == 200, saved.text
    assert saved.json()["state"] == "pending" and saved.json()["dosespot_status"] == "Entered"
    (pending,) = [
        p for p in await sandbox_prescriptions(j, patient_id)
        if p.get("NonDoseSpotPrescriptionId") == rx["rx_id"]
    ]  # fmt: skip
    assert pending["PrescriberId"] == ada and pending["PrescriberAgentId"] == proxy
    assert "SupervisorId" not in pending, "a proxy has no supervisor of record"

    refused = await j.api.post(
        f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers("m_pat")
    )
    assert refused.status_code == 403, refused.text
    assert "only the prescriber sends" in refused.json()["detail"]
    assert "proxy" in refused.json()["detail"]

    sent = await j.api.post(
        f"{rx_base(j)}/{rx['rx_id']}/send", json={}, headers=j.headers("member")
    )
    assert sent.status_code == 200, sent.text
    done = await until(j, rx["rx_id"], lambda r: r["state"] == "sent")
    assert done["dosespot_status"] == "PharmacyVerified"

    # A prescribing agent, whose supervisor DoseSpot holds, saves for it the same way.
    await j.add_member("m_ana", "Ana", "Agent")
    agent = await register(j, "m_ana", role="agent")
    assert agent.status_code == 200, agent.text
    (by_agent,) = await draft(j, item(), who="m_ana")
    saved = await j.api.post(f"{rx_base(j)}/{by_agent['rx_id']}/save", headers=j.headers("m_ana"))
    assert saved.status_code == 200 and saved.json()["state"] == "pending", saved.text
    (pending,) = [
        p for p in await sandbox_prescriptions(j, patient_id)
        if p.get("NonDoseSpotPrescriptionId") == by_agent["rx_id"]
    ]  # fmt: skip
    assert pending["PrescriberAgentId"] == agent.json()["dosespot_clinician_id"]
    assert pending["SupervisorId"] == ada, "an agent's prescription names its supervisor"

    # Staff who are no proxy save as the prescriber, as before.
    (by_staff,) = await draft(j, item(), who="admin")
    saved = await j.api.post(f"{rx_base(j)}/{by_staff['rx_id']}/save", headers=j.headers("admin"))
    assert saved.status_code == 200, saved.text
    (pending,) = [
        p for p in await sandbox_prescriptions(j, patient_id)
        if p.get("NonDoseSpotPrescriptionId") == by_staff["rx_id"]
    ]  # fmt: skip
    assert pending["PrescriberId"] == ada and "PrescriberAgentId" not in pending

    # DoseSpot refuses a pairing that is not one at token time: the proxy for itself, the
    # prescriber acting for the proxy.
    for user, for_whom in ((proxy, proxy), (ada, proxy)):
        bad = await _pairing_token(j, settings, user, for_whom)
        assert bad.status_code == 400, bad.text
        assert bad.json()["error_description"] == ON_BEHALF_OF_REFUSAL
    good = await _pairing_token(j, settings, proxy, ada)
    assert good.status_code == 200, good.text


async def test_the_proxys_sso_link_acts_on_behalf_of_the_supervisor(journey: Journey) -> None:
    j = journey
    ada, patient_id = await prescribing_patient(j)
    await j.add_member("m_pat", "Pat", "Proxy")
    registered = await register(j, "m_pat")
    assert registered.status_code == 200, registered.text
    proxy = registered.json()["dosespot_clinician_id"]
    url = f"{proxy_url(j, 'm_pat')}/prescribing-session"

    resp = await j.api.post(url, json={"client_id": "c_rx"}, headers=j.headers("m_pat"))
    assert resp.status_code == 200, resp.text
    link = resp.json()["sso_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert query["SingleSignOnUserId"] == str(proxy)
    assert query["OnBehalfOfUserId"] == str(ada)
    assert query["PatientId"] == str(patient_id)
    assert resp.json()["supervisor_member_id"] == "m_ada"

    await j.sandbox.post(f"/_sandbox/clinicians/{proxy}/confirm")
    page = await j.sandbox.get(link.split("127.0.0.1", 1)[1][6:])
    assert page.headers.get("X-Sandbox-SSO-Result") == "signed_in", page.text

    other = await j.api.post(url, json={"client_id": "c_rx"}, headers=j.headers("member"))
    assert other.status_code == 403, other.text
    stranger = await j.api.post(
        url,
        json={"client_id": "c_rx", "supervisor_member_id": "m_admin"},
        headers=j.headers(),
    )
    assert stranger.status_code == 422, stranger.text
    assert stranger.json()["errors"][0]["field"] == "supervisor_member_id"
