"""Append-only, keyed hash chain of audit entries (issue 6, 13): who changed what, when, why.

Every entry stores the hash of the entry before it (``prev_hash``) and its own ``hash``, an
HMAC-SHA256 (keyed with :func:`cdw.audit.key.audit_key`, a secret outside the database) over
a canonical JSON of all its fields (its ``id``, ``scheme`` and ``prev_hash`` included).
Editing, deleting or moving an entry therefore breaks the chain, and :func:`verify_chain`
names the entry; without the key nobody can recompute the chain after an edit. Entries are
numbered 1, 2, 3 … by :func:`audit` itself, so a missing number is a deleted entry.

Entries written before the chain was keyed keep their plain SHA-256 (``scheme`` "sha256")
and verify under that rule, but only as the oldest part of the chain: a plain entry after a
keyed one, or a chain whose newest entry is plain, is reported (a forger without the key
would have to write plain entries). The upgrade that keyed the chain appended a keyed entry
right after the plain ones.

Removing the *newest* entries leaves a shorter but consistent chain; an anchor (the head's
number and hash, :func:`chain_head`, kept outside the database: ``cdw audit head``) shows it
(:func:`verify_anchor`).

:func:`audit` serialises writers so that two transactions never append after the same
entry: a transaction-scoped advisory lock on PostgreSQL, the database write lock on SQLite
(taken by a no-op write before the last entry is read). ``prev_hash`` is unique as well, so
a fork could not be stored even if the lock were bypassed.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from cdw.audit.key import AuditKeyMissing, audit_key
from cdw.audit.models import AuditEntry
from cdw.auth.models import User
from cdw.db import insert_rows
from cdw.errors import Problem

GENESIS_HASH = "0" * 64
KEYED = "hmac-sha256"
PLAIN = "sha256"  # entries written before the chain was keyed
SYSTEM_ROLE = "system"
# Key of the PostgreSQL advisory lock that serialises appends ("cdwaudit" in ASCII, as int).
_PG_LOCK_KEY = int.from_bytes(b"cdwaudit", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_ready(data: dict[str, Any] | None) -> dict[str, Any]:
    """``data`` as it reads back from a JSON column (dates and decimals as strings)."""
    return json.loads(json.dumps(data or {}, default=str, ensure_ascii=False))


def entry_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """The entry's hash (hex) by its ``scheme``: HMAC-SHA256 with ``key`` (default: the
    configured key) over the canonical JSON of every field except ``hash``; for a plain
    entry, SHA-256 of those fields as they were before keying (without ``scheme``)."""
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
    if entry.scheme == PLAIN:
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    body["scheme"] = entry.scheme
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    mac = hmac.new(key or audit_key(), canonical.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()


def _lock_for_append(session: Session) -> None:
    """Hold the append lock until this transaction ends (see the module docstring)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_log SET id = id WHERE 0"))


def command_actor() -> str:
    """The login running a command-line job: its actor in the audit log (``cli:<login>``)."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):
        return "cli"


def _actor_of(session: Session, actor: User | str) -> tuple[str, str]:
    if isinstance(actor, User):
        return actor.username, str(actor.role)
    user = session.exec(select(User).where(User.username == actor)).first()
    return actor, str(user.role) if user is not None else SYSTEM_ROLE


@dataclass(frozen=True)
class Change:
    """What one audit entry records (see :func:`audit`)."""

    entity: str
    entity_id: Any
    action: str
    data: dict[str, Any] | None = None
    reason: str | None = None


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
    (row,) = _next_entries(session, actor, [Change(entity, entity_id, action, data, reason)])
    entry = AuditEntry(**row)
    session.add(entry)
    session.flush()
    return entry


def audit_many(session: Session, *, actor: User | str, changes: list[Change]) -> None:
    """Append one entry per change, in order, as :func:`audit` does, written in bulk
    (``cdw.db.insert_rows``; one lock and one read of the chain's head for all: a bulk
    import)."""
    if changes:
        rows = _next_entries(session, actor, changes)
        insert_rows(session, AuditEntry.__table__, rows)  # type: ignore[attr-defined]


def _next_entries(session: Session, actor: User | str, changes: list[Change]) -> list[dict]:
    """The entries recording ``changes`` after the chain's head, as column values, with the
    append lock taken."""
    username, role = _actor_of(session, actor)
    _lock_for_append(session)
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(1)).first()
    next_id, prev_hash = (1, GENESIS_HASH) if last is None else (last.id + 1, last.hash)
    key = audit_key()
    rows = []
    for change in changes:
        row = {
            "id": next_id,
            "at": datetime.now(UTC),
            "actor": username,
            "actor_role": role,
            "entity": change.entity,
            "entity_id": str(change.entity_id),
            "action": change.action,
            "reason": change.reason,
            "data": _json_ready(change.data),
            "scheme": KEYED,
            "prev_hash": prev_hash,
        }
        row["hash"] = entry_hash(SimpleNamespace(**row), key)  # type: ignore[arg-type]
        rows.append(row)
        next_id, prev_hash = next_id + 1, row["hash"]
    return rows


EXPORT_ENTITY = "export"


def record_export(
    session: Session,
    *,
    actor: User | str,
    what: str,
    fmt: str,
    rows: int,
    filters: dict[str, Any] | None = None,
) -> AuditEntry:
    """An export of records (a control list, a report) as a file: who took what, when, with
    which filters and how many rows (flushed; commit it before handing the file out)."""
    return audit(
        session,
        actor=actor,
        entity=EXPORT_ENTITY,
        entity_id=what,
        action=f"export:{fmt}",
        data={"rows": rows, "filters": filters or {}},
    )


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


def verify_chain(session: Session, key: bytes | None = None) -> list[Problem]:
    """Every break of the chain, oldest first: ``field`` is the kind (``edited``,
    ``deleted``, ``reordered``, ``relinked``, ``unkeyed``: a plain entry after a keyed one
    or as the newest; ``no_key``: keyed entries but no key), ``line`` the id of the entry
    concerned. ``key``: default the configured one (never created here)."""
    entries = list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all())
    if key is None and any(e.scheme != PLAIN for e in entries):
        try:
            key = audit_key(create=False)
        except AuditKeyMissing as exc:
            zh, _, en = str(exc).partition(" / ")
            return [_problem("no_key", entries[0].id, zh, en)]
    position_of_hash = {e.hash: e.id for e in entries}
    problems: list[Problem] = []
    prev_id, prev_hash, keyed_seen, in_plain_run = 0, GENESIS_HASH, False, False
    for entry in entries:
        plain = entry.scheme == PLAIN
        if plain and keyed_seen and not in_plain_run:
            problems.append(
                _problem(
                    "unkeyed",
                    entry.id,
                    f"审计记录 #{entry.id} 未加密钥签名，却位于已签名记录之后（疑似无密钥重写）",
                    f"audit entry #{entry.id} is not keyed but follows keyed entries "
                    "(rewritten without the key?)",
                )
            )
        in_plain_run = plain and keyed_seen
        keyed_seen = keyed_seen or not plain
        content_ok = entry_hash(entry, key) == entry.hash
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
    if entries and entries[-1].scheme == PLAIN and not in_plain_run:
        head = entries[-1].id
        problems.append(
            _problem(
                "unkeyed",
                head,
                f"最新审计记录 #{head} 未加密钥签名（链条在启用密钥后被无密钥重写？）",
                f"the newest audit entry #{head} is not keyed (the chain was rewritten "
                "without the key?)",
            )
        )
    return problems


def verify_anchor(session: Session, head_id: int, head_hash: str) -> list[Problem]:
    """The chain still holds an earlier head (``cdw audit head``): entry ``head_id`` exists
    with that hash. Detects removed newest entries and a chain rebuilt from scratch."""
    entry = session.get(AuditEntry, head_id)
    if entry is None:
        return [
            _problem(
                "truncated",
                head_id,
                f"锚定的审计记录 #{head_id} 已不存在（最新的记录被删除）",
                f"the anchored audit entry #{head_id} is gone (the newest entries were removed)",
            )
        ]
    if not hmac.compare_digest(entry.hash, head_hash):
        return [
            _problem(
                "anchor_mismatch",
                head_id,
                f"审计记录 #{head_id} 的哈希与锚定值不符（链条被改写）",
                f"audit entry #{head_id} no longer has the anchored hash (the chain was rewritten)",
            )
        ]
    return []
