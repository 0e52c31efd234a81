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

from cdw.cli.bundle import bundle_import_command, import_bundle
from cdw.config import Thresholds, get_settings
from cdw.db import make_engine
from cdw.demo import DEFAULT_BUNDLE
from cdw.errors import Conflict, ValidationFailed
from cdw.manifests.importer import load_manifests
from cdw.models import all_models
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


def test_a_refused_track_file_is_named_and_the_others_are_stored_in_order(
    engine: Engine, tmp_path: Path
) -> None:
    """Track files go in one after the other (the next read while this one is stored): a
    file with a bad row is refused with its line, and the files around it are stored."""
    folder = _registry_only(tmp_path / "bundle")
    rows = _lines("tracks.csv")
    header, body = rows[0], rows[1:]
    half = len(body) // 2
    bad = body[half].split(",")
    bad[3] = "not-a-latitude"
    parts = {"1": body[:half], "2": [",".join(bad)], "3": body[half + 1 :]}
    for n, part in parts.items():
        (folder / f"tracks-{n}.csv").write_text("\n".join([header, *part, ""]), encoding="utf-8")
    done: list[str] = []

    result = import_bundle(
        engine, folder, PointStore(tmp_path / "points"), Thresholds(), lambda p: done.append(p.name)
    )

    assert done == ["tracks-1.csv", "tracks-2.csv", "tracks-3.csv"]
    ((refused, error),) = result.track_failures
    assert refused.name == "tracks-2.csv"
    assert {(Path(p.source).name, p.line) for p in error.problems} == {("tracks-2.csv", 2)}
    first, last = result.tracks
    assert first.rejected == last.rejected == 0
    stored = first.new + last.new + sum(first.dropped.values()) + sum(last.dropped.values())
    assert stored == len(body) - 1


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
    assert ("vehicles.json", "plate") in by_file and ("sites.json", "code") in by_file
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


def _write_records(path: Path, records: list[dict]) -> None:
    """A bundle JSON file: one object per line after the opening bracket (line 1)."""
    body = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    path.write_text(f"[\n{body}\n]\n", encoding="utf-8")


def _shared_name() -> tuple[str, list[str]]:
    """A site name two records of the sample share (two phases of one project), and their
    codes in file order."""
    sites = _records("sites.json")
    names = [s["name"] for s in sites]
    name = next((n for n in names if names.count(n) > 1), None)
    if name is None:
        pytest.skip("the sample bundle has no repeated site name")
    return name, [s["code"] for s in sites if s["name"] == name]


def test_two_sites_with_one_name_import_and_permits_refer_by_code(
    engine: Engine, tmp_path: Path
) -> None:
    folder = _registry_only(tmp_path / "bundle")
    name, codes = _shared_name()
    depots = _records("depots.json")
    _write_records(  # depots without codes get generated ones
        folder / "depots.json", [{k: v for k, v in d.items() if k != "code"} for d in depots]
    )
    vehicles = _records("vehicles.json")

    result = import_bundle(engine, folder, PointStore(tmp_path / "points"), Thresholds())

    assert result.registry.registry["sites"] == len(_records("sites.json"))
    with Session(engine) as s:
        both = s.exec(select(ConstructionSite).where(ConstructionSite.name == name)).all()
        site_code = {site.id: site.code for site in s.exec(select(ConstructionSite))}
        stored = {p.permit_no: site_code[p.site_id] for p in s.exec(select(Permit))}
        sensors = dict(s.exec(select(Vehicle.plate, Vehicle.load_sensor)).all())
        stored_depots = s.exec(select(Depot).order_by(Depot.id)).all()
    assert sorted(site.code for site in both) == sorted(codes)
    assert stored == {p["permit_no"]: p["site"] for p in _records("permits.json")}
    assert sensors == {v["plate"]: v.get("load_sensor", True) for v in vehicles}
    assert False in sensors.values() and True in sensors.values()
    assert [d.code for d in stored_depots] == [f"D{d.id:06d}" for d in stored_depots]


def test_an_ambiguous_site_name_in_permits_names_both_codes(engine: Engine, tmp_path: Path):
    folder = _registry_only(tmp_path / "bundle")
    name, codes = _shared_name()
    permits = [{**p, "site": name} if p["site"] in codes else p for p in _records("permits.json")]
    _write_records(folder / "permits.json", permits)
    with pytest.raises(ValidationFailed) as caught:
        import_bundle(engine, folder, PointStore(tmp_path / "points"), Thresholds())
    lines = [i + 2 for i, p in enumerate(permits) if p["site"] == name]
    assert lines
    assert [(Path(p.source).name, p.line, p.field) for p in caught.value.problems] == [
        ("permits.json", line, "site") for line in lines
    ]
    problem = caught.value.problems[0]
    both = ", ".join(codes)
    assert problem.zh == f"排放工地名称「{name}」不唯一：2 个记录同名（编码 {both}），请改用编码"
    assert problem.en == (
        f"construction site name '{name}' is ambiguous: 2 records share it (codes {both}); "
        "refer to one by its code"
    )
    assert set(_counts(engine).values()) == {0}


def test_a_duplicate_code_in_a_bundle_is_named_by_file_line_and_field(
    engine: Engine, tmp_path: Path
):
    folder = _registry_only(tmp_path / "bundle")
    facilities = _records("facilities.json")
    _write_records(
        folder / "facilities.json",
        [{**f, "code": "XN-1"} for f in facilities[:2]] + facilities[2:],
    )
    with pytest.raises(ValidationFailed) as caught:
        import_bundle(engine, folder, PointStore(tmp_path / "points"), Thresholds())
    first = caught.value.problems[0]
    assert (Path(first.source).name, first.line, first.field) == ("facilities.json", 3, "code")
    assert first.en == "code repeats line 2: XN-1"
    assert set(_counts(engine).values()) == {0}


def test_manifests_and_receipts_refer_to_sites_and_facilities_by_code(
    engine: Engine, tmp_path: Path
):
    folder = _registry_only(tmp_path / "bundle")
    name, (first_phase, second_phase) = _shared_name()
    for csv_name in ("manifests.csv", "receipts.csv"):
        shutil.copy(DEFAULT_BUNDLE / csv_name, folder / csv_name)
    import_bundle(engine, folder, PointStore(tmp_path / "points"), Thresholds())
    manifests = _lines("manifests.csv")
    named = [i + 1 for i, row in enumerate(manifests) if f",{first_phase}," in row]
    assert named

    # the shared name is the permit's own site's name: the permit says which phase it is
    (folder / "manifests.csv").write_text(
        "\n".join(row.replace(f",{first_phase},", f",{name},") for row in manifests) + "\n",
        encoding="utf-8",
    )
    with Session(engine) as s:
        assert load_manifests(s, folder)[0] == len(manifests) - 1
        s.rollback()

    # the other phase's code is not the permit's site
    (folder / "manifests.csv").write_text(
        "\n".join(row.replace(f",{first_phase},", f",{second_phase},") for row in manifests) + "\n",
        encoding="utf-8",
    )
    with Session(engine) as s, pytest.raises(ValidationFailed) as caught:
        load_manifests(s, folder)
    assert [(p.line, p.field) for p in caught.value.problems] == [(n, "site") for n in named]
    assert caught.value.problems[0].en.startswith(
        f"'{second_phase}' ({second_phase}) is not {first_phase} "
    )

    shutil.copy(DEFAULT_BUNDLE / "manifests.csv", folder / "manifests.csv")
    # a receipt at a facility other than its manifest's is refused, naming both
    receipts = _lines("receipts.csv")
    first = receipts[1].split(",")
    with Session(engine) as s:
        wrong = next(f for f in s.exec(select(DisposalFacility)) if f.code != first[3])
    first[3] = wrong.code
    bad = [receipts[0], ",".join(first), *receipts[2:]]
    (folder / "receipts.csv").write_text("\n".join(bad) + "\n", encoding="utf-8")
    with Session(engine) as s, pytest.raises(ValidationFailed) as caught:
        load_manifests(s, folder)
    [problem] = caught.value.problems
    assert (Path(problem.source).name, problem.line, problem.field) == (
        "receipts.csv",
        2,
        "facility",
    )
    assert problem.en.startswith(f"'{wrong.code}' ({wrong.code}) is not ")
    assert problem.en.endswith(f"named by manifest {first[1]}")

    shutil.copy(DEFAULT_BUNDLE / "receipts.csv", folder / "receipts.csv")
    with Session(engine) as s:
        loaded = load_manifests(s, folder)
        s.commit()
    assert loaded == (len(manifests) - 1, len(receipts) - 1)


def test_loaded_manifests_carry_their_history_audit_and_permit_use_in_file_order(
    engine: Engine, tmp_path: Path
):
    """The manifests of a load are written together: each still has the ids, history, audit
    entries (issued, then departed, before any receipt's) and permit use that storing them
    one at a time gives, and the audit chain holds."""
    from cdw.audit.log import verify_chain
    from cdw.audit.models import AuditEntry
    from cdw.manifests.models import Manifest, ManifestEvent

    folder = _registry_only(tmp_path / "bundle")
    for csv_name in ("manifests.csv", "receipts.csv"):
        shutil.copy(DEFAULT_BUNDLE / csv_name, folder / csv_name)
    import_bundle(engine, folder, PointStore(tmp_path / "points"), Thresholds())
    rows = _lines("manifests.csv")
    header = rows[0].split(",")
    numbers = [dict(zip(header, r.split(","), strict=True))["manifest_no"] for r in rows[1:]]
    with Session(engine) as s:
        used_before = {p.permit_no: p.used_m3 for p in s.exec(select(Permit))}
        load_manifests(s, folder)
        s.commit()
        manifests = s.exec(select(Manifest).order_by(Manifest.id)).all()
        assert [m.manifest_no for m in manifests] == numbers
        events = s.exec(select(ManifestEvent).order_by(ManifestEvent.id)).all()
        first_two = events[: 2 * len(manifests)]
        assert [(e.manifest_id, e.from_state, e.to_state) for e in first_two] == [
            step
            for m in manifests
            for step in ((m.id, None, "issued"), (m.id, "issued", "departed"))
        ]
        assert [e.at for e in first_two[1::2]] == [m.departed_at for m in manifests]
        entries = s.exec(
            select(AuditEntry).where(AuditEntry.entity == "manifest").order_by(AuditEntry.id)
        ).all()
        assert [(e.entity_id, e.action) for e in entries[: 2 * len(manifests)]] == [
            (str(m.id), action) for m in manifests for action in ("state:issued", "state:departed")
        ]
        assert verify_chain(s) == []
        declared: dict[str, float] = {}
        for m in manifests:
            declared[m.permit_no] = declared.get(m.permit_no, 0.0) + m.declared_volume_m3
        for permit in s.exec(select(Permit)):
            expected = used_before[permit.permit_no] + declared.get(permit.permit_no, 0.0)
            assert permit.used_m3 == pytest.approx(expected, abs=1e-9)
