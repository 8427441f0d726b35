"""Talking to ClinicianEnrollment workflows: updates, their refusals as HTTP errors, status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict, DomainError, NotFound, Unavailable
from db.models import ClinicianEnrollment
from erx.settings import Settings
from erx.temporal import update_result_within
from workflows.clinician_enrollment import (
    CONTROLLED_SUBSTANCE_REFUSAL,
    ClinicianEnrollmentWorkflow,
    clinician_workflow_id,
)
from workflows.lifecycles import VERIFIED_STATES
from workflows.models import ClinicianStatus, EnrollmentTimings

T = TypeVar("T")


class UpdateRefused(DomainError):
    """A workflow refused an update; carries the refusal's type for the caller to audit."""

    def __init__(self, status_code: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.status_code = status_code
        self.code = code


def timings(settings: Settings) -> EnrollmentTimings:
    return EnrollmentTimings(
        confirmation_poll_seconds=settings.confirmation_poll_seconds,
        idp_poll_seconds=settings.idp_poll_seconds,
        tfa_poll_seconds=settings.tfa_poll_seconds,
        poll_max_seconds=settings.poll_max_seconds,
        idme_window_hours=settings.idme_window_hours,
        confirmation_deadline_days=settings.confirmation_deadline_days,
        tfa_deadline_days=settings.tfa_deadline_days,
        idp_deadline_days=settings.idp_deadline_days,
        continue_as_new_after_events=settings.continue_as_new_after_events,
    )


def handle_for(client: Client, workspace_id: str, member_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle_for(
        ClinicianEnrollmentWorkflow.run, clinician_workflow_id(workspace_id, member_id)
    )


# The refusals update validators give on purpose, by type, and their HTTP status.
REFUSAL_STATUS = {
    "ActionNotAllowed": 409,
    "ClinicNotRegistered": 409,
    "ApprovalRefused": 403,
    "ControlledSubstanceRefused": 403,
}


def refusal(err: WorkflowUpdateFailedError) -> DomainError:
    """The HTTP error a workflow's refusal of an update stands for."""
    cause = err.cause
    status = REFUSAL_STATUS.get(cause.type or "") if isinstance(cause, ApplicationError) else None
    if status is None:
        # Not a refusal the workflow meant to give: an error of ours, never a 409.
        raise err
    assert isinstance(cause, ApplicationError)
    details = cause.details[0] if cause.details else {}
    extra = details if isinstance(details, dict) else {}
    code = {403: "forbidden", 409: "conflict"}[status]
    return UpdateRefused(status, code, cause.message, reason_type=cause.type, **extra)


async def call(awaitable: Awaitable[T]) -> T:
    """Await a workflow call; a missing or finished workflow and refusals become HTTP errors."""
    try:
        return await awaitable
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from err
    except RPCError as err:
        # The enrollment ends only by deactivation; the server reports an update to the
        # ended run as NOT_FOUND "workflow execution already completed".
        if "already completed" in str(err).lower():
            raise Conflict(
                "this clinician has been deactivated",
                state="deactivated",
                allowed_actions=[],
            ) from err
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound("this member has not been invited to eRx") from err
        if not_ready(err):
            raise Unavailable(
                "the clinician's workflow is catching up and took nothing; try again shortly"
            ) from err
        raise


def not_ready(err: RPCError) -> bool:
    """The server refused an update because the workflow's last task failed or timed out
    (it retries that task by itself); the update was not taken."""
    return err.status == RPCStatusCode.FAILED_PRECONDITION and (
        "WorkflowNotReadyFailure" in repr(err.raw_grpc_status)
        or "unable to perform workflow execution update" in str(err).lower()
    )


async def status(client: Client, workspace_id: str, member_id: str) -> ClinicianStatus:
    handle = handle_for(client, workspace_id, member_id)
    return await call(handle.query(ClinicianEnrollmentWorkflow.status))


async def update_with_wait(
    handle: WorkflowHandle[Any, Any], update: Any, arg: Any, wait: float
) -> Any | None:
    """Send an update; its result if it finishes within ``wait`` seconds, else None.

    A workflow that is not ready to take it (its last task failed or timed out, and the
    server is retrying that task) is asked again within the same ``wait``. Every attempt
    carries the same update id: an attempt the workflow took although its answer came back
    as an error is found by the next one, not refused as a second submission.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.2
    update_id = str(uuid.uuid4())
    while True:
        try:
            update_handle = await handle.start_update(
                update, arg, id=update_id, wait_for_stage=WorkflowUpdateStage.ACCEPTED
            )
            break
        except RPCError as err:
            if not not_ready(err) or loop.time() + delay >= deadline:
                await call(_raise(err))
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
    return await call(update_result_within(update_handle, max(deadline - loop.time(), 0.1)))


async def _raise(err: BaseException) -> None:
    raise err


async def require_controlled_substance_permission(
    client: Client, workspace_id: str, member_id: str
) -> None:
    """Refuse a controlled-substance send unless the clinician's EPCS access is granted.

    A query: the check writes nothing to the workflow's history.
    """
    handle = handle_for(client, workspace_id, member_id)
    try:
        permission = await call(
            handle.query(ClinicianEnrollmentWorkflow.controlled_substance_permission)
        )
    except (NotFound, Conflict) as err:
        raise UpdateRefused(403, "forbidden", CONTROLLED_SUBSTANCE_REFUSAL) from err
    if not permission.allowed:
        raise UpdateRefused(403, "forbidden", CONTROLLED_SUBSTANCE_REFUSAL)


async def verified_prescriber(
    session: AsyncSession, ws: str, member_id: str, refusal: str, **facts: Any
) -> ClinicianEnrollment:
    """The member's enrollment if they are verified for e-prescribing with a DoseSpot user;
    else 409 with ``refusal`` and their state."""
    enrollment = await session.get(ClinicianEnrollment, (ws, member_id))
    if (
        enrollment is None
        or enrollment.state not in VERIFIED_STATES
        or enrollment.dosespot_clinician_id is None
    ):
        raise Conflict(
            refusal,
            **facts,
            state=enrollment.state if enrollment else "not_invited",
            allowed_actions=[],
        )
    return enrollment
