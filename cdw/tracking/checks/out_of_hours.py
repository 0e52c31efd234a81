"""OUT_OF_HOURS 非许可时段运输: a loaded truck moving outside its permit's allowed hours.

The allowed window is local time (``AnalysisContext.timezone``) and may span midnight.
Each run of the leg's fixes outside the window is a flag when the truck moved during it:
some fix of the run lies farther than ``stop_radius_m`` from its first fix (so a truck
standing loaded outside the window is not "moving"). Legs without a permit, or whose
permit allows any hour, are not checked; a leg counts up to where its load ends
(``suspected_dumping.load_end``: a truck that dumped its load drives back empty). Severity: 50 + 1 per minute.
"""

from __future__ import annotations

import numpy as np

from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.permits.rules import within_hours
from cdw.tracking import _kernels as K
from cdw.tracking.checks import Finding, local_time, make_flag
from cdw.tracking.checks.suspected_dumping import load_end
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, TripKind, VehicleTrack


def _checked(trip: Trip) -> bool:
    permit = trip.permit
    return trip.kind == TripKind.loaded and permit is not None and permit.allowed_hours is not None


def _outside(track: VehicleTrack, hours: tuple[float, float]) -> np.ndarray:
    return track.memo(("outside_hours", hours), lambda: ~within_hours(track.local_sod, hours))


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_outside(track, trip.permit.allowed_hours).any() for trip in trips if _checked(trip))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    if not _checked(trip):
        return []
    permit = trip.permit
    th = trip.thresholds
    lo = trip.start_index
    outside = _outside(track, permit.allowed_hours)[lo : trip.end_index]
    if not outside.any():
        return []
    outside = outside[: load_end(trip, track, ctx) - lo]
    if not outside.any():
        return []
    starts, ends = K.run_lengths(outside)
    flags = []
    for s, e in zip((starts + lo).tolist(), (ends + lo).tolist(), strict=True):
        last = e - 1
        moved = float(np.hypot(track.x[s:e] - track.x[s], track.y[s:e] - track.y[s]).max())
        if moved <= th.stop_radius_m:
            continue
        duration = float(track.t[last] - track.t[s])
        distance = float(track.cum_m[last] - track.cum_m[s])
        flags.append(
            make_flag(
                Finding(
                    FlagCode.OUT_OF_HOURS,
                    s,
                    last,
                    severity=50 + duration / 60,
                    measured={
                        "duration_s": duration,
                        "distance_m": distance,
                        "max_displacement_m": moved,
                        "local_start": local_time(ctx, track.t[s]).isoformat(),
                        "local_end": local_time(ctx, track.t[last]).isoformat(),
                        "load_state_source": trip.load_state_source,
                    },
                    thresholds={
                        "allowed_hours": permit.hours_label,
                        "stop_radius_m": th.stop_radius_m,
                    },
                ),
                trip,
                track,
            )
        )
    return flags
