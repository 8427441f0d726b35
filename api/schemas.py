"""Request and response models of the public API, named by role (XUpsert, XPublic, ...)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Path, Query, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from db.counts import ClinicianNotificationCounts
from erx.us import UsPhone, UsState, ZipCode, refuse_non_ascii_digits
from workflows.models import Address, ClinicRecord, SetupStep

# Unicode categories refused in free text: controls (tab, newline, NUL, ...), invisible
# formatting (bidi overrides, zero-width characters), surrogates, private use, unassigned,
# and line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean_text(value: object) -> object:
    """Refuse control and invisible characters; compose accents (NFC), so that one name is
    stored one way and its length is counted in characters as DoseSpot counts them."""
    if not isinstance(value, str):
        return value
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value):
        raise ValueError("must not contain control or invisible formatting characters")
    return unicodedata.normalize("NFC", value)


def _ascii_digits(value: object) -> object:
    return refuse_non_ascii_digits(value) if isinstance(value, str) else value


def text(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


# Before the length and pattern checks, so the reason is the character, not the shape.
NoControl = BeforeValidator(clean_text)
AsciiDigits = BeforeValidator(_ascii_digits)

# Names of people, places and things: DoseSpot holds at most 35 characters.
Name = Annotated[str, text(35), NoControl]
Text200 = Annotated[str, text(200), NoControl]
# DoseSpot's address lines hold at most 35 characters.
AddressLine = Annotated[str, text(35), NoControl]
City = Annotated[str, text(35), NoControl]
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
# The shape of every id column (String(64)) the EHR names: in bodies and in paths.
ResourceId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
PathId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="An opaque id (no PHI): 1-64 ASCII letters, digits and _ . : -",
    ),
]

# Reads answer from the read model; ``strong`` asks the workflow (slower, exact at once).
ConsistencyQuery = Annotated[
    Literal["eventual", "strong"],
    Query(description="eventual: the read model (fast); strong: ask the workflow itself"),
]

# The longest a GET waits for a change (``wait``): under common proxies' idle timeouts.
MAX_WAIT_SECONDS = 30
WaitQuery = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="with If-None-Match holding this resource's ETag: wait up to this many "
        "seconds for it to change, then answer the new state (200) or 304 Not Modified",
    ),
]


def json_answer(model: BaseModel, headers: dict[str, str] | None = None) -> Response:
    """A read's answer, serialized once by its own model: a route that returns it skips
    FastAPI's second validation of a model it built itself (the route's ``response_model``
    still documents it)."""
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationUpsert(RequestModel):
    """A practice location: where the clinic is, how pharmacies reach it."""

    name: Text200
    street_address: AddressLine
    suburb: AddressLine | None = Field(
        default=None, description="Suburb, province or second address line"
    )
    city: City
    state: UsState = Field(description="US state, DC or territory code, e.g. NY, DC, PR")
    zip_code: ZipCode
    country: Literal["US"] = "US"
    phone: UsPhone = Field(description="+1 and a valid US number, e.g. +1 212 736 5000")
    fax: UsPhone | None = None


class LocationPublic(BaseModel):
    id: str
    name: str
    street_address: str
    suburb: str | None
    city: str
    state: str
    zip_code: str
    country: str
    phone: str
    fax: str | None


class LocationCreate(LocationUpsert):
    """A new location given inline at setup; the EHR names it with its own id."""

    id: ResourceId


class MemberUpsert(RequestModel):
    first_name: Name
    last_name: Name
    email: EmailStr
    job_title: Annotated[str, text(100, min_length=0), NoControl] | None = None
    is_admin: StrictBool = False


class MemberPublic(BaseModel):
    id: str
    first_name: str
    last_name: str
    email: str
    job_title: str | None
    is_admin: bool


class MemberList(BaseModel):
    items: list[MemberPublic]
    count: int


class ErxSetupRequest(RequestModel):
    """Register a practice location with DoseSpot: an existing one by id, or a new one."""

    location_id: ResourceId | None = None
    location: LocationCreate | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ErxSetupRequest:
        if (self.location_id is None) == (self.location is None):
            raise ValueError(
                "give either location_id (an existing location) or location (a new one)"
            )
        return self


class ClinicKeySupply(RequestModel):
    """The ClinicKey DoseSpot support gave for a clinic whose creation answer was lost."""

    clinic_key: Annotated[
        str, StringConstraints(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    ]


class ClinicPublic(BaseModel):
    location_id: str
    status: str
    name: str
    address: Address | None
    blocked_reason: str | None = None
    error_type: str | None = None
    message: str | None = None

    @classmethod
    def from_record(cls, record: ClinicRecord) -> ClinicPublic:
        return cls(
            location_id=record.location_id,
            status=record.status.value,
            name=record.clinic_name,
            address=record.address,
            blocked_reason=record.blocked_reason,
            error_type=record.error_type,
            message=record.message,
        )


class ErxProgressPublic(BaseModel):
    workspace_id: str
    stage: str
    active_step: int
    steps: list[SetupStep]
    clinic: ClinicPublic | None = Field(description="The first registered clinic, if any")
    clinics: list[ClinicPublic]
    blocked_reason: str | None = None
    summary: str


class ErxSetupPublic(BaseModel):
    workflow_id: str
    status: Literal["registered", "registering", "blocked"]
    clinic: ClinicPublic | None
    progress: ErxProgressPublic | None = None


class NotificationCounts(BaseModel):
    """DoseSpot's queues, summed over what is counted."""

    pending_prescriptions: int = 0
    transmission_errors: int = 0
    refill_requests: int = 0
    change_requests: int = 0
    total: int = 0

    def add(self, row: ClinicianNotificationCounts) -> None:
        self.pending_prescriptions += row.pending_prescriptions
        self.transmission_errors += row.transmission_errors
        self.refill_requests += row.refill_requests
        self.change_requests += row.change_requests
        self.total = (
            self.pending_prescriptions
            + self.transmission_errors
            + self.refill_requests
            + self.change_requests
        )


def utc(moment: datetime | None) -> datetime | None:
    """A stored time as UTC: SQLite keeps no offset, and what it returns was stored in UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_utc(moment: datetime) -> datetime:
    aware = utc(moment)
    assert aware is not None
    return aware


# A moment in a response: always in UTC and written with its offset ("...Z"), whether the
# database kept the offset (PostgreSQL) or not (SQLite, where times are stored in UTC).
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


class PharmacyServices(BaseModel):
    """The prescribing messages the pharmacy accepts (DoseSpot's ServiceLevel bits)."""

    new_rx: bool
    refill: bool
    change: bool
    rx_fill: bool
    cancel: bool
    epcs: bool = Field(description="Controlled-substance prescriptions (EPCS)")
