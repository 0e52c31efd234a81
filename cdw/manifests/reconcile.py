"""Reconciliation of manifests ↔ GPS trips ↔ receipts (DESIGN.md §3, the manifest codes).

:func:`reconcile` is pure: plain facts in, flags out. A manifest is matched to at most one
loaded trip of its vehicle, and a trip to at most one manifest (``match_trips``): the trip
must overlap the manifest's window (issued → received, or issued + the allowed transit
time when there is no receipt), start before the vehicle's next manifest is issued (one
load at a time) and must not return to the site it left (GPS jitter at a fence, or a
truck that turned back, is no haul to support a receipt). Among several, the first of: a leg from
the manifest's site to a facility (the receipt's facility first, where there is a
receipt), a leg from its site, a leg to a facility, any other; and within each, the one
leaving closest to departure. A receipt is supported by the manifest's trip unless that
trip reached another facility. Then:

| code | fires when |
|---|---|
| NO_RECEIPT | no receipt by departure + ``receipt_transit_allowance_s`` (a later one too) |
| RECEIPT_WITHOUT_TRIP | a receipt (not a full rejection) that no trip supports |
| QUANTITY_DISCREPANCY | received + rejected m³ (or weighbridge t) differs from the declared by more than ``quantity_tolerance_ratio`` |
| OVERLOAD | declared or received m³ above the rated volume, declared or weighed t above the rated load |
| UNAUTHORISED_VEHICLE | vehicle unregistered, not on the permit, licence or inspection expired, haulier not active |
| UNMANIFESTED_TRIP | a loaded leg from a site to a facility that no manifest claims |

WRONG_DESTINATION is the engine's (``checks/wrong_destination.py``: the loaded leg against
its permit, with or without a manifest), so one event is flagged once; a manifest whose
truck went elsewhere is left without a receipt (NO_RECEIPT) or with an unsupported one
(RECEIPT_WITHOUT_TRIP).

:func:`trip_facts` turns the loaded legs of an engine run into ``TripFacts``. The database
side (``cdw.flows.day.reconcile_days``) reads the day's manifests and receipts, takes the
trips of the day's analysis run, stores the flags with ``source = reconciliation`` and moves
manifests along their lifecycle: no receipt in time → OVERDUE; a receipt with a discrepancy
→ DISCREPANCY; a receipt without any flag → CLOSED.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.manifests.lifecycle import ReceiptOutcome
from cdw.permits.rules import VehicleFacts, vehicle_problems
from cdw.tracking.context import AnalysisContext
from cdw.tracking.pipeline import PipelineResult, gc_paused
from cdw.tracking.trips import Trip, TripKind, VehicleTrack

SEVERITY = {
    FlagCode.NO_RECEIPT: 70,
    FlagCode.UNMANIFESTED_TRIP: 80,
    FlagCode.RECEIPT_WITHOUT_TRIP: 75,
    FlagCode.QUANTITY_DISCREPANCY: 50,
    FlagCode.OVERLOAD: 60,
    FlagCode.UNAUTHORISED_VEHICLE: 70,
}
DISPUTING = frozenset({FlagCode.QUANTITY_DISCREPANCY, FlagCode.RECEIPT_WITHOUT_TRIP})
MAX_PATH_POINTS = 200
PATH_DECIMALS = 7  # ~1 cm


@dataclass(frozen=True, eq=False)
class TripFacts:
    """A loaded leg as reconciliation reads it (times aware UTC). Its ``path`` is an (n, 2)
    array of lon, lat, read-only (given as pairs, made one): one block of doubles from the
    task that found the leg to the database (pickled, encoded as JSON), not n pairs of
    Python floats."""

    trip_id: str
    vehicle: str
    start: datetime
    end: datetime
    origin_site_id: int | None
    destination_facility_id: int | None
    path: np.ndarray
    origin_site_name: str = ""
    destination_facility_name: str = ""
    destination_site_id: int | None = None
    load_state_source: str = "reported"  # or "inferred" (cdw.tracking.trips)

    def __post_init__(self) -> None:
        path = np.asarray(self.path, dtype=np.float64).reshape(-1, 2)
        path.flags.writeable = False
        object.__setattr__(self, "path", path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TripFacts):
            return NotImplemented
        return np.array_equal(self.path, other.path) and all(
            getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
            if f.name != "path"
        )

    @property
    def returns(self) -> bool:
        """Back at the site it left: no haul."""
        return self.origin_site_id is not None and self.destination_site_id == self.origin_site_id

    @property
    def origin_label(self) -> str:
        return self.origin_site_name or f"#{self.origin_site_id}"

    @property
    def destination_label(self) -> str:
        return self.destination_facility_name or f"#{self.destination_facility_id}"


@dataclass(frozen=True)
class ReceiptFacts:
    facility_id: int
    received_at: datetime
    outcome: str
    received_volume_m3: float | None
    weighbridge_t: float | None
    rejected_volume_m3: float | None


@dataclass(frozen=True)
class ManifestFacts:
    manifest_id: int
    manifest_no: str
    plate: str
    permit_no: str
    site_id: int
    facility_id: int
    facility_name: str
    issued_at: datetime
    departed_at: datetime | None
    declared_volume_m3: float | None
    declared_weight_t: float | None
    location: tuple[float, float]  # the emitting site, where no trip says better
    vehicle: VehicleFacts | None  # None: not registered
    on_permit: bool
    receipt: ReceiptFacts | None


@dataclass
class _Evidence:
    start: datetime
    end: datetime
    lon: float
    lat: float
    geometry: dict[str, Any]
    trip_id: str | None


def _evidence(m: ManifestFacts | None, trip: TripFacts | None, end: datetime) -> _Evidence:
    if trip is not None:
        lon, lat = trip.path[-1].tolist()
        geometry = (
            {"type": "LineString", "coordinates": trip.path.tolist()}
            if len(trip.path) > 1
            else {"type": "Point", "coordinates": [lon, lat]}
        )
        return _Evidence(trip.start, max(trip.end, end), lon, lat, geometry, trip.trip_id)
    lon, lat = m.location
    return _Evidence(m.issued_at, end, lon, lat, {"type": "Point", "coordinates": [lon, lat]}, None)


def _flag(
    code: FlagCode,
    vehicle: str,
    ev: _Evidence,
    measured: dict[str, Any],
    thresholds: dict[str, Any],
    zh: str,
    en: str,
    permit_no: str | None = None,
) -> Flag:
    return Flag(
        code=code,
        severity=SEVERITY[code],
        vehicle=vehicle,
        trip_id=ev.trip_id,
        start=ev.start,
        end=max(ev.end, ev.start),
        lon=ev.lon,
        lat=ev.lat,
        geometry=ev.geometry,
        measured=measured,
        thresholds=thresholds,
        explanation_zh=zh,
        explanation_en=en,
        permit_no=permit_no,
    )


def _window_end(m: ManifestFacts, allowance: timedelta) -> datetime:
    return m.receipt.received_at if m.receipt else m.issued_at + allowance


def _preference(m: ManifestFacts, t: TripFacts) -> int:
    """0 best: from the manifest's site to the receipt's facility (any facility without a
    receipt), then from its site to another facility, from its site, to a facility, any."""
    from_site = t.origin_site_id == m.site_id
    reaches = t.destination_facility_id is not None
    if from_site and reaches:
        received_there = m.receipt is None or t.destination_facility_id == m.receipt.facility_id
        return 0 if received_there else 1
    return 2 if from_site else 3 if reaches else 4


def match_trips(
    manifests: list[ManifestFacts], trips: list[TripFacts], allowance: timedelta
) -> dict[int, TripFacts]:
    """manifest_id → its trip (one to one, see the module docstring)."""
    taken: set[str] = set()
    matched: dict[int, TripFacts] = {}
    ordered = sorted(manifests, key=lambda m: (m.issued_at, m.manifest_no))
    # A truck carries one load at a time: the next manifest of the vehicle closes the
    # window in which a leg can start for this one.
    next_issue: dict[int, datetime] = {}
    last_of_plate: dict[str, ManifestFacts] = {}
    for m in ordered:
        if m.plate in last_of_plate:
            next_issue[last_of_plate[m.plate].manifest_id] = m.issued_at
        last_of_plate[m.plate] = m
    for m in ordered:
        depart = m.departed_at or m.issued_at
        end = _window_end(m, allowance)
        starts_before = next_issue.get(m.manifest_id)
        candidates = [
            t
            for t in trips
            if t.vehicle == m.plate
            and t.trip_id not in taken
            and not t.returns
            and t.start <= end
            and t.end >= m.issued_at
            and (starts_before is None or t.start < starts_before)
        ]
        if candidates:
            best = min(
                candidates,
                key=lambda t: (_preference(m, t), abs((t.start - depart).total_seconds())),
            )
            matched[m.manifest_id] = best
            taken.add(best.trip_id)
    return matched


def _supports(trip: TripFacts | None, receipt: ReceiptFacts) -> bool:
    """The trip may have brought the load the receipt records: it did not end at another
    facility (its end may be unknown: a gap)."""
    return trip is not None and trip.destination_facility_id in (None, receipt.facility_id)


def _differs(declared: float | None, accounted: float | None, tolerance: float) -> bool:
    return bool(
        declared and accounted is not None and abs(accounted - declared) > tolerance * declared
    )


def reconcile(
    manifests: list[ManifestFacts],
    trips: list[TripFacts],
    thresholds: Thresholds,
    now: datetime,
    trips_from: datetime | None = None,
) -> tuple[list[Flag], dict[int, list[FlagCode]]]:
    """Every reconciliation flag, and the codes raised per manifest id. Trips starting
    before ``trips_from`` are used for matching only (not flagged as unmanifested)."""
    allowance = timedelta(seconds=thresholds.receipt_transit_allowance_s)
    tolerance = thresholds.quantity_tolerance_ratio
    matched = match_trips(manifests, trips, allowance)
    flags: list[Flag] = []
    per_manifest: dict[int, list[FlagCode]] = {}

    def add(m: ManifestFacts, flag: Flag) -> None:
        flags.append(flag)
        per_manifest.setdefault(m.manifest_id, []).append(flag.code)

    for m in manifests:
        trip = matched.get(m.manifest_id)
        r = m.receipt
        receipt_end = r.received_at if r else m.issued_at
        deadline = (m.departed_at or m.issued_at) + allowance
        if (r is None and now > deadline) or (r is not None and r.received_at > deadline):
            add(m, _flag(
                FlagCode.NO_RECEIPT, m.plate, _evidence(m, None, deadline),
                {"manifest_no": m.manifest_no, "deadline": deadline.isoformat(),
                 "received_at": r.received_at.isoformat() if r else None},
                {"receipt_transit_allowance_s": thresholds.receipt_transit_allowance_s},
                f"联单 {m.manifest_no} 未在 {deadline.astimezone(UTC):%H:%M} UTC 前收货确认",
                f"manifest {m.manifest_no} was not received by {deadline:%Y-%m-%d %H:%M} UTC",
                m.permit_no,
            ))  # fmt: skip
        if r is not None and r.outcome != ReceiptOutcome.rejected and not _supports(trip, r):
            elsewhere = None if trip is None else trip.destination_facility_id
            add(m, _flag(
                FlagCode.RECEIPT_WITHOUT_TRIP, m.plate, _evidence(m, trip, r.received_at),
                {"manifest_no": m.manifest_no, "received_at": r.received_at.isoformat(),
                 "receipt_facility_id": r.facility_id, "trip_facility_id": elsewhere},
                {},
                f"联单 {m.manifest_no} 已在「{m.facility_name}」收货，但车辆 {m.plate} 无对应重车轨迹"
                + ("" if trip is None else f"（重车驶入「{trip.destination_label}」）"),
                f"manifest {m.manifest_no} was received at {m.facility_name} but no loaded "
                f"trip of {m.plate} supports it"
                + ("" if trip is None else f" (the loaded trip went to {trip.destination_label})"),
                m.permit_no,
            ))  # fmt: skip
        if r is not None:
            accounted = (
                None
                if r.received_volume_m3 is None
                else r.received_volume_m3 + (r.rejected_volume_m3 or 0.0)
            )
            volume_off = _differs(m.declared_volume_m3, accounted, tolerance)
            weight_off = _differs(m.declared_weight_t, r.weighbridge_t, tolerance)
            if volume_off or weight_off:
                add(m, _flag(
                    FlagCode.QUANTITY_DISCREPANCY, m.plate, _evidence(m, trip, r.received_at),
                    {"manifest_no": m.manifest_no, "declared_m3": m.declared_volume_m3,
                     "received_m3": accounted, "declared_t": m.declared_weight_t,
                     "weighbridge_t": r.weighbridge_t},
                    {"quantity_tolerance_ratio": tolerance},
                    f"联单 {m.manifest_no} 申报 {m.declared_volume_m3} 立方米 / "
                    f"{m.declared_weight_t} 吨，实收 {accounted} 立方米 / {r.weighbridge_t} 吨，"
                    f"差异超过 {tolerance:.0%}",
                    f"manifest {m.manifest_no} declared {m.declared_volume_m3} m³ / "
                    f"{m.declared_weight_t} t, received {accounted} m³ / {r.weighbridge_t} t: "
                    f"more than {tolerance:.0%} apart",
                    m.permit_no,
                ))  # fmt: skip
        v = m.vehicle
        if v is not None:
            over = [
                (name, value, limit)
                for name, value, limit in (
                    ("declared_m3", m.declared_volume_m3, v.rated_capacity_m3),
                    ("received_m3", r.received_volume_m3 if r else None, v.rated_capacity_m3),
                    ("declared_t", m.declared_weight_t, v.rated_load_t),
                    ("weighbridge_t", r.weighbridge_t if r else None, v.rated_load_t),
                )
                if value is not None and value > limit
            ]
            if over:
                text_zh = "、".join(f"{n} {value} > {limit}" for n, value, limit in over)
                add(m, _flag(
                    FlagCode.OVERLOAD, m.plate, _evidence(m, trip, receipt_end),
                    {"manifest_no": m.manifest_no, **{n: value for n, value, _ in over}},
                    {"rated_capacity_m3": v.rated_capacity_m3, "rated_load_t": v.rated_load_t},
                    f"车辆 {m.plate} 超载（联单 {m.manifest_no}）：{text_zh}",
                    f"vehicle {m.plate} overloaded (manifest {m.manifest_no}): {text_zh}",
                    m.permit_no,
                ))  # fmt: skip
        if v is None:
            reasons = [(f"车辆 {m.plate} 未登记", f"vehicle {m.plate} is not registered")]
        else:
            day = m.issued_at.date()
            reasons = [(p.zh, p.en) for p in vehicle_problems(v, day)]
            if not m.on_permit:
                reasons.insert(0, (f"车辆 {m.plate} 不在核准 {m.permit_no} 中",
                                   f"vehicle {m.plate} is not on permit {m.permit_no}"))  # fmt: skip
        if reasons:
            add(m, _flag(
                FlagCode.UNAUTHORISED_VEHICLE, m.plate, _evidence(m, trip, receipt_end),
                {"manifest_no": m.manifest_no, "reasons": [en for _, en in reasons]},
                {},
                f"无证运输（联单 {m.manifest_no}）：" + "；".join(zh for zh, _ in reasons),
                f"unauthorised vehicle (manifest {m.manifest_no}): "
                + "; ".join(en for _, en in reasons),
                m.permit_no,
            ))  # fmt: skip

    claimed = {t.trip_id for t in matched.values()}
    for t in trips:
        if (
            t.trip_id in claimed
            or t.origin_site_id is None
            or t.destination_facility_id is None
            or (trips_from is not None and t.start < trips_from)
        ):
            continue
        flags.append(_flag(
            FlagCode.UNMANIFESTED_TRIP, t.vehicle, _evidence(None, t, t.end),
            {"origin_site_id": t.origin_site_id,
             "destination_facility_id": t.destination_facility_id,
             "load_state_source": t.load_state_source},
            {},
            f"车辆 {t.vehicle} 从「{t.origin_label}」重车驶往「{t.destination_label}」，无联单",
            f"loaded trip of {t.vehicle} from {t.origin_label} to {t.destination_label} "
            "without a manifest",
        ))  # fmt: skip
    flags.sort(key=lambda f: (f.vehicle, f.start, f.code))
    return flags, per_manifest


# --- a run's report and its trips ------------------------------------------------------------


@dataclass
class ReconciliationReport:
    start_day: date
    end_day: date
    manifests: int = 0
    trips: int = 0
    flags: list[Flag] = field(default_factory=list)
    stored: int = 0
    replaced: int = 0
    kept_reviewed: int = 0
    state_changes: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(str(f.code) for f in self.flags)
        return {str(code): found.get(str(code), 0) for code in SEVERITY}

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_day": self.start_day.isoformat(),
            "end_day": self.end_day.isoformat(),
            "manifests": self.manifests,
            "trips": self.trips,
            "counts": self.counts,
            "stored": self.stored,
            "replaced": self.replaced,
            "kept_reviewed": self.kept_reviewed,
            "state_changes": self.state_changes,
            "flags": [f.as_dict() for f in self.flags],
        }


def _paths(legs: list[Trip], tracks: dict[str, VehicleTrack]) -> list[np.ndarray]:
    """Each leg's path: its fixes every ``step`` (at most ``MAX_PATH_POINTS`` of them) and its
    last, lon/lat ``rounded``; gathered, rounded and cut apart once for all the legs."""
    lon: list[np.ndarray] = []
    lat: list[np.ndarray] = []
    sizes: list[int] = []
    for leg in legs:
        track = tracks[leg.vehicle]
        first, last = leg.first_fix, leg.last_fix
        step = -(-(last - first + 1) // MAX_PATH_POINTS)
        lon.append(track.lon[first : last + 1 : step])
        lat.append(track.lat[first : last + 1 : step])
        sizes.append((last - first) // step + 1)
        if (last - first) % step:  # the last fix is not on a step
            lon.append(track.lon[last : last + 1])
            lat.append(track.lat[last : last + 1])
            sizes[-1] += 1
    points = rounded(np.column_stack((np.concatenate(lon), np.concatenate(lat))))
    return np.split(points, np.cumsum(sizes)[:-1])


def rounded(values: np.ndarray, decimals: int = PATH_DECIMALS) -> np.ndarray:
    """``round(float(v), decimals)`` of each value, vectorised. Python rounds the exact
    value half to even and returns the double nearest that decimal; ``rint(v * 10**d) /
    10**d`` gives the same wherever the product, off by at most half a unit in its last
    place, is not that near a half (the division of two exact integers is correctly
    rounded). The few that are (and non-finite or huge values) are rounded by Python."""
    scale = 10.0**decimals
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite ones are Python's
        scaled = values * scale
        out = np.rint(scaled) / scale
        doubt = (
            ~(np.abs(scaled) < 2.0**52)  # non-finite, or beyond where doubles are integers
            | (np.abs(scaled - np.floor(scaled) - 0.5) <= np.abs(scaled) * 2.0**-50)
        )
    for i in np.flatnonzero(doubt).tolist():
        out.flat[i] = round(float(values.flat[i]), decimals)
    return out


def trip_facts(result: PipelineResult, context: AnalysisContext) -> list[TripFacts]:
    """The loaded legs of a pipeline run as reconciliation reads them."""
    with gc_paused():  # a few small objects per leg, no cycles
        return _trip_facts(result, context)


def _trip_facts(result: PipelineResult, context: AnalysisContext) -> list[TripFacts]:
    site_names = {z.id: z.name for z in context.sites}
    facility_names = {z.id: z.name for z in context.facilities}
    tracks = {track.vehicle: track for track in result.tracks}
    legs = [trip for trip in result.trips if trip.kind == TripKind.loaded]
    if not legs:
        return []
    out = []
    for trip, path in zip(legs, _paths(legs, tracks), strict=True):
        track = tracks[trip.vehicle]
        arrived = trip.destination
        out.append(
            TripFacts(
                trip_id=trip.trip_id,
                vehicle=trip.vehicle,
                start=track.time(trip.first_fix),
                end=track.time(trip.last_fix),
                origin_site_id=trip.origin_site_id,
                destination_facility_id=trip.destination_facility_id,
                path=path,
                origin_site_name=site_names.get(trip.origin_site_id, ""),
                destination_facility_name=facility_names.get(trip.destination_facility_id, ""),
                destination_site_id=arrived.id if arrived and arrived.kind == "site" else None,
                load_state_source=trip.load_state_source,
            )
        )
    return out
