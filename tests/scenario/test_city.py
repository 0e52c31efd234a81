"""The generator at city scale: registry keys unique and valid for the largest fleet it
accepts, whole 24 h days (trucks parked at the depot with the engine off still report), and
track files written a few trucks at a time."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import shapely
from pyproj import Transformer

from cdw.errors import ValidationFailed
from cdw.registry.models import DriverCreate, HaulierCreate, VehicleCreate
from cdw.registry.validators.identifiers import validate_credit_code
from cdw.registry.validators.plates import plate_key
from cdw.scenario import _names as names
from cdw.scenario import generate_scenario
from cdw.scenario.generate import DayBuilder
from cdw.scenario.motion import ACC_ON, LOAD_FULL_BITS, POSITIONED

DAY = date(2026, 11, 20)
TO_XY = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
INTERVAL_S = 30.0


class _RegistryOnly(DayBuilder):
    """A day's registry records without its roads: the places are stand-ins and each truck
    keeps the loads it wants (the road planning draws nothing from the generator)."""

    def _plan_cycles(self, truck, wanted: int) -> int:  # noqa: ANN001 (a Truck)
        return wanted


def _city_registry(trucks: int) -> _RegistryOnly:
    b = _RegistryOnly(trucks, 7, DAY, 10.0, 10.0)
    b.per_haulier = min(max(5, trucks // 40), 80)
    n_hauliers = math.ceil(trucks / b.per_haulier)
    b.sites = [None] * 300
    b.depots = [None] * n_hauliers
    b.permits = [{"vehicles": []} for _ in b.sites]
    b.hauliers = [b._haulier(k) for k in range(n_hauliers)]
    b._vehicles()
    return b


def test_registry_keys_stay_unique_and_valid_for_the_largest_fleet() -> None:
    b = _city_registry(20_000)
    plates = [plate_key(v["plate"]) for v in b.vehicles]
    terminals = [v["terminal_id"] for v in b.vehicles]
    licences = [d["licence_no"].strip().upper() for d in b.drivers]
    credit = [h["credit_code"] for h in b.hauliers]
    for keys in (plates, terminals, licences, credit):
        assert len(set(keys)) == len(keys)
    assert len(licences) == 20_000
    for h in b.hauliers:
        assert validate_credit_code(h["credit_code"]) == h["credit_code"]
        HaulierCreate(**h)
    for v in b.vehicles:
        VehicleCreate(haulier_id=1, **{k: x for k, x in v.items() if k != "haulier_credit_code"})
    for d in b.drivers:
        DriverCreate(haulier_id=1, **{k: x for k, x in d.items() if k != "haulier_credit_code"})
        assert names.id_check_char(d["licence_no"][:17]) == d["licence_no"][17]
        birth = datetime.strptime(d["licence_no"][6:14], "%Y%m%d")
        assert 1968 <= birth.year < 1998


def test_id_numbers_redraw_a_repeat() -> None:
    rng = np.random.default_rng(1)
    first = names.id_number(rng, set())
    again = names.id_number(np.random.default_rng(1), {first})
    assert again != first and names.id_check_char(again[:17]) == again[17]


def _tracks(bundle: Path) -> pl.DataFrame:
    files = sorted(bundle.glob("tracks*.csv"))
    frame = pl.concat([pl.read_csv(f) for f in files])
    t = frame["ts"].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z").dt.epoch("s")
    return frame.with_columns(t=t)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same noiseless day, working hours only and whole (in files of two trucks)."""
    root = tmp_path_factory.mktemp("city")
    args = {"trucks": 5, "seed": 4, "day": DAY, "noise_m": 0.0, "interval_s": INTERVAL_S}
    generate_scenario(root / "working", **args)
    generate_scenario(root / "whole", full_day=True, trucks_per_file=2, **args)
    return root / "working", root / "whole"


def test_track_files_hold_a_few_trucks_each(days: tuple[Path, Path]) -> None:
    _, whole = days
    files = sorted(p.name for p in whole.glob("tracks*.csv"))
    assert files == ["tracks-00001.csv", "tracks-00002.csv", "tracks-00003.csv"]
    per_file = [pl.read_csv(whole / f)["plate"].n_unique() for f in files]
    assert per_file == [2, 2, 1]
    meta = json.loads((whole / "scenario.json").read_text(encoding="utf-8"))
    assert meta["full_day"] is True
    assert [f for f in meta["files"] if f.startswith("tracks")] == files


def test_a_whole_day_is_the_working_day_with_parked_fixes_around_it(
    days: tuple[Path, Path],
) -> None:
    working, whole = days
    for name in ("ground_truth.json", "manifests.csv", "receipts.csv", "vehicles.json"):
        assert (working / name).read_bytes() == (whole / name).read_bytes(), name
    day_fixes, all_fixes = _tracks(working), _tracks(whole)
    m0 = datetime.fromisoformat("2026-11-20T00:00:00+08:00").timestamp()
    depots = {
        d["haulier_credit_code"]: shapely.Polygon(
            np.array(TO_XY.transform(*np.array(d["geofence"]["coordinates"][0]).T)).T
        )
        for d in json.loads((whole / "depots.json").read_text(encoding="utf-8"))
    }
    depot_of = {
        v["plate"]: depots[v["haulier_credit_code"]]
        for v in json.loads((whole / "vehicles.json").read_text(encoding="utf-8"))
    }
    for (plate,), fixes in all_fixes.group_by("plate"):
        t = fixes["t"].to_numpy()
        assert np.all(np.diff(t) > 0)
        assert t[0] - m0 <= 1.2 * INTERVAL_S and m0 + 86400 - t[-1] <= 1.2 * INTERVAL_S
        worked = day_fixes.filter(pl.col("plate") == plate)
        lo, hi = worked["t"].min(), worked["t"].max()
        inside = fixes.filter((pl.col("t") >= lo) & (pl.col("t") <= hi))
        assert inside.equals(worked)
        # parked, a fix every interval ± 20 % (rounded to the second), up to the working day
        parked_step = (t[:-1] < lo) | (t[1:] > hi)
        assert np.all(np.diff(t)[parked_step] <= 1.2 * INTERVAL_S + 1)
        parked = fixes.filter((pl.col("t") < lo) | (pl.col("t") > hi))
        status = parked["status"].to_numpy()
        assert np.all(status == POSITIONED) and not np.any(status & (ACC_ON | LOAD_FULL_BITS))
        assert (parked["speed_kmh"] == 0).all() and (parked["alarm"] == 0).all()
        x, y = TO_XY.transform(parked["lon"].to_numpy(), parked["lat"].to_numpy())
        assert shapely.contains_xy(depot_of[plate], x, y).all()


def test_trucks_per_file_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as err:
        generate_scenario(tmp_path / "x", trucks=5, seed=1, day=DAY, trucks_per_file=0)
    assert [p.field for p in err.value.problems] == ["trucks_per_file"]
    assert not (tmp_path / "x").exists()
