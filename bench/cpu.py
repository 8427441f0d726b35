"""Where a benchmark's CPU goes: each stack process's CPU seconds over a span of the run, and
py-spy profiles of the Python processes (every thread, the SDK's workflow threads included).

``python -m bench.cpu DIR`` prints the hottest functions of each profile a ``--profile DIR``
run left there, by own time and by time including what they call.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
# The driver is this process: it plays the EHR (and, for the anchor, DoseSpot too).
DRIVER = "driver"


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used, its waited-for children included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After the command name: state is field 3 of proc(5), utime 14, stime 15, cutime 16,
    # cstime 17.
    utime, stime, cutime, cstime = (int(fields[i - 3]) for i in (14, 15, 16, 17))
    return (utime + stime + cutime + cstime) / TICKS


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process, and of this one as the driver."""
    out = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
    out[DRIVER] = time.process_time()
    return out


async def quiet(
    pids: dict[str, int], busy_share: float = 0.1, look: float = 0.5, at_most: float = 60.0
) -> None:
    """Until the named processes together use less than ``busy_share`` of one core over a
    ``look`` (at most ``at_most`` seconds): what one run left running (billing starting, the
    last emails) does not fall into the next run's time."""
    deadline = time.monotonic() + at_most
    before = cpu_snapshot(pids)
    while time.monotonic() < deadline:
        await asyncio.sleep(look)
        after = cpu_snapshot(pids)
        spent = sum(after[name] - before[name] for name in pids)
        if spent < busy_share * look:
            return
        before = after


def cpu_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """CPU milliseconds per item of each process between two snapshots, and their total."""
    out = {name: (after[name] - before[name]) * 1000 / items for name in after}
    out["total"] = sum(out.values())
    return out


def describe(per_item: dict[str, float], skip: tuple[str, ...] = ()) -> str:
    """``temporal 210, worker 480, ...`` (largest first), without the total and ``skip``."""
    parts = sorted(
        ((name, ms) for name, ms in per_item.items() if name != "total" and name not in skip),
        key=lambda item: -item[1],
    )
    return ", ".join(f"{name} {ms:.0f}" for name, ms in parts)


@dataclass
class Profilers:
    """py-spy recording the named processes until stopped; one collapsed-stack file each."""

    directory: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, pids: dict[str, int], rate: int = 100) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        for name, pid in pids.items():
            command = [
                str(spy), "record", "--pid", str(pid), "--rate", str(rate),
                "--nonblocking", "--format", "raw",
                "--output", str(self.directory / f"{name}.txt"),
            ]  # fmt: skip
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

    def stop(self) -> None:
        """Ask each recorder to write its file, and wait for it."""
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()


def _frame_name(frame: str) -> str:
    """``send (httpx/_client.py:1590)`` -> ``send (httpx/_client.py)``: one row per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def hottest(path: Path, top: int = 20) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Samples in a collapsed-stack file, and the functions with the most own samples and
    the most samples including their callees."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        total += count
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return total, own.most_common(top), inclusive.most_common(top)


def main(directory: Path, top: int = 20) -> None:
    for path in sorted(directory.glob("*.txt")):
        total, own, inclusive = hottest(path, top)
        print(f"\n== {path.stem}: {total} samples")
        print("   own time:")
        for name, count in own:
            print(f"   {count / total:6.1%}  {name}")
        print("   including callees:")
        for name, count in inclusive:
            print(f"   {count / total:6.1%}  {name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 20)
