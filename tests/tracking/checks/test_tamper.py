from cdw.tracking.checks import tamper
from cdw.tracking.flags import FlagCode
from tests.tracking.handbuilt import TrackBuilder, context, run_check, utc

POWER_CUT = 1 << 8
ANTENNA = 1 << 5
GNSS_FAULT = 1 << 4
EMERGENCY = 1 << 0


def with_gap(gap_s: float, jump_m: float, alarm_before: int | None = None) -> TrackBuilder:
    """Fixes every 10 s at the origin t=0..100 (the last with ``alarm_before``), none for
    ``gap_s``, then ``jump_m`` east."""
    b = TrackBuilder().stay(0, 90, 0, 0)
    b.at(100, 0, 0, alarm=alarm_before)
    return b.stay(100 + gap_s, 200 + gap_s, jump_m, 0)


def test_six_minute_gap_ending_a_kilometre_away_fires():
    # 1001 m: exactly 1000 m would sit on the threshold within projection rounding.
    (flag,) = run_check(tamper.check, with_gap(360, 1001), context())
    assert flag.code == FlagCode.TAMPER_SUSPECTED
    assert (flag.start, flag.end) == (utc(100), utc(460))
    assert flag.measured == {
        "gap_duration_s": 360.0,
        "jump_m": 1001.0,
        "end_fixes_apart_m": 1001.0,
    }
    assert flag.severity == 64
    assert flag.explanation_zh == (
        "信号中断 6.0 分钟（阈值 5.0 分钟），恢复时位置相距 1.00 公里（阈值 1.00 公里），"
        "车辆在无定位状态下行驶"
    )
    assert flag.explanation_en == (
        "No fix for 6.0 min (threshold 5.0 min) and the track resumed 1.00 km away "
        "(threshold 1.00 km): the truck drove unseen"
    )


def test_six_minute_gap_ending_900_m_away_does_not_fire():
    assert run_check(tamper.check, with_gap(360, 900), context()) == []
    assert run_check(tamper.check, with_gap(360, 999), context()) == []


def test_one_thrown_fix_at_an_end_of_the_gap_does_not_make_a_jump():
    """Parked 920 m apart before and after a 6-minute gap, three fixes each side; the last
    fix before the gap thrown 100 m west (multipath): 1020 m between the end fixes, but the
    median over the three fixes at each end says 920 m."""
    b = with_gap(360, 920)
    b.rows[10]["x"] = -100.0  # the fix at t=100
    (track_flag,) = run_check(tamper.check, with_gap(360, 1100), context())
    assert track_flag.measured["jump_m"] == 1100.0
    assert run_check(tamper.check, b, context()) == []
    # Two of three fixes thrown the same way: the ends really moved.
    b.rows[9]["x"] = -100.0
    b.rows[8]["x"] = -100.0
    (flag,) = run_check(tamper.check, b, context())
    assert flag.measured["end_fixes_apart_m"] == 1020.0
    assert flag.measured["jump_m"] == 1020.0


def test_a_moving_truck_is_measured_from_the_end_fixes():
    """Driving east at 10 m/s up to the gap and on after it: the fixes before the gap lie
    100 m apart, so the ends are the end fixes themselves (1001 m apart)."""
    b = TrackBuilder()
    for t in range(0, 101, 10):
        b.at(t, 10.0 * t - 1000, 0)
    for t in range(460, 561, 10):
        b.at(t, 1001 + 10.0 * (t - 460), 0)
    (flag,) = run_check(tamper.check, b, context())
    assert flag.measured["jump_m"] == 1001.0


def test_short_dropout_is_not_tampering_however_far():
    assert run_check(tamper.check, with_gap(299, 1500), context()) == []


def test_power_cut_alarm_fires_without_a_gap():
    b = TrackBuilder()
    for t in range(0, 200, 10):
        b.at(t, 10.0 * t, 0, alarm=POWER_CUT if 50 <= t <= 70 else 0)
    (flag,) = run_check(tamper.check, b, context())
    assert (flag.start, flag.end) == (utc(50), utc(70))
    assert flag.measured == {
        "alarm_bits": [8],
        "alarms": ["main power cut"],
        "alarm_duration_s": 20.0,
        "alarm_fixes": 3,
    }
    assert flag.severity == 80
    assert flag.explanation_zh == "终端报警：主电源掉电，3 个定位点、20 秒"
    assert flag.explanation_en == "Terminal alarm: main power cut on 3 fix(es) over 20 s"


def test_antenna_and_gnss_fault_bits_are_named():
    b = TrackBuilder().at(0, 0, 0).at(10, 0, 0, alarm=ANTENNA | GNSS_FAULT | EMERGENCY).at(20, 0, 0)
    (flag,) = run_check(tamper.check, b, context())
    assert flag.measured["alarm_bits"] == [5, 4]
    assert "GNSS 天线未接或被剪断、GNSS 模块故障" in flag.explanation_zh


def test_other_alarm_bits_do_not_fire():
    b = TrackBuilder().at(0, 0, 0).at(10, 0, 0, alarm=EMERGENCY | (1 << 1)).at(20, 0, 0)
    assert run_check(tamper.check, b, context()) == []


def test_power_cut_before_the_jump_is_one_flag():
    (flag,) = run_check(tamper.check, with_gap(600, 3000, alarm_before=POWER_CUT), context())
    assert (flag.start, flag.end) == (utc(100), utc(700))
    assert flag.measured["jump_m"] == 3000.0
    assert flag.measured["alarm_bits"] == [8]
    assert flag.severity == 80
    assert flag.explanation_en.startswith("No fix for 10.0 min")
    assert "；终端报警：主电源掉电" in flag.explanation_zh
