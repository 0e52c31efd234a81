"""The scenario generator on the real Panyu network: reproducible bytes, every code and near
miss labelled, labels that the tracks bear out, a valid registry, a clean day outside the
labels, real roads and real difficulty (sensorless trucks, repeated site names, fences across
through roads, loaded legs on trunks and motorways)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import shapely
from pyproj import Transformer

from cdw.errors import ValidationFailed
from cdw.registry.models import (
    ConstructionSiteCreate,
    DepotCreate,
    DisposalFacilityCreate,
    DriverCreate,
    HaulierCreate,
    RestrictedZoneCreate,
    VehicleCreate,
)
from cdw.registry.validators.identifiers import validate_credit_code
from cdw.registry.validators.plates import validate_plate
from cdw.roads.network import BUNDLED_NETWORK
from cdw.scenario import ALL_CODES, generate_scenario
from cdw.scenario.bundle import BUNDLE_FILES
from cdw.scenario.world import TRUCK_LIMIT_KMH, World, panyu

DAY = date(2026, 11, 20)
TO_XY = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
LOAD_BITS = 0b11 << 8
# Every code a day labels as a near miss (the rest have no threshold to stay under).
NEAR_MISS_CODES = {
    "ROUTE_DEVIATION",
    "LONG_STOP",
    "SUSPECTED_DUMPING",
    "SPEEDING",
    "OUT_OF_HOURS",
    "SIGNAL_GAP",
    "TAMPER_SUSPECTED",
    "NO_RECEIPT",
    "QUANTITY_DISCREPANCY",
    "OVERLOAD",
    "UNAUTHORISED_VEHICLE",
}


def _gen(path: Path, **kw) -> Path:
    args = {"trucks": 10, "seed": 7, "day": DAY, "noise_m": 10.0, "interval_s": 15.0} | kw
    generate_scenario(path, **args)
    return path


@pytest.fixture(scope="session")
def world() -> World:
    return panyu()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, world: World) -> Path:
    """A day without GPS noise, so geometry can be checked to the metre."""
    return _gen(tmp_path_factory.mktemp("clean"), noise_m=0.0, interval_s=10.0)


def _json(bundle: Path, name: str):
    return json.loads((bundle / name).read_text(encoding="utf-8"))


def _tracks(bundle: Path) -> pl.DataFrame:
    frame = pl.read_csv(bundle / "tracks.csv")
    t = frame["ts"].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z").dt.epoch("s")
    x, y = TO_XY.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    return frame.with_columns(t=t, x=pl.Series(x), y=pl.Series(y))


def _labels(bundle: Path, code: str, *, near: bool = False) -> list[dict]:
    return [
        g
        for g in _json(bundle, "ground_truth.json")
        if g["code"] == code and bool(g.get("near_miss")) == near
    ]


def _span(label: dict) -> tuple[float, float]:
    return (
        datetime.fromisoformat(label["start"]).timestamp(),
        datetime.fromisoformat(label["end"]).timestamp(),
    )


def _windows(bundle: Path, code: str, plate: str) -> list[tuple[float, float]]:
    return [_span(g) for g in _labels(bundle, code) if g["plate"] == plate]


def _inside(t: np.ndarray, windows: list[tuple[float, float]], pad: float = 0.0) -> np.ndarray:
    mask = np.zeros(len(t), bool)
    for lo, hi in windows:
        mask |= (t >= lo - pad) & (t <= hi + pad)
    return mask


def _fences(bundle: Path) -> list[shapely.Polygon]:
    out = []
    for name in ("sites.json", "facilities.json", "depots.json"):
        for item in _json(bundle, name):
            xy = np.array(TO_XY.transform(*np.array(item["geofence"]["coordinates"][0]).T)).T
            out.append(shapely.Polygon(xy))
    return out


def _plate_rows(tracks: pl.DataFrame, label: dict) -> pl.DataFrame:
    lo, hi = _span(label)
    return tracks.filter(
        (pl.col("plate") == label["plate"]) & (pl.col("t") >= lo) & (pl.col("t") <= hi)
    )


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = _gen(tmp_path / "a", trucks=6, seed=3)
    b = _gen(tmp_path / "b", trucks=6, seed=3)
    assert sorted(p.name for p in a.iterdir()) == sorted(BUNDLE_FILES)
    for name in BUNDLE_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_different_seed_gives_different_day(tmp_path: Path) -> None:
    a = _gen(tmp_path / "a", trucks=6, seed=3)
    b = _gen(tmp_path / "b", trucks=6, seed=4)
    assert (a / "tracks.csv").read_bytes() != (b / "tracks.csv").read_bytes()
    assert (a / "sites.json").read_bytes() != (b / "sites.json").read_bytes()


def test_every_code_and_near_miss_is_labelled(clean: Path) -> None:
    truth = _json(clean, "ground_truth.json")
    assert {g["code"] for g in truth if not g.get("near_miss")} == set(ALL_CODES)
    assert {g["code"] for g in truth if g.get("near_miss")} == NEAR_MISS_CODES
    plates = {v["plate"] for v in _json(clean, "vehicles.json")}
    for g in truth:
        assert g["plate"] in plates
        assert g["start"] <= g["end"] and g["start"].endswith("+08:00")
        assert g.get("near_miss", True) is True


def test_summary_counts_match_files(tmp_path: Path) -> None:
    summary = generate_scenario(tmp_path, trucks=5, seed=1, day=DAY, noise_m=5.0, interval_s=30.0)
    assert summary.records["vehicles.json"] == 5
    assert summary.points == pl.read_csv(tmp_path / "tracks.csv").height
    truth = _json(tmp_path, "ground_truth.json")
    assert sum(summary.violations.values()) == sum(not g.get("near_miss") for g in truth)
    assert sum(summary.near_misses.values()) == sum(bool(g.get("near_miss")) for g in truth)


def test_scenario_names_the_network_it_ran_on(clean: Path) -> None:
    meta = _json(clean, "scenario.json")
    assert (clean / meta["road_network"]).resolve() == BUNDLED_NETWORK.resolve()
    assert "roads.geojson" not in meta["files"]


def test_registry_is_valid_and_refers_by_code(clean: Path) -> None:
    hauliers = _json(clean, "hauliers.json")
    credit = {h["credit_code"] for h in hauliers}
    for h in hauliers:
        assert validate_credit_code(h["credit_code"]) == h["credit_code"]
        HaulierCreate(**h)
    vehicles = _json(clean, "vehicles.json")
    assert len({v["plate"] for v in vehicles}) == len(vehicles)
    for v in vehicles:
        assert validate_plate(v["plate"]) == v["plate"]
        assert v["haulier_credit_code"] in credit
        VehicleCreate(haulier_id=1, **{k: x for k, x in v.items() if k != "haulier_credit_code"})
    for d in _json(clean, "drivers.json"):
        DriverCreate(haulier_id=1, **{k: x for k, x in d.items() if k != "haulier_credit_code"})
    for d in _json(clean, "depots.json"):
        DepotCreate(haulier_id=1, **{k: x for k, x in d.items() if k != "haulier_credit_code"})
    sites = _json(clean, "sites.json")
    for s in sites:
        ConstructionSiteCreate(**s)
    facilities = _json(clean, "facilities.json")
    assert {f["kind"] for f in facilities} == {"landfill", "recycling", "temporary", "backfill"}
    for f in facilities:
        DisposalFacilityCreate(**f)
    (zone,) = _json(clean, "zones.json")
    assert RestrictedZoneCreate(**zone).kind == "water_source"
    for kind in ("sites", "facilities", "depots"):
        codes = [r["code"] for r in _json(clean, f"{kind}.json")]
        assert len(set(codes)) == len(codes), kind
    site_codes, fac_codes = {s["code"] for s in sites}, {f["code"] for f in facilities}
    for p in _json(clean, "permits.json"):
        assert p["site"] in site_codes and p["facility"] in fac_codes
    manifests = pl.read_csv(clean / "manifests.csv")
    assert set(manifests["site"]) <= site_codes and set(manifests["facility"]) <= fac_codes
    assert set(pl.read_csv(clean / "receipts.csv")["facility"]) <= fac_codes


def test_two_phases_of_a_project_share_a_name(clean: Path) -> None:
    sites = _json(clean, "sites.json")
    by_name: dict[str, list[str]] = {}
    for s in sites:
        by_name.setdefault(s["name"], []).append(s["code"])
    shared = [codes for codes in by_name.values() if len(codes) > 1]
    assert shared and all(len(set(codes)) == len(codes) for codes in shared)


def test_about_half_the_trucks_have_no_load_sensor_and_report_no_load(clean: Path) -> None:
    vehicles = _json(clean, "vehicles.json")
    without = {v["plate"] for v in vehicles if v["load_sensor"] is False}
    assert abs(len(without) - len(vehicles) / 2) <= 1
    tracks = _tracks(clean)
    bits = tracks["status"].to_numpy() & LOAD_BITS
    sensorless = tracks["plate"].is_in(list(without)).to_numpy()
    assert np.all(bits[sensorless] == 0)
    assert np.any(bits[~sensorless] == LOAD_BITS)


def test_fences_lie_beside_real_roads(clean: Path, world: World) -> None:
    """Every fence holds a stretch of real road (its access road, or a through road it is
    drawn across); some fences are drawn across a through road."""
    across = 0
    for fence in _fences(clean):
        roads = world.seg_lines[np.isin(world.segs, world.segments_near(fence))]
        assert roads.size, fence
        crossings = shapely.intersection(shapely.union_all(roads), fence.exterior)
        across += shapely.get_num_geometries(crossings) >= 2
    assert across >= 1


def test_points_are_time_ordered_per_vehicle(clean: Path) -> None:
    tracks = _tracks(clean)
    for _, group in tracks.group_by("plate"):
        assert np.all(np.diff(group["t"].to_numpy()) > 0)


def test_trucks_drive_on_real_roads_below_their_limits(clean: Path, world: World) -> None:
    """Without noise every fix lies on a road of the network (or inside a yard fence), and
    outside the SPEEDING labels the reported speed is under the highest limit of the roads
    it lies on (reported speed carries ±2 km/h of noise) and the truck limit."""
    tracks = _tracks(clean)
    fences = shapely.union_all(_fences(clean)).buffer(1.0)
    points = shapely.points(tracks["x"].to_numpy(), tracks["y"].to_numpy())
    in_yard = shapely.contains(fences, points)
    idx_point, idx_seg = world.seg_index.query(points, predicate="dwithin", distance=1.0)
    on_road = np.zeros(len(points), bool)
    on_road[idx_point] = True
    assert np.all(on_road | in_yard)
    limit_of_seg = np.full(world.segment.max() + 1, 0.0)
    np.maximum.at(limit_of_seg, world.segment, world.limit_kmh)
    best = np.zeros(len(points))
    np.maximum.at(best, idx_point, limit_of_seg[world.segs[idx_seg]])
    speed = tracks["speed_kmh"].to_numpy()
    t = tracks["t"].to_numpy()
    speeding = np.zeros(len(points), bool)
    for g in _labels(clean, "SPEEDING"):
        lo, hi = _span(g)
        speeding |= (tracks["plate"] == g["plate"]).to_numpy() & (t >= lo) & (t <= hi)
    ok = ~speeding & on_road & ~in_yard
    assert np.all(speed[ok] <= np.minimum(best[ok], TRUCK_LIMIT_KMH) + 2.0)
    assert ok.sum() > 10_000


def test_one_way_carriageways_are_driven_their_way(clean: Path, world: World) -> None:
    """Without noise, a moving fix on one carriageway of a divided road (one-way, and no
    other road within 1 m) heads the way the carriageway runs: no drive, a return to the
    site after dumping or a wrong turn among them, goes against the traffic."""
    tracks = _tracks(clean).filter(pl.col("speed_kmh") > 5)
    points = shapely.points(tracks["x"].to_numpy(), tracks["y"].to_numpy())
    idx_point, idx_seg = world.seg_index.query(points, predicate="dwithin", distance=1.0)
    alone = np.bincount(idx_point, minlength=len(points))[idx_point] == 1
    one_way = np.flatnonzero(world.net.edge_oneway & world.drivable)
    arc_of_segment = np.full(world.segment.max() + 1, -1)
    arc_of_segment[world.segment[one_way]] = one_way
    arc = arc_of_segment[world.segs[idx_seg]]
    pick = alone & (arc >= 0)
    arc, fix = arc[pick], idx_point[pick]
    net = world.net
    dx = world.x[net.edge_to[arc]] - world.x[net.edge_from[arc]]
    dy = world.y[net.edge_to[arc]] - world.y[net.edge_from[arc]]
    bearing = np.degrees(np.arctan2(dx, dy))
    heading = tracks["heading"].to_numpy()[fix]
    assert fix.size > 500
    assert (np.cos(np.radians(heading - bearing)) > 0.5).all()


def test_many_loaded_legs_run_on_motorways_trunks_and_primaries(clean: Path, world: World) -> None:
    majors = 0
    permits = _json(clean, "permits.json")
    for p in permits:
        xy = np.array(TO_XY.transform(*np.array(p["routes"]["coordinates"]).T)).T
        mid = shapely.points((xy[1:] + xy[:-1]) / 2)
        _, seg = world.seg_index.query(mid, predicate="dwithin", distance=0.5)
        arcs = np.flatnonzero(np.isin(world.segment, world.segs[seg]))
        on_major = np.isin(world.edge_class[arcs], ["motorway", "trunk", "primary"])
        majors += float(world.net.edge_length_m[arcs][on_major].sum()) / 2 >= 1000
    assert majors >= len(permits) / 2


def test_speeding_labels_are_over_the_limit_and_near_misses_under(
    clean: Path, world: World
) -> None:
    tracks = _tracks(clean)
    for g in _labels(clean, "SPEEDING"):
        rows = _plate_rows(tracks, g)
        posted = float(g["note"].rsplit("posted", 1)[1].split()[0])
        assert rows.height >= 3 and rows["speed_kmh"].min() > posted
    for g in _labels(clean, "SPEEDING", near=True):
        rows = _plate_rows(tracks, g)
        limit = float(g["note"].rsplit("限速", 1)[1])
        assert rows.height >= 3 and rows["speed_kmh"].max() < limit


def test_near_misses_stay_under_their_thresholds(clean: Path) -> None:
    tracks = _tracks(clean)
    for g in _labels(clean, "LONG_STOP", near=True):
        lo, hi = _span(g)
        assert 0.7 * 600 <= hi - lo < 600
    for g in _labels(clean, "SUSPECTED_DUMPING", near=True):
        lo, hi = _span(g)
        assert 0.7 * 180 <= hi - lo < 180
        rows = _plate_rows(tracks, g).filter((pl.col("t") > lo + 1) & (pl.col("t") < hi - 1))
        assert rows.height and rows["speed_kmh"].max() == 0.0  # labels are rounded to 1 s
    for g in _labels(clean, "SIGNAL_GAP", near=True):
        lo, hi = _span(g)
        assert 0.75 * 300 <= hi - lo < 300
    for g in _labels(clean, "TAMPER_SUSPECTED", near=True):
        rows = _plate_rows(tracks, g)
        jump = np.hypot(*np.ptp(rows.select("x", "y").to_numpy()[[0, -1]], axis=0))
        assert rows["t"][-1] - rows["t"][0] >= 300 and jump < 1000
    routes = {}
    for p in _json(clean, "permits.json"):
        xy = np.array(TO_XY.transform(*np.array(p["routes"]["coordinates"]).T)).T
        for plate in p["vehicles"]:
            routes[plate] = shapely.LineString(xy)
    for g in _labels(clean, "ROUTE_DEVIATION", near=True):
        rows = _plate_rows(tracks, g)
        xy = rows.select("x", "y").to_numpy()
        off = shapely.distance(shapely.points(xy), routes[g["plate"]]) > 50
        assert off.any()
        t = rows["t"].to_numpy()
        metres = np.hypot(*np.diff(xy[off], axis=0).T).sum()
        assert t[off][-1] - t[off][0] < 60 and metres < 200
    manifests = {m["plate"]: m for m in pl.read_csv(clean / "manifests.csv").to_dicts()}
    capacity = {v["plate"]: v["rated_capacity_m3"] for v in _json(clean, "vehicles.json")}
    receipts = pl.read_csv(clean / "receipts.csv").join(
        pl.read_csv(clean / "manifests.csv"), on="manifest_no"
    )
    for g in _labels(clean, "OVERLOAD", near=True):
        declared = [
            m["declared_volume_m3"]
            for m in pl.read_csv(clean / "manifests.csv").to_dicts()
            if m["plate"] == g["plate"]
        ]
        assert max(declared) <= capacity[g["plate"]]
        received = receipts.filter(pl.col("plate") == g["plate"])["received_volume_m3"]
        assert received.max() <= capacity[g["plate"]]
    assert manifests
    for g in _labels(clean, "QUANTITY_DISCREPANCY", near=True):
        rows = receipts.filter(pl.col("plate") == g["plate"])
        ratio = rows["received_volume_m3"] / rows["declared_volume_m3"]
        assert ((ratio > 0.9) & (ratio < 0.95)).any()
    for g in _labels(clean, "UNAUTHORISED_VEHICLE", near=True):
        (v,) = [v for v in _json(clean, "vehicles.json") if v["plate"] == g["plate"]]
        assert v["inspection_valid_until"] == DAY.isoformat()


def test_loaded_driving_stays_on_the_permit_route(clean: Path) -> None:
    """Without noise, every loaded fix outside the labelled deviations, wrong destinations
    and the yards lies on its permit route."""
    tracks = _tracks(clean)
    fences = shapely.union_all(_fences(clean))
    routes = {}
    for p in _json(clean, "permits.json"):
        xy = np.array(TO_XY.transform(*np.array(p["routes"]["coordinates"]).T)).T
        for plate in p["vehicles"]:
            routes[plate] = shapely.LineString(xy)
    sensor = {v["plate"] for v in _json(clean, "vehicles.json") if v["load_sensor"]}
    checked = 0
    for (plate,), g in tracks.group_by("plate"):
        if plate not in sensor:
            continue
        loaded = ((g["status"].to_numpy() >> 8) & 3) == 3
        t = g["t"].to_numpy()
        keep = loaded & ~_inside(t, _windows(clean, "ROUTE_DEVIATION", plate), pad=300)
        keep &= ~_inside(t, _windows(clean, "WRONG_DESTINATION", plate), pad=300)
        near = [_span(x) for x in _labels(clean, "ROUTE_DEVIATION", near=True)]
        keep &= ~_inside(t, near, pad=60)
        pts = shapely.points(g["x"].to_numpy()[keep], g["y"].to_numpy()[keep])
        pts = pts[~shapely.contains(fences, pts)]
        d = shapely.distance(pts, routes[plate])
        assert d.size == 0 or d.max() < 1.0, plate
        checked += d.size
    assert checked > 500


def test_long_stops_outside_fences_only_where_labelled(clean: Path) -> None:
    """Every stop of 2.5 min or more outside the yards is a labelled stop or near miss (so
    no signal wait adds to a labelled stop to make an unlabelled longer one)."""
    tracks = _tracks(clean)
    fences = shapely.union_all(_fences(clean))
    stops = [
        _span(g)
        for code in ("LONG_STOP", "SUSPECTED_DUMPING")
        for near in (False, True)
        for g in _labels(clean, code, near=near)
    ]
    checked = 0
    for (plate,), g in tracks.group_by("plate"):
        t, still = g["t"].to_numpy(), g["speed_kmh"].to_numpy() == 0
        x, y = g["x"].to_numpy(), g["y"].to_numpy()
        edges = np.diff(np.r_[0, still.astype(np.int8), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if t[b - 1] - t[a] < 150 or fences.contains(shapely.Point(x[a], y[a])):
                continue
            checked += 1
            assert _inside(np.array([t[a]]), stops, pad=30)[0], (plate, t[a])
    assert checked >= 2


def test_gaps_and_alarms_only_where_labelled(clean: Path) -> None:
    tracks = _tracks(clean)
    for (plate,), g in tracks.group_by("plate"):
        t = g["t"].to_numpy()
        gap_ends = t[1:][np.diff(t) >= 300]
        assert np.all(_inside(gap_ends, _windows(clean, "SIGNAL_GAP", plate))), plate
        alarm = g["alarm"].to_numpy() != 0
        assert np.all(_inside(t[alarm], _windows(clean, "TAMPER_SUSPECTED", plate), pad=60)), plate


def test_loaded_moves_only_in_permitted_hours_unless_labelled(clean: Path) -> None:
    tracks = _tracks(clean)
    for (plate,), g in tracks.group_by("plate"):
        t = g["t"].to_numpy()
        hour = (
            t - datetime(2026, 11, 20, tzinfo=datetime.fromisoformat(g["ts"][0]).tzinfo).timestamp()
        ) / 3600
        moving_loaded = (((g["status"].to_numpy() >> 8) & 3) == 3) & (g["speed_kmh"].to_numpy() > 0)
        outside = moving_loaded & ((hour < 7) | (hour >= 20))
        assert np.all(_inside(t[outside], _windows(clean, "OUT_OF_HOURS", plate))), plate


def test_restricted_zone_entries_are_inside_the_zone(clean: Path) -> None:
    tracks = _tracks(clean)
    (zone,) = _json(clean, "zones.json")
    poly = shapely.Polygon(
        np.array(TO_XY.transform(*np.array(zone["geofence"]["coordinates"][0]).T)).T
    )
    inside = shapely.contains_xy(poly, tracks["x"].to_numpy(), tracks["y"].to_numpy())
    labelled = np.zeros(tracks.height, bool)
    for g in _labels(clean, "RESTRICTED_ZONE"):
        lo, hi = _span(g)
        rows = (tracks["plate"] == g["plate"]).to_numpy() & (tracks["t"].to_numpy() >= lo)
        labelled |= rows & (tracks["t"].to_numpy() <= hi)
    assert inside.any() and np.all(labelled[inside])


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as err:
        generate_scenario(tmp_path / "x", trucks=2, seed=1, day=DAY, noise_m=-1, interval_s=1)
    assert {p.field for p in err.value.problems} == {"trucks", "noise_m", "interval_s"}
    assert not (tmp_path / "x").exists()
