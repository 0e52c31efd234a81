"""The web console's own routes: map settings, each vehicle's last position of a day, and a
track replay with its stops and gaps, scoped like every track read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlmodel import Session

from cdw.api.routes.console import stops_and_gaps
from cdw.auth.models import Role
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flows.models import AnalysedDay
from cdw.web import ConsoleSettings, get_console_settings
from tests.api.test_tracks_api import _upload, store, two_hauliers  # noqa: F401 (fixtures)

DAY = "2026-11-20"
# 粤A12345 (haulier a): drives, stands 4 min, loses its signal 6 min, drives on (loaded).
# 粤B67890 (haulier b): two fixes, empty, with an open flag.
LOADED = 3 << 8
ROWS = [
    ("粤A12345", "08:00:00", 113.5800, 23.5500, 30, 0),
    ("粤A12345", "08:00:30", 113.5830, 23.5500, 30, 0),
    ("粤A12345", "08:01:00", 113.5860, 23.5500, 0, 0),
    ("粤A12345", "08:03:00", 113.5860, 23.5501, 0, 0),
    ("粤A12345", "08:05:00", 113.5861, 23.5500, 0, 0),
    ("粤A12345", "08:11:00", 113.6200, 23.5500, 40, LOADED),
    ("粤A12345", "08:11:30", 113.6230, 23.5500, 40, LOADED),
    ("粤B67890", "08:10:00", 113.4000, 23.5000, 20, 0),
    ("粤B67890", "08:10:30", 113.4030, 23.5000, 20, 0),
    ("粤C13579", "07:00:00", 113.3000, 23.4000, 0, 0),  # in no registry, silent since 07:00
]
CSV = "plate,ts,lon,lat,speed_kmh,status\n" + "".join(
    f"{p},{DAY}T{t}+08:00,{x:.6f},{y:.6f},{s},{st}\n" for p, t, x, y, s, st in ROWS
)
WINDOW = {"start": f"{DAY}T00:00:00+08:00", "end": "2026-11-21T00:00:00+08:00"}


def test_settings_name_the_latest_analysed_day_and_the_labels(client, auth_headers, engine):
    viewer = auth_headers(Role.viewer)
    first = client.get("/api/v1/console/settings", headers=viewer)
    assert first.status_code == 200, first.text
    assert first.json()["latest_day"] is None
    assert first.json()["tile_url"] is None  # no tiles unless configured: cdw's own map
    with Session(engine) as s:
        for day in (date(2026, 11, 19), date(2026, 11, 20)):
            s.add(AnalysedDay(day=day, analysed_at=datetime.now(UTC)))
        s.commit()
    body = client.get("/api/v1/console/settings", headers=viewer).json()
    assert body["latest_day"] == DAY
    codes = {c["value"]: c["zh"] for c in body["flag_codes"]}
    assert codes[str(FlagCode.ROUTE_DEVIATION)] == FlagCode.ROUTE_DEVIATION.zh
    assert "open" in {s["value"] for s in body["review_statuses"]}


def test_last_positions_with_state_and_scope(client, auth_headers, engine, store, two_hauliers):  # noqa: F811
    assert _upload(client, auth_headers(Role.admin), CSV).status_code == 200
    with Session(engine) as s:
        s.add(
            FlagRecord(
                code=FlagCode.SIGNAL_GAP, severity=30, vehicle="粤B67890", day=date(2026, 11, 20),
                start_ts=datetime(2026, 11, 20, 1, tzinfo=UTC),
                end_ts=datetime(2026, 11, 20, 1, 5, tzinfo=UTC), lon=113.4, lat=23.5,
                explanation_zh="信号中断", explanation_en="signal gap",
            )
        )  # fmt: skip
        s.commit()
    officer = auth_headers(Role.enforcement_officer)
    answer = client.get("/api/v1/console/positions", params={"day": DAY}, headers=officer)
    assert answer.status_code == 200, answer.text
    by_plate = {p["plate"]: p for p in answer.json()}
    assert set(by_plate) == {"粤A12345", "粤B67890", "粤C13579"}
    a, b, c = by_plate["粤A12345"], by_plate["粤B67890"], by_plate["粤C13579"]
    assert (c["state"], c["vehicle_id"], c["haulier_id"]) == ("offline", None, None)
    assert (a["lon"], a["state"], a["open_flags"]) == (pytest.approx(113.623), "loaded", 0)
    assert a["ts"] == "2026-11-20T00:11:30Z"
    assert a["haulier_name"] == "甲运输"
    assert (b["state"], b["open_flags"]) == ("flagged", 1)
    # a haulier sees its own vehicle only; a viewer sees no raw positions
    own = auth_headers(Role.haulier, haulier_id=two_hauliers["a"])
    mine = client.get("/api/v1/console/positions", params={"day": DAY}, headers=own).json()
    assert [p["plate"] for p in mine] == ["粤A12345"]
    viewer = auth_headers(Role.viewer)
    assert (
        client.get("/api/v1/console/positions", params={"day": DAY}, headers=viewer).status_code
        == 403
    )
    empty = client.get("/api/v1/console/positions", params={"day": "2026-11-21"}, headers=officer)
    assert empty.json() == []


def test_replay_marks_the_stop_and_the_gap_and_is_scoped(client, auth_headers, store, two_hauliers):  # noqa: F811
    assert _upload(client, auth_headers(Role.admin), CSV).status_code == 200
    officer = auth_headers(Role.enforcement_officer)
    answer = client.get("/api/v1/console/replay/粤A12345", params=WINDOW, headers=officer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["track"]["features"][0]["properties"]["points"] == 7
    (stop,) = body["stops"]
    assert stop["duration_s"] == 240 and stop["start"] == "2026-11-20T00:01:00Z"
    (gap,) = body["gaps"]
    assert gap["duration_s"] == 360 and gap["jump_m"] > 3000
    assert body["flags"] == [] and body["routes"]["features"] == []
    other = auth_headers(Role.haulier, haulier_id=two_hauliers["b"])
    refused = client.get("/api/v1/console/replay/粤A12345", params=WINDOW, headers=other)
    assert refused.status_code == 404
    bad = client.get(
        "/api/v1/console/replay/粤A12345",
        params={**WINDOW, "end": WINDOW["start"]},
        headers=officer,
    )
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "end"


def test_stops_need_their_duration_and_gaps_their_length():
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    times = [t0 + timedelta(seconds=s) for s in (0, 60, 120, 170, 600)]
    lon = np.array([113.0, 113.0001, 113.0, 113.0, 113.05])
    lat = np.full(5, 23.0)
    stops, gaps = stops_and_gaps(times, lon, lat, 50.0, 170.0, 300.0)
    assert [(s.start, s.duration_s) for s in stops] == [(t0, 170.0)]
    assert [(g.start, g.duration_s) for g in gaps] == [(times[3], 430.0)]
    stops, _ = stops_and_gaps(times, lon, lat, 50.0, 171.0, 300.0)
    assert stops == []


def test_the_console_page_is_served_with_its_assets_and_no_tiles_by_default(client):
    page = client.get("/")
    assert page.status_code == 200 and "/web/js/app.js" in page.text
    assert "img-src 'self' data:;" in page.headers["content-security-policy"]
    for asset in ("/web/js/app.js", "/web/js/views/index.js", "/web/vendor/leaflet/leaflet.js",
                  "/web/vendor/leaflet/leaflet.css", "/web/vendor/leaflet/LICENSE"):  # fmt: skip
        assert client.get(asset).status_code == 200, asset
    assert client.get("/docs").status_code == 200  # the API docs stay where they were


def test_a_configured_tile_server_is_the_only_other_image_source(client, monkeypatch):
    monkeypatch.setenv("CDW_CONSOLE_TILE_URL", "https://tiles.example.gov.cn/{z}/{x}/{y}.png")
    get_console_settings.cache_clear()
    try:
        csp = client.get("/").headers["content-security-policy"]
        assert "img-src 'self' data: https://tiles.example.gov.cn;" in csp
        assert "tiles.example" not in client.get("/api/v1/auth/me").headers.get(
            "content-security-policy", ""
        )
    finally:
        monkeypatch.delenv("CDW_CONSOLE_TILE_URL")
        get_console_settings.cache_clear()


def test_a_tile_url_must_be_http():
    with pytest.raises(ValueError, match="tile URL"):
        ConsoleSettings(tile_url="javascript:alert(1)")
    assert ConsoleSettings(tile_url="  ").tile_url is None
