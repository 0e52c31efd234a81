"""SUSPECTED_DUMPING 疑似偷倒: while loaded, a stay of ≥ ``dumping_stop_min_duration_s``
within ``stop_radius_m`` outside authorised zones (sites, facilities, depots).

The severity is a score, each component shown in ``measured["score"]``:

| component | points | when |
|---|---|---|
| ``base`` | 40 | every such stop |
| ``near_facility`` | 15 | within ``dumping_facility_radius_m`` of a facility geofence, outside it |
| ``off_route`` | 15 | farther than ``corridor_half_width_m`` from the permit's routes (if any) |
| ``night`` | 10 | the stop starts at a local hour in ``night_start_hour..night_end_hour`` |
| ``hotspot`` | 15 | the stop lies in a known dumping hotspot (``AnalysisContext.hotspots``) |
| ``load_dropped`` | 25 | load bits half/full at the stop's first fix, empty at the fix ending it |
| ``never_reaches_facility`` | 10 | the leg does not end at its permitted facility (any, if no permit) |

capped at 100.

A gate queue is no dumping: a stay at the leg's destination fence (or its origin's), its
centre and every fix between it and the fence (from the stay to the arrival, or from the
departure to the stay) within ``fence_exit_margin_m`` of that fence, is the truck waiting
to get in (or out); the same GPS tolerance that keeps fixes just outside a fence in the
visit (``trips.visit_places``).

Where the load ends (``load_end``): a loaded leg carries its load up to its end, except

- with load bits (``load_state_source`` reported): from the first fix of the leg's last run
  of fixes whose bits say empty, up to its end, the truck is empty (it tipped somewhere);
- without them (inferred), on a leg that does not end at a facility: after the last stop this
  check flags, the load is presumed gone there (the truck turned back to a site, or was not
  seen arriving anywhere, with its load dropped at that stop).

A stop that starts after the load ended is an empty truck's, no dumping; the other checks of
a moving loaded truck (``route_deviation``, ``out_of_hours``) look at the leg only up to
``load_end`` too: the way back of a truck that dumped its load is an empty run.
"""

from __future__ import annotations

import numpy as np
import shapely

from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.geo.index import SegmentIndex
from cdw.tracking.checks import (
    Finding,
    Stays,
    in_night,
    local_time,
    make_flag,
    stays_outside,
    thresholds_of,
)
from cdw.tracking.context import AnalysisContext
from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, LOAD_HALF
from cdw.tracking.trips import REPORTED, Place, Trip, TripKind, VehicleTrack

POINTS = {
    "base": 40,
    "near_facility": 15,
    "off_route": 15,
    "night": 10,
    "hotspot": 15,
    "load_dropped": 25,
    "never_reaches_facility": 10,
}


def _params(th: Thresholds) -> tuple[float, float, float, float]:
    return (
        th.stop_radius_m,
        th.dumping_stop_min_duration_s,
        th.trip_split_gap_s,
        th.signal_gap_s,
    )


def _stays(track: VehicleTrack, th: Thresholds, ctx: AnalysisContext) -> Stays:
    return stays_outside(track, *_params(th), ctx)


def _facility_distances(
    track: VehicleTrack, th: Thresholds, ctx: AnalysisContext
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest facility (distance, index) of every stay of the track, in one call."""
    stays = _stays(track, th, ctx)
    return track.memo(
        ("dumping_facility", *_params(th)), lambda: ctx.facility_distances(stays.cx, stays.cy)
    )


def _route_distances(
    track: VehicleTrack, th: Thresholds, ctx: AnalysisContext, routes: SegmentIndex
) -> np.ndarray:
    """Distance of every stay of the track to the permit's routes, in one call."""
    stays = _stays(track, th, ctx)
    return track.memo(
        ("dumping_route", *_params(th), routes),
        lambda: routes.distance(stays.cx, stays.cy)[0],
    )


def _at_fence(
    ctx: AnalysisContext, place: Place | None, x: np.ndarray, y: np.ndarray, margin_m: float
) -> bool:
    """Every point within ``margin_m`` of ``place``'s fence (inside it counts as 0)."""
    if place is None:
        return False
    fence = ctx.zones(place.kind)[place.index].geometry
    return bool((shapely.distance(fence, shapely.points(x, y)) <= margin_m).all())


def _gate_queue(
    trip: Trip, track: VehicleTrack, ctx: AnalysisContext, stays: Stays, k: int
) -> bool:
    """The stay is a wait at the gate of the leg's destination or origin (docstring)."""
    margin = trip.thresholds.fence_exit_margin_m
    cx, cy = stays.cx[k : k + 1], stays.cy[k : k + 1]
    after = slice(stays.ends[k] + 1, trip.last_fix)
    before = slice(trip.first_fix + 1, stays.starts[k])
    return any(
        _at_fence(ctx, place, np.append(cx, track.x[part]), np.append(cy, track.y[part]), margin)
        for place, part in ((trip.destination, after), (trip.origin, before))
    )


def _dumping_stays(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[int]:
    """The trip's stays (indices into ``_stays``) that are no gate queue, whatever the load."""
    stays = _stays(track, trip.thresholds, ctx)
    first, end = stays.span(trip)
    return [k for k in range(first, end) if not _gate_queue(trip, track, ctx, stays, k)]


def load_end(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> int:
    """One past the last fix of a loaded leg that still carries the load (docstring);
    ``trip.start_index`` for a leg that is not loaded."""
    lo, hi = trip.start_index, trip.end_index
    if trip.kind != TripKind.loaded:
        return lo

    def compute() -> int:
        if trip.load_state_source == REPORTED:
            carried = np.flatnonzero(track.load[lo:hi] != LOAD_EMPTY)
            return lo + int(carried[-1]) + 1 if carried.size else lo
        if trip.destination is not None and trip.destination.kind == "facility":
            return hi
        stops = _dumping_stays(trip, track, ctx)
        if not stops:
            return hi
        return min(hi, _stays(track, trip.thresholds, ctx).ends[stops[-1]] + 1)

    return track.memo(("load_end", lo, id(trip.thresholds)), compute)


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    loaded = [trip for trip in trips if trip.kind == TripKind.loaded]
    return any(_stays(track, th, ctx).starts for th in thresholds_of(track, loaded))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    if trip.kind != TripKind.loaded:
        return []
    th = trip.thresholds
    stays = _stays(track, th, ctx)
    first, end = stays.span(trip)
    if first == end:
        return []
    carried_to = load_end(trip, track, ctx)
    permitted = trip.permit.facility_id if trip.permit else None
    arrived = trip.destination_facility_id
    reaches = arrived is not None and (permitted is None or arrived == permitted)
    facility_dist, facility_index = _facility_distances(track, th, ctx)
    routes = trip.permit.route_index if trip.permit is not None else None
    route_dist = _route_distances(track, th, ctx, routes) if routes is not None else None
    flags = []
    for k in _dumping_stays(trip, track, ctx):
        s, e = stays.starts[k], stays.ends[k]
        if s >= carried_to:
            break
        departure = stays.departures[k]
        duration = float(track.t[departure] - track.t[s])
        cx, cy = float(stays.cx[k]), float(stays.cy[k])
        facility_m, facility_i = float(facility_dist[k]), int(facility_index[k])
        hotspot = ctx.hotspot_at(cx, cy)
        off_route = None
        if route_dist is not None:
            off_route = float(route_dist[k]) > th.corridor_half_width_m
        hits = {
            "base": True,
            "near_facility": 0 < facility_m <= th.dumping_facility_radius_m,
            "off_route": bool(off_route),
            "night": in_night(ctx, track.t[s], th.night_start_hour, th.night_end_hour),
            "hotspot": hotspot is not None,
            "load_dropped": int(track.load[s]) in (LOAD_HALF, LOAD_FULL)
            and int(track.load[departure]) == LOAD_EMPTY,
            "never_reaches_facility": not reaches,
        }
        score = {name: POINTS[name] if hit else 0 for name, hit in hits.items()}
        total = min(100, sum(score.values()))
        facility_name = ctx.facilities[facility_i].name if facility_i >= 0 else None
        lon, lat = float(stays.lon[k]), float(stays.lat[k])
        flags.append(
            make_flag(
                Finding(
                    FlagCode.SUSPECTED_DUMPING,
                    s,
                    e,
                    severity=total,
                    measured={
                        "duration_s": duration,
                        "n_fixes": e - s + 1,
                        "score": score,
                        "score_total": total,
                        "nearest_facility": facility_name,
                        "nearest_facility_distance_m": None if facility_i < 0 else facility_m,
                        "off_route": off_route,
                        "hotspot": hotspot.name if hotspot else None,
                        "local_start": local_time(ctx, track.t[s]).isoformat(),
                        "load_before": int(track.load[s]),
                        "load_after": int(track.load[departure]),
                        "destination_facility_id": arrived,
                        "permitted_facility_id": permitted,
                        "load_state_source": trip.load_state_source,
                    },
                    thresholds={
                        "stop_radius_m": th.stop_radius_m,
                        "dumping_stop_min_duration_s": th.dumping_stop_min_duration_s,
                        "dumping_facility_radius_m": th.dumping_facility_radius_m,
                        "corridor_half_width_m": th.corridor_half_width_m,
                        "night_start_hour": th.night_start_hour,
                        "night_end_hour": th.night_end_hour,
                    },
                    at=(lon, lat),
                    end_time=float(track.t[departure]),
                ),
                trip,
                track,
            )
        )
    return flags
