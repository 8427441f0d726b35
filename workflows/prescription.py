"""Prescription: one prescription written through the API, from pending to the pharmacy.

Workflow id ``erx-rx:{workspace}:{rx_id}``; ids only in the input, the id, the search
attributes and the logs. The prescription's contents stay in the read model, where the
activities read them.

The story: ``save`` puts the draft into DoseSpot as a pending prescription for its
prescriber (looking for it first, so a retry never writes it twice). ``send`` sends it as
the prescriber: a controlled substance through ``sendEpcs`` on the task queue of the API
process that holds the prescriber's PIN and one-time code (the update names that queue and
a nonce, never the codes; see ``activities.prescriptions``). Every send reads DoseSpot's
record first and does not send what DoseSpot already took. Then the status follows
DoseSpot: ``PrescriptionResult`` pushes arrive as ``dosespot_event`` signals, and polling
(``poll_seconds`` doubling to ``poll_max_seconds``) covers lost ones, until a final status
(PharmacyVerified, Error, EpcsError, ...) or, for eRxSent, ``follow_hours``. eRxSent and
PharmacyVerified stay distinct; Error carries DoseSpot's details and can be sent again.

A refused send (a wrong PIN or code, no permission) answers with DoseSpot's words and
leaves the prescription pending; a call that fails for good moves it to ``blocked`` until
``retry``; the workflow never fails for DoseSpot's sake.

The lifecycle is :class:`workflows.lifecycles.PrescriptionLifecycle`. No wait is open-ended:
a prescription waiting on a person (pending, error, to be signed again, blocked) looks itself
up in DoseSpot after ``check_hours``, then after twice as long up to ``check_max_hours``, so
what the prescriber did in DoseSpot's own UI (sent, printed, deleted) is picked up even when
its push was lost, and a blocked step is tried again by itself. A push while it waits is
taken at once. Printing (``printed``) ends it on paper. Pushes are passed on to the
patient's PatientErx workflow, which brings the medication record up to date. A waiting
prescription continues as new past ``history_limit`` events.

Updates:
    save() -> PrescriptionStatus
    send(SendRequest) -> PrescriptionStatus
    cancel() -> PrescriptionStatus
    retry() -> PrescriptionStatus
Signals:
    dosespot_event(DoseSpotEvent)   PrescriptionResult pushes for this prescription
    printed()                       the prescription was printed and marked so in DoseSpot
Queries:
    status() -> PrescriptionStatus
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.prescriptions import (
        EpcsSigningActivities,
        PrescriptionActivities,
        SignatureRequired,
    )
    from erx.temporal import SA_BLOCKED_REASON, SA_STAGE, SA_WORKSPACE
    from workflows import policies
    from workflows.failures import ActionRefused
    from workflows.lifecycles import PRESCRIPTION_WAITING_STATES, PrescriptionLifecycle
    from workflows.models import DOSESPOT_EVENT_SIGNAL, DoseSpotEvent
    from workflows.patient_erx import patient_workflow_id
    from workflows.prescription_models import (
        ERROR_STATUSES,
        FINAL_STATUSES,
        FINISHED_STATES,
        PRESCRIPTION_STATUSES,
        STATES,
        TAKEN_STATUSES,
        CancelInput,
        DoseSpotRefs,
        PrescriptionCarry,
        PrescriptionInput,
        PrescriptionRef,
        PrescriptionSnapshot,
        PrescriptionStatus,
        SendInput,
        SendRequest,
        SendResult,
        StatusInput,
        StatusObservation,
        allowed_actions,
    )
    from workflows.waiting import wait_until

MAX_DETAILS_LENGTH = 1000
# Deadlines on every wait, DoseSpot's UI picked up while waiting, pushes passed on to the
# patient's workflow, continue-as-new.
LIFECYCLE_PATCH = "prescription-waits-have-deadlines"


def prescription_workflow_id(workspace_id: str, rx_id: str) -> str:
    return f"erx-rx:{workspace_id}:{rx_id}"


class PrescriptionActionNotAllowed(ActionRefused):
    """A request that does not fit the prescription's state (HTTP 409)."""

    subject = "prescription"
    allowed = staticmethod(allowed_actions)


@workflow.defn(name="Prescription")
class PrescriptionWorkflow:
    @workflow.init
    def __init__(self, input: PrescriptionInput) -> None:
        carry = input.carry or PrescriptionCarry(state="saving", resume="saving")
        self._input = input
        self._machine = PrescriptionLifecycle(start_value=carry.state)
        self._refs: DoseSpotRefs | None = carry.refs
        self._status: str | None = carry.status
        self._details: str | None = carry.details
        self._refusal: str | None = carry.refusal
        self._blocked_reason: str | None = carry.blocked_reason
        self._message: str | None = carry.message
        self._resume = carry.resume
        self._send: SendRequest | None = None
        self._pushed: StatusObservation | None = None
        self._revision = carry.revision
        self._recorded = carry.revision if input.carry else -1
        self._searchable: tuple[str, str | None] | None = None
        self._check_hours: float | None = carry.check_hours
        self._patched: bool | None = None

    @workflow.run
    async def run(self, input: PrescriptionInput) -> PrescriptionStatus:
        while True:
            await self._publish()
            state = self._state
            if state == "saving":
                await self._save()
            elif state == "sending":
                await self._send_now()
            elif state == "transmitting":
                await self._follow()
            elif state == "cancelling":
                await self._cancel()
            elif state in FINISHED_STATES:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.status()
            elif state in PRESCRIPTION_WAITING_STATES and self._lifecycle_patched:
                await self._wait_on_person(state)
            else:
                await self._until_state_changes(state)

    @property
    def _state(self) -> str:
        return str(self._machine.current_state_value)

    @property
    def _lifecycle_patched(self) -> bool:
        if self._patched is None:
            self._patched = workflow.patched(LIFECYCLE_PATCH)
        return self._patched

    # The story's steps ---------------------------------------------------------

    async def _save(self) -> None:
        refs = await self._guarded(
            "save",
            policies.DOSESPOT_CREATE,
            PrescriptionActivities.save_prescription,
            PrescriptionRef(workspace_id=self._input.workspace_id, rx_id=self._input.rx_id),
        )
        if refs is not None:
            self._refs = refs
            self._status = self._status or "Entered"
            self._move("sending" if self._send is not None else "pending")

    async def _send_now(self) -> None:
        assert self._refs is not None and self._send is not None
        request, self._send = self._send, None
        self._refusal = None
        arg = SendInput(
            workspace_id=self._input.workspace_id,
            rx_id=self._input.rx_id,
            refs=self._refs,
            nonce=request.epcs.nonce if request.epcs else None,
        )
        try:
            if request.epcs is not None:
                result = SendResult.model_validate(
                    await workflow.execute_activity_method(
                        EpcsSigningActivities.send_epcs_prescription,
                        arg,
                        task_queue=request.epcs.task_queue,
                        schedule_to_start_timeout=timedelta(
                            seconds=self._input.timings.epcs_pickup_seconds
                        ),
                        start_to_close_timeout=policies.DOSESPOT.start_to_close,
                        schedule_to_close_timeout=timedelta(minutes=10),
                        retry_policy=RetryPolicy(
                            initial_interval=timedelta(seconds=1),
                            maximum_interval=timedelta(seconds=10),
                            maximum_attempts=5,
                            non_retryable_error_types=[
                                *policies.DOSESPOT_NON_RETRYABLE,
                                SignatureRequired.__name__,
                            ],
                        ),
                    )
                )
            else:
                result = await policies.call(
                    policies.DOSESPOT, PrescriptionActivities.send_prescription, arg
                )
        except ActivityError as err:
            facts = policies.failure_facts(err)
            if request.epcs is not None and facts.error_type in {
                SignatureRequired.__name__,
                "TimeoutError",
            }:
                self._message = "The PIN and one-time code are no longer held: sign again"
                self._move("signature_required")
                return
            self._block("send", facts.reason, facts.message, resume="pending")
            return
        if not result.accepted:
            self._refusal = result.description or "DoseSpot refused the send"
            self._move("error" if self._status in ERROR_STATUSES else "pending")
            return
        self._status = result.status if result.already_taken and result.status else "Sending"
        self._details = None
        self._move("transmitting")

    async def _follow(self) -> None:
        """Follow DoseSpot's status by pushes, polling when none come."""
        timings = self._input.timings
        interval = timings.poll_seconds
        started = workflow.now()
        while self._state == "transmitting":
            if self._pushed is not None:
                observed, self._pushed = self._pushed, None
            else:
                if await wait_until(lambda: self._pushed is not None, interval):
                    continue
                interval = min(interval * 2, timings.poll_max_seconds)
                assert self._refs is not None
                observed = await self._guarded(
                    "follow",
                    policies.DOSESPOT,
                    PrescriptionActivities.prescription_status,
                    StatusInput(refs=self._refs),
                )
                if observed is None:
                    return
            self._observe(observed)
            await self._publish()
            if self._status in FINAL_STATUSES:
                self._move("error" if self._status in ERROR_STATUSES else "sent")
            elif workflow.now() - started >= timedelta(hours=timings.follow_hours):
                self._move("sent")

    async def _cancel(self) -> None:
        if self._refs is not None and self._status != "Deleted":
            await self._guarded(
                "cancel",
                policies.DOSESPOT,
                PrescriptionActivities.cancel_prescription,
                CancelInput(refs=self._refs),
            )
            if self._state == "blocked":
                return
            self._status = "Deleted"
        self._move("cancelled")

    async def _wait_on_person(self, state: str) -> None:
        """Wait for the prescriber or an admin, but never without a deadline: then look the
        prescription up in DoseSpot (or try a blocked step again), waiting twice as long
        next time."""
        timings = self._input.timings
        hours = self._check_hours or timings.check_hours
        if await wait_until(
            lambda: self._state != state or self._continue_as_new_due(), hours * 3600
        ):
            if self._state == state:
                await self._continue_as_new()
            return
        self._check_hours = min(hours * 2, timings.check_max_hours)
        if state == "blocked":
            self._retry_blocked()
            return
        if self._refs is None:
            return
        try:
            observed = await policies.call(
                policies.DOSESPOT,
                PrescriptionActivities.prescription_status,
                StatusInput(refs=self._refs),
            )
        except ActivityError:
            return
        self._taken_elsewhere(observed)

    def _taken_elsewhere(self, observed: StatusObservation) -> None:
        """What DoseSpot says of a prescription that waits on a person: sent, printed,
        deleted or failed in DoseSpot's own UI moves it on; anything else leaves it."""
        status = observed.status
        if status is None or self._state not in ("pending", "error", "signature_required"):
            return
        if status == "Printed":
            self._observe(observed)
            self._move("printed")
        elif status == "Deleted":
            self._observe(observed)
            self._move("cancelled")
        elif status in TAKEN_STATUSES:
            self._pushed = observed
            self._move("transmitting")
        elif status in ERROR_STATUSES and self._state != "error":
            self._observe(observed)
            self._move("error")

    # Updates, signals, queries -------------------------------------------------

    @workflow.update
    async def save(self) -> PrescriptionStatus:
        await workflow.wait_condition(
            lambda: self._state not in ("saving",) and self._read_model_current
        )
        return self.status()

    @save.validator
    def _check_save(self) -> None:
        if self._state not in ("saving", "pending"):
            raise PrescriptionActionNotAllowed("save", self._state)

    @workflow.update
    async def send(self, request: SendRequest) -> PrescriptionStatus:
        self._send = request
        self._refusal = None
        if self._state != "saving":
            self._move("sending")
        await workflow.wait_condition(
            lambda: (
                self._state not in ("saving", "sending")
                and self._send is None
                and self._read_model_current
            )
        )
        return self.status()

    @send.validator
    def _check_send(self, request: SendRequest) -> None:
        if self._status in TAKEN_STATUSES or self._state in ("transmitting", "sent"):
            raise PrescriptionActionNotAllowed(
                "send",
                self._state,
                f"the prescription was already sent (DoseSpot status {self._status})",
            )
        if request.epcs is None and self._input.controlled:
            raise PrescriptionActionNotAllowed(
                "send", self._state, "a controlled substance is sent with the PIN and code"
            )
        if self._state == "saving" and self._send is None:
            return
        if "send" not in allowed_actions(self._state):
            raise PrescriptionActionNotAllowed("send", self._state)

    @workflow.update
    async def cancel(self) -> PrescriptionStatus:
        self._move("cancelling")
        await workflow.wait_condition(
            lambda: self._state in ("cancelled", "blocked") and self._read_model_current
        )
        return self.status()

    @cancel.validator
    def _check_cancel(self) -> None:
        if "cancel" not in allowed_actions(self._state):
            raise PrescriptionActionNotAllowed("cancel", self._state)

    @workflow.update
    async def retry(self) -> PrescriptionStatus:
        self._retry_blocked()
        return self.status()

    def _retry_blocked(self) -> None:
        self._blocked_reason = None
        self._message = None
        self._move(self._resume)

    @retry.validator
    def _check_retry(self) -> None:
        if self._state != "blocked":
            raise PrescriptionActionNotAllowed("retry", self._state)

    @workflow.signal
    async def dosespot_event(self, event: DoseSpotEvent) -> None:
        if event.event_type != "PrescriptionResult":
            return
        raw = event.data.get("PrescriptionStatus")
        status = PRESCRIPTION_STATUSES.get(int(str(raw))) if str(raw).isdecimal() else None
        status = status or (str(raw) if raw in PRESCRIPTION_STATUSES.values() else None)
        if status is None:
            return
        details = event.data.get("StatusDetails")
        observed = StatusObservation(
            status=status, details=str(details)[:MAX_DETAILS_LENGTH] if details else None
        )
        if self._state == "transmitting":
            self._pushed = observed
        elif self._state in ("sent", "error") and status != self._status:
            # A late push (PharmacyVerified after the follow window, or an Error after
            # eRxSent): recorded when the read model is next written.
            self._observe(observed)
        elif self._lifecycle_patched:
            self._taken_elsewhere(observed)
        if self._lifecycle_patched and self._input.client_id:
            await self._tell_patient(event)

    async def _tell_patient(self, event: DoseSpotEvent) -> None:
        """The patient's workflow brings the medication record up to date; a patient whose
        workflow has ended is left alone."""
        assert self._input.client_id is not None
        handle = workflow.get_external_workflow_handle(
            patient_workflow_id(self._input.workspace_id, self._input.client_id)
        )
        try:
            await handle.signal(DOSESPOT_EVENT_SIGNAL, event)
        except FailureError:
            workflow.logger.info("the patient's workflow did not take the push")

    @workflow.signal
    def printed(self) -> None:
        """Printed and marked printed in DoseSpot: the prescription ends on paper."""
        self._taken_elsewhere(StatusObservation(status="Printed"))

    @workflow.query
    def status(self) -> PrescriptionStatus:
        return PrescriptionStatus(
            workspace_id=self._input.workspace_id,
            rx_id=self._input.rx_id,
            state=self._state,
            allowed_actions=allowed_actions(self._state),
            dosespot_prescription_id=self._refs.prescription_id if self._refs else None,
            dosespot_status=self._status,
            status_details=self._details,
            refusal=self._refusal,
            blocked_reason=self._blocked_reason,
            message=self._message,
            summary=self._summary(),
        )

    # Helpers -------------------------------------------------------------------

    async def _until_state_changes(self, state: str) -> None:
        await workflow.wait_condition(lambda: self._state != state)

    def _observe(self, observed: StatusObservation) -> None:
        if observed.status is None:
            return
        if observed.status != self._status or observed.details:
            self._status = observed.status
            if observed.details or observed.status not in ERROR_STATUSES:
                self._details = observed.details
            self._revision += 1

    def _move(self, state: str) -> None:
        if state != "blocked":
            self._blocked_reason = None
        if state not in ("signature_required", "blocked"):
            self._message = None
        if state != self._state:
            self._machine.send(f"to_{state}")
            self._check_hours = None
        self._revision += 1

    def _block(self, step: str, reason: str, message: str, *, resume: str) -> None:
        self._blocked_reason = reason
        self._message = message
        self._resume = resume
        self._move("blocked")

    @property
    def _read_model_current(self) -> bool:
        return self._recorded == self._revision

    async def _guarded(self, step: str, policy: Any, activity: Any, arg: Any) -> Any:
        """Run a DoseSpot activity; a failure for good blocks the prescription (None)."""
        try:
            return await policies.call(policy, activity, arg)
        except ActivityError as err:
            facts = policies.failure_facts(err)
            self._block(step, facts.reason, facts.message, resume=self._state)
            return None

    def _summary(self) -> str:
        text = STATES[self._state]
        if self._status:
            text += f"; DoseSpot: {self._status}"
        if self._blocked_reason:
            text += f"; {self._blocked_reason}"
        return text

    async def _publish(self) -> None:
        if self._recorded == self._revision:
            return
        revision = self._revision
        searchable = (self._state, self._blocked_reason)
        if searchable != self._searchable:
            # Search attributes only when what they say changes.
            workflow.upsert_search_attributes(
                [
                    SA_WORKSPACE.value_set(self._input.workspace_id),
                    SA_STAGE.value_set(self._state),
                    SA_BLOCKED_REASON.value_set(self._blocked_reason)
                    if self._blocked_reason
                    else SA_BLOCKED_REASON.value_unset(),
                ]
            )
            self._searchable = searchable
        workflow.set_current_details(self._summary())
        await policies.call_local(
            policies.RECORD,
            PrescriptionActivities.record_prescription,
            PrescriptionSnapshot(
                workspace_id=self._input.workspace_id,
                rx_id=self._input.rx_id,
                state=self._state,
                dosespot_prescription_id=self._refs.prescription_id if self._refs else None,
                dosespot_patient_id=self._refs.patient_id if self._refs else None,
                dosespot_status=self._status,
                status_details=self._details,
                status_at=workflow.now(),
                blocked_reason=self._blocked_reason,
                message=self._refusal or self._message,
                revision=revision,
            ),
        )
        self._recorded = revision

    def _continue_as_new_due(self) -> bool:
        if not self._lifecycle_patched:
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.timings.history_limit
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._publish()
        workflow.continue_as_new(
            self._input.model_copy(
                update={
                    "carry": PrescriptionCarry(
                        state=self._state,
                        resume=self._resume,
                        refs=self._refs,
                        status=self._status,
                        details=self._details,
                        refusal=self._refusal,
                        blocked_reason=self._blocked_reason,
                        message=self._message,
                        revision=self._revision,
                        check_hours=self._check_hours,
                    )
                }
            )
        )
