"""The bare-Temporal anchor of benchmark (a): a clinician's invitation-to-verified path with
the product's shape and none of its work.

Per clinician, as the API, ClinicianEnrollment, IdentityProofing and ClinicianBilling do it:
the driver starts the enrollment as a workflow of its own (``start_workflow``, as many at
once as the API's ``invitation_concurrency``); the enrollment runs five activities (the two
emails, registration, one registration status, the billing start), writes its read model as
a local activity on each of its ten status changes up to verified, takes the ``submit`` and
``start_verification`` updates and DoseSpot's two pushes as signals, tells the clinic
workflow twice (verifying, verified) and forwards a push to its identity-proofing child
(three activities, a poll timer, two progress signals to the parent), and starts the billing
workflow from an activity. Activities do nothing; there are no search attributes, database,
DoseSpot or email. The driver plays the API and DoseSpot: starts, updates, signals and
queries straight to Temporal with the same data converter and codec.

``python -m bench.bare`` runs the anchor's worker with the product's worker settings.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowUpdateStage
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from bench.steps import Steps, median_steps, slowest_steps
from erx.settings import Settings

TIMEOUT = timedelta(seconds=30)
POLL = timedelta(seconds=30)


def clinic_id(ws: str) -> str:
    return f"bare-clinic:{ws}"


def enrollment_id(ws: str, member: str) -> str:
    return f"bare-clinician:{ws}:{member}"


def idp_id(ws: str, member: str) -> str:
    return f"bare-idp:{ws}:{member}:1"


def billing_id(ws: str, member: str) -> str:
    return f"bare-billing:{ws}:{member}"


class BareActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client, self.task_queue = client, task_queue

    @activity.defn(name="bare_step")
    async def step(self, name: str) -> str:
        return name

    @activity.defn(name="bare_record")
    async def record(self, state: str) -> str:
        return state

    @activity.defn(name="bare_start_billing")
    async def start_billing(self, billing_workflow_id: str) -> None:
        await self.client.start_workflow(
            BareBillingWorkflow.run,
            id=billing_workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )


async def _step(name: str) -> None:
    await workflow.execute_activity("bare_step", name, start_to_close_timeout=TIMEOUT)


@workflow.defn(name="BareBilling")
class BareBillingWorkflow:
    """Waits for the first period's end."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=30))


@workflow.defn(name="BareIdentityProofing")
class BareIdentityProofingWorkflow:
    """One proofing attempt: start it, wait for DoseSpot's push (or the poll timer), confirm
    it, read the agreements.

    Signal ``dosespot_event``."""

    def __init__(self) -> None:
        self._outcome: str | None = None

    @workflow.run
    async def run(self, parent_id: str) -> str:
        parent = workflow.get_external_workflow_handle(parent_id)
        await _step("idp_start_attempt")
        await parent.signal("idp_progress", "attempt_started")
        try:
            await workflow.wait_condition(lambda: self._outcome is not None, timeout=POLL)
        except TimeoutError:
            self._outcome = "polled"
        await _step("idp_registration_status")
        await _step("idp_agreements")
        await parent.signal("idp_progress", "verified")
        return "verified"

    @workflow.signal
    def dosespot_event(self, event: str) -> None:
        self._outcome = event


@workflow.defn(name="BareClinicianEnrollment")
class BareClinicianEnrollmentWorkflow:
    """Invited -> enrolling -> awaiting confirmation -> confirmed -> verifying -> verified.

    Updates ``submit``, ``start_verification``; signals ``dosespot_event``, ``idp_progress``;
    query ``status``."""

    def __init__(self) -> None:
        self._state = "invited"
        self._detail = ""
        self._recorded = ""
        self._confirmed = False
        self._idp: workflow.ChildWorkflowHandle[BareIdentityProofingWorkflow, str] | None = None
        self._clinic: workflow.ExternalWorkflowHandle[BareClinicWorkflow] | None = None

    @workflow.run
    async def run(self, clinic_workflow_id: str) -> str:
        self._clinic = workflow.get_external_workflow_handle(clinic_workflow_id)
        await self._record("invited/")
        await _step("email_invitation")
        await workflow.wait_condition(lambda: self._state == "enrolling")
        await self._record()
        await _step("register_clinician")
        await self._enter("awaiting_confirmation")
        try:
            await workflow.wait_condition(lambda: self._confirmed, timeout=POLL)
        except TimeoutError:
            pass
        await _step("registration_status")
        await self._enter("confirmed")
        await workflow.wait_condition(lambda: self._state == "verifying")
        await self._verify()
        await self._clinic.signal("progress", "verified")
        await self._enter("verified")
        await _step("email_verified")
        await workflow.execute_activity(
            "bare_start_billing",
            billing_id(*workflow.info().workflow_id.split(":", 2)[1:]),
            start_to_close_timeout=TIMEOUT,
        )
        self._detail = "billing started"
        await self._record()
        await workflow.wait_condition(lambda: False)
        return self._state

    async def _verify(self) -> None:
        info = workflow.info()
        self._idp = await workflow.start_child_workflow(
            BareIdentityProofingWorkflow.run,
            info.workflow_id,
            id=idp_id(*info.workflow_id.split(":", 2)[1:]),
        )
        self._detail = "attempt 1"
        child = self._idp
        while True:
            await self._record()
            await workflow.wait_condition(
                lambda: child.done() or self._recorded != self._status_key()
            )
            if child.done():
                break
        await child

    async def _enter(self, state: str) -> None:
        self._state = state
        await self._record()

    def _status_key(self) -> str:
        return f"{self._state}/{self._detail}"

    async def _record(self, key: str | None = None) -> None:
        """The read model's row, as a local activity, when the status changed."""
        key = key or self._status_key()
        if key == self._recorded:
            return
        self._recorded = key
        await workflow.execute_local_activity("bare_record", key, start_to_close_timeout=TIMEOUT)

    @workflow.update
    async def submit(self, form: str) -> str:
        self._state = "enrolling"
        await workflow.wait_condition(lambda: self._state == "confirmed")
        return self._state

    @workflow.update
    async def start_verification(self) -> str:
        self._state = "verifying"
        await self._record()
        assert self._clinic is not None
        await self._clinic.signal("progress", "verifying")
        return self._state

    @workflow.signal
    async def dosespot_event(self, event: str) -> None:
        if event == "confirmed":
            self._confirmed = True
        elif self._idp is not None:
            await self._idp.signal(BareIdentityProofingWorkflow.dosespot_event, event)

    @workflow.signal
    def idp_progress(self, event: str) -> None:
        self._detail = event

    @workflow.query
    def status(self) -> str:
        return self._state


@workflow.defn(name="BareClinic")
class BareClinicWorkflow:
    """Counts its clinicians' progress.

    Signal ``progress``; query ``progressed``."""

    def __init__(self) -> None:
        self._progressed = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal
    def progress(self, state: str) -> None:
        self._progressed += 1

    @workflow.query
    def progressed(self) -> int:
        return self._progressed


BARE_WORKFLOWS = [
    BareClinicWorkflow,
    BareClinicianEnrollmentWorkflow,
    BareIdentityProofingWorkflow,
    BareBillingWorkflow,
]


def bare_worker(client: Client, settings: Settings, task_queue: str) -> Worker:
    """The anchor's worker, with the product worker's cache and concurrency settings."""
    activities = BareActivities(client, task_queue)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=BARE_WORKFLOWS,
        activities=[activities.step, activities.record, activities.start_billing],
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
    )


def bare_task_queue(settings: Settings) -> str:
    return f"{settings.task_queue}-bare"


async def _wait_verified(client: Client, ws: str, member: str, poll: float) -> None:
    handle = client.get_workflow_handle(enrollment_id(ws, member))
    while True:
        if await handle.query(BareClinicianEnrollmentWorkflow.status) == "verified":
            return
        await asyncio.sleep(poll)


async def bare_invite(client: Client, settings: Settings, ws: str, members: list[str]) -> None:
    """Start each member's enrollment, ``invitation_concurrency`` at a time, as the API does."""
    gate = asyncio.Semaphore(settings.invitation_concurrency)
    queue = bare_task_queue(settings)

    async def start(member: str) -> None:
        async with gate:
            await client.start_workflow(
                BareClinicianEnrollmentWorkflow.run,
                clinic_id(ws),
                id=enrollment_id(ws, member),
                task_queue=queue,
            )

    await asyncio.gather(*(start(m) for m in members))


async def bare_clinician(client: Client, ws: str, member: str, poll: float) -> dict[str, float]:
    """What the API and DoseSpot do for one clinician, as calls straight to Temporal; the
    seconds each step took."""
    steps = Steps()
    handle = client.get_workflow_handle(enrollment_id(ws, member))
    update = await handle.start_update(
        BareClinicianEnrollmentWorkflow.submit,
        "form",
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    await handle.signal(BareClinicianEnrollmentWorkflow.dosespot_event, "confirmed")
    await update.result()
    await handle.query(BareClinicianEnrollmentWorkflow.status)
    steps.done("form")
    await handle.execute_update(BareClinicianEnrollmentWorkflow.start_verification)
    await handle.query(BareClinicianEnrollmentWorkflow.status)
    steps.done("verification")
    await handle.signal(BareClinicianEnrollmentWorkflow.dosespot_event, "idp_success")
    await _wait_verified(client, ws, member, poll)
    steps.done("verified")
    return steps.seconds


async def run_bare_clinicians(
    client: Client,
    settings: Settings,
    ws: str,
    members: list[str],
    concurrency: int,
    poll: float,
) -> dict[str, Any]:
    """Start the clinicians' enrollments, then drive each to verified; wall times."""
    await client.start_workflow(
        BareClinicWorkflow.run,
        id=clinic_id(ws),
        task_queue=bare_task_queue(settings),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(member: str) -> dict[str, float]:
        async with gate:
            return await bare_clinician(client, ws, member, poll)

    start = time.perf_counter()
    await bare_invite(client, settings, ws, members)
    invited = time.perf_counter()
    steps = await asyncio.gather(*(one(m) for m in members))
    done = time.perf_counter()
    return {
        "seconds": done - start,
        "invite_seconds": invited - start,
        "clinicians_per_second": len(members) / (done - start),
        "step_p50_seconds": median_steps(steps),
        "step_p90_seconds": slowest_steps(steps),
    }


async def main() -> None:
    from erx.settings import get_settings
    from erx.temporal import connect

    settings = get_settings()
    client = await connect(settings)
    async with bare_worker(client, settings, bare_task_queue(settings)):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
