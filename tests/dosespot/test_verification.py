"""Agreements, identity proofing, two-factor and clinician edits, against a scripted DoseSpot."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pydantic import ValidationError

from dosespot import (
    ClinicianCreate,
    DoseSpotRefused,
    DoseSpotUnexpectedResponse,
    LegalAgreement,
    TfaType,
)
from dosespot.models import Clinician
from tests.dosespot import (
    AGREEMENT_ACCEPTED,
    CHECK,
    CLINICIAN,
    CLINICIAN_DETAIL,
    CLINICIAN_EDITED_IN_DOSESPOT,
    LEGAL_AGREEMENTS,
    OK,
    FakeDoseSpot,
    clinician_create,
    json_response,
    make_client,
)

REFUSED = {"Result": {"ResultCode": "ERROR", "ResultDescription": "Clinician is not confirmed."}}


async def test_legal_agreements_expose_id_name_and_accepted_state():
    fake = FakeDoseSpot(
        {"GET api/clinicians/3003/legalAgreements": [json_response(200, LEGAL_AGREEMENTS)]}
    )
    async with make_client(fake) as client:
        agreements = await client.legal_agreements(3003)
    assert [(a.agreement_id, a.title, a.accepted) for a in agreements] == [
        (1, "ePrescribing Authorization", True),
        (2, "HIPAA Business Associate", False),
        # .NET's default DateTime is "never signed", not a signature in year 1.
        (3, "Identity Proofing", False),
    ]
    assert agreements[0].agreement_date == datetime(2025, 2, 3, 10, 11, 12)


def test_agreement_without_text_or_date():
    agreement = LegalAgreement.model_validate({"AgreementId": 7, "AgreementDate": ""})
    assert (agreement.title, agreement.accepted) == ("", False)


async def test_accept_agreement_signs_as_the_clients_own_user():
    fake = FakeDoseSpot(
        {
            "POST api/clinicians/acceptAgreement": [
                json_response(200, AGREEMENT_ACCEPTED),
                json_response(200, REFUSED),
            ]
        }
    )
    async with make_client(fake) as admin:
        clinician = admin.as_user(CLINICIAN)
        await clinician.accept_agreement(2, "Ada Okafor")
        with pytest.raises(DoseSpotRefused, match="not confirmed"):
            await clinician.accept_agreement(2, "Ada Okafor")
    sent = fake.calls("POST api/clinicians/acceptAgreement")[0]
    assert json.loads(sent.content) == {"AgreementId": 2, "NameSigned": "Ada Okafor"}
    # The body names no clinician: the token's user is the signer.
    assert [form["username"] for form in fake.token_forms()] == [str(CLINICIAN.user_id)]


@pytest.mark.parametrize(("agreement_id", "name"), [(0, "Ada Okafor"), (2, "  ")])
async def test_accept_agreement_refuses_bad_input_before_sending(agreement_id: int, name: str):
    fake = FakeDoseSpot()
    async with make_client(fake) as client:
        with pytest.raises(ValidationError):
            await client.accept_agreement(agreement_id, name)
    assert fake.requests == []


async def test_idp_init_posts_without_a_body_and_surfaces_refusals():
    route = "POST api/clinicians/3003/idpInit"
    fake = FakeDoseSpot({route: [json_response(200, CHECK), json_response(200, REFUSED)]})
    async with make_client(fake) as client:
        await client.idp_init(3003)
        with pytest.raises(DoseSpotRefused) as caught:
            await client.idp_init(3003)
    assert caught.value.description == "Clinician is not confirmed."
    assert fake.calls(route)[0].content == b""


async def test_init_tfa_activate_sends_the_tfa_type_by_name():
    route = "POST api/clinicians/3003/initTfaActivate"
    fake = FakeDoseSpot({route: [json_response(200, CHECK)]})
    async with make_client(fake) as client:
        await client.init_tfa_activate(3003)
        await client.init_tfa_activate(3003, TfaType.Token)
        await client.init_tfa_activate(3003, 3)  # type: ignore[arg-type]
    bodies = [json.loads(r.content) for r in fake.calls(route)]
    assert bodies == [{"TfaTypeId": "Mobile"}, {"TfaTypeId": "Token"}, {"TfaTypeId": "Token"}]
    assert (TfaType.Mobile.value, TfaType.Token.value) == (2, 3)


async def test_update_clinician_puts_the_whole_record():
    route = "PUT api/clinicians/3003"
    fake = FakeDoseSpot({route: [json_response(200, CHECK), json_response(200, REFUSED)]})
    async with make_client(fake) as client:
        await client.update_clinician(3003, clinician_create(last_name="Okafor-Ade"))
        with pytest.raises(DoseSpotRefused):
            await client.update_clinician(3003, clinician_create())
    body = json.loads(fake.calls(route)[0].content)
    assert body == {**clinician_create().to_body(), "LastName": "Okafor-Ade"}


async def test_deactivate_clinician_reads_the_record_and_changes_only_active():
    get, put = "GET api/clinicians/3003", "PUT api/clinicians/3003"
    fake = FakeDoseSpot(
        {get: [json_response(200, CLINICIAN_EDITED_IN_DOSESPOT)], put: [json_response(200, CHECK)]}
    )
    async with make_client(fake) as client:
        await client.deactivate_clinician(3003)
    assert [(r.method, r.url.path.rsplit("/", 2)[-2:]) for r in fake.requests[1:]] == [
        ("GET", ["clinicians", "3003"]),
        ("PUT", ["clinicians", "3003"]),
    ]
    held = Clinician.model_validate(CLINICIAN_EDITED_IN_DOSESPOT["Item"])
    body = json.loads(fake.calls(put)[0].content)
    assert body == {**ClinicianCreate.from_clinician(held).to_body(), "Active": False}
    assert (body["Prefix"], body["Suffix"], body["PDMPRoleType"]) == (
        "Dr.",
        "MD, PhD",
        "NursePractioner",
    )
    assert body["ClinicianSpecialtyType"] == "FamilyMedicine"
    assert [d["DEANumber"] for d in body["DEANumbers"]] == ["AO1234563", "AO7654321"]


async def test_update_clinician_fields_changes_only_the_fields_named():
    get, put = "GET api/clinicians/3003", "PUT api/clinicians/3003"
    fake = FakeDoseSpot(
        {get: [json_response(200, CLINICIAN_EDITED_IN_DOSESPOT)], put: [json_response(200, CHECK)]}
    )
    async with make_client(fake) as client:
        await client.update_clinician_fields(
            3003, email="ada.okafor@example.org", epcs_requested=False
        )
        with pytest.raises(ValueError, match="confirmed"):
            await client.update_clinician_fields(3003, confirmed=True)
    held = Clinician.model_validate(CLINICIAN_EDITED_IN_DOSESPOT["Item"])
    body = json.loads(fake.calls(put)[0].content)
    assert body == {
        **ClinicianCreate.from_clinician(held).to_body(),
        "Email": "ada.okafor@example.org",
        "EPCSRequested": False,
    }
    assert len(fake.calls(put)) == 1


async def test_deactivate_clinician_puts_nothing_when_the_read_fails():
    get, put = "GET api/clinicians/3003", "PUT api/clinicians/3003"
    fake = FakeDoseSpot({get: [json_response(200, REFUSED)], put: [json_response(200, CHECK)]})
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotRefused):
            await client.deactivate_clinician(3003)
    assert fake.calls(put) == []


async def test_a_record_that_cannot_be_restated_is_not_put_back_with_fields_dropped():
    item = {**CLINICIAN_EDITED_IN_DOSESPOT["Item"], "SpecialtyTypeId": 99}  # type: ignore[dict-item]
    get, put = "GET api/clinicians/3003", "PUT api/clinicians/3003"
    fake = FakeDoseSpot(
        {get: [json_response(200, {"Item": item, "Result": OK})], put: [json_response(200, CHECK)]}
    )
    async with make_client(fake) as client:
        with pytest.raises(DoseSpotUnexpectedResponse, match="ClinicianSpecialtyType") as caught:
            await client.deactivate_clinician(3003)
    assert caught.value.retryable is False
    assert fake.calls(put) == []


def test_edit_request_from_the_clinician_dosespot_holds():
    clinician = Clinician.model_validate(CLINICIAN_DETAIL["Item"])
    edit = ClinicianCreate.from_clinician(clinician)
    assert edit.to_body() == {
        **{
            key: value
            for key, value in dict(CLINICIAN_DETAIL["Item"]).items()  # type: ignore[call-overload]
            if key not in {"ClinicianId", "Roles", "Confirmed", "AccountLocked", "EpcsRequested"}
        },
        "NADEANumbers": [],
        "ClinicianRoleType": ["PrescribingClinician"],
        "EPCSRequested": True,
    }
