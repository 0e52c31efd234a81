"""Track upload and read-back, flags list and scoping, through the REST API."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.auth.models import Role
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.registry.models import Haulier, Vehicle
from cdw.tracking.store import PointStore
from tests.factories import flag_record

GOOD_CSV = (
    "plate,ts,lon,lat,speed_kmh\n"
    "粤A12345,2026-11-20T08:00:00+08:00,113.580000,23.550000,30\n"
    "粤A12345,2026-11-20T08:00:10+08:00,113.580800,23.550000,30\n"
    "粤A12345,2026-11-20T08:00:20+08:00,113.581600,23.550000,30\n"
)
BAD_CSV = GOOD_CSV + "粤A12345,2026-11-20T08:00:30+08:00,not-a-number,23.55,30\n"
DAY_START, DAY_END = "2026-11-20T00:00:00+08:00", "2026-11-21T00:00:00+08:00"


@pytest.fixture
def store(tmp_path):
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    app.dependency_overrides[get_store] = lambda: points
    yield points
    app.dependency_overrides.pop(get_store, None)


@pytest.fixture
def two_hauliers(engine) -> dict[str, int]:
    with Session(engine) as s:
        a = Haulier(
            name="甲运输",
            credit_code="91440101MA5CYC4X4K",
            licence_no="A",
            licence_valid_until=date(2030, 1, 1),
        )
        b = Haulier(
            name="乙运输",
            credit_code="91440300MA5FUTNT48",
            licence_no="B",
            licence_valid_until=date(2030, 1, 1),
        )
        s.add_all([a, b])
        s.flush()
        s.add_all(
            [
                Vehicle(
                    plate="粤A12345",
                    haulier_id=a.id,
                    rated_capacity_m3=18,
                    rated_load_t=30,
                    inspection_valid_until=date(2030, 1, 1),
                ),
                Vehicle(
                    plate="粤B67890",
                    haulier_id=b.id,
                    rated_capacity_m3=18,
                    rated_load_t=30,
                    inspection_valid_until=date(2030, 1, 1),
                ),
            ]
        )
        s.commit()
        return {"a": a.id, "b": b.id}


def _upload(client, headers, text, **params):
    files = {"file": ("day.csv", text.encode("utf-8"), "text/csv")}
    return client.post("/api/v1/tracks/upload", files=files, params=params, headers=headers)


def test_upload_then_read_back_as_geojson(client, auth_headers, store, two_hauliers):
    officer = auth_headers(Role.enforcement_officer)
    first = _upload(client, officer, GOOD_CSV)
    assert first.status_code == 200, first.text
    assert (first.json()["new"], first.json()["already_stored"]) == (3, 0)
    again = _upload(client, officer, GOOD_CSV)
    assert (again.json()["new"], again.json()["already_stored"]) == (0, 3)

    resp = client.get(
        "/api/v1/tracks/粤A12345", params={"start": DAY_START, "end": DAY_END}, headers=officer
    )
    assert resp.status_code == 200
    (feature,) = resp.json()["features"]
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][1] == pytest.approx([113.5808, 23.55])
    assert feature["properties"]["points"] == 3
    assert feature["properties"]["times"][0] == "2026-11-20T00:00:00+00:00"


def test_bad_file_is_refused_whole_with_line_and_field(client, auth_headers, store, two_hauliers):
    officer = auth_headers(Role.enforcement_officer)
    resp = _upload(client, officer, BAD_CSV)
    assert resp.status_code == 422
    (problem,) = resp.json()["problems"]
    assert problem["line"] == 5
    assert problem["field"] == "lon"
    assert store.days() == []


def test_skip_invalid_stores_good_rows_and_returns_rejects(
    client, auth_headers, store, two_hauliers
):
    resp = _upload(client, auth_headers(Role.admin), BAD_CSV, skip_invalid="true")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["new"] == 3
    assert [(r["line"], r["field"]) for r in body["rejects"]] == [(5, "lon")]


def test_haulier_reads_only_its_own_vehicles_track(client, auth_headers, store, two_hauliers):
    _upload(client, auth_headers(Role.admin), GOOD_CSV)
    params = {"start": DAY_START, "end": DAY_END}
    own = auth_headers(Role.haulier, haulier_id=two_hauliers["a"])
    other = auth_headers(Role.haulier, haulier_id=two_hauliers["b"])
    assert client.get("/api/v1/tracks/粤A12345", params=params, headers=own).status_code == 200
    assert client.get("/api/v1/tracks/粤A12345", params=params, headers=other).status_code == 404


def test_invalid_plate_and_range_are_422(client, auth_headers, store):
    officer = auth_headers(Role.enforcement_officer)
    bad_plate = client.get(
        "/api/v1/tracks/粤I12345", params={"start": DAY_START, "end": DAY_END}, headers=officer
    )
    assert bad_plate.status_code == 422
    reversed_range = client.get(
        "/api/v1/tracks/粤A12345", params={"start": DAY_END, "end": DAY_START}, headers=officer
    )
    assert reversed_range.status_code == 422
    assert reversed_range.json()["problems"][0]["field"] == "end"


def _flag(vehicle: str, code: FlagCode, severity: int, minute: int) -> FlagRecord:
    return flag_record(
        vehicle, datetime(2026, 11, 20, 2, minute, tzinfo=UTC), code=code, severity=severity
    )


def test_flags_are_ordered_filtered_and_scoped(client, auth_headers, engine, two_hauliers):
    with Session(engine) as s:
        s.add_all(
            [
                _flag("粤A12345", FlagCode.LONG_STOP, 40, 1),
                _flag("粤A12345", FlagCode.SPEEDING, 70, 2),
                _flag("粤B67890", FlagCode.LONG_STOP, 90, 3),
            ]
        )
        s.commit()
    officer = auth_headers(Role.enforcement_officer)
    listed = client.get("/api/v1/flags", headers=officer).json()
    assert listed["count"] == 3
    assert [f["severity"] for f in listed["data"]] == [90, 70, 40]
    assert listed["data"][0]["label_zh"] == "长时间停留"

    only_stops = client.get("/api/v1/flags", params={"code": "LONG_STOP"}, headers=officer).json()
    assert {f["vehicle"] for f in only_stops["data"]} == {"粤A12345", "粤B67890"}

    own = auth_headers(Role.haulier, haulier_id=two_hauliers["a"])
    mine = client.get("/api/v1/flags", headers=own).json()
    assert mine["count"] == 2
    assert {f["vehicle"] for f in mine["data"]} == {"粤A12345"}
    other_id = next(f["id"] for f in listed["data"] if f["vehicle"] == "粤B67890")
    assert client.get(f"/api/v1/flags/{other_id}", headers=own).status_code == 404
    assert client.get(f"/api/v1/flags/{other_id}", headers=officer).status_code == 200
