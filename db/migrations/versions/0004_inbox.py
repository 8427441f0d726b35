"""DoseSpot push-notification inbox

Revision ID: 0004
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dosespot_inbox",
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("routed_workflow_id", sa.String(length=200), nullable=True),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_key"),
    )
    op.create_index("ix_dosespot_inbox_clinician_id", "dosespot_inbox", ["clinician_id"])


def downgrade() -> None:
    op.drop_index("ix_dosespot_inbox_clinician_id", table_name="dosespot_inbox")
    op.drop_table("dosespot_inbox")
