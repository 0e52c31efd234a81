"""flag list indexes

The indexes behind the flag lists at a city's scale (issue 15): the lists' order (severity
first, then oldest) for all flags and per status (the review queue), one code over a span of
days, and a vehicle's flags in a time window. Built on existing data as they are.

Revision ID: d8b3f6a1c925
Revises: c4a9e2f1d730
Create Date: 2026-12-07 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8b3f6a1c925"
down_revision: str | None = "c4a9e2f1d730"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_flag_rank", "flag", [sa.desc("severity"), "start_ts", "id"])
    op.create_index(
        "ix_flag_status_rank", "flag", ["status", sa.desc("severity"), "start_ts", "id"]
    )
    op.create_index("ix_flag_code_day", "flag", ["code", "day", "severity"])
    op.create_index("ix_flag_vehicle_start", "flag", ["vehicle", "start_ts"])


def downgrade() -> None:
    for name in (
        "ix_flag_vehicle_start",
        "ix_flag_code_day",
        "ix_flag_status_rank",
        "ix_flag_rank",
    ):
        op.drop_index(name, table_name="flag")
