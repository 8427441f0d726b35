"""Invitations in bulk: one ClinicianEnrollment workflow per member, started concurrently.

Each clinician is an independent workflow (``erx-clinician:{ws}:{member}``), not a child
of the workspace's ClinicSetup: the clinic workflow's history does not grow with every
clinician, a thousand invitations go out in one request, and one member's failure to
start does not hold up or fail the others. The clinicians are found through the read
model (``clinician_enrollments``) and the ``ErxWorkspace``/``ErxMember`` search
attributes; each still tells the ClinicSetup when it changes the workspace's step.

Starting is idempotent: a member whose enrollment is running answers
``already_invited``; a deactivated (closed) enrollment is started afresh.

Enrollments start at ``INVITATION_PRIORITY``, below Temporal's default: until the clinician
acts, nobody waits on them. The clinician's first enrollment form moves theirs to the
default priority (``take_interactive_priority``), so a clinician filling in the form while
thousands of invitations are still being sent is served first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.clinician_schemas import InvitationPublic
from api.renewal_service import ensure_watch
from db.models import ClinicianEnrollment, utcnow
from db.upsert import upsert
from erx.settings import Settings
from erx.temporal import INVITATION_PRIORITY, SA_MEMBER, SA_STAGE, SA_WORKSPACE
from workflows.clinic_setup import clinic_setup_workflow_id
from workflows.clinician_enrollment import (
    GENERATION,
    ClinicianEnrollmentWorkflow,
    clinician_workflow_id,
)
from workflows.models import ClinicianEnrollmentInput, EnrollmentTimings

INVITED = "invited"
ALREADY_INVITED = "already_invited"
FAILED = "failed"


async def invite_all(
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    workspace_id: str,
    member_ids: Sequence[str],
    timings: EnrollmentTimings,
) -> list[InvitationPublic]:
    """Start every member's enrollment, at most ``invitation_concurrency`` at a time.

    Answers each member's outcome in the order asked. The read model shows each newly
    invited member as ``invited`` before this returns (a GET right after sees them).
    """
    gate = asyncio.Semaphore(settings.invitation_concurrency)

    async def start(member_id: str) -> InvitationPublic:
        async with gate:
            return await _start(temporal, settings, workspace_id, member_id, timings)

    items = list(await asyncio.gather(*(start(m) for m in member_ids)))
    invited = [i.member_id for i in items if i.status == INVITED]
    if invited:
        async with sessionmaker() as session:
            await _show_invited(session, workspace_id, invited)
            await session.commit()
        await ensure_watch(temporal, settings, workspace_id, look_now=False)
    return items


async def _start(
    temporal: Client,
    settings: Settings,
    workspace_id: str,
    member_id: str,
    timings: EnrollmentTimings,
) -> InvitationPublic:
    try:
        await temporal.start_workflow(
            ClinicianEnrollmentWorkflow.run,
            ClinicianEnrollmentInput(
                workspace_id=workspace_id,
                member_id=member_id,
                timings=timings,
                setup_workflow_id=clinic_setup_workflow_id(workspace_id),
                mail_task_queue=settings.mail_task_queue,
                generation=GENERATION,
            ),
            id=clinician_workflow_id(workspace_id, member_id),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            priority=INVITATION_PRIORITY,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SA_WORKSPACE, workspace_id),
                    SearchAttributePair(SA_MEMBER, member_id),
                    SearchAttributePair(SA_STAGE, INVITED),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        return InvitationPublic(member_id=member_id, status=ALREADY_INVITED)
    except RPCError as err:
        return InvitationPublic(
            member_id=member_id,
            status=FAILED,
            reason=f"the workflow service did not start the enrollment ({err.status.name}); "
            "invite again",
        )
    return InvitationPublic(member_id=member_id, status=INVITED)


async def _show_invited(session: AsyncSession, workspace_id: str, member_ids: list[str]) -> None:
    """Rows for the newly invited, unless their workflow already reported a later state."""
    rows = (
        await session.scalars(
            select(ClinicianEnrollment.member_id).where(
                ClinicianEnrollment.workspace_id == workspace_id,
                ClinicianEnrollment.member_id.in_(member_ids),
                ClinicianEnrollment.state != "deactivated",
            )
        )
    ).all()
    reported = set(rows)
    now = utcnow()
    for member_id in member_ids:
        if member_id in reported:
            continue
        await upsert(
            session,
            ClinicianEnrollment,
            {
                "workspace_id": workspace_id,
                "member_id": member_id,
                "state": INVITED,
                "tfa_active": False,
                "epcs_enabled": False,
                "idp_failed_attempts": 0,
                "idp_path": None,
                "idp_deadline": None,
                "invited_at": now,
                "verified_at": None,
                "deactivated_at": None,
                "status_json": None,
            },
        )
