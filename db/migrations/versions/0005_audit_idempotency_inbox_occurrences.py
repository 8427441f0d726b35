"""idempotent EPCS audit appends; the push inbox keeps one row per occurrence of an event

The audit log gets a nullable, unique ``idempotency_key``. The column is added in place
(no table rebuild), so the append-only triggers of 0003 stay as they are.

The inbox's primary key becomes (event_key, occurrence). Rows kept from 0004 become
occurrence 1 of their old key; those keys hashed the whole body, so they never match a new
identity key and only serve as a record.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUDIT_KEY = "uq_epcs_audit_log_idempotency_key"
_KEPT = (
    "event_key",
    "event_type",
    "clinician_id",
    "received_at",
    "routed_workflow_id",
    "routed_at",
    "attempts",
)


def _rows(name: str, *extra: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in (*extra, *_KEPT)))


def _inbox(name: str, *, occurrences: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("routed_workflow_id", sa.String(length=200), nullable=True),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    ]
    if occurrences:
        columns.insert(1, sa.Column("occurrence", sa.Integer(), nullable=False))
        key = sa.PrimaryKeyConstraint("event_key", "occurrence", name="pk_dosespot_inbox")
    else:
        key = sa.PrimaryKeyConstraint("event_key")
    op.create_table(name, *columns, key)


def upgrade() -> None:
    op.add_column(
        "epcs_audit_log", sa.Column("idempotency_key", sa.String(length=200), nullable=True)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint(_AUDIT_KEY, "epcs_audit_log", ["idempotency_key"])
    else:
        # SQLite adds constraints only by rebuilding the table, which would drop its
        # append-only triggers; a unique index enforces the same and serves ON CONFLICT.
        op.create_index(_AUDIT_KEY, "epcs_audit_log", ["idempotency_key"], unique=True)

    # The primary key changes, which SQLite cannot do in place: copy into a new table.
    op.drop_index("ix_dosespot_inbox_clinician_id", table_name="dosespot_inbox")
    op.rename_table("dosespot_inbox", "dosespot_inbox_0004")
    _inbox("dosespot_inbox", occurrences=True)
    old = _rows("dosespot_inbox_0004")
    op.execute(
        _rows("dosespot_inbox", "occurrence")
        .insert()
        .from_select(["occurrence", *_KEPT], sa.select(sa.literal(1), *(old.c[c] for c in _KEPT)))
    )
    op.drop_table("dosespot_inbox_0004")
    op.create_index("ix_dosespot_inbox_clinician_id", "dosespot_inbox", ["clinician_id"])


def downgrade() -> None:
    op.drop_index("ix_dosespot_inbox_clinician_id", table_name="dosespot_inbox")
    op.rename_table("dosespot_inbox", "dosespot_inbox_0005")
    _inbox("dosespot_inbox", occurrences=False)
    # The old key holds one row per event: keep each key's latest occurrence.
    kept = _rows("dosespot_inbox_0005", "occurrence")
    row, other = kept.alias("o"), kept.alias("n")
    newest = (
        sa.select(sa.func.max(other.c.occurrence))
        .where(other.c.event_key == row.c.event_key)
        .scalar_subquery()
    )
    op.execute(
        _rows("dosespot_inbox")
        .insert()
        .from_select(
            list(_KEPT), sa.select(*(row.c[c] for c in _KEPT)).where(row.c.occurrence == newest)
        )
    )
    op.drop_table("dosespot_inbox_0005")
    op.create_index("ix_dosespot_inbox_clinician_id", "dosespot_inbox", ["clinician_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_AUDIT_KEY, "epcs_audit_log", type_="unique")
    else:
        op.drop_index(_AUDIT_KEY, table_name="epcs_audit_log")
    # Dropping a column makes SQLite rebuild the table; the append-only triggers go with
    # the old table, so they are made again afterwards.
    with op.batch_alter_table("epcs_audit_log") as batch:
        batch.drop_column("idempotency_key")
    if op.get_bind().dialect.name != "postgresql":
        op.execute(
            """
            CREATE TRIGGER IF NOT EXISTS epcs_audit_log_no_update BEFORE UPDATE ON epcs_audit_log
            BEGIN SELECT RAISE(ABORT, 'epcs_audit_log is append-only'); END;
            """
        )
        op.execute(
            """
            CREATE TRIGGER IF NOT EXISTS epcs_audit_log_no_delete BEFORE DELETE ON epcs_audit_log
            BEGIN SELECT RAISE(ABORT, 'epcs_audit_log is append-only'); END;
            """
        )
