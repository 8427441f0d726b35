"""DoseSpot request and response bodies, named in Python and aliased to the Swagger's names.

Request models (``*Create``) forbid unknown fields and render with :meth:`to_body` exactly
what the Swagger request schema accepts. Response models ignore fields they do not use,
so DoseSpot adding a field never breaks a read.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_serializer,
    field_validator,
)

from dosespot.enums import (
    ClinicianRoleType,
    ClinicianSpecialtyType,
    PdmpRoleType,
    PhoneType,
    TfaType,
)

DEA_NUMBER_PATTERN = r"^[A-Z][A-Z9][0-9]{7}(-[A-Z0-9]{1,7})?$"
NADEA_NUMBER_PATTERN = r"^[a-zA-Z0-9]{9}$"


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _date_part(value: Any) -> Any:
    # DoseSpot writes dates as date-times at midnight ("1980-04-01T00:00:00").
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str) and "T" in value:
        return value.split("T", 1)[0]
    return value


def _unset_date(value: Any) -> Any:
    # An agreement never signed has no date; .NET may also send DateTime's default (year 1).
    if isinstance(value, str) and (not value.strip() or value.startswith("0001-")):
        return None
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# The Swagger types a credential's ClinicId as a string; we hold it as the int it is.
ClinicIdText = Annotated[
    int | None,
    BeforeValidator(_blank_to_none),
    PlainSerializer(lambda v: None if v is None else str(v), return_type=str | None),
]
DateOnly = Annotated[date, BeforeValidator(_date_part)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=25)]
Line35 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=35)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Line10 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)]
Line25 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=25)]
DeaText = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=DEA_NUMBER_PATTERN)]
# A read may say "nothing" as null or as an empty string: both become None.
Blank = BeforeValidator(_blank_to_none)


class DoseSpotModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class DoseSpotRequest(DoseSpotModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    def to_body(self) -> dict[str, Any]:
        """The JSON object DoseSpot expects: Swagger names, enums as names, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class DeaNumber(DoseSpotRequest):
    """A DEA registration, held per state and clinic."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    dea_number: DeaText = Field(alias="DEANumber")
    state: str | None = Field(default=None, alias="State")
    clinic_id: ClinicIdText = Field(default=None, alias="ClinicId")


class NaDeaNumber(DoseSpotRequest):
    """A narcotic-addiction (DATA-waiver) DEA number, held per state and clinic."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    nadea_number: Annotated[
        str, BeforeValidator(_upper), StringConstraints(pattern=NADEA_NUMBER_PATTERN)
    ] = Field(alias="NADEANumber")
    state: str | None = Field(default=None, alias="State")
    clinic_id: ClinicIdText = Field(default=None, alias="ClinicId")


class MedicalLicenseNumber(DoseSpotRequest):
    """A state medical licence, held per state and clinic."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    license_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=35)
    ] = Field(alias="LicenseNumber")
    state: str | None = Field(default=None, alias="State")
    clinic_id: ClinicIdText = Field(default=None, alias="ClinicId")


class ClinicCreate(DoseSpotRequest):
    """Body of ``POST api/clinics`` (AddEditClinicRequest)."""

    clinic_name: Text = Field(alias="ClinicName")
    address1: Text = Field(alias="Address1")
    address2: Line35 | None = Field(default=None, alias="Address2")
    city: Text = Field(alias="City")
    state: Text = Field(alias="State")
    zip_code: Text = Field(alias="ZipCode")
    primary_phone: Phone = Field(alias="PrimaryPhone")
    primary_phone_type: PhoneType = Field(alias="PrimaryPhoneType")
    primary_fax: Phone | None = Field(default=None, alias="PrimaryFax")
    active: bool | None = Field(default=None, alias="Active")


class ClinicCredentials(DoseSpotModel):
    """What ``POST api/clinics`` returns: the new clinic's id and its API key."""

    clinic_id: int = Field(alias="ClinicId")
    clinic_key: str = Field(alias="ClinicKey", repr=False)


class Clinic(DoseSpotModel):
    """A clinic as DoseSpot reports it (``Clinic`` of ClinicDetailResponse)."""

    clinic_id: int = Field(alias="ClinicId")
    clinic_name: str = Field(alias="ClinicName")
    address1: str = Field(alias="Address1")
    address2: str | None = Field(default=None, alias="Address2")
    city: str = Field(alias="City")
    state: str = Field(alias="State")
    zip_code: str = Field(alias="ZipCode")
    primary_phone: str = Field(alias="PrimaryPhone")
    primary_phone_type: PhoneType = Field(alias="PrimaryPhoneType")
    primary_fax: str | None = Field(default=None, alias="PrimaryFax")
    active: bool | None = Field(default=None, alias="Active")


class ClinicianCreate(DoseSpotRequest):
    """Body of ``POST api/clinicians`` and ``PUT api/clinicians/{id}`` (AddEditClinicianRequest)."""

    prefix: Annotated[Line10 | None, Blank] = Field(default=None, alias="Prefix")
    first_name: Text = Field(alias="FirstName")
    middle_name: Line35 | None = Field(default=None, alias="MiddleName")
    last_name: Text = Field(alias="LastName")
    suffix: Annotated[Line10 | None, Blank] = Field(default=None, alias="Suffix")
    date_of_birth: DateOnly = Field(alias="DateOfBirth")
    email: str | None = Field(default=None, alias="Email")
    address1: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=35)
    ] = Field(alias="Address1")
    address2: Line35 | None = Field(default=None, alias="Address2")
    city: Text = Field(alias="City")
    state: Text = Field(alias="State")
    zip_code: Text = Field(alias="ZipCode")
    primary_phone: Phone = Field(alias="PrimaryPhone")
    primary_phone_type: PhoneType | None = Field(default=None, alias="PrimaryPhoneType")
    primary_fax: Phone = Field(alias="PrimaryFax")
    phone_additional1: Annotated[Line25 | None, Blank] = Field(
        default=None, alias="PhoneAdditional1"
    )
    phone_additional_type1: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType1"
    )
    phone_additional2: Annotated[Line25 | None, Blank] = Field(
        default=None, alias="PhoneAdditional2"
    )
    phone_additional_type2: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType2"
    )
    phone_additional3: Annotated[Line25 | None, Blank] = Field(
        default=None, alias="PhoneAdditional3"
    )
    phone_additional_type3: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType3"
    )
    npi_number: str | None = Field(default=None, alias="NPINumber")
    dea_number: Annotated[DeaText | None, Blank] = Field(default=None, alias="DEANumber")
    dea_numbers: list[DeaNumber] | None = Field(default=None, alias="DEANumbers")
    nadea_numbers: list[NaDeaNumber] | None = Field(default=None, alias="NADEANumbers")
    medical_license_numbers: list[MedicalLicenseNumber] | None = Field(
        default=None, alias="MedicalLicenseNumbers"
    )
    roles: list[ClinicianRoleType] = Field(alias="ClinicianRoleType", min_length=1)
    epcs_requested: bool | None = Field(default=None, alias="EPCSRequested")
    active: bool | None = Field(default=None, alias="Active")
    pdmp_role_type: PdmpRoleType | None = Field(default=None, alias="PDMPRoleType")
    specialty: ClinicianSpecialtyType | None = Field(default=None, alias="ClinicianSpecialtyType")

    @field_serializer("date_of_birth", when_used="json")
    def _serialize_date_of_birth(self, value: date) -> str:
        return f"{value.isoformat()}T00:00:00"

    @classmethod
    def from_clinician(cls, clinician: Clinician) -> ClinicianCreate:
        """The edit request restating ``clinician`` as DoseSpot holds it.

        ``PUT api/clinicians/{clinicianId}`` replaces the whole record, so an edit starts
        from what DoseSpot returned rather than from a partial body. Every member of the
        request that the read returns is carried, under the request's name.
        """
        shared = set(cls.model_fields) & set(Clinician.model_fields)
        fields = clinician.model_dump(include=shared)
        # The read names the specialty by number, the edit by name.
        fields["specialty"] = clinician.specialty_type_id
        # Keyed by the request's names, so a validation error names the Swagger member.
        return cls.model_validate({cls.model_fields[k].alias: v for k, v in fields.items()})


class Clinician(DoseSpotModel):
    """A clinician as DoseSpot reports it (``Item`` of ItemResponse[Clinician])."""

    clinician_id: int = Field(alias="ClinicianId")
    prefix: str | None = Field(default=None, alias="Prefix")
    first_name: str = Field(alias="FirstName")
    middle_name: str | None = Field(default=None, alias="MiddleName")
    last_name: str = Field(alias="LastName")
    suffix: str | None = Field(default=None, alias="Suffix")
    date_of_birth: DateOnly = Field(alias="DateOfBirth")
    email: str | None = Field(default=None, alias="Email")
    address1: str = Field(alias="Address1")
    address2: str | None = Field(default=None, alias="Address2")
    city: str = Field(alias="City")
    state: str = Field(alias="State")
    zip_code: str = Field(alias="ZipCode")
    primary_phone: str = Field(alias="PrimaryPhone")
    primary_phone_type: PhoneType | None = Field(default=None, alias="PrimaryPhoneType")
    primary_fax: str | None = Field(default=None, alias="PrimaryFax")
    phone_additional1: str | None = Field(default=None, alias="PhoneAdditional1")
    phone_additional_type1: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType1"
    )
    phone_additional2: str | None = Field(default=None, alias="PhoneAdditional2")
    phone_additional_type2: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType2"
    )
    phone_additional3: str | None = Field(default=None, alias="PhoneAdditional3")
    phone_additional_type3: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType3"
    )
    npi_number: str | None = Field(default=None, alias="NPINumber")
    dea_number: str | None = Field(default=None, alias="DEANumber")
    dea_numbers: list[DeaNumber] = Field(default_factory=list, alias="DEANumbers")
    nadea_numbers: list[NaDeaNumber] = Field(default_factory=list, alias="NADEANumbers")
    medical_license_numbers: list[MedicalLicenseNumber] = Field(
        default_factory=list, alias="MedicalLicenseNumbers"
    )
    roles: list[ClinicianRoleType] = Field(default_factory=list, alias="Roles")
    pdmp_role_type: Annotated[PdmpRoleType | None, Blank] = Field(
        default=None, alias="PDMPRoleType"
    )
    # A number here; an edit sends the ClinicianSpecialtyType name (see from_clinician).
    specialty_type_id: int | None = Field(default=None, alias="SpecialtyTypeId")
    confirmed: bool | None = Field(default=None, alias="Confirmed")
    active: bool | None = Field(default=None, alias="Active")
    account_locked: bool | None = Field(default=None, alias="AccountLocked")
    epcs_requested: bool | None = Field(default=None, alias="EpcsRequested")

    @field_validator(
        "dea_numbers", "nadea_numbers", "medical_license_numbers", "roles", mode="before"
    )
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value


class PageResult(DoseSpotModel):
    """Paging block of DoseSpot's paged lists."""

    current_page: int = Field(default=1, alias="CurrentPage")
    total_pages: int = Field(default=1, alias="TotalPages")
    page_size: int | None = Field(default=None, alias="PageSize")
    total_count: int | None = Field(default=None, alias="TotalCount")
    has_previous: bool = Field(default=False, alias="HasPrevious")
    has_next: bool = Field(default=False, alias="HasNext")


class LegalAgreement(DoseSpotModel):
    """AgreementInfoResponse: one of the agreements a clinician signs in DoseSpot's UI.

    The Swagger gives no type or accepted flag: an agreement is accepted once it has an
    ``AgreementDate``, and its name is the first line of its text.
    """

    agreement_id: int = Field(alias="AgreementId")
    agreement_date: Annotated[datetime | None, BeforeValidator(_unset_date)] = Field(
        default=None, alias="AgreementDate"
    )
    agreement_text: str | None = Field(default=None, alias="AgreementText")

    @property
    def accepted(self) -> bool:
        return self.agreement_date is not None

    @property
    def title(self) -> str:
        for line in (self.agreement_text or "").splitlines():
            if line.strip():
                return line.strip()
        return ""


class AgreementAcceptance(DoseSpotRequest):
    """Body of ``POST api/clinicians/acceptAgreement`` (ClinicianAcceptAgreementRequest)."""

    agreement_id: int = Field(alias="AgreementId", gt=0)
    name_signed: Text = Field(alias="NameSigned")


class TfaActivation(DoseSpotRequest):
    """Body of ``POST api/clinicians/{clinicianId}/initTfaActivate``."""

    tfa_type: TfaType = Field(alias="TfaTypeId")
