"""Storing a run's flags: re-running a day replaces its open flags (flushed, not committed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from cdw.errors import Conflict
from cdw.flags.codes import FlagSource
from cdw.flags.models import FlagRecord, FlagStatus
from cdw.flags.values import Flag


def flag_identity(
    flag: Flag, source: FlagSource = FlagSource.engine
) -> tuple[str, str, str, datetime]:
    return (str(source), str(flag.code), flag.vehicle, flag.start.astimezone(UTC))


CONCURRENT_WRITER = {
    FlagSource.engine: (
        "另一次分析同时写入了相同日期的标记，请重试",
        "another analysis stored flags for the same days at the same time; run it again",
    ),
    FlagSource.reconciliation: (
        "另一次对账同时写入了相同日期的标记，请重试",
        "another reconciliation stored flags for the same days at the same time; retry",
    ),
}


@dataclass(frozen=True)
class Replacement:
    stored: int  # flags written
    replaced: int  # earlier open flags of these days and this source, deleted
    kept_reviewed: int  # found again but already under review: left as they were


def replace_flags(
    session: Session,
    source: FlagSource,
    start_day: date,
    end_day: date,
    flags: list[Flag],
    tz: tzinfo,
) -> Replacement:
    """Replace the open ``source`` flags of local days ``start_day..end_day`` with ``flags``
    (flushed; the caller commits), so that re-running a day never stores a flag twice. Flags
    already under review stay as they are; a concurrent writer of the same days gets a 409
    to retry, and the session is rolled back (nothing of this replacement is kept)."""
    in_days = (
        (col(FlagRecord.source) == source)
        & (col(FlagRecord.day) >= start_day)
        & (col(FlagRecord.day) <= end_day)
    )
    try:
        reviewed = {
            r.identity
            for r in session.exec(
                select(FlagRecord).where(in_days, col(FlagRecord.status) != FlagStatus.open)
            )
        }
        deleted = session.exec(
            delete(FlagRecord).where(in_days, col(FlagRecord.status) == FlagStatus.open)
        )
        stored = kept_reviewed = 0
        seen = set(reviewed)
        for flag in flags:
            identity = flag_identity(flag, source)
            if identity in seen:
                kept_reviewed += identity in reviewed
                continue
            seen.add(identity)
            session.add(FlagRecord.from_flag(flag, flag.start.astimezone(tz).date(), source))
            stored += 1
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(*CONCURRENT_WRITER[source]) from exc
    except BaseException:
        session.rollback()
        raise
    return Replacement(stored, deleted.rowcount or 0, kept_reviewed)
