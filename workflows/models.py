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
    # The failed call's error type (e.g. DoseSpotRefused), when a call blocked it.
    error_type: str | None = None


class Blocked(BaseModel):
    """Why a lifecycle cannot go on by itself: a call that failed for good, or a wait that
    passed its deadline. An admin's retry resumes ``step`` in ``resume_state``."""

    step: str
    resume_state: str
    reason: str
    error_type: str | None = None
    message: str
    since: datetime


# ClinicSetup ------------------------------------------------------------------


class ClinicSetupInput(BaseModel):
    workspace_id: str
    # Carried across continue-as-new.
    state: str | None = None
    clinics: dict[str, ClinicRecord] = Field(default_factory=dict)
    pending: list[str] = Field(default_factory=list)
    clinicians: dict[str, str] = Field(default_factory=dict)
    # A run continues-as-new after this many events, if Temporal has not suggested it sooner.
    continue_as_new_after_events: int = 2000


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


# The signal every workflow that follows DoseSpot takes its push notifications by.
DOSESPOT_EVENT_SIGNAL = "dosespot_event"


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
    """How often DoseSpot is polled when its push notifications do not arrive, how long
    each wait may last before the lifecycle stalls, and when a run continues-as-new."""

    confirmation_poll_seconds: float = 30
    poll_max_seconds: float = 900
    idp_poll_seconds: float = 30
    tfa_poll_seconds: float = 30
    idme_window_hours: float = 24
    confirmation_deadline_days: float = 30
    tfa_deadline_days: float = 30
    # Waiting for an Experian attempt's outcome, the clinician's next attempt, or agreements.
    idp_deadline_days: float = 30
    continue_as_new_after_events: int = 1000


class ClinicianCarry(BaseModel):
    """A ClinicianEnrollment's state, carried across continue-as-new."""

    state: str
    form: EnrollmentForm | None = None
    clinician_id: int | None = None
    message: str | None = None
    blocked: Blocked | None = None
    confirmed_event: bool = False
    tfa_event: bool = False
    idp_run: int = 0
    idp: IdpProgress | None = None
    early_idp_success: bool = False
    approvals: list[EpcsApproval] = Field(default_factory=list)
    billing_started: bool = False
    pending_effects: list[str] = Field(default_factory=list)
    deactivate_requested: ActorRequest | None = None
    deactivation_done: list[str] = Field(default_factory=list)
    wait_deadline: datetime | None = None
    poll_interval: float | None = None
    audit_seq: int = 0
    idp_carry: IdpCarry | None = None
    # What the clinic was last told this clinician counts as: inviting, verifying or ready.
    told_clinic: str = "inviting"


class ClinicianEnrollmentInput(BaseModel):
    workspace_id: str
    member_id: str
    timings: EnrollmentTimings = Field(default_factory=EnrollmentTimings)
    # The ClinicSetup workflow to tell about progress, if it started this one.
    setup_workflow_id: str | None = None
    carried: ClinicianCarry | None = None
    # Where its emails are sent from: a task queue of their own (None: the workflow's).
    mail_task_queue: str | None = None
    # The code generation that started the run (workflows.versions); 0: before generations.
    generation: int = 0


class EnrollmentOutcome(StrEnum):
    confirmed = "confirmed"
    registration_failed = "registration_failed"
    # Still registering when the workflow continued-as-new; the state tells the rest.
    pending = "pending"
    blocked = "blocked"
    stalled = "stalled"


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
    idme_attempts: int = 0


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
    blocked: Blocked | None = None
    dosespot_clinician_id: int | None = None
    dosespot_clinic_id: int | None = None
    idp: IdpProgress | None = None
    tfa_active: bool = False
    epcs_enabled: bool = False
    epcs_approvers: list[str] = Field(default_factory=list)
    billing_started: bool = False
    message: str | None = None
    summary: str = ""
    # Increases with every change the workflow publishes (0: not from a publish).
    revision: int = 0


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


class IdpCarry(BaseModel):
    """An IdentityProofing run's wait, carried across continue-as-new."""

    succeeded: bool = False
    # The success came from a push, not yet confirmed with DoseSpot.
    success_pushed: bool = False
    attempt_requested: bool = False
    wait_deadline: datetime | None = None
    poll_interval: float | None = None


class IdentityProofingInput(BaseModel):
    workspace_id: str
    member_id: str
    clinician_id: int
    clinic_id: int
    run: int
    timings: EnrollmentTimings = Field(default_factory=EnrollmentTimings)
    # Progress so far: after continue-as-new, or when an admin resumes a blocked run.
    progress: IdpProgress | None = None
    carried: IdpCarry | None = None
    # The code generation that started the run (workflows.versions); 0: before generations.
    generation: int = 0


class IdentityProofingResult(BaseModel):
    """``progress.outcome``: verified, expired (ID.me window closed), blocked or stalled."""

    verified: bool
    progress: IdpProgress
    blocked: Blocked | None = None
    # Where a blocked or stalled run stood, for the run an admin's retry starts.
    carried: IdpCarry | None = None


class ControlledSubstancePermission(BaseModel):
    allowed: bool


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
    """Deactivate in DoseSpot: its current record is read and only ``Active`` is changed."""

    ref: ClinicianRef
    # Older runs sent the enrollment form; it is no longer used.
    form: EnrollmentForm | None = None


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
    # The whole status for the read model's GETs (runs that publish every change).
    status: ClinicianStatus | None = None


class EpcsAuditInput(BaseModel):
    workspace_id: str
    subject_member_id: str
    actor_member_id: str | None
    action: str
    outcome: str
    reason: str | None = None
    # Unique per audit event (workflow id + event sequence, or the API request's id): a
    # retried append with the same key writes nothing new.
    idempotency_key: str | None = None


class BillingControl(BaseModel):
    """ClinicianEnrollment -> billing: start (on verification) or stop (on deactivation)."""

    workspace_id: str
    member_id: str
    at: datetime
