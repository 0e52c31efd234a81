"""The registry a scenario day runs on: the zone, fenced places, hauliers, vehicles, drivers and permits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from cdw.scenario import _names as names
from cdw.scenario.bundle import H
from cdw.scenario.motion import Leg
from cdw.scenario.world import MAJOR, Place

PERMIT_HOURS = ("07:00", "20:00")
CORRIDOR_HALF_WIDTH_M = 50.0


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


class Fleet:
    """Lays out the places and the registry, and plans each truck's loads (part of ``DayBuilder``)."""

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
        reach = world.both_ways(self.hub)
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
                if not reach[node]:
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
            "credit_code": names.credit_code(rng, self.used_credit_codes),
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
        seen: set[str] = set()  # plates
        licences: set[str] = set()
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
            licence = names.id_number(rng, licences)
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

    def site_fac(self, truck: Truck) -> tuple[Place, Place]:
        p = self.permits[truck.permit]
        return self.sites[p["site_index"]], self.facilities[p["facility_index"]]

    def leg_time(self, a: Place, b: Place) -> float:
        """Planned seconds from ``a`` to ``b`` (kept per pair: a city day asks for the same
        few thousand pairs tens of thousands of times)."""
        key = (a.node, b.node)
        if key not in self.leg_s:
            self.leg_s[key] = 1.3 * self.world.travel_s(self.world.path(a.node, b.node)) + 240
        return self.leg_s[key]

    def _plan_cycles(self, truck: Truck, wanted: int) -> int:
        """As many of ``wanted`` loads as fit, the last loaded leg arriving by 18:30 with
        room to spare for the longest injected delay."""
        site, fac = self.site_fac(truck)
        t = max(truck.start_s + 300 + self.leg_time(truck.depot, site) + 15 * 60, 7.15 * H)
        loaded, back = self.leg_time(site, fac), self.leg_time(fac, site)
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
