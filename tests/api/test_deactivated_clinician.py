"""A deactivated clinician's enrollment has ended: every later action answers 409
"deactivated" (the state a client can act on), never 404 "not invited"."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import Client

from api import clinician_service
from tests.api.test_clinician_journey import Journey, enrollment_form, valid_npi

ACTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/verification", {}),
    ("POST", "/two-factor", {}),
    ("POST", "/epcs-approvals", {}),
    ("POST", "/retry", {}),
    ("DELETE", "", {}),
    ("PUT", "/enrollment", {"json": enrollment_form(valid_npi())}),
]


@pytest.fixture
async def deactivated(journey: Journey, temporal: Client) -> Journey:
    """m_ada invited, then deactivated, her enrollment workflow run to its end."""
    j = journey
    await j.register_clinic()
    await j.invite("m_ada")
    gone = await j.api.delete(f"{j.base}/erx/clinicians/m_ada", headers=j.headers("admin"))
    assert gone.status_code == 200 and gone.json()["state"] == "deactivated", gone.text
    handle = clinician_service.handle_for(temporal, j.ws.id, "m_ada")
    await asyncio.wait_for(handle.result(), timeout=20)
    return j


@pytest.mark.parametrize(("method", "path", "kwargs"), ACTIONS)
async def test_actions_on_a_deactivated_clinician_answer_409_deactivated(
    deactivated: Journey, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    j = deactivated
    resp = await j.api.request(
        method, f"{j.base}/erx/clinicians/m_ada{path}", headers=j.headers("admin"), **kwargs
    )
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["error"] == "conflict" and "deactivated" in body["detail"], body
    assert body["state"] == "deactivated" and body["allowed_actions"] == [], body


async def test_a_deactivated_clinician_reads_as_deactivated_and_the_uninvited_as_404(
    deactivated: Journey,
) -> None:
    j = deactivated
    read = await j.api.get(f"{j.base}/erx/clinicians/m_ada", headers=j.headers("admin"))
    assert read.status_code == 200 and read.json()["state"] == "deactivated", read.text
    never = await j.api.post(
        f"{j.base}/erx/clinicians/m_admin/verification", headers=j.headers("admin")
    )
    assert never.status_code == 404, never.text
    assert never.json()["detail"] == "this member has not been invited to eRx"
