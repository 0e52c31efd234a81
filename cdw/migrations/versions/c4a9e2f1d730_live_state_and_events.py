"""live state and events

The live engine's tables (issue 14): each vehicle's last known position (``vehicle_live``),
the flag events of the push channel (``live_event``) and the counter that orders the live
writes (``live_cursor``, its one row created here).

Revision ID: c4a9e2f1d730
Revises: c1a7e2f40b93
Create Date: 2026-12-07 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c4a9e2f1d730"
down_revision: str | None = "c1a7e2f40b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vehicle_live",
        sa.Column("plate", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("status", sa.BigInteger(), nullable=True),
        sa.Column("trip_id", sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True),
        sa.Column("trip_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("load_state_source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plate"),
    )
    op.create_index(op.f("ix_vehicle_live_seq"), "vehicle_live", ["seq"], unique=False)
    op.create_table(
        "live_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("vehicle", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_live_event_seq"), "live_event", ["seq"], unique=False)
    op.create_index(op.f("ix_live_event_flag_id"), "live_event", ["flag_id"], unique=False)
    op.create_table(
        "live_cursor",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute("INSERT INTO live_cursor (name, value) VALUES ('live', 0)")


def downgrade() -> None:
    op.drop_table("live_cursor")
    op.drop_index(op.f("ix_live_event_flag_id"), table_name="live_event")
    op.drop_index(op.f("ix_live_event_seq"), table_name="live_event")
    op.drop_table("live_event")
    op.drop_index(op.f("ix_vehicle_live_seq"), table_name="vehicle_live")
    op.drop_table("vehicle_live")
