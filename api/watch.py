"""Long polls on the read model: a GET that waits for a clinician's row to change.

``GET .../erx/clinicians/{id}`` answers with an ``ETag``. A client that already has that
answer sends it back in ``If-None-Match`` with ``wait=<seconds>``; the route then waits for
the clinician's workflow to write a newer revision of its row, and answers with the new
state as soon as there is one, or 304 Not Modified when the wait runs out. A client learns
of each change at once with one request per change, where polling costs a request per
interval whether anything changed or not.

The rows are written by the worker, another process, so the API looks: one task per API
process reads the revisions of every row someone waits on, in one query per ``interval``
(and none while nobody waits). A waiting request holds no database connection; the task
holds one only for its query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import ClinicianEnrollment

log = logging.getLogger(__name__)

Key = tuple[str, str]
# Keys per query: well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 400
ERROR_DELAY_SECONDS = 1.0


class RevisionWatch:
    """Wakes waiters when the revision of the clinician row they wait on changes."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], interval: float) -> None:
        self._sessionmaker = sessionmaker
        self._interval = interval
        self._waiters: dict[Key, list[tuple[int, asyncio.Future[None]]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def changed(self, key: Key, revision: int, seconds: float) -> bool:
        """Whether the row ``key`` moved past ``revision`` within ``seconds``
        (a row that did not exist waits at revision 0)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, future)
        self._waiters.setdefault(key, []).append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._look(), name="read-model-watch")
        try:
            await asyncio.wait_for(future, seconds)
            return True
        except TimeoutError:
            return False
        finally:
            waiting = self._waiters.get(key, [])
            if entry in waiting:
                waiting.remove(entry)
            if not waiting:
                self._waiters.pop(key, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for waiting in self._waiters.values():
            for _, future in waiting:
                future.cancel()
        self._waiters.clear()

    async def _look(self) -> None:
        delay = self._interval
        while True:
            await asyncio.sleep(delay)
            keys = list(self._waiters)
            if not keys:
                return
            try:
                revisions = await self._revisions(keys)
            except Exception:
                # A database that does not answer now may answer at a later look (once a
                # second while it does not); the waiters' own timeouts bound every wait.
                log.warning("read-model watch: the revisions could not be read", exc_info=True)
                delay = max(self._interval, ERROR_DELAY_SECONDS)
                continue
            delay = self._interval
            for key, waiting in list(self._waiters.items()):
                current = revisions.get(key, 0)
                for revision, future in waiting:
                    if current != revision and not future.done():
                        future.set_result(None)

    async def _revisions(self, keys: list[Key]) -> dict[Key, int]:
        found: dict[Key, int] = {}
        async with self._sessionmaker() as session:
            for chunk in _chunks(keys, CHUNK):
                rows = await session.execute(
                    select(
                        ClinicianEnrollment.workspace_id,
                        ClinicianEnrollment.member_id,
                        ClinicianEnrollment.revision,
                    ).where(
                        tuple_(ClinicianEnrollment.workspace_id, ClinicianEnrollment.member_id).in_(
                            chunk
                        )
                    )
                )
                for workspace_id, member_id, revision in rows:
                    found[(workspace_id, member_id)] = revision
        return found


def _chunks(keys: list[Key], size: int) -> Iterable[list[Key]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]
