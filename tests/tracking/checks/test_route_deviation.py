import math

import pytest

from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.tracking.checks import route_deviation
from tests.tracking.handbuilt import (
    TrackBuilder,
    box,
    context,
    line,
    lonlat,
    permit,
    roads,
    run_check,
    trips_of,
    utc,
    zone,
)

SITE = zone(1, box(-100, -100, 100, 100))
FACILITY = zone(10, box(5000, -100, 5200, 100))
ROUTE = line((0, 0), (5100, 0))


def ctx(**permit_kw):
    routes = permit_kw.pop("routes", (ROUTE,))
    return context(
        sites=[SITE], facilities=[FACILITY], permits=[permit(routes=routes, **permit_kw)]
    )


def detour(seconds: int, step_m: float = 10.0, offset: float = 100.0) -> TrackBuilder:
    """Site → route y=0 to x=1000 (t=160) → ``seconds + 1`` fixes, 1 s apart, ``offset`` m
    off the route from t=161 → back on the route one second later → facility."""
    b = TrackBuilder().stay(0, 60, 0, 0)
    b.drive(60, (0, 0), (1000, 0), 10.0, step=1.0, include_start=False)
    for k in range(seconds + 1):
        b.at(161 + k, 1010 + step_m * k, offset)
    back_x = 1010 + step_m * seconds + 10
    b.drive(b.last_t + 1, (back_x, 0), (5100, 0), 10.0, step=1.0)
    b.stay(b.last_t + 10, b.last_t + 60, 5100, 0)
    return b


def test_sixty_seconds_and_600_m_off_route_fires_with_evidence():
    (flag,) = run_check(route_deviation.check, detour(60), ctx())
    assert flag.code == FlagCode.ROUTE_DEVIATION
    assert (flag.start, flag.end) == (utc(161), utc(221))
    detour_m = 600 + 2 * math.hypot(10, 100)
    assert flag.measured == {
        "off_route_duration_s": 60.0,
        "off_route_distance_m": 600.0,
        "max_offset_m": 100.0,
        "detour_distance_m": round(detour_m, 1),
        "detour_duration_s": 62.0,
        "route_distance_m": 620.0,
        "extra_distance_m": round(detour_m - 620, 1),
        "extra_time_s": round(62 * (detour_m - 620) / detour_m, 1),
        "exit_time": utc(160).isoformat(),
        "rejoin_time": utc(222).isoformat(),
        "load_state_source": "inferred",  # no status bits
    }
    assert flag.thresholds == {
        "corridor_half_width_m": 50.0,
        "deviation_min_duration_s": 60.0,
        "deviation_min_distance_m": 200.0,
        "deviation_confirm_margin_m": 50.0,
    }
    # Evidence path: exit fix, the off-route fixes (collinear ones simplified away), rejoin fix.
    coords = [tuple(c) for c in flag.geometry["coordinates"]]
    assert flag.geometry["type"] == "LineString"
    assert coords[:2] == [lonlat(1000, 0), lonlat(1010, 100)]
    assert coords[-2:] == [lonlat(1610, 100), lonlat(1620, 0)]
    assert len(coords) < 10
    assert flag.permit_no == "HZ-2024-001"
    assert flag.severity == 52
    assert flag.explanation_zh == (
        "重车偏离核准路线 60 秒、600 米（阈值 60 秒、200 米，走廊半宽 50 米），"
        "最远偏离 100 米，多行驶 181 米、约 14 秒"
    )
    assert flag.explanation_en == (
        "Loaded truck off the approved route for 60 s and 600 m (thresholds 60 s, 200 m; "
        "corridor half-width 50 m), up to 100 m away, 181 m and about 14 s extra"
    )


def test_fifty_nine_seconds_off_route_does_not_fire():
    assert run_check(route_deviation.check, detour(59), ctx()) == []


def test_sixty_seconds_but_under_200_m_does_not_fire():
    assert run_check(route_deviation.check, detour(60, step_m=199 / 60), ctx()) == []
    assert len(run_check(route_deviation.check, detour(60, step_m=201 / 60), ctx())) == 1


def test_inside_the_corridor_does_not_fire():
    assert run_check(route_deviation.check, detour(300, offset=49.0), ctx()) == []


def test_fixes_within_gps_error_of_the_corridor_are_no_proof():
    """300 s and 3 km at 90 m from the route (beyond the 50 m half-width, within the 50 m
    confirmation margin beyond it), with one multipath fix 200 m out: no flag; a second
    fix beyond 100 m confirms the stretch."""
    b = detour(300, offset=90.0)
    at = {row["t"]: row for row in b.rows}
    at[300]["y"] = 200.0
    assert run_check(route_deviation.check, b, ctx()) == []
    at[400]["y"] = 101.0
    (flag,) = run_check(route_deviation.check, b, ctx())
    assert flag.measured["max_offset_m"] == 200.0
    assert flag.measured["off_route_duration_s"] == 300.0
    # The margin is a per-permit setting.
    loose = ctx(thresholds=Thresholds(deviation_confirm_margin_m=30.0))
    assert len(run_check(route_deviation.check, detour(300, offset=90.0), loose)) == 1


def test_corridor_width_is_a_per_permit_override():
    wide = ctx(thresholds=Thresholds(corridor_half_width_m=150.0))
    assert run_check(route_deviation.check, detour(60), wide) == []


def test_any_of_several_approved_routes_keeps_the_truck_in_corridor():
    alternative = line((1000, 100), (2000, 100))
    assert run_check(route_deviation.check, detour(60), ctx(routes=(ROUTE, alternative))) == []


def test_empty_leg_or_leg_without_routes_is_not_checked():
    # The same path driven backwards, facility → site, is an empty leg.
    forward = detour(60)
    reverse = TrackBuilder()
    for r in reversed(forward.rows):
        reverse.at(forward.last_t - r["t"], r["x"], r["y"])
    assert run_check(route_deviation.check, reverse, ctx()) == []
    assert run_check(route_deviation.check, detour(60), ctx(routes=())) == []


@pytest.mark.parametrize("seconds", [60, 120])
def test_extra_distance_uses_the_route_between_exit_and_rejoin(seconds):
    (flag,) = run_check(route_deviation.check, detour(seconds), ctx())
    assert flag.measured["route_distance_m"] == 10 * seconds + 20


# --- along the road network ------------------------------------------------------------

# The approved road along y=0 (primary, 60 km/h) and a residential loop (30 km/h) north of
# it: up x=500 to y=300, east to x=1500, down to the road again.
LOOP = roads(
    {1: (0, 0), 2: (500, 0), 3: (1000, 0), 4: (1500, 0), 5: (2000, 0), 6: (5100, 0)}
    | {7: (500, 300), 8: (1500, 300)},
    [
        ([1, 2, 3, 4, 5, 6], {"name": "迎宾大道", "highway": "primary"}),
        ([2, 7, 8, 4], {"name": "环村路"}),
    ],
)


def around_the_loop() -> TrackBuilder:
    """Site → the road to x=500 → the loop at 10 m/s, a fix every 4 s (up: y = 40 k; along:
    x = 500 + 40 k; down: y = 300 - 40 k, the last at y=20) → the road → facility."""
    b = TrackBuilder().stay(0, 60, 0, 0)
    b.drive(60, (0, 0), (500, 0), 10.0, step=1.0, include_start=False)
    for start, end in (((500, 0), (500, 300)), ((500, 300), (1500, 300)), ((1500, 300), (1500, 0))):
        b.drive(b.last_t + 4, start, end, 10.0, step=4.0, include_start=start != (500, 0))
    b.drive(b.last_t + 1, (1500, 0), (5100, 0), 10.0, step=1.0, include_start=False)
    return b.stay(b.last_t + 10, b.last_t + 60, 5100, 0)


def test_the_detour_is_also_measured_along_the_network():
    ctx = context(
        sites=[SITE], facilities=[FACILITY], permits=[permit(routes=(ROUTE,))], roads=LOOP
    )
    (flag,) = run_check(route_deviation.check, around_the_loop(), ctx)
    # Exit (500, 40), rejoin (1500, 20): 260 + 1000 + 280 m of loop at 30 km/h, against
    # 1000 m of the approved road at 60 km/h.
    assert {k: v for k, v in flag.measured.items() if k.startswith("network_")} == {
        "network_detour_distance_m": 1540.0,
        "network_detour_time_s": 184.8,
        "network_route_distance_m": 1000.0,
        "network_route_time_s": 60.0,
        "network_extra_distance_m": 540.0,
        "network_extra_time_s": 124.8,
    }
    assert flag.explanation_zh.endswith(
        "；沿路网绕行 1.54 公里（约 3.1 分钟），核准路线同段 1.00 公里（约 60 秒），"
        "沿路网多行驶 540 米、约 2.1 分钟（按道路通行速度）"
    )
    assert flag.explanation_en.endswith(
        "; along the road network the detour is 1.54 km (about 3.1 min) against 1.00 km "
        "(about 60 s) on the approved route: 540 m and about 2.1 min extra at the roads' "
        "free-flow speeds"
    )
    plain = run_check(
        route_deviation.check,
        around_the_loop(),
        context(sites=[SITE], facilities=[FACILITY], permits=[permit(routes=(ROUTE,))]),
    )[0]
    assert {
        k: v for k, v in flag.measured.items() if not k.startswith("network_")
    } == plain.measured


def test_no_network_figures_where_the_route_is_off_the_network():
    elsewhere = roads({1: (0, 5000), 2: (5000, 5000)}, [([1, 2], {})])
    ctx = context(
        sites=[SITE], facilities=[FACILITY], permits=[permit(routes=(ROUTE,))], roads=elsewhere
    )
    (flag,) = run_check(route_deviation.check, around_the_loop(), ctx)
    assert not any(k.startswith("network_") for k in flag.measured)
    assert "路网" not in flag.explanation_zh


def test_a_detour_through_another_sites_fence_is_one_leg_and_flagged():
    # Off the route at x=2000 north through another site's fence (y=60..600, no stop),
    # east along y=800 and back onto the route at x=3500: one loaded leg, checked whole.
    other_site = zone(2, box(1900, 60, 2100, 600), "工地丙")
    c = context(sites=[SITE, other_site], facilities=[FACILITY], permits=[permit(routes=(ROUTE,))])
    b = TrackBuilder().stay(0, 600, 0, 0)
    for a, z in [((0, 0), (2000, 0)), ((2000, 0), (2000, 800)), ((2000, 800), (3500, 800))]:
        b.drive(b.last_t + 10, a, z, 10.0, include_start=False)
    b.drive(b.last_t + 10, (3500, 800), (3500, 0), 10.0, include_start=False)
    b.drive(b.last_t + 10, (3500, 0), (5100, 0), 10.0, include_start=False)
    b.stay(b.last_t + 10, b.last_t + 300, 5100, 0)
    track, trips = trips_of(b, c)
    legs = [t for t in trips if t.kind != "visit"]
    assert [(t.origin.id, t.destination.id, t.permit_no) for t in legs] == [(1, 10, "HZ-2024-001")]
    assert (track.zone["site"][legs[0].start_index : legs[0].end_index] == 1).any()
    (flag,) = run_check(route_deviation.check, b, c)
    assert flag.trip_id == legs[0].trip_id
    # Off the 50 m corridor (fixes every 100 m): from y=100 up, along y=800, down to y=100.
    assert flag.measured["off_route_distance_m"] == 700 + 1500 + 700
    assert flag.measured["max_offset_m"] == 800.0
