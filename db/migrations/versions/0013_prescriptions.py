"""Prescriptions written through the API: drafts and what DoseSpot says of them

Revision ID: 0013
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prescriptions",
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("rx_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("prescriber_member_id", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("dispensable_drug_id", sa.Integer(), nullable=False),
        sa.Column("medication", sa.String(300), nullable=False),
        sa.Column("schedule", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pharmacy_id", sa.Integer(), nullable=True),
        sa.Column("dosespot_patient_id", sa.Integer(), nullable=True),
        sa.Column("dosespot_prescription_id", sa.Integer(), nullable=True),
        sa.Column("dosespot_status", sa.String(32), nullable=True),
        sa.Column("status_details", sa.Text(), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blocked_reason", sa.String(64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "rx_id"),
    )
    op.create_index("ix_prescriptions_client_id", "prescriptions", ["client_id"])
    op.create_index(
        "ix_prescriptions_dosespot_prescription_id", "prescriptions", ["dosespot_prescription_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_prescriptions_dosespot_prescription_id", "prescriptions")
    op.drop_index("ix_prescriptions_client_id", "prescriptions")
    op.drop_table("prescriptions")
