"""ClinicSetup: a workspace's eRx setup, from clinic registration to "Ready to prescribe".

Workflow id ``erx-clinic:{workspace}``; lives for the workspace's eRx lifetime and
continues-as-new when its history grows.

Updates:
    register_clinic(RegisterClinicRequest) -> ClinicRecord
        Register a practice location as a DoseSpot clinic. Idempotent per location:
        a repeated request returns the same clinic and never creates a second one.
        Waits for the registration to finish (or block) before answering.
    invite_clinicians(InviteRequest) -> InviteResult
        Start one ClinicianEnrollment per newly invited member as a child, one at a
        time. Kept for the workspaces whose clinicians it started; the API starts each
        enrollment as an independent workflow, many at once (api.invitations).
Signals:
    retry_clinic(RegisterClinicRequest)
        Try a blocked registration again (after its cause was fixed).
    clinician_progress(ClinicianProgress)
        A clinician whose share of the workspace's step changed (verifying, verified,
        neither); moves the workspace through steps 2-4.
Queries:
    progress() -> SetupProgress
        The four steps, which is active, and the registered clinics.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from statemachine.exceptions import TransitionNotAllowed

    from activities.clinics import ClinicActivities
    from erx.temporal import SA_BLOCKED_REASON, SA_STAGE, SA_WORKSPACE
    from workflows import policies
    from workflows.clinician_enrollment import GENERATION as ENROLLMENT_GENERATION
    from workflows.clinician_enrollment import (
        ClinicianEnrollmentWorkflow,
        clinician_workflow_id,
    )
    from workflows.lifecycles import (
        SETUP_ACTIVE_STEP,
        SETUP_STEPS,
        ClinicSetupLifecycle,
        setup_stage_for,
        setup_steps,
    )
    from workflows.models import (
        ClinicianEnrollmentInput,
        ClinicianProgress,
        ClinicRecord,
        ClinicSetupInput,
        ClinicStatus,
        EnsureClinicInput,
        InviteItem,
        InviteRequest,
        InviteResult,
        RegisterClinicRequest,
        SetupProgress,
    )
    from workflows.search_attributes import upsert_changed


PUBLISH_CHANGES_PATCH = "clinic-publish-changes"


def clinic_setup_workflow_id(workspace_id: str) -> str:
    return f"erx-clinic:{workspace_id}"


def setup_summary(
    stage: str, clinics: list[ClinicRecord], clinicians: int, blocked_reason: str | None
) -> str:
    """One line for the Temporal UI and the API: the step, clinics and clinicians."""
    registered = sum(1 for r in clinics if r.status == ClinicStatus.registered)
    text = f"{SETUP_STEPS[SETUP_ACTIVE_STEP[stage] - 1]} ({stage})"
    text += f"; {registered} of {len(clinics)} clinic(s) registered"
    if clinicians:
        text += f"; {clinicians} clinician(s) invited"
    if blocked_reason:
        text += f"; blocked: {blocked_reason}"
    return text


@workflow.defn(name="ClinicSetup")
class ClinicSetupWorkflow:
    @workflow.init
    def __init__(self, input: ClinicSetupInput) -> None:
        self._input = input
        self._workspace_id = input.workspace_id
        self._machine = (
            ClinicSetupLifecycle(start_value=input.state)
            if input.state
            else (ClinicSetupLifecycle())
        )
        self._clinics: dict[str, ClinicRecord] = dict(input.clinics)
        self._pending: list[str] = list(input.pending)
        self._clinicians: dict[str, str] = dict(input.clinicians)

    @workflow.run
    async def run(self, input: ClinicSetupInput) -> None:
        self._publish()
        while True:
            await workflow.wait_condition(lambda: bool(self._pending) or self._continue_due())
            await self._register_pending()
            if self._continue_due():
                # A register_clinic that arrives meanwhile waits on this loop: serve it
                # before its handler can finish, or the two would wait on each other.
                while not workflow.all_handlers_finished():
                    await workflow.wait_condition(
                        lambda: workflow.all_handlers_finished() or bool(self._pending)
                    )
                    await self._register_pending()
                workflow.continue_as_new(
                    self._input.model_copy(
                        update={
                            "state": self._state,
                            "clinics": self._clinics,
                            "pending": self._pending,
                            "clinicians": self._clinicians,
                        }
                    )
                )

    def _continue_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.continue_as_new_after_events
        )

    async def _register_pending(self) -> None:
        while self._pending:
            await self._register(self._pending[0])
            self._pending.pop(0)

    # Updates, signals, queries -------------------------------------------------

    @workflow.update
    async def register_clinic(self, request: RegisterClinicRequest) -> ClinicRecord:
        record = self._clinics.get(request.location_id)
        if record is None or record.status == ClinicStatus.blocked:
            self._request(request.location_id)
        await workflow.wait_condition(
            lambda: (
                self._clinics[request.location_id].status
                in (ClinicStatus.registered, ClinicStatus.blocked)
            )
        )
        return self._clinics[request.location_id]

    @register_clinic.validator
    def _validate_register_clinic(self, request: RegisterClinicRequest) -> None:
        if not request.location_id:
            raise ValueError("location_id is required")

    @workflow.signal
    def retry_clinic(self, request: RegisterClinicRequest) -> None:
        record = self._clinics.get(request.location_id)
        if record is not None and record.status == ClinicStatus.blocked:
            self._request(request.location_id)

    @workflow.update
    async def invite_clinicians(self, request: InviteRequest) -> InviteResult:
        items = []
        for member_id in dict.fromkeys(request.member_ids):
            current = self._clinicians.get(member_id)
            if current is not None and current != "deactivated":
                items.append(InviteItem(member_id=member_id, status="already_invited"))
                continue
            self._clinicians[member_id] = "invited"
            try:
                await workflow.start_child_workflow(
                    ClinicianEnrollmentWorkflow.run,
                    ClinicianEnrollmentInput(
                        workspace_id=self._workspace_id,
                        member_id=member_id,
                        timings=request.timings,
                        setup_workflow_id=workflow.info().workflow_id,
                        generation=ENROLLMENT_GENERATION,
                    ),
                    id=clinician_workflow_id(self._workspace_id, member_id),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                items.append(InviteItem(member_id=member_id, status="already_invited"))
                continue
            items.append(InviteItem(member_id=member_id, status="invited"))
        self._publish()
        return InviteResult(items=items)

    @invite_clinicians.validator
    def _validate_invite(self, request: InviteRequest) -> None:
        if self._state not in ("inviting", "verifying", "ready"):
            raise ApplicationError(
                "Register the clinic with DoseSpot before inviting clinicians",
                {"state": self._state, "allowed_actions": ["register_clinic"]},
                type="ClinicNotRegistered",
                non_retryable=True,
            )
        if not request.member_ids:
            raise ValueError("member_ids must name at least one member")

    @workflow.signal
    def clinician_progress(self, progress: ClinicianProgress) -> None:
        self._clinicians[progress.member_id] = progress.state
        target = setup_stage_for(list(self._clinicians.values()))
        path = {
            ("inviting", "verifying"): ["clinician_verifying"],
            ("inviting", "ready"): ["clinician_verified"],
            ("verifying", "ready"): ["clinician_verified"],
            ("verifying", "inviting"): ["nobody_verifying"],
            ("ready", "inviting"): ["last_verified_clinician_left"],
            ("ready", "verifying"): ["last_verified_clinician_left", "clinician_verifying"],
        }.get((self._state, target), [])
        for event in path:
            self._fire(event)
        self._publish()

    @workflow.query
    def progress(self) -> SetupProgress:
        return SetupProgress(
            workspace_id=self._workspace_id,
            stage=self._state,
            active_step=SETUP_ACTIVE_STEP[self._state],
            steps=setup_steps(self._state),
            clinics=list(self._clinics.values()),
            clinicians=dict(self._clinicians),
            blocked_reason=self._blocked_reason,
            summary=self._summary(),
        )

    # The story's steps ---------------------------------------------------------

    def _request(self, location_id: str) -> None:
        self._clinics[location_id] = ClinicRecord(
            location_id=location_id, status=ClinicStatus.requested
        )
        if location_id not in self._pending:
            self._pending.append(location_id)
        self._fire("start_registration")
        self._publish()

    async def _register(self, location_id: str) -> None:
        self._clinics[location_id] = self._clinics[location_id].model_copy(
            update={"status": ClinicStatus.registering}
        )
        self._publish()
        try:
            record = await policies.call(
                policies.DOSESPOT_SCAN,
                ClinicActivities.ensure_clinic,
                EnsureClinicInput(workspace_id=self._workspace_id, location_id=location_id),
            )
        except ActivityError as err:
            facts = policies.failure_facts(err)
            record = self._clinics[location_id].model_copy(
                update={
                    "status": ClinicStatus.blocked,
                    "blocked_reason": facts.reason,
                    "error_type": facts.error_type,
                    "message": facts.message,
                }
            )
        self._clinics[location_id] = record
        if record.status == ClinicStatus.registered:
            self._fire("clinic_registered")
        else:
            self._fire("registration_failed")
        self._publish()

    # Helpers -------------------------------------------------------------------

    @property
    def _state(self) -> str:
        return str(self._machine.current_state_value)

    @property
    def _blocked_reason(self) -> str | None:
        if self._state != "registration_blocked":
            return None
        for record in self._clinics.values():
            if record.status == ClinicStatus.blocked:
                return record.blocked_reason
        return None

    def _fire(self, event: str) -> None:
        # Registering a second location leaves the workspace's stage where it is.
        if event in {e.id for e in self._machine.allowed_events}:
            try:
                self._machine.send(event)
            except TransitionNotAllowed:
                workflow.logger.warning("transition %s refused in %s", event, self._state)

    def _summary(self) -> str:
        return setup_summary(
            self._state, list(self._clinics.values()), len(self._clinicians), self._blocked_reason
        )

    def _publish(self) -> None:
        """The search attributes and details follow the stage; earlier runs upserted every
        attribute on every call, later ones only those whose value changed."""
        if workflow.patched(PUBLISH_CHANGES_PATCH):
            upsert_changed(
                [
                    (SA_WORKSPACE, self._workspace_id),
                    (SA_STAGE, self._state),
                    (SA_BLOCKED_REASON, self._blocked_reason),
                ]
            )
        else:
            workflow.upsert_search_attributes(
                [
                    SA_WORKSPACE.value_set(self._workspace_id),
                    SA_STAGE.value_set(self._state),
                    SA_BLOCKED_REASON.value_set(self._blocked_reason)
                    if self._blocked_reason
                    else SA_BLOCKED_REASON.value_unset(),
                ]
            )
        workflow.set_current_details(self._summary())
