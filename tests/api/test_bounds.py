"""Bounded inputs (issue 13, findings 4, 12, 15, 17 and the low ones): every out-of-range
number, id or date answers 422 (or 404) naming the field, never 500 and never stored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import Session

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.auth.models import Role
from cdw.bounds import DB_INT_MAX
from cdw.config import get_settings
from cdw.errors import MAX_PROBLEMS_SHOWN
from cdw.registry.models import DisposalFacility, Haulier
from cdw.tracking.store import PointStore
from tests.factories import square
from tests.manifests.seed import ROUTE, seed

API = "/api/v1"
HUGE_IDS = (DB_INT_MAX + 1, 2**63, 0, -1)


def _id_routes() -> list[tuple[str, str]]:
    """(method, path) of every operation with an integer id in its path."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if re.search(r"\{\w+_id\}", path)
        for method in operations
    ]


def test_there_are_id_routes_to_check():
    assert len(_id_routes()) >= 30


@pytest.mark.parametrize("bad_id", HUGE_IDS)
def test_ids_out_of_the_database_range_answer_422_on_every_route(client, auth_headers, bad_id):
    """From 2**31 PostgreSQL's integer overflowed into a 500 on about 40 routes."""
    admin = auth_headers(Role.admin)
    for method, path in _id_routes():
        url = re.sub(r"\{\w+_id\}", str(bad_id), path)
        answer = client.request(method, url, headers=admin, json={})
        assert answer.status_code in (403, 404, 422), (method, url, answer.text)


LIST_QUERIES = [
    ("/vehicles", {"haulier_id": DB_INT_MAX + 1}, "haulier_id"),
    ("/drivers", {"haulier_id": 0}, "haulier_id"),
    ("/sites", {"offset": 2**63}, "offset"),
    ("/permits", {"offset": DB_INT_MAX + 1}, "offset"),
    ("/flags", {"day_to": "0"}, "day_to"),
    ("/flags", {"day_from": "0001-01-01"}, "day_from"),
    ("/flags", {"day_from": "9999-12-31"}, "day_from"),
    ("/enforcement/queue", {"site_id": 2**40}, "site_id"),
    ("/enforcement/queue", {"facility_id": -5}, "facility_id"),
    ("/enforcement/cases", {"haulier_id": 2**31}, "haulier_id"),
    ("/enforcement/statistics", {"date_from": "1900-01-01", "date_to": "1900-01-02"}, "date_from"),
    ("/enforcement/control-lists/hauliers", {"day_to": "0"}, "day_to"),
    ("/enforcement/hotspots", {"radius_m": "inf"}, "radius_m"),
    ("/figures/manifests", {"date_from": "1"}, "date_from"),
    ("/tracks/粤A12345", {"start": "0", "end": "1"}, "start"),
]


@pytest.mark.parametrize(("path", "params", "field"), LIST_QUERIES)
def test_query_ids_and_days_out_of_range_answer_422(client, auth_headers, path, params, field):
    answer = client.get(API + path, params=params, headers=auth_headers(Role.admin))
    assert answer.status_code == 422, answer.text
    assert field in {p["field"] for p in answer.json()["problems"]}


def _facility(**kw) -> dict:
    return {"name": "消纳场", "kind": "landfill", "geofence": square(113.40, 23.62, 300),
            "capacity_m3": 10_000, "accepted_categories": ["工程渣土"], **kw}  # fmt: skip


REGISTRY_BODIES = [
    ("/facilities", '{"capacity_m3": Infinity}', "capacity_m3"),
    ("/facilities", '{"capacity_m3": NaN}', "capacity_m3"),
    ("/facilities", '{"capacity_m3": 1e308}', "capacity_m3"),
    ("/facilities", '{"used_m3": -1}', "used_m3"),
    ("/facilities", '{"used_m3": true}', "used_m3"),
]


@pytest.mark.parametrize(("path", "override", "field"), REGISTRY_BODIES)
def test_absurd_registry_quantities_answer_422(client, auth_headers, path, override, field):
    import json

    body = json.dumps(_facility())[:-1] + ", " + override[1:]
    answer = client.post(
        API + path,
        content=body,
        headers={**auth_headers(Role.admin), "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["problems"]] == [field]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"credit_score": True}, "credit_score"),
        ({"credit_score": 101}, "credit_score"),
        ({"licence_valid_until": "0001-01-01"}, "licence_valid_until"),
        ({"licence_valid_until": "9999-12-31"}, "licence_valid_until"),
    ],
)
def test_haulier_patch_refuses_booleans_and_absurd_dates(
    client, auth_headers, session: Session, patch, field
):
    s = seed(session)
    answer = client.patch(
        f"{API}/hauliers/{s.haulier.id}", json=patch, headers=auth_headers(Role.admin)
    )
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["problems"]] == [field]
    session.expire_all()
    assert session.get(Haulier, s.haulier.id).credit_score == 100


def _issued_manifest(client, auth_headers, session: Session):
    s = seed(session)
    s.permit.allowed_hours_start, s.permit.allowed_hours_end = "00:00", "24:00"
    session.add(s.permit)
    session.commit()
    dispatcher = auth_headers(Role.site_dispatcher, site_id=s.site.id)
    load = {"permit_id": s.permit.id, "plate": "粤A12345", "category": "工程渣土",
            "declared_volume_m3": 15}  # fmt: skip
    issued = client.post(f"{API}/manifests", json=load, headers=dispatcher)
    assert issued.status_code == 201, issued.text
    manifest_id = issued.json()["id"]
    client.post(f"{API}/manifests/{manifest_id}/depart", headers=dispatcher)
    return s, manifest_id


RECEIPTS = [
    ('{"received_volume_m3": 1e308}', "received_volume_m3"),
    ('{"received_volume_m3": Infinity}', "received_volume_m3"),
    ('{"weighbridge_t": 1e6}', "weighbridge_t"),
    ('{"received_volume_m3": 14, "received_at": "0001-01-01T00:00:00Z"}', "received_at"),
    ('{"received_volume_m3": 14, "received_at": "9999-12-31T00:00:00Z"}', "received_at"),
    ('{"received_volume_m3": 14, "received_at": 0}', "received_at"),
]


@pytest.mark.parametrize(("body", "field"), RECEIPTS)
def test_absurd_receipts_answer_422_and_leave_the_facility_alone(
    client, auth_headers, session: Session, body, field
):
    s, manifest_id = _issued_manifest(client, auth_headers, session)
    operator = auth_headers(Role.facility_operator, facility_id=s.facility.id)
    answer = client.post(
        f"{API}/manifests/{manifest_id}/receipt",
        content=body,
        headers={**operator, "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["problems"]] == [field]
    session.expire_all()
    assert session.get(DisposalFacility, s.facility.id).used_m3 == 0


def _application(s, **kw) -> dict:
    return {"site_id": s.site.id, "facility_id": s.facility.id, "categories": ["工程渣土"],
            "volume_m3": 500, "valid_from": "2026-01-01", "valid_to": "2026-06-30",
            "routes": ROUTE, "vehicles": ["粤A12345"], **kw}  # fmt: skip


OVERRIDES = [
    ('{"corridor_half_width_m": NaN}', "threshold_overrides"),
    ('{"speed_limit_kmh": Infinity}', "threshold_overrides"),
    ('{"speed_limit_kmh": 1e308}', "threshold_overrides"),
    ('{"signal_gap_s": -1}', "threshold_overrides"),
    ('{"night_start_hour": 99}', "threshold_overrides"),
    ('{"quantity_tolerance_ratio": 5}', "threshold_overrides"),
    ('{"no_such_threshold": 1}', "threshold_overrides"),
]


@pytest.mark.parametrize(("overrides", "field"), OVERRIDES)
def test_threshold_overrides_stay_within_the_settings_ranges(
    client, auth_headers, session: Session, overrides, field
):
    import json

    s = seed(session)
    body = json.dumps(_application(s))[:-1] + f', "threshold_overrides": {overrides}}}'
    officer = {**auth_headers(Role.permit_officer), "content-type": "application/json"}
    answer = client.post(f"{API}/permits", content=body, headers=officer)
    assert answer.status_code == 422, answer.text
    assert [p["field"].split(".")[0] for p in answer.json()["problems"]] == [field]
    amended = client.post(
        f"{API}/permits/{s.permit.id}/amend",
        content=f'{{"reason": "调整", "threshold_overrides": {overrides}}}',
        headers=officer,
    )
    assert amended.status_code == 422, amended.text


def test_only_a_permit_officer_sets_threshold_overrides(client, auth_headers, session: Session):
    s = seed(session)
    dispatcher = auth_headers(Role.site_dispatcher, site_id=s.site.id)
    with_overrides = _application(s, threshold_overrides={"speed_limit_kmh": 120})
    refused = client.post(f"{API}/permits", json=with_overrides, headers=dispatcher)
    assert refused.status_code == 422, refused.text
    assert [p["field"] for p in refused.json()["problems"]] == ["threshold_overrides"]
    plain = client.post(f"{API}/permits", json=_application(s), headers=dispatcher)
    assert plain.status_code == 201, plain.text
    officer = auth_headers(Role.permit_officer)
    allowed = client.post(
        f"{API}/permits", json=_application(s, threshold_overrides={"speed_limit_kmh": 50}),
        headers=officer,
    )  # fmt: skip
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["threshold_overrides"] == {"speed_limit_kmh": 50}


@pytest.fixture
def store(tmp_path):
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    app.dependency_overrides[get_store] = lambda: points
    yield points
    app.dependency_overrides.pop(get_store, None)


GPS_HEADER = "plate,ts,lon,lat,speed_kmh\n"


def _upload(client, headers, name, content: bytes, **params):
    return client.post(
        f"{API}/tracks/upload", files={"file": (name, content)}, params=params, headers=headers
    )


def test_gps_speed_of_1e308_rejects_the_row(client, auth_headers, store):
    rows = GPS_HEADER + "粤A12345,2026-11-20T08:00:00+08:00,113.58,23.55,1e308\n"
    answer = _upload(client, auth_headers(Role.admin), "day.csv", rows.encode())
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["problems"]
    assert (problem["field"], problem["line"]) == ("speed_kmh", 2)
    assert "out of range [0, 400]" in problem["en"]


@pytest.mark.parametrize("name", ["a..", "..", "x" * 300 + ".csv", "../../etc/passwd", "a" * 300])
def test_hostile_upload_names_answer_without_the_servers_temp_path(
    client, auth_headers, store, name
):
    answer = _upload(client, auth_headers(Role.admin), name, b"plate,ts,lon,lat\nX,1,2,3\n")
    assert answer.status_code == 422, answer.text
    assert "cdw-upload-" not in answer.text and "/tmp" not in answer.text


def test_bad_rows_name_the_clients_file_not_the_temp_path(client, auth_headers, store):
    answer = _upload(client, auth_headers(Role.admin), "day.csv", b"plate,ts,lon,lat\nX,1,2,3\n")
    assert answer.status_code == 422
    assert "cdw-upload-" not in answer.text and "upload.csv" not in answer.text
    assert {p["source"] for p in answer.json()["problems"]} == {"day.csv"}


@pytest.mark.parametrize("content", [b"7e0102abc", b"7e 01 02 a\n"])
def test_odd_length_or_bad_hex_answers_422(client, auth_headers, store, content):
    answer = _upload(client, auth_headers(Role.admin), "t.hex", content, fmt="jt808")
    assert answer.status_code == 422, answer.text
    assert "invalid hex text" in answer.json()["message_en"]


def test_error_bodies_list_the_first_problems_and_the_total(client, auth_headers, store):
    bad = GPS_HEADER + "粤A12345,2026-11-20T08:00:00+08:00,not-a-number,23.55,30\n" * 5000
    answer = _upload(client, auth_headers(Role.admin), "day.csv", bad.encode())
    assert answer.status_code == 422
    body = answer.json()
    assert (len(body["problems"]), body["problem_count"]) == (MAX_PROBLEMS_SHOWN, 5000)
    assert len(answer.content) < 50_000
    skipped = _upload(client, auth_headers(Role.admin), "day.csv", bad.encode(), skip_invalid=True)
    assert skipped.status_code == 200, skipped.text
    assert (skipped.json()["rejected"], len(skipped.json()["rejects"])) == (5000, 100)


MALFORMED = [
    b'{"name": ' + b"1" * 4300 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"name": "x"',
    b"\xff\xfe",
]


@pytest.mark.parametrize("body", MALFORMED, ids=["4300-digits", "nested", "truncated", "bytes"])
def test_malformed_json_answers_422(client, auth_headers, body):
    answer = client.post(
        f"{API}/facilities",
        content=body,
        headers={**auth_headers(Role.admin), "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["code"] == "validation_failed"


@pytest.fixture
def small_requests():
    settings = get_settings()
    before = settings.max_request_mb
    settings.max_request_mb = 0.01  # about 10 kB
    yield
    settings.max_request_mb = before


def test_bodies_over_the_limit_answer_413(client, auth_headers, small_requests):
    headers = {**auth_headers(Role.admin), "content-type": "application/json"}
    declared = client.post(f"{API}/facilities", content=b" " * 20_000, headers=headers)
    assert declared.status_code == 413
    assert declared.json()["code"] == "request_too_large"
    assert "上限" in declared.json()["message_zh"] and "limit" in declared.json()["message_en"]

    def chunks():
        for _ in range(20):
            yield b" " * 1000

    chunked = client.post(f"{API}/facilities", content=chunks(), headers=headers)
    assert chunked.status_code == 413
    small = client.post(f"{API}/facilities", json=_facility(), headers=headers)
    assert small.status_code == 201, small.text


def test_docs_are_served_by_the_app_itself(client):
    for page, asset in [
        ("/docs", "/static/swagger-ui/swagger-ui-bundle.js"),
        ("/docs", "/static/swagger-ui/swagger-ui.css"),
        ("/redoc", "/static/redoc/redoc.standalone.js"),
    ]:
        html = client.get(page)
        assert html.status_code == 200
        assert asset in html.text
        assert not re.search(r"(src|href)=\"https?://", html.text), html.text
        assert client.get(asset).status_code == 200
    assert client.get("/static/swagger-ui/LICENSE").status_code == 200
    assert client.get("/static/redoc/LICENSE").status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", f"{API}/sites", "/nowhere"])
def test_security_headers_on_every_answer(client, path):
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in headers["content-security-policy"]


def test_a_user_bound_to_a_missing_haulier_is_refused_not_a_server_error(client, auth_headers):
    """Found by schemathesis: the foreign key refused the insert and the API answered 500."""
    answer = client.post(
        f"{API}/users",
        json={"username": "ghost_haulier", "password": "Lz9#kq2!Wm", "role": "haulier",
              "haulier_id": 1000},
        headers=auth_headers(Role.admin),
    )  # fmt: skip
    assert answer.status_code in (404, 409, 422), answer.text
    assert "INSERT" not in answer.text and "argon2" not in answer.text


def test_an_amended_permit_answers_its_times_with_an_offset(client, auth_headers, session):
    """Found by schemathesis: on SQLite ``submitted_at`` came back without an offset, which
    the OpenAPI document's date-time does not allow."""
    s = seed(session)
    amended = client.post(
        f"{API}/permits/{s.permit.id}/amend",
        json={"reason": "变更"},
        headers=auth_headers(Role.permit_officer),
    )
    assert amended.status_code == 201, amended.text
    for key in ("created_at", "submitted_at"):
        assert amended.json()[key].endswith(("Z", "+00:00")), amended.json()[key]


def test_bundle_manifests_and_receipts_refuse_absurd_volumes(engine, tmp_path):
    """Manifest and receipt files read their volumes through the same bounds as the API. The
    registry is imported once; each file is broken in turn, the other one as shipped."""
    import shutil

    from cdw.cli.bundle import import_bundle
    from cdw.config import Thresholds
    from cdw.demo import DEFAULT_BUNDLE
    from cdw.errors import ValidationFailed
    from cdw.manifests.importer import load_manifests
    from tests.test_bundle import _lines, _registry_only

    folder = _registry_only(tmp_path / "bundle")
    import_bundle(engine, folder, PointStore(tmp_path / "points"), Thresholds())
    for csv_name, column in [
        ("manifests.csv", "declared_volume_m3"),
        ("receipts.csv", "received_volume_m3"),
    ]:
        for name in ("manifests.csv", "receipts.csv"):
            shutil.copy(DEFAULT_BUNDLE / name, folder / name)
        lines = _lines(csv_name)
        header = lines[0].split(",")
        row = lines[1].split(",")
        row[header.index(column)] = "1e308"
        (folder / csv_name).write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
        with Session(engine) as s, pytest.raises(ValidationFailed) as caught:
            load_manifests(s, folder)
        [problem] = caught.value.problems
        assert (Path(problem.source).name, problem.line) == (csv_name, 2), csv_name
        assert "less than or equal to 200" in problem.en, csv_name
