"""Money is written one way: the billing and invitation answers agree to the character."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from api.routes import billing
from db.billing import BillingSubscription
from erx.money import money
from erx.settings import Settings
from tests.conftest import WorkspaceKeys
from workflows.billing_models import BillingState


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (0, "USD", "$0.00"),
        (5, "USD", "$0.05"),
        (7800, "USD", "$78.00"),
        (123_400, "USD", "$1,234.00"),
        (123_456_789, "USD", "$1,234,567.89"),
        (-3900, "USD", "-$39.00"),
        (123_400, "EUR", "EUR 1,234.00"),
    ],
)
def test_money_text(cents: int, currency: str, text: str) -> None:
    assert money(cents, currency) == text


@pytest.fixture
async def pricey_api(settings: Settings, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The API at a price whose monthly total for two clinicians needs a thousands separator."""
    app = create_app(
        settings.model_copy(update={"price_per_clinician_cents": 61_700}), temporal=temporal
    )
    if not any(getattr(r, "path", "") == "/v1/workspaces/{ws}/erx/billing" for r in app.routes):
        app.include_router(billing.router)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as client,
    ):
        yield client


async def test_billing_and_invitations_write_the_same_amount_the_same_way(
    pricey_api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    members = [workspace.admin_member_id, workspace.member_id]
    async with sessionmaker() as session:
        for member_id in members:
            session.add(
                BillingSubscription(
                    workspace_id=workspace.id,
                    member_id=member_id,
                    status=BillingState.active.value,
                    anchor=date(2026, 11, 27),
                    periods_billed=1,
                    amount_cents=61_700,
                    currency="USD",
                )
            )
        await session.commit()

    bill = await pricey_api.get(
        f"/v1/workspaces/{workspace.id}/erx/billing", headers=workspace.headers()
    )
    preview = await pricey_api.post(
        f"/v1/workspaces/{workspace.id}/erx/invitations/preview",
        json={"member_ids": members},
        headers=workspace.headers(),
    )
    assert bill.status_code == 200, bill.text
    assert preview.status_code == 200, preview.text
    assert bill.json()["monthly_total_cents"] == preview.json()["monthly_total_cents"] == 123_400
    assert bill.json()["monthly_total"] == preview.json()["monthly_total"] == "$1,234.00"
