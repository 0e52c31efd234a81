from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.tracking.checks import long_stop
from tests.tracking.handbuilt import TrackBuilder, box, context, lonlat, run_check, utc, zone


def stop_at(x: float, y: float, departure_t: float) -> TrackBuilder:
    """Drive to (x, y), arriving at t=100, fixes every 10 s until t=690, leave at ``departure_t``
    (the first fix 100 m away), then drive on."""
    b = TrackBuilder().drive(0, (x - 1000, y), (x, y), 10.0)
    b.stay(110, 690, x, y)
    b.drive(departure_t, (x + 100, y), (x + 1000, y), 10.0)
    return b


def test_stop_of_ten_minutes_outside_zones_fires_with_exact_times():
    (flag,) = run_check(long_stop.check, stop_at(1000, 0, 700), context())
    assert flag.code == FlagCode.LONG_STOP
    assert flag.start == utc(100)
    assert flag.end == utc(700)
    assert flag.measured == {"duration_s": 600.0, "n_fixes": 60, "max_distance_from_centre_m": 0.0}
    assert flag.thresholds == {"stop_radius_m": 50.0, "long_stop_min_duration_s": 600.0}
    assert flag.explanation_zh == "停留 10.0 分钟（阈值 10.0 分钟），半径 50 米内，位于授权区域外"
    assert flag.explanation_en == (
        "Stopped 10.0 min (threshold 10.0 min) within 50 m, outside authorised zones"
    )
    assert (flag.lon, flag.lat) == lonlat(1000, 0)
    assert flag.geometry == {"type": "Point", "coordinates": [flag.lon, flag.lat]}
    assert flag.severity == 30


def test_stop_of_nine_minutes_fifty_nine_does_not_fire():
    assert run_check(long_stop.check, stop_at(1000, 0, 699), context()) == []


def test_stop_inside_a_registered_depot_does_not_fire():
    ctx = context(depots=[zone(20, box(900, -50, 1100, 50))])
    assert run_check(long_stop.check, stop_at(1000, 0, 700), ctx) == []


def test_stop_inside_a_site_or_facility_does_not_fire():
    place = box(900, -50, 1100, 50)
    assert run_check(long_stop.check, stop_at(1000, 0, 700), context(sites=[zone(1, place)])) == []
    ctx = context(facilities=[zone(10, place)])
    assert run_check(long_stop.check, stop_at(1000, 0, 700), ctx) == []


def test_stop_just_outside_a_depot_fires():
    ctx = context(depots=[zone(20, box(1060, -50, 1200, 50))])
    assert len(run_check(long_stop.check, stop_at(1000, 0, 700), ctx)) == 1


def test_jitter_within_the_radius_is_one_stop_and_wider_jitter_is_none():
    b = TrackBuilder().drive(0, (0, 0), (1000, 0), 10.0)
    for k, t in enumerate(range(110, 700, 10)):
        b.at(t, 1000 + (24 if k % 2 else -24), 0)
    b.drive(700, (1100, 0), (2000, 0), 10.0)
    (flag,) = run_check(long_stop.check, b, context())
    assert flag.measured["duration_s"] == 600.0
    assert flag.measured["max_distance_from_centre_m"] > 23

    wide = TrackBuilder().drive(0, (0, 0), (1000, 0), 10.0)
    for k, t in enumerate(range(110, 700, 10)):
        wide.at(t, 1000 + (60 if k % 2 else 0), 0)
    wide.drive(700, (1200, 0), (2000, 0), 10.0)
    assert run_check(long_stop.check, wide, context()) == []


def test_threshold_comes_from_the_settings():
    ctx = context(thresholds=Thresholds(long_stop_min_duration_s=700))
    assert run_check(long_stop.check, stop_at(1000, 0, 700), ctx) == []
    ctx = context(thresholds=Thresholds(long_stop_min_duration_s=300))
    (flag,) = run_check(long_stop.check, stop_at(1000, 0, 700), ctx)
    assert flag.thresholds["long_stop_min_duration_s"] == 300
    assert "阈值 5.0 分钟" in flag.explanation_zh


def test_a_fix_then_an_unseen_drive_elsewhere_is_not_a_stop():
    """One fix, ten minutes without signal, then the truck 4 km away: the gap is
    SIGNAL_GAP/TAMPER evidence, not a 10-minute stop."""
    b = TrackBuilder().drive(0, (0, 0), (1000, 0), 10.0)
    b.drive(740, (5000, 0), (6000, 0), 10.0)
    assert run_check(long_stop.check, b, context()) == []


def test_a_stop_before_a_gap_counts_up_to_its_last_seen_fix():
    """Fixes at one spot from t=100 to t=800, then 6 min unseen, then elsewhere: the stop
    lasts 700 s (to the last fix seen there), not until the truck reappears."""
    b = TrackBuilder().drive(0, (0, 0), (1000, 0), 10.0)
    b.stay(110, 800, 1000, 0)
    b.drive(1160, (3000, 0), (4000, 0), 10.0)
    (flag,) = run_check(long_stop.check, b, context())
    assert flag.start == utc(100)
    assert flag.end == utc(800)
    assert flag.measured["duration_s"] == 700.0


def test_an_unseen_step_longer_than_twice_the_sampling_does_not_count_as_stopping():
    """Seen stopped for 9 min (fixes every 10 s), then the next fix 100 s later and 2 km on:
    the 100 s are unseen (over twice the usual step), so the stop is 9 min, below 10 min."""
    b = TrackBuilder().drive(0, (0, 0), (1000, 0), 10.0)
    b.stay(110, 640, 1000, 0)
    b.drive(740, (3000, 0), (4000, 0), 10.0)
    assert run_check(long_stop.check, b, context()) == []
    seen = TrackBuilder().drive(0, (0, 0), (1000, 0), 10.0)
    seen.stay(110, 690, 1000, 0)
    seen.drive(700, (1100, 0), (2000, 0), 10.0)
    assert len(run_check(long_stop.check, seen, context())) == 1
