"""keyed audit chain

Audit entries record how their hash was made (``scheme``): the entries already written keep
their plain SHA-256 ("sha256") and verify under that rule; every new entry is an HMAC-SHA256
keyed with a secret outside the database ("hmac-sha256", cdw.audit.key). When there are
plain entries, a keyed entry is appended right after them (action "keyed", with the plain
head's number and hash), so a chain that ends in plain entries is a rewrite.

Revision ID: 436ae0ae6f02
Revises: 10609c7dcafe
Create Date: 2026-12-06 23:40:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "436ae0ae6f02"
down_revision: str | None = "10609c7dcafe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("id", "actor", "actor_role", "entity", "entity_id", "action", "reason")


def upgrade() -> None:
    from cdw.audit.key import audit_key
    from cdw.audit.log import KEYED, PLAIN, SYSTEM_ROLE, entry_hash
    from cdw.audit.models import AuditEntry

    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column("scheme", sa.String(length=16), nullable=False, server_default=PLAIN)
        )
    head = (
        op.get_bind()
        .execute(sa.text("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"))
        .first()
    )
    if head is None:
        return
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
    keyed = AuditEntry(
        id=head.id + 1,
        at=datetime.now(UTC),
        actor="cdw db upgrade",
        actor_role=SYSTEM_ROLE,
        entity="audit_log",
        entity_id=str(head.id),
        action="keyed",
        reason="审计链启用密钥 / the audit chain is keyed from here on",
        data={"plain_entries": count, "plain_head_id": head.id, "plain_head_hash": head.hash},
        scheme=KEYED,
        prev_hash=head.hash,
        hash="",
    )
    keyed.hash = entry_hash(keyed, audit_key())
    table = sa.table(
        "audit_log",
        *(sa.column(c) for c in COLUMNS),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("data", sa.JSON),
        sa.column("scheme"),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    op.bulk_insert(table, [keyed.model_dump()])


def downgrade() -> None:
    """Refused once keyed entries exist: dropping their scheme would leave entries that no
    rule verifies, and deleting them would delete the record."""
    keyed = op.get_bind().execute(
        sa.text("SELECT count(*) FROM audit_log WHERE scheme <> 'sha256'")
    )
    if keyed.scalar_one():
        raise RuntimeError(
            "审计链已启用密钥，不能降级 / the audit chain is keyed; it cannot be downgraded"
        )
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("scheme")
