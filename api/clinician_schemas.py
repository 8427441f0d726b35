"""Request and response models for invitations and the clinician lifecycle."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from api.schemas import (
    AddressLine,
    AsciiDigits,
    City,
    Name,
    NoControl,
    NotificationCounts,
    RequestModel,
    ResourceId,
    UtcDateTime,
    text,
)
from erx.documented import Documented
from erx.identifiers import MM_DD_YYYY, check_date_of_birth, check_dea, check_npi
from erx.us import UsPhone, UsState, ZipCode
from workflows.models import Blocked, IdpProgress

Npi = Annotated[
    str,
    AfterValidator(check_npi),
    Documented(pattern=r"^[0-9]{10}$", examples=("1234567893",)),
]
# X numbers (the retired DATA waiver) are refused.
Dea = Annotated[
    str,
    AfterValidator(check_dea),
    Documented(pattern=r"^[A-WYZa-wyz][A-Za-z9][0-9]{7}$", examples=("AB1234563",)),
]


def _date_of_birth(value: object) -> date:
    if not isinstance(value, str):
        raise ValueError("date of birth must be a string MM/DD/YYYY")
    return check_date_of_birth(value)


DateOfBirth = Annotated[
    date,
    BeforeValidator(_date_of_birth, json_schema_input_type=str),
    MM_DD_YYYY,
]
NaDea = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9]{9}$"),
    AsciiDigits,
]
License = Annotated[str, text(35), NoControl, AsciiDigits]


# Members one invitation request may name.
MAX_INVITATIONS = 1000


class MemberSelection(RequestModel):
    member_ids: list[ResourceId] = Field(min_length=1, max_length=MAX_INVITATIONS)


class InvitationPreview(BaseModel):
    selected_count: int
    price_per_clinician_cents: int
    monthly_total_cents: int
    monthly_total: str = Field(description='e.g. "$78.00"')
    currency: str


class InvitationPublic(BaseModel):
    member_id: str
    status: str = Field(description="invited | already_invited | failed")
    reason: str | None = Field(default=None, description="why a failed invitation failed")


class InvitationsPublic(BaseModel):
    items: list[InvitationPublic]
    monthly_total: str


class ProfessionalAddress(RequestModel):
    street_address: AddressLine
    suburb: AddressLine | None = None
    city: City
    state: UsState
    zip_code: ZipCode


class EnrollmentLocationIn(RequestModel):
    location_id: ResourceId
    is_default: StrictBool = False
    dea_number: Dea | None = None
    dea_state: UsState | None = Field(
        default=None, description="State of the DEA registration; must be the location's"
    )
    nadea_number: NaDea | None = None
    license_number: License | None = None


class EnrollmentFormIn(RequestModel):
    """The "Connect" form. Names and email default to the member's."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: EmailStr | None = None
    date_of_birth: DateOfBirth = Field(description="MM/DD/YYYY")
    npi: Npi
    phone: UsPhone
    fax: UsPhone | None = Field(
        default=None, description="DoseSpot requires a fax; defaults to the location's"
    )
    professional_address: ProfessionalAddress
    locations: list[EnrollmentLocationIn] = Field(min_length=1, max_length=20)

    @field_validator("locations")
    @classmethod
    def _one_default(cls, locations: list[EnrollmentLocationIn]) -> list[EnrollmentLocationIn]:
        defaults = sum(1 for loc in locations if loc.is_default)
        if defaults != 1:
            raise ValueError(
                f"exactly one location must be the default (is_default: true); found {defaults}"
            )
        ids = [loc.location_id for loc in locations]
        if len(set(ids)) != len(ids):
            raise ValueError("each location may appear once")
        return locations


class EnrollmentDraft(BaseModel):
    """What the form opens with: the member's names and the workspace's clinic locations."""

    first_name: str
    last_name: str
    email: str
    locations: list[dict[str, object]]


class ClinicianPublic(BaseModel):
    member_id: str
    state: str
    allowed_actions: list[str]
    blocked: Blocked | None = Field(
        default=None,
        description="why a blocked or stalled clinician cannot go on: the step, the reason "
        "code, the error's type and DoseSpot's message; POST .../retry resumes it",
    )
    first_name: str | None = None
    last_name: str | None = None
    idp: IdpProgress | None = None
    tfa_active: bool = False
    epcs_enabled: bool = False
    epcs_approvers: list[str] = Field(default_factory=list)
    billing_started: bool = False
    message: str | None = None
    summary: str = ""
    notification_counts: NotificationCounts | None = Field(
        default=None, description="DoseSpot's queues for this clinician, all clinics together"
    )


class EnrollmentPublic(BaseModel):
    status: str = Field(description="confirmed | pending | registration_failed")
    clinician: ClinicianPublic


class VerificationPublic(BaseModel):
    sso_url: str = Field(description="Opens DoseSpot's identity verification for the clinician")
    clinician: ClinicianPublic


class ClinicianListItem(BaseModel):
    member_id: str
    first_name: str
    last_name: str
    state: str
    tfa_active: bool
    epcs_enabled: bool
    idp_failed_attempts: int
    idp_path: str | None
    idp_deadline: UtcDateTime | None
    verified_at: UtcDateTime | None


class ClinicianList(BaseModel):
    items: list[ClinicianListItem]
    count: int
