from cdw.flags.codes import FlagCode
from cdw.tracking.checks import tamper
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


def parked_gap(jump_m: float) -> TrackBuilder:
    """Parked (reporting 0 km/h) at the origin t=0..100, 6 minutes without a fix, parked
    ``jump_m`` east t=460..560."""
    b = TrackBuilder().stay(0, 100, 0, 0, speed_kmh=0.0)
    return b.stay(460, 560, jump_m, 0, speed_kmh=0.0)


def test_one_thrown_fix_at_an_end_of_the_gap_does_not_make_a_jump():
    """Parked 920 m apart before and after the gap; the last fix before it thrown 100 m
    west (multipath): 1020 m between the end fixes, but the median of the three fixes at
    each end where the truck stood says 920 m."""
    (flag,) = run_check(tamper.check, parked_gap(1100), context())
    assert flag.measured["jump_m"] == 1100.0
    b = parked_gap(920)
    at = {row["t"]: row for row in b.rows}
    at[100]["x"] = -100.0
    assert run_check(tamper.check, b, context()) == []
    # Two of the three fixes thrown the same way: the end really lies there.
    at[90]["x"] = -100.0
    (flag,) = run_check(tamper.check, b, context())
    assert flag.measured["end_fixes_apart_m"] == 1020.0
    assert flag.measured["jump_m"] == 1020.0
    # Without reported speeds nothing says the truck stood: the end fixes alone.
    at[90]["x"] = 0.0
    for row in b.rows:
        row["speed_kmh"] = None
    (flag,) = run_check(tamper.check, b, context())
    assert flag.measured["jump_m"] == 1020.0


def test_a_truck_moving_off_at_the_gap_is_measured_from_its_end_fixes():
    """Parked, then the last fix before the gap already 120 m on at 35 km/h (the truck
    drove off): the parked fixes are no estimate of where the gap began (1001 m on)."""
    b = TrackBuilder().stay(0, 90, 0, 0, speed_kmh=0.0).at(100, 120, 0, speed_kmh=35.0)
    b.stay(460, 560, 1121, 0, speed_kmh=0.0)
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
