"""RESTRICTED_ZONE 进入禁区: fixes inside a restricted zone (a polygon, or a banned road
buffered by the corridor half-width when the context is loaded).

Any presence counts. One flag per run of consecutive fixes in the same zone; a run breaks
at a signal gap (a step ≥ ``signal_gap_s``). Severity: 70 + 1 per minute inside.
"""

from __future__ import annotations

import numpy as np

from cdw.registry.categories import ZoneKind
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


def _kind_labels(kind: str) -> tuple[str, str]:
    """``（水源保护区）`` / `` (water-source protection area)`` for a registered zone kind."""
    try:
        member = ZoneKind(kind)
    except ValueError:
        return (f"（{kind}）", f" ({kind})") if kind else ("", "")
    return f"（{member.zh}）", f" ({member.en})"


def _zone_runs(track: VehicleTrack, gap_s: float) -> Events:
    zone = track.zone["restricted"]
    changed = np.concatenate(([True], zone[1:] != zone[:-1]))
    return Events.of(*runs(zone >= 0, changed | signal_gaps(track, gap_s)))


def _events(track: VehicleTrack, gap_s: float) -> Events:
    return track.memo(("restricted", gap_s), lambda: _zone_runs(track, gap_s))


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_events(track, th.signal_gap_s).starts for th in thresholds_of(track, trips))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    found = _events(track, trip.thresholds.signal_gap_s).in_trip(trip)
    flags = []
    for s, e in found:
        last = e - 1
        zone = ctx.restricted[int(track.zone["restricted"][s])]
        duration = float(track.t[last] - track.t[s])
        distance = float(track.cum_m[last] - track.cum_m[s])
        kind_zh, kind_en = _kind_labels(zone.kind)
        flags.append(
            make_flag(
                FlagCode.RESTRICTED_ZONE,
                trip,
                track,
                s,
                last,
                severity=70 + duration / 60,
                measured={
                    "zone_id": zone.id,
                    "zone": zone.name,
                    "zone_kind": zone.kind,
                    "duration_s": round(duration, 1),
                    "distance_m": round(distance, 1),
                    "n_fixes": e - s,
                },
                thresholds={"min_duration_s": 0.0},
                zh=(
                    f"进入禁区「{zone.name}」{kind_zh}，区内 {dur_zh(duration)}、"
                    f"{dist_zh(distance)}（任何进入均违规）"
                ),
                en=(
                    f"Inside restricted zone '{zone.name}'{kind_en} for {dur_en(duration)} "
                    f"and {dist_en(distance)} (any entry counts)"
                ),
            )
        )
    return flags
