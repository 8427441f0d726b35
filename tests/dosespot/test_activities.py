"""DoseSpot activities as Temporal runs them: rate limits, deactivation, the clinic scan.

The activities run in ``ActivityEnvironment`` with the real read model; DoseSpot is either
scripted (httpx.MockTransport) or the sandbox over HTTP.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.clinicians import ClinicianActivities
from activities.clinics import ClinicActivities
from activities.errors import dosespot_errors_as_application_errors
from db.models import ClinicRegistration, Location
from dosespot import (
    ClinicCreate,
    ClinicianCreate,
    DoseSpotClient,
    DoseSpotCredentials,
    DoseSpotRateLimited,
    PhoneType,
)
from dosespot_sandbox.testing import SandboxServer
from erx.codec import SecretBox
from erx.settings import Settings
from tests.conftest import WorkspaceKeys
from tests.contract.swagger import validate_request, validate_response
from tests.dosespot import (
    ADMIN,
    CLINICIAN_EDITED_IN_DOSESPOT,
    FakeDoseSpot,
    json_response,
    make_client,
)
from tests.sandbox import SUBSCRIPTION, get_token
from workflows.models import (
    KEY_MISSING,
    Address,
    ClinicianRef,
    ClinicStatus,
    DeactivateClinicianInput,
    EnsureClinicInput,
)

# Ids no sandbox clinic reaches, for registrations whose DoseSpot is scripted.
_scripted_clinic_ids = itertools.count(9_000_000 + uuid.uuid4().int % 1_000_000 * 10)


@pytest.fixture
def secrets(settings: Settings) -> SecretBox:
    return SecretBox(settings.codec_keys, settings.codec_active_key_id)


async def register_clinic(
    sessionmaker: async_sessionmaker[AsyncSession],
    secrets: SecretBox,
    workspace_id: str,
    clinic_id: int,
    clinic_key: str,
) -> None:
    """The read model's record of a clinic registered in DoseSpot, its key sealed."""
    key_id, blob = secrets.seal(clinic_key.encode())
    async with sessionmaker() as session:
        session.add(
            ClinicRegistration(
                workspace_id=workspace_id,
                location_id=f"loc-{clinic_id}",
                status=ClinicStatus.registered.value,
                dosespot_clinic_id=clinic_id,
                clinic_key_ciphertext=blob,
                clinic_key_key_id=key_id,
                clinic_name="Harbor Family Health",
                address_json=Address(
                    street_address="12 Wharf St.", city="Portland", state="ME", zip_code="04101"
                ).model_dump_json(),
            )
        )
        await session.commit()


def deactivation(workspace_id: str, clinic_id: int, clinician_id: int) -> DeactivateClinicianInput:
    return DeactivateClinicianInput(
        ref=ClinicianRef(
            workspace_id=workspace_id,
            member_id="m_ada",
            clinician_id=clinician_id,
            clinic_id=clinic_id,
        )
    )


# A 429 fails the activity at once, and Temporal waits as long as DoseSpot asked.


def test_rate_limit_becomes_a_retryable_application_error_with_the_delay():
    with pytest.raises(ApplicationError) as caught, dosespot_errors_as_application_errors():
        raise DoseSpotRateLimited("GET api/x: rate limited", request_id="r-1", retry_after=37.0)
    error = caught.value
    assert error.type == "DoseSpotRateLimited"
    assert error.non_retryable is False
    assert error.next_retry_delay == timedelta(seconds=37)
    assert error.details == ({"http_status": 429, "request_id": "r-1"},)


async def test_an_activity_that_meets_a_429_fails_with_next_retry_delay_from_retry_after(
    sessionmaker: async_sessionmaker[AsyncSession],
    secrets: SecretBox,
    settings: Settings,
    workspace: WorkspaceKeys,
):
    clinic_id = next(_scripted_clinic_ids)
    await register_clinic(sessionmaker, secrets, workspace.id, clinic_id, "clinic-key-abc")
    get, put = "GET api/clinicians/3003", "PUT api/clinicians/3003"
    fake = FakeDoseSpot(
        {
            get: [
                json_response(429, {}, {"Retry-After": "45"}),
                json_response(200, CLINICIAN_EDITED_IN_DOSESPOT),
            ],
            put: [json_response(200, {"Result": {"ResultCode": "OK"}})],
        }
    )
    async with make_client(fake) as client:
        activities = ClinicianActivities(client, sessionmaker, secrets, ADMIN.user_id)
        started = time.monotonic()
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(
                activities.deactivate, deactivation(workspace.id, clinic_id, 3003)
            )
        # The activity did not sit out the 45 s itself: Temporal's retry will.
        assert time.monotonic() - started < 5
        assert len(fake.calls(get)) == 1
        assert fake.calls(put) == []
        error = caught.value
        assert (error.type, error.non_retryable) == ("DoseSpotRateLimited", False)
        assert error.next_retry_delay == timedelta(seconds=45)

        # The retry Temporal makes after the delay goes through.
        await ActivityEnvironment().run(
            activities.deactivate, deactivation(workspace.id, clinic_id, 3003)
        )
    assert json.loads(fake.calls(put)[0].content)["Active"] is False


# Deactivation keeps what was edited in DoseSpot after enrollment (sandbox over HTTP).


def dosespot_user_edit(
    sandbox: SandboxServer, clinic_id: int, clinic_key: str, user_id: int, clinician_id: int
) -> dict[str, Any]:
    """Edit the clinician as a DoseSpot user would: read it, change some fields, put it."""
    token = get_token(sandbox.base_url, clinic_id, clinic_key, user_id)
    with httpx.Client(
        base_url=sandbox.api_url, headers={**SUBSCRIPTION, "Authorization": f"Bearer {token}"}
    ) as http:
        item = http.get(f"api/clinicians/{clinician_id}").json()["Item"]
        body = {
            key: value
            for key, value in item.items()
            if key not in {"ClinicianId", "Roles", "Confirmed", "AccountLocked", "EpcsRequested"}
            and key not in {"ClinicInfo", "SpecialtyTypeId"}
        }
        body.update(
            ClinicianRoleType=item["Roles"],
            EPCSRequested=item["EpcsRequested"],
            Prefix="Dr.",
            Suffix="DNP",
            PDMPRoleType="NursePractioner",
            ClinicianSpecialtyType="Psychiatry",
            DEANumbers=[
                *item["DEANumbers"],
                {"DEANumber": "BR7654321", "State": "NH", "ClinicId": str(clinic_id)},
            ],
        )
        validate_request("put", f"/api/clinicians/{clinician_id}", body)
        reply = http.put(f"api/clinicians/{clinician_id}", json=body).json()
        assert reply["Result"]["ResultCode"] == "OK", reply
        edited: dict[str, Any] = http.get(f"api/clinicians/{clinician_id}").json()["Item"]
    return edited


def read_clinician(
    sandbox: SandboxServer, clinic_id: int, clinic_key: str, user_id: int, clinician_id: int
) -> dict[str, Any]:
    token = get_token(sandbox.base_url, clinic_id, clinic_key, user_id)
    reply = httpx.get(
        f"{sandbox.api_url}api/clinicians/{clinician_id}",
        headers={**SUBSCRIPTION, "Authorization": f"Bearer {token}"},
    ).json()
    validate_response("get", f"/api/clinicians/{clinician_id}", reply)
    item: dict[str, Any] = reply["Item"]
    return item


_npis = itertools.count(1_700_000_001 + uuid.uuid4().int % 100_000 * 1000)


def new_clinician() -> ClinicianCreate:
    return ClinicianCreate(
        first_name="Ada",
        last_name="Okafor",
        date_of_birth=date(1980, 4, 1),
        email="ada@example.org",
        address1="12 Wharf St.",
        city="Portland",
        state="ME",
        zip_code="04101",
        primary_phone="2075550143",
        primary_phone_type=PhoneType.Work,
        primary_fax="2075550144",
        npi_number=str(next(_npis)),
        dea_numbers=[{"dea_number": "AO1234563", "state": "ME"}],  # type: ignore[list-item]
        roles=["PrescribingClinician"],  # type: ignore[list-item]
        epcs_requested=True,
        pdmp_role_type="Physician",  # type: ignore[arg-type]
    )


def harbor_clinic(name: str) -> ClinicCreate:
    return ClinicCreate(
        clinic_name=name,
        address1="12 Wharf St.",
        city="Portland",
        state="ME",
        zip_code="04101",
        primary_phone="2075550143",
        primary_phone_type=PhoneType.Work,
        primary_fax="2075550144",
    )


def kept_after_deactivation(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Only Active changed; an absent list and an empty one both say "none"."""

    def held(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "Active" and v != []}

    assert (before["Active"], after["Active"]) == (True, False)
    assert held(after) == held(before)


async def test_client_deactivation_keeps_fields_edited_in_dosespot(
    sandbox: SandboxServer, dosespot: DoseSpotClient, settings: Settings
):
    clinic = await dosespot.create_clinic(harbor_clinic(f"Harbor {uuid.uuid4().hex[:6]}"))
    admin = dosespot.as_user(
        DoseSpotCredentials(clinic.clinic_id, clinic.clinic_key, settings.dosespot_user_id)
    )
    clinician_id = await admin.create_clinician(new_clinician())
    who = (sandbox, clinic.clinic_id, clinic.clinic_key, settings.dosespot_user_id, clinician_id)
    edited = dosespot_user_edit(*who)
    assert (edited["Suffix"], edited["PDMPRoleType"]) == ("DNP", "NursePractioner")

    await admin.deactivate_clinician(clinician_id)

    after = read_clinician(*who)
    kept_after_deactivation(edited, after)
    assert after["Prefix"] == "Dr."
    assert after["SpecialtyTypeId"] == 11
    assert [d["DEANumber"] for d in after["DEANumbers"]] == ["AO1234563", "BR7654321"]


async def test_deactivate_activity_keeps_fields_edited_in_dosespot(
    sandbox: SandboxServer,
    dosespot: DoseSpotClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    secrets: SecretBox,
    workspace: WorkspaceKeys,
):
    clinic = await dosespot.create_clinic(harbor_clinic(f"Harbor {uuid.uuid4().hex[:6]}"))
    await register_clinic(sessionmaker, secrets, workspace.id, clinic.clinic_id, clinic.clinic_key)
    admin = dosespot.as_user(
        DoseSpotCredentials(clinic.clinic_id, clinic.clinic_key, settings.dosespot_user_id)
    )
    clinician_id = await admin.create_clinician(new_clinician())
    who = (sandbox, clinic.clinic_id, clinic.clinic_key, settings.dosespot_user_id, clinician_id)
    edited = dosespot_user_edit(*who)

    activities = ClinicianActivities(dosespot, sessionmaker, secrets, settings.dosespot_user_id)
    # An input from an older run still carries no form the activity would use.
    await ActivityEnvironment().run(
        activities.deactivate, deactivation(workspace.id, clinic.clinic_id, clinician_id)
    )

    after = read_clinician(*who)
    kept_after_deactivation(edited, after)
    assert (after["Prefix"], after["Suffix"]) == ("Dr.", "DNP")
    assert after["PDMPRoleType"] == "NursePractioner"


# The partner-clinic scan heartbeats per clinic.


async def test_ensure_clinic_heartbeats_while_it_scans_the_partner_clinics(
    dosespot: DoseSpotClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    secrets: SecretBox,
    workspace: WorkspaceKeys,
):
    name = f"Scan Practice {uuid.uuid4().hex[:6]}"
    for other in ("North", "South"):
        await dosespot.create_clinic(harbor_clinic(f"{name} {other}"))
    # An earlier attempt created the clinic and died before recording it.
    created = await dosespot.create_clinic(harbor_clinic(name))
    async with sessionmaker() as session:
        session.add(
            Location(
                workspace_id=workspace.id,
                id="loc-scan",
                name=name,
                address1="12 Wharf St.",
                city="Portland",
                state="ME",
                zip_code="04101",
                phone="+12075550143",
                fax="+12075550144",
            )
        )
        session.add(
            ClinicRegistration(
                workspace_id=workspace.id,
                location_id="loc-scan",
                status="creating",
                clinic_name=name,
                address_json=Address(
                    street_address="12 Wharf St.", city="Portland", state="ME", zip_code="04101"
                ).model_dump_json(),
            )
        )
        await session.commit()
    partner_clinics = await dosespot.clinician_clinic_ids(settings.dosespot_user_id)
    assert created.clinic_id in partner_clinics

    heartbeats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    activities = ClinicActivities(dosespot, sessionmaker, secrets, settings.dosespot_user_id)
    record = await env.run(
        activities.ensure_clinic,
        EnsureClinicInput(workspace_id=workspace.id, location_id="loc-scan"),
    )

    assert (record.dosespot_clinic_id, record.blocked_reason) == (created.clinic_id, KEY_MISSING)
    # Clinics other workspaces hold are not scanned; every other one up to the match is.
    async with sessionmaker() as session:
        claimed = set(
            await session.scalars(
                select(ClinicRegistration.dosespot_clinic_id).where(
                    ClinicRegistration.workspace_id != workspace.id
                )
            )
        )
    scan = [i for i in partner_clinics if i not in claimed]
    up_to_match = scan[: scan.index(created.clinic_id) + 1]
    assert len(up_to_match) >= 3
    assert heartbeats == [
        ({"scanned": n, "total": len(scan)},) for n in range(1, len(up_to_match) + 1)
    ]
