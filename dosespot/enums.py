"""DoseSpot enums with their integer values.

The Swagger declares enums as strings, but DoseSpot and its integrators also send
integers (``PrimaryPhoneType: 4``, ``ClinicianRoleType: [1]``), sometimes as numeric
strings. Every enum here therefore parses a member name in any case, an integer or a
numeric string, and serialises to the Swagger's member name in JSON.

PhoneType numbering follows the Swagger's declaration order with ``Undefined`` at 0, the
default of the .NET enum behind it; so the ``4`` seen in real clients is ``Home``.
"""

from __future__ import annotations

from enum import IntEnum
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
