"""TAMPER_SUSPECTED 疑似车机分离: the truck drove unseen, or the terminal raised a
power-cut or antenna alarm.

- Jump: a signal gap (a step ≥ ``signal_gap_s``) whose two ends are ≥ ``tamper_min_jump_m``
  apart (straight line). A shorter gap is a dropout, whatever the distance. The distance is
  measured robustly (``robust_jump_m``): where the truck stood at an end of the gap (the
  terminal reports at most ``STILL_KMH`` at the end fix and at the next fixes away from
  the gap, up to ``_END_FIXES`` of them in all), that end is the component-wise median of
  those fixes, so one fix thrown by multipath does not move it; where it was moving, the
  end fix itself (a median of moving fixes would lag behind it, and nothing says which of
  them is thrown).
- Alarm: fixes whose JT/T 808 alarm DWORD has bit 8 (主电源掉电 main power cut), bit 5
  (GNSS 天线未接或被剪断 antenna disconnected or cut) or bit 4 (GNSS 模块故障 module
  fault) set; one event per run of such fixes, broken at signal gaps.

Events that share a fix (a power-cut alarm reported just before or after the gap it
explains) make one flag. Severity: 80 for an alarm; a jump 60 + 4 per km, at most 100;
the larger when both.
"""

from __future__ import annotations

import math

import numpy as np

from cdw.flags.codes import FlagCode
from cdw.flags.explain import ALARM_LABELS
from cdw.flags.values import Flag
from cdw.tracking.checks import (
    STILL_KMH,
    Events,
    Finding,
    gap_ends,
    make_flag,
    runs,
    signal_gaps,
    thresholds_of,
)
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, VehicleTrack

ALARM_BITS = (8, 5, 4)  # main power cut, GNSS antenna cut, GNSS module fault
ALARM_MASK = np.uint32(sum(1 << bit for bit in ALARM_BITS))
ALARM_SEVERITY = 80
_END_FIXES = 3


def robust_jump_m(track: VehicleTrack, i: int, gap_s: float) -> float:
    """Robust distance between the two ends of the gap before fix i (module docstring)."""

    def still(k: int) -> bool:
        return bool(track.reported_speed[k]) and track.speed_kmh[k] <= STILL_KMH

    def end(first: int, step: int) -> tuple[float, float]:
        fixes = [first]
        k = first + step
        while (
            still(first)
            and len(fixes) < _END_FIXES
            and 0 <= k < track.n
            and track.dt_s[max(k, k - step)] < gap_s
            and still(k)
        ):
            fixes.append(k)
            k += step
        return float(np.median(track.x[fixes])), float(np.median(track.y[fixes]))

    (xa, ya), (xb, yb) = end(i - 1, -1), end(i, 1)
    return math.hypot(xb - xa, yb - ya)


def _alarm_runs(track: VehicleTrack, gap_s: float) -> Events:
    return Events.of(*runs((track.alarm & ALARM_MASK) != 0, signal_gaps(track, gap_s)))


def _jumps(track: VehicleTrack, gap_s: float, min_jump_m: float) -> Events:
    after = gap_ends(track, gap_s)
    after = np.array(
        [i for i in after.tolist() if robust_jump_m(track, i, gap_s) >= min_jump_m],
        np.int64,
    )
    return Events.of(after, after)


def _events(track: VehicleTrack, gap_s: float, jump_m: float) -> tuple[Events, Events]:
    """(jumps, alarm runs) of the track."""
    jumps = track.memo(("tamper_jumps", gap_s, jump_m), lambda: _jumps(track, gap_s, jump_m))
    alarms = track.memo(("tamper_alarms", gap_s), lambda: _alarm_runs(track, gap_s))
    return jumps, alarms


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    for th in thresholds_of(track, trips):
        jumps, alarms = _events(track, th.signal_gap_s, th.tamper_min_jump_m)
        if jumps.starts or alarms.starts:
            return True
    return False


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    th = trip.thresholds
    gap_s, jump_m = th.signal_gap_s, th.tamper_min_jump_m
    jumps, alarms = _events(track, gap_s, jump_m)
    # Events as (first fix, last fix, kind); merged where they share a fix.
    events = [(i - 1, i, "jump") for i, _ in jumps.in_trip(trip)]
    events += [(s, e - 1, "alarm") for s, e in alarms.in_trip(trip)]
    if not events:
        return []
    events.sort()
    groups: list[list[tuple[int, int, str]]] = []
    for event in events:
        if groups and event[0] <= max(g[1] for g in groups[-1]):
            groups[-1].append(event)
        else:
            groups.append([event])
    return [_flag(group, trip, track, gap_s, jump_m) for group in groups]


def _flag(
    group: list[tuple[int, int, str]],
    trip: Trip,
    track: VehicleTrack,
    gap_s: float,
    jump_m: float,
) -> Flag:
    first = min(g[0] for g in group)
    last = max(g[1] for g in group)
    measured: dict = {}
    severity = 0.0
    jumps = [g for g in group if g[2] == "jump"]
    if jumps:
        i = max(jumps, key=lambda g: robust_jump_m(track, g[1], gap_s))[1]
        gap, jump = float(track.dt_s[i]), robust_jump_m(track, i, gap_s)
        measured.update(gap_duration_s=gap, jump_m=jump, end_fixes_apart_m=float(track.step_m[i]))
        severity = 60 + min(40.0, 4 * jump / 1000)
    alarms = [g for g in group if g[2] == "alarm"]
    if alarms:
        word = int(
            np.bitwise_or.reduce(np.concatenate([track.alarm[s : e + 1] for s, e, _ in alarms]))
        )
        bits = [bit for bit in ALARM_BITS if word & (1 << bit)]
        duration = float(sum(track.t[e] - track.t[s] for s, e, _ in alarms))
        n_fixes = sum(e - s + 1 for s, e, _ in alarms)
        measured.update(
            alarm_bits=bits,
            alarms=[ALARM_LABELS[b][1] for b in bits],
            alarm_duration_s=duration,
            alarm_fixes=n_fixes,
        )
        severity = max(severity, ALARM_SEVERITY)
    return make_flag(
        Finding(
            FlagCode.TAMPER_SUSPECTED,
            first,
            last,
            severity=severity,
            measured=measured,
            thresholds={
                "signal_gap_s": gap_s,
                "tamper_min_jump_m": jump_m,
                "alarm_bits": list(ALARM_BITS),
            },
        ),
        trip,
        track,
    )
