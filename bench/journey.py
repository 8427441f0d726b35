"""Benchmark (a): clinicians from invitation to verified through the API, the worker and
the DoseSpot sandbox, as an EHR drives them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.clinician_schemas import MAX_INVITATIONS
from bench.load import http_client
from bench.stack import WORKSPACE, BenchStack, member_id
from bench.steps import Steps, median_steps, slowest_steps
from db.inbox import DoseSpotInboxEntry
from db.session import create_engine

POLL_SECONDS = 0.25
LONG_POLL_SECONDS = 20
# A clinician that takes longer than this fails the benchmark.
STATE_TIMEOUT = 300.0


def npi(n: int) -> str:
    """A valid NPI (Luhn over the 80840 prefix), distinct for each ``n``."""
    body = [int(c) for c in f"{n + 100_000_000:09d}"[-9:]]
    total = 0
    for i, d in enumerate(reversed([8, 0, 8, 4, 0, *body])):
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return "".join(map(str, body)) + str((10 - total % 10) % 10)


def dea(n: int) -> str:
    d = [int(c) for c in f"{n:06d}"[-6:]]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return "AB" + "".join(map(str, d)) + str(check)


def enrollment_form(n: int) -> dict[str, Any]:
    return {
        "date_of_birth": "04/27/1980",
        "npi": npi(n),
        "phone": "+1 646 736 0134",
        "professional_address": {
            "street_address": "350 Fifth Avenue",
            "city": "New York",
            "state": "NY",
            "zip_code": "10118",
        },
        "locations": [
            {"location_id": "loc-main", "is_default": True, "dea_number": dea(n), "dea_state": "NY"}
        ],
    }


async def invite(http: httpx.AsyncClient, bench: BenchStack, ids: list[str]) -> None:
    """Invite the members, in as few requests as the API takes."""
    for start in range(0, len(ids), MAX_INVITATIONS):
        resp = await http.post(
            f"{bench.base}/erx/invitations",
            json={"member_ids": ids[start : start + MAX_INVITATIONS]},
            headers=bench.headers(),
        )
        if resp.status_code != 200:
            raise RuntimeError(f"invitation refused: {resp.status_code} {resp.text[:300]}")


async def wait_for_state(
    http: httpx.AsyncClient,
    bench: BenchStack,
    mid: str,
    *states: str,
    poll: float | None = None,
) -> dict[str, Any]:
    """GET the clinician until it is in one of ``states``: as an EHR would, with long polls
    (each GET sends the last answer's ETag and waits for the next change), or, given
    ``poll``, with a plain GET every ``poll`` seconds."""
    deadline = time.monotonic() + STATE_TIMEOUT
    etag: str | None = None
    while True:
        headers, params = bench.headers(), {}
        if poll is None and etag is not None:
            headers["If-None-Match"] = etag
            params["wait"] = str(LONG_POLL_SECONDS)
        resp = await http.get(f"{bench.base}/erx/clinicians/{mid}", params=params, headers=headers)
        if resp.status_code == 200:
            if resp.json()["state"] in states:
                return dict(resp.json())
            etag = resp.headers.get("ETag")
        elif resp.status_code != 304:
            etag = None
        if time.monotonic() > deadline:
            raise RuntimeError(f"{mid} never reached {states}: {resp.status_code} {resp.text[:99]}")
        if poll is not None or etag is None:
            await asyncio.sleep(poll or POLL_SECONDS)


async def enroll_and_verify(http: httpx.AsyncClient, bench: BenchStack, n: int) -> dict[str, float]:
    """One invited clinician's enrollment form, DoseSpot confirmation and identity proofing;
    the seconds each step took."""
    try:
        return await _enroll_and_verify(http, bench, n)
    except httpx.TransportError as err:
        where = f"{err.request.method} {err.request.url.path}"
        raise RuntimeError(f"{member_id(n)}: {where}: {err!r}") from err


async def _enroll_and_verify(
    http: httpx.AsyncClient, bench: BenchStack, n: int
) -> dict[str, float]:
    mid = member_id(n)
    steps = Steps()
    resp = await http.put(
        f"{bench.base}/erx/clinicians/{mid}/enrollment",
        json=enrollment_form(n),
        headers=bench.headers(),
    )
    if resp.status_code not in (200, 202):
        raise RuntimeError(f"enrollment refused: {resp.status_code} {resp.text[:300]}")
    if resp.json()["status"] != "confirmed":
        await wait_for_state(http, bench, mid, "confirmed")
    steps.done("form")
    resp = await http.post(
        f"{bench.base}/erx/clinicians/{mid}/verification", headers=bench.headers()
    )
    if resp.status_code != 200:
        raise RuntimeError(f"verification refused: {resp.status_code} {resp.text[:300]}")
    page = await http.get(resp.json()["sso_url"])
    if page.headers.get("X-Sandbox-SSO-Result") != "signed_in":
        raise RuntimeError(f"DoseSpot sign-in failed: {page.status_code}")
    steps.done("verification")
    await wait_for_state(http, bench, mid, "verified")
    steps.done("verified")
    return steps.seconds


async def run_clinicians(bench: BenchStack, numbers: list[int], concurrency: int) -> dict[str, Any]:
    """Invite the clinicians in one request, then enroll and verify each; wall times."""
    async with http_client(120, concurrency + 10) as http:
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> dict[str, float]:
            async with gate:
                return await enroll_and_verify(http, bench, n)

        start = time.perf_counter()
        await invite(http, bench, [member_id(n) for n in numbers])
        invited = time.perf_counter()
        steps = await asyncio.gather(*(one(n) for n in numbers))
        done = time.perf_counter()
    return {
        "seconds": done - start,
        "invite_seconds": invited - start,
        "clinicians_per_second": len(numbers) / (done - start),
        "step_p50_seconds": median_steps(steps),
        "step_p90_seconds": slowest_steps(steps),
    }


async def history_events(client: Client, workflow_id: str) -> Counter[str]:
    """Event types of every run of the workflow (continue-as-new included)."""
    counts: Counter[str] = Counter()
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        for event in history.events:
            counts[EventType.Name(event.event_type)] += 1
        first = history.events[0].workflow_execution_started_event_attributes
        if not first.continued_execution_run_id:
            return counts
        run_id = first.continued_execution_run_id


async def per_clinician_events(
    client: Client, workflow_ids: dict[str, str], clinic_workflow_id: str, clinicians: int
) -> dict[str, float]:
    """History events of one clinician's workflows and their share of the clinic workflow's."""
    out = {
        name: float(sum((await history_events(client, wid)).values()))
        for name, wid in workflow_ids.items()
    }
    clinic = await history_events(client, clinic_workflow_id)
    out["clinic_share"] = sum(clinic.values()) / clinicians
    out["total"] = sum(out.values())
    return out


async def clinician_history(client: Client, mid: str, clinicians: int) -> dict[str, float]:
    """The product's: enrollment, identity proofing, billing and the clinic's share."""
    ws = WORKSPACE
    ids = {
        "enrollment": f"erx-clinician:{ws}:{mid}",
        "identity_proofing": f"erx-idp:{ws}:{mid}:1",
        "billing": f"erx-billing:{ws}:{mid}",
    }
    return await per_clinician_events(client, ids, f"erx-clinic:{ws}", clinicians)


async def push_outcomes(bench: BenchStack) -> dict[str, int]:
    """DoseSpot's push notifications in the run by type: how many reached their workflow and
    how many were kept with no owner (left to the workflows' polling)."""
    engine = create_engine(bench.settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    DoseSpotInboxEntry.event_type,
                    DoseSpotInboxEntry.routed_at.is_not(None),
                    func.count(),
                ).group_by(DoseSpotInboxEntry.event_type, DoseSpotInboxEntry.routed_at.is_not(None))
            )
            return {
                f"{event_type} {'routed' if routed else 'kept'}": count
                for event_type, routed, count in rows
            }
    finally:
        await engine.dispose()
