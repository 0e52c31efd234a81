"""Analyse whole local days: read the point store, run the pipeline, store the flags.

Re-analysing a day replaces its flags: the engine's flags of those days that are still
``open`` are deleted and the new ones written, in one transaction. A flag someone has
already worked on (any other status) stays as it is, and the engine does not write it a
second time (same source, code, vehicle and start).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sqlmodel import Session

from cdw.config import Settings, day_bounds, get_settings
from cdw.errors import Problem, ValidationFailed
from cdw.flags.codes import FlagSource
from cdw.flags.store import replace_flags
from cdw.flags.values import Flag
from cdw.tracking.checks.listing import ENGINE_CHECKS
from cdw.tracking.context import load_context
from cdw.tracking.pipeline import run_pipeline
from cdw.tracking.projection import Projector
from cdw.tracking.store import PointStore

ENGINE_CODES = tuple(c.code for c in ENGINE_CHECKS)
MAX_DAYS = 366


@dataclass
class AnalysisReport:
    start_day: date
    end_day: date
    points_read: int = 0
    points_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    vehicles: int = 0
    trips: int = 0
    flags: list[Flag] = field(default_factory=list)  # everything the engine found
    stored: int = 0  # flags written
    replaced: int = 0  # earlier open engine flags of these days, deleted
    kept_reviewed: int = 0  # found again but already under review: left as they were
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Flags found per code, every engine code listed."""
        found = Counter(str(f.code) for f in self.flags)
        return {str(code): found.get(str(code), 0) for code in ENGINE_CODES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_day": self.start_day.isoformat(),
            "end_day": self.end_day.isoformat(),
            "points_read": self.points_read,
            "points_kept": self.points_kept,
            "dropped": self.dropped,
            "vehicles": self.vehicles,
            "trips": self.trips,
            "counts": self.counts,
            "stored": self.stored,
            "replaced": self.replaced,
            "kept_reviewed": self.kept_reviewed,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "flags": [f.as_dict() for f in self.flags],
        }


def _check_days(start_day: date, end_day: date) -> None:
    if end_day < start_day:
        raise ValidationFailed(
            [
                Problem(
                    "to_date",
                    f"结束日期 {end_day} 早于开始日期 {start_day}",
                    f"end day {end_day} is before start day {start_day}",
                )
            ]
        )
    if (end_day - start_day).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            [
                Problem(
                    "to_date",
                    f"一次最多分析 {MAX_DAYS} 天",
                    f"at most {MAX_DAYS} days per analysis",
                )
            ]
        )


def _projector_for(points: pl.DataFrame) -> Projector | None:
    """The UTM zone of the batch's plausible fixes (None if it has none)."""
    lon = points["lon"].to_numpy()
    lat = points["lat"].to_numpy()
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 80)
    ok &= (lon != 0) | (lat != 0)
    if not ok.any():
        return None
    return Projector.for_points(lon[ok], lat[ok])


def analyse_days(
    session: Session,
    store: PointStore,
    start_day: date,
    end_day: date,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> AnalysisReport:
    """Run the engine over local days ``start_day..end_day`` and persist its flags."""
    settings = settings or get_settings()
    _check_days(start_day, end_day)
    tz = ZoneInfo(settings.local_timezone)
    start, end = day_bounds(start_day, end_day, tz)
    report = AnalysisReport(start_day, end_day)
    points = store.read(start, end)
    report.points_read = points.height
    projector = _projector_for(points) if points.height else None
    if projector is not None:
        context = load_context(session, start_day, end_day, projector, settings)
        result = run_pipeline(points, context, now)
        report.points_kept = result.points_kept
        report.dropped = result.cleaning.dropped
        report.vehicles = len(result.tracks)
        report.trips = len(result.trips)
        report.flags = result.flags
        report.timings = result.timings
    saved = replace_flags(session, FlagSource.engine, start_day, end_day, report.flags, tz)
    session.commit()
    report.stored, report.replaced = saved.stored, saved.replaced
    report.kept_reviewed = saved.kept_reviewed
    return report
