"""SPEEDING 超速: speed above ``speed_limit_kmh`` for ≥ ``speeding_min_duration_s``.

Speed is the terminal's reported speed where present, else the speed over the step from
the previous fix. A run of fixes above the limit lasts from its first to its last such
fix and breaks at a signal gap (a step ≥ ``signal_gap_s``): nothing is known in between.
Severity: 30 + 2 per km/h of the peak above the limit.
"""

from __future__ import annotations

from cdw.config import Thresholds
from cdw.tracking.checks import (
    Events,
    dist_en,
    dist_zh,
    dur_en,
    dur_zh,
    make_flag,
    runs,
    signal_gaps,
    thresholds_of,
)
from cdw.tracking.context import AnalysisContext
from cdw.tracking.flags import Flag, FlagCode
from cdw.tracking.trips import Trip, VehicleTrack


def _speeding_runs(track: VehicleTrack, limit: float, min_s: float, gap_s: float) -> Events:
    starts, ends = runs(track.speed_kmh > limit, signal_gaps(track, gap_s))
    long_enough = track.t[ends - 1] - track.t[starts] >= min_s
    return Events.of(starts[long_enough], ends[long_enough])


def _events(track: VehicleTrack, th: Thresholds) -> Events:
    limit, min_s, gap_s = th.speed_limit_kmh, th.speeding_min_duration_s, th.signal_gap_s
    return track.memo(
        ("speeding", limit, min_s, gap_s), lambda: _speeding_runs(track, limit, min_s, gap_s)
    )


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_events(track, th).starts for th in thresholds_of(track, trips))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    th = trip.thresholds
    limit, min_s = th.speed_limit_kmh, th.speeding_min_duration_s
    found = _events(track, th).in_trip(trip)
    flags = []
    for s, e in found:
        last = e - 1
        duration = float(track.t[last] - track.t[s])
        peak = float(track.speed_kmh[s:e].max())
        mean = float(track.speed_kmh[s:e].mean())
        distance = float(track.cum_m[last] - track.cum_m[s])
        flags.append(
            make_flag(
                FlagCode.SPEEDING,
                trip,
                track,
                s,
                last,
                severity=30 + 2 * (peak - limit),
                measured={
                    "duration_s": round(duration, 1),
                    "max_speed_kmh": round(peak, 1),
                    "mean_speed_kmh": round(mean, 1),
                    "distance_m": round(distance, 1),
                },
                thresholds={"speed_limit_kmh": limit, "speeding_min_duration_s": min_s},
                zh=(
                    f"车速超过 {limit:.0f} km/h 持续 {dur_zh(duration)}（阈值 {dur_zh(min_s)}），"
                    f"最高 {peak:.1f} km/h，行驶 {dist_zh(distance)}"
                ),
                en=(
                    f"Above {limit:.0f} km/h for {dur_en(duration)} (threshold {dur_en(min_s)}), "
                    f"peak {peak:.1f} km/h over {dist_en(distance)}"
                ),
            )
        )
    return flags
