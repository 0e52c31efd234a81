"""Trajectory-engine benchmark: points per second per stage on a synthetic fleet-day, and
side-by-side ratios against trackintel (stay points) and shapely 2 (corridor check).

Run: ``.venv/bin/python benchmarks/bench_engine.py [--points N | --quick]``. Everything
runs on one thread, so every rate is per core. Numba kernels are compiled (or loaded from
cache) on a small slice before any timing. Each stage is timed ``--repeat`` times and the
fastest run is reported. The last line printed is one JSON object with every figure; see
benchmarks/README.md.
"""

from __future__ import annotations

import os

# One thread everywhere, before numpy, numba and polars start their pools.
for _var in (
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from time import perf_counter  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import shapely  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import FleetDay, make_fleet_day  # noqa: E402

from cdw.config import Thresholds  # noqa: E402
from cdw.geo.index import PolygonSet, SegmentIndex  # noqa: E402
from cdw.geo.projection import Projector  # noqa: E402
from cdw.tracking import _kernels as K  # noqa: E402
from cdw.tracking.points import conform  # noqa: E402

TH = Thresholds()
RADIUS_M = TH.stop_radius_m
STAY_MIN_S = TH.dumping_stop_min_duration_s  # the shortest stay any check looks for
MAX_GAP_S = TH.trip_split_gap_s
CORRIDOR_M = TH.corridor_half_width_m
BUFFER_QUAD_SEGS = 64  # shapely's buffer is a polygon: 64 segments a quarter circle
EDGE_TOLERANCE_M = 0.01  # buffer chord error at 50 m and 64 quad segments is under 4 mm
STAY_TARGET = 1000.0
CORRIDOR_TARGET = 10.0
PIPELINE_TARGET = 2_000_000.0


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Fastest of ``repeat`` runs (seconds) and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = perf_counter()
        result = fn()
        best = min(best, perf_counter() - start)
    return best, result


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


class Report:
    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}

    def stage(self, name: str, n: int, seconds: float) -> None:
        self.stages[name] = {
            "points": n,
            "seconds": round(seconds, 6),
            "points_per_s": round(rate(n, seconds)),
        }
        print(
            f"  {name:<28} {n:>10,d} pts {seconds * 1e3:>10.2f} ms {rate(n, seconds) / 1e6:>10.2f} M pts/s"
        )


def group_starts(vehicles: pl.Series) -> np.ndarray:
    return np.flatnonzero(vehicles.ne_missing(vehicles.shift(1)).fill_null(True).to_numpy())


def warm_up(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> float:
    """Compile (or load from cache) every kernel the benchmark times, on a small slice."""
    start = perf_counter()
    sl = slice(0, min(2000, x.size))
    K.step_metrics(x[sl], y[sl], t[sl])
    K.stay_points_by_group(
        x[sl], y[sl], t[sl], np.zeros(1, np.int64), RADIUS_M, STAY_MIN_S, MAX_GAP_S, True
    )
    line = shapely.LineString([(x[0], y[0]), (x[0] + 100.0, y[0])])
    index = SegmentIndex([line])
    index.distance(x[sl], y[sl], CORRIDOR_M)
    index.within(x[sl], y[sl], CORRIDOR_M)
    PolygonSet([line.buffer(10.0)]).locate(x[sl], y[sl])
    return perf_counter() - start


# --- side by side: stay points vs trackintel ------------------------------------------------


def trackintel_stays(
    vehicles: np.ndarray, ts: Any, lon: np.ndarray, lat: np.ndarray
) -> tuple[float, set[tuple[int, int]]]:
    """trackintel's sliding stays as (first, last) fix index, and its run time (s)."""
    import geopandas as gpd
    import trackintel as ti

    frame = gpd.GeoDataFrame(
        {"user_id": vehicles, "tracked_at": ts},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    pfs = ti.Positionfixes(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = perf_counter()
        pfs_out, _ = pfs.generate_staypoints(
            method="sliding",
            dist_threshold=RADIUS_M,
            time_threshold=STAY_MIN_S / 60.0,
            gap_threshold=MAX_GAP_S / 60.0,
            include_last=True,
            exclude_duplicate_pfs=False,
        )
        seconds = perf_counter() - start
    sp_id = pfs_out["staypoint_id"].to_numpy(dtype=float, na_value=np.nan)
    member = np.flatnonzero(~np.isnan(sp_id))
    if not member.size:
        return seconds, set()
    cut = np.flatnonzero(np.diff(sp_id[member])) + 1
    return seconds, {(int(g[0]), int(g[-1])) for g in np.split(member, cut)}


def trackintel_side_by_side(
    points: pl.DataFrame, x: np.ndarray, y: np.ndarray, t: np.ndarray, max_points: int, repeat: int
) -> dict[str, Any]:
    """Whole vehicles up to ``max_points`` fixes: trackintel's sliding stays vs ours.

    trackintel runs twice: on the real lon/lat (its haversine then differs from our planar
    metres by up to 0.5 %, which parts the two where a distance is that close to the
    radius), and on the projected metres laid onto the sphere near the equator
    (``x / R``, ``y / R`` radians, R = 6371 km), where haversine equals planar distance to
    within 1e-5: there the stays must be the same.
    """
    try:
        import trackintel  # noqa: F401
    except ImportError as exc:
        return {"status": f"skipped: {exc}"}
    starts = group_starts(points["vehicle"])
    bounds = np.append(starts, points.height)
    n_vehicles = max(1, int(np.searchsorted(bounds, max_points, side="right")) - 1)
    n = int(bounds[n_vehicles])
    sub = points.slice(0, n)
    vehicles, ts = sub["vehicle"].to_numpy(), sub["ts"].to_pandas()
    ti_seconds, ti_stays = trackintel_stays(
        vehicles, ts, sub["lon"].to_numpy(), sub["lat"].to_numpy()
    )
    earth_r = 6_371_000.0
    x0, y0 = x[:n].mean(), y[:n].mean()
    _, ti_planar_stays = trackintel_stays(
        vehicles, ts, np.degrees((x[:n] - x0) / earth_r), np.degrees((y[:n] - y0) / earth_r)
    )

    sub_starts = starts[:n_vehicles]
    ours_seconds, (s, e) = best_time(
        lambda: K.stay_points_by_group(
            x[:n], y[:n], t[:n], sub_starts, RADIUS_M, STAY_MIN_S, MAX_GAP_S, True
        ),
        max(repeat, 20),
    )
    our_stays = {(int(a), int(b)) for a, b in zip(s, e, strict=True)}
    matched = len(our_stays & ti_stays)
    lon, lat = sub["lon"].to_numpy(), sub["lat"].to_numpy()
    differing = {
        int(np.searchsorted(sub_starts, a, side="right")) - 1 for a, _ in our_stays ^ ti_stays
    }
    borderline = metric_disagreements(lon, lat, x[:n], y[:n], t[:n], sub_starts)
    ti_rate, our_rate = rate(n, ti_seconds), rate(n, ours_seconds)
    return {
        "points": n,
        "vehicles": n_vehicles,
        "params": {
            "radius_m": RADIUS_M,
            "min_duration_s": STAY_MIN_S,
            "max_gap_s": MAX_GAP_S,
            "include_last": True,
        },
        "trackintel_seconds": round(ti_seconds, 4),
        "trackintel_points_per_s": round(ti_rate),
        "cdw_seconds": round(ours_seconds, 6),
        "cdw_points_per_s": round(our_rate),
        "stays_trackintel": len(ti_stays),
        "stays_cdw": len(our_stays),
        "stays_matched": matched,
        "same_stays": our_stays == ti_stays,
        "same_stays_on_equal_metric": our_stays == ti_planar_stays,
        # Where planar UTM metres and trackintel's haversine fall on opposite sides of the
        # radius, the two must part; every differing stay should lie on such a vehicle.
        "metric_borderline_decisions": borderline,
        "differences_explained_by_metric": differing <= {b["vehicle"] for b in borderline},
        "speedup": round(our_rate / ti_rate, 1),
        "target_speedup": STAY_TARGET,
    }


def metric_disagreements(
    lon: np.ndarray,
    lat: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    starts: np.ndarray,
) -> list[dict[str, Any]]:
    """First fix of each vehicle where the sliding rule's leave-the-anchor decision
    differs between planar metres and trackintel's haversine metres."""
    from trackintel.geogr import point_haversine_dist

    found = []
    bounds = [*starts.tolist(), x.size]
    for vehicle in range(len(starts)):
        anchor = bounds[vehicle]
        for i in range(bounds[vehicle] + 1, bounds[vehicle + 1]):
            if t[i] - t[i - 1] > MAX_GAP_S:
                anchor = i
                continue
            planar = float(np.hypot(x[i] - x[anchor], y[i] - y[anchor]))
            sphere = point_haversine_dist(lon[anchor], lat[anchor], lon[i], lat[i], float_flag=True)
            if (planar >= RADIUS_M) != (sphere >= RADIUS_M):
                found.append(
                    {
                        "vehicle": vehicle,
                        "fix": i,
                        "planar_m": round(planar, 3),
                        "haversine_m": round(sphere, 3),
                    }
                )
                break
            if planar >= RADIUS_M:
                anchor = i
    return found


# --- side by side: corridor vs shapely ---------------------------------------------------------


def corridor_side_by_side(
    route_points: list[tuple[np.ndarray, np.ndarray]],
    routes_m: list[shapely.LineString],
    indexes: list[SegmentIndex],
    repeat: int,
) -> dict[str, Any]:
    start = perf_counter()
    buffers = [shapely.buffer(r, CORRIDOR_M, quad_segs=BUFFER_QUAD_SEGS) for r in routes_m]
    for b in buffers:
        shapely.prepare(b)
    prepare_s = perf_counter() - start
    n = sum(px.size for px, _ in route_points)

    def shapely_all() -> list[np.ndarray]:
        return [
            shapely.contains_xy(b, px, py)
            for b, (px, py) in zip(buffers, route_points, strict=True)
        ]

    def ours_all() -> list[np.ndarray]:
        return [
            i.within(px, py, CORRIDOR_M) for i, (px, py) in zip(indexes, route_points, strict=True)
        ]

    shapely_s, shapely_inside = best_time(shapely_all, repeat)
    ours_s, ours_inside = best_time(ours_all, repeat)
    agree = 0
    disagree_offsets = []
    inside = 0
    for (px, py), index, a, b in zip(
        route_points, indexes, ours_inside, shapely_inside, strict=True
    ):
        agree += int((a == b).sum())
        inside += int(a.sum())
        off = a != b
        if off.any():
            exact, _ = index.distance(px[off], py[off])
            disagree_offsets.append(np.abs(exact - CORRIDOR_M))
    offsets = np.concatenate(disagree_offsets) if disagree_offsets else np.zeros(0)
    shapely_rate, our_rate = rate(n, shapely_s), rate(n, ours_s)
    return {
        "points": n,
        "routes": len(routes_m),
        "half_width_m": CORRIDOR_M,
        "share_inside": round(inside / n, 4) if n else None,
        "shapely_prepare_s": round(prepare_s, 4),
        "shapely_seconds": round(shapely_s, 4),
        "shapely_points_per_s": round(shapely_rate),
        "cdw_seconds": round(ours_s, 4),
        "cdw_points_per_s": round(our_rate),
        "agreement": agree / n if n else None,
        "disagreements": int(offsets.size),
        "disagreements_max_edge_offset_m": float(offsets.max()) if offsets.size else 0.0,
        "all_disagreements_within_edge_tolerance": bool((offsets <= EDGE_TOLERANCE_M).all()),
        "speedup": round(our_rate / shapely_rate, 1),
        "target_speedup": CORRIDOR_TARGET,
    }


# --- end to end ------------------------------------------------------------------------------


def build_context(fleet: FleetDay, projector: Projector) -> Any:
    """The AnalysisContext of the fleet: sites, facilities, restricted zones, one permit a route."""
    from cdw.tracking.context import AnalysisContext, PermitRule, Zone

    day = fleet.points["ts"].dt.convert_time_zone("Asia/Shanghai").dt.date().max()
    vehicles_of: dict[int, set[str]] = {}
    for plate, r in fleet.vehicle_route.items():
        vehicles_of.setdefault(r, set()).add(plate)

    def zones(geoms: list, kind: str, first_id: int) -> list[Zone]:
        return [
            Zone(id=first_id + i, name=f"{kind}-{i}", geometry=projector.geom_forward(g), kind=kind)
            for i, g in enumerate(geoms)
        ]

    sites = zones(fleet.sites, "site", 1)
    facilities = zones(fleet.facilities, "facility", 1001)
    permits = [
        PermitRule(
            permit_no=f"BENCH-{r:04d}",
            site_id=sites[r].id,
            facility_id=facilities[r].id,
            vehicles=frozenset(vehicles_of.get(r, ())),
            valid_from=day,
            valid_to=day,
            allowed_hours=(
                fleet.allowed_hours_local[0] * 3600.0,
                fleet.allowed_hours_local[1] * 3600.0,
            ),
            routes=(projector.geom_forward(route),),
            thresholds=TH,
        )
        for r, route in enumerate(fleet.routes)
    ]
    return AnalysisContext(
        projector=projector,
        thresholds=TH,
        sites=sites,
        facilities=facilities,
        restricted=zones(fleet.restricted, "restricted", 2001),
        permits=permits,
    )


def build_roads(fleet: FleetDay, projector: Projector, route_kmh: float) -> Any:
    """A road network for the fleet: each route a two-way road posted ``route_kmh``, and at
    every fourth vertex a 400 m cross street either side posted 30 km/h."""
    from cdw.roads.network import RoadNetwork
    from cdw.roads.services import Roads

    xs, ys, u, v, speed, cls = [], [], [], [], [], []

    def road(points: np.ndarray, kmh: float, highway: str) -> None:
        first = len(xs)
        xs.extend(points[:, 0].tolist())
        ys.extend(points[:, 1].tolist())
        ids = np.arange(first, first + len(points))
        for a, b in zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True):
            u.extend((a, b))
            v.extend((b, a))
            speed.extend((kmh, kmh))
            cls.extend((highway, highway))

    for route in fleet.routes:
        xy = shapely.get_coordinates(projector.geom_forward(route))
        road(xy, route_kmh, "primary")
        for k in range(4, len(xy) - 1, 4):
            dx, dy = xy[k + 1] - xy[k]
            nx, ny = -dy / math.hypot(dx, dy), dx / math.hypot(dx, dy)
            road(
                np.array([xy[k] - (400 * nx, 400 * ny), xy[k], xy[k] + (400 * nx, 400 * ny)]),
                30.0,
                "residential",
            )
    # Route vertices shared with a cross street are one node.
    coords = np.round(np.column_stack((xs, ys)), 3)
    nodes, index = np.unique(coords, axis=0, return_inverse=True)
    index = index.reshape(-1)
    lon, lat = projector.inverse(nodes[:, 0], nodes[:, 1])
    network = RoadNetwork.from_arrays(
        np.arange(len(nodes)),
        lon,
        lat,
        index[np.array(u)],
        index[np.array(v)],
        edge_highway=np.array(cls, dtype=object),
        edge_maxspeed_kmh=np.array(speed),
    )
    return Roads.for_projector(network, projector)


def end_to_end(parquet_path: Path, context: Any) -> tuple[float, Any]:
    """Read the Parquet with polars and run ``cdw.tracking.pipeline.run_pipeline`` on it."""
    from cdw.tracking.pipeline import run_pipeline

    start = perf_counter()
    points = conform(pl.read_parquet(parquet_path))
    result = run_pipeline(points, context)
    return perf_counter() - start, result


def end_to_end_stage(
    fleet: FleetDay,
    projector: Projector,
    parquet_path: Path,
    tmp: Path,
    repeat: int,
    route_kmh: float | None = None,
) -> dict[str, Any]:
    """End to end; with ``route_kmh``, against ``build_roads``'s network as well."""
    try:
        context = build_context(fleet, projector)
        if route_kmh is not None:
            context.roads = build_roads(fleet, projector, route_kmh)
        small = tmp / "warmup.parquet"
        fleet.points.head(min(20_000, fleet.points.height)).write_parquet(small)
        end_to_end(small, context)  # compile the pipeline's kernels, warm polars
    except ImportError as exc:
        return {"status": f"pending: cdw.tracking.pipeline not importable ({exc})"}
    best = float("inf")
    result = None
    for _ in range(repeat):
        seconds, result = end_to_end(parquet_path, context)
        best = min(best, seconds)
    n = fleet.points.height
    flags: dict[str, int] = {}
    for f in result.flags:
        flags[str(f.code)] = flags.get(str(f.code), 0) + 1
    return {
        "status": "ok",
        "points": n,
        "seconds": round(best, 4),
        "points_per_s": round(rate(n, best)),
        "target_points_per_s": PIPELINE_TARGET,
        "points_kept": result.points_kept,
        "trips": len(result.trips),
        "flags": dict(sorted(flags.items())),
        "stage_seconds": {k: round(v, 4) for k, v in result.timings.items()},
    }


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--points", type=int, default=1_200_000, help="fleet-day size (default 1.2 M)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="about 100k points, smaller side-by-sides"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage; the fastest counts")
    parser.add_argument(
        "--trackintel-points",
        type=int,
        default=None,
        help="subset for trackintel (default 30k, quick 10k)",
    )
    args = parser.parse_args(argv)
    n_points = 100_000 if args.quick else args.points
    ti_points = args.trackintel_points or (10_000 if args.quick else 30_000)

    print(
        f"cdw engine benchmark: {n_points:,d} points, 1 thread, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    start = perf_counter()
    fleet = make_fleet_day(n_points, seed=args.seed, profile="realistic")
    generate_s = perf_counter() - start
    report = Report()
    with tempfile.TemporaryDirectory(prefix="cdw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        parquet_path = tmp / "fleet_day.parquet"
        fleet.points.write_parquet(parquet_path)
        size_mb = parquet_path.stat().st_size / 1e6
        n = fleet.points.height
        print(
            f"  fleet: {n:,d} points, {fleet.points['vehicle'].n_unique()} trucks, {len(fleet.routes)} routes, Parquet {size_mb:.1f} MB, generated in {generate_s:.1f} s"
        )

        read_s, points = best_time(lambda: conform(pl.read_parquet(parquet_path)), args.repeat)
        lon = points["lon"].to_numpy()
        lat = points["lat"].to_numpy()
        t = points["ts"].dt.epoch("us").to_numpy().astype(np.float64) / 1e6
        starts = group_starts(points["vehicle"])

        projector = Projector.for_points(lon, lat)
        x, y = projector.forward(lon, lat)
        warmup_s = warm_up(x, y, t)
        routes_m = [projector.geom_forward(r) for r in fleet.routes]
        start = perf_counter()
        indexes = [SegmentIndex([r]) for r in routes_m]
        fences = PolygonSet(
            [
                projector.geom_forward(g)
                for g in (*fleet.sites, *fleet.facilities, *fleet.restricted)
            ]
        )
        for index in indexes:  # the grids of the corridor width, built on first use
            index.within(x[:1], y[:1], CORRIDOR_M)
        index_build_s = perf_counter() - start

        print("  stage                              points         time         rate")
        report.stage("read_parquet", n, read_s)
        project_s, _ = best_time(
            lambda: Projector.for_points(lon, lat).forward(lon, lat), args.repeat
        )
        report.stage("projection", n, project_s)
        steps_s, _ = best_time(lambda: K.step_metrics(x, y, t), args.repeat)
        report.stage("step_metrics", n, steps_s)
        stays_s, (stay_s, _) = best_time(
            lambda: K.stay_points_by_group(x, y, t, starts, RADIUS_M, STAY_MIN_S, MAX_GAP_S, True),
            args.repeat,
        )
        report.stage("stay_points", n, stays_s)

        # Each truck's fixes against its own permit's route.
        route_of = np.repeat(
            np.array([fleet.vehicle_route[v] for v in points["vehicle"].gather(starts).to_list()]),
            np.diff(np.append(starts, n)),
        )
        route_points = [
            (np.ascontiguousarray(x[route_of == r]), np.ascontiguousarray(y[route_of == r]))
            for r in range(len(routes_m))
        ]
        corridor_s, _ = best_time(
            lambda: [
                i.distance(px, py, CORRIDOR_M)
                for i, (px, py) in zip(indexes, route_points, strict=True)
            ],
            args.repeat,
        )
        report.stage("corridor_distance", n, corridor_s)
        within_s, _ = best_time(
            lambda: [
                i.within(px, py, CORRIDOR_M)
                for i, (px, py) in zip(indexes, route_points, strict=True)
            ],
            args.repeat,
        )
        report.stage("corridor_within", n, within_s)
        pip_s, _ = best_time(lambda: fences.locate(x, y), args.repeat)
        report.stage("points_in_polygons", n, pip_s)

        print("  side by side: stay points vs trackintel …")
        stays_vs = trackintel_side_by_side(points, x, y, t, ti_points, args.repeat)
        if "speedup" in stays_vs:
            stays_vs["speedup_vs_cdw_full_set"] = round(
                report.stages["stay_points"]["points_per_s"] / stays_vs["trackintel_points_per_s"],
                1,
            )
        print("  side by side: corridor vs shapely contains_xy …")
        corridor_vs = corridor_side_by_side(route_points, routes_m, indexes, args.repeat)
        print("  end to end: read Parquet → clean → trips → checks …")
        e2e = end_to_end_stage(fleet, projector, parquet_path, tmp, args.repeat)
        print("  end to end with a road network (routes posted 60 km/h, cross streets 30) …")
        e2e_roads = end_to_end_stage(fleet, projector, parquet_path, tmp, args.repeat, 60.0)
        print("  end to end with a road network, routes posted 40 km/h …")
        e2e_roads_40 = end_to_end_stage(fleet, projector, parquet_path, tmp, args.repeat, 40.0)
        print("  end to end on the flag-heavy fleet …")
        heavy = make_fleet_day(n_points, seed=args.seed, profile="flag_heavy")
        heavy_path = tmp / "fleet_day_flag_heavy.parquet"
        heavy.points.write_parquet(heavy_path)
        heavy_projector = Projector.for_points(
            heavy.points["lon"].to_numpy(), heavy.points["lat"].to_numpy()
        )
        e2e_heavy = end_to_end_stage(heavy, heavy_projector, heavy_path, tmp, args.repeat)

    figures = {
        "benchmark": "cdw.bench_engine",
        "points": n,
        "vehicles": int(starts.size),
        "routes": len(fleet.routes),
        "threads": 1,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores_visible": os.cpu_count(),
            "python": platform.python_version(),
        },
        "fleet_generation_s": round(generate_s, 3),
        "parquet_mb": round(size_mb, 2),
        "numba_warmup_s": round(warmup_s, 3),
        "index_build_s": round(index_build_s, 4),
        "stays_found": int(stay_s.size),
        "stages": report.stages,
        "stay_points_vs_trackintel": stays_vs,
        "corridor_vs_shapely": corridor_vs,
        "end_to_end": e2e,
        "end_to_end_with_roads": e2e_roads,
        "end_to_end_with_roads_posted_40": e2e_roads_40,
        "end_to_end_flag_heavy": e2e_heavy,
    }
    print()
    print(
        f"stay points vs trackintel: {stays_vs.get('speedup', '-')}x (target {STAY_TARGET:g}x), same stays: {stays_vs.get('same_stays', '-')} ({stays_vs.get('stays_matched', '-')}/{stays_vs.get('stays_trackintel', '-')}; differences explained by planar vs haversine metres at the radius: {stays_vs.get('differences_explained_by_metric', '-')}; same on equal metric: {stays_vs.get('same_stays_on_equal_metric', '-')})"
    )
    print(
        f"corridor vs shapely:       {corridor_vs['speedup']}x (target {CORRIDOR_TARGET:g}x), agreement {corridor_vs['agreement']:.6f}, disagreements within {EDGE_TOLERANCE_M} m of the edge: {corridor_vs['all_disagreements_within_edge_tolerance']}"
    )
    for label, run in (("end to end:", e2e), ("end to end, flag-heavy:", e2e_heavy)):
        if run.get("status") == "ok":
            n_flags = sum(run["flags"].values())
            print(
                f"{label:<26} {run['points_per_s'] / 1e6:.2f} M points/s per core (target {PIPELINE_TARGET / 1e6:g} M), {n_flags} flags"
            )
        else:
            print(f"{label:<26} {run['status']}")
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    main()
