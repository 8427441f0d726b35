"""ClinicSetup lives as long as its workspace: DoseSpot's "no" blocks one location and
never fails the workflow, the history is cut by continue-as-new with the state carried,
and a registration that arrives while a run waits to continue-as-new is still served.

Stand-in activities are registered under the real activity names, as in
test_clinic_setup.py; the workflow code is the real one.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowTaskFailedCause,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    CustomSlotSupplier,
    FixedSizeSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
    Worker,
    WorkerTuner,
)

from activities.notifications import EmailSent, MemberEmail
from erx.temporal import SA_BLOCKED_REASON, SA_STAGE
from worker import WORKFLOWS
from workflows import policies
from workflows.clinic_setup import ClinicSetupWorkflow
from workflows.clinician_enrollment import clinician_workflow_id
from workflows.models import (
    Address,
    ClinicianSnapshot,
    ClinicRecord,
    ClinicSetupInput,
    ClinicStatus,
    EnsureClinicInput,
    InviteRequest,
    RegisterClinicRequest,
)

ADDRESS = Address(street_address="1 Main St", city="Austin", state="TX", zip_code="78701")
# Long enough for a slow CI box, short enough that a deadlock fails instead of hanging.
UPDATE_TIMEOUT = 20.0

Ensure = Callable[[EnsureClinicInput], Awaitable[ClinicRecord]]


async def within(awaitable: Awaitable[Any], what: str) -> Any:
    """``awaitable``'s result, or a failure naming what never happened (a deadlock)."""
    try:
        return await asyncio.wait_for(awaitable, UPDATE_TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"{what} within {UPDATE_TIMEOUT}s") from None


def registered(location_id: str, clinic_id: int = 4242) -> ClinicRecord:
    return ClinicRecord(
        location_id=location_id,
        status=ClinicStatus.registered,
        clinic_name=f"Clinic {location_id}",
        address=ADDRESS,
        dosespot_clinic_id=clinic_id,
    )


class EnsureClinic:
    """A stand-in ``ensure_clinic`` that counts its attempts per location."""

    def __init__(self, behaviour: Ensure) -> None:
        self.calls: dict[str, int] = {}
        self._behaviour = behaviour

        @activity.defn(name="ensure_clinic")
        async def ensure_clinic(input: EnsureClinicInput) -> ClinicRecord:
            self.calls[input.location_id] = self.calls.get(input.location_id, 0) + 1
            return await self._behaviour(input)

        self.activity = ensure_clinic


@asynccontextmanager
async def setup_workflow(
    client: Client,
    ensure: EnsureClinic,
    input: ClinicSetupInput | None = None,
    activities: Sequence[Callable[..., Any]] = (),
    **worker_options: Any,
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """A worker on a fresh task queue and a ClinicSetup on it; terminated afterwards."""
    queue = f"test-{uuid.uuid4()}"
    workspace_id = f"ws_{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[ensure.activity, *activities],
        **worker_options,
    ):
        handle = await client.start_workflow(
            ClinicSetupWorkflow.run,
            input or ClinicSetupInput(workspace_id=workspace_id),
            id=f"test-setup-{uuid.uuid4()}",
            task_queue=queue,
        )
        try:
            yield handle
        finally:
            with suppress(RPCError):
                await client.get_workflow_handle(handle.id).terminate("test over")


async def register(handle: WorkflowHandle[Any, Any], location_id: str) -> ClinicRecord:
    record = await within(
        handle.execute_update(
            ClinicSetupWorkflow.register_clinic, RegisterClinicRequest(location_id=location_id)
        ),
        f"register_clinic({location_id}) did not answer (retried, or waiting forever)",
    )
    assert isinstance(record, ClinicRecord)
    return record


async def details(handle: WorkflowHandle[Any, Any]) -> str:
    """What ``workflow.set_current_details`` last said, as the Temporal UI shows it."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def run_chain(
    client: Client, workflow_id: str, first_run_id: str
) -> list[tuple[str, WorkflowHistory]]:
    """Every run of a workflow id from its first, following continue-as-new."""
    runs: list[tuple[str, WorkflowHistory]] = []
    run_id = first_run_id
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append((run_id, history))
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return runs
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


def event_types(history: WorkflowHistory) -> list[EventType.ValueType]:
    return [event.event_type for event in history.events]


def assert_never_failed(runs: list[tuple[str, WorkflowHistory]]) -> None:
    for run_id, history in runs:
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED not in event_types(history), run_id
        # A failed workflow task is a bug or nondeterminism in our code, even if retried;
        # except UnhandledCommand: the server refusing a continue-as-new because a signal
        # (here the clinician's progress) came in meanwhile, and retrying the task with it.
        failed = [
            e.workflow_task_failed_event_attributes
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            and e.workflow_task_failed_event_attributes.cause
            != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
        ]
        assert not failed, (run_id, failed)


async def started_input(client: Client, history: WorkflowHistory) -> ClinicSetupInput:
    """The (encrypted) input a run started with, decoded."""
    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    payloads = started.workflow_execution_started_event_attributes.input.payloads
    (decoded,) = await client.data_converter.decode(payloads, [ClinicSetupInput])
    assert isinstance(decoded, ClinicSetupInput)
    return decoded


def accepted_update_id(event: HistoryEvent) -> str | None:
    if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        return None
    return event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id


def completed_update_id(event: HistoryEvent) -> str | None:
    if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        return None
    return event.workflow_execution_update_completed_event_attributes.meta.update_id


# 1. Every non-retryable answer blocks the location; an admin's retry registers it. ----

NON_RETRYABLE = {
    "DoseSpotRefused": "dosespot_refused",
    "DoseSpotValidationError": "dosespot_rejected_data",
    "DoseSpotAuthError": "dosespot_credentials",
    "DoseSpotNotFound": "dosespot_not_found",
    "DoseSpotUnexpectedResponse": "dosespot_unexpected_response",
    "LocationNotFound": "location_not_found",
}


@pytest.mark.parametrize(
    "flagged",
    [True, False],
    ids=["non_retryable_flag", "retry_policy_names_it"],
)
@pytest.mark.parametrize(("error_type", "reason"), NON_RETRYABLE.items())
async def test_non_retryable_error_blocks_location_and_retry_registers(
    temporal: Client, error_type: str, reason: str, flagged: bool
) -> None:
    """``flagged``: the error says non_retryable itself, or only the retry policy's
    list of non-retryable types stops Temporal from retrying it for an hour."""
    message = f"DoseSpot says no ({error_type})"
    refuse = {"on": True}

    async def answer(input: EnsureClinicInput) -> ClinicRecord:
        if refuse["on"]:
            raise ApplicationError(message, {"detail": 1}, type=error_type, non_retryable=flagged)
        return registered(input.location_id)

    ensure = EnsureClinic(answer)
    async with setup_workflow(temporal, ensure) as handle:
        record = await register(handle, "loc-1")
        assert record.status == ClinicStatus.blocked
        assert record.blocked_reason == reason
        assert record.error_type == error_type
        assert record.message == message
        assert ensure.calls == {"loc-1": 1}, "a non-retryable error was retried"

        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.typed_search_attributes.get(SA_BLOCKED_REASON) == reason
        assert desc.typed_search_attributes.get(SA_STAGE) == "registration_blocked"
        progress = await handle.query(ClinicSetupWorkflow.progress)
        assert progress.stage == "registration_blocked"
        assert progress.blocked_reason == reason
        assert [c.model_dump() for c in progress.clinics] == [record.model_dump()]
        assert (await details(handle)).endswith(f"blocked: {reason}")

        # The admin fixed the cause and asks again.
        refuse["on"] = False
        record = await register(handle, "loc-1")
        assert record.status == ClinicStatus.registered
        assert record.dosespot_clinic_id == 4242
        assert record.blocked_reason is None
        assert ensure.calls == {"loc-1": 2}

        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.typed_search_attributes.get(SA_BLOCKED_REASON) is None
        assert desc.typed_search_attributes.get(SA_STAGE) == "inviting"
        assert (await handle.query(ClinicSetupWorkflow.progress)).blocked_reason is None
        assert_never_failed(await run_chain(temporal, handle.id, desc.run_id))


# 2. Retries that outlast the policy's deadline block with retries_exhausted. ----------


async def test_retries_exhausted_after_the_deadline_blocks_location(
    time_env: WorkflowEnvironment,
) -> None:
    async def down(input: EnsureClinicInput) -> ClinicRecord:
        raise ApplicationError("DoseSpot is down", type="DoseSpotUnavailable")

    deadline = policies.DOSESPOT_SCAN.schedule_to_close
    assert deadline == timedelta(hours=1)
    ensure = EnsureClinic(down)
    async with setup_workflow(time_env.client, ensure) as handle:
        began = await time_env.get_current_time()
        pending = await handle.start_update(
            ClinicSetupWorkflow.register_clinic,
            RegisterClinicRequest(location_id="loc-1"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        # The test server moves time on its own only while a client waits on a workflow's
        # result, not an update's: move it in steps and see when the registration gives up.
        step = timedelta(minutes=5)
        for _ in range(24):
            progress = await handle.query(ClinicSetupWorkflow.progress)
            if progress.clinics[0].status != ClinicStatus.registering:
                break
            await time_env.sleep(step)
        elapsed = await time_env.get_current_time() - began
        record = await asyncio.wait_for(pending.result(), UPDATE_TIMEOUT)
        # Retries back off to at most 5 minutes; they end at the deadline, not sooner.
        assert deadline - step <= elapsed <= deadline + step, elapsed
        assert ensure.calls["loc-1"] > 10, ensure.calls

        assert record.status == ClinicStatus.blocked
        assert record.blocked_reason == "retries_exhausted"
        # The last attempt's error, in DoseSpot's words.
        assert (record.error_type, record.message) == ("DoseSpotUnavailable", "DoseSpot is down")
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.typed_search_attributes.get(SA_BLOCKED_REASON) == "retries_exhausted"
        progress = await handle.query(ClinicSetupWorkflow.progress)
        assert progress.stage == "registration_blocked"
        assert progress.blocked_reason == "retries_exhausted"
        assert [c.model_dump() for c in progress.clinics] == [record.model_dump()]


# 3. Continue-as-new keeps each run's history short and carries the state. -------------

CAN_AFTER = 40
# A run checks the limit between registrations, so it may pass it by one registration
# (about 13 events) and the continue-as-new itself.
CAN_MARGIN = 15


async def test_continues_as_new_with_state_and_bounded_history(temporal: Client) -> None:
    async def answer(input: EnsureClinicInput) -> ClinicRecord:
        return registered(input.location_id, 1000 + int(input.location_id.removeprefix("loc-")))

    ensure = EnsureClinic(answer)
    locations = [f"loc-{n}" for n in range(1, 10)]
    workspace = f"ws_{uuid.uuid4().hex[:8]}"
    setup = ClinicSetupInput(workspace_id=workspace, continue_as_new_after_events=CAN_AFTER)
    async with setup_workflow(temporal, ensure, setup) as handle:
        assert handle.first_execution_run_id is not None
        for n, location_id in enumerate(locations, start=1):
            record = await register(handle, location_id)
            assert record.status == ClinicStatus.registered
            assert record.dosespot_clinic_id == 1000 + n
        # Asking again after several continue-as-new registers nothing twice.
        again = await register(handle, "loc-1")
        assert again.dosespot_clinic_id == 1001
        assert ensure.calls == dict.fromkeys(locations, 1)

        progress = await handle.query(ClinicSetupWorkflow.progress)
        assert progress.stage == "inviting"
        assert progress.active_step == 2
        assert progress.workspace_id == workspace
        assert sorted(c.location_id for c in progress.clinics) == sorted(locations)
        assert all(c.status == ClinicStatus.registered for c in progress.clinics)
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.typed_search_attributes.get(SA_STAGE) == "inviting"

        runs = await run_chain(temporal, handle.id, handle.first_execution_run_id)
        assert len(runs) >= 3, f"continued-as-new {len(runs) - 1} time(s), expected 2 or more"
        assert runs[-1][0] == desc.run_id
        assert_never_failed(runs)
        lengths = [len(history.events) for _, history in runs]
        assert max(lengths) <= CAN_AFTER + CAN_MARGIN, lengths
        carried_before: set[str] = set()
        for index, (run_id, history) in enumerate(runs):
            carried = await started_input(temporal, history)
            assert carried.continue_as_new_after_events == CAN_AFTER
            assert carried.workspace_id == workspace
            if index == 0:
                assert carried.state is None and not carried.clinics
                continue
            # A new run starts where the last one stopped: the stage and every clinic
            # registered so far (each run registered at least one more).
            assert carried.state == "inviting", run_id
            assert carried.pending == [], run_id
            assert all(r.status == ClinicStatus.registered for r in carried.clinics.values())
            assert carried_before < set(carried.clinics), (run_id, carried_before)
            carried_before = set(carried.clinics)


# 4. A registration that arrives while a run waits for its handlers is served. ---------


class WorkflowTaskGate(CustomSlotSupplier):
    """Workflow-task slots for a worker, so a test decides when workflow tasks are polled.

    Closed, it hands out one slot per ``allow()``: the server keeps whatever arrives
    meanwhile (an update, a child's start) for the next workflow task. Open, it hands
    out slots freely. Without a sticky cache every workflow task comes from the one
    task queue, so one slot is one workflow task.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = False
        self._permits = 0
        self.finished = 0

    def allow(self) -> None:
        with self._lock:
            self._permits += 1

    def open(self) -> None:
        with self._lock:
            self._open = True

    def _take(self) -> bool:
        with self._lock:
            if self._open:
                return True
            if self._permits:
                self._permits -= 1
                return True
            return False

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        # The worker's core may call the other methods from its own threads: poll.
        while True:
            if self._take():
                return SlotPermit()
            await asyncio.sleep(0.01)

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        return SlotPermit() if self._take() else None

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        pass

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            if ctx.slot_info is None:
                # Reserved but never used (the poll ended empty): give it back.
                self._permits += 0 if self._open else 1
            else:
                self.finished += 1

    async def finished_tasks(self, count: int) -> None:
        """Until ``count`` workflow tasks were completed."""

        async def done() -> None:
            while True:
                with self._lock:
                    if self.finished >= count:
                        return
                await asyncio.sleep(0.01)

        await within(done(), f"{count} workflow task(s) did not finish")


async def wait_admitted(client: Client, workflow_id: str, update_id: str) -> None:
    """Until the server holds the update for the workflow's next workflow task."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id
        ),
        identity="test",
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )

    async def admitted() -> None:
        while True:
            try:
                await client.workflow_service.poll_workflow_execution_update(
                    request, timeout=timedelta(seconds=1)
                )
                return
            except RPCError as err:
                if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.DEADLINE_EXCEEDED):
                    raise
            await asyncio.sleep(0.02)

    await within(admitted(), f"update {update_id} was not admitted")


@activity.defn(name="record_clinician")
async def record_clinician(snapshot: ClinicianSnapshot) -> None:
    """Stand-in for the invited clinician's read-model write."""


@activity.defn(name="send_member_email")
async def send_member_email(input: MemberEmail) -> EmailSent:
    """Stand-in for the invitation email."""
    return EmailSent(message_id=f"<{uuid.uuid4()}@test>")


async def test_register_clinic_while_waiting_to_continue_as_new_is_served(
    temporal: Client,
) -> None:
    """The run is past its event limit and waits for an unfinished handler (an invitation
    starting its clinician's workflow) when register_clinic arrives for a new location,
    and another while that one is with DoseSpot. Both are registered, then the run
    continues-as-new. A run that waited only for all_handlers_finished() would wait for
    the registration, which waits for the run: the updates would time out here."""
    release_b = asyncio.Event()
    b_started = asyncio.Event()

    async def answer(input: EnsureClinicInput) -> ClinicRecord:
        if input.location_id == "loc-b":
            b_started.set()
            await release_b.wait()
        return registered(input.location_id, {"loc-b": 2, "loc-c": 3}[input.location_id])

    ensure = EnsureClinic(answer)
    gate = WorkflowTaskGate()
    workspace = f"ws_{uuid.uuid4().hex[:8]}"
    # Already inviting (carried in as after a continue-as-new): the first workflow task
    # starts at event 3, so the next one, at event 7 or later, is past the limit.
    setup = ClinicSetupInput(
        workspace_id=workspace,
        state="inviting",
        clinics={"loc-a": registered("loc-a", 1)},
        continue_as_new_after_events=5,
    )
    tasks: list[asyncio.Task[Any]] = []
    async with setup_workflow(
        temporal,
        ensure,
        setup,
        activities=[record_clinician, send_member_email],
        max_cached_workflows=0,
        tuner=WorkerTuner.create_composite(
            workflow_supplier=gate,
            activity_supplier=FixedSizeSlotSupplier(20),
            local_activity_supplier=FixedSizeSlotSupplier(20),
            nexus_supplier=FixedSizeSlotSupplier(20),
        ),
    ) as handle:
        first_run_id = handle.first_execution_run_id
        assert first_run_id is not None
        child = temporal.get_workflow_handle(clinician_workflow_id(workspace, "m_ada"))
        try:
            gate.allow()  # the first workflow task
            await gate.finished_tasks(1)

            # The invitation's workflow task: the run is past its limit and waits for the
            # invitation's handler, which waits for its child's start.
            gate.allow()
            invite = await handle.start_update(
                ClinicSetupWorkflow.invite_clinicians,
                InviteRequest(member_ids=["m_ada"]),
                id="invite",
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            tasks.append(asyncio.ensure_future(invite.result()))
            # While no workflow task runs, the admin registers a new location.
            tasks.append(
                asyncio.ensure_future(
                    handle.execute_update(
                        ClinicSetupWorkflow.register_clinic,
                        RegisterClinicRequest(location_id="loc-b"),
                        id="register-b",
                    )
                )
            )
            await wait_admitted(temporal, handle.id, "register-b")
            gate.open()

            # While loc-b is with DoseSpot, another location.
            await within(
                b_started.wait(),
                "register_clinic(loc-b), sent while the run waited to continue-as-new, "
                "never reached DoseSpot",
            )
            tasks.append(
                asyncio.ensure_future(
                    handle.execute_update(
                        ClinicSetupWorkflow.register_clinic,
                        RegisterClinicRequest(location_id="loc-c"),
                        id="register-c",
                    )
                )
            )
            await wait_admitted(temporal, handle.id, "register-c")
            release_b.set()

            invited, record_b, record_c = await within(
                asyncio.gather(*tasks), "the invitation and both registrations did not finish"
            )
            assert [(i.member_id, i.status) for i in invited.items] == [("m_ada", "invited")]
            assert (record_b.status, record_b.dosespot_clinic_id) == (ClinicStatus.registered, 2)
            assert (record_c.status, record_c.dosespot_clinic_id) == (ClinicStatus.registered, 3)
            assert ensure.calls == {"loc-b": 1, "loc-c": 1}

            # Then the run continued-as-new, carrying everything.
            async def continued() -> WorkflowExecutionDescription:
                while True:
                    desc = await handle.describe()
                    if desc.run_id != first_run_id:
                        return desc
                    await asyncio.sleep(0.05)

            desc = await within(continued(), "the run did not continue-as-new")
            assert desc.status == WorkflowExecutionStatus.RUNNING
            runs = await run_chain(temporal, handle.id, first_run_id)
            assert len(runs) >= 2
            assert_never_failed(runs)
            # The first run itself served both registrations before continuing-as-new;
            # register-b came in while the invitation, accepted past the limit, was
            # still unfinished: the interleaving this test is about.
            first = runs[0][1].events
            accepted = {u: e.event_id for e in first if (u := accepted_update_id(e))}
            assert list(accepted) == ["invite", "register-b", "register-c"], accepted
            completed = {u: e.event_id for e in first if (u := completed_update_id(e))}
            assert set(completed) == set(accepted), completed
            invite_task_started = max(
                e.event_id
                for e in first
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
                and e.event_id < accepted["invite"]
            )
            assert invite_task_started >= setup.continue_as_new_after_events
            assert accepted["register-b"] < completed["invite"]
            assert accepted["register-c"] < completed["register-b"]
            progress = await handle.query(ClinicSetupWorkflow.progress)
            assert progress.stage == "inviting"
            assert {c.location_id: c.status for c in progress.clinics} == dict.fromkeys(
                ("loc-a", "loc-b", "loc-c"), ClinicStatus.registered
            )
            assert "m_ada" in progress.clinicians
        finally:
            release_b.set()
            gate.open()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with suppress(RPCError):
                await child.terminate("test over")
