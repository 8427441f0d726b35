"""The RenewalWatch's one activity: a round of renewal discovery for a workspace.

What a round does is :func:`api.renewal_service.discover` (the same look the renewal list
and a counts push take); the worker hands it in, so this module knows nothing of the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity


class RenewalWatchActivities:
    def __init__(self, discover: Callable[[str], Awaitable[None]]) -> None:
        self._discover = discover

    @activity.defn(name="discover_renewals")
    async def discover_renewals(self, workspace_id: str) -> None:
        """Read the workspace's prescribers' renewal queues into RenewalRequest workflows."""
        await self._discover(workspace_id)
