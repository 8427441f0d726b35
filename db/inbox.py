"""The DoseSpot push-notification inbox: one row per occurrence of an event, for de-duplication.

An event's identity (its type, the ids and the status it reports) can recur: two-factor
activated again after a reactivation. Each time the identity comes back after the
de-duplication window it is a new occurrence and gets a new row; copies inside the window
belong to the occurrence they repeat (api.routes.notifications).

Ids and bookkeeping only: the notification's Data (which can carry patient details) is
never stored; it travels on to the owning workflow inside an encrypted signal payload.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow


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
