"""Divided roads whose direction was lost: each carriageway becomes one-way, driven on the
right (``cdw.roads.divided``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cdw.roads.divided import divided_directions, infer_divided_oneway
from cdw.roads.matching import MapMatcher
from cdw.roads.network import BUNDLED_NETWORK, RoadNetwork
from cdw.roads.sources import load_cache

from . import twins
from .handbuilt import lonlat, network, two_way


def _line(x0: float, y0: float, dx: float, dy: float, first: int, n: int) -> dict:
    """Nodes ``first..first+n-1`` from (x0, y0) in steps of (dx, dy) metres."""
    return {first + i: (x0 + i * dx, y0 + i * dy) for i in range(n)}


def _run(first: int, n: int) -> list[tuple[int, int]]:
    return [(first + i, first + i + 1) for i in range(n - 1)]


def _dual(spacing: float, north: bool, cls: str = "trunk", other: str = "trunk") -> RoadNetwork:
    """Two two-way roads 500 m long, ``spacing`` m apart, running east (or north), joined
    100 m from each end by a residential cross road: nodes 0..10 on the first (y=0 or
    x=0), 100..110 on the second (y or x = spacing)."""
    step = (0.0, 50.0) if north else (50.0, 0.0)
    side = (spacing, 0.0) if north else (0.0, spacing)
    nodes = {**_line(0.0, 0.0, *step, 0, 11), **_line(*side, *step, 100, 11)}
    arcs = two_way(_run(0, 11), highway=cls) + two_way(_run(100, 11), highway=other)
    arcs += two_way([(2, 102), (8, 108)], highway="residential")
    return network(nodes, arcs)


def _kept(net: RoadNetwork, u: int, v: int) -> bool:
    ids = net.node_id.tolist()
    a, b = ids.index(u), ids.index(v)
    return bool(((net.edge_from == a) & (net.edge_to == b)).any())


@pytest.mark.parametrize("north", [False, True])
@pytest.mark.parametrize("spacing", [12.0, 30.0])
def test_dual_carriageway_is_driven_on_the_right(north: bool, spacing: float) -> None:
    net = _dual(spacing, north)
    out = infer_divided_oneway(net)
    # running east, the road at y=0 has its twin on its left (north): eastbound; the one
    # at y=spacing westbound. Running north, the one at x=spacing (east) is northbound.
    first_forward = not north
    for i in range(10):
        assert _kept(out, i, i + 1) is first_forward and _kept(out, i + 1, i) is not first_forward
        assert _kept(out, 100 + i + 1, 100 + i) is first_forward
        assert _kept(out, 100 + i, 100 + i + 1) is not first_forward
    assert out.n_edges == net.n_edges - 20
    assert out.edge_oneway.sum() == 20 and not out.edge_oneway[out.edge_highway == 0].any()
    # the cross roads stay two-way, and routing drives each carriageway its own way
    assert _kept(out, 2, 102) and _kept(out, 102, 2) and _kept(out, 8, 108)
    # (from the start of the carriageway driven forward to the start of the other: along
    # the first, across at the first link, back along the second)
    ids = out.node_id.tolist()
    start_road = 0 if first_forward else 100
    path = twins.shortest_edge_path(
        out.out_start, out.out_edges, out.edge_from, out.edge_to, out.edge_length_m,
        ids.index(start_road), ids.index(100 - start_road),
    )  # fmt: skip
    nodes = [int(out.node_id[out.edge_from[e]]) for e in path]
    other = 100 - start_road
    assert nodes == [start_road, start_road + 1, start_road + 2, other + 2, other + 1]
    # the CSR of outgoing arcs is rebuilt
    for node in range(out.n_nodes):
        leaving = out.out_edges[out.out_start[node] : out.out_start[node + 1]]
        assert (out.edge_from[leaving] == node).all()
    assert out.out_start[-1] == out.n_edges


@pytest.mark.parametrize(
    ("spacing", "cls", "other"),
    [
        (60.0, "trunk", "trunk"),  # too far apart: two roads
        (2.0, "trunk", "trunk"),  # one road drawn twice
        (15.0, "trunk", "secondary"),  # a frontage road of another class
        (15.0, "residential", "residential"),  # local streets side by side
    ],
)
def test_roads_that_are_not_a_divided_pair_stay_two_way(
    spacing: float, cls: str, other: str
) -> None:
    net = _dual(spacing, north=False, cls=cls, other=other)
    assert not divided_directions(net).any()
    assert infer_divided_oneway(net) is net


def test_a_lone_road_and_a_short_stretch_beside_stay_two_way() -> None:
    # a trunk road 500 m long; a second one beside it for only its first 50 m
    nodes = {**_line(0.0, 0.0, 50.0, 0.0, 0, 11), **_line(0.0, 20.0, 25.0, 0.0, 100, 3)}
    arcs = two_way(_run(0, 11), highway="trunk") + two_way(_run(100, 3), highway="trunk")
    net = network(nodes, [*arcs, *two_way([(1, 101)], highway="residential")])
    wrong = divided_directions(net)
    assert not wrong[net.edge_highway == list(net.highway_classes).index("trunk")][:20].any()
    lone = network(_line(0.0, 0.0, 50.0, 0.0, 0, 11), two_way(_run(0, 11), highway="motorway"))
    assert not divided_directions(lone).any()


def test_the_middle_of_three_parallel_roads_stays_two_way() -> None:
    # three trunk roads at y = 0, 20, 40: the middle one has a road on both sides
    nodes = {**_line(0.0, 0.0, 50.0, 0.0, 0, 11), **_line(0.0, 20.0, 50.0, 0.0, 100, 11)}
    nodes |= _line(0.0, 40.0, 50.0, 0.0, 200, 11)
    arcs = [arc for f in (0, 100, 200) for arc in two_way(_run(f, 11), highway="trunk")]
    arcs += two_way([(2, 102), (102, 202), (8, 108), (108, 208)], highway="residential")
    out = infer_divided_oneway(network(nodes, arcs))
    for i in range(10):
        assert _kept(out, 100 + i, 101 + i) and _kept(out, 101 + i, 100 + i)
        assert _kept(out, i, i + 1) and not _kept(out, i + 1, i)  # twin on its left only
        assert _kept(out, 201 + i, 200 + i) and not _kept(out, 200 + i, 201 + i)


def test_known_one_way_roads_are_left_as_they_are() -> None:
    # carriageways already one-way (as OSM tags them): nothing to infer, nothing dropped
    nodes = {**_line(0.0, 0.0, 50.0, 0.0, 0, 11), **_line(0.0, 20.0, 50.0, 0.0, 100, 11)}
    arcs = [(u, v, {"highway": "trunk", "oneway": True}) for u, v in _run(0, 11)]
    arcs += [(v, u, {"highway": "trunk", "oneway": True}) for u, v in _run(100, 11)]
    net = network(nodes, arcs)
    assert infer_divided_oneway(net) is net


def _bearing(net: RoadNetwork, e: int) -> float:
    a, b = net.edge_from[e], net.edge_to[e]
    dx, dy = net.node_x[b] - net.node_x[a], net.node_y[b] - net.node_y[a]
    return math.degrees(math.atan2(dx, dy)) % 360.0


@pytest.mark.skipif(not BUNDLED_NETWORK.is_file(), reason="shipped Panyu network absent")
@pytest.mark.parametrize("lon, lat", [(113.45682, 22.97922), (113.27757, 23.00369)])
def test_panyu_motorways_run_north_on_the_east_carriageway(lon: float, lat: float) -> None:
    # Two stretches of north-south motorway in Panyu. Driving on the right, the eastern
    # carriageway carries northbound traffic and the western one southbound. The shipped
    # network was built with the step (``read_parquet_tables``); running it again finds
    # nothing more to turn.
    out = load_cache(BUNDLED_NETWORK)
    assert infer_divided_oneway(out) is out
    x, y = out.projector.forward(np.array([lon]), np.array([lat]))
    motorway = list(out.highway_classes).index("motorway")
    mid_x = (out.node_x[out.edge_from] + out.node_x[out.edge_to]) / 2 - x[0]
    mid_y = (out.node_y[out.edge_from] + out.node_y[out.edge_to]) / 2 - y[0]
    near = np.flatnonzero((out.edge_highway == motorway) & (np.hypot(mid_x, mid_y) < 100.0))
    centre = mid_x[near].mean()
    east = [_bearing(out, e) for e in near if mid_x[e] > centre]
    west = [_bearing(out, e) for e in near if mid_x[e] < centre]
    assert east and west
    assert all(math.cos(math.radians(b)) > 0.9 for b in east)  # northbound
    assert all(math.cos(math.radians(b)) < -0.9 for b in west)  # southbound
    assert out.edge_oneway[near].all()


def test_matcher_keeps_a_truck_on_its_own_carriageway() -> None:
    # A dual carriageway that lost its directions: fixes every 50 m nearer the northern
    # carriageway (y=20) than the southern one (y=0), heading east. Once the directions are
    # inferred, the eastbound (southern) carriageway is the only one east: the match stays
    # on it all the way.
    net = infer_divided_oneway(_dual(20.0, north=False))
    xs = np.arange(25.0, 480.0, 50.0)
    ys = np.full(xs.size, 12.0)
    result = MapMatcher(net).match(*lonlat(xs, ys), np.full(xs.size, 90.0), np.full(xs.size, 40.0))
    ids = net.node_id.tolist()
    nodes = [(ids[net.edge_from[e]], ids[net.edge_to[e]]) for e in result.path_edges]
    assert nodes == [(i, i + 1) for i in range(10)]
    assert result.n_segments == 1
