"""``cdw bundle import``: registry and permits all or nothing, every problem named, then tracks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from cdw.bundle_cli import bundle_import_command, import_bundle
from cdw.config import Thresholds, get_settings
from cdw.db import all_models, make_engine
from cdw.demo import DEFAULT_BUNDLE
from cdw.errors import Conflict, ValidationFailed
from cdw.permits.models import Permit, PermitVehicle
from cdw.registry.models import (
    ConstructionSite,
    Depot,
    DisposalFacility,
    Driver,
    Haulier,
    RestrictedZone,
    Vehicle,
)
from cdw.tracking.store import PointStore

pytestmark = pytest.mark.skipif(
    not DEFAULT_BUNDLE.is_dir(), reason=f"sample bundle missing: {DEFAULT_BUNDLE}"
)
TABLES: tuple[type[SQLModel], ...] = (
    Haulier,
    ConstructionSite,
    DisposalFacility,
    Depot,
    Vehicle,
    Driver,
    RestrictedZone,
    Permit,
    PermitVehicle,
)
REGISTRY_FILES = (
    "hauliers.json",
    "sites.json",
    "facilities.json",
    "depots.json",
    "vehicles.json",
    "drivers.json",
    "zones.json",
    "permits.json",
)


def _lines(name: str) -> list[str]:
    return (DEFAULT_BUNDLE / name).read_text(encoding="utf-8").splitlines()


def _records(name: str) -> list[dict]:
    return json.loads((DEFAULT_BUNDLE / name).read_text(encoding="utf-8"))


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {m.__name__: s.exec(select(func.count()).select_from(m)).one() for m in TABLES}


def _registry_only(folder: Path) -> Path:
    folder.mkdir()
    for name in REGISTRY_FILES:
        shutil.copy(DEFAULT_BUNDLE / name, folder / name)
    return folder


def _replace_line(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")


def test_a_good_bundle_loads_registry_permits_and_tracks(engine: Engine, tmp_path: Path) -> None:
    store = PointStore(tmp_path / "points")
    result = import_bundle(engine, DEFAULT_BUNDLE, store, Thresholds())

    expected = {name.removesuffix(".json"): len(_records(name)) for name in REGISTRY_FILES}
    permits = expected.pop("permits")
    assert result.registry.registry == expected
    assert result.registry.permits == permits
    counts = _counts(engine)
    assert counts["Vehicle"] == expected["vehicles"] and counts["Permit"] == permits
    assert counts["PermitVehicle"] == sum(len(p["vehicles"]) for p in _records("permits.json"))
    assert not result.track_failures
    (tracks,) = result.tracks
    assert tracks.rejected == 0 and tracks.new > 0
    assert tracks.new + sum(tracks.dropped.values()) == len(_lines("tracks.csv")) - 1


def test_bad_vehicle_and_bad_permit_load_nothing_and_are_both_named(
    engine: Engine, tmp_path: Path
) -> None:
    folder = _registry_only(tmp_path / "bundle")
    vehicles, permits = _records("vehicles.json"), _records("permits.json")
    # vehicles.json and permits.json hold "[" on line 1 and one object per line after it
    bad_plate = vehicles[2]["plate"]
    _replace_line(
        folder / "vehicles.json",
        4,
        f'"rated_capacity_m3":{vehicles[2]["rated_capacity_m3"]}',
        '"rated_capacity_m3":-5',
    )
    _replace_line(
        folder / "permits.json", 3, f'"volume_m3":{permits[1]["volume_m3"]}', '"volume_m3":0'
    )

    with pytest.raises(ValidationFailed) as caught:
        import_bundle(engine, folder, PointStore(tmp_path / "points"), Thresholds())

    found = {(Path(p.source).name, p.line, p.field) for p in caught.value.problems}
    # the rejected truck is also unknown to the permits that name it
    cascade = {
        ("permits.json", i + 2, "vehicles")
        for i, p in enumerate(permits)
        if bad_plate in p["vehicles"] and i != 1
    }
    assert (
        found
        == {("vehicles.json", 4, "rated_capacity_m3"), ("permits.json", 3, "volume_m3")} | cascade
    )
    assert all(p.zh and p.en for p in caught.value.problems)
    assert set(_counts(engine).values()) == {0}


def test_reimport_reports_every_duplicate_as_conflict_and_changes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    folder = _registry_only(tmp_path / "bundle")
    store = PointStore(tmp_path / "points")
    import_bundle(engine, folder, store, Thresholds())
    before = _counts(engine)

    with pytest.raises(Conflict) as caught:
        import_bundle(engine, folder, store, Thresholds())

    assert caught.value.http_status == 409
    problems = caught.value.problems
    assert all("already registered" in p.en for p in problems)
    by_file = {(Path(p.source).name, p.field) for p in problems}
    assert ("permits.json", "permit_no") in by_file
    assert ("vehicles.json", "plate") in by_file and ("sites.json", "name") in by_file
    permit_lines = sorted(p.line for p in problems if p.field == "permit_no")
    assert permit_lines == list(range(2, len(_records("permits.json")) + 2))
    assert _counts(engine) == before


def test_cli_imports_into_the_configured_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CDW_DATABASE_URL", url)
    monkeypatch.setenv("CDW_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    engine = make_engine(url)
    all_models().metadata.create_all(engine)
    app = typer.Typer()
    app.command()(bundle_import_command)
    runner = CliRunner()
    try:
        first = runner.invoke(app, [str(_registry_only(tmp_path / "bundle"))])
        again = runner.invoke(app, [str(tmp_path / "bundle")])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert f"permits {len(_records('permits.json'))}" in first.output
    assert _counts(engine)["Vehicle"] == len(_records("vehicles.json"))
    assert again.exit_code == 1
    assert "409" in again.output and "already registered" in again.output
    engine.dispose()
