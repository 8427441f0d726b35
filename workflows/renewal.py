"""RenewalRequest: one pharmacy renewal (refill) request waiting for its prescriber.

Workflow id ``erx-renewal:{workspace}:{refill}`` (DoseSpot's RefillId); ids only in the id,
the search attributes and the logs. Started when the request is first seen in DoseSpot's
queue (a list of the renewals, a notification-counts push); lives until it is answered or
until DoseSpot's ``RequestExpirationDate``, whichever comes first.

The story: the request waits for the prescriber. An approval (refills, comment, effective
date) or a denial (one of DoseSpot's reasons, a short note) is sent to DoseSpot as the
prescriber; DoseSpot's answer ends the request ``approved`` or ``denied``. A request
answered in DoseSpot's own UI leaves DoseSpot's queue: the workflow asks DoseSpot whether
the request is still pending every ``check_interval_seconds`` and whenever it is told to
look (``refresh``), and ends ``decided_in_dosespot`` once it is gone. At the expiration
date it ends ``expired``. A DoseSpot refusal never fails the workflow: the request shows
``blocked`` with DoseSpot's words until it is retried, answered again, or expires.

Updates:
    approve(RenewalApproval) -> RenewalStatus
    deny(RenewalDenial) -> RenewalStatus
    retry() -> RenewalStatus          resend a blocked answer
Signals:
    refresh()                          ask DoseSpot now whether the request is still pending
Queries:
    status() -> RenewalStatus
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.renewals import RenewalActivities
    from erx.temporal import SA_BLOCKED_REASON, SA_MEMBER, SA_STAGE, SA_WORKSPACE
    from workflows import policies
    from workflows.failures import ActionRefused
    from workflows.models import Blocked
    from workflows.renewal_lifecycle import (
        RENEWAL_FINAL_STATES,
        RENEWAL_STATE_NAMES,
        RenewalLifecycle,
        renewal_allowed_actions,
    )
    from workflows.renewal_models import (
        CheckRenewalInput,
        DecideRenewalInput,
        DecisionOutcome,
        RenewalApproval,
        RenewalCarry,
        RenewalDecision,
        RenewalDenial,
        RenewalRequestInput,
        RenewalSnapshot,
        RenewalStatus,
    )
    from workflows.waiting import wait_until


# Whether DoseSpot still lists the request is a hint, not a step: a check that cannot be
# made soon is given up and made again at the next interval.
CHECK = policies.CallPolicy(
    start_to_close=timedelta(seconds=60),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(seconds=60),
        non_retryable_error_types=policies.DOSESPOT_NON_RETRYABLE,
    ),
    schedule_to_close=timedelta(minutes=5),
)


def renewal_workflow_id(workspace_id: str, refill_id: int) -> str:
    return f"erx-renewal:{workspace_id}:{int(refill_id)}"


class RenewalActionNotAllowed(ActionRefused):
    """An update that does not fit the request's state (HTTP 409)."""

    subject = "renewal request"
    allowed = staticmethod(renewal_allowed_actions)


@workflow.defn(name="RenewalRequest")
class RenewalRequestWorkflow:
    @workflow.init
    def __init__(self, input: RenewalRequestInput) -> None:
        self._input = input
        carry = input.carried or RenewalCarry(state="pending")
        self._machine = RenewalLifecycle(start_value=carry.state)
        self._decision = carry.decision
        self._blocked = carry.blocked
        self._ended_at = carry.ended_at
        facts = input.facts
        lifetime = timedelta(days=input.timings.default_lifetime_days)
        self._expires_at: datetime = facts.expires_at or (
            (facts.requested_at or workflow.info().start_time) + lifetime
        )
        self._check_requested = False
        self._continuing = False
        self._published: tuple[str, str | None] | None = None
        # What the read model holds: updates answer only once it shows their outcome.
        self._recorded: tuple[str, str | None] | None = None

    @workflow.run
    async def run(self, input: RenewalRequestInput) -> RenewalStatus:
        while True:
            await self._publish()
            state = self._state
            if state in RENEWAL_FINAL_STATES:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.status()
            if self._continue_as_new_due():
                await self._continue_as_new()
            if state in ("approving", "denying"):
                await self._send_decision()
            else:
                await self._wait_for_prescriber()

    # The story's steps ---------------------------------------------------------

    async def _wait_for_prescriber(self) -> None:
        """Wait (pending or blocked) for an answer, a nudge, the next check, or expiry."""
        state = self._state
        remaining = (self._expires_at - workflow.now()).total_seconds()
        if remaining <= 0:
            self._end("expire")
            return
        wake: Callable[[], bool] = lambda: (  # noqa: E731
            self._state != state or self._check_requested or self._continue_as_new_due()
        )
        interval = self._input.timings.check_interval_seconds
        woken = await wait_until(wake, min(interval, remaining))
        if self._state != state or (woken and not self._check_requested):
            return
        if workflow.now() >= self._expires_at:
            self._end("expire")
            return
        self._check_requested = False
        if not await self._still_pending() and self._state in ("pending", "blocked"):
            self._end("closed_in_dosespot")

    async def _send_decision(self) -> None:
        assert self._decision is not None
        facts = self._input.facts
        step = self._decision.kind
        try:
            result: DecisionOutcome = await policies.call(
                policies.DOSESPOT,
                RenewalActivities.decide_renewal,
                DecideRenewalInput(
                    refill_id=facts.refill_id,
                    dosespot_clinic_id=facts.dosespot_clinic_id,
                    dosespot_clinician_id=facts.dosespot_clinician_id,
                    dosespot_patient_id=facts.dosespot_patient_id,
                    decision=self._decision,
                ),
            )
        except ActivityError as err:
            found = policies.failure_facts(err)
            self._blocked = Blocked(
                step=step,
                resume_state=self._state,
                reason=found.reason,
                error_type=found.error_type,
                message=found.message,
                since=workflow.now(),
            )
            self._machine.send("block")
            return
        self._end("sent" if result.outcome == "sent" else "closed_in_dosespot")

    async def _still_pending(self) -> bool:
        facts = self._input.facts
        try:
            pending: bool = await policies.call(
                CHECK,
                RenewalActivities.renewal_still_pending,
                CheckRenewalInput(
                    refill_id=facts.refill_id,
                    dosespot_clinic_id=facts.dosespot_clinic_id,
                    dosespot_clinician_id=facts.dosespot_clinician_id,
                    dosespot_patient_id=facts.dosespot_patient_id,
                ),
            )
        except ActivityError:
            workflow.logger.warning("renewal %s: DoseSpot's queue not read", facts.refill_id)
            return True
        return pending

    # Updates, signals, queries -------------------------------------------------

    @workflow.update
    async def approve(self, approval: RenewalApproval) -> RenewalStatus:
        self._decide(RenewalDecision(kind="approve", approval=approval, decided_at=workflow.now()))
        return await self._answer()

    @approve.validator
    def _check_approve(self, approval: RenewalApproval) -> None:
        self._require("approve")

    @workflow.update
    async def deny(self, denial: RenewalDenial) -> RenewalStatus:
        self._decide(RenewalDecision(kind="deny", denial=denial, decided_at=workflow.now()))
        return await self._answer()

    @deny.validator
    def _check_deny(self, denial: RenewalDenial) -> None:
        self._require("deny")

    @workflow.update
    async def retry(self) -> RenewalStatus:
        blocked = self._blocked
        assert blocked is not None
        self._blocked = None
        self._machine.send("retry", resume_to=blocked.resume_state)
        return await self._answer()

    @retry.validator
    def _check_retry(self) -> None:
        if self._state != "blocked" or self._blocked is None:
            raise RenewalActionNotAllowed("retry", self._state)

    @workflow.signal
    def refresh(self) -> None:
        """Something in DoseSpot's queue changed: look whether the request is still there."""
        self._check_requested = True

    @workflow.query
    def status(self) -> RenewalStatus:
        return RenewalStatus(
            workspace_id=self._input.workspace_id,
            refill_id=self._input.facts.refill_id,
            state=self._state,
            allowed_actions=renewal_allowed_actions(self._state),
            facts=self._input.facts,
            decision=self._decision,
            blocked=self._blocked,
            ended_at=self._ended_at,
            summary=self._summary(),
        )

    # Helpers -------------------------------------------------------------------

    def _require(self, event: str) -> None:
        if event not in {e.id for e in self._machine.allowed_events}:
            raise RenewalActionNotAllowed(event, self._state)

    def _decide(self, decision: RenewalDecision) -> None:
        self._decision = decision
        self._blocked = None
        self._machine.send(decision.kind)

    async def _answer(self) -> RenewalStatus:
        """The status once the answer is in DoseSpot (or refused) and in the read model."""
        await workflow.wait_condition(
            lambda: (
                (
                    self._state in RENEWAL_FINAL_STATES | {"blocked"}
                    and self._recorded == self._publishable
                )
                or self._continuing
            )
        )
        return self.status()

    def _end(self, event: str) -> None:
        self._machine.send(event)
        self._blocked = None
        self._ended_at = workflow.now()

    @property
    def _state(self) -> str:
        return str(self._machine.current_state_value)

    @property
    def _publishable(self) -> tuple[str, str | None]:
        return (self._state, self._blocked.reason if self._blocked else None)

    def _summary(self) -> str:
        text = RENEWAL_STATE_NAMES[self._state]
        if self._blocked:
            text += f"; {self._blocked.step}: {self._blocked.reason}"
            if self._blocked.error_type:
                text += f" ({self._blocked.error_type})"
        if self._state not in RENEWAL_FINAL_STATES:
            text += f"; expires {self._expires_at:%Y-%m-%d %H:%M} UTC"
        return text

    async def _publish(self) -> None:
        """Search attributes, details and the read model follow the state and the
        blocked reason."""
        published = self._publishable
        if published == self._published:
            return
        state, reason = published
        attributes: list[Any] = [
            SA_STAGE.value_set(state),
            SA_BLOCKED_REASON.value_set(reason) if reason else SA_BLOCKED_REASON.value_unset(),
        ]
        if self._published is None:
            attributes.append(SA_WORKSPACE.value_set(self._input.workspace_id))
            if self._input.facts.member_id:
                attributes.append(SA_MEMBER.value_set(self._input.facts.member_id))
        workflow.upsert_search_attributes(attributes)
        self._published = published
        workflow.set_current_details(self._summary())
        await policies.call_local(
            policies.RECORD,
            RenewalActivities.record_renewal,
            RenewalSnapshot(
                workspace_id=self._input.workspace_id,
                facts=self._input.facts.model_copy(update={"expires_at": self._expires_at}),
                state=state,
                decision=self._decision,
                blocked_reason=reason,
                message=self._blocked.message if self._blocked else None,
                ended_at=self._ended_at,
            ),
        )
        self._recorded = published

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.timings.continue_as_new_after_events
        )

    async def _continue_as_new(self) -> None:
        self._continuing = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self._input.model_copy(
                update={
                    "facts": self._input.facts.model_copy(update={"expires_at": self._expires_at}),
                    "carried": RenewalCarry(
                        state=self._state,
                        decision=self._decision,
                        blocked=self._blocked,
                        ended_at=self._ended_at,
                    ),
                }
            )
        )
