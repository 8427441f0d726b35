"""Notification counts per clinician and clinic

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinician_notification_counts",
        sa.Column(
            "workspace_id", sa.String(length=64), sa.ForeignKey("workspaces.id"), nullable=False
        ),
        sa.Column("dosespot_clinician_id", sa.Integer(), nullable=False),
        sa.Column("dosespot_clinic_id", sa.Integer(), nullable=False),
        sa.Column("pending_prescriptions", sa.Integer(), nullable=False),
        sa.Column("transmission_errors", sa.Integer(), nullable=False),
        sa.Column("refill_requests", sa.Integer(), nullable=False),
        sa.Column("change_requests", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "dosespot_clinician_id", "dosespot_clinic_id"),
    )


def downgrade() -> None:
    op.drop_table("clinician_notification_counts")
