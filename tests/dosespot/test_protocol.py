"""The sans-I/O core against recorded DoseSpot replies."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from dosespot import (
    Clinic,
    ClinicianRoleType,
    DoseSpotAuthError,
    DoseSpotError,
    DoseSpotNotFound,
    DoseSpotRateLimited,
    DoseSpotRefused,
    DoseSpotUnavailable,
    DoseSpotUnexpectedResponse,
    DoseSpotValidationError,
    Lenient,
    PhoneType,
    RegistrationStatus,
    UnknownEnumValue,
    UnknownRegistrationStatus,
    clinic_matches,
    parse_enum,
)
from dosespot import protocol as p
from dosespot.models import ClinicCredentials, Clinician, DeaNumber, PageResult
from tests.dosespot import (
    ADMIN,
    CLINIC_DETAIL,
    CLINIC_IDS,
    CLINIC_KEY,
    CLINICIAN_DETAIL,
    CLINICIAN_ID,
    LINKED,
    MODEL_STATE_400,
    OK,
    REFUSED_ON_200,
    REGISTRATION_STATUS,
    TOKEN,
    TOKEN_REFUSED,
    clinic_create,
    clinician_create,
)


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> p.Reply:
    raw = b"" if body is None else json.dumps(body).encode()
    return p.Reply(status, headers or {}, raw)


# Enums


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Home", PhoneType.Home),
        ("home", PhoneType.Home),
        (" CELL ", PhoneType.Cell),
        (4, PhoneType.Home),
        ("4", PhoneType.Home),
        (0, PhoneType.Undefined),
        (PhoneType.Fax, PhoneType.Fax),
    ],
)
def test_phone_type_parses_names_ints_and_numeric_strings(value: object, expected: PhoneType):
    assert PhoneType.parse(value) is expected


def test_role_and_registration_values_match_dosespot():
    assert ClinicianRoleType.parse("proxyclinician") == 6
    assert ClinicianRoleType.parse(1) is ClinicianRoleType.PrescribingClinician
    assert RegistrationStatus.parse("IDPSuccess") == 4
    assert RegistrationStatus.parse("13") is RegistrationStatus.NotApplicable
    assert [m.value for m in RegistrationStatus] == list(range(1, 14))


@pytest.mark.parametrize("value", [14, 0, "Registered", "", None, True, 2.0])
def test_unknown_registration_status_fails_closed(value: object):
    with pytest.raises(UnknownRegistrationStatus) as caught:
        RegistrationStatus.parse(value)
    assert isinstance(caught.value, DoseSpotError)
    assert caught.value.retryable is False


@pytest.mark.parametrize("value", [8, "Pager", None, True])
def test_unknown_phone_type_is_a_value_error(value: object):
    with pytest.raises(UnknownEnumValue):
        PhoneType.parse(value)


def test_enums_in_models_accept_names_or_ints_and_dump_names():
    class Holder(BaseModel):
        phone: PhoneType
        roles: list[ClinicianRoleType]

    held = Holder.model_validate({"phone": "4", "roles": [1, "ProxyClinician"]})
    assert held.phone is PhoneType.Home
    assert held.model_dump(mode="json") == {
        "phone": "Home",
        "roles": ["PrescribingClinician", "ProxyClinician"],
    }
    assert Holder.model_validate_json(held.model_dump_json()) == held
    with pytest.raises(ValidationError):
        Holder.model_validate({"phone": "Pager", "roles": []})


def test_lenient_annotation_serves_other_int_enums():
    from enum import IntEnum
    from typing import Annotated

    class Gender(IntEnum):
        Male = 1
        Female = 2
        Unknown = 3

    class Holder(BaseModel):
        gender: Annotated[Gender, Lenient()]

    assert Holder.model_validate({"gender": "female"}).gender is Gender.Female
    assert Holder.model_validate({"gender": "3"}).model_dump(mode="json") == {"gender": "Unknown"}
    assert parse_enum(Gender, 1) is Gender.Male


def test_registration_status_in_a_model_is_rejected_not_guessed():
    class Holder(BaseModel):
        status: RegistrationStatus

    with pytest.raises(ValidationError):
        Holder.model_validate({"status": 99})


# Requests


def test_token_request_is_the_password_grant():
    request = p.token_request(ADMIN)
    assert (request.method, request.path, request.authenticated) == ("POST", "connect/token", False)
    assert request.form == {
        "grant_type": "password",
        "client_id": "1001",
        "client_secret": "clinic-key-abc",
        "username": "501",
        "password": "clinic-key-abc",
        "scope": "api",
    }
    assert "clinic-key-abc" not in repr(request)
    assert "clinic-key-abc" not in repr(ADMIN)


def test_request_paths_and_templates():
    assert p.get_clinic_request(7).path == "api/clinics/7"
    assert p.get_clinic_request(7).template == "api/clinics/{clinicId}"
    lookup = p.find_clinician_by_npi_request(" 1234567893 ")
    assert (lookup.path, lookup.params) == ("api/clinician", {"npi": "1234567893"})
    assert "1234567893" not in lookup.template
    link = p.add_clinician_to_clinics_request(3, [1001, 2002])
    assert (link.path, link.json) == ("api/clinicians/3/clinics", {"ClinicIds": [1001, 2002]})
    assert p.registration_status_request(3).path == "api/clinicians/3/registrationStatus"
    assert p.clinician_clinic_ids_request(3).path == "api/clinicians/3/clinicIds"


def test_clinician_body_uses_swagger_names_and_formats():
    body = clinician_create(middle_name=None).to_body()
    assert body["DateOfBirth"] == "1980-04-01T00:00:00"
    assert body["PrimaryPhoneType"] == "Cell"
    assert body["ClinicianRoleType"] == ["PrescribingClinician"]
    assert body["DEANumbers"] == [{"DEANumber": "AO1234563", "State": "ME", "ClinicId": "2002"}]
    assert body["NADEANumbers"][0]["NADEANumber"] == "XO1234563"
    assert body["MedicalLicenseNumbers"][0]["LicenseNumber"] == "MD12345"
    assert body["EPCSRequested"] is True
    assert "MiddleName" not in body
    assert all(value is not None for value in body.values())


def test_clinic_body_sends_enum_names_and_omits_nulls():
    body = clinic_create(primary_fax=None, primary_phone_type=5).to_body()
    assert body == {
        "ClinicName": "Harbor Family Health",
        "Address1": "12 Wharf St.",
        "City": "Portland",
        "State": "ME",
        "ZipCode": "04101",
        "PrimaryPhone": "2075550143",
        "PrimaryPhoneType": "Work",
        "Active": True,
    }


def test_request_models_refuse_bad_input_before_it_leaves():
    with pytest.raises(ValidationError):
        clinician_create(roles=[])
    with pytest.raises(ValidationError):
        clinician_create(dea_numbers=[{"dea_number": "12345"}])
    with pytest.raises(ValidationError):
        clinic_create(unexpected="x")
    assert DeaNumber(dea_number=" ao1234563 ").dea_number == "AO1234563"


# Replies: envelopes


def test_parse_token():
    token = p.parse_token(reply(200, TOKEN))
    assert (token.access_token, token.expires_in, token.token_type) == ("token-1", 599, "Bearer")
    assert "token-1" not in repr(token)


@pytest.mark.parametrize("status", [400, 401, 200])
def test_oauth_error_bodies_are_auth_errors(status: int):
    with pytest.raises(DoseSpotAuthError) as caught:
        p.parse_token(reply(status, TOKEN_REFUSED, {"Request-Id": "abc"}))
    assert "Clinic is not valid" in str(caught.value)
    assert caught.value.retryable is False
    assert caught.value.request_id == "abc"


def test_token_outage_is_unavailable_not_auth():
    with pytest.raises(DoseSpotUnavailable):
        p.parse_token(reply(503, {"Message": "down"}))


def test_item_envelope():
    clinician = p.parse_clinician(reply(200, CLINICIAN_DETAIL))
    assert clinician.clinician_id == 3003
    assert clinician.date_of_birth == date(1980, 4, 1)
    assert clinician.dea_numbers[0].clinic_id == 2002
    assert clinician.roles == [ClinicianRoleType.PrescribingClinician]
    assert clinician.primary_phone_type is PhoneType.Cell
    assert clinician.epcs_requested is True


def test_item_envelope_accepts_integer_enums():
    body = json.loads(json.dumps(CLINICIAN_DETAIL))
    body["Item"].update(PrimaryPhoneType=4, Roles=[1, 6], DEANumbers=None)
    clinician = p.parse_clinician(reply(200, body))
    assert clinician.primary_phone_type is PhoneType.Home
    assert clinician.roles == [ClinicianRoleType.PrescribingClinician, 6]
    assert clinician.dea_numbers == []


def test_clinic_detail_uses_clinic_not_item_and_fills_missing_id():
    clinic = p.parse_clinic_detail(reply(200, CLINIC_DETAIL), 2002)
    assert isinstance(clinic, Clinic)
    assert (clinic.clinic_id, clinic.primary_phone_type) == (2002, PhoneType.Work)
    body = json.loads(json.dumps(CLINIC_DETAIL))
    del body["Clinic"]["ClinicId"]
    assert p.parse_clinic_detail(reply(200, body), 77).clinic_id == 77


def test_list_envelope_of_clinic_ids():
    assert p.parse_clinic_ids(reply(200, CLINIC_IDS)) == [1001, 2002]
    assert p.parse_clinic_ids(reply(200, {"Items": None, "Result": OK})) == []


def test_paged_envelope():
    body = {
        "Items": [{"ClinicId": 1}],
        "PageResult": {
            "CurrentPage": 1,
            "TotalPages": 3,
            "PageSize": 1,
            "TotalCount": 3,
            "HasPrevious": False,
            "HasNext": True,
        },
        "Result": OK,
    }

    class ClinicRef(BaseModel):
        ClinicId: int

    page = p.parse_page(reply(200, body), ClinicRef, operation="GET x")
    assert [item.ClinicId for item in page.items] == [1]
    assert page.page == PageResult(
        CurrentPage=1, TotalPages=3, PageSize=1, TotalCount=3, HasPrevious=False, HasNext=True
    )


def test_identifier_and_clinic_key_envelopes():
    assert p.parse_identifier(reply(200, CLINICIAN_ID), operation="POST api/clinicians") == 3003
    credentials = p.parse_clinic_key(reply(200, CLINIC_KEY))
    assert credentials == ClinicCredentials(clinic_id=2002, clinic_key="NEWKEY42")
    assert "NEWKEY42" not in repr(credentials)
    with pytest.raises(DoseSpotUnexpectedResponse):
        p.parse_identifier(reply(200, {"Id": 0, "Result": OK}), operation="POST api/clinicians")
    with pytest.raises(DoseSpotUnexpectedResponse):
        p.parse_clinic_key(reply(200, {"ClinicId": 2002, "Result": OK}))


def test_registration_status_envelope():
    assert p.parse_registration_status(reply(200, REGISTRATION_STATUS)) is (
        RegistrationStatus.IDPSuccess
    )
    assert p.parse_registration_status(reply(200, {"Item": 7, "Result": OK})) is (
        RegistrationStatus.TFAActivatedSuccess
    )
    with pytest.raises(UnknownRegistrationStatus) as caught:
        p.parse_registration_status(
            reply(200, {"Item": "Activated", "Result": OK}, {"X-Request-Id": "r9"})
        )
    assert caught.value.request_id == "r9"
    with pytest.raises(UnknownRegistrationStatus):
        p.parse_registration_status(reply(200, {"Item": None, "Result": OK}))


def test_bare_response_and_response_list():
    p.parse_response(reply(200, {"Result": OK}), operation="GET api/general/check")
    p.parse_response_list(reply(200, LINKED))
    with pytest.raises(DoseSpotRefused) as caught:
        p.parse_response_list(
            reply(
                200,
                [
                    {"Result": OK},
                    {"Result": {"ResultCode": "ERROR", "ResultDescription": "Clinic inactive"}},
                ],
            )
        )
    assert "Clinic inactive" in caught.value.message
    assert "[1]" in caught.value.message
    with pytest.raises(DoseSpotUnexpectedResponse):
        p.parse_response_list(reply(200, "nope"))


# Replies: errors


def test_error_on_200_is_refused():
    with pytest.raises(DoseSpotRefused) as caught:
        p.parse_clinician(reply(200, REFUSED_ON_200))
    error = caught.value
    assert error.description == "User is not authorized to access this patient."
    assert (error.http_status, error.retryable) == (200, False)


def test_model_state_400_is_a_validation_error_without_echoed_values():
    with pytest.raises(DoseSpotValidationError) as caught:
        p.parse_identifier(
            reply(400, MODEL_STATE_400, {"Request-Id": "req-1"}), operation="POST api/clinicians"
        )
    error = caught.value
    assert error.field_errors == MODEL_STATE_400["ModelState"]
    assert (error.http_status, error.request_id, error.retryable) == (400, "req-1", False)
    assert "PrimaryFax" in str(error) and "DateOfBirth" in str(error)
    assert "31/02/1980" not in str(error)


def test_400_without_model_state_still_validation_error():
    with pytest.raises(DoseSpotValidationError) as caught:
        p.read_body(reply(400, REFUSED_ON_200), operation="POST api/patients")
    assert caught.value.field_errors == {}
    assert "not authorized" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (500, DoseSpotUnavailable, True),
        (502, DoseSpotUnavailable, True),
        (503, DoseSpotUnavailable, True),
        (408, DoseSpotUnavailable, True),
        (429, DoseSpotRateLimited, True),
        (401, DoseSpotAuthError, False),
        (403, DoseSpotAuthError, False),
        (404, DoseSpotNotFound, False),
        (409, DoseSpotError, False),
    ],
)
def test_status_codes_map_to_typed_errors(
    status: int, error_type: type[DoseSpotError], retryable: bool
):
    with pytest.raises(error_type) as caught:
        p.read_body(reply(status, {"Message": "x"}), operation="GET api/x")
    assert caught.value.http_status == status
    assert caught.value.retryable is retryable


def test_rate_limit_reads_retry_after_or_defaults_to_ten_seconds():
    with pytest.raises(DoseSpotRateLimited) as caught:
        p.raise_for_status(reply(429), operation="GET api/x")
    assert caught.value.retry_after == 10.0
    with pytest.raises(DoseSpotRateLimited) as caught:
        p.raise_for_status(reply(429, None, {"Retry-After": "3"}), operation="GET api/x")
    assert caught.value.retry_after == 3.0
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    dated = reply(429, None, {"retry-after": "Wed, 01 Jan 2025 12:00:07 GMT"})
    assert p.retry_after_seconds(dated, now=now) == 7.0


def test_non_json_success_is_unexpected():
    with pytest.raises(DoseSpotUnexpectedResponse):
        p.read_body(p.Reply(200, {}, b"<html>maintenance</html>"), operation="GET api/x")


def test_invalid_item_reports_fields_not_values():
    body = json.loads(json.dumps(CLINICIAN_DETAIL))
    body["Item"]["DateOfBirth"] = "Ada's birthday"
    with pytest.raises(DoseSpotUnexpectedResponse) as caught:
        p.parse_clinician(reply(200, body))
    assert "DateOfBirth" in str(caught.value)
    assert "birthday" not in str(caught.value)


def test_clinician_lookup():
    assert p.parse_clinician_lookup(reply(200, CLINICIAN_ID)) == 3003
    assert p.parse_clinician_lookup(reply(200, {"Id": 0, "Result": OK})) is None
    assert p.parse_clinician_lookup(reply(200, {"Result": OK})) is None
    assert p.parse_clinician_lookup(reply(404, {"Message": "Not Found"})) is None
    not_found = {"Result": {"ResultCode": "ERROR", "ResultDescription": "Clinician not found"}}
    assert p.parse_clinician_lookup(reply(200, not_found)) is None
    with pytest.raises(DoseSpotRefused):
        p.parse_clinician_lookup(reply(200, REFUSED_ON_200))


def test_errors_keep_their_attributes_when_copied_or_pickled():
    error = DoseSpotValidationError("bad", field_errors={"A": ["x"]}, request_id="r")
    clone = copy.deepcopy(error)
    assert (type(clone), clone.field_errors, clone.request_id) == (
        DoseSpotValidationError,
        {"A": ["x"]},
        "r",
    )
    status = copy.deepcopy(UnknownRegistrationStatus("RegistrationStatus", 99))
    assert status.value == 99


# Look before write


def test_clinic_match_ignores_case_spacing_and_phone_punctuation():
    clinic = p.parse_clinic_detail(reply(200, CLINIC_DETAIL), 2002)
    same = clinic_create(
        clinic_name="  harbor   FAMILY health ",
        address1="12 wharf st",
        city="PORTLAND",
        state="me",
        zip_code="04101-1234",
        primary_phone="+1 207.555.0143",
    )
    assert clinic_matches(same, clinic)
    assert not clinic_matches(clinic_create(address1="14 Wharf St."), clinic)
    assert not clinic_matches(clinic_create(primary_phone="2075550199"), clinic)
    assert not clinic_matches(clinic_create(zip_code="04102"), clinic)


def test_clinician_edit_restates_the_record_and_applies_only_the_changes():
    item = {
        **CLINICIAN_DETAIL["Item"],  # type: ignore[dict-item]
        "Prefix": "",
        "Suffix": "MD",
        "PhoneAdditional1": " ",
        "PhoneAdditionalType1": "",
        "PDMPRoleType": 3,
        "SpecialtyTypeId": 11,
    }
    current = Clinician.model_validate(item)
    body = p.clinician_edit(current, {"active": False}).to_body()
    assert body["Active"] is False
    assert (body["Suffix"], body["PDMPRoleType"], body["ClinicianSpecialtyType"]) == (
        "MD",
        "NursePractioner",
        "Psychiatry",
    )
    # DoseSpot's blanks are "nothing", sent as nothing.
    assert not {"Prefix", "PhoneAdditional1", "PhoneAdditionalType1"} & set(body)
    assert p.clinician_edit(current, {}).to_body() == {**body, "Active": True}
    assert current.active is True


def test_clinician_edit_refuses_names_that_are_not_edit_fields():
    current = Clinician.model_validate(CLINICIAN_DETAIL["Item"])
    with pytest.raises(ValueError, match="account_locked"):
        p.clinician_edit(current, {"account_locked": False})


def test_rate_limited_carries_the_request_id_and_the_wait():
    error = p.rate_limited(
        reply(429, None, {"Retry-After": "12", "Request-Id": "r-9"}), operation="GET api/x"
    )
    assert (error.http_status, error.request_id, error.retry_after) == (429, "r-9", 12.0)
    assert error.retryable is True
