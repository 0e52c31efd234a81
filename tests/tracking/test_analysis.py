"""analyse_days on SQLite and PostgreSQL: flags stored, re-runs replace instead of duplicating."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from shapely.geometry import mapping
from sqlmodel import Session, select
from typer.testing import CliRunner

from cdw.config import Settings
from cdw.errors import ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flows.day import analyse_days
from cdw.tracking.store import PointStore
from tests.factories import add_facility, add_haulier, add_permit, add_site, add_vehicle
from tests.tracking.handbuilt import DAY, PLATE, PROJ, TrackBuilder, box, line, utc

NOW = datetime(2024, 5, 8, tzinfo=UTC)


def lonlat_geojson(geom) -> dict:
    """GeoJSON as an API client sends it (lists, not the tuples of ``mapping``)."""
    return json.loads(json.dumps(mapping(PROJ.geom_inverse(geom))))


def seed_registry(session: Session) -> None:
    """Site and facility on the hand-built track's ends, one truck on one approved permit."""
    site = add_site(
        session,
        name="工地甲",
        project_permit_no="440117202401010001",
        geofence=lonlat_geojson(box(-100, -100, 100, 100)),
    )
    facility = add_facility(
        session,
        name="消纳场乙",
        geofence=lonlat_geojson(box(5000, -100, 5200, 100)),
        accepted_categories=["excavated_soil"],
        opening_hours="00:00-24:00",
    )
    haulier = add_haulier(session, name="运输公司", licence_no="L-1")
    vehicle = add_vehicle(session, haulier, plate=PLATE)
    add_permit(
        session,
        site,
        facility,
        [vehicle],
        permit_no="HZ-2024-001",
        volume_m3=5000,
        valid_from=date(2024, 1, 1),
        valid_to=date(2024, 12, 31),
        routes=lonlat_geojson(line((0, 0), (5100, 0))),
    )


def day_track() -> TrackBuilder:
    """Site → 12-min stop on the route at x=2000 → facility → a 6-minute signal gap."""
    b = TrackBuilder().stay(0, 60, 0, 0)
    b.drive(60, (0, 0), (2000, 0), 10.0, include_start=False)  # arrives t=260
    b.stay(270, 970, 2000, 0)
    b.drive(980, (2100, 0), (5100, 0), 10.0)  # arrives t=1280
    b.stay(1290, 1400, 5100, 0)
    return b.stay(1760, 1800, 5100, 0)


@pytest.fixture
def store(tmp_path) -> PointStore:
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    points.append(day_track().frame())
    return points


def engine_flags(session: Session) -> list[tuple[str, str, datetime, str]]:
    rows = session.exec(select(FlagRecord).order_by(FlagRecord.start_ts, FlagRecord.code)).all()
    return [(str(r.code), r.vehicle, r.to_flag().start, r.status) for r in rows]


EXPECTED = [
    ("LONG_STOP", PLATE, utc(260), "open"),
    ("SUSPECTED_DUMPING", PLATE, utc(260), "open"),
    ("SIGNAL_GAP", PLATE, utc(1400), "open"),
]


def test_analysis_stores_the_flags_and_rerun_replaces_them(session: Session, store: PointStore):
    seed_registry(session)
    first = analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert first.points_read == first.points_kept == len(day_track().rows)
    assert (first.vehicles, first.stored, first.replaced) == (1, 3, 0)
    assert first.counts["LONG_STOP"] == 1 and first.counts["SPEEDING"] == 0
    assert engine_flags(session) == EXPECTED

    record = session.exec(select(FlagRecord).where(FlagRecord.code == FlagCode.LONG_STOP)).one()
    assert record.day == DAY
    assert record.permit_no == "HZ-2024-001"
    assert record.measured["duration_s"] == 720.0
    assert record.to_flag().end == utc(980)

    second = analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert (second.stored, second.replaced) == (3, 3)
    assert engine_flags(session) == EXPECTED


def test_reviewed_flags_survive_reanalysis_and_are_not_duplicated(
    session: Session, store: PointStore
):
    seed_registry(session)
    analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    gap = session.exec(select(FlagRecord).where(FlagRecord.code == FlagCode.SIGNAL_GAP)).one()
    gap.status = "dismissed"
    session.add(gap)
    session.commit()

    again = analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert (again.stored, again.replaced, again.kept_reviewed) == (2, 2, 1)
    assert engine_flags(session) == [*EXPECTED[:2], ("SIGNAL_GAP", PLATE, utc(1400), "dismissed")]


def test_other_days_are_untouched_and_an_empty_day_clears_its_open_flags(
    session: Session, store: PointStore
):
    seed_registry(session)
    analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    next_day = DAY + timedelta(days=1)
    report = analyse_days(session, store, next_day, next_day, Settings(), now=NOW)
    assert (report.points_read, report.stored, report.replaced) == (0, 0, 0)
    assert len(engine_flags(session)) == 3

    # Without its points the day's analysis now finds nothing and clears its open flags.
    empty_store = PointStore(store.root.parent / "empty", timezone="Asia/Shanghai")
    cleared = analyse_days(session, empty_store, DAY, DAY, Settings(), now=NOW)
    assert (cleared.stored, cleared.replaced) == (0, 3)
    assert engine_flags(session) == []


def test_a_backwards_range_is_refused(session: Session, store: PointStore):
    with pytest.raises(ValidationFailed) as err:
        analyse_days(session, store, DAY, DAY - timedelta(days=1), Settings())
    assert err.value.problems[0].field == "to_date"


def test_cli_prints_the_summary_and_writes_json(engine, store, tmp_path, monkeypatch):
    import typer

    from cdw.cli import analyse as analyse_cli

    with Session(engine) as session:
        seed_registry(session)
    monkeypatch.setattr("cdw.db.get_engine", lambda: engine)
    monkeypatch.setattr(
        analyse_cli,
        "get_settings",
        lambda: Settings(data_dir=store.root.parent, database_url=str(engine.url)),
    )
    assert Settings(data_dir=store.root.parent).points_dir == store.root
    app = typer.Typer()
    app.command("analyse")(analyse_cli.analyse_command)
    out = tmp_path / "flags.json"
    result = CliRunner().invoke(app, ["--date", DAY.isoformat(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "长时间停留" in result.output and "Long stop" in result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["counts"]["SIGNAL_GAP"] == 1
    assert [f["code"] for f in written["flags"]] == [c for c, *_ in EXPECTED]

    bad = CliRunner().invoke(app, ["--date", "2024-13-01"])
    assert bad.exit_code == 1
    assert "YYYY-MM-DD" in bad.output


def test_the_analyse_command_sets_polars_allocator_before_polars_loads(monkeypatch):
    """jemalloc reads its setting once, at polars's first allocation: the command's module must
    not import polars, and a setting of the caller's own stays."""
    from cdw.cli import analyse as analyse_cli

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, cdw.cli.analyse; print('polars' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "narenas:1")
    analyse_cli.keep_freed_pages()
    assert os.environ["_RJEM_MALLOC_CONF"] == "narenas:1"
    monkeypatch.delenv("_RJEM_MALLOC_CONF")
    analyse_cli.keep_freed_pages()
    assert os.environ["_RJEM_MALLOC_CONF"] == "dirty_decay_ms:-1,muzzy_decay_ms:-1"
