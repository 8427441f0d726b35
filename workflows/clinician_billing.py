"""ClinicianBilling: one verified clinician's monthly charge, each period exactly once.

Workflow id ``erx-billing:{workspace}:{member}``; started when the clinician is
verified (never before) and continues-as-new after every charged period.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from statemachine.exceptions import TransitionNotAllowed

    from erx.money import money
    from erx.temporal import SA_MEMBER, SA_STAGE, SA_WORKSPACE
    from workflows.billing_calendar import period_containing, period_start, start_of_day
    from workflows.billing_lifecycle import BillingLifecycle
    from workflows.billing_models import (
        BillingDeactivate,
        BillingReactivate,
        BillingRecord,
        BillingState,
        BillingStatus,
        ChargeRequest,
        ChargeResult,
        ClinicianBillingInput,
        Price,
    )
    from workflows.versions import takes

# About eight minutes of back-off (30 s, 1, 2, 4 min) before the subscription shows past_due.
CHARGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=5,
)
# Our own database: keep trying; the charge it follows is already safe behind its key.
READ_MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
PAST_DUE_RETRY_INTERVAL = timedelta(hours=24)
READ_MODEL_TIMEOUT = timedelta(seconds=30)
# Earlier runs read the price and wrote the read model as activities (three events and a
# workflow task each); later ones run them as local activities, one marker each, in the
# workflow task that asks. The charge stays an activity of its own: it has its own retries.
LOCAL_READ_MODEL_PATCH = "billing-local-read-model"
# Runs started at this generation take every change above without recording a patch
# (workflows/versions.py).
GENERATION = 1


def clinician_billing_workflow_id(workspace_id: str, member_id: str) -> str:
    return f"erx-billing:{workspace_id}:{member_id}"


def billing_idempotency_key(workspace_id: str, member_id: str, start: date) -> str:
    return f"erx-billing:{workspace_id}:{member_id}:{start.isoformat()}"


@workflow.defn(name="ClinicianBilling")
class ClinicianBillingWorkflow:
    """Charges a verified clinician once per monthly period from the verification date.

    Period n starts n months after ``anchor`` (day clamped to the month's end). Period 0
    is charged at once, every later one at midnight UTC of its first day, at the price
    read when it starts. Each charge carries the idempotency key
    ``erx-billing:{workspace}:{member}:{period start}``, so a retried activity, a crashed
    worker or a restarted workflow finds the existing charge instead of making a second.
    When the provider keeps failing, the subscription turns past_due and the charge is
    tried again every 24 hours (or on ``retry_now``) until it goes through or the
    clinician is deactivated.

    Deactivation: no period that starts at or after ``effective_at`` is charged; a
    failing charge is given up. Reactivation keeps the original anchor: if the period
    containing the reactivation day was already charged, billing resumes with the next
    period; if it was not (it started while the clinician was deactivated), it is charged
    in full at once. Periods that began and ended while deactivated are never charged.

    Signals:
        deactivate(BillingDeactivate)
            Stop billing from ``effective_at`` (which may lie in the future).
        reactivate(BillingReactivate)
            Resume billing, or cancel a deactivation that has not taken effect yet.
        retry_now()
            Try a past_due charge again now instead of waiting for the next daily retry.
    Queries:
        status() -> BillingStatus
            active, past_due or deactivated; next charge date; periods billed; price.
    """

    @workflow.init
    def __init__(self, input: ClinicianBillingInput) -> None:
        self._workspace_id = input.workspace_id
        self._member_id = input.member_id
        self._anchor = input.anchor
        self._period = input.period
        self._periods_billed = input.periods_billed
        self._machine = BillingLifecycle(start_value=input.status.value)
        self._deactivate_at = input.deactivate_at
        self._reactivated_at = input.reactivated_at
        self._price = input.price
        self._last_error = input.last_error
        self._generation = input.generation
        self._recorded_status: BillingState | None = None
        self._retry_requested = False
        self._woken = False

    @workflow.run
    async def run(self, input: ClinicianBillingInput) -> None:
        self._publish()
        while not workflow.info().is_continue_as_new_suggested():
            if self._status == BillingState.deactivated:
                await self._wait_for_reactivation()
            elif not await self._wait_for_period_start():
                await self._stop_billing()
            elif await self._charge_period():
                break  # one run per charged period keeps every run's history small
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carried())

    # Signals and queries -------------------------------------------------------

    @workflow.signal
    def deactivate(self, request: BillingDeactivate) -> None:
        if self._status == BillingState.deactivated and self._reactivated_at is None:
            return
        self._reactivated_at = None
        at = request.effective_at
        self._deactivate_at = at if self._deactivate_at is None else min(at, self._deactivate_at)
        self._woken = True

    @workflow.signal
    def reactivate(self, request: BillingReactivate) -> None:
        self._deactivate_at = None
        if self._status == BillingState.deactivated:
            self._reactivated_at = request.at
        self._woken = True

    @workflow.signal
    def retry_now(self) -> None:
        if self._status == BillingState.past_due:
            self._retry_requested = True
            self._woken = True

    @workflow.query
    def status(self) -> BillingStatus:
        # What the read model shows once written: a reader who saw this status never reads
        # an older one from the database after it.
        record = self._as_record(self._recorded_status or self._status)
        return BillingStatus(**record.model_dump(), summary=self._summary())

    # The story's steps ---------------------------------------------------------

    async def _wait_for_period_start(self) -> bool:
        """Sleep until the next period starts; False if deactivation takes effect first."""
        while True:
            now = workflow.now()
            due_at = start_of_day(self._period_start)
            if due_at <= now and (self._deactivate_at is None or due_at < self._deactivate_at):
                return True
            if self._deactivation_effective(now):
                return False
            wake_at = due_at if self._deactivate_at is None else min(due_at, self._deactivate_at)
            await self._sleep_until(wake_at, f"period {self._period} starts")

    async def _charge_period(self) -> bool:
        """Charge the due period, through past_due if the provider keeps failing.

        False when the clinician is deactivated before the charge goes through.
        """
        self._price = await self._read_model("current_price", result_type=Price)
        start = self._period_start
        request = ChargeRequest(
            workspace_id=self._workspace_id,
            member_id=self._member_id,
            period=self._period,
            period_start=start,
            amount_cents=self._price.amount_cents,
            currency=self._price.currency,
            idempotency_key=billing_idempotency_key(self._workspace_id, self._member_id, start),
        )
        while True:
            try:
                await workflow.execute_activity(
                    "charge_period",
                    request,
                    result_type=ChargeResult,
                    start_to_close_timeout=timedelta(minutes=1),
                    retry_policy=CHARGE_RETRY,
                    summary=f"charge period {self._period} ({start.isoformat()})",
                )
                break
            except ActivityError as err:
                await self._fall_past_due(err)
            if not await self._wait_to_retry():
                await self._stop_billing()
                return False
        self._period += 1
        self._periods_billed += 1
        self._last_error = None
        self._fire("charged")
        await self._record()
        self._publish()
        return True

    async def _fall_past_due(self, err: ActivityError) -> None:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            self._last_error = f"{cause.type or 'Error'}: {cause.message}"
        else:
            self._last_error = str(cause or err)
        self._fire("charge_failed")
        await self._record()
        self._publish()

    async def _wait_to_retry(self) -> bool:
        """Wait for the daily retry or ``retry_now``; False if deactivation comes first."""
        self._retry_requested = False
        retry_at = workflow.now() + PAST_DUE_RETRY_INTERVAL
        while True:
            now = workflow.now()
            if self._deactivation_effective(now):
                return False
            if self._retry_requested or now >= retry_at:
                return True
            wake_at = (
                retry_at if self._deactivate_at is None else min(retry_at, self._deactivate_at)
            )
            await self._sleep_until(wake_at, "retry the past-due charge")

    async def _stop_billing(self) -> None:
        self._fire("deactivate")
        await self._record()
        self._publish()

    async def _wait_for_reactivation(self) -> None:
        await workflow.wait_condition(
            lambda: (
                self._reactivated_at is not None or workflow.info().is_continue_as_new_suggested()
            )
        )
        if self._reactivated_at is None:
            return
        day = self._reactivated_at.astimezone(UTC).date()
        self._period = max(self._period, period_containing(self._anchor, day))
        self._reactivated_at = None
        self._deactivate_at = None
        self._last_error = None
        self._fire("reactivate")
        await self._record()
        self._publish()

    async def _record(self) -> None:
        status = self._status
        await self._read_model("record_billing", self._as_record(status))
        self._recorded_status = status

    def _as_record(self, status: BillingState) -> BillingRecord:
        return BillingRecord(
            workspace_id=self._workspace_id,
            member_id=self._member_id,
            status=status,
            anchor=self._anchor,
            next_charge_date=self._next_charge_date,
            periods_billed=self._periods_billed,
            amount_cents=self._price.amount_cents if self._price else None,
            currency=self._price.currency if self._price else None,
            last_error=self._last_error,
        )

    async def _read_model(self, name: str, *args: Any, result_type: type | None = None) -> Any:
        """A read or write of our own database: a local activity, or in runs started before
        that change, an activity."""
        call = (
            workflow.execute_local_activity
            if takes(LOCAL_READ_MODEL_PATCH, self._generation)
            else workflow.execute_activity
        )
        return await call(
            name,
            args=list(args),
            result_type=result_type,
            start_to_close_timeout=READ_MODEL_TIMEOUT,
            retry_policy=READ_MODEL_RETRY,
        )

    # Helpers -------------------------------------------------------------------

    @property
    def _status(self) -> BillingState:
        return BillingState(str(self._machine.current_state_value))

    @property
    def _period_start(self) -> date:
        return period_start(self._anchor, self._period)

    @property
    def _next_charge_date(self) -> date | None:
        if self._status == BillingState.deactivated:
            return None
        start = self._period_start
        if self._deactivate_at is not None and start_of_day(start) >= self._deactivate_at:
            return None
        return start

    def _deactivation_effective(self, now: datetime) -> bool:
        return self._deactivate_at is not None and self._deactivate_at <= now

    async def _sleep_until(self, at: datetime, summary: str) -> None:
        """Sleep until ``at``, waking early when a signal changes the plan."""
        self._woken = False
        try:
            await workflow.wait_condition(
                lambda: self._woken, timeout=at - workflow.now(), timeout_summary=summary
            )
        except TimeoutError:
            pass

    def _fire(self, event: str) -> None:
        # Self-transitions (charged while active) are legal; anything else is a no-op.
        if event in {e.id for e in self._machine.allowed_events}:
            try:
                self._machine.send(event)
            except TransitionNotAllowed:
                workflow.logger.warning("transition %s refused in %s", event, self._status)

    def _summary(self) -> str:
        parts = [self._status.value]
        if self._status == BillingState.past_due:
            parts.append(f"charge for {self._period_start.isoformat()} failing, retried daily")
        elif self._next_charge_date is not None:
            parts.append(f"next charge {self._next_charge_date.isoformat()}")
        parts.append(
            f"{self._periods_billed} period{'' if self._periods_billed == 1 else 's'} billed"
        )
        if self._price is not None:
            parts.append(f"{money(self._price.amount_cents, self._price.currency)}/month")
        return "; ".join(parts)

    def _publish(self) -> None:
        workflow.upsert_search_attributes(
            [
                SA_WORKSPACE.value_set(self._workspace_id),
                SA_MEMBER.value_set(self._member_id),
                SA_STAGE.value_set(self._status.value),
            ]
        )
        workflow.set_current_details(self._summary())

    def _carried(self) -> ClinicianBillingInput:
        return ClinicianBillingInput(
            workspace_id=self._workspace_id,
            member_id=self._member_id,
            anchor=self._anchor,
            period=self._period,
            periods_billed=self._periods_billed,
            status=self._status,
            deactivate_at=self._deactivate_at,
            reactivated_at=self._reactivated_at,
            price=self._price,
            last_error=self._last_error,
            generation=GENERATION,
        )
