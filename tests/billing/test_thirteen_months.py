"""A clinician verified on Jan 31 is billed 13 times in 12 months, on the right days.

This module's clock starts today (before 2027-01-31) and only moves forward.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from erx.settings import Settings
from erx.temporal import SA_MEMBER, SA_STAGE, SA_WORKSPACE, data_converter
from tests.billing.conftest import (
    advance_to,
    billing_status,
    billing_worker,
    current_details,
    ledger,
    new_ids,
    run_histories,
    start_billing,
    subscription,
)
from workflows.billing_calendar import period_start
from workflows.billing_models import BillingState
from workflows.clinician_billing import ClinicianBillingWorkflow, billing_idempotency_key

EXPECTED = [
    date(2027, 1, 31),
    date(2027, 2, 28),
    date(2027, 3, 31),
    date(2027, 4, 30),
    date(2027, 5, 31),
    date(2027, 6, 30),
    date(2027, 7, 31),
    date(2027, 8, 31),
    date(2027, 9, 30),
    date(2027, 10, 31),
    date(2027, 11, 30),
    date(2027, 12, 31),
    date(2028, 1, 31),
]


def charge_days(histories: list[WorkflowHistory]) -> list[date]:
    """The (virtual) day each charge_period activity was scheduled, run by run."""
    days = []
    for history in histories:
        for event in history.events:
            if (
                event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and event.activity_task_scheduled_event_attributes.activity_type.name
                == "charge_period"
            ):
                days.append(event.event_time.ToDatetime().date())
    return days


async def test_thirteen_months_from_the_31st(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    assert await time_env.get_current_time() < datetime(2027, 1, 31, tzinfo=UTC)
    ws, member = new_ids()
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handle = await start_billing(time_env, queue, ws, member, date(2027, 1, 31))
        first_run_id = handle.first_execution_run_id
        assert first_run_id
        # Verified on Jan 31 2027: that charge plus one on each of the next 12 period starts.
        await advance_to(time_env, datetime(2028, 2, 28, 12, tzinfo=UTC))

        charges = await ledger(sessionmaker, ws, member)
        assert [c.period_start for c in charges] == EXPECTED
        assert {(c.amount_cents, c.currency) for c in charges} == {(3900, "USD")}
        assert [c.idempotency_key for c in charges] == [
            billing_idempotency_key(ws, member, day) for day in EXPECTED
        ]

        status = await billing_status(handle)
        assert status.status == BillingState.active
        assert status.periods_billed == 13
        assert status.next_charge_date == date(2028, 2, 29)
        assert (status.amount_cents, status.currency) == (3900, "USD")
        assert await current_details(handle) == (
            "active; next charge 2028-02-29; 13 periods billed; $39.00/month"
        )
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(SA_WORKSPACE) == ws
        assert desc.typed_search_attributes.get(SA_MEMBER) == member
        assert desc.typed_search_attributes.get(SA_STAGE) == "active"

        row = await subscription(sessionmaker, ws, member)
        assert row is not None
        assert (row.status, row.periods_billed, row.next_charge_date) == (
            "active",
            13,
            date(2028, 2, 29),
        )

        # Each charge was made on its period's first day, one run per period.
        histories = await run_histories(time_env, handle.id, first_run_id)
        assert charge_days(histories) == EXPECTED
        assert len(histories) == 14
        await handle.terminate()

    replayer = Replayer(
        workflows=[ClinicianBillingWorkflow], data_converter=data_converter(settings)
    )
    for history in histories:
        await replayer.replay_workflow(history)


async def test_history_per_run_stays_small_over_years(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = (await time_env.get_current_time()).date()
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        assert handle.first_execution_run_id
        await advance_to(
            time_env,
            datetime.combine(period_start(anchor, 36), datetime.min.time(), UTC)
            + timedelta(hours=1),
        )
        assert len(await ledger(sessionmaker, ws, member)) == 37
        histories = await run_histories(time_env, handle.id, handle.first_execution_run_id)
        await handle.terminate()
    assert len(histories) == 38
    sizes = [len(h.events) for h in histories]
    # Start, one timer, price, charge, read model, continue-as-new: a few dozen events.
    assert max(sizes) < 60, sizes
    for history in histories[:-1]:
        # The charge is the one activity; the price and the read model are local activities
        # (a marker each), and a run at the current generation records no patch.
        assert _event_names(history) == (["charge_period"], ["core_local_activity"] * 2)


def _event_names(history: WorkflowHistory) -> tuple[list[str], list[str]]:
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    return scheduled, markers
