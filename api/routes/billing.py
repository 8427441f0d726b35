"""Billing: each verified clinician's subscription, the workspace's monthly total, charges."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.schemas import PathId, UtcDateTime
from db.billing import BillingCharge, BillingSubscription
from erx.money import money
from workflows.billing_models import BillingState

router = APIRouter(prefix="/v1/workspaces/{ws}/erx", tags=["billing"])

# Past-due clinicians still owe their seat; only deactivation takes one off the bill.
BILLABLE = (BillingState.active.value, BillingState.past_due.value)


class SubscriptionPublic(BaseModel):
    member_id: str
    status: str
    anchor: date
    next_charge_date: date | None
    periods_billed: int
    amount_cents: int | None
    last_error: str | None


class ChargePublic(BaseModel):
    member_id: str
    period_start: date
    amount_cents: int
    currency: str
    idempotency_key: str
    created_at: UtcDateTime


class BillingPublic(BaseModel):
    currency: str
    price_cents: int
    monthly_total_cents: int
    monthly_total: str
    subscriptions: list[SubscriptionPublic]
    charges: list[ChargePublic]


@router.get("/billing", response_model=BillingPublic)
async def get_billing(
    ws: PathId, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> BillingPublic:
    """Billed (active, past-due) subscriptions, the monthly total, and every charge so far."""
    principal.require_workspace(ws)
    subscriptions = (
        await session.scalars(
            select(BillingSubscription)
            .where(
                BillingSubscription.workspace_id == ws,
                BillingSubscription.status.in_(BILLABLE),
            )
            .order_by(BillingSubscription.member_id)
        )
    ).all()
    charges = (
        await session.scalars(
            select(BillingCharge)
            .where(BillingCharge.workspace_id == ws)
            .order_by(BillingCharge.period_start, BillingCharge.member_id)
        )
    ).all()
    price = settings.price_per_clinician_cents
    total = price * len(subscriptions)
    return BillingPublic(
        currency=settings.currency,
        price_cents=price,
        monthly_total_cents=total,
        monthly_total=money(total, settings.currency),
        subscriptions=[
            SubscriptionPublic(
                member_id=s.member_id,
                status=s.status,
                anchor=s.anchor,
                next_charge_date=s.next_charge_date,
                periods_billed=s.periods_billed,
                amount_cents=s.amount_cents,
                last_error=s.last_error,
            )
            for s in subscriptions
        ],
        charges=[
            ChargePublic(
                member_id=c.member_id,
                period_start=c.period_start,
                amount_cents=c.amount_cents,
                currency=c.currency,
                idempotency_key=c.idempotency_key,
                created_at=c.created_at,
            )
            for c in charges
        ],
    )
