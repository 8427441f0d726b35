"""IdentityProofing (child of ClinicianEnrollment): Experian attempts, then ID.me.

Workflow id ``erx-idp:{workspace}:{member}:{run}``; ``run`` counts restarts after an
expired window. The clinician answers Experian's questions in DoseSpot's UI; each
attempt starts with ``idpInit`` and ends as DoseSpot reports it: the
``ClinicianIDPCompleteSuccess`` push (forwarded by the parent) or, when no push
comes, ``registrationStatus`` (IDPSuccess / IDPError). After the third failed
Experian attempt the clinician moves to ID.me, which has a window (24 h by
default) to succeed. Identity proofing is complete when DoseSpot reports success
and the ePrescribing authorization agreement is accepted.

Signals:
    attempt_requested()             the clinician asked to try again (new SSO link)
    dosespot_event(DoseSpotEvent)   a push notification, forwarded by the parent
Queries:
    progress() -> IdpProgress
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.models import (
        AgreementsResult,
        ClinicianRef,
        DoseSpotEvent,
        IdentityProofingInput,
        IdentityProofingResult,
        IdpPath,
        IdpProgress,
        RegistrationStatusResult,
    )
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
DOSESPOT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[
        "DoseSpotRefused",
        "DoseSpotValidationError",
        "DoseSpotAuthError",
        "DoseSpotNotFound",
        "ClinicNotRegistered",
        "UnknownRegistrationStatus",
    ],
)


def identity_proofing_workflow_id(workspace_id: str, member_id: str, run: int) -> str:
    return f"erx-idp:{workspace_id}:{member_id}:{run}"


@workflow.defn(name="IdentityProofing")
class IdentityProofingWorkflow:
    @workflow.init
    def __init__(self, input: IdentityProofingInput) -> None:
        self._input = input
        self._progress = IdpProgress(run=input.run)
        self._attempt_requested = False
        self._succeeded = False
        self._ref = ClinicianRef(
            workspace_id=input.workspace_id,
            member_id=input.member_id,
            clinician_id=input.clinician_id,
            clinic_id=input.clinic_id,
        )

    @workflow.run
    async def run(self, input: IdentityProofingInput) -> IdentityProofingResult:
        while not self._succeeded:
            if self._progress.path == IdpPath.experian:
                await self._experian_attempt()
            elif not await self._idme():
                self._progress.outcome = "expired"
                await self._report()
                return IdentityProofingResult(verified=False, progress=self._progress)
        self._progress.attempt_in_progress = False
        await self._wait_for_agreements()
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

    @workflow.query
    def progress(self) -> IdpProgress:
        return self._progress

    # The story's steps ---------------------------------------------------------

    async def _experian_attempt(self) -> None:
        # The first attempt starts with the child; later ones when the clinician asks.
        if self._progress.failed_attempts > 0:
            await workflow.wait_condition(lambda: self._attempt_requested or self._succeeded)
            if self._succeeded:
                return
        self._attempt_requested = False
        await self._start_attempt()
        if await self._attempt_outcome(deadline=None) == "pass":
            self._succeeded = True
            return
        self._progress.failed_attempts += 1
        self._progress.attempt_in_progress = False
        if self._progress.failed_attempts >= MAX_EXPERIAN_FAILURES:
            self._progress.path = IdpPath.idme
            self._progress.deadline = workflow.now() + timedelta(
                hours=self._input.timings.idme_window_hours
            )
        await self._report()

    async def _idme(self) -> bool:
        """ID.me within its window; False when the window closes without success."""
        deadline = self._progress.deadline
        assert deadline is not None
        await self._start_attempt()
        while True:
            outcome = await self._attempt_outcome(deadline=deadline)
            if outcome == "pass":
                self._succeeded = True
                return True
            if outcome == "expired":
                return False
            # A failed ID.me try: the clinician may try again until the window closes.
            self._progress.attempt_in_progress = False
            await self._report()
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining <= 0 or not await wait_until(
                lambda: self._attempt_requested or self._succeeded, remaining
            ):
                return self._succeeded
            if self._succeeded:
                return True
            self._attempt_requested = False
            await self._start_attempt()

    async def _start_attempt(self) -> None:
        await workflow.execute_activity(
            "start_identity_proofing",
            self._ref,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=DOSESPOT_RETRY,
        )
        self._progress.attempt_in_progress = True
        await self._report()

    async def _attempt_outcome(self, deadline: datetime | None) -> str:
        """'pass', 'fail' or (past the deadline) 'expired': push first, polling as fallback."""
        interval = self._input.timings.idp_poll_seconds
        while True:
            timeout = interval
            if deadline is not None:
                remaining = (deadline - workflow.now()).total_seconds()
                if remaining <= 0:
                    return "pass" if self._succeeded else "expired"
                timeout = min(interval, remaining)
            if await wait_until(lambda: self._succeeded, timeout):
                return "pass"
            status = await self._status()
            if status in PROOFED_STATUSES:
                return "pass"
            if status == "IDPError":
                return "fail"
            interval = min(interval * 1.5, self._input.timings.poll_max_seconds)

    async def _wait_for_agreements(self) -> None:
        interval = self._input.timings.idp_poll_seconds
        while True:
            result = await workflow.execute_activity(
                "clinician_agreements",
                self._ref,
                result_type=AgreementsResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DOSESPOT_RETRY,
            )
            if result.eprescribing_accepted:
                self._progress.agreements_accepted = True
                return
            await workflow.sleep(interval)
            interval = min(interval * 1.5, self._input.timings.poll_max_seconds)

    # Helpers -------------------------------------------------------------------

    async def _status(self) -> str:
        result = await workflow.execute_activity(
            "clinician_registration_status",
            self._ref,
            result_type=RegistrationStatusResult,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=DOSESPOT_RETRY,
        )
        return result.status

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
        )
        if parent is not None:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "idp_progress", self._progress
            )
