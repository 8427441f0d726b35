"""Replay workflow histories against the current code, with production's converter and codec.

    python -m erx.replay --workflow-id erx-clinic:ws_demo      # from the server
    python -m erx.replay --file history.json                   # exported from the UI or CLI
    python -m erx.replay --dir tests/replay/histories          # every stored history
    python -m erx.replay --workflow-id erx-clinic:ws_demo --export out.json

Exits non-zero on a non-deterministic change.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from erx.settings import get_settings
from erx.temporal import connect, data_converter


def replayer() -> Replayer:
    from worker import WORKFLOWS

    return Replayer(workflows=WORKFLOWS, data_converter=data_converter(get_settings()))


def load_history(path: Path) -> WorkflowHistory:
    # The workflow id is not in the file; the name stands in for it in reports.
    return WorkflowHistory.from_json(path.stem, path.read_text())


async def replay_files(paths: list[Path]) -> list[str]:
    """Replay each file; return one line per failure."""
    failures = []
    for path in paths:
        result = await replayer().replay_workflow(load_history(path), raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures.append(f"{path.name}: {result.replay_failure}")
    return failures


async def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m erx.replay")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workflow-id")
    source.add_argument("--file", type=Path)
    source.add_argument("--dir", type=Path)
    parser.add_argument("--run-id")
    parser.add_argument("--export", type=Path, help="also write the fetched history here")
    args = parser.parse_args(argv)

    if args.workflow_id:
        client = await connect(get_settings())
        history = await client.get_workflow_handle(
            args.workflow_id, run_id=args.run_id
        ).fetch_history()
        if args.export:
            args.export.write_text(history.to_json())
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        failures = [f"{args.workflow_id}: {result.replay_failure}"] if result.replay_failure else []
        count = 1
    else:
        paths = sorted(args.dir.glob("*.json")) if args.dir else [args.file]
        failures = await replay_files(paths)
        count = len(paths)
    for line in failures:
        print(f"NON-DETERMINISTIC {line}", file=sys.stderr)
    print(f"replayed {count} histories, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main()))
