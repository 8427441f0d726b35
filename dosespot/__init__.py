"""DoseSpot API v2 client: a sans-I/O protocol core and one httpx shell."""

from dosespot.client import DoseSpotClient, TokenCache
from dosespot.enums import (
    ClinicianRoleType,
    DoseSpotEnum,
    Lenient,
    PhoneType,
    RegistrationStatus,
    parse_enum,
)
from dosespot.errors import (
    DoseSpotAuthError,
    DoseSpotError,
    DoseSpotNotFound,
    DoseSpotRateLimited,
    DoseSpotRefused,
    DoseSpotUnavailable,
    DoseSpotUnexpectedResponse,
    DoseSpotValidationError,
    UnknownEnumValue,
    UnknownRegistrationStatus,
)
from dosespot.models import (
    Clinic,
    ClinicCreate,
    ClinicCredentials,
    Clinician,
    ClinicianCreate,
    DeaNumber,
    MedicalLicenseNumber,
    NaDeaNumber,
    PageResult,
)
from dosespot.protocol import DoseSpotCredentials, clinic_matches

__all__ = [
    "Clinic",
    "ClinicCreate",
    "ClinicCredentials",
    "Clinician",
    "ClinicianCreate",
    "ClinicianRoleType",
    "DeaNumber",
    "DoseSpotAuthError",
    "DoseSpotClient",
    "DoseSpotCredentials",
    "DoseSpotEnum",
    "DoseSpotError",
    "DoseSpotNotFound",
    "DoseSpotRateLimited",
    "DoseSpotRefused",
    "DoseSpotUnavailable",
    "DoseSpotUnexpectedResponse",
    "DoseSpotValidationError",
    "Lenient",
    "MedicalLicenseNumber",
    "NaDeaNumber",
    "PageResult",
    "PhoneType",
    "RegistrationStatus",
    "TokenCache",
    "UnknownEnumValue",
    "UnknownRegistrationStatus",
    "clinic_matches",
    "parse_enum",
]
