"""The EHR's badge: PrescriberNotificationCounts pushes kept per clinician and clinic."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.counts import record_counts
from db.models import ClinicianEnrollment, ClinicRegistration
from erx.settings import Settings
from tests.conftest import WorkspaceKeys
from workflows.models import ClinicianStatus


def counts_push(clinician: int, clinic: int, pending: int, errors: int) -> dict[str, Any]:
    return {
        "EventType": "PrescriberNotificationCounts",
        "Data": {
            "ClinicianId": clinician,
            "ClinicId": clinic,
            "PendingPrescriptionCount": pending,
            "TransmissionErrorCount": errors,
            "RefillRequestCount": 1,
            "ChangeRequestCount": 0,
            "Total": {
                "PendingPrescriptionCount": pending,
                "TransmissionErrorCount": errors,
                "RefillRequestCount": 1,
                "ChangeRequestCount": 0,
            },
        },
    }


async def test_pushes_keep_the_badge_per_clinician_and_clinic(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clinician, clinic = random.randint(10**6, 10**7), random.randint(10**6, 10**7)
    async with sessionmaker() as session:
        session.add(
            ClinicRegistration(
                workspace_id=workspace.id,
                location_id="loc-main",
                status="registered",
                dosespot_clinic_id=clinic,
                clinic_name="Main",
                address_json="{}",
            )
        )
        session.add(
            ClinicianEnrollment(
                workspace_id=workspace.id,
                member_id=workspace.member_id,
                state="epcs_enabled",
                dosespot_clinician_id=clinician,
                status_json=ClinicianStatus(
                    workspace_id=workspace.id,
                    member_id=workspace.member_id,
                    state="epcs_enabled",
                    allowed_actions=["deactivate"],
                ).model_dump_json(),
            )
        )
        await session.commit()
    secret = {"Authorization": f"Secret {settings.dosespot_webhook_secret}"}
    badge = f"/v1/workspaces/{workspace.id}/erx/notifications"

    push = counts_push(clinician, clinic, pending=2, errors=1)
    assert (await api.post("/v1/dosespot/notifications", json=push, headers=secret)).is_success
    body = (await api.get(badge, headers=workspace.headers())).json()
    assert body["total"] == {
        "pending_prescriptions": 2,
        "transmission_errors": 1,
        "refill_requests": 1,
        "change_requests": 0,
        "total": 4,
    }
    assert body["clinicians"][0]["member_id"] == workspace.member_id
    assert body["clinicians"][0]["location_id"] == "loc-main"
    assert body["clinics"] == [{"location_id": "loc-main", "counts": body["total"]}]

    # The counts follow the pushes; a duplicate changes nothing.
    push = counts_push(clinician, clinic, pending=0, errors=1)
    for _ in range(2):
        await api.post("/v1/dosespot/notifications", json=push, headers=secret)
    body = (await api.get(badge, headers=workspace.headers())).json()
    assert body["total"]["pending_prescriptions"] == 0
    assert body["total"]["total"] == 2

    # An older observation (a poll answered before the push) never overwrites a newer one.
    async with sessionmaker() as session:
        await record_counts(
            session,
            workspace_id=workspace.id,
            clinician_id=clinician,
            clinic_id=clinic,
            pending_prescriptions=9,
            transmission_errors=9,
            refill_requests=9,
            change_requests=9,
            observed_at=datetime.now(UTC) - timedelta(minutes=5),
            source="poll",
        )
        await session.commit()
    body = (await api.get(badge, headers=workspace.headers())).json()
    assert body["total"]["total"] == 2

    # The clinician's own view carries theirs; a member key sees only its own badge.
    mine = (await api.get(badge, headers=workspace.headers("member"))).json()
    assert mine["total"]["total"] == 2
    admin_own = (await api.get(badge, headers=workspace.headers("admin"))).json()
    assert admin_own["total"]["total"] == 2  # an admin sees the workspace's

    # GET .../clinicians/{id} carries the clinician's counts, summed over their clinics.
    push = counts_push(clinician, clinic + 1, pending=3, errors=0)
    assert (await api.post("/v1/dosespot/notifications", json=push, headers=secret)).is_success
    one = await api.get(
        f"/v1/workspaces/{workspace.id}/erx/clinicians/{workspace.member_id}",
        headers=workspace.headers(),
    )
    assert one.status_code == 200, one.text
    assert one.json()["notification_counts"] == {
        "pending_prescriptions": 3,
        "transmission_errors": 1,
        "refill_requests": 2,
        "change_requests": 0,
        "total": 6,
    }


async def test_another_workspace_sees_nothing(
    api: httpx.AsyncClient, workspace: WorkspaceKeys, new_workspace: Any
) -> None:
    other = await new_workspace()
    resp = await api.get(
        f"/v1/workspaces/{workspace.id}/erx/notifications", headers=other.headers()
    )
    assert resp.status_code == 404
