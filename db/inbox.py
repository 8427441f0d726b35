"""The DoseSpot push-notification inbox: one row per distinct event, for de-duplication.

Ids and bookkeeping only: the notification's Data (which can carry patient details) is
never stored; it travels on to the owning workflow inside an encrypted signal payload.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow


class DoseSpotInboxEntry(Base):
    __tablename__ = "dosespot_inbox"

    # SHA-256 hex of the event's canonical JSON (dosespot.notifications.event_key).
    event_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    clinician_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    routed_workflow_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Deliveries that tried to route the event; a routed event is never tried again.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
