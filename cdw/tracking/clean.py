"""Cleaning: named filters applied in one fixed order, each recording what it did and why.

Each filter is a pure function ``(frame, thresholds, now) -> FilterResult``. In order:

1. ``invalid_coordinates`` drops null, NaN or out-of-range coordinates and the (0, 0) fix
   that terminals send when they have no position.
2. ``future_timestamps`` drops points later than ``now + Thresholds.future_tolerance_s``.
3. ``duplicates`` drops repeats of a ``(vehicle, ts)`` key, keeping the first in file order.
4. ``out_of_order`` counts points whose time is earlier than the previous point of the same
   vehicle in file order, and sorts every vehicle's points by time. It keeps them: JT/T 808
   terminals upload points recorded without signal later (0x0704 blind-area re-upload), and
   dropping those would manufacture signal gaps and false tamper flags. Wrong clocks that
   place a point far from its neighbours are caught by the next filter.
5. ``implied_speed_jumps`` drops a point whose implied speed from the last kept point of the
   same vehicle exceeds ``Thresholds.max_implied_speed_kmh`` (see
   :func:`cdw.tracking._clean_kernels.implied_speed_keep`). It sees one batch at a time.

:func:`clean` returns the kept points sorted by vehicle and time, the count per reason and
the dropped rows with their reason code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl

from cdw.config import Thresholds
from cdw.tracking._clean_kernels import any_repeat, implied_speed_keep, steps_back
from cdw.tracking.points import POINTS_SCHEMA, conform


@dataclass(frozen=True)
class Reason:
    code: str
    zh: str
    en: str
    action: Literal["dropped", "reordered"] = "dropped"


INVALID_COORDINATES = Reason(
    "invalid_coordinates", "坐标无效或为 (0,0)", "invalid or (0,0) coordinates"
)
FUTURE_TIMESTAMPS = Reason("future_timestamps", "时间晚于当前时间", "timestamp in the future")
DUPLICATES = Reason("duplicates", "重复点（同车同时刻）", "duplicate (same vehicle and time)")
OUT_OF_ORDER = Reason(
    "out_of_order", "时间乱序（已重排保留）", "out of order (re-sorted, kept)", action="reordered"
)
IMPLIED_SPEED_JUMPS = Reason(
    "implied_speed_jumps", "位置跳变（隐含速度过高）", "position jump (implied speed too high)"
)
REASONS: dict[str, Reason] = {
    r.code: r
    for r in (INVALID_COORDINATES, FUTURE_TIMESTAMPS, DUPLICATES, OUT_OF_ORDER, IMPLIED_SPEED_JUMPS)
}


@dataclass(frozen=True)
class FilterResult:
    kept: pl.DataFrame
    dropped: pl.DataFrame
    reason: Reason
    count: int  # points dropped, or for a reordering filter points found out of order


CleanFilter = Callable[[pl.DataFrame, Thresholds, datetime], FilterResult]


def _split(frame: pl.DataFrame, bad: pl.Expr | pl.Series, reason: Reason) -> FilterResult:
    if isinstance(bad, pl.Expr):
        bad = frame.select(bad).to_series()
    mask = bad.fill_null(True)
    if not mask.any():  # the usual case: keep the frame as it is, copy nothing
        return FilterResult(frame, frame.clear(), reason, 0)
    dropped = frame.filter(mask)
    return FilterResult(frame.filter(~mask), dropped, reason, dropped.height)


def _all_coordinates_valid(frame: pl.DataFrame) -> bool:
    """The usual case, decided in a few passes: no null, NaN, infinite, out-of-range or (0, 0)
    coordinate (NaN and infinities fail the range comparisons)."""
    if frame["lon"].null_count() or frame["lat"].null_count():
        return False
    lon, lat = frame["lon"].to_numpy(), frame["lat"].to_numpy()
    return bool(
        lon.size == 0
        or (
            -180.0 <= lon.min() <= lon.max() <= 180.0
            and -90.0 <= lat.min() <= lat.max() <= 90.0
            and not ((lon == 0.0) & (lat == 0.0)).any()
        )
    )


def invalid_coordinates(frame: pl.DataFrame, thresholds: Thresholds, now: datetime) -> FilterResult:
    if _all_coordinates_valid(frame):
        return FilterResult(frame, frame.clear(), INVALID_COORDINATES, 0)
    lon, lat = pl.col("lon"), pl.col("lat")
    bad = (
        lon.is_null()
        | lat.is_null()
        | ~lon.is_finite()
        | ~lat.is_finite()
        | (lon.abs() > 180.0)
        | (lat.abs() > 90.0)
        | ((lon == 0.0) & (lat == 0.0))
    )
    return _split(frame, bad, INVALID_COORDINATES)


def future_timestamps(frame: pl.DataFrame, thresholds: Thresholds, now: datetime) -> FilterResult:
    limit = now.astimezone(UTC) + timedelta(seconds=thresholds.future_tolerance_s)
    return _split(frame, pl.col("ts") > limit, FUTURE_TIMESTAMPS)


def vehicles_marked_sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with polars told that ``vehicle`` is sorted (checked by the caller), so that
    the next ``sorted_by_vehicle_ts`` need not scan the strings again (with a null plate polars
    would read the mark differently: then none)."""
    if frame["vehicle"].null_count():
        return frame
    return frame.with_columns(pl.col("vehicle").set_sorted())


def duplicates(frame: pl.DataFrame, thresholds: Thresholds, now: datetime) -> FilterResult:
    if sorted_by_vehicle_ts(frame):  # points read back from the store: compare neighbours
        frame = vehicles_marked_sorted(frame)
        # no repeated time, so no repeated key
        if not any_repeat(frame["ts"].to_physical().to_numpy()):
            return FilterResult(frame, frame.clear(), DUPLICATES, 0)
        repeat = (pl.col("vehicle") == pl.col("vehicle").shift(1)) & (
            pl.col("ts") == pl.col("ts").shift(1)
        )
        return _split(frame, repeat.fill_null(False), DUPLICATES)
    return _split(frame, ~pl.struct("vehicle", "ts").is_first_distinct(), DUPLICATES)


def out_of_order(frame: pl.DataFrame, thresholds: Thresholds, now: datetime) -> FilterResult:
    if sorted_by_vehicle_ts(frame):
        return FilterResult(frame, frame.clear(), OUT_OF_ORDER, 0)
    earlier = (pl.col("ts") < pl.col("ts").shift(1).over("vehicle")).fill_null(False)
    count = int(frame.select(earlier.sum()).item())
    kept = frame.sort("vehicle", "ts", maintain_order=True)
    return FilterResult(kept, frame.clear(), OUT_OF_ORDER, count)


def implied_speed_jumps(frame: pl.DataFrame, thresholds: Thresholds, now: datetime) -> FilterResult:
    if frame.height == 0:
        return FilterResult(frame, frame.clear(), IMPLIED_SPEED_JUMPS, 0)
    if not sorted_by_vehicle_ts(frame):
        frame = frame.sort("vehicle", "ts", maintain_order=True)
    vehicle = frame["vehicle"]
    starts = np.append(
        (vehicle != vehicle.shift(1)).fill_null(True).arg_true().to_numpy(), frame.height
    )
    keep = implied_speed_keep(
        frame["lon"].to_numpy(),
        frame["lat"].to_numpy(),
        frame["ts"].dt.epoch("us").to_numpy(),
        starts.astype(np.int64),
        thresholds.max_implied_speed_kmh / 3.6,
    )
    return _split(frame, pl.Series(~keep), IMPLIED_SPEED_JUMPS)


def sorted_by_vehicle_ts(frame: pl.DataFrame) -> bool:
    """Whether rows are ordered by vehicle, then time (ties allowed); one linear pass."""
    vehicle, ts = frame["vehicle"], frame["ts"]
    if vehicle.null_count() == 0 and ts.null_count() == 0:
        # Fast path (the usual frame): polars knows or checks cheaply that the vehicles are
        # sorted; then only time steps backwards within one vehicle can break the order.
        if not vehicle.is_sorted():
            return False
        # Time steps back (few: one where each vehicle starts) must all be vehicle changes.
        back = pl.Series(steps_back(ts.to_physical().to_numpy()))
        return bool((vehicle.gather(back) != vehicle.gather(back - 1)).all())
    prev_v, prev_t = pl.col("vehicle").shift(1), pl.col("ts").shift(1)
    descending = (pl.col("vehicle") < prev_v) | (
        (pl.col("vehicle") == prev_v) & (pl.col("ts") < prev_t)
    )
    return not frame.select(descending.fill_null(False).any()).item()


FILTERS: tuple[CleanFilter, ...] = (
    invalid_coordinates,
    future_timestamps,
    duplicates,
    out_of_order,
    implied_speed_jumps,
)


@dataclass(frozen=True)
class CleanResult:
    points: pl.DataFrame
    dropped: dict[str, int]
    reordered: int
    dropped_rows: pl.DataFrame  # points columns + ``reason`` (a code of REASONS)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def clean(
    frame: pl.DataFrame, thresholds: Thresholds | None = None, now: datetime | None = None
) -> CleanResult:
    thresholds = thresholds or Thresholds()
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    current = conform(frame)
    dropped: dict[str, int] = {}
    reordered = 0
    dropped_parts: list[pl.DataFrame] = []
    for step in FILTERS:
        result = step(current, thresholds, now)
        current = result.kept
        if result.reason.action == "reordered":
            reordered += result.count
            continue
        dropped[result.reason.code] = result.count
        if result.dropped.height:
            dropped_parts.append(result.dropped.with_columns(reason=pl.lit(result.reason.code)))
    dropped_rows = (
        pl.concat(dropped_parts)
        if dropped_parts
        else pl.DataFrame(schema={**POINTS_SCHEMA, "reason": pl.String()})
    )
    return CleanResult(current, dropped, reordered, dropped_rows)
