"""Which trucks were near a place in a time window (a citizen's report, 举报): visits.

A *visit* of a vehicle is a run of its consecutive fixes within ``radius_m`` of the place
and inside the window, with no fix farther away between them and no gap over ``gap_s``.
Of each visit: the closest fix (time, distance), the time inside the circle, the longest
*stay* (fixes within ``stop_radius_m`` of the stay's first fix: the truck stood still, GPS
jitter aside) and whether it counts as a stop (``stop_min_s``), and the load state reported
(JT/T 808 status bits 8-9) just before and just after, to see a loaded → empty change there.

The points come from :meth:`cdw.tracking.store.PointStore.read_box` (``visits_near``): the
days of the window only, and only the fixes in a box around the circle (the circle plus
``context_m`` for the fixes just before and after a visit), the box and the window pushed
down to the Parquet reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, LOAD_HALF
from cdw.tracking.store import PointStore

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0
COLUMNS = ("vehicle", "ts", "lon", "lat", "status")


@dataclass(frozen=True)
class Visit:
    vehicle: str
    first_seen: datetime
    last_seen: datetime
    closest_ts: datetime
    closest_lon: float
    closest_lat: float
    distance_m: float
    inside_s: float
    dwell_s: float
    stopped: bool
    load_before: int | None
    load_after: int | None
    unloaded: bool
    fixes: int


@dataclass(frozen=True)
class Place:
    lon: float
    lat: float
    radius_m: float

    def box(self, margin_m: float = 0.0) -> tuple[float, float, float, float]:
        """West, south, east, north of the circle grown by ``margin_m``."""
        reach = self.radius_m + margin_m
        dlat = reach / _M_PER_DEG_LAT
        dlon = reach / (_M_PER_DEG_LON_EQUATOR * max(math.cos(math.radians(self.lat)), 1e-6))
        return (self.lon - dlon, self.lat - dlat, self.lon + dlon, self.lat + dlat)

    def distances_m(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Metres from the centre (equirectangular: under 0.1 % off within a few km)."""
        kx = _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat))
        return np.hypot((lon - self.lon) * kx, (lat - self.lat) * _M_PER_DEG_LAT)


def visits_near(
    store: PointStore,
    place: Place,
    start: datetime,
    end: datetime,
    *,
    stop_radius_m: float,
    stop_min_s: float,
    gap_s: float,
    context_m: float = 300.0,
    context_s: float = 600.0,
) -> list[Visit]:
    """Every visit within ``place`` between ``start`` and ``end`` (read from ``store``)."""
    context = timedelta(seconds=context_s)
    points = store.read_box(start - context, end + context, place.box(context_m), columns=COLUMNS)
    return find_visits(
        points,
        place,
        start,
        end,
        stop_radius_m=stop_radius_m,
        stop_min_s=stop_min_s,
        gap_s=gap_s,
        context_s=context_s,
    )


def find_visits(
    points: pl.DataFrame,
    place: Place,
    start: datetime,
    end: datetime,
    *,
    stop_radius_m: float,
    stop_min_s: float,
    gap_s: float,
    context_s: float = 600.0,
) -> list[Visit]:
    """The visits in ``points`` (sorted by vehicle and time; the fixes around the circle).

    Vectorised over all fixes: the runs, their closest fix and the load states before and
    after each come from array operations; only the longest stay walks each run's fixes.
    """
    if points.height == 0:
        return []
    lon = points["lon"].to_numpy()
    lat = points["lat"].to_numpy()
    secs = points["ts"].dt.epoch("us").to_numpy().astype(np.float64) / 1e6
    dist = place.distances_m(lon, lat)
    inside = (secs >= start.timestamp()) & (secs < end.timestamp()) & (dist <= place.radius_m)
    rows = np.flatnonzero(inside)
    if rows.size == 0:
        return []
    vehicle_codes = points["vehicle"].cast(pl.Categorical).to_physical().to_numpy()
    # runs of consecutive inside fixes of one vehicle without a gap
    new_run = np.ones(rows.size, bool)
    new_run[1:] = (
        (np.diff(rows) != 1)
        | (vehicle_codes[rows[1:]] != vehicle_codes[rows[:-1]])
        | (np.diff(secs[rows]) > gap_s)
    )
    run_of = np.cumsum(new_run) - 1
    firsts = np.flatnonzero(new_run)
    a = rows[firsts]
    b = rows[np.append(firsts[1:], rows.size) - 1]
    order = np.lexsort((dist[rows], run_of))  # by run, nearest first
    closest = rows[order[np.flatnonzero(np.r_[True, np.diff(run_of[order]) != 0])]]
    # the fix just before and just after each run, when of the same vehicle and near in time
    n = points.height
    prev = np.maximum(a - 1, 0)
    nxt = np.minimum(b + 1, n - 1)
    before = np.where(
        (a > 0) & (vehicle_codes[prev] == vehicle_codes[a]) & (secs[a] - secs[prev] <= context_s),
        prev,
        a,
    )
    after = np.where(
        (b < n - 1) & (vehicle_codes[nxt] == vehicle_codes[b]) & (secs[nxt] - secs[b] <= context_s),
        nxt,
        b,
    )
    status = points["status"]
    load = np.where(
        status.is_null().to_numpy(), -1, (status.fill_null(0).to_numpy().astype(np.int64) >> 8) & 3
    )
    unloaded = _loaded_then_empty(load, before, after)
    kx = _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(place.lat))
    x, y = ((lon - place.lon) * kx).tolist(), ((lat - place.lat) * _M_PER_DEG_LAT).tolist()
    times = secs.tolist()
    plates = points["vehicle"].gather(a).to_list()
    out: list[Visit] = []
    for k in range(a.size):
        i, j = int(a[k]), int(b[k])
        dwell = _longest_stay(x[i : j + 1], y[i : j + 1], times[i : j + 1], stop_radius_m)
        lb, la = int(load[before[k]]), int(load[after[k]])
        out.append(
            Visit(
                vehicle=plates[k],
                first_seen=_utc(times[i]),
                last_seen=_utc(times[j]),
                closest_ts=_utc(times[int(closest[k])]),
                closest_lon=float(lon[closest[k]]),
                closest_lat=float(lat[closest[k]]),
                distance_m=float(dist[closest[k]]),
                inside_s=times[j] - times[i],
                dwell_s=dwell,
                stopped=dwell >= stop_min_s,
                load_before=None if lb < 0 else lb,
                load_after=None if la < 0 else la,
                unloaded=bool(unloaded[k]),
                fixes=j - i + 1,
            )
        )
    return out


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(round(seconds, 6), UTC)


def _longest_stay(x: list[float], y: list[float], secs: list[float], radius_m: float) -> float:
    """Longest span of consecutive fixes (metres ``x``, ``y``) within ``radius_m`` of the mean
    position of the span's fixes so far; one fix farther, with the next one back within, is
    taken for a multipath jump and skipped."""
    best, first, count = 0.0, 0, 1
    sx, sy = x[0], y[0]
    r2 = radius_m * radius_m
    last = len(x) - 1
    for i in range(1, last + 1):
        cx, cy = sx / count, sy / count
        if (x[i] - cx) ** 2 + (y[i] - cy) ** 2 <= r2:
            count, sx, sy = count + 1, sx + x[i], sy + y[i]
            if secs[i] - secs[first] > best:
                best = secs[i] - secs[first]
        elif i < last and (x[i + 1] - cx) ** 2 + (y[i + 1] - cy) ** 2 <= r2:
            continue  # one stray fix
        else:
            first, count, sx, sy = i, 1, x[i], y[i]
    return best


def _loaded_then_empty(load: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per range ``lo[k]..hi[k]`` of ``load`` (JT/T 808 load codes, -1 unknown): some fix
    reports a load (half or full) and a later one empty. From the next loaded fix at or
    after each index and the last empty fix at or before it."""
    n = load.size
    idx = np.arange(n)
    loaded = (load == LOAD_FULL) | (load == LOAD_HALF)
    next_loaded = np.minimum.accumulate(np.where(loaded, idx, n)[::-1])[::-1]
    last_empty = np.maximum.accumulate(np.where(load == LOAD_EMPTY, idx, -1))
    first_loaded, final_empty = next_loaded[lo], last_empty[hi]
    return (first_loaded <= hi) & (final_empty >= lo) & (first_loaded < final_empty)
