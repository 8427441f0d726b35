"""Push notifications as DoseSpot sends them: background POSTs that may be lost,
duplicated or reordered, under the sandbox's control."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

logger = logging.getLogger("dosespot_sandbox.notifications")


class NotificationSettings(BaseModel):
    url: str | None = None
    secret: str = ""
    duplicate_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    drop_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    # Each delivery waits a random time up to this, so later events can overtake earlier ones.
    reorder_window_seconds: float = Field(default=0.0, ge=0.0)
    seed: int | None = None


PlannedAction = Literal["drop", "duplicate", "reorder"]


class NextDeliveries(BaseModel):
    """What happens to the next ``count`` events, whatever the probabilities say: ``drop``
    loses them, ``duplicate`` delivers each twice, ``reorder`` holds them until ``count``
    have been emitted and then delivers them newest first."""

    action: PlannedAction
    count: int = Field(default=1, ge=1, le=1000)


class Notifier:
    def __init__(self, settings: NotificationSettings, timeout_seconds: float = 20.0) -> None:
        self.settings = settings
        self.timeout_seconds = timeout_seconds
        self._rng = random.Random(settings.seed)
        self._ids = itertools.count(1)
        self._log: list[dict[str, Any]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._plan: list[PlannedAction] = []
        self._held: list[dict[str, Any]] = []
        self._reorder_group = 0

    def plan(self, next_deliveries: NextDeliveries) -> list[PlannedAction]:
        """Queue one-shot actions for the next events (after any already planned)."""
        if next_deliveries.action == "reorder":
            self._reorder_group = next_deliveries.count
        self._plan.extend([next_deliveries.action] * next_deliveries.count)
        return list(self._plan)

    def planned(self) -> list[PlannedAction]:
        return list(self._plan)

    def clear_plan(self) -> None:
        """Forget planned actions; events already held are delivered, newest first."""
        self._plan.clear()
        self._release_held()

    def configure(self, settings: NotificationSettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)

    def log(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self._log]

    def clear_log(self) -> None:
        self._log.clear()

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue an event; never waits for delivery. Must run on the server's event loop."""
        event_id = next(self._ids)
        settings = self.settings
        base = {"event_id": event_id, "event_type": event_type, "data": data, "url": settings.url}
        planned = self._plan.pop(0) if self._plan else None
        if planned is not None:
            base["planned"] = planned
        if settings.url is None:
            self._log.append({**base, "outcome": "no_target", "duplicate": False})
            return
        if planned == "drop" or (
            planned is None and self._rng.random() < settings.drop_probability
        ):
            self._log.append({**base, "outcome": "dropped", "duplicate": False})
            return
        if planned == "reorder":
            entry = {**base, "outcome": "held", "duplicate": False, "queued_at": time.time()}
            self._log.append(entry)
            self._held.append(entry)
            if len(self._held) >= self._reorder_group or "reorder" not in self._plan:
                self._release_held()
            return
        if planned == "duplicate":
            copies = 2
        else:
            copies = 2 if self._rng.random() < settings.duplicate_probability else 1
        for copy_index in range(copies):
            entry = {
                **base,
                "outcome": "pending",
                "duplicate": copy_index > 0,
                "queued_at": time.time(),
            }
            self._log.append(entry)
            delay = self._rng.uniform(0.0, settings.reorder_window_seconds)
            task = asyncio.get_running_loop().create_task(
                self._deliver(entry, settings.url, settings.secret, delay)
            )
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _release_held(self) -> None:
        """Deliver the held events one after another, newest first."""
        held, self._held = self._held, []
        if not held:
            return
        settings = self.settings
        for entry in held:
            entry["outcome"] = "pending"
        held.reverse()

        async def deliver_in_turn() -> None:
            for entry in held:
                await self._deliver(entry, entry["url"] or "", settings.secret, 0.0)

        task = asyncio.get_running_loop().create_task(deliver_in_turn())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, entry: dict[str, Any], url: str, secret: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        body = {"EventType": entry["event_type"], "Data": entry["data"]}
        try:
            response = await self._client.post(
                url, json=body, headers={"Authorization": f"Secret {secret}"}
            )
        except httpx.HTTPError as exc:
            entry.update(outcome="failed", error=type(exc).__name__, sent_at=time.time())
            logger.info("notification %s %s failed: %s", entry["event_id"], url, type(exc).__name__)
            return
        entry.update(
            outcome="delivered" if response.is_success else "rejected",
            status_code=response.status_code,
            sent_at=time.time(),
        )
        logger.info(
            "notification %s %s -> %s", entry["event_id"], entry["event_type"], response.status_code
        )

    async def flush(self) -> None:
        self._release_held()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*list(self._pending), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
