"""The EPCS audit log refuses TRUNCATE; an application role that owns nothing

PostgreSQL only (SQLite has no TRUNCATE and no roles; its UPDATE and DELETE triggers from
0003 stay). The append-only function of 0003 now also fires BEFORE TRUNCATE. The role
``erx_app`` (NOLOGIN) is created when missing: roles belong to the whole cluster, so
another database may have made it already. It may read and write every table of the
schema, but only SELECT and INSERT the audit log and only SELECT ``alembic_version``; it
owns nothing, so it can neither TRUNCATE, ALTER (DISABLE TRIGGER) nor DROP a table. The
role running the migrations keeps owning the tables; tables and sequences it creates later
are granted to ``erx_app`` by default privileges (all four, so a migration that recreates
the audit log must revoke UPDATE and DELETE again; tests/test_audit_lockdown.py checks the
grants at head). The API and the worker use the role with ``ERX_DATABASE_ROLE=erx_app``
(SET ROLE on every connection).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "erx_app"
AUDIT_TABLE = "epcs_audit_log"


def _schema() -> str:
    bind = op.get_bind()
    name = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    return str(bind.dialect.identifier_preparer.quote_identifier(name))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE TRIGGER epcs_audit_log_no_truncate BEFORE TRUNCATE ON {AUDIT_TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION epcs_audit_log_append_only()
        """
    )
    # Two databases of one cluster migrating at once may both find the role missing.
    op.execute(
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'erx_app') THEN
                BEGIN
                    CREATE ROLE erx_app NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;
                END;
            END IF;
            IF EXISTS (
                SELECT FROM pg_roles
                WHERE rolname = 'erx_app' AND (rolsuper OR rolbypassrls)
            ) THEN
                RAISE EXCEPTION 'role erx_app is a superuser or bypasses row security';
            END IF;
        END
        $$
        """
    )
    schema = _schema()
    for statement in (
        f"GRANT USAGE ON SCHEMA {schema} TO {APP_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {APP_ROLE}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {APP_ROLE}",
        f"REVOKE ALL ON {AUDIT_TABLE} FROM {APP_ROLE}",
        f"GRANT SELECT, INSERT ON {AUDIT_TABLE} TO {APP_ROLE}",
        f"REVOKE ALL ON alembic_version FROM {APP_ROLE}",
        f"GRANT SELECT ON alembic_version TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        f" GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}",
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = _schema()
    # The role stays: it is cluster-wide and other databases may still grant it privileges.
    for statement in (
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"  # noqa: S608 (quoted schema, constant role)
        f" REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        f" REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {APP_ROLE}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {APP_ROLE}",
        f"REVOKE USAGE ON SCHEMA {schema} FROM {APP_ROLE}",
        f"DROP TRIGGER IF EXISTS epcs_audit_log_no_truncate ON {AUDIT_TABLE}",
    ):
        op.execute(statement)
