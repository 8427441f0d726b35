"""ClinicianEnrollment: one clinician, from invitation to EPCS-enabled prescriber.

Workflow id ``erx-clinician:{workspace}:{member}``; lives until the clinician is
deactivated, which can be years. The ClinicianLifecycle state machine decides what
may happen next; the run loop acts on whatever state the machine is in, one bounded
step at a time, so a worker restart resumes exactly where the clinician stands.

Durability rules this workflow keeps:
- DoseSpot's refusal or missing data never fails it. A call that fails for good (or
  whose retries pass their deadline) moves the clinician to ``blocked`` with the
  step, the reason code, the error's type and DoseSpot's message; ``retry`` resumes
  that step. A refused registration is ``registration_failed`` and may be retried
  or submitted again.
- Every wait on DoseSpot or the clinician that polls has a deadline (confirmation,
  two-factor, identity proofing); past it the clinician is ``stalled`` until an
  admin's ``retry`` re-opens the wait. Polling backs off to its cap. Waits for a
  person's next action (invited, confirmed, verified, tfa_active) poll nothing and
  write nothing to history, so they have no timer.
- The run continues-as-new when Temporal suggests it or after
  ``continue_as_new_after_events`` events, carrying its state (``ClinicianCarry``),
  once every update handler has finished.
- Side effects are idempotent: emails and billing are queued as pending effects and
  leave the queue only once done; EPCS audit rows carry an idempotency key.

Updates (validators consult the lifecycle, so an action that does not fit the
current state is refused before it reaches history):
    submit_enrollment(EnrollmentForm) -> EnrollmentResult
        Register in DoseSpot (looking up by NPI first) and wait for confirmation.
    start_verification(ActorRequest) -> ClinicianStatus
        Start identity proofing, or ask for the next attempt after a failed one.
    restart_verification(ActorRequest) -> ClinicianStatus
        An admin restarts verification after the ID.me window expired.
    start_two_factor(ActorRequest) -> ClinicianStatus
    approve_epcs(EpcsApproval) -> ClinicianStatus
        One approver's approval of controlled-substance prescribing; two needed.
    retry(ActorRequest) -> ClinicianStatus
        An admin re-drives a blocked or stalled clinician from the step that stopped.
    deactivate(ActorRequest) -> ClinicianStatus
    authorize_controlled_substance() -> None
        Kept for runs that used it; the permission check is the query below.
Signals:
    dosespot_event(DoseSpotEvent)   push notifications for this clinician
    idp_progress(IdpProgress)       from the IdentityProofing child
Queries:
    status() -> ClinicianStatus
    controlled_substance_permission() -> ControlledSubstancePermission
        A read that writes nothing to history.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from statemachine.exceptions import TransitionNotAllowed

    from activities.billing_control import BillingControlActivities
    from activities.clinicians import ClinicianActivities
    from activities.notifications import MemberEmail, NotificationActivities
    from erx.temporal import SA_BLOCKED_REASON, SA_MEMBER, SA_STAGE, SA_WORKSPACE
    from workflows import policies
    from workflows.failures import ActionRefused
    from workflows.identity_proofing import GENERATION as IDP_GENERATION
    from workflows.identity_proofing import (
        IDP_SUCCESS_EVENT,
        IdentityProofingWorkflow,
        identity_proofing_workflow_id,
    )
    from workflows.lifecycles import (
        CLINICIAN_STATE_NAMES,
        ClinicianLifecycle,
        allowed_actions,
        setup_stage_for,
    )
    from workflows.models import (
        ActorRequest,
        BillingControl,
        Blocked,
        ClinicianCarry,
        ClinicianEnrollmentInput,
        ClinicianProgress,
        ClinicianRef,
        ClinicianSnapshot,
        ClinicianStatus,
        ControlledSubstancePermission,
        DeactivateClinicianInput,
        DoseSpotEvent,
        EnrollmentForm,
        EnrollmentOutcome,
        EnrollmentResult,
        EpcsApproval,
        EpcsAuditInput,
        IdentityProofingInput,
        IdentityProofingResult,
        IdpProgress,
        RegisterClinicianInput,
    )
    from workflows.search_attributes import upsert_changed
    from workflows.versions import takes
    from workflows.waiting import wait_until

CONTROLLED_SUBSTANCE_REFUSAL = "You do not have permission to send controlled substances"
# States whose name already says the clinician needs someone's help.
BLOCKED_STATES = {"registration_failed", "verification_expired", "blocked", "stalled"}
# Pending effects, done in order before the state's own step; each leaves the queue once done.
EMAIL_INVITATION = "email:invitation"
EMAIL_VERIFIED = "email:verified"
EMAIL_EXPIRED = "email:verification_expired"
START_BILLING = "billing:start"
# Runs started earlier told the clinic only after the verified state was visible.
CLINIC_TOLD_BEFORE_VERIFIED_PATCH = "clinic-told-before-verified"
PUBLISH_EVERY_STATE_PATCH = "publish-every-state"
# Earlier runs took a confirmation or two-factor push at its word.
CONFIRM_PUSHES_PATCH = "confirm-pushes-with-dosespot"
# Earlier runs waited for a running call to finish before noticing a deactivation.
INTERRUPTIBLE_CALLS_PATCH = "interruptible-calls"
# Earlier runs published on every state change only (search attributes, the read model's
# row and a signal to the clinic each time); later runs publish whatever changed in the
# status, before an update answers, and tell the clinic only when its step may change.
PUBLISH_STATUS_PATCH = "publish-status-changes"
# Earlier runs could end while an update's handler was still finishing.
HANDLERS_FINISH_PATCH = "handlers-finish-before-end"
# Earlier runs sent the invitation email before registering a form that arrived first.
FORM_BEFORE_INVITATION_PATCH = "form-supersedes-invitation-email"
# Earlier runs showed a new identity-proofing run as idle until its child reported the
# first attempt, and passed a request made in that gap on as one for a second attempt.
FIRST_ATTEMPT_SHOWN_PATCH = "first-attempt-shown-under-way"
# Runs started at this generation take every change above without recording a patch:
# generation 1 all but the last, generation 2 the last too.
GENERATION = 2
# Deactivation's steps, each done once.
REVOKE_AUDIT = "revoke_audit"
STOP_BILLING = "stop_billing"
DOSESPOT_DEACTIVATE = "dosespot_deactivate"
DEACTIVATION_STEPS = {"audit_revoke", STOP_BILLING, "deactivation"}


def clinician_workflow_id(workspace_id: str, member_id: str) -> str:
    return f"erx-clinician:{workspace_id}:{member_id}"


class ActionNotAllowed(ActionRefused):
    """An update that does not fit the clinician's current state (HTTP 409)."""

    subject = "clinician"
    allowed = staticmethod(allowed_actions)


class ApprovalRefused(ApplicationError):
    """An EPCS approval that DEA logical access control does not permit (HTTP 403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, type="ApprovalRefused", non_retryable=True)


class _Interrupted(Exception):
    """A call given up because the clinician is being deactivated."""


class _Failed:
    """What a guarded call returns when it moved the clinician to ``blocked``."""


FAILED = _Failed()


@workflow.defn(name="ClinicianEnrollment")
class ClinicianEnrollmentWorkflow:
    @workflow.init
    def __init__(self, input: ClinicianEnrollmentInput) -> None:
        self._input = input
        carry = input.carried or ClinicianCarry(state="invited", pending_effects=[EMAIL_INVITATION])
        self._machine = ClinicianLifecycle(start_value=carry.state)
        self._form: EnrollmentForm | None = carry.form
        self._clinician_id = carry.clinician_id
        self._message = carry.message
        self._blocked = carry.blocked
        self._confirmed_event = carry.confirmed_event
        self._tfa_event = carry.tfa_event
        self._idp_run = carry.idp_run
        self._idp: IdpProgress | None = carry.idp
        self._idp_child: ChildWorkflowHandle[Any, Any] | None = None
        self._early_idp_success = carry.early_idp_success
        self._approvals = list(carry.approvals)
        self._billing_started = carry.billing_started
        self._pending_effects = list(carry.pending_effects)
        self._deactivate_requested = carry.deactivate_requested
        self._deactivation_done = list(carry.deactivation_done)
        self._wait_deadline = carry.wait_deadline
        self._poll_interval = carry.poll_interval
        self._audit_seq = carry.audit_seq
        self._idp_carry = carry.idp_carry
        self._continuing = False
        self._published: str | None = None
        self._published_status: str | None = None
        self._revision_ms = 0
        self._revision_seq = 0
        # What the clinic was last told this clinician counts as (see _tell_clinic).
        self._told_clinic = carry.told_clinic

    @workflow.run
    async def run(self, input: ClinicianEnrollmentInput) -> ClinicianStatus:
        while True:
            if self._deactivating:
                if await self._deactivate():
                    if self._takes(HANDLERS_FINISH_PATCH):
                        # The deactivate update (and any other) answers before the run ends.
                        await workflow.wait_condition(workflow.all_handlers_finished)
                    return self.status()
                await self._publish()
                await workflow.wait_condition(lambda: self._blocked is None)
                continue
            if self._continue_as_new_due():
                await self._continue_as_new()
                continue
            await self._step()

    # The story: act on the state the lifecycle is in ----------------------------

    @property
    def _deactivating(self) -> bool:
        return self._deactivate_requested is not None

    async def _step(self) -> None:
        """One bounded step from the current state; every wait also ends on deactivation."""
        await self._publish()
        state = self._state
        # A state that moved while it was published (or while effects ran) is published
        # first; earlier runs went straight on to the new state's step.
        if self._published != state and self._takes(PUBLISH_EVERY_STATE_PATCH):
            return
        if state not in ("blocked", "stalled") and not await self._pending_effects_done():
            return
        if self._state != state and self._takes(PUBLISH_EVERY_STATE_PATCH):
            return
        if state == "enrolling":
            await self._register()
        elif state == "awaiting_confirmation":
            await self._await_confirmation()
        elif state == "verifying":
            await self._verify()
        elif state == "tfa_pending":
            await self._await_two_factor()
        else:
            # invited, registration_failed, confirmed, verification_expired, verified,
            # tfa_active, epcs_enabled, blocked, stalled: waiting for a person.
            await self._until_state_changes(state)

    async def _pending_effects_done(self) -> bool:
        while self._pending_effects:
            effect = self._pending_effects[0]
            if effect == START_BILLING:
                done = await self._guarded(
                    effect, policies.RECORD, BillingControlActivities.start, self._billing_control()
                )
                if done is not FAILED:
                    self._billing_started = True
            elif effect == EMAIL_INVITATION:
                # A form that comes before the invitation went out (a bulk invitation's
                # emails queue behind each other) withdraws the email, which only asks
                # for the form: registration does not wait behind the mail queue.
                done = await self._email(effect, withdrawn=lambda: self._state != "invited")
                if done is FAILED and self._blocked is None and not self._deactivating:
                    done = None
            else:
                done = await self._email(effect)
            if done is FAILED:
                return False
            self._pending_effects.pop(0)
        return True

    async def _register(self) -> None:
        assert self._form is not None
        try:
            self._clinician_id = await self._unless_deactivated(
                policies.call(
                    policies.DOSESPOT_CREATE,
                    ClinicianActivities.register_clinician,
                    RegisterClinicianInput(
                        workspace_id=self._input.workspace_id,
                        member_id=self._input.member_id,
                        form=self._form,
                    ),
                )
            )
        except ActivityError as err:
            self._record_failure("registration", err)
            self._fire("registration_error")
            return
        except _Interrupted:
            return
        self._message = None
        self._blocked = None
        self._fire("registered")

    async def _await_confirmation(self) -> None:
        """One wait for DoseSpot's confirmation push, then one look at the registration."""
        timeout = self._next_wait(
            "confirmation",
            self._input.timings.confirmation_poll_seconds,
            self._input.timings.confirmation_deadline_days,
        )
        if timeout is None:
            return
        if await wait_until(lambda: self._confirmed_event or self._deactivating, timeout):
            if self._deactivating:
                return
            if not self._takes(CONFIRM_PUSHES_PATCH):
                self._fire("confirm")
                return
            # A push is a hint: DoseSpot's own answer decides (a leaked secret grants nothing).
            self._confirmed_event = False
        status = await self._registration_status("confirmation")
        if status is FAILED:
            return
        if status == "RegistrationError":
            self._message = "DoseSpot could not register the clinician; check the details"
            self._fire("registration_error")
        elif status not in ("Pending", "Unknown"):
            self._fire("confirm")

    async def _verify(self) -> None:
        self._idp_run += 1
        ref = self._ref()
        resumed = self._idp if self._idp and self._idp.outcome in ("blocked", "stalled") else None
        progress = (
            resumed.model_copy(update={"run": self._idp_run, "outcome": None})
            if resumed
            else IdpProgress(run=self._idp_run)
        )
        if not resumed and self._takes(FIRST_ATTEMPT_SHOWN_PATCH, since=2):
            # A new run's child starts its first attempt by itself.
            progress = progress.model_copy(update={"attempt_in_progress": True})
        self._idp = progress
        self._idp_child = await workflow.start_child_workflow(
            IdentityProofingWorkflow.run,
            IdentityProofingInput(
                workspace_id=ref.workspace_id,
                member_id=ref.member_id,
                clinician_id=ref.clinician_id,
                clinic_id=ref.clinic_id,
                run=self._idp_run,
                timings=self._input.timings,
                progress=progress if resumed else None,
                carried=self._idp_carry if resumed else None,
                generation=IDP_GENERATION,
            ),
            id=identity_proofing_workflow_id(ref.workspace_id, ref.member_id, self._idp_run),
        )
        if self._early_idp_success:
            await self._idp_child.signal(
                IdentityProofingWorkflow.dosespot_event,
                DoseSpotEvent(event_type="ClinicianIDPCompleteSuccess"),
            )
        child = self._idp_child
        if self._takes(PUBLISH_STATUS_PATCH):
            # Each attempt's progress is published as the child reports it.
            while True:
                await workflow.wait_condition(
                    lambda: child.done() or self._deactivating or self._status_changed()
                )
                if child.done() or self._deactivating:
                    break
                await self._publish()
        else:
            await workflow.wait_condition(lambda: child.done() or self._deactivating)
        self._idp_child = None
        if not child.done():
            # The child handle is a task: cancelling it cancels identity proofing.
            child.cancel()
            return
        try:
            result: IdentityProofingResult = child.result()
        except ChildWorkflowError as err:
            self._block("identity_proofing", err)
            return
        self._idp = result.progress
        self._idp_carry = result.carried
        if result.verified:
            self._early_idp_success = False
            if self._takes(CLINIC_TOLD_BEFORE_VERIFIED_PATCH):
                # Whoever sees this clinician verified then finds the workspace ready.
                await self._tell_clinic("verified")
            self._fire("verification_succeeded")
            self._pending_effects += [EMAIL_VERIFIED, START_BILLING]
        elif result.blocked is not None:
            self._blocked = result.blocked.model_copy(update={"resume_state": "verifying"})
            self._message = result.blocked.message
            self._fire("block")
        elif result.progress.outcome == "stalled":
            self._stall("identity_proofing", "identity proofing waited past its deadline")
        else:
            self._fire("verification_window_expired")
            self._pending_effects.append(EMAIL_EXPIRED)

    async def _await_two_factor(self) -> None:
        """One wait for DoseSpot's two-factor push, then one look at the registration."""
        timeout = self._next_wait(
            "two_factor",
            self._input.timings.tfa_poll_seconds,
            self._input.timings.tfa_deadline_days,
        )
        if timeout is None:
            return
        if await wait_until(
            lambda: self._tfa_event or self._state != "tfa_pending" or self._deactivating,
            timeout,
        ):
            if not (self._tfa_event and self._state == "tfa_pending"):
                return
            if not self._takes(CONFIRM_PUSHES_PATCH):
                self._fire("two_factor_activated")
                return
            self._tfa_event = False
        status = await self._registration_status("two_factor")
        if status == "TFAActivatedSuccess":
            self._fire("two_factor_activated")
        elif status == "TFAActivatedError":
            self._message = "two-factor activation failed in DoseSpot; start it again"
            self._fire("two_factor_failed")

    async def _deactivate(self) -> bool:
        """Revoke, stop billing, deactivate in DoseSpot; False if a step blocked."""
        actor = self._deactivate_requested
        was_enabled = self._resume_state == "epcs_enabled"
        steps: list[tuple[str, bool, Callable[[], Any]]] = [
            (
                REVOKE_AUDIT,
                was_enabled,
                lambda: self._audit(
                    "revoke",
                    "granted",
                    actor.actor_member_id if actor else None,
                    "clinician deactivated",
                ),
            ),
            (
                STOP_BILLING,
                self._billing_started,
                lambda: self._guarded(
                    STOP_BILLING,
                    policies.RECORD,
                    BillingControlActivities.stop,
                    self._billing_control(),
                ),
            ),
            (
                DOSESPOT_DEACTIVATE,
                self._clinician_id is not None and self._form is not None,
                lambda: self._guarded(
                    "deactivation",
                    policies.DOSESPOT,
                    ClinicianActivities.deactivate,
                    DeactivateClinicianInput(ref=self._ref()),
                ),
            ),
        ]
        for name, needed, action in steps:
            if not needed or name in self._deactivation_done:
                continue
            if await action() is FAILED:
                return False
            self._deactivation_done.append(name)
        self._fire("deactivate")
        await self._publish()
        return True

    # Updates -------------------------------------------------------------------

    @workflow.update
    async def submit_enrollment(self, form: EnrollmentForm) -> EnrollmentResult:
        self._form = form
        self._message = None
        self._blocked = None
        self._confirmed_event = False
        self._fire("submit_enrollment")
        await workflow.wait_condition(
            lambda: self._state not in ("enrolling", "awaiting_confirmation") or self._continuing
        )
        outcome = {
            "registration_failed": EnrollmentOutcome.registration_failed,
            "enrolling": EnrollmentOutcome.pending,
            "awaiting_confirmation": EnrollmentOutcome.pending,
            "blocked": EnrollmentOutcome.blocked,
            "stalled": EnrollmentOutcome.stalled,
        }.get(self._state, EnrollmentOutcome.confirmed)
        return EnrollmentResult(
            outcome=outcome,
            dosespot_clinician_id=self._clinician_id,
            message=self._message if outcome != EnrollmentOutcome.confirmed else None,
        )

    @submit_enrollment.validator
    def _check_submit_enrollment(self, form: EnrollmentForm) -> None:
        self._require("submit_enrollment")

    @workflow.update
    async def start_verification(self, request: ActorRequest) -> ClinicianStatus:
        if self._state == "confirmed":
            self._fire("start_verification")
        elif self._idp_child is not None and self._idp and not self._idp.attempt_in_progress:
            await self._idp_child.signal(IdentityProofingWorkflow.attempt_requested)
            # The answer (and every read after it) shows the attempt asked for as under way;
            # the child's next report confirms it or says what stopped it.
            self._idp = self._idp.model_copy(update={"attempt_in_progress": True})
        return await self._answer()

    @start_verification.validator
    def _check_start_verification(self, request: ActorRequest) -> None:
        self._require("start_verification")

    @workflow.update
    async def restart_verification(self, request: ActorRequest) -> ClinicianStatus:
        self._fire("restart_verification")
        return await self._answer()

    @restart_verification.validator
    def _check_restart_verification(self, request: ActorRequest) -> None:
        self._require("restart_verification")

    @workflow.update
    async def start_two_factor(self, request: ActorRequest) -> ClinicianStatus:
        await self._init_two_factor()
        return await self._answer()

    @start_two_factor.validator
    def _check_start_two_factor(self, request: ActorRequest) -> None:
        self._require("start_two_factor")

    @workflow.update
    async def approve_epcs(self, approval: EpcsApproval) -> ClinicianStatus:
        self._approvals.append(approval)
        await self._audit("approve", "accepted", approval.approver_member_id, None)
        if len(self._approvals) >= 2 and self._state == "tfa_active":
            self._fire("grant_epcs")
            await self._audit(
                "grant",
                "granted",
                approval.approver_member_id,
                "approved by " + " and ".join(a.approver_member_id for a in self._approvals),
            )
            await self._publish()
        return await self._answer()

    @approve_epcs.validator
    def _check_approve_epcs(self, approval: EpcsApproval) -> None:
        self._require("approve_epcs")
        refusal = epcs_approval_refusal(self._input.member_id, self._approvals, approval)
        if refusal:
            raise ApprovalRefused(refusal)

    @workflow.update
    async def retry(self, request: ActorRequest) -> ClinicianStatus:
        blocked = self._blocked
        self._blocked = None
        self._message = None
        self._wait_deadline = None
        self._poll_interval = None
        if self._state == "registration_failed":
            self._fire("retry")
            return await self._answer()
        assert blocked is not None
        self._machine.send("retry", resume_to=blocked.resume_state)
        if blocked.step == "two_factor_init":
            await self._init_two_factor()
        return await self._answer()

    @retry.validator
    def _check_retry(self, request: ActorRequest) -> None:
        self._require("retry")
        if self._state == "registration_failed":
            return
        trial = ClinicianLifecycle(start_value=self._state)
        try:
            trial.send("retry", resume_to=self._blocked.resume_state if self._blocked else "")
        except TransitionNotAllowed:
            raise ActionNotAllowed("retry", self._state) from None

    @workflow.update
    async def authorize_controlled_substance(self) -> None:
        return None

    @authorize_controlled_substance.validator
    def _check_controlled_substance(self) -> None:
        if self._state != "epcs_enabled":
            raise ApplicationError(
                CONTROLLED_SUBSTANCE_REFUSAL, type="ControlledSubstanceRefused", non_retryable=True
            )

    @workflow.update
    async def deactivate(self, request: ActorRequest) -> ClinicianStatus:
        self._deactivate_requested = request
        # Answers once deactivated, or as soon as a step of the deactivation is blocked.
        await workflow.wait_condition(
            lambda: (
                self._state == "deactivated"
                or (self._blocked is not None and self._blocked.step in DEACTIVATION_STEPS)
            )
        )
        return self.status()

    @deactivate.validator
    def _check_deactivate(self, request: ActorRequest) -> None:
        self._require("deactivate")
        if self._deactivating:
            raise ApplicationError(
                "the clinician is already being deactivated",
                {"state": self._state, "allowed_actions": []},
                type="ActionNotAllowed",
                non_retryable=True,
            )

    # Signals and queries -------------------------------------------------------

    @workflow.signal
    async def dosespot_event(self, event: DoseSpotEvent) -> None:
        kind = event.event_type.lower()
        if kind == "clinicianconfirmed":
            self._confirmed_event = True
        elif kind == IDP_SUCCESS_EVENT:
            if self._idp_child is not None:
                await self._idp_child.signal(IdentityProofingWorkflow.dosespot_event, event)
            else:
                self._early_idp_success = True
        elif kind == "cliniciantfaactivatesuccess":
            self._tfa_event = True
        elif kind == "clinicianlockedout":
            self._message = "the clinician is locked out of DoseSpot"

    @workflow.signal
    def idp_progress(self, progress: IdpProgress) -> None:
        if progress.run != self._idp_run:
            return
        if progress.outcome == "verified":
            # The lifecycle moves to verified when the child ends; until then the attempt
            # reads as under way, never as an idle one a client would ask to repeat.
            progress = progress.model_copy(update={"attempt_in_progress": True})
        self._idp = progress

    async def _answer(self) -> ClinicianStatus:
        """An update's answer; the read model shows it before the caller gets it."""
        if self._takes(PUBLISH_STATUS_PATCH):
            await self._publish()
        return self.status()

    @workflow.query
    def status(self) -> ClinicianStatus:
        form = self._form
        return ClinicianStatus(
            workspace_id=self._input.workspace_id,
            member_id=self._input.member_id,
            state=self._state,
            allowed_actions=allowed_actions(self._state),
            blocked=self._blocked,
            dosespot_clinician_id=self._clinician_id,
            dosespot_clinic_id=form.default_location.dosespot_clinic_id if form else None,
            idp=self._idp,
            tfa_active=self._state in ("tfa_active", "epcs_enabled"),
            epcs_enabled=self._state == "epcs_enabled",
            epcs_approvers=[a.approver_member_id for a in self._approvals],
            billing_started=self._billing_started,
            message=self._message,
            summary=self._summary(),
        )

    @workflow.query
    def controlled_substance_permission(self) -> ControlledSubstancePermission:
        return ControlledSubstancePermission(allowed=self._state == "epcs_enabled")

    # Helpers -------------------------------------------------------------------

    @property
    def _state(self) -> str:
        return str(self._machine.current_state_value)

    def _require(self, event: str) -> None:
        if event not in {e.id for e in self._machine.allowed_events}:
            raise ActionNotAllowed(event, self._state)

    def _fire(self, event: str) -> None:
        if event in {e.id for e in self._machine.allowed_events}:
            before = self._state
            self._machine.send(event)
            if self._state != before:
                # A new state starts its own wait: a fresh deadline and poll interval.
                self._wait_deadline = None
                self._poll_interval = None
        else:
            workflow.logger.warning("ignored %s in state %s", event, self._state)

    @property
    def _resume_state(self) -> str:
        """The state to go on from: a blocked or stalled clinician's earlier one."""
        if self._blocked is not None and self._state in ("blocked", "stalled"):
            return self._blocked.resume_state
        return self._state

    def _record_failure(self, step: str, err: BaseException) -> None:
        facts = policies.failure_facts(err)
        self._message = facts.message
        self._blocked = Blocked(
            step=step,
            resume_state=self._resume_state,
            reason=facts.reason,
            error_type=facts.error_type,
            message=facts.message,
            since=workflow.now(),
        )

    def _block(self, step: str, err: BaseException) -> None:
        self._record_failure(step, err)
        self._fire("block")

    def _stall(self, step: str, message: str) -> None:
        self._message = message
        self._blocked = Blocked(
            step=step,
            resume_state=self._state,
            reason=f"{step}_deadline_passed",
            message=message,
            since=workflow.now(),
        )
        self._fire("stall")

    async def _guarded(
        self,
        step: str,
        policy: policies.CallPolicy,
        activity: Callable[..., Any],
        arg: Any,
        task_queue: str | None = None,
        withdrawn: Callable[[], bool] | None = None,
    ) -> Any:
        """Run an activity; on a failure for good, block the clinician and return FAILED.

        A deactivation requested while the call runs, or ``withdrawn`` turning true,
        cancels it (FAILED, nothing blocked): deactivating never waits for DoseSpot's
        retries.
        """
        try:
            return await self._unless_deactivated(
                policies.call(policy, activity, arg, task_queue=task_queue), withdrawn
            )
        except ActivityError as err:
            self._block(step, err)
            return FAILED
        except _Interrupted:
            return FAILED

    async def _unless_deactivated(
        self, call: Awaitable[Any], withdrawn: Callable[[], bool] | None = None
    ) -> Any:
        """The call's result; raises _Interrupted if a deactivation came first, or (in runs
        that know FORM_BEFORE_INVITATION_PATCH) ``withdrawn`` turned true first."""
        if self._deactivating or not self._takes(INTERRUPTIBLE_CALLS_PATCH):
            return await call
        task = asyncio.ensure_future(call)
        await workflow.wait_condition(
            lambda: task.done() or self._deactivating or (withdrawn is not None and withdrawn())
        )
        if not (task.done() or self._deactivating) and not self._takes(
            FORM_BEFORE_INVITATION_PATCH
        ):
            await workflow.wait_condition(lambda: task.done() or self._deactivating)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(ActivityError, asyncio.CancelledError):
            await task
        raise _Interrupted

    def _next_wait(self, step: str, first_poll: float, deadline_days: float) -> float | None:
        """Seconds to wait before the next poll, or None when the wait stalled at its deadline."""
        now = workflow.now()
        if self._wait_deadline is None:
            self._wait_deadline = now + timedelta(days=deadline_days)
        remaining = (self._wait_deadline - now).total_seconds()
        if remaining <= 0:
            self._stall(step, f"no answer from DoseSpot or the clinician by {self._deadline_text}")
            return None
        interval = first_poll if self._poll_interval is None else self._poll_interval
        self._poll_interval = min(interval * 1.5, self._input.timings.poll_max_seconds)
        return min(interval, remaining)

    @property
    def _deadline_text(self) -> str:
        deadline: datetime | None = self._wait_deadline
        return f"{deadline:%Y-%m-%d %H:%M} UTC" if deadline else "the deadline"

    async def _init_two_factor(self) -> None:
        if (
            await self._guarded(
                "two_factor_init",
                policies.DOSESPOT,
                ClinicianActivities.start_two_factor,
                self._ref(),
            )
            is FAILED
        ):
            return
        self._tfa_event = False
        self._message = None
        self._fire("start_two_factor")

    def _billing_control(self) -> BillingControl:
        return BillingControl(
            workspace_id=self._input.workspace_id,
            member_id=self._input.member_id,
            at=workflow.now(),
        )

    def _ref(self) -> ClinicianRef:
        assert self._form is not None and self._clinician_id is not None
        return ClinicianRef(
            workspace_id=self._input.workspace_id,
            member_id=self._input.member_id,
            clinician_id=self._clinician_id,
            clinic_id=self._form.default_location.dosespot_clinic_id,
        )

    async def _until_state_changes(self, state: str) -> None:
        if not self._takes(PUBLISH_STATUS_PATCH):
            await workflow.wait_condition(lambda: self._state != state or self._deactivating)
            return
        # A change a signal made within the state (a message, say) is published at once.
        await workflow.wait_condition(
            lambda: self._state != state or self._deactivating or self._status_changed()
        )

    async def _registration_status(self, step: str) -> Any:
        result = await self._guarded(
            step, policies.DOSESPOT, ClinicianActivities.registration_status, self._ref()
        )
        return result if result is FAILED else result.status

    async def _email(self, effect: str, withdrawn: Callable[[], bool] | None = None) -> Any:
        """On the mail task queue the API named (its own worker slots, so a burst of
        invitations never holds up another clinician's DoseSpot calls), else this one's;
        given up if ``withdrawn`` turns true before it is sent."""
        return await self._guarded(
            effect,
            policies.EMAIL,
            NotificationActivities.send_member_email,
            MemberEmail(
                workspace_id=self._input.workspace_id,
                member_id=self._input.member_id,
                template=effect.removeprefix("email:"),  # type: ignore[arg-type]
            ),
            task_queue=self._input.mail_task_queue,
            withdrawn=withdrawn,
        )

    async def _audit(self, action: str, outcome: str, actor: str | None, reason: str | None) -> Any:
        info = workflow.info()
        done = await self._guarded(
            f"audit_{action}",
            policies.RECORD,
            ClinicianActivities.append_epcs_audit,
            EpcsAuditInput(
                workspace_id=self._input.workspace_id,
                subject_member_id=self._input.member_id,
                actor_member_id=actor,
                action=action,
                outcome=outcome,
                reason=reason,
                idempotency_key=(
                    f"{info.workflow_id}:{info.first_execution_run_id}:{self._audit_seq}"
                ),
            ),
        )
        if done is not FAILED:
            self._audit_seq += 1
        return done

    def _summary(self) -> str:
        text = CLINICIAN_STATE_NAMES[self._state]
        if self._idp and self._state in ("verifying", "verification_expired"):
            text += f"; {self._idp.path.value}, {self._idp.failed_attempts} failed attempt(s)"
            if self._idp.deadline:
                text += f", ID.me window closes {self._idp.deadline:%Y-%m-%d %H:%M} UTC"
        if self._blocked:
            text += f"; {self._blocked.step}: {self._blocked.reason}"
            if self._blocked.error_type:
                text += f" ({self._blocked.error_type})"
        if self._message:
            text += f"; {self._message}"
        return text

    @property
    def _blocked_reason(self) -> str | None:
        if self._blocked is not None and self._state in BLOCKED_STATES:
            return self._blocked.reason
        return self._state if self._state in BLOCKED_STATES else None

    async def _publish(self) -> None:
        """Search attributes, details and the read model follow the lifecycle."""
        if self._takes(PUBLISH_STATUS_PATCH):
            await self._publish_status()
            return
        if self._published == self._state:
            return
        self._published = self._state
        reason = self._blocked_reason
        workflow.upsert_search_attributes(
            [
                SA_WORKSPACE.value_set(self._input.workspace_id),
                SA_MEMBER.value_set(self._input.member_id),
                SA_STAGE.value_set(self._state),
                SA_BLOCKED_REASON.value_set(reason) if reason else SA_BLOCKED_REASON.value_unset(),
            ]
        )
        workflow.set_current_details(self._summary())
        await self._record(None)
        await self._tell_clinic(self._state)

    def _status_key(self) -> str:
        return self.status().model_dump_json(exclude={"summary", "revision"})

    def _status_changed(self) -> bool:
        return self._published_status != self._status_key()

    async def _publish_status(self) -> None:
        """Publish what changed since the last time: the search attributes whose value
        changed, the read model's row (with a newer revision) whenever anything in the
        status changed, and the clinic when the workspace's step may change."""
        key = self._status_key()
        if key == self._published_status:
            return
        self._published_status = key
        self._published = self._state
        self._upsert_changed_search_attributes()
        workflow.set_current_details(self._summary())
        await self._record(self._next_revision())
        if _clinic_share(self._resume_state) != self._told_clinic:
            await self._tell_clinic(self._resume_state)

    def _upsert_changed_search_attributes(self) -> None:
        upsert_changed(
            [
                (SA_WORKSPACE, self._input.workspace_id),
                (SA_MEMBER, self._input.member_id),
                (SA_STAGE, self._state),
                (SA_BLOCKED_REASON, self._blocked_reason),
            ]
        )

    def _next_revision(self) -> int:
        """Increases with every publish, across continue-as-new and a later re-invitation:
        the workflow clock's milliseconds, then a sequence within the same millisecond."""
        ms = int(workflow.now().timestamp() * 1000)
        if ms == self._revision_ms:
            self._revision_seq += 1
        else:
            self._revision_ms, self._revision_seq = ms, 0
        return ms * 1000 + self._revision_seq

    async def _record(self, revision: int | None) -> None:
        """The read model's row; runs that publish every change write it as a local activity
        (one marker event), earlier runs as an activity."""
        idp = self._idp
        status = self.status()
        if revision is not None:
            status.revision = revision
        await (policies.call if revision is None else policies.call_local)(
            policies.RECORD,
            ClinicianActivities.record,
            ClinicianSnapshot(
                workspace_id=self._input.workspace_id,
                member_id=self._input.member_id,
                state=self._state,
                dosespot_clinician_id=self._clinician_id,
                dea_registrant=self._form.dea_registrant if self._form else False,
                tfa_active=self._state in ("tfa_active", "epcs_enabled"),
                epcs_enabled=self._state == "epcs_enabled",
                idp_failed_attempts=idp.failed_attempts if idp else 0,
                idp_path=idp.path.value if idp else None,
                idp_deadline=idp.deadline if idp else None,
                at=workflow.now(),
                status=status if revision is not None else None,
            ),
        )

    async def _tell_clinic(self, state: str) -> None:
        """Tell the ClinicSetup that started this clinician (the workspace's four steps)."""
        self._told_clinic = _clinic_share(state)
        if self._input.setup_workflow_id:
            await workflow.get_external_workflow_handle(self._input.setup_workflow_id).signal(
                "clinician_progress",
                ClinicianProgress(member_id=self._input.member_id, state=state),
            )

    # Continue-as-new -----------------------------------------------------------

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.timings.continue_as_new_after_events
        )

    async def _continue_as_new(self) -> None:
        """Let running handlers finish, then start a fresh run with the same state.

        A deactivation that arrives meanwhile is done first, in this run.
        """
        self._continuing = True
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() or self._deactivating
        )
        self._continuing = False
        if self._deactivating:
            return
        workflow.continue_as_new(
            self._input.model_copy(update={"carried": self._carry(), "generation": GENERATION})
        )

    def _takes(self, patch_id: str, since: int = 1) -> bool:
        return takes(patch_id, self._input.generation, since)

    def _carry(self) -> ClinicianCarry:
        return ClinicianCarry(
            state=self._state,
            form=self._form,
            clinician_id=self._clinician_id,
            message=self._message,
            blocked=self._blocked,
            confirmed_event=self._confirmed_event,
            tfa_event=self._tfa_event,
            idp_run=self._idp_run,
            idp=self._idp,
            early_idp_success=self._early_idp_success,
            approvals=self._approvals,
            billing_started=self._billing_started,
            pending_effects=self._pending_effects,
            deactivate_requested=self._deactivate_requested,
            deactivation_done=self._deactivation_done,
            wait_deadline=self._wait_deadline,
            poll_interval=self._poll_interval,
            audit_seq=self._audit_seq,
            idp_carry=self._idp_carry,
            told_clinic=self._told_clinic,
        )


def _clinic_share(state: str) -> str:
    """What a clinician in ``state`` counts as toward the workspace's step."""
    return setup_stage_for([state])


def epcs_approval_refusal(
    subject: str, approvals: list[EpcsApproval], approval: EpcsApproval
) -> str | None:
    """Why DEA logical access control refuses this approval, or None if it may stand.

    Two different people must approve; one is a DEA registrant in the workspace with
    two-factor active, the other a workspace admin. The clinician cannot approve
    their own access, and one person's approval never counts twice.
    """
    if approval.approver_member_id == subject:
        return "a clinician cannot approve their own EPCS access"
    if any(a.approver_member_id == approval.approver_member_id for a in approvals):
        return "this person has already approved; a second, different approver is needed"
    if not (approval.approver_is_admin or approval.approver_is_dea_registrant_with_tfa):
        return "an approver must be a workspace admin or a DEA registrant with two-factor active"
    if approvals:
        first = approvals[0]
        pair_ok = (first.approver_is_dea_registrant_with_tfa and approval.approver_is_admin) or (
            first.approver_is_admin and approval.approver_is_dea_registrant_with_tfa
        )
        if not pair_ok:
            return (
                "the two approvers must be a DEA registrant with two-factor active "
                "and a workspace admin"
            )
    return None
