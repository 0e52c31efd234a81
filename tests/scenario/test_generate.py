"""The scenario generator: reproducible bytes, every code labelled, valid registry, a clean
day outside the labelled violations."""

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
from cdw.registry.validators import validate_credit_code, validate_plate
from cdw.scenario import ALL_CODES, generate_scenario
from cdw.scenario.generate import BUNDLE_FILES

DAY = date(2026, 11, 20)
TO_XY = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)


def _gen(path: Path, **kw) -> Path:
    args = {"trucks": 10, "seed": 7, "day": DAY, "noise_m": 10.0, "interval_s": 15.0} | kw
    generate_scenario(path, **args)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo day without GPS noise, so geometry can be checked to the metre."""
    return _gen(tmp_path_factory.mktemp("clean"), noise_m=0.0)


def _json(bundle: Path, name: str):
    return json.loads((bundle / name).read_text(encoding="utf-8"))


def _tracks(bundle: Path) -> pl.DataFrame:
    frame = pl.read_csv(bundle / "tracks.csv")
    t = frame["ts"].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z").dt.epoch("s")
    x, y = TO_XY.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    return frame.with_columns(t=t, x=pl.Series(x), y=pl.Series(y))


def _windows(bundle: Path, code: str, plate: str) -> list[tuple[float, float]]:
    return [
        (
            datetime.fromisoformat(g["start"]).timestamp(),
            datetime.fromisoformat(g["end"]).timestamp(),
        )
        for g in _json(bundle, "ground_truth.json")
        if g["code"] == code and g["plate"] == plate
    ]


def _inside(t: np.ndarray, windows: list[tuple[float, float]], pad: float = 0.0) -> np.ndarray:
    mask = np.zeros(len(t), bool)
    for lo, hi in windows:
        mask |= (t >= lo - pad) & (t <= hi + pad)
    return mask


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
    assert (a / "vehicles.json").read_bytes() != (b / "vehicles.json").read_bytes()


def test_every_code_is_labelled(clean: Path) -> None:
    truth = _json(clean, "ground_truth.json")
    assert {g["code"] for g in truth} == set(ALL_CODES)
    plates = {v["plate"] for v in _json(clean, "vehicles.json")}
    for g in truth:
        assert g["plate"] in plates
        assert g["start"] <= g["end"] and g["start"].endswith("+08:00")


def test_summary_counts_match_files(tmp_path: Path) -> None:
    summary = generate_scenario(tmp_path, trucks=5, seed=1, day=DAY, noise_m=5.0, interval_s=30.0)
    assert summary.records["vehicles.json"] == 5
    assert summary.points == pl.read_csv(tmp_path / "tracks.csv").height
    truth = _json(tmp_path, "ground_truth.json")
    assert sum(summary.violations.values()) == len(truth)


def test_registry_is_valid(clean: Path) -> None:
    hauliers = _json(clean, "hauliers.json")
    codes = {h["credit_code"] for h in hauliers}
    for h in hauliers:
        assert validate_credit_code(h["credit_code"]) == h["credit_code"]
        HaulierCreate(**h)
    vehicles = _json(clean, "vehicles.json")
    assert len({v["plate"] for v in vehicles}) == len(vehicles)
    assert any(len(v["plate"]) == 8 for v in vehicles) or len(vehicles) < 10
    for v in vehicles:
        assert validate_plate(v["plate"]) == v["plate"]
        assert v["haulier_credit_code"] in codes
        assert v["terminal_id"].isdigit() and len(v["terminal_id"]) in (11, 12)
        VehicleCreate(haulier_id=1, **{k: x for k, x in v.items() if k != "haulier_credit_code"})
    for d in _json(clean, "drivers.json"):
        DriverCreate(haulier_id=1, **{k: x for k, x in d.items() if k != "haulier_credit_code"})
    for d in _json(clean, "depots.json"):
        DepotCreate(haulier_id=1, **{k: x for k, x in d.items() if k != "haulier_credit_code"})
    for s in _json(clean, "sites.json"):
        ConstructionSiteCreate(**s)
    facilities = _json(clean, "facilities.json")
    assert {f["kind"] for f in facilities} == {"landfill", "recycling", "temporary", "backfill"}
    for f in facilities:
        DisposalFacilityCreate(**f)
    (zone,) = _json(clean, "zones.json")
    assert RestrictedZoneCreate(**zone).kind == "water_source"


def test_geofence_sizes(clean: Path) -> None:
    def extent(item: dict) -> tuple[float, float]:
        xs, ys = TO_XY.transform(*np.array(item["geofence"]["coordinates"][0]).T)
        return float(np.ptp(xs)), float(np.ptp(ys))

    for s in _json(clean, "sites.json"):
        assert all(100 <= e <= 300 for e in extent(s))
    for f in _json(clean, "facilities.json"):
        assert all(200 <= e <= 500 for e in extent(f))


def test_points_are_time_ordered_per_vehicle(clean: Path) -> None:
    tracks = _tracks(clean)
    for _, group in tracks.group_by("plate"):
        assert np.all(np.diff(group["t"].to_numpy()) > 0)


def test_loaded_driving_stays_on_the_permit_route(clean: Path) -> None:
    """Without noise, every loaded fix outside a labelled deviation lies on its permit route."""
    tracks = _tracks(clean)
    routes = {}
    for p in _json(clean, "permits.json"):
        xy = np.array(TO_XY.transform(*np.array(p["routes"]["coordinates"]).T)).T
        for plate in p["vehicles"]:
            routes[plate] = shapely.LineString(xy)
    checked = 0
    for (plate,), g in tracks.group_by("plate"):
        loaded = ((g["status"].to_numpy() >> 8) & 3) == 3
        t = g["t"].to_numpy()
        keep = loaded & ~_inside(t, _windows(clean, "ROUTE_DEVIATION", plate), pad=300)
        keep &= ~_inside(t, _windows(clean, "WRONG_DESTINATION", plate), pad=300)
        d = shapely.distance(
            shapely.points(g["x"].to_numpy()[keep], g["y"].to_numpy()[keep]), routes[plate]
        )
        assert d.size == 0 or d.max() < 5.0, plate
        checked += int(keep.sum())
    assert checked > 1000


def test_speeds_and_gaps_clean_outside_labels(clean: Path) -> None:
    tracks = _tracks(clean)
    for (plate,), g in tracks.group_by("plate"):
        t = g["t"].to_numpy()
        fast = g["speed_kmh"].to_numpy() > 60
        assert not np.any(fast & ~_inside(t, _windows(clean, "SPEEDING", plate))), plate
        assert np.all(g["speed_kmh"].to_numpy()[~fast] <= 58.0)
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


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as err:
        generate_scenario(tmp_path / "x", trucks=2, seed=1, day=DAY, noise_m=-1, interval_s=1)
    assert {p.field for p in err.value.problems} == {"trucks", "noise_m", "interval_s"}
    assert not (tmp_path / "x").exists()
