"""Prescriptions of every kind: a coded medication, a coded or free-text supply, a compound

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prescriptions") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="medication")
        )
        batch.alter_column("dispensable_drug_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Before kinds, a prescription is a coded medication: the others cannot be kept.
    op.execute("DELETE FROM prescriptions WHERE dispensable_drug_id IS NULL")
    with op.batch_alter_table("prescriptions") as batch:
        batch.alter_column("dispensable_drug_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("kind")
