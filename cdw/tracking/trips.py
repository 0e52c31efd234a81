"""Vehicle tracks and their trips.

``prepare_tracks`` does every per-point computation once per batch (one projection, step
metrics, geofence look-ups, local time of day, load state) and slices the result into one
``VehicleTrack`` per vehicle. ``segment_trips`` cuts a track into trips that partition it:

- a *visit* is a run of fixes inside one site, facility or depot geofence (facility, then
  site, wins where they overlap), robust to GPS jitter (``visit_places``): fixes just
  outside the fence do not end it, and a fence passed through without stopping is no visit;
- the fixes between two visits form a *leg*; a leg whose origin is a site and whose
  destination is a facility is the loaded leg of DESIGN.md §2 (site exit → facility entry);
- a time step ≥ ``Thresholds.trip_split_gap_s`` always starts a new trip, and the legs on
  either side of it have no origin/destination across it.

Leg kind. Geofences decide first; the load-state bits (JT/T 808 status bits 8-9), where
the terminal reports them, are read at the first fix of the leg and add evidence. A vehicle
without a load sensor (``AnalysisContext.no_load_sensor``, or whose load bits are never
non-zero in the batch: it reports status 0, "empty", all day) has no bits
(``LOAD_UNKNOWN``), and its load state is inferred from the geofences alone: loaded from a
site to the next facility or the next site. A depot visit or a time step ≥
``trip_split_gap_s`` ends an inferred load: a truck parked at its depot (or unseen for half
an hour) is no evidence of a load carried on, and a drive from a site to the depot is the
empty run home (with bits that say loaded it is a loaded leg, reported). Within a loaded leg
the load may end before the leg does (dumped on the way): where, the checks find out
(``checks.suspected_dumping.load_end``).

| leg starts at | load bits at the first fix | kind |
|---|---|---|
| a site | empty, and the leg does not end at a facility | empty |
| a site, the leg ending at a depot | no bits | empty |
| a site | anything else (or no bits) | loaded |
| a facility or a depot | half or full (load refused, or not tipped) | loaded |
| a facility or a depot | anything else | empty |
| neither (start of track, after a gap) | half or full / empty / no bits | loaded / empty / other |

Each trip says where its load state came from (``load_state_source``): ``reported`` when
the bits at its first fix say that state, ``inferred`` when the geofences decided alone.

Loaded legs get the permit they run under (``AnalysisContext.select_permit``) and its
effective thresholds; every other trip uses the settings' thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from cdw.config import Thresholds
from cdw.tracking import _kernels as K
from cdw.tracking.context import AUTHORISED_KINDS, ZONE_KINDS, AnalysisContext, PermitRule
from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, LOAD_HALF

LOAD_UNKNOWN = -1
RAYLEIGH_MEDIAN = float(np.sqrt(2 * np.log(2)))  # median of |2-D N(0, σ²)| over σ
_MIN_NOISE_FIXES = 20
_QUARTER_S = 900.0


REPORTED = "reported"
INFERRED = "inferred"


class TripKind(StrEnum):
    loaded = "loaded"
    empty = "empty"
    other = "other"
    visit = "visit"


@dataclass(frozen=True)
class Place:
    """A geofenced place a trip starts or ends at: ``index`` into the context's zone list."""

    kind: str  # "site" | "facility" | "depot"
    index: int
    id: int
    name: str


@dataclass(eq=False)
class VehicleTrack:
    """One vehicle's fixes in a batch, sorted by time; arrays are views into batch arrays."""

    vehicle: str
    t: np.ndarray  # epoch seconds, float64
    x: np.ndarray  # projected metres
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    step_m: np.ndarray  # distance from the previous fix (0 at the first)
    dt_s: np.ndarray  # time since the previous fix (0 at the first)
    speed_kmh: np.ndarray  # reported speed where present, else computed from the step
    reported_speed: np.ndarray  # bool: speed_kmh is the terminal's
    local_sod: np.ndarray  # local seconds after midnight
    load: np.ndarray  # int8: LOAD_EMPTY/HALF/FULL, LOAD_UNKNOWN where no status or no sensor
    alarm: np.ndarray  # uint32 JT/T 808 alarm DWORD, 0 where none
    zone: dict[str, np.ndarray]  # kind -> index into the context's zones, -1 outside all
    authorised: np.ndarray  # bool: inside a site, facility or depot geofence
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.t.size)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Compute a derived array once per track (keys name the thresholds they depend on)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    @property
    def cum_m(self) -> np.ndarray:
        """Path length from the first fix to each fix."""
        return self.memo("cum_m", lambda: np.cumsum(self.step_m))

    def stays(
        self, radius_m: float, min_duration_s: float, max_gap_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stays measured from their centre, robust to GPS noise
        (``_kernels.stay_points_centred``): (starts, ends), end inclusive. The kernel cuts the
        track the same whatever the least duration, which only chooses the runs it keeps: it
        runs once per radius and gap (``_stay_runs``), and each duration keeps its runs."""

        def compute() -> tuple[np.ndarray, np.ndarray]:
            starts, ends, seconds = self._stay_runs(radius_m, max_gap_s)
            keep = seconds >= min_duration_s
            return starts[keep], ends[keep]

        return self.memo(("stays", radius_m, min_duration_s, max_gap_s), compute)

    def _stay_runs(
        self, radius_m: float, max_gap_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every run the stay kernel cuts the track into (stays of any duration): (starts,
        ends, seconds), seconds measured as the kernel measures them, from the run's first fix
        to the fix after it (to its own last fix at the end of the track)."""

        def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            starts, ends = K.stay_points_centred(self.x, self.y, self.t, radius_m, 0.0, max_gap_s)
            return starts, ends, self.t[np.minimum(ends + 1, self.n - 1)] - self.t[starts]

        return self.memo(("stay_runs", radius_m, max_gap_s), compute)

    def stay_centres(
        self, radius_m: float, min_duration_s: float, max_gap_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The mean position of each stay's fixes (``stays`` with these parameters), equal to
        ``x[s : e + 1].mean()`` to the last bit: (cx, cy)."""

        def compute() -> tuple[np.ndarray, np.ndarray]:
            starts, ends = self.stays(radius_m, min_duration_s, max_gap_s)
            return K.stay_centres(self.x, self.y, starts, ends)

        return self.memo(("stay_centres", radius_m, min_duration_s, max_gap_s), compute)

    def noise_sigma_m(self, radius_m: float, min_duration_s: float, max_gap_s: float) -> float:
        """GPS noise σ of the track, from the scatter of its fixes at its stays (``stays``
        with these parameters): the median distance of a stay's fixes from its centre is
        1.18 σ for 2-D Gaussian noise. 0 with fewer than ``_MIN_NOISE_FIXES`` such fixes.
        A truck creeping in a yard only widens the scatter: the estimate errs high."""

        def compute() -> float:
            starts, ends = self.stays(radius_m, min_duration_s, max_gap_s)
            cx, cy = self.stay_centres(radius_m, min_duration_s, max_gap_s)
            # distances from the fixes' own mean are short by √((n-1)/n) (``K.stay_scatter``)
            scatter, count = K.stay_scatter(self.x, self.y, starts, ends, cx, cy)
            return scatter / RAYLEIGH_MEDIAN if count >= _MIN_NOISE_FIXES else 0.0

        return self.memo(("noise_sigma_m", radius_m, min_duration_s, max_gap_s), compute)

    def noise_scatter_at_most(
        self, scatter_m: float, radius_m: float, min_duration_s: float, max_gap_s: float
    ) -> bool:
        """True where the median scatter ``noise_sigma_m`` reads (same parameters) is surely
        at most ``scatter_m``, told by a count of the distances up to it instead of their
        median (``K.scatter_at_most``); False where it may not be (``noise_sigma_m`` then
        tells)."""
        starts, ends = self.stays(radius_m, min_duration_s, max_gap_s)
        cx, cy = self.stay_centres(radius_m, min_duration_s, max_gap_s)
        return K.scatter_at_most(self.x, self.y, starts, ends, cx, cy, scatter_m)

    @property
    def sampling_interval_s(self) -> float:
        """The track's usual time between fixes (median step)."""

        def compute() -> float:
            if self.n < 2:
                return 0.0
            step, found = K.median_step(self.t)  # counting passes, no selection
            return step if found else float(np.median(np.diff(self.t)))

        return self.memo(("sampling_interval_s",), compute)

    def unseen_after_s(self, signal_gap_s: float) -> float:
        """A step at least this long is time nobody saw the truck: twice its usual
        sampling interval, and never more than ``signal_gap_s``."""
        return min(signal_gap_s, 2.0 * self.sampling_interval_s) if self.n > 1 else signal_gap_s

    def stay_departures(self, ends: np.ndarray, signal_gap_s: float) -> np.ndarray:
        """For each stay end in ``ends``, the fix that ends the stay: the first one outside it,
        as in trackintel (the last fix if none), unless the truck went unseen before that
        fix (``unseen_after_s``); then the stay ends at its own last fix: time nobody saw
        the truck there is not counted as stopping (a long gap is SIGNAL_GAP's and
        TAMPER_SUSPECTED's evidence)."""
        departure = np.minimum(ends + 1, self.n - 1)
        unseen = self.t[departure] - self.t[ends] >= self.unseen_after_s(signal_gap_s)
        return np.where(unseen, ends, departure)

    def time(self, i: int) -> datetime:
        return utc(self.t[i])


def utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(round(float(epoch_s), 6), UTC)


@dataclass(frozen=True)
class Trip:
    """Fixes ``start_index .. end_index - 1`` of one track (trips partition their track)."""

    trip_id: str
    vehicle: str
    kind: TripKind
    start_index: int
    end_index: int
    origin: Place | None  # the visit just before (legs), the place itself (visits)
    destination: Place | None  # the visit just after (legs), the place itself (visits)
    permit: PermitRule | None
    thresholds: Thresholds
    load_state_source: str  # REPORTED or INFERRED (module docstring)

    @property
    def first_fix(self) -> int:
        """The leg's departure fix: the last one inside its origin when it has one."""
        return (
            self.start_index - 1
            if self.kind != TripKind.visit and self.origin
            else self.start_index
        )

    @property
    def last_fix(self) -> int:
        """The leg's arrival fix: the first one inside its destination when it has one."""
        return (
            self.end_index
            if self.kind != TripKind.visit and self.destination
            else self.end_index - 1
        )

    @property
    def origin_site_id(self) -> int | None:
        return self.origin.id if self.origin and self.origin.kind == "site" else None

    @property
    def destination_facility_id(self) -> int | None:
        if self.destination and self.destination.kind == "facility":
            return self.destination.id
        return None

    @property
    def permit_no(self) -> str | None:
        return self.permit.permit_no if self.permit else None

    def as_dict(self, track: VehicleTrack) -> dict[str, Any]:
        return {
            "trip_id": self.trip_id,
            "vehicle": self.vehicle,
            "kind": str(self.kind),
            "start": track.time(self.first_fix).isoformat(),
            "end": track.time(self.last_fix).isoformat(),
            "n_fixes": self.end_index - self.start_index,
            "origin": None if self.origin is None else f"{self.origin.kind}:{self.origin.id}",
            "destination": None
            if self.destination is None
            else f"{self.destination.kind}:{self.destination.id}",
            "permit_no": self.permit_no,
            "load_state_source": self.load_state_source,
        }


# --- per-batch preparation ----------------------------------------------------------


def _utc_offset_s(tz: ZoneInfo, epoch_s: float) -> float:
    return datetime.fromtimestamp(epoch_s, tz).utcoffset().total_seconds()


def local_seconds_of_day(t: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Seconds after local midnight of each epoch time.

    UTC offsets are looked up once per quarter hour of the batch; in a quarter hour that
    holds an offset change (DST), each of its fixes is looked up on its own.
    """
    if t.size == 0:
        return np.empty(0)
    q0 = int(np.floor(t.min() / _QUARTER_S))
    q1 = int(np.floor(t.max() / _QUARTER_S))
    table = np.array([_utc_offset_s(tz, (q0 + k) * _QUARTER_S) for k in range(q1 - q0 + 2)])
    if (table == table[0]).all():
        return _mod_day(t, table[0])
    quarter = np.floor(t / _QUARTER_S).astype(np.int64)
    offset = table[quarter - q0]
    for i in np.flatnonzero(offset != table[quarter - q0 + 1]).tolist():
        offset[i] = _utc_offset_s(tz, float(t[i]))
    return _mod_day(t, offset)


def _mod_day(seconds: np.ndarray, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """``np.mod(seconds + offset, 86400)``, the same values in one pass (``K.mod_day``)."""
    return K.mod_day(seconds, np.atleast_1d(np.asarray(offset, dtype=np.float64)))


def prepare_tracks(points: pl.DataFrame, ctx: AnalysisContext) -> list[VehicleTrack]:
    """Per-point arrays for the whole batch, computed once, sliced per vehicle.

    ``points`` is the points frame (DESIGN.md §5), cleaned and sorted by vehicle and ts.
    """
    n = points.height
    if n == 0:
        return []
    t = np.divide(points["ts"].dt.epoch("us").to_numpy(), 1e6)  # float64, as astype then /
    lon = points["lon"].to_numpy().astype(np.float64, copy=False)
    lat = points["lat"].to_numpy().astype(np.float64, copy=False)
    x, y = ctx.projector.forward_tiled(lon, lat)
    vehicles = points["vehicle"]
    starts = vehicles.ne_missing(vehicles.shift(1)).arg_true().to_numpy().astype(np.int64)
    step_m, dt_s, speed_mps = K.step_metrics(x, y, t)
    step_m[starts] = 0.0
    dt_s[starts] = 0.0
    speed_mps[starts] = 0.0
    reported = points["speed_kmh"].cast(pl.Float64).to_numpy()  # null: NaN
    has_speed = ~np.isnan(reported)
    speed_kmh = np.multiply(speed_mps, 3.6, out=speed_mps)  # speed_mps is not needed again
    np.copyto(speed_kmh, reported, where=has_speed)
    local_sod = local_seconds_of_day(t, ctx.timezone)
    status = points["status"]
    if status.null_count() == 0:
        load = ((status.to_numpy() >> 8) & 0b11).astype(np.int8)
    else:
        load = np.where(
            status.is_null().to_numpy(),
            LOAD_UNKNOWN,
            ((status.fill_null(0).to_numpy().astype(np.int64) >> 8) & 0b11),
        ).astype(np.int8)
    alarm = points["alarm"].fill_null(0).to_numpy().astype(np.uint32, copy=False)
    zone = {kind: ctx.locate(kind, x, y) for kind in ZONE_KINDS}
    authorised = np.logical_or.reduce([zone[kind] >= 0 for kind in AUTHORISED_KINDS])

    bounds = np.append(starts, n)
    names = vehicles.gather(starts).to_list()
    # A vehicle without a load sensor has no load bits (module docstring).
    sensed = np.maximum.reduceat(load, starts) > 0
    tracks = []
    for name, lo, hi, has_sensor in zip(
        names, bounds[:-1], bounds[1:], sensed.tolist(), strict=True
    ):
        part = slice(int(lo), int(hi))
        if not has_sensor or name in ctx.no_load_sensor:
            load[part] = LOAD_UNKNOWN
        tracks.append(
            VehicleTrack(
                vehicle=name,
                t=t[part],
                x=x[part],
                y=y[part],
                lon=lon[part],
                lat=lat[part],
                step_m=step_m[part],
                dt_s=dt_s[part],
                speed_kmh=speed_kmh[part],
                reported_speed=has_speed[part],
                local_sod=local_sod[part],
                load=load[part],
                alarm=alarm[part],
                zone={kind: index[part] for kind, index in zone.items()},
                authorised=authorised[part],
            )
        )
    return tracks


# --- segmentation ---------------------------------------------------------------------


def _place(ctx: AnalysisContext, kind: str, index: int) -> Place:
    zone = ctx.zones(kind)[index]
    return Place(kind=kind, index=index, id=zone.id, name=zone.name)


def _leg_kind(
    origin: Place | None, destination: Place | None, load_state: int
) -> tuple[TripKind, str]:
    """The table of the module docstring, and whether the bits say so (REPORTED)."""
    loaded_bits = load_state in (LOAD_HALF, LOAD_FULL)
    if origin is not None and origin.kind == "site":
        ends_at_facility = destination is not None and destination.kind == "facility"
        home = destination is not None and destination.kind == "depot"
        if (load_state == LOAD_EMPTY and not ends_at_facility) or (
            home and load_state == LOAD_UNKNOWN
        ):
            kind = TripKind.empty
        else:
            kind = TripKind.loaded
    elif origin is not None:  # a facility or a depot
        kind = TripKind.loaded if loaded_bits else TripKind.empty
    elif loaded_bits:
        kind = TripKind.loaded
    else:
        kind = TripKind.empty if load_state == LOAD_EMPTY else TripKind.other
    says = TripKind.loaded if loaded_bits else TripKind.empty
    reported = load_state != LOAD_UNKNOWN and kind == says
    return kind, REPORTED if reported else INFERRED


def _runs_of(place: np.ndarray, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of one value of ``place`` that also break where ``cut[i]`` (before fix i):
    (starts, ends), end exclusive."""
    breaks = np.flatnonzero((place[1:] != place[:-1]) | cut[1:]) + 1
    return np.concatenate(([0], breaks)), np.concatenate((breaks, [place.size]))


def visit_places(track: VehicleTrack, ctx: AnalysisContext) -> np.ndarray:
    """Per fix, the place of the visit it belongs to (a site index, the number of sites plus
    a facility index, or the number of sites and facilities plus a depot index), -1 on a
    leg. Where the fences alone would say otherwise:

    - *fence jitter*: fixes outside a fence between two visits of it, within the same piece
      of track, belong to the visit unless the truck is seen farther than
      ``fence_exit_margin_m`` from the fence for ``fence_exit_min_s`` or longer (first to
      last fix of a run of such fixes);
    - *passing through*: a visit shorter than ``fence_stop_min_s`` (first to last fix in
      the fence) belongs to the leg around it; a visit at either end of a piece of track
      (its first or last fix, or beside a gap ≥ ``trip_split_gap_s``) stays a visit, as
      nothing says how long the truck was there. Time in the fence, not a stay of the
      fixes: at σ 20 m the fixes of a truck standing still scatter beyond any stop radius
      now and then, while the time does not depend on noise.
    """
    th = ctx.thresholds
    n_sites, n_places = len(ctx.sites), len(ctx.sites) + len(ctx.facilities)
    site, facility, depot = track.zone["site"], track.zone["facility"], track.zone["depot"]
    place = K.place_codes(site, facility, depot, n_sites, n_places)
    cut = track.dt_s >= th.trip_split_gap_s
    if (place < 0).all():
        return place

    lo, hi = _runs_of(place, cut)
    at = place[lo]
    k = np.arange(1, lo.size - 1)
    k = k[(at[k] < 0) & (at[k - 1] >= 0) & (at[k - 1] == at[k + 1]) & ~cut[lo[k]] & ~cut[hi[k]]]
    if k.size:
        _stay_in_fence(track, ctx, place, lo[k], hi[k], at[k - 1])

    lo, hi = _runs_of(place, cut)
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        if place[a] < 0 or a == 0 or b == track.n or cut[a] or cut[b]:
            continue
        if track.t[b - 1] - track.t[a] < th.fence_stop_min_s:
            place[a:b] = -1
    return place


def _stay_in_fence(
    track: VehicleTrack,
    ctx: AnalysisContext,
    place: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    fence_place: np.ndarray,
) -> None:
    """Fence jitter (``visit_places``): each stretch ``starts[k]:ends[k]`` outside the fence
    of ``fence_place[k]`` becomes part of that visit unless a run of its fixes farther than
    ``fence_exit_margin_m`` from the fence lasts ``fence_exit_min_s``. Every stretch at
    once: their fixes one after another, each stretch followed by one slot that is never
    far, so that no run reaches into the next stretch."""
    th = ctx.thresholds
    sizes = ends - starts
    offsets = np.concatenate(([0], np.cumsum(sizes + 1)))  # each stretch's first slot
    fix = np.arange(offsets[-1]) + np.repeat(starts - offsets[:-1], sizes + 1)  # its end: ends[k]
    away = _fence_distances(ctx, np.repeat(fence_place, sizes + 1), track.x[fix], track.y[fix])
    far = away > th.fence_exit_margin_m
    far[offsets[1:] - 1] = False
    exit_starts, _ = K.runs_at_least(far, track.t[fix], th.fence_exit_min_s)
    left = np.zeros(starts.size, bool)
    left[np.searchsorted(offsets, exit_starts, side="right") - 1] = True
    for a, b, p in zip(
        starts[~left].tolist(), ends[~left].tolist(), fence_place[~left].tolist(), strict=True
    ):
        place[a:b] = p


def _fence_distances(
    ctx: AnalysisContext, place: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Distance from each point to the fence of ``place[i]`` (a ``visit_places`` value), for
    points outside it: the distance to the site, facility or depot."""
    away = np.empty(place.size)
    for kind, first, end in _place_ranges(ctx):
        of_kind = (place >= first) & (place < end)
        if of_kind.any():
            away[of_kind] = ctx.fence_distance(kind, place[of_kind] - first, x[of_kind], y[of_kind])
    return away


def _place_ranges(ctx: AnalysisContext) -> tuple[tuple[str, int, int], ...]:
    """(kind, first, end) of the ``visit_places`` values of each kind: sites, then
    facilities, then depots."""
    n_sites, n_places = len(ctx.sites), len(ctx.sites) + len(ctx.facilities)
    return (
        ("site", 0, n_sites),
        ("facility", n_sites, n_places),
        ("depot", n_places, n_places + len(ctx.depots)),
    )


def _kind_of(ctx: AnalysisContext, p: int) -> tuple[str, int]:
    """(kind, index into the context's zones of that kind) of a ``visit_places`` value."""
    return next((kind, p - first) for kind, first, end in _place_ranges(ctx) if p < end)


def trip_ids(vehicle: str, first_epoch_s: np.ndarray) -> list[str]:
    """Stable ids from the vehicle and each trip's first fix time:
    ``粤A12345D@20240506T020000Z`` (``.250`` before the Z only if not a whole second)."""
    ids = []
    # Formatted from integer fields in plain Python (a track's few trips: numpy's calls, and
    # its datetime_as_string, cost microseconds each): the milliseconds rounded half to even
    # as np.round, the date from a cache, then hours, minutes, seconds and milliseconds.
    for epoch_s in np.asarray(first_epoch_s, dtype=np.float64).tolist():
        day, ms_of_day = divmod(round(epoch_s * 1000), 86_400_000)
        second, milli = divmod(ms_of_day, 1000)
        hour, rest = divmod(second, 3600)
        hhmmss = hour * 10_000 + (rest // 60) * 100 + rest % 60  # 02:05:09 -> 20509
        fraction = f".{milli:03d}" if milli else ""
        ids.append(f"{vehicle}@{_compact_date(day)}T{hhmmss:06d}{fraction}Z")
    return ids


@lru_cache(maxsize=4096)
def _compact_date(day: int) -> str:
    """``20240506`` for the day so many days after 1970-01-01."""
    return np.datetime_as_string(np.datetime64(day, "D")).replace("-", "")


def local_day(ctx: AnalysisContext, epoch_s: float) -> date:
    return utc(epoch_s).astimezone(ctx.timezone).date()


def _local_date(ctx: AnalysisContext, track: VehicleTrack, i: int) -> date:
    """``local_day`` of fix ``i``, looked up once per local midnight of the track: the
    track's local seconds of day already place each fix in its local day."""
    midnight = round(float(track.t[i] - track.local_sod[i]))
    day = track.memo(("local_date", midnight), lambda: local_day(ctx, midnight + 43200.0))
    return day


def segment_trips(track: VehicleTrack, ctx: AnalysisContext) -> list[Trip]:
    """Cut one track into visits and legs (see the module docstring)."""
    n = track.n
    if n == 0:
        return []
    place = visit_places(track, ctx)
    gap_starts = np.flatnonzero(track.dt_s >= ctx.thresholds.trip_split_gap_s)
    changes = np.flatnonzero(place[1:] != place[:-1]) + 1
    cuts = np.unique(np.concatenate(([0, n], changes, gap_starts)))
    # No neighbour across a gap, before the first fix or after the last.
    no_neighbour = {0, n, *gap_starts.tolist()}

    starts = cuts[:-1]
    places: dict[int, Place] = {}  # the few geofences of one track, built once each

    def place_of(p: int) -> Place | None:
        if p < 0:
            return None
        if p not in places:
            places[p] = _place(ctx, *_kind_of(ctx, p))
        return places[p]

    pieces = [
        (lo, hi, place_of(p))
        for lo, hi, p in zip(
            starts.tolist(), cuts[1:].tolist(), place[starts].tolist(), strict=True
        )
    ]

    ids = trip_ids(track.vehicle, track.t[starts])
    loads = track.load[starts].tolist()
    permits: dict[tuple[date, int | None, int | None], PermitRule | None] = {}
    trips = []
    for k, (lo, hi, here) in enumerate(pieces):
        if here is not None:
            kind, origin, destination = TripKind.visit, here, here
            source = INFERRED
        else:
            origin = None if lo in no_neighbour else pieces[k - 1][2]
            destination = None if hi in no_neighbour else pieces[k + 1][2]
            kind, source = _leg_kind(origin, destination, loads[k])
        permit = None
        if kind is TripKind.loaded:
            first = lo - 1 if origin else lo
            key = (
                _local_date(ctx, track, first),
                origin.id if origin and origin.kind == "site" else None,
                destination.id if destination and destination.kind == "facility" else None,
            )
            if key not in permits:  # a truck shuttles: most of its legs share one key
                permits[key] = ctx.select_permit(track.vehicle, *key)
            permit = permits[key]
        trips.append(
            _new_trip(
                trip_id=ids[k],
                vehicle=track.vehicle,
                kind=kind,
                start_index=lo,
                end_index=hi,
                origin=origin,
                destination=destination,
                permit=permit,
                thresholds=permit.thresholds if permit else ctx.thresholds,
                load_state_source=source,
            )
        )
    return trips


_TRIP_FIELDS = frozenset(Trip.__dataclass_fields__)


def _new_trip(**fields: Any) -> Trip:
    """``Trip(**fields)``, four times faster: a frozen dataclass's ``__init__`` sets every
    field through ``object.__setattr__`` (3.6 µs a trip, a third of the segmentation's
    time); here they go into the instance's ``__dict__`` at once. Trip has no
    ``__post_init__`` and no defaults, so nothing else of ``__init__`` is skipped."""
    if fields.keys() != _TRIP_FIELDS:  # the same mistakes __init__ would refuse
        raise TypeError(f"Trip fields {sorted(_TRIP_FIELDS)}, got {sorted(fields)}")
    trip = object.__new__(Trip)
    trip.__dict__.update(fields)
    return trip
