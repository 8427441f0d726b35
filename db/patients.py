"""The patient half of the read model: registrations and the medication record.

Kept by the PatientErx workflow's activities from DoseSpot's answers; the EHR's
client record view reads it (``GET .../erx/patients/{client_id}/medications``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow


class PatientRegistration(Base):
    """A client's DoseSpot registration as the PatientErx workflow last reported it."""

    __tablename__ = "patient_registrations"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    dosespot_patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    dosespot_clinic_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    blocked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PatientMedication(Base):
    """One prescription or self-reported medication, as DoseSpot last described it."""

    __tablename__ = "patient_medications"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "prescription" or "self_reported"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    dosespot_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "active", "inactive" or "self_reported": the tab the EHR shows it under.
    tab: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    medication_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    directions: Mapped[str | None] = mapped_column(Text, nullable=True)
    effective_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    written_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_fill_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    quantity: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dispense_unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    refills: Mapped[str | None] = mapped_column(String(16), nullable=True)
    days_supply: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prescriber_clinician_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pharmacy_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pharmacy_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    schedule: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # DoseSpot's time of the status shown: an older answer never overwrites a newer one.
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PatientRenewalRequest(Base):
    """A pending renewal (refill) request a pharmacy sent for the patient."""

    __tablename__ = "patient_renewal_requests"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dosespot_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    prescriber_clinician_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pharmacy_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PatientPharmacy(Base):
    """A pharmacy on the patient's DoseSpot record; one may be the default."""

    __tablename__ = "patient_pharmacies"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pharmacy_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Comma-separated services the pharmacy takes (new_rx, refill, change, cancel, epcs).
    services: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
