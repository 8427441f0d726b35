"""`python -m erx.replay` as operators and scripts run it: several at once, exit codes trusted.

CPython aborts a process (SIGABRT, "PyGILState_Release ... finalizing") when a native thread
calls into the interpreter while it finalizes; the Temporal core's threads do that now and
then. Each run here carries a probe (a ``sitecustomize`` on PYTHONPATH) that, should the
interpreter finalize, records which threads were still alive: the command must either not
finalize the interpreter or finalize it with no other thread left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = Path(__file__).parent / "histories"
RUNS = 8

PROBE = """
import atexit, os

def _threads_at_finalization():
    names = [
        open(f"/proc/self/task/{task}/comm").read().strip()
        for task in sorted(os.listdir("/proc/self/task"))
    ]
    with open(os.environ["REPLAY_FINALIZATION_REPORT"], "w") as report:
        report.write("\\n".join(names))

atexit.register(_threads_at_finalization)
"""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="the probe reads threads from /proc"
)


def _broken_history(directory: Path) -> Path:
    """A stored history whose first activity has another name than the code schedules."""
    history = json.loads((HISTORIES / "patient_erx-v1.json").read_text())
    scheduled = next(
        e for e in history["events"] if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    )
    scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "renamed"
    path = directory / "patient_erx-renamed.json"
    path.write_text(json.dumps(history))
    return path


def test_concurrent_replays_exit_cleanly_with_a_code_scripts_can_trust(tmp_path: Path) -> None:
    stored = sorted(HISTORIES.glob("*.json"))
    assert len(stored) >= RUNS
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE)

    # Every stored history is replayed once, spread over RUNS concurrent commands.
    commands: list[tuple[list[str], Path]] = []
    for i in range(RUNS):
        subset = tmp_path / f"run{i}"
        subset.mkdir()
        for path in stored[i::RUNS]:
            (subset / path.name).write_bytes(path.read_bytes())
        commands.append((["--dir", str(subset)], tmp_path / f"report{i}"))
    broken = _broken_history(tmp_path)
    commands.append((["--file", str(broken)], tmp_path / "report-broken"))

    processes = [
        subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            [sys.executable, "-m", "erx.replay", *args],
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(probe), os.environ.get("PYTHONPATH")])
                ),
                "REPLAY_FINALIZATION_REPORT": str(report),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, report in commands
    ]
    outcomes = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=120)
            outcomes.append((process.returncode, out, err))
    finally:
        for process in processes:
            process.kill()

    *good, (broken_code, broken_out, broken_err) = outcomes
    for (args, report), (code, out, err) in zip(commands, good, strict=False):
        replayed = len(list(Path(args[1]).glob("*.json")))
        summary = out.splitlines()[-1:]
        assert (code, summary) == (0, [f"replayed {replayed} histories, 0 failed"]), err
        left = report.read_text().split("\n") if report.exists() else []
        assert len(left) <= 1, f"the interpreter finalized with threads alive: {left}"
    assert broken_code == 1, broken_err
    assert broken_out.splitlines()[-1:] == ["replayed 1 histories, 1 failed"]
    assert "NON-DETERMINISTIC patient_erx-renamed" in broken_err
    assert "Traceback" not in broken_err
