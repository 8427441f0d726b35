"""The RenewalWatch on the dev server with a stand-in round: it reads the queues every
``poll_minutes`` and at once when told to, a failed round does not stop it, and it continues
as new with its workspace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from worker import WORKFLOWS
from workflows.renewal_watch import (
    RenewalWatchInput,
    RenewalWatchWorkflow,
    renewal_watch_workflow_id,
)


def rounds_of(calls: list[str], fail_first: int = 0) -> Callable[[str], object]:
    @activity.defn(name="discover_renewals")
    async def discover_renewals(workspace_id: str) -> None:
        calls.append(workspace_id)
        if len(calls) <= fail_first:
            raise RuntimeError("DoseSpot is down")

    return discover_renewals


async def start(
    client: Client, queue: str, **changes: float
) -> WorkflowHandle[RenewalWatchWorkflow, None]:
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    return await client.start_workflow(
        RenewalWatchWorkflow.run,
        RenewalWatchInput(workspace_id=ws, **changes),  # type: ignore[arg-type]
        id=renewal_watch_workflow_id(ws),
        task_queue=queue,
    )


async def until(check: Callable[[], bool], seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("never came true")


async def test_it_reads_the_queues_on_its_interval_and_when_told(temporal: Client) -> None:
    calls: list[str] = []
    queue = f"watch-{uuid.uuid4()}"
    async with Worker(
        temporal, task_queue=queue, workflows=WORKFLOWS, activities=[rounds_of(calls)]
    ):
        told = await start(temporal, queue, poll_minutes=60)
        await until(lambda: len(calls) == 1)
        await told.signal(RenewalWatchWorkflow.look_now)
        await until(lambda: len(calls) == 2)
        await told.terminate("done")

        ticking = await start(temporal, queue, poll_minutes=1 / 60)
        await until(lambda: calls.count(ticking.id.split(":")[1]) >= 3)
        await ticking.terminate("done")


async def test_a_failed_round_does_not_stop_it_and_it_continues_as_new(temporal: Client) -> None:
    calls: list[str] = []
    queue = f"watch-{uuid.uuid4()}"
    async with Worker(
        temporal,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[rounds_of(calls, fail_first=3)],
    ):
        handle = await start(temporal, queue, poll_minutes=1 / 120, continue_as_new_after_events=30)
        first_run = (await handle.describe()).run_id
        await until(lambda: len(calls) >= 8, seconds=60)
        described = await temporal.get_workflow_handle(handle.id).describe()
        assert described.run_id != first_run, "it continued as new"
        assert described.status is not None and described.status.name == "RUNNING"
        await temporal.get_workflow_handle(handle.id).terminate("done")
    assert set(calls) == {handle.id.split(":")[1]}
