"""Model validation in the manner of DoseSpot's ASP.NET front end.

Request definitions mirror the Swagger: required members, ``maxLength`` and ``pattern``.
Property names match case-insensitively and ``null`` means absent, as with Json.NET.
Failures become ``{Message, ModelState}`` keyed like ``request.DEANumbers[0].DEANumber``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dosespot_sandbox.enums import (
    ALLERGY_STATUS,
    CLINICIAN_ROLE_TYPE,
    CLINICIAN_SPECIALTY_TYPE,
    ELIGIBILITY_INFO_TYPE,
    GENDER,
    HEIGHT_METRIC,
    INSURANCE_IDENTIFIER_TYPE,
    MEDICATION_STATUS,
    PDMP_ROLE_TYPE,
    PHONE_TYPE,
    REACTION_TYPE,
    TFA_TYPE,
    WEIGHT_METRIC,
    EnumType,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class InvalidRequest(Exception):
    def __init__(self, model_state: dict[str, list[str]]) -> None:
        super().__init__("invalid request")
        self.model_state = model_state


@dataclass(frozen=True)
class Spec:
    kind: str  # string | boolean | integer | number | date-time | enum | array | object
    required: bool = False
    max_length: int | None = None
    pattern: str | None = None
    enum: EnumType | None = None
    items: Spec | None = None
    members: dict[str, Spec] = field(default_factory=dict)


def string(
    *, required: bool = False, max_length: int | None = None, pattern: str | None = None
) -> Spec:
    return Spec("string", required=required, max_length=max_length, pattern=pattern)


def enum(enum_type: EnumType, *, required: bool = False) -> Spec:
    return Spec("enum", required=required, enum=enum_type)


def array(items: Spec, *, required: bool = False) -> Spec:
    return Spec("array", required=required, items=items)


def obj(members: dict[str, Spec], *, required: bool = False) -> Spec:
    return Spec("object", required=required, members=members)


BOOLEAN = Spec("boolean")
DEA_PATTERN = r"^[A-Z][A-Z9][0-9]{7}(-[A-Z0-9]{1,7})?$"
NADEA_PATTERN = r"^[a-zA-Z0-9]{9}$"

_PHONES = {
    "PrimaryFax": string(max_length=25),
    "PhoneAdditional1": string(max_length=25),
    "PhoneAdditionalType1": enum(PHONE_TYPE),
    "PhoneAdditional2": string(max_length=25),
    "PhoneAdditionalType2": enum(PHONE_TYPE),
    "PhoneAdditional3": string(max_length=25),
    "PhoneAdditionalType3": enum(PHONE_TYPE),
}

ADD_EDIT_CLINIC_REQUEST = obj(
    {
        "ClinicName": string(required=True),
        "ClinicNameLongForm": string(max_length=250),
        "Address1": string(required=True),
        "Address2": string(max_length=35),
        "Active": BOOLEAN,
        "City": string(required=True),
        "State": string(required=True),
        "ZipCode": string(required=True),
        "PrimaryPhone": string(required=True, max_length=25),
        "PrimaryPhoneType": enum(PHONE_TYPE, required=True),
        **_PHONES,
    }
)

DEA_NUMBER = obj(
    {
        "DEANumber": string(required=True, pattern=DEA_PATTERN),
        "State": string(),
        "ClinicId": string(),
    }
)
NADEA_NUMBER = obj(
    {
        "NADEANumber": string(required=True, pattern=NADEA_PATTERN),
        "State": string(),
        "ClinicId": string(),
    }
)
MEDICAL_LICENSE_NUMBER = obj(
    {
        "LicenseNumber": string(required=True, max_length=35),
        "State": string(),
        "ClinicId": string(),
    }
)

ADD_EDIT_CLINICIAN_REQUEST = obj(
    {
        "Prefix": string(max_length=10),
        "FirstName": string(required=True),
        "MiddleName": string(max_length=35),
        "LastName": string(required=True),
        "Suffix": string(max_length=10),
        "DateOfBirth": Spec("date-time", required=True),
        "Email": string(),
        "Address1": string(required=True, max_length=35),
        "Address2": string(max_length=35),
        "City": string(required=True),
        "State": string(required=True),
        "ZipCode": string(required=True),
        "PrimaryPhone": string(required=True),
        "PrimaryPhoneType": enum(PHONE_TYPE),
        **_PHONES,
        "PrimaryFax": string(required=True, max_length=25),
        "DEANumber": string(pattern=DEA_PATTERN),
        "DEANumbers": array(DEA_NUMBER),
        "NADEANumbers": array(NADEA_NUMBER),
        "MedicalLicenseNumbers": array(MEDICAL_LICENSE_NUMBER),
        "NPINumber": string(),
        "ClinicianRoleType": array(enum(CLINICIAN_ROLE_TYPE), required=True),
        "EPCSRequested": BOOLEAN,
        "Active": BOOLEAN,
        "PDMPRoleType": enum(PDMP_ROLE_TYPE),
        "ClinicianSpecialtyType": enum(CLINICIAN_SPECIALTY_TYPE),
    }
)

CLINICIAN_ADD_MULTIPLE_CLINICS_REQUEST = obj(
    {"ClinicIds": array(Spec("integer"), required=True)},
)

CLINICIAN_ACCEPT_AGREEMENT_REQUEST = obj(
    {"AgreementId": Spec("integer", required=True), "NameSigned": string(required=True)},
)

CLINICIAN_INITIALIZE_TFA_ACTIVATION_REQUEST = obj(
    {"TfaTypeId": enum(TFA_TYPE, required=True)},
)

INTEGER = Spec("integer")
NUMBER = Spec("number")
DATE_TIME = Spec("date-time")

ADD_EDIT_PATIENT_REQUEST = obj(
    {
        "Prefix": string(max_length=10),
        "FirstName": string(required=True, max_length=35),
        "MiddleName": string(max_length=35),
        "LastName": string(required=True, max_length=35),
        "Suffix": string(max_length=10),
        "DateOfBirth": Spec("date-time", required=True),
        "Gender": enum(GENDER, required=True),
        "Email": string(max_length=80),
        "Address1": string(required=True, max_length=35),
        "Address2": string(max_length=35),
        "City": string(required=True, max_length=35),
        "State": string(required=True, max_length=50),
        "ZipCode": string(required=True, max_length=10),
        "PhoneAdditional1": string(max_length=25),
        "PhoneAdditional2": string(max_length=25),
        "PhoneAdditionalType1": enum(PHONE_TYPE),
        "PhoneAdditionalType2": enum(PHONE_TYPE),
        "PrimaryPhone": string(required=True, max_length=25),
        "PrimaryPhoneType": enum(PHONE_TYPE, required=True),
        "Weight": NUMBER,
        "WeightMetric": enum(WEIGHT_METRIC),
        "Height": NUMBER,
        "HeightMetric": enum(HEIGHT_METRIC),
        "NonDoseSpotMedicalRecordNumber": string(max_length=35),
        "Active": Spec("boolean", required=True),
        "Encounter": string(max_length=50),
        "IsHospice": BOOLEAN,
    }
)

_ALLERGY_COMMON = {
    "Reaction": string(max_length=200),
    "ReactionType": enum(REACTION_TYPE, required=True),
    "StatusType": enum(ALLERGY_STATUS, required=True),
    "OnsetDate": DATE_TIME,
}
CODED_PATIENT_ALLERGY_REQUEST = obj(
    {"AllergenId": Spec("integer", required=True), **_ALLERGY_COMMON}
)
FREETEXT_PATIENT_ALLERGY_REQUEST = obj(
    {"FreeTextDisplayName": string(required=True, max_length=200), **_ALLERGY_COMMON}
)
EDIT_PATIENT_ALLERGY_REQUEST = obj(dict(_ALLERGY_COMMON))

CUSTOM_ELIGIBILITY_INFO = obj(
    {
        "CustomEligibilityInfoType": enum(ELIGIBILITY_INFO_TYPE),
        "CustomEligibilityInfoValue": string(),
    }
)
CUSTOM_INSURANCE_REQUEST = obj(
    {
        "PatientInsuranceIdentifierType": enum(INSURANCE_IDENTIFIER_TYPE, required=True),
        "PatientInsuranceIdentifier": string(required=True, max_length=35),
        "PersonCode": string(max_length=2),
        "PayerName": string(),
        "CustomEligibilityDetails": array(CUSTOM_ELIGIBILITY_INFO),
    }
)

ADD_EDIT_PATIENT_PHARMACY_REQUEST = obj({"PharmacyId": INTEGER, "SetAsPrimary": BOOLEAN})

_SRM_COMMON = {
    "Refills": INTEGER,
    "DaysSupply": INTEGER,
    "DispenseUnitId": INTEGER,
    "Quantity": NUMBER,
    "Directions": string(max_length=500),
    "WrittenDate": DATE_TIME,
    "PrescriberUserId": INTEGER,
    "PrescribingAgentUserId": INTEGER,
    "Status": enum(MEDICATION_STATUS, required=True),
    "InactiveDate": DATE_TIME,
    "Comment": string(max_length=500),
    "Encounter": string(max_length=50),
}
CODED_SELF_REPORTED_MEDICATION_REQUEST = obj(
    {"DispensableDrugId": Spec("integer", required=True), **_SRM_COMMON}
)
SIMPLE_SELF_REPORTED_MEDICATION_REQUEST = obj(
    {"RoutedDoseFormDrugId": Spec("integer", required=True), **_SRM_COMMON}
)
FREE_TEXT_SELF_REPORTED_MEDICATION_REQUEST = obj(
    {"DisplayName": string(required=True, max_length=300), **_SRM_COMMON}
)
UPDATE_SELF_REPORTED_MEDICATION_STATUS_REQUEST = obj(
    {
        "Status": enum(MEDICATION_STATUS, required=True),
        "InactiveDate": DATE_TIME,
        "Comment": string(max_length=500),
        "Encounter": string(max_length=50),
    }
)
UPDATE_PRESCRIPTION_MEDICATION_STATUS_REQUEST = obj(
    {
        "Status": enum(MEDICATION_STATUS, required=True),
        "Comment": string(max_length=500),
        "InactiveDate": DATE_TIME,
    }
)
IGNORE_ALERT_REQUEST = obj({"Comment": string(max_length=500)})


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise InvalidRequest({"request": ["A non-empty request body is required."]})
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            {"request": ["Unexpected character encountered while parsing value."]}
        ) from None


def validate(spec: Spec, body: Any) -> dict[str, Any]:
    """The normalised request (canonical names, enum names, ISO dates) or InvalidRequest."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        raise InvalidRequest({"request": ["The request must be a JSON object."]})
    result = _object(spec, body, "request", errors)
    if errors:
        raise InvalidRequest(errors)
    return result


def _add(errors: dict[str, list[str]], key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


def _conversion_error(errors: dict[str, list[str]], key: str, value: Any, type_name: str) -> None:
    shown = json.dumps(value) if not isinstance(value, dict | list) else type(value).__name__
    _add(errors, key, f"Error converting value {shown} to type '{type_name}'.")


def _object(
    spec: Spec, body: dict[str, Any], key: str, errors: dict[str, list[str]]
) -> dict[str, Any]:
    folded = {k.lower(): v for k, v in body.items()}
    result: dict[str, Any] = {}
    for name, member in spec.members.items():
        raw = folded.get(name.lower())
        member_key = f"{key}.{name}"
        if raw is None or (
            member.required and isinstance(raw, str) and not raw.strip() and member.kind != "enum"
        ):
            if member.required:
                _add(errors, member_key, f"The {name} field is required.")
            continue
        value = _value(member, raw, name, member_key, errors)
        if value is not None:
            result[name] = value
    return result


def _value(spec: Spec, raw: Any, name: str, key: str, errors: dict[str, list[str]]) -> Any:
    if spec.kind == "string":
        return _string(spec, raw, name, key, errors)
    if spec.kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in {"true", "false"}:
            return raw.strip().lower() == "true"
        _conversion_error(errors, key, raw, "System.Boolean")
        return None
    if spec.kind == "integer":
        if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
            raw = int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool) and INT32_MIN <= raw <= INT32_MAX:
            return raw
        _conversion_error(errors, key, raw, "System.Int32")
        return None
    if spec.kind == "number":
        if isinstance(raw, str):
            try:
                raw = float(raw.strip())
            except ValueError:
                pass
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            return raw
        _conversion_error(errors, key, raw, "System.Double")
        return None
    if spec.kind == "date-time":
        if isinstance(raw, str):
            try:
                parsed = datetime.fromisoformat(raw.strip())
            except ValueError:
                pass
            else:
                return parsed.replace(tzinfo=None).isoformat(timespec="seconds")
        _conversion_error(errors, key, raw, "System.DateTime")
        return None
    if spec.kind == "enum":
        assert spec.enum is not None
        member = spec.enum.parse(raw)
        if member is None:
            _conversion_error(errors, key, raw, spec.enum.name)
        return member
    if spec.kind == "array":
        assert spec.items is not None
        if not isinstance(raw, list):
            _conversion_error(errors, key, raw, f"List[{spec.items.kind}]")
            return None
        items = []
        for i, item in enumerate(raw):
            item_key = f"{key}[{i}]"
            if item is None:
                continue
            value = _value(spec.items, item, name, item_key, errors)
            if value is not None:
                items.append(value)
        return items
    if spec.kind == "object":
        if not isinstance(raw, dict):
            _conversion_error(errors, key, raw, name)
            return None
        return _object(spec, raw, key, errors)
    raise ValueError(f"unknown spec kind {spec.kind}")


def _string(spec: Spec, raw: Any, name: str, key: str, errors: dict[str, list[str]]) -> str | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        _conversion_error(errors, key, raw, "System.String")
        return None
    text = raw if isinstance(raw, str) else str(raw)
    if spec.max_length is not None and len(text) > spec.max_length:
        _add(
            errors,
            key,
            f"The field {name} must be a string with a maximum length of {spec.max_length}.",
        )
    # As .NET's RegularExpressionAttribute: empty values pass, the match must span the value.
    if spec.pattern is not None and text and not re.fullmatch(spec.pattern, text):
        _add(errors, key, f"The field {name} must match the regular expression '{spec.pattern}'.")
    return text
