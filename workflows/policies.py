"""One timeout and retry policy per kind of call our workflows make.

Non-retryable error types are named from the error classes: DoseSpot's typed errors
that say a retry cannot help, and our own ``DomainFailure`` types. A call that fails
non-retryably, or whose retries run out of time, moves the workflow to a visible
blocked state (see ``blocked_reason``); it never fails the workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from dosespot.errors import DoseSpotError
    from workflows.failures import (
        ClinicNotRegistered,
        DomainFailure,
        LocationNotFound,
        MailRejected,
        MemberNotFound,
        NpiInUse,
    )


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


DOSESPOT_NON_RETRYABLE = sorted(
    {
        cls.__name__
        for cls in _subclasses(DoseSpotError)
        if not getattr(cls, "retryable_by_default", False)
    }
    | {cls.__name__ for cls in _subclasses(DomainFailure)}
)
MAIL_NON_RETRYABLE = [MemberNotFound.__name__, MailRejected.__name__]


@dataclass(frozen=True)
class CallPolicy:
    """How long one attempt may take, how attempts are retried, and when to give up."""

    start_to_close: timedelta
    retry: RetryPolicy
    # Retries stop here: the workflow then shows the call as blocked.
    schedule_to_close: timedelta | None = None
    heartbeat: timedelta | None = None


DOSESPOT = CallPolicy(
    start_to_close=timedelta(seconds=60),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=DOSESPOT_NON_RETRYABLE,
    ),
    schedule_to_close=timedelta(hours=1),
)
# Creating a DoseSpot record looks before it writes, so an attempt may take longer.
DOSESPOT_CREATE = CallPolicy(
    start_to_close=timedelta(seconds=90),
    retry=DOSESPOT.retry,
    schedule_to_close=timedelta(hours=1),
)
# The partner-clinic scan heartbeats per clinic; a stuck scan is retried, not waited out.
DOSESPOT_SCAN = CallPolicy(
    start_to_close=timedelta(minutes=10),
    retry=DOSESPOT.retry,
    schedule_to_close=timedelta(hours=1),
    heartbeat=timedelta(seconds=30),
)
# Our own database and Temporal: only transient failures, so retried until they pass.
RECORD = CallPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)
EMAIL = CallPolicy(
    start_to_close=timedelta(seconds=60),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        maximum_interval=timedelta(minutes=10),
        non_retryable_error_types=MAIL_NON_RETRYABLE,
    ),
    schedule_to_close=timedelta(days=1),
)


async def call(
    policy: CallPolicy, activity: Callable[..., Any], arg: Any, *, task_queue: str | None = None
) -> Any:
    """Run one activity method under ``policy`` (on ``task_queue``, else the workflow's)."""
    return await workflow.execute_activity_method(
        activity,  # type: ignore[arg-type]
        arg,
        task_queue=task_queue,
        start_to_close_timeout=policy.start_to_close,
        schedule_to_close_timeout=policy.schedule_to_close,
        heartbeat_timeout=policy.heartbeat,
        retry_policy=policy.retry,
    )


async def call_local(policy: CallPolicy, activity: Callable[..., Any], arg: Any) -> Any:
    """Run one short activity method as a local activity under ``policy``: done within the
    workflow task that asks for it, one marker in history instead of three events and a
    second workflow task. For quick, idempotent writes to our own database."""
    return await workflow.execute_local_activity_method(
        activity,  # type: ignore[arg-type]
        arg,
        start_to_close_timeout=policy.start_to_close,
        schedule_to_close_timeout=policy.schedule_to_close,
        retry_policy=policy.retry,
    )


_REASONS = {
    "DoseSpotRefused": "dosespot_refused",
    "DoseSpotValidationError": "dosespot_rejected_data",
    "DoseSpotAuthError": "dosespot_credentials",
    "DoseSpotNotFound": "dosespot_not_found",
    "DoseSpotUnexpectedResponse": "dosespot_unexpected_response",
    "UnknownRegistrationStatus": "dosespot_unexpected_response",
    ClinicNotRegistered.__name__: "clinic_not_registered",
    LocationNotFound.__name__: "location_not_found",
    MemberNotFound.__name__: "member_not_found",
    NpiInUse.__name__: "npi_in_use",
    MailRejected.__name__: "mail_rejected",
}


@dataclass(frozen=True)
class FailureFacts:
    """What an admin needs to know about a call that could not be completed."""

    reason: str
    error_type: str
    message: str


def failure_facts(err: BaseException) -> FailureFacts:
    """The blocked reason code, the error's type and its message (DoseSpot's words)."""
    cause: BaseException = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        error_type = cause.type or "ApplicationError"
        if cause.type in _REASONS:
            reason = _REASONS[error_type]
        elif isinstance(cause, DomainFailure):
            reason = "data_missing"
        else:
            reason = "retries_exhausted"
        return FailureFacts(reason, error_type, cause.message)
    if isinstance(cause, TimeoutError):
        return FailureFacts(
            "retries_exhausted", "TimeoutError", "the call did not succeed before its deadline"
        )
    return FailureFacts("error", type(cause).__name__, str(cause))
