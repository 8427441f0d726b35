"""Clients (patients as the EHR keeps them) and the eRx patient registration built from one.

The reasons written here do not repeat the value given, which is PHI; the shared US rules
(erx/us.py) name at most a state code or an area code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.errors import Unprocessable
from api.schemas import (
    AddressLine,
    AsciiDigits,
    City,
    Name,
    NoControl,
    RequestModel,
    UtcDateTime,
    text,
)
from erx.documented import Documented
from erx.us import UsPhone, UsState, ZipCode, refuse_non_ascii_digits
from erx.vitals import (
    HeightUnit,
    WeightUnit,
    age_on,
    check_height,
    check_weight,
    parse_date_of_birth,
    vitals_required,
)


def _printable_ascii(value: str) -> str:
    if not all(" " <= c <= "~" for c in value):
        raise ValueError("must be ASCII letters, digits, spaces and punctuation only")
    return value


# Identifiers another system issued: printable ASCII only, as DoseSpot and payers take them.
AsciiIdentifier = Annotated[str, text(35), NoControl, AsciiDigits, AfterValidator(_printable_ascii)]
PayerName = Annotated[str, text(100), NoControl]
Sex = Literal["Male", "Female", "Unknown"]
# DoseSpot's PhoneType names (dosespot.enums.PhoneType) but Undefined, which means "not set".
PhoneType = Literal["Beeper", "Cell", "Fax", "Home", "Work", "Night", "Primary"]
Measure = Annotated[float, Strict(), Field(allow_inf_nan=False)]


def _email_length(value: str) -> str:
    if len(value) > 80:
        raise ValueError("email must be at most 80 characters (DoseSpot's limit)")
    return value


Email = Annotated[EmailStr, NoControl, AfterValidator(_email_length)]


def utc_today() -> date:
    return datetime.now(UTC).date()


def _date_of_birth(value: object, info: ValidationInfo) -> date:
    today = (info.context or {}).get("today") or utc_today()
    if not isinstance(value, str | date):
        raise ValueError("date of birth must be a string MM/DD/YYYY or YYYY-MM-DD")
    if isinstance(value, str):
        refuse_non_ascii_digits(value)
    return parse_date_of_birth(value, today)


DateOfBirth = Annotated[
    date,
    BeforeValidator(_date_of_birth, json_schema_input_type=str),
    Field(description="MM/DD/YYYY or YYYY-MM-DD; a real date, not in the future"),
    Documented(
        pattern=r"^([0-9]{2}/[0-9]{2}/[0-9]{4}|[0-9]{4}-[0-9]{2}-[0-9]{2})$",
        examples=("04/27/2012", "2012-04-27"),
    ),
]


class PatientAddress(RequestModel):
    """A US postal address, under the same rules as practice locations."""

    street_address: AddressLine
    suburb: AddressLine | None = Field(default=None, description="Second address line")
    city: City
    state: UsState = Field(description="US state, DC or territory code, e.g. NY")
    zip_code: ZipCode


class Height(RequestModel):
    value: Measure = Field(description="20-250 cm or 8-100 in")
    unit: HeightUnit

    @model_validator(mode="after")
    def _plausible(self) -> Height:
        check_height(self.value, self.unit)
        return self


class Weight(RequestModel):
    value: Measure = Field(description="0.3-350 kg or 0.66-770 lb")
    unit: WeightUnit

    @model_validator(mode="after")
    def _plausible(self) -> Weight:
        check_weight(self.value, self.unit)
        return self


class Insurance(RequestModel):
    """The patient's pharmacy benefit plan as printed on the card."""

    payer_name: PayerName
    payer_id: AsciiIdentifier | None = Field(default=None, description="The payer's PayerID")
    member_id: AsciiIdentifier = Field(description="Cardholder (member) id")
    group_id: AsciiIdentifier | None = None


class PatientFields(RequestModel):
    """A patient's demographics as DoseSpot takes them, validated."""

    first_name: Name
    middle_name: Name | None = None
    last_name: Name
    date_of_birth: DateOfBirth
    sex: Sex = Field(description="DoseSpot's Gender: Male, Female or Unknown")
    phone: UsPhone = Field(description="+1 and a valid US number, e.g. +1 212 736 5000")
    phone_type: PhoneType
    email: Email | None = None
    address: PatientAddress
    medical_record_number: AsciiIdentifier | None = Field(
        default=None, description="The EHR's medical record number"
    )
    height: Height | None = None
    weight: Weight | None = None
    insurance: Insurance | None = None


# A clock a few minutes fast at the EHR is not a future measurement.
_CLOCK_SKEW = timedelta(minutes=5)


class ClientUpsert(PatientFields):
    """A client as the EHR knows them; height and weight are its last measured vitals."""

    vitals_recorded_at: AwareDatetime | None = Field(
        default=None, description="When the height and weight were measured (with time zone)"
    )

    @field_validator("vitals_recorded_at")
    @classmethod
    def _measured(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        if "height" in info.data and "weight" in info.data:
            if info.data["height"] is None and info.data["weight"] is None:
                raise ValueError("give a height or a weight with the time they were measured")
        if value > datetime.now(UTC) + _CLOCK_SKEW:
            raise ValueError("must not be in the future")
        born = info.data.get("date_of_birth")
        if born is not None and value.date() < born:
            raise ValueError("must not be before the date of birth")
        return value


class AddressPublic(BaseModel):
    street_address: str
    suburb: str | None
    city: str
    state: str
    zip_code: str


class HeightPublic(BaseModel):
    value: float
    unit: HeightUnit


class WeightPublic(BaseModel):
    value: float
    unit: WeightUnit


class InsurancePublic(BaseModel):
    payer_name: str
    payer_id: str | None
    member_id: str
    group_id: str | None


class ClientPublic(BaseModel):
    id: str
    first_name: str
    middle_name: str | None
    last_name: str
    date_of_birth: date
    sex: Sex
    phone: str
    phone_type: PhoneType
    email: str | None
    address: AddressPublic
    medical_record_number: str | None
    height: HeightPublic | None
    weight: WeightPublic | None
    vitals_recorded_at: UtcDateTime | None
    insurance: InsurancePublic | None
    updated_at: UtcDateTime


class PatientRegistrationIn(RequestModel):
    """Body of PUT .../erx/patients/{client_id}: each field given overrides the client record's.

    A field left out (or null) keeps the client record's value; the address, height, weight
    and insurance are replaced whole.
    """

    first_name: Name | None = None
    middle_name: Name | None = None
    last_name: Name | None = None
    medical_record_number: AsciiIdentifier | None = Field(
        default=None, description="Sent as DoseSpot's NonDoseSpotMedicalRecordNumber"
    )
    date_of_birth: DateOfBirth | None = None
    sex: Sex | None = None
    phone: UsPhone | None = None
    phone_type: PhoneType | None = None
    email: Email | None = None
    address: PatientAddress | None = None
    height: Height | None = None
    weight: Weight | None = None
    insurance: Insurance | None = None


class PatientRegistration(BaseModel):
    """What is registered in DoseSpot: the client record with the request's overrides."""

    model_config = ConfigDict(frozen=True)

    first_name: str
    middle_name: str | None
    last_name: str
    date_of_birth: date
    sex: Sex
    phone: str = Field(description="+1NXXNXXXXXX")
    phone_type: PhoneType
    email: str | None
    address: AddressPublic
    medical_record_number: str | None
    height: HeightPublic | None = Field(description="In the unit given")
    weight: WeightPublic | None = Field(description="In the unit given")
    insurance: InsurancePublic | None
    registration_date: date
    age_on_registration: int
    vitals_required: bool


class ClientRecord(Protocol):
    """What patient_registration reads of a client: a db.models.Client row, or alike."""

    @property
    def first_name(self) -> str: ...
    @property
    def middle_name(self) -> str | None: ...
    @property
    def last_name(self) -> str: ...
    @property
    def date_of_birth(self) -> date: ...
    @property
    def sex(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def phone_type(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def address1(self) -> str: ...
    @property
    def address2(self) -> str | None: ...
    @property
    def city(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def zip_code(self) -> str: ...
    @property
    def medical_record_number(self) -> str | None: ...
    @property
    def height(self) -> float | None: ...
    @property
    def height_unit(self) -> str | None: ...
    @property
    def weight(self) -> float | None: ...
    @property
    def weight_unit(self) -> str | None: ...
    @property
    def insurance_payer_name(self) -> str | None: ...
    @property
    def insurance_payer_id(self) -> str | None: ...
    @property
    def insurance_member_id(self) -> str | None: ...
    @property
    def insurance_group_id(self) -> str | None: ...


def client_fields(client: ClientRecord) -> dict[str, Any]:
    """The client record in PatientFields' shape (plain values, not yet validated)."""
    return {
        "first_name": client.first_name,
        "middle_name": client.middle_name,
        "last_name": client.last_name,
        "date_of_birth": client.date_of_birth,
        "sex": client.sex,
        "phone": client.phone,
        "phone_type": client.phone_type,
        "email": client.email,
        "address": {
            "street_address": client.address1,
            "suburb": client.address2,
            "city": client.city,
            "state": client.state,
            "zip_code": client.zip_code,
        },
        "medical_record_number": client.medical_record_number,
        "height": (
            {"value": client.height, "unit": client.height_unit}
            if client.height is not None
            else None
        ),
        "weight": (
            {"value": client.weight, "unit": client.weight_unit}
            if client.weight is not None
            else None
        ),
        "insurance": (
            {
                "payer_name": client.insurance_payer_name,
                "payer_id": client.insurance_payer_id,
                "member_id": client.insurance_member_id,
                "group_id": client.insurance_group_id,
            }
            if client.insurance_member_id is not None
            else None
        ),
    }


_REQUIRED = ("first_name", "last_name", "date_of_birth", "sex", "phone", "phone_type", "address")


def _error_field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def patient_registration(
    client: ClientRecord, body: PatientRegistrationIn, today: date, pediatric_max_age: int
) -> PatientRegistration:
    """Merge the request into the client record and check the result as DoseSpot needs it.

    Raises Unprocessable naming the field and the reason: a required field missing from both,
    a value (from either) that breaks the rules, a date of birth after ``today``, or no
    height or weight for a patient aged ``pediatric_max_age`` or under on ``today``.
    """
    given = body.model_dump(exclude_none=True)
    merged = {**client_fields(client), **given}
    for field in _REQUIRED:
        if merged.get(field) is None:
            raise Unprocessable(field, "required: neither the request nor the client record has it")
    try:
        patient = PatientFields.model_validate(merged, context={"today": today})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        reason = str(error["msg"]).removeprefix("Value error, ")
        if loc and loc[0] not in given:
            reason += " (the client record's value)"
        raise Unprocessable(_error_field(loc), reason) from None

    age = age_on(patient.date_of_birth, today)
    needs_vitals = vitals_required(age, pediatric_max_age)
    if needs_vitals:
        for field in ("height", "weight"):
            if getattr(patient, field) is None:
                raise Unprocessable(
                    field,
                    f"required for patients aged {pediatric_max_age} and under "
                    "on the registration date",
                )
    values = patient.model_dump()
    return PatientRegistration(
        **values,
        registration_date=today,
        age_on_registration=age,
        vitals_required=needs_vitals,
    )
