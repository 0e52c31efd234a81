"""POST /api/v1/positions: rows checked like the GPS CSV contract, answered one by one,
idempotent on (vehicle, ts), durable before the answer, recorded and audited."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from cdw.api.app import app
from cdw.api.routes.positions import MAX_ROWS, get_intake, get_sink
from cdw.audit.models import AuditEntry
from cdw.auth.models import Role
from cdw.gateway.intake import Intake
from cdw.gateway.wal import WriteAheadLog
from cdw.tracking.models import GpsUpload
from cdw.tracking.store import PointStore
from tests.factories import add_haulier, add_vehicle
from tests.gateway.helpers import Recorder

URL = "/api/v1/positions"
SPAN = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


@pytest.fixture
def pushed(client, tmp_path):
    intake = Intake(WriteAheadLog(tmp_path / "wal"), PointStore(tmp_path / "points"))
    sink = Recorder()
    app.dependency_overrides[get_intake] = lambda: intake
    app.dependency_overrides[get_sink] = lambda: sink
    yield intake, sink
    app.dependency_overrides.pop(get_intake, None)
    app.dependency_overrides.pop(get_sink, None)
    intake.wal.close()


@pytest.fixture
def fleet(engine):
    with Session(engine) as s:
        mine, other = add_haulier(s, 1), add_haulier(s, 2)
        return {
            "haulier_id": mine.id,
            "mine": add_vehicle(s, mine, 1).plate,
            "theirs": add_vehicle(s, other, 2).plate,
        }


def row(plate, ts="2026-12-06T08:30:00+08:00", lon=113.3, lat=23.1, **kw):
    return {"plate": plate, "ts": ts, "lon": lon, "lat": lat, **kw}


def test_rows_are_answered_one_by_one_and_a_second_push_is_all_duplicates(
    client, auth_headers, pushed, fleet, engine
):
    intake, sink = pushed
    plate = fleet["mine"]
    rows = [
        row(plate, speed_kmh=35.5, heading=90, status=768, alarm="0x00000001"),
        row(plate, ts="2026-12-06T08:30:10+08:00", lon=200),  # out of range
        row(plate, ts="2026-12-06 08:30:20"),  # no UTC offset
        row(plate, ts=1796517030),  # epoch seconds: 2026-12-06T00:30:30Z
        row("粤Z99999", ts="2026-12-06T08:30:40+08:00"),  # not registered
        row(plate, ts="2026-12-06T08:30:50+08:00", lon=0, lat=0),  # no fix
        row(plate, ts="2099-01-01T00:00:00+08:00"),  # future
        row(plate, speed_kmh=35.5),  # same key as row 0
        {"plate": plate, "lon": 113.3},  # ts and lat missing
    ]
    headers = auth_headers(Role.admin)
    answer = client.post(URL, json={"positions": rows}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["received"], body["accepted"], body["duplicates"], body["rejected"]) == (
        9,
        2,
        1,
        6,
    )
    reasons = {(r["row"], r["field"]): (r["reason_zh"], r["reason_en"]) for r in body["rejects"]}
    assert set(reasons) == {
        (1, "lon"), (2, "ts"), (4, "plate"), (5, "lon"), (6, "ts"), (8, "ts"), (8, "lat"),
    }  # fmt: skip
    assert reasons[(1, "lon")] == (
        "经度超出范围 [-180, 180]：200",
        "longitude out of range [-180, 180]: 200",
    )
    assert "no UTC offset" in reasons[(2, "ts")][1] and "偏移" in reasons[(2, "ts")][0]
    assert reasons[(4, "plate")][1] == "no active vehicle 粤Z99999"
    assert "future" in reasons[(6, "ts")][1]

    # durable before the answer: in the log, then in the store once absorbed
    assert intake.pending_points == 2
    assert sink.points["ts"].to_list() == [
        datetime(2026, 12, 6, 0, 30, tzinfo=UTC),
        datetime(2026, 12, 6, 0, 30, 30, tzinfo=UTC),
    ]
    intake.absorb()
    stored = intake.store.read(*SPAN)
    assert stored.height == 2
    first = stored.row(0, named=True)
    assert (first["speed_kmh"], first["heading"], first["status"], first["alarm"]) == (
        35.5,
        90,
        768,
        1,
    )

    again = client.post(URL, json={"positions": rows}, headers=headers).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 6)
    assert intake.store.read(*SPAN).height == 2
    assert len(sink.batches) == 1

    with Session(engine) as s:
        uploads = s.exec(select(GpsUpload).where(GpsUpload.channel == "push")).all()
        assert [(u.points_new, u.points_already_stored, u.rows_rejected) for u in uploads] == [
            (2, 1, 6), (0, 3, 6)
        ]  # fmt: skip
        entries = s.exec(select(AuditEntry).where(AuditEntry.action == "push")).all()
        assert [e.entity_id for e in entries] == [u.id for u in uploads]
    assert set(intake.store.read_uploads(date(2026, 12, 6))["upload"]) == {body["upload_id"]}


def test_a_haulier_pushes_only_its_own_vehicles(client, auth_headers, pushed, fleet):
    headers = auth_headers(Role.haulier, haulier_id=fleet["haulier_id"])
    rows = [row(fleet["mine"]), row(fleet["theirs"])]
    body = client.post(URL, json={"positions": rows}, headers=headers).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["rejects"][0]["row"] == 1
    assert "not held by your company" in body["rejects"][0]["reason_en"]


def test_a_late_position_lands_in_its_local_day(client, auth_headers, pushed, fleet):
    intake, _ = pushed
    rows = [row(fleet["mine"]), row(fleet["mine"], ts="2026-12-04T23:59:59+08:00")]
    body = client.post(URL, json={"positions": rows}, headers=auth_headers(Role.admin)).json()
    assert body["accepted"] == 2
    intake.absorb()
    assert intake.store.days() == [date(2026, 12, 4), date(2026, 12, 6)]


def test_a_batch_is_bounded(client, auth_headers, pushed, fleet):
    rows = [row(fleet["mine"])] * (MAX_ROWS + 1)
    answer = client.post(URL, json={"positions": rows}, headers=auth_headers(Role.admin))
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["field"].startswith("positions")
    empty = client.post(URL, json={"positions": []}, headers=auth_headers(Role.admin))
    assert empty.status_code == 422
