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
from datetime import datetime, timedelta

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
    """The visits in ``points`` (sorted by vehicle and time; the fixes around the circle)."""
    if points.height == 0:
        return []
    lon = points["lon"].to_numpy()
    lat = points["lat"].to_numpy()
    ts = points["ts"]
    secs = ts.dt.epoch("us").to_numpy().astype(np.float64) / 1e6
    dist = place.distances_m(lon, lat)
    in_window = (secs >= start.timestamp()) & (secs < end.timestamp())
    inside = in_window & (dist <= place.radius_m)
    status = points["status"].fill_null(np.iinfo(np.uint32).max).to_numpy().astype(np.int64)
    load = np.where(status == np.iinfo(np.uint32).max, -1, (status >> 8) & 0b11)
    vehicles = points["vehicle"].to_numpy()
    # vehicle runs: rows [bounds[k], bounds[k+1])
    change = np.flatnonzero(vehicles[1:] != vehicles[:-1]) + 1
    bounds = np.concatenate(([0], change, [points.height]))
    kx = _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(place.lat))
    out: list[Visit] = []
    for v0, v1 in zip(bounds[:-1], bounds[1:], strict=True):
        rows = np.flatnonzero(inside[v0:v1]) + v0
        if rows.size == 0:
            continue
        breaks = np.flatnonzero((np.diff(rows) != 1) | (np.diff(secs[rows]) > gap_s)) + 1
        for run in np.split(rows, breaks):
            a, b = int(run[0]), int(run[-1])
            closest = a + int(np.argmin(dist[a : b + 1]))
            dwell = _longest_stay(
                lon[a : b + 1], lat[a : b + 1], secs[a : b + 1], kx, stop_radius_m
            )
            before = a - 1 if a - 1 >= v0 and secs[a] - secs[a - 1] <= context_s else a
            after = b + 1 if b + 1 < v1 and secs[b + 1] - secs[b] <= context_s else b
            states = load[before : after + 1]
            out.append(
                Visit(
                    vehicle=str(vehicles[a]),
                    first_seen=ts[a],
                    last_seen=ts[b],
                    closest_ts=ts[closest],
                    distance_m=float(dist[closest]),
                    inside_s=float(secs[b] - secs[a]),
                    dwell_s=dwell,
                    stopped=dwell >= stop_min_s,
                    load_before=None if load[before] < 0 else int(load[before]),
                    load_after=None if load[after] < 0 else int(load[after]),
                    unloaded=_loaded_then_empty(states),
                    fixes=int(b - a + 1),
                )
            )
    return out


def _longest_stay(
    lon: np.ndarray, lat: np.ndarray, secs: np.ndarray, kx: float, radius_m: float
) -> float:
    """Longest span of consecutive fixes within ``radius_m`` of the mean position of the
    span's fixes so far; one fix farther, with the next one back within, is taken for a
    multipath jump and skipped."""
    x = (lon - lon[0]) * kx if lon.size else lon
    y = (lat - lat[0]) * _M_PER_DEG_LAT if lat.size else lat
    best, first, n, sx, sy = 0.0, 0, 1, 0.0, 0.0
    if lon.size:
        sx, sy = float(x[0]), float(y[0])

    def near(i: int) -> bool:
        return math.hypot(x[i] - sx / n, y[i] - sy / n) <= radius_m

    for i in range(1, lon.size):
        if near(i):
            n, sx, sy = n + 1, sx + float(x[i]), sy + float(y[i])
            best = max(best, float(secs[i] - secs[first]))
        elif i + 1 < lon.size and near(i + 1):
            continue  # one stray fix
        else:
            first, n, sx, sy = i, 1, float(x[i]), float(y[i])
    return best


def _loaded_then_empty(states: np.ndarray) -> bool:
    """Some fix reports a load (half or full) and a later one empty."""
    loaded = np.flatnonzero((states == LOAD_FULL) | (states == LOAD_HALF))
    empty = np.flatnonzero(states == LOAD_EMPTY)
    return bool(loaded.size and empty.size and loaded[0] < empty[-1])
