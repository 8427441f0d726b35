"""ClinicianEnrollment and IdentityProofing on the time-skipping server, DoseSpot scripted.

Days pass in milliseconds here: confirmation polling, ID.me's 24-hour window and
its expiry are all exercised on workflow time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from erx.settings import Settings
from tests.conftest import time_skipping_env
from worker import WORKFLOWS
from workflows.clinician_enrollment import (
    CONTROLLED_SUBSTANCE_REFUSAL,
    ClinicianEnrollmentWorkflow,
    clinician_workflow_id,
)
from workflows.identity_proofing import IdentityProofingWorkflow, identity_proofing_workflow_id
from workflows.models import (
    ActorRequest,
    Address,
    AgreementsResult,
    BillingControl,
    ClinicianEnrollmentInput,
    ClinicianRef,
    ClinicianSnapshot,
    DeactivateClinicianInput,
    DoseSpotEvent,
    EnrollmentForm,
    EnrollmentLocation,
    EnrollmentOutcome,
    EnrollmentTimings,
    EpcsApproval,
    EpcsAuditInput,
    RegisterClinicianInput,
    RegistrationStatusResult,
)

TIMINGS = EnrollmentTimings(
    confirmation_poll_seconds=60,
    poll_max_seconds=600,
    idp_poll_seconds=60,
    tfa_poll_seconds=60,
    idme_window_hours=24,
)

FORM = EnrollmentForm(
    first_name="Ada",
    last_name="Lovelace",
    date_of_birth=date(1980, 4, 27),
    email="ada@example.com",
    npi="1234567893",
    phone="+12127365000",
    fax="+12127365001",
    address=Address(street_address="1 Main St", city="Austin", state="TX", zip_code="78701"),
    locations=[
        EnrollmentLocation(
            location_id="loc-1",
            dosespot_clinic_id=77,
            state="TX",
            is_default=True,
            dea_number="AB1234563",
        )
    ],
)
ADMIN = EpcsApproval(
    approver_member_id="m_admin", approver_is_admin=True, approver_is_dea_registrant_with_tfa=False
)
DEA_PRESCRIBER = EpcsApproval(
    approver_member_id="m_grace",
    approver_is_admin=False,
    approver_is_dea_registrant_with_tfa=True,
)


@dataclass
class ScriptedDoseSpot:
    """DoseSpot as the activities would see it, scripted per test."""

    confirm_after_polls: int = 0
    experian: list[str] = field(default_factory=lambda: ["pass"])
    idme: str = "pass"
    status: str = "Pending"
    polls: int = 0
    creates: int = 0
    idp_inits: int = 0
    tfa_inits: int = 0
    emails: list[str] = field(default_factory=list)
    billing: list[str] = field(default_factory=list)
    audit: list[tuple[str, str, str | None]] = field(default_factory=list)
    snapshots: list[ClinicianSnapshot] = field(default_factory=list)
    deactivated: bool = False
    tfa_status_after_init: str = "TFAActivatedSuccess"
    # When set, registration waits for it: a DoseSpot call that takes its time.
    register_gate: asyncio.Event | None = None
    # When set, each identity-proofing start waits for it.
    idp_gate: asyncio.Event | None = None
    failed: int = 0
    # Activity name -> errors to raise, one per call, before answering normally.
    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    audit_keys: list[str | None] = field(default_factory=list)

    def fail(self, name: str, *errors: BaseException) -> None:
        self.failures.setdefault(name, []).extend(errors)

    def _maybe_fail(self, name: str) -> None:
        pending = self.failures.get(name)
        if pending:
            raise pending.pop(0)

    def activities(self) -> list[Any]:
        @activity.defn(name="register_clinician")
        async def register_clinician(input: RegisterClinicianInput) -> int:
            self._maybe_fail("register_clinician")
            if self.register_gate is not None:
                await self.register_gate.wait()
            self.creates += 1
            return 555

        @activity.defn(name="clinician_registration_status")
        async def registration_status(ref: ClinicianRef) -> RegistrationStatusResult:
            self._maybe_fail("clinician_registration_status")
            self.polls += 1
            if self.status == "Pending" and self.polls > self.confirm_after_polls:
                self.status = "RegistrationSuccess"
            return RegistrationStatusResult(status=self.status)

        @activity.defn(name="start_identity_proofing")
        async def start_identity_proofing(ref: ClinicianRef) -> None:
            self._maybe_fail("start_identity_proofing")
            if self.idp_gate is not None:
                await self.idp_gate.wait()
            self.idp_inits += 1
            if self.failed >= 3:
                self.status = {"pass": "IDPSuccess", "fail": "IDPError"}.get(
                    self.idme, "IDPInitializeSuccess"
                )
                return
            outcome = self.experian[min(self.idp_inits - 1, len(self.experian) - 1)]
            if outcome == "fail":
                self.failed += 1
            # "wait": the clinician has not finished the attempt yet.
            self.status = {"pass": "IDPSuccess", "fail": "IDPError"}.get(
                outcome, "IDPInitializeSuccess"
            )

        @activity.defn(name="clinician_agreements")
        async def agreements(ref: ClinicianRef) -> AgreementsResult:
            self._maybe_fail("clinician_agreements")
            return AgreementsResult(eprescribing_accepted=True)

        @activity.defn(name="start_two_factor")
        async def start_two_factor(ref: ClinicianRef) -> None:
            self._maybe_fail("start_two_factor")
            self.tfa_inits += 1
            self.status = self.tfa_status_after_init

        @activity.defn(name="deactivate_dosespot_clinician")
        async def deactivate(input: DeactivateClinicianInput) -> None:
            self._maybe_fail("deactivate_dosespot_clinician")
            self.deactivated = True

        @activity.defn(name="record_clinician")
        async def record(snapshot: ClinicianSnapshot) -> None:
            self._maybe_fail("record_clinician")
            self.snapshots.append(snapshot)

        @activity.defn(name="append_epcs_audit")
        async def append_epcs_audit(entry: EpcsAuditInput) -> None:
            self.audit_keys.append(entry.idempotency_key)
            self._maybe_fail("append_epcs_audit")
            self.audit.append((entry.action, entry.outcome, entry.actor_member_id))

        @activity.defn(name="send_member_email")
        async def send_member_email(input: dict[str, str]) -> dict[str, str]:
            self._maybe_fail("send_member_email")
            self.emails.append(input["template"])
            return {"message_id": f"<{len(self.emails)}@test>"}

        @activity.defn(name="start_clinician_billing")
        async def start_billing(control: BillingControl) -> None:
            self._maybe_fail("start_clinician_billing")
            self.billing.append("start")

        @activity.defn(name="stop_clinician_billing")
        async def stop_billing(control: BillingControl) -> None:
            self._maybe_fail("stop_clinician_billing")
            self.billing.append("stop")

        return [
            register_clinician,
            registration_status,
            start_identity_proofing,
            agreements,
            start_two_factor,
            deactivate,
            record,
            append_epcs_audit,
            send_member_email,
            start_billing,
            stop_billing,
        ]


@pytest.fixture
async def time_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test: updates left waiting never leak between tests."""
    async with time_skipping_env(settings) as env:
        yield env


@pytest.fixture
def dosespot() -> Iterator[ScriptedDoseSpot]:
    yield ScriptedDoseSpot()


@asynccontextmanager
async def enrollment(
    env: WorkflowEnvironment,
    dosespot: ScriptedDoseSpot,
    queue: str | None = None,
    timings: EnrollmentTimings = TIMINGS,
    mail_task_queue: str | None = None,
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    queue = queue or f"enroll-{uuid.uuid4()}"
    ws, member = f"ws_{uuid.uuid4().hex[:8]}", "m_ada"
    async with Worker(
        env.client, task_queue=queue, workflows=WORKFLOWS, activities=dosespot.activities()
    ):
        handle = await env.client.start_workflow(
            ClinicianEnrollmentWorkflow.run,
            ClinicianEnrollmentInput(
                workspace_id=ws, member_id=member, timings=timings, mail_task_queue=mail_task_queue
            ),
            id=clinician_workflow_id(ws, member),
            task_queue=queue,
        )
        if mail_task_queue is None and not dosespot.failures.get("send_member_email"):
            # A form sent sooner withdraws the email, a race the test server cannot take: it
            # refuses a cancellation of an activity that has just completed (ACTIVITY_UNKNOWN),
            # where Temporal's server records it and carries on.
            await invitation_sent(dosespot, handle)
        yield handle


async def settle(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], update: Any, arg: Any
) -> Any:
    """Send an update that waits on DoseSpot, moving workflow time on until it answers.

    The time-skipping server skips ahead on its own only while a client waits for a
    workflow's result, not an update's.
    """
    pending = await handle.start_update(update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    return await finish(env, pending)


async def finish(env: WorkflowEnvironment, pending: WorkflowUpdateHandle[Any]) -> Any:
    """Move workflow time on until an accepted update has its result."""
    for _ in range(100):
        # Bounded here, not by the RPC's own timeout: the client retries a poll that timed
        # out, for seconds, while the test server's clock stands still.
        try:
            return await asyncio.wait_for(pending.result(), 0.5)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            await env.sleep(timedelta(minutes=1))
    raise AssertionError("the update never finished")


async def invitation_queued(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the invitation email is scheduled and not yet answered."""
    for _ in range(200):
        if (await handle.describe()).raw_description.pending_activities:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the invitation email was never queued")


async def invitation_sent(dosespot: ScriptedDoseSpot, handle: WorkflowHandle[Any, Any]) -> None:
    """Until the invitation email went out and the server has its completion (a form that
    comes first withdraws it)."""
    for _ in range(200):
        if "invitation" in dosespot.emails:
            if not (await handle.describe()).raw_description.pending_activities:
                return
        await asyncio.sleep(0.025)
    raise AssertionError("the invitation email was never sent")


async def state(handle: WorkflowHandle[Any, Any]) -> str:
    return (await handle.query(ClinicianEnrollmentWorkflow.status)).state


async def verify(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment) -> None:
    """Ask for verification attempts until the clinician is verified."""
    for _ in range(6):
        await handle.execute_update(ClinicianEnrollmentWorkflow.start_verification, ActorRequest())
        for _ in range(20):
            await env.sleep(timedelta(minutes=5))
            status = await handle.query(ClinicianEnrollmentWorkflow.status)
            if status.state != "verifying" or (status.idp and not status.idp.attempt_in_progress):
                break
        if status.state == "verified":
            return
    raise AssertionError(f"not verified: {status}")


async def test_happy_path_to_epcs_enabled(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.confirm_after_polls = 2
    async with enrollment(time_env, dosespot) as handle:
        assert await state(handle) == "invited"
        result = await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        assert result.outcome == EnrollmentOutcome.confirmed
        assert result.dosespot_clinician_id == 555
        assert dosespot.creates == 1
        assert dosespot.polls == 3  # confirmed by polling, no push came

        await verify(handle, time_env)
        assert dosespot.emails == ["invitation", "verified"]
        assert dosespot.billing == ["start"]

        # Before two-factor, controlled substances are refused with DoseSpot's words.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ClinicianEnrollmentWorkflow.authorize_controlled_substance)
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.message == CONTROLLED_SUBSTANCE_REFUSAL

        await handle.execute_update(ClinicianEnrollmentWorkflow.start_two_factor, ActorRequest())
        assert await state(handle) == "tfa_pending"
        await time_env.sleep(timedelta(minutes=2))
        assert await state(handle) == "tfa_active"

        await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, ADMIN)
        assert await state(handle) == "tfa_active"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(ClinicianEnrollmentWorkflow.authorize_controlled_substance)
        status = await handle.execute_update(
            ClinicianEnrollmentWorkflow.approve_epcs, DEA_PRESCRIBER
        )
        assert status.state == "epcs_enabled"
        assert status.epcs_approvers == ["m_admin", "m_grace"]
        await handle.execute_update(ClinicianEnrollmentWorkflow.authorize_controlled_substance)
        assert [a[:2] for a in dosespot.audit] == [
            ("approve", "accepted"),
            ("approve", "accepted"),
            ("grant", "granted"),
        ]
        states = [s.state for s in dosespot.snapshots]
        assert states[:3] == ["invited", "enrolling", "awaiting_confirmation"]
        assert states[-1] == "epcs_enabled"

        final = await handle.execute_update(
            ClinicianEnrollmentWorkflow.deactivate, ActorRequest(actor_member_id="m_admin")
        )
        assert final.state == "deactivated"
        assert dosespot.deactivated
        assert dosespot.billing == ["start", "stop"]
        assert dosespot.audit[-1][:2] == ("revoke", "granted")
        await handle.result()


async def test_a_form_before_the_invitation_email_registers_at_once_and_withdraws_it(
    temporal_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    """A bulk invitation's emails wait their turn on the mail queue; a clinician who enrolls
    before theirs went out is registered without waiting, and the email is never sent.

    On the dev server: the time-skipping one holds its clock while a task waits unpolled."""
    unpolled = f"mail-{uuid.uuid4()}"
    timings = TIMINGS.model_copy(update={"confirmation_poll_seconds": 0.2})
    async with enrollment(temporal_env, dosespot, timings=timings, mail_task_queue=unpolled) as (
        handle
    ):
        await invitation_queued(handle)
        submitted = handle.execute_update(ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        result = await asyncio.wait_for(submitted, 30)
        assert result.outcome == EnrollmentOutcome.confirmed
        assert dosespot.creates == 1
        current = await handle.query(ClinicianEnrollmentWorkflow.status)
        assert current.state == "confirmed" and current.blocked is None
        assert not (await handle.describe()).raw_description.pending_activities
        events = [event.event_type async for event in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED in events
        assert dosespot.emails == []
        await handle.terminate()


@pytest.mark.parametrize("failures", [1, 2])
async def test_experian_failures_then_success(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot, failures: int
) -> None:
    dosespot.experian = ["fail"] * failures + ["pass"]
    async with enrollment(time_env, dosespot) as handle:
        await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        await verify(handle, time_env)
        status = await handle.query(ClinicianEnrollmentWorkflow.status)
        assert status.idp is not None
        assert status.idp.failed_attempts == failures
        assert status.idp.path.value == "experian"
        assert dosespot.idp_inits == failures + 1


async def test_three_failures_then_idme_success(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.experian = ["fail", "fail", "fail"]
    async with enrollment(time_env, dosespot) as handle:
        await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        await verify(handle, time_env)
        status = await handle.query(ClinicianEnrollmentWorkflow.status)
        assert status.idp is not None
        assert status.idp.failed_attempts == 3
        assert status.idp.path.value == "idme"
        assert status.idp.deadline is not None
        assert dosespot.billing == ["start"]


async def test_a_second_request_during_an_attempt_does_not_spend_the_next_one(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    """A double click, or a request the enrollment passed on before it heard of the running
    attempt, is about that attempt: after it fails the next one waits to be asked for."""
    dosespot.experian = ["fail", "pass"]
    dosespot.idp_gate = asyncio.Event()
    async with enrollment(time_env, dosespot) as handle:
        await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        await handle.execute_update(ClinicianEnrollmentWorkflow.start_verification, ActorRequest())
        for _ in range(200):
            status = await handle.query(ClinicianEnrollmentWorkflow.status)
            if status.idp is not None:
                break
            await asyncio.sleep(0.025)
        # DoseSpot has not answered the first attempt's start yet: it reads as under way.
        assert status.idp is not None and status.idp.attempt_in_progress
        again = await handle.execute_update(
            ClinicianEnrollmentWorkflow.start_verification, ActorRequest()
        )
        assert again.idp is not None and again.idp.attempt_in_progress
        dosespot.idp_gate.set()
        child = time_env.client.get_workflow_handle(
            identity_proofing_workflow_id(handle.id.split(":")[1], "m_ada", 1)
        )
        for _ in range(200):
            if (await child.query(IdentityProofingWorkflow.progress)).attempt_in_progress:
                break
            await asyncio.sleep(0.025)
        await child.signal(IdentityProofingWorkflow.attempt_requested)

        await time_env.sleep(timedelta(hours=6))
        status = await handle.query(ClinicianEnrollmentWorkflow.status)
        assert status.state == "verifying"
        assert status.idp is not None
        assert (status.idp.failed_attempts, status.idp.attempt_in_progress) == (1, False)
        assert dosespot.idp_inits == 1

        await verify(handle, time_env)
        assert dosespot.idp_inits == 2


async def test_idme_window_expires_then_admin_restarts(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.experian = ["fail", "fail", "fail"]
    dosespot.idme = "never"
    async with enrollment(time_env, dosespot) as handle:
        await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        for _ in range(3):
            await handle.execute_update(
                ClinicianEnrollmentWorkflow.start_verification, ActorRequest()
            )
            await time_env.sleep(timedelta(minutes=5))
        status = await handle.query(ClinicianEnrollmentWorkflow.status)
        assert status.state == "verifying"
        assert status.idp is not None and status.idp.path.value == "idme"
        await time_env.sleep(timedelta(hours=25))
        status = await handle.query(ClinicianEnrollmentWorkflow.status)
        assert status.state == "verification_expired"
        assert status.allowed_actions == ["restart_verification", "deactivate"]
        assert "verification_expired" in dosespot.emails
        assert dosespot.billing == []

        # An admin restarts; this time ID.me succeeds within the window.
        dosespot.idme = "pass"
        await handle.execute_update(
            ClinicianEnrollmentWorkflow.restart_verification, ActorRequest(actor_member_id="m_a")
        )
        await time_env.sleep(timedelta(hours=1))
        status = await handle.query(ClinicianEnrollmentWorkflow.status)
        assert status.state == "verified"
        assert status.idp is not None and status.idp.run == 2


async def test_push_confirmation_and_duplicates(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    dosespot.confirm_after_polls = 1000  # polling never confirms: only the push can
    async with enrollment(time_env, dosespot) as handle:
        update = await handle.start_update(
            ClinicianEnrollmentWorkflow.submit_enrollment,
            FORM,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await time_env.sleep(timedelta(seconds=10))
        assert await state(handle) == "awaiting_confirmation"
        # DoseSpot confirmed; the push says so long before the next poll would.
        dosespot.status = "Confirmed"
        polls = dosespot.polls
        event = DoseSpotEvent(event_type="ClinicianConfirmed", clinician_id=555)
        for _ in range(3):
            await handle.signal(ClinicianEnrollmentWorkflow.dosespot_event, event)
        result = await update.result()
        assert result.outcome == EnrollmentOutcome.confirmed
        assert await state(handle) == "confirmed"
        assert dosespot.creates == 1
        # One look at DoseSpot confirmed the push; the copies changed nothing.
        assert polls + 1 <= dosespot.polls <= polls + 2


async def test_illegal_actions_are_refused_before_history(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    async with enrollment(time_env, dosespot) as handle:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(
                ClinicianEnrollmentWorkflow.start_two_factor, ActorRequest()
            )
        cause = err.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "ActionNotAllowed"
        assert cause.details[0] == {
            "state": "invited",
            "allowed_actions": ["submit_enrollment", "deactivate"],
        }
        history = await handle.fetch_history()
        accepted = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert accepted == []


async def test_epcs_needs_two_different_qualified_people(
    time_env: WorkflowEnvironment, dosespot: ScriptedDoseSpot
) -> None:
    async with enrollment(time_env, dosespot) as handle:
        await settle(time_env, handle, ClinicianEnrollmentWorkflow.submit_enrollment, FORM)
        await verify(handle, time_env)
        # Approving before two-factor is active is not possible at all.
        with pytest.raises(WorkflowUpdateFailedError) as early:
            await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, ADMIN)
        assert isinstance(early.value.cause, ApplicationError)
        assert early.value.cause.type == "ActionNotAllowed"
        await handle.execute_update(ClinicianEnrollmentWorkflow.start_two_factor, ActorRequest())
        await time_env.sleep(timedelta(minutes=2))

        async def refused(approval: EpcsApproval) -> str:
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, approval)
            cause = err.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == "ApprovalRefused"
            return cause.message

        self_approval = DEA_PRESCRIBER.model_copy(update={"approver_member_id": "m_ada"})
        assert "own" in await refused(self_approval)
        nobody = EpcsApproval(
            approver_member_id="m_x",
            approver_is_admin=False,
            approver_is_dea_registrant_with_tfa=False,
        )
        assert "admin or a DEA registrant" in await refused(nobody)
        await handle.execute_update(ClinicianEnrollmentWorkflow.approve_epcs, ADMIN)
        # The same person cannot approve twice, and two admins are not enough.
        assert "already approved" in await refused(ADMIN)
        other_admin = ADMIN.model_copy(update={"approver_member_id": "m_admin2"})
        assert "DEA registrant" in await refused(other_admin)
        assert await state(handle) == "tfa_active"
        status = await handle.execute_update(
            ClinicianEnrollmentWorkflow.approve_epcs, DEA_PRESCRIBER
        )
        assert status.epcs_enabled


async def test_worker_restart_in_the_middle_of_waiting(
    temporal: Client, dosespot: ScriptedDoseSpot
) -> None:
    """On the real dev server: the worker goes away mid-wait and another finishes the job."""
    dosespot.confirm_after_polls = 3
    queue = f"restart-{uuid.uuid4()}"
    ws = f"ws_{uuid.uuid4().hex[:8]}"
    fast = TIMINGS.model_copy(update={"confirmation_poll_seconds": 0.5, "poll_max_seconds": 0.5})
    async with Worker(
        temporal, task_queue=queue, workflows=WORKFLOWS, activities=dosespot.activities()
    ):
        handle = await temporal.start_workflow(
            ClinicianEnrollmentWorkflow.run,
            ClinicianEnrollmentInput(workspace_id=ws, member_id="m_ada", timings=fast),
            id=clinician_workflow_id(ws, "m_ada"),
            task_queue=queue,
        )
        update = await handle.start_update(
            ClinicianEnrollmentWorkflow.submit_enrollment,
            FORM,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        for _ in range(50):
            if dosespot.polls >= 1:
                break
            await asyncio.sleep(0.1)
        assert await state(handle) == "awaiting_confirmation"
    polls_before = dosespot.polls
    assert polls_before <= dosespot.confirm_after_polls
    # The first worker is gone; a new one picks the workflow up where it was.
    async with Worker(
        temporal, task_queue=queue, workflows=WORKFLOWS, activities=dosespot.activities()
    ):
        result = await asyncio.wait_for(update.result(), timeout=30)
        assert result.outcome == EnrollmentOutcome.confirmed
        assert dosespot.creates == 1
        assert dosespot.polls > polls_before
        await handle.terminate()
