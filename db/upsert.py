"""INSERT ... ON CONFLICT DO UPDATE on PostgreSQL and SQLite, so concurrent PUTs never race."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from db.models import utcnow


async def upsert(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any]
) -> None:
    table: Table = model.__table__  # type: ignore[assignment]
    keys = [c.name for c in table.primary_key.columns]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values)
    updates: dict[str, Any] = {k: stmt.excluded[k] for k in values if k not in keys}
    if "updated_at" in table.c and "updated_at" not in values:
        updates["updated_at"] = utcnow()
    await session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates))
