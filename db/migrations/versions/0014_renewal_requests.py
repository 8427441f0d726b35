"""Renewal (refill) requests and where their workflows stand

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "renewal_requests",
        sa.Column(
            "workspace_id", sa.String(length=64), sa.ForeignKey("workspaces.id"), nullable=False
        ),
        sa.Column("refill_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("dosespot_clinic_id", sa.BigInteger(), nullable=False),
        sa.Column("dosespot_clinician_id", sa.BigInteger(), nullable=False),
        sa.Column("dosespot_patient_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("requested_prescription_id", sa.BigInteger(), nullable=True),
        sa.Column("original_prescription_id", sa.BigInteger(), nullable=True),
        sa.Column("pharmacy_id", sa.BigInteger(), nullable=True),
        sa.Column("medication", sa.Text(), nullable=True),
        sa.Column("schedule", sa.Integer(), nullable=True),
        sa.Column("controlled", sa.Boolean(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=True),
        sa.Column("decided_by_member_id", sa.String(length=64), nullable=True),
        sa.Column("refills", sa.Integer(), nullable=True),
        sa.Column("denial_reason", sa.String(length=64), nullable=True),
        sa.Column("blocked_reason", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "refill_id"),
    )
    op.create_index(
        "ix_renewal_requests_listing",
        "renewal_requests",
        ["workspace_id", "state", "requested_at"],
    )
    op.create_index(
        "ix_renewal_requests_clinician", "renewal_requests", ["dosespot_clinician_id", "state"]
    )


def downgrade() -> None:
    op.drop_index("ix_renewal_requests_clinician", table_name="renewal_requests")
    op.drop_index("ix_renewal_requests_listing", table_name="renewal_requests")
    op.drop_table("renewal_requests")
