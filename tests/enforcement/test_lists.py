"""Control lists (三张管控清单) with CSV/XLSX export, and period statistics."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from cdw.config import Settings
from cdw.enforcement import cases, review
from cdw.enforcement.case_machine import ActionInput, CaseAction
from cdw.enforcement.lists import ListKind, control_list, to_csv, to_xlsx
from cdw.enforcement.statistics import statistics
from cdw.errors import ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.permits.models import Permit, PermitStatus
from cdw.registry import services
from cdw.registry.models import ConstructionSite
from tests.enforcement.world import DAY, add_flag, build_world
from tests.factories import site_in, square

SETTINGS = Settings()
DECISION = ActionInput(penalty_amount_yuan=5000, legal_basis="第二十六条")


@pytest.fixture
def scene(session):
    """Haulier 1: three confirmed flags (two at one 500 m cell) under permit 1 (site 1);
    haulier 2: one confirmed flag under permit 2 (site 2); one dismissed and one open flag."""
    world = build_world(session)
    site2 = services.create(
        session, ConstructionSite, site_in(name="第二工地", geofence=square(113.7, 23.5))
    )
    session.add(
        Permit(
            permit_no="CZ-2026-002",
            site_id=site2.id,
            facility_id=world.facility.id,
            categories=["excavated_soil"],
            volume_m3=100,
            valid_from=date(2026, 11, 1),
            valid_to=date(2026, 12, 31),
            status=PermitStatus.approved,
        )
    )
    session.commit()
    p1, p2 = world.vehicle.plate, world.other_vehicle.plate
    # 113.5000 and 113.5010 at 23.58 are ~100 m apart; choose points well inside one cell
    h1 = [
        add_flag(session, FlagCode.SPEEDING, plate=p1, lon=113.50, lat=23.58, minutes=0),
        add_flag(session, FlagCode.SPEEDING, plate=p1, lon=113.5001, lat=23.5801, minutes=10),
        add_flag(session, FlagCode.ROUTE_DEVIATION, plate=p1, lon=113.60, lat=23.40, minutes=20),
    ]
    h2 = add_flag(
        session,
        FlagCode.SUSPECTED_DUMPING,
        plate=p2,
        lon=113.70,
        lat=23.30,
        minutes=30,
        permit_no="CZ-2026-002",
    )
    dismissed = add_flag(session, FlagCode.LONG_STOP, plate=p2, minutes=40)
    add_flag(session, FlagCode.LONG_STOP, plate=p2, minutes=50)  # still open
    review.dismiss(session, dismissed, world.officer, "装货")
    for flags in (h1, [h2]):
        case = cases.open_case(session, world.officer, [f.id for f in flags], "案件")
        cases.act(session, case, CaseAction.investigate, world.officer, ActionInput(), SETTINGS)
        cases.act(session, case, CaseAction.decide, world.officer, DECISION, SETTINGS)
    cases.act(session, case, CaseAction.close, world.officer, ActionInput(), SETTINGS)
    session.commit()
    return world, site2


def test_the_three_lists(session, scene):
    world, site2 = scene
    sites = control_list(session, ListKind.sites)
    assert [(r["rank"], r["name"], r["violations"]) for r in sites] == [
        (1, world.site.name, 3),
        (2, "第二工地", 1),
    ]
    assert sites[0]["by_code"] == {"ROUTE_DEVIATION": 1, "SPEEDING": 2}
    hauliers = control_list(session, ListKind.hauliers)
    assert [(r["key"], r["violations"], r["credit_score"]) for r in hauliers] == [
        (str(world.haulier.id), 3, 100 - 3 - 3 - 5),
        (str(world.other_haulier.id), 1, 100 - 20),
    ]
    roads = control_list(session, ListKind.roads)
    assert [r["violations"] for r in roads] == [2, 1, 1]
    assert abs(roads[0]["lon"] - 113.50) < 0.005 and abs(roads[0]["lat"] - 23.58) < 0.005
    assert control_list(session, ListKind.sites, DAY + timedelta(days=1)) == []


def test_exports(session, scene):
    rows = control_list(session, ListKind.hauliers)
    data = to_csv(ListKind.hauliers, rows)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:4] == [
        "排名 / rank",
        "编号 / key",
        "名称 / name",
        "确认违规数 / confirmed violations",
    ]
    assert table[1][3] == "3" and "超速 SPEEDING ×2" in table[1][4]
    assert len(table) == 3

    sheet = load_workbook(io.BytesIO(to_xlsx(ListKind.hauliers, rows))).active
    values = list(sheet.values)
    assert values[0][6] == "信用分 / credit score"
    assert values[1][3] == 3 and values[2][6] == 80


def test_statistics_of_the_period(session, scene):
    stats = statistics(session, DAY, DAY, "Asia/Shanghai")
    assert stats["flags_total"] == 6
    assert stats["flags_by_code"]["SPEEDING"]["count"] == 2
    assert stats["flags_by_code"]["LONG_STOP"] == {
        "zh": "长时间停留",
        "en": "Long stop",
        "count": 2,
    }
    assert stats["flags_by_code"]["OVERLOAD"]["count"] == 0
    assert stats["trips"] is None


def test_statistics_counts_reviews_and_cases_by_when_they_happened(session, scene):
    today = date.today()
    stats = statistics(
        session, today - timedelta(days=1), today + timedelta(days=1), "Asia/Shanghai"
    )
    assert stats["review_outcomes"] == {"dismissed": 1, "warned": 0, "case_opened": 4}
    assert (stats["cases_opened"], stats["cases_closed"], stats["closure_rate"]) == (2, 1, 0.5)
    assert stats["cases_by_state"]["decided"] == 1
    old = statistics(session, date(2020, 1, 1), date(2020, 1, 31), "Asia/Shanghai")
    assert (old["cases_opened"], old["closure_rate"], old["flags_total"]) == (0, None, 0)
    with pytest.raises(ValidationFailed):
        statistics(session, today, today - timedelta(days=1), "Asia/Shanghai")
