from cdw.tracking.checks import restricted_zone
from cdw.tracking.flags import FlagCode
from tests.tracking.handbuilt import TrackBuilder, box, context, run_check, utc, zone

RESERVOIR = zone(30, box(2000, 500, 2400, 900), "北江水源保护区", kind="water_source")


def pass_along(y: float, x0: float = 1805.0, x1: float = 2605.0, t0: float = 0.0) -> TrackBuilder:
    """Fixes every second along y at 10 m/s from x0 (fixes at x0 + 10 k)."""
    return TrackBuilder().drive(t0, (x0, y), (x1, y), 10.0, step=1.0)


def test_driving_through_a_restricted_zone_fires():
    (flag,) = run_check(restricted_zone.check, pass_along(700), context(restricted=[RESERVOIR]))
    assert flag.code == FlagCode.RESTRICTED_ZONE
    # Inside from x=2005 (t=20) to x=2395 (t=59).
    assert (flag.start, flag.end) == (utc(20), utc(59))
    assert flag.measured == {
        "zone_id": 30,
        "zone": "北江水源保护区",
        "zone_kind": "water_source",
        "duration_s": 39.0,
        "distance_m": 390.0,
        "n_fixes": 40,
    }
    assert flag.severity == 71
    assert flag.explanation_zh == (
        "进入禁区「北江水源保护区」（水源保护区），区内 39 秒、390 米（任何进入均违规）"
    )
    assert flag.explanation_en == (
        "Inside restricted zone '北江水源保护区' (water-source protection area) for 39 s "
        "and 390 m (any entry counts)"
    )


def test_passing_ten_metres_outside_does_not_fire():
    assert run_check(restricted_zone.check, pass_along(910), context(restricted=[RESERVOIR])) == []


def test_two_entries_are_two_flags():
    b = pass_along(700)
    b.drive(b.last_t + 1, (2605, 800), (1805, 800), 10.0, step=1.0)
    flags = run_check(restricted_zone.check, b, context(restricted=[RESERVOIR]))
    assert [f.measured["n_fixes"] for f in flags] == [40, 40]
    assert flags[1].start == utc(81 + 21)  # back east to west: x=2395 at t=102


def test_no_restricted_zones_no_flags():
    assert run_check(restricted_zone.check, pass_along(700), context()) == []
