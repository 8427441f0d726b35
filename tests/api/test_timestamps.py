"""Every moment the API answers with carries its offset and is in UTC, on SQLite (which
keeps no offset) as on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.schemas import UtcDateTime
from db.billing import BillingCharge
from db.models import ClinicianEnrollment
from tests.conftest import WorkspaceKeys

VERIFIED = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 11, 28, 9, 30, 0, tzinfo=UTC)
CHARGED = datetime(2026, 11, 27, 10, 5, 0, tzinfo=UTC)


def aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"{text} has no offset"
    return moment


async def test_clinician_list_and_billing_times_carry_their_offset(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        session.add(
            ClinicianEnrollment(
                workspace_id=workspace.id,
                member_id=workspace.member_id,
                state="verified",
                idp_deadline=DEADLINE,
                verified_at=VERIFIED,
            )
        )
        session.add(
            BillingCharge(
                id=uuid.uuid4().hex,
                idempotency_key=f"{workspace.id}:{workspace.member_id}:2026-11",
                workspace_id=workspace.id,
                member_id=workspace.member_id,
                period_start=date(2026, 11, 27),
                amount_cents=3900,
                currency="USD",
                description="eRx seat",
                created_at=CHARGED,
            )
        )
        await session.commit()
    base = f"/v1/workspaces/{workspace.id}/erx"

    listing = await api.get(f"{base}/clinicians", headers=workspace.headers())
    assert listing.status_code == 200, listing.text
    [item] = listing.json()["items"]
    assert aware(item["verified_at"]) == VERIFIED
    assert aware(item["idp_deadline"]) == DEADLINE

    billing = await api.get(f"{base}/billing", headers=workspace.headers())
    assert billing.status_code == 200, billing.text
    [charge] = billing.json()["charges"]
    assert aware(charge["created_at"]) == CHARGED


def test_a_moment_is_answered_in_utc_with_its_offset() -> None:
    adapter = TypeAdapter(UtcDateTime)
    naive = adapter.validate_python(datetime(2026, 11, 27, 10, 0))
    assert adapter.dump_json(naive) == b'"2026-11-27T10:00:00Z"'
    elsewhere = datetime(2026, 11, 27, 5, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert adapter.dump_json(adapter.validate_python(elsewhere)) == b'"2026-11-27T10:00:00Z"'
