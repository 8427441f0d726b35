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
