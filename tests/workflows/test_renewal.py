"""RenewalRequest on the time-skipping server, DoseSpot scripted: an answer sent as the
prescriber, a refusal that blocks until retried, a request answered in DoseSpot's UI, and
a request nobody answers that ends at DoseSpot's expiration date (through continue-as-new)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from erx.settings import Settings
from tests.conftest import time_skipping_env
from worker import WORKFLOWS
from workflows.renewal import RenewalRequestWorkflow, renewal_workflow_id
from workflows.renewal_models import (
    CheckRenewalInput,
    DecideRenewalInput,
    DecisionOutcome,
    RenewalApproval,
    RenewalDenial,
    RenewalFacts,
    RenewalRequestInput,
    RenewalSnapshot,
    RenewalTimings,
)


@dataclass
class ScriptedQueue:
    """DoseSpot's renewal queue: whether the request is listed, and the answers sent."""

    listed: bool = True
    checks: int = 0
    decisions: list[DecideRenewalInput] = field(default_factory=list)
    snapshots: list[RenewalSnapshot] = field(default_factory=list)
    refusals: list[BaseException] = field(default_factory=list)
    closed_first: bool = False

    def activities(self) -> list[Any]:
        @activity.defn(name="renewal_still_pending")
        async def renewal_still_pending(input: CheckRenewalInput) -> bool:
            self.checks += 1
            return self.listed

        @activity.defn(name="decide_renewal")
        async def decide_renewal(input: DecideRenewalInput) -> DecisionOutcome:
            if self.refusals:
                raise self.refusals.pop(0)
            self.decisions.append(input)
            if self.closed_first:
                return DecisionOutcome(outcome="no_longer_pending")
            self.listed = False
            return DecisionOutcome(outcome="sent")

        @activity.defn(name="record_renewal")
        async def record_renewal(snapshot: RenewalSnapshot) -> None:
            self.snapshots.append(snapshot)

        return [renewal_still_pending, decide_renewal, record_renewal]


@pytest.fixture
async def time_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env(settings) as env:
        yield env


@asynccontextmanager
async def renewal(
    env: WorkflowEnvironment,
    queue: ScriptedQueue,
    *,
    lifetime: timedelta = timedelta(days=30),
    timings: RenewalTimings | None = None,
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    task_queue = f"renewal-{uuid.uuid4()}"
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    now = await env.get_current_time()
    facts = RenewalFacts(
        refill_id=5001,
        dosespot_clinic_id=77,
        dosespot_clinician_id=88,
        dosespot_patient_id=99,
        member_id="m_ada",
        client_id="c_1",
        medication="sertraline 50 mg tablet",
        requested_at=now,
        expires_at=now + lifetime,
    )
    async with Worker(
        env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=queue.activities()
    ):
        handle = await env.client.start_workflow(
            RenewalRequestWorkflow.run,
            RenewalRequestInput(workspace_id=ws, facts=facts, timings=timings or RenewalTimings()),
            id=renewal_workflow_id(ws, facts.refill_id),
            task_queue=task_queue,
        )
        yield handle


async def answer(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], update: Any, arg: Any = None
) -> Any:
    args = [] if arg is None else [arg]
    pending = await handle.start_update(update, *args, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    await env.sleep(timedelta(seconds=5))
    return await pending.result()


async def test_an_approval_is_sent_as_the_prescriber_and_ends_the_request(
    time_env: WorkflowEnvironment,
) -> None:
    queue = ScriptedQueue()
    async with renewal(time_env, queue) as handle:
        approval = RenewalApproval(
            refills=3, comment="ok", effective_date=date(2030, 1, 1), actor_member_id="m_ada"
        )
        status = await answer(time_env, handle, RenewalRequestWorkflow.approve, approval)
        assert status.state == "approved"
        assert status.allowed_actions == []
        (sent,) = queue.decisions
        assert (sent.refill_id, sent.dosespot_clinic_id, sent.dosespot_clinician_id) == (
            5001,
            77,
            88,
        )
        assert sent.decision.kind == "approve" and sent.decision.approval == approval
        assert queue.snapshots[-1].state == "approved"
        assert queue.snapshots[-1].ended_at is not None
        result = await handle.result()
        assert result.state == "approved"
        with pytest.raises(RPCError):
            await handle.execute_update(
                RenewalRequestWorkflow.deny, RenewalDenial(denial_reason="DeniedTooSoon")
            )


async def test_a_refusal_blocks_until_retried_and_a_second_answer_is_refused(
    time_env: WorkflowEnvironment,
) -> None:
    queue = ScriptedQueue(
        refusals=[
            ApplicationError(
                "The refill request could not be processed.",
                type="DoseSpotRefused",
                non_retryable=True,
            )
        ]
    )
    async with renewal(time_env, queue) as handle:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(RenewalRequestWorkflow.retry)
        assert "retry is not allowed while the renewal request is pending" in str(
            refused.value.cause
        )
        denial = RenewalDenial(denial_reason="DeniedNeedAppointment", note="Book a visit")
        status = await answer(time_env, handle, RenewalRequestWorkflow.deny, denial)
        assert status.state == "blocked"
        assert status.blocked.reason == "dosespot_refused"
        assert status.blocked.message == "The refill request could not be processed."
        assert status.allowed_actions == ["approve", "deny", "retry"]
        assert queue.snapshots[-1].blocked_reason == "dosespot_refused"
        status = await answer(time_env, handle, RenewalRequestWorkflow.retry)
        assert status.state == "denied"
        assert [d.decision.denial for d in queue.decisions] == [denial]
        # Ended: the workflow takes no other answer.
        with pytest.raises(RPCError):
            await handle.execute_update(RenewalRequestWorkflow.approve, RenewalApproval(refills=1))


async def test_a_request_answered_in_dosespot_is_picked_up(
    time_env: WorkflowEnvironment,
) -> None:
    queue = ScriptedQueue()
    async with renewal(time_env, queue) as handle:
        await time_env.sleep(timedelta(seconds=5))
        assert (await handle.query(RenewalRequestWorkflow.status)).state == "pending"
        # Answered in DoseSpot's UI: it leaves the queue; a nudge makes the workflow look.
        queue.listed = False
        await handle.signal(RenewalRequestWorkflow.refresh)
        await time_env.sleep(timedelta(seconds=5))
        result = await handle.result()
        assert result.state == "decided_in_dosespot"
        assert result.decision is None
        assert queue.decisions == []
        assert queue.snapshots[-1].state == "decided_in_dosespot"


async def test_without_a_nudge_the_periodic_check_picks_it_up(
    time_env: WorkflowEnvironment,
) -> None:
    queue = ScriptedQueue(listed=False)
    async with renewal(time_env, queue, timings=RenewalTimings(check_interval_seconds=600)) as h:
        await time_env.sleep(timedelta(minutes=11))
        assert (await h.result()).state == "decided_in_dosespot"
        assert queue.checks == 1


async def test_an_answer_dosespot_closed_first_ends_as_answered_in_dosespot(
    time_env: WorkflowEnvironment,
) -> None:
    queue = ScriptedQueue(closed_first=True)
    async with renewal(time_env, queue) as handle:
        status = await answer(
            time_env, handle, RenewalRequestWorkflow.approve, RenewalApproval(refills=1)
        )
        assert status.state == "decided_in_dosespot"


async def test_an_unanswered_request_expires_at_dosespots_date(
    time_env: WorkflowEnvironment,
) -> None:
    queue = ScriptedQueue()
    timings = RenewalTimings(check_interval_seconds=3600, continue_as_new_after_events=60)
    async with renewal(time_env, queue, lifetime=timedelta(days=14), timings=timings) as handle:
        started = await time_env.get_current_time()
        result = await handle.result()
        assert result.facts.expires_at is not None
        assert result.state == "expired"
        ended: datetime = result.ended_at
        assert ended >= result.facts.expires_at
        assert started + timedelta(days=14) - timedelta(minutes=1) <= ended
        assert ended < started + timedelta(days=14, hours=1)
        # Checked hourly for two weeks, in runs that stayed small.
        assert queue.checks >= 14 * 24 - 1
        assert queue.snapshots[-1].state == "expired"
        assert queue.decisions == []
        first = time_env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
        first_run = await first.fetch_history()
        assert len(first_run.events) <= 60 + 10
        assert first_run.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
