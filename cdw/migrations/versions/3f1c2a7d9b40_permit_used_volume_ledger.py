"""permit used volume ledger

Each permit row keeps the m³ declared on its manifests (void ones excluded, the same figure
on every version of one permit number), kept by the manifests service when a manifest is
issued or voided. The permits domain no longer reads the manifest table (no import cycle
between permits and manifests). Existing rows are filled from their manifests.

Revision ID: 3f1c2a7d9b40
Revises: 099daaac7014
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f1c2a7d9b40"
down_revision: str | None = "099daaac7014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("permit") as batch:
        batch.add_column(sa.Column("used_m3", sa.Float(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE permit SET used_m3 = (SELECT COALESCE(SUM(m.declared_volume_m3), 0) "
        "FROM manifest AS m WHERE m.permit_no = permit.permit_no AND m.state <> 'void')"
    )


def downgrade() -> None:
    with op.batch_alter_table("permit") as batch:
        batch.drop_column("used_m3")
