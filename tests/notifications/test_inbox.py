"""POST /v1/dosespot/notifications: secret, inbox de-duplication, signals to a real workflow."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

# The probe workflow below is defined here, so the worker's sandbox re-imports this module.
with workflow.unsafe.imports_passed_through():
    import httpx
    import pytest
    from sqlalchemy import func, select, update
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from api.app import create_app
    from api.routes import notifications
    from db.inbox import DoseSpotInboxEntry
    from db.models import ClinicianEnrollment
    from dosespot.notifications import event_key
    from erx.settings import DEV_WEBHOOK_SECRET, Settings
    from tests.conftest import WorkspaceKeys
    from workflows.models import DoseSpotEvent

URL = "/v1/dosespot/notifications"
_clinician_ids = itertools.count(int(time.time() * 1000) % 1_000_000_000)


@workflow.defn(name="InboxProbe")
class InboxProbe:
    """Stands in for ClinicianEnrollment: keeps every dosespot_event it is sent."""

    def __init__(self) -> None:
        self._events: list[DoseSpotEvent] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name="dosespot_event")
    def dosespot_event(self, event: DoseSpotEvent) -> None:
        self._events.append(event)

    @workflow.query(name="events")
    def events(self) -> list[DoseSpotEvent]:
        return self._events


def secret(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Secret {settings.dosespot_webhook_secret}"}


def new_clinician_id() -> int:
    return next(_clinician_ids)


def workflow_id(workspace: WorkspaceKeys) -> str:
    return f"erx-clinician:{workspace.id}:{workspace.member_id}"


@asynccontextmanager
async def probe(temporal: Client, id: str) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    queue = f"test-inbox-{uuid.uuid4()}"
    async with Worker(temporal, task_queue=queue, workflows=[InboxProbe]):
        handle = await temporal.start_workflow(InboxProbe.run, id=id, task_queue=queue)
        try:
            yield handle
        finally:
            await handle.terminate()


@asynccontextmanager
async def api_of(settings: Settings, temporal: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API app of its own, with these settings and this Temporal client."""
    app = create_app(settings, temporal=cast(Client, temporal))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def events_of(handle: WorkflowHandle[Any, Any], at_least: int = 1) -> list[DoseSpotEvent]:
    """The probe's events once it holds ``at_least``, plus a moment for any stragglers."""
    deadline = time.monotonic() + 10
    while True:
        events = await handle.query(InboxProbe.events)
        if len(events) >= at_least or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    return await handle.query(InboxProbe.events)


async def enroll(
    sessionmaker: async_sessionmaker[AsyncSession], workspace: WorkspaceKeys, clinician_id: int
) -> None:
    async with sessionmaker() as session:
        session.add(
            ClinicianEnrollment(
                workspace_id=workspace.id,
                member_id=workspace.member_id,
                state="confirming",
                dosespot_clinician_id=clinician_id,
            )
        )
        await session.commit()


async def occurrences(
    sessionmaker: async_sessionmaker[AsyncSession], body: Any
) -> list[DoseSpotInboxEntry]:
    """The inbox rows of the body's event identity, first occurrence first."""
    async with sessionmaker() as session:
        result = await session.scalars(
            select(DoseSpotInboxEntry)
            .where(DoseSpotInboxEntry.event_key == event_key(body, DEV_WEBHOOK_SECRET))
            .order_by(DoseSpotInboxEntry.occurrence)
        )
        return list(result)


async def inbox_entry(
    sessionmaker: async_sessionmaker[AsyncSession], body: Any
) -> DoseSpotInboxEntry | None:
    """The latest occurrence of the body's event identity."""
    rows = await occurrences(sessionmaker, body)
    return rows[-1] if rows else None


async def update_latest(
    sessionmaker: async_sessionmaker[AsyncSession], body: Any, **values: Any
) -> None:
    """Set ``values`` on the latest occurrence of the body's identity."""
    latest = await inbox_entry(sessionmaker, body)
    assert latest is not None
    async with sessionmaker() as session:
        await session.execute(
            update(DoseSpotInboxEntry)
            .where(
                DoseSpotInboxEntry.event_key == latest.event_key,
                DoseSpotInboxEntry.occurrence == latest.occurrence,
            )
            .values(**values)
        )
        await session.commit()


async def age(sessionmaker: async_sessionmaker[AsyncSession], body: Any, by: timedelta) -> None:
    """Move the latest occurrence of the body's identity back in time by ``by``."""
    latest = await inbox_entry(sessionmaker, body)
    assert latest is not None
    await update_latest(sessionmaker, body, received_at=latest.received_at - by)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Secret not-the-secret"},
        {"Authorization": "Secret "},
        {"Authorization": "Bearer {secret}"},
        {"Authorization": "{secret}"},
    ],
)
async def test_without_the_secret_nothing_is_read_or_stored(
    api: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    headers: dict[str, str],
) -> None:
    headers = {k: v.format(secret=settings.dosespot_webhook_secret) for k, v in headers.items()}
    body = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": new_clinician_id()}}
    resp = await api.post(URL, json=body, headers=headers)
    assert resp.status_code == 401
    assert await inbox_entry(sessionmaker, body) is None
    # The body is not even parsed: garbage gets the same answer.
    garbage = await api.post(URL, content=b"{not json", headers=headers)
    assert garbage.status_code == 401


async def test_routed_once_to_the_clinicians_workflow_despite_concurrent_copies(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {
        "EventType": "ClinicianIDPCompleteSuccess",
        "Data": {
            "ClinicianId": clinician_id,
            "ClinicianIDPCompleteDate": "2024-05-01T14:03:27",
            "IDPCompleteType": "Experian",
        },
    }
    async with probe(temporal, workflow_id(workspace)) as handle:
        responses = await asyncio.gather(
            *(api.post(URL, json=body, headers=secret(settings)) for _ in range(3))
        )
        assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
        assert sorted(r.json()["status"] for r in responses) == ["duplicate", "duplicate", "routed"]

        [event] = await events_of(handle)
        assert event.event_type == "ClinicianIDPCompleteSuccess"
        assert event.clinician_id == clinician_id
        assert event.data == body["Data"]
        assert event.received_at is not None and event.received_at.endswith("+00:00")

        again = await api.post(URL, json=body, headers=secret(settings))
        assert again.json() == {"status": "duplicate"}
        assert len(await events_of(handle)) == 1

    entry = await inbox_entry(sessionmaker, body)
    assert entry is not None
    assert entry.routed_workflow_id == workflow_id(workspace)
    assert entry.routed_at is not None
    assert entry.attempts == 1
    assert entry.clinician_id == clinician_id
    assert entry.event_type == "ClinicianIDPCompleteSuccess"


async def test_routing_that_failed_is_tried_again_on_redelivery(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    body = {"EventType": "ClinicianTfaActivateSuccess", "Data": {"ClinicianId": clinician_id}}

    # No enrollment knows this DoseSpot clinician yet.
    first = await api.post(URL, json=body, headers=secret(settings))
    assert first.json() == {"status": "unrouted"}

    # The enrollment exists, but its workflow is not running.
    await enroll(sessionmaker, workspace, clinician_id)
    second = await api.post(URL, json=body, headers=secret(settings))
    assert second.json() == {"status": "unrouted"}
    entry = await inbox_entry(sessionmaker, body)
    assert entry is not None
    assert (entry.routed_at, entry.attempts) == (None, 2)

    async with probe(temporal, workflow_id(workspace)) as handle:
        third = await api.post(URL, json=body, headers=secret(settings))
        assert third.json() == {"status": "routed"}
        fourth = await api.post(URL, json=body, headers=secret(settings))
        assert fourth.json() == {"status": "duplicate"}
        [event] = await events_of(handle)
        assert event.event_type == "ClinicianTfaActivateSuccess"

    entry = await inbox_entry(sessionmaker, body)
    assert entry is not None
    assert entry.routed_workflow_id == workflow_id(workspace)
    assert entry.attempts == 3


@pytest.mark.parametrize(
    "body",
    [
        {
            "EventType": "PrescriptionResult",
            "Data": {
                "PatientId": "55501",
                "ClinicId": "98765",
                "ClinicianId": "{clinician}",
                "PrescriptionId": "7700123",
                "PrescriptionStatus": "erxSent",
                "StatusDetails": "Sent for Jane Q Patient",
            },
        },
        {"EventType": "ClinicianSomethingNew", "Data": {"ClinicianId": "{clinician}"}},
        {"EventType": "ClinicianConfirmed", "Data": {"Note": "{clinician}"}},
    ],
)
async def test_events_no_workflow_owns_are_kept_unrouted(
    api: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
    caplog: pytest.LogCaptureFixture,
    body: dict[str, Any],
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {
        **body,
        "Data": {k: v.replace("{clinician}", str(clinician_id)) for k, v in body["Data"].items()},
    }
    with caplog.at_level(logging.INFO):
        resp = await api.post(URL, json=body, headers=secret(settings))
    assert resp.status_code == 200
    assert resp.json() == {"status": "unrouted"}
    entry = await inbox_entry(sessionmaker, body)
    assert entry is not None
    assert entry.event_type == body["EventType"]
    assert entry.routed_workflow_id is None
    # Logs carry the event type and key prefix, never a Data value.
    assert event_key(body, DEV_WEBHOOK_SECRET)[:12] in caplog.text
    for value in body["Data"].values():
        assert value not in caplog.text


async def test_lenient_notification_is_routed(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {"eventType": "clinicianconfirmed", "data": {"ClinicianID": f" {clinician_id} "}}
    async with probe(temporal, workflow_id(workspace)) as handle:
        resp = await api.post(
            URL, json=body, headers={"Authorization": f"secret {settings.dosespot_webhook_secret}"}
        )
        assert resp.json() == {"status": "routed"}
        [event] = await events_of(handle)
    assert event.event_type == "ClinicianConfirmed"
    assert event.clinician_id == clinician_id


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"[]", b'{"Data": {"ClinicianId": 1}}', b'"ClinicianConfirmed"']
)
async def test_not_a_notification_is_422(
    api: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    content: bytes,
) -> None:
    async with sessionmaker() as session:
        before = await session.scalar(select(func.count()).select_from(DoseSpotInboxEntry))
    resp = await api.post(
        URL, content=content, headers={**secret(settings), "Content-Type": "application/json"}
    )
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid_input"
    assert resp.json()["errors"][0]["field"] == "body"
    async with sessionmaker() as session:
        after = await session.scalar(select(func.count()).select_from(DoseSpotInboxEntry))
    assert after == before


class _UnavailableTemporal:
    """A Temporal client whose every signal fails as when the frontend is down."""

    def get_workflow_handle(self, workflow_id: str) -> _UnavailableTemporal:
        return self

    async def signal(self, *args: Any, **kwargs: Any) -> None:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


async def test_temporal_unavailable_keeps_the_event_and_asks_for_redelivery(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {"EventType": "ClinicianPINReset", "Data": {"ClinicianId": clinician_id}}
    async with api_of(settings, _UnavailableTemporal()) as client:
        resp = await client.post(URL, json=body, headers=secret(settings))
    assert resp.status_code == 503
    entry = await inbox_entry(sessionmaker, body)
    assert entry is not None
    assert (entry.routed_at, entry.attempts) == (None, 1)


def past_the_window(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.notification_dedupe_window_seconds + 1)


def test_the_window_defaults_to_ten_minutes() -> None:
    assert Settings.model_fields["notification_dedupe_window_seconds"].default == 600


async def test_a_redelivery_within_the_window_is_dropped(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": clinician_id}}
    # The same event from a sender that writes ids as strings and names in another case.
    respelled = {"eventtype": "clinicianConfirmed", "data": {"clinicianId": str(clinician_id)}}
    async with probe(temporal, workflow_id(workspace)) as handle:
        first = await api.post(URL, json=body, headers=secret(settings))
        assert first.json() == {"status": "routed"}
        await age(sessionmaker, body, past_the_window(settings) - timedelta(seconds=5))
        for copy in (body, respelled):
            resp = await api.post(URL, json=copy, headers=secret(settings))
            assert resp.json() == {"status": "duplicate"}
        assert len(await events_of(handle)) == 1
    [entry] = await occurrences(sessionmaker, body)
    assert (entry.occurrence, entry.attempts) == (1, 1)


async def test_the_same_event_after_the_window_is_routed_again(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    """Two-factor activated, deactivated and activated again: the second activation counts."""
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    activated = {"EventType": "ClinicianTfaActivateSuccess", "Data": {"ClinicianId": clinician_id}}
    deactivated = {
        "EventType": "ClinicianTfaDeactivateSuccess",
        "Data": {"ClinicianId": clinician_id},
    }
    async with probe(temporal, workflow_id(workspace)) as handle:
        for body in (activated, deactivated):
            resp = await api.post(URL, json=body, headers=secret(settings))
            assert resp.json() == {"status": "routed"}
        await age(sessionmaker, activated, past_the_window(settings))
        again = await api.post(URL, json=activated, headers=secret(settings))
        assert again.json() == {"status": "routed"}
        copy = await api.post(URL, json=activated, headers=secret(settings))
        assert copy.json() == {"status": "duplicate"}
        events = await events_of(handle, at_least=3)
    assert [e.event_type for e in events] == [
        "ClinicianTfaActivateSuccess",
        "ClinicianTfaDeactivateSuccess",
        "ClinicianTfaActivateSuccess",
    ]
    assert events[0].received_at != events[2].received_at
    rows = await occurrences(sessionmaker, activated)
    assert [(r.occurrence, r.attempts, r.routed_workflow_id) for r in rows] == [
        (1, 1, workflow_id(workspace)),
        (2, 1, workflow_id(workspace)),
    ]


async def test_concurrent_copies_after_the_window_route_once(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {"EventType": "ClinicianPINReset", "Data": {"ClinicianId": clinician_id}}
    async with probe(temporal, workflow_id(workspace)) as handle:
        first = await api.post(URL, json=body, headers=secret(settings))
        assert first.json() == {"status": "routed"}
        await age(sessionmaker, body, past_the_window(settings))
        responses = await asyncio.gather(
            *(api.post(URL, json=body, headers=secret(settings)) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
        assert sorted(r.json()["status"] for r in responses) == ["duplicate"] * 4 + ["routed"]
        assert len(await events_of(handle, at_least=2)) == 2
    assert [r.occurrence for r in await occurrences(sessionmaker, body)] == [1, 2]


async def test_first_copies_racing_create_one_occurrence(
    api: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # No workflow owns it, so every copy tries to route it; still only one row is made.
    body = {"EventType": "ClinicianLockedOut", "Data": {"ClinicianId": new_clinician_id()}}
    responses = await asyncio.gather(
        *(api.post(URL, json=body, headers=secret(settings)) for _ in range(5))
    )
    assert [r.json() for r in responses] == [{"status": "unrouted"}] * 5
    [entry] = await occurrences(sessionmaker, body)
    assert (entry.occurrence, entry.attempts) == (1, 5)


async def test_different_ids_types_and_statuses_are_different_events(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    confirmed = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": clinician_id}}
    tfa = {"EventType": "ClinicianTfaActivateSuccess", "Data": {"ClinicianId": clinician_id}}
    async with probe(temporal, workflow_id(workspace)) as handle:
        for body in (confirmed, tfa):
            resp = await api.post(URL, json=body, headers=secret(settings))
            assert resp.json() == {"status": "routed"}
        assert len(await events_of(handle, at_least=2)) == 2

    other_clinician = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": clinician_id + 1}}
    prescription = new_clinician_id()

    def result(prescription_id: int, status: str, patient_id: int = 55501) -> dict[str, Any]:
        return {
            "EventType": "PrescriptionResult",
            "Data": {
                "PatientId": patient_id,
                "ClinicianId": clinician_id,
                "PrescriptionId": prescription_id,
                "PrescriptionStatus": status,
            },
        }

    others = [
        other_clinician,
        result(prescription, "Entered"),
        result(prescription, "eRxSent"),
        result(prescription + 1, "eRxSent"),
        result(prescription, "eRxSent", patient_id=55502),
    ]
    for body in others:
        resp = await api.post(URL, json=body, headers=secret(settings))
        assert resp.json() == {"status": "unrouted"}
    for body in [confirmed, tfa, *others]:
        [entry] = await occurrences(sessionmaker, body)
        assert (entry.occurrence, entry.attempts) == (1, 1)
    keys = {event_key(body, DEV_WEBHOOK_SECRET) for body in [confirmed, tfa, *others]}
    assert len(keys) == 7


async def test_the_window_is_the_setting(
    settings: Settings,
    temporal: Client,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": clinician_id}}
    an_hour = settings.model_copy(update={"notification_dedupe_window_seconds": 3600.0})
    async with (
        probe(temporal, workflow_id(workspace)) as handle,
        api_of(an_hour, temporal) as client,
    ):
        first = await client.post(URL, json=body, headers=secret(settings))
        assert first.json() == {"status": "routed"}
        # Past the default ten minutes, but inside this app's hour.
        await age(sessionmaker, body, timedelta(minutes=30))
        copy = await client.post(URL, json=body, headers=secret(settings))
        assert copy.json() == {"status": "duplicate"}
        await age(sessionmaker, body, timedelta(minutes=31))
        later = await client.post(URL, json=body, headers=secret(settings))
        assert later.json() == {"status": "routed"}
        assert len(await events_of(handle, at_least=2)) == 2


class _HeldSignal:
    """A Temporal client whose signals wait until the test lets them through."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()
        self.signals = 0

    def get_workflow_handle(self, workflow_id: str) -> _HeldSignal:
        return self

    async def signal(self, *args: Any, **kwargs: Any) -> None:
        self.signals += 1
        self.arrived.set()
        await self.go.wait()


async def test_no_lock_is_held_while_the_signal_is_awaited(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {"EventType": "ClinicianConfirmed", "Data": {"ClinicianId": clinician_id}}
    temporal = _HeldSignal()
    async with api_of(settings, temporal) as client:
        first = asyncio.ensure_future(client.post(URL, json=body, headers=secret(settings)))
        await asyncio.wait_for(temporal.arrived.wait(), 10)
        # While the signal is in flight, the occurrence's own row (and so any row) takes a
        # write at once: the delivery holds no transaction open across the signal.
        latest = await inbox_entry(sessionmaker, body)
        assert latest is not None and latest.claimed_until is not None
        await asyncio.wait_for(update_latest(sessionmaker, body, event_type=latest.event_type), 4)
        # A copy arriving meanwhile waits for the outcome instead of signalling again.
        second = asyncio.ensure_future(client.post(URL, json=body, headers=secret(settings)))
        await asyncio.sleep(0.3)
        assert not second.done()
        temporal.go.set()
        answers = [(await first).json(), (await second).json()]
    assert answers == [{"status": "routed"}, {"status": "duplicate"}]
    assert temporal.signals == 1
    entry = await inbox_entry(sessionmaker, body)
    assert entry is not None
    assert (entry.attempts, entry.claimed_until) == (1, None)
    assert entry.routed_at is not None


async def test_a_claim_left_by_a_delivery_that_died_expires(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    clinician_id = new_clinician_id()
    body = {"EventType": "ClinicianTfaActivateSuccess", "Data": {"ClinicianId": clinician_id}}
    assert (await api.post(URL, json=body, headers=secret(settings))).json() == {
        "status": "unrouted"
    }
    await enroll(sessionmaker, workspace, clinician_id)
    latest = await inbox_entry(sessionmaker, body)
    assert latest is not None
    # As a delivery that claimed it and died would leave it, its claim just expired.
    await update_latest(sessionmaker, body, claimed_until=latest.received_at - timedelta(seconds=1))
    async with probe(temporal, workflow_id(workspace)) as handle:
        again = await api.post(URL, json=body, headers=secret(settings))
        assert again.json() == {"status": "routed"}
        assert len(await events_of(handle)) == 1


async def test_a_failed_owner_lookup_gives_the_claim_up(
    api: httpx.AsyncClient,
    settings: Settings,
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database fails while the claimed event's owner is looked up: the claim is given
    up at once, so DoseSpot's redelivery routes the event instead of waiting out the lease."""
    clinician_id = new_clinician_id()
    await enroll(sessionmaker, workspace, clinician_id)
    body = {"EventType": "ClinicianTfaActivateSuccess", "Data": {"ClinicianId": clinician_id}}

    async def unavailable(*_: Any) -> str | None:
        raise ConnectionError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(notifications, "_owner", unavailable)
        with pytest.raises(ConnectionError):
            await api.post(URL, json=body, headers=secret(settings))
    entry = await inbox_entry(sessionmaker, body)
    assert entry is not None
    assert (entry.routed_at, entry.claimed_until, entry.attempts) == (None, None, 1)

    async with probe(temporal, workflow_id(workspace)) as handle:
        again = await api.post(URL, json=body, headers=secret(settings))
        assert again.json() == {"status": "routed"}
        assert len(await events_of(handle)) == 1
