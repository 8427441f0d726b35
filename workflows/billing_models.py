"""Inputs and results of the ClinicianBilling workflow and its activities (pydantic)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field


class BillingState(StrEnum):
    active = "active"
    past_due = "past_due"
    deactivated = "deactivated"


class Price(BaseModel):
    amount_cents: int = Field(ge=0)
    currency: str


class ClinicianBillingInput(BaseModel):
    workspace_id: str
    member_id: str
    # The verification date (UTC): period n starts n months after it.
    anchor: date
    # The next period to charge; every earlier one is charged or was skipped while deactivated.
    period: int = Field(default=0, ge=0)
    # Carried across continue-as-new.
    periods_billed: int = 0
    status: BillingState = BillingState.active
    deactivate_at: AwareDatetime | None = None
    reactivated_at: AwareDatetime | None = None
    price: Price | None = None
    last_error: str | None = None
    # The generation of the code that started the run (workflows/versions.py); 0 before.
    generation: int = 0


class BillingDeactivate(BaseModel):
    # Periods starting at or after this moment are not charged.
    effective_at: AwareDatetime


class BillingReactivate(BaseModel):
    at: AwareDatetime


class BillingStatus(BaseModel):
    workspace_id: str
    member_id: str
    status: BillingState
    anchor: date
    # When the next charge falls due; for past_due, the start of the unpaid period.
    next_charge_date: date | None
    periods_billed: int
    amount_cents: int | None
    currency: str | None
    last_error: str | None
    summary: str


# Activities -------------------------------------------------------------------


class ChargeRequest(BaseModel):
    workspace_id: str
    member_id: str
    period: int
    period_start: date
    amount_cents: int = Field(ge=0)
    currency: str
    idempotency_key: str


class ChargeResult(BaseModel):
    charge_id: str
    # False when the idempotency key had already been charged: nothing new was billed.
    created: bool


class BillingRecord(BaseModel):
    """The subscription as the read model shows it."""

    workspace_id: str
    member_id: str
    status: BillingState
    anchor: date
    next_charge_date: date | None
    periods_billed: int
    amount_cents: int | None
    currency: str | None
    last_error: str | None = None
