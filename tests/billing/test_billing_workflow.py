"""ClinicianBilling on the time-skipping server with the real activities and ledger.

Dates are relative to the module's clock, which only moves forward.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.billing import (
    BillingActivities,
    BillingProvider,
    BillingProviderError,
    LedgerBillingProvider,
)
from erx.settings import Settings
from erx.temporal import SA_STAGE
from tests.billing.conftest import (
    advance_to,
    advance_until,
    billing_status,
    billing_worker,
    current_details,
    ledger,
    new_ids,
    start_billing,
    subscription,
)
from workflows.billing_calendar import period_start, start_of_day
from workflows.billing_models import (
    BillingDeactivate,
    BillingReactivate,
    BillingRecord,
    BillingState,
    ChargeResult,
)
from workflows.clinician_billing import ClinicianBillingWorkflow

Handle = WorkflowHandle[ClinicianBillingWorkflow, None]


async def until_status(env: WorkflowEnvironment, handle: Handle, state: BillingState) -> None:
    async def reached() -> bool:
        return (await billing_status(handle)).status == state

    await advance_until(env, reached)


async def until_billed(env: WorkflowEnvironment, handle: Handle, periods: int) -> None:
    async def billed() -> bool:
        return (await billing_status(handle)).periods_billed >= periods

    await advance_until(env, billed)


async def today(env: WorkflowEnvironment) -> date:
    return (await env.get_current_time()).date()


class LostResponse:
    """A provider whose first answer never arrives, although the charge was made."""

    def __init__(self, inner: BillingProvider) -> None:
        self.inner = inner
        self.results: list[ChargeResult] = []

    async def charge(
        self,
        key: str,
        amount_cents: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        result = await self.inner.charge(key, amount_cents, currency, description, metadata)
        self.results.append(result)
        if len(self.results) == 1:
            raise BillingProviderError("connection reset before the provider answered")
        return result


class Outage:
    """A provider that fails while ``down`` is set."""

    def __init__(self, inner: BillingProvider) -> None:
        self.inner = inner
        self.down = True
        self.attempts = 0

    async def charge(
        self,
        key: str,
        amount_cents: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        self.attempts += 1
        if self.down:
            raise BillingProviderError("card processor unavailable")
        return await self.inner.charge(key, amount_cents, currency, description, metadata)


# Exactly once ----------------------------------------------------------------


async def test_lost_provider_answer_is_retried_without_a_second_charge(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    provider = LostResponse(LedgerBillingProvider(sessionmaker))
    async with billing_worker(time_env, sessionmaker, settings, provider) as queue:
        handle = await start_billing(time_env, queue, ws, member, await today(time_env))
        await until_billed(time_env, handle, 1)
        await handle.terminate()
    assert [r.created for r in provider.results] == [True, False]
    assert provider.results[0].charge_id == provider.results[1].charge_id
    assert len(await ledger(sessionmaker, ws, member)) == 1


async def test_worker_crash_between_charged_and_recorded_leaves_one_charge(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    real = BillingActivities(LedgerBillingProvider(sessionmaker), sessionmaker, settings)
    recording = asyncio.Event()

    @activity.defn(name="record_billing")
    async def record_billing_then_crash(record: BillingRecord) -> None:
        if recording.is_set():
            raise ApplicationError("this worker is going away", type="WorkerShutdown")
        recording.set()
        await asyncio.Event().wait()

    crashing: list[Callable[..., Any]] = [
        real.current_price,
        real.charge_period,
        record_billing_then_crash,
    ]
    # Uncached, so the crashed worker leaves no sticky queue behind for the next one.
    async with billing_worker(
        time_env, sessionmaker, settings, activities=crashing, max_cached_workflows=0
    ) as queue:
        handle = await start_billing(time_env, queue, ws, member, await today(time_env))
        await asyncio.wait_for(recording.wait(), timeout=10)
    # Charged, not yet recorded.
    assert len(await ledger(sessionmaker, ws, member)) == 1
    assert await subscription(sessionmaker, ws, member) is None

    # A fresh worker replays the history and carries on from "charged".
    async with billing_worker(time_env, sessionmaker, settings, queue=queue):

        async def recorded() -> bool:
            row = await subscription(sessionmaker, ws, member)
            return row is not None and row.periods_billed == 1

        await advance_until(time_env, recorded)
        assert (await billing_status(handle)).periods_billed == 1
        await handle.terminate()
    assert len(await ledger(sessionmaker, ws, member)) == 1


async def test_restarted_workflow_finds_the_existing_charge(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = await today(time_env)
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_billed(time_env, handle, 1)
        await handle.terminate()
        # Started again from scratch for the same clinician and verification date.
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_billed(time_env, handle, 1)
        await handle.terminate()
    assert len(await ledger(sessionmaker, ws, member)) == 1


# Deactivation and reactivation -----------------------------------------------


async def test_deactivation_mid_period_stops_the_next_charge(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = await today(time_env)
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_billed(time_env, handle, 1)
        await advance_to(time_env, start_of_day(anchor) + timedelta(days=10))

        await handle.signal(
            ClinicianBillingWorkflow.deactivate,
            BillingDeactivate(effective_at=await time_env.get_current_time()),
        )
        await until_status(time_env, handle, BillingState.deactivated)
        await advance_to(time_env, start_of_day(period_start(anchor, 3)))

        current = await billing_status(handle)
        assert current.periods_billed == 1
        assert current.next_charge_date is None
        assert await current_details(handle) == "deactivated; 1 period billed; $39.00/month"
        assert (await handle.describe()).typed_search_attributes.get(SA_STAGE) == "deactivated"
        await handle.terminate()
    assert [c.period_start for c in await ledger(sessionmaker, ws, member)] == [anchor]
    row = await subscription(sessionmaker, ws, member)
    assert row is not None
    assert (row.status, row.next_charge_date, row.periods_billed) == ("deactivated", None, 1)


async def test_deactivation_at_the_next_period_start_is_not_charged(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = await today(time_env)
    next_start = start_of_day(period_start(anchor, 1))
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_billed(time_env, handle, 1)
        await handle.signal(
            ClinicianBillingWorkflow.deactivate, BillingDeactivate(effective_at=next_start)
        )
        await advance_to(time_env, next_start - timedelta(hours=1))
        scheduled = await billing_status(handle)
        assert (scheduled.status, scheduled.next_charge_date) == (BillingState.active, None)

        await advance_to(time_env, next_start + timedelta(days=1))
        assert (await billing_status(handle)).status == BillingState.deactivated
        await handle.terminate()
    assert len(await ledger(sessionmaker, ws, member)) == 1


async def test_reactivation_in_a_charged_period_does_not_charge_again(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = await today(time_env)
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_billed(time_env, handle, 1)
        await advance_to(time_env, start_of_day(anchor) + timedelta(days=5))
        await handle.signal(
            ClinicianBillingWorkflow.deactivate,
            BillingDeactivate(effective_at=await time_env.get_current_time()),
        )
        await until_status(time_env, handle, BillingState.deactivated)
        await advance_to(time_env, start_of_day(anchor) + timedelta(days=10))

        await handle.signal(
            ClinicianBillingWorkflow.reactivate,
            BillingReactivate(at=await time_env.get_current_time()),
        )
        await until_status(time_env, handle, BillingState.active)
        current = await billing_status(handle)
        assert (current.periods_billed, current.next_charge_date) == (1, period_start(anchor, 1))
        assert len(await ledger(sessionmaker, ws, member)) == 1

        await advance_to(time_env, start_of_day(period_start(anchor, 1)) + timedelta(hours=1))
        await handle.terminate()
    assert [c.period_start for c in await ledger(sessionmaker, ws, member)] == [
        anchor,
        period_start(anchor, 1),
    ]


async def test_reactivation_in_an_uncharged_period_charges_it_once(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = await today(time_env)
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_billed(time_env, handle, 1)
        await handle.signal(
            ClinicianBillingWorkflow.deactivate,
            BillingDeactivate(effective_at=start_of_day(anchor) + timedelta(days=5)),
        )
        # Period 1 starts and ends while deactivated; reactivated ten days into period 2.
        back_at = start_of_day(period_start(anchor, 2)) + timedelta(days=10)
        await advance_to(time_env, back_at)
        assert (await billing_status(handle)).status == BillingState.deactivated

        await handle.signal(ClinicianBillingWorkflow.reactivate, BillingReactivate(at=back_at))
        await until_billed(time_env, handle, 2)
        # A second reactivation (a retried API call) changes nothing.
        await handle.signal(ClinicianBillingWorkflow.reactivate, BillingReactivate(at=back_at))
        await advance_to(time_env, back_at + timedelta(days=1))
        current = await billing_status(handle)
        assert current.status == BillingState.active
        assert current.next_charge_date == period_start(anchor, 3)
        await handle.terminate()
    assert [c.period_start for c in await ledger(sessionmaker, ws, member)] == [
        anchor,
        period_start(anchor, 2),
    ]


# Price -------------------------------------------------------------------------


async def test_price_change_applies_from_the_next_period(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = await today(time_env)
    pricing = settings.model_copy()
    async with billing_worker(time_env, sessionmaker, pricing) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_billed(time_env, handle, 1)
        await advance_to(time_env, start_of_day(anchor) + timedelta(days=3))
        pricing.price_per_clinician_cents = 4900
        assert (await billing_status(handle)).amount_cents == 3900

        await advance_to(time_env, start_of_day(period_start(anchor, 1)) + timedelta(hours=1))
        current = await billing_status(handle)
        assert (current.periods_billed, current.amount_cents) == (2, 4900)
        await handle.terminate()
    assert [c.amount_cents for c in await ledger(sessionmaker, ws, member)] == [3900, 4900]


# Provider failures -------------------------------------------------------------


async def test_failing_provider_leaves_the_subscription_past_due_until_it_recovers(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    anchor = await today(time_env)
    provider = Outage(LedgerBillingProvider(sessionmaker))
    async with billing_worker(time_env, sessionmaker, settings, provider) as queue:
        handle = await start_billing(time_env, queue, ws, member, anchor)
        await until_status(time_env, handle, BillingState.past_due)
        assert provider.attempts == 5

        current = await billing_status(handle)
        assert current.periods_billed == 0
        assert current.next_charge_date == anchor
        assert current.last_error == "BillingProviderError: card processor unavailable"
        assert await current_details(handle) == (
            f"past_due; charge for {anchor.isoformat()} failing, retried daily; "
            "0 periods billed; $39.00/month"
        )
        assert (await handle.describe()).typed_search_attributes.get(SA_STAGE) == "past_due"
        row = await subscription(sessionmaker, ws, member)
        assert row is not None
        assert (row.status, row.last_error) == ("past_due", current.last_error)

        # retry_now while the provider is still down: five more attempts, still past_due.
        await handle.signal(ClinicianBillingWorkflow.retry_now)
        await advance_until(time_env, _attempts_reached(provider, 10))
        await advance_to(time_env, await time_env.get_current_time() + timedelta(minutes=10))
        assert (await billing_status(handle)).status == BillingState.past_due

        # The provider is back: retry_now charges at once.
        provider.down = False
        await handle.signal(ClinicianBillingWorkflow.retry_now)
        await until_status(time_env, handle, BillingState.active)
        assert (await billing_status(handle)).periods_billed == 1

        # The next period fails too and recovers by itself at the daily retry.
        provider.down = True
        due = start_of_day(period_start(anchor, 1))
        await advance_to(time_env, due)
        await until_status(time_env, handle, BillingState.past_due)
        provider.down = False
        await advance_to(time_env, due + timedelta(hours=23))
        assert (await billing_status(handle)).status == BillingState.past_due
        await until_status(time_env, handle, BillingState.active)
        current = await billing_status(handle)
        assert (current.periods_billed, current.last_error) == (2, None)
        await handle.terminate()
    assert [c.period_start for c in await ledger(sessionmaker, ws, member)] == [
        anchor,
        period_start(anchor, 1),
    ]
    row = await subscription(sessionmaker, ws, member)
    assert row is not None
    assert (row.status, row.last_error, row.periods_billed) == ("active", None, 2)


async def test_deactivating_a_past_due_clinician_stops_the_retries(
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    ws, member = new_ids()
    provider = Outage(LedgerBillingProvider(sessionmaker))
    async with billing_worker(time_env, sessionmaker, settings, provider) as queue:
        handle = await start_billing(time_env, queue, ws, member, await today(time_env))
        await until_status(time_env, handle, BillingState.past_due)
        await handle.signal(
            ClinicianBillingWorkflow.deactivate,
            BillingDeactivate(effective_at=await time_env.get_current_time()),
        )
        await until_status(time_env, handle, BillingState.deactivated)
        attempts = provider.attempts
        await advance_to(time_env, await time_env.get_current_time() + timedelta(days=3))
        assert provider.attempts == attempts
        await handle.terminate()
    assert await ledger(sessionmaker, ws, member) == []
    row = await subscription(sessionmaker, ws, member)
    assert row is not None and row.status == "deactivated"


def _attempts_reached(provider: Outage, attempts: int) -> Callable[[], Awaitable[bool]]:
    async def reached() -> bool:
        return provider.attempts >= attempts

    return reached
