"""gps uploads

Every GPS file stored into the point store is recorded (file name, SHA-256, channel,
uploader, rows read/rejected, points new/already stored); the points carry its id in the
point store. Uploads before this revision have no record (their points read it as null).

Revision ID: b7e4c19a2d55
Revises: 436ae0ae6f02
Create Date: 2026-12-06 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b7e4c19a2d55"
down_revision: str | None = "436ae0ae6f02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gps_upload",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploader", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("points_new", sa.Integer(), nullable=False),
        sa.Column("points_already_stored", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_gps_upload_at"), "gps_upload", ["at"])
    op.create_index(op.f("ix_gps_upload_uploader"), "gps_upload", ["uploader"])
    op.create_index(op.f("ix_gps_upload_sha256"), "gps_upload", ["sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_gps_upload_sha256"), table_name="gps_upload")
    op.drop_index(op.f("ix_gps_upload_uploader"), table_name="gps_upload")
    op.drop_index(op.f("ix_gps_upload_at"), table_name="gps_upload")
    op.drop_table("gps_upload")
