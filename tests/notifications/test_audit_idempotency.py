"""The EPCS audit log: a retried append writes one row, and the log stays append-only."""

from __future__ import annotations

import asyncio
import uuid
from typing import cast

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.clinicians import ClinicianActivities
from db.models import EpcsAuditEntry
from dosespot import DoseSpotClient
from erx.codec import SecretBox
from tests.conftest import WorkspaceKeys
from workflows.models import EpcsAuditInput


@pytest.fixture
def activities(sessionmaker: async_sessionmaker[AsyncSession]) -> ClinicianActivities:
    # Appending to the audit log needs only the database.
    return ClinicianActivities(cast(DoseSpotClient, None), sessionmaker, cast(SecretBox, None), 0)


def entry(workspace: WorkspaceKeys, key: str | None, outcome: str = "granted") -> EpcsAuditInput:
    return EpcsAuditInput(
        workspace_id=workspace.id,
        subject_member_id=workspace.member_id,
        actor_member_id=workspace.admin_member_id,
        action="approve",
        outcome=outcome,
        idempotency_key=key,
    )


async def rows(
    sessionmaker: async_sessionmaker[AsyncSession], workspace: WorkspaceKeys
) -> list[EpcsAuditEntry]:
    async with sessionmaker() as session:
        result = await session.scalars(
            select(EpcsAuditEntry)
            .where(EpcsAuditEntry.workspace_id == workspace.id)
            .order_by(EpcsAuditEntry.id)
        )
        return list(result)


async def test_a_retried_append_writes_one_row(
    activities: ClinicianActivities,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    key = f"erx-clinician:{workspace.id}:{workspace.member_id}:7"
    env = ActivityEnvironment()
    await env.run(activities.append_epcs_audit, entry(workspace, key))
    # The retry carries the same key, even if what it would write differs.
    await env.run(activities.append_epcs_audit, entry(workspace, key, outcome="refused"))
    [row] = await rows(sessionmaker, workspace)
    assert (row.idempotency_key, row.outcome) == (key, "granted")


async def test_concurrent_appends_with_one_key_write_one_row(
    activities: ClinicianActivities,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    key = f"erx-clinician:{workspace.id}:{workspace.member_id}:3"
    env = ActivityEnvironment()
    await asyncio.gather(
        *(env.run(activities.append_epcs_audit, entry(workspace, key)) for _ in range(5))
    )
    assert [r.idempotency_key for r in await rows(sessionmaker, workspace)] == [key]


async def test_different_keys_are_different_rows(
    activities: ClinicianActivities,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    prefix = f"erx-clinician:{workspace.id}:{workspace.member_id}"
    env = ActivityEnvironment()
    await env.run(activities.append_epcs_audit, entry(workspace, f"{prefix}:1"))
    await env.run(activities.append_epcs_audit, entry(workspace, f"{prefix}:2"))
    await env.run(activities.append_epcs_audit, entry(workspace, f"{prefix}:1"))
    keys = [r.idempotency_key for r in await rows(sessionmaker, workspace)]
    assert keys == [f"{prefix}:1", f"{prefix}:2"]


async def test_appends_without_a_key_are_all_kept(
    activities: ClinicianActivities,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    env = ActivityEnvironment()
    await env.run(activities.append_epcs_audit, entry(workspace, None))
    await env.run(activities.append_epcs_audit, entry(workspace, None))
    assert [r.idempotency_key for r in await rows(sessionmaker, workspace)] == [None, None]


@pytest.mark.parametrize("change", ["update", "delete"])
async def test_the_log_is_still_append_only(
    activities: ClinicianActivities,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
    change: str,
) -> None:
    key = f"api:{uuid.uuid4()}"
    await ActivityEnvironment().run(activities.append_epcs_audit, entry(workspace, key))
    statement = (
        update(EpcsAuditEntry).values(idempotency_key=None, outcome="refused")
        if change == "update"
        else delete(EpcsAuditEntry)
    ).where(EpcsAuditEntry.idempotency_key == key)
    async with sessionmaker() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(statement)
        await session.rollback()
    [row] = await rows(sessionmaker, workspace)
    assert (row.idempotency_key, row.outcome) == (key, "granted")
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(EpcsAuditEntry)
            .where(EpcsAuditEntry.idempotency_key == key)
        )
    assert count == 1
