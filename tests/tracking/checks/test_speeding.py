import pytest

from cdw.tracking.checks import speeding
from cdw.tracking.flags import FlagCode
from tests.tracking.handbuilt import TrackBuilder, context, lonlat, run_check, utc


def reported(
    fast_from: int, fast_to: int, kmh: float = 70.0, gap_after: int | None = None
) -> TrackBuilder:
    """Fixes every second t=0..200 along x with reported speed 50 km/h, ``kmh`` for
    t=fast_from..fast_to; the fixes after ``gap_after`` are shifted 300 s later."""
    b = TrackBuilder()
    for t in range(201):
        shift = 300 if gap_after is not None and t > gap_after else 0
        b.at(t + shift, 15.0 * t, 0, speed_kmh=kmh if fast_from <= t <= fast_to else 50.0)
    return b


def test_thirty_seconds_above_the_limit_fires():
    (flag,) = run_check(speeding.check, reported(100, 130), context())
    assert flag.code == FlagCode.SPEEDING
    assert (flag.start, flag.end) == (utc(100), utc(130))
    assert flag.measured == {
        "duration_s": 30.0,
        "max_speed_kmh": 70.0,
        "mean_speed_kmh": 70.0,
        "distance_m": 450.0,
    }
    assert flag.thresholds == {"speed_limit_kmh": 60.0, "speeding_min_duration_s": 30.0}
    assert flag.severity == 50
    assert (
        flag.explanation_zh
        == "车速超过 60 km/h 持续 30 秒（阈值 30 秒），最高 70.0 km/h，行驶 450 米"
    )
    assert (
        flag.explanation_en == "Above 60 km/h for 30 s (threshold 30 s), peak 70.0 km/h over 450 m"
    )
    # A straight run: the 31 fixes simplify to their two ends.
    assert flag.geometry == {
        "type": "LineString",
        "coordinates": [list(lonlat(1500, 0)), list(lonlat(1950, 0))],
    }


def test_twenty_nine_seconds_above_the_limit_does_not_fire():
    assert run_check(speeding.check, reported(100, 129), context()) == []


def test_exactly_the_limit_is_not_speeding():
    assert run_check(speeding.check, reported(100, 160, kmh=60.0), context()) == []


def test_a_signal_gap_breaks_the_run():
    # 100..115 then, after a 5-minute gap, 116..140: 15 s and 24 s, not one long run.
    assert run_check(speeding.check, reported(100, 140, gap_after=115), context()) == []


def test_computed_speed_is_used_without_reported_speed():
    b = TrackBuilder().stay(0, 100, 0, 0)
    b.drive(100, (0, 0), (800, 0), 20.0, step=1.0, include_start=False)  # 72 km/h, t=101..140
    (flag,) = run_check(speeding.check, b, context())
    assert (flag.start, flag.end) == (utc(101), utc(140))
    assert flag.measured["max_speed_kmh"] == pytest.approx(72.0)
    assert flag.measured["duration_s"] == 39.0
