"""The ledger provider and the billing activities, outside any workflow."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.billing import BillingActivities, BillingProviderError, LedgerBillingProvider
from erx.settings import Settings
from tests.billing.conftest import ledger, new_ids, subscription
from workflows.billing_models import BillingRecord, BillingState, ChargeRequest, ChargeResult
from workflows.clinician_billing import billing_idempotency_key

START = date(2027, 3, 31)


def request(workspace_id: str, member_id: str, amount_cents: int = 3900) -> ChargeRequest:
    return ChargeRequest(
        workspace_id=workspace_id,
        member_id=member_id,
        period=2,
        period_start=START,
        amount_cents=amount_cents,
        currency="USD",
        idempotency_key=billing_idempotency_key(workspace_id, member_id, START),
    )


async def test_same_key_charges_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    ws, member = new_ids()
    billing = BillingActivities(LedgerBillingProvider(sessionmaker), sessionmaker, settings)
    env = ActivityEnvironment()
    first = await env.run(billing.charge_period, request(ws, member))
    again = await env.run(billing.charge_period, request(ws, member))
    assert first.created and not again.created
    assert again.charge_id == first.charge_id
    [charge] = await ledger(sessionmaker, ws, member)
    assert (charge.id, charge.period_start, charge.amount_cents, charge.currency) == (
        first.charge_id,
        START,
        3900,
        "USD",
    )
    assert charge.idempotency_key == f"erx-billing:{ws}:{member}:2027-03-31"


async def test_concurrent_charges_with_one_key_make_one_row(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ws, member = new_ids()
    provider = LedgerBillingProvider(sessionmaker)
    key = billing_idempotency_key(ws, member, START)
    metadata = {"workspace_id": ws, "member_id": member, "period_start": START.isoformat()}
    results: list[ChargeResult] = await asyncio.gather(
        *(provider.charge(key, 3900, "USD", "eRx prescriber", metadata) for _ in range(5))
    )
    assert sum(r.created for r in results) == 1
    assert len({r.charge_id for r in results}) == 1
    assert len(await ledger(sessionmaker, ws, member)) == 1


async def test_provider_errors_become_retryable_application_errors(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    class Down:
        async def charge(self, *args: object) -> ChargeResult:
            raise BillingProviderError("card processor unavailable")

    class Declined:
        async def charge(self, *args: object) -> ChargeResult:
            raise BillingProviderError("card declined", retryable=False)

    ws, member = new_ids()
    for provider, non_retryable in ((Down(), False), (Declined(), True)):
        billing = BillingActivities(provider, sessionmaker, settings)
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(billing.charge_period, request(ws, member))
        assert raised.value.type == "BillingProviderError"
        assert raised.value.non_retryable is non_retryable
    assert await ledger(sessionmaker, ws, member) == []


async def test_price_comes_from_settings(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    billing = BillingActivities(LedgerBillingProvider(sessionmaker), sessionmaker, settings)
    price = await ActivityEnvironment().run(billing.current_price)
    assert (price.amount_cents, price.currency) == (3900, "USD")


async def test_record_billing_upserts_the_read_model(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    ws, member = new_ids()
    billing = BillingActivities(LedgerBillingProvider(sessionmaker), sessionmaker, settings)
    record = BillingRecord(
        workspace_id=ws,
        member_id=member,
        status=BillingState.active,
        anchor=date(2027, 1, 31),
        next_charge_date=date(2027, 2, 28),
        periods_billed=1,
        amount_cents=3900,
        currency="USD",
    )
    env = ActivityEnvironment()
    await env.run(billing.record_billing, record)
    await env.run(
        billing.record_billing,
        record.model_copy(
            update={"status": BillingState.past_due, "last_error": "BillingProviderError: down"}
        ),
    )
    row = await subscription(sessionmaker, ws, member)
    assert row is not None
    assert (row.status, row.next_charge_date, row.last_error) == (
        "past_due",
        date(2027, 2, 28),
        "BillingProviderError: down",
    )
