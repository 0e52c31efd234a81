"""A seeded, reproducible simulated working day in Panyu, Guangzhou, as a scenario bundle.

``generate_scenario`` lays out sites, facilities, depots, hauliers, vehicles, drivers, a
water-source zone and permits beside the real Panyu OSM roads (:mod:`cdw.scenario.world`),
drives every truck through its day along real fastest paths (depot → site → loaded to the
permitted facility → back, 3–6 loads → depot), samples GPS fixes with noise, multipath
outliers and short dropouts, issues manifests and receipts as the gates would, injects
labelled violations of every DESIGN.md §3 code and labelled near misses just under each
threshold, and writes the bundle described in ``sample_tracks/README.md``. Everything is
drawn from one ``numpy.random.default_rng(seed)``: the same arguments give byte-identical
files.

What makes the day hard is what real days have: loaded legs chosen to run on motorways,
trunks and primaries (dual carriageways, frontage roads, ramps, interchanges), waits on the
fence line at every gate (GPS noise steps out and back in), fences drawn across through
roads (trucks pass through them without stopping), half of the trucks without a load
sensor (status bits 8–9 always 0), two phases of a project under one name, and multipath
fixes. Outside the labels the day is clean: speeds stay at 0.75–0.9 of the lower of the
posted limit and the truck limit, signal stops last < 60 s, dropouts < 2 min, lawful
paths avoid the zone, loaded legs follow the permit route.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import shapely
from shapely.geometry import LineString, Polygon

from cdw.errors import Problem, ValidationFailed
from cdw.scenario import _names as names
from cdw.scenario.world import MAJOR, TRUCK_LIMIT_KMH, Place, World, panyu

LOCAL_TZ = timezone(timedelta(hours=8))
PERMIT_HOURS = ("07:00", "20:00")
CORRIDOR_HALF_WIDTH_M = 50.0
H = 3600.0

# JT/T 808 status and alarm bits.
ACC_ON, POSITIONED, LOAD_FULL_BITS = 1 << 0, 1 << 1, 0b11 << 8
ALARM_MAIN_POWER_CUT = 1 << 8

TRACK_CODES = (
    "ROUTE_DEVIATION",
    "LONG_STOP",
    "SUSPECTED_DUMPING",
    "WRONG_DESTINATION",
    "SPEEDING",
    "OUT_OF_HOURS",
    "RESTRICTED_ZONE",
    "SIGNAL_GAP",
    "TAMPER_SUSPECTED",
)
MANIFEST_CODES = (
    "NO_RECEIPT",
    "UNMANIFESTED_TRIP",
    "RECEIPT_WITHOUT_TRIP",
    "QUANTITY_DISCREPANCY",
    "OVERLOAD",
    "UNAUTHORISED_VEHICLE",
)
ALL_CODES = TRACK_CODES + MANIFEST_CODES

FACILITY_KINDS = {
    "landfill": (
        "建筑废弃物消纳场",
        ["excavated_soil", "construction", "demolition"],
        "00:00-24:00",
    ),
    "recycling": (
        "建筑废弃物综合利用厂",
        ["construction", "demolition", "renovation"],
        "07:00-22:00",
    ),
    "temporary": ("临时消纳点", ["excavated_soil", "slurry"], "07:00-22:00"),
    "backfill": ("回填工地", ["excavated_soil"], "07:00-22:00"),
}
DENSITY_T_PER_M3 = {
    "excavated_soil": 1.5,
    "slurry": 1.4,
    "construction": 1.3,
    "demolition": 1.2,
    "renovation": 0.9,
}

BUNDLE_FILES = (
    "scenario.json",
    "sites.json",
    "facilities.json",
    "hauliers.json",
    "depots.json",
    "vehicles.json",
    "drivers.json",
    "zones.json",
    "permits.json",
    "tracks.csv",
    "manifests.csv",
    "receipts.csv",
    "ground_truth.json",
)


@dataclass
class ScenarioSummary:
    out_dir: Path
    trucks: int
    seed: int
    day: date
    records: dict[str, int]  # file name -> records (features, objects or rows)
    violations: dict[str, int]  # flag code -> labelled violations
    near_misses: dict[str, int]  # flag code -> labelled near misses

    @property
    def points(self) -> int:
        return self.records["tracks.csv"]


def iso(day: date, seconds: float) -> str:
    base = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
    return (base + timedelta(seconds=round(seconds))).isoformat(timespec="seconds")


def _check_args(trucks: int, noise_m: float, interval_s: float) -> None:
    problems = []
    if not 5 <= trucks <= 20_000:
        problems.append(
            Problem(
                "trucks", f"车辆数应在 5–20000 之间：{trucks}", f"trucks must be 5-20000: {trucks}"
            )
        )
    if not 0 <= noise_m <= 50:
        problems.append(
            Problem(
                "noise_m",
                f"定位噪声应在 0–50 米之间：{noise_m}",
                f"noise_m must be 0-50 m: {noise_m}",
            )
        )
    if not 5 <= interval_s <= 120:
        problems.append(
            Problem(
                "interval_s",
                f"采样间隔应在 5–120 秒之间：{interval_s}",
                f"interval_s must be 5-120 s: {interval_s}",
            )
        )
    if problems:
        raise ValidationFailed(problems)


# --- driving ----------------------------------------------------------------------------------


class Tape:
    """A truck's true movement: knots (t, x, y) and, per interval, speed, heading and status."""

    def __init__(self, t: float, x: float, y: float) -> None:
        self.t, self.x, self.y = [t], [x], [y]
        self.speed: list[float] = []
        self.heading: list[float] = []
        self.status: list[int] = []
        self._heading = 0.0
        self._since_stop = math.inf  # metres driven since the last stop

    @property
    def now(self) -> float:
        return self.t[-1]

    def _knot(self, t: float, x: float, y: float, speed: float, status: int) -> None:
        self.t.append(t)
        self.x.append(x)
        self.y.append(y)
        self.speed.append(speed)
        self.heading.append(self._heading)
        self.status.append(status)

    def dwell(self, seconds: float, *, loaded: bool, acc: bool = True) -> None:
        if seconds > 0:
            status = POSITIONED | (ACC_ON if acc else 0) | (LOAD_FULL_BITS if loaded else 0)
            self._knot(self.now + seconds, self.x[-1], self.y[-1], 0.0, status)
            self._since_stop = 0.0

    def drive(self, leg: Leg, rng: np.random.Generator, *, loaded: bool) -> None:
        """Drive ``leg`` (its first point is the current position) at its per-piece speeds,
        waiting 8–55 s at half of its signalised vertices, never within 150 m of the last
        stop (so no two stops add up to a longer one)."""
        status = POSITIONED | ACC_ON | (LOAD_FULL_BITS if loaded else 0)
        pts = leg.pts
        waits = np.where(
            leg.signals & (rng.random(len(leg.signals)) < 0.5),
            rng.uniform(8, 55, len(leg.signals)),
            0.0,
        )
        for k in range(len(pts) - 1):
            dx, dy = pts[k + 1, 0] - pts[k, 0], pts[k + 1, 1] - pts[k, 1]
            length = math.hypot(dx, dy)
            if length < 0.01:
                continue
            self._heading = math.degrees(math.atan2(dx, dy)) % 360
            self._knot(
                self.now + length / (leg.speeds[k] / 3.6),
                pts[k + 1, 0],
                pts[k + 1, 1],
                float(leg.speeds[k]),
                status,
            )
            self._since_stop += length
            if k + 1 < len(pts) - 1 and waits[k + 1] > 0 and self._since_stop >= 150:
                self.dwell(float(waits[k + 1]), loaded=loaded)


@dataclass
class Leg:
    """A drive as a polyline: per piece speed (km/h), road class and posted limit; per vertex
    a signal flag. Pieces off the network (yard driveways) have class ``yard``."""

    pts: np.ndarray
    speeds: np.ndarray
    classes: np.ndarray
    limits: np.ndarray
    signals: np.ndarray

    @classmethod
    def of(
        cls,
        world: World,
        edges: np.ndarray,
        rng: np.random.Generator,
        head: tuple[float, float] | None = None,
        tail: tuple[float, float] | None = None,
    ) -> Leg:
        """Along network arcs ``edges``, from yard point ``head`` and to ``tail``, at
        0.75–0.9 of the lower of the posted limit, the truck limit and free-flow speed."""
        net = world.net
        limits = world.limit_kmh[edges]
        cap = np.minimum(np.minimum(limits, TRUCK_LIMIT_KMH), net.edge_speed_kmh[edges])
        nodes = np.r_[net.edge_from[edges[:1]], net.edge_to[edges]]
        leg = cls(
            world.polyline(edges),
            cap * rng.uniform(0.75, 0.9, len(edges)),
            world.edge_class[edges].astype(object),
            limits,
            world.signal[nodes],
        )
        if head is not None:
            leg = Leg.point(head).join(leg)
        if tail is not None:
            leg = leg.join(Leg.point(tail))
        return leg

    @classmethod
    def point(cls, xy: tuple[float, float]) -> Leg:
        empty = np.zeros(0)
        return cls(np.array([xy], float), empty, empty.astype(object), empty, np.zeros(1, bool))

    def join(self, other: Leg) -> Leg:
        """This leg, then a straight piece to ``other``'s start (yard speed), then ``other``."""
        if len(self.pts) == 0:
            return other
        if len(other.pts) == 0:
            return self
        gap = math.dist(self.pts[-1], other.pts[0]) > 0.01
        link_speed = np.full(int(gap), 10.0)
        return Leg(
            np.r_[self.pts, other.pts] if gap else np.r_[self.pts, other.pts[1:]],
            np.r_[self.speeds, link_speed, other.speeds],
            np.r_[self.classes, np.array(["yard"] * int(gap), object), other.classes],
            np.r_[self.limits, np.full(int(gap), TRUCK_LIMIT_KMH), other.limits],
            np.r_[self.signals, other.signals] if gap else np.r_[self.signals, other.signals[1:]],
        )

    @property
    def cum(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(self.pts, axis=0).T))])

    @property
    def length(self) -> float:
        return float(self.cum[-1])

    def split(self, s: float) -> int:
        """Insert a vertex at arclength ``s`` (no signal there); return its index."""
        cum = self.cum
        k = int(np.searchsorted(cum, s, side="right") - 1)
        k = min(max(k, 0), len(self.pts) - 2)
        frac = (s - cum[k]) / max(cum[k + 1] - cum[k], 1e-9)
        if frac <= 1e-6:
            return k
        if frac >= 1 - 1e-6:
            return k + 1
        p = self.pts[k] + frac * (self.pts[k + 1] - self.pts[k])
        self.pts = np.insert(self.pts, k + 1, p, axis=0)
        self.speeds = np.insert(self.speeds, k + 1, self.speeds[k])
        self.classes = np.insert(self.classes, k + 1, self.classes[k])
        self.limits = np.insert(self.limits, k + 1, self.limits[k])
        self.signals = np.insert(self.signals, k + 1, False)
        return k + 1

    def part(self, a: int, b: int) -> Leg:
        return Leg(
            self.pts[a : b + 1],
            self.speeds[a:b],
            self.classes[a:b],
            self.limits[a:b],
            self.signals[a : b + 1],
        )

    def reversed(self) -> Leg:
        return Leg(
            self.pts[::-1].copy(),
            self.speeds[::-1].copy(),
            self.classes[::-1].copy(),
            self.limits[::-1].copy(),
            self.signals[::-1].copy(),
        )

    def drive_time(self) -> float:
        return float(np.sum(np.diff(self.cum) / (self.speeds / 3.6)))

    def crossing(self, fence: Polygon, *, leaving: bool) -> float | None:
        """Arclength where the leg first leaves (or last enters) ``fence``."""
        inside = shapely.contains_xy(fence, self.pts[:, 0], self.pts[:, 1])
        change = np.flatnonzero(inside[:-1] != inside[1:])
        if not change.size:
            return None
        k = int(change[0] if leaving else change[-1])
        piece = LineString(self.pts[k : k + 2])
        hit = piece.intersection(fence.exterior)
        if hit.is_empty:
            return None
        point = hit if hit.geom_type == "Point" else hit.geoms[0]
        return float(self.cum[k] + piece.project(point))


def _stretch(leg: Leg, good: np.ndarray, min_m: float) -> tuple[int, int] | None:
    """The longest run of consecutive pieces where ``good`` holds, if ≥ ``min_m`` long."""
    lengths = np.diff(leg.cum)
    best, start, run = (0, 0, 0.0), 0, 0.0
    for k, ok in enumerate([*good.tolist(), False]):
        if ok:
            if run == 0.0:
                start = k
            run += float(lengths[k])
        else:
            if run > best[2]:
                best = (start, k, run)
            run = 0.0
    return (best[0], best[1]) if best[2] >= min_m else None


# --- the scenario -----------------------------------------------------------------------------


@dataclass
class Truck:
    index: int
    plate: str
    haulier: int
    depot: Place
    permit: int
    capacity_m3: float
    load_t: float
    driver_licence: str
    load_sensor: bool
    n_cycles: int
    start_s: float
    ooh: bool = False
    unauthorised: bool = False


@dataclass
class LoadedLeg:
    truck: Truck
    permit: int
    facility: int  # where it actually tipped; -1 when it never reached one
    category: str
    depart: float  # seconds from local midnight
    arrive: float | None
    tip_end: float | None
    cycle: int


class _Builder:
    def __init__(
        self, trucks: int, seed: int, day: date, noise_m: float, interval_s: float
    ) -> None:
        self.n_trucks, self.seed, self.day = trucks, seed, day
        self.noise_m, self.interval_s = noise_m, interval_s
        self.rng = np.random.default_rng(seed)
        self.world = panyu()
        self.per_code = max(1, trucks // 25)
        self.truth: list[dict[str, Any]] = []
        self.loaded_legs: list[LoadedLeg] = []
        self.used_names: set[str] = set()
        self.last_fix: dict[str, float] = {}  # plate -> seconds of its last fix
        self.detours = 0

    # layout ------------------------------------------------------------------------------------

    def layout(self) -> None:
        self._zone()
        n_sites = min(max(3, math.ceil(self.n_trucks / 3)), 300)
        per_haulier = min(max(5, self.n_trucks // 40), 80)
        n_hauliers = math.ceil(self.n_trucks / per_haulier)
        self.per_haulier = per_haulier
        n_facilities = min(max(4, 4 + self.n_trucks // 100), 32)
        self.places: list[Place] = []
        self.facilities = self._find(n_facilities, (150, 300), roadside=1, near_major=True)
        self.sites = self._find(n_sites, (80, 180), roadside=max(1, n_sites // 3))
        self.depots = self._find(n_hauliers, (60, 120), roadside=0)
        self._registry_records()
        self._permits()
        self._capacity_for_permits()
        self._vehicles()

    def _zone(self) -> None:
        """A water-source protection area (an octagon 1.4–2 km across) over real roads."""
        rng, world = self.rng, self.world
        centres = np.flatnonzero(world.in_main & (world.degree >= 3))
        x0, x1 = np.percentile(world.x[centres], [20, 80])
        y0, y1 = np.percentile(world.y[centres], [20, 80])
        while True:
            c = int(rng.choice(centres))
            cx, cy = world.xy(c)
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                break
        r = float(rng.uniform(700, 1000))
        angles = np.arange(8) * np.pi / 4 + np.pi / 8
        xs, ys = cx + r * np.cos(angles), cy + r * np.sin(angles)
        self.zone_poly = Polygon(np.c_[xs, ys])
        world.set_zone(self.zone_poly)
        # the hub: a junction near the middle of the district, outside the zone; every
        # place must be reachable from it on lawful roads
        mx, my = np.median(world.x[centres]), np.median(world.y[centres])
        far = centres[
            ~shapely.contains_xy(self.zone_poly.buffer(300), world.x[centres], world.y[centres])
        ]
        self.hub = int(far[np.argmin(np.hypot(world.x[far] - mx, world.y[far] - my))])
        self.zone_record = {
            "code": "PY-Z001",
            "name": "沙湾水道饮用水水源保护区（番禺段）",
            "kind": "water_source",
            "geofence": self._polygon_json(self.zone_poly),
        }

    def _polygon_json(self, poly: Polygon) -> dict[str, Any]:
        xy = np.asarray(poly.exterior.coords)
        return {"type": "Polygon", "coordinates": [self._lonlat_round(xy[:, 0], xy[:, 1])]}

    def _lonlat_round(self, xs: np.ndarray, ys: np.ndarray) -> list[list[float]]:
        lon, lat = self.world.lonlat(xs, ys)
        return [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat, strict=True)]

    def _find(
        self, n: int, size: tuple[float, float], *, roadside: int, near_major: bool = False
    ) -> list[Place]:
        """``n`` places (``roadside`` of them across a primary, secondary or tertiary road)
        ≥ 400 m from every other place and the zone, reachable on lawful roads."""
        rng, world = self.rng, self.world
        tree = world.tree(self.hub)
        ends = np.flatnonzero((world.degree == 1) & world.in_main)
        mids = np.flatnonzero((world.degree == 2) & world.in_main & world.on_main_road)
        out: list[Place] = []
        major_xy = None
        if near_major:
            major = np.isin(world.edge_class, ["motorway", "trunk"])
            nodes = np.unique(world.net.edge_from[major])
            major_xy = np.c_[world.x[nodes], world.y[nodes]]
        for kind, count, pool in (("roadside", roadside, mids), ("dead_end", n - roadside, ends)):
            found = 0
            for node in rng.permutation(pool).tolist():
                if found == count:
                    break
                if tree[node] < 0 and node != self.hub:
                    continue
                if major_xy is not None:
                    d = np.min(np.hypot(*(major_xy - world.xy(node)).T))
                    if d > 2500:
                        continue
                place = (
                    world.roadside_place(node, rng, size)
                    if kind == "roadside"
                    else world.dead_end_place(node, rng, size)
                )
                if place is None or place.fence.distance(self.zone_poly) < 400:
                    continue
                if any(place.fence.distance(p.fence) < 400 for p in self.places):
                    continue
                self.places.append(place)
                out.append(place)
                found += 1
        return out

    def _haulier(self, k: int) -> dict[str, Any]:
        rng = self.rng
        name = names.numbered(
            f"广州市番禺区{names.pick(rng, names.FIRMS)}运输有限公司", self.used_names
        )
        return {
            "name": name,
            "credit_code": names.credit_code(rng),
            "licence_no": f"穗番建运〔{self.day.year - 1}〕{k + 1:04d}号",
            "licence_valid_until": (
                self.day + timedelta(days=int(rng.integers(100, 700)))
            ).isoformat(),
            "status": "active",
            "credit_score": int(rng.integers(70, 101)),
        }

    def _registry_records(self) -> None:
        rng = self.rng
        kinds = list(FACILITY_KINDS)
        for m, fac in enumerate(self.facilities):
            kind = kinds[m] if m < len(kinds) else kinds[int(rng.integers(len(kinds)))]
            suffix, accepted, hours = FACILITY_KINDS[kind]
            town = names.pick(rng, names.TOWNS)
            capacity = (
                float(rng.integers(20, 200) * 10_000)
                if kind == "landfill"
                else float(rng.integers(5, 60) * 10_000)
            )
            fac.name = names.numbered(f"番禺区{town}{suffix}", self.used_names)
            fac.code = f"PY-F{m + 1:03d}"
            fac.record = {
                "code": fac.code,
                "name": fac.name,
                "kind": kind,
                "address": names.address(rng, town),
                "geofence": self._polygon_json(fac.fence),
                "capacity_m3": capacity,
                "used_m3": round(capacity * float(rng.uniform(0.2, 0.8)), 0),
                "accepted_categories": accepted,
                "opening_hours": hours,
            }
        # every eighth site is the second phase of a nearby project: the same name
        second = set(range(3, len(self.sites), 8))
        for s, site in enumerate(self.sites):
            town = names.pick(rng, names.TOWNS)
            site.code = f"PY-S{s + 1:04d}"
            if s in second:
                first = min(
                    (o for o in range(s) if o not in second),
                    key=lambda o: self.sites[o].fence.distance(site.fence),
                )
                site.name = self.sites[first].name
            else:
                site.name = names.numbered(
                    f"番禺区{town}{names.pick(rng, names.PROJECTS)}", self.used_names
                )
            site.record = {
                "code": site.code,
                "name": site.name,
                "address": names.address(rng, town),
                "project_permit_no": f"440113{self.day.year - 1}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}{int(rng.integers(0, 10000)):04d}",
                "builder": f"广州市番禺区{names.pick(rng, names.FIRMS)}建设开发有限公司",
                "contractor": f"广东{names.pick(rng, names.FIRMS)}建筑工程有限公司",
                "geofence": self._polygon_json(site.fence),
                "expected_categories": [],
                "expected_volume_m3": float(rng.integers(2, 40) * 5000),
            }
        self.hauliers = [self._haulier(k) for k in range(len(self.depots))]
        for k, depot in enumerate(self.depots):
            haulier = self.hauliers[k]
            depot.name = names.numbered(
                haulier["name"].removeprefix("广州市番禺区").removesuffix("有限公司") + "停车场",
                self.used_names,
            )
            depot.code = f"PY-D{k + 1:03d}"
            depot.record = {
                "code": depot.code,
                "haulier_credit_code": haulier["credit_code"],
                "name": depot.name,
                "address": names.address(rng),
                "geofence": self._polygon_json(depot.fence),
            }

    def _permits(self) -> None:
        """Each site's permit names the facility, 4–25 km away, whose fastest lawful path
        runs most on motorways, trunks and primaries (else the nearest)."""
        rng, world = self.rng, self.world
        self.permits: list[dict[str, Any]] = []
        self.permit_edges: list[np.ndarray] = []
        major = np.isin(world.edge_class, sorted(MAJOR))
        length = world.net.edge_length_m
        for s, site in enumerate(self.sites):
            paths = [world.path(site.node, f.node) for f in self.facilities]
            metres = np.array([float(length[p].sum()) for p in paths])
            share = np.array([float(length[p][major[p]].sum()) for p in paths]) / metres
            fits = (metres >= 4000) & (metres <= 25000)
            f = (
                int(np.argmax(np.where(fits, share, -1.0)))
                if fits.any()
                else int(np.argmin(metres))
            )
            facility = self.facilities[f]
            accepted = facility.record["accepted_categories"]
            cats = [accepted[0], *[c for c in accepted[1:] if rng.random() < 0.4]]
            site.record["expected_categories"] = cats
            edges = paths[f]
            xy = world.polyline(edges)
            self.permit_edges.append(edges)
            self.permits.append(
                {
                    "permit_no": f"穗番城管核〔{self.day.year}〕{s + 1:04d}号",
                    "site": site.code,
                    "facility": facility.code,
                    "site_index": s,
                    "facility_index": f,
                    "categories": cats,
                    "volume_m3": site.record["expected_volume_m3"],
                    "valid_from": (
                        self.day - timedelta(days=int(rng.integers(10, 90)))
                    ).isoformat(),
                    "valid_to": (self.day + timedelta(days=int(rng.integers(30, 180)))).isoformat(),
                    "allowed_hours_start": PERMIT_HOURS[0],
                    "allowed_hours_end": PERMIT_HOURS[1],
                    "routes": {
                        "type": "LineString",
                        "coordinates": self._lonlat_round(xy[:, 0], xy[:, 1]),
                    },
                    "corridor_half_width_m": CORRIDOR_HALF_WIDTH_M,
                    "vehicles": [],
                }
            )
        self.route_lines = [LineString(world.polyline(e)) for e in self.permit_edges]

    def _capacity_for_permits(self) -> None:
        """Each facility holds what it has received and what its permits approve: the permit
        file is imported through approval, which checks the capacity left."""
        for f, fac in enumerate(self.facilities):
            approved = sum(p["volume_m3"] for p in self.permits if p["facility_index"] == f)
            needed = fac.record["used_m3"] + approved
            if fac.record["capacity_m3"] < needed:
                fac.record["capacity_m3"] = float(math.ceil(needed / 10_000) * 10_000)

    def _vehicles(self) -> None:
        rng = self.rng
        seen: set[str] = set()
        site_order = rng.permutation(len(self.sites))
        # half of the trucks, drawn apart from their permits, have no load sensor
        sensorless = set(rng.permutation(self.n_trucks)[: self.n_trucks // 2].tolist())
        self.trucks: list[Truck] = []
        self.vehicles: list[dict[str, Any]] = []
        self.drivers: list[dict[str, Any]] = []
        for k in range(self.n_trucks):
            h = k // self.per_haulier
            plate = names.plate(rng, seen, new_energy=rng.random() < 0.25)
            capacity = float(rng.choice([12.0, 14.0, 16.0, 18.0]))
            permit = int(site_order[k % len(site_order)])
            licence = names.id_number(rng)
            truck = Truck(
                index=k,
                plate=plate,
                haulier=h,
                depot=self.depots[h],
                permit=permit,
                capacity_m3=capacity,
                load_t=round(capacity * 1.65, 1),
                driver_licence=licence,
                load_sensor=k not in sensorless,
                n_cycles=0,
                start_s=float(rng.uniform(6.4 * H, 6.9 * H)),
            )
            truck.n_cycles = self._plan_cycles(truck, int(rng.integers(3, 7)))
            self.trucks.append(truck)
            self.permits[permit]["vehicles"].append(plate)
            credit = self.hauliers[h]["credit_code"]
            self.vehicles.append(
                {
                    "plate": plate,
                    "haulier_credit_code": credit,
                    "rated_capacity_m3": capacity,
                    "rated_load_t": truck.load_t,
                    "sealed_body": True,
                    "load_sensor": truck.load_sensor,
                    "terminal_id": f"0{int(rng.integers(13, 19))}{int(rng.integers(0, 1000)):03d}{k:06d}",
                    "inspection_valid_until": (
                        self.day + timedelta(days=int(rng.integers(30, 330)))
                    ).isoformat(),
                }
            )
            self.drivers.append(
                {
                    "name": names.person_name(rng),
                    "licence_no": licence,
                    "haulier_credit_code": credit,
                    "phone": names.phone(rng),
                }
            )

    def _site_fac(self, truck: Truck) -> tuple[Place, Place]:
        p = self.permits[truck.permit]
        return self.sites[p["site_index"]], self.facilities[p["facility_index"]]

    def _leg_time(self, a: Place, b: Place) -> float:
        edges = self.world.path(a.node, b.node)
        return 1.3 * self.world.travel_s(edges) + 240

    def _plan_cycles(self, truck: Truck, wanted: int) -> int:
        """As many of ``wanted`` loads as fit, the last loaded leg arriving by 18:30 with
        room to spare for the longest injected delay."""
        site, fac = self._site_fac(truck)
        t = max(truck.start_s + 300 + self._leg_time(truck.depot, site) + 15 * 60, 7.15 * H)
        loaded, back = self._leg_time(site, fac), self._leg_time(fac, site)
        n = 0
        while n < wanted and t + loaded <= 18.5 * H:
            n += 1
            t += loaded + 10 * 60 + back + 15 * 60
        return max(n, 2)

    def leg(self, a: Place, b: Place, edges: np.ndarray | None = None) -> Leg:
        """From ``a``'s yard spot along ``edges`` (default: the fastest lawful path) to
        ``b``'s spot."""
        if edges is None:
            edges = self.world.path(a.node, b.node)
        return Leg.of(self.world, edges, self.rng, head=a.spot, tail=b.spot)

    # violations --------------------------------------------------------------------------------

    def _fast_stretch(self, leg: Leg) -> tuple[int, int] | None:
        good = np.isin(leg.classes, ["motorway", "trunk", "primary"]) & (leg.limits >= 60)
        return _stretch(leg, good, 1500.0)

    def _slow_stretch(self, leg: Leg) -> tuple[int, int] | None:
        """≥ 800 m posted 30–40 with no road posted higher within 60 m."""
        good = (leg.limits >= 30) & (leg.limits <= 40) & (leg.classes != "yard")
        found = _stretch(leg, good, 800.0)
        if found is None:
            return None
        a, b = found
        near = self.world.segments_near(LineString(leg.pts[a : b + 1]).buffer(60))
        arcs = np.flatnonzero(np.isin(self.world.segment, near))
        if np.any(self.world.limit_kmh[arcs] > leg.limits[a:b].max()):
            return None
        return found

    def assign(self) -> None:
        """Pick (truck, cycle) slots for each injected violation and near miss; one per slot."""
        rng = self.rng
        slots = [(t.index, c) for t in self.trucks for c in range(t.n_cycles)]
        slots = [slots[k] for k in rng.permutation(len(slots))]
        self.plan: dict[tuple[int, int], str] = {}
        busy: Counter[int] = Counter()
        taken: set[tuple[int, int]] = set()
        loaded_legs = [self.leg(*self._site_fac(t)) for t in self.trucks]
        fast = [self._fast_stretch(leg) is not None for leg in loaded_legs]
        via_near = [bool(self._vias(t)) for t in self.trucks]
        slow = [self._slow_stretch(leg) is not None for leg in loaded_legs]

        def approach_s(ti: int, c: int) -> float:
            t = self.trucks[ti]
            site, fac = self._site_fac(t)
            return self._leg_time(t.depot if c == 0 else fac, site)

        def loaded_s(ti: int) -> float:
            return self._leg_time(*self._site_fac(self.trucks[ti]))

        rules: list[tuple[str, Any]] = [
            (
                "TAMPER_SUSPECTED",
                lambda ti, c: c >= 1 and max(approach_s(ti, c), loaded_s(ti)) >= 15 * 60,
            ),
            ("SPEEDING", lambda ti, c: fast[ti] or slow[ti]),
            (
                "SUSPECTED_DUMPING",
                lambda ti, c: c + 1 < self.trucks[ti].n_cycles and (ti, c + 1) not in taken,
            ),
            (
                "ROUTE_DEVIATION",
                lambda ti, c: loaded_legs[ti].length >= 4000 and via_near[ti],
            ),
            ("WRONG_DESTINATION", lambda ti, c: True),
            ("LONG_STOP", lambda ti, c: True),
            ("RESTRICTED_ZONE", lambda ti, c: True),
            ("SIGNAL_GAP", lambda ti, c: approach_s(ti, c) >= 6 * 60),
            ("NO_RECEIPT", lambda ti, c: True),
            ("UNMANIFESTED_TRIP", lambda ti, c: True),
            ("QUANTITY_DISCREPANCY", lambda ti, c: True),
            ("OVERLOAD", lambda ti, c: True),
            ("NEAR:SPEEDING", lambda ti, c: fast[ti]),
            ("NEAR:ROUTE_DEVIATION", lambda ti, c: loaded_legs[ti].length >= 3000),
            ("NEAR:SUSPECTED_DUMPING", lambda ti, c: True),
            ("NEAR:LONG_STOP", lambda ti, c: True),
            ("NEAR:SIGNAL_GAP", lambda ti, c: approach_s(ti, c) >= 6 * 60),
            ("NEAR:QUANTITY_DISCREPANCY", lambda ti, c: True),
            ("NEAR:OVERLOAD", lambda ti, c: True),
            ("NEAR:NO_RECEIPT", lambda ti, c: True),
        ]
        fallbacks = {
            "TAMPER_SUSPECTED": lambda ti, c: c >= 1,
            "SPEEDING": lambda ti, c: True,
            "SIGNAL_GAP": lambda ti, c: True,
            "ROUTE_DEVIATION": lambda ti, c: loaded_legs[ti].length >= 4000,
        }
        for code, rule in rules:
            for attempt in (rule, fallbacks.get(code)):
                if attempt is None:
                    continue
                free = [s for s in slots if s not in taken and attempt(*s)]
                free.sort(key=lambda s: busy[s[0]])
                picked = free[: self.per_code - sum(v == code for v in self.plan.values())]
                for s in picked:
                    self.plan[s] = code
                    taken.add(s)
                    busy[s[0]] += 1
                    if code == "SUSPECTED_DUMPING":
                        taken.add((s[0], s[1] + 1))
                if sum(v == code for v in self.plan.values()) >= self.per_code:
                    break
        by_busy = sorted(
            range(self.n_trucks), key=lambda ti: (busy[ti], int(rng.integers(1 << 30)))
        )
        for ti in by_busy[: self.per_code]:
            self.trucks[ti].ooh = True
        rest = [ti for ti in by_busy if not self.trucks[ti].ooh]
        self.unauthorised = rest[: self.per_code]
        self.phantom = rest[self.per_code : 2 * self.per_code] or rest[: self.per_code]
        for ti in self.unauthorised:
            self.trucks[ti].unauthorised = True
            lapsed = self.day - timedelta(days=int(rng.integers(5, 90)))
            # after its permit was approved (as of its first valid day), before the day
            approved = date.fromisoformat(self.permits[self.trucks[ti].permit]["valid_from"])
            self.vehicles[ti]["inspection_valid_until"] = max(lapsed, approved).isoformat()
        # near misses on the registry and the clock: an inspection that runs out today,
        # and a first load leaving within minutes of the permit's opening hour
        lawful = [ti for ti in rest[2 * self.per_code :] if not self.trucks[ti].unauthorised]
        self.expiring = lawful[: self.per_code]
        for ti in self.expiring:
            self.vehicles[ti]["inspection_valid_until"] = self.day.isoformat()
            self.near(
                "UNAUTHORISED_VEHICLE",
                self.trucks[ti],
                7 * H,
                20 * H,
                "车辆审验有效期至当天，仍有效 / inspection valid until today (still valid)",
            )
        self.early = lawful[self.per_code : 2 * self.per_code]

    def label(self, code: str, truck: Truck, start: float, end: float, note: str) -> None:
        self.truth.append(
            {"code": code, "plate": truck.plate, "start": start, "end": end, "note": note}
        )

    def near(self, code: str, truck: Truck, start: float, end: float, note: str) -> None:
        """A near miss: just under ``code``'s threshold; a flag of ``code`` on it is false."""
        self.truth.append(
            {
                "code": code,
                "plate": truck.plate,
                "start": start,
                "end": end,
                "note": note,
                "near_miss": True,
            }
        )

    # one truck's day ---------------------------------------------------------------------------

    def drive_truck(self, truck: Truck) -> tuple[Tape, list[tuple[float, float, str]]]:
        """The truck's day as a Tape, and its dropout windows (from, to, reason)."""
        rng = self.rng
        site, facility = self._site_fac(truck)
        tape = Tape(truck.start_s, *truck.depot.spot)
        windows: list[tuple[float, float, str]] = []
        tape.dwell(float(rng.uniform(3, 8)) * 60, loaded=False, acc=False)
        tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
        at: Place = truck.depot
        for c in range(truck.n_cycles):
            code = self.plan.get((truck.index, c))
            if at is not site:
                self._approach(truck, tape, at, site, code, windows)
            earliest = 7.05 * H
            if c == 0 and truck.index in self.early:
                earliest = 7 * H + float(rng.uniform(10, 90))
            self._load(tape, earliest=earliest)
            if c == 0 and truck.index in self.early:
                self.near(
                    "OUT_OF_HOURS",
                    truck,
                    tape.now - 60,
                    tape.now + 600,
                    f"首车于核准时段 {PERMIT_HOURS[0]} 开始后几分钟内出场 / first load leaves minutes after the permit's opening hour",
                )
            at = self._loaded_leg(truck, tape, c, site, facility, code, windows)
            self._tip(tape)
        self._drive(tape, self.leg(at, truck.depot), loaded=False, leave=at)
        if truck.ooh:
            tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
            tape.dwell(
                max(22.0 * H + float(rng.uniform(0, 600)) - tape.now, 600), loaded=False, acc=False
            )
            tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
            self._drive(tape, self.leg(truck.depot, site), loaded=False, enter=site)
            self._load(tape, earliest=0)
            self._loaded_leg(truck, tape, truck.n_cycles, site, facility, "OUT_OF_HOURS", windows)
            self._tip(tape)
            self._drive(tape, self.leg(facility, truck.depot), loaded=False, leave=facility)
        tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
        tape.dwell(float(rng.uniform(2, 5)) * 60, loaded=False, acc=False)
        return tape, windows

    def _drive(
        self,
        tape: Tape,
        leg: Leg,
        *,
        loaded: bool,
        leave: Place | None = None,
        enter: Place | None = None,
        stops: list[tuple[float, Any]] | None = None,
    ) -> None:
        """Drive ``leg``, waiting at the gate (on the fence line) when leaving ``leave``
        (wheel wash and gate check) and entering ``enter`` (gate check, weighbridge), and
        calling each ``(arclength, action)`` of ``stops`` where the truck gets there."""
        rng = self.rng
        events = list(stops or [])
        if leave is not None and leave in self.places:
            s = leg.crossing(leave.fence, leaving=True)
            if s is not None:
                wait = float(rng.uniform(0.5, 2.5)) * 60
                s -= float(rng.uniform(0.0, 8.0))
                events.append((s, lambda: tape.dwell(wait, loaded=loaded)))
        if enter is not None and enter in self.places:
            s = leg.crossing(enter.fence, leaving=False)
            if s is not None:
                wait = float(rng.uniform(0.3, 2.0)) * 60
                s += float(rng.uniform(0.0, 8.0))
                events.append((s, lambda: tape.dwell(wait, loaded=loaded)))
        events.sort(key=lambda e: e[0])
        for s, _ in events:
            leg.split(min(max(s, 0.0), leg.length))
        cum = leg.cum
        for s, _ in events:  # no signal wait just before a stop either
            leg.signals[(cum > s - 150) & (cum <= s)] = False
        k0 = 0
        for s, action in events:
            k = int(np.argmin(np.abs(cum - s)))
            if k > k0:
                tape.drive(leg.part(k0, k), rng, loaded=loaded)
                k0 = k
            action()
        tape.drive(leg.part(k0, len(leg.pts) - 1), rng, loaded=loaded)

    def _load(self, tape: Tape, earliest: float) -> None:
        tape.dwell(max(float(self.rng.uniform(5, 15)) * 60, earliest - tape.now), loaded=False)

    def _tip(self, tape: Tape) -> None:
        tape.dwell(float(self.rng.uniform(2, 4)) * 60, loaded=True)
        tape.dwell(float(self.rng.uniform(3, 6)) * 60, loaded=False)

    def _roadside_s(self, leg: Leg, lo: float, hi: float) -> float:
        """An arclength in [lo, hi] of ``leg`` at least 150 m from every fence."""
        for _ in range(20):
            s = float(self.rng.uniform(lo, hi))
            x, y = np.interp(s, leg.cum, leg.pts[:, 0]), np.interp(s, leg.cum, leg.pts[:, 1])
            p = shapely.Point(x, y)
            if all(place.fence.distance(p) >= 150 for place in self.places) and (
                self.zone_poly.distance(p) >= 150
            ):
                return s
        return s

    def _approach(
        self,
        truck: Truck,
        tape: Tape,
        origin: Place,
        site: Place,
        code: str | None,
        windows: list[tuple[float, float, str]],
    ) -> None:
        """The empty drive to the site, carrying any injected approach-leg violation."""
        rng, world = self.rng, self.world
        if code == "RESTRICTED_ZONE":
            inside = np.flatnonzero(
                world.in_main
                & shapely.contains_xy(self.zone_poly.buffer(-150), world.x, world.y)
                & (world.degree >= 2)
            )
            w = int(rng.choice(inside))
            e1 = world.path(origin.node, w, lawful=False)
            e2 = world.path(w, site.node, lawful=False)
            leg = self.leg(origin, site, np.r_[e1, e2])
            self._drive(tape, leg, loaded=False, leave=origin, enter=site)
            return
        leg = self.leg(origin, site)
        if code in ("LONG_STOP", "NEAR:LONG_STOP"):
            s = self._roadside_s(leg, leg.length * 0.3, leg.length * 0.7)
            minutes = (15, 25) if code == "LONG_STOP" else (7.5, 8.5)
            box: list[float] = []

            def park() -> None:
                box.append(tape.now)
                tape.dwell(float(rng.uniform(*minutes)) * 60, loaded=False)
                box.append(tape.now)

            self._drive(tape, leg, loaded=False, leave=origin, enter=site, stops=[(s, park)])
            if code == "LONG_STOP":
                self.label(
                    code,
                    truck,
                    box[0],
                    box[1],
                    "空车在路边停留 15–25 分钟 / empty truck parked at the roadside for 15-25 min",
                )
            else:
                self.near(
                    "LONG_STOP",
                    truck,
                    box[0],
                    box[1],
                    "空车路边停留约 8 分钟（低于 10 分钟阈值）/ empty roadside stop of ~8 min, under the 10 min threshold",
                )
        elif code in ("SIGNAL_GAP", "NEAR:SIGNAL_GAP"):
            crawl = float(rng.uniform(750, 920)) if code == "SIGNAL_GAP" else 0.0
            a = leg.split(max(leg.length * 0.5 - crawl / 2, 50.0))
            if code == "SIGNAL_GAP":
                b = leg.split(leg.cum[a] + crawl)
                leg.speeds[a:b] = rng.uniform(6.5, 7.5)
                leg.signals[a + 1 : b] = False
                gap = None
            else:
                gap = float(rng.uniform(0.8, 0.93)) * 300
                b = a
            self._drive(tape, leg.part(0, a), loaded=False, leave=origin)
            start = tape.now
            if gap is None:
                tape.drive(leg.part(a, b), rng, loaded=False)
                windows.append((start + 5, tape.now - 5, "SIGNAL_GAP"))
            else:
                windows.append((start, start + gap, "NEAR:SIGNAL_GAP"))
            self._drive(tape, leg.part(b, len(leg.pts) - 1), loaded=False, enter=site)
        elif code == "TAMPER_SUSPECTED" and leg.drive_time() >= 13 * 60:
            self._tamper(tape, leg, windows, loaded=False, origin=origin, end=site)
        else:
            self._drive(tape, leg, loaded=False, leave=origin, enter=site)

    def _tamper(
        self,
        tape: Tape,
        leg: Leg,
        windows: list[tuple[float, float, str]],
        *,
        loaded: bool,
        origin: Place,
        end: Place,
    ) -> None:
        """Drive ``leg`` with the terminal cut (power-cut alarm, then 10–11 min of silence)."""
        a = leg.split(min(leg.length * 0.15, 1000.0))
        self._drive(tape, leg.part(0, a), loaded=loaded, leave=origin)
        tape.dwell(1.0, loaded=loaded)  # a knot: the window starts where the drive resumes
        start = tape.now
        windows.append((start, start + float(self.rng.uniform(600, 660)), "TAMPER_SUSPECTED"))
        self._drive(tape, leg.part(a, len(leg.pts) - 1), loaded=loaded, enter=end)

    def _loaded_leg(
        self,
        truck: Truck,
        tape: Tape,
        cycle: int,
        site: Place,
        facility: Place,
        code: str | None,
        windows: list[tuple[float, float, str]],
    ) -> Place:
        """The loaded drive from the site, with any injected violation; returns where it ends."""
        rng = self.rng
        category = self.permits[truck.permit]["categories"][0]
        depart = tape.now
        leg = self.leg(site, facility, self.permit_edges[truck.permit])
        record = LoadedLeg(
            truck,
            truck.permit,
            self.facilities.index(facility),
            category,
            depart,
            None,
            None,
            cycle,
        )
        end: Place = facility
        drive = {"leave": site, "enter": facility}
        if code == "SUSPECTED_DUMPING":
            s = self._roadside_s(leg, leg.length - 1600, leg.length - 700)
            k = leg.split(s)
            self._drive(tape, leg.part(0, k), loaded=True, leave=site)
            start = tape.now
            tape.dwell(float(rng.uniform(2.5, 4.5)) * 60, loaded=True)
            tape.dwell(float(rng.uniform(2.5, 4.5)) * 60, loaded=False)
            sensor = "载重由满变空" if truck.load_sensor else "无载重传感器"
            self.label(
                "SUSPECTED_DUMPING",
                truck,
                start,
                tape.now,
                f"重车在消纳场围栏外约 1 公里处停留 5–9 分钟（{sensor}），随后返回工地 / "
                "loaded stop ~1 km outside the facility fence, then back to the site",
            )
            self._drive(tape, leg.part(0, k).reversed(), loaded=False, enter=site)
            end = site
        elif code == "WRONG_DESTINATION":
            others = [f for f in self.facilities if f is not facility]
            times = [self._leg_time(site, f) for f in others]
            end = others[int(np.argmin(times))]
            record.facility = self.facilities.index(end)
            self._drive(tape, self.leg(site, end), loaded=True, leave=site, enter=end)
            record.arrive = tape.now
            self.label(
                "WRONG_DESTINATION",
                truck,
                depart,
                tape.now,
                f"核准消纳场为「{facility.name}」，实际卸于「{end.name}」 / tipped at {end.name}, permit names {facility.name}",
            )
        elif code == "ROUTE_DEVIATION":
            edges = self._detour(truck, site, facility)
            detour = self.leg(site, facility, edges) if edges is not None else leg
            self._drive(tape, detour, loaded=True, **drive)
            record.arrive = tape.now
        elif code == "NEAR:ROUTE_DEVIATION":
            self._wrong_turn(truck, tape, leg, site, facility)
            record.arrive = tape.now
        elif code in ("SPEEDING", "NEAR:SPEEDING"):
            slow = self._slow_stretch(leg) if code == "SPEEDING" and truck.index % 2 else None
            found = slow or self._fast_stretch(leg) or _stretch(leg, leg.classes != "yard", 600)
            a, b = found
            b = a + 1 + int(np.searchsorted(np.cumsum(np.diff(leg.cum)[a:b]), 2500.0))
            b = min(b, len(leg.speeds))
            limit = float(leg.limits[a:b].min())
            if code == "NEAR:SPEEDING":
                leg.speeds[a:b] = np.minimum(limit, TRUCK_LIMIT_KMH) * rng.uniform(0.94, 0.96)
                what = f"{leg.speeds[a]:.0f} km/h，限速 {min(limit, TRUCK_LIMIT_KMH):.0f}"
            elif slow is not None:
                leg.speeds[a:b] = limit + rng.uniform(14, 20, b - a)
                what = f"{leg.speeds[a]:.0f} km/h on a road posted {limit:.0f}"
            else:
                leg.speeds[a:b] = max(limit, TRUCK_LIMIT_KMH) + rng.uniform(12, 20, b - a)
                what = f"{leg.speeds[a]:.0f} km/h on a {leg.classes[a]} posted {limit:.0f}"
            leg.signals[a + 1 : b] = False
            self._drive(tape, leg.part(0, a), loaded=True, leave=site)
            start = tape.now
            tape.drive(leg.part(a, b), rng, loaded=True)
            if code == "SPEEDING":
                self.label(code, truck, start, tape.now, f"重车超速 / loaded truck at {what}")
            else:
                self.near(
                    "SPEEDING",
                    truck,
                    start,
                    tape.now,
                    f"略低于限速行驶 / just under the limit: {what}",
                )
            self._drive(tape, leg.part(b, len(leg.pts) - 1), loaded=True, enter=facility)
            record.arrive = tape.now
        elif code == "NEAR:SUSPECTED_DUMPING":
            s = self._roadside_s(leg, leg.length * 0.3, leg.length * 0.7)
            box: list[float] = []

            def wait() -> None:
                box.append(tape.now)
                tape.dwell(float(rng.uniform(0.75, 0.87)) * 180, loaded=True)
                box.append(tape.now)

            self._drive(tape, leg, loaded=True, stops=[(s, wait)], **drive)
            record.arrive = tape.now
            self.near(
                "SUSPECTED_DUMPING",
                truck,
                box[0],
                box[1],
                "重车路边停留约 2.5 分钟（低于 3 分钟阈值），载重不变 / loaded roadside stop of ~2.5 min, under the 3 min threshold",
            )
        elif code == "TAMPER_SUSPECTED" and not self._approach_long_enough(truck, cycle):
            self._tamper(tape, leg, windows, loaded=True, origin=site, end=facility)
            record.arrive = tape.now
        else:
            self._drive(tape, leg, loaded=True, **drive)
            record.arrive = tape.now
            if code == "OUT_OF_HOURS":
                self.label(
                    "OUT_OF_HOURS",
                    truck,
                    depart,
                    tape.now,
                    f"核准时段 {PERMIT_HOURS[0]}-{PERMIT_HOURS[1]}，夜间重车运输 / loaded run at night outside the permit's hours",
                )
        record.tip_end = None if record.arrive is None else record.arrive + 6 * 60
        self.loaded_legs.append(record)
        return end

    def _approach_long_enough(self, truck: Truck, cycle: int) -> bool:
        site, fac = self._site_fac(truck)
        origin = truck.depot if cycle == 0 else fac
        return self._leg_time(origin, site) / 1.3 >= 13 * 60

    def _detour(self, truck: Truck, site: Place, facility: Place) -> np.ndarray | None:
        """The permit path with its middle replaced by a real alternative: through another
        place's fence drawn across a road (every other detour, when one is near), or the
        fastest path once every road within 70 m of the route is made four times dearer. Kept only when it
        leaves the corridor by ≥ 150 m."""
        world = self.world
        path = self.permit_edges[truck.permit]
        cum = np.cumsum(world.net.edge_length_m[path])
        ia = int(np.searchsorted(cum, cum[-1] * 0.3))
        ib = int(np.searchsorted(cum, cum[-1] * 0.7))
        a, b = int(world.net.edge_to[path[ia]]), int(world.net.edge_to[path[ib]])
        route = self.route_lines[truck.permit]
        dearer = world.lawful_s.copy()
        beside = world.segments_near(route.buffer(CORRIDOR_HALF_WIDTH_M + 20))
        dearer[np.isin(world.segment, beside)] *= 4
        options = []
        self.detours += 1
        if self.detours % 2:
            options += [(p.node,) for p in self._vias(truck)]
        options.append(())
        for via in options:
            stops = [a, *via, b]
            pieces = [world.path(u, v, cost=dearer) for u, v in zip(stops, stops[1:], strict=False)]
            if any(p is None for p in pieces):
                continue
            edges = np.r_[path[: ia + 1], *pieces, path[ib + 1 :]]
            xy = world.polyline(edges)
            far = shapely.distance(shapely.points(xy[:, 0], xy[:, 1]), route)
            if far.max() >= 150 and float(world.net.edge_length_m[edges].sum()) <= 2.5 * cum[-1]:
                return edges
        return None

    def _vias(self, truck: Truck) -> list[Place]:
        """Yards drawn across a road within 3 km of the truck's permit route (not its own)."""
        route = self.route_lines[truck.permit]
        own = self._site_fac(truck)
        return [
            p
            for p in self.places
            if p.kind == "roadside" and p not in own and p.fence.distance(route) < 3000
        ]

    def _wrong_turn(self, truck: Truck, tape: Tape, leg: Leg, site: Place, facility: Place) -> None:
        """A wrong turn 75–135 m into a real side road and back: off the corridor for at most
        150 m and 45 s, under the deviation's 60 s and 200 m (a near miss)."""
        world, rng = self.world, self.rng
        path = self.permit_edges[truck.permit]
        route = self.route_lines[truck.permit]
        nodes = world.net.edge_to[path]
        on_route = set(np.r_[world.net.edge_from[path[:1]], nodes].tolist())
        order = rng.permutation(np.arange(len(nodes) // 10, 9 * len(nodes) // 10))
        for i in order.tolist():
            j = int(nodes[i])
            for first in world.neighbours(j).tolist():
                if first in on_route:
                    continue
                walk, prev, cur = [j, first], j, first
                while True:
                    d = route.distance(shapely.Point(world.xy(cur)))
                    if d >= 100 or len(walk) > 12:
                        break
                    nxt = [m for m in world.neighbours(cur).tolist() if m != prev]
                    if not nxt or nxt[0] in on_route:
                        break
                    prev, cur = cur, nxt[0]
                    walk.append(cur)
                side = np.array([world.xy(n) for n in walk])
                far = route.distance(shapely.Point(side[-1]))
                length = float(np.hypot(*np.diff(side, axis=0).T).sum())
                if not 75 <= far <= 135 or length > 220:
                    continue
                if any(p.fence.intersects(LineString(side)) for p in self.places):
                    continue
                out = Leg.of(world, world.arcs(walk), rng)
                # off the corridor both ways for at most 150 m and 45 s with the U-turn
                line = LineString(side)
                step = np.linspace(0, line.length, max(int(line.length / 5), 2))
                beyond = shapely.distance(shapely.line_interpolate_point(line, step), route) > 50
                off_m = 2 * float(np.diff(step).sum() * beyond[1:].mean())
                if off_m > 150 or off_m / (out.speeds.min() / 3.6) + 15 > 45:
                    continue
                x, y = world.xy(j)
                k = int(np.argmin(np.hypot(leg.pts[:, 0] - x, leg.pts[:, 1] - y)))
                self._drive(tape, leg.part(0, k), loaded=True, leave=site)
                start = tape.now
                tape.drive(out, rng, loaded=True)
                tape.dwell(float(rng.uniform(8, 15)), loaded=True)
                tape.drive(out.reversed(), rng, loaded=True)
                self.near(
                    "ROUTE_DEVIATION",
                    truck,
                    start,
                    tape.now,
                    f"重车误入支路约 {far:.0f} 米后掉头返回核准路线（偏离不足 60 秒、200 米）/ "
                    f"wrong turn ~{far:.0f} m into a side road and back, under 60 s and 200 m off the corridor",
                )
                self._drive(tape, leg.part(k, len(leg.pts) - 1), loaded=True, enter=facility)
                return
        self._drive(tape, leg, loaded=True, leave=site, enter=facility)

    # sampling ----------------------------------------------------------------------------------

    def sample(
        self, truck: Truck, tape: Tape, windows: list[tuple[float, float, str]]
    ) -> pl.DataFrame:
        rng = self.rng
        kt, kx, ky = np.array(tape.t), np.array(tape.x), np.array(tape.y)
        step = self.interval_s * rng.uniform(
            0.8, 1.2, int((kt[-1] - kt[0]) / (0.8 * self.interval_s)) + 2
        )
        ts = np.unique(np.round(kt[0] + np.concatenate([[0.0], np.cumsum(step)])))
        ts = ts[ts <= kt[-1]]
        drop = np.zeros(len(ts), bool)
        alarm = np.zeros(len(ts), np.uint32)
        for lo, hi, why in windows:
            drop |= (ts > lo) & (ts < hi)
            if why == "TAMPER_SUSPECTED":
                before = np.flatnonzero(ts <= lo)[-2:]
                alarm[before] = ALARM_MAIN_POWER_CUT
        for _ in range(int(rng.poisson(1.5))):
            lo = float(rng.uniform(kt[0] + 600, kt[-1] - 600))
            hi = lo + float(rng.uniform(25, 100))
            if all(
                hi + 3 * self.interval_s < a or lo - 3 * self.interval_s > b for a, b, _ in windows
            ):
                drop |= (ts > lo) & (ts < hi)
        ts, alarm = ts[~drop], alarm[~drop]
        x, y = np.interp(ts, kt, kx), np.interp(ts, kt, ky)
        seg = np.clip(np.searchsorted(kt, ts, side="right") - 1, 0, len(tape.speed) - 1)
        speed = np.array(tape.speed)[seg]
        moving = speed > 0
        speed = np.where(
            moving, np.maximum(speed + np.clip(rng.normal(0, 1.0, len(ts)), -2, 2), 0.5), 0.0
        )
        heading = (
            np.array(tape.heading)[seg] + np.where(moving, rng.normal(0, 3, len(ts)), 0)
        ) % 360
        status = np.array(tape.status, np.uint32)[seg]
        if not truck.load_sensor:
            status &= ~np.uint32(LOAD_FULL_BITS)
        # Gaussian noise, and one fix in a hundred thrown three times as far (multipath)
        sigma = self.noise_m * np.where(rng.random(len(ts)) < 0.01, 3.0, 1.0)
        noisy_x = x + rng.normal(0, 1, len(ts)) * sigma
        noisy_y = y + rng.normal(0, 1, len(ts)) * sigma
        lon, lat = self.world.lonlat(noisy_x, noisy_y)
        self._truth_from_samples(truck, ts, x, y, alarm, windows)
        return pl.DataFrame(
            {
                "plate": [truck.plate] * len(ts),
                "t": ts,
                "lon": np.round(lon, 6),
                "lat": np.round(lat, 6),
                "speed_kmh": np.round(speed, 1),
                "heading": np.round(heading).astype(np.int64) % 360,
                "status": status,
                "alarm": alarm,
            }
        )

    def _truth_from_samples(
        self,
        truck: Truck,
        ts: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        alarm: np.ndarray,
        windows: list[tuple[float, float, str]],
    ) -> None:
        """Labels read off the true positions: gaps, zone entries, off-route stretches,
        loaded passes through another facility's fence."""
        dt = np.diff(ts)
        jump = np.hypot(np.diff(x), np.diff(y))
        for i in np.flatnonzero(dt >= 300).tolist():
            tamper = jump[i] >= 1000 or bool(alarm[i])
            note = (
                f"疑似拆除车机：断电告警后 {dt[i] / 60:.1f} 分钟无定位，两端相距 {jump[i] / 1000:.1f} 公里 / "
                f"main power cut alarm, then no fix for {dt[i] / 60:.1f} min over {jump[i] / 1000:.1f} km"
                if tamper
                else f"低速行驶中 {dt[i] / 60:.1f} 分钟无定位，两端相距 {jump[i]:.0f} 米 / no fix for {dt[i] / 60:.1f} min while crawling {jump[i]:.0f} m"
            )
            self.label("SIGNAL_GAP", truck, ts[i], ts[i + 1], note)
            if tamper:
                self.label("TAMPER_SUSPECTED", truck, ts[i], ts[i + 1], note)
            else:
                self.near(
                    "TAMPER_SUSPECTED",
                    truck,
                    ts[i],
                    ts[i + 1],
                    f"中断两端相距 {jump[i]:.0f} 米（不足 1 公里）/ the gap's ends lie {jump[i]:.0f} m apart, under 1 km",
                )
        for lo, _, why in windows:
            if why == "NEAR:SIGNAL_GAP":
                i = int(np.searchsorted(ts, lo, side="right")) - 1
                if 0 <= i < len(dt) and dt[i] < 300:
                    self.near(
                        "SIGNAL_GAP",
                        truck,
                        ts[i],
                        ts[i + 1],
                        f"{dt[i] / 60:.1f} 分钟无定位（低于 5 分钟阈值）/ no fix for {dt[i] / 60:.1f} min, under 5 min",
                    )
        inside = shapely.contains_xy(self.zone_poly, x, y)
        for a, b in _runs(inside):
            self.label(
                "RESTRICTED_ZONE",
                truck,
                ts[a],
                ts[b - 1],
                f"驶入{self.zone_record['name']} / drove through the water-source protection area",
            )
        for leg in [r for r in self.loaded_legs if r.truck is truck and r.arrive is not None]:
            sel = (ts >= leg.depart) & (ts <= leg.arrive)
            idx = np.flatnonzero(sel)
            if len(idx) < 2:
                continue
            d = shapely.distance(shapely.points(x[idx], y[idx]), self.route_lines[leg.permit])
            for a, b in _runs(d > CORRIDOR_HALF_WIDTH_M):
                i0, i1 = idx[a], idx[b - 1]
                metres = float(np.sum(np.hypot(np.diff(x[i0 : i1 + 1]), np.diff(y[i0 : i1 + 1]))))
                if ts[i1] - ts[i0] >= 60 and metres >= 200:
                    why = (
                        "改去非核准消纳场"
                        if leg.facility != self.permits[leg.permit]["facility_index"]
                        else "绕行"
                    )
                    self.label(
                        "ROUTE_DEVIATION",
                        truck,
                        ts[i0],
                        ts[i1],
                        f"重车偏离核准路线{why}，约 {metres / 1000:.1f} 公里 / loaded truck off the approved corridor for {metres / 1000:.1f} km",
                    )
            for f, fac in enumerate(self.facilities):
                if f == leg.facility:
                    continue
                hit = shapely.contains_xy(fac.fence, x[idx], y[idx])
                for a, b in _runs(hit):
                    self.near(
                        "WRONG_DESTINATION",
                        truck,
                        ts[idx[a]],
                        ts[idx[b - 1]],
                        f"重车穿过「{fac.name}」围栏未停车 / loaded truck passed through {fac.name}'s fence without stopping",
                    )

    # manifests ---------------------------------------------------------------------------------

    def manifests(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rng = self.rng
        manifests, receipts = [], []
        for leg in sorted(self.loaded_legs, key=lambda r: (r.depart, r.truck.index)):
            truck, permit = leg.truck, self.permits[leg.permit]
            code = self.plan.get((truck.index, leg.cycle))
            if code == "UNMANIFESTED_TRIP":
                self.label(
                    code,
                    truck,
                    leg.depart,
                    leg.arrive,
                    "无联单的重车运输 / loaded leg without a manifest",
                )
                continue
            ratio = float(
                rng.uniform(1.15, 1.3)
                if code == "OVERLOAD"
                else rng.uniform(0.96, 0.99)
                if code == "NEAR:OVERLOAD"
                else rng.uniform(0.8, 0.95)
            )
            volume = round(truck.capacity_m3 * ratio, 1)
            manifest = {
                "manifest_no": "",
                "permit_no": permit["permit_no"],
                "plate": truck.plate,
                "driver_licence_no": truck.driver_licence,
                "site": permit["site"],
                "facility": permit["facility"],
                "category": leg.category,
                "declared_volume_m3": volume,
                "issued_at": leg.depart - float(rng.uniform(60, 180)),
                "departed_at": leg.depart,
            }
            manifests.append(manifest)
            end = leg.arrive if leg.arrive is not None else leg.depart + 3600
            if code == "OVERLOAD":
                self.label(
                    code,
                    truck,
                    leg.depart,
                    end,
                    f"申报 {volume} 立方米，超过核定容积 {truck.capacity_m3} 立方米 / declared {volume} m³ above the rated {truck.capacity_m3} m³",
                )
            if code == "NEAR:OVERLOAD":
                self.near(
                    "OVERLOAD",
                    truck,
                    leg.depart,
                    end,
                    f"申报 {volume} 立方米，略低于核定容积 {truck.capacity_m3} 立方米 / declared {volume} m³, just under the rated {truck.capacity_m3} m³",
                )
            if truck.unauthorised:
                self.label(
                    "UNAUTHORISED_VEHICLE",
                    truck,
                    leg.depart,
                    end,
                    "车辆审验已过期 / vehicle inspection expired",
                )
            if (
                leg.arrive is None
                or leg.facility != permit["facility_index"]
                or code == "NO_RECEIPT"
            ):
                if code == "NO_RECEIPT":
                    why = "消纳场未确认收货 / the facility never confirmed it"
                elif leg.arrive is None:
                    why = "途中偷倒，未到消纳场 / dumped on the way, never reached the facility"
                else:
                    why = "卸于非核准消纳场 / tipped at a facility the permit does not name"
                self.label(
                    "NO_RECEIPT",
                    truck,
                    manifest["issued_at"],
                    end,
                    f"联单未闭合 / manifest never received: {why}",
                )
                continue
            # a near-miss load is received at or under its declaration, so under capacity too
            received = volume * float(
                rng.uniform(0.7, 0.8)
                if code == "QUANTITY_DISCREPANCY"
                else rng.uniform(0.91, 0.93)
                if code == "NEAR:QUANTITY_DISCREPANCY"
                else rng.uniform(0.97, 1.0)
                if code == "NEAR:OVERLOAD"
                else rng.uniform(0.97, 1.03)
            )
            # a late confirmation stays within the 4 h transit allowance (a near miss)
            late = code == "NEAR:NO_RECEIPT"
            at = (
                manifest["issued_at"] + float(rng.uniform(3.3, 3.7)) * H
                if late
                else leg.arrive + float(rng.uniform(60, 240))
            )
            receipt = self._receipt(manifest, max(at, leg.arrive + 60), received, leg.category)
            receipts.append(receipt)
            if late:
                self.near(
                    "NO_RECEIPT",
                    truck,
                    manifest["issued_at"],
                    receipt["received_at"],
                    "消纳场在签发后约 3.5 小时才确认收货（限时 4 小时内）/ received ~3.5 h after issue, within the 4 h allowance",
                )
            if code == "NEAR:QUANTITY_DISCREPANCY":
                self.near(
                    "QUANTITY_DISCREPANCY",
                    truck,
                    leg.depart,
                    receipt["received_at"],
                    f"申报 {volume} 立方米，实收 {receipt['received_volume_m3']} 立方米（差额不足 10%）/ declared {volume} m³, received {receipt['received_volume_m3']} m³, under 10 % apart",
                )
            if code == "QUANTITY_DISCREPANCY":
                self.label(
                    code,
                    truck,
                    leg.depart,
                    receipt["received_at"],
                    f"申报 {volume} 立方米，实收 {receipt['received_volume_m3']} 立方米 / declared {volume} m³, received {receipt['received_volume_m3']} m³",
                )
        for ti in self.phantom:
            truck = self.trucks[ti]
            permit = self.permits[truck.permit]
            issued = self.last_fix[truck.plate] + float(rng.uniform(20, 40)) * 60
            volume = round(truck.capacity_m3 * float(rng.uniform(0.8, 0.95)), 1)
            manifest = {
                "manifest_no": "",
                "permit_no": permit["permit_no"],
                "plate": truck.plate,
                "driver_licence_no": truck.driver_licence,
                "site": permit["site"],
                "facility": permit["facility"],
                "category": permit["categories"][0],
                "declared_volume_m3": volume,
                "issued_at": issued,
                "departed_at": issued + 120,
            }
            manifests.append(manifest)
            receipt = self._receipt(
                manifest, issued + float(rng.uniform(35, 50)) * 60, volume, permit["categories"][0]
            )
            receipts.append(receipt)
            self.label(
                "RECEIPT_WITHOUT_TRIP",
                truck,
                issued,
                receipt["received_at"],
                "车辆收车后仍有联单和收货记录，无轨迹支持 / manifest and receipt while the truck was parked",
            )
        manifests.sort(key=lambda m: (m["issued_at"], m["plate"]))
        for k, m in enumerate(manifests):
            m["manifest_no"] = f"LD{self.day:%Y%m%d}{k + 1:06d}"
        receipts.sort(key=lambda r: (r["received_at"], r["plate"]))
        for k, r in enumerate(receipts):
            r["receipt_no"] = f"SN{self.day:%Y%m%d}{k + 1:06d}"
            r["manifest_no"] = r.pop("_manifest")["manifest_no"]
        for row in manifests:
            row["issued_at"], row["departed_at"] = (
                iso(self.day, row["issued_at"]),
                iso(self.day, row["departed_at"]),
            )
        for row in receipts:
            row["received_at"] = iso(self.day, row["received_at"])
        return manifests, [{k: r[k] for k in RECEIPT_COLUMNS} for r in receipts]

    def _receipt(
        self, manifest: dict[str, Any], at: float, volume: float, category: str
    ) -> dict[str, Any]:
        volume = round(volume, 1)
        weight = round(volume * DENSITY_T_PER_M3[category] * float(self.rng.uniform(0.97, 1.03)), 2)
        return {
            "_manifest": manifest,
            "receipt_no": "",
            "manifest_no": "",
            "plate": manifest["plate"],
            "facility": manifest["facility"],
            "received_at": at,
            "received_volume_m3": volume,
            "weighbridge_t": weight,
            "result": "accepted",
        }


RECEIPT_COLUMNS = (
    "receipt_no",
    "manifest_no",
    "plate",
    "facility",
    "received_at",
    "received_volume_m3",
    "weighbridge_t",
    "result",
)
MANIFEST_COLUMNS = (
    "manifest_no",
    "permit_no",
    "plate",
    "driver_licence_no",
    "site",
    "facility",
    "category",
    "declared_volume_m3",
    "issued_at",
    "departed_at",
)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _write_json(path: Path, obj: Any) -> None:
    """A list is written one object per line (so importers report line numbers per record)."""
    if isinstance(obj, list):
        text = "[\n" + ",\n".join(_dump(item) for item in obj) + "\n]\n"
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    frame = pl.DataFrame(rows) if rows else pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    frame.select(columns).write_csv(path)


def generate_scenario(
    out_dir: Path,
    *,
    trucks: int,
    seed: int,
    day: date,
    noise_m: float = 10.0,
    interval_s: float = 15.0,
) -> ScenarioSummary:
    """Write a scenario bundle into ``out_dir`` (created; existing bundle files are replaced)."""
    _check_args(trucks, noise_m, interval_s)
    b = _Builder(trucks, seed, day, noise_m, interval_s)
    b.layout()
    b.assign()
    frames = []
    for truck in b.trucks:
        tape, windows = b.drive_truck(truck)
        frame = b.sample(truck, tape, windows)
        b.last_fix[truck.plate] = float(frame["t"][-1])
        frames.append(frame)
    manifests, receipts = b.manifests()
    epoch0 = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).timestamp()
    tracks = (
        pl.concat(frames)
        .with_columns(
            ts=pl.from_epoch((pl.col("t") + epoch0).cast(pl.Int64))
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone("Asia/Shanghai")
            .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
        )
        .select("plate", "ts", "lon", "lat", "speed_kmh", "heading", "status", "alarm")
    )
    truth = sorted(b.truth, key=lambda g: (g["start"], g["code"], g["plate"]))
    truth = [{**g, "start": iso(day, g["start"]), "end": iso(day, g["end"])} for g in truth]

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    permits = [{k: v for k, v in p.items() if not k.endswith("_index")} for p in b.permits]
    registry = {
        "sites.json": [s.record for s in b.sites],
        "facilities.json": [f.record for f in b.facilities],
        "hauliers.json": b.hauliers,
        "depots.json": [d.record for d in b.depots],
        "vehicles.json": b.vehicles,
        "drivers.json": b.drivers,
        "zones.json": [b.zone_record],
        "permits.json": permits,
        "ground_truth.json": truth,
    }
    meta = {
        "generator": "cdw.scenario",
        "format_version": 2,
        "seed": seed,
        "day": day.isoformat(),
        "trucks": trucks,
        "noise_m": noise_m,
        "interval_s": interval_s,
        "timezone": "Asia/Shanghai",
        "crs": "EPSG:4326",
        "files": list(BUNDLE_FILES),
    }
    meta["road_network"] = _network_reference(b.world.file, out_dir)
    _write_json(out_dir / "scenario.json", meta)
    for name, obj in registry.items():
        _write_json(out_dir / name, obj)
    tracks.write_csv(out_dir / "tracks.csv")
    _write_csv(out_dir / "manifests.csv", manifests, MANIFEST_COLUMNS)
    _write_csv(out_dir / "receipts.csv", receipts, RECEIPT_COLUMNS)
    records = {name: len(obj) for name, obj in registry.items()}
    records |= {
        "tracks.csv": tracks.height,
        "manifests.csv": len(manifests),
        "receipts.csv": len(receipts),
    }
    return ScenarioSummary(
        out_dir=out_dir,
        trucks=trucks,
        seed=seed,
        day=day,
        records=records,
        violations=dict(sorted(Counter(g["code"] for g in truth if "near_miss" not in g).items())),
        near_misses=dict(sorted(Counter(g["code"] for g in truth if "near_miss" in g).items())),
    )


def _network_reference(network: Path, out_dir: Path) -> str:
    """The network file as the bundle names it: relative when both lie in one repository
    checkout (the bundled sample), else absolute."""
    network, out_dir = network.resolve(), out_dir.resolve()
    root = Path(__file__).resolve().parents[2]
    if network.is_relative_to(root) and out_dir.is_relative_to(root):
        return os.path.relpath(network, out_dir)
    return str(network)
