"""The enforcement API end to end: queue → evidence → explanation → case → decision →
closure, with the audit chain, credit, report, lists and statistics."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import polars as pl
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.auth.models import Role
from cdw.flags.codes import FlagCode
from cdw.registry.categories import HaulierStatus
from cdw.registry.models import Haulier
from cdw.tracking.store import PointStore
from tests.enforcement.world import DAY, T0, add_flag, build_world

API = "/api/v1/enforcement"


@pytest.fixture
def store(tmp_path):
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    app.dependency_overrides[get_store] = lambda: points
    yield points
    app.dependency_overrides.pop(get_store, None)


def test_a_flag_from_the_queue_to_a_closed_case(client, auth_headers, session, store):
    world = build_world(session)
    plate = world.vehicle.plate
    dumping = add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=plate, severity=90)
    speeding = add_flag(session, FlagCode.SPEEDING, plate=plate, severity=30, minutes=-30)
    foreign = add_flag(session, FlagCode.LONG_STOP, plate=world.other_vehicle.plate, severity=60)
    store.append(
        pl.DataFrame(
            {
                "vehicle": [plate] * 3,
                "ts": [T0 + timedelta(minutes=m) for m in (-5, 0, 5)],
                "lon": [113.488, 113.49, 113.492],
                "lat": [23.585] * 3,
            }
        )
    )
    officer = auth_headers(Role.enforcement_officer)
    haulier = auth_headers(Role.haulier, haulier_id=world.haulier.id)

    queue = client.get(f"{API}/queue", headers=officer).json()
    assert [f["id"] for f in queue["data"]] == [dumping.id, foreign.id, speeding.id]
    assert queue["data"][0]["status_zh"] == "待审核"
    assert client.get(f"{API}/queue", headers=haulier).status_code == 403

    # the haulier explains its own flag, not another's
    said = client.post(
        f"{API}/flags/{dumping.id}/explanations", headers=haulier, json={"text": "车辆抛锚"}
    )
    assert said.status_code == 201
    other = client.post(
        f"{API}/flags/{foreign.id}/explanations", headers=haulier, json={"text": "x"}
    )
    assert other.status_code == 404
    assert client.get(f"{API}/flags/{foreign.id}/explanations", headers=haulier).status_code == 404
    mine = client.get(f"{API}/flags/{dumping.id}/explanations", headers=haulier).json()
    assert [e["text"] for e in mine] == ["车辆抛锚"]

    packet = client.get(f"{API}/flags/{dumping.id}/evidence", headers=officer).json()
    assert packet["explanations"][0]["text"] == "车辆抛锚"
    assert packet["track"]["features"][0]["properties"]["points"] == 3
    assert packet["permit"]["permit_no"] == "CZ-2026-001"

    refused = client.post(f"{API}/flags/{foreign.id}/dismiss", headers=officer, json={})
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == "reason"
    dismissed = client.post(
        f"{API}/flags/{foreign.id}/dismiss", headers=officer, json={"reason": "正常装货"}
    )
    assert dismissed.json()["status"] == "dismissed"

    opened = client.post(
        f"{API}/cases",
        headers=officer,
        json={
            "flag_ids": [dumping.id, speeding.id],
            "title": "疑似偷倒",
            "driver_id": world.driver.id,
        },
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["parties"]["site"]["id"] == world.site.id
    assert case["parties"]["driver"]["name"] == world.driver.name
    case_url = f"{API}/cases/{case['id']}"

    patched = client.patch(
        f"{case_url}/parties",
        headers=officer,
        json={"dumping_description": "村道旁空地", "driver_id": None, "reason": "现场核实"},
    ).json()
    assert patched["parties"]["dumping_location"]["description"] == "村道旁空地"
    assert patched["parties"]["driver"] is None
    nulled = client.patch(
        f"{case_url}/parties", headers=officer, json={"dumping_description": None}
    )
    assert nulled.status_code == 422

    early = client.post(f"{case_url}/actions/close", headers=officer, json={})
    assert early.status_code == 409
    assert (
        client.post(f"{case_url}/actions/investigate", headers=officer, json={}).status_code == 200
    )
    incomplete = client.post(f"{case_url}/actions/decide", headers=officer, json={})
    assert incomplete.status_code == 422
    assert {p["field"] for p in incomplete.json()["problems"]} == {
        "penalty_amount_yuan",
        "legal_basis",
    }
    doc = client.post(
        f"{case_url}/documents", headers=officer, json={"name": "询问笔录", "uri": "file:///a.pdf"}
    )
    assert doc.status_code == 201
    decided = client.post(
        f"{case_url}/actions/decide",
        headers=officer,
        json={"penalty_amount_yuan": 30000, "legal_basis": "《城市建筑垃圾管理规定》第二十六条"},
    ).json()
    assert decided["state"] == "decided"
    assert decided["credit"] == {
        "haulier_id": world.haulier.id,
        "before": 100,
        "after": 77,
        "suspended": False,
    }
    closed = client.post(f"{case_url}/actions/close", headers=officer, json={}).json()
    assert closed["state_zh"] == "已结案"
    assert [f["status"] for f in closed["flags"]] == ["confirmed", "confirmed"]

    report = client.get(f"{case_url}/report", headers=officer)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<svg" in report.text and "<polyline" in report.text
    assert world.site.name in report.text and "询问笔录" in report.text
    assert "http" not in report.text.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org/2000/svg", ""
    )

    admin = auth_headers(Role.admin)
    verified = client.get(f"{API}/audit/verify", headers=admin).json()
    assert verified["intact"] is True and verified["entries"] >= 10
    session.execute(text("UPDATE audit_log SET reason = 'x' WHERE id = 4"))
    session.commit()
    broken = client.get(f"{API}/audit/verify", headers=admin).json()
    assert broken["intact"] is False
    assert [(p["kind"], p["id"]) for p in broken["problems"]] == [("edited", 4)]

    viewer = auth_headers(Role.viewer)
    stats = client.get(
        f"{API}/statistics", headers=viewer, params={"date_from": DAY, "date_to": DAY}
    ).json()
    assert stats["flags_total"] == 3
    listing = client.get(f"{API}/control-lists/hauliers", headers=viewer).json()
    assert [(r["name"], r["violations"]) for r in listing["data"]] == [(world.haulier.name, 2)]
    as_csv = client.get(f"{API}/control-lists/sites", headers=viewer, params={"fmt": "csv"})
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[1][2] == world.site.name and rows[1][3] == "2"
    as_xlsx = client.get(f"{API}/control-lists/roads", headers=viewer, params={"fmt": "xlsx"})
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)] == [2]
    assert client.get(f"{API}/hotspots", headers=viewer).json() == []


def test_credit_suspension_through_the_api(client, auth_headers, session, store):
    world = build_world(session)
    officer = auth_headers(Role.enforcement_officer)
    flags = [
        add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=world.vehicle.plate, minutes=m)
        for m in (0, 30, 60)
    ]
    case = client.post(
        f"{API}/cases", headers=officer, json={"flag_ids": [f.id for f in flags], "title": "三次"}
    ).json()
    url = f"{API}/cases/{case['id']}/actions"
    client.post(f"{url}/investigate", headers=officer, json={})
    decided = client.post(
        f"{url}/decide", headers=officer, json={"penalty_amount_yuan": 0, "legal_basis": "x"}
    ).json()
    assert decided["credit"]["after"] == 40 and decided["credit"]["suspended"] is True
    session.expire_all()
    assert session.get(Haulier, world.haulier.id).status == HaulierStatus.suspended
