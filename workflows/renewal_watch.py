"""RenewalWatch: one per workspace (``erx-renewals:{workspace}``), so every renewal request
DoseSpot queues for the workspace's prescribers becomes its RenewalRequest workflow even
when the push that announces it is lost and nobody lists the renewals.

Every ``poll_minutes`` (and at once on ``look_now``) it reads the renewal queues of the
workspace's verified prescribers (``discover_renewals``: a request seen for the first time
gets its workflow, started once; an open one DoseSpot no longer lists is told to look). A
round that fails is logged and the next one tries again: the watch never fails and never
ends by itself. It continues as new past ``continue_as_new_after_events``. The API starts
it (if it is not running) when clinicians are invited, when renewals are listed and when
DoseSpot pushes a prescriber's notification counts.

Signals:
    look_now()   read the queues now (a counts push, a list)
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.renewal_watch import RenewalWatchActivities
    from workflows import policies
    from workflows.waiting import wait_until

# One round: every prescriber's queue of a large workspace, retried briefly; the next round
# comes anyway.
ROUND = policies.CallPolicy(
    start_to_close=timedelta(minutes=5),
    retry=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3),
)


class RenewalWatchInput(BaseModel):
    workspace_id: str
    poll_minutes: float = 15.0
    continue_as_new_after_events: int = 1000


def renewal_watch_workflow_id(workspace_id: str) -> str:
    return f"erx-renewals:{workspace_id}"


@workflow.defn(name="RenewalWatch")
class RenewalWatchWorkflow:
    @workflow.init
    def __init__(self, input: RenewalWatchInput) -> None:
        self._look_now = False
        self._rounds = 0

    @workflow.run
    async def run(self, input: RenewalWatchInput) -> None:
        while True:
            self._look_now = False
            try:
                await policies.call(
                    ROUND, RenewalWatchActivities.discover_renewals, input.workspace_id
                )
            except ActivityError as err:
                workflow.logger.warning("renewal queues not read this round: %s", err.cause)
            self._rounds += 1
            await wait_until(lambda: self._look_now, input.poll_minutes * 60)
            info = workflow.info()
            if (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= input.continue_as_new_after_events
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(input)

    @workflow.signal
    def look_now(self) -> None:
        self._look_now = True

    @workflow.query
    def rounds(self) -> int:
        """Rounds read in this run."""
        return self._rounds
