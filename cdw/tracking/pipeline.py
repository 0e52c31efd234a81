"""The processing chain in one place, read top to bottom (as Traccar's handler list):

1. ``FILTERS`` (``clean.py``): drop what cannot be a real fix, each filter counting why;
2. ``prepare_tracks``: one projection and every per-point array, once per batch;
3. ``segment_trips``: visits and legs, loaded or not, with their permit;
4. ``CHECKS``, in this order, on every trip: each a pure ``check(trip, track, ctx)``;
   where the check's module has ``may_flag`` (``MAY_FLAG``), a track it clears is skipped.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from time import perf_counter

import polars as pl

from cdw.flags.values import Flag
from cdw.tracking import clean
from cdw.tracking.checks.listing import ENGINE_CHECKS, CheckFn, MayFlagFn
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, VehicleTrack, prepare_tracks, segment_trips

FILTERS = clean.FILTERS  # applied in this order by clean.clean

CHECKS: tuple[CheckFn, ...] = tuple(c.check for c in ENGINE_CHECKS)

# Track-wide shortcuts (see cdw.tracking.checks): False means the check finds nothing on
# any trip of the track, so its trips are not visited. Speed only; results are the same.
MAY_FLAG: dict[CheckFn, MayFlagFn] = {c.check: c.may_flag for c in ENGINE_CHECKS if c.may_flag}


def check_name(check: CheckFn) -> str:
    """``route_deviation`` for ``route_deviation.check``."""
    return check.__module__.rsplit(".", 1)[-1]


@dataclass
class PipelineResult:
    points_in: int
    cleaning: clean.CleanResult
    tracks: list[VehicleTrack]
    trips: list[Trip]
    flags: list[Flag]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def points_kept(self) -> int:
        return self.cleaning.points.height

    def track_of(self, trip: Trip) -> VehicleTrack:
        return next(t for t in self.tracks if t.vehicle == trip.vehicle)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused meanwhile (as it was afterwards; nested uses
    leave it to the outermost). An engine run, and the writing of what it found, allocate
    many small objects (trips, flags, legs and their paths, ORM rows) and hardly any
    reference cycles: each full collection scans every live object of a big process and
    frees nothing; what cycles there are wait for its next run."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def run_pipeline(
    points: pl.DataFrame,
    context: AnalysisContext,
    now: datetime | None = None,
    checks: tuple[CheckFn, ...] = CHECKS,
) -> PipelineResult:
    """Clean, segment and check one batch of points (any vehicles, any days); with
    ``checks=()``, the trips alone."""
    timings: dict[str, float] = {}
    started = tick = perf_counter()

    def lap(stage: str) -> None:
        nonlocal tick
        now_ = perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now_ - tick
        tick = now_

    with gc_paused():
        cleaned = clean.clean(points, context.thresholds, now)
        lap("clean")
        tracks = prepare_tracks(cleaned.points, context)
        lap("prepare")
        trips_by_track = [(track, segment_trips(track, context)) for track in tracks]
        lap("trips")
        flags: list[Flag] = []
        for check in checks:
            may_flag = MAY_FLAG.get(check)
            for track, trips in trips_by_track:
                if may_flag is not None and not may_flag(track, trips, context):
                    continue
                for trip in trips:
                    flags.extend(check(trip, track, context))
            lap(check_name(check))

    flags.sort(key=lambda f: (f.vehicle, f.start, f.code))
    timings["total"] = perf_counter() - started
    return PipelineResult(
        points_in=points.height,
        cleaning=cleaned,
        tracks=tracks,
        trips=[trip for _, trips in trips_by_track for trip in trips],
        flags=flags,
        timings=timings,
    )
