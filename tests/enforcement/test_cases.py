"""Cases from flags to closure, parties (一案三查), documents, credit and suspension."""

from __future__ import annotations

import pytest
from sqlmodel import select

from cdw.audit.log import history, verify_chain
from cdw.audit.models import AuditEntry
from cdw.config import Settings
from cdw.enforcement import cases, review
from cdw.enforcement.case_machine import ActionInput, CaseAction
from cdw.enforcement.credit import CREDIT_DEDUCTIONS
from cdw.enforcement.models import CaseState, ReviewStatus
from cdw.enforcement.review import QueueFilter
from cdw.errors import Conflict, ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.registry.categories import HaulierStatus
from tests.enforcement.world import add_flag, build_world

DECISION = ActionInput(
    penalty_amount_yuan=20000,
    legal_basis="《城市建筑垃圾管理规定》第二十六条",
    decision_text="责令改正，罚款二万元",
)
SETTINGS = Settings(credit_suspension_threshold=60)


@pytest.fixture
def world(session):
    return build_world(session)


def _decide(session, world, case):
    cases.act(session, case, CaseAction.investigate, world.officer, ActionInput(), SETTINGS)
    return cases.act(session, case, CaseAction.decide, world.officer, DECISION, SETTINGS)


def test_from_the_queue_to_a_closed_case(session, world):
    plate = world.vehicle.plate
    dumping = add_flag(
        session, FlagCode.SUSPECTED_DUMPING, plate=plate, severity=85, lon=113.5, lat=23.58
    )
    deviation = add_flag(session, FlagCode.ROUTE_DEVIATION, plate=plate, severity=40, minutes=-20)
    [first, second], _ = review.queue(session, QueueFilter(vehicle=plate))
    assert (first.id, second.id) == (dumping.id, deviation.id)

    case = cases.open_case(
        session,
        world.officer,
        [dumping.id, deviation.id],
        "粤A00001 疑似偷倒",
        reason="轨迹显示停留卸载",
        driver_id=world.driver.id,
    )
    session.commit()
    assert case.case_no == f"ZF{case.opened_at.year}-{case.id:06d}"
    assert (case.state, case.vehicle) == (CaseState.open, plate)
    assert (case.haulier_id, case.driver_id) == (world.haulier.id, world.driver.id)
    assert (case.site_id, case.facility_id) == (world.site.id, world.facility.id)
    assert (case.dumping_lon, case.dumping_lat) == (113.5, 23.58)
    assert {dumping.status, deviation.status} == {ReviewStatus.in_case}
    assert review.queue(session, QueueFilter(vehicle=plate))[1] == 0
    with pytest.raises(Conflict):  # a flag already in a case is not reviewed again
        review.dismiss(session, dumping, world.officer, "重复")

    cases.add_document(
        session, case, world.officer, "现场勘验笔录", "file:///cases/1/kanyan.pdf", "ab" * 32
    )
    cases.update_parties(
        session, case, world.officer, {"dumping_description": "某村路边空地"}, "现场核实"
    )
    result = _decide(session, world, case)
    session.commit()
    assert case.state == CaseState.decided and case.penalty_amount_yuan == 20000
    assert {dumping.status, deviation.status} == {ReviewStatus.confirmed}
    expected = (
        100
        - CREDIT_DEDUCTIONS[FlagCode.SUSPECTED_DUMPING].points
        - CREDIT_DEDUCTIONS[FlagCode.ROUTE_DEVIATION].points
    )
    assert (result.credit.before, result.credit.after) == (100, expected) == (100, 75)
    with pytest.raises(Conflict):
        cases.update_parties(session, case, world.officer, {"driver_id": None})

    cases.act(session, case, CaseAction.close, world.officer, ActionInput(), SETTINGS)
    session.commit()
    assert case.state == CaseState.closed and case.closed_at is not None
    with pytest.raises(Conflict):
        cases.add_document(session, case, world.officer, "补充", "file:///x")

    public = cases.case_public(session, case).model_dump(mode="json")
    assert public["parties"]["haulier"]["name"] == world.haulier.name
    assert public["parties"]["driver"]["name"] == world.driver.name
    assert public["parties"]["dumping_location"]["description"] == "某村路边空地"
    assert [d["sha256"] for d in public["documents"]] == ["ab" * 32]
    assert [h["action"] for h in public["history"]] == [
        "open",
        "document",
        "parties",
        "investigate",
        "decide",
        "close",
    ]
    assert [e.action for e in history(session, "haulier", world.haulier.id)] == [
        "credit_deduct",
        "credit_deduct",
    ]
    assert [e.action for e in history(session, "flag", dumping.id)] == [
        "status:in_case",
        "status:confirmed",
    ]
    assert verify_chain(session) == []
    assert session.exec(select(AuditEntry)).all()[-1].action == "close"


def test_withdrawal_releases_no_credit_and_marks_flags(session, world):
    flag = add_flag(session, FlagCode.SPEEDING, plate=world.vehicle.plate)
    case = cases.open_case(session, world.officer, [flag.id], "超速")
    cases.act(
        session, case, CaseAction.withdraw, world.officer, ActionInput(reason="测速误差"), SETTINGS
    )
    session.commit()
    assert case.state == CaseState.withdrawn and case.withdrawal_reason == "测速误差"
    assert flag.status == ReviewStatus.withdrawn
    session.refresh(world.haulier)
    assert world.haulier.credit_score == 100


def test_case_input_is_checked(session, world):
    own = add_flag(session, FlagCode.SPEEDING, plate=world.vehicle.plate)
    foreign = add_flag(session, FlagCode.SPEEDING, plate=world.other_vehicle.plate)
    with pytest.raises(ValidationFailed) as exc:
        cases.open_case(session, world.officer, [own.id, foreign.id], "两家企业")
    assert exc.value.problems[0].field == "flag_ids"
    with pytest.raises(ValidationFailed):
        cases.open_case(session, world.officer, [], "空")
    with pytest.raises(ValidationFailed) as exc:
        cases.open_case(session, world.officer, [own.id], "司机不存在", driver_id=999)
    assert exc.value.problems[0].field == "driver_id"
    case = cases.open_case(session, world.officer, [own.id], "正常")
    with pytest.raises(ValidationFailed) as exc:
        cases.add_document(session, case, world.officer, "", "file:///x", "xyz")
    assert [p.field for p in exc.value.problems] == ["name", "sha256"]
    with pytest.raises(ValidationFailed):
        cases.update_parties(session, case, world.officer, {"penalty_amount_yuan": 1})


def test_enough_confirmed_violations_suspend_the_haulier(session, world):
    plate = world.vehicle.plate
    # two dumping flags: 100 - 2 × 20 = 60, not below the threshold of 60 — a near miss
    first = [add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=plate, minutes=m) for m in (0, 30)]
    case = cases.open_case(session, world.officer, [f.id for f in first], "偷倒两次")
    result = _decide(session, world, case)
    session.commit()
    session.refresh(world.haulier)
    assert (result.credit.after, result.credit.suspended) == (60, False)
    assert world.haulier.status == HaulierStatus.active

    speeding = add_flag(session, FlagCode.SPEEDING, plate=plate, minutes=60)
    case2 = cases.open_case(session, world.officer, [speeding.id], "超速")
    result = _decide(session, world, case2)
    session.commit()
    session.refresh(world.haulier)
    assert (result.credit.after, result.credit.suspended) == (57, True)
    assert (world.haulier.credit_score, world.haulier.status) == (57, HaulierStatus.suspended)
    suspension = history(session, "haulier", world.haulier.id)[-1]
    assert suspension.action == "suspend" and "57" in suspension.reason
    assert verify_chain(session) == []


def test_the_score_never_goes_below_zero(session, world):
    flags = [
        add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=world.vehicle.plate, minutes=m)
        for m in range(0, 60 * 6, 60)
    ]
    case = cases.open_case(session, world.officer, [f.id for f in flags], "六次")
    result = _decide(session, world, case)
    assert (result.credit.before, result.credit.after) == (100, 0)


def test_every_flag_code_has_a_deduction():
    assert set(CREDIT_DEDUCTIONS) == set(FlagCode)
    assert all(d.points > 0 and d.zh and d.en for d in CREDIT_DEDUCTIONS.values())
