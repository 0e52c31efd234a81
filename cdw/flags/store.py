"""Storing a run's flags: re-running a day replaces its open flags (flushed, not committed).

A flag somebody has acted on stays: one already reviewed (status other than ``open``) and
one another record points at (a haulier's explanation, a review, a case; the caller names
those columns in ``held_by``). Found again, the finding is matched to the kept flag by its
identity and not stored twice. An open flag found again (same identity: source, code,
vehicle, start) is updated in place and keeps its id, so a flag the live engine raised
during the day (``cdw.live``) is the very record the day's run confirms; the open flags the
run no longer finds are deleted. Each run writes one audit entry listing the flags it
deleted and the ids it updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import Column, MetaData, Table, bindparam, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, delete, select

from cdw.audit.log import audit
from cdw.auth.models import User
from cdw.db import WRITE_BATCH, copy_rows, insert_rows
from cdw.errors import Conflict
from cdw.flags.codes import FlagSource
from cdw.flags.models import FlagRecord, FlagStatus, flag_columns, flag_findings
from cdw.flags.values import Flag

FLAG_RUN_ENTITY = "flag_run"


def flag_identity(
    flag: Flag, source: FlagSource = FlagSource.engine
) -> tuple[str, str, str, datetime]:
    return (str(source), str(flag.code), flag.vehicle, flag.start.astimezone(UTC))


CONCURRENT_WRITER = {
    FlagSource.engine: (
        "存储期间这些日期的标记被同时修改（另一次分析、申诉或审核），本次未保存，请重新运行",
        "the flags of these days changed while this analysis stored its own (another "
        "analysis, an explanation or a review at the same moment); nothing was stored, run it again",
    ),
    FlagSource.reconciliation: (
        "存储期间这些日期的标记被同时修改（另一次对账、申诉或审核），本次未保存，请重新运行",
        "the flags of these days changed while this reconciliation stored its own (another "
        "reconciliation, an explanation or a review at the same moment); nothing was stored, "
        "run it again",
    ),
}


@dataclass(frozen=True)
class Replacement:
    stored: int  # flags written (inserted, or updated in place)
    replaced: int  # earlier open flags of these days and this source, deleted or updated
    kept_reviewed: int  # found again but reviewed or under explanation: left as they were


def _deleted_entry(row: Any) -> dict[str, Any]:
    flag_id, code, vehicle, start = row
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    return {"id": flag_id, "code": str(code), "vehicle": vehicle, "start": start.isoformat()}


def _identity(source: FlagSource, row: Any) -> tuple[str, str, str, datetime]:
    _, code, vehicle, start = row
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    return (str(source), str(code), vehicle, start)


def _concurrent(exc: OperationalError) -> bool:
    """A deadlock with another writer (PostgreSQL: a review waiting for a flag count's cell
    this run holds while the run waits for that review's flag) or a serialisation failure:
    the same concurrent change as a flag reviewed meanwhile, the same answer (run it again)."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def _new_row(flag: Flag, day: date, source: FlagSource, now: datetime) -> dict[str, Any]:
    return {**flag_columns(flag, day, source), "status": FlagStatus.open, "created_at": now}


def _changed_meanwhile() -> IntegrityError:
    return IntegrityError("replace_flags", {}, Exception("flags changed meanwhile"))


def _update(session: Session, rows: list[dict[str, Any]]) -> None:
    """Open flags found again take their new findings (``b_id`` names the row); one still
    open no longer is a concurrent review: IntegrityError, as for the deletes."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _update_copied(session, rows)
        return
    table = FlagRecord.__table__
    stmt = update(table).where(table.c.id == bindparam("b_id"), table.c.status == FlagStatus.open)
    for first in range(0, len(rows), WRITE_BATCH):
        batch = rows[first : first + WRITE_BATCH]
        if session.execute(stmt, batch).rowcount != len(batch):
            raise _changed_meanwhile()


def _update_copied(session: Session, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: the findings copied into a temporary table, then one UPDATE … FROM it (an
    executemany would send an UPDATE per row, each firing the flag counts' statement
    trigger)."""
    flag = FlagRecord.__table__
    findings = [flag.c[name] for name in rows[0] if name != "b_id"]
    found = Table(
        "flag_found_again",
        MetaData(),
        Column("b_id", flag.c.id.type, primary_key=True),
        *(Column(column.name, column.type) for column in findings),
        prefixes=["TEMPORARY"],
    )
    connection = session.connection()
    found.create(connection)
    copy_rows(connection, found, rows)
    matched = connection.execute(
        update(flag)
        .where(flag.c.id == found.c.b_id, flag.c.status == FlagStatus.open)
        .values({column.name: found.c[column.name] for column in findings})
    ).rowcount
    found.drop(connection)
    if matched != len(rows):
        raise _changed_meanwhile()


def _delete(session: Session, stale: list[int], replaceable: Any) -> list[Any]:
    """Delete the ``stale`` flags, still replaceable, returning what the audit lists."""
    deleted: list[Any] = []
    for first in range(0, len(stale), WRITE_BATCH):
        batch = stale[first : first + WRITE_BATCH]
        deleted += session.exec(
            delete(FlagRecord)
            .where(col(FlagRecord.id).in_(batch), replaceable)
            .returning(FlagRecord.id, FlagRecord.code, FlagRecord.vehicle, FlagRecord.start_ts)
        ).all()
    if len(deleted) != len(stale):  # one was reviewed or explained meanwhile
        raise _changed_meanwhile()
    return deleted


def _expire_loaded(session: Session, ids: set[int]) -> None:
    """Records of updated flags this session holds are reloaded on their next use."""
    for record in list(session.identity_map.values()):
        if isinstance(record, FlagRecord) and record.id in ids:
            session.expire(record)


def replace_flags(
    session: Session,
    source: FlagSource,
    start_day: date,
    end_day: date,
    flags: list[Flag],
    tz: tzinfo,
    *,
    actor: User | str = "system",
    held_by: Sequence[Any] = (),
) -> Replacement:
    """Replace the open ``source`` flags of local days ``start_day..end_day`` with ``flags``
    (flushed; the caller commits), so that re-running a day never stores a flag twice.

    Kept as they are: flags already reviewed, and open flags whose id appears in one of the
    ``held_by`` columns (e.g. ``FlagExplanation.flag_id``). The deleted flags are listed in
    one audit entry of the run. Only a concurrent change of the same flags (another run, an
    explanation or review arriving meanwhile) gives a 409 to retry, and the session is
    rolled back (nothing of this replacement is kept)."""
    in_days = (
        (col(FlagRecord.source) == source)
        & (col(FlagRecord.day) >= start_day)
        & (col(FlagRecord.day) <= end_day)
    )
    replaceable = in_days & (col(FlagRecord.status) == FlagStatus.open)
    for column in held_by:
        replaceable = replaceable & col(FlagRecord.id).not_in(select(column))
    identity_columns = (FlagRecord.id, FlagRecord.code, FlagRecord.vehicle, FlagRecord.start_ts)
    try:
        kept = {
            _identity(source, row)
            for row in session.exec(select(*identity_columns).where(in_days, ~replaceable))
        }
        found_again = {
            _identity(source, row): row.id
            for row in session.exec(select(*identity_columns).where(replaceable))
        }
        stored = kept_reviewed = 0
        seen = set(kept)
        now = datetime.now(UTC)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for flag in flags:
            identity = flag_identity(flag, source)
            if identity in seen:
                kept_reviewed += identity in kept
                continue
            seen.add(identity)
            flag_id = found_again.pop(identity, None)
            if flag_id is None:
                inserts.append(_new_row(flag, flag.start.astimezone(tz).date(), source, now))
            else:
                updates.append({"b_id": flag_id, **flag_findings(flag)})
            stored += 1
        insert_rows(session, FlagRecord.__table__, inserts)
        _update(session, updates)
        deleted = _delete(session, list(found_again.values()), replaceable)
        updated = sorted(row["b_id"] for row in updates)
        _expire_loaded(session, set(updated))
        gone = sorted((_deleted_entry(row) for row in deleted), key=lambda d: d["id"])
        audit(
            session,
            actor=actor,
            entity=FLAG_RUN_ENTITY,
            entity_id=f"{source}:{start_day}..{end_day}",
            action="replace",
            data={
                "source": str(source),
                "days": [start_day.isoformat(), end_day.isoformat()],
                "stored": stored,
                "kept": len(kept),
                "deleted_count": len(gone),
                "deleted": gone,
                "updated": updated,
            },
        )
    except (IntegrityError, OperationalError) as exc:
        session.rollback()
        if isinstance(exc, OperationalError) and not _concurrent(exc):
            raise
        raise Conflict(*CONCURRENT_WRITER[source]) from exc
    except BaseException:
        session.rollback()
        raise
    return Replacement(stored, len(deleted) + len(updated), kept_reviewed)
