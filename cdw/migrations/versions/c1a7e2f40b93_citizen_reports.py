"""citizen reports

Citizen reports (举报) entered by officers: a place, a time window, a radius, notes and an
optional photo (stored on disk; the row keeps its name, type, size and SHA-256).

Revision ID: c1a7e2f40b93
Revises: 5e1f0c7a9b21
Create Date: 2026-12-07 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c1a7e2f40b93"
down_revision: str | None = "5e1f0c7a9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citizen_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column(
            "location_source",
            sa.Enum("map", "address", name="locationsource", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("photo_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("photo_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("photo_bytes", sa.Integer(), nullable=True),
        sa.Column("photo_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_citizen_report_created_by"), "citizen_report", ["created_by"])


def downgrade() -> None:
    op.drop_index(op.f("ix_citizen_report_created_by"), table_name="citizen_report")
    op.drop_table("citizen_report")
