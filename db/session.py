"""Async engine and session factory for the read model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, role: str | None = None) -> AsyncEngine:
    """An engine for ``url``; with ``role`` (PostgreSQL only) every connection it opens
    runs ``SET ROLE role`` before it is used, so the application's statements are checked
    against that role's privileges, not the login's (see ``ERX_DATABASE_ROLE``)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if role is not None and backend != "postgresql":
        raise ValueError(f"a database role needs PostgreSQL, not {backend}")
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Bound parameters are names, birth dates and phones: never in a log or an error text.
    engine = create_async_engine(url, pool_pre_ping=backend != "sqlite", hide_parameters=True)
    if role is not None:
        _set_role_on_connect(engine, role)
    return engine


def _set_role_on_connect(engine: AsyncEngine, role: str) -> None:
    statement = f"SET SESSION ROLE {engine.dialect.identifier_preparer.quote_identifier(role)}"

    # First among the connect listeners, before SQLAlchemy's own first-connect queries.
    @event.listens_for(engine.sync_engine, "connect", insert=True)
    def _set_role(dbapi_connection: Any, _record: object) -> None:
        # Outside a transaction, so that the pool's rollback on checkin does not undo it.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
            dbapi_connection.autocommit = autocommit


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
