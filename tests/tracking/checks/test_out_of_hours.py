from cdw.flags.codes import FlagCode
from cdw.tracking.checks import out_of_hours
from tests.tracking.handbuilt import EMPTY, TrackBuilder, box, context, permit, run_check, utc, zone

SITE = zone(1, box(-100, -100, 100, 100))
FACILITY = zone(10, box(20000, -100, 20200, 100))
NIGHT_HOURS = (22 * 3600.0, 6 * 3600.0)  # 22:00-06:00, over midnight
AT_0550 = 19 * 3600.0 + 50 * 60  # T0 is 10:00 local


def ctx(hours=NIGHT_HOURS):
    return context(sites=[SITE], facilities=[FACILITY], permits=[permit(hours=hours)])


def leave_site_at(t: float, status=None) -> TrackBuilder:
    """In the site until ``t``, then along x at 10 m/s with fixes every 10 s for 30 min."""
    b = TrackBuilder().stay(t - 60, t, 0, 0, status=status)
    return b.drive(t, (0, 0), (18000, 0), 10.0, include_start=False, status=status)


def test_loaded_truck_still_driving_after_the_window_closes_fires():
    (flag,) = run_check(out_of_hours.check, leave_site_at(AT_0550), ctx())
    assert flag.code == FlagCode.OUT_OF_HOURS
    six = AT_0550 + 600
    end = AT_0550 + 1800
    assert (flag.start, flag.end) == (utc(six), utc(end))
    assert flag.measured == {
        "duration_s": 1200.0,
        "distance_m": 12000.0,
        "max_displacement_m": 12000.0,
        "local_start": "2024-05-07T06:00:00+08:00",
        "local_end": "2024-05-07T06:20:00+08:00",
        "load_state_source": "inferred",  # no status bits
    }
    assert flag.thresholds == {"allowed_hours": "22:00-06:00", "stop_radius_m": 50.0}
    assert flag.severity == 70
    assert flag.explanation_zh == (
        "重车在许可时段（22:00-06:00）外行驶 20.0 分钟、12.00 公里（06:00:00–06:20:00）"
    )
    assert flag.explanation_en == (
        "Loaded truck moving outside permitted hours (22:00-06:00) for 20.0 min and "
        "12.00 km (06:00:00–06:20:00)"
    )


def test_inside_the_window_does_not_fire():
    assert run_check(out_of_hours.check, leave_site_at(AT_0550 - 3600), ctx()) == []


def test_standing_loaded_outside_the_window_is_not_moving():
    b = leave_site_at(AT_0550)
    b.rows = [r for r in b.rows if r["t"] <= AT_0550 + 590]  # 5.9 km out at 05:59:50
    b.stay(AT_0550 + 600, AT_0550 + 1800, 5900, 40)  # 40 m aside: within the stop radius
    assert run_check(out_of_hours.check, b, ctx()) == []


def test_empty_leg_outside_the_window_does_not_fire():
    b = leave_site_at(AT_0550, status=EMPTY).sensor_shown()
    assert run_check(out_of_hours.check, b, ctx()) == []


def test_daytime_window_flags_the_evening_part():
    day = (8 * 3600.0, 18 * 3600.0)
    at_1750 = 7 * 3600.0 + 50 * 60
    (flag,) = run_check(out_of_hours.check, leave_site_at(at_1750), ctx(hours=day))
    assert flag.start == utc(at_1750 + 600)
    assert flag.measured["local_start"] == "2024-05-06T18:00:00+08:00"
    assert flag.thresholds["allowed_hours"] == "08:00-18:00"


def test_permit_without_hours_is_not_checked():
    assert run_check(out_of_hours.check, leave_site_at(AT_0550), ctx(hours=None)) == []
