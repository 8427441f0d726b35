"""billing charges ledger and subscriptions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "billing_charges",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("billing_charges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_charges_workspace_period", ["workspace_id", "period_start"], unique=False
        )

    op.create_table(
        "billing_subscriptions",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("next_charge_date", sa.Date(), nullable=True),
        sa.Column("periods_billed", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "member_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("billing_subscriptions")
    with op.batch_alter_table("billing_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_charges_workspace_period")

    op.drop_table("billing_charges")
