"""DoseSpot request and response bodies, named in Python and aliased to the Swagger's names.

Request models (``*Create``) forbid unknown fields and render with :meth:`to_body` exactly
what the Swagger request schema accepts. Response models ignore fields they do not use,
so DoseSpot adding a field never breaks a read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)

from dosespot.enums import (
    AllergenCategory,
    AllergenType,
    AllergyStatus,
    ClinicianRoleType,
    ClinicianSpecialtyType,
    DenialReason,
    EligibilityInfoType,
    FreeTextType,
    Gender,
    HeightMetric,
    InsuranceIdentifierType,
    MedicationStatus,
    PdmpRoleType,
    PharmacySpecialty,
    PhoneType,
    PrescriptionStatus,
    PrescriptionType,
    ReactionType,
    TfaType,
    WeightMetric,
    pharmacy_services,
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
        return date_at_midnight(value)

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


# Patients, allergies, pharmacies, medications, prescriptions


def _as_utc(value: datetime) -> datetime:
    # DoseSpot writes times without a zone. They are read as UTC, the zone the Swagger
    # names for its date filters; no source says which zone the replies use.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _digits_only(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def date_at_midnight(value: date) -> str:
    """A date as DoseSpot writes one: a date-time at midnight without a zone.

    .NET reads that as the calendar day whatever the server's time zone, where a date sent
    at midnight UTC could become the day before.
    """
    return f"{value.isoformat()}T00:00:00"


UtcDateTime = Annotated[
    datetime | None, BeforeValidator(_unset_date), AfterValidator(lambda v: v and _as_utc(v))
]
OptionalDate = Annotated[date | None, BeforeValidator(_unset_date), BeforeValidator(_date_part)]
TenDigitPhone = Annotated[
    str, BeforeValidator(_digits_only), StringConstraints(pattern=r"^[0-9]{10}$")
]
Line200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Line80 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]
Line50 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Line2 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2)]
Name35 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=35)]


class PatientCreate(DoseSpotRequest):
    """Body of ``POST api/patients`` and ``PUT api/patients/{patientId}`` (AddEditPatientRequest).

    Height and weight travel with their metrics: one without the other is refused here,
    since DoseSpot would store a number it cannot read. Whether a patient needs them (a
    minor) is the caller's rule, set by ``ERX_PEDIATRIC_VITALS_MAX_AGE``.
    """

    prefix: Annotated[Line10 | None, Blank] = Field(default=None, alias="Prefix")
    first_name: Name35 = Field(alias="FirstName")
    middle_name: Annotated[Line35 | None, Blank] = Field(default=None, alias="MiddleName")
    last_name: Name35 = Field(alias="LastName")
    suffix: Annotated[Line10 | None, Blank] = Field(default=None, alias="Suffix")
    date_of_birth: DateOnly = Field(alias="DateOfBirth")
    gender: Gender = Field(alias="Gender")
    email: Annotated[Line80 | None, Blank] = Field(default=None, alias="Email")
    address1: Name35 = Field(alias="Address1")
    address2: Annotated[Line35 | None, Blank] = Field(default=None, alias="Address2")
    city: Name35 = Field(alias="City")
    state: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] = (
        Field(alias="State")
    )
    zip_code: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=5, max_length=10)
    ] = Field(alias="ZipCode")
    primary_phone: TenDigitPhone = Field(alias="PrimaryPhone")
    primary_phone_type: PhoneType = Field(alias="PrimaryPhoneType")
    # DoseSpot rejects empty additional phones: absent ones are left out of the body.
    phone_additional1: Annotated[TenDigitPhone | None, Blank] = Field(
        default=None, alias="PhoneAdditional1"
    )
    phone_additional_type1: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType1"
    )
    phone_additional2: Annotated[TenDigitPhone | None, Blank] = Field(
        default=None, alias="PhoneAdditional2"
    )
    phone_additional_type2: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType2"
    )
    weight: float | None = Field(default=None, alias="Weight", gt=0)
    weight_metric: Annotated[WeightMetric | None, Blank] = Field(default=None, alias="WeightMetric")
    height: float | None = Field(default=None, alias="Height", gt=0)
    height_metric: Annotated[HeightMetric | None, Blank] = Field(default=None, alias="HeightMetric")
    non_dosespot_medical_record_number: Annotated[Line35 | None, Blank] = Field(
        default=None, alias="NonDoseSpotMedicalRecordNumber"
    )
    active: bool = Field(default=True, alias="Active")
    encounter: Annotated[Line50 | None, Blank] = Field(default=None, alias="Encounter")
    is_hospice: bool | None = Field(default=None, alias="IsHospice")

    @field_serializer("date_of_birth", when_used="json")
    def _serialize_date_of_birth(self, value: date) -> str:
        return date_at_midnight(value)

    @model_validator(mode="after")
    def _vitals_with_metrics(self) -> PatientCreate:
        for number, metric, name in (
            (self.weight, self.weight_metric, "weight"),
            (self.height, self.height_metric, "height"),
        ):
            if (number is None) != (metric is None):
                raise ValueError(f"{name} and {name}_metric go together")
        for phone, kind, n in (
            (self.phone_additional1, self.phone_additional_type1, 1),
            (self.phone_additional2, self.phone_additional_type2, 2),
        ):
            if kind is not None and phone is None:
                raise ValueError(f"phone_additional_type{n} needs phone_additional{n}")
        return self

    @classmethod
    def from_patient(cls, patient: Patient) -> PatientCreate:
        """The edit request restating ``patient`` as DoseSpot holds it.

        ``PUT api/patients/{patientId}`` replaces the whole record: start from the read
        and change what must change, so fields edited in DoseSpot's UI survive.
        """
        shared = set(cls.model_fields) & set(Patient.model_fields)
        fields = patient.model_dump(include=shared, exclude_none=True)
        return cls.model_validate({cls.model_fields[k].alias: v for k, v in fields.items()})


class PatientSummary(DoseSpotModel):
    """A patient as a search or a refill request returns it (the Swagger's ``Patient``)."""

    patient_id: int = Field(alias="PatientId")
    prefix: str | None = Field(default=None, alias="Prefix")
    first_name: str = Field(alias="FirstName")
    middle_name: str | None = Field(default=None, alias="MiddleName")
    last_name: str = Field(alias="LastName")
    suffix: str | None = Field(default=None, alias="Suffix")
    date_of_birth: DateOnly = Field(alias="DateOfBirth")
    gender: Annotated[Gender | None, Blank] = Field(default=None, alias="Gender")
    email: str | None = Field(default=None, alias="Email")
    address1: str | None = Field(default=None, alias="Address1")
    address2: str | None = Field(default=None, alias="Address2")
    city: str | None = Field(default=None, alias="City")
    state: str | None = Field(default=None, alias="State")
    zip_code: str | None = Field(default=None, alias="ZipCode")
    phone_additional1: str | None = Field(default=None, alias="PhoneAdditional1")
    phone_additional2: str | None = Field(default=None, alias="PhoneAdditional2")
    phone_additional_type1: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType1"
    )
    phone_additional_type2: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PhoneAdditionalType2"
    )
    primary_phone: str | None = Field(default=None, alias="PrimaryPhone")
    primary_phone_type: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PrimaryPhoneType"
    )
    weight: float | None = Field(default=None, alias="Weight")
    weight_metric: Annotated[WeightMetric | None, Blank] = Field(default=None, alias="WeightMetric")
    height: float | None = Field(default=None, alias="Height")
    height_metric: Annotated[HeightMetric | None, Blank] = Field(default=None, alias="HeightMetric")
    non_dosespot_medical_record_number: str | None = Field(
        default=None, alias="NonDoseSpotMedicalRecordNumber"
    )
    active: bool | None = Field(default=None, alias="Active")
    encounter: str | None = Field(default=None, alias="Encounter")
    is_hospice: bool | None = Field(default=None, alias="IsHospice")


class Patient(PatientSummary):
    """A patient's demographics (``GetPatient``, the Item of ``GET api/patients/{patientId}``)."""

    has_ssn: bool | None = Field(default=None, alias="HasSSN")


class Allergen(DoseSpotModel):
    """An allergen search result (AllergySearchResultForAPI)."""

    allergen_id: int = Field(alias="AllergenId")
    name: str = Field(alias="Name")
    brand_name: str | None = Field(default=None, alias="BrandName")
    allergen_type: Annotated[AllergenType | None, Blank] = Field(default=None, alias="AllergenType")
    is_active: bool | None = Field(default=None, alias="IsActive")
    allergen_category: Annotated[AllergenCategory | None, Blank] = Field(
        default=None, alias="AllergenCategory"
    )
    rx_cuis: list[str] = Field(default_factory=list, alias="RxCuis")

    @field_validator("rx_cuis", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else [str(item) for item in value]


class AllergyCreate(DoseSpotRequest):
    """A patient allergy to record: coded (``allergen_id``) or free text.

    Renders CodedPatientAllergyRequest, FreetextPatientAllergyRequest or, for an edit
    (which cannot change what the allergy is to), EditPatientAllergyRequest.
    """

    allergen_id: int | None = Field(default=None, alias="AllergenId", gt=0)
    free_text_display_name: Annotated[Line200 | None, Blank] = Field(
        default=None, alias="FreeTextDisplayName"
    )
    reaction: Annotated[Line200 | None, Blank] = Field(default=None, alias="Reaction")
    reaction_type: ReactionType = Field(default=ReactionType.Allergy, alias="ReactionType")
    status_type: AllergyStatus = Field(default=AllergyStatus.Active, alias="StatusType")
    onset_date: OptionalDate = Field(default=None, alias="OnsetDate")

    @field_serializer("onset_date", when_used="json")
    def _serialize_onset_date(self, value: date | None) -> str | None:
        return None if value is None else date_at_midnight(value)

    @model_validator(mode="after")
    def _coded_or_free_text(self) -> AllergyCreate:
        if self.allergen_id is not None and self.free_text_display_name is not None:
            raise ValueError("an allergy is coded (allergen_id) or free text, not both")
        return self

    @property
    def coded(self) -> bool:
        return self.allergen_id is not None

    def add_body(self) -> dict[str, Any]:
        """The body of the coded or free-text add, whichever this allergy is."""
        if self.allergen_id is None and self.free_text_display_name is None:
            raise ValueError("a new allergy needs allergen_id or free_text_display_name")
        return self.to_body()

    def edit_body(self) -> dict[str, Any]:
        """EditPatientAllergyRequest: reaction, its type, status and onset only."""
        body = self.to_body()
        body.pop("AllergenId", None)
        body.pop("FreeTextDisplayName", None)
        return body

    @classmethod
    def from_allergy(cls, allergy: PatientAllergy) -> AllergyCreate:
        """An edit restating ``allergy`` as DoseSpot holds it."""
        return cls(
            reaction=allergy.reaction,
            reaction_type=allergy.reaction_type or ReactionType.Allergy,
            status_type=allergy.status_type or AllergyStatus.Active,
            onset_date=allergy.onset_date.date() if allergy.onset_date else None,
        )


class PatientAllergy(DoseSpotModel):
    """An allergy in a patient's record (PatientAllergy)."""

    patient_allergy_id: int = Field(alias="PatientAllergyId")
    display_name: str | None = Field(default=None, alias="DisplayName")
    allergen_id: int | None = Field(default=None, alias="AllergenId")
    allergen_type: Annotated[AllergenType | None, Blank] = Field(default=None, alias="AllergenType")
    reaction: str | None = Field(default=None, alias="Reaction")
    reaction_type: Annotated[ReactionType | None, Blank] = Field(default=None, alias="ReactionType")
    status_type: Annotated[AllergyStatus | None, Blank] = Field(default=None, alias="StatusType")
    onset_date: UtcDateTime = Field(default=None, alias="OnsetDate")
    last_updated_user_id: int | None = Field(default=None, alias="LastUpdatedUserId")


class EligibilityDetail(DoseSpotRequest):
    """One CustomEligibilityInfo of a custom insurance: PCN, cardholder id or group id."""

    info_type: EligibilityInfoType = Field(alias="CustomEligibilityInfoType")
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        alias="CustomEligibilityInfoValue"
    )


class PatientInsuranceCreate(DoseSpotRequest):
    """Body of ``POST api/patients/{patientId}/insurance`` (CustomInsuranceRequest)."""

    identifier_type: InsuranceIdentifierType = Field(alias="PatientInsuranceIdentifierType")
    identifier: Name35 = Field(alias="PatientInsuranceIdentifier")
    person_code: Annotated[Line2 | None, Blank] = Field(default=None, alias="PersonCode")
    payer_name: Annotated[str | None, Blank] = Field(default=None, alias="PayerName")
    eligibility_details: list[EligibilityDetail] | None = Field(
        default=None, alias="CustomEligibilityDetails"
    )

    @classmethod
    def for_plan(
        cls, payer_name: str, payer_id: str, member_id: str, group_id: str | None = None
    ) -> PatientInsuranceCreate:
        """A plan named by its PayerID, with the cardholder (and group) id."""
        details = [EligibilityDetail(info_type=EligibilityInfoType.CardholderID, value=member_id)]
        if group_id:
            details.append(EligibilityDetail(info_type=EligibilityInfoType.GroupID, value=group_id))
        return cls(
            identifier_type=InsuranceIdentifierType.PayerID,
            identifier=payer_id,
            payer_name=payer_name,
            eligibility_details=details,
        )


class PharmacyQuery(BaseModel):
    """Filters of ``GET api/pharmacies/search``; at least one is needed."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Blank] = None
    city: Annotated[str | None, Blank] = None
    state: Annotated[str | None, Blank] = None
    zip: Annotated[str | None, Blank] = None
    address: Annotated[str | None, Blank] = None
    ncpdp_id: Annotated[str | None, Blank] = None
    phone_or_fax: Annotated[str | None, Blank] = None
    specialty: list[PharmacySpecialty] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_filter(self) -> PharmacyQuery:
        texts = (self.name, self.city, self.state, self.zip, self.address)
        if not any(texts) and not self.ncpdp_id and not self.phone_or_fax and not self.specialty:
            raise ValueError("a pharmacy search needs at least one filter")
        return self

    def params(self) -> dict[str, str | list[str]]:
        """The query string members, as the Swagger names them."""
        named: dict[str, str | None] = {
            "name": self.name,
            "city": self.city,
            "state": self.state,
            "zip": self.zip,
            "address": self.address,
            "phoneOrFax": self.phone_or_fax,
            "ncpdpId": self.ncpdp_id,
        }
        params: dict[str, str | list[str]] = {k: v.strip() for k, v in named.items() if v}
        if self.specialty:
            params["specialty"] = [member.name for member in self.specialty]
        return params


class Pharmacy(DoseSpotModel):
    """A pharmacy of the Surescripts network (the Swagger's ``Pharmacy``)."""

    pharmacy_id: int = Field(alias="PharmacyId")
    store_name: str | None = Field(default=None, alias="StoreName")
    address1: str | None = Field(default=None, alias="Address1")
    address2: str | None = Field(default=None, alias="Address2")
    city: str | None = Field(default=None, alias="City")
    state: str | None = Field(default=None, alias="State")
    zip_code: str | None = Field(default=None, alias="ZipCode")
    primary_phone: str | None = Field(default=None, alias="PrimaryPhone")
    primary_phone_type: Annotated[PhoneType | None, Blank] = Field(
        default=None, alias="PrimaryPhoneType"
    )
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
    # Names ("Retail", "EPCS") in the wild, numbers in some integrators' types: kept as text.
    pharmacy_specialties: list[str] = Field(default_factory=list, alias="PharmacySpecialties")
    service_level: int = Field(default=0, alias="ServiceLevel")
    latitude: float | None = Field(default=None, alias="Latitude")
    longitude: float | None = Field(default=None, alias="Longitude")
    ncpdp_id: str | None = Field(default=None, alias="NCPDPID")

    @field_validator("pharmacy_specialties", mode="before")
    @classmethod
    def _specialty_names(cls, value: Any) -> Any:
        return [] if value is None else [str(item) for item in value]

    @field_validator("service_level", mode="before")
    @classmethod
    def _no_level(cls, value: Any) -> Any:
        return 0 if value is None else value

    @property
    def services(self) -> set[str]:
        """The prescribing services it accepts: NewRx, Refill, Change, RxFill, Cancel, EPCS."""
        return pharmacy_services(self.service_level)


class PatientPharmacy(Pharmacy):
    """One of a patient's pharmacies; ``is_default`` marks the primary one."""

    is_default: bool = Field(default=False, alias="IsDefault")

    @field_validator("is_default", mode="before")
    @classmethod
    def _null_false(cls, value: Any) -> Any:
        return False if value is None else value


class PharmacyPage(DoseSpotModel):
    """One page of a pharmacy search (DoseSpot's pages hold 20)."""

    items: list[Pharmacy] = Field(default_factory=list)
    page: PageResult = Field(default_factory=PageResult)


class MedicationSearchResult(DoseSpotModel):
    """A dispensable drug found by name (MedicationSearchResult)."""

    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugId")
    routed_dose_form_drug_id: int | None = Field(default=None, alias="RoutedDoseFormDrugId")
    ndc: str | None = Field(default=None, alias="NDC")
    rxcui: int | None = Field(default=None, alias="RXCUI")
    name_with_route_dose_form: str | None = Field(default=None, alias="NameWithRouteDoseForm")
    strength: str | None = Field(default=None, alias="Strength")
    is_obsolete: bool | None = Field(default=None, alias="IsObsolete")


class StateSchedule(DoseSpotModel):
    state_name: str | None = Field(default=None, alias="StateName")
    schedule: int | None = Field(default=None, alias="Schedule")


def _controlled(schedule: int | None) -> bool:
    # DEA schedules II to V are prescribable controlled substances; I is not prescribable.
    return schedule is not None and 2 <= schedule <= 5


class MedicationSelection(DoseSpotModel):
    """A dispensable drug's detail (MedicationSelectResult), with its dispense unit and schedule."""

    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugId")
    ndc: str | None = Field(default=None, alias="NDC")
    rxcui: int | None = Field(default=None, alias="RXCUI")
    display_name: str | None = Field(default=None, alias="DisplayName")
    drug_name: str | None = Field(default=None, alias="DrugName")
    route: str | None = Field(default=None, alias="Route")
    dose_form: str | None = Field(default=None, alias="DoseForm")
    strength: str | None = Field(default=None, alias="Strength")
    dispense_unit_id: int | None = Field(default=None, alias="DispenseUnitId")
    brand: bool | None = Field(default=None, alias="Brand")
    generic_drug_name: str | None = Field(default=None, alias="GenericDrugName")
    otc: bool | None = Field(default=None, alias="OTC")
    is_obsolete: bool | None = Field(default=None, alias="IsObsolete")
    drug_classification: str | None = Field(default=None, alias="DrugClassification")
    schedule: int | None = Field(default=None, alias="Schedule")
    state_schedules: list[StateSchedule] = Field(default_factory=list, alias="StateSchedule")

    @field_validator("state_schedules", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def controlled(self) -> bool:
        """A controlled substance (federal schedule II to V): EPCS rules apply."""
        return _controlled(self.schedule)


class Diagnosis(DoseSpotModel):
    diagnosis_id: int | None = Field(default=None, alias="DiagnosisId")
    diagnosis_code: str | None = Field(default=None, alias="DiagnosisCode")
    diagnosis_description: str | None = Field(default=None, alias="DiagnosisDescription")


class PrescriptionDiagnosis(DoseSpotModel):
    primary_diagnosis: Diagnosis | None = Field(default=None, alias="PrimaryDiagnosis")
    secondary_diagnosis: Diagnosis | None = Field(default=None, alias="SecondaryDiagnosis")


class CompoundIngredient(DoseSpotModel):
    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugId")
    free_text: str | None = Field(default=None, alias="FreeText")
    dispense_unit_id: int | None = Field(default=None, alias="DispenseUnitId")
    quantity: str | None = Field(default=None, alias="Quantity")
    is_free_text_epcs: bool | None = Field(default=None, alias="IsFreeTextEPCS")


class Prescription(DoseSpotModel):
    """A prescription in a patient's record (the Swagger's ``Prescription``).

    ``status`` is the transmission (eRxSent and PharmacyVerified apart), ``medication_status``
    where the medication stands (active, discontinued, cancelled, filled).
    """

    prescription_id: int = Field(alias="PrescriptionId")
    display_name: str | None = Field(default=None, alias="DisplayName")
    status: Annotated[PrescriptionStatus | None, Blank] = Field(default=None, alias="Status")
    medication_status: Annotated[MedicationStatus | None, Blank] = Field(
        default=None, alias="MedicationStatus"
    )
    directions: str | None = Field(default=None, alias="Directions")
    quantity: str | None = Field(default=None, alias="Quantity")
    dispense_unit_id: int | None = Field(default=None, alias="DispenseUnitId")
    refills: str | None = Field(default=None, alias="Refills")
    days_supply: int | None = Field(default=None, alias="DaysSupply")
    strength: str | None = Field(default=None, alias="Strength")
    written_date: UtcDateTime = Field(default=None, alias="WrittenDate")
    effective_date: UtcDateTime = Field(default=None, alias="EffectiveDate")
    last_fill_date: UtcDateTime = Field(default=None, alias="LastFillDate")
    date_inactive: UtcDateTime = Field(default=None, alias="DateInactive")
    pharmacy_id: int | None = Field(default=None, alias="PharmacyId")
    pharmacy_notes: str | None = Field(default=None, alias="PharmacyNotes")
    no_substitutions: bool | None = Field(default=None, alias="NoSubstitutions")
    prescriber_id: int | None = Field(default=None, alias="PrescriberId")
    prescriber_agent_id: int | None = Field(default=None, alias="PrescriberAgentId")
    supervisor_id: int | None = Field(default=None, alias="SupervisorId")
    clinic_id: int | None = Field(default=None, alias="ClinicId")
    rx_reference_number: str | None = Field(default=None, alias="RxReferenceNumber")
    formulary: bool | None = Field(default=None, alias="Formulary")
    eligibility_id: int | None = Field(default=None, alias="EligibilityId")
    type: Annotated[PrescriptionType | None, Blank] = Field(default=None, alias="Type")
    free_text_type: Annotated[FreeTextType | None, Blank] = Field(
        default=None, alias="FreeTextType"
    )
    non_dosespot_prescription_id: str | None = Field(
        default=None, alias="NonDoseSpotPrescriptionId"
    )
    error_ignored: bool | None = Field(default=None, alias="ErrorIgnored")
    supply_id: int | None = Field(default=None, alias="SupplyId")
    is_urgent: bool | None = Field(default=None, alias="IsUrgent")
    is_rx_renewal: bool | None = Field(default=None, alias="IsRxRenewal")
    rx_renewal_note: str | None = Field(default=None, alias="RxRenewalNote")
    patient_medication_id: int | None = Field(default=None, alias="PatientMedicationId")
    comment: str | None = Field(default=None, alias="Comment")
    encounter: str | None = Field(default=None, alias="Encounter")
    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugId")
    schedule: int | None = Field(default=None, alias="Schedule")
    first_prescription_diagnosis: PrescriptionDiagnosis | None = Field(
        default=None, alias="FirstPrescriptionDiagnosis"
    )
    second_prescription_diagnosis: PrescriptionDiagnosis | None = Field(
        default=None, alias="SecondPrescriptionDiagnosis"
    )
    compound_ingredients: list[CompoundIngredient] = Field(
        default_factory=list, alias="CompoundIngredients"
    )

    @field_validator("refills", "quantity", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @field_validator("compound_ingredients", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def controlled(self) -> bool:
        return _controlled(self.schedule)


class SelfReportedMedication(DoseSpotModel):
    """A medication the patient reports taking (SelfReportedMedicationResponse)."""

    self_reported_medication_id: int = Field(alias="SelfReportedMedicationId")
    display_name: str | None = Field(default=None, alias="DisplayName")
    # v1 named this MedicationStatus; v2's Swagger calls it Status.
    status: Annotated[MedicationStatus | None, Blank] = Field(
        default=None, validation_alias=AliasChoices("Status", "MedicationStatus"), alias="Status"
    )
    date_reported: UtcDateTime = Field(default=None, alias="DateReported")
    date_prescribed: UtcDateTime = Field(default=None, alias="DatePrescribed")
    discontinued_date: UtcDateTime = Field(default=None, alias="DiscontinuedDate")
    dispense_unit_type: str | None = Field(default=None, alias="DispenseUnitType")
    dispense_unit_type_id: int | None = Field(default=None, alias="DispenseUnitTypeId")
    dosage_text: str | None = Field(default=None, alias="DosageText")
    directions: str | None = Field(default=None, alias="Directions")
    days_supply: int | None = Field(default=None, alias="DaysSupply")
    dispense: str | None = Field(default=None, alias="Dispense")
    quantity: str | None = Field(default=None, alias="Quantity")
    refills: int | None = Field(default=None, alias="Refills")
    comment: str | None = Field(default=None, alias="Comment")
    schedule: int | None = Field(default=None, alias="Schedule")
    encounter: str | None = Field(default=None, alias="Encounter")
    # The Swagger spells the drug ids several ways; each spelling is read.
    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugID")
    routed_dose_form_drug_id: int | None = Field(
        default=None,
        validation_alias=AliasChoices("RoutedDoseFormDrugID", "RoutedDoseformDrugID"),
        alias="RoutedDoseFormDrugID",
    )
    otc: bool | None = Field(default=None, alias="OTC")
    ndc: str | None = Field(default=None, alias="NDC")
    dose_form: str | None = Field(default=None, alias="DoseForm")
    route: str | None = Field(default=None, alias="Route")
    strength: str | None = Field(default=None, alias="Strength")

    @field_validator("quantity", "dispense", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


class RefillRequest(DoseSpotModel):
    """A pharmacy's renewal request waiting for the prescriber (GetRefillResponse)."""

    refill_id: int = Field(alias="RefillId")
    new_patient: bool | None = Field(default=None, alias="NewPatient")
    patient: PatientSummary | None = Field(default=None, alias="Patient")
    clinic_id: int | None = Field(default=None, alias="ClinicId")
    clinician_id: int | None = Field(default=None, alias="ClinicianId")
    requested_prescription_id: int | None = Field(default=None, alias="RequestedPrescriptionId")
    dispensed_prescription_id: int | None = Field(default=None, alias="DispensedPrescriptionId")
    original_prescription_id: int | None = Field(default=None, alias="OriginalPrescriptionId")
    pharmacy_id: int | None = Field(default=None, alias="PharmacyId")
    requested_date: UtcDateTime = Field(default=None, alias="RequestedDate")
    request_expiration_date: UtcDateTime = Field(default=None, alias="RequestExpirationDate")

    @property
    def patient_id(self) -> int | None:
        return self.patient.patient_id if self.patient else None


class RefillRequestDetail(RefillRequest):
    """A renewal request with its prescriptions (GetRefillDetailedResponse): the requested
    one carries the drug's name and schedule (controlled if 2..5)."""

    requested_prescription: Prescription | None = Field(default=None, alias="RequestedPrescription")
    dispensed_prescription: Prescription | None = Field(default=None, alias="DispensedPrescription")
    original_prescription: Prescription | None = Field(default=None, alias="OriginalPrescription")

    @property
    def schedule(self) -> int | None:
        for prescription in (self.requested_prescription, self.original_prescription):
            if prescription is not None and prescription.schedule is not None:
                return prescription.schedule
        return None

    @property
    def controlled(self) -> bool:
        return _controlled(self.schedule)

    @property
    def display_name(self) -> str | None:
        for prescription in (self.requested_prescription, self.original_prescription):
            if prescription is not None and prescription.display_name:
                return prescription.display_name
        return None


class RefillApproval(DoseSpotRequest):
    """Body of ``POST api/refills/{refillId}/approve`` (ApproveRefillRequest)."""

    refills: int = Field(alias="Refills", ge=1, le=99)
    comment: str | None = Field(default=None, alias="Comment", max_length=500)
    effective_date: date | None = Field(default=None, alias="EffectiveDate")

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        if self.effective_date is not None:
            body["EffectiveDate"] = date_at_midnight(self.effective_date)
        return body


class RefillDenial(DoseSpotRequest):
    """Body of ``POST api/refills/{refillId}/deny`` (DenyRefillRequest)."""

    denial_reason: DenialReason = Field(alias="DenialReason")
    note: str | None = Field(default=None, alias="Note", max_length=70)


class TransmissionError(DoseSpotModel):
    """A prescription the pharmacy network refused (TransmissionErrors), with DoseSpot's words."""

    prescription_id: int = Field(alias="PrescriptionId")
    patient_id: int | None = Field(default=None, alias="PatientId")
    clinic_id: int | None = Field(default=None, alias="ClinicId")
    date_written: UtcDateTime = Field(default=None, alias="DateWritten")
    error_date_time_stamp: UtcDateTime = Field(default=None, alias="ErrorDateTimeStamp")
    error_details: str | None = Field(default=None, alias="ErrorDetails")


class NotificationCounts(DoseSpotModel):
    """The clinician's queues at the token's clinic (PrescriberNotificationCountsResponse)."""

    refill_requests_count: int = Field(default=0, alias="RefillRequestsCount")
    transaction_errors_count: int = Field(default=0, alias="TransactionErrorsCount")
    pending_prescriptions_count: int = Field(default=0, alias="PendingPrescriptionsCount")
    pending_rx_change_count: int = Field(default=0, alias="PendingRxChangeCount")

    @field_validator("*", mode="before")
    @classmethod
    def _null_zero(cls, value: Any) -> Any:
        return 0 if value is None else value

    @property
    def total(self) -> int:
        return (
            self.refill_requests_count
            + self.transaction_errors_count
            + self.pending_prescriptions_count
            + self.pending_rx_change_count
        )


# The prescribing catalogue: diagnoses, supplies, prescription favourites and order sets


class DiagnosisSearchResult(DoseSpotModel):
    """An ICD-10 diagnosis found by a search (DiagnosisSearchResult)."""

    diagnosis_id: int | None = Field(default=None, alias="DiagnosisId")
    diagnosis_code: str | None = Field(default=None, alias="DiagnosisCode")
    diagnosis_name: str | None = Field(default=None, alias="DiagnosisName")


class DiagnosisPage(DoseSpotModel):
    items: list[DiagnosisSearchResult]
    page: PageResult


class Supply(DoseSpotModel):
    """A supply in DoseSpot's catalogue (SupplySearchResultForAPI)."""

    supply_id: int | None = Field(default=None, alias="SupplyId")
    ndc: Annotated[str | None, Blank] = Field(default=None, alias="NDC")
    upc: Annotated[str | None, Blank] = Field(default=None, alias="UPC")
    name: str | None = Field(default=None, alias="Name")
    # The Swagger describes OTC as "True if IsRx is true": read as published.
    otc: bool | None = Field(default=None, alias="OTC")
    is_obsolete: bool | None = Field(default=None, alias="IsObsolete")


class SupplyPage(DoseSpotModel):
    items: list[Supply]
    page: PageResult


class MedicationPage(DoseSpotModel):
    items: list[MedicationSearchResult]
    page: PageResult


class PrescriptionFavorite(DoseSpotModel):
    """A clinic's or a clinician's prescription favourite (Clinic- or
    ClinicianFavoritePrescriptionResponse): a coded medication, a supply or a compiled
    compound, with the directions, quantity, refills and days supply it prefills."""

    favorite_id: int | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "ClinicFavoritePrescriptionId", "ClinicianFavoritePrescriptionID"
        ),
    )
    clinician_id: int | None = Field(default=None, alias="ClinicianID")
    dispense_unit_type_id: int | None = Field(
        default=None, validation_alias=AliasChoices("DispenseUnitTypeId", "DispenseUnitTypeID")
    )
    first_diagnosis: PrescriptionDiagnosis | None = Field(default=None, alias="FirstDiagnosis")
    second_diagnosis: PrescriptionDiagnosis | None = Field(default=None, alias="SecondDiagnosis")
    med_display_name: str | None = Field(default=None, alias="MedDisplayName")
    med_full_name: str | None = Field(default=None, alias="MedFullName")
    med_strength_string: Annotated[str | None, Blank] = Field(
        default=None, alias="MedStrengthString"
    )
    directions: str | None = Field(default=None, alias="Directions")
    quantity: str | None = Field(default=None, alias="Quantity")
    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugId")
    refills: int | None = Field(default=None, alias="Refills")
    days_supply: int | None = Field(default=None, alias="DaysSupply")
    no_substitutions: bool | None = Field(default=None, alias="NoSubstitutions")
    notes: Annotated[str | None, Blank] = Field(default=None, alias="Notes")
    title: str | None = Field(default=None, alias="Title")
    specialty_type: Annotated[str | None, Blank] = Field(default=None, alias="SpecialtyType")
    date_added: UtcDateTime = Field(default=None, alias="DateAdded")
    date_last_used: UtcDateTime = Field(default=None, alias="DateLastUsed")
    is_supply: bool | None = Field(default=None, alias="IsSupply")
    compound_id: int | None = Field(default=None, alias="CompoundId")
    is_compound: bool | None = Field(default=None, alias="IsCompound")
    source_clinic_id: int | None = Field(default=None, alias="SourceClinicId")
    supply_id: int | None = Field(default=None, alias="SupplyId")
    compound_ingredients: list[CompoundIngredient] = Field(
        default_factory=list, alias="CompoundIngredients"
    )

    @field_validator("compound_ingredients", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("specialty_type", mode="before")
    @classmethod
    def _specialty_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class FavoritePage(DoseSpotModel):
    items: list[PrescriptionFavorite]
    page: PageResult


class OrderSet(DoseSpotModel):
    """A named group of favourites prescribed together (OrderSetResponse,
    ClinicOrderSetResponse, OrderSetDetailsResponse)."""

    order_set_id: int = Field(alias="OrderSetId")
    title: str | None = Field(default=None, alias="Title")
    favorites: list[PrescriptionFavorite] = Field(default_factory=list, alias="Favorites")

    @field_validator("favorites", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value


class OrderSetPage(DoseSpotModel):
    items: list[OrderSet]
    page: PageResult


class PrescriptionDiagnosisIds(DoseSpotRequest):
    primary_diagnosis_id: int | None = Field(default=None, alias="PrimaryDiagnosisId", gt=0)
    secondary_diagnosis_id: int | None = Field(default=None, alias="SecondaryDiagnosisId", gt=0)


class CompoundIngredientCreate(DoseSpotRequest):
    """One ingredient of a compiled compound: a coded drug or free text, with its quantity."""

    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugId", gt=0)
    free_text: Annotated[str | None, Blank] = Field(default=None, alias="FreeText")
    dispense_unit_id: int | None = Field(default=None, alias="DispenseUnitId", gt=0)
    quantity: Text = Field(alias="Quantity")
    is_free_text_epcs: bool | None = Field(default=None, alias="IsFreeTextEPCS")


_FAVORITE_KIND_MEMBERS = {
    "coded": {"DispensableDrugId", "SpecialtyType"},
    "supply": {"SupplyId", "FreeText", "SpecialtyType"},
    "compiledcompound": {"CompoundDescription", "CompoundIngredients", "SpecialtyType"},
}
_FAVORITE_KIND_ONLY = set().union(*_FAVORITE_KIND_MEMBERS.values()) - {"SpecialtyType"}


class PrescriptionTemplate(DoseSpotRequest):
    """What a favourite or an order-set entry prefills: the item (a coded medication, a
    supply by id or as free text, or a compiled compound) and its directions, quantity,
    dispense unit, refills and days supply."""

    dispensable_drug_id: int | None = Field(default=None, alias="DispensableDrugId", gt=0)
    supply_id: int | None = Field(default=None, alias="SupplyId", gt=0)
    free_text: Annotated[str | None, Blank] = Field(default=None, alias="FreeText", max_length=300)
    compound_description: Annotated[str | None, Blank] = Field(
        default=None, alias="CompoundDescription", max_length=2000
    )
    compound_ingredients: list[CompoundIngredientCreate] | None = Field(
        default=None, alias="CompoundIngredients"
    )
    refills: int = Field(alias="Refills", ge=0, le=99)
    days_supply: int | None = Field(default=None, alias="DaysSupply", ge=0, le=365)
    dispense_unit_type_id: int = Field(alias="DispenseUnitTypeId", gt=0)
    quantity: Text = Field(alias="Quantity")
    no_substitutions: bool | None = Field(default=None, alias="NoSubstitutions")
    notes: Annotated[str | None, Blank] = Field(default=None, alias="Notes", max_length=1000)
    directions: Text = Field(alias="Directions", max_length=1000)
    first_prescription_diagnosis: PrescriptionDiagnosisIds | None = Field(
        default=None, alias="FirstPrescriptionDiagnosis"
    )
    second_prescription_diagnosis: PrescriptionDiagnosisIds | None = Field(
        default=None, alias="SecondPrescriptionDiagnosis"
    )

    @model_validator(mode="after")
    def _one_item(self) -> PrescriptionTemplate:
        chosen = [
            self.dispensable_drug_id is not None,
            self.supply_id is not None or self.free_text is not None,
            self.compound_description is not None or bool(self.compound_ingredients),
        ]
        if chosen.count(True) != 1:
            raise ValueError(
                "name one item: a dispensable drug, a supply (id or free text) or a compound"
            )
        if self.supply_id is not None and self.free_text is not None:
            raise ValueError("a supply is named by its id or as free text, not both")
        if chosen[2] and (self.compound_description is None or not self.compound_ingredients):
            raise ValueError("a compound needs a description and its ingredients")
        return self

    @property
    def kind(self) -> str:
        """The path segment of DoseSpot's favourite operations: coded, supply or
        compiledcompound."""
        if self.dispensable_drug_id is not None:
            return "coded"
        if self.compound_description is not None:
            return "compiledcompound"
        return "supply"


class FavoriteCreate(PrescriptionTemplate):
    """A prescription favourite to add or edit. Renders the clinic's or the clinician's
    coded, supply or compiled-compound favourite request, whichever :attr:`kind` is."""

    title: Text = Field(alias="Title", max_length=500)
    # Clinic favourites only (an integer in the request, as the Swagger declares it).
    specialty_type: int | None = Field(default=None, alias="SpecialtyType")

    def favorite_body(self, *, clinic: bool) -> dict[str, Any]:
        body = self.to_body()
        for name in _FAVORITE_KIND_ONLY - _FAVORITE_KIND_MEMBERS[self.kind]:
            body.pop(name, None)
        if not clinic:
            body.pop("SpecialtyType", None)
        return body


class OrderSetEntry(PrescriptionTemplate):
    """One prescription of an order set (OrderSetFavorite), optionally from a favourite."""

    favorite_id: int | None = Field(default=None, alias="FavoriteId", gt=0)


class OrderSetCreate(DoseSpotRequest):
    """A clinician's order set to add or edit (OrderSetRequest)."""

    title: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)
    ] = Field(alias="Title")
    favorites: list[OrderSetEntry] = Field(default_factory=list, alias="Favorites")


class PrescriptionCreate(DoseSpotRequest):
    """What every pending prescription written through the API carries, whatever it
    prescribes (the Swagger's common members of its four create requests).

    The bounds are the Swagger's. ``non_dosespot_prescription_id`` carries our own id of
    the prescription, so a create whose answer was lost is found among the patient's
    prescriptions instead of written twice.
    """

    quantity: float = Field(alias="Quantity", gt=0)
    dispense_unit_id: int = Field(alias="DispenseUnitId", gt=0)
    refills: int = Field(alias="Refills", ge=0, le=99)
    days_supply: int | None = Field(default=None, alias="DaysSupply", ge=0, le=365)
    directions: Text = Field(alias="Directions", max_length=1000)
    pharmacy_id: int | None = Field(default=None, alias="PharmacyId", gt=0)
    pharmacy_notes: str | None = Field(default=None, alias="PharmacyNotes", max_length=210)
    no_substitutions: bool = Field(default=False, alias="NoSubstitutions")
    is_urgent: bool = Field(default=False, alias="IsUrgent")
    effective_date: date | None = Field(default=None, alias="EffectiveDate")
    non_dosespot_prescription_id: str | None = Field(
        default=None, alias="NonDoseSpotPrescriptionId", max_length=35
    )
    # The primary and secondary ICD-10 diagnoses, by DoseSpot's diagnosis ids.
    first_prescription_diagnosis: PrescriptionDiagnosisIds | None = Field(
        default=None, alias="FirstPrescriptionDiagnosis"
    )
    # A prescribing agent's prescription names its supervising prescriber.
    supervisor_id: int | None = Field(default=None, alias="SupervisorId", gt=0)
    status: MedicationStatus = Field(default=MedicationStatus.Active, alias="Status")

    # The path segment under ``api/patients/{patientId}/prescriptions/``.
    kind: ClassVar[str]

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        if self.effective_date is not None:
            body["EffectiveDate"] = date_at_midnight(self.effective_date)
        return body


class CodedPrescriptionCreate(PrescriptionCreate):
    """Body of ``POST api/patients/{patientId}/prescriptions/coded`` and of its ``PUT``
    (CodedPrescriptionRequest): a pending prescription of one dispensable drug."""

    kind: ClassVar[str] = "coded"
    dispensable_drug_id: int = Field(alias="DispensableDrugId", gt=0)


class SupplyPrescriptionCreate(PrescriptionCreate):
    """``POST .../prescriptions/supply`` (CodedSupplyRequest): a supply of the catalogue."""

    kind: ClassVar[str] = "supply"
    supply_id: int = Field(alias="SupplyId", gt=0)


class FreeTextSupplyPrescriptionCreate(PrescriptionCreate):
    """``POST .../prescriptions/supply/freetext`` (FreeTextSupplyPrescriptionRequest): a
    custom supply, written out; the prescriber attests it is not a controlled substance."""

    kind: ClassVar[str] = "supply/freetext"
    display_name: Text = Field(alias="DisplayName", max_length=300)
    not_controlled: bool = Field(default=True, alias="NotControlled")


class CompoundPrescriptionCreate(PrescriptionCreate):
    """``POST .../prescriptions/compiledcompound`` (CompoundPrescriptionRequest): a custom
    compound compiled from coded or written ingredients."""

    kind: ClassVar[str] = "compiledcompound"
    compound_description: Text = Field(alias="CompoundDescription")
    compound_ingredients: list[CompoundIngredientCreate] = Field(
        alias="CompoundIngredients", min_length=1
    )


class SendOutcome(DoseSpotModel):
    """One prescription's answer to ``send`` or ``sendEpcs``: DoseSpot answers each item
    on its own (IdentifierResponse), so one refused item does not fail the others."""

    id: int = Field(alias="Id")
    accepted: bool
    description: str | None = None


class AllergyInteraction(DoseSpotModel):
    interaction_message: str = Field(default="", alias="InteractionMessage")
