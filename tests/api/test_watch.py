"""The long poll's watch (api/watch.py) against the read model's database."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.watch import RevisionWatch
from db.models import ClinicianEnrollment
from tests.conftest import WorkspaceKeys


async def _write(
    sessionmaker: async_sessionmaker[AsyncSession], ws: str, member_id: str, revision: int
) -> None:
    async with sessionmaker() as session:
        if revision == 1:
            session.add(
                ClinicianEnrollment(
                    workspace_id=ws, member_id=member_id, state="invited", revision=revision
                )
            )
        else:
            await session.execute(
                update(ClinicianEnrollment)
                .where(
                    ClinicianEnrollment.workspace_id == ws,
                    ClinicianEnrollment.member_id == member_id,
                )
                .values(revision=revision)
            )
        await session.commit()


async def test_waiters_wake_on_their_own_row_only(
    sessionmaker: async_sessionmaker[AsyncSession], workspace: WorkspaceKeys
) -> None:
    ws = workspace.id
    watch = RevisionWatch(sessionmaker, interval=0.02)
    try:
        # A row that does not exist yet waits at revision 0 and wakes when it is written.
        appears = asyncio.create_task(watch.changed((ws, "m_ada"), 0, 10))
        other = asyncio.create_task(watch.changed((ws, "m_admin"), 0, 10))
        await asyncio.sleep(0.1)
        assert not appears.done()
        await _write(sessionmaker, ws, "m_ada", 1)
        assert await asyncio.wait_for(appears, 5) is True
        assert not other.done()

        # A waiter that knows revision 1 sleeps through looks that find 1, wakes on 2.
        newer = asyncio.create_task(watch.changed((ws, "m_ada"), 1, 10))
        await asyncio.sleep(0.1)
        assert not newer.done()
        await _write(sessionmaker, ws, "m_ada", 2)
        assert await asyncio.wait_for(newer, 5) is True

        # Nothing changes: the wait runs out.
        assert await watch.changed((ws, "m_ada"), 2, 0.1) is False
        # A client that goes away takes its wait with it; with nobody waiting, the looks stop.
        other.cancel()
        await asyncio.gather(other, return_exceptions=True)
        assert watch._waiters == {}
        await asyncio.sleep(0.1)
        assert watch._task is not None and watch._task.done()
    finally:
        await watch.stop()


async def test_a_database_that_fails_ends_no_wait_early(
    sessionmaker: async_sessionmaker[AsyncSession], workspace: WorkspaceKeys
) -> None:
    looks = 0

    class Failing:
        def __call__(self) -> AsyncSession:
            nonlocal looks
            looks += 1
            raise ConnectionError("database unavailable")

    watch = RevisionWatch(Failing(), interval=0.02)  # type: ignore[arg-type]
    try:
        assert await watch.changed((workspace.id, "m_ada"), 0, 0.5) is False
    finally:
        await watch.stop()
    # One look, then once a second while the database does not answer.
    assert looks == 1
