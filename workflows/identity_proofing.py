"""IdentityProofing (child of ClinicianEnrollment): Experian attempts, then ID.me.

Workflow id ``erx-idp:{workspace}:{member}:{run}``; ``run`` counts the children its
parent started (a restart after an expired window, or an admin's retry). The
clinician answers Experian's questions in DoseSpot's UI; each attempt starts with
``idpInit`` and ends as DoseSpot reports it: the ``ClinicianIDPCompleteSuccess`` push
(forwarded by the parent) or, when no push comes, ``registrationStatus`` (IDPSuccess /
IDPError). After the third failed Experian attempt the clinician moves to ID.me, which
has a window (24 h by default) to succeed. Identity proofing is complete when DoseSpot
reports success and the ePrescribing authorization agreement is accepted.

The child never fails because of DoseSpot's answer: a call that fails for good ends it
with ``progress.outcome == "blocked"`` and the reason, and a wait for an Experian
outcome, the clinician's next attempt or the agreements that passes
``idp_deadline_days`` ends it ``stalled``. The parent shows either and, on an admin's
retry, starts the next run with the progress carried (attempts are never forgotten).
Each step is bounded; the run continues-as-new when its history grows.

Signals:
    attempt_requested()             the clinician asked to try again (new SSO link)
    dosespot_event(DoseSpotEvent)   a push notification, forwarded by the parent
Queries:
    progress() -> IdpProgress
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.clinicians import ClinicianActivities
    from workflows import policies
    from workflows.models import (
        Blocked,
        ClinicianRef,
        DoseSpotEvent,
        IdentityProofingInput,
        IdentityProofingResult,
        IdpCarry,
        IdpPath,
        IdpProgress,
    )
    from workflows.versions import takes
    from workflows.waiting import wait_until

MAX_EXPERIAN_FAILURES = 3
IDP_SUCCESS_EVENT = "clinicianidpcompletesuccess"
# Statuses DoseSpot reports only after identity proofing succeeded.
PROOFED_STATUSES = {
    "IDPSuccess",
    "TFAActivateInit",
    "TFAActivatedSuccess",
    "TFAActivatedError",
    "TFADeactivateInit",
    "TFADeactivatedSuccess",
    "TFADeactivatedError",
}
# Runs started before the clinician's wait for a next attempt had a deadline.
NEXT_ATTEMPT_DEADLINE_PATCH = "idp-next-attempt-deadline"
CONFIRM_PUSH_PATCH = "idp-confirm-success-push"
# Earlier runs kept a request made while an attempt ran, and started the next attempt as
# soon as that one failed: a second click spent one of the clinician's Experian attempts.
DROP_REQUEST_DURING_ATTEMPT_PATCH = "idp-drop-request-during-attempt"
# Runs started at this generation take every change above without recording a patch:
# generation 1 the first two, generation 2 the third.
GENERATION = 2


def identity_proofing_workflow_id(workspace_id: str, member_id: str, run: int) -> str:
    return f"erx-idp:{workspace_id}:{member_id}:{run}"


class _Ended(Exception):
    """The run ends here with ``outcome`` (expired, blocked or stalled)."""

    def __init__(self, outcome: str, blocked: Blocked | None = None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.blocked = blocked


@workflow.defn(name="IdentityProofing")
class IdentityProofingWorkflow:
    @workflow.init
    def __init__(self, input: IdentityProofingInput) -> None:
        self._input = input
        self._progress = (
            input.progress.model_copy(update={"run": input.run})
            if input.progress
            else IdpProgress(run=input.run)
        )
        carry = input.carried or IdpCarry()
        self._attempt_requested = carry.attempt_requested
        self._succeeded = carry.succeeded
        self._success_pushed = carry.success_pushed
        self._wait_deadline = carry.wait_deadline
        self._poll_interval = carry.poll_interval
        self._ref = ClinicianRef(
            workspace_id=input.workspace_id,
            member_id=input.member_id,
            clinician_id=input.clinician_id,
            clinic_id=input.clinic_id,
        )

    @workflow.run
    async def run(self, input: IdentityProofingInput) -> IdentityProofingResult:
        try:
            while True:
                while not self._succeeded:
                    self._continue_as_new_if_due()
                    if self._progress.path == IdpPath.experian:
                        await self._experian_step()
                    else:
                        await self._idme_step()
                if await self._success_confirmed():
                    break
            if self._progress.attempt_in_progress:
                self._progress.attempt_in_progress = False
                self._new_wait()
            while not self._progress.agreements_accepted:
                self._continue_as_new_if_due()
                await self._agreements_step()
        except _Ended as ended:
            self._progress.outcome = ended.outcome
            if ended.outcome == "expired":
                self._progress.attempt_in_progress = False
            await self._report()
            return IdentityProofingResult(
                verified=False,
                progress=self._progress,
                blocked=ended.blocked,
                carried=IdpCarry(
                    succeeded=self._succeeded, attempt_requested=self._attempt_requested
                ),
            )
        self._progress.outcome = "verified"
        await self._report()
        return IdentityProofingResult(verified=True, progress=self._progress)

    @workflow.signal
    def attempt_requested(self) -> None:
        self._attempt_requested = True

    @workflow.signal
    def dosespot_event(self, event: DoseSpotEvent) -> None:
        if event.event_type.lower() == IDP_SUCCESS_EVENT:
            self._succeeded = True
            self._success_pushed = True

    @workflow.query
    def progress(self) -> IdpProgress:
        return self._progress

    # The story's steps ---------------------------------------------------------

    async def _experian_step(self) -> None:
        """Start an attempt (the first at once, later ones when asked), or poll one."""
        if not self._progress.attempt_in_progress:
            if self._progress.failed_attempts > 0 and not await self._next_attempt_requested():
                return
            await self._start_attempt()
            return
        outcome = await self._poll_attempt(deadline=self._stall_deadline())
        if outcome == "pass":
            self._succeeded = True
        elif outcome == "fail":
            self._progress.failed_attempts += 1
            self._progress.attempt_in_progress = False
            self._forget_requests_made_during_attempt()
            self._new_wait()
            if self._progress.failed_attempts >= MAX_EXPERIAN_FAILURES:
                self._progress.path = IdpPath.idme
                self._progress.deadline = workflow.now() + timedelta(
                    hours=self._input.timings.idme_window_hours
                )
            await self._report()

    async def _idme_step(self) -> None:
        """ID.me within its window: the first try at once, later ones when asked."""
        deadline = self._progress.deadline
        assert deadline is not None
        if not self._progress.attempt_in_progress:
            if self._progress.idme_attempts > 0:
                remaining = (deadline - workflow.now()).total_seconds()
                if remaining <= 0 or not await wait_until(
                    lambda: self._attempt_requested or self._succeeded, remaining
                ):
                    if not self._succeeded:
                        raise _Ended("expired")
                if self._succeeded:
                    return
            await self._start_attempt()
            self._progress.idme_attempts += 1
            return
        outcome = await self._poll_attempt(deadline=deadline)
        if outcome == "pass":
            self._succeeded = True
        elif outcome == "expired":
            raise _Ended("expired")
        elif outcome == "fail":
            # A failed ID.me try: the clinician may try again until the window closes.
            self._progress.attempt_in_progress = False
            self._forget_requests_made_during_attempt()
            self._new_wait()
            await self._report()

    async def _agreements_step(self) -> None:
        deadline = self._stall_deadline()
        remaining = (deadline - workflow.now()).total_seconds()
        if remaining <= 0:
            raise _Ended("stalled")
        result = await self._guarded("agreements", ClinicianActivities.agreements, self._ref)
        if result.eprescribing_accepted:
            self._progress.agreements_accepted = True
            return
        await workflow.sleep(min(self._next_interval(), remaining))

    async def _success_confirmed(self) -> bool:
        """A success push is confirmed with DoseSpot before it counts (a leaked webhook
        secret must not verify anyone); earlier runs took it at its word."""
        if not self._success_pushed or not takes(CONFIRM_PUSH_PATCH, self._input.generation):
            return True
        self._success_pushed = False
        status = (
            await self._guarded(
                "attempt_status", ClinicianActivities.registration_status, self._ref
            )
        ).status
        if status in PROOFED_STATUSES:
            return True
        self._succeeded = False
        return False

    async def _next_attempt_requested(self) -> bool:
        """Wait for the clinician to ask for the next attempt; stall at the deadline."""
        condition = lambda: self._attempt_requested or self._succeeded  # noqa: E731
        if not takes(NEXT_ATTEMPT_DEADLINE_PATCH, self._input.generation):
            await workflow.wait_condition(condition)
            return not self._succeeded
        remaining = (self._stall_deadline() - workflow.now()).total_seconds()
        if remaining <= 0 or not await wait_until(condition, remaining):
            raise _Ended("stalled")
        return not self._succeeded

    def _forget_requests_made_during_attempt(self) -> None:
        """A request made while an attempt ran was about that attempt (a second click, or an
        enrollment that had not heard of it yet); the next attempt waits for one made after
        the clinician learns this one failed."""
        if takes(DROP_REQUEST_DURING_ATTEMPT_PATCH, self._input.generation, since=2):
            self._attempt_requested = False

    async def _start_attempt(self) -> None:
        # A request stays pending until DoseSpot took the attempt: a blocked start keeps it.
        await self._guarded("start_attempt", ClinicianActivities.start_identity_proofing, self._ref)
        self._attempt_requested = False
        self._progress.attempt_in_progress = True
        self._new_wait()
        await self._report()

    async def _poll_attempt(self, deadline: datetime) -> str:
        """One wait for the success push, then one look: 'pass', 'fail', 'expired' or ''."""
        remaining = (deadline - workflow.now()).total_seconds()
        if remaining <= 0:
            if self._succeeded:
                return "pass"
            if self._progress.path == IdpPath.idme:
                return "expired"
            raise _Ended("stalled")
        if await wait_until(lambda: self._succeeded, min(self._next_interval(), remaining)):
            return "pass"
        status = (
            await self._guarded(
                "attempt_status", ClinicianActivities.registration_status, self._ref
            )
        ).status
        if status in PROOFED_STATUSES:
            self._success_pushed = False
            return "pass"
        if status == "IDPError":
            return "fail"
        return ""

    # Helpers -------------------------------------------------------------------

    async def _guarded(self, step: str, activity: Any, arg: Any) -> Any:
        """Run a DoseSpot activity; a failure for good ends this run as blocked."""
        try:
            return await policies.call(policies.DOSESPOT, activity, arg)
        except ActivityError as err:
            facts = policies.failure_facts(err)
            raise _Ended(
                "blocked",
                Blocked(
                    step=f"identity_proofing:{step}",
                    resume_state="verifying",
                    reason=facts.reason,
                    error_type=facts.error_type,
                    message=facts.message,
                    since=workflow.now(),
                ),
            ) from None

    def _new_wait(self) -> None:
        self._wait_deadline = None
        self._poll_interval = None

    def _stall_deadline(self) -> datetime:
        if self._wait_deadline is None:
            self._wait_deadline = workflow.now() + timedelta(
                days=self._input.timings.idp_deadline_days
            )
        return self._wait_deadline

    def _next_interval(self) -> float:
        interval = (
            self._input.timings.idp_poll_seconds
            if self._poll_interval is None
            else self._poll_interval
        )
        self._poll_interval = min(interval * 1.5, self._input.timings.poll_max_seconds)
        return interval

    def _continue_as_new_if_due(self) -> None:
        info = workflow.info()
        if not (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.timings.continue_as_new_after_events
        ):
            return
        # Signal handlers are synchronous here, so nothing is left running.
        workflow.continue_as_new(
            self._input.model_copy(
                update={
                    "generation": GENERATION,
                    "progress": self._progress,
                    "carried": IdpCarry(
                        succeeded=self._succeeded,
                        success_pushed=self._success_pushed,
                        attempt_requested=self._attempt_requested,
                        wait_deadline=self._wait_deadline,
                        poll_interval=self._poll_interval,
                    ),
                }
            )
        )

    async def _report(self) -> None:
        parent = workflow.info().parent
        workflow.set_current_details(
            f"identity proofing run {self._progress.run}: {self._progress.path.value}, "
            f"{self._progress.failed_attempts} failed attempt(s)"
            + (
                f", window closes {self._progress.deadline:%Y-%m-%d %H:%M} UTC"
                if self._progress.deadline
                else ""
            )
            + (f"; {self._progress.outcome}" if self._progress.outcome else "")
        )
        if parent is not None:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "idp_progress", self._progress
            )
