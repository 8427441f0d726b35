"""The legal lifecycle of a clinician's billing subscription (python-statemachine).

Pure and deterministic: the ClinicianBilling workflow imports it through
``workflow.unsafe.imports_passed_through()`` and drives it.
"""

from __future__ import annotations

from statemachine import State, StateMachine


class BillingLifecycle(StateMachine):
    """Active until a charge fails for good (past_due) or the clinician is deactivated."""

    active = State("Active", initial=True)
    past_due = State("Past due")
    deactivated = State("Deactivated")

    charged = active.to.itself() | past_due.to(active)
    charge_failed = active.to(past_due) | past_due.to.itself()
    deactivate = active.to(deactivated) | past_due.to(deactivated)
    reactivate = deactivated.to(active)
