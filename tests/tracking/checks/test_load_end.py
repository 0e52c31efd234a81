"""Where a loaded leg's load ends (``suspected_dumping.load_end``), on the real Panyu network.

A site at the end of a real dead-end road in 石碁 (OSM node 8602139451) and a facility 18.9 km
north-west (OSM node 12203480998); the approved route is the fastest path between them on the
shipped network, which runs on one-way carriageways. A truck leaves the site, stops 8 min on
the route 1 km short of the facility (it dumps its load there) and turns back to the site:
on to the route's next junction, then the fastest way back, which about 2 km from the site
takes the other carriageway of a divided road, up to ~145 m from the route's (fixes every
10 s at 18 km/h, no noise). The way back is empty: it is no ROUTE_DEVIATION, with or without a load
sensor; the same drive back without the stop is one (the load never left the truck).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import shapely
import shapely.affinity
from shapely.geometry import LineString

from cdw.flags.codes import FlagCode
from cdw.scenario.world import panyu
from cdw.tracking.checks import out_of_hours, route_deviation, suspected_dumping
from tests.tracking.handbuilt import (
    _X0,
    _Y0,
    EMPTY,
    FULL,
    TrackBuilder,
    box,
    context,
    permit,
    run_check,
    trips_of,
    utc,
    zone,
)

SITE_NODE, FACILITY_NODE = 8602139451, 12203480998
SPEED = 6.0  # m/s: a slow drive in town traffic
RED_LIGHT_S = 30.0  # on the way back, where it is farthest from the route
STEP = 10.0  # s between fixes
GRID = SPEED * STEP  # m between fixes
STOP_S = 480.0
CORRIDOR_M = 50.0  # the permit's corridor half-width (Thresholds default)


@lru_cache(maxsize=1)
def geometry() -> dict:
    """Route and way back in local metres (handbuilt's origin), from the shipped network at
    free-flow times (the world's zone, if a scenario set one, plays no part). The stop lies
    on the route about 1 km short of the facility, a whole number of fixes from the site."""
    world = panyu()
    ids = world.net.node_id
    site, facility = (int(np.flatnonzero(ids == n)[0]) for n in (SITE_NODE, FACILITY_NODE))
    route_arcs = world.path(site, facility, cost=world.free_s)
    xy = world.polyline(route_arcs) - (_X0, _Y0)
    route = LineString(xy)
    stop_m = GRID * np.floor((route.length - 1000.0) / GRID)
    cum = np.r_[0.0, np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]
    j = int(np.searchsorted(cum, stop_m))  # the route's next junction after the stop
    stop_xy = route.interpolate(stop_m).coords[0]
    nodes = np.r_[world.net.edge_from[route_arcs[:1]], world.net.edge_to[route_arcs]]
    back = world.polyline(world.path(int(nodes[j]), site, cost=world.free_s)) - (_X0, _Y0)
    far = shapely.distance(shapely.points(back[:, 0], back[:, 1]), route)
    return {
        "red_light": int(np.argmax(far)) + 1,  # its index in "back" below
        "route": route,
        "out": np.vstack([xy[:j], stop_xy]),  # site to the stop
        "back": np.vstack([stop_xy, back]),  # the stop, the junction, back to the site
        "stop_m": float(stop_m),
        "site_xy": tuple(xy[0]),
        "facility_xy": tuple(xy[-1]),
    }


def _along(b: TrackBuilder, t0: float, pts: np.ndarray, **kw) -> None:
    """Fixes every STEP s at SPEED along the polyline ``pts`` from ``t0`` (the first one a
    STEP after ``t0``), and one at its end."""
    line = LineString(pts)
    n = int(line.length / GRID + 1e-6)
    for k in range(1, n + 1):
        x, y = line.interpolate(k * GRID).coords[0]
        b.at(t0 + k * STEP, x, y, **kw)
    if line.length - n * GRID > 1e-3:
        b.at(t0 + line.length / SPEED, *pts[-1], **kw)


def _ctx():
    g = geometry()
    sx, sy = g["site_xy"]
    fx, fy = g["facility_xy"]
    site = zone(1, box(sx - 80, sy - 80, sx + 80, sy + 80))
    facility = zone(10, box(fx - 120, fy - 120, fx + 120, fy + 120))
    route = shapely.affinity.translate(g["route"], _X0, _Y0)
    # allowed 00:00-08:00 local (T0 is 10:00 local: every fix is outside the hours)
    return context(
        sites=[site],
        facilities=[facility],
        permits=[permit(routes=(route,), hours=(0.0, 8 * 3600.0))],
    )


def turn_back(
    *, stop: bool, loaded: int | None = None, after: int | None = None, stop_back_s: float = 0
) -> tuple[TrackBuilder, float, float]:
    """Load 10 min at the site, drive the route to the stop, stay STOP_S there (or not)
    and drive back to the site (waiting RED_LIGHT_S at a red light where the way back is
    farthest from the route, and stopping ``stop_back_s`` half way, if any), stay 10 min.
    Status ``loaded`` up to the middle of the stop, ``after`` from then on. Returns the
    builder, the time of the fix arriving at the stop and of the last fix there."""
    g = geometry()
    b = TrackBuilder().stay(0, 600, *g["site_xy"], status=loaded)
    _along(b, 600, g["out"], status=loaded)
    arrived = b.last_t
    assert arrived == 600 + g["stop_m"] / SPEED
    if stop:
        b.stay(arrived + STEP, arrived + STOP_S / 2, *g["out"][-1], status=loaded)
        b.stay(b.last_t + STEP, arrived + STOP_S, *g["out"][-1], status=after)
    left = b.last_t
    back = g["back"]
    waits = {g["red_light"]: RED_LIGHT_S}
    if stop_back_s:
        waits[len(back) // 2] = stop_back_s
    k0 = 0
    for k in sorted(waits):
        _along(b, b.last_t, back[k0 : k + 1], status=after)
        b.stay(b.last_t + STEP, b.last_t + waits[k], *back[k], status=after)
        k0 = k
    _along(b, b.last_t, back[k0:], status=after)
    b.stay(b.last_t + STEP, b.last_t + 600, *g["site_xy"], status=after)
    return b, arrived, left


def _off_corridor_times(b: TrackBuilder) -> tuple[float, float]:
    """First and last fix of the last run of fixes farther than the corridor from the route
    (shapely, not the engine's index): the other carriageway near the site. (An earlier run
    back on the route's road, 55 m from it, lasts 40 s and is no proof.)"""
    route = geometry()["route"]
    far = [route.distance(shapely.Point(r["x"], r["y"])) > CORRIDOR_M for r in b.rows]
    last = max(k for k, f in enumerate(far) if f)
    first = last
    while far[first - 1]:
        first -= 1
    return b.rows[first]["t"], b.rows[last]["t"]


def test_the_way_back_leaves_the_route_corridor():
    """The premise: the way back is > 100 m from the route for > 60 s and 200 m."""
    g = geometry()
    assert 18_000 < g["route"].length < 20_000
    back = g["back"]
    d = shapely.distance(shapely.points(back[:, 0], back[:, 1]), g["route"])
    assert 140 < d.max() < 150
    assert g["red_light"] > len(back) // 2  # it comes after the stop half way back
    b, _, _ = turn_back(stop=False)
    first, last = _off_corridor_times(b)
    assert last - first > 60


@pytest.mark.parametrize(
    ("loaded", "after", "source"), [(None, None, "inferred"), (FULL, EMPTY, "reported")]
)
def test_a_truck_that_dumps_and_turns_back_drives_back_empty(loaded, after, source):
    b, arrived, left = turn_back(stop=True, loaded=loaded, after=after)
    c = _ctx()
    track, trips = trips_of(b, c)
    legs = [t for t in trips if t.kind != "visit"]
    assert [(t.kind, t.origin.id, t.destination.id, t.load_state_source) for t in legs] == [
        ("loaded", 1, 1, source)
    ]
    (dump,) = run_check(suspected_dumping.check, b, c)
    assert dump.code == FlagCode.SUSPECTED_DUMPING
    assert (dump.start, dump.end) == (utc(arrived), utc(left + STEP))
    assert dump.measured["load_state_source"] == source
    assert dump.measured["score"]["load_dropped"] == (25 if source == "reported" else 0)
    assert dump.measured["score"]["never_reaches_facility"] == 10
    # the load ends at the stop: with a sensor where it says empty, without one at the
    # stop's last fix; after that the truck is empty
    last_loaded = arrived + STOP_S / 2 if source == "reported" else left
    end = suspected_dumping.load_end(legs[0], track, c)
    assert track.t[end - 1] == track.t[0] + last_loaded
    assert run_check(route_deviation.check, b, c) == []
    # out of hours only while loaded: from the site up to there
    (late,) = run_check(out_of_hours.check, b, c)
    assert late.end == utc(last_loaded)
    assert late.measured["load_state_source"] == source


def test_an_empty_trucks_stop_on_the_way_back_is_no_dumping():
    """With a sensor that says empty after the dump, a 5 min stop on the way back is an
    empty truck's; without a sensor both stops are suspect (the load is presumed to end at
    the last one)."""
    b, _, _ = turn_back(stop=True, loaded=FULL, after=EMPTY, stop_back_s=300)
    assert len(run_check(suspected_dumping.check, b, _ctx())) == 1
    b, _, _ = turn_back(stop=True, stop_back_s=300)
    assert len(run_check(suspected_dumping.check, b, _ctx())) == 2
    assert run_check(route_deviation.check, b, _ctx()) == []


def test_the_same_drive_back_without_a_stop_is_a_route_deviation():
    """No stop, no sensor: the load is presumed on board all the way back to the site, and
    the other carriageway is off the route."""
    b, _, _ = turn_back(stop=False)
    c = _ctx()
    assert run_check(suspected_dumping.check, b, c) == []
    (flag,) = run_check(route_deviation.check, b, c)
    first, last = _off_corridor_times(b)
    assert (flag.start, flag.end) == (utc(first), utc(last))
    assert flag.measured["load_state_source"] == "inferred"
    route = geometry()["route"]
    farthest = max(route.distance(shapely.Point(r["x"], r["y"])) for r in b.rows)
    assert flag.measured["max_offset_m"] == round(farthest, 1)
