"""The lifecycle of a renewal (refill) request, pure and deterministic.

Imported by the workflow through ``workflow.unsafe.imports_passed_through()``; the
workflow's update validators consult ``allowed_events``.
"""

from __future__ import annotations

from statemachine import State, StateMachine

from workflows.lifecycles import events_by_state


class RenewalLifecycle(StateMachine):
    """A pharmacy's renewal request waiting for its prescriber's answer."""

    pending = State("Waiting for the prescriber", initial=True)
    approving = State("Sending the approval to DoseSpot")
    denying = State("Sending the denial to DoseSpot")
    blocked = State("Blocked")
    approved = State("Approved", final=True)
    denied = State("Denied", final=True)
    decided_in_dosespot = State("Answered in DoseSpot", final=True)
    expired = State("Expired", final=True)

    approve = pending.to(approving) | blocked.to(approving)
    deny = pending.to(denying) | blocked.to(denying)
    sent = approving.to(approved) | denying.to(denied)
    block = approving.to(blocked) | denying.to(blocked)
    retry = blocked.to(approving, cond="was_approving") | blocked.to(denying, cond="was_denying")
    closed_in_dosespot = (
        pending.to(decided_in_dosespot)
        | approving.to(decided_in_dosespot)
        | denying.to(decided_in_dosespot)
        | blocked.to(decided_in_dosespot)
    )
    expire = pending.to(expired) | blocked.to(expired)

    def was_approving(self, resume_to: str = "") -> bool:
        return resume_to == "approving"

    def was_denying(self, resume_to: str = "") -> bool:
        return resume_to == "denying"


RENEWAL_STATE_NAMES = {state.id: state.name for state in RenewalLifecycle.states}
RENEWAL_FINAL_STATES = frozenset(state.id for state in RenewalLifecycle.states if state.final)
RENEWAL_ACTIONS = ("approve", "deny", "retry")


RENEWAL_EVENTS = events_by_state(RenewalLifecycle)


def renewal_allowed_actions(state: str) -> list[str]:
    events = RENEWAL_EVENTS[state]
    return [action for action in RENEWAL_ACTIONS if action in events]
