"""Replay workflow histories against the current code, with production's converter and codec.

    python -m erx.replay --workflow-id erx-clinic:ws_demo      # from the server
    python -m erx.replay --file history.json                   # exported from the UI or CLI
    python -m erx.replay --dir tests/replay/histories          # every stored history
    python -m erx.replay --workflow-id erx-clinic:ws_demo --export out.json

Exits 0 when every history replays, 1 when any does not (a non-deterministic change, or a
file that is not a history), 2 on bad arguments; scripts can trust the code.

How the command ends: the Temporal SDK runs its Rust core on native threads that live as
long as the process and call into Python when their work completes or is dropped. If the
interpreter is finalizing when one does, CPython aborts the process ("PyGILState_Release
... finalizing", SIGABRT) after a successful replay (temporalio/sdk-python#300). The SDK
offers no way to stop those threads, so after the replay has finished and everything it
opened is shut down (the replay worker, its workflow-task threads, the logs), the command
flushes its output and ends the process with its exit code without finalizing the
interpreter (``os._exit``): the result no longer depends on how those threads are
scheduled.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from erx.settings import get_settings
from erx.temporal import connect, data_converter


def replayer(executor: ThreadPoolExecutor) -> Replayer:
    from worker import WORKFLOWS

    return Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(get_settings()),
        workflow_task_executor=executor,
    )


def load_history(path: Path) -> WorkflowHistory:
    # The workflow id is not in the file; the name stands in for it in reports.
    return WorkflowHistory.from_json(path.stem, path.read_text())


async def replay_histories(histories: Iterable[WorkflowHistory]) -> list[str]:
    """Replay the histories in one replay worker; return one line per failure."""

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    failures = []
    with ThreadPoolExecutor(thread_name_prefix="replay") as executor:
        async with replayer(executor).workflow_replay_iterator(each()) as results:
            async for result in results:
                if result.replay_failure is not None:
                    failures.append(
                        f"NON-DETERMINISTIC {result.history.workflow_id}: {result.replay_failure}"
                    )
    return failures


async def replay_files(paths: list[Path]) -> list[str]:
    """Replay each file; return one line per failure (a file that is not a history is one)."""
    histories, unreadable = [], []
    for path in paths:
        try:
            histories.append(load_history(path))
        except Exception as err:  # unreadable, not JSON, or not a history's shape
            unreadable.append(f"UNREADABLE {path.name}: {type(err).__name__}: {err}")
    return unreadable + await replay_histories(histories)


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
        failures = await replay_histories([history])
        count = 1
    else:
        paths = sorted(args.dir.glob("*.json")) if args.dir else [args.file]
        failures = await replay_files(paths)
        count = len(paths)
    for line in failures:
        print(line, file=sys.stderr)
    print(f"replayed {count} histories, {len(failures)} failed")
    return 1 if failures else 0


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` once output is flushed, without finalizing the interpreter
    (see the module docstring)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        code = asyncio.run(_main(argv))
    except SystemExit as stop:  # argparse: --help, or bad arguments (already reported)
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_now(code)


if __name__ == "__main__":
    main()
