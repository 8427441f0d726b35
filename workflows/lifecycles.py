"""Legal lifecycles of our workflows as python-statemachine classes.

Pure and deterministic: workflows import this module through
``workflow.unsafe.imports_passed_through()``, drive the machines, and update
validators consult ``allowed_events`` so an illegal request never reaches history.
"""

from __future__ import annotations

from statemachine import State, StateMachine

from workflows.models import SetupStep, StepState


class ClinicSetupLifecycle(StateMachine):
    """A workspace's way to "Ready to prescribe" (the four steps the EHR shows)."""

    no_clinic = State("Create workspace", initial=True)
    registering = State("Registering clinic")
    registration_blocked = State("Clinic registration blocked")
    inviting = State("Invite clinicians")
    verifying = State("Clinicians verify")
    ready = State("Ready to prescribe")

    start_registration = no_clinic.to(registering) | registration_blocked.to(registering)
    clinic_registered = registering.to(inviting) | registration_blocked.to(inviting)
    registration_failed = registering.to(registration_blocked)
    clinician_verifying = inviting.to(verifying)
    clinician_verified = inviting.to(ready) | verifying.to(ready)
    last_verified_clinician_left = ready.to(inviting)
    nobody_verifying = verifying.to(inviting)


SETUP_STEPS = ("Create workspace", "Invite clinicians", "Clinicians verify", "Ready to prescribe")

# The step each lifecycle state shows as active; steps before it are done.
SETUP_ACTIVE_STEP = {
    "no_clinic": 1,
    "registering": 1,
    "registration_blocked": 1,
    "inviting": 2,
    "verifying": 3,
    "ready": 4,
}


def setup_steps(stage: str) -> list[SetupStep]:
    """The four steps as the EHR shows them for a ClinicSetup stage."""
    active = SETUP_ACTIVE_STEP[stage]
    done_through = len(SETUP_STEPS) if stage == "ready" else active - 1

    def state(number: int) -> StepState:
        if number <= done_through:
            return StepState.done
        return StepState.active if number == active else StepState.pending

    return [
        SetupStep(number=n, name=name, state=state(n))
        for n, name in enumerate(SETUP_STEPS, start=1)
    ]


class ClinicianLifecycle(StateMachine):
    """One clinician, from invitation to EPCS-enabled prescriber, and out again."""

    invited = State("Invited", initial=True)
    enrolling = State("Registering with DoseSpot")
    awaiting_confirmation = State("Waiting for DoseSpot confirmation")
    registration_failed = State("DoseSpot registration failed")
    confirmed = State("Ready to verify")
    verifying = State("Verifying identity")
    verification_expired = State("Verification expired")
    verified = State("Verified")
    tfa_pending = State("Activating two-factor")
    tfa_active = State("Two-factor active")
    epcs_enabled = State("EPCS enabled")
    # A call failed for good (DoseSpot refused, data missing): an admin retries.
    blocked = State("Blocked")
    # A wait on DoseSpot or the clinician passed its deadline: an admin retries.
    stalled = State("Stalled")
    deactivated = State("Deactivated", final=True)

    submit_enrollment = invited.to(enrolling) | registration_failed.to(enrolling)
    registered = enrolling.to(awaiting_confirmation)
    registration_error = enrolling.to(registration_failed) | awaiting_confirmation.to(
        registration_failed
    )
    confirm = awaiting_confirmation.to(confirmed)
    start_verification = confirmed.to(verifying) | verifying.to.itself()
    verification_succeeded = verifying.to(verified)
    verification_window_expired = verifying.to(verification_expired)
    restart_verification = verification_expired.to(verifying)
    start_two_factor = verified.to(tfa_pending) | tfa_pending.to.itself()
    two_factor_activated = tfa_pending.to(tfa_active)
    two_factor_failed = tfa_pending.to(verified)
    approve_epcs = tfa_active.to.itself()
    grant_epcs = tfa_active.to(epcs_enabled)
    block = (
        invited.to(blocked)
        | enrolling.to(blocked)
        | awaiting_confirmation.to(blocked)
        | confirmed.to(blocked)
        | verifying.to(blocked)
        | verification_expired.to(blocked)
        | verified.to(blocked)
        | tfa_pending.to(blocked)
        | tfa_active.to(blocked)
        | epcs_enabled.to(blocked)
        | registration_failed.to(blocked)
    )
    stall = awaiting_confirmation.to(stalled) | verifying.to(stalled) | tfa_pending.to(stalled)
    # Back to the state the failed step belongs to (``resume_to``); a refused
    # registration is submitted again with the same form.
    retry = (
        registration_failed.to(enrolling)
        | blocked.to(invited, cond="resuming")
        | blocked.to(enrolling, cond="resuming")
        | blocked.to(awaiting_confirmation, cond="resuming")
        | blocked.to(confirmed, cond="resuming")
        | blocked.to(verifying, cond="resuming")
        | blocked.to(verification_expired, cond="resuming")
        | blocked.to(verified, cond="resuming")
        | blocked.to(tfa_pending, cond="resuming")
        | blocked.to(tfa_active, cond="resuming")
        | blocked.to(epcs_enabled, cond="resuming")
        | blocked.to(registration_failed, cond="resuming")
        | stalled.to(awaiting_confirmation, cond="resuming")
        | stalled.to(verifying, cond="resuming")
        | stalled.to(tfa_pending, cond="resuming")
    )
    deactivate = (
        invited.to(deactivated)
        | enrolling.to(deactivated)
        | awaiting_confirmation.to(deactivated)
        | registration_failed.to(deactivated)
        | confirmed.to(deactivated)
        | verifying.to(deactivated)
        | verification_expired.to(deactivated)
        | verified.to(deactivated)
        | tfa_pending.to(deactivated)
        | tfa_active.to(deactivated)
        | epcs_enabled.to(deactivated)
        | blocked.to(deactivated)
        | stalled.to(deactivated)
    )

    def resuming(self, target: State, resume_to: str = "") -> bool:
        return bool(target.id == resume_to)


# What the EHR may ask of a clinician in each state, by the update that asks it.
CLINICIAN_ACTIONS = {
    "submit_enrollment": "submit_enrollment",
    "start_verification": "start_verification",
    "restart_verification": "restart_verification",
    "start_two_factor": "start_two_factor",
    "approve_epcs": "approve_epcs",
    "retry": "retry",
    "deactivate": "deactivate",
}


def events_by_state(lifecycle: type[StateMachine]) -> dict[str, frozenset[str]]:
    """The events each state of ``lifecycle`` allows, worked out once at import: building a
    machine costs more than a workflow's status (read on every workflow task) should."""
    return {
        state.id: frozenset(e.id for e in lifecycle(start_value=state.id).allowed_events)
        for state in lifecycle.states
    }


CLINICIAN_EVENTS = events_by_state(ClinicianLifecycle)


def allowed_actions(state: str) -> list[str]:
    events = CLINICIAN_EVENTS[state]
    return [action for action, event in CLINICIAN_ACTIONS.items() if event in events]


CLINICIAN_STATE_NAMES = {state.id: state.name for state in ClinicianLifecycle.states}
VERIFYING_STATES = {"verifying", "verification_expired"}
VERIFIED_STATES = {"verified", "tfa_pending", "tfa_active", "epcs_enabled"}


def setup_stage_for(clinician_states: list[str]) -> str:
    """The workspace step the clinicians' states call for, once a clinic is registered."""
    if any(s in VERIFIED_STATES for s in clinician_states):
        return "ready"
    if any(s in VERIFYING_STATES for s in clinician_states):
        return "verifying"
    return "inviting"


class PatientLifecycle(StateMachine):
    """A client's registration in DoseSpot, kept up to date while they are a patient."""

    unregistered = State("Not registered", initial=True)
    registering = State("Registering with DoseSpot")
    registered = State("Registered")
    blocked = State("Blocked")

    register = unregistered.to(registering) | registered.to(registering) | blocked.to(registering)
    registration_done = registering.to(registered)
    block = registering.to(blocked) | registered.to(blocked)
    retry = blocked.to(registering, cond="was_registering") | blocked.to(
        registered, cond="was_registered"
    )

    def was_registering(self, resume_to: str = "") -> bool:
        return resume_to == "registering"

    def was_registered(self, resume_to: str = "") -> bool:
        return resume_to == "registered"


PATIENT_STATE_NAMES = {state.id: state.name for state in PatientLifecycle.states}
PATIENT_ACTIONS = {"register": "register", "retry": "retry", "sync": "sync"}


PATIENT_EVENTS = events_by_state(PatientLifecycle)


def patient_allowed_actions(state: str) -> list[str]:
    events = PATIENT_EVENTS[state]
    actions = [a for a, e in PATIENT_ACTIONS.items() if e in events]
    if state == "registered":
        actions.append("sync")
    return actions


class PrescriptionLifecycle(StateMachine):
    """One prescription written through the API, from pending in DoseSpot to the pharmacy
    (or to paper). Each event is named by the state it leads to."""

    saving = State("Saving in DoseSpot", initial=True)
    pending = State("Pending in DoseSpot for the prescriber")
    sending = State("Sending")
    transmitting = State("Sent; following DoseSpot's status")
    sent = State("Sent", final=True)
    error = State("Error")
    signature_required = State("Must be signed again")
    cancelling = State("Cancelling")
    cancelled = State("Cancelled", final=True)
    printed = State("Printed", final=True)
    # A call failed for good (DoseSpot refused, data missing): retried by an admin, or by
    # itself after a while.
    blocked = State("Blocked")

    to_pending = saving.to(pending) | sending.to(pending) | blocked.to(pending)
    to_sending = (
        saving.to(sending)
        | pending.to(sending)
        | error.to(sending)
        | signature_required.to(sending)
    )
    # Sent by us, or (taken in DoseSpot's own UI) from any state that waits on a person.
    to_transmitting = (
        sending.to(transmitting)
        | blocked.to(transmitting)
        | pending.to(transmitting)
        | error.to(transmitting)
        | signature_required.to(transmitting)
    )
    to_sent = transmitting.to(sent)
    # Failed at DoseSpot: sent by us, or in DoseSpot's own UI while it waited.
    to_error = (
        sending.to(error)
        | transmitting.to(error)
        | pending.to(error)
        | signature_required.to(error)
    )
    to_signature_required = sending.to(signature_required)
    to_cancelling = (
        pending.to(cancelling)
        | error.to(cancelling)
        | signature_required.to(cancelling)
        | blocked.to(cancelling)
    )
    # Cancelled by us, or deleted in DoseSpot's own UI while it waited.
    to_cancelled = (
        cancelling.to(cancelled)
        | pending.to(cancelled)
        | error.to(cancelled)
        | signature_required.to(cancelled)
    )
    to_printed = pending.to(printed) | error.to(printed) | signature_required.to(printed)
    to_blocked = (
        saving.to(blocked) | sending.to(blocked) | transmitting.to(blocked) | cancelling.to(blocked)
    )
    to_saving = blocked.to(saving)


# States of a prescription that wait on a person (its prescriber, or an admin).
PRESCRIPTION_WAITING_STATES = frozenset({"pending", "error", "signature_required", "blocked"})
