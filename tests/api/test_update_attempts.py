"""The enrollment PUT's update, asked again after the workflow was not ready, is the same
update: one id across attempts, so the server finds a first attempt it took."""

from __future__ import annotations

from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from api.clinician_service import update_with_wait


class AcceptedUpdate:
    async def result(self) -> str:
        return "enrolling"


class NotReadyOnce:
    """A workflow handle whose first update attempt meets a failed workflow task."""

    def __init__(self) -> None:
        self.ids: list[str | None] = []

    async def start_update(self, update: Any, arg: Any, **options: Any) -> AcceptedUpdate:
        self.ids.append(options.get("id"))
        if len(self.ids) == 1:
            raise RPCError(
                "unable to perform workflow execution update due to unexpected workflow task "
                "failure",
                RPCStatusCode.FAILED_PRECONDITION,
                b"",
            )
        return AcceptedUpdate()


async def test_an_attempt_after_a_not_ready_workflow_carries_the_first_attempts_id() -> None:
    handle = NotReadyOnce()
    result = await update_with_wait(handle, "submit_enrollment", {"npi": "1"}, wait=5)  # type: ignore[arg-type]
    assert result == "enrolling"
    assert len(handle.ids) == 2
    assert handle.ids[0] is not None
    assert handle.ids[0] == handle.ids[1]


async def test_each_request_is_an_update_of_its_own() -> None:
    first, second = NotReadyOnce(), NotReadyOnce()
    await update_with_wait(first, "submit_enrollment", {}, wait=5)  # type: ignore[arg-type]
    await update_with_wait(second, "submit_enrollment", {}, wait=5)  # type: ignore[arg-type]
    assert first.ids[0] != second.ids[0]
