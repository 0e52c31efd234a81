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


def projector_for_bounds(west: float, east: float, south: float, north: float) -> Projector | None:
    """``projector_for`` of points known by their extremes alone, where those decide it:
    every value plausible (no (0, 0) fix possible among them) and all in one 6° zone of
    longitude and one hemisphere, so their median is too; else None (a scan must tell)."""
    if not (-180.0 <= west <= east <= 180.0 and -80.0 <= south <= north <= 80.0):
        return None
    if west <= 0.0 <= east and south <= 0.0 <= north:
        return None
    if (west + 180.0) // 6.0 != (east + 180.0) // 6.0 or (south >= 0.0) != (north >= 0.0):
        return None
    return Projector.for_points([west], [south])


def projector_for_scan(points: pl.LazyFrame) -> Projector | None:
    """``projector_for`` of the collected frame, without collecting it: one streaming pass
    counts the plausible fixes per 6° zone of longitude and per hemisphere, with their
    extremes. The UTM zone is that of the median (``utm_crs_for``), and the median lies in
    the bin holding the middle rank(s); when an even count splits its two middle values
    across bins, they are the extremes either side and give the median itself."""
    lon, lat = pl.col("lon"), pl.col("lat")
    plausible = (
        lon.is_finite()
        & lat.is_finite()
        & (lon.abs() <= 180)
        & (lat.abs() <= 80)
        & ((lon != 0) | (lat != 0))
    )
    # ``int((lon + 180) // 6)`` as Python computes it: a float below a multiple 6k of 6 lies
    # at least a unit of its last place (ulp) below it, and a sixth of that is more than
    # half an ulp of k, so its quotient by 6 never rounds up to k and the floor is exact.
    zone_bin = ((lon + 180.0) / 6.0).floor().cast(pl.Int32)
    stats = (
        points.select("lon", "lat")
        .filter(plausible)
        .group_by(zone_bin.alias("lon_bin"), (lat >= 0).alias("lat_bin"))
        .agg(
            pl.len().alias("n"),
            lon.min().alias("lon_min"),
            lon.max().alias("lon_max"),
            lat.min().alias("lat_min"),
            lat.max().alias("lat_max"),
        )
        .collect(engine="streaming")
    )
    if stats.height == 0:
        return None
    median_lon = _median_representative(stats, "lon_bin", "lon")
    median_lat = _median_representative(stats, "lat_bin", "lat")
    return Projector.for_points([median_lon], [median_lat])


def _median_representative(stats: pl.DataFrame, bin_column: str, value: str) -> float:
    """A value that ``utm_crs_for`` treats as the median of ``value``: the median itself when
    the two middle values of an even count lie in different bins, else the smallest value of
    the bin holding the middle (every value of a bin gives the same zone or hemisphere)."""
    bins = (
        stats.group_by(bin_column)
        .agg(
            pl.col("n").sum(),
            pl.col(f"{value}_min").min().alias("low"),
            pl.col(f"{value}_max").max().alias("high"),
        )
        .sort(bin_column)
    )
    counts = bins["n"].to_numpy().astype(np.int64)
    ends = np.cumsum(counts)  # rank just past each bin
    total = int(ends[-1])
    upper = int(np.searchsorted(ends, total // 2, side="right"))  # bin of rank total // 2
    if total % 2 == 0:
        lower = int(np.searchsorted(ends, total // 2 - 1, side="right"))
        if lower != upper:
            middle = np.array([bins["high"][lower], bins["low"][upper]], dtype=np.float64)
            return float(np.median(middle))
    return float(bins["low"][upper])
