"""Vehicle tracks and their trips.

``prepare_tracks`` does every per-point computation once per batch (one projection, step
metrics, geofence look-ups, local time of day, load state) and slices the result into one
``VehicleTrack`` per vehicle. ``segment_trips`` cuts a track into trips that partition it:

- a *visit* is a run of fixes inside one site or facility geofence (facility wins where
  the two overlap);
- the fixes between two visits form a *leg*; a leg whose origin is a site and whose
  destination is a facility is the loaded leg of DESIGN.md §2 (site exit → facility entry);
- a time step ≥ ``Thresholds.trip_split_gap_s`` always starts a new trip, and the legs on
  either side of it have no origin/destination across it.

Leg kind. Geofences decide first; the load-state bits (JT/T 808 status bits 8-9), where
the terminal reports them, are read at the first fix of the leg and add evidence:

| leg starts at | load bits at the first fix | kind |
|---|---|---|
| a site | empty, and the leg does not end at a facility | empty |
| a site | anything else (or no bits) | loaded |
| a facility | half or full (load refused, or not tipped) | loaded |
| a facility | anything else | empty |
| neither (start of track, after a gap) | half or full / empty / no bits | loaded / empty / other |

Loaded legs get the permit they run under (``AnalysisContext.select_permit``) and its
effective thresholds; every other trip uses the settings' thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from cdw.config import Thresholds
from cdw.tracking import _kernels as K
from cdw.tracking.context import AUTHORISED_KINDS, ZONE_KINDS, AnalysisContext, PermitRule
from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, LOAD_HALF

LOAD_UNKNOWN = -1
_QUARTER_S = 900.0


class TripKind(StrEnum):
    loaded = "loaded"
    empty = "empty"
    other = "other"
    visit = "visit"


@dataclass(frozen=True)
class Place:
    """A geofenced place a trip starts or ends at: ``index`` into the context's zone list."""

    kind: str  # "site" | "facility"
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
    local_sod: np.ndarray  # local seconds after midnight
    load: np.ndarray  # int8: LOAD_EMPTY/HALF/FULL, LOAD_UNKNOWN where no status
    alarm: np.ndarray  # uint32 JT/T 808 alarm DWORD, 0 where none
    zone: dict[str, np.ndarray]  # kind -> index into the context's zones, -1 outside all
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
    def authorised(self) -> np.ndarray:
        """Fixes inside a site, facility or depot geofence."""
        return self.memo(
            "authorised",
            lambda: np.logical_or.reduce([self.zone[k] >= 0 for k in AUTHORISED_KINDS]),
        )

    @property
    def cum_m(self) -> np.ndarray:
        """Path length from the first fix to each fix."""
        return self.memo("cum_m", lambda: np.cumsum(self.step_m))

    def stays(
        self, radius_m: float, min_duration_s: float, max_gap_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stay points (``_kernels.stay_points``): (starts, ends), end inclusive."""
        return self.memo(
            ("stays", radius_m, min_duration_s, max_gap_s),
            lambda: K.stay_points(self.x, self.y, self.t, radius_m, min_duration_s, max_gap_s),
        )

    def stay_departure(self, end: int, signal_gap_s: float) -> int:
        """Index of the fix that ends a stay: the first one outside it, as in trackintel (the
        last fix if none), unless the truck went unseen for ``signal_gap_s`` or more before
        that fix; then the stay ends at its own last fix: time nobody saw the truck there is
        not counted as stopping (the gap is SIGNAL_GAP's and TAMPER_SUSPECTED's evidence)."""
        departure = min(end + 1, self.n - 1)
        return end if self.t[departure] - self.t[end] >= signal_gap_s else departure

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
        return np.mod(t + table[0], 86400.0)
    quarter = np.floor(t / _QUARTER_S).astype(np.int64)
    offset = table[quarter - q0]
    for i in np.flatnonzero(offset != table[quarter - q0 + 1]).tolist():
        offset[i] = _utc_offset_s(tz, float(t[i]))
    return np.mod(t + offset, 86400.0)


def prepare_tracks(points: pl.DataFrame, ctx: AnalysisContext) -> list[VehicleTrack]:
    """Per-point arrays for the whole batch, computed once, sliced per vehicle.

    ``points`` is the points frame (DESIGN.md §5), cleaned and sorted by vehicle and ts.
    """
    n = points.height
    if n == 0:
        return []
    t = points["ts"].dt.epoch("us").to_numpy().astype(np.float64) / 1e6
    lon = points["lon"].to_numpy().astype(np.float64, copy=False)
    lat = points["lat"].to_numpy().astype(np.float64, copy=False)
    x, y = ctx.projector.forward(lon, lat)
    vehicles = points["vehicle"]
    starts = np.flatnonzero(vehicles.ne_missing(vehicles.shift(1)).fill_null(True).to_numpy())
    step_m, dt_s, speed_mps = K.step_metrics(x, y, t)
    step_m[starts] = 0.0
    dt_s[starts] = 0.0
    speed_mps[starts] = 0.0
    reported = points["speed_kmh"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    speed_kmh = np.where(np.isnan(reported), speed_mps * 3.6, reported)
    local_sod = local_seconds_of_day(t, ctx.timezone)
    status = points["status"]
    load = np.where(
        status.is_null().to_numpy(),
        LOAD_UNKNOWN,
        ((status.fill_null(0).to_numpy().astype(np.int64) >> 8) & 0b11),
    ).astype(np.int8)
    alarm = points["alarm"].fill_null(0).to_numpy().astype(np.uint32, copy=False)
    zone = {kind: ctx.locate(kind, x, y) for kind in ZONE_KINDS}

    bounds = np.append(starts, n)
    names = vehicles.gather(starts).to_list()
    tracks = []
    for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True):
        part = slice(int(lo), int(hi))
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
                local_sod=local_sod[part],
                load=load[part],
                alarm=alarm[part],
                zone={kind: index[part] for kind, index in zone.items()},
            )
        )
    return tracks


# --- segmentation ---------------------------------------------------------------------


def _place(ctx: AnalysisContext, kind: str, index: int) -> Place:
    zone = ctx.zones(kind)[index]
    return Place(kind=kind, index=index, id=zone.id, name=zone.name)


def _leg_kind(origin: Place | None, destination: Place | None, load_state: int) -> TripKind:
    """The table of the module docstring."""
    loaded_bits = load_state in (LOAD_HALF, LOAD_FULL)
    if origin is not None and origin.kind == "site":
        ends_at_facility = destination is not None and destination.kind == "facility"
        if load_state == LOAD_EMPTY and not ends_at_facility:
            return TripKind.empty
        return TripKind.loaded
    if origin is not None:  # a facility
        return TripKind.loaded if loaded_bits else TripKind.empty
    if loaded_bits:
        return TripKind.loaded
    return TripKind.empty if load_state == LOAD_EMPTY else TripKind.other


def trip_ids(vehicle: str, first_epoch_s: np.ndarray) -> list[str]:
    """Stable ids from the vehicle and each trip's first fix time:
    ``粤A12345D@20240506T020000Z`` (``.250`` before the Z only if not a whole second)."""
    ms = np.round(np.asarray(first_epoch_s, dtype=np.float64) * 1000).astype(np.int64)
    ids = []
    for stamp in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").tolist():
        whole = stamp[:19].replace("-", "").replace(":", "")
        fraction = "" if stamp.endswith(".000") else stamp[19:]
        ids.append(f"{vehicle}@{whole}{fraction}Z")
    return ids


def local_day(ctx: AnalysisContext, epoch_s: float) -> date:
    return utc(epoch_s).astimezone(ctx.timezone).date()


def segment_trips(track: VehicleTrack, ctx: AnalysisContext) -> list[Trip]:
    """Cut one track into visits and legs (see the module docstring)."""
    n = track.n
    if n == 0:
        return []
    n_sites = len(ctx.sites)
    site, facility = track.zone["site"], track.zone["facility"]
    place = np.where(facility >= 0, n_sites + facility, site)  # -1 outside every geofence
    gap_starts = np.flatnonzero(track.dt_s >= ctx.thresholds.trip_split_gap_s)
    changes = np.flatnonzero(place[1:] != place[:-1]) + 1
    cuts = np.unique(np.concatenate(([0, n], changes, gap_starts)))
    is_gap = np.zeros(n + 1, bool)
    is_gap[gap_starts] = True
    is_gap[[0, n]] = True  # no neighbour before the first fix or after the last

    starts = cuts[:-1]
    pieces: list[tuple[int, int, Place | None]] = []
    for lo, hi, p in zip(starts.tolist(), cuts[1:].tolist(), place[starts].tolist(), strict=True):
        if p < 0:
            pieces.append((lo, hi, None))
        elif p >= n_sites:
            pieces.append((lo, hi, _place(ctx, "facility", p - n_sites)))
        else:
            pieces.append((lo, hi, _place(ctx, "site", p)))

    ids = trip_ids(track.vehicle, track.t[starts])
    loads = track.load[starts].tolist()
    trips = []
    for k, (lo, hi, here) in enumerate(pieces):
        if here is not None:
            kind, origin, destination = TripKind.visit, here, here
        else:
            origin = pieces[k - 1][2] if k > 0 and not is_gap[lo] else None
            destination = pieces[k + 1][2] if k + 1 < len(pieces) and not is_gap[hi] else None
            kind = _leg_kind(origin, destination, loads[k])
        permit = None
        if kind == TripKind.loaded:
            permit = ctx.select_permit(
                track.vehicle,
                local_day(ctx, track.t[lo - 1 if origin else lo]),
                origin.id if origin and origin.kind == "site" else None,
                destination.id if destination and destination.kind == "facility" else None,
            )
        trips.append(
            Trip(
                trip_id=ids[k],
                vehicle=track.vehicle,
                kind=kind,
                start_index=lo,
                end_index=hi,
                origin=origin,
                destination=destination,
                permit=permit,
                thresholds=permit.thresholds if permit else ctx.thresholds,
            )
        )
    return trips
