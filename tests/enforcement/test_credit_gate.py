"""Credit end to end: after enough confirmed violations the gate check refuses the
haulier's trucks (the gate reads HaulierStatus)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cdw.config import Settings
from cdw.enforcement import cases
from cdw.enforcement.case_machine import ActionInput, CaseAction
from cdw.flags.codes import FlagCode
from cdw.registry.services import UNRESTRICTED
from tests.enforcement.world import T0, add_flag, build_world

gate = pytest.importorskip("cdw.manifests.services", reason="the manifests module is not there")

SETTINGS = Settings(credit_suspension_threshold=60)


def _gate_problems(session, world):
    load = gate.ManifestIssue(
        permit_id=world.permit.id,
        plate=world.vehicle.plate,
        category="excavated_soil",
        declared_volume_m3=10,
    )
    _, problems = gate.check_at_gate(session, load, UNRESTRICTED, T0 + timedelta(hours=1), SETTINGS)
    return problems


def test_the_gate_refuses_a_suspended_hauliers_truck(session):
    world = build_world(session)  # the world's permit names world.vehicle
    assert _gate_problems(session, world) == []

    for round_, codes in enumerate(([FlagCode.SUSPECTED_DUMPING] * 2, [FlagCode.OVERLOAD])):
        flags = [
            add_flag(session, code, plate=world.vehicle.plate, minutes=100 * round_ + 10 * i)
            for i, code in enumerate(codes)
        ]
        case = cases.open_case(session, world.officer, [f.id for f in flags], f"第{round_ + 1}案")
        cases.act(session, case, CaseAction.investigate, world.officer, ActionInput(), SETTINGS)
        decision = ActionInput(penalty_amount_yuan=1000, legal_basis="第二十六条")
        result = cases.act(session, case, CaseAction.decide, world.officer, decision, SETTINGS)
        session.commit()
        if round_ == 0:  # 100 - 40 = 60: not below 60, the truck may still leave
            assert (result.credit.after, result.credit.suspended) == (60, False)
            assert _gate_problems(session, world) == []

    assert (result.credit.after, result.credit.suspended) == (50, True)
    problems = _gate_problems(session, world)
    assert len(problems) == 1
    assert "暂停" in problems[0].zh and "suspended" in problems[0].en
