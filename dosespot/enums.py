"""DoseSpot enums with their integer values.

The Swagger declares enums as strings, but DoseSpot and its integrators also send
integers (``PrimaryPhoneType: 4``, ``ClinicianRoleType: [1]``), sometimes as numeric
strings. Every enum here therefore parses a member name in any case, an integer or a
numeric string, and serialises to the Swagger's member name in JSON.

PhoneType numbering follows the Swagger's declaration order with ``Undefined`` at 0, the
default of the .NET enum behind it; so the ``4`` seen in real clients is ``Home``.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Any, Self, TypeVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from dosespot.errors import UnknownEnumValue, UnknownRegistrationStatus

E = TypeVar("E", bound=IntEnum)


def parse_enum(enum_cls: type[E], value: object) -> E:
    """Read a member of ``enum_cls`` from a member, an int, a numeric string or a name."""
    if isinstance(value, enum_cls):
        return value
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            number = int(text)
        else:
            folded = text.casefold()
            for member in enum_cls:
                if member.name.casefold() == folded:
                    return member
    if number is not None:
        try:
            return enum_cls(number)
        except ValueError:
            pass
    raise _unknown(enum_cls, value)


def _unknown(enum_cls: type[IntEnum], value: object) -> UnknownEnumValue:
    if issubclass(enum_cls, RegistrationStatus):
        return UnknownRegistrationStatus(enum_cls.__name__, value)
    return UnknownEnumValue(enum_cls.__name__, value)


def _member_name(member: IntEnum) -> str:
    return member.name


def lenient_enum_schema(enum_cls: type[IntEnum]) -> core_schema.CoreSchema:
    """Pydantic schema: parse with :func:`parse_enum`, serialise to the name in JSON."""
    names = [member.name for member in enum_cls]
    return core_schema.no_info_plain_validator_function(
        lambda value: parse_enum(enum_cls, value),
        json_schema_input_schema=core_schema.union_schema(
            [core_schema.literal_schema(names), core_schema.int_schema()]
        ),
        serialization=core_schema.plain_serializer_function_ser_schema(
            _member_name, when_used="json"
        ),
    )


class Lenient:
    """``Annotated[SomeIntEnum, Lenient()]``: lenient parsing for any IntEnum in a model.

    DoseSpot enums below need no annotation; this is for IntEnums defined elsewhere.
    """

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        if not (isinstance(source, type) and issubclass(source, IntEnum)):
            raise TypeError(f"Lenient applies to IntEnum types, not {source!r}")
        return lenient_enum_schema(source)


class DoseSpotEnum(IntEnum):
    """An IntEnum that pydantic reads leniently and writes as the Swagger's name."""

    @classmethod
    def parse(cls, value: object) -> Self:
        return parse_enum(cls, value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return lenient_enum_schema(cls)


class PhoneType(DoseSpotEnum):
    Undefined = 0
    Beeper = 1
    Cell = 2
    Fax = 3
    Home = 4
    Work = 5
    Night = 6
    Primary = 7


class ClinicianRoleType(DoseSpotEnum):
    PrescribingClinician = 1
    ReportingClinician = 2
    EpcsCoordinator = 3
    ClinicianAdmin = 4
    PrescribingAgentClinician = 5
    ProxyClinician = 6


class PdmpRoleType(DoseSpotEnum):
    """PDMPRoleType; the Swagger spells NursePractioner so. Numbered 1.. in declared order."""

    Physician = 1
    Dentist = 2
    NursePractioner = 3
    PhysiciansAssistant = 4
    Resident = 5
    Intern = 6
    Psychologist = 7
    Optometrist = 8
    NaturopathicPhysician = 9


class ClinicianSpecialtyType(DoseSpotEnum):
    """ClinicianSpecialtyType of an edit; a read returns its number as ``SpecialtyTypeId``.

    The numbers (1.. in the Swagger's declared order) are an assumption the sandbox shares:
    DoseSpot documents neither the numbering nor the mapping.
    """

    AllergyAndImmunology = 1
    Dermatology = 2
    Dentistry = 3
    BehavioralHealth = 4
    FamilyMedicine = 5
    InternalMedicine = 6
    ObstetricsAndGynecology = 7
    Orthopedics = 8
    Pediatrics = 9
    PhysicalMedicine = 10
    Psychiatry = 11
    Urology = 12


class TfaType(DoseSpotEnum):
    """The second factor a clinician activates for controlled substances."""

    Mobile = 2
    Token = 3


class RegistrationStatus(DoseSpotEnum):
    """eRxRegistrationStatusType. Unknown values raise UnknownRegistrationStatus."""

    Pending = 1
    RegistrationSuccess = 2
    RegistrationError = 3
    IDPSuccess = 4
    IDPError = 5
    TFAActivateInit = 6
    TFAActivatedSuccess = 7
    TFAActivatedError = 8
    TFADeactivateInit = 9
    TFADeactivatedSuccess = 10
    TFADeactivatedError = 11
    IDPInitializeSuccess = 12
    NotApplicable = 13


# Patients


class Gender(DoseSpotEnum):
    """Unknown is marked deprecated in DoseSpot's enumeration tables."""

    Male = 1
    Female = 2
    Unknown = 3


class WeightMetric(DoseSpotEnum):
    """Spelled in lower case by the Swagger; read in any case."""

    lb = 1
    kg = 2


class HeightMetric(DoseSpotEnum):
    inch = 1
    cm = 2


class PatientSearchStatus(DoseSpotEnum):
    """``status`` of ``GET api/patients/search``; DoseSpot's default is Both."""

    ActiveOnly = 0
    InactiveOnly = 1
    Both = 2


# Allergies. DoseSpot publishes names only: the numbers are the declared order from 1.


class AllergenType(DoseSpotEnum):
    AllergenClass = 1
    ScreenableIngredient = 2
    FoodAndEnvironmentalAllergens = 3
    RoutedDoseFormDrugs = 4


class AllergenCategory(DoseSpotEnum):
    CommonAllergens = 1
    UncommonAllergens = 2
    OtherBrandDrugs = 3


class ReactionType(DoseSpotEnum):
    Allergy = 1
    AdverseReaction = 2


class AllergyStatus(DoseSpotEnum):
    """``StatusType`` of a patient allergy; DoseSpot has no DELETE, only ``Deleted``."""

    Active = 1
    Inactive = 2
    Deleted = 3


class InsuranceIdentifierType(DoseSpotEnum):
    """``PatientInsuranceIdentifierType`` of a custom insurance (declared order from 1)."""

    PayerID = 1
    ProcessorIdentificationNumber = 2
    NAICCode = 3
    MutuallyDefined = 4
    StandardUniqueHealthPlanIdentifier = 5
    IINNumber = 6


class EligibilityInfoType(DoseSpotEnum):
    """``CustomEligibilityInfoType`` (declared order from 1)."""

    PCN = 1
    CardholderID = 2
    GroupID = 3


# Pharmacies


class PharmacySpecialty(DoseSpotEnum):
    """``specialty`` filter of a pharmacy search, sent by name.

    The numbers are DoseSpot's specialty bits where published (MailOrder 1, Retail 8,
    SpecialtyPharmacy 16, LongTermCarePharmacy 32, TwentyFourHourPharmacy 64, EPCS 2048);
    Any 0 and FaxPharmacy 2 are unpublished and assumed.
    """

    Any = 0
    MailOrder = 1
    FaxPharmacy = 2
    Retail = 8
    SpecialtyPharmacy = 16
    LongTermCarePharmacy = 32
    TwentyFourHourPharmacy = 64
    EPCS = 2048


class PharmacyService(IntFlag):
    """Bits of a pharmacy's ``ServiceLevel``: the Surescripts messages it accepts."""

    NewRx = 1
    Refill = 2
    Change = 4
    RxFill = 8
    Cancel = 16
    MedHistory = 32
    Eligibility = 64
    ePA = 128
    Resupply = 256
    Census = 512
    CCR = 1024
    EPCS = 2048


# The services a prescriber cares about when choosing a pharmacy.
PRESCRIBING_SERVICES = (
    PharmacyService.NewRx,
    PharmacyService.Refill,
    PharmacyService.Change,
    PharmacyService.RxFill,
    PharmacyService.Cancel,
    PharmacyService.EPCS,
)


def pharmacy_services(service_level: int) -> set[str]:
    """The prescribing services in a ``ServiceLevel`` bit field, by name.

    NewRx 1, Refill 2, Change 4, RxFill 8, Cancel 16, EPCS 2048; other bits (medication
    history, eligibility, ...) are not prescribing services and are left out.
    """
    level = int(service_level or 0)
    return {service.name for service in PRESCRIBING_SERVICES if level & service and service.name}


# Medications and prescriptions


class DrugStatus(DoseSpotEnum):
    """``drugStatus`` of a medication search (declared order from 1)."""

    Active = 1
    Inactive = 2
    All = 3


class PrescriptionStatus(DoseSpotEnum):
    """A prescription's transmission status.

    eRxSent is the pharmacy system's first acknowledgement, PharmacyVerified a later
    confirmation that not every pharmacy sends: two states, never merged. FaxSent is
    deprecated; PharmacySelect comes only with PatientConnect. Unknown appears in
    responses only, Retracted in the query filter only (its number is unpublished and
    assumed to follow PharmacySelect).
    """

    Unknown = 0
    Entered = 1
    Printed = 2
    Sending = 3
    eRxSent = 4
    FaxSent = 5
    Error = 6
    Deleted = 7
    Requested = 8
    Edited = 9
    EpcsError = 10
    EpcsSigned = 11
    ReadyToSign = 12
    PharmacyVerified = 13
    PharmacySelect = 14
    Retracted = 15


class MedicationStatus(DoseSpotEnum):
    """Where a medication stands in the patient's record; Unknown and Inactive are deprecated."""

    Unknown = 0
    Active = 1
    Inactive = 2
    Discontinued = 3
    Deleted = 4
    Completed = 5
    CancelRequested = 6
    CancelPending = 7
    Cancelled = 8
    CancelDenied = 9
    Changed = 10
    FullFill = 11
    PartialFill = 12
    NoFill = 13


class PrescriptionStatusClass(DoseSpotEnum):
    """``statusClass`` of a prescription list (the Swagger bounds it 1..3)."""

    Active = 1
    Inactive = 2
    Pending = 3


class PrescriptionType(DoseSpotEnum):
    """``Type`` of a prescription (declared order from 1)."""

    Coded = 1
    FreeText = 2
    NDC = 3
    Supply = 4
    Compound = 5


class FreeTextType(DoseSpotEnum):
    """``FreeTextType`` of a prescription (declared order from 1)."""

    Medication = 1
    Supply = 2
    Compound = 3


class RefillClinicScope(DoseSpotEnum):
    """``clinic`` of ``GET api/refills/pending``: every clinic of the user, or the token's."""

    All = 0
    Current = 1


class DenialReason(DoseSpotEnum):
    """``DenialReason`` of ``POST api/refills/{refillId}/deny``: the Swagger's 18 names.

    The values are DoseSpot's published codes, which are not positional (3, 19 and 20 are
    not offered; 24-30 belong to CoverMyMeds).
    """

    DeniedPatientUnknown = 4
    DeniedPatientNotUnderCare = 5
    DeniedPatientNoLongerUnderPatientCare = 6
    DeniedTooSoon = 7
    DeniedNeverPrescribed = 8
    DeniedHavePatientContact = 9
    DeniedRefillInappropriate = 10
    DeniedAlreadyPickedUp = 11
    DeniedAlreadyPickedUpPartialFill = 12
    DeniedNotPickedUp = 13
    DeniedChangeInappropriate = 14
    DeniedNeedAppointment = 15
    DeniedPrescriberNotAssociateWithLocation = 16
    DeniedNoPriorAuthAttempt = 17
    DeniedAlreadyHandled = 18
    DeniedAtPatientRequest = 21
    DeniedPatientAllergicToRequestMed = 22
    DeniedMedicationDiscontinued = 23
