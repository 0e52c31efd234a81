"""SPEEDING 超速: speed above the limit for ≥ ``speeding_min_duration_s``.

The limit is ``speed_limit_kmh``, the truck limit (settings, or the permit's override).
With a road network, a muck truck must also obey the posted sign: a fix matched onto a road
with a tagged maxspeed has the lower of the two as its limit; untagged or unmatched fixes
keep the truck limit. Only what may be over some limit is matched: the runs (long enough)
of fixes faster than the truck limit or than the posted limit of an edge the matcher may
put them on (``Roads.may_be_slower``).

Speed is the terminal's reported speed where present, else the speed over the step from
the previous fix. A run of fixes each above its own limit lasts from its first to its last
such fix and breaks at a signal gap (a step ≥ ``signal_gap_s``): nothing is known in
between. Severity: 30 + 2 per km/h of the largest excess over the limit; with a network the
evidence names the road at that fix and which limit applied there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cdw.config import Thresholds
from cdw.tracking.checks import (
    Events,
    dist_en,
    dist_zh,
    dur_en,
    dur_zh,
    make_flag,
    matched,
    runs,
    signal_gaps,
    thresholds_of,
)
from cdw.tracking.context import AnalysisContext
from cdw.tracking.flags import Flag, FlagCode
from cdw.tracking.trips import Trip, VehicleTrack


@dataclass(frozen=True)
class _Speeding:
    """Runs over the limit; with a network, each fix's limit and matched edge (the truck
    limit and -1 outside the matched stretches)."""

    events: Events
    limit: np.ndarray | None = None
    edge: np.ndarray | None = None


def _long_runs(
    track: VehicleTrack, mask: np.ndarray, min_s: float, gap_s: float
) -> tuple[np.ndarray, np.ndarray]:
    starts, ends = runs(mask, signal_gaps(track, gap_s))
    long_enough = track.t[ends - 1] - track.t[starts] >= min_s
    return starts[long_enough], ends[long_enough]


def _on_roads(
    track: VehicleTrack, ctx: AnalysisContext, truck: float, min_s: float, gap_s: float
) -> _Speeding:
    roads, speed = ctx.roads, track.speed_kmh
    maybe = speed > truck
    if roads.lowest_limit_kmh < truck:
        slow = np.flatnonzero(~maybe & (speed > roads.lowest_limit_kmh))
        maybe[slow] = roads.may_be_slower(track.x[slow], track.y[slow], speed[slow], truck)
    limit = np.full(track.n, truck)
    edge = np.full(track.n, -1, np.int64)
    for s, e in zip(*_long_runs(track, maybe, min_s, gap_s), strict=True):
        edge[s:e] = matched(track, ctx, int(s), int(e)).edge
        limit[s:e] = np.fmin(truck, roads.posted_limit_kmh(edge[s:e]))
    return _Speeding(Events.of(*_long_runs(track, speed > limit, min_s, gap_s)), limit, edge)


def _events(track: VehicleTrack, th: Thresholds, ctx: AnalysisContext) -> _Speeding:
    limit, min_s, gap_s = th.speed_limit_kmh, th.speeding_min_duration_s, th.signal_gap_s

    def compute() -> _Speeding:
        if ctx.roads is not None:
            return _on_roads(track, ctx, limit, min_s, gap_s)
        return _Speeding(Events.of(*_long_runs(track, track.speed_kmh > limit, min_s, gap_s)))

    return track.memo(("speeding", limit, min_s, gap_s), compute)


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_events(track, th, ctx).events.starts for th in thresholds_of(track, trips))


def _road_clause(ctx: AnalysisContext, edge: int, posted: float, truck: float) -> tuple[str, str]:
    """Which road, and which of its posted limit and the truck limit applied."""
    if edge < 0:
        return (
            f"；未匹配到道路，适用货车限速 {truck:.0f} km/h",
            f"; not matched to a road: the truck limit of {truck:.0f} km/h applies",
        )
    road_zh, road_en = ctx.roads.label(edge)
    if math.isnan(posted):
        return (
            f"；道路：{road_zh}，未标限速，适用货车限速 {truck:.0f} km/h",
            f"; road: {road_en}, no posted limit: the truck limit of {truck:.0f} km/h applies",
        )
    if posted < truck:
        return (
            f"；道路：{road_zh}，限速 {posted:.0f} km/h，低于货车限速 {truck:.0f} km/h，"
            f"适用道路限速",
            f"; road: {road_en}, posted {posted:.0f} km/h, below the truck limit of "
            f"{truck:.0f} km/h: the posted limit applies",
        )
    if posted == truck:
        return (
            f"；道路：{road_zh}，限速 {posted:.0f} km/h，与货车限速相同",
            f"; road: {road_en}, posted {posted:.0f} km/h, the same as the truck limit",
        )
    return (
        f"；道路：{road_zh}，限速 {posted:.0f} km/h，货车限速 {truck:.0f} km/h 更低，适用货车限速",
        f"; road: {road_en}, posted {posted:.0f} km/h: the truck limit of {truck:.0f} km/h "
        f"is lower and applies",
    )


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    th = trip.thresholds
    truck, min_s = th.speed_limit_kmh, th.speeding_min_duration_s
    found = _events(track, th, ctx)
    flags = []
    for s, e in found.events.in_trip(trip):
        last = e - 1
        duration = float(track.t[last] - track.t[s])
        peak = float(track.speed_kmh[s:e].max())
        mean = float(track.speed_kmh[s:e].mean())
        distance = float(track.cum_m[last] - track.cum_m[s])
        measured = {
            "duration_s": round(duration, 1),
            "max_speed_kmh": round(peak, 1),
            "mean_speed_kmh": round(mean, 1),
            "distance_m": round(distance, 1),
        }
        thresholds = {"speed_limit_kmh": truck, "speeding_min_duration_s": min_s}
        limit, excess, road_zh, road_en = truck, peak - truck, "", ""
        if found.limit is not None:
            over = track.speed_kmh[s:e] - found.limit[s:e]
            worst = s + int(np.argmax(over))
            limit, excess, edge = (
                float(found.limit[worst]),
                float(over.max()),
                int(found.edge[worst]),
            )
            posted = float(ctx.roads.posted_limit_kmh(np.array([edge]))[0])
            road_zh, road_en = _road_clause(ctx, edge, posted, truck)
            name = ctx.roads.label(edge)[1] if edge >= 0 else ""
            measured |= {
                "max_excess_kmh": round(excess, 1),
                "road": name,
                "road_edge": edge,
                "limit_applied": "road" if limit < truck else "truck",
            }
            thresholds = {
                "speed_limit_kmh": limit,
                "truck_speed_limit_kmh": truck,
                "road_speed_limit_kmh": None if math.isnan(posted) else posted,
                "speeding_min_duration_s": min_s,
            }
        flags.append(
            make_flag(
                FlagCode.SPEEDING,
                trip,
                track,
                s,
                last,
                severity=30 + 2 * excess,
                measured=measured,
                thresholds=thresholds,
                zh=(
                    f"车速超过 {limit:.0f} km/h 持续 {dur_zh(duration)}（阈值 {dur_zh(min_s)}），"
                    f"最高 {peak:.1f} km/h，行驶 {dist_zh(distance)}{road_zh}"
                ),
                en=(
                    f"Above {limit:.0f} km/h for {dur_en(duration)} (threshold {dur_en(min_s)}), "
                    f"peak {peak:.1f} km/h over {dist_en(distance)}{road_en}"
                ),
            )
        )
    return flags
