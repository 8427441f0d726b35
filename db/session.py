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

from erx.settings import Settings

# SQLite waits this long for another connection's write to finish before it gives up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine(
    url: str,
    role: str | None = None,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
) -> AsyncEngine:
    """An engine for ``url``; with ``role`` (PostgreSQL only) every connection it opens
    runs ``SET ROLE role`` before it is used, so the application's statements are checked
    against that role's privileges, not the login's (see ``ERX_DATABASE_ROLE``).

    An SQLite file (the embedded default) runs in WAL mode with a busy timeout: readers
    never wait for the writer, and writers queue instead of failing at once.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if role is not None and backend != "postgresql":
        raise ValueError(f"a database role needs PostgreSQL, not {backend}")
    sqlite_file = backend == "sqlite" and parsed.database not in (None, "", ":memory:")
    if sqlite_file:
        assert parsed.database is not None
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    pool: dict[str, Any] = (
        {}
        if backend == "sqlite" and not sqlite_file
        else {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    )
    # Bound parameters are names, birth dates and phones: never in a log or an error text.
    engine = create_async_engine(
        url, pool_pre_ping=backend != "sqlite", hide_parameters=True, **pool
    )
    if sqlite_file:
        _sqlite_wal_on_connect(engine)
    if role is not None:
        _set_role_on_connect(engine, role)
    return engine


def engine_from_settings(settings: Settings) -> AsyncEngine:
    """The read model's engine for the API or the worker, its pool sized by the settings."""
    return create_engine(
        settings.database_url,
        role=settings.database_role,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
    )


def _sqlite_wal_on_connect(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _wal(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()


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
