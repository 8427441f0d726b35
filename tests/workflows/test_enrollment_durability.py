"""ClinicianEnrollment and IdentityProofing live for years: they never fail on DoseSpot's
answer, never outgrow their history, and never write a side effect twice.

On the time-skipping server, DoseSpot scripted (see test_clinician_enrollment.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from api.clinician_service import UpdateRefused, require_controlled_substance_permission
from erx.settings import Settings
from erx.temporal import SA_BLOCKED_REASON
from tests.conftest import time_skipping_env
from tests.workflows.test_clinician_enrollment import (
    ADMIN,
    DEA_PRESCRIBER,
    FORM,
    TIMINGS,
    ScriptedDoseSpot,
    enrollment,
    settle,
    state,
    verify,
)
from workflows.clinician_enrollment import CONTROLLED_SUBSTANCE_REFUSAL, ClinicianEnrollmentWorkflow
from workflows.models import ActorRequest, ClinicianStatus, DoseSpotEvent, EnrollmentOutcome


@pytest.fixture
async def time_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test: its clock only moves forward."""
    async with time_skipping_env(settings) as env:
        yield env


@pytest.fixture
def dosespot() -> ScriptedDoseSpot:
    return ScriptedDoseSpot()


NON_RETRYABLE = [
    ("DoseSpotRefused", "dosespot_refused"),
    ("DoseSpotValidationError", "dosespot_rejected_data"),
    ("DoseSpotAuthError", "dosespot_credentials"),
    ("DoseSpotNotFound", "dosespot_not_found"),
    ("DoseSpotUnexpectedResponse", "dosespot_unexpected_response"),
    ("UnknownRegistrationStatus", "dosespot_unexpected_response"),
    ("ClinicNotRegistered", "clinic_not_registered"),
]


def refusal(error_type: str, message: str = "DoseSpot said no") -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


async def status(handle: WorkflowHandle[Any, Any]) -> ClinicianStatus:
    return await handle.query(ClinicianEnrollmentWorkflow.status)


async def until_state(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], wanted: str, step: timedelta
) -> ClinicianStatus:
    for _ in range(60):
        current = await status(handle)
        if current.state == wanted:
            return current
        await env.sleep(step)
    raise AssertionError(f"never reached {wanted}: {current}")


async def assert_blocked(
    handle: WorkflowHandle[Any, Any], step: str, reason: str, error_type: str | None
) -> ClinicianStatus:
    current = await status(handle)
    assert current.blocked is not None, current
    assert current.blocked.step == step
    assert current.blocked.reason == reason
    assert current.blocked.error_type == error_type
    assert "retry" in current.allowed_actions
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.typed_search_attributes.get(SA_BLOCKED_REASON) == reason
    return current


async def retry(handle: WorkflowHandle[Any, Any]) -> ClinicianStatus:
    return await handle.execute_update(
        ClinicianEnrollmentWorkflow.retry, ActorRequest(actor_member_id="m_admin")
    )


async def confirmed(
    env: WorkflowEnvironment, dosespot: ScriptedDoseSpot, handle: WorkflowHandle[Any, Any]
) -> None:
    result = await settle(env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
    assert result.outcome == EnrollmentOutcome.confirmed


async def tfa_active(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
    await handle.execute_update(ClinicianEnrollmentWorkflow.start_two_factor, ActorRequest())
    await until_state(env, handle, "tfa_active", timedelta(minutes=2))


@pytest.mark.parametrize(("error_type", "reason"), NON_RETRYABLE)
async def test_each_refusal_while_confirming_blocks_and_retry_resumes(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot, error_type: str, reason: str
) -> None:
    dosespot.confirm_after_polls = 1
    dosespot.fail("clinician_registration_status", refusal(error_type, f"{error_type} text"))
    async with enrollment(time_env, dosespot) as handle:
        result = await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        assert result.outcome == EnrollmentOutcome.blocked
        current = await assert_blocked(handle, "confirmation", reason, error_type)
        assert current.state == "blocked"
        assert current.blocked is not None
        assert current.blocked.message == f"{error_type} text"
        assert current.blocked.resume_state == "awaiting_confirmation"
        assert f"confirmation: {reason}" in current.summary

        resumed = await retry(handle)
        assert resumed.state == "awaiting_confirmation"
        assert resumed.blocked is None
        await until_state(time_env, handle, "confirmed", timedelta(minutes=1))
        assert (await handle.describe()).typed_search_attributes.get(SA_BLOCKED_REASON) is None
        assert dosespot.creates == 1


async def test_refused_registration_is_retried_with_the_same_form(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.fail("register_clinician", refusal("DoseSpotValidationError", "NPI is invalid"))
    async with enrollment(time_env, dosespot) as handle:
        result = await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        assert result.outcome == EnrollmentOutcome.registration_failed
        assert result.message == "NPI is invalid"
        current = await status(handle)
        assert current.state == "registration_failed"
        assert current.blocked is not None and current.blocked.step == "registration"
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert current.allowed_actions == ["submit_enrollment", "retry", "deactivate"]

        await retry(handle)
        await until_state(time_env, handle, "confirmed", timedelta(minutes=1))
        assert dosespot.creates == 1


async def test_invitation_email_to_a_missing_member_blocks_until_retried(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.fail("send_member_email", refusal("MemberNotFound", "the member does not exist"))
    async with enrollment(time_env, dosespot) as handle:
        current = await until_state(time_env, handle, "blocked", timedelta(seconds=5))
        await assert_blocked(handle, "email:invitation", "member_not_found", "MemberNotFound")
        assert current.blocked is not None and current.blocked.resume_state == "invited"
        assert dosespot.emails == []

        assert (await retry(handle)).state == "invited"
        await time_env.sleep(timedelta(seconds=5))
        assert dosespot.emails == ["invitation"]
        assert await state(handle) == "invited"


async def test_identity_proofing_refusal_blocks_and_retry_keeps_the_attempts(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.experian = ["fail", "pass"]
    async with enrollment(time_env, dosespot) as handle:
        await confirmed(time_env, dosespot, handle)
        await handle.execute_update(ClinicianEnrollmentWorkflow.start_verification, ActorRequest())
        await time_env.sleep(timedelta(minutes=5))
        current = await status(handle)
        assert current.idp is not None and current.idp.failed_attempts == 1
        # The second attempt's idpInit is refused.
        dosespot.fail("start_identity_proofing", refusal("DoseSpotRefused", "IDP not allowed"))
        await handle.execute_update(ClinicianEnrollmentWorkflow.start_verification, ActorRequest())
        await until_state(time_env, handle, "blocked", timedelta(minutes=1))
        current = await assert_blocked(
            handle, "identity_proofing:start_attempt", "dosespot_refused", "DoseSpotRefused"
        )
        assert current.blocked is not None and current.blocked.message == "IDP not allowed"
        assert current.blocked.resume_state == "verifying"

        assert (await retry(handle)).state == "verifying"
        await time_env.sleep(timedelta(minutes=1))
        current = await status(handle)
        assert current.idp is not None
        assert current.idp.failed_attempts == 1, "the failed attempt is remembered"
        assert current.idp.run == 2
        await verify(handle, time_env)
        assert dosespot.billing == ["start"]
        assert dosespot.emails == ["invitation", "verified"]


async def test_agreements_refusal_blocks_identity_proofing(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.fail("clinician_agreements", refusal("DoseSpotNotFound", "no such clinician"))
    async with enrollment(time_env, dosespot) as handle:
        await confirmed(time_env, dosespot, handle)
        await handle.execute_update(ClinicianEnrollmentWorkflow.start_verification, ActorRequest())
        await until_state(time_env, handle, "blocked", timedelta(minutes=1))
        await assert_blocked(
            handle, "identity_proofing:agreements", "dosespot_not_found", "DoseSpotNotFound"
        )
        await retry(handle)
        await until_state(time_env, handle, "verified", timedelta(minutes=1))


async def test_two_factor_refusal_blocks_and_retry_starts_it(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    async with enrollment(time_env, dosespot) as handle:
        await confirmed(time_env, dosespot, handle)
        await verify(handle, time_env)
        dosespot.fail("start_two_factor", refusal("DoseSpotAuthError", "TFA refused"))
        answered = await handle.execute_update(
            ClinicianEnrollmentWorkflow.start_two_factor, ActorRequest()
        )
        assert answered.state == "blocked"
        await assert_blocked(handle, "two_factor_init", "dosespot_credentials", "DoseSpotAuthError")

        assert (await retry(handle)).state == "tfa_pending"
        await until_state(time_env, handle, "tfa_active", timedelta(minutes=1))
        assert dosespot.tfa_inits == 1


async def test_deactivation_refusal_blocks_and_retry_finishes_it_once(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    async with enrollment(time_env, dosespot) as handle:
        await confirmed(time_env, dosespot, handle)
        await verify(handle, time_env)
        await tfa_active(time_env, handle)
        for approval in (ADMIN, DEA_PRESCRIBER):
            await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, approval)
        dosespot.fail("deactivate_dosespot_clinician", refusal("DoseSpotRefused", "cannot"))
        pending = await handle.start_update(
            ClinicianEnrollmentWorkflow.deactivate,
            ActorRequest(actor_member_id="m_admin"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await until_state(time_env, handle, "blocked", timedelta(seconds=10))
        await assert_blocked(handle, "deactivation", "dosespot_refused", "DoseSpotRefused")
        assert not dosespot.deactivated

        # The DELETE answers at once with the blocked deactivation.
        assert (await pending.result()).state == "blocked"
        await retry(handle)
        final = await handle.result()
        assert final.state == "deactivated"
        assert dosespot.deactivated
        # Revocation and the billing stop happened once, before the refusal; not again.
        assert [a[0] for a in dosespot.audit].count("revoke") == 1
        assert dosespot.billing == ["start", "stop"]
        await handle.result()


async def test_never_confirming_clinician_stalls_at_the_deadline_and_retry_reopens(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.confirm_after_polls = 10**6
    daily = TIMINGS.model_copy(update={"poll_max_seconds": 86400})
    async with enrollment(time_env, dosespot, timings=daily) as handle:
        pending = await handle.start_update(
            ClinicianEnrollmentWorkflow.submit_enrollment,
            FORM,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await time_env.sleep(timedelta(days=31))
        assert (await pending.result()).outcome == EnrollmentOutcome.stalled
        current = await assert_blocked(handle, "confirmation", "confirmation_deadline_passed", None)
        assert current.state == "stalled"
        events = len((await handle.fetch_history()).events)
        polls = dosespot.polls
        # Stalled writes nothing more, however long nobody looks.
        await time_env.sleep(timedelta(days=60))
        assert dosespot.polls == polls
        assert len((await handle.fetch_history()).events) == events

        assert (await retry(handle)).state == "awaiting_confirmation"
        await time_env.sleep(timedelta(hours=1))
        assert dosespot.polls > polls
        dosespot.status = "Confirmed"
        await handle.signal(
            ClinicianEnrollmentWorkflow.dosespot_event,
            DoseSpotEvent(event_type="ClinicianConfirmed", clinician_id=555),
        )
        await until_state(time_env, handle, "confirmed", timedelta(minutes=1))


HISTORY_BOUND = 2000


async def run_histories(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
    """Event counts of every run in a continue-as-new chain, oldest first."""
    lengths: list[int] = []
    run_id: str | None = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        else:
            assert last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    return lengths


async def test_a_year_of_never_confirming_keeps_each_run_under_the_bound(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    """The deadline is set past a year here, so polling goes on all year: each run stays
    under HISTORY_BOUND events because the workflow continues-as-new."""
    dosespot.confirm_after_polls = 10**6
    timings = TIMINGS.model_copy(
        update={
            "confirmation_deadline_days": 400,
            "poll_max_seconds": 86400,
            "continue_as_new_after_events": 1000,
        }
    )
    async with enrollment(time_env, dosespot, timings=timings) as handle:
        first_run = (await handle.describe()).run_id
        assert first_run is not None
        pending = await handle.start_update(
            ClinicianEnrollmentWorkflow.submit_enrollment,
            FORM,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await time_env.sleep(timedelta(days=365))
        # The update that was waiting when the run continued-as-new answered "pending".
        assert (await pending.result()).outcome == EnrollmentOutcome.pending
        lengths = await run_histories(time_env.client, handle.id, first_run)
        assert len(lengths) >= 3, lengths
        assert max(lengths) < HISTORY_BOUND, lengths
        # Polling backed off to its cap: about one poll a day once there.
        assert 365 <= dosespot.polls <= 420, dosespot.polls
        current = await status(handle)
        assert current.state == "awaiting_confirmation"
        assert current.dosespot_clinician_id == 555
        assert dosespot.creates == 1
        # The carried state still works: a push confirms the clinician in the latest run.
        dosespot.status = "Confirmed"
        await handle.signal(
            ClinicianEnrollmentWorkflow.dosespot_event,
            DoseSpotEvent(event_type="ClinicianConfirmed", clinician_id=555),
        )
        await until_state(time_env, handle, "confirmed", timedelta(minutes=1))


async def settled_history_length(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> int:
    """The history's length once the workflow has finished what it was doing (publishing
    the new state), so only what comes after is counted."""
    length = -1
    for _ in range(50):
        current = len((await handle.fetch_history()).events)
        if current == length:
            return current
        length = current
        await env.sleep(timedelta(seconds=30))
    raise AssertionError("the workflow never settled")


async def test_controlled_substance_check_is_a_read_that_writes_no_history(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    async with enrollment(time_env, dosespot) as handle:
        await confirmed(time_env, dosespot, handle)
        ws = (await status(handle)).workspace_id
        before = await settled_history_length(time_env, handle)
        for _ in range(5):
            with pytest.raises(UpdateRefused) as refused:
                await require_controlled_substance_permission(time_env.client, ws, "m_ada")
            assert refused.value.message == CONTROLLED_SUBSTANCE_REFUSAL
            assert refused.value.status_code == 403
        assert len((await handle.fetch_history()).events) == before

        await verify(handle, time_env)
        await tfa_active(time_env, handle)
        for approval in (ADMIN, DEA_PRESCRIBER):
            await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, approval)
        before = await settled_history_length(time_env, handle)
        for _ in range(5):
            await require_controlled_substance_permission(time_env.client, ws, "m_ada")
        assert len((await handle.fetch_history()).events) == before


async def test_a_retried_audit_append_carries_the_same_idempotency_key(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    # The first append fails after the database may have taken it: Temporal retries it
    # with the same input, so the unique key makes a second write a no-op.
    dosespot.fail("append_epcs_audit", ApplicationError("connection lost", type="OSError"))
    async with enrollment(time_env, dosespot) as handle:
        await confirmed(time_env, dosespot, handle)
        await verify(handle, time_env)
        await tfa_active(time_env, handle)
        for approval in (ADMIN, DEA_PRESCRIBER):
            await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, approval)
        keys = dosespot.audit_keys
        # Two approvals and the grant: three audit events, the first tried twice.
        assert len(keys) == 4
        assert keys[0] == keys[1]
        assert len(set(keys)) == 3
        assert all(k and k.startswith(handle.id + ":") for k in keys)
        assert [k.rsplit(":", 1)[1] for k in keys if k] == ["0", "0", "1", "2"]


async def test_pushes_dosespot_does_not_confirm_change_nothing(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    """A push with the right secret is a hint, not a fact: confirmation, identity proofing
    and two-factor move on only when DoseSpot's own status says so."""
    dosespot.confirm_after_polls = 10**6
    dosespot.experian = ["wait"]
    dosespot.tfa_status_after_init = "TFAActivateInit"
    daily = TIMINGS.model_copy(update={"poll_max_seconds": 3600})
    async with enrollment(time_env, dosespot, timings=daily) as handle:

        async def push(kind: str) -> None:
            """Send a push and let the workflow check it with DoseSpot before time moves on.

            The check cancels the wait's timer; the time-skipping server refuses a workflow
            task that cancels a timer it fired meanwhile (temporalio/sdk-java#3088) and never
            hands the task out again, where Temporal's server records both and carries on.
            """
            polls = dosespot.polls
            event = DoseSpotEvent(event_type=kind, clinician_id=555)
            await handle.signal(ClinicianEnrollmentWorkflow.dosespot_event, event)
            for _ in range(400):
                if dosespot.polls > polls:
                    break
                await asyncio.sleep(0.025)
            else:
                raise AssertionError(f"the {kind} push was never checked with DoseSpot")
            await time_env.sleep(timedelta(minutes=1))

        await handle.start_update(
            ClinicianEnrollmentWorkflow.submit_enrollment,
            FORM,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await time_env.sleep(timedelta(seconds=10))
        await push("ClinicianConfirmed")
        assert await state(handle) == "awaiting_confirmation"
        dosespot.status = "Confirmed"
        await until_state(time_env, handle, "confirmed", timedelta(minutes=10))

        await handle.execute_update(ClinicianEnrollmentWorkflow.start_verification, ActorRequest())
        await time_env.sleep(timedelta(minutes=1))
        await push("ClinicianIDPCompleteSuccess")
        assert await state(handle) == "verifying"
        dosespot.status = "IDPSuccess"
        await until_state(time_env, handle, "verified", timedelta(minutes=10))

        await handle.execute_update(ClinicianEnrollmentWorkflow.start_two_factor, ActorRequest())
        await push("ClinicianTfaActivateSuccess")
        assert await state(handle) == "tfa_pending"
        dosespot.status = "TFAActivatedSuccess"
        await until_state(time_env, handle, "tfa_active", timedelta(minutes=10))


async def test_deactivation_does_not_wait_for_a_running_call(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    """DoseSpot is slow to answer the registration: a DELETE still deactivates at once."""
    dosespot.register_gate = asyncio.Event()
    try:
        async with enrollment(time_env, dosespot) as handle:
            await handle.start_update(
                ClinicianEnrollmentWorkflow.submit_enrollment,
                FORM,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            await time_env.sleep(timedelta(seconds=5))
            assert await state(handle) == "enrolling"
            final = await asyncio.wait_for(
                handle.execute_update(
                    ClinicianEnrollmentWorkflow.deactivate, ActorRequest(actor_member_id="m_a")
                ),
                timeout=30,
            )
            assert final.state == "deactivated"
            assert dosespot.creates == 0
            await handle.result()
    finally:
        dosespot.register_gate.set()
