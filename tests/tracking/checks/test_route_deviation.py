import math

import pytest

from cdw.config import Thresholds
from cdw.tracking.checks import route_deviation
from cdw.tracking.flags import FlagCode
from tests.tracking.handbuilt import (
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
    }
    assert flag.thresholds == {
        "corridor_half_width_m": 50.0,
        "deviation_min_duration_s": 60.0,
        "deviation_min_distance_m": 200.0,
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
