"""GPS uploads and personal-data exports on the record (issue 13, findings 3 and 14): an
upload is a ``gps_upload`` row (uploader, channel, file name, SHA-256, rows) and an audit
entry, and its points carry its id; a control-list file export is an audit entry."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.audit.log import EXPORT_ENTITY, history, verify_chain
from cdw.audit.models import AuditEntry
from cdw.auth.models import Role
from cdw.flags.codes import FlagCode
from cdw.tracking.models import GpsUpload
from cdw.tracking.store import PointStore
from tests.api.test_tracks_api import BAD_CSV, GOOD_CSV
from tests.enforcement.world import add_flag, build_world
from tests.tracking.test_store import points


@pytest.fixture
def store(tmp_path):
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    app.dependency_overrides[get_store] = lambda: points
    yield points
    app.dependency_overrides.pop(get_store, None)


def _upload(client, headers, text: str, name: str, **params):
    files = {"file": (name, text.encode("utf-8"), "text/csv")}
    return client.post("/api/v1/tracks/upload", files=files, params=params, headers=headers)


def test_an_upload_is_recorded_and_its_points_carry_it(client, auth_headers, session, store):
    officer = auth_headers(Role.enforcement_officer)
    assert _upload(client, officer, GOOD_CSV, "day 1.csv").status_code == 200
    skipped = _upload(client, officer, BAD_CSV, "day-bad.csv", skip_invalid="true")
    assert skipped.status_code == 200
    refused = _upload(client, officer, BAD_CSV, "refused.csv")
    assert refused.status_code == 422  # nothing stored: nothing recorded

    first, second = session.exec(select(GpsUpload).order_by(GpsUpload.at)).all()
    assert (first.uploader, first.channel, first.file_name) == (
        "enforcement_officer",
        "api",
        "day 1.csv",
    )
    assert first.sha256 == hashlib.sha256(GOOD_CSV.encode("utf-8")).hexdigest()
    assert (first.rows_read, first.rows_rejected, first.points_new) == (3, 0, 3)
    assert (second.rows_read, second.rows_rejected, second.points_new) == (4, 1, 0)
    assert second.points_already_stored == 3

    (entry,) = history(session, "gps_upload", first.id)
    assert (entry.actor, entry.action) == ("enforcement_officer", "upload")
    assert entry.data["sha256"] == first.sha256 and entry.data["rows_rejected"] == 0
    stored = store.read_uploads(date(2026, 11, 20))
    assert stored["upload"].to_list() == [first.id] * 3
    assert verify_chain(session) == []


def test_points_stored_before_uploads_were_recorded_read_as_unknown(tmp_path):
    store = PointStore(tmp_path / "p", timezone="Asia/Shanghai", compact_files=1)
    store.append(points("粤A12345", [0, 10]))
    store.append(points("粤A12345", [20]), upload="a" * 32)  # compacted with the first file
    got = store.read_uploads(date(2024, 5, 1))
    assert got["upload"].to_list() == [None, None, "a" * 32]
    read = store.read(datetime(2024, 4, 30, tzinfo=UTC), datetime(2024, 5, 3, tzinfo=UTC))
    assert "upload" not in read.columns and read.height == 3  # the points frame as before


def test_a_control_list_file_export_is_audited(client, auth_headers, session):
    viewer = auth_headers(Role.enforcement_officer)
    url = "/api/v1/enforcement/control-lists/hauliers"
    assert client.get(url, headers=viewer).status_code == 200  # on screen: not an export
    answer = client.get(url, headers=viewer, params={"fmt": "xlsx", "day_from": "2026-11-01"})
    assert answer.status_code == 200
    entries = session.exec(select(AuditEntry).where(AuditEntry.entity == EXPORT_ENTITY)).all()
    assert [(e.actor, e.entity_id, e.action) for e in entries] == [
        ("enforcement_officer", "control_list:hauliers", "export:xlsx")
    ]
    assert entries[0].data["filters"]["day_from"] == "2026-11-01"


def test_a_case_report_with_the_driver_is_an_audited_export(client, auth_headers, session, store):
    world = build_world(session)
    dumping = add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=world.vehicle.plate)
    officer = auth_headers(Role.enforcement_officer)
    body = {"flag_ids": [dumping.id], "title": "疑似偷倒", "driver_id": world.driver.id}
    case = client.post("/api/v1/enforcement/cases", headers=officer, json=body).json()
    report = client.get(f"/api/v1/enforcement/cases/{case['id']}/report", headers=officer)
    assert report.status_code == 200 and world.driver.name in report.text
    (entry,) = session.exec(select(AuditEntry).where(AuditEntry.entity == EXPORT_ENTITY)).all()
    assert (entry.actor, entry.entity_id, entry.action) == (
        "enforcement_officer",
        f"case_report:{case['case_no']}",
        "export:html",
    )
