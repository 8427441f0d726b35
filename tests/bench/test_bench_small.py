"""``make bench --small``: every benchmark runs on its own stack and reports its figures.

Checks that each figure is there and positive, never how fast anything is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import main
from bench.steps import STEPS

MICRO = {
    "codec encode (1 KiB payload)",
    "codec decode (1 KiB payload)",
    "enrollment form validation",
    "DoseSpot clinician envelope parse",
}
ROUTES = {"GET trivial (authenticated)", "GET clinician", "GET erx", "GET clinicians"}


def test_every_benchmark_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    main(["--small", "--output", str(out)])
    results = json.loads(out.read_text())

    assert set(results["micro_ops_per_second"]) == MICRO
    assert all(v > 0 for v in results["micro_ops_per_second"].values())
    assert results["machine"]["cpus"] > 0

    journey = results["journey"]
    assert "error" not in journey, journey["error"]
    for side in ("product", "bare"):
        assert journey[side]["clinicians_per_second"] > 0
        assert journey[side]["invite_seconds"] > 0
        for steps in ("step_p50_seconds", "step_p90_seconds"):
            assert set(journey[side][steps]) == set(STEPS)
            assert all(v > 0 for v in journey[side][steps].values())
    assert journey["pushes"].get("ClinicianConfirmed routed", 0) > 0
    # Each round ran both sides on clinicians of its own; the row's ratio is the rounds'
    # median (the lower middle of two).
    assert len(journey["rounds"]) == 2
    ratios = sorted(each["ratio"] for each in journey["rounds"])
    assert all(r > 0 for r in ratios)
    [row] = [r for r in results["table"] if r["name"].startswith("(a) invite -> verified")]
    assert row["ratio"] == ratios[0]
    for side in ("events", "bare_events"):
        events = journey[side]
        assert set(events) == {
            "enrollment",
            "identity_proofing",
            "billing",
            "clinic_share",
            "total",
        }
        assert all(v > 0 for v in events.values())
    # Each process of the stack, and the driver, is charged its CPU per clinician.
    cpu = journey["cpu_ms_per_clinician"]
    assert {"temporal", "worker", "api", "sandbox", "driver", "total"} <= set(cpu)
    assert cpu["worker"] > 0 and cpu["api"] > 0 and cpu["temporal"] > 0
    assert journey["bare_cpu_ms_per_clinician"]["bare-worker"] > 0
    assert cpu["total"] == pytest.approx(sum(v for k, v in cpu.items() if k != "total"))

    routes = results["routes"]
    assert "error" not in routes, routes["error"]
    assert set(routes) == ROUTES | {"PUT enrollment"}
    for figures in routes.values():
        assert figures["requests"] > 0 and figures["throughput"] > 0
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
        assert figures["cpu_share"] > 0
        assert set(figures["statuses"]) <= {"200", "202"}

    memory = results["memory"]
    assert "error" not in memory, memory["error"]
    assert len(memory["rss_mib"]) == 2 and all(v > 0 for v in memory["rss_mib"].values())
    assert all(v > 0 for v in memory["invite_seconds"].values())
    assert len(memory["push_to_visible"]) == 2
    for pushes in memory["push_to_visible"].values():
        assert pushes["samples"] > 0
        assert 0 < pushes["p50_ms"] <= pushes["p99_ms"]

    table = results["table"]
    assert table and all(row["figure"] > 0 for row in table)
