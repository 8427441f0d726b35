"""Patient registrations and the medication record

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys() -> list[sa.Column]:
    return [
        sa.Column(
            "workspace_id", sa.String(length=64), sa.ForeignKey("workspaces.id"), nullable=False
        ),
        sa.Column("client_id", sa.String(length=64), nullable=False),
    ]


def _updated() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "patient_registrations",
        *_keys(),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("dosespot_patient_id", sa.Integer(), nullable=True),
        sa.Column("dosespot_clinic_id", sa.Integer(), nullable=True),
        sa.Column("blocked_reason", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        _updated(),
        sa.PrimaryKeyConstraint("workspace_id", "client_id"),
    )
    op.create_index(
        "ix_patient_registrations_dosespot_patient_id",
        "patient_registrations",
        ["dosespot_patient_id"],
    )
    op.create_table(
        "patient_medications",
        *_keys(),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dosespot_id", sa.Integer(), nullable=False),
        sa.Column("tab", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("medication_status", sa.String(length=32), nullable=True),
        sa.Column("status_details", sa.Text(), nullable=True),
        sa.Column("directions", sa.Text(), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("written_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fill_date", sa.Date(), nullable=True),
        sa.Column("quantity", sa.String(length=32), nullable=True),
        sa.Column("dispense_unit", sa.String(length=64), nullable=True),
        sa.Column("refills", sa.String(length=16), nullable=True),
        sa.Column("days_supply", sa.Integer(), nullable=True),
        sa.Column("prescriber_clinician_id", sa.Integer(), nullable=True),
        sa.Column("pharmacy_id", sa.Integer(), nullable=True),
        sa.Column("pharmacy_notes", sa.Text(), nullable=True),
        sa.Column("schedule", sa.String(length=8), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        _updated(),
        sa.PrimaryKeyConstraint("workspace_id", "client_id", "kind", "dosespot_id"),
    )
    op.create_table(
        "patient_renewal_requests",
        *_keys(),
        sa.Column("dosespot_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prescriber_clinician_id", sa.Integer(), nullable=True),
        sa.Column("pharmacy_id", sa.Integer(), nullable=True),
        _updated(),
        sa.PrimaryKeyConstraint("workspace_id", "client_id", "dosespot_id"),
    )
    op.create_table(
        "patient_pharmacies",
        *_keys(),
        sa.Column("pharmacy_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("services", sa.String(length=128), nullable=False),
        _updated(),
        sa.PrimaryKeyConstraint("workspace_id", "client_id", "pharmacy_id"),
    )


def downgrade() -> None:
    op.drop_table("patient_pharmacies")
    op.drop_table("patient_renewal_requests")
    op.drop_table("patient_medications")
    op.drop_index(
        "ix_patient_registrations_dosespot_patient_id", table_name="patient_registrations"
    )
    op.drop_table("patient_registrations")
