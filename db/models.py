"""The SQL read model: what the EHR and dashboards read, kept current by activities."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """A bearer key: one workspace, one role, and for admin/member keys the person."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Location(Base):
    __tablename__ = "locations"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address1: Mapped[str] = mapped_column(String(35))
    address2: Mapped[str | None] = mapped_column(String(35), nullable=True)
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))
    zip_code: Mapped[str] = mapped_column(String(10))
    country: Mapped[str] = mapped_column(String(2), default="US")
    phone: Mapped[str] = mapped_column(String(16))
    fax: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Member(Base):
    __tablename__ = "members"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(35))
    last_name: Mapped[str] = mapped_column(String(35))
    email: Mapped[str] = mapped_column(String(254))
    job_title: Mapped[str | None] = mapped_column(String(100), nullable=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ClinicRegistration(Base):
    """One DoseSpot clinic per practice location, as DoseSpot models practices."""

    __tablename__ = "clinic_registrations"
    __table_args__ = (UniqueConstraint("dosespot_clinic_id", name="uq_clinic_dosespot_id"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    dosespot_clinic_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The ClinicKey is a DoseSpot credential: stored only encrypted (AES-GCM, key id beside it).
    clinic_key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    clinic_key_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    clinic_name: Mapped[str] = mapped_column(String(200))
    address_json: Mapped[str] = mapped_column(Text)
    blocked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ClinicianEnrollment(Base):
    """A clinician's eRx enrollment as the ClinicianEnrollment workflow last reported it."""

    __tablename__ = "clinician_enrollments"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    dosespot_clinician_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    # A keyed digest of the NPI (erx.codec.SecretBox.fingerprint), never the NPI: one
    # clinician enrolls once, and a second enrollment is refused before DoseSpot is asked.
    npi_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    # True when the enrollment named a DEA number (the number itself is never stored here).
    dea_registrant: Mapped[bool] = mapped_column(default=False)
    tfa_active: Mapped[bool] = mapped_column(default=False)
    epcs_enabled: Mapped[bool] = mapped_column(default=False)
    idp_failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    idp_path: Mapped[str | None] = mapped_column(String(16), nullable=True)
    idp_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The workflow's whole status (workflows.models.ClinicianStatus as JSON: states, ids and
    # messages, no PHI) and its revision: a write with an older revision changes nothing.
    status_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class EpcsAuditEntry(Base):
    """Append-only: every EPCS grant, revocation and refusal. Ids only, no PHI values."""

    __tablename__ = "epcs_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    subject_member_id: Mapped[str] = mapped_column(String(64))
    actor_member_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # One row per audit event: a retried append with the same key writes nothing new.
    # NULL on rows written before keys existed (NULLs never conflict).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_epcs_audit_log_idempotency_key"),
    )


Index("ix_members_workspace_last_name", Member.workspace_id, Member.last_name)


class Client(Base):
    """A client (patient) as the EHR knows them: the source of their eRx registration."""

    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint("sex IN ('Male', 'Female', 'Unknown')", name="ck_clients_sex"),
        CheckConstraint(
            "(height IS NULL) = (height_unit IS NULL) AND height_unit IN ('cm', 'in')",
            name="ck_clients_height_unit",
        ),
        CheckConstraint(
            "(weight IS NULL) = (weight_unit IS NULL) AND weight_unit IN ('kg', 'lb')",
            name="ck_clients_weight_unit",
        ),
        CheckConstraint(
            "(insurance_member_id IS NULL) = (insurance_payer_name IS NULL)",
            name="ck_clients_insurance",
        ),
    )

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(35))
    middle_name: Mapped[str | None] = mapped_column(String(35), nullable=True)
    last_name: Mapped[str] = mapped_column(String(35))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(7))
    # E.164 (+1NXXNXXXXXX) and DoseSpot's PhoneType name.
    phone: Mapped[str] = mapped_column(String(16))
    phone_type: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(80), nullable=True)
    address1: Mapped[str] = mapped_column(String(35))
    address2: Mapped[str | None] = mapped_column(String(35), nullable=True)
    city: Mapped[str] = mapped_column(String(35))
    state: Mapped[str] = mapped_column(String(2))
    zip_code: Mapped[str] = mapped_column(String(10))
    medical_record_number: Mapped[str | None] = mapped_column(String(35), nullable=True)
    # The EHR's last measured vitals, in the unit it gave.
    height: Mapped[float | None] = mapped_column(Float, nullable=True)
    height_unit: Mapped[str | None] = mapped_column(String(2), nullable=True)
    weight: Mapped[float | None] = mapped_column(Float, nullable=True)
    weight_unit: Mapped[str | None] = mapped_column(String(2), nullable=True)
    vitals_recorded_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    insurance_payer_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    insurance_payer_id: Mapped[str | None] = mapped_column(String(35), nullable=True)
    insurance_member_id: Mapped[str | None] = mapped_column(String(35), nullable=True)
    insurance_group_id: Mapped[str | None] = mapped_column(String(35), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class RenewalRequestRecord(Base):
    """A pharmacy's renewal (refill) request and where its RenewalRequest workflow stands.

    Written when the request is first seen (``pending``) and by the workflow on every
    change; the renewal list is served from here.
    """

    __tablename__ = "renewal_requests"
    __table_args__ = (
        Index("ix_renewal_requests_listing", "workspace_id", "state", "requested_at"),
        Index("ix_renewal_requests_clinician", "dosespot_clinician_id", "state"),
    )

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    # DoseSpot's RefillId.
    refill_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    dosespot_clinic_id: Mapped[int] = mapped_column(BigInteger)
    dosespot_clinician_id: Mapped[int] = mapped_column(BigInteger)
    dosespot_patient_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    member_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    requested_prescription_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    original_prescription_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pharmacy_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    medication: Mapped[str | None] = mapped_column(Text, nullable=True)
    schedule: Mapped[int | None] = mapped_column(Integer, nullable=True)
    controlled: Mapped[bool] = mapped_column(default=False)
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # approve | deny, once the prescriber answered through us.
    decision: Mapped[str | None] = mapped_column(String(8), nullable=True)
    decided_by_member_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    refills: Mapped[int | None] = mapped_column(Integer, nullable=True)
    denial_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    blocked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Prescription(Base):
    """A prescription written through the API: a draft until it is saved in DoseSpot as
    pending, then whatever DoseSpot says of it (``dosespot_status``) as its Prescription
    workflow follows it. ``details`` holds the draft as the API took it (JSON)."""

    __tablename__ = "prescriptions"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    rx_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    prescriber_member_id: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="medication", server_default="medication")
    dispensable_drug_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    medication: Mapped[str] = mapped_column(String(300))
    schedule: Mapped[int] = mapped_column(Integer, default=0)
    pharmacy_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dosespot_patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dosespot_prescription_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    dosespot_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    blocked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ProxyRegistration(Base):
    """A workspace member who works in DoseSpot for prescribers without prescribing: a proxy
    (ProxyClinician) or a prescribing agent (PrescribingAgentClinician). It drafts and saves
    pending prescriptions for its supervising prescribers, who send them. Not billed, not
    identity-proofed. ``supervisor_member_ids`` is a JSON list of members.

    ``state``: ``registering`` until DoseSpot holds the clinician (and an agent's supervisor),
    then ``active``. ``creating_since`` marks a DoseSpot create in flight, so a concurrent or
    retried registration does not create a second clinician."""

    __tablename__ = "proxy_registrations"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))
    supervisor_member_ids: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    dosespot_clinic_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dosespot_clinician_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    dosespot_role: Mapped[str | None] = mapped_column(String(8), nullable=True)
    creating_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
