"""Every moment the API answers with carries its offset and is in UTC, on SQLite (which
keeps no offset) as on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, get_args, get_origin

import httpx
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.openapi import _api_routes
from api.schemas import UtcDateTime, _as_utc
from db.billing import BillingCharge
from db.models import ClinicianEnrollment
from erx.settings import Settings
from tests.conftest import WorkspaceKeys

VERIFIED = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 11, 28, 9, 30, 0, tzinfo=UTC)
CHARGED = datetime(2026, 11, 27, 10, 5, 0, tzinfo=UTC)


def aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"{text} has no offset"
    return moment


async def test_clinician_list_and_billing_times_carry_their_offset(
    api: httpx.AsyncClient,
    workspace: WorkspaceKeys,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        session.add(
            ClinicianEnrollment(
                workspace_id=workspace.id,
                member_id=workspace.member_id,
                state="verified",
                idp_deadline=DEADLINE,
                verified_at=VERIFIED,
            )
        )
        session.add(
            BillingCharge(
                id=uuid.uuid4().hex,
                idempotency_key=f"{workspace.id}:{workspace.member_id}:2026-11",
                workspace_id=workspace.id,
                member_id=workspace.member_id,
                period_start=date(2026, 11, 27),
                amount_cents=3900,
                currency="USD",
                description="eRx seat",
                created_at=CHARGED,
            )
        )
        await session.commit()
    base = f"/v1/workspaces/{workspace.id}/erx"

    listing = await api.get(f"{base}/clinicians", headers=workspace.headers())
    assert listing.status_code == 200, listing.text
    [item] = listing.json()["items"]
    assert aware(item["verified_at"]) == VERIFIED
    assert aware(item["idp_deadline"]) == DEADLINE

    billing = await api.get(f"{base}/billing", headers=workspace.headers())
    assert billing.status_code == 200, billing.text
    [charge] = billing.json()["charges"]
    assert aware(charge["created_at"]) == CHARGED


def test_a_moment_is_answered_in_utc_with_its_offset() -> None:
    adapter = TypeAdapter(UtcDateTime)
    naive = adapter.validate_python(datetime(2026, 11, 27, 10, 0))
    assert adapter.dump_json(naive) == b'"2026-11-27T10:00:00Z"'
    elsewhere = datetime(2026, 11, 27, 5, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert adapter.dump_json(adapter.validate_python(elsewhere)) == b'"2026-11-27T10:00:00Z"'


def _moments(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    """Dotted names of the model's datetime fields that are not UtcDateTime, nested too."""
    if model in seen or model.__module__.startswith("workflows."):
        # Workflow models carry workflow.now(), which is always UTC with its offset.
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        declared_utc = _as_utc in [getattr(m, "func", None) for m in field.metadata]
        if _naive(field.annotation) and not (field.annotation is datetime and declared_utc):
            yield f"{model.__name__}.{name}"
        for part in _parts(field.annotation):
            if isinstance(part, type) and issubclass(part, BaseModel):
                yield from (f"{model.__name__}.{name}>{m}" for m in _moments(part, seen))


def _naive(annotation: Any) -> bool:
    """Whether the annotation holds a datetime without UtcDateTime's validator."""
    if annotation is datetime:
        return True
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        if base is datetime:
            return _as_utc not in [getattr(m, "func", None) for m in metadata]
        return _naive(base)
    return any(_naive(arg) for arg in get_args(annotation))


def _parts(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in get_args(annotation):
        yield from _parts(arg)


def test_every_moment_in_a_response_model_is_utc_datetime() -> None:
    app = create_app(Settings(environment="test"))
    seen: set[type[BaseModel]] = set()
    naive: list[str] = []
    models = [r.response_model for r in _api_routes(app.routes)]
    for model in models:
        for part in _parts(model):
            if isinstance(part, type) and issubclass(part, BaseModel):
                naive.extend(_moments(part, seen))
    assert seen, "no response model was found"
    assert naive == []
