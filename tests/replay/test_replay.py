"""Every stored history replays against the current workflow code."""

from __future__ import annotations

from pathlib import Path

from erx.replay import replay_files

HISTORIES = Path(__file__).parent / "histories"


async def test_stored_histories_replay() -> None:
    paths = sorted(HISTORIES.glob("*.json"))
    assert paths, "no stored histories to replay"
    assert await replay_files(paths) == []


async def test_every_workflow_type_has_a_stored_history() -> None:
    from worker import WORKFLOWS

    stored = " ".join(p.read_text()[:4000] for p in HISTORIES.glob("*.json"))
    for workflow in WORKFLOWS:
        name = workflow.__temporal_workflow_definition.name  # type: ignore[attr-defined]
        assert name in stored, f"no stored history for {name}"
