"""Waiting inside workflow code."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow


async def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Wait for ``condition`` at most ``seconds`` (workflow time); say whether it came true."""
    try:
        await workflow.wait_condition(condition, timeout=seconds)
    except TimeoutError:
        return False
    return True
