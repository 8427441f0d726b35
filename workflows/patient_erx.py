"""PatientErx: one client as a DoseSpot patient, and their medication record kept in step.

Workflow id ``erx-patient:{workspace}:{client}``; lives while the client is a patient.
Nothing about the client is in the id, the search attributes or the logs; the
registration details travel only in encrypted payloads.

The story: a registration request looks the patient up in DoseSpot before it creates
one (a retry, a crash or a concurrent request never makes a twin) and updates the
DoseSpot patient on every later request. Once registered, the medication record
(prescriptions, self-reported medications, renewal requests, pharmacies) is pulled
from DoseSpot into the read model when the EHR asks (the prescribing session closed),
when a push notification for the patient arrives, and by a reconciliation poll every
``reconcile_interval_seconds`` for ``reconcile_window_hours`` after the last activity,
so a lost push is caught within one interval. A pull is DoseSpot's current truth,
so duplicated or reordered pushes change nothing but cause another pull.

Like every long-lived workflow here, a call that fails for good moves the patient to
``blocked`` (reason, error type, DoseSpot's message) until ``retry``; the run
continues-as-new after ``continue_as_new_after_events`` events.

Updates:
    register(PatientRegistrationRequest) -> PatientErxStatus
        Register or update in DoseSpot; answers once registered or blocked.
    sync() -> PatientErxStatus
        Pull the medication record now; answers when it is in the read model.
    retry() -> PatientErxStatus
Signals:
    dosespot_event(DoseSpotEvent)   push notifications for this patient
Queries:
    status() -> PatientErxStatus
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.patients import PatientActivities
    from erx.temporal import SA_BLOCKED_REASON, SA_STAGE, SA_WORKSPACE
    from workflows import policies
    from workflows.failures import ActionRefused
    from workflows.lifecycles import (
        PATIENT_STATE_NAMES,
        PatientLifecycle,
        patient_allowed_actions,
    )
    from workflows.models import Blocked, DoseSpotEvent
    from workflows.patient_models import (
        EnsurePatientInput,
        PatientCarry,
        PatientErxInput,
        PatientErxStatus,
        PatientRegistrationRequest,
        PatientSnapshot,
        SyncPatientInput,
    )
    from workflows.waiting import wait_until


# The latest prescriptions' failure details kept (DoseSpot sends them only in pushes).
MAX_STATUS_DETAILS = 50
MAX_DETAILS_LENGTH = 500


def patient_workflow_id(workspace_id: str, client_id: str) -> str:
    return f"erx-patient:{workspace_id}:{client_id}"


class PatientActionNotAllowed(ActionRefused):
    """An update that does not fit the patient's state (HTTP 409)."""

    subject = "patient"
    allowed = staticmethod(patient_allowed_actions)


@workflow.defn(name="PatientErx")
class PatientErxWorkflow:
    @workflow.init
    def __init__(self, input: PatientErxInput) -> None:
        self._input = input
        carry = input.carried or PatientCarry(state="unregistered")
        self._machine = PatientLifecycle(start_value=carry.state)
        self._request = carry.request
        self._registration_pending = carry.registration_pending
        self._patient_id = carry.dosespot_patient_id
        self._clinic_id = carry.dosespot_clinic_id
        self._blocked = carry.blocked
        self._sync_requested = carry.sync_requested
        self._last_activity = carry.last_activity
        self._last_synced = carry.last_synced
        self._status_details = dict(carry.status_details)
        # Sync requests are numbered; a sync covers every request made before it started.
        self._sync_requests = 0
        self._synced_through = 0
        self._continuing = False
        self._published: tuple[str, str | None, datetime | None] | None = None
        # What the read model holds: updates answer only once it shows their outcome.
        self._recorded: tuple[str, str | None, datetime | None] | None = None

    @workflow.run
    async def run(self, input: PatientErxInput) -> None:
        while True:
            await self._publish()
            if self._continue_as_new_due():
                await self._continue_as_new()
            state = self._state
            if state == "registering":
                await self._register()
            elif state == "registered" and self._sync_requested:
                await self._sync()
            elif state == "registered":
                await self._until_work_or_reconcile()
            else:
                await self._until_state_changes(state)

    # The story's steps ---------------------------------------------------------

    async def _register(self) -> None:
        assert self._request is not None
        self._registration_pending = False
        request = self._request
        patient_id = await self._guarded(
            "registration",
            PatientActivities.ensure_patient,
            EnsurePatientInput(
                workspace_id=self._input.workspace_id,
                client_id=self._input.client_id,
                request=request,
                dosespot_patient_id=self._patient_id
                if self._clinic_id == request.dosespot_clinic_id
                else None,
            ),
        )
        if patient_id is None:
            return
        self._patient_id = patient_id
        self._clinic_id = request.dosespot_clinic_id
        if self._registration_pending:
            # Another request came in meanwhile: register its details too.
            return
        self._machine.send("registration_done")
        self._sync_requested = True

    async def _sync(self) -> None:
        assert self._patient_id is not None and self._clinic_id is not None
        self._sync_requested = False
        covers = self._sync_requests
        summary = await self._guarded(
            "sync",
            PatientActivities.sync_patient,
            SyncPatientInput(
                workspace_id=self._input.workspace_id,
                client_id=self._input.client_id,
                dosespot_clinic_id=self._clinic_id,
                dosespot_patient_id=self._patient_id,
                status_details=self._status_details,
            ),
        )
        if summary is None:
            return
        self._last_synced = summary.synced_at
        self._synced_through = covers

    async def _until_work_or_reconcile(self) -> None:
        """Wait for a sync request or a push; poll DoseSpot while activity is recent."""
        wake: Callable[[], bool] = lambda: (  # noqa: E731
            self._sync_requested or self._state != "registered" or self._continue_as_new_due()
        )
        timings = self._input.timings
        recent_until = (
            self._last_activity + timedelta(hours=timings.reconcile_window_hours)
            if self._last_activity
            else None
        )
        if recent_until is None or workflow.now() >= recent_until:
            await workflow.wait_condition(wake)
            return
        remaining = (recent_until - workflow.now()).total_seconds()
        if not await wait_until(wake, min(timings.reconcile_interval_seconds, remaining)):
            self._sync_requested = True

    # Updates, signals, queries -------------------------------------------------

    @workflow.update
    async def register(self, request: PatientRegistrationRequest) -> PatientErxStatus:
        self._request = request
        self._registration_pending = True
        self._blocked = None
        self._last_activity = workflow.now()
        if self._state != "registering":
            self._machine.send("register")
        await workflow.wait_condition(
            lambda: (
                (
                    self._state in ("registered", "blocked")
                    and not self._registration_pending
                    and self._read_model_current
                )
                or self._continuing
            )
        )
        return self.status()

    @register.validator
    def _check_register(self, request: PatientRegistrationRequest) -> None:
        if self._state != "registering" and "register" not in self._events:
            raise PatientActionNotAllowed("register", self._state)

    @workflow.update
    async def sync(self) -> PatientErxStatus:
        self._sync_requested = True
        self._last_activity = workflow.now()
        self._sync_requests += 1
        mine = self._sync_requests
        await workflow.wait_condition(
            lambda: (
                (
                    (self._synced_through >= mine or self._state != "registered")
                    and self._read_model_current
                )
                or self._continuing
            )
        )
        return self.status()

    @sync.validator
    def _check_sync(self) -> None:
        if self._state != "registered":
            raise PatientActionNotAllowed("sync", self._state)

    @workflow.update
    async def retry(self) -> PatientErxStatus:
        blocked = self._blocked
        assert blocked is not None
        self._blocked = None
        self._machine.send("retry", resume_to=blocked.resume_state)
        if blocked.step == "sync":
            self._sync_requested = True
        return self.status()

    @retry.validator
    def _check_retry(self) -> None:
        if self._state != "blocked" or self._blocked is None:
            raise PatientActionNotAllowed("retry", self._state)

    @workflow.signal
    def dosespot_event(self, event: DoseSpotEvent) -> None:
        """Any push about this patient means DoseSpot changed something: pull again."""
        self._last_activity = workflow.now()
        details = event.data.get("StatusDetails")
        prescription = str(event.data.get("PrescriptionId", ""))
        if (
            event.event_type == "PrescriptionResult"
            and details
            and prescription.isascii()
            and prescription.isdecimal()
        ):
            self._status_details[int(prescription)] = str(details)[:MAX_DETAILS_LENGTH]
            while len(self._status_details) > MAX_STATUS_DETAILS:
                self._status_details.pop(next(iter(self._status_details)))
        if self._state == "registered":
            self._sync_requested = True

    @workflow.query
    def status(self) -> PatientErxStatus:
        return PatientErxStatus(
            workspace_id=self._input.workspace_id,
            client_id=self._input.client_id,
            state=self._state,
            allowed_actions=patient_allowed_actions(self._state),
            dosespot_patient_id=self._patient_id,
            dosespot_clinic_id=self._clinic_id,
            blocked=self._blocked,
            last_synced=self._last_synced,
            summary=self._summary(),
        )

    # Helpers -------------------------------------------------------------------

    @property
    def _read_model_current(self) -> bool:
        reason = self._blocked.reason if self._blocked else None
        return self._recorded == (self._state, reason, self._last_synced)

    async def _until_state_changes(self, state: str) -> None:
        await workflow.wait_condition(lambda: self._state != state or self._continue_as_new_due())

    @property
    def _state(self) -> str:
        return str(self._machine.current_state_value)

    @property
    def _events(self) -> set[str]:
        return {e.id for e in self._machine.allowed_events}

    async def _guarded(self, step: str, activity: Any, arg: Any) -> Any:
        """Run a DoseSpot activity; a failure for good blocks the patient (returns None)."""
        try:
            return await policies.call(policies.DOSESPOT_CREATE, activity, arg)
        except ActivityError as err:
            facts = policies.failure_facts(err)
            self._blocked = Blocked(
                step=step,
                resume_state=self._state,
                reason=facts.reason,
                error_type=facts.error_type,
                message=facts.message,
                since=workflow.now(),
            )
            self._registration_pending = False
            self._machine.send("block")
            return None

    def _summary(self) -> str:
        text = PATIENT_STATE_NAMES[self._state]
        if self._blocked:
            text += f"; {self._blocked.step}: {self._blocked.reason}"
            if self._blocked.error_type:
                text += f" ({self._blocked.error_type})"
        if self._last_synced:
            text += f"; synced {self._last_synced:%Y-%m-%d %H:%M} UTC"
        return text

    async def _publish(self) -> None:
        """Search attributes follow the state; details and the read model follow the
        state, the blocked reason and the last sync."""
        reason = self._blocked.reason if self._blocked else None
        published = (self._state, reason, self._last_synced)
        if published == self._published:
            return
        if self._published is None or self._published[:2] != published[:2]:
            workflow.upsert_search_attributes(
                [
                    SA_WORKSPACE.value_set(self._input.workspace_id),
                    SA_STAGE.value_set(self._state),
                    SA_BLOCKED_REASON.value_set(reason)
                    if reason
                    else SA_BLOCKED_REASON.value_unset(),
                ]
            )
        self._published = published
        workflow.set_current_details(self._summary())
        await policies.call(
            policies.RECORD,
            PatientActivities.record_patient,
            PatientSnapshot(
                workspace_id=self._input.workspace_id,
                client_id=self._input.client_id,
                state=self._state,
                dosespot_patient_id=self._patient_id,
                dosespot_clinic_id=self._clinic_id,
                blocked_reason=reason,
                message=self._blocked.message if self._blocked else None,
                last_synced_at=self._last_synced,
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
                    "carried": PatientCarry(
                        state=self._state,
                        request=self._request,
                        registration_pending=self._registration_pending,
                        dosespot_patient_id=self._patient_id,
                        dosespot_clinic_id=self._clinic_id,
                        blocked=self._blocked,
                        sync_requested=self._sync_requested,
                        last_activity=self._last_activity,
                        last_synced=self._last_synced,
                        status_details=self._status_details,
                    )
                }
            )
        )
