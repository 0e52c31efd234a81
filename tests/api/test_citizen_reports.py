"""Citizen reports (举报): entered and audited, a photo stored safely, and the trucks that
were there ranked, on the demo day of the shipped Panyu bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlmodel import Session, col, select

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.audit.models import AuditEntry
from cdw.auth.keys import signing_key
from cdw.auth.models import Role
from cdw.bundle import ingest_tracks, load_registry
from cdw.config import Settings, get_settings
from cdw.demo import DEFAULT_BUNDLE
from cdw.enforcement.citizen import MAX_PHOTO_BYTES
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.registry.models import DisposalFacility, Haulier, Vehicle
from cdw.tracking.points import LOAD_FULL
from cdw.tracking.store import PointStore
from tests import factories as f

API = "/api/v1/citizen-reports"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
DEMO_DAY = "2026-11-20"


def _labels(code: str) -> list[dict]:
    truth = json.loads((DEFAULT_BUNDLE / "ground_truth.json").read_text(encoding="utf-8"))
    return [lb for lb in truth if lb["code"] == code and not lb.get("near_miss")]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> PointStore:
    if not DEFAULT_BUNDLE.is_dir():
        pytest.skip(f"sample bundle missing: {DEFAULT_BUNDLE}")
    store = PointStore(tmp_path_factory.mktemp("points"), timezone="Asia/Shanghai")
    ingest_tracks(DEFAULT_BUNDLE, store, {})
    return store


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    # the tokens of auth_headers stay valid: same signing key, another data folder
    settings = Settings(data_dir=tmp_path / "data", secret_key=signing_key(get_settings()))
    app.dependency_overrides[get_settings] = lambda: settings
    yield settings.data_dir
    app.dependency_overrides.pop(get_settings, None)


@pytest.fixture
def demo_day(session: Session, demo_store: PointStore, data_dir: Path) -> Iterator[PointStore]:
    load_registry(session, DEFAULT_BUNDLE)
    session.commit()
    app.dependency_overrides[get_store] = lambda: demo_store
    yield demo_store
    app.dependency_overrides.pop(get_store, None)


@pytest.fixture
def officer(auth_headers) -> dict[str, str]:
    return auth_headers(Role.enforcement_officer)


def _report(client, headers, **body) -> dict:
    resp = client.post(API, json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _trucks(client, headers, report_id: int) -> dict:
    resp = client.get(f"{API}/{report_id}/trucks", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("label", _labels("SUSPECTED_DUMPING"), ids=lambda lb: lb["plate"])
def test_a_report_where_a_truck_dumped_returns_that_truck_first(
    client, officer, session, demo_day, label
):
    start, end = datetime.fromisoformat(label["start"]), datetime.fromisoformat(label["end"])
    there = demo_day.read(start, end, vehicles=[label["plate"]])
    lon, lat = float(there["lon"].median()), float(there["lat"].median())
    report = _report(
        client,
        officer,
        lon=lon,
        lat=lat,
        window_start=f"{DEMO_DAY}T06:00:00",  # local time
        window_end=f"{DEMO_DAY}T14:00:00",
        radius_m=200,
        notes="群众反映有泥头车在路边倾倒渣土",
    )
    assert report["window_start"] == "2026-11-19T22:00:00+00:00"
    found = _trucks(client, officer, report["id"])
    assert found["visits"] >= found["vehicles"] >= 2  # others passed by
    first = found["data"][0]
    assert first["plate"] == label["plate"]
    assert first["stopped"] and first["reasons"][0]["code"] == "stopped"
    assert first["dwell_s"] >= 120 and first["distance_m"] < 50
    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == label["plate"])).one()
    assert first["vehicle_id"] == vehicle.id and first["replay"]["vehicle_id"] == vehicle.id
    assert first["haulier_name"] == session.get(Haulier, vehicle.haulier_id).name
    replay_start = datetime.fromisoformat(first["replay"]["start"])
    replay_end = datetime.fromisoformat(first["replay"]["end"])
    assert replay_start <= start and end <= replay_end
    assert replay_end - replay_start < timedelta(hours=2)
    # the others only passed: no stop, and the answer is ranked
    others = found["data"][1:]
    assert [t["rank"] for t in found["data"]] == list(range(1, len(found["data"]) + 1))
    assert all(not t["stopped"] and t["reasons"][0]["code"] == "passed" for t in others)
    assert [t["distance_m"] for t in others] == sorted(t["distance_m"] for t in others)


def test_stopped_before_unloaded_before_off_route_before_passed(
    client, officer, session, tmp_path, data_dir
):
    """Four trucks near one place: each reason ranks above the next, whatever the distance."""
    haulier = f.add_haulier(session)
    for n in range(1, 5):
        f.add_vehicle(session, haulier, n)
    lon0, lat0 = 113.40, 22.95
    base = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)

    def track(plate: str, offsets_m: list[float], status: list[int] | None = None) -> pl.DataFrame:
        """A fix every 10 s, ``offsets_m`` east of the place."""
        n = len(offsets_m)
        return pl.DataFrame(
            {
                "vehicle": [plate] * n,
                "ts": [base + timedelta(seconds=10 * i) for i in range(n)],
                "lon": [lon0 + o / (111_320 * 0.9208) for o in offsets_m],
                "lat": [lat0] * n,
                "status": status or [0] * n,
            }
        )

    passing = [-600 + 100 * i for i in range(13)]  # 36 km/h through the place
    frames = [
        track(f.plate(1), passing),  # passed, right through the centre
        track(f.plate(2), [60] * 36 + [160 + 100 * i for i in range(6)]),  # stood 6 min 60 m off
        track(  # loaded → empty while passing (no stop), 40 m off
            f.plate(3),
            [o + 40 for o in passing],
            [LOAD_FULL << 8] * 6 + [0] * 7,
        ),
        track(f.plate(4), [o - 30 for o in passing]),  # passed, but off its route
    ]
    store = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    store.append(pl.concat(frames, how="diagonal"))
    session.add(
        FlagRecord(
            code=FlagCode.ROUTE_DEVIATION,
            severity=60,
            vehicle=f.plate(4),
            day=datetime(2026, 11, 20).date(),
            start_ts=base,
            end_ts=base + timedelta(minutes=20),
            lon=lon0,
            lat=lat0,
            explanation_zh="偏离",
            explanation_en="off route",
        )
    )
    session.commit()
    flag_id = session.exec(select(FlagRecord.id)).one()
    app.dependency_overrides[get_store] = lambda: store
    try:
        report = _report(
            client,
            officer,
            lon=lon0,
            lat=lat0,
            window_start=(base - timedelta(minutes=10)).isoformat(),
            window_end=(base + timedelta(hours=1)).isoformat(),
            radius_m=150,
        )
        found = _trucks(client, officer, report["id"])
    finally:
        app.dependency_overrides.pop(get_store, None)
    assert [t["plate"] for t in found["data"]] == [f.plate(n) for n in (2, 3, 4, 1)]
    stopped, unloaded, off, passed = found["data"]
    assert stopped["stopped"] and stopped["dwell_s"] == 350
    assert not any(t["stopped"] for t in (unloaded, off, passed))
    assert unloaded["unloaded"] and not unloaded["stopped"]
    assert (unloaded["load_before"], unloaded["load_after"]) == ("full", "empty")
    assert off["off_route"] and off["flag_ids"] == [flag_id]
    assert [r["code"] for r in passed["reasons"]] == ["passed"]
    assert passed["distance_m"] < 1  # nearest of all, yet last
    assert all(t["haulier_id"] == haulier.id for t in found["data"])


def test_a_report_is_audited_and_listed(client, officer, session, data_dir):
    report = _report(
        client,
        officer,
        lon=113.4,
        lat=22.95,
        window_start="2026-11-20T08:00:00+08:00",
        window_end="2026-11-20T10:00:00+08:00",
        notes="  夜间偷倒  ",
    )
    assert report["radius_m"] == 200 and report["notes"] == "夜间偷倒"
    assert report["location_source"] == "map" and report["photo"] is None
    entry = session.exec(select(AuditEntry).where(AuditEntry.entity == "citizen_report")).one()
    assert entry.action == "create" and entry.entity_id == str(report["id"])
    assert entry.actor == "enforcement_officer" and entry.data["notes"] == "夜间偷倒"
    listed = client.get(API, headers=officer).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == report["id"]
    assert client.get(f"{API}/{report['id']}", headers=officer).json() == report


def test_an_address_the_registry_knows_places_the_report(client, officer, session, data_dir):
    load_registry(session, DEFAULT_BUNDLE)
    session.commit()
    facility = session.exec(select(DisposalFacility).order_by(col(DisposalFacility.id))).first()
    report = _report(
        client,
        officer,
        address=f"{facility.address}门口",
        window_start="2026-11-20T08:00:00",
        window_end="2026-11-20T10:00:00",
    )
    assert report["location_source"] == "address"
    lons = [p[0] for p in facility.geofence["coordinates"][0]]
    lats = [p[1] for p in facility.geofence["coordinates"][0]]
    assert min(lons) < report["lon"] < max(lons) and min(lats) < report["lat"] < max(lats)
    unknown = client.post(
        API,
        json={
            "address": "火星大道 1 号",
            "window_start": "2026-11-20T08:00:00",
            "window_end": "2026-11-20T09:00:00",
        },
        headers=officer,
    )
    assert unknown.status_code == 422
    assert unknown.json()["problems"][0]["field"] == "address"
    entries = session.exec(select(AuditEntry).where(AuditEntry.entity == "citizen_report")).all()
    assert [e.entity_id for e in entries] == [str(report["id"])]  # the refused one left none


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"radius_m": 5000}, "radius_m"),
        ({"radius_m": 5}, "radius_m"),
        ({"lat": None}, "body"),
        ({"lon": 200}, "lon"),
        ({"window_end": "2026-11-20T07:00:00"}, "body"),
        ({"window_end": "2027-01-20T07:00:00"}, "body"),
        ({"window_end": "2026-11-20T09:00:00+08:00"}, "body"),
        ({"notes": "x" * 2001}, "notes"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_reports_are_refused_naming_the_field(
    client, officer, session, data_dir, change, field
):
    body = {
        "lon": 113.4,
        "lat": 22.95,
        "window_start": "2026-11-20T08:00:00",
        "window_end": "2026-11-20T09:00:00",
        **change,
    }
    body = {k: v for k, v in body.items() if v is not None}
    resp = client.post(API, json=body, headers=officer)
    assert resp.status_code == 422, resp.text
    assert resp.json()["problems"][0]["field"].split(".")[0] == field
    assert client.get(API, headers=officer).json()["count"] == 0


def test_a_photo_is_checked_stored_by_hash_and_audited(client, officer, session, data_dir):
    report = _report(
        client,
        officer,
        lon=113.4,
        lat=22.95,
        window_start="2026-11-20T08:00:00",
        window_end="2026-11-20T09:00:00",
    )
    url = f"{API}/{report['id']}/photo"
    folder = data_dir / "citizen-reports" / str(report["id"])

    for name, content in (
        ("evil.png", b"<script>alert(1)</script>"),  # a PNG by name only
        ("empty.jpg", b""),
        ("big.jpg", JPEG + b"\x00" * MAX_PHOTO_BYTES),
    ):
        resp = client.post(url, files={"file": (name, content, "image/png")}, headers=officer)
        assert resp.status_code == 422, name
        assert resp.json()["problems"][0]["field"] == "file"
        assert list(folder.iterdir()) == []  # nothing half-written
    assert client.get(url, headers=officer).status_code == 404

    resp = client.post(
        url, files={"file": ("../../etc/现场.png", PNG, "text/html")}, headers=officer
    )
    assert resp.status_code == 200, resp.text
    photo = resp.json()["photo"]
    assert photo["name"] == "现场.png" and photo["content_type"] == "image/png"
    assert photo["bytes"] == len(PNG)
    assert [p.name for p in folder.iterdir()] == [f"{photo['sha256']}.png"]
    back = client.get(url, headers=officer)
    assert back.status_code == 200 and back.content == PNG
    assert back.headers["content-type"] == "image/png"
    assert back.headers["x-content-type-options"] == "nosniff"

    client.post(url, files={"file": ("b.jpg", JPEG, "image/jpeg")}, headers=officer)
    entries = session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity == "citizen_report", AuditEntry.action == "photo")
        .order_by(col(AuditEntry.id))
    ).all()
    assert [e.data["type"] for e in entries] == ["image/png", "image/jpeg"]
    assert entries[1].data["replaced"] == photo["sha256"]
    assert client.get(url, headers=officer).content == JPEG


def test_only_officers_read_reports(client, auth_headers, officer, session, data_dir):
    report = _report(
        client,
        officer,
        lon=113.4,
        lat=22.95,
        window_start="2026-11-20T08:00:00",
        window_end="2026-11-20T09:00:00",
    )
    for role in (Role.viewer, Role.permit_officer):
        for path in ("", f"/{report['id']}", f"/{report['id']}/trucks", f"/{report['id']}/photo"):
            assert client.get(f"{API}{path}", headers=auth_headers(role)).status_code == 403
    assert client.get(f"{API}/999999", headers=officer).status_code == 404
    assert client.get(f"{API}/999999/trucks", headers=officer).status_code == 404
