from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.tracking.checks import suspected_dumping
from tests.tracking.handbuilt import (
    EMPTY,
    FULL,
    PLATE,
    TrackBuilder,
    box,
    context,
    line,
    lonlat,
    permit,
    run_check,
    utc,
    zone,
)

SITE = zone(1, box(-100, -100, 100, 100), "工地甲")
FACILITY = zone(10, box(5000, -100, 5200, 100), "消纳场乙")
ROUTE = line((0, 0), (5100, 0))
NIGHT = 13 * 3600.0  # T0 is 10:00 local: +13 h is 23:00


def ctx(**kw):
    return context(sites=[SITE], facilities=[FACILITY], permits=[permit(routes=(ROUTE,))], **kw)


def haul(
    stop: tuple[float, float],
    stop_s: float,
    *,
    t0: float = 0.0,
    to_facility: bool = True,
    before: int | None = None,
    after: int | None = None,
) -> TrackBuilder:
    """Load at the site, drive along y=0 to x=stop[0], then to ``stop``; arrive there at
    A = t0 + 60 + stop[0]/10 + stop[1]/10, stay, and leave at A + ``stop_s`` with a fix
    100 m on; end in the facility (or 1 km short of it)."""
    b = TrackBuilder().stay(t0, t0 + 60, 0, 0, status=before)
    b.drive(t0 + 60, (0, 0), (stop[0], 0), 10.0, include_start=False, status=before)
    if stop[1]:
        b.drive(b.last_t, (stop[0], 0), stop, 10.0, include_start=False, status=before)
    arrival = b.last_t
    b.stay(arrival + 10, arrival + stop_s - 10, *stop, status=before)
    end = (5100, 0) if to_facility else (4000, -1000)
    b.drive(arrival + stop_s, (stop[0] + 100, stop[1]), end, 10.0, status=after)
    if to_facility:
        b.stay(b.last_t + 10, b.last_t + 120, *end, status=after)
    return b


def test_three_minute_loaded_stop_on_route_scores_the_base_only():
    (flag,) = run_check(suspected_dumping.check, haul((2000, 0), 180), ctx())
    assert flag.code == FlagCode.SUSPECTED_DUMPING
    arrival = 60 + 200
    assert (flag.start, flag.end) == (utc(arrival), utc(arrival + 180))
    assert flag.severity == 40
    assert flag.measured["duration_s"] == 180.0
    assert flag.measured["score"] == {
        "base": 40,
        "near_facility": 0,
        "off_route": 0,
        "night": 0,
        "hotspot": 0,
        "load_dropped": 0,
        "never_reaches_facility": 0,
    }
    assert flag.measured["nearest_facility_distance_m"] == 3000.0
    assert flag.measured["off_route"] is False
    assert flag.permit_no == "HZ-2024-001"
    assert (flag.lon, flag.lat) == lonlat(2000, 0)
    assert (
        flag.explanation_zh
        == "重车在授权区域外停留 3.0 分钟（阈值 3.0 分钟），评分 40：无其他加分项"
    )
    assert flag.explanation_en == (
        "Loaded truck stopped 3.0 min (threshold 3.0 min) outside authorised zones, score 40: "
        "no other factor"
    )


def test_stop_of_179_seconds_does_not_fire():
    assert run_check(suspected_dumping.check, haul((2000, 0), 179), ctx()) == []


def test_every_factor_raises_the_score_to_the_cap():
    b = haul((4000, 300), 240, t0=NIGHT, to_facility=False, before=FULL, after=EMPTY)
    (flag,) = run_check(suspected_dumping.check, b, ctx())
    assert flag.measured["score"] == {
        "base": 40,
        "near_facility": 15,
        "off_route": 15,
        "night": 10,
        "hotspot": 0,
        "load_dropped": 25,
        "never_reaches_facility": 10,
    }
    assert flag.severity == 100
    assert flag.measured["score_total"] == 100
    assert flag.measured["nearest_facility"] == "消纳场乙"
    assert flag.measured["nearest_facility_distance_m"] == 1019.8  # hypot(1000, 200)
    assert (flag.measured["load_before"], flag.measured["load_after"]) == (3, 0)
    assert flag.measured["duration_s"] == 240.0
    assert flag.explanation_zh == (
        "重车在授权区域外停留 4.0 分钟（阈值 3.0 分钟），评分 100：靠近消纳场但在场外、"
        "不在核准路线上、夜间、载重状态由重变空、未到达核准消纳场"
        "（距「消纳场乙」1.02 公里，阈值 2.00 公里）"
    )


def test_facility_radius_is_inclusive_and_sharp():
    # The stop at x=3100 is 1900 m from the facility fence.
    # The radius is a per-permit override here.
    def near(radius_m: float) -> int:
        overrides = Thresholds(dumping_facility_radius_m=radius_m)
        c = context(
            sites=[SITE],
            facilities=[FACILITY],
            permits=[permit(routes=(ROUTE,), thresholds=overrides)],
        )
        (flag,) = run_check(suspected_dumping.check, haul((3100, 0), 180), c)
        assert flag.measured["nearest_facility_distance_m"] == 1900.0
        return flag.measured["score"]["near_facility"]

    assert near(1900.5) == 15
    assert near(1899.5) == 0


def test_night_window_follows_local_time():
    evening = run_check(suspected_dumping.check, haul((2000, 0), 180, t0=NIGHT - 2 * 3600), ctx())
    assert evening[0].measured["score"]["night"] == 0  # the stop starts at 21:04:20
    at_night = run_check(suspected_dumping.check, haul((2000, 0), 180, t0=NIGHT), ctx())
    assert at_night[0].measured["score"]["night"] == 10
    assert at_night[0].measured["local_start"] == "2024-05-06T23:04:20+08:00"


def test_empty_leg_stop_does_not_fire():
    # Leaving a site with load bits "empty" and not heading to a facility is an empty leg.
    b = haul((2000, 0), 600, to_facility=False, before=EMPTY, after=EMPTY).sensor_shown()
    assert run_check(suspected_dumping.check, b, ctx()) == []


def test_loaded_stop_inside_a_depot_does_not_fire():
    c = ctx(depots=[zone(20, box(1900, -100, 2100, 100))])
    assert run_check(suspected_dumping.check, haul((2000, 0), 600), c) == []


def test_known_hotspot_raises_the_score():
    c = ctx(hotspots=[zone(40, box(1900, -100, 2100, 100), "河涌边偷倒点")])
    (flag,) = run_check(suspected_dumping.check, haul((2000, 0), 180), c)
    assert flag.measured["score"]["hotspot"] == 15
    assert flag.measured["hotspot"] == "河涌边偷倒点"
    assert flag.severity == 55
    assert flag.explanation_en.endswith("score 55: at a known dumping hotspot")
    elsewhere = ctx(hotspots=[zone(40, box(2100, 100, 2300, 300))])
    (flag,) = run_check(suspected_dumping.check, haul((2000, 0), 180), elsewhere)
    assert flag.measured["score"]["hotspot"] == 0


def test_wrong_facility_counts_as_never_reaching_its_facility():
    c = context(
        sites=[SITE],
        facilities=[FACILITY],
        permits=[permit(facility_id=99, routes=(ROUTE,))],
    )
    (flag,) = run_check(suspected_dumping.check, haul((2000, 0), 180), c)
    assert flag.measured["score"]["never_reaches_facility"] == 10
    assert flag.measured["destination_facility_id"] == 10
    assert flag.measured["permitted_facility_id"] == 99


def dump_and_turn_back(status: int) -> TrackBuilder:
    """Loads at the site t=0..600, drives to 500 m short of the facility fence, stops
    8 min, drives back into the site and stays there; status ``status`` throughout."""
    b = TrackBuilder().stay(0, 600, 0, 0, status=status)
    b.drive(610, (0, 0), (4500, 0), 10.0, include_start=False, status=status)
    arrival = b.last_t
    b.stay(arrival + 10, arrival + 480, 4500, 0, status=status)
    b.drive(b.last_t, (4500, 0), (0, 0), 10.0, include_start=False, status=status)
    return b.stay(b.last_t + 10, b.last_t + 600, 0, 0, status=status)


def test_a_truck_without_a_load_sensor_that_stops_outside_a_facility_and_turns_back():
    # Status bits always 0 ("empty"): no sensor, so the leg from the site is loaded.
    (flag,) = run_check(suspected_dumping.check, dump_and_turn_back(EMPTY), ctx())
    assert flag.code == FlagCode.SUSPECTED_DUMPING
    arrival = 610 + 450
    assert (flag.start, flag.end) == (utc(arrival), utc(arrival + 490))  # to the fix leaving
    assert flag.measured["load_state_source"] == "inferred"
    assert flag.measured["duration_s"] == 490.0
    assert flag.measured["nearest_facility_distance_m"] == 500.0
    assert flag.measured["score"] == {
        "base": 40,
        "near_facility": 15,
        "off_route": 0,
        "night": 0,
        "hotspot": 0,
        "load_dropped": 0,
        "never_reaches_facility": 10,
    }
    # The registry says it has no sensor: its "full" bits are no evidence either way.
    c = ctx(no_load_sensor=frozenset({PLATE}))
    (flag,) = run_check(suspected_dumping.check, dump_and_turn_back(FULL), c)
    assert (flag.measured["load_state_source"], flag.measured["score"]["load_dropped"]) == (
        "inferred",
        0,
    )


def test_a_truck_whose_sensor_says_empty_is_not_checked():
    b = dump_and_turn_back(EMPTY).sensor_shown()
    assert run_check(suspected_dumping.check, b, ctx()) == []
    # Reported full: a loaded leg, and the evidence says the bits said so.
    (flag,) = run_check(suspected_dumping.check, dump_and_turn_back(FULL), ctx())
    assert flag.measured["load_state_source"] == "reported"


def test_a_wait_at_the_facility_gate_is_a_queue_not_dumping():
    """4 min stopped 40 m outside the facility fence, then straight in: the margin of
    fence jitter (fence_exit_margin_m 50 m) holds it to the fence; 60 m out it is a stop."""
    assert run_check(suspected_dumping.check, haul((4960, 0), 240), ctx()) == []
    (flag,) = run_check(suspected_dumping.check, haul((4940, 0), 240), ctx())
    assert flag.code == FlagCode.SUSPECTED_DUMPING
    # The margin is the permit's setting.
    wide = Thresholds(fence_exit_margin_m=70.0)
    c = context(
        sites=[SITE], facilities=[FACILITY], permits=[permit(routes=(ROUTE,), thresholds=wide)]
    )
    assert run_check(suspected_dumping.check, haul((4940, 0), 240), c) == []


def test_a_wait_at_the_site_gate_on_the_way_out_is_a_queue_not_dumping():
    assert run_check(suspected_dumping.check, haul((140, 0), 240), ctx()) == []
    (flag,) = run_check(suspected_dumping.check, haul((160, 0), 240), ctx())
    assert flag.code == FlagCode.SUSPECTED_DUMPING


def test_a_stop_at_the_gate_that_then_drives_away_is_still_checked():
    """Stopped 40 m from the facility fence, but the truck leaves 1 km away before entering:
    not a queue (the fixes after the stay leave the margin)."""
    b = TrackBuilder().stay(0, 60, 0, 0)
    b.drive(60, (0, 0), (4960, 0), 10.0, include_start=False)
    b.stay(b.last_t + 10, b.last_t + 240, 4960, 0)
    b.drive(b.last_t + 10, (4960, 0), (4960, 1000), 10.0, include_start=False)
    b.drive(b.last_t + 10, (4960, 1000), (5100, 0), 10.0, include_start=False)
    b.stay(b.last_t + 10, b.last_t + 120, 5100, 0)
    (flag,) = run_check(suspected_dumping.check, b, ctx())
    assert flag.code == FlagCode.SUSPECTED_DUMPING


def test_fixes_that_meet_in_one_place_while_the_terminal_reports_moving_are_no_stop():
    """Loaded along y=0 at 36 km/h, a fix every 30 s; at x=2000 the signal drops for 170 s
    while the truck goes round a block and comes back: two fixes at one place 170 s apart
    look like a stay of 200 s up to the next fix, but the terminal reports 36 km/h at every
    fix. The same fixes reporting 0 there are a stop."""

    def round_the_block(kmh_there: float) -> TrackBuilder:
        b = TrackBuilder().stay(0, 60, 0, 0)
        for t in range(80, 261, 30):
            b.at(t, 2000.0 - (260 - t) * 10.0, 0, speed_kmh=36.0 if t < 260 else kmh_there)
        b.at(430, 2000.0, 0, speed_kmh=kmh_there)
        b.drive(460, (2300, 0), (5100, 0), 10.0, step=30.0, speed_kmh=36.0)
        return b.stay(b.last_t + 30, b.last_t + 150, 5100, 0, step=30.0)

    assert run_check(suspected_dumping.check, round_the_block(36.0), ctx()) == []
    (flag,) = run_check(suspected_dumping.check, round_the_block(0.0), ctx())
    assert (flag.start, flag.end) == (utc(260), utc(460))
