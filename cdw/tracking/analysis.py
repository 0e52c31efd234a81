"""What an analysis of whole local days reports, and the checks of its request (the run
itself is ``cdw.flows.day``: it reads the point store, runs the pipeline, stores the flags).

Re-analysing a day replaces its flags: the engine's flags of those days that are still
``open`` are deleted and the new ones written, in one transaction. A flag someone has
already worked on (any other status) stays as it is, and the engine does not write it a
second time (same source, code, vehicle and start).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from cdw.errors import Problem, ValidationFailed
from cdw.flags.values import Flag
from cdw.geo.projection import Projector
from cdw.tracking.checks.listing import ENGINE_CHECKS

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


def check_days(start_day: date, end_day: date) -> None:
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


def projector_for(points: pl.DataFrame) -> Projector | None:
    """The UTM zone of the batch's plausible fixes (None if it has none)."""
    lon = points["lon"].to_numpy()
    lat = points["lat"].to_numpy()
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 80)
    ok &= (lon != 0) | (lat != 0)
    if not ok.any():
        return None
    return Projector.for_points(lon[ok], lat[ok])
