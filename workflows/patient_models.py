"""Inputs and results of the PatientErx workflow and its activities (PHI only in encrypted
payloads; ids are ours and opaque)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from workflows.models import Blocked


class Sex(StrEnum):
    Male = "Male"
    Female = "Female"
    Unknown = "Unknown"


class HeightUnit(StrEnum):
    cm = "cm"
    inch = "in"


class WeightUnit(StrEnum):
    kg = "kg"
    lb = "lb"


class Measure(BaseModel):
    value: float
    unit: str


class InsurancePlan(BaseModel):
    payer_name: str
    payer_id: str
    member_id: str
    group_id: str | None = None


class PatientDetails(BaseModel):
    """What DoseSpot keeps of a patient: the client record merged with the request."""

    first_name: str
    last_name: str
    middle_name: str | None = None
    date_of_birth: date
    sex: Sex
    phone: str
    phone_type: str = "Cell"
    email: str | None = None
    address1: str
    address2: str | None = None
    city: str
    state: str
    zip_code: str
    medical_record_number: str | None = None
    height: Measure | None = None
    weight: Measure | None = None
    # Sent as DoseSpot's patient insurance when the patient is created.
    insurance: InsurancePlan | None = None


class PatientRegistrationRequest(BaseModel):
    """Register (or update) the patient in DoseSpot, in this clinic."""

    dosespot_clinic_id: int
    details: PatientDetails


class PatientTimings(BaseModel):
    """How a patient's medication record is kept in step with DoseSpot."""

    # After the last activity (a session, a push, a sync), DoseSpot is polled this often
    # for this long, so a lost push is caught within one interval.
    reconcile_interval_seconds: float = 600
    reconcile_window_hours: float = 48
    continue_as_new_after_events: int = 1000


class PatientCarry(BaseModel):
    state: str
    request: PatientRegistrationRequest | None = None
    registration_pending: bool = False
    dosespot_patient_id: int | None = None
    dosespot_clinic_id: int | None = None
    blocked: Blocked | None = None
    sync_requested: bool = False
    last_activity: datetime | None = None
    last_synced: datetime | None = None
    status_details: dict[int, str] = Field(default_factory=dict)


class PatientErxInput(BaseModel):
    workspace_id: str
    client_id: str
    timings: PatientTimings = Field(default_factory=PatientTimings)
    carried: PatientCarry | None = None


class PatientErxStatus(BaseModel):
    workspace_id: str
    client_id: str
    state: str
    allowed_actions: list[str]
    dosespot_patient_id: int | None = None
    dosespot_clinic_id: int | None = None
    blocked: Blocked | None = None
    last_synced: datetime | None = None
    summary: str = ""


class EnsurePatientInput(BaseModel):
    workspace_id: str
    client_id: str
    request: PatientRegistrationRequest
    # The DoseSpot patient an earlier registration made, if any: it is updated, never twinned.
    dosespot_patient_id: int | None = None


class SyncPatientInput(BaseModel):
    workspace_id: str
    client_id: str
    dosespot_clinic_id: int
    dosespot_patient_id: int
    # DoseSpot says why a prescription failed only in its PrescriptionResult push.
    status_details: dict[int, str] = Field(default_factory=dict)


class SyncSummary(BaseModel):
    prescriptions: int = 0
    self_reported: int = 0
    renewal_requests: int = 0
    synced_at: datetime


class PatientSnapshot(BaseModel):
    workspace_id: str
    client_id: str
    state: str
    dosespot_patient_id: int | None = None
    dosespot_clinic_id: int | None = None
    blocked_reason: str | None = None
    message: str | None = None
    last_synced_at: datetime | None = None
