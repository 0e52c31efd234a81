"""The explanation catalogue: sentences built from a flag's measured values and thresholds."""

from cdw.flags.codes import FlagCode
from cdw.flags.explain import SENTENCES, dist_en, dist_zh, dur_en, dur_zh, explain
from cdw.tracking.checks.listing import ENGINE_CHECKS


def test_units_switch_at_two_minutes_and_one_kilometre():
    assert (dur_zh(119), dur_en(119)) == ("119 秒", "119 s")
    assert (dur_zh(120), dur_en(750)) == ("2.0 分钟", "12.5 min")
    assert (dist_zh(999), dist_en(999)) == ("999 米", "999 m")
    assert (dist_zh(1250), dist_en(1250)) == ("1.25 公里", "1.25 km")


def test_every_engine_code_has_its_sentence():
    assert set(SENTENCES) == {c.code for c in ENGINE_CHECKS}


def test_a_sentence_is_worded_from_the_measured_values_and_thresholds():
    zh, en = explain(
        FlagCode.LONG_STOP,
        {"duration_s": 750.0, "n_fixes": 26, "max_distance_from_centre_m": 12.3},
        {"stop_radius_m": 50.0, "long_stop_min_duration_s": 600.0},
    )
    assert zh == "停留 12.5 分钟（阈值 10.0 分钟），半径 50 米内，位于授权区域外"
    assert en == "Stopped 12.5 min (threshold 10.0 min) within 50 m, outside authorised zones"


def test_dumping_names_each_factor_that_scored_and_the_facility_it_was_near():
    measured = {
        "duration_s": 300.0,
        "score": {"base": 40, "near_facility": 15, "off_route": 0, "night": 10},
        "score_total": 65,
        "nearest_facility": "一号消纳场",
        "nearest_facility_distance_m": 1234.5,
    }
    thresholds = {"dumping_stop_min_duration_s": 180.0, "dumping_facility_radius_m": 2000.0}
    zh, en = explain(FlagCode.SUSPECTED_DUMPING, measured, thresholds)
    assert zh == (
        "重车在授权区域外停留 5.0 分钟（阈值 3.0 分钟），评分 65："
        "靠近消纳场但在场外、夜间（距「一号消纳场」1.23 公里，阈值 2.00 公里）"
    )
    assert en == (
        "Loaded truck stopped 5.0 min (threshold 3.0 min) outside authorised zones, score 65: "
        "near a facility but outside its fence, at night "
        "(1.23 km from '一号消纳场', threshold 2.00 km)"
    )
