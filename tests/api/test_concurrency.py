"""Many requests at once against the real stack: none of them answers 5xx.

No request holds a database connection while it waits on Temporal or DoseSpot, so a
pool of a few connections serves hundreds of enrollments waiting on DoseSpot at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy import func, select

from db.models import ClinicianEnrollment, Member
from tests.api.test_clinician_journey import Journey, enrollment_form, valid_npi

AT_ONCE = 200


async def _members(journey: Journey, count: int) -> list[str]:
    ids = [f"m_c{i:03d}" for i in range(count)]
    async with journey.sessionmaker() as session:
        session.add_all(
            Member(
                workspace_id=journey.ws.id,
                id=member_id,
                first_name="Clin",
                last_name=f"Ician{i:03d}",
                email=f"{member_id}@example.com",
            )
            for i, member_id in enumerate(ids)
        )
        await session.commit()
    return ids


async def test_200_enrollments_at_once_all_answer(journey: Journey, live_api: str) -> None:
    await journey.register_clinic()
    ids = await _members(journey, AT_ONCE)
    resp = await journey.api.post(
        f"{journey.base}/erx/invitations", json={"member_ids": ids}, headers=journey.headers()
    )
    assert resp.status_code == 200, resp.text
    assert Counter(i["status"] for i in resp.json()["items"]) == {"invited": AT_ONCE}

    npis = {member_id: valid_npi() for member_id in ids}
    limits = httpx.Limits(max_connections=AT_ONCE + 10, max_keepalive_connections=AT_ONCE + 10)
    async with httpx.AsyncClient(base_url=live_api, limits=limits, timeout=120) as http:

        async def enroll(member_id: str) -> int:
            answer = await http.put(
                f"{journey.base}/erx/clinicians/{member_id}/enrollment",
                json=enrollment_form(npis[member_id]),
                headers=journey.headers(),
            )
            return answer.status_code

        statuses = await asyncio.gather(*(enroll(m) for m in ids))

    assert Counter(statuses).keys() <= {200, 202}, Counter(statuses)
    # Every enrollment was taken once: each member reaches DoseSpot and is confirmed.
    for _ in range(300):
        async with journey.sessionmaker() as session:
            confirmed = await session.scalar(
                select(func.count())
                .select_from(ClinicianEnrollment)
                .where(
                    ClinicianEnrollment.workspace_id == journey.ws.id,
                    ClinicianEnrollment.state == "confirmed",
                )
            )
        if confirmed == AT_ONCE:
            break
        await asyncio.sleep(0.2)
    assert confirmed == AT_ONCE
    assert len(set((await journey.clinician_ids()).values())) == AT_ONCE
