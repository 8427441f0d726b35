"""DoseSpot's notification counts per clinician and clinic: the EHR's badge.

Kept from ``PrescriberNotificationCounts`` pushes and from polling
``api/notifications/counts`` as the clinician; the newest observation wins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class ClinicianNotificationCounts(Base):
    __tablename__ = "clinician_notification_counts"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    dosespot_clinician_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dosespot_clinic_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pending_prescriptions: Mapped[int] = mapped_column(Integer, default=0)
    transmission_errors: Mapped[int] = mapped_column(Integer, default=0)
    refill_requests: Mapped[int] = mapped_column(Integer, default=0)
    change_requests: Mapped[int] = mapped_column(Integer, default=0)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # "push" or "poll": where the newest observation came from.
    source: Mapped[str] = mapped_column(String(8))


async def record_counts(
    session: AsyncSession,
    *,
    workspace_id: str,
    clinician_id: int,
    clinic_id: int,
    pending_prescriptions: int,
    transmission_errors: int,
    refill_requests: int,
    change_requests: int,
    observed_at: datetime,
    source: str,
) -> None:
    """Keep an observation unless a newer one is already stored (pushes can be reordered)."""
    table: Table = ClinicianNotificationCounts.__table__  # type: ignore[assignment]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {
        "workspace_id": workspace_id,
        "dosespot_clinician_id": clinician_id,
        "dosespot_clinic_id": clinic_id,
        "pending_prescriptions": pending_prescriptions,
        "transmission_errors": transmission_errors,
        "refill_requests": refill_requests,
        "change_requests": change_requests,
        "observed_at": observed_at,
        "source": source,
    }
    stmt = insert(table).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["workspace_id", "dosespot_clinician_id", "dosespot_clinic_id"],
            set_={k: stmt.excluded[k] for k in values if k not in _KEYS},
            where=stmt.excluded.observed_at >= table.c.observed_at,
        )
    )


_KEYS = {"workspace_id", "dosespot_clinician_id", "dosespot_clinic_id"}
