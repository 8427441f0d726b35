"""The clinician lifecycle through the API: real dev server, sandbox over HTTP, real SMTP.

The sandbox pushes DoseSpot's notifications to the API over HTTP; the API turns them
into signals. Polling covers the ones that are dropped.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api import clinician_service
from api.app import create_app
from api.auth import Role, issue_key
from db.inbox import DoseSpotInboxEntry
from db.models import ClinicianEnrollment, ClinicRegistration, EpcsAuditEntry, Member
from erx.mailsink import MailSink
from erx.settings import Settings
from tests.api.test_setup import unique_location
from tests.conftest import WorkspaceKeys
from workflows.clinician_enrollment import CONTROLLED_SUBSTANCE_REFUSAL

BAD_DEA = "AB1234564"  # check digit should be 3
X_DEA = "XB1234563"


def valid_npi() -> str:
    body = [random.randint(0, 9) for _ in range(9)]
    digits = [8, 0, 8, 4, 0, *body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return "".join(map(str, body)) + str((10 - total % 10) % 10)


def valid_dea(prefix: str = "AB") -> str:
    d = [random.randint(0, 9) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return prefix + "".join(map(str, d)) + str(check)


def enrollment_form(npi: str, dea: str | None = None, **changes: Any) -> dict[str, Any]:
    location: dict[str, Any] = {"location_id": "loc-main", "is_default": True}
    if dea:
        location |= {"dea_number": dea, "dea_state": "NY"}
    return {
        "date_of_birth": "04/27/1980",
        "npi": npi,
        "phone": "+1 646 736 0134",
        "professional_address": {
            "street_address": "350 Fifth Avenue",
            "city": "New York",
            "state": "NY",
            "zip_code": "10118",
        },
        "locations": [location],
        **changes,
    }


class Journey:
    """One workspace's eRx as its EHR drives it through the API."""

    def __init__(
        self,
        api: httpx.AsyncClient,
        sandbox: httpx.AsyncClient,
        ws: WorkspaceKeys,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.api, self.sandbox, self.ws, self.sessionmaker = api, sandbox, ws, sessionmaker
        self.base = f"/v1/workspaces/{ws.id}"
        self.keys: dict[str, str] = {}

    def headers(self, who: str = "service") -> dict[str, str]:
        if who in self.keys:
            return {"Authorization": f"Bearer {self.keys[who]}"}
        return self.ws.headers(who)

    async def register_clinic(self) -> None:
        resp = await self.api.post(
            f"{self.base}/erx/setup", json={"location": unique_location()}, headers=self.headers()
        )
        assert resp.status_code == 200 and resp.json()["status"] == "registered", resp.text

    async def add_member(self, member_id: str, first: str, last: str) -> None:
        resp = await self.api.put(
            f"{self.base}/members/{member_id}",
            json={"first_name": first, "last_name": last, "email": f"{member_id}@example.com"},
            headers=self.headers(),
        )
        assert resp.status_code == 200, resp.text
        async with self.sessionmaker() as session:
            self.keys[member_id] = await issue_key(
                session, self.ws.id, Role.member, member_id=member_id
            )
            await session.commit()

    async def invite(self, *member_ids: str) -> None:
        resp = await self.api.post(
            f"{self.base}/erx/invitations",
            json={"member_ids": list(member_ids)},
            headers=self.headers(),
        )
        assert resp.status_code == 200, resp.text

    async def clinician_ids(self) -> dict[str, int]:
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(ClinicianEnrollment).where(
                        ClinicianEnrollment.workspace_id == self.ws.id
                    )
                )
            ).all()
        return {r.member_id: r.dosespot_clinician_id for r in rows if r.dosespot_clinician_id}

    async def dosespot_users(self, member_id: str) -> list[int]:
        """The DoseSpot users the sandbox holds in the workspace's clinic for the member."""
        async with self.sessionmaker() as session:
            clinic = await session.scalar(
                select(ClinicRegistration.dosespot_clinic_id).where(
                    ClinicRegistration.workspace_id == self.ws.id
                )
            )
            email = await session.scalar(
                select(Member.email).where(
                    Member.workspace_id == self.ws.id, Member.id == member_id
                )
            )
        found = await self.sandbox.get(
            "/_sandbox/clinicians", params={"clinicId": clinic, "email": email}
        )
        assert found.status_code == 200, found.text
        users: list[int] = found.json()
        return users

    async def scenario(self, npi: str, **fields: Any) -> None:
        resp = await self.sandbox.put(f"/_sandbox/scenarios/clinicians/{npi}", json=fields)
        assert resp.status_code == 200, resp.text

    async def clinician(self, member_id: str) -> dict[str, Any]:
        resp = await self.api.get(f"{self.base}/erx/clinicians/{member_id}", headers=self.headers())
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def wait_for(self, member_id: str, *states: str, seconds: float = 30) -> dict[str, Any]:
        for _ in range(int(seconds / 0.2)):
            clinician = await self.clinician(member_id)
            if clinician["state"] in states:
                return clinician
            await asyncio.sleep(0.2)
        raise AssertionError(f"{member_id} never reached {states}: {clinician}")

    async def enroll(self, member_id: str, npi: str, dea: str | None, who: str = "service") -> Any:
        return await self.api.put(
            f"{self.base}/erx/clinicians/{member_id}/enrollment",
            json=enrollment_form(npi, dea),
            headers=self.headers(who),
        )

    async def verify(self, member_id: str) -> None:
        """Open DoseSpot through the SSO link until identity proofing succeeds."""
        for _ in range(6):
            resp = await self.api.post(
                f"{self.base}/erx/clinicians/{member_id}/verification", headers=self.headers()
            )
            assert resp.status_code == 200, resp.text
            page = await self.sandbox.get(resp.json()["sso_url"].split("127.0.0.1", 1)[1][6:])
            assert page.headers.get("X-Sandbox-SSO-Result") == "signed_in", page.text
            for _ in range(150):
                clinician = await self.clinician(member_id)
                idp = clinician["idp"] or {}
                if clinician["state"] == "verified" or (
                    clinician["state"] == "verifying"
                    and idp.get("failed_attempts")
                    and not idp.get("attempt_in_progress")
                ):
                    break
                await asyncio.sleep(0.2)
            if clinician["state"] == "verified":
                return
        raise AssertionError(f"{member_id} was never verified: {clinician}")


async def test_from_invitation_to_epcs_enabled(
    journey: Journey, mail_sink: MailSink, temporal: Client
) -> None:
    j = journey
    await j.register_clinic()
    await j.add_member("m_grace", "Grace", "Hopper")
    ada_npi, grace_npi = valid_npi(), valid_npi()
    fast = {"confirmation_delay_seconds": 0.2, "attempt_delay_seconds": 0.2}
    await j.scenario(ada_npi, experian_outcomes=["fail", "pass"], tfa_delay_seconds=0.2, **fast)
    await j.scenario(grace_npi, tfa_delay_seconds=0.2, **fast)

    preview = await j.api.post(
        f"{j.base}/erx/invitations/preview",
        json={"member_ids": ["m_ada", "m_grace"]},
        headers=j.headers(),
    )
    assert preview.json() | {} == {
        "selected_count": 2,
        "price_per_clinician_cents": 3900,
        "monthly_total_cents": 7800,
        "monthly_total": "$78.00",
        "currency": "USD",
    }

    before = len(mail_sink.messages())
    invited = await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada", "m_grace"]}, headers=j.headers()
    )
    assert invited.status_code == 200, invited.text
    assert {i["status"] for i in invited.json()["items"]} == {"invited"}
    await mail_sink.wait_for(before + 2, timeout=10)
    recipients = {m["To"] for m in mail_sink.messages()[before:]}
    assert recipients == {"ada@example.com", "m_grace@example.com"}
    again = await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada"]}, headers=j.headers()
    )
    assert again.json()["items"] == [{"member_id": "m_ada", "status": "already_invited"}]

    # Grace enrolls through the EHR's backend, Ada for herself with her member key.
    grace = await j.enroll("m_grace", grace_npi, valid_dea("BH"))
    assert grace.status_code == 200, grace.text
    assert grace.json()["status"] == "confirmed"
    ada = await j.enroll("m_ada", ada_npi, valid_dea("AL"), who="member")
    assert ada.status_code == 200, ada.text
    assert ada.json()["clinician"]["allowed_actions"] == ["start_verification", "deactivate"]

    await j.verify("m_grace")
    progress = (await j.api.get(f"{j.base}/erx", headers=j.headers())).json()
    assert progress["active_step"] == 4 and progress["stage"] == "ready"
    await j.verify("m_ada")
    for _ in range(50):
        ada_state = await j.clinician("m_ada")
        if ada_state["billing_started"]:
            break
        await asyncio.sleep(0.2)
    assert ada_state["idp"]["failed_attempts"] == 1
    assert ada_state["billing_started"]
    await mail_sink.wait_for(before + 4, timeout=10)
    subjects = [m["Subject"] for m in mail_sink.messages()[before + 2 :]]
    assert len(subjects) == 2 and all("verified" in s.lower() for s in subjects), subjects

    for _ in range(50):
        billing = (await j.api.get(f"{j.base}/erx/billing", headers=j.headers())).json()
        if len(billing["subscriptions"]) == 2:
            break
        await asyncio.sleep(0.2)
    assert billing["monthly_total"] == "$78.00"
    assert sorted(s["member_id"] for s in billing["subscriptions"]) == ["m_ada", "m_grace"]

    for member_id in ("m_grace", "m_ada"):
        resp = await j.api.post(
            f"{j.base}/erx/clinicians/{member_id}/two-factor", headers=j.headers()
        )
        assert resp.status_code == 200, resp.text
        await j.wait_for(member_id, "tfa_active")

    with pytest.raises(clinician_service.UpdateRefused) as refused:
        await clinician_service.require_controlled_substance_permission(temporal, j.ws.id, "m_ada")
    assert refused.value.message == CONTROLLED_SUBSTANCE_REFUSAL

    approvals = f"{j.base}/erx/clinicians/m_ada/epcs-approvals"
    first = await j.api.post(approvals, headers=j.headers("admin"))
    assert first.status_code == 200 and first.json()["state"] == "tfa_active", first.text
    twice = await j.api.post(approvals, headers=j.headers("admin"))
    assert twice.status_code == 403 and "already approved" in twice.json()["detail"]
    own = await j.api.post(approvals, headers=j.headers("member"))
    assert own.status_code == 403 and "own" in own.json()["detail"]
    service = await j.api.post(approvals, headers=j.headers())
    assert service.status_code == 403
    second = await j.api.post(approvals, headers=j.headers("m_grace"))
    assert second.status_code == 200, second.text
    assert second.json()["state"] == "epcs_enabled"
    await clinician_service.require_controlled_substance_permission(temporal, j.ws.id, "m_ada")

    async with j.sessionmaker() as session:
        audit = (
            await session.scalars(
                select(EpcsAuditEntry)
                .where(EpcsAuditEntry.workspace_id == j.ws.id)
                .order_by(EpcsAuditEntry.id)
            )
        ).all()
    assert [(a.action, a.outcome, a.actor_member_id) for a in audit] == [
        ("approve", "accepted", "m_admin"),
        ("approve", "refused", "m_admin"),
        ("approve", "refused", "m_ada"),
        ("approve", "refused", None),
        ("approve", "accepted", "m_grace"),
        ("grant", "granted", "m_grace"),
    ]

    gone = await j.api.delete(f"{j.base}/erx/clinicians/m_ada", headers=j.headers("admin"))
    assert gone.status_code == 200, gone.text
    assert gone.json()["state"] == "deactivated"
    dosespot_id = (await j.clinician_ids())["m_ada"]
    view = (await j.sandbox.get(f"/_sandbox/clinicians/{dosespot_id}")).json()
    assert view["active"] is False
    listing = (await j.api.get(f"{j.base}/erx/clinicians", headers=j.headers())).json()
    states = {c["member_id"]: c["state"] for c in listing["items"]}
    assert states == {"m_ada": "deactivated", "m_grace": "tfa_active"}
    # Runs started today take every change of their generation without recording a patch.
    for workflow_id in (
        f"erx-clinician:{j.ws.id}:m_ada",
        f"erx-idp:{j.ws.id}:m_ada:1",
        f"erx-clinician:{j.ws.id}:m_grace",
    ):
        assert await patches_recorded(temporal, workflow_id) == [], workflow_id


async def patches_recorded(temporal: Client, workflow_id: str) -> list[str]:
    """The patch markers and TemporalChangeVersion upserts in the workflow's history."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    found = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes.marker_name
        upserted = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        if marker == "core_patch" or "TemporalChangeVersion" in upserted.indexed_fields:
            found.append(f"{event.event_id}: {marker or 'TemporalChangeVersion'}")
    return found


async def test_confirmation_after_the_wait_answers_pending(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    npi = valid_npi()
    # DoseSpot confirms after the API's wait (5 s in tests, 60 s by default) has run out.
    await j.scenario(npi, confirmation_delay_seconds=8)
    await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada"]}, headers=j.headers()
    )
    resp = await j.enroll("m_ada", npi, None)
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "pending"
    assert resp.json()["clinician"]["state"] == "awaiting_confirmation"
    confirmed = await j.wait_for("m_ada", "confirmed", seconds=20)
    assert confirmed["allowed_actions"] == ["start_verification", "deactivate"]


async def test_an_expired_verification_is_restarted_by_an_admin_only(
    journey: Journey, settings: Settings, temporal: Client
) -> None:
    """Three Experian failures, then an ID.me window (two seconds here) that closes: the
    clinician's own POST .../verification is refused, an admin's restarts verification."""
    short = settings.model_copy(update={"idme_window_hours": 2 / 3600})
    app = create_app(short, temporal=temporal)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api,
    ):
        j = Journey(api, journey.sandbox, journey.ws, journey.sessionmaker)
        await j.register_clinic()
        await j.invite("m_ada")
        npi = valid_npi()
        await j.scenario(
            npi,
            confirmation_delay_seconds=0.1,
            attempt_delay_seconds=0.1,
            experian_outcomes=["fail"],
            idme_outcome="never",
        )
        resp = await j.enroll("m_ada", npi, None)
        assert resp.status_code == 200, resp.text
        for failures in (1, 2, 3):
            resp = await j.api.post(
                f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers("member")
            )
            assert resp.status_code == 200, resp.text
            await j.sandbox.get(resp.json()["sso_url"].split("127.0.0.1", 1)[1][6:])
            for _ in range(150):
                idp = (await j.clinician("m_ada"))["idp"] or {}
                if idp.get("failed_attempts", 0) >= failures and not idp["attempt_in_progress"]:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"attempt {failures} never failed: {idp}")
        expired = await j.wait_for("m_ada", "verification_expired")
        assert expired["allowed_actions"] == ["restart_verification", "deactivate"], expired

        refused = await j.api.post(
            f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers("member")
        )
        assert refused.status_code == 403, refused.text
        assert (await j.clinician("m_ada"))["state"] == "verification_expired"
        restarted = await j.api.post(
            f"{j.base}/erx/clinicians/m_ada/verification", headers=j.headers("admin")
        )
        assert restarted.status_code == 200, restarted.text
        assert restarted.json()["clinician"]["state"] == "verifying"
        assert restarted.json()["sso_url"]


async def test_lost_and_duplicated_pushes(journey: Journey, live_api: str, settings: Any) -> None:
    j = journey
    await j.register_clinic()
    await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada"]}, headers=j.headers()
    )
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.2)
    url = f"{live_api}/v1/dosespot/notifications"
    secret = settings.dosespot_webhook_secret
    try:
        # Every push lost: polling registrationStatus confirms the clinician anyway.
        await j.sandbox.put(
            "/_sandbox/notifications", json={"url": url, "secret": secret, "drop_probability": 1}
        )
        resp = await j.enroll("m_ada", npi, None)
        assert resp.status_code == 200 and resp.json()["status"] == "confirmed", resp.text
        # Every push delivered twice: the inbox lets each through once.
        await j.sandbox.put(
            "/_sandbox/notifications",
            json={"url": url, "secret": secret, "duplicate_probability": 1},
        )
        await j.verify("m_ada")
        await j.sandbox.post("/_sandbox/notifications/flush")
        log = (await j.sandbox.get("/_sandbox/notifications/log")).json()
        assert any(e["outcome"] == "dropped" for e in log), log
        assert any(e["duplicate"] and e["outcome"] == "delivered" for e in log), log
        clinician = await j.clinician("m_ada")
        assert clinician["state"] == "verified"
        assert clinician["idp"]["failed_attempts"] == 0
    finally:
        await j.sandbox.put("/_sandbox/notifications", json={"url": url, "secret": secret})


async def test_a_confirmation_pushed_before_the_registration_is_recorded_reaches_the_workflow(
    journey: Journey,
) -> None:
    """DoseSpot confirms 10 ms after creating the clinician, while its answer to the create is
    still on the way: the push finds no enrollment with that id and is kept. Once the
    registration records the id, the kept push is handed to the clinician's workflow."""
    j = journey
    await j.register_clinic()
    await j.invite("m_ada")
    npi = valid_npi()
    await j.scenario(npi, confirmation_delay_seconds=0.01)
    held = {"method": "POST", "path": "api/clinicians", "kind": "timeout_after_commit"}
    resp = await j.sandbox.put(
        "/_sandbox/faults", json={"rules": [held | {"delay_seconds": 1.0, "times": 1}]}
    )
    assert resp.status_code == 200, resp.text
    resp = await j.enroll("m_ada", npi, None)
    assert resp.status_code in (200, 202), resp.text
    await j.wait_for("m_ada", "confirmed")

    clinician_id = (await j.clinician_ids())["m_ada"]
    async with j.sessionmaker() as session:
        pushes = (
            await session.scalars(
                select(DoseSpotInboxEntry).where(
                    DoseSpotInboxEntry.clinician_id == clinician_id,
                    DoseSpotInboxEntry.event_type == "ClinicianConfirmed",
                )
            )
        ).all()
    log = (await j.sandbox.get("/_sandbox/notifications/log")).json()
    assert [p.routed_workflow_id for p in pushes] == [f"erx-clinician:{j.ws.id}:m_ada"], log
    assert await j.dosespot_users("m_ada") == [clinician_id]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"npi": "1234567890"}, "npi", "check digit"),
        ({"npi": "12345"}, "npi", "10 digits"),
        ({"date_of_birth": "1980-04-27"}, "date_of_birth", "MM/DD/YYYY"),
        ({"date_of_birth": "04/27/2090"}, "date_of_birth", "past"),
        ({"date_of_birth": "02/30/1980"}, "date_of_birth", "not a real date"),
        ({"phone": "+44 20 7946 0958"}, "phone", "+1"),
        (
            {
                "locations": [
                    {"location_id": "loc-main", "is_default": True, "dea_number": "AB1234564"}
                ]
            },
            "locations.0.dea_number",
            "check digit",
        ),
        (
            {
                "locations": [
                    {"location_id": "loc-main", "is_default": True, "dea_number": "XB1234563"}
                ]
            },
            "locations.0.dea_number",
            "retired in 2023",
        ),
        (
            {
                "locations": [
                    {
                        "location_id": "loc-main",
                        "is_default": True,
                        "dea_number": "AB1234563",
                        "dea_state": "TX",
                    }
                ]
            },
            "locations.0.dea_state",
            "location is in NY",
        ),
        ({"locations": [{"location_id": "loc-main"}]}, "locations", "exactly one"),
        (
            {
                "locations": [
                    {"location_id": "loc-main", "is_default": True},
                    {"location_id": "loc-2", "is_default": True},
                ]
            },
            "locations",
            "found 2",
        ),
        ({"favourite_colour": "blue"}, "favourite_colour", "unknown field"),
    ],
)
async def test_bad_enrollment_is_422_and_never_reaches_dosespot(
    journey: Journey, changes: dict[str, Any], field: str, reason: str
) -> None:
    j = journey
    await j.register_clinic()
    await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada"]}, headers=j.headers()
    )
    await j.sandbox.delete("/_sandbox/requests")
    body = enrollment_form(valid_npi()) | changes
    resp = await j.api.put(
        f"{j.base}/erx/clinicians/m_ada/enrollment", json=body, headers=j.headers()
    )
    assert resp.status_code == 422, resp.text
    errors = resp.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
    calls = (await j.sandbox.get("/_sandbox/requests", params={"path": "api/clinician"})).json()
    # Other tests' clinicians may still be polled; this one never reached DoseSpot.
    assert [
        c for c in calls if c["path"].rstrip("/").endswith(("api/clinicians", "api/clinician"))
    ] == []
    assert (await j.clinician("m_ada"))["state"] == "invited"


async def test_invitations_need_a_registered_clinic(journey: Journey) -> None:
    j = journey
    resp = await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada"]}, headers=j.headers()
    )
    assert resp.status_code == 409
    assert resp.json()["detail"] == "Register the clinic with DoseSpot before inviting clinicians"
    unknown = await j.api.post(
        f"{j.base}/erx/invitations/preview", json={"member_ids": ["m_nobody"]}, headers=j.headers()
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "member_ids.0"


async def test_wrong_state_and_wrong_person(journey: Journey) -> None:
    j = journey
    await j.register_clinic()
    await j.add_member("m_grace", "Grace", "Hopper")
    await j.api.post(
        f"{j.base}/erx/invitations", json={"member_ids": ["m_ada", "m_grace"]}, headers=j.headers()
    )
    early = await j.api.post(f"{j.base}/erx/clinicians/m_ada/two-factor", headers=j.headers())
    assert early.status_code == 409
    assert early.json()["state"] == "invited"
    assert early.json()["allowed_actions"] == ["submit_enrollment", "deactivate"]
    other = await j.api.get(f"{j.base}/erx/clinicians/m_grace", headers=j.headers("member"))
    assert other.status_code == 403
    not_invited = await j.api.get(f"{j.base}/erx/clinicians/m_admin", headers=j.headers())
    assert not_invited.status_code == 404
