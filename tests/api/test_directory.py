"""Locations and members: validation, roles, tenant isolation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.conftest import WorkspaceKeys

LOCATION = {
    "name": "Sunrise Family Practice",
    "street_address": "350 Fifth Avenue",
    "suburb": "Suite 4100",
    "city": "New York",
    "state": "NY",
    "zip_code": "10118",
    "phone": "+1 212 736 5000",
    "fax": "+1 (212) 736-5001",
}


async def test_put_location_normalises_and_round_trips(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/locations/loc-1",
        json={**LOCATION, "state": "ny"},
        headers=workspace.headers(),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["state"] == "NY"
    assert body["phone"] == "+12127365000"
    assert body["fax"] == "+12127365001"
    assert body["country"] == "US"


@pytest.mark.parametrize(
    ("patch", "field", "reason"),
    [
        ({"state": "XX"}, "state", "not a US state"),
        ({"zip_code": "1234"}, "zip_code", "5-digit ZIP"),
        ({"zip_code": "12345-67"}, "zip_code", "5-digit ZIP"),
        ({"phone": "212 736 5000"}, "phone", "+1"),
        ({"phone": "+1 555 736 5000"}, "phone", "555"),
        ({"phone": "+1 055 736 5000"}, "phone", "cannot start with 0 or 1"),
        ({"phone": "+1 155 736 5000"}, "phone", "cannot start with 0 or 1"),
        ({"country": "CA"}, "country", "'US'"),
        ({"street_address": "x" * 36}, "street_address", "35 characters"),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)
async def test_bad_location_is_422_naming_field_and_reason(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, patch: dict, field: str, reason: str
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/locations/loc-bad",
        json={**LOCATION, **patch},
        headers=workspace.headers(),
    )
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
    # Nothing was written.
    members = await api.get(f"/v1/workspaces/{workspace.id}/members", headers=workspace.headers())
    assert members.status_code == 200


async def test_missing_required_field_is_named(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    body = {k: v for k, v in LOCATION.items() if k != "city"}
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/locations/loc-x", json=body, headers=workspace.headers()
    )
    assert resp.status_code == 422
    assert {"field": "city", "reason": "field required"} in resp.json()["errors"]


async def test_members_search(api: httpx.AsyncClient, workspace: WorkspaceKeys) -> None:
    for member_id, first, last, title in [
        ("m_1", "Mary", "Shelley", "Psychiatrist"),
        ("m_2", "Percy", "Shelley", "Therapist"),
        ("m_3", "John", "Keats", "Physician"),
    ]:
        resp = await api.put(
            f"/v1/workspaces/{workspace.id}/members/{member_id}",
            json={
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower()}@example.com",
                "job_title": title,
            },
            headers=workspace.headers(),
        )
        assert resp.status_code == 200, resp.text
    found = await api.get(
        f"/v1/workspaces/{workspace.id}/members",
        params={"search": "shelley"},
        headers=workspace.headers(),
    )
    assert [m["id"] for m in found.json()["items"]] == ["m_1", "m_2"]
    by_title = await api.get(
        f"/v1/workspaces/{workspace.id}/members",
        params={"search": "physician"},
        headers=workspace.headers(),
    )
    assert [m["id"] for m in by_title.json()["items"]] == ["m_3"]
    by_full_name = await api.get(
        f"/v1/workspaces/{workspace.id}/members",
        params={"search": "john keats"},
        headers=workspace.headers(),
    )
    assert by_full_name.json()["count"] == 1


async def test_bad_member_email_is_422(api: httpx.AsyncClient, workspace: WorkspaceKeys) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/members/m_9",
        json={"first_name": "A", "last_name": "B", "email": "not-an-email"},
        headers=workspace.headers(),
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "email"


async def test_other_workspace_is_404_and_no_key_is_401(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    new_workspace: Callable[[], Awaitable[WorkspaceKeys]],
) -> None:
    other = await new_workspace()
    resp = await api.put(
        f"/v1/workspaces/{other.id}/locations/loc-1", json=LOCATION, headers=workspace.headers()
    )
    assert resp.status_code == 404
    resp = await api.get(f"/v1/workspaces/{other.id}/erx", headers=workspace.headers())
    assert resp.status_code == 404
    resp = await api.get(f"/v1/workspaces/{workspace.id}/members")
    assert resp.status_code == 401
    resp = await api.get(
        f"/v1/workspaces/{workspace.id}/members", headers={"Authorization": "Bearer erx_nope"}
    )
    assert resp.status_code == 401


async def test_member_key_cannot_edit_directory(
    api: httpx.AsyncClient, workspace: WorkspaceKeys
) -> None:
    resp = await api.put(
        f"/v1/workspaces/{workspace.id}/locations/loc-1",
        json=LOCATION,
        headers=workspace.headers("member"),
    )
    assert resp.status_code == 403


async def test_health(api: httpx.AsyncClient, worker: object) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
