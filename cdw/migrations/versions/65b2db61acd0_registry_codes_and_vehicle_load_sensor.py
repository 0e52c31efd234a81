"""registry codes and vehicle load sensor

Sites, facilities, depots and zones gain ``code``, unique within the kind; existing rows get
the code cdw generates for a record created without one (kind letter + id in six digits,
site 123 → ``S000123``). Names were never unique in the database (only the bundle loader
refused repeats), so no constraint is dropped. Vehicles gain ``load_sensor``, true for every
existing vehicle.

Revision ID: 65b2db61acd0
Revises: adedb06c66e7
Create Date: 2026-12-06 19:28:03.341854
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "65b2db61acd0"
down_revision: str | None = "adedb06c66e7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table → letter of its generated codes (as cdw.registry.services generates them).
CODED = {"construction_site": "S", "disposal_facility": "F", "depot": "D", "restricted_zone": "Z"}


def upgrade() -> None:
    conn = op.get_bind()
    for table, prefix in CODED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
            )
        rows = sa.table(table, sa.column("id", sa.Integer), sa.column("code", sa.String))
        ids = conn.execute(sa.select(rows.c.id)).scalars().all()
        if ids:
            conn.execute(
                rows.update().where(rows.c.id == sa.bindparam("row_id")),
                [{"row_id": i, "code": f"{prefix}{i:06d}"} for i in ids],
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "code", existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_code"), ["code"], unique=True)

    with op.batch_alter_table("vehicle", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("load_sensor", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("vehicle", schema=None) as batch_op:
        batch_op.drop_column("load_sensor")
    for table in reversed(CODED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_code"))
            batch_op.drop_column("code")
