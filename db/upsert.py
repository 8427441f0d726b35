"""INSERT ... ON CONFLICT DO UPDATE on PostgreSQL and SQLite, so concurrent PUTs never race."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from db.models import utcnow


async def upsert(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    where: Callable[[Any], Any] | None = None,
) -> None:
    """Insert the row, or update it; with ``where`` (given the proposed row, ``excluded``),
    an existing row is updated only where that condition holds."""
    table: Table = model.__table__  # type: ignore[assignment]
    keys = [c.name for c in table.primary_key.columns]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values)
    updates: dict[str, Any] = {k: stmt.excluded[k] for k in values if k not in keys}
    if "updated_at" in table.c and "updated_at" not in values:
        updates["updated_at"] = utcnow()
    condition = where(stmt.excluded) if where is not None else None
    await session.execute(
        stmt.on_conflict_do_update(index_elements=keys, set_=updates, where=condition)
    )
