from cdw.flags.codes import FlagCode
from cdw.tracking.checks import signal_gap
from tests.tracking.handbuilt import TrackBuilder, box, context, run_check, utc, zone


def with_gap(
    gap_s: float, jump_m: float = 0.0, at: tuple[float, float] = (0.0, 0.0)
) -> TrackBuilder:
    """Fixes every 10 s at ``at`` for t=0..100, none for ``gap_s``, then ``jump_m`` east."""
    b = TrackBuilder().stay(0, 100, *at)
    return b.stay(100 + gap_s, 200 + gap_s, at[0] + jump_m, at[1])


def test_five_minute_gap_fires():
    (flag,) = run_check(signal_gap.check, with_gap(300), context())
    assert flag.code == FlagCode.SIGNAL_GAP
    assert (flag.start, flag.end) == (utc(100), utc(400))
    assert flag.measured == {"duration_s": 300.0, "jump_m": 0.0}
    assert flag.thresholds == {"signal_gap_s": 300.0}
    assert flag.explanation_zh == "无定位数据 5.0 分钟（阈值 5.0 分钟），前后两点相距 0 米"
    assert (
        flag.explanation_en
        == "No fix for 5.0 min (threshold 5.0 min); the fixes either side are 0 m apart"
    )
    assert flag.severity == 25


def test_four_minutes_fifty_nine_does_not_fire():
    assert run_check(signal_gap.check, with_gap(299), context()) == []


def test_gap_while_parked_in_a_depot_is_not_in_service():
    depot = zone(20, box(-100, -100, 100, 100), "车队停车场")
    assert run_check(signal_gap.check, with_gap(3600), context(depots=[depot])) == []


def test_gap_leaving_a_depot_is_in_service():
    depot = zone(20, box(-100, -100, 100, 100))
    (flag,) = run_check(signal_gap.check, with_gap(600, jump_m=500), context(depots=[depot]))
    assert flag.measured == {"duration_s": 600.0, "jump_m": 500.0}


def test_six_minute_gap_with_900_m_jump_is_a_signal_gap():
    (flag,) = run_check(signal_gap.check, with_gap(360, jump_m=900), context())
    assert flag.measured == {"duration_s": 360.0, "jump_m": 900.0}


def test_long_gap_that_splits_trips_is_reported_once():
    flags = run_check(signal_gap.check, with_gap(7200), context())
    assert [f.measured["duration_s"] for f in flags] == [7200.0]
