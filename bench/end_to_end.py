"""The end-to-end benchmarks on one stack, in order (a), (b), (c), and their table."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from api.clinician_schemas import MAX_INVITATIONS
from bench import bare
from bench.cpu import Profilers, cpu_per_item, cpu_snapshot, describe, quiet
from bench.journey import (
    POLL_SECONDS,
    clinician_history,
    per_clinician_events,
    push_outcomes,
    run_clinicians,
)
from bench.memory import run_memory
from bench.routes import ANCHOR, run_routes
from bench.stack import WORKSPACE, BenchStack, member_id, print_log_tails, running_stack
from erx.temporal import connect

STOPPED_LOG_LINES = 40
# Processes of the product that the anchor's run does not use (their CPU is still counted).
IDLE_IN_BARE = ("api", "sandbox", "mailsink")


@dataclass
class Options:
    clinicians: int = 200
    # (a) runs the anchor and the product this many times, alternately, each round on new
    # clinicians; the ratio is the median of the rounds' ratios (the lower middle of an
    # even count).
    rounds: int = 3
    concurrency: int = 50
    route_requests: int = 2000
    route_warmup: int = 200
    route_puts: int = 200
    open_counts: list[int] = field(default_factory=lambda: [1000, 10000])
    pushes: int = 50
    invite_batch: int = MAX_INVITATIONS
    record_timeout: float = 3600.0
    parts: set[str] = field(default_factory=lambda: {"journey", "routes", "memory"})
    profile_dir: Path | None = None
    # Settings of the stack's processes, e.g. {"worker_max_cached_workflows": 200}.
    overrides: dict[str, object] = field(default_factory=dict)

    @classmethod
    def small(cls) -> Options:
        return cls(
            clinicians=3,
            rounds=2,
            concurrency=5,
            route_requests=20,
            route_warmup=5,
            route_puts=3,
            open_counts=[25, 40],
            pushes=2,
            invite_batch=20,
            record_timeout=60.0,
        )


@dataclass
class Row:
    """One line of the table: a figure, its anchor, their ratio and the target."""

    name: str
    figure: float
    unit: str
    anchor: float | None = None
    anchor_name: str = ""
    target: str = ""
    ratio: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.anchor:
            self.ratio = self.figure / self.anchor


async def _failed_as_row(
    part: Coroutine[Any, Any, dict[str, Any]], rows: list[Row], name: str, stack: BenchStack
) -> dict[str, Any]:
    """The part's figures; if it fails, its error, in the results and as a row, and the tails
    of the stack's logs on stderr."""
    try:
        return await part
    except Exception as err:
        _stopped(rows, name, err, stack)
        return {"error": repr(err)}


def _stopped(rows: list[Row], name: str, err: Exception, stack: BenchStack) -> None:
    """A part that stopped: its error as a row, and the tails of the stack's logs on stderr."""
    rows.append(Row(f"({name}) stopped", 0, "", note=repr(err)[:200]))
    print_log_tails(stack.stack.data, STOPPED_LOG_LINES)


def _steps_row(product: dict[str, Any], anchor: dict[str, Any], share: str) -> Row:
    """(a)'s row of one clinician's steps at a percentile: their sum, each step beside the
    bare anchor's."""
    key = f"step_{share}_seconds"
    return Row(
        f"(a) one clinician's steps, {share}",
        sum(product[key].values()),
        "s",
        sum(anchor[key].values()),
        "bare Temporal, same shape",
        "report",
        note=", ".join(
            f"{step} {seconds:.2f} s (bare {anchor[key][step]:.2f})"
            for step, seconds in product[key].items()
        ),
    )


def _progress(message: str) -> None:
    print(message, flush=True)


async def run_end_to_end(o: Options) -> dict[str, Any]:
    members = o.clinicians * o.rounds + o.route_puts + 1 + max(o.open_counts)
    results: dict[str, Any] = {}
    rows: list[Row] = []
    async with running_stack(members=members, overrides=o.overrides) as stack:
        client = await connect(stack.settings)
        first = 0
        if "journey" in o.parts:
            _progress(
                f"(a) {o.clinicians} clinicians, bare Temporal then the product, "
                f"{o.rounds} round(s)"
            )
            results["journey"] = await _failed_as_row(
                _journey(stack, client, o, rows), rows, "a", stack
            )
        first = o.clinicians * o.rounds
        if "routes" in o.parts:
            _progress(f"(b) routes at {o.concurrency} clients")
            results["routes"] = await _failed_as_row(
                _routes(stack, first, o, rows), rows, "b", stack
            )
        first += o.route_puts + 1
        if "memory" in o.parts:
            _progress(f"(c) worker memory at {', '.join(map(str, o.open_counts))} open enrollments")
            results["memory"] = await _memory(stack, first, o, rows)
        results["worker_settings"] = {
            "max_cached_workflows": stack.settings.worker_max_cached_workflows,
            "max_concurrent_activities": stack.settings.worker_max_concurrent_activities,
            "max_concurrent_workflow_tasks": stack.settings.worker_max_concurrent_workflow_tasks,
        }
    results["table"] = [row.__dict__ for row in rows]
    print_table(rows)
    return results


async def _journey(
    stack: BenchStack, client: Client, o: Options, rows: list[Row]
) -> dict[str, Any]:
    pids = stack.pids()
    rounds: list[dict[str, Any]] = []
    cpu_spent: dict[str, list[dict[str, float]]] = {"product": [], "bare": []}
    for r in range(o.rounds):
        numbers = list(range(r * o.clinicians, (r + 1) * o.clinicians))
        ids = [member_id(n) for n in numbers]
        await quiet(pids)
        at_start = cpu_snapshot(pids)
        anchor = await bare.run_bare_clinicians(
            client, stack.settings, WORKSPACE, ids, o.concurrency, POLL_SECONDS
        )
        bare_done = cpu_snapshot(pids)
        await quiet(pids)
        # The profile, if asked for, is of the last round's product run.
        profilers = Profilers(o.profile_dir) if o.profile_dir and r == o.rounds - 1 else None
        if profilers:
            profilers.start(stack.pids("api", "worker", "sandbox"))
        try:
            product_start = cpu_snapshot(pids)
            product = await run_clinicians(stack, numbers, o.concurrency)
            product_done = cpu_snapshot(pids)
        finally:
            if profilers:
                await asyncio.to_thread(profilers.stop)
        cpu_spent["product"].append(cpu_per_item(product_start, product_done, o.clinicians))
        cpu_spent["bare"].append(cpu_per_item(at_start, bare_done, o.clinicians))
        ratio = product["clinicians_per_second"] / anchor["clinicians_per_second"]
        rounds.append({"product": product, "bare": anchor, "ratio": ratio})
        _progress(
            f"    round {r + 1}: {product['clinicians_per_second']:.2f} clinicians/s against "
            f"{anchor['clinicians_per_second']:.2f}, ratio {ratio:.2f}"
        )
    median = sorted(rounds, key=lambda each: each["ratio"])[(len(rounds) - 1) // 2]
    product, anchor = median["product"], median["bare"]
    cpu = _mean(cpu_spent["product"])
    bare_cpu = _mean(cpu_spent["bare"])
    await asyncio.sleep(2)  # billing workflows start from an activity after verification
    mid = member_id(o.rounds * o.clinicians - 1)
    events = await clinician_history(client, mid, o.clinicians * o.rounds)
    pushes = await push_outcomes(stack)
    bare_events = await per_clinician_events(
        client,
        {
            "enrollment": bare.enrollment_id(WORKSPACE, mid),
            "identity_proofing": bare.idp_id(WORKSPACE, mid),
            "billing": bare.billing_id(WORKSPACE, mid),
        },
        bare.clinic_id(WORKSPACE),
        o.clinicians * o.rounds,
    )
    n = o.clinicians
    rows += [
        Row(
            f"(a) invite -> verified, {n} clinicians",
            product["clinicians_per_second"],
            "clinicians/s",
            anchor["clinicians_per_second"],
            "bare Temporal, same shape",
            ">= 0.8",
            ratio=median["ratio"],
            note=f"median of {len(rounds)} round(s): "
            + ", ".join(
                f"{each['ratio']:.2f} ({each['product']['clinicians_per_second']:.2f} / "
                f"{each['bare']['clinicians_per_second']:.2f})"
                for each in rounds
            )
            + "; pushes: "
            + ", ".join(f"{k} {v}" for k, v in sorted(pushes.items())),
        ),
        Row(
            "(a) history events per clinician",
            events["total"],
            "events",
            bare_events["total"],
            "bare Temporal, same shape",
            "report",
            note=", ".join(f"{k} {v:.0f}" for k, v in events.items() if k != "total"),
        ),
        Row(
            "(a) CPU per clinician, all processes",
            cpu["total"],
            "ms",
            bare_cpu["total"],
            "bare Temporal, same shape",
            "report",
            note=f"product: {describe(cpu)}; bare: {describe(bare_cpu, skip=IDLE_IN_BARE)}",
        ),
        *(_steps_row(product, anchor, share) for share in ("p50", "p90")),
        Row(
            f"(a) invite {n} clinicians",
            product["invite_seconds"],
            "s",
            anchor["invite_seconds"],
            "bare Temporal update",
        ),
    ]
    return {
        "product": product,
        "bare": anchor,
        "rounds": rounds,
        "events": events,
        "bare_events": bare_events,
        "cpu_ms_per_clinician": cpu,
        "bare_cpu_ms_per_clinician": bare_cpu,
        "pushes": pushes,
    }


def _mean(spent: list[dict[str, float]]) -> dict[str, float]:
    """CPU per clinician by process, averaged over the rounds."""
    return {name: sum(each.get(name, 0.0) for each in spent) / len(spent) for name in spent[0]}


async def _routes(stack: BenchStack, first: int, o: Options, rows: list[Row]) -> dict[str, Any]:
    routes = await run_routes(
        stack,
        first,
        requests=o.route_requests,
        puts=o.route_puts,
        concurrency=o.concurrency,
        warmup=o.route_warmup,
    )
    trivial = routes[ANCHOR]
    for name, r in routes.items():
        target = ">= 0.8, p99 <= 2x" if name in ("GET clinician", "GET erx") else ""
        rows.append(
            Row(
                f"(b) {name}, {o.concurrency} clients",
                r["throughput"],
                "req/s",
                trivial["throughput"],
                ANCHOR,
                target,
                note=(
                    f"p50/p95/p99 {r['p50_ms']:.0f}/{r['p95_ms']:.0f}/{r['p99_ms']:.0f} ms"
                    f" (p99 {r['p99_ms'] / trivial['p99_ms']:.1f}x); statuses {r['statuses']};"
                    f" load generator CPU {r['cpu_share']:.0%} of a core"
                ),
            )
        )
    return routes


async def _memory(stack: BenchStack, first: int, o: Options, rows: list[Row]) -> dict[str, Any]:
    memory: dict[str, Any] = {}
    try:
        await run_memory(
            stack,
            first,
            memory,
            open_counts=o.open_counts,
            pushes=o.pushes,
            batch=o.invite_batch,
            record_timeout=o.record_timeout,
        )
    except Exception as err:
        memory["error"] = repr(err)
        _stopped(rows, "c", err, stack)
    cache = stack.settings.worker_max_cached_workflows
    base = memory.get("baseline", {})
    for count, rss in memory.get("rss_mib", {}).items():
        rows.append(
            Row(
                f"(c) worker RSS, {count:,} open enrollments",
                rss,
                "MiB",
                base["rss_mib"],
                f"{base['open']} open",
                "< 500 MB" if count >= 10000 else "",
                note=f"max_cached_workflows={cache}",
            )
        )
    for count, seconds in memory.get("invite_seconds", {}).items():
        recorded = memory["record_seconds"].get(count)
        rows.append(
            Row(
                f"(c) invite up to {count:,} (requests of {o.invite_batch:,})",
                seconds,
                "s",
                target="< 20 s for 1,000" if count == 1000 else "",
                note=f"until all recorded {recorded:.1f} s" if recorded else "",
            )
        )
    for count, pushes in memory.get("push_to_visible", {}).items():
        rows.append(
            Row(
                f"(c) push -> visible, p50, {count:,} open",
                pushes["p50_ms"],
                "ms",
                note=(
                    f"p99 {pushes['p99_ms']:.0f} ms over {pushes['samples']} pushes;"
                    f" PUT enrollment answered {pushes['put_statuses']}"
                ),
            )
        )
    return memory


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def print_table(rows: list[Row]) -> None:
    print(f"\n{'figure':<46} {'value':>16} {'anchor':>10} {'ratio':>6}  target")
    for r in rows:
        value = f"{_num(r.figure)} {r.unit}"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        print(f"{r.name:<46} {value:>16} {_num(r.anchor):>10} {ratio:>6}  {r.target}")
        anchor = f"anchor: {r.anchor_name}" if r.anchor_name else ""
        details = "; ".join(x for x in (anchor, r.note) if x)
        if details:
            print(f"{'':<4}{details}")
