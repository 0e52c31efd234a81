"""A synthetic fleet-day around Guangzhou (23.1° N, 113.3° E) for the engine benchmark.

Seeded and numpy only. Each truck shuttles on one route between a construction site and a
disposal facility, one fix every 10 s: loading at the site (load bits full), driving with
GPS noise and traffic-light halts (< 2 min), unloading at the facility (bits empty),
driving back. Geometry is laid out in local metres and converted to lon/lat with a local
equirectangular scale. Two profiles:

- ``realistic`` (default): trucks keep to their corridors at 20-55 km/h, stop only at
  traffic lights, the site and the facility, inside their permit's hours; restricted
  zones lie off the roads. About one truck in 25 commits one violation in the day (a
  detour off the corridor, a 3-9 min roadside stop while loaded, or a 10-25 min stop),
  and one in 50 loses its signal for 6-10 min.
- ``flag_heavy``: every stretch of road may end in a roadside stop of 3-9 min (6 %) or
  10-25 min (3 %) or hold a detour (4 %), speeds reach 60 km/h, restricted zones sit
  astride the roads, the permit's hours end before the last trucks do, and one truck in
  20 loses its signal: a stress test of the checks' evidence building, dozens of flags a
  truck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, POINTS_SCHEMA

CENTRE_LON, CENTRE_LAT = 113.3, 23.1
M_PER_DEG_LAT = 110_760.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE_LAT))
FIX_INTERVAL_S = 10.0
# 06:00 to 20:00 Beijing time: 14 h of fixes a truck.
DAY_START_LOCAL_H = 6.0
FIXES_PER_TRUCK = int(14 * 3600 / FIX_INTERVAL_S)
GPS_NOISE_M = 3.0
STATUS_ACC_ON_POSITIONED = 0b11  # JT/T 808 status bits 0 (ACC on) and 1 (positioned)
TRUCKS_PER_ROUTE = 20
SITE_RADIUS_M = 120.0
FACILITY_RADIUS_M = 150.0
PROFILES = ("realistic", "flag_heavy")
VIOLATIONS = ("detour", "roadside_stop", "long_stop")


@dataclass(frozen=True)
class Profile:
    max_speed_kmh: float
    p_detour: float  # per stretch of road
    p_roadside_stop: float  # 3-9 min, per stretch
    p_long_stop: float  # 10-25 min, per stretch
    p_violation: float  # per truck: one of VIOLATIONS on its first loaded leg
    p_signal_gap: float  # per truck
    restricted_on_roads: bool
    allowed_hours_local: tuple[float, float]  # the permits' window, local hours


_PROFILES = {
    "realistic": Profile(55.0, 0.0, 0.0, 0.0, 1 / 25, 1 / 50, False, (5.0, 22.0)),
    "flag_heavy": Profile(60.0, 0.04, 0.06, 0.03, 0.0, 0.05, True, (6.0, 20.0)),
}


@dataclass
class FleetDay:
    """The points frame (DESIGN.md §5) and the places and routes the trucks used (lon/lat)."""

    points: pl.DataFrame
    routes: list[LineString]
    sites: list[Polygon]  # sites[r] at the start of routes[r]
    facilities: list[Polygon]  # facilities[r] at the end of routes[r]
    restricted: list[Polygon]
    vehicle_route: dict[str, int] = field(default_factory=dict)
    allowed_hours_local: tuple[float, float] = (0.0, 24.0)
    violations: dict[str, str] = field(default_factory=dict)  # plate -> injected violation


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return CENTRE_LON + x / M_PER_DEG_LON, CENTRE_LAT + y / M_PER_DEG_LAT


def _lonlat_geom(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda c: np.column_stack(to_lonlat(c[:, 0], c[:, 1])))


def _route(rng: np.random.Generator) -> np.ndarray:
    """Vertices (m) of a winding 8-25 km road with 80-250 m between vertices."""
    length = rng.uniform(8_000, 25_000)
    start = rng.uniform(-20_000, 20_000, 2)
    heading = rng.uniform(0, 2 * math.pi)
    points = [start]
    travelled = 0.0
    while travelled < length:
        heading += rng.normal(0, 0.15)
        step = rng.uniform(80, 250)
        points.append(points[-1] + step * np.array([math.cos(heading), math.sin(heading)]))
        travelled += step
    return np.array(points)


def _schedule(
    rng: np.random.Generator,
    route_len: float,
    t0: float,
    t_end: float,
    profile: Profile,
    violation: str | None,
) -> tuple[list[float], list[float], list[float], list[float], list[float], list[int]]:
    """Breakpoints of position along the route s(t), lateral offset l(t), and load state.

    Returns (time, s) breakpoints, (time, lateral) breakpoints and (time, load) steps.
    ``violation`` (one of VIOLATIONS) happens after the first stretch of the first loaded leg.
    """
    ts, ss = [t0], [0.0]
    lt, lv = [t0], [0.0]
    load_t, load_v = [t0], [LOAD_EMPTY]

    def stay(duration: float, lateral: float = 0.0) -> None:
        if lateral:
            lt.extend([ts[-1], ts[-1] + 10.0, ts[-1] + duration - 10.0, ts[-1] + duration])
            lv.extend([0.0, lateral, lateral, 0.0])
        ts.append(ts[-1] + duration)
        ss.append(ss[-1])

    def drive(to_s: float, pending: str | None = None) -> None:
        """Drive to ``to_s`` in stretches of 0.5-3 km with halts and the profile's stops;
        ``pending`` (a violation) happens on the first stretch."""
        here = ss[-1]
        direction = 1.0 if to_s > here else -1.0
        p = profile
        while (to_s - here) * direction > 1e-6:
            stretch = min(rng.uniform(500, 3000), abs(to_s - here))
            speed = rng.uniform(20, p.max_speed_kmh) / 3.6
            if pending == "detour" or rng.random() < p.p_detour:
                offset = rng.choice([-1, 1]) * rng.uniform(150, 400)  # off the road and back
                span = stretch / speed
                lt.extend([ts[-1], ts[-1] + 0.25 * span, ts[-1] + 0.75 * span, ts[-1] + span])
                lv.extend([0.0, offset, offset, 0.0])
            here += direction * stretch
            ts.append(ts[-1] + stretch / speed)
            ss.append(here)
            roll = rng.random()
            if roll < 0.35:
                stop = "traffic_light"
            elif roll < 0.35 + p.p_roadside_stop:
                stop = "roadside_stop"
            elif roll < 0.35 + p.p_roadside_stop + p.p_long_stop:
                stop = "long_stop"
            else:
                stop = None
            if pending in ("roadside_stop", "long_stop"):
                stop = pending
            if stop == "traffic_light":
                stay(rng.uniform(20, 110))
            elif stop == "roadside_stop":
                stay(rng.uniform(180, 540), lateral=rng.uniform(5, 15))  # 3-9 min
            elif stop == "long_stop":
                stay(rng.uniform(600, 1500), lateral=rng.uniform(5, 15))  # 10-25 min
            pending = None

    while ts[-1] < t_end:
        stay(rng.uniform(480, 1200))  # loading at the site
        load_t.append(ts[-1])
        load_v.append(LOAD_FULL)
        drive(route_len, violation)
        violation = None
        stay(rng.uniform(300, 720))  # unloading at the facility
        load_t.append(ts[-1])
        load_v.append(LOAD_EMPTY)
        drive(0.0)
    return ts, ss, lt, lv, load_t, load_v


def _truck_fixes(
    rng: np.random.Generator,
    route: np.ndarray,
    n_fixes: int,
    t0: float,
    profile: Profile,
    violation: str | None,
) -> dict[str, np.ndarray]:
    """One truck's day on ``route``: fix times, positions (m), speed, heading, load state."""
    seg = np.diff(route, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    cum = np.concatenate(([0.0], np.cumsum(seg_len)))
    t = t0 + FIX_INTERVAL_S * np.arange(n_fixes)
    ts, ss, lt, lv, load_t, load_v = _schedule(rng, cum[-1], t0, t[-1], profile, violation)
    s = np.interp(t, ts, ss)
    lateral = np.interp(t, lt, lv)
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, seg_len.size - 1)
    u = (s - cum[k]) / seg_len[k]
    unit = seg[k] / seg_len[k, None]
    x = route[k, 0] + u * seg[k, 0] - lateral * unit[:, 1] + rng.normal(0, GPS_NOISE_M, n_fixes)
    y = route[k, 1] + u * seg[k, 1] + lateral * unit[:, 0] + rng.normal(0, GPS_NOISE_M, n_fixes)
    ds = np.gradient(s, t) if n_fixes > 1 else np.zeros(n_fixes)
    moving = np.abs(ds) > 0.1
    speed_kmh = np.where(moving, np.abs(ds) * 3.6 + rng.normal(0, 1.0, n_fixes), 0.0)
    heading = np.degrees(np.arctan2(unit[:, 0], unit[:, 1])) % 360.0
    heading = np.where(ds < 0, (heading + 180.0) % 360.0, heading)
    load = np.asarray(load_v)[np.searchsorted(load_t, t, side="right") - 1]
    return {
        "t": t,
        "x": x,
        "y": y,
        "speed_kmh": np.maximum(speed_kmh, 0.0),
        "heading": heading,
        "load": load,
    }


def _plate(k: int) -> str:
    """New-energy truck plates 粤A00001D, 粤A00002D, … (no I or O)."""
    return f"粤A{k:05d}D"


def _restricted_zones(
    rng: np.random.Generator, routes_m: list[np.ndarray], on_roads: bool
) -> list[Polygon]:
    """Water-source protection areas (metres), one per three routes: astride a road, or
    (``on_roads`` false) 1-3 km aside from one and at least 300 m from every road."""
    n_routes = len(routes_m)
    roads = shapely.MultiLineString([LineString(r) for r in routes_m])
    zones = []
    while len(zones) < max(1, n_routes // 3):
        route = routes_m[int(rng.integers(n_routes))]
        centre = route[int(rng.integers(len(route)))]
        radius = rng.uniform(300, 800)
        if not on_roads:
            angle = rng.uniform(0, 2 * math.pi)
            centre = centre + rng.uniform(1000, 3000) * np.array([math.cos(angle), math.sin(angle)])
            if roads.distance(Point(centre)) < radius + 300.0:
                continue
        zones.append(Point(centre).buffer(radius))
    return zones


def make_fleet_day(
    n_points: int = 1_200_000,
    seed: int = 0,
    day: date = date(2024, 5, 20),
    profile: str = "realistic",
) -> FleetDay:
    """``n_points`` fixes less those cut out by signal gaps: enough trucks for 14 h at one
    fix per 10 s, 20 trucks a route; ``profile`` one of PROFILES (module docstring)."""
    p = _PROFILES[profile]
    rng = np.random.default_rng(seed)
    n_trucks = max(1, math.ceil(n_points / FIXES_PER_TRUCK))
    n_routes = max(1, math.ceil(n_trucks / TRUCKS_PER_ROUTE))
    routes_m = [_route(rng) for _ in range(n_routes)]
    day_start = (
        datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        + (DAY_START_LOCAL_H - 8.0) * 3600.0
    )

    columns: dict[str, list[np.ndarray]] = {
        key: [] for key in ("vehicle", "t", "x", "y", "speed_kmh", "heading", "load")
    }
    vehicle_route = {}
    violations = {}
    remaining = n_points
    for k in range(n_trucks):
        n_fixes = min(FIXES_PER_TRUCK, remaining) if k < n_trucks - 1 else max(remaining, 1)
        remaining -= n_fixes
        r = k % n_routes
        plate = _plate(k + 1)
        vehicle_route[plate] = r
        violation = None
        if p.p_violation and rng.random() < p.p_violation:  # no draw: flag_heavy as before
            violation = violations[plate] = VIOLATIONS[int(rng.integers(len(VIOLATIONS)))]
        fixes = _truck_fixes(
            rng, routes_m[r], n_fixes, day_start + rng.uniform(0, 3600), p, violation
        )
        if rng.random() < p.p_signal_gap and n_fixes > 200:  # a 6-10 min signal gap
            lo = int(rng.integers(50, n_fixes - 100))
            keep = np.ones(n_fixes, bool)
            keep[lo : lo + int(rng.integers(36, 60))] = False
            fixes = {key: value[keep] for key, value in fixes.items()}
        for key, value in fixes.items():
            columns[key].append(value)
        columns["vehicle"].append(np.full(fixes["t"].size, plate, dtype=object))

    flat = {key: np.concatenate(parts) for key, parts in columns.items()}
    lon, lat = to_lonlat(flat["x"], flat["y"])
    points = pl.DataFrame(
        {
            "vehicle": flat["vehicle"].astype(str),
            "ts": (flat["t"] * 1e6).round().astype("int64"),
            "lon": lon,
            "lat": lat,
            "speed_kmh": flat["speed_kmh"],
            "heading": flat["heading"],
            "status": (flat["load"].astype(np.int64) << 8) | STATUS_ACC_ON_POSITIONED,
            "alarm": np.zeros(lon.size, np.int64),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    points = points.cast(POINTS_SCHEMA).sort("vehicle", "ts")

    restricted = [_lonlat_geom(z) for z in _restricted_zones(rng, routes_m, p.restricted_on_roads)]
    return FleetDay(
        points=points,
        routes=[_lonlat_geom(LineString(r)) for r in routes_m],
        sites=[_lonlat_geom(Point(r[0]).buffer(SITE_RADIUS_M)) for r in routes_m],
        facilities=[_lonlat_geom(Point(r[-1]).buffer(FACILITY_RADIUS_M)) for r in routes_m],
        restricted=restricted,
        vehicle_route=vehicle_route,
        allowed_hours_local=p.allowed_hours_local,
        violations=violations,
    )
