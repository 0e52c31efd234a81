"""Append-only, hash-chained audit log (issue 6): who changed what, when and why.

Every entry stores the hash of the entry before it (``prev_hash``) and its own ``hash``, a
SHA-256 over a canonical JSON of all its fields (its ``id`` and ``prev_hash`` included).
Editing, deleting or moving an entry therefore breaks the chain, and :func:`verify_chain`
names the entry. Entries are numbered 1, 2, 3 … by :func:`audit` itself, so a missing
number is a deleted entry. Removing the *newest* entries leaves a shorter but consistent
chain; only a copy of the head hash kept elsewhere (``cdw audit verify`` prints it) shows that.

:func:`audit` serialises writers so that two transactions never append after the same
entry: a transaction-scoped advisory lock on PostgreSQL, the database write lock on SQLite
(taken by a no-op write before the last entry is read). ``prev_hash`` is unique as well, so
a fork could not be stored even if the lock were bypassed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from cdw.audit.models import AuditEntry
from cdw.auth.models import User
from cdw.errors import Problem

GENESIS_HASH = "0" * 64
SYSTEM_ROLE = "system"
# Key of the PostgreSQL advisory lock that serialises appends ("cdwaudit" in ASCII, as int).
_PG_LOCK_KEY = int.from_bytes(b"cdwaudit", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_ready(data: dict[str, Any] | None) -> dict[str, Any]:
    """``data`` as it reads back from a JSON column (dates and decimals as strings)."""
    return json.loads(json.dumps(data or {}, default=str, ensure_ascii=False))


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 (hex) of the canonical JSON of every field except ``hash``."""
    body = {
        "id": entry.id,
        "at": _utc(entry.at).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "action": entry.action,
        "reason": entry.reason,
        "data": entry.data,
        "prev_hash": entry.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _lock_for_append(session: Session) -> None:
    """Hold the append lock until this transaction ends (see the module docstring)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_log SET id = id WHERE 0"))


def _actor_of(session: Session, actor: User | str) -> tuple[str, str]:
    if isinstance(actor, User):
        return actor.username, str(actor.role)
    user = session.exec(select(User).where(User.username == actor)).first()
    return actor, str(user.role) if user is not None else SYSTEM_ROLE


def audit(
    session: Session,
    *,
    actor: User | str,
    entity: str,
    entity_id: Any,
    action: str,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry (flushed, not committed: it commits or rolls back with the change).

    ``actor``: the acting user, or a username (a name with no user account, such as a
    command-line job, is recorded with the role ``system``).
    """
    username, role = _actor_of(session, actor)
    _lock_for_append(session)
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(1)).first()
    entry = AuditEntry(
        id=1 if last is None else last.id + 1,
        at=datetime.now(UTC),
        actor=username,
        actor_role=role,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        reason=reason,
        data=_json_ready(data),
        prev_hash=GENESIS_HASH if last is None else last.hash,
        hash="",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


def history(session: Session, entity: str, entity_id: Any) -> list[AuditEntry]:
    """The entries about one record, oldest first."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
        .order_by(col(AuditEntry.id))
    )
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class ChainSummary:
    entries: int
    head_id: int | None
    head_hash: str


def chain_head(session: Session) -> ChainSummary:
    count = session.exec(select(func.count()).select_from(AuditEntry)).one()
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(1)).first()
    if last is None:
        return ChainSummary(0, None, GENESIS_HASH)
    return ChainSummary(count, last.id, last.hash)


def _problem(kind: str, entry_id: int, zh: str, en: str) -> Problem:
    return Problem(kind, zh, en, line=entry_id, source="audit_log")


def verify_chain(session: Session) -> list[Problem]:
    """Every break of the chain, oldest first: ``field`` is the kind (``edited``,
    ``deleted``, ``reordered``, ``relinked``), ``line`` the id of the entry concerned."""
    entries = list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all())
    position_of_hash = {e.hash: e.id for e in entries}
    problems: list[Problem] = []
    prev_id, prev_hash = 0, GENESIS_HASH
    for entry in entries:
        content_ok = entry_hash(entry) == entry.hash
        if entry.id > prev_id + 1:
            missing = range(prev_id + 1, entry.id)
            problems += [
                _problem(
                    "deleted",
                    gone,
                    f"审计记录 #{gone} 已被删除",
                    f"audit entry #{gone} was deleted",
                )
                for gone in missing
            ]
        elif entry.prev_hash != prev_hash and content_ok:
            moved_from = position_of_hash.get(entry.prev_hash)
            if moved_from is None:
                problems.append(
                    _problem(
                        "relinked",
                        entry.id,
                        f"审计记录 #{entry.id} 的前序哈希与 #{prev_id} 不符（前一条被改写）",
                        f"audit entry #{entry.id} does not follow #{prev_id} "
                        "(the previous entry was rewritten)",
                    )
                )
        if not content_ok:
            moved_from = position_of_hash.get(entry.prev_hash)
            if moved_from is not None and moved_from != entry.id - 1:
                problems.append(
                    _problem(
                        "reordered",
                        entry.id,
                        f"审计记录 #{entry.id} 被移动（原接在 #{moved_from} 之后）",
                        f"audit entry #{entry.id} was moved (it followed #{moved_from})",
                    )
                )
            else:
                problems.append(
                    _problem(
                        "edited",
                        entry.id,
                        f"审计记录 #{entry.id} 的内容被修改（哈希不符）",
                        f"audit entry #{entry.id} was edited (hash mismatch)",
                    )
                )
        prev_id, prev_hash = entry.id, entry.hash
    return problems
