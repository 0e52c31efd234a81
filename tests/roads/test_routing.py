"""Truck-aware routes on a hand-built grid with exact expected paths, and on Panyu."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from cdw.errors import ValidationFailed
from cdw.roads.routing import RouteRestrictions, points_along, propose_routes, snap_route
from cdw.roads.sources import read_parquet_tables
from tests.roads.handbuilt import grid, lonlat

ORIGIN = tuple(float(v[0]) for v in lonlat([0.0], [0.0]))
DESTINATION = tuple(float(v[0]) for v in lonlat([300.0], [0.0]))
DETOUR = [(0, 1), (1, 5), (5, 6), (6, 2), (2, 3)]  # around the blocked 1-2 arcs


def _nodes_of(route_edges: tuple[int, ...], ids: dict) -> list[tuple[int, int]]:
    arc_of = {i: pair for pair, i in ids.items()}
    return [arc_of[e] for e in route_edges]


def _best(special: dict | None = None, restrictions: RouteRestrictions | None = None) -> list:
    net, ids = grid(special)
    routes = propose_routes(net, ORIGIN, DESTINATION, restrictions, alternatives=0)
    return _nodes_of(routes[0].edge_ids, ids)


def test_fastest_route_takes_the_primary_road() -> None:
    net, ids = grid()
    best = propose_routes(net, ORIGIN, DESTINATION, alternatives=0)[0]
    assert _nodes_of(best.edge_ids, ids) == [(0, 1), (1, 2), (2, 3)]
    assert best.length_m == pytest.approx(300.0, abs=1e-6)
    assert best.travel_time_s == pytest.approx(18.0, abs=1e-6)
    start, end = best.geometry.coords[0], best.geometry.coords[-1]
    assert start == pytest.approx(ORIGIN, abs=1e-9) and end == pytest.approx(DESTINATION, abs=1e-9)
    feature = best.to_geojson()
    assert feature["geometry"]["type"] == "LineString"
    assert feature["properties"]["edge_ids"] == list(best.edge_ids)


def test_oneway_forces_a_detour() -> None:
    assert _best({(1, 2): {"drop": True}}) == DETOUR
    assert _best({(2, 1): {"drop": True}}) == [(0, 1), (1, 2), (2, 3)]  # the other way is open


def test_hgv_ban_and_weight_limit() -> None:
    assert _best({(1, 2): {"hgv_no": True}}) == DETOUR
    assert _best({(1, 2): {"hgv_no": True}}, RouteRestrictions(heavy_goods_vehicle=False))[1] == (
        1,
        2,
    )
    limit = {(1, 2): {"maxweight": 10.0}}
    assert _best(limit, RouteRestrictions(vehicle_weight_t=30.0)) == DETOUR
    assert _best(limit, RouteRestrictions(vehicle_weight_t=10.0))[1] == (1, 2)  # at the limit


def test_restricted_zone_and_excluded_class() -> None:
    lon0, lat0 = lonlat([140.0], [-10.0])
    lon1, lat1 = lonlat([160.0], [10.0])
    zone = box(lon0[0], lat0[0], lon1[0], lat1[0])
    assert _best(restrictions=RouteRestrictions(restricted_zones=(zone,))) == DETOUR
    lon2, lat2 = lonlat([140.0], [20.0])
    missing = box(lon0[0], lat2[0], lon1[0], lat2[0] + 1e-4)  # 20 m north of the road
    assert _best(restrictions=RouteRestrictions(restricted_zones=(missing,)))[1] == (1, 2)
    no_primary = RouteRestrictions(excluded_classes=frozenset({"primary"}))
    assert _best(restrictions=no_primary) == [(0, 4), (4, 5), (5, 6), (6, 7), (7, 3)]


def test_alternatives_differ_and_are_not_much_slower() -> None:
    net, ids = grid()
    # Every detour off the primary row takes >= 48 s against 18 s: none within 1.6 times.
    assert len(propose_routes(net, ORIGIN, DESTINATION, alternatives=3)) == 1
    routes = propose_routes(net, ORIGIN, DESTINATION, alternatives=3, max_time_ratio=3.0)
    # The next distinct route, up column 0 and down column 3, takes 60 s > 3 x 18 s.
    assert [_nodes_of(r.edge_ids, ids) for r in routes] == [[(0, 1), (1, 2), (2, 3)], DETOUR]
    best = routes[0].travel_time_s
    for i, route in enumerate(routes):
        assert route.travel_time_s <= 3.0 * best + 1e-9
        for other in routes[:i]:
            shared = set(route.edge_ids) & set(other.edge_ids)
            assert sum(net.edge_length_m[list(shared)]) <= 0.8 * route.length_m + 1e-9


def test_unreachable_destination_gives_no_route() -> None:
    special = {(a, b): {"drop": True} for a, b in [(2, 3), (7, 3)]}
    net, _ = grid(special)
    assert propose_routes(net, ORIGIN, DESTINATION) != []  # snaps to a node it can reach
    net, _ = grid({**special, (3, 2): {"drop": True}, (3, 7): {"drop": True}})
    routes = propose_routes(net, ORIGIN, DESTINATION)
    assert routes and routes[0].edge_ids  # node 3 is unusable; the nearest usable node wins


def test_snap_route_lists_violations() -> None:
    net, ids = grid({(1, 2): {"hgv_no": True, "name": "禁货路"}})
    lon, lat = lonlat([0.0, 300.0], [3.0, -3.0])
    snapped = snap_route(net, LineString(zip(lon, lat, strict=True)))
    assert snapped.proposal is not None
    assert _nodes_of(snapped.proposal.edge_ids, ids) == [(0, 1), (1, 2), (2, 3)]
    assert [p.field for p in snapped.violations] == ["hgv"]
    assert "禁货路" in snapped.violations[0].zh and "hgv=no" in snapped.violations[0].en
    clean = snap_route(
        net,
        LineString(zip(*lonlat([0.0, 0.0, 300.0, 300.0], [0.0, 100.0, 100.0, 0.0]), strict=True)),
    )
    assert clean.violations == []
    assert _nodes_of(clean.proposal.edge_ids, ids) == [(0, 4), (4, 5), (5, 6), (6, 7), (7, 3)]
    with pytest.raises(ValidationFailed):
        snap_route(net, LineString())


def test_routes_across_panyu(shared_data: Path) -> None:
    scipy_csgraph = pytest.importorskip("scipy.sparse.csgraph")
    import scipy.sparse

    folder = shared_data / "guangzhou-panyu-osm-roadnet"
    net = read_parquet_tables(folder / "nodes.parquet", folder / "edges.parquet")
    origin, destination = (113.30, 23.05), (113.50, 22.90)
    routes = propose_routes(net, origin, destination, alternatives=3)
    assert len(routes) >= 2
    best = np.array(routes[0].edge_ids)
    assert (net.edge_to[best[:-1]] == net.edge_from[best[1:]]).all()
    graph = scipy.sparse.csr_matrix(
        (net.edge_travel_time_s + 1e-12, (net.edge_from, net.edge_to)), shape=(net.n_nodes,) * 2
    )
    source, target = int(net.edge_from[best[0]]), int(net.edge_to[best[-1]])
    expected = scipy_csgraph.dijkstra(graph, indices=source)[target]
    assert routes[0].travel_time_s == pytest.approx(expected, rel=1e-6)
    assert all(r.travel_time_s >= routes[0].travel_time_s for r in routes)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=2, max_size=12),
    st.sampled_from([0.0, 1.0, 5e5, 3.4e6]),
    st.lists(st.floats(0.0, 1.2), max_size=12),
    st.integers(0, 40),
)
def test_points_along_is_shapelys_line_interpolate_point_bit_for_bit(
    vertices, offset, shares, steps
) -> None:
    """Points along a line (``snap_route``'s cut every 20 m) are GEOS's, to the last bit:
    evenly spaced from start to end, at shares of the length up to past the end, with
    repeated vertices (zero-length segments)."""
    xy = np.array(vertices) + offset
    line = LineString(xy)
    length = line.length
    distances = np.concatenate(
        (np.linspace(0.0, length, steps + 1), np.array(shares) * length, [0.0, length])
    )
    want = shapely.get_coordinates(shapely.line_interpolate_point(line, distances))
    assert points_along(xy, distances).tolist() == want.tolist()


def test_points_along_fixed_cases() -> None:
    xy = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [3.0, 10.0]])  # 5 m, 0 m, 6 m
    got = points_along(xy, np.array([0.0, 2.5, 5.0, 8.0, 11.0, 12.0]))
    assert got.tolist() == [
        [0.0, 0.0],
        [1.5, 2.0],
        [3.0, 4.0],
        [3.0, 7.0],
        [3.0, 10.0],
        [3.0, 10.0],
    ]
