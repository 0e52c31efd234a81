from cdw.flags.codes import FlagCode
from cdw.tracking.checks import wrong_destination
from tests.tracking.handbuilt import (
    TrackBuilder,
    box,
    context,
    lonlat,
    permit,
    run_check,
    utc,
    zone,
)

SITE = zone(1, box(-100, -100, 100, 100), "工地甲")
PERMITTED = zone(10, box(5000, -100, 5200, 100), "消纳场乙")
OTHER = zone(11, box(-100, 5000, 100, 5200), "消纳场丙")


def ctx():
    return context(sites=[SITE], facilities=[PERMITTED, OTHER], permits=[permit()])


def haul_to(x: float, y: float) -> TrackBuilder:
    """Site (t=0..60) → straight to (x, y) at 10 m/s, fixes every 10 s → 60 s there."""
    b = TrackBuilder().stay(0, 60, 0, 0)
    b.drive(60, (0, 0), (x, y), 10.0, include_start=False)
    return b.stay(b.last_t + 10, b.last_t + 60, x, y)


def test_loaded_leg_ending_at_another_facility_fires():
    (flag,) = run_check(wrong_destination.check, haul_to(0, 5100), ctx())
    assert flag.code == FlagCode.WRONG_DESTINATION
    # Departure: last fix in the site (t=60); arrival: first fix in the facility, 5000 m
    # from the site's centre, at t = 60 + 500.
    assert (flag.start, flag.end) == (utc(60), utc(560))
    assert (flag.lon, flag.lat) == lonlat(0, 5000)
    assert flag.measured == {
        "arrived_facility_id": 11,
        "arrived_facility": "消纳场丙",
        "permitted_facility_id": 10,
        "permitted_facility": "消纳场乙",
        "arrival_time": utc(560).isoformat(),
        "load_state_source": "inferred",  # no status bits
    }
    assert flag.severity == 80
    assert (
        flag.explanation_zh
        == "重车驶入消纳场「消纳场丙」，而核准 HZ-2024-001 的消纳场为「消纳场乙」"
    )
    assert flag.explanation_en == (
        "Loaded truck arrived at facility '消纳场丙', but permit HZ-2024-001 names facility '消纳场乙'"
    )


def test_loaded_leg_ending_at_the_permitted_facility_does_not_fire():
    assert run_check(wrong_destination.check, haul_to(5100, 0), ctx()) == []


def test_passing_near_another_facility_does_not_fire():
    # Ends 200 m short of the other facility's fence.
    assert run_check(wrong_destination.check, haul_to(0, 4800), ctx()) == []


def test_vehicle_without_a_permit_is_not_checked_here():
    c = context(sites=[SITE], facilities=[PERMITTED, OTHER])
    assert run_check(wrong_destination.check, haul_to(0, 5100), c) == []


def test_empty_leg_between_facilities_does_not_fire():
    b = TrackBuilder().stay(0, 60, 5100, 0)
    b.drive(70, (5100, 0), (0, 5100), 10.0)
    assert run_check(wrong_destination.check, b, ctx()) == []
