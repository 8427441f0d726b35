"""Billing activities: the price, the charge (through a billing provider), the read model."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.billing import BillingCharge, BillingSubscription
from db.upsert import upsert
from erx.settings import Settings
from workflows.billing_models import BillingRecord, ChargeRequest, ChargeResult, Price


class BillingProviderError(Exception):
    """The provider could not take the charge; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class BillingProvider(Protocol):
    async def charge(
        self,
        key: str,
        amount_cents: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        """Charge once per ``key``: a repeated key returns the first charge (created=False).

        ``metadata`` names what is charged (workspace_id, member_id, period_start), no PHI.
        Raises BillingProviderError.
        """
        ...


class LedgerBillingProvider:
    """Charges recorded in our own database, one row per idempotency key."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def charge(
        self,
        key: str,
        amount_cents: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        charge_id = f"ch_{uuid.uuid4().hex}"
        values: dict[str, Any] = {
            "id": charge_id,
            "idempotency_key": key,
            "workspace_id": metadata["workspace_id"],
            "member_id": metadata["member_id"],
            "period_start": date.fromisoformat(metadata["period_start"]),
            "amount_cents": amount_cents,
            "currency": currency,
            "description": description,
        }
        try:
            async with self._sessionmaker() as session:
                dialect = session.get_bind().dialect.name
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                # A concurrent insert of the same key waits for the first to commit, then
                # does nothing; the select below then reads the one row that exists.
                await session.execute(
                    insert(BillingCharge)
                    .values(**values)
                    .on_conflict_do_nothing(index_elements=["idempotency_key"])
                )
                existing = await session.scalar(
                    select(BillingCharge.id).where(BillingCharge.idempotency_key == key)
                )
                await session.commit()
        except SQLAlchemyError as err:
            raise BillingProviderError(f"the ledger is unavailable: {type(err).__name__}") from err
        if existing is None:
            raise BillingProviderError("the ledger lost the charge it just wrote")
        return ChargeResult(charge_id=existing, created=existing == charge_id)


class BillingActivities:
    def __init__(
        self,
        provider: BillingProvider,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self._provider = provider
        self._sessionmaker = sessionmaker
        self._settings = settings

    @activity.defn(name="current_price")
    async def current_price(self) -> Price:
        """The monthly price per clinician now in force; read when each period starts."""
        return Price(
            amount_cents=self._settings.price_per_clinician_cents,
            currency=self._settings.currency,
        )

    @activity.defn(name="charge_period")
    async def charge_period(self, request: ChargeRequest) -> ChargeResult:
        """Charge one period; the idempotency key makes every retry safe."""
        description = f"eRx prescriber, monthly period from {request.period_start.isoformat()}"
        try:
            result = await self._provider.charge(
                request.idempotency_key,
                request.amount_cents,
                request.currency,
                description,
                {
                    "workspace_id": request.workspace_id,
                    "member_id": request.member_id,
                    "period": str(request.period),
                    "period_start": request.period_start.isoformat(),
                },
            )
        except BillingProviderError as err:
            raise ApplicationError(
                err.message, type="BillingProviderError", non_retryable=not err.retryable
            ) from err
        if not result.created:
            activity.logger.info("period already charged as %s", result.charge_id)
        return result

    @activity.defn(name="record_billing")
    async def record_billing(self, record: BillingRecord) -> None:
        """Show the subscription's current state in the read model."""
        async with self._sessionmaker() as session:
            await upsert(
                session,
                BillingSubscription,
                {**record.model_dump(), "status": record.status.value},
            )
            await session.commit()


def billing_activities(
    provider: BillingProvider,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> list[Callable[..., Any]]:
    """Every billing activity, ready for a worker's ``activities=[...]``."""
    billing = BillingActivities(provider, sessionmaker, settings)
    return [billing.current_price, billing.charge_period, billing.record_billing]
