"""GETs answer from the read model, and the read model is never behind an answer given.

Each clinician's workflow writes its whole status to ``clinician_enrollments`` with every
change and before it answers an update; ``?consistency=strong`` asks the workflow.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import event, update
from sqlalchemy.engine import Connection
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.invitations import invite_all
from db.models import ClinicianEnrollment
from erx.settings import Settings
from tests.api.test_clinician_journey import Journey, valid_dea, valid_npi
from workflows.models import EnrollmentTimings


async def _both(journey: Journey, member_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    url = f"{journey.base}/erx/clinicians/{member_id}"
    eventual = await journey.api.get(url, headers=journey.headers())
    strong = await journey.api.get(url, params={"consistency": "strong"}, headers=journey.headers())
    assert eventual.status_code == strong.status_code == 200, (eventual.text, strong.text)
    return eventual.json(), strong.json()


async def test_reads_come_from_the_read_model_and_keep_up_with_answers(journey: Journey) -> None:
    await journey.register_clinic()
    await journey.add_member("m_rm", "Read", "Model")
    await journey.invite("m_rm")

    # Right after the invitation's answer, the member is visible as invited.
    eventual, strong = await _both(journey, "m_rm")
    assert eventual["state"] == strong["state"] == "invited"

    enrolled = await journey.enroll("m_rm", valid_npi(), valid_dea())
    assert enrolled.status_code in (200, 202), enrolled.text
    await journey.wait_for("m_rm", "confirmed")
    eventual, strong = await _both(journey, "m_rm")
    assert eventual == strong

    # The GET reads the row, not the workflow: a change to the row shows, strong does not.
    async with journey.sessionmaker() as session:
        row = await session.get(ClinicianEnrollment, (journey.ws.id, "m_rm"))
        assert row is not None and row.status_json is not None
        status = json.loads(row.status_json)
        status["message"] = "as the read model holds it"
        await session.execute(
            update(ClinicianEnrollment)
            .where(
                ClinicianEnrollment.workspace_id == journey.ws.id,
                ClinicianEnrollment.member_id == "m_rm",
            )
            .values(status_json=json.dumps(status))
        )
        await session.commit()
    eventual, strong = await _both(journey, "m_rm")
    assert eventual["message"] == "as the read model holds it"
    assert strong["message"] is None

    # The very next read shows at least what an update answered: it may already show what
    # came after (the identity-proofing attempt the answer started), never less.
    started = await journey.api.post(
        f"{journey.base}/erx/clinicians/m_rm/verification", headers=journey.headers()
    )
    assert started.status_code == 200, started.text
    answer = started.json()["clinician"]
    eventual, _ = await _both(journey, "m_rm")
    assert eventual["state"] == answer["state"] == "verifying"
    assert (eventual["idp"]["run"], eventual["idp"]["path"]) == (
        answer["idp"]["run"],
        answer["idp"]["path"],
    )
    assert eventual["idp"]["attempt_in_progress"] >= answer["idp"]["attempt_in_progress"]
    assert eventual["idp"]["failed_attempts"] >= answer["idp"]["failed_attempts"]

    # Whoever sees the clinician verified sees the workspace at step 4 in the same instant.
    await journey.verify("m_rm")
    progress = await journey.api.get(f"{journey.base}/erx", headers=journey.headers())
    assert progress.status_code == 200, progress.text
    assert progress.json()["active_step"] == 4
    assert progress.json()["stage"] == "ready"
    strong_progress = await journey.api.get(
        f"{journey.base}/erx", params={"consistency": "strong"}, headers=journey.headers()
    )
    assert strong_progress.json()["clinic"] == progress.json()["clinic"]


class _OneStartFails:
    """A Temporal client whose start of one member's enrollment fails."""

    def __init__(self, client: Client, failing: str) -> None:
        self._client, self._failing = client, failing

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs["id"].endswith(f":{self._failing}"):
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
        return await self._client.start_workflow(*args, **kwargs)


async def test_a_read_is_one_transaction_with_the_key(journey: Journey) -> None:
    """The main GETs read the caller's key and the rows in one transaction, committed once;
    a route that awaits a workflow or DoseSpot gives its connection back first."""
    await journey.register_clinic()
    await journey.add_member("m_one", "One", "Transaction")
    await journey.invite("m_one")
    transport = journey.api._transport
    assert isinstance(transport, httpx.ASGITransport)
    engine = transport.app.state.sessionmaker.kw["bind"].sync_engine  # type: ignore[attr-defined]
    begun: list[Connection] = []

    def begin(connection: Connection) -> None:
        begun.append(connection)

    event.listen(engine, "begin", begin)
    try:
        for path in ("/erx/clinicians/m_one", "/erx", "/erx/clinicians"):
            begun.clear()
            read = await journey.api.get(f"{journey.base}{path}", headers=journey.headers())
            assert read.status_code == 200, read.text
            assert len(begun) == 1, path
        begun.clear()
        unknown = await journey.api.get(
            f"{journey.base}/erx/clinicians/m_one", headers={"Authorization": "Bearer erx_no"}
        )
        assert unknown.status_code == 401
        assert len(begun) == 1
    finally:
        event.remove(engine, "begin", begin)


async def test_a_failed_start_fails_only_that_member(
    journey: Journey, temporal: Client, settings: Settings
) -> None:
    await journey.register_clinic()
    members: Sequence[str] = ("m_one", "m_two", "m_three")
    for member_id in members:
        await journey.add_member(member_id, "Bulk", member_id[2:].title())
    items = await invite_all(
        _OneStartFails(temporal, "m_two"),  # type: ignore[arg-type]
        journey.sessionmaker,
        settings,
        journey.ws.id,
        members,
        EnrollmentTimings(),
    )
    outcomes = {i.member_id: i.status for i in items}
    assert outcomes == {"m_one": "invited", "m_two": "failed", "m_three": "invited"}
    assert next(i for i in items if i.member_id == "m_two").reason
    listed = await journey.api.get(f"{journey.base}/erx/clinicians", headers=journey.headers())
    assert {c["member_id"] for c in listed.json()["items"]} == {"m_one", "m_three"}

    # Inviting again starts the one that failed and leaves the others as they are.
    again = await journey.api.post(
        f"{journey.base}/erx/invitations",
        json={"member_ids": list(members)},
        headers=journey.headers(),
    )
    assert {i["member_id"]: i["status"] for i in again.json()["items"]} == {
        "m_one": "already_invited",
        "m_two": "invited",
        "m_three": "already_invited",
    }


async def test_a_long_poll_answers_the_change_as_it_happens(
    journey: Journey, settings: Settings, temporal: Client
) -> None:
    """GET with the answer's ETag in If-None-Match and ``wait`` waits for the clinician's
    next change and answers it at once, 304 when nothing changed; the waiting GETs hold no
    database connection, so one pooled connection serves them all and other requests too."""
    one_connection = settings.model_copy(
        update={"database_pool_size": 1, "database_max_overflow": 0}
    )
    app = create_app(one_connection, temporal=temporal)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api,
    ):
        j = Journey(api, journey.sandbox, journey.ws, journey.sessionmaker)
        url = f"{j.base}/erx/clinicians/m_ada"
        await j.register_clinic()
        await j.invite("m_ada")
        npi = valid_npi()
        await j.scenario(npi, confirmation_delay_seconds=7)
        resp = await j.enroll("m_ada", npi, None)
        assert resp.status_code == 202, resp.text

        first = await api.get(url, headers=j.headers())
        assert first.status_code == 200 and first.json()["state"] == "awaiting_confirmation"
        tag = first.headers["ETag"]
        unchanged = await api.get(url, headers={**j.headers(), "If-None-Match": tag})
        assert (unchanged.status_code, unchanged.headers["ETag"], unchanged.content) == (
            304,
            tag,
            b"",
        )
        waited = await api.get(
            url, params={"wait": 0.3}, headers={**j.headers(), "If-None-Match": tag}
        )
        assert waited.status_code == 304

        async def long_poll(etag: str) -> httpx.Response:
            return await api.get(
                url, params={"wait": 20}, headers={**j.headers(), "If-None-Match": etag}
            )

        # Twenty clients wait on the one connection; a plain read still gets through.
        waiting = [asyncio.create_task(long_poll(tag)) for _ in range(20)]
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in waiting)
        listed = await api.get(f"{j.base}/erx/clinicians", headers=j.headers())
        assert listed.status_code == 200, listed.text
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 25)
        assert {a.status_code for a in answers} == {200}
        assert all(a.headers["ETag"] != tag for a in answers)
        assert all(a.json()["state"] != "awaiting_confirmation" for a in answers)

        # Following the ETags from there reaches "confirmed" with one request per change.
        state, etag, requests = answers[0].json()["state"], answers[0].headers["ETag"], 0
        while state != "confirmed":
            requests += 1
            assert requests < 5, state
            resp = await long_poll(etag)
            assert resp.status_code == 200, resp.status_code
            state, etag = resp.json()["state"], resp.headers["ETag"]

        for wait in (-1, 31, "soon"):
            bad = await api.get(url, params={"wait": wait}, headers=j.headers())
            assert bad.status_code == 422, bad.text
            assert [e["field"] for e in bad.json()["errors"]] == ["wait"], bad.text
