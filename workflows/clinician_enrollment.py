"""ClinicianEnrollment: one clinician, from invitation to EPCS-enabled prescriber.

Workflow id ``erx-clinician:{workspace}:{member}``; lives until the clinician is
deactivated. The ClinicianLifecycle state machine decides what may happen next;
the run loop below acts on whatever state the machine is in, so a worker
restart resumes exactly where the clinician stands.

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
    authorize_controlled_substance() -> None
        Refused with "You do not have permission to send controlled substances"
        unless EPCS is enabled.
    deactivate(ActorRequest) -> ClinicianStatus
Signals:
    dosespot_event(DoseSpotEvent)   push notifications for this clinician
    idp_progress(IdpProgress)       from the IdentityProofing child
Queries:
    status() -> ClinicianStatus
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from erx.temporal import SA_BLOCKED_REASON, SA_MEMBER, SA_STAGE, SA_WORKSPACE
    from workflows.identity_proofing import (
        DOSESPOT_RETRY,
        IDP_SUCCESS_EVENT,
        IdentityProofingWorkflow,
        identity_proofing_workflow_id,
    )
    from workflows.lifecycles import CLINICIAN_STATE_NAMES, ClinicianLifecycle, allowed_actions
    from workflows.models import (
        ActorRequest,
        BillingControl,
        ClinicianEnrollmentInput,
        ClinicianProgress,
        ClinicianRef,
        ClinicianSnapshot,
        ClinicianStatus,
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
        RegistrationStatusResult,
    )
    from workflows.waiting import wait_until

CONTROLLED_SUBSTANCE_REFUSAL = "You do not have permission to send controlled substances"
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=50,
    non_retryable_error_types=["MemberNotFound"],
)
BLOCKED_STATES = {"registration_failed", "verification_expired"}


def clinician_workflow_id(workspace_id: str, member_id: str) -> str:
    return f"erx-clinician:{workspace_id}:{member_id}"


class ActionNotAllowed(ApplicationError):
    """An update that does not fit the clinician's current state (HTTP 409)."""

    def __init__(self, action: str, state: str) -> None:
        super().__init__(
            f"{action} is not allowed while the clinician is {state}",
            {"state": state, "allowed_actions": allowed_actions(state)},
            type="ActionNotAllowed",
            non_retryable=True,
        )


class ApprovalRefused(ApplicationError):
    """An EPCS approval that DEA logical access control does not permit (HTTP 403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, type="ApprovalRefused", non_retryable=True)


@workflow.defn(name="ClinicianEnrollment")
class ClinicianEnrollmentWorkflow:
    @workflow.init
    def __init__(self, input: ClinicianEnrollmentInput) -> None:
        self._input = input
        self._machine = ClinicianLifecycle()
        self._form: EnrollmentForm | None = None
        self._clinician_id: int | None = None
        self._message: str | None = None
        self._confirmed_event = False
        self._tfa_event = False
        self._idp_run = 0
        self._idp: IdpProgress | None = None
        self._idp_child: ChildWorkflowHandle | None = None
        self._early_idp_success = False
        self._approvals: list[EpcsApproval] = []
        self._billing_started = False
        self._verified_done = False
        self._deactivate_requested: ActorRequest | None = None
        self._published: str | None = None

    @workflow.run
    async def run(self, input: ClinicianEnrollmentInput) -> ClinicianStatus:
        await self._publish()
        await self._email("invitation")
        while not self._deactivating:
            await self._step()
        await self._deactivate()
        return self.status()

    # The story: act on the state the lifecycle is in ----------------------------

    @property
    def _deactivating(self) -> bool:
        return self._deactivate_requested is not None

    async def _step(self) -> None:
        """One step from the current state; every wait also ends on a deactivation request."""
        await self._publish()
        state = self._state
        if state == "enrolling":
            await self._register()
        elif state == "awaiting_confirmation":
            await self._await_confirmation()
        elif state == "verifying":
            await self._verify()
        elif state == "verified":
            await self._on_verified()
            await self._until_state_changes(state)
        elif state == "tfa_pending":
            await self._await_two_factor()
        else:
            # invited, registration_failed, confirmed, verification_expired,
            # tfa_active, epcs_enabled: waiting for a person.
            await self._until_state_changes(state)

    async def _register(self) -> None:
        assert self._form is not None
        try:
            self._clinician_id = await workflow.execute_activity(
                "register_clinician",
                RegisterClinicianInput(
                    workspace_id=self._input.workspace_id,
                    member_id=self._input.member_id,
                    form=self._form,
                ),
                result_type=int,
                start_to_close_timeout=timedelta(seconds=90),
                retry_policy=DOSESPOT_RETRY,
            )
        except ActivityError as err:
            self._message = _failure_message(err)
            self._fire("registration_error")
            return
        self._message = None
        self._fire("registered")

    async def _await_confirmation(self) -> None:
        interval = self._input.timings.confirmation_poll_seconds
        while not self._deactivating:
            if await wait_until(lambda: self._confirmed_event or self._deactivating, interval):
                if self._deactivating:
                    return
                self._fire("confirm")
                return
            status = await self._registration_status()
            if status == "RegistrationError":
                self._message = "DoseSpot could not register the clinician; check the details"
                self._fire("registration_error")
                return
            if status not in ("Pending", "Unknown"):
                self._fire("confirm")
                return
            interval = min(interval * 1.5, self._input.timings.poll_max_seconds)

    async def _verify(self) -> None:
        self._idp_run += 1
        ref = self._ref()
        self._idp = IdpProgress(run=self._idp_run)
        self._idp_child = await workflow.start_child_workflow(
            IdentityProofingWorkflow.run,
            IdentityProofingInput(
                workspace_id=ref.workspace_id,
                member_id=ref.member_id,
                clinician_id=ref.clinician_id,
                clinic_id=ref.clinic_id,
                run=self._idp_run,
                timings=self._input.timings,
            ),
            id=identity_proofing_workflow_id(ref.workspace_id, ref.member_id, self._idp_run),
        )
        if self._early_idp_success:
            await self._idp_child.signal(
                IdentityProofingWorkflow.dosespot_event,
                DoseSpotEvent(event_type="ClinicianIDPCompleteSuccess"),
            )
        child = self._idp_child
        await workflow.wait_condition(lambda: child.done() or self._deactivating)
        self._idp_child = None
        if not child.done():
            # The child handle is a task: cancelling it cancels identity proofing.
            child.cancel()
            return
        result: IdentityProofingResult = child.result()
        self._idp = result.progress
        if result.verified:
            self._fire("verification_succeeded")
        else:
            self._fire("verification_window_expired")
            await self._publish()
            await self._email("verification_expired")

    async def _on_verified(self) -> None:
        if self._verified_done:
            return
        await self._email("verified")
        await self._start_billing()
        self._verified_done = True

    async def _start_billing(self) -> None:
        if self._billing_started:
            return
        await workflow.execute_activity(
            "start_clinician_billing",
            self._billing_control(),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
        )
        self._billing_started = True

    async def _await_two_factor(self) -> None:
        interval = self._input.timings.tfa_poll_seconds
        while self._state == "tfa_pending" and not self._deactivating:
            if await wait_until(
                lambda: self._tfa_event or self._state != "tfa_pending" or self._deactivating,
                interval,
            ):
                if self._tfa_event:
                    self._fire("two_factor_activated")
                return
            status = await self._registration_status()
            if status == "TFAActivatedSuccess":
                self._fire("two_factor_activated")
                return
            if status == "TFAActivatedError":
                self._message = "two-factor activation failed in DoseSpot; start it again"
                self._fire("two_factor_failed")
                return
            interval = min(interval * 1.5, self._input.timings.poll_max_seconds)

    async def _deactivate(self) -> None:
        actor = self._deactivate_requested
        if self._state == "epcs_enabled":
            await self._audit(
                "revoke",
                "granted",
                actor.actor_member_id if actor else None,
                "clinician deactivated",
            )
        if self._billing_started:
            await workflow.execute_activity(
                "stop_clinician_billing",
                self._billing_control(),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
            )
        if self._clinician_id is not None and self._form is not None:
            await workflow.execute_activity(
                "deactivate_dosespot_clinician",
                DeactivateClinicianInput(ref=self._ref(), form=self._form),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DOSESPOT_RETRY,
            )
        self._fire("deactivate")
        await self._publish()

    # Updates -------------------------------------------------------------------

    @workflow.update
    async def submit_enrollment(self, form: EnrollmentForm) -> EnrollmentResult:
        self._form = form
        self._message = None
        self._confirmed_event = False
        self._fire("submit_enrollment")
        await workflow.wait_condition(
            lambda: self._state not in ("enrolling", "awaiting_confirmation")
        )
        if self._state == "registration_failed":
            return EnrollmentResult(
                outcome=EnrollmentOutcome.registration_failed,
                dosespot_clinician_id=self._clinician_id,
                message=self._message,
            )
        return EnrollmentResult(
            outcome=EnrollmentOutcome.confirmed, dosespot_clinician_id=self._clinician_id
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
        return self.status()

    @start_verification.validator
    def _check_start_verification(self, request: ActorRequest) -> None:
        self._require("start_verification")

    @workflow.update
    async def restart_verification(self, request: ActorRequest) -> ClinicianStatus:
        self._fire("restart_verification")
        return self.status()

    @restart_verification.validator
    def _check_restart_verification(self, request: ActorRequest) -> None:
        self._require("restart_verification")

    @workflow.update
    async def start_two_factor(self, request: ActorRequest) -> ClinicianStatus:
        await workflow.execute_activity(
            "start_two_factor",
            self._ref(),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=DOSESPOT_RETRY,
        )
        self._tfa_event = False
        self._message = None
        self._fire("start_two_factor")
        return self.status()

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
        return self.status()

    @approve_epcs.validator
    def _check_approve_epcs(self, approval: EpcsApproval) -> None:
        self._require("approve_epcs")
        refusal = epcs_approval_refusal(self._input.member_id, self._approvals, approval)
        if refusal:
            raise ApprovalRefused(refusal)

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
        await workflow.wait_condition(lambda: self._state == "deactivated")
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
        if progress.run == self._idp_run:
            self._idp = progress

    @workflow.query
    def status(self) -> ClinicianStatus:
        form = self._form
        return ClinicianStatus(
            workspace_id=self._input.workspace_id,
            member_id=self._input.member_id,
            state=self._state,
            allowed_actions=allowed_actions(self._state),
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

    # Helpers -------------------------------------------------------------------

    @property
    def _state(self) -> str:
        return str(self._machine.current_state_value)

    def _require(self, event: str) -> None:
        if event not in {e.id for e in self._machine.allowed_events}:
            raise ActionNotAllowed(event, self._state)

    def _fire(self, event: str) -> None:
        if event in {e.id for e in self._machine.allowed_events}:
            self._machine.send(event)
        else:
            workflow.logger.warning("ignored %s in state %s", event, self._state)

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
        await workflow.wait_condition(lambda: self._state != state or self._deactivating)

    async def _registration_status(self) -> str:
        try:
            result = await workflow.execute_activity(
                "clinician_registration_status",
                self._ref(),
                result_type=RegistrationStatusResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DOSESPOT_RETRY,
            )
        except ActivityError as err:
            # An answer we cannot read is not a confirmation: keep waiting (fail closed).
            self._message = _failure_message(err)
            return "Unknown"
        return result.status

    async def _email(self, template: str) -> None:
        await workflow.execute_activity(
            "send_member_email",
            {
                "workspace_id": self._input.workspace_id,
                "member_id": self._input.member_id,
                "template": template,
            },
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=EMAIL_RETRY,
        )

    async def _audit(
        self, action: str, outcome: str, actor: str | None, reason: str | None
    ) -> None:
        await workflow.execute_activity(
            "append_epcs_audit",
            EpcsAuditInput(
                workspace_id=self._input.workspace_id,
                subject_member_id=self._input.member_id,
                actor_member_id=actor,
                action=action,
                outcome=outcome,
                reason=reason,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
        )

    def _summary(self) -> str:
        text = CLINICIAN_STATE_NAMES[self._state]
        if self._idp and self._state in ("verifying", "verification_expired"):
            text += f"; {self._idp.path.value}, {self._idp.failed_attempts} failed attempt(s)"
            if self._idp.deadline:
                text += f", ID.me window closes {self._idp.deadline:%Y-%m-%d %H:%M} UTC"
        if self._message:
            text += f"; {self._message}"
        return text

    async def _publish(self) -> None:
        """Search attributes, details and the read model follow the lifecycle's state."""
        if self._published == self._state:
            return
        self._published = self._state
        workflow.upsert_search_attributes(
            [
                SA_WORKSPACE.value_set(self._input.workspace_id),
                SA_MEMBER.value_set(self._input.member_id),
                SA_STAGE.value_set(self._state),
                SA_BLOCKED_REASON.value_set(self._state)
                if self._state in BLOCKED_STATES
                else SA_BLOCKED_REASON.value_unset(),
            ]
        )
        workflow.set_current_details(self._summary())
        idp = self._idp
        await workflow.execute_activity(
            "record_clinician",
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
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
        )
        if self._input.setup_workflow_id:
            await workflow.get_external_workflow_handle(self._input.setup_workflow_id).signal(
                "clinician_progress",
                ClinicianProgress(member_id=self._input.member_id, state=self._state),
            )


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


def _failure_message(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(err)
