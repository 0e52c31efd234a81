"""LONG_STOP 长时间停留: a stay within ``stop_radius_m`` lasting ≥ ``long_stop_min_duration_s``
outside authorised zones (sites, facilities, registered depots), on any trip.

Stays (``VehicleTrack.stays``): fixes within the radius of the stay's centre, a lone
outlier tolerated (``_kernels.stay_points_centred``), never bridged over a step longer than
``trip_split_gap_s`` nor stretched over time the truck went unseen before reappearing
elsewhere (``VehicleTrack.stay_departures``). A stay is inside an authorised zone when at
least half of its fixes are. Severity: 30, plus 1 per minute beyond the threshold, at most 80.
"""

from __future__ import annotations

import numpy as np

from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.tracking.checks import Finding, Stays, make_flag, stays_outside, thresholds_of
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, VehicleTrack


def _stays(track: VehicleTrack, th: Thresholds, ctx: AnalysisContext) -> Stays:
    return stays_outside(
        track,
        th.stop_radius_m,
        th.long_stop_min_duration_s,
        th.trip_split_gap_s,
        th.signal_gap_s,
        ctx,
    )


def may_flag(track: VehicleTrack, trips: list[Trip], ctx: AnalysisContext) -> bool:
    return any(_stays(track, th, ctx).starts for th in thresholds_of(track, trips))


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    th = trip.thresholds
    stays = _stays(track, th, ctx)
    flags = []
    for k in range(*stays.span(trip)):
        s, e = stays.starts[k], stays.ends[k]
        departure = stays.departures[k]
        duration = float(track.t[departure] - track.t[s])
        cx, cy = float(stays.cx[k]), float(stays.cy[k])
        spread = float(np.hypot(track.x[s : e + 1] - cx, track.y[s : e + 1] - cy).max())
        lon, lat = float(stays.lon[k]), float(stays.lat[k])
        flags.append(
            make_flag(
                Finding(
                    FlagCode.LONG_STOP,
                    s,
                    e,
                    severity=30 + min(50.0, (duration - th.long_stop_min_duration_s) / 60),
                    measured={
                        "duration_s": duration,
                        "n_fixes": e - s + 1,
                        "max_distance_from_centre_m": spread,
                    },
                    thresholds={
                        "stop_radius_m": th.stop_radius_m,
                        "long_stop_min_duration_s": th.long_stop_min_duration_s,
                    },
                    at=(lon, lat),
                    end_time=float(track.t[departure]),
                ),
                trip,
                track,
            )
        )
    return flags
