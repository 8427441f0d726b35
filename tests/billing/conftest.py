"""A time-skipping Temporal server per test module, and helpers to run ClinicianBilling on it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.billing import BillingProvider, LedgerBillingProvider, billing_activities
from db.billing import BillingCharge, BillingSubscription
from erx.settings import Settings
from workflows.billing_models import BillingStatus, ClinicianBillingInput
from workflows.clinician_billing import (
    GENERATION,
    ClinicianBillingWorkflow,
    clinician_billing_workflow_id,
)


@asynccontextmanager
async def billing_worker(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    provider: BillingProvider | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    queue: str | None = None,
    **options: Any,
) -> AsyncIterator[str]:
    """A worker on a fresh task queue (or ``queue``) with the real activities or the given."""
    queue = queue or f"billing-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[ClinicianBillingWorkflow],
        activities=activities
        or billing_activities(
            provider or LedgerBillingProvider(sessionmaker), sessionmaker, settings
        ),
        **options,
    ):
        yield queue


def new_ids() -> tuple[str, str]:
    return f"ws_{uuid.uuid4().hex[:10]}", f"m_{uuid.uuid4().hex[:8]}"


async def start_billing(
    env: WorkflowEnvironment, queue: str, workspace_id: str, member_id: str, anchor: date
) -> WorkflowHandle[ClinicianBillingWorkflow, None]:
    return await env.client.start_workflow(
        ClinicianBillingWorkflow.run,
        ClinicianBillingInput(
            workspace_id=workspace_id, member_id=member_id, anchor=anchor, generation=GENERATION
        ),
        id=clinician_billing_workflow_id(workspace_id, member_id),
        task_queue=queue,
    )


async def ledger(
    sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str, member_id: str
) -> list[BillingCharge]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(BillingCharge)
            .where(BillingCharge.workspace_id == workspace_id, BillingCharge.member_id == member_id)
            .order_by(BillingCharge.period_start)
        )
        return list(rows.all())


async def subscription(
    sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str, member_id: str
) -> BillingSubscription | None:
    async with sessionmaker() as session:
        return await session.get(BillingSubscription, (workspace_id, member_id))


async def advance_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Move the test server's clock to ``moment``, firing every timer on the way."""
    now = await env.get_current_time()
    if moment > now:
        await env.sleep(moment - now)


async def run_histories(
    env: WorkflowEnvironment, workflow_id: str, first_run_id: str
) -> list[WorkflowHistory]:
    """Every run's history from ``first_run_id`` on, following continue-as-new."""
    histories = []
    run_id: str | None = first_run_id
    while run_id:
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return histories


# A workflow task in flight: a query now could meet the one that continues the run as new.
BUSY = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
}


async def at_rest(handle: WorkflowHandle[Any, Any]) -> bool:
    """The latest run has no workflow task in flight and no activity running or about to.

    An activity waiting out a retry's backoff counts as at rest: on the test server it waits
    for the clock, which only moves when the test moves it.
    """
    desc = await handle.describe()
    for activity in desc.raw_description.pending_activities:
        started = activity.last_started_time.ToDatetime()
        if started > activity.last_attempt_complete_time.ToDatetime():
            return False  # an attempt is running
        if not activity.HasField("last_failure"):
            return False  # the first attempt waits for a worker
    history = await handle.fetch_history()
    return history.events[-1].event_type not in BUSY


async def billing_status(handle: WorkflowHandle[ClinicianBillingWorkflow, None]) -> BillingStatus:
    """The workflow's ``status`` query, asked once the latest run is at rest.

    The time-skipping test server loses a query that reaches a run while the run's last
    workflow task continues it as new (every charged period ends so): the old run's history
    stops at that task, the query is never answered, and the server's clock no longer moves.
    The real server answers such a query from the next run. Waiting (in real time, a few
    seconds at most) for the run to come to rest keeps the query clear of that task.
    """
    for _ in range(500):
        if await at_rest(handle):
            break
        await asyncio.sleep(0.01)
    return await handle.query(ClinicianBillingWorkflow.status)


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """What ``workflow.set_current_details`` last said, as the Temporal UI shows it."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def advance_until(
    env: WorkflowEnvironment,
    done: Callable[[], Awaitable[bool]],
    step: timedelta = timedelta(minutes=1),
    limit: timedelta = timedelta(days=2),
) -> None:
    """Step the clock until ``done`` holds (at most ``limit`` of virtual time)."""
    waited = timedelta()
    while not await done():
        assert waited < limit, "the workflow did not get there in time"
        await env.sleep(step)
        waited += step
