"""The EPCS audit log cannot be emptied or unlocked by the application (PostgreSQL only).

The login that runs the migrations owns the tables; the API and the worker run as the
``erx_app`` role (``ERX_DATABASE_ROLE``), which owns nothing. Runs when TEST_DATABASE_URL
names a PostgreSQL database; SQLite has no TRUNCATE and no roles.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.admin import add_person, create_workspace
from db.audit import append_audit
from db.migrate import alembic_config, upgrade
from db.models import EpcsAuditEntry
from db.session import create_engine, create_sessionmaker
from workflows.models import EpcsAuditInput

APP_ROLE = "erx_app"
URL = os.environ.get("TEST_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    not URL or make_url(URL).get_backend_name() != "postgresql",
    reason="TEST_DATABASE_URL is not PostgreSQL: SQLite has no TRUNCATE and no roles",
)


@pytest.fixture(scope="module")
async def owner() -> AsyncIterator[AsyncEngine]:
    """The migration login (owner of the tables), the schema at head."""
    engine = create_engine(URL)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def app(owner: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The same login, every connection switched to the application role."""
    engine = create_engine(URL, role=APP_ROLE)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def workspace_id(app: AsyncEngine) -> str:
    workspace = f"ws_lock_{uuid.uuid4().hex[:8]}"
    async with create_sessionmaker(app)() as session:
        await create_workspace(session, workspace, "Lockdown test")
        await add_person(session, workspace, "m_lock", "Lee", "Lock", "lee@example.com", admin=True)
        await session.commit()
    return workspace


async def _audit(engine: AsyncEngine, workspace_id: str, key: str | None = None) -> None:
    entry = EpcsAuditInput(
        workspace_id=workspace_id,
        subject_member_id="m_lock",
        actor_member_id="m_lock",
        action="approve",
        outcome="refused",
        reason="lockdown test",
        idempotency_key=key or uuid.uuid4().hex,
    )
    async with create_sessionmaker(engine)() as session:
        await append_audit(session, entry)
        await session.commit()


async def _rows(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(EpcsAuditEntry.id).where(EpcsAuditEntry.workspace_id == workspace_id)
        )
        return len(result.all())


async def _refused(engine: AsyncEngine, statement: str, reason: str) -> None:
    with pytest.raises(DBAPIError, match=reason):
        async with engine.begin() as conn:
            await conn.execute(text(statement))


async def test_connections_run_as_the_app_role(app: AsyncEngine) -> None:
    async with app.connect() as conn:
        assert (await conn.execute(text("SELECT current_user"))).scalar_one() == APP_ROLE
        await conn.rollback()
        # Still the role after the pool's rollback.
        assert (await conn.execute(text("SELECT current_user"))).scalar_one() == APP_ROLE


async def test_app_role_inserts_and_reads_the_audit_log(
    app: AsyncEngine, workspace_id: str
) -> None:
    before = await _rows(app, workspace_id)
    key = uuid.uuid4().hex
    await _audit(app, workspace_id, key)
    await _audit(app, workspace_id, key)  # a retried append writes nothing new
    assert await _rows(app, workspace_id) == before + 1


async def test_truncate_is_refused_even_for_the_owner(
    owner: AsyncEngine, workspace_id: str
) -> None:
    await _audit(owner, workspace_id)
    rows = await _rows(owner, workspace_id)
    await _refused(owner, "TRUNCATE epcs_audit_log", "append-only")
    await _refused(owner, "TRUNCATE epcs_audit_log CASCADE", "append-only")
    await _refused(owner, "TRUNCATE workspaces CASCADE", "append-only")
    assert await _rows(owner, workspace_id) == rows


async def test_update_and_delete_are_refused_even_for_the_owner(
    owner: AsyncEngine, workspace_id: str
) -> None:
    await _audit(owner, workspace_id)
    await _refused(owner, "UPDATE epcs_audit_log SET outcome = 'granted'", "append-only")
    await _refused(owner, "DELETE FROM epcs_audit_log", "append-only")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE epcs_audit_log SET outcome = 'granted'",
        "DELETE FROM epcs_audit_log",
        "TRUNCATE epcs_audit_log",
        "ALTER TABLE epcs_audit_log DISABLE TRIGGER epcs_audit_log_no_change",
        "ALTER TABLE epcs_audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER epcs_audit_log_no_truncate ON epcs_audit_log",
        "DROP TABLE epcs_audit_log",
        "CREATE OR REPLACE FUNCTION epcs_audit_log_append_only() RETURNS trigger"
        " AS $$ BEGIN RETURN NULL; END; $$ LANGUAGE plpgsql",
        "UPDATE alembic_version SET version_num = '0001'",
    ],
    ids=[
        "update",
        "delete",
        "truncate",
        "disable-trigger",
        "disable-all-triggers",
        "drop-trigger",
        "drop-table",
        "replace-function",
        "alembic-version",
    ],
)
async def test_app_role_cannot_change_or_unlock_the_audit_log(
    app: AsyncEngine, owner: AsyncEngine, workspace_id: str, statement: str
) -> None:
    await _audit(app, workspace_id)
    rows = await _rows(owner, workspace_id)
    await _refused(app, statement, "permission denied|must be owner")
    assert await _rows(owner, workspace_id) == rows


async def test_app_role_owns_nothing_and_may_use_every_other_table(app: AsyncEngine) -> None:
    async with app.connect() as conn:
        owned = await conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
                " WHERE r.rolname = :role"
            ),
            {"role": APP_ROLE},
        )
        assert owned.scalar_one() == 0
        tables = await conn.execute(
            text(
                "SELECT tablename,"
                " has_table_privilege(:role, quote_ident(tablename), 'SELECT'),"
                " has_table_privilege(:role, quote_ident(tablename), 'INSERT'),"
                " has_table_privilege(:role, quote_ident(tablename), 'UPDATE'),"
                " has_table_privilege(:role, quote_ident(tablename), 'DELETE'),"
                " has_table_privilege(:role, quote_ident(tablename), 'TRUNCATE')"
                " FROM pg_tables WHERE schemaname = current_schema()"
            ),
            {"role": APP_ROLE},
        )
        privileges = {row[0]: tuple(row[1:]) for row in tables}
        sequences = await conn.execute(
            text(
                "SELECT sequencename, has_sequence_privilege(:role, quote_ident(sequencename),"
                " 'USAGE') FROM pg_sequences WHERE schemaname = current_schema()"
            ),
            {"role": APP_ROLE},
        )
        sequence_usage = {str(name): bool(usage) for name, usage in sequences.all()}
    assert privileges.pop("epcs_audit_log") == (True, True, False, False, False)
    assert privileges.pop("alembic_version") == (True, False, False, False, False)
    assert privileges
    assert {t: p for t, p in privileges.items() if p != (True, True, True, True, False)} == {}
    assert sequence_usage and all(sequence_usage.values())


async def test_migration_again_with_the_role_already_there(owner: AsyncEngine) -> None:
    """Roles are cluster-wide: another database (or an earlier run) made it already."""
    cfg = alembic_config()

    def _down_and_up(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0008")
        command.upgrade(cfg, "head")

    # One transaction: no other session ever sees the log without its TRUNCATE trigger.
    async with owner.begin() as conn:
        await conn.run_sync(_down_and_up)
        roles = await conn.execute(
            text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": APP_ROLE}
        )
        assert roles.scalar_one() == 1
    async with owner.connect() as conn:
        triggers = await conn.execute(
            text(
                "SELECT tgname FROM pg_trigger"
                " WHERE tgrelid = 'epcs_audit_log'::regclass AND NOT tgisinternal"
            )
        )
        assert set(triggers.scalars()) == {"epcs_audit_log_no_change", "epcs_audit_log_no_truncate"}
