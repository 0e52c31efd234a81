"""The gate check: one test per refusal reason, and the load that may leave."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cdw.manifests.gate import Load, PermitFacts, gate_check
from cdw.permits.rules import VehicleFacts

DAY = date(2026, 6, 1)
VEHICLE = VehicleFacts(
    vehicle_id=7, plate="粤A12345", status="active", sealed_body=True,
    inspection_valid_until=date(2026, 6, 1), rated_capacity_m3=18, rated_load_t=30,
    haulier_name="运输公司", haulier_status="active",
    haulier_licence_valid_until=date(2026, 6, 1),
)  # fmt: skip
PERMIT = PermitFacts(
    permit_no="HZ-1", status="approved", valid_from=date(2026, 1, 1),
    valid_to=date(2026, 6, 1), allowed_hours=(6 * 3600.0, 22 * 3600.0),
    vehicle_ids=frozenset({7}),
    categories=frozenset({"excavated_soil"}), volume_m3=1000, used_m3=982,
)  # fmt: skip
LOAD = Load(
    plate="粤A12345", category="excavated_soil", volume_m3=18, weight_t=30, day=DAY,
    second_of_day=22 * 3600 - 1,
)  # fmt: skip


def test_a_load_on_every_limit_may_leave():
    assert gate_check(LOAD, VEHICLE, PERMIT) == []


def test_unregistered_vehicle_stops_the_check():
    (problem,) = gate_check(LOAD, None, PERMIT)
    assert problem.field == "plate" and "未登记" in problem.zh and "not registered" in problem.en


CASES = {
    "not_on_permit": (LOAD, replace(VEHICLE, vehicle_id=8), PERMIT,
                      "is not registered on permit HZ-1"),
    "licence": (LOAD, replace(VEHICLE, haulier_licence_valid_until=date(2026, 5, 31)), PERMIT,
                "licence of 粤A12345's haulier 运输公司 expired on 2026-05-31"),
    "inspection": (LOAD, replace(VEHICLE, inspection_valid_until=date(2026, 5, 31)), PERMIT,
                   "inspection of 粤A12345 expired on 2026-05-31"),
    "suspended": (LOAD, replace(VEHICLE, haulier_status="suspended"), PERMIT,
                  "haulier 运输公司 of 粤A12345 is suspended"),
    "volume": (replace(LOAD, volume_m3=18.1), VEHICLE, replace(PERMIT, used_m3=0),
               "declared 18.1 m³ exceeds the rated 18"),
    "weight": (replace(LOAD, weight_t=30.01), VEHICLE, PERMIT,
               "declared 30.01 t exceeds the rated 30"),
    "unsealed": (LOAD, replace(VEHICLE, sealed_body=False), PERMIT, "no sealed-body"),
    "category": (replace(LOAD, category="slurry"), VEHICLE, PERMIT,
                 "does not cover slurry"),
    "hours": (replace(LOAD, second_of_day=22 * 3600), VEHICLE, PERMIT,
              "outside the permitted hours 06:00-22:00"),
    "not_approved": (LOAD, VEHICLE, replace(PERMIT, status="revoked"), "HZ-1 is revoked"),
    "dates": (replace(LOAD, day=date(2026, 6, 2), second_of_day=8 * 3600), replace(
        VEHICLE, inspection_valid_until=date(2027, 1, 1),
        haulier_licence_valid_until=date(2027, 1, 1)), PERMIT,
              "valid 2026-01-01 to 2026-06-01"),
    "no_volume_left": (LOAD, VEHICLE, replace(PERMIT, used_m3=982.1),
                       "has 17.9 m³ left, not enough"),
    "used_up_weight_only": (replace(LOAD, volume_m3=None), VEHICLE,
                            replace(PERMIT, used_m3=1000), "has 0.0 m³ left"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_refusal_alone(case):
    load, vehicle, permit, expected = CASES[case]
    problems = gate_check(load, vehicle, permit)
    assert len(problems) == 1, problems
    assert expected in problems[0].en and problems[0].zh


def test_every_reason_is_listed_together():
    vehicle = replace(VEHICLE, sealed_body=False, haulier_status="suspended")
    load = replace(LOAD, volume_m3=20, second_of_day=3 * 3600)
    assert len(gate_check(load, vehicle, PERMIT)) == 5


def test_a_vehicle_off_the_permit_gets_the_unknown_plate_answer():
    """Nothing about a foreign vehicle leaks: not its existence, nor its suspension."""
    foreign = replace(VEHICLE, vehicle_id=8, sealed_body=False, haulier_status="suspended")
    assert gate_check(LOAD, foreign, PERMIT) == gate_check(LOAD, None, PERMIT)
