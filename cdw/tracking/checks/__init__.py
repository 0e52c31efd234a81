"""Checks: one module each, a pure ``check(trip, track, ctx) -> list[Flag]``.

Shared rules, so that every check measures the same way:

- A run of fixes lasts from its first to its last fix (``t[last] - t[first]``); a stay lasts
  from its first fix to the fix that ends it, as in trackintel (``VehicleTrack.stays``).
- An event found on the whole track (a stay, a run, a gap) belongs to the trip that holds
  its first fix (a gap: the fix after it), so no event is reported twice or cut in two at a
  geofence.
- Thresholds are the trip's (``Trip.thresholds``: settings with the permit's overrides).
- With a road network (``ctx.roads``), a check map-matches only the stretch of track it
  needs (``matched``), once per track and stretch, whichever check asks first.
- A check module may also define ``may_flag(track, trips, ctx) -> bool``, a cheap test on
  the whole track: False promises that ``check`` returns no flag for any of ``trips``, and
  the pipeline then skips them. It is a speed-up only (most tracks have no event of most
  kinds) and never changes a result.

A check states what it found (``Finding``: the code, measured values, thresholds and
evidence); ``make_flag`` has the catalogue (``cdw.flags.explain``) word it. This module holds
that and the evidence helpers the checks share.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.flags.explain import explain
from cdw.flags.values import Flag
from cdw.tracking import _kernels as K
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, VehicleTrack, utc

if TYPE_CHECKING:
    from cdw.roads.matching import MatchResult

_COORD_DECIMALS = 7  # ~1 cm
_SIMPLIFY_DEG = 5e-6  # ~0.5 m
_MAX_PATH_VERTICES = 500
STILL_KMH = 3.0  # a parked truck's terminal reports 0; this allows for a creep or rounding


@dataclass(frozen=True)
class Events:
    """Events found once on a whole track, sorted by first fix: ``starts[k]..ends[k]``
    (the meaning of ``ends`` is the producer's). ``in_trip`` picks a trip's own."""

    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, starts: np.ndarray, ends: np.ndarray) -> Events:
        return cls(starts.tolist(), ends.tolist())

    def in_trip(self, trip: Trip) -> list[tuple[int, int]]:
        if not self.starts:
            return []
        lo, hi = self.span(trip)
        return list(zip(self.starts[lo:hi], self.ends[lo:hi], strict=True))

    def span(self, trip: Trip) -> tuple[int, int]:
        """The trip's own events are ``lo..hi-1``."""
        lo = bisect_left(self.starts, trip.start_index)
        return lo, bisect_left(self.starts, trip.end_index, lo)


@dataclass(frozen=True)
class Stays(Events):
    """Stays (``ends`` inclusive) with the fix that ends each one
    (``VehicleTrack.stay_departures``) and its centre: the mean projected position of its
    fixes (``cx``, ``cy``) and that point in lon/lat, computed for the whole track at once."""

    departures: list[int]
    cx: np.ndarray
    cy: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def thresholds_of(track: VehicleTrack, trips: Sequence[Trip]) -> list[Thresholds]:
    """The distinct threshold sets of ``trips`` (by identity): the settings' and one per
    permit, so a track-wide test runs once for each. Found once per list of trips: the
    memo keeps the list itself, so its ``id`` cannot be reused meanwhile."""

    def distinct() -> tuple[Sequence[Trip], list[Thresholds]]:
        return trips, list({id(trip.thresholds): trip.thresholds for trip in trips}.values())

    return track.memo(("thresholds_of", id(trips)), distinct)[1]


def runs(mask: np.ndarray, cut_before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of True in ``mask`` that also break where ``cut_before[i]`` (between fix i-1 and
    i): (starts, ends), end exclusive."""
    if not mask.any():
        empty = np.empty(0, np.int64)
        return empty, empty
    prev = np.concatenate(([False], mask[:-1]))
    starts = mask & (~prev | cut_before)
    following = np.concatenate((mask[1:], [False]))
    cut_after = np.concatenate((cut_before[1:], [True]))
    ends = mask & (~following | cut_after)
    return np.flatnonzero(starts), np.flatnonzero(ends) + 1


def signal_gaps(track: VehicleTrack, signal_gap_s: float) -> np.ndarray:
    """Boolean per fix: the time since the previous fix is at least ``signal_gap_s``."""
    return track.memo(("gaps", signal_gap_s), lambda: track.dt_s >= signal_gap_s)


def gap_ends(track: VehicleTrack, signal_gap_s: float) -> np.ndarray:
    """Index of every fix that follows a signal gap."""
    return track.memo(
        ("gap_ends", signal_gap_s), lambda: np.flatnonzero(signal_gaps(track, signal_gap_s))
    )


def stays_outside(
    track: VehicleTrack,
    radius_m: float,
    min_duration_s: float,
    max_gap_s: float,
    signal_gap_s: float,
    ctx: AnalysisContext,
) -> Stays:
    """Stays (``VehicleTrack.stays``) not inside an authorised zone, i.e. with fewer than half
    of their fixes in a site, facility or depot, lasting ``min_duration_s`` up to their
    departure (``VehicleTrack.stay_departures``); ``ends`` inclusive. A stay whose every fix
    has the terminal reporting the truck moving (above ``STILL_KMH``) is no stop: the fixes
    met in one place because the truck went round and came back while unseen."""

    def compute() -> Stays:
        starts, ends = track.stays(radius_m, min_duration_s, max_gap_s)
        inside, always_moving = K.stay_verdicts(
            starts, ends, track.authorised, track.reported_speed, track.speed_kmh, STILL_KMH
        )
        departures = track.stay_departures(ends, signal_gap_s)
        long_enough = track.t[departures] - track.t[starts] >= min_duration_s
        keep = ~inside & long_enough & ~always_moving
        starts, ends, departures = starts[keep], ends[keep], departures[keep]
        cx, cy = (c[keep] for c in track.stay_centres(radius_m, min_duration_s, max_gap_s))
        lon, lat = ctx.projector.inverse(cx, cy) if cx.size else (cx, cy)
        return Stays(starts.tolist(), ends.tolist(), departures.tolist(), cx, cy, lon, lat)

    return track.memo(("stays_outside", radius_m, min_duration_s, max_gap_s, signal_gap_s), compute)


def matched(track: VehicleTrack, ctx: AnalysisContext, first: int, end: int) -> MatchResult:
    """Fixes ``first..end-1`` matched onto ``ctx.roads`` (which must be set)."""
    return track.memo(
        ("matched", first, end),
        lambda: ctx.roads.match(track.x[first:end], track.y[first:end]),
    )


def point_geometry(lon: float, lat: float) -> dict[str, Any]:
    return {
        "type": "Point",
        "coordinates": [round(lon, _COORD_DECIMALS), round(lat, _COORD_DECIMALS)],
    }


def path_geometry(track: VehicleTrack, first: int, last: int) -> dict[str, Any]:
    """The fixes ``first..last`` as a GeoJSON LineString (a Point when there is one),
    simplified (Douglas-Peucker) within ~0.5 m, or coarser until it has at most
    ``_MAX_PATH_VERTICES`` vertices."""
    if last <= first:
        return point_geometry(float(track.lon[first]), float(track.lat[first]))
    coords = np.column_stack((track.lon[first : last + 1], track.lat[first : last + 1]))
    tolerance = _SIMPLIFY_DEG
    while len(coords) > 2:
        line = shapely.simplify(shapely.linestrings(coords), tolerance, preserve_topology=False)
        coords = shapely.get_coordinates(line)
        if len(coords) <= _MAX_PATH_VERTICES:
            break
        tolerance *= 2
    return {"type": "LineString", "coordinates": np.round(coords, _COORD_DECIMALS).tolist()}


def local_time(ctx: AnalysisContext, epoch_s: float) -> datetime:
    return utc(epoch_s).astimezone(ctx.timezone)


def in_night(ctx: AnalysisContext, epoch_s: float, start_hour: int, end_hour: int) -> bool:
    """Local hour in ``[start_hour, end_hour)``, the window wrapping past midnight."""
    hour = local_time(ctx, epoch_s).hour
    if start_hour <= end_hour:
        return start_hour <= hour < end_hour
    return hour >= start_hour or hour < end_hour


def clamp_score(value: float) -> int:
    return int(max(0, min(100, round(value))))


@dataclass(frozen=True)
class Finding:
    """What a check found on fixes ``first..last`` of a track: the facts a flag is made of.
    Its sentence comes from the catalogue (``cdw.flags.explain``): ``measured`` at full
    precision (the flag keeps its figures to 0.1), ``wording`` the names the sentence needs
    beyond them. Located at ``at`` (lon, lat: a point flag there) or at the first fix with
    the path of fixes ``path`` (default ``first..last``) as geometry; ``end_time`` overrides
    the time of the last fix."""

    code: FlagCode
    first: int
    last: int
    severity: float
    measured: dict[str, Any]
    thresholds: dict[str, Any]
    wording: dict[str, Any] = field(default_factory=dict)
    at: tuple[float, float] | None = None
    path: tuple[int, int] | None = None
    end_time: float | None = None


def _to_tenths(measured: dict[str, Any]) -> dict[str, Any]:
    return {
        k: round(v, 1) if isinstance(v, float | np.floating) else v for k, v in measured.items()
    }


def make_flag(found: Finding, trip: Trip, track: VehicleTrack) -> Flag:
    """The flag of ``found`` on ``trip``, explained by the catalogue."""
    zh, en = explain(found.code, found.measured, found.thresholds, found.wording)
    if found.at is not None:
        lon, lat = found.at
        geometry = point_geometry(lon, lat)
    else:
        lon, lat = float(track.lon[found.first]), float(track.lat[found.first])
        geometry = path_geometry(track, *(found.path or (found.first, found.last)))
    end_time = found.end_time
    return Flag(
        code=found.code,
        severity=clamp_score(found.severity),
        vehicle=trip.vehicle,
        trip_id=trip.trip_id,
        start=track.time(found.first),
        end=utc(end_time) if end_time is not None else track.time(found.last),
        lon=round(lon, _COORD_DECIMALS),
        lat=round(lat, _COORD_DECIMALS),
        geometry=geometry,
        measured=_to_tenths(found.measured),
        thresholds=found.thresholds,
        explanation_zh=zh,
        explanation_en=en,
        permit_no=trip.permit_no,
    )
