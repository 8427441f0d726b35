"""A keyed digest of each enrolled clinician's NPI, unique

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "clinician_enrollments", sa.Column("npi_fingerprint", sa.String(length=64), nullable=True)
    )
    op.create_index(
        "uq_clinician_enrollments_npi_fingerprint",
        "clinician_enrollments",
        ["npi_fingerprint"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_clinician_enrollments_npi_fingerprint", table_name="clinician_enrollments")
    op.drop_column("clinician_enrollments", "npi_fingerprint")
