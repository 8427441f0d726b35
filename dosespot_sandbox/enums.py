"""DoseSpot enums: the Swagger declares names; clients also send the integer values."""

from __future__ import annotations

from collections.abc import Sequence


class EnumType:
    def __init__(self, name: str, members: Sequence[str], first_value: int) -> None:
        self.name = name
        self.members = tuple(members)
        self.values = {member: first_value + i for i, member in enumerate(self.members)}
        self._by_value = {v: k for k, v in self.values.items()}
        self._by_folded_name = {m.lower(): m for m in self.members}

    def parse(self, raw: object) -> str | None:
        """The member name for a name (any case), an integer or a numeric string; else None."""
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int):
            return self._by_value.get(raw)
        if isinstance(raw, str):
            text = raw.strip()
            if text.lstrip("-").isdigit():
                return self._by_value.get(int(text))
            return self._by_folded_name.get(text.lower())
        return None


# Integer values: roles and registration statuses are documented (1-based). PhoneType
# starts with Undefined, which .NET gives 0; the remaining enums are assumed 1-based.
PHONE_TYPE = EnumType(
    "PhoneType",
    ["Undefined", "Beeper", "Cell", "Fax", "Home", "Work", "Night", "Primary"],
    0,
)
CLINICIAN_ROLE_TYPE = EnumType(
    "ClinicianRoleType",
    [
        "PrescribingClinician",
        "ReportingClinician",
        "EpcsCoordinator",
        "ClinicianAdmin",
        "PrescribingAgentClinician",
        "ProxyClinician",
    ],
    1,
)
PDMP_ROLE_TYPE = EnumType(
    "PDMPRoleType",
    [
        "Physician",
        "Dentist",
        "NursePractioner",
        "PhysiciansAssistant",
        "Resident",
        "Intern",
        "Psychologist",
        "Optometrist",
        "NaturopathicPhysician",
    ],
    1,
)
CLINICIAN_SPECIALTY_TYPE = EnumType(
    "ClinicianSpecialtyType",
    [
        "AllergyAndImmunology",
        "Dermatology",
        "Dentistry",
        "BehavioralHealth",
        "FamilyMedicine",
        "InternalMedicine",
        "ObstetricsAndGynecology",
        "Orthopedics",
        "Pediatrics",
        "PhysicalMedicine",
        "Psychiatry",
        "Urology",
    ],
    1,
)
REGISTRATION_STATUS = EnumType(
    "eRxRegistrationStatusType",
    [
        "Pending",
        "RegistrationSuccess",
        "RegistrationError",
        "IDPSuccess",
        "IDPError",
        "TFAActivateInit",
        "TFAActivatedSuccess",
        "TFAActivatedError",
        "TFADeactivateInit",
        "TFADeactivatedSuccess",
        "TFADeactivatedError",
        "IDPInitializeSuccess",
        "NotApplicable",
    ],
    1,
)
TFA_TYPE = EnumType("TfaType", ["Mobile", "Token"], 2)


def explicit(name: str, values: dict[str, int]) -> EnumType:
    """An enum whose integer values are not consecutive (bit fields, documented numbers)."""
    enum_type = EnumType(name, list(values), 0)
    enum_type.values = dict(values)
    enum_type._by_value = {v: k for k, v in values.items()}
    return enum_type


# Patients: integer values as DoseSpot's enumeration tables give them.
GENDER = EnumType("Gender", ["Male", "Female", "Unknown"], 1)
WEIGHT_METRIC = EnumType("WeightMetric", ["lb", "kg"], 1)
HEIGHT_METRIC = EnumType("HeightMetric", ["inch", "cm"], 1)
PATIENT_STATUS = EnumType("PatientStatus", ["ActiveOnly", "InactiveOnly", "Both"], 0)

REACTION_TYPE = EnumType("ReactionType", ["Allergy", "AdverseReaction"], 1)
ALLERGY_STATUS = EnumType("AllergyStatusType", ["Active", "Inactive", "Deleted"], 1)
ALLERGEN_TYPE = EnumType(
    "AllergenType",
    [
        "AllergenClass",
        "ScreenableIngredient",
        "FoodAndEnvironmentalAllergens",
        "RoutedDoseFormDrugs",
    ],
    1,
)

PRESCRIPTION_STATUS = EnumType(
    "PrescriptionStatus",
    [
        "Unknown",
        "Entered",
        "Printed",
        "Sending",
        "eRxSent",
        "FaxSent",
        "Error",
        "Deleted",
        "Requested",
        "Edited",
        "EpcsError",
        "EpcsSigned",
        "ReadyToSign",
        "PharmacyVerified",
        "PharmacySelect",
        "Retracted",
    ],
    0,
)
MEDICATION_STATUS = EnumType(
    "MedicationStatus",
    [
        "Unknown",
        "Active",
        "Inactive",
        "Discontinued",
        "Deleted",
        "Completed",
        "CancelRequested",
        "CancelPending",
        "Cancelled",
        "CancelDenied",
        "Changed",
        "FullFill",
        "PartialFill",
        "NoFill",
    ],
    0,
)
STATUS_CLASS = EnumType("StatusClass", ["Active", "Inactive", "Pending"], 1)
SORT_COLUMN = EnumType("SortColumn", ["DateWritten"], 0)
SORT_ORDER = EnumType("SortOrder", ["Asc", "Desc"], 0)
CLINIC_SCOPE = EnumType("ClinicScope", ["All", "Current"], 0)
DRUG_STATUS = EnumType("DrugStatus", ["Active", "Inactive", "All"], 0)

INSURANCE_IDENTIFIER_TYPE = EnumType(
    "PatientInsuranceIdentifierType",
    [
        "PayerID",
        "ProcessorIdentificationNumber",
        "NAICCode",
        "MutuallyDefined",
        "StandardUniqueHealthPlanIdentifier",
        "IINNumber",
    ],
    1,
)
ELIGIBILITY_INFO_TYPE = EnumType("CustomEligibilityInfoType", ["PCN", "CardholderID", "GroupID"], 1)

# Specialty bits as DoseSpot's tables give them; FaxPharmacy has no published bit.
PHARMACY_SPECIALTY = explicit(
    "PharmacySpecialtyType",
    {
        "Any": 0,
        "MailOrder": 1,
        "FaxPharmacy": 4,
        "Retail": 8,
        "SpecialtyPharmacy": 16,
        "LongTermCarePharmacy": 32,
        "TwentyFourHourPharmacy": 64,
        "EPCS": 2048,
    },
)

# Pharmacy ServiceLevel bits.
SERVICE_NEW_RX = 1
SERVICE_REFILL = 2
SERVICE_CHANGE = 4
SERVICE_RX_FILL = 8
SERVICE_CANCEL = 16
SERVICE_EPCS = 2048
