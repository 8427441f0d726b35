"""The actions a status offers in each state are the lifecycle's own allowed events, worked
out once at import rather than by building a machine on every status read."""

from __future__ import annotations

import pytest
from statemachine import StateMachine

from workflows.lifecycles import (
    CLINICIAN_ACTIONS,
    ClinicianLifecycle,
    PatientLifecycle,
    allowed_actions,
    patient_allowed_actions,
)
from workflows.renewal_lifecycle import RENEWAL_ACTIONS, RenewalLifecycle, renewal_allowed_actions


def fresh_events(lifecycle: type[StateMachine], state: str) -> set[str]:
    return {e.id for e in lifecycle(start_value=state).allowed_events}


@pytest.mark.parametrize("state", [s.id for s in ClinicianLifecycle.states])
def test_a_clinicians_actions_are_its_states_events(state: str) -> None:
    events = fresh_events(ClinicianLifecycle, state)
    assert allowed_actions(state) == [a for a, e in CLINICIAN_ACTIONS.items() if e in events]


@pytest.mark.parametrize("state", [s.id for s in RenewalLifecycle.states])
def test_a_renewals_actions_are_its_states_events(state: str) -> None:
    events = fresh_events(RenewalLifecycle, state)
    assert renewal_allowed_actions(state) == [a for a in RENEWAL_ACTIONS if a in events]


@pytest.mark.parametrize("state", [s.id for s in PatientLifecycle.states])
def test_a_patients_actions_are_its_states_events(state: str) -> None:
    events = fresh_events(PatientLifecycle, state)
    actions = patient_allowed_actions(state)
    assert set(actions) - {"sync"} <= events
    assert ("register" in actions) == ("register" in events)


def test_the_answer_is_a_list_of_its_own() -> None:
    actions = allowed_actions("invited")
    actions.append("something else")
    assert "something else" not in allowed_actions("invited")
    assert allowed_actions("verified")
