"""Inputs and results of workflows, activities, updates and queries (pydantic, no SSN/PIN/OTP)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Address(BaseModel):
    street_address: str
    suburb: str | None = None
    city: str
    state: str
    zip_code: str
    country: str = "US"


class ClinicStatus(StrEnum):
    requested = "requested"
    registering = "registering"
    registered = "registered"
    blocked = "blocked"


# Why a clinic registration is blocked when DoseSpot's ClinicKey is the problem.
KEY_MISSING = "clinic_key_missing"
KEY_INVALID = "clinic_key_invalid"
# An admin entered the ClinicKey by hand; it is checked with DoseSpot before use.
KEY_SUPPLIED = "key_supplied"


class ClinicRecord(BaseModel):
    """One practice location's DoseSpot clinic, as the workflow knows it."""

    location_id: str
    status: ClinicStatus
    clinic_name: str = ""
    address: Address | None = None
    dosespot_clinic_id: int | None = None
    blocked_reason: str | None = None
    message: str | None = None


# ClinicSetup ------------------------------------------------------------------


class ClinicSetupInput(BaseModel):
    workspace_id: str
    # Carried across continue-as-new.
    state: str | None = None
    clinics: dict[str, ClinicRecord] = Field(default_factory=dict)
    pending: list[str] = Field(default_factory=list)
    clinicians: dict[str, str] = Field(default_factory=dict)


class RegisterClinicRequest(BaseModel):
    location_id: str


class StepState(StrEnum):
    done = "done"
    active = "active"
    pending = "pending"


class SetupStep(BaseModel):
    number: int
    name: str
    state: StepState


class SetupProgress(BaseModel):
    workspace_id: str
    stage: str
    active_step: int
    steps: list[SetupStep]
    clinics: list[ClinicRecord]
    clinicians: dict[str, str] = Field(default_factory=dict)
    blocked_reason: str | None = None
    summary: str


# Activities -------------------------------------------------------------------


class EnsureClinicInput(BaseModel):
    workspace_id: str
    location_id: str


# DoseSpot push notifications, routed to the workflow that owns the DoseSpot id ---


class DoseSpotEvent(BaseModel):
    """A DoseSpot push notification (or a polled observation) as a workflow signal.

    ``data`` holds DoseSpot's ``Data`` object as received; ids only are read from it.
    """

    event_type: str
    clinician_id: int | None = None
    data: dict[str, object] = Field(default_factory=dict)
    received_at: str | None = None


# ClinicianEnrollment ----------------------------------------------------------


class EnrollmentLocation(BaseModel):
    """One practice location the clinician prescribes from, with its registrations."""

    location_id: str
    dosespot_clinic_id: int
    state: str
    is_default: bool = False
    dea_number: str | None = None
    nadea_number: str | None = None
    license_number: str | None = None


class EnrollmentForm(BaseModel):
    """The "Connect" form. PHI: travels only in encrypted payloads, never in ids or logs."""

    first_name: str
    last_name: str
    date_of_birth: date
    email: str | None = None
    npi: str
    phone: str
    fax: str
    address: Address
    locations: list[EnrollmentLocation]

    @property
    def default_location(self) -> EnrollmentLocation:
        return next(loc for loc in self.locations if loc.is_default)

    @property
    def dea_registrant(self) -> bool:
        return any(loc.dea_number for loc in self.locations)


class EnrollmentTimings(BaseModel):
    """How often DoseSpot is polled when its push notifications do not arrive."""

    confirmation_poll_seconds: float = 30
    poll_max_seconds: float = 900
    idp_poll_seconds: float = 30
    tfa_poll_seconds: float = 30
    idme_window_hours: float = 24


class ClinicianEnrollmentInput(BaseModel):
    workspace_id: str
    member_id: str
    timings: EnrollmentTimings = Field(default_factory=EnrollmentTimings)
    # The ClinicSetup workflow to tell about progress, if it started this one.
    setup_workflow_id: str | None = None


class EnrollmentOutcome(StrEnum):
    confirmed = "confirmed"
    registration_failed = "registration_failed"


class EnrollmentResult(BaseModel):
    outcome: EnrollmentOutcome
    dosespot_clinician_id: int | None = None
    message: str | None = None


class IdpPath(StrEnum):
    experian = "experian"
    idme = "idme"


class IdpProgress(BaseModel):
    run: int
    failed_attempts: int = 0
    attempt_in_progress: bool = False
    path: IdpPath = IdpPath.experian
    deadline: datetime | None = None
    agreements_accepted: bool = False
    outcome: str | None = None


class EpcsApproval(BaseModel):
    approver_member_id: str
    approver_is_admin: bool
    approver_is_dea_registrant_with_tfa: bool


class ActorRequest(BaseModel):
    """Who asked (an admin restarting verification, deactivating, ...)."""

    actor_member_id: str | None = None


class ClinicianStatus(BaseModel):
    workspace_id: str
    member_id: str
    state: str
    allowed_actions: list[str]
    dosespot_clinician_id: int | None = None
    dosespot_clinic_id: int | None = None
    idp: IdpProgress | None = None
    tfa_active: bool = False
    epcs_enabled: bool = False
    epcs_approvers: list[str] = Field(default_factory=list)
    billing_started: bool = False
    message: str | None = None
    summary: str = ""


class ClinicianProgress(BaseModel):
    """ClinicianEnrollment -> ClinicSetup: where a clinician stands, for the four steps."""

    member_id: str
    state: str


class InviteRequest(BaseModel):
    member_ids: list[str]
    timings: EnrollmentTimings = Field(default_factory=EnrollmentTimings)


class InviteItem(BaseModel):
    member_id: str
    status: str


class InviteResult(BaseModel):
    items: list[InviteItem]


# IdentityProofing (child) ------------------------------------------------------


class IdentityProofingInput(BaseModel):
    workspace_id: str
    member_id: str
    clinician_id: int
    clinic_id: int
    run: int
    timings: EnrollmentTimings = Field(default_factory=EnrollmentTimings)


class IdentityProofingResult(BaseModel):
    verified: bool
    progress: IdpProgress


# Clinician activities ----------------------------------------------------------


class RegisterClinicianInput(BaseModel):
    workspace_id: str
    member_id: str
    form: EnrollmentForm


class ClinicianRef(BaseModel):
    """A DoseSpot clinician and the clinic whose credentials act for it."""

    workspace_id: str
    member_id: str
    clinician_id: int
    clinic_id: int


class DeactivateClinicianInput(BaseModel):
    ref: ClinicianRef
    form: EnrollmentForm


class RegistrationStatusResult(BaseModel):
    status: str


class AgreementsResult(BaseModel):
    eprescribing_accepted: bool


class ClinicianSnapshot(BaseModel):
    workspace_id: str
    member_id: str
    state: str
    dosespot_clinician_id: int | None = None
    dea_registrant: bool = False
    tfa_active: bool = False
    epcs_enabled: bool = False
    idp_failed_attempts: int = 0
    idp_path: str | None = None
    idp_deadline: datetime | None = None
    at: datetime


class EpcsAuditInput(BaseModel):
    workspace_id: str
    subject_member_id: str
    actor_member_id: str | None
    action: str
    outcome: str
    reason: str | None = None


class BillingControl(BaseModel):
    """ClinicianEnrollment -> billing: start (on verification) or stop (on deactivation)."""

    workspace_id: str
    member_id: str
    at: datetime
