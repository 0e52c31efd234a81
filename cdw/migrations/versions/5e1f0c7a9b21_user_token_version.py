"""user token version

Bearer tokens carry the token version of their user; raising it (disable, password or role
change) revokes every token issued before. Existing users start at 0; tokens issued before
this revision carry no version and are refused, so everyone logs in once more.

Revision ID: 5e1f0c7a9b21
Revises: b7e4c19a2d55
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1f0c7a9b21"
down_revision: str | None = "b7e4c19a2d55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("token_version")
