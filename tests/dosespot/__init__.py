"""Recorded DoseSpot samples and a scripted DoseSpot behind httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import httpx

from dosespot import (
    ClinicCreate,
    ClinicianCreate,
    DoseSpotClient,
    DoseSpotCredentials,
    PhoneType,
)

BASE_URL = "https://dosespot.test/webapi/v2/"
API_PREFIX = "/webapi/v2/"
SUBSCRIPTION_KEY = "sub-key-123"
ADMIN = DoseSpotCredentials(clinic_id=1001, clinic_key="clinic-key-abc", user_id=501)
CLINICIAN = DoseSpotCredentials(clinic_id=1001, clinic_key="clinic-key-abc", user_id=777)

OK = {"ResultCode": "OK", "ResultDescription": ""}

TOKEN = {"access_token": "token-1", "expires_in": 599, "token_type": "Bearer"}
TOKEN_REFUSED = {"error": "invalid_grant", "error_description": "Clinic is not valid"}

CHECK = {"Result": OK}
CLINIC_KEY = {"ClinicId": 2002, "ClinicKey": "NEWKEY42", "Result": OK}
CLINIC_DETAIL = {
    "Clinic": {
        "ClinicId": 2002,
        "ClinicName": "Harbor Family Health",
        "Address1": "12 Wharf St.",
        "City": "Portland",
        "State": "ME",
        "ZipCode": "04101",
        "PrimaryPhone": "(207) 555-0143",
        "PrimaryPhoneType": "Work",
        "PrimaryFax": "2075550144",
        "Active": True,
    },
    "Result": OK,
}
CLINICIAN_DETAIL = {
    "Item": {
        "ClinicianId": 3003,
        "FirstName": "Ada",
        "LastName": "Okafor",
        "DateOfBirth": "1980-04-01T00:00:00",
        "Email": "ada@example.org",
        "Address1": "12 Wharf St.",
        "City": "Portland",
        "State": "ME",
        "ZipCode": "04101",
        "PrimaryPhone": "2075550143",
        "PrimaryPhoneType": "Cell",
        "PrimaryFax": "2075550144",
        "NPINumber": "1234567893",
        "DEANumbers": [{"DEANumber": "AO1234563", "State": "ME", "ClinicId": "2002"}],
        "NADEANumbers": [],
        "MedicalLicenseNumbers": [{"LicenseNumber": "MD12345", "State": "ME", "ClinicId": "2002"}],
        "Roles": ["PrescribingClinician"],
        "Confirmed": False,
        "Active": True,
        "AccountLocked": False,
        "EpcsRequested": True,
    },
    "Result": OK,
}
# The same clinician after a DoseSpot user edited it: every member a read can return.
CLINICIAN_EDITED_IN_DOSESPOT = {
    "Item": {
        **CLINICIAN_DETAIL["Item"],  # type: ignore[dict-item]
        "Prefix": "Dr.",
        "MiddleName": "Ngozi",
        "Suffix": "MD, PhD",
        "Address2": "Suite 4",
        "PhoneAdditional1": "2075550150",
        "PhoneAdditionalType1": "Cell",
        "PhoneAdditional2": "2075550151",
        "PhoneAdditionalType2": "Night",
        "PhoneAdditional3": "2075550152",
        "PhoneAdditionalType3": "Beeper",
        "DEANumber": "AO1234563",
        "DEANumbers": [
            {"DEANumber": "AO1234563", "State": "ME", "ClinicId": "2002"},
            {"DEANumber": "AO7654321", "State": "NH", "ClinicId": "1001"},
        ],
        "NADEANumbers": [{"NADEANumber": "XO1234563", "State": "ME", "ClinicId": "2002"}],
        "Roles": ["PrescribingClinician", "EpcsCoordinator"],
        "PDMPRoleType": "NursePractioner",
        "SpecialtyTypeId": 5,
        "Confirmed": True,
        "ClinicInfo": [{"ClinicId": 2002, "HasNewRx": True, "HasEpcs": False}],
    },
    "Result": OK,
}
CLINICIAN_ID = {"Id": 3003, "Result": OK}
CLINIC_IDS = {"Items": [{"ClinicId": 1001}, {"ClinicId": 2002}], "Result": OK}
REGISTRATION_STATUS = {"Item": "IDPSuccess", "Result": OK}
LINKED = [{"Result": OK}, {"Result": OK}]
LEGAL_AGREEMENTS = {
    "Items": [
        {
            "AgreementId": 1,
            "AgreementDate": "2025-02-03T10:11:12",
            "AgreementText": "ePrescribing Authorization\n\nI authorise DoseSpot ...",
        },
        {"AgreementId": 2, "AgreementText": "\n  HIPAA Business Associate\nDoseSpot will ..."},
        {
            "AgreementId": 3,
            "AgreementDate": "0001-01-01T00:00:00",
            "AgreementText": "Identity Proofing\nI consent ...",
        },
    ],
    "Result": OK,
}
AGREEMENT_ACCEPTED = {"AgreementId": 2, "NameSigned": "Ada Okafor", "Result": OK}
REFUSED_ON_200 = {
    "Result": {
        "ResultCode": "ERROR",
        "ResultDescription": "User is not authorized to access this patient.",
    }
}
MODEL_STATE_400 = {
    "Message": "The request is invalid.",
    "ModelState": {
        "request.PrimaryFax": ["The PrimaryFax field is required."],
        "request.DateOfBirth": ["The value '31/02/1980' is not valid for DateOfBirth."],
    },
}


def clinic_create(**changes: Any) -> ClinicCreate:
    fields: dict[str, Any] = {
        "clinic_name": "Harbor Family Health",
        "address1": "12 Wharf St.",
        "city": "Portland",
        "state": "ME",
        "zip_code": "04101",
        "primary_phone": "2075550143",
        "primary_phone_type": PhoneType.Work,
        "primary_fax": "2075550144",
        "active": True,
    }
    fields.update(changes)
    return ClinicCreate(**fields)


def clinician_create(**changes: Any) -> ClinicianCreate:
    fields: dict[str, Any] = {
        "first_name": "Ada",
        "last_name": "Okafor",
        "date_of_birth": date(1980, 4, 1),
        "email": "ada@example.org",
        "address1": "12 Wharf St.",
        "city": "Portland",
        "state": "ME",
        "zip_code": "04101",
        "primary_phone": "2075550143",
        "primary_phone_type": "Cell",
        "primary_fax": "2075550144",
        "npi_number": "1234567893",
        "dea_numbers": [{"dea_number": "AO1234563", "state": "ME", "clinic_id": 2002}],
        "nadea_numbers": [{"nadea_number": "XO1234563", "state": "ME", "clinic_id": 2002}],
        "medical_license_numbers": [
            {"license_number": "MD12345", "state": "ME", "clinic_id": 2002}
        ],
        "roles": ["PrescribingClinician"],
        "epcs_requested": True,
        "active": True,
    }
    fields.update(changes)
    return ClinicianCreate(**fields)


Responder = httpx.Response | Callable[[httpx.Request], httpx.Response] | Exception


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


class FakeDoseSpot:
    """A scripted DoseSpot: issues numbered tokens and plays queued replies per route.

    Routes are ``"METHOD path"`` relative to the API base. Each queue plays in order and
    its last entry repeats. Every request is recorded for assertions.
    """

    def __init__(self, routes: dict[str, list[Responder]] | None = None) -> None:
        self.routes: dict[str, list[Responder]] = dict(routes or {})
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.routes.setdefault("POST connect/token", [self._issue_token])

    def _issue_token(self, request: httpx.Request) -> httpx.Response:
        self.tokens_issued += 1
        return json_response(200, {**TOKEN, "access_token": f"token-{self.tokens_issued}"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix(API_PREFIX)
        queue = self.routes.get(f"{request.method} {path}")
        if not queue:
            return json_response(404, {"Message": "No route"})
        responder = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(responder, Exception):
            raise responder
        if callable(responder):
            return responder(request)
        return responder

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def calls(self, route: str) -> list[httpx.Request]:
        method, path = route.split(" ", 1)
        return [
            r
            for r in self.requests
            if r.method == method and r.url.path.removeprefix(API_PREFIX) == path
        ]

    def token_forms(self) -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in parse_qs(r.content.decode()).items()}
            for r in self.calls("POST connect/token")
        ]


def make_client(
    fake: FakeDoseSpot,
    credentials: DoseSpotCredentials = ADMIN,
    **options: Any,
) -> DoseSpotClient:
    return DoseSpotClient(
        BASE_URL, SUBSCRIPTION_KEY, credentials, transport=fake.transport, **options
    )
