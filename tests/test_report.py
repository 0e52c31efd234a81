"""The HTML report: self-contained, one map per flag, bilingual labels, hotspots by place."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import escape
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cdw.cli.bundle import import_bundle
from cdw.config import Settings
from cdw.db import session_scope
from cdw.demo import DEFAULT_BUNDLE
from cdw.enforcement.hotspots import rank_hotspots
from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.flows.day import analyse_days
from cdw.geo.projection import Projector
from cdw.report import (
    HOTSPOT_RADIUS_M,
    FacilityUse,
    Place,
    Route,
    report_from_database,
    write_report,
)
from cdw.tracking.store import PointStore

LON0, LAT0 = 113.58, 23.55
PROJECTOR = Projector.for_points([LON0], [LAT0])
X0, Y0 = (float(v[0]) for v in PROJECTOR.forward([LON0], [LAT0]))
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _lonlat(dx: float, dy: float) -> tuple[float, float]:
    lon, lat = PROJECTOR.inverse([X0 + dx], [Y0 + dy])
    return float(lon[0]), float(lat[0])


def _flag(code: FlagCode, dx: float, dy: float, minutes: int = 0, **extra) -> Flag:
    lon, lat = _lonlat(dx, dy)
    start = T0 + timedelta(minutes=minutes)
    return Flag(
        code=code,
        severity=50,
        vehicle=extra.pop("vehicle", "粤A12345"),
        trip_id=None,
        start=start,
        end=start + timedelta(minutes=12),
        lon=lon,
        lat=lat,
        geometry={"type": "Point", "coordinates": [lon, lat]},
        measured={"duration_s": 720.0},
        thresholds={"long_stop_min_duration_s": 600.0},
        explanation_zh="停留 12.0 分钟 <测试>",
        explanation_en="Stopped 12.0 min <test>",
        **extra,
    )


def _square(dx: float, dy: float, half: float) -> dict:
    corners = [(-half, -half), (half, -half), (half, half), (-half, half), (-half, -half)]
    return {"type": "Polygon", "coordinates": [[_lonlat(dx + a, dy + b) for a, b in corners]]}


def test_report_hotspots_are_the_enforcement_clusters_of_its_stop_flags() -> None:
    """Stop flags within 200 m of another make one place (cdw.enforcement.hotspots, the one
    implementation), a lone stop is a place of its own, other flags are no stops."""
    flags = [
        _flag(FlagCode.LONG_STOP, 0, 0, 0),
        _flag(FlagCode.SUSPECTED_DUMPING, 150, 0, 30),
        _flag(FlagCode.LONG_STOP, 0, 199, 60),
        _flag(FlagCode.LONG_STOP, 0, 398, 90),  # 202 m from the first, 199 m from the third
        _flag(FlagCode.LONG_STOP, 0, 2000, 100),  # alone
        _flag(FlagCode.SPEEDING, 0, 0, 120),  # not a stop
    ]
    spots = rank_hotspots(flags, HOTSPOT_RADIUS_M, min_events=1)
    assert [s.count for s in spots] == [4, 1]
    assert spots[0].codes == {"LONG_STOP": 3, "SUSPECTED_DUMPING": 1}
    x, y = PROJECTOR.forward([spots[1].lon], [spots[1].lat])
    assert (x[0], y[0]) == (pytest.approx(X0, abs=1e-3), pytest.approx(Y0 + 2000, abs=1e-3))


def test_write_report_draws_track_corridor_fences_and_flag(tmp_path: Path) -> None:
    times = [T0 + timedelta(minutes=m) for m in range(-5, 20)]
    track = [_lonlat(0.0, 0.0) if 0 <= m < 12 else _lonlat(40.0 * m, 0.0) for m in range(-5, 20)]
    points = pl.DataFrame(
        {
            "vehicle": ["粤A12345"] * len(times),
            "ts": times,
            "lon": [p[0] for p in track],
            "lat": [p[1] for p in track],
        }
    )
    route = {"type": "LineString", "coordinates": [_lonlat(-2000, 30), _lonlat(2000, 30)]}
    flag = _flag(FlagCode.LONG_STOP, 0, 0, permit_no="P-1")
    far = _flag(FlagCode.LONG_STOP, 9000, 9000, 40, vehicle="粤B54321")
    out = write_report(
        tmp_path / "r" / "report.html",
        [flag, far],
        points,
        [
            Place("近处消纳场", "facility", _square(300, 0, 50)),
            Place("远处水源保护区", "restricted", _square(20000, 20000, 100)),
        ],
        [Route("P-1", route, 50.0)],
        [FacilityUse("近处消纳场", "消纳场", "landfill", 1000.0, 250.0)],
        trips=7,
        title="测试报告 / test report",
    )
    html = out.read_text(encoding="utf-8")
    maps = re.findall(r'<svg class="flag-map".*?</svg>', html, re.S)
    assert len(maps) == 2 and html.count('<svg class="overview-map"') == 1
    first, second = maps
    assert 'class="corridor"' in first and 'class="route"' in first
    assert 'class="event"' in first and 'class="track"' in first
    assert "近处消纳场" in first and "远处水源保护区" not in first
    assert 'class="corridor"' not in second  # no permit named on that flag
    assert escape("停留 12.0 分钟 <测试>") in html and "<测试>" not in html
    assert "长时间停留 / Long stop" in html and "750 (75%)" in html
    assert "<b>7</b>" in html


@pytest.mark.skipif(not DEFAULT_BUNDLE.is_dir(), reason=f"sample bundle missing: {DEFAULT_BUNDLE}")
def test_report_of_the_sample_day_is_self_contained(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    import_bundle(engine, DEFAULT_BUNDLE, store, settings.thresholds)
    day = date(2026, 11, 20)
    with session_scope(engine) as session:
        analysis = analyse_days(session, store, day, day, settings)
    assert analysis.flags
    with Session(engine) as session:
        out = report_from_database(
            session, store, day, day, tmp_path / "report.html", settings, trips=analysis.trips
        )
    html = out.read_text(encoding="utf-8")
    assert html.count('<svg class="flag-map"') == len(analysis.flags)
    for code in {f.code for f in analysis.flags}:
        assert f"{code.zh} / {code.en}" in html
    for flag in analysis.flags:
        assert escape(flag.explanation_zh) in html
    assert "预警类型 / flags by code" in html and "消纳场容量 / facility capacity" in html
    assert not re.search(r"https?://", html)
    assert not re.search(r"<script|<link|<img|src=", html)
