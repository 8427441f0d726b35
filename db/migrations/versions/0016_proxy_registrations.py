"""Proxies and prescribing agents: members who draft and save for supervising prescribers

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proxy_registrations",
        sa.Column(
            "workspace_id", sa.String(length=64), sa.ForeignKey("workspaces.id"), nullable=False
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("supervisor_member_ids", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("dosespot_clinic_id", sa.Integer(), nullable=True),
        sa.Column("dosespot_clinician_id", sa.Integer(), nullable=True),
        sa.Column("dosespot_role", sa.String(length=8), nullable=True),
        sa.Column("creating_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "member_id"),
        sa.UniqueConstraint("dosespot_clinician_id"),
    )


def downgrade() -> None:
    op.drop_table("proxy_registrations")
