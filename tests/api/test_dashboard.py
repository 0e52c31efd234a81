"""The dashboard's KPIs and flags by code and day, on the demo day's registry and manifests:
the figures equal what the figure and statistics routes answer one by one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cdw.auth.models import Role
from cdw.bundle import load_registry
from cdw.demo import DEFAULT_BUNDLE
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.manifests.importer import load_manifests

DAY = "2026-11-20"


@pytest.fixture
def demo_paperwork(session):
    if not DEFAULT_BUNDLE.is_dir():
        pytest.skip(f"sample bundle missing: {DEFAULT_BUNDLE}")
    load_registry(session, DEFAULT_BUNDLE)
    load_manifests(session, DEFAULT_BUNDLE)
    session.commit()


def _flag(code: FlagCode, day: date, hour: int) -> FlagRecord:
    at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return FlagRecord(
        code=code, severity=50, vehicle="粤A00001", day=day, start_ts=at, end_ts=at,
        lon=113.4, lat=22.95, explanation_zh="测试", explanation_en="test",
    )  # fmt: skip


def test_kpis_gather_the_period_s_figures(client, auth_headers, demo_paperwork):
    headers = auth_headers(Role.viewer)
    params = {"date_from": DAY, "date_to": DAY}
    kpis = client.get("/api/v1/dashboard/kpis", params=params, headers=headers)
    assert kpis.status_code == 200, kpis.text
    body = kpis.json()
    per_day = client.get("/api/v1/figures/manifests", params=params, headers=headers).json()
    share = client.get("/api/v1/figures/recycling", params=params, headers=headers).json()
    capacity = client.get("/api/v1/figures/facilities", headers=headers).json()["data"]
    assert body["manifests_issued"] == per_day["data"][0]["issued"] > 0
    assert body["manifests_closed"] == per_day["data"][0]["closed"]  # closed on reconciling
    assert body["recycling_share"] == share["share"] is not None
    assert body["received_m3"] == share["received_m3"] > 0
    assert body["facilities"] == len(capacity) == 4
    assert body["capacity_m3"] == pytest.approx(sum(f["capacity_m3"] for f in capacity))
    assert body["remaining_m3"] == pytest.approx(sum(f["remaining_m3"] for f in capacity))
    assert body["flags_total"] == 0 and body["closure_rate"] is None


def test_flags_per_day_by_code_with_empty_days(client, auth_headers, session):
    d1, d3 = date(2026, 11, 20), date(2026, 11, 22)
    session.add_all(
        [
            _flag(FlagCode.SPEEDING, d1, 1),
            _flag(FlagCode.SPEEDING, d1, 2),
            _flag(FlagCode.SUSPECTED_DUMPING, d1, 3),
            _flag(FlagCode.LONG_STOP, d3, 4),
            _flag(FlagCode.LONG_STOP, date(2026, 11, 23), 4),  # after the period
        ]
    )
    session.commit()
    resp = client.get(
        "/api/v1/dashboard/flags-per-day",
        params={"date_from": "2026-11-20", "date_to": "2026-11-22"},
        headers=auth_headers(Role.permit_officer),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["codes"]["SUSPECTED_DUMPING"] == {"zh": "疑似偷倒", "en": "Suspected dumping"}
    assert body["data"] == [
        {"day": "2026-11-20", "total": 3, "by_code": {"SPEEDING": 2, "SUSPECTED_DUMPING": 1}},
        {"day": "2026-11-21", "total": 0, "by_code": {}},
        {"day": "2026-11-22", "total": 1, "by_code": {"LONG_STOP": 1}},
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2026-11-20", "date_to": "2026-11-19"},
        {"date_from": "2026-11-01", "date_to": "2026-12-20"},
        {"date_from": "0"},
    ],
)
def test_the_period_is_bounded(client, auth_headers, params):
    for path in ("kpis", "flags-per-day"):
        resp = client.get(
            f"/api/v1/dashboard/{path}", params=params, headers=auth_headers(Role.admin)
        )
        assert resp.status_code == 422, (path, params)


def test_bound_roles_see_no_dashboard(client, auth_headers):
    params = {"date_from": DAY}
    for role in (Role.haulier, Role.facility_operator, Role.site_dispatcher):
        resp = client.get("/api/v1/dashboard/kpis", params=params, headers=auth_headers(role))
        assert resp.status_code == 403
