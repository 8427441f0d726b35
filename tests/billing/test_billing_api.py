"""GET /v1/workspaces/{ws}/erx/billing against subscriptions billed by the real workflow."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.routes import billing
from erx.settings import Settings
from tests.billing.conftest import (
    advance_until,
    billing_status,
    billing_worker,
    ledger,
    start_billing,
)
from tests.conftest import WorkspaceKeys
from workflows.billing_models import BillingDeactivate, BillingState
from workflows.clinician_billing import ClinicianBillingWorkflow


@pytest.fixture(scope="module")
async def api(
    settings: Settings, time_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=time_env.client)
    if not any(getattr(r, "path", "") == "/v1/workspaces/{ws}/erx/billing" for r in app.routes):
        app.include_router(billing.router)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as client,
    ):
        yield client


async def test_monthly_total_matches_the_ledger(
    api: httpx.AsyncClient,
    new_workspace: Callable[[], Awaitable[WorkspaceKeys]],
    time_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    workspace = await new_workspace()
    other = await new_workspace()
    members = ["m_ada", "m_grace", "m_leaving"]
    anchor = (await time_env.get_current_time()).date()
    async with billing_worker(time_env, sessionmaker, settings) as queue:
        handles = [await start_billing(time_env, queue, workspace.id, m, anchor) for m in members]
        leaving = handles[-1]

        async def settled() -> bool:
            states = [await billing_status(h) for h in handles]
            return all(s.periods_billed == 1 for s in states)

        await advance_until(time_env, settled)
        await leaving.signal(
            ClinicianBillingWorkflow.deactivate,
            BillingDeactivate(effective_at=await time_env.get_current_time()),
        )

        async def left() -> bool:
            state = await billing_status(leaving)
            return state.status == BillingState.deactivated

        await advance_until(time_env, left)
        for handle in handles:
            await handle.terminate()

    resp = await api.get(f"/v1/workspaces/{workspace.id}/erx/billing", headers=workspace.headers())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["currency"], body["price_cents"]) == ("USD", 3900)
    assert (body["monthly_total_cents"], body["monthly_total"]) == (7800, "$78.00")
    assert [(s["member_id"], s["status"]) for s in body["subscriptions"]] == [
        ("m_ada", "active"),
        ("m_grace", "active"),
    ]
    assert {s["periods_billed"] for s in body["subscriptions"]} == {1}
    assert sorted(c["member_id"] for c in body["charges"]) == members

    # This month's ledger rows of the billed clinicians add up to the monthly total.
    billed = {s["member_id"] for s in body["subscriptions"]}
    this_month = [
        c
        for m in sorted(billed)
        for c in await ledger(sessionmaker, workspace.id, m)
        if c.period_start == anchor
    ]
    assert sum(c.amount_cents for c in this_month) == body["monthly_total_cents"]

    as_member = await api.get(
        f"/v1/workspaces/{workspace.id}/erx/billing", headers=workspace.headers("member")
    )
    assert as_member.status_code == 200
    assert as_member.json()["monthly_total"] == "$78.00"

    elsewhere = await api.get(f"/v1/workspaces/{workspace.id}/erx/billing", headers=other.headers())
    assert elsewhere.status_code == 404
    empty = (
        await api.get(f"/v1/workspaces/{other.id}/erx/billing", headers=other.headers())
    ).json()
    assert (empty["monthly_total"], empty["subscriptions"], empty["charges"]) == ("$0.00", [], [])
