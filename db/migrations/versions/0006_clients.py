"""clients: patients as the EHR knows them, the source of their eRx registration

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("first_name", sa.String(length=35), nullable=False),
        sa.Column("middle_name", sa.String(length=35), nullable=True),
        sa.Column("last_name", sa.String(length=35), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=7), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("phone_type", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=80), nullable=True),
        sa.Column("address1", sa.String(length=35), nullable=False),
        sa.Column("address2", sa.String(length=35), nullable=True),
        sa.Column("city", sa.String(length=35), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("zip_code", sa.String(length=10), nullable=False),
        sa.Column("medical_record_number", sa.String(length=35), nullable=True),
        sa.Column("height", sa.Float(), nullable=True),
        sa.Column("height_unit", sa.String(length=2), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("weight_unit", sa.String(length=2), nullable=True),
        sa.Column("vitals_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("insurance_payer_name", sa.String(length=100), nullable=True),
        sa.Column("insurance_payer_id", sa.String(length=35), nullable=True),
        sa.Column("insurance_member_id", sa.String(length=35), nullable=True),
        sa.Column("insurance_group_id", sa.String(length=35), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sex IN ('Male', 'Female', 'Unknown')", name="ck_clients_sex"),
        sa.CheckConstraint(
            "(height IS NULL) = (height_unit IS NULL) AND height_unit IN ('cm', 'in')",
            name="ck_clients_height_unit",
        ),
        sa.CheckConstraint(
            "(weight IS NULL) = (weight_unit IS NULL) AND weight_unit IN ('kg', 'lb')",
            name="ck_clients_weight_unit",
        ),
        sa.CheckConstraint(
            "(insurance_member_id IS NULL) = (insurance_payer_name IS NULL)",
            name="ck_clients_insurance",
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )


def downgrade() -> None:
    op.drop_table("clients")
