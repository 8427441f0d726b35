"""Clinic registration end to end: API -> ClinicSetup workflow -> DoseSpot sandbox over HTTP."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from db.models import ClinicRegistration
from dosespot import Clinic, DoseSpotClient
from dosespot.errors import DoseSpotRateLimited
from tests.api.test_directory import LOCATION
from tests.conftest import WorkspaceKeys
from workflows.clinic_setup import clinic_setup_workflow_id


def unique_location(location_id: str = "loc-main") -> dict[str, str]:
    # Clinic look-ups match on name and address, so each test's practice is its own.
    return {**LOCATION, "id": location_id, "name": f"Practice {uuid.uuid4().hex[:8]}"}


T = TypeVar("T")
# Every clinic the partner's sandbox has shown, per client: each is read once a session.
_CLINICS_SEEN: weakref.WeakKeyDictionary[DoseSpotClient, dict[int, Clinic]] = (
    weakref.WeakKeyDictionary()
)


async def _as_dosespot_allows(call: Callable[[], Awaitable[T]]) -> T:
    """The call, waiting as long as a 429 asks (DoseSpot counts calls per 10 s)."""
    for _ in range(5):
        try:
            return await call()
        except DoseSpotRateLimited as err:
            await asyncio.sleep(err.retry_after or 10)
    return await call()


async def dosespot_clinics_named(dosespot: DoseSpotClient, name: str) -> list[Clinic]:
    """The partner's DoseSpot clinics with this name, read through DoseSpot's own API.

    The suite's whole sandbox keeps growing, so each clinic is read once (names are unique to
    the test that made them and never change), within DoseSpot's rate limits."""
    ids = await _as_dosespot_allows(
        lambda: dosespot.clinician_clinic_ids(dosespot.credentials.user_id)
    )
    seen = _CLINICS_SEEN.setdefault(dosespot, {})
    for clinic_id in ids:
        if clinic_id not in seen:
            seen[clinic_id] = await _as_dosespot_allows(partial(dosespot.get_clinic, clinic_id))
    return [seen[clinic_id] for clinic_id in ids if seen[clinic_id].clinic_name == name]


async def test_setup_registers_clinic_and_reports_step_two(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    worker: Worker,
    temporal: Client,
    sandbox_http: httpx.AsyncClient,
    dosespot: DoseSpotClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    location = unique_location()
    before = await api.get(f"/v1/workspaces/{workspace.id}/erx", headers=workspace.headers())
    assert before.json()["active_step"] == 1

    resp = await api.post(
        f"/v1/workspaces/{workspace.id}/erx/setup",
        json={"location": location},
        headers=workspace.headers(),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "registered"
    assert body["clinic"]["name"] == location["name"]

    progress = (
        await api.get(f"/v1/workspaces/{workspace.id}/erx", headers=workspace.headers("member"))
    ).json()
    assert progress["active_step"] == 2
    assert [s["state"] for s in progress["steps"]] == ["done", "active", "pending", "pending"]
    assert [s["name"] for s in progress["steps"]] == [
        "Create workspace",
        "Invite clinicians",
        "Clinicians verify",
        "Ready to prescribe",
    ]
    assert progress["clinic"]["name"] == location["name"]
    assert progress["clinic"]["address"] == {
        "street_address": "350 Fifth Avenue",
        "suburb": "Suite 4100",
        "city": "New York",
        "state": "NY",
        "zip_code": "10118",
        "country": "US",
    }

    # DoseSpot has exactly this clinic, with the location's data in DoseSpot's format.
    [clinic] = await dosespot_clinics_named(dosespot, location["name"])
    assert clinic.primary_phone == "2127365000"
    assert clinic.zip_code == "10118"

    # The read model holds the DoseSpot id and the ClinicKey only encrypted.
    async with sessionmaker() as session:
        row = await session.get(ClinicRegistration, (workspace.id, "loc-main"))
    assert row is not None and row.dosespot_clinic_id == clinic.clinic_id
    assert row.clinic_key_ciphertext and b"Clinic" not in row.clinic_key_ciphertext

    # Visible to admins in Temporal: running, with workspace and stage search attributes.
    handle = temporal.get_workflow_handle(clinic_setup_workflow_id(workspace.id))
    desc = await handle.describe()
    assert desc.status is not None and desc.status.name == "RUNNING"
    found = [
        wf
        async for wf in temporal.list_workflows(
            f"ErxWorkspace = '{workspace.id}' AND ErxStage = 'inviting'"
        )
    ]
    for _ in range(50):
        if found:
            break
        await asyncio.sleep(0.2)
        found = [
            wf
            async for wf in temporal.list_workflows(
                f"ErxWorkspace = '{workspace.id}' AND ErxStage = 'inviting'"
            )
        ]
    assert [wf.id for wf in found] == [clinic_setup_workflow_id(workspace.id)]


async def test_repeated_and_concurrent_setup_make_one_clinic(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    worker: Worker,
    sandbox_http: httpx.AsyncClient,
    dosespot: DoseSpotClient,
) -> None:
    location = unique_location()
    url = f"/v1/workspaces/{workspace.id}/erx/setup"
    first, second = await asyncio.gather(
        api.post(url, json={"location": location}, headers=workspace.headers()),
        api.post(url, json={"location": location}, headers=workspace.headers()),
    )
    third = await api.post(url, json={"location_id": "loc-main"}, headers=workspace.headers())
    assert {first.status_code, second.status_code, third.status_code} == {200}
    ids = {r.json()["clinic"]["location_id"] for r in (first, second, third)}
    assert ids == {"loc-main"}
    assert len(await dosespot_clinics_named(dosespot, location["name"])) == 1


async def test_dosespot_timeout_after_create_makes_no_second_clinic(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    worker: Worker,
    sandbox_http: httpx.AsyncClient,
    dosespot: DoseSpotClient,
) -> None:
    location = unique_location()
    # DoseSpot creates the clinic, then answers too late: our 3 s client timeout fires.
    resp = await sandbox_http.put(
        "/_sandbox/faults",
        json={
            "rules": [
                {
                    "method": "POST",
                    "path": "api/clinics",
                    "kind": "timeout_after_commit",
                    "times": 1,
                    "delay_seconds": 5,
                }
            ]
        },
    )
    assert resp.status_code == 200, resp.text
    setup = await api.post(
        f"/v1/workspaces/{workspace.id}/erx/setup",
        json={"location": location},
        headers=workspace.headers(),
    )
    assert setup.status_code == 200, setup.text
    clinics = await dosespot_clinics_named(dosespot, location["name"])
    assert len(clinics) == 1
    body = setup.json()
    # The retry found the clinic instead of creating a twin; its key never arrived.
    assert body["clinic"]["status"] == "blocked"
    assert body["clinic"]["blocked_reason"] == "clinic_key_missing"
    progress = (
        await api.get(f"/v1/workspaces/{workspace.id}/erx", headers=workspace.headers())
    ).json()
    assert progress["blocked_reason"] == "clinic_key_missing"
    assert progress["active_step"] == 1

    # An admin enters the key DoseSpot support gives: a wrong one is refused by DoseSpot.
    key_url = f"/v1/workspaces/{workspace.id}/erx/clinics/loc-main/clinic-key"
    wrong = await api.put(
        key_url, json={"clinic_key": "WrongKey0123456789abcdef"}, headers=workspace.headers("admin")
    )
    assert wrong.status_code == 200, wrong.text
    assert wrong.json()["clinic"]["blocked_reason"] == "clinic_key_invalid"
    support = await sandbox_http.get(f"/_sandbox/clinics/{clinics[0].clinic_id}")
    right = await api.put(
        key_url,
        json={"clinic_key": support.json()["ClinicKey"]},
        headers=workspace.headers("admin"),
    )
    assert right.status_code == 200, right.text
    assert right.json()["status"] == "registered"
    assert right.json()["progress"]["active_step"] == 2
    assert len(await dosespot_clinics_named(dosespot, location["name"])) == 1
    # Once registered, the key cannot be replaced through this route.
    again = await api.put(
        key_url, json={"clinic_key": "WrongKey0123456789abcdef"}, headers=workspace.headers("admin")
    )
    assert again.status_code == 409
    bad = await api.put(key_url, json={"clinic_key": "short"}, headers=workspace.headers("admin"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "clinic_key"


async def test_dosespot_outage_is_retried_until_the_clinic_exists(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    worker: Worker,
    sandbox_http: httpx.AsyncClient,
    dosespot: DoseSpotClient,
) -> None:
    location = unique_location()
    await sandbox_http.put(
        "/_sandbox/faults",
        json={
            "rules": [{"method": "POST", "path": "api/clinics", "kind": "error_5xx", "times": 2}]
        },
    )
    setup = await api.post(
        f"/v1/workspaces/{workspace.id}/erx/setup",
        json={"location": location},
        headers=workspace.headers(),
    )
    assert setup.status_code == 200, setup.text
    assert setup.json()["status"] == "registered"
    assert len(await dosespot_clinics_named(dosespot, location["name"])) == 1


async def test_bad_setup_input_starts_nothing(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    worker: Worker,
    temporal: Client,
    sandbox_http: httpx.AsyncClient,
    dosespot: DoseSpotClient,
) -> None:
    url = f"/v1/workspaces/{workspace.id}/erx/setup"
    cases = [
        ({"location": {**unique_location(), "state": "XX"}}, "location.state"),
        ({"location": {**unique_location(), "zip_code": "1234"}}, "location.zip_code"),
        ({"location": {**unique_location(), "phone": "2127365000"}}, "location.phone"),
        ({"location": {**unique_location(), "phone": "+1 555 736 5000"}}, "location.phone"),
        ({"location": {**unique_location(), "extra": 1}}, "location.extra"),
        ({"location_id": "loc-missing"}, "location_id"),
        ({}, "body"),
    ]
    for body, field in cases:
        resp = await api.post(url, json=body, headers=workspace.headers())
        assert resp.status_code == 422, (body, resp.text)
        errors = resp.json()["errors"]
        assert any(e["field"] == field for e in errors), (field, errors)
        assert all(e["reason"] for e in errors)
    members = await api.get(f"/v1/workspaces/{workspace.id}/erx", headers=workspace.headers())
    assert members.json()["active_step"] == 1
    started = [
        wf
        async for wf in temporal.list_workflows(
            f"WorkflowId = '{clinic_setup_workflow_id(workspace.id)}'"
        )
    ]
    assert started == []


async def test_member_cannot_start_setup(api: httpx.AsyncClient, workspace: WorkspaceKeys) -> None:
    resp = await api.post(
        f"/v1/workspaces/{workspace.id}/erx/setup",
        json={"location": unique_location()},
        headers=workspace.headers("member"),
    )
    assert resp.status_code == 403
