"""Benchmark (c): the worker's resident memory with many open enrollments, and how long a
DoseSpot push takes to show in the API."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.journey import enrollment_form, invite, npi, wait_for_state
from bench.load import http_client
from bench.stack import WORKSPACE, BenchStack, member_id
from db.models import ClinicianEnrollment
from db.session import create_engine, create_sessionmaker

# A clinician under observation stays unconfirmed until the benchmark confirms it.
HELD_SCENARIO = {"confirmation_delay_seconds": 86400}
VISIBLE_POLL_SECONDS = 0.01


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def open_enrollments(bench: BenchStack) -> dict[str, int]:
    engine = create_engine(bench.settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(ClinicianEnrollment.state, func.count())
                .where(ClinicianEnrollment.workspace_id == WORKSPACE)
                .group_by(ClinicianEnrollment.state)
            )
            return {state: count for state, count in rows.all()}
    finally:
        await engine.dispose()


async def dosespot_id(bench: BenchStack, mid: str) -> int:
    engine = create_engine(bench.settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            row = await session.get(ClinicianEnrollment, (WORKSPACE, mid))
            if row is None or row.dosespot_clinician_id is None:
                raise RuntimeError(f"{mid} has no DoseSpot clinician id")
            return row.dosespot_clinician_id
    finally:
        await engine.dispose()


async def _wait_recorded(bench: BenchStack, total: int, seconds: float) -> None:
    """Until the read model holds ``total`` enrollments (the worker has run each one's start)."""
    deadline = time.monotonic() + seconds
    while sum((await open_enrollments(bench)).values()) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {total} enrollments recorded after {seconds:.0f} s")
        await asyncio.sleep(1)


async def grow_to(
    bench: BenchStack, http: httpx.AsyncClient, next_member: int, total: int, batch: int
) -> tuple[int, float]:
    """Invite members from ``next_member`` on until ``total`` enrollments exist; the next free
    member and the seconds the invitation requests took."""
    have = sum((await open_enrollments(bench)).values())
    spent = 0.0
    while have < total:
        ids = [member_id(n) for n in range(next_member, next_member + min(batch, total - have))]
        start = time.perf_counter()
        await invite(http, bench, ids)
        spent += time.perf_counter() - start
        next_member += len(ids)
        have += len(ids)
    return next_member, spent


async def push_to_visible(bench: BenchStack, http: httpx.AsyncClient, n: int) -> tuple[float, int]:
    """Seconds from DoseSpot's confirmation (and its push) to the API showing ``confirmed``,
    and the status the enrollment's PUT answered (503, "ask again", is counted, not fatal:
    the state it waited for is already visible)."""
    mid = member_id(n)
    scenario = await http.put(
        f"{bench.sandbox_url}/_sandbox/scenarios/clinicians/{npi(n)}", json=HELD_SCENARIO
    )
    scenario.raise_for_status()
    enrollment = asyncio.ensure_future(
        http.put(
            f"{bench.base}/erx/clinicians/{mid}/enrollment",
            json=enrollment_form(n),
            headers=bench.headers(),
        )
    )
    await wait_for_state(http, bench, mid, "awaiting_confirmation", poll=0.05)
    clinician_id = await dosespot_id(bench, mid)
    start = time.perf_counter()
    confirm = await http.post(f"{bench.sandbox_url}/_sandbox/clinicians/{clinician_id}/confirm")
    confirm.raise_for_status()
    await wait_for_state(http, bench, mid, "confirmed", poll=VISIBLE_POLL_SECONDS)
    seconds = time.perf_counter() - start
    answer = await enrollment
    if answer.status_code != 503:
        answer.raise_for_status()
    return seconds, answer.status_code


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def run_memory(
    bench: BenchStack,
    first: int,
    result: dict[str, Any],
    *,
    open_counts: list[int],
    pushes: int,
    batch: int,
    record_timeout: float,
) -> None:
    """Into ``result``, as each is measured: RSS at each count of open enrollments, the time
    the invitations took, and push -> visible latency at the first and the last count."""
    result |= {"rss_mib": {}, "invite_seconds": {}, "record_seconds": {}, "push_to_visible": {}}
    next_member = first
    observed = iter(range(first, first + 2 * pushes))
    async with http_client(600) as http:
        before = sum((await open_enrollments(bench)).values())
        result["baseline"] = {"open": before, "rss_mib": rss_mib(bench.worker_pid)}
        for i, count in enumerate(open_counts):
            start = time.perf_counter()
            next_member, spent = await grow_to(bench, http, next_member, count, batch)
            result["invite_seconds"][count] = spent
            await _wait_recorded(bench, count, record_timeout)
            result["record_seconds"][count] = time.perf_counter() - start
            await asyncio.sleep(2)
            result["rss_mib"][count] = rss_mib(bench.worker_pid)
            if i in (0, len(open_counts) - 1):
                measured = [
                    await push_to_visible(bench, http, next(observed)) for _ in range(pushes)
                ]
                samples = [seconds for seconds, _ in measured]
                result["push_to_visible"][count] = {
                    "samples": len(samples),
                    "put_statuses": dict(Counter(str(status) for _, status in measured)),
                    "p50_ms": _percentile(samples, 50) * 1000,
                    "p99_ms": _percentile(samples, 99) * 1000,
                }
                result["rss_mib_after_pushes"] = rss_mib(bench.worker_pid)
    result["states"] = await open_enrollments(bench)
