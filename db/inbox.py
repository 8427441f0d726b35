"""The DoseSpot push-notification inbox: one row per occurrence of an event, for de-duplication.

An event's identity (its type, the ids and the status it reports) can recur: two-factor
activated again after a reactivation. Each time the identity comes back after the
de-duplication window it is a new occurrence and gets a new row; copies inside the window
belong to the occurrence they repeat (api.routes.notifications).

Ids and bookkeeping only: the notification's Data (which can carry patient details) is
never stored; it travels on to the owning workflow inside an encrypted signal payload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Integer, PrimaryKeyConstraint, String, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow

# DoseSpot gives up on a notification after 20 s; a slow Temporal must not make us miss that.
SIGNAL_TIMEOUT = timedelta(seconds=5)
# A delivery's claim on an occurrence outlives its signal's timeout; a copy that finds the
# occurrence claimed asks again this often for the outcome.
CLAIM_LEASE = 3 * SIGNAL_TIMEOUT
CLAIM_POLL_SECONDS = 0.05
# How many kept events of one clinician are handed over once its enrollment knows its id.
HANDED_OVER_AT_MOST = 10


class DoseSpotInboxEntry(Base):
    __tablename__ = "dosespot_inbox"

    # HMAC-SHA256 hex of the event's identity (dosespot.notifications.event_key).
    event_key: Mapped[str] = mapped_column(String(64))
    # 1 for the identity's first occurrence, then 2, 3, ...: the primary key makes two
    # concurrent copies that both saw occurrence n create only one occurrence n + 1.
    occurrence: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(64))
    clinician_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # When this occurrence's first copy arrived: the de-duplication window starts here.
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    routed_workflow_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Deliveries that tried to route the occurrence; a routed one is never tried again.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A delivery routing the occurrence holds it until then (or until it is done): another
    # copy waits for the outcome, and a delivery that died is superseded after the expiry.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (PrimaryKeyConstraint("event_key", "occurrence", name="pk_dosespot_inbox"),)


async def claim(session: AsyncSession, key: str, occurrence: int) -> datetime | None:
    """Take the occurrence for routing, committed, unless it was routed; returns when it came.

    While another delivery holds it, waits (with no transaction open) for that one's outcome:
    routed answers None, released or expired is taken here.
    """
    deadline = time.monotonic() + CLAIM_LEASE.total_seconds()
    while True:
        now = utcnow()
        result = await session.execute(
            update(DoseSpotInboxEntry)
            .where(
                DoseSpotInboxEntry.event_key == key,
                DoseSpotInboxEntry.occurrence == occurrence,
                DoseSpotInboxEntry.routed_at.is_(None),
                or_(
                    DoseSpotInboxEntry.claimed_until.is_(None),
                    DoseSpotInboxEntry.claimed_until < now,
                ),
            )
            .values(attempts=DoseSpotInboxEntry.attempts + 1, claimed_until=now + CLAIM_LEASE)
            .returning(DoseSpotInboxEntry.received_at)
        )
        received_at = result.scalar_one_or_none()
        if received_at is None:
            routed_at = await session.scalar(
                select(DoseSpotInboxEntry.routed_at).where(
                    DoseSpotInboxEntry.event_key == key,
                    DoseSpotInboxEntry.occurrence == occurrence,
                )
            )
        await session.commit()
        if received_at is not None:
            return aware(received_at)
        if routed_at is not None or time.monotonic() > deadline:
            return None
        await asyncio.sleep(CLAIM_POLL_SECONDS)


async def release(session: AsyncSession, key: str, occurrence: int) -> None:
    """Give up the claim without routing: the next copy or redelivery takes it."""
    await session.execute(
        update(DoseSpotInboxEntry)
        .where(DoseSpotInboxEntry.event_key == key, DoseSpotInboxEntry.occurrence == occurrence)
        .values(claimed_until=None)
    )
    await session.commit()


def aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def mark_routed(session: AsyncSession, key: str, occurrence: int, workflow_id: str) -> None:
    """The occurrence reached its workflow: later copies are answered as duplicates."""
    await session.execute(
        update(DoseSpotInboxEntry)
        .where(DoseSpotInboxEntry.event_key == key, DoseSpotInboxEntry.occurrence == occurrence)
        .values(routed_workflow_id=workflow_id, routed_at=utcnow(), claimed_until=None)
    )
    await session.commit()


@asynccontextmanager
async def released_on_error(
    session: AsyncSession, key: str, occurrence: int
) -> AsyncIterator[None]:
    """Work on a claimed occurrence: when it raises, the session's transaction is rolled back,
    the claim given up (the next copy or redelivery takes the occurrence) and the error goes
    on to the caller."""
    try:
        yield
    except BaseException:
        await session.rollback()
        await release(session, key, occurrence)
        raise


async def deliver_claimed(
    session: AsyncSession, key: str, occurrence: int, workflow_id: str, send: Awaitable[None]
) -> None:
    """Deliver a claimed occurrence with ``send`` (the signal to ``workflow_id``): routed when
    it returns; when it raises, the claim is given up and the error goes on to the caller."""
    async with released_on_error(session, key, occurrence):
        await send
    await mark_routed(session, key, occurrence, workflow_id)


async def kept_for_clinician(
    session: AsyncSession, clinician_id: int, event_types: Collection[str]
) -> list[tuple[str, int, str]]:
    """The newest occurrences of the clinician's events that reached no workflow, as
    (event key, occurrence, event type), in the order they arrived."""
    rows = await session.execute(
        select(
            DoseSpotInboxEntry.event_key,
            DoseSpotInboxEntry.occurrence,
            DoseSpotInboxEntry.event_type,
        )
        .where(
            DoseSpotInboxEntry.clinician_id == clinician_id,
            DoseSpotInboxEntry.event_type.in_(event_types),
            DoseSpotInboxEntry.routed_at.is_(None),
        )
        .order_by(DoseSpotInboxEntry.received_at.desc())
        .limit(HANDED_OVER_AT_MOST)
    )
    await session.commit()
    return [(row.event_key, row.occurrence, row.event_type) for row in reversed(rows.all())]
