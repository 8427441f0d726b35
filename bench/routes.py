"""Benchmark (b): the main routes at 50 concurrent clients against a trivial route of the
same app, served the same way (uvicorn, one process), from a load generator in a process of
its own (``bench.load``)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from bench.journey import enroll_and_verify, enrollment_form, invite
from bench.load import http_client
from bench.stack import BenchStack, member_id

ANCHOR = "GET trivial (authenticated)"


async def load(plan: dict[str, Any]) -> dict[str, Any]:
    """Run ``bench.load`` on a plan and return what it measured."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(json.dumps(plan).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed ({proc.returncode})")
    return dict(json.loads(out))


def _gets(url: str, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    return [{"url": url, "headers": headers} for _ in range(count)]


async def run_routes(
    bench: BenchStack, first: int, *, requests: int, puts: int, concurrency: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Each route's figures, keyed by route; clinicians ``first`` on are this benchmark's."""
    reader, enrollees = first, list(range(first + 1, first + 1 + puts))
    async with http_client(120) as http:
        await invite(http, bench, [member_id(n) for n in (reader, *enrollees)])
        await enroll_and_verify(http, bench, reader)
    headers = bench.headers()
    gets = {
        ANCHOR: f"{bench.base}/bench/ping",
        "GET clinician": f"{bench.base}/erx/clinicians/{member_id(reader)}",
        "GET erx": f"{bench.base}/erx",
        "GET clinicians": f"{bench.base}/erx/clinicians",
    }
    results: dict[str, dict[str, Any]] = {}
    for name, url in gets.items():
        results[name] = await load(
            {
                "requests": _gets(url, headers, warmup + requests),
                "concurrency": concurrency,
                "warmup": warmup,
            }
        )
    results["PUT enrollment"] = await load(
        {
            "requests": [
                {
                    "method": "PUT",
                    "url": f"{bench.base}/erx/clinicians/{member_id(n)}/enrollment",
                    "headers": headers,
                    "json_body": enrollment_form(n),
                }
                for n in enrollees
            ],
            "concurrency": concurrency,
        }
    )
    return results
