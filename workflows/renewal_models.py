"""Inputs and results of the RenewalRequest workflow and its activities.

Ids are DoseSpot's and ours; the medication's name travels only in encrypted payloads
and the read model, never in ids, search attributes or logs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflows.models import Blocked


class RenewalFacts(BaseModel):
    """What DoseSpot's queue says about one renewal request when it is first seen."""

    refill_id: int
    dosespot_clinic_id: int
    dosespot_clinician_id: int
    dosespot_patient_id: int | None = None
    # Our ids for the prescriber and the patient, where the workspace knows them.
    member_id: str | None = None
    client_id: str | None = None
    requested_prescription_id: int | None = None
    original_prescription_id: int | None = None
    pharmacy_id: int | None = None
    medication: str | None = None
    schedule: int | None = None
    controlled: bool = False
    requested_at: datetime | None = None
    expires_at: datetime | None = None


class RenewalTimings(BaseModel):
    """How long a request is kept for the prescriber, and how DoseSpot is watched."""

    # DoseSpot is asked this often whether the request was answered in its own UI; a push
    # or a list of the renewals asks at once.
    check_interval_seconds: float = 3600
    # A request DoseSpot gives no expiration date ends this long after it was requested.
    default_lifetime_days: float = 30
    continue_as_new_after_events: int = 1000


class RenewalApproval(BaseModel):
    refills: int = Field(ge=1, le=99)
    comment: str | None = Field(default=None, max_length=500)
    effective_date: date | None = None
    actor_member_id: str | None = None


class RenewalDenial(BaseModel):
    denial_reason: str
    note: str | None = Field(default=None, max_length=70)
    actor_member_id: str | None = None


class RenewalDecision(BaseModel):
    """The prescriber's answer, as sent to DoseSpot."""

    kind: Literal["approve", "deny"]
    approval: RenewalApproval | None = None
    denial: RenewalDenial | None = None
    decided_at: datetime


class RenewalCarry(BaseModel):
    state: str
    decision: RenewalDecision | None = None
    blocked: Blocked | None = None
    ended_at: datetime | None = None


class RenewalRequestInput(BaseModel):
    workspace_id: str
    facts: RenewalFacts
    timings: RenewalTimings = Field(default_factory=RenewalTimings)
    carried: RenewalCarry | None = None


class RenewalStatus(BaseModel):
    workspace_id: str
    refill_id: int
    state: str
    allowed_actions: list[str]
    facts: RenewalFacts
    decision: RenewalDecision | None = None
    blocked: Blocked | None = None
    ended_at: datetime | None = None
    summary: str = ""


class CheckRenewalInput(BaseModel):
    refill_id: int
    dosespot_clinic_id: int
    dosespot_clinician_id: int
    dosespot_patient_id: int | None = None


class DecideRenewalInput(BaseModel):
    refill_id: int
    dosespot_clinic_id: int
    dosespot_clinician_id: int
    dosespot_patient_id: int | None = None
    decision: RenewalDecision


class DecisionOutcome(BaseModel):
    """``sent``: DoseSpot took the answer; ``no_longer_pending``: DoseSpot had already
    closed the request (answered in its UI, or expired) and refused ours."""

    outcome: Literal["sent", "no_longer_pending"]


class RenewalSnapshot(BaseModel):
    """The read model's row: the request, where it stands and the answer given."""

    workspace_id: str
    facts: RenewalFacts
    state: str
    decision: RenewalDecision | None = None
    blocked_reason: str | None = None
    message: str | None = None
    ended_at: datetime | None = None
