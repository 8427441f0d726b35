"""clinician enrollments and the append-only EPCS audit log

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinician_enrollments",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("dosespot_clinician_id", sa.Integer(), nullable=True),
        sa.Column("dea_registrant", sa.Boolean(), nullable=False),
        sa.Column("tfa_active", sa.Boolean(), nullable=False),
        sa.Column("epcs_enabled", sa.Boolean(), nullable=False),
        sa.Column("idp_failed_attempts", sa.Integer(), nullable=False),
        sa.Column("idp_path", sa.String(length=16), nullable=True),
        sa.Column("idp_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "member_id"),
        sa.UniqueConstraint("dosespot_clinician_id"),
    )
    op.create_table(
        "epcs_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("subject_member_id", sa.String(length=64), nullable=False),
        sa.Column("actor_member_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_epcs_audit_log_workspace_id", "epcs_audit_log", ["workspace_id"])
    # The audit log is append-only, enforced by the database where it can be.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION epcs_audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'epcs_audit_log is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            """
            CREATE TRIGGER epcs_audit_log_no_change BEFORE UPDATE OR DELETE ON epcs_audit_log
                FOR EACH ROW EXECUTE FUNCTION epcs_audit_log_append_only();
            """
        )
    else:
        op.execute(
            """
            CREATE TRIGGER epcs_audit_log_no_update BEFORE UPDATE ON epcs_audit_log
            BEGIN SELECT RAISE(ABORT, 'epcs_audit_log is append-only'); END;
            """
        )
        op.execute(
            """
            CREATE TRIGGER epcs_audit_log_no_delete BEFORE DELETE ON epcs_audit_log
            BEGIN SELECT RAISE(ABORT, 'epcs_audit_log is append-only'); END;
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS epcs_audit_log_no_change ON epcs_audit_log")
        op.execute("DROP FUNCTION IF EXISTS epcs_audit_log_append_only()")
    op.drop_index("ix_epcs_audit_log_workspace_id", table_name="epcs_audit_log")
    op.drop_table("epcs_audit_log")
    op.drop_table("clinician_enrollments")
