"""SPEEDING 超速: speed above the limit for ≥ ``speeding_min_duration_s``.

The limit is ``speed_limit_kmh``, the truck limit (settings, or the permit's override).
With a road network, a muck truck must also obey the posted sign, but only where the
sign is beyond doubt (DESIGN.md §8): a fix's limit is the *highest* limit among the roads
within ``speeding_road_radius_m`` of it (every road it may have been on: a trunk's frontage
road, ramp or side road is no proof against a truck on the trunk), a road without a posted
limit counting as the truck limit, and never above the truck limit; the truck limit where
no road is that near (``Roads.plausible_limit_kmh``). So a posted limit counts only when
every road the truck may have been on is posted below its speed. Only fixes that may be
over such a limit are looked up (``Roads.may_be_slower``).

The radius grows with the noise the track shows: at least ``speeding_radius_sigmas``
times its GPS σ, estimated from the scatter of its fixes at its stops
(``VehicleTrack.noise_sigma_m``). At σ 20 m one fix in 23 lies beyond 2.5 σ (50 m), and
two in a row beside a slower road happen every day; beyond 3.5 σ it is one in 460, and
two in a row one pair in 200,000.

The road the map matcher puts a fix on (the run and three fixes either side matched
together) is one the truck may have been on as well: where a fix's plausible limit is a
posted one, the matched road's limit (the truck limit where it has none) raises it. At
σ 20 m a truck on a trunk is now and then seen 60 m off, beyond the radius, beside a side
road; the matcher, which follows the track, keeps it on the trunk.

Speed is the terminal's reported speed where present, else the speed over the step from
the previous fix. A run of fixes each above its own limit breaks at a signal gap (a step
≥ ``signal_gap_s``): nothing is known in between. It lasts from its first to its last such
fix, and over the step before it and the step after it where the distance over that step's
time also exceeds the limits at both of its ends: sampled every 30 s, a 2-minute run shows three or four fixes,
and the time to the fixes either side is time over the limit too. One noisy fix must not
make a flag, so the positions must agree: the path along the run's fixes (from its
first fix, or the fix before the run where its step counts or the speed at the first is a
step's), with the one fix left out that shortens it most, divided by its duration must
also exceed the run's limit (the mean of its fixes' limits). A run needs two fixes over their limits at least: one is a spike, whatever its steps (a
truck cruising just under the limit reports a km/h over it now and then, and at σ 20 m a
30 s step reads ±3 km/h). A thrown fix fits neither: its steps are only as fast as the truck, and one
thrown fix inflates both of its steps while the chord past it stays true. The path follows
bends, so a truck leaving a trunk by a ramp is measured along its way, not across it.

Severity: 30 + 2 per km/h of the largest excess over the limit. With a network the
evidence names the road whose limit applied at that fix, the limit and its source, and
the other roads considered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.tracking.checks import (
    Events,
    Finding,
    make_flag,
    matched,
    runs,
    signal_gaps,
    thresholds_of,
)
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import RAYLEIGH_MEDIAN, Trip, VehicleTrack

_MAX_ROADS_LISTED = 6
_RADIUS_STEP_M = 10.0
_MATCH_CONTEXT = 3  # fixes matched either side of a run, so the matcher sees the approach


@dataclass(frozen=True)
class _Speeding:
    """Runs over the limit, with each fix's limit and the distance-over-time speed of each
    run (``stretch_kmh``)."""

    events: Events
    limit: np.ndarray
    stretch_kmh: list[float]
    radius_m: float  # the road search radius used (``road_radius_m``)


def road_radius_m(th: Thresholds, sigma_m: float) -> float:
    """``speeding_road_radius_m``, or ``speeding_radius_sigmas`` times the track's GPS
    noise where that is larger (module docstring), rounded up to whole ``_RADIUS_STEP_M``:
    the road indexes keep one corridor raster per radius, and a few radii serve a fleet."""
    noisy = math.ceil(th.speeding_radius_sigmas * sigma_m / _RADIUS_STEP_M) * _RADIUS_STEP_M
    return max(th.speeding_road_radius_m, float(noisy))


def _noise_params(th: Thresholds) -> tuple[float, float, float]:
    """The stays ``VehicleTrack.noise_sigma_m`` reads the track's GPS noise from."""
    return th.stop_radius_m, th.dumping_stop_min_duration_s, th.trip_split_gap_s


def _quiet_scatter_m(th: Thresholds) -> float:
    """A median stay scatter whose σ still gives the base radius: where a track's scatter is
    at most this (``VehicleTrack.noise_scatter_at_most``), its radius is
    ``speeding_road_radius_m`` without σ taken (radius and σ rise together)."""
    scatter = th.speeding_road_radius_m * RAYLEIGH_MEDIAN / th.speeding_radius_sigmas
    while scatter > 0 and road_radius_m(th, scatter / RAYLEIGH_MEDIAN) > th.speeding_road_radius_m:
        scatter = math.nextafter(scatter, 0.0)  # a hair less where rounding went above
    return scatter


def _track_radius_m(track: VehicleTrack, th: Thresholds) -> float:
    """``road_radius_m`` for the track's GPS noise; its σ is taken only where its scatter may
    be above ``_quiet_scatter_m`` (most tracks are quieter than that)."""
    if track.noise_scatter_at_most(_quiet_scatter_m(th), *_noise_params(th)):
        return th.speeding_road_radius_m
    return road_radius_m(th, track.noise_sigma_m(*_noise_params(th)))


def _step_kmh(track: VehicleTrack, i: int) -> float:
    """Speed over the step from fix i-1 to fix i (distance over time)."""
    dt = float(track.dt_s[i])
    return 3.6 * float(track.step_m[i]) / dt if dt > 0 else 0.0


def _extent(
    track: VehicleTrack, s: int, e: int, limit: np.ndarray, gap_s: float
) -> tuple[int, int]:
    """The run s..e-1 with the steps on either side whose distance-over-time speed also
    exceeds the limits at both ends of the step (module docstring): (first, end), end
    exclusive."""
    first, last = s, e - 1
    if s > 0 and track.dt_s[s] < gap_s and _step_kmh(track, s) > max(limit[s - 1], limit[s]):
        first = s - 1
    if e < track.n and track.dt_s[e] < gap_s and _step_kmh(track, e) > max(limit[e - 1], limit[e]):
        last = e
    return first, last + 1


def _stretch_kmh(track: VehicleTrack, first: int, last: int) -> float:
    """Speed over fixes ``first``..``last`` that one thrown fix cannot inflate: the path
    length along the fixes divided by its time, the lowest such figure with any one fix
    left out (an end fix shortens the stretch; an inner one is skipped by the chord from
    its predecessor to its successor). The path follows bends and ramps, where the straight
    distance from end to end would read a truck turning off a trunk as slow."""
    x, y, t = track.x[first : last + 1], track.y[first : last + 1], track.t[first : last + 1]
    if t.size < 2 or t[-1] <= t[0]:
        return 0.0
    steps = np.hypot(np.diff(x), np.diff(y))
    path = float(steps.sum())
    metres = [path, path - steps[0], path - steps[-1]]
    seconds = [t[-1] - t[0], t[-1] - t[1], t[-2] - t[0]]
    if t.size > 2:
        skip = np.hypot(x[2:] - x[:-2], y[2:] - y[:-2])
        inner = path - steps[:-1] - steps[1:] + skip
        k = int(np.argmin(inner))
        metres.append(float(inner[k]))
        seconds.append(t[-1] - t[0])
    return min(3.6 * m / s if s > 0 else math.inf for m, s in zip(metres, seconds, strict=True))


def _matched_limits(
    track: VehicleTrack, ctx: AnalysisContext, runs_: list[tuple[int, int]], truck: float
) -> tuple[np.ndarray, np.ndarray]:
    """(fix index, limit of the road the matcher puts it on) for the fixes of each run:
    the run and ``_MATCH_CONTEXT`` fixes either side matched together."""
    fixes, limits = [], []
    for s, e in runs_:
        a, b = max(0, s - _MATCH_CONTEXT), min(track.n, e + _MATCH_CONTEXT)
        result = matched(track, ctx, a, b)
        edge = result.edge[s - a : e - a]
        posted = ctx.roads.posted_limit_kmh(edge)
        onto = np.where(
            edge >= 0, np.fmin(np.where(np.isnan(posted), truck, posted), truck), -np.inf
        )
        fixes.append(np.arange(s, e))
        limits.append(onto)
    return np.concatenate(fixes), np.concatenate(limits)


def _events(track: VehicleTrack, th: Thresholds, ctx: AnalysisContext) -> _Speeding:
    truck, min_s, gap_s = th.speed_limit_kmh, th.speeding_min_duration_s, th.signal_gap_s
    radius = _track_radius_m(track, th)

    def candidates(limit: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(s, e, first, end) of each run over the limit, long enough with its steps."""
        starts, ends = runs(track.speed_kmh > limit, signal_gaps(track, gap_s))
        out = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e - s < 2:  # one fix over its limit is a spike, whatever its steps
                continue
            first, end = _extent(track, s, e, limit, gap_s)
            if track.t[end - 1] - track.t[first] >= min_s:
                out.append((s, e, first, end))
        return out

    def compute() -> _Speeding:
        speed = track.speed_kmh
        limit = np.full(track.n, truck)
        roads = ctx.roads
        found = candidates(limit)
        if roads is not None and roads.lowest_limit_kmh < truck:
            near = np.flatnonzero(speed > roads.lowest_limit_kmh)
            slower = roads.may_be_slower(track.x[near], track.y[near], speed[near], truck, radius)
            near = near[slower]
            limit[near] = roads.plausible_limit_kmh(track.x[near], track.y[near], radius, truck)
            found = candidates(limit)
            below = [(s, e) for s, e, _, _ in found if (limit[s:e] < truck).any()]
            if below:  # the matched road is one the truck may have been on as well
                fixes, onto = _matched_limits(track, ctx, below, truck)
                limit[fixes] = np.maximum(limit[fixes], onto)
                found = candidates(limit)
        reported = track.reported_speed
        starts, ends, stretch = [], [], []
        for s, e, first, end in found:
            origin = first
            if first == s and s > 0 and not reported[s] and track.dt_s[s] > 0:
                origin = s - 1  # the speed at s is the step's from s-1
            v = _stretch_kmh(track, origin, end - 1)
            if v > float(limit[s:e].mean()):
                starts.append(first)
                ends.append(end)
                stretch.append(v)
        return _Speeding(Events(starts, ends), limit, stretch, radius)

    return track.memo(("speeding", truck, min_s, gap_s, radius), compute)


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_events(track, th, ctx).events.starts for th in thresholds_of(track, trips))


def _roads_near(
    ctx: AnalysisContext, track: VehicleTrack, s: int, e: int, radius_m: float, truck: float
) -> list[dict[str, Any]]:
    """The roads within ``radius_m`` of fixes s..e-1, nearest first, one entry per road
    (name, class and limit; both directions and every piece of it together)."""
    roads = ctx.roads
    _, edge, dist = roads.edges_near(track.x[s:e], track.y[s:e], radius_m)
    nearest: dict[tuple[str, float], tuple[float, int]] = {}
    limits = roads.posted_limit_kmh(edge)
    for k, (ed, d, lim) in enumerate(
        zip(edge.tolist(), dist.tolist(), limits.tolist(), strict=True)
    ):
        key = (roads.label(ed)[1], -1.0 if math.isnan(lim) else lim)
        if key not in nearest or d < nearest[key][0]:
            nearest[key] = (d, k)
    out = []
    for d, k in sorted(nearest.values()):
        ed, lim = int(edge[k]), float(limits[k])
        out.append(
            {
                "road": roads.label(ed)[1],
                "road_zh": roads.label(ed)[0],
                "limit_kmh": None if math.isnan(lim) else lim,
                "limit_source": roads.limit_source(ed)[1],
                "limit_source_zh": roads.limit_source(ed)[0],
                "applies_kmh": min(truck, lim) if not math.isnan(lim) else truck,
                "distance_m": round(d, 1),
            }
        )
    return out


def _road_evidence(
    ctx: AnalysisContext,
    track: VehicleTrack,
    s: int,
    e: int,
    worst: int,
    limit: float,
    th: Thresholds,
    radius: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measured values and the wording naming the road whose limit applied (at the worst
    fix: the one furthest over its limit) and the other roads considered."""
    truck = th.speed_limit_kmh
    considered = _roads_near(ctx, track, worst, worst + 1, radius, truck)
    along = _roads_near(ctx, track, s, e, radius, truck)
    if limit >= truck:
        source_en = "the truck limit"
        road = next((r for r in considered if r["applies_kmh"] >= truck), None)
    else:
        road = next(r for r in considered if r["applies_kmh"] == limit)
        source_en = road["limit_source"]
    applied = None if road is None else (road["road"], road["limit_kmh"])
    others = [r for r in along if (r["road"], r["limit_kmh"]) != applied]
    measured = {
        "road": road["road"] if road else "",
        "limit_applied": "road" if limit < truck else "truck",
        "limit_source": source_en,
        "roads_considered": [
            {k: r[k] for k in ("road", "limit_kmh", "limit_source", "distance_m")}
            for r in along[:_MAX_ROADS_LISTED]
        ],
    }
    return measured, {"road": road, "other_roads": others[:_MAX_ROADS_LISTED]}


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    th = trip.thresholds
    truck, min_s = th.speed_limit_kmh, th.speeding_min_duration_s
    found = _events(track, th, ctx)
    first_event, _ = found.events.span(trip)
    flags = []
    for k, (s, e) in enumerate(found.events.in_trip(trip)):
        last = e - 1
        duration = float(track.t[last] - track.t[s])
        peak = float(track.speed_kmh[s:e].max())
        mean = float(track.speed_kmh[s:e].mean())
        distance = float(track.cum_m[last] - track.cum_m[s])
        over = track.speed_kmh[s:e] - found.limit[s:e]
        worst = s + int(np.argmax(over))
        limit, excess = float(found.limit[worst]), float(over.max())
        measured = {
            "duration_s": duration,
            "max_speed_kmh": peak,
            "mean_speed_kmh": mean,
            "distance_m": distance,
            "stretch_speed_kmh": found.stretch_kmh[first_event + k],
        }
        thresholds: dict[str, Any] = {"speed_limit_kmh": truck, "speeding_min_duration_s": min_s}
        wording: dict[str, Any] = {}
        if ctx.roads is not None:
            road, wording = _road_evidence(ctx, track, s, e, worst, limit, th, found.radius_m)
            measured |= {
                "max_excess_kmh": excess,
                "gps_sigma_m": track.noise_sigma_m(*_noise_params(th)),
                "road_radius_m": found.radius_m,
            } | road
            thresholds = {
                "speed_limit_kmh": limit,
                "truck_speed_limit_kmh": truck,
                "speeding_min_duration_s": min_s,
                "speeding_road_radius_m": th.speeding_road_radius_m,
                "speeding_radius_sigmas": th.speeding_radius_sigmas,
            }
        flags.append(
            make_flag(
                Finding(
                    FlagCode.SPEEDING,
                    s,
                    last,
                    severity=30 + 2 * excess,
                    measured=measured,
                    thresholds=thresholds,
                    wording=wording,
                ),
                trip,
                track,
            )
        )
    return flags
