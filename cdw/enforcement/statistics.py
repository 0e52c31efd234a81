"""Statistics for a period of local days: flags by code, review outcomes, cases opened and
closed, and the closure rate.

The closure rate is the share of the cases opened in the period that are finished now
(closed or withdrawn). Trips are not stored (the engine derives them on each analysis), so
their count is reported as unavailable.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from cdw.enforcement.models import Case, CaseState, FlagReview, ReviewOutcome
from cdw.errors import Problem, ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.flags.counts import per_code, per_day_and_code


def _bounds(day_from: date, day_to: date, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    start = datetime.combine(day_from, time(0), zone).astimezone(UTC)
    end = datetime.combine(day_to + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def statistics(session: Session, day_from: date, day_to: date, timezone: str) -> dict[str, Any]:
    if day_to < day_from:
        raise ValidationFailed(
            [Problem("date_to", "结束日期早于开始日期", "date_to precedes date_from")]
        )
    start, end = _bounds(day_from, day_to, timezone)
    flag_counts = per_code(session, day_from, day_to)
    outcome_counts = dict(
        session.exec(
            select(FlagReview.outcome, func.count())
            .where(FlagReview.at >= start, FlagReview.at < end)
            .group_by(FlagReview.outcome)
        ).all()
    )
    opened = session.exec(select(Case).where(Case.opened_at >= start, Case.opened_at < end)).all()
    closed_in_period = session.exec(
        select(func.count())
        .select_from(Case)
        .where(
            col(Case.state).in_([CaseState.closed, CaseState.withdrawn]),
            Case.closed_at >= start,  # type: ignore[operator]
            Case.closed_at < end,  # type: ignore[operator]
        )
    ).one()
    finished = sum(c.state in (CaseState.closed, CaseState.withdrawn) for c in opened)
    return {
        "date_from": day_from.isoformat(),
        "date_to": day_to.isoformat(),
        "trips": None,
        "trips_note": "行程未入库，无法统计 / trips are not stored, so not counted",
        "flags_total": sum(flag_counts.values()),
        "flags_by_code": {
            str(code): {"zh": code.zh, "en": code.en, "count": flag_counts.get(str(code), 0)}
            for code in FlagCode
        },
        "review_outcomes": {str(o): outcome_counts.get(o, 0) for o in ReviewOutcome},
        "cases_opened": len(opened),
        "cases_closed": closed_in_period,
        "cases_by_state": {str(s): sum(c.state == s for c in opened) for s in CaseState},
        "closure_rate": round(finished / len(opened), 4) if opened else None,
    }


def flags_per_day(session: Session, day_from: date, day_to: date) -> list[dict[str, Any]]:
    """Per local day of ``day_from..day_to`` (every day, zeros included): the flags raised
    that day (by their ``day``), in total and by code (codes with none left out)."""
    if day_to < day_from:
        raise ValidationFailed(
            [Problem("date_to", "结束日期早于开始日期", "date_to precedes date_from")]
        )
    counts: dict[date, dict[str, int]] = {}
    for (day, code), n in per_day_and_code(session, day_from, day_to).items():
        counts.setdefault(day, {})[code] = n
    days = [day_from + timedelta(days=k) for k in range((day_to - day_from).days + 1)]
    return [
        {
            "day": d.isoformat(),
            "total": sum(counts.get(d, {}).values()),
            "by_code": dict(sorted(counts.get(d, {}).items())),
        }
        for d in days
    ]
