"""vehicle assignment periods

Which haulier held a vehicle when (``cdw.registry.models.VehicleAssignment``), so that
flags, tracks and manifests follow the haulier of the time, not the current one. Backfill:
every existing vehicle gets one open period of its current haulier from its creation.

Revision ID: 10609c7dcafe
Revises: 3f1c2a7d9b40
Create Date: 2026-12-06 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "10609c7dcafe"
down_revision: str | None = "3f1c2a7d9b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vehicle_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("haulier_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["haulier_id"], ["haulier.id"]),
        sa.ForeignKeyConstraint(["vehicle_id"], ["vehicle.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vehicle_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vehicle_assignment_haulier_id"), ["haulier_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vehicle_assignment_vehicle_id"), ["vehicle_id"], unique=False
        )
    op.execute(
        "INSERT INTO vehicle_assignment (vehicle_id, haulier_id, valid_from) "
        "SELECT id, haulier_id, created_at FROM vehicle"
    )


def downgrade() -> None:
    with op.batch_alter_table("vehicle_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_assignment_vehicle_id"))
        batch_op.drop_index(batch_op.f("ix_vehicle_assignment_haulier_id"))
    op.drop_table("vehicle_assignment")
