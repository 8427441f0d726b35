"""Each clinician's whole status as its workflow last published it, with its revision

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clinician_enrollments", sa.Column("status_json", sa.Text(), nullable=True))
    op.add_column(
        "clinician_enrollments",
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("clinician_enrollments", "revision")
    op.drop_column("clinician_enrollments", "status_json")
