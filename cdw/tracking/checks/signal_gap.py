"""SIGNAL_GAP 轨迹中断: no fix for ≥ ``signal_gap_s`` while the vehicle is in service.

In service: between the vehicle's first and last fix of the analysed period (gaps are
only seen between two fixes), except while parked in a depot: a gap whose two ends both
lie inside a depot geofence is the terminal asleep in the yard, not a gap. The gap belongs
to the trip holding the fix after it. Severity: 20 + 1 per minute, at most 70.

``still_open`` is the same rule for a gap not closed yet (the live engine's timeout): the
silence after the track's last fix, at least ``signal_gap_s`` long at ``now``, the last fix
not in a depot. Its flag starts at that last fix, as the gap's flag will once the next fix
arrives (the same identity), and says it is still open (``measured['open']``).
"""

from __future__ import annotations

from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.tracking.checks import Events, Finding, gap_ends, make_flag, thresholds_of
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, VehicleTrack


def _in_service_gaps(track: VehicleTrack, gap_s: float) -> Events:
    after = gap_ends(track, gap_s)
    depot = track.zone["depot"]
    after = after[~((depot[after - 1] >= 0) & (depot[after] >= 0))]
    return Events.of(after, after)


def _events(track: VehicleTrack, gap_s: float) -> Events:
    return track.memo(("signal_gap", gap_s), lambda: _in_service_gaps(track, gap_s))


def _severity(duration_s: float) -> float:
    return 20 + min(50.0, duration_s / 60)


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_events(track, th.signal_gap_s).starts for th in thresholds_of(track, trips))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    gap_s = trip.thresholds.signal_gap_s
    found = _events(track, gap_s).in_trip(trip)
    flags = []
    for i, _ in found:
        duration = float(track.dt_s[i])
        jump = float(track.step_m[i])
        flags.append(
            make_flag(
                Finding(
                    FlagCode.SIGNAL_GAP,
                    i - 1,
                    i,
                    severity=_severity(duration),
                    measured={"duration_s": duration, "jump_m": jump},
                    thresholds={"signal_gap_s": gap_s},
                ),
                trip,
                track,
            )
        )
    return flags


def still_open(trip: Trip, track: VehicleTrack, ctx: AnalysisContext, now_s: float) -> list[Flag]:
    """The gap open at ``now_s`` (epoch seconds) after the last fix of ``track`` (the module
    docstring), on ``trip``, the trip holding that fix."""
    last = track.n - 1
    gap_s = trip.thresholds.signal_gap_s
    duration = float(now_s - track.t[last])
    if last < 0 or duration < gap_s or track.zone["depot"][last] >= 0:
        return []
    return [
        make_flag(
            Finding(
                FlagCode.SIGNAL_GAP,
                last,
                last,
                severity=_severity(duration),
                measured={"duration_s": duration, "open": True},
                thresholds={"signal_gap_s": gap_s},
                end_time=float(now_s),
            ),
            trip,
            track,
        )
    ]
