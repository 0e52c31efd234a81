"""ROUTE_DEVIATION 偏离路线: a loaded truck outside every approved corridor of its permit.

Fires for a run of fixes of a loaded leg all farther than ``corridor_half_width_m`` from
every approved route, lasting ≥ ``deviation_min_duration_s`` (first to last off-route fix)
and ≥ ``deviation_min_distance_m`` of path between them, of which at least two lie beyond
the corridor by more than ``deviation_confirm_margin_m`` as well: fixes within GPS error of
the corridor (σ 20 m, and one fix in a hundred thrown three times as far) are no proof that
the truck left it, however many of them. Legs without a permit or without approved routes
are not checked. The leg counts up to where its load ends (``suspected_dumping.load_end``): a
truck that dumped its load and turns back drives the rest empty, wherever it likes.

Evidence: the off-route path with the last in-corridor fix before it and the first one
after it (exit and rejoin), its length and time, the distance along the route between the
exit and rejoin points, the extra distance (detour minus that route distance; when exit and
rejoin lie on different routes, the straight distance between them stands in for the route
distance), the extra time (the detour's time share of the extra distance, at its mean
speed), and the largest distance from the route. Severity: 40 + 1 per 50 m off route.

With a road network, the same comparison along the network as well: the detour's fixes
(exit to rejoin) are matched and measured along their matched path, the approved route is
snapped onto the network once per batch (``Roads.route_path``), and the stretch of it
between the points nearest to the exit and rejoin fixes measured along its edges; times are
free-flow times at the edges' speeds. These figures are left out where the detour or the
route is not one connected path on the network, or exit and rejoin lie on different routes.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.tracking import _kernels as K
from cdw.tracking.checks import Finding, make_flag, matched
from cdw.tracking.checks.suspected_dumping import load_end
from cdw.tracking.context import AnalysisContext, PermitRule
from cdw.tracking.trips import Trip, TripKind, VehicleTrack


def _route_of(permit: PermitRule, track: VehicleTrack, a: int, b: int) -> int | None:
    """The approved route nearest to both fixes a and b, None where they are nearer to two."""
    _, seg = permit.route_index.distance(track.x[[a, b]], track.y[[a, b]])
    part_a, part_b = permit.route_index.segment_part[seg]
    return int(part_a) if part_a == part_b else None


def _route_distance(permit: PermitRule, track: VehicleTrack, a: int, b: int) -> float:
    """Distance along the approved route between the points nearest to fixes a and b."""
    part = _route_of(permit, track, a, b)
    if part is None:
        return math.hypot(track.x[b] - track.x[a], track.y[b] - track.y[a])
    line = permit.routes[part]
    along = shapely.line_locate_point(line, shapely.points(track.x[[a, b]], track.y[[a, b]]))
    return float(abs(along[1] - along[0]))


def _along_network(
    ctx: AnalysisContext, permit: PermitRule, track: VehicleTrack, a: int, b: int
) -> dict[str, float] | None:
    """Detour a..b and the approved route between a and b along the network (docstring)."""
    result = matched(track, ctx, a, b + 1)
    part = _route_of(permit, track, a, b)
    if result.n_segments != 1 or (result.segment < 0).any() or part is None:
        return None
    route = ctx.roads.route_path(permit.routes[part])
    if route is None:
        return None
    detour = ctx.roads.path(result, int(result.segment[0]))
    route_m, route_s = route.between(track.x[[a, b]], track.y[[a, b]])
    return {
        "network_detour_distance_m": detour.length_m,
        "network_detour_time_s": detour.time_s,
        "network_route_distance_m": route_m,
        "network_route_time_s": route_s,
        "network_extra_distance_m": max(0.0, detour.length_m - route_m),
        "network_extra_time_s": max(0.0, detour.time_s - route_s),
    }


def _checked(trip: Trip) -> bool:
    permit = trip.permit
    return trip.kind == TripKind.loaded and permit is not None and permit.route_index is not None


def _off_corridor(track: VehicleTrack, trip: Trip) -> np.ndarray:
    """The trip's fixes outside the corridors of its permit (the trip's own, from its
    first fix: a check reads no fix of another trip); found once per trip, whichever of
    ``may_flag`` and ``check`` asks first. Only loaded legs are checked, so the fixes of a
    truck parked all night are never tested."""
    index, width = trip.permit.route_index, trip.thresholds.corridor_half_width_m
    lo, hi = trip.start_index, trip.end_index
    return track.memo(
        ("off_corridor", index, width, lo, hi),
        lambda: ~index.within(track.x[lo:hi], track.y[lo:hi], width),
    )


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_off_corridor(track, trip).any() for trip in trips if _checked(trip))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    if not _checked(trip):
        return []
    permit = trip.permit
    th = trip.thresholds
    lo = trip.start_index
    outside = _off_corridor(track, trip)
    if not outside.any():
        return []
    hi = load_end(trip, track, ctx)
    outside = outside[: hi - lo]
    if not outside.any():
        return []
    starts, ends = K.runs_at_least(outside, track.t[lo:hi], th.deviation_min_duration_s)
    flags = []
    sure_m = th.corridor_half_width_m + th.deviation_confirm_margin_m
    for s, e in zip((starts + lo).tolist(), (ends + lo).tolist(), strict=True):
        last = e - 1
        off_m = float(track.cum_m[last] - track.cum_m[s])
        if off_m < th.deviation_min_distance_m:
            continue
        offsets = permit.route_index.distance(track.x[s:e], track.y[s:e])[0]
        if np.count_nonzero(offsets > sure_m) < 2:
            continue
        off_s = float(track.t[last] - track.t[s])
        exit_fix, rejoin_fix = max(s - 1, trip.first_fix), min(e, trip.last_fix)
        detour_m = float(track.cum_m[rejoin_fix] - track.cum_m[exit_fix])
        detour_s = float(track.t[rejoin_fix] - track.t[exit_fix])
        route_m = _route_distance(permit, track, exit_fix, rejoin_fix)
        extra_m = max(0.0, detour_m - route_m)
        extra_s = detour_s * extra_m / detour_m if detour_m > 0 else 0.0
        measured = {
            "off_route_duration_s": off_s,
            "off_route_distance_m": off_m,
            "max_offset_m": float(offsets.max()),
            "detour_distance_m": detour_m,
            "detour_duration_s": detour_s,
            "route_distance_m": route_m,
            "extra_distance_m": extra_m,
            "extra_time_s": extra_s,
            "exit_time": track.time(exit_fix).isoformat(),
            "rejoin_time": track.time(rejoin_fix).isoformat(),
            "load_state_source": trip.load_state_source,
        }
        net = (
            None if ctx.roads is None else _along_network(ctx, permit, track, exit_fix, rejoin_fix)
        )
        if net is not None:
            measured |= net
        flags.append(
            make_flag(
                Finding(
                    FlagCode.ROUTE_DEVIATION,
                    s,
                    last,
                    severity=40 + off_m / 50,
                    measured=measured,
                    thresholds={
                        "corridor_half_width_m": th.corridor_half_width_m,
                        "deviation_min_duration_s": th.deviation_min_duration_s,
                        "deviation_min_distance_m": th.deviation_min_distance_m,
                        "deviation_confirm_margin_m": th.deviation_confirm_margin_m,
                    },
                    path=(exit_fix, rejoin_fix),
                ),
                trip,
                track,
            )
        )
    return flags
