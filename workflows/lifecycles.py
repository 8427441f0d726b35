"""Legal lifecycles of our workflows as python-statemachine classes.

Pure and deterministic: workflows import this module through
``workflow.unsafe.imports_passed_through()``, drive the machines, and update
validators consult ``allowed_events`` so an illegal request never reaches history.
"""

from __future__ import annotations

from statemachine import State, StateMachine


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
