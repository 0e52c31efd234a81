"""RESTRICTED_ZONE 进入禁区: fixes inside a restricted zone (a polygon, or a banned road
buffered by the corridor half-width when the context is loaded).

With a road network, a banned road is tied to the network edges it was drawn along
(``cdw.roads.zones.banned_arcs``, the rule the route planner avoids too: the line snapped
onto the network as an officer's route is, both directions of each edge); a fix in its
corridor then counts only when the matcher puts it on one of those edges (or on no edge at
all: off the network nothing clears it). A truck that crosses the banned road, or drives a
parallel road inside the corridor, is not flagged. Each run in such a corridor is matched
with ``CONTEXT_FIXES`` fixes either side, so the matcher sees where the truck came from and
went. A banned line that maps onto no edge keeps the corridor rule.

Any presence counts. One flag per run of consecutive fixes in the same zone; a run breaks
at a signal gap (a step ≥ ``signal_gap_s``). GPS jitter at the edge of a zone (a polygon, not
a banned road matched onto the network) does not break a run either: two runs in one zone are
one unless between them the truck is seen farther than ``fence_exit_margin_m`` (the margin of
fence jitter, ``trips.visit_places``) from the zone at two fixes in a row; one fix thrown that
far is multipath. One entry is one violation, raised once. Severity: 70 + 1
per minute inside.
"""

from __future__ import annotations

import numpy as np
import shapely

from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.registry.categories import ZoneKind
from cdw.tracking import _kernels as K
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
from cdw.tracking.trips import Trip, VehicleTrack

CONTEXT_FIXES = 5


def _kind_label(kind: str) -> tuple[str, str] | None:
    """``水源保护区`` / ``water-source protection area`` for a registered zone kind."""
    try:
        member = ZoneKind(kind)
    except ValueError:
        return (kind, kind) if kind else None
    return member.zh, member.en


def _zone_runs(zone: np.ndarray, cut_before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    changed = np.concatenate(([True], zone[1:] != zone[:-1]))
    return runs(zone >= 0, changed | cut_before)


def _on_banned_roads(track: VehicleTrack, ctx: AnalysisContext, gaps: np.ndarray) -> np.ndarray:
    """The restricted zone of each fix, less the fixes in a banned road's corridor that are
    matched onto another road."""
    zone = track.zone["restricted"].copy()
    for s, e in zip(*_zone_runs(zone, gaps), strict=True):
        banned = ctx.banned_edges(int(zone[s]))
        if banned is None:
            continue
        first, end = max(0, s - CONTEXT_FIXES), min(track.n, e + CONTEXT_FIXES)
        edge = matched(track, ctx, int(first), int(end)).edge[s - first : e - first]
        zone[s:e] = np.where(np.isin(edge, banned) | (edge < 0), zone[s:e], -1)
    return zone


def _jitter_joined(
    track: VehicleTrack,
    ctx: AnalysisContext,
    zone: np.ndarray,
    gaps: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of one polygon zone with only GPS jitter between them joined (docstring)."""
    th = ctx.thresholds
    out_s, out_e = starts[:1].tolist(), ends[:1].tolist()
    for s, e in zip(starts[1:].tolist(), ends[1:].tolist(), strict=True):
        before = out_e[-1]
        index = int(zone[out_s[-1]])
        if (
            int(zone[s]) == index
            and not gaps[before : s + 1].any()
            and ctx.banned_edges(index) is None
        ):
            away = shapely.distance(
                ctx.restricted[index].geometry,
                shapely.points(track.x[before:s], track.y[before:s]),
            )
            far_from, far_to = K.run_lengths(away > th.fence_exit_margin_m)
            if not (far_to - far_from >= 2).any():
                out_e[-1] = e
                continue
        out_s.append(s)
        out_e.append(e)
    return np.array(out_s, np.int64), np.array(out_e, np.int64)


def _events(track: VehicleTrack, gap_s: float, ctx: AnalysisContext) -> Events:
    def compute() -> Events:
        gaps = signal_gaps(track, gap_s)
        zone = track.zone["restricted"]
        if ctx.roads is not None and zone.max(initial=-1) >= 0:
            zone = _on_banned_roads(track, ctx, gaps)
        starts, ends = _zone_runs(zone, gaps)
        return Events.of(*_jitter_joined(track, ctx, zone, gaps, starts, ends))

    return track.memo(("restricted", gap_s), compute)


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_events(track, th.signal_gap_s, ctx).starts for th in thresholds_of(track, trips))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    found = _events(track, trip.thresholds.signal_gap_s, ctx).in_trip(trip)
    flags = []
    for s, e in found:
        last = e - 1
        index = int(track.zone["restricted"][s])
        zone = ctx.restricted[index]
        duration = float(track.t[last] - track.t[s])
        distance = float(track.cum_m[last] - track.cum_m[s])
        measured = {
            "zone_id": zone.id,
            "zone": zone.name,
            "zone_kind": zone.kind,
            "duration_s": duration,
            "distance_m": distance,
            "n_fixes": int(np.count_nonzero(track.zone["restricted"][s:e] == index)),
        }
        if ctx.banned_edges(index) is not None:
            measured["on_matched_road"] = True
        flags.append(
            make_flag(
                Finding(
                    FlagCode.RESTRICTED_ZONE,
                    s,
                    last,
                    severity=70 + duration / 60,
                    measured=measured,
                    thresholds={"min_duration_s": 0.0},
                    wording={"zone_kind": _kind_label(zone.kind)},
                ),
                trip,
                track,
            )
        )
    return flags
