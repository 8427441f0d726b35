"""What the EHR sends and reads about renewal (refill) requests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, field_validator

from api.schemas import RequestModel, UtcDateTime
from dosespot.enums import DenialReason
from erx.documented import Documented

DENIAL_REASONS = [reason.name for reason in DenialReason]


class RenewalApprovalIn(RequestModel):
    """Approve the renewal: DoseSpot sends the prescription to the pharmacy."""

    refills: StrictInt = Field(ge=1, le=99, description="Refills to authorise, 1 to 99")
    comment: str | None = Field(
        default=None, max_length=500, description="To the pharmacy, up to 500 characters"
    )
    effective_date: date | None = Field(
        default=None, description="When the prescription may be filled (today or later, UTC)"
    )

    @field_validator("effective_date")
    @classmethod
    def _not_in_the_past(cls, value: date | None) -> date | None:
        if value is not None and value < datetime.now(UTC).date():
            raise ValueError("must be today or later")
        return value


class RenewalDenialIn(RequestModel):
    """Deny the renewal with one of DoseSpot's denial reasons."""

    denial_reason: Annotated[str, Documented(enum=tuple(DENIAL_REASONS))] = Field(
        description="One of DoseSpot's 18 denial reasons, by name", examples=["DeniedTooSoon"]
    )
    note: str | None = Field(
        default=None, max_length=70, description="To the pharmacy, up to 70 characters"
    )

    @field_validator("denial_reason")
    @classmethod
    def _known_reason(cls, value: str) -> str:
        if value not in DENIAL_REASONS:
            raise ValueError(f"unknown denial reason; one of {', '.join(DENIAL_REASONS)}")
        return value


class RenewalPublic(BaseModel):
    refill_id: int = Field(description="DoseSpot's RefillId")
    state: str = Field(
        description="pending | approving | denying | blocked | approved | denied | "
        "decided_in_dosespot | expired"
    )
    allowed_actions: list[str]
    clinician_member_id: str | None = Field(description="The prescriber the request waits for")
    client_id: str | None = Field(description="The patient, where the workspace registered them")
    dosespot_clinician_id: int
    dosespot_patient_id: int | None
    medication: str | None
    controlled: bool = Field(description="A controlled substance (schedule 2-5): EPCS applies")
    schedule: int | None
    pharmacy_id: int | None
    requested_at: UtcDateTime | None
    expires_at: UtcDateTime | None = Field(description="DoseSpot's RequestExpirationDate")
    decision: str | None = Field(description="approve | deny, once answered through us")
    refills: int | None
    denial_reason: str | None
    blocked_reason: str | None
    message: str | None = Field(description="DoseSpot's words when it refused the answer")
    ended_at: UtcDateTime | None


class RenewalList(BaseModel):
    items: list[RenewalPublic] = Field(description="Oldest request first")
    count: int
