"""A seeded, reproducible simulated working day around Conghua, Guangzhou, as a scenario bundle.

``generate_scenario`` lays out sites, facilities, depots, hauliers, vehicles, drivers, a
water-source zone and permits on a generated road network (:mod:`cdw.scenario.network`),
drives every truck through its day (depot → site → loaded to the permitted facility → back,
3–6 loads → depot), samples GPS fixes with noise, jitter and short dropouts, issues manifests
and receipts as the gates would, injects labelled violations of every DESIGN.md §3 code and
writes the bundle described in ``sample_tracks/README.md``. Everything is drawn from one
``numpy.random.default_rng(seed)``: the same arguments give byte-identical files.

Outside the injected violations the day is clean at default thresholds: loaded legs follow
the permit route exactly (the route *is* the path driven), speeds stay ≤ 55 km/h, roadside
stops (signals) last < 60 s, dropouts < 2 min, no lawful route enters the zone.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import polars as pl
import shapely
from shapely.geometry import LineString, Polygon

from cdw.errors import Problem, ValidationFailed
from cdw.scenario import _names as names
from cdw.scenario.network import CLASS_ZH, LINES, SPACING_M, RoadNetwork, build_network, to_lonlat

LOCAL_TZ = timezone(timedelta(hours=8))
SPEED_LIMIT_KMH = {"arterial": 60, "secondary": 50, "local": 40, "access": 30}
NORMAL_MAX_KMH = 55.0
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
    "roads.geojson",
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
    violations: dict[str, int]  # flag code -> labelled ground-truth entries

    @property
    def points(self) -> int:
        return self.records["tracks.csv"]


@dataclass
class Place:
    """A geofenced place with its access-road node; x, y its centre in projected metres."""

    name: str
    node: object
    x: float
    y: float
    half_w: float
    half_h: float
    depth: float = 0.0  # half-extent along the access road (facilities)
    record: dict[str, Any] = field(default_factory=dict)

    def fence(self) -> dict[str, Any]:
        xs = self.x + np.array([-1, 1, 1, -1, -1]) * self.half_w
        ys = self.y + np.array([-1, -1, 1, 1, -1]) * self.half_h
        return geojson_polygon(xs, ys)


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


def _lonlat_round(xs: np.ndarray, ys: np.ndarray) -> list[list[float]]:
    lon, lat = to_lonlat(xs, ys)
    return [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat, strict=True)]


def geojson_polygon(xs: np.ndarray, ys: np.ndarray) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [_lonlat_round(xs, ys)]}


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

    def drive(
        self,
        pts: np.ndarray,
        speeds: np.ndarray,
        signals: np.ndarray,
        rng: np.random.Generator,
        *,
        loaded: bool,
    ) -> None:
        """Drive the polyline ``pts`` (first point = current position) at ``speeds`` km/h per
        edge, stopping < 60 s at signalised vertices half of the time."""
        status = POSITIONED | ACC_ON | (LOAD_FULL_BITS if loaded else 0)
        waits = np.where(
            signals & (rng.random(len(signals)) < 0.5), rng.uniform(8, 55, len(signals)), 0.0
        )
        for k in range(len(pts) - 1):
            dx, dy = pts[k + 1, 0] - pts[k, 0], pts[k + 1, 1] - pts[k, 1]
            length = math.hypot(dx, dy)
            if length < 0.01:
                continue
            self._heading = math.degrees(math.atan2(dx, dy)) % 360
            self._knot(
                self.now + length / (speeds[k] / 3.6),
                pts[k + 1, 0],
                pts[k + 1, 1],
                speeds[k],
                status,
            )
            if k + 1 < len(pts) - 1 and waits[k + 1] > 0:
                self.dwell(float(waits[k + 1]), loaded=loaded)


@dataclass
class Leg:
    """A drive along a node path, as a polyline with per-edge speeds and signal flags."""

    pts: np.ndarray
    speeds: np.ndarray
    classes: list[str]
    signals: np.ndarray  # per vertex

    @classmethod
    def of(cls, net: RoadNetwork, nodes: list[object], rng: np.random.Generator) -> Leg:
        classes, base = net.edge_attrs(nodes)
        speeds = np.minimum(base * rng.uniform(0.9, 1.12, len(base)), NORMAL_MAX_KMH)
        signals = np.array([net.has_signal(n) for n in nodes])
        return cls(net.polyline(nodes), speeds, classes, signals)

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
        self.classes.insert(k + 1, self.classes[k])
        self.signals = np.insert(self.signals, k + 1, False)
        return k + 1

    def part(self, a: int, b: int) -> Leg:
        return Leg(
            self.pts[a : b + 1], self.speeds[a:b], self.classes[a:b], self.signals[a : b + 1]
        )

    def reversed(self) -> Leg:
        return Leg(
            self.pts[::-1].copy(),
            self.speeds[::-1].copy(),
            self.classes[::-1],
            self.signals[::-1].copy(),
        )

    def drive_time(self) -> float:
        return float(np.sum(np.diff(self.cum) / (self.speeds / 3.6)))


def _fastest_stretch(leg: Leg, road_class: str) -> tuple[int, int, float]:
    """The longest run of consecutive edges of ``road_class`` (not counting access roads)."""
    best = (0, 0, 0.0)
    lengths = np.diff(leg.cum)
    start, run = 0, 0.0
    for k, c in enumerate([*leg.classes, ""]):
        if c == road_class:
            if run == 0.0:
                start = k
            run += float(lengths[k])
        else:
            if run > best[2]:
                best = (start, k, run)
            run = 0.0
    return best


# --- the scenario -----------------------------------------------------------------------------


class _Builder:
    def __init__(
        self, trucks: int, seed: int, day: date, noise_m: float, interval_s: float
    ) -> None:
        self.n_trucks, self.seed, self.day = trucks, seed, day
        self.noise_m, self.interval_s = noise_m, interval_s
        self.rng = np.random.default_rng(seed)
        self.per_code = max(1, trucks // 25)
        self.truth: list[dict[str, Any]] = []
        self.loaded_legs: list[LoadedLeg] = []
        self.used_names: set[str] = set()
        self.last_fix: dict[str, float] = {}  # plate -> seconds of its last fix

    # layout ------------------------------------------------------------------------------------

    def layout(self) -> None:
        rng = self.rng
        starts = [z for z in range(4, 19) if z % 5 in (0, 1, 2)]
        self.zone_cells = (int(rng.choice(starts)), int(rng.choice(starts)))
        self.net = build_network(rng, self.zone_cells)
        self.reachable = max(nx.connected_components(self.net.normal), key=len)
        self._zone()
        zi, zj = self.zone_cells
        blocks = [
            (i, j)
            for i in range(LINES - 1)
            for j in range(LINES - 1)
            if not (zi - 1 <= i <= zi + 3 and zj - 1 <= j <= zj + 3)
        ]
        order = rng.permutation(len(blocks))
        blocks = [blocks[k] for k in order]
        n_sites = min(max(3, math.ceil(self.n_trucks / 3)), 300)
        per_haulier = min(max(5, self.n_trucks // 40), 80)
        n_hauliers = math.ceil(self.n_trucks / per_haulier)
        self.per_haulier = per_haulier
        n_facilities = min(max(4, 4 + self.n_trucks // 100), 32)
        self.facilities = self._facilities(n_facilities)
        self.sites = [self._block_place(("site", k), blocks[k], 80, 150) for k in range(n_sites)]
        self.hauliers = [self._haulier(k) for k in range(n_hauliers)]
        self.depots = [
            self._block_place(("depot", k), blocks[n_sites + k], 60, 110) for k in range(n_hauliers)
        ]
        self._registry_records()
        self._permits()
        self._vehicles()

    def _zone(self) -> None:
        zi, zj = self.zone_cells
        ox, oy = self.net.origin
        x0, x1 = ox + zi * SPACING_M + 150, ox + (zi + 3) * SPACING_M - 150
        y0, y1 = oy + zj * SPACING_M + 150, oy + (zj + 3) * SPACING_M - 150
        c = 250.0
        xs = np.array([x0 + c, x1 - c, x1, x1, x1 - c, x0 + c, x0, x0, x0 + c])
        ys = np.array([y0, y0, y0 + c, y1 - c, y1, y1, y1 - c, y0 + c, y0])
        self.zone_poly = Polygon(np.column_stack([xs, ys]))
        self.zone_record = {
            "name": "流溪河饮用水水源保护区（从化段）",
            "kind": "water_source",
            "geofence": geojson_polygon(xs, ys),
        }

    def _block_place(
        self, name: tuple[str, int], block: tuple[int, int], lo: float, hi: float
    ) -> Place:
        rng = self.rng
        i, j = block
        ox, oy = self.net.origin
        x = ox + (i + 0.5) * SPACING_M + rng.uniform(-20, 20)
        y = oy + (j + 0.5) * SPACING_M + rng.uniform(-20, 20)
        half_w, half_h = rng.uniform(lo, hi, 2)
        corners = [("g", i + a, j + b) for a in (0, 1) for b in (0, 1)]
        corners = [c for c in corners if c in self.reachable]
        corner = corners[int(rng.integers(len(corners)))]
        self.net.add_access(name, x, y, corner)
        return Place(name="", node=name, x=x, y=y, half_w=float(half_w), half_h=float(half_h))

    def _facilities(self, n: int) -> list[Place]:
        rng = self.rng
        last = LINES - 1
        slots = []
        for k in range(2, last - 1, 3):
            slots += [
                ((0, k), (-1, 0)),
                ((last, k), (1, 0)),
                ((k, 0), (0, -1)),
                ((k, last), (0, 1)),
            ]
        slots = [s for s in slots if ("g", *s[0]) in self.reachable]
        chosen = rng.permutation(len(slots))[:n]
        kinds = list(FACILITY_KINDS)
        places = []
        for m, slot in enumerate(chosen.tolist()):
            (i, j), (dx, dy) = slots[slot]
            nx_, ny_ = self.net.xy(("g", i, j))
            road = rng.uniform(1200, 1800)
            along, across = rng.uniform(100, 250, 2)
            gate = (nx_ + dx * road, ny_ + dy * road)
            x, y = gate[0] + dx * along, gate[1] + dy * along
            node = ("fac", m)
            self.net.add_access(node, x, y, ("g", i, j), via=gate)
            half_w, half_h = (along, across) if dx else (across, along)
            kind = kinds[m] if m < len(kinds) else kinds[int(rng.integers(len(kinds)))]
            place = Place(
                name="",
                node=node,
                x=x,
                y=y,
                half_w=float(half_w),
                half_h=float(half_h),
                depth=float(along),
            )
            place.record = {"kind": kind}
            places.append(place)
        return places

    def _haulier(self, k: int) -> dict[str, Any]:
        rng = self.rng
        name = names.numbered(
            f"广州市从化区{names.pick(rng, names.FIRMS)}运输有限公司", self.used_names
        )
        return {
            "name": name,
            "credit_code": names.credit_code(rng),
            "licence_no": f"穗从建运〔{self.day.year - 1}〕{k + 1:04d}号",
            "licence_valid_until": (
                self.day + timedelta(days=int(rng.integers(100, 700)))
            ).isoformat(),
            "status": "active",
            "credit_score": int(rng.integers(70, 101)),
        }

    def _registry_records(self) -> None:
        rng = self.rng
        for fac in self.facilities:
            kind = fac.record["kind"]
            suffix, accepted, hours = FACILITY_KINDS[kind]
            town = names.pick(rng, names.TOWNS)
            capacity = (
                float(rng.integers(20, 200) * 10_000)
                if kind == "landfill"
                else float(rng.integers(5, 60) * 10_000)
            )
            fac.name = names.numbered(f"从化区{town}{suffix}", self.used_names)
            fac.record = {
                "name": fac.name,
                "kind": kind,
                "address": names.address(rng, town),
                "geofence": fac.fence(),
                "capacity_m3": capacity,
                "used_m3": round(capacity * float(rng.uniform(0.2, 0.8)), 0),
                "accepted_categories": accepted,
                "opening_hours": hours,
            }
        for site in self.sites:
            town = names.pick(rng, names.TOWNS)
            site.name = names.numbered(
                f"从化区{town}{names.pick(rng, names.PROJECTS)}", self.used_names
            )
            site.record = {
                "name": site.name,
                "address": names.address(rng, town),
                "project_permit_no": f"440117{self.day.year - 1}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}{int(rng.integers(0, 10000)):04d}",
                "builder": f"广州市从化区{names.pick(rng, names.FIRMS)}建设开发有限公司",
                "contractor": f"广东{names.pick(rng, names.FIRMS)}建筑工程有限公司",
                "geofence": site.fence(),
                "expected_categories": [],
                "expected_volume_m3": float(rng.integers(2, 40) * 5000),
            }
        for k, depot in enumerate(self.depots):
            haulier = self.hauliers[k]
            depot.name = names.numbered(
                haulier["name"].removeprefix("广州市从化区").removesuffix("有限公司") + "停车场",
                self.used_names,
            )
            depot.record = {
                "haulier_credit_code": haulier["credit_code"],
                "name": depot.name,
                "address": names.address(rng),
                "geofence": depot.fence(),
            }

    def _permits(self) -> None:
        rng = self.rng
        n_fac = len(self.facilities)
        order = rng.permutation(n_fac)
        self.permits: list[dict[str, Any]] = []
        self.permit_legs: list[Leg] = []
        self.permit_paths: list[list[object]] = []
        for s, site in enumerate(self.sites):
            f = int(order[s]) if s < n_fac else int(rng.integers(n_fac))
            facility = self.facilities[f]
            accepted = facility.record["accepted_categories"]
            cats = [accepted[0], *[c for c in accepted[1:] if rng.random() < 0.4]]
            site.record["expected_categories"] = cats
            path = self.net.path(site.node, facility.node)
            xy = self.net.polyline(path)
            self.permit_paths.append(path)
            self.permits.append(
                {
                    "permit_no": f"穗从城管核〔{self.day.year}〕{s + 1:04d}号",
                    "site": site.name,
                    "facility": facility.name,
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
                        "coordinates": _lonlat_round(xy[:, 0], xy[:, 1]),
                    },
                    "corridor_half_width_m": CORRIDOR_HALF_WIDTH_M,
                    "vehicles": [],
                }
            )
        self.route_lines = [LineString(self.net.polyline(p)) for p in self.permit_paths]

    def _vehicles(self) -> None:
        rng = self.rng
        seen: set[str] = set()
        site_order = rng.permutation(len(self.sites))
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

    def _leg_time(self, a: object, b: object) -> float:
        path = self.net.path(a, b)
        g = self.net.graph
        return 1.05 * sum(
            g.edges[u, v]["travel_time_s"] for u, v in zip(path, path[1:], strict=False)
        ) + 15 * sum(self.net.has_signal(n) for n in path)

    def _plan_cycles(self, truck: Truck, wanted: int) -> int:
        """As many of ``wanted`` loads as fit, the last loaded leg arriving by 18:30 with
        room to spare for the longest injected delay."""
        permit = self.permits[truck.permit]
        site = self.sites[permit["site_index"]].node
        fac = self.facilities[permit["facility_index"]].node
        t = max(truck.start_s + 300 + self._leg_time(truck.depot.node, site) + 15 * 60, 7.15 * H)
        loaded, back = self._leg_time(site, fac), self._leg_time(fac, site)
        n = 0
        while n < wanted and t + loaded <= 18.5 * H:
            n += 1
            t += loaded + 10 * 60 + back + 15 * 60
        return max(n, 2)

    # violations --------------------------------------------------------------------------------

    def assign(self) -> None:
        """Pick (truck, cycle) slots for each injected violation; one per slot."""
        rng = self.rng
        slots = [(t.index, c) for t in self.trucks for c in range(t.n_cycles)]
        slots = [slots[k] for k in rng.permutation(len(slots))]
        self.plan: dict[tuple[int, int], str] = {}
        busy: Counter[int] = Counter()
        taken: set[tuple[int, int]] = set()

        def approach_s(ti: int, c: int) -> float:
            t = self.trucks[ti]
            p = self.permits[t.permit]
            site = self.sites[p["site_index"]].node
            origin = t.depot.node if c == 0 else self.facilities[p["facility_index"]].node
            return self._leg_time(origin, site)

        def loaded_s(ti: int) -> float:
            p = self.permits[self.trucks[ti].permit]
            return self._leg_time(
                self.sites[p["site_index"]].node, self.facilities[p["facility_index"]].node
            )

        def arterial_m(ti: int) -> float:
            p = self.trucks[ti].permit
            return _fastest_stretch(
                Leg.of(self.net, self.permit_paths[p], np.random.default_rng(0)), "arterial"
            )[2]

        rules: list[tuple[str, Any]] = [
            (
                "TAMPER_SUSPECTED",
                lambda ti, c: c >= 1 and max(approach_s(ti, c), loaded_s(ti)) >= 15 * 60,
            ),
            ("SPEEDING", lambda ti, c: arterial_m(ti) >= 1600),
            (
                "SUSPECTED_DUMPING",
                lambda ti, c: c + 1 < self.trucks[ti].n_cycles and (ti, c + 1) not in taken,
            ),
            ("ROUTE_DEVIATION", lambda ti, c: len(self.permit_paths[self.trucks[ti].permit]) >= 8),
            ("WRONG_DESTINATION", lambda ti, c: True),
            ("LONG_STOP", lambda ti, c: True),
            ("RESTRICTED_ZONE", lambda ti, c: True),
            ("SIGNAL_GAP", lambda ti, c: approach_s(ti, c) >= 6 * 60),
            ("NO_RECEIPT", lambda ti, c: True),
            ("UNMANIFESTED_TRIP", lambda ti, c: True),
            ("QUANTITY_DISCREPANCY", lambda ti, c: True),
            ("OVERLOAD", lambda ti, c: True),
        ]
        fallbacks = {"TAMPER_SUSPECTED": lambda ti, c: c >= 1, "SPEEDING": lambda ti, c: True}
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
            self.vehicles[ti]["inspection_valid_until"] = (
                self.day - timedelta(days=int(rng.integers(5, 90)))
            ).isoformat()

    def label(self, code: str, truck: Truck, start: float, end: float, note: str) -> None:
        self.truth.append(
            {"code": code, "plate": truck.plate, "start": start, "end": end, "note": note}
        )

    # one truck's day ---------------------------------------------------------------------------

    def drive_truck(self, truck: Truck) -> tuple[Tape, list[tuple[float, float, str]]]:
        """The truck's day as a Tape, and its dropout windows (from, to, reason)."""
        rng = self.rng
        net = self.net
        permit = self.permits[truck.permit]
        site = self.sites[permit["site_index"]]
        facility = self.facilities[permit["facility_index"]]
        tape = Tape(truck.start_s, truck.depot.x, truck.depot.y)
        windows: list[tuple[float, float, str]] = []
        tape.dwell(float(rng.uniform(3, 8)) * 60, loaded=False, acc=False)
        tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
        at: Place = truck.depot
        for c in range(truck.n_cycles):
            code = self.plan.get((truck.index, c))
            if at is not site:
                self._approach(truck, tape, at, site, code, windows)
            self._load(tape, earliest=7.05 * H)
            at = self._loaded_leg(truck, tape, c, site, facility, code, windows)
            self._tip(tape)
        self._leg(tape, Leg.of(net, net.path(at.node, truck.depot.node), rng), loaded=False)
        if truck.ooh:
            tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
            tape.dwell(
                max(22.0 * H + float(rng.uniform(0, 600)) - tape.now, 600), loaded=False, acc=False
            )
            tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
            self._leg(tape, Leg.of(net, net.path(truck.depot.node, site.node), rng), loaded=False)
            self._load(tape, earliest=0)
            self._loaded_leg(truck, tape, truck.n_cycles, site, facility, "OUT_OF_HOURS", windows)
            self._tip(tape)
            self._leg(
                tape, Leg.of(net, net.path(facility.node, truck.depot.node), rng), loaded=False
            )
        tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
        tape.dwell(float(rng.uniform(2, 5)) * 60, loaded=False, acc=False)
        return tape, windows

    def _leg(self, tape: Tape, leg: Leg, *, loaded: bool) -> None:
        tape.drive(leg.pts, leg.speeds, leg.signals, self.rng, loaded=loaded)

    def _load(self, tape: Tape, earliest: float) -> None:
        tape.dwell(max(float(self.rng.uniform(5, 15)) * 60, earliest - tape.now), loaded=False)

    def _tip(self, tape: Tape) -> None:
        tape.dwell(float(self.rng.uniform(2, 4)) * 60, loaded=True)
        tape.dwell(float(self.rng.uniform(3, 6)) * 60, loaded=False)

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
        rng, net = self.rng, self.net
        if code == "RESTRICTED_ZONE":
            zi, zj = self.zone_cells
            w = ("g", zi + 1 + int(rng.integers(2)), zj + 1 + int(rng.integers(2)))
            nodes = net.path(origin.node, w, through_zone=True)[:-1] + net.path(
                w, site.node, through_zone=True
            )
            self._leg(tape, Leg.of(net, nodes, rng), loaded=False)
            return
        leg = Leg.of(net, net.path(origin.node, site.node), rng)
        if code == "LONG_STOP":
            k = leg.split(leg.length * float(rng.uniform(0.35, 0.65)))
            self._leg(tape, leg.part(0, k), loaded=False)
            start = tape.now
            tape.dwell(float(rng.uniform(15, 25)) * 60, loaded=False)
            self.label(
                "LONG_STOP",
                truck,
                start,
                tape.now,
                "空车在路边停留 15–25 分钟 / empty truck parked at the roadside for 15-25 min",
            )
            self._leg(tape, leg.part(k, len(leg.pts) - 1), loaded=False)
        elif code == "SIGNAL_GAP":
            crawl = float(rng.uniform(450, 600))
            a = leg.split(max(leg.length * 0.5 - crawl / 2, 50.0))
            b = leg.split(leg.cum[a] + crawl)
            leg.speeds[a:b] = rng.uniform(3.5, 4.0)
            leg.signals[a + 1 : b] = False
            self._leg(tape, leg.part(0, a), loaded=False)
            start = tape.now
            self._leg(tape, leg.part(a, b), loaded=False)
            windows.append((start + 5, tape.now - 5, "SIGNAL_GAP"))
            self._leg(tape, leg.part(b, len(leg.pts) - 1), loaded=False)
        elif code == "TAMPER_SUSPECTED" and leg.drive_time() >= 13 * 60:
            self._tamper(tape, leg, windows, loaded=False)
        else:
            self._leg(tape, leg, loaded=False)

    def _tamper(
        self, tape: Tape, leg: Leg, windows: list[tuple[float, float, str]], *, loaded: bool
    ) -> None:
        """Drive ``leg`` with the terminal cut (power-cut alarm, then 10–11 min of silence)."""
        a = leg.split(min(leg.length * 0.15, 1000.0))
        self._leg(tape, leg.part(0, a), loaded=loaded)
        tape.dwell(1.0, loaded=loaded)  # a knot: the window starts where the drive resumes
        start = tape.now
        windows.append((start, start + float(self.rng.uniform(600, 660)), "TAMPER_SUSPECTED"))
        self._leg(tape, leg.part(a, len(leg.pts) - 1), loaded=loaded)

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
        rng, net = self.rng, self.net
        permit_path = self.permit_paths[truck.permit]
        category = self.permits[truck.permit]["categories"][0]
        depart = tape.now
        leg = Leg.of(net, permit_path, rng)
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
        if code == "SUSPECTED_DUMPING":
            k = leg.split(leg.length - facility.depth - float(rng.uniform(600, 1200)))
            self._leg(tape, leg.part(0, k), loaded=True)
            start = tape.now
            tape.dwell(float(rng.uniform(2.5, 4.5)) * 60, loaded=True)
            tape.dwell(float(rng.uniform(2.5, 4.5)) * 60, loaded=False)
            self.label(
                "SUSPECTED_DUMPING",
                truck,
                start,
                tape.now,
                "重车在消纳场围栏外约 1 公里处停留 5–9 分钟，载重由满变空，随后返回工地 / "
                "loaded stop ~1 km outside the facility fence, load bits full to empty, then back to the site",
            )
            self._leg(tape, leg.part(0, k).reversed(), loaded=False)
            end = site
        elif code == "WRONG_DESTINATION":
            others = [f for f in self.facilities if f is not facility]
            times = [self._leg_time(site.node, f.node) for f in others]
            end = others[int(np.argmin(times))]
            record.facility = self.facilities.index(end)
            self._leg(tape, Leg.of(net, net.path(site.node, end.node), rng), loaded=True)
            record.arrive = tape.now
            self.label(
                "WRONG_DESTINATION",
                truck,
                depart,
                tape.now,
                f"核准消纳场为「{facility.name}」，实际卸于「{end.name}」 / tipped at {end.name}, permit names {facility.name}",
            )
        elif code == "ROUTE_DEVIATION":
            self._leg(tape, self._detour(leg, permit_path), loaded=True)
            record.arrive = tape.now
        elif code == "SPEEDING":
            a, b, _ = _fastest_stretch(leg, "arterial")
            if b == a:
                a, b, _ = max(
                    (_fastest_stretch(leg, c) for c in ("secondary", "local")), key=lambda r: r[2]
                )
            b = a + 1 + int(np.searchsorted(np.cumsum(np.diff(leg.cum)[a:b]), 2500.0))
            b = min(b, len(leg.speeds))
            leg.speeds[a:b] = rng.uniform(76, 84, b - a)
            leg.signals[a + 1 : b] = False
            self._leg(tape, leg.part(0, a), loaded=True)
            start = tape.now
            self._leg(tape, leg.part(a, b), loaded=True)
            self.label(
                "SPEEDING",
                truck,
                start,
                tape.now,
                "重车在主干路以 76–84 km/h 行驶 / loaded truck at 76-84 km/h on an arterial",
            )
            self._leg(tape, leg.part(b, len(leg.pts) - 1), loaded=True)
            record.arrive = tape.now
        elif code == "TAMPER_SUSPECTED" and not self._approach_long_enough(truck, cycle):
            self._tamper(tape, leg, windows, loaded=True)
            record.arrive = tape.now
        else:
            self._leg(tape, leg, loaded=True)
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
        permit = self.permits[truck.permit]
        origin = truck.depot if cycle == 0 else self.facilities[permit["facility_index"]]
        leg = Leg.of(
            self.net,
            self.net.path(origin.node, self.sites[permit["site_index"]].node),
            np.random.default_rng(0),
        )
        return leg.drive_time() >= 13 * 60

    def _detour(self, leg: Leg, path: list[object]) -> Leg:
        """The permit path with its middle third replaced by a loop 1.1–2.5 km off the route."""
        net, rng = self.net, self.rng
        grid = [k for k, n in enumerate(path) if n[0] == "g"]
        a, b = grid[len(grid) // 3], grid[2 * len(grid) // 3]
        if b - a < 2:
            a, b = grid[1], grid[-2]
        route = LineString(net.polyline(path))
        blocked = set(path[a + 1 : b])
        graph = net.normal.subgraph(
            n for n in net.normal if n not in blocked and (n[0] == "g" or n in (path[a], path[b]))
        )
        mid = net.polyline(path[a : b + 1]).mean(axis=0)
        cands = []
        for n in graph:
            if n[0] != "g":
                continue
            x, y = net.xy(n)
            d = route.distance(shapely.Point(x, y))
            if 1100 <= d <= 2500:
                cands.append((math.hypot(x - mid[0], y - mid[1]), n))
        cands.sort()
        for _, w in cands[:20]:
            try:
                p1 = nx.shortest_path(graph, path[a], w, weight="travel_time_s")
                p2 = nx.shortest_path(graph, w, path[b], weight="travel_time_s")
            except nx.NetworkXNoPath:
                continue
            nodes = path[:a] + p1[:-1] + p2 + path[b + 1 :]
            return Leg.of(net, nodes, rng)
        return leg  # no detour possible: left unlabelled (ground truth comes from geometry)

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
            moving, np.maximum(speed + np.clip(rng.normal(0, 1.0, len(ts)), -3, 3), 0.5), 0.0
        )
        heading = (
            np.array(tape.heading)[seg] + np.where(moving, rng.normal(0, 3, len(ts)), 0)
        ) % 360
        status = np.array(tape.status, np.uint32)[seg]
        noisy_x = x + rng.normal(0, self.noise_m, len(ts))
        noisy_y = y + rng.normal(0, self.noise_m, len(ts))
        lon, lat = to_lonlat(noisy_x, noisy_y)
        self._truth_from_samples(truck, ts, x, y, alarm)
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
        self, truck: Truck, ts: np.ndarray, x: np.ndarray, y: np.ndarray, alarm: np.ndarray
    ) -> None:
        """Labels read off the true positions: gaps, zone entries, off-route stretches."""
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
            ratio = (
                float(rng.uniform(1.15, 1.3))
                if code == "OVERLOAD"
                else float(rng.uniform(0.8, 0.95))
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
            received = volume * (
                float(rng.uniform(0.7, 0.8))
                if code == "QUANTITY_DISCREPANCY"
                else float(rng.uniform(0.97, 1.03))
            )
            receipt = self._receipt(
                manifest, leg.arrive + float(rng.uniform(60, 240)), received, leg.category
            )
            receipts.append(receipt)
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


def _roads(net: RoadNetwork) -> dict[str, Any]:
    features = []
    for u, v, data in net.graph.edges(data=True):
        xy = net.polyline([u, v])
        cls = data["road_class"]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "road_class": cls,
                    "name_zh": CLASS_ZH[cls],
                    "speed_limit_kmh": SPEED_LIMIT_KMH[cls],
                },
                "geometry": {
                    "type": "LineString",
                    "coordinates": _lonlat_round(xy[:, 0], xy[:, 1]),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


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
    roads = _roads(b.net)
    meta = {
        "generator": "cdw.scenario",
        "format_version": 1,
        "seed": seed,
        "day": day.isoformat(),
        "trucks": trucks,
        "noise_m": noise_m,
        "interval_s": interval_s,
        "timezone": "Asia/Shanghai",
        "crs": "EPSG:4326",
        "files": list(BUNDLE_FILES),
    }
    _write_json(out_dir / "scenario.json", meta)
    (out_dir / "roads.geojson").write_text(
        '{"type":"FeatureCollection","features":[\n'
        + ",\n".join(_dump(f) for f in roads["features"])
        + "\n]}\n",
        encoding="utf-8",
    )
    for name, obj in registry.items():
        _write_json(out_dir / name, obj)
    tracks.write_csv(out_dir / "tracks.csv")
    _write_csv(out_dir / "manifests.csv", manifests, MANIFEST_COLUMNS)
    _write_csv(out_dir / "receipts.csv", receipts, RECEIPT_COLUMNS)
    records = {name: len(obj) for name, obj in registry.items()}
    records |= {
        "roads.geojson": len(roads["features"]),
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
        violations=dict(sorted(Counter(g["code"] for g in truth).items())),
    )
