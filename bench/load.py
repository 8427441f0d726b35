"""An HTTP load generator in a process of its own: ``python -m bench.load < plan.json``.

The plan names the requests (each sent once, in order, by whichever client is free), the
number of concurrent clients, and how many requests warm the connections up first. It
prints latency percentiles, throughput, status codes (or the kind of transport error), and
its own CPU share (CPU seconds over wall seconds; 1.0 is one core busy), so a saturated
generator shows in the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from typing import Any

import httpx
from pydantic import BaseModel, Field

# Below uvicorn's 5 s keep-alive: the driver never reuses a connection the server is closing
# (httpx's default expiry is the same 5 s, and a request sent as the server closes fails).
KEEPALIVE_SECONDS = 2.0


def http_client(timeout: float, connections: int = 100) -> httpx.AsyncClient:
    """The driver's HTTP client: ``connections`` at once, idle ones dropped before the server
    drops them."""
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_SECONDS,
    )
    return httpx.AsyncClient(timeout=timeout, limits=limits)


class Request(BaseModel):
    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = None


class Plan(BaseModel):
    requests: list[Request]
    concurrency: int = Field(default=50, ge=1)
    warmup: int = Field(default=0, ge=0)
    timeout_seconds: float = 120.0


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(plan: Plan) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()
    async with http_client(plan.timeout_seconds, plan.concurrency) as http:

        async def send(req: Request) -> tuple[int | str, float]:
            start = time.perf_counter()
            try:
                resp = await http.request(
                    req.method, req.url, headers=req.headers, json=req.json_body
                )
                await resp.aread()
            except httpx.TransportError as err:
                # A dropped or refused connection counts as a failed request, by its kind.
                return type(err).__name__, time.perf_counter() - start
            return resp.status_code, time.perf_counter() - start

        warm, measured = plan.requests[: plan.warmup], plan.requests[plan.warmup :]
        queue: asyncio.Queue[Request] = asyncio.Queue()
        for req in warm:
            queue.put_nowait(req)

        async def client(record: bool) -> None:
            while not queue.empty():
                req = queue.get_nowait()
                status, seconds = await send(req)
                if record:
                    statuses[status] += 1
                    latencies.append(seconds)

        await asyncio.gather(*(client(False) for _ in range(plan.concurrency)))
        for req in measured:
            queue.put_nowait(req)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(True) for _ in range(plan.concurrency)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": wall,
        "throughput": len(latencies) / wall if wall else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "cpu_share": cpu / wall if wall else 0.0,
        "cpus": os.cpu_count() or 1,
    }


def main() -> None:
    plan = Plan.model_validate_json(sys.stdin.buffer.read())
    print(json.dumps(asyncio.run(run(plan))))


if __name__ == "__main__":
    main()
