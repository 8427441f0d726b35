"""Billing tables: the charge ledger and the per-clinician subscription read model."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow


class BillingCharge(Base):
    """One charge in our own ledger: the default billing provider.

    No foreign keys: a financial record outlives the directory rows it names.
    """

    __tablename__ = "billing_charges"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The same key never charges twice, whoever retries.
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    workspace_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BillingSubscription(Base):
    """A clinician's subscription as the ClinicianBilling workflow last reported it."""

    __tablename__ = "billing_subscriptions"

    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    anchor: Mapped[date] = mapped_column(Date)
    next_charge_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    periods_billed: Mapped[int] = mapped_column(Integer, default=0)
    amount_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


Index(
    "ix_billing_charges_workspace_period",
    BillingCharge.workspace_id,
    BillingCharge.period_start,
)
