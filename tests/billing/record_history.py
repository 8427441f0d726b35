"""Record a ClinicianBilling history: ``.venv/bin/python -m tests.billing.record_history NAME``.

One run through every path: the wait for the period to start, a failing provider
(past_due), ``retry_now``, deactivation of the past-due clinician, reactivation in the
same period, the charge, continue-as-new. Writes
tests/replay/histories/clinician_billing-NAME.json, which the replay test replays; record a
new one whenever the workflow changes shape, keep the old ones.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHistory

from activities.billing import BillingProviderError, LedgerBillingProvider
from db.migrate import upgrade
from db.session import create_engine, create_sessionmaker
from erx.settings import Settings
from tests.billing.conftest import (
    advance_until,
    billing_status,
    billing_worker,
    run_histories,
    start_billing,
)
from tests.conftest import time_skipping_env
from workflows.billing_models import (
    BillingDeactivate,
    BillingReactivate,
    BillingState,
    ChargeResult,
)
from workflows.clinician_billing import ClinicianBillingWorkflow

HISTORIES = Path(__file__).parent.parent / "replay" / "histories"


class Outage:
    def __init__(self, inner: LedgerBillingProvider) -> None:
        self.inner = inner
        self.down = True

    async def charge(
        self,
        key: str,
        amount_cents: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        if self.down:
            raise BillingProviderError("card processor unavailable")
        return await self.inner.charge(key, amount_cents, currency, description, metadata)


async def record(settings: Settings) -> WorkflowHistory:
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    sessionmaker = create_sessionmaker(engine)
    async with time_skipping_env(settings) as env:
        provider = Outage(LedgerBillingProvider(sessionmaker))
        async with billing_worker(env, sessionmaker, settings, provider) as queue:
            tomorrow = (await env.get_current_time()).date() + timedelta(days=1)
            handle = await start_billing(env, queue, "ws_replay", "m_replay", tomorrow)

            async def state_is(state: BillingState) -> bool:
                return (await billing_status(handle)).status == state

            await advance_until(
                env, lambda: state_is(BillingState.past_due), limit=timedelta(days=3)
            )
            await handle.signal(ClinicianBillingWorkflow.retry_now)
            await env.sleep(timedelta(minutes=15))
            now = await env.get_current_time()
            await handle.signal(
                ClinicianBillingWorkflow.deactivate, BillingDeactivate(effective_at=now)
            )
            await advance_until(env, lambda: state_is(BillingState.deactivated))
            provider.down = False
            now = await env.get_current_time()
            await handle.signal(ClinicianBillingWorkflow.reactivate, BillingReactivate(at=now))

            async def charged() -> bool:
                return (await billing_status(handle)).periods_billed == 1

            await advance_until(env, charged)
            assert handle.first_execution_run_id
            [history, *_] = await run_histories(env, handle.id, handle.first_execution_run_id)
            await handle.terminate()
    await engine.dispose()
    return history


async def _main(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp}/erx.db")
        history = await record(settings)
    path = HISTORIES / f"clinician_billing-{name}.json"
    path.write_text(history.to_json())
    print(f"wrote {path} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1] if len(sys.argv) > 1 else "v1"))
