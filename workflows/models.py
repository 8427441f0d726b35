"""Inputs and results of workflows, activities, updates and queries (pydantic, no SSN/PIN/OTP)."""

from __future__ import annotations

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
