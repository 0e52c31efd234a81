"""Ownership in time (issue 13, finding 10): a vehicle moves from haulier A to haulier B on
day 2. A keeps its day-1 flags, explanations and track; B sees day 3 and nothing before."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, col, select

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.audit.models import AuditEntry
from cdw.auth.models import Role
from cdw.enforcement.models import FlagExplanation
from cdw.enforcement.review import QueueFilter, queue
from cdw.errors import ValidationFailed
from cdw.flags.models import FlagRecord
from cdw.manifests import services as manifests
from cdw.manifests.services import ManifestIssue
from cdw.registry import services
from cdw.registry.models import Haulier, Vehicle, VehicleAssignment
from cdw.registry.services import UNRESTRICTED, Scope
from cdw.tracking.store import PointStore
from tests.factories import flag_record
from tests.manifests.seed import seed

API = "/api/v1"
PLATE = "粤A12345"
REGISTERED = datetime(2026, 11, 1, tzinfo=UTC)
DAY1, DAY3 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC), datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
TRANSFER = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
TRACK_CSV = (
    "plate,ts,lon,lat,speed_kmh\n"
    f"{PLATE},2026-11-20T10:00:00+08:00,113.580000,23.550000,30\n"
    f"{PLATE},2026-11-20T10:00:10+08:00,113.580800,23.550000,30\n"
    f"{PLATE},2026-11-22T10:00:00+08:00,113.590000,23.560000,30\n"
    f"{PLATE},2026-11-22T10:00:10+08:00,113.590800,23.560000,30\n"
)
NOON = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Guangzhou
SPAN = {"start": "2026-11-19T00:00:00+08:00", "end": "2026-11-23T00:00:00+08:00"}


@pytest.fixture
def store(tmp_path):
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    app.dependency_overrides[get_store] = lambda: points
    yield points
    app.dependency_overrides.pop(get_store, None)


def _flag(at: datetime) -> FlagRecord:
    return flag_record(PLATE, at)


@pytest.fixture
def moved(engine) -> dict[str, int]:
    """A's vehicle with a flag on day 1, moved to B on day 2, a flag on day 3."""
    with Session(engine) as s:
        a = Haulier(name="甲运输", credit_code="91440101MA5CYC4X4K", licence_no="A",
                    licence_valid_until=date(2030, 1, 1))  # fmt: skip
        b = Haulier(name="乙运输", credit_code="91440300MA5FUTNT48", licence_no="B",
                    licence_valid_until=date(2030, 1, 1))  # fmt: skip
        s.add_all([a, b])
        s.flush()
        vehicle = Vehicle(plate=PLATE, haulier_id=a.id, rated_capacity_m3=18, rated_load_t=30,
                          inspection_valid_until=date(2030, 1, 1), created_at=REGISTERED)  # fmt: skip
        day1, day3 = _flag(DAY1), _flag(DAY3)
        s.add_all([vehicle, day1, day3])
        s.commit()
        services.transfer_vehicle(s, vehicle.id, b.id, "admin", at=TRANSFER)
        s.commit()
        return {"a": a.id, "b": b.id, "vehicle": vehicle.id, "day1": day1.id, "day3": day3.id}


def test_the_transfer_closes_one_period_and_opens_the_next(session, moved):
    periods = session.exec(
        select(VehicleAssignment).order_by(col(VehicleAssignment.valid_from))
    ).all()
    assert [(p.haulier_id, p.valid_to is None) for p in periods] == [
        (moved["a"], False),
        (moved["b"], True),
    ]
    assert periods[0].valid_to.replace(tzinfo=UTC) == periods[1].valid_from.replace(tzinfo=UTC)
    assert session.get(Vehicle, moved["vehicle"]).haulier_id == moved["b"]
    transfer = session.exec(select(AuditEntry).where(AuditEntry.action == "transfer")).one()
    assert transfer.data["haulier_id"] == {"from": moved["a"], "to": moved["b"]}
    with pytest.raises(ValidationFailed):  # no transfer back into the closed period
        services.transfer_vehicle(session, moved["vehicle"], moved["a"], at=DAY1)


def test_each_haulier_sees_the_flags_of_its_own_time(client, auth_headers, session, moved):
    a = auth_headers(Role.haulier, haulier_id=moved["a"])
    b = auth_headers(Role.haulier, haulier_id=moved["b"])
    assert [f["id"] for f in client.get(f"{API}/flags", headers=a).json()["data"]] == [
        moved["day1"]
    ]
    assert [f["id"] for f in client.get(f"{API}/flags", headers=b).json()["data"]] == [
        moved["day3"]
    ]
    assert client.get(f"{API}/flags/{moved['day3']}", headers=a).status_code == 404
    assert client.get(f"{API}/flags/{moved['day1']}", headers=b).status_code == 404

    explain = f"{API}/enforcement/flags/{moved['day1']}/explanations"
    assert client.post(explain, json={"text": "已转让"}, headers=b).status_code == 404
    resp = client.post(explain, json={"text": "当日在场内装车"}, headers=a)
    assert resp.status_code == 201, resp.text
    entry = session.get(FlagExplanation, resp.json()["id"])
    assert entry.haulier_id == moved["a"]


def test_the_officers_haulier_filter_follows_the_time_too(session, moved):
    rows, _ = queue(session, QueueFilter(haulier_id=moved["a"]), scope=UNRESTRICTED)
    assert [r.id for r in rows] == [moved["day1"]]
    rows, _ = queue(session, QueueFilter(haulier_id=moved["b"]), scope=UNRESTRICTED)
    assert [r.id for r in rows] == [moved["day3"]]


def _track_days(client, headers) -> list[str]:
    resp = client.get(f"{API}/tracks/{PLATE}", params=SPAN, headers=headers)
    assert resp.status_code == 200, resp.text
    features = resp.json()["features"]
    return sorted({t[:10] for f in features for t in f["properties"]["times"]})


def test_each_haulier_reads_the_track_of_its_own_time(client, auth_headers, store, moved):
    files = {"file": ("t.csv", TRACK_CSV.encode(), "text/csv")}
    admin = auth_headers(Role.admin)
    assert client.post(f"{API}/tracks/upload", files=files, headers=admin).status_code == 200
    assert _track_days(client, admin) == ["2026-11-20", "2026-11-22"]
    assert _track_days(client, auth_headers(Role.haulier, haulier_id=moved["a"])) == ["2026-11-20"]
    assert _track_days(client, auth_headers(Role.haulier, haulier_id=moved["b"])) == ["2026-11-22"]


def test_a_patch_of_the_haulier_is_a_transfer(client, auth_headers, session, moved):
    resp = client.patch(
        f"{API}/vehicles/{moved['vehicle']}",
        json={"haulier_id": moved["a"]},
        headers=auth_headers(Role.admin),
    )
    assert resp.status_code == 200, resp.text
    periods = session.exec(
        select(VehicleAssignment).order_by(col(VehicleAssignment.valid_from))
    ).all()
    assert [(p.haulier_id, p.valid_to is None) for p in periods] == [
        (moved["a"], False),
        (moved["b"], False),
        (moved["a"], True),
    ]
    assert len(session.exec(select(AuditEntry).where(AuditEntry.action == "transfer")).all()) == 2


def test_a_case_on_a_day1_flag_charges_the_haulier_of_day1(client, auth_headers, moved):
    officer = auth_headers(Role.enforcement_officer)
    mixed = {"flag_ids": [moved["day1"], moved["day3"]], "title": "两家企业"}
    assert client.post(f"{API}/enforcement/cases", json=mixed, headers=officer).status_code == 422
    body = {"flag_ids": [moved["day1"]], "title": "转让前的违规"}
    resp = client.post(f"{API}/enforcement/cases", json=body, headers=officer)
    assert resp.status_code == 201, resp.text
    assert resp.json()["parties"]["haulier"]["id"] == moved["a"]


def test_manifests_stay_with_the_haulier_that_carried_the_load(client, auth_headers, session):
    s = seed(session)
    data = {"permit_id": s.permit.id, "plate": PLATE, "category": "工程渣土",
            "declared_volume_m3": 15}  # fmt: skip
    scope = Scope(False, site_id=s.site.id)
    manifests.issue(session, ManifestIssue.model_validate(data), "gate", scope, NOON)
    newcomer = Haulier(name="乙运输", credit_code="91440300MA5FUTNT48", licence_no="B",
                       licence_valid_until=date(2030, 1, 1))  # fmt: skip
    session.add(newcomer)
    session.commit()
    services.transfer_vehicle(session, s.vehicle.id, newcomer.id, "admin")
    session.commit()
    old = auth_headers(Role.haulier, haulier_id=s.haulier.id)
    new = auth_headers(Role.haulier, haulier_id=newcomer.id)
    assert client.get(f"{API}/manifests", headers=old).json()["count"] == 1
    assert client.get(f"{API}/manifests", headers=new).json()["count"] == 0
