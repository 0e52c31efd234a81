"""The GeoJSON loader, ``load_network`` and ``Roads`` (the network as the engine uses it)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.errors import InputFileError
from cdw.geo.projection import Projector
from cdw.roads.network import RoadNetwork
from cdw.roads.services import Roads
from cdw.roads.sources import load_network, read_geojson, save_cache
from tests.roads.handbuilt import grid, lonlat


def _feature(coords, kind: str = "LineString", **props) -> dict:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": kind, "coordinates": coords},
    }


def _write(path: Path, features: list) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    )
    return path


A, B, C, D = (113.50, 23.50), (113.51, 23.50), (113.51, 23.51), (113.50, 23.51)


def _arcs(net: RoadNetwork) -> dict[tuple, int]:
    """(from lon/lat, to lon/lat) -> edge id."""
    ends = zip(net.edge_from.tolist(), net.edge_to.tolist(), strict=True)
    return {
        ((net.node_lon[u], net.node_lat[u]), (net.node_lon[v], net.node_lat[v])): e
        for e, (u, v) in enumerate(ends)
    }


def test_geojson_roads_become_arcs_with_their_tags(tmp_path: Path):
    path = _write(
        tmp_path / "roads.geojson",
        [
            _feature([A, B], road_class="arterial", name_zh="主干路", speed_limit_kmh=60),
            _feature([B, C], highway="primary", name="中山路", maxspeed="30 mph", oneway="yes"),
            _feature([[C, D], [D, A]], "MultiLineString", oneway=-1),
        ],
    )
    net = read_geojson(path)
    arcs = _arcs(net)
    assert set(arcs) == {(A, B), (B, A), (B, C), (D, C), (A, D)}
    assert net.n_nodes == 4  # shared vertices are one node
    ab, bc, dc = arcs[(A, B)], arcs[(B, C)], arcs[(D, C)]
    assert (net.edge_name[ab], net.edge_class(ab), net.edge_maxspeed_kmh[ab]) == (
        "主干路",
        "arterial",
        60.0,
    )
    assert net.edge_maxspeed_kmh[bc] == pytest.approx(30 * 1.609344)
    assert (net.edge_oneway[bc], net.edge_oneway[ab], net.edge_oneway[dc]) == (True, False, True)
    assert net.edge_class(dc) == "unclassified" and np.isnan(net.edge_maxspeed_kmh[dc])
    assert net.edge_length_m[ab] == pytest.approx(1021, abs=2)  # 0.01° of longitude at 23.5° N


def test_every_bad_feature_is_reported_with_its_index_and_field(tmp_path: Path):
    path = _write(
        tmp_path / "bad.geojson",
        [
            _feature([A, B]),
            _feature(A, "Point"),
            _feature([A]),
            _feature([A, (113.5, 95.0)]),
            _feature([A, B], speed_limit_kmh="fast"),
            _feature([A, B], maxspeed=-5),
            _feature([A, B], oneway="maybe"),
            {
                "type": "Feature",
                "properties": [1],
                "geometry": {"type": "LineString", "coordinates": [A, B]},
            },
        ],
    )
    with pytest.raises(InputFileError) as err:
        read_geojson(path)
    found = [(p.line, p.field, p.source) for p in err.value.problems]
    assert found == [
        (1, "geometry", str(path)),
        (2, "geometry", str(path)),
        (3, "geometry", str(path)),
        (4, "speed_limit_kmh", str(path)),
        (5, "maxspeed", str(path)),
        (6, "oneway", str(path)),
        (7, "properties", str(path)),
    ]
    assert "7 条道路无效" in err.value.zh and "7 invalid road feature(s)" in err.value.en
    assert "Point" in err.value.problems[0].en


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "cannot read GeoJSON"),
        ('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        ("[1, 2]", "not a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection", "features": []}', "has no roads"),
    ],
)
def test_a_file_that_is_not_a_road_collection_is_refused(tmp_path: Path, text: str, words: str):
    path = tmp_path / "x.geojson"
    path.write_text(text)
    with pytest.raises(InputFileError) as err:
        read_geojson(path)
    assert words in err.value.en and str(path) in err.value.en


def test_load_network_by_suffix_and_cached(tmp_path: Path):
    path = _write(tmp_path / "roads.geojson", [_feature([A, B, C], name="中山路")])
    net = load_network(path)
    assert load_network(path) is net  # the same file, read once
    cache = save_cache(net, tmp_path / "roads.npz")
    again = load_network(cache)
    np.testing.assert_array_equal(again.edge_from, net.edge_from)
    with pytest.raises(InputFileError) as err:
        load_network(tmp_path / "missing.npz")
    assert "file not found" in err.value.en
    other = tmp_path / "roads.shp"
    other.write_text("")
    with pytest.raises(InputFileError) as err:
        load_network(other)
    assert "unknown road network file type" in err.value.en and ".geojson" in err.value.en


def test_roads_in_another_utm_zone_are_reprojected():
    net, _ = grid()  # UTM 50N
    projector = Projector.for_points([113.9], [31.6])  # UTM 49N
    roads = Roads.for_projector(net, projector)
    assert roads.network.crs == projector.crs.to_string() != net.crs
    x, y = projector.forward(net.node_lon, net.node_lat)
    np.testing.assert_allclose(roads.network.node_x, x)
    # A fix on the middle of the bottom row, in the batch's CRS, matches that arc.
    fx, fy = projector.forward(*lonlat([150.0], [0.0]))
    result = roads.match(fx, fy)
    assert roads.network.node_id[roads.network.edge_from[result.edge[0]]] in (1, 2)
    assert Roads.for_projector(net, net.projector).network is net


def test_may_be_slower_and_posted_limits():
    net, ids = grid()
    net.edge_limit_kmh[:] = np.nan  # no limits, but
    net.edge_limit_kmh[ids[(0, 1)]] = 30.0  # bottom row, first block, eastbound
    roads = Roads(net)
    assert roads.lowest_limit_kmh == 30.0
    px, py = net.projector.forward(*lonlat([50.0, 50.0, 250.0], [0.0, 0.0, 0.0]))
    np.testing.assert_array_equal(
        roads.may_be_slower(px, py, np.array([35.0, 25.0, 35.0]), 60.0), [True, False, False]
    )
    assert not roads.may_be_slower(px, py, np.array([35.0, 25.0, 35.0]), 30.0).any()
    limits = roads.posted_limit_kmh(np.array([ids[(0, 1)], ids[(1, 0)], -1]))
    np.testing.assert_array_equal(limits, [30.0, np.nan, np.nan])


def test_may_be_slower_sees_every_arc_of_a_road_not_only_its_nearest():
    # the corner node 0 only passes the road through: arcs 4 -> 0 and 0 -> 1 are one chain;
    # a fix 2 m from 4 -> 0 is also 20 m from 0 -> 1, posted 30
    net, ids = grid()
    net.edge_limit_kmh[:] = np.nan
    net.edge_limit_kmh[ids[(0, 1)]] = 30.0
    roads = Roads(net)
    px, py = net.projector.forward(*lonlat([2.0], [20.0]))
    assert roads.may_be_slower(px, py, np.array([35.0]), 60.0).tolist() == [True]
    # Within a radius that leaves 0 -> 1 out, nothing slower.
    assert roads.may_be_slower(px, py, np.array([35.0]), 60.0, radius_m=10.0).tolist() == [False]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-80, 380), st.floats(-80, 580)), min_size=1, max_size=20),
    st.sampled_from([5.0, 45.0, 60.0, 150.0]),
)
def test_edges_near_is_shapelys_dwithin_over_every_edge(points, radius) -> None:
    """The edges near each point: those of an STR tree's ``dwithin`` over every edge, with
    shapely's distances, in the same order."""
    net, _ = grid()
    roads = Roads(net)
    px, py = net.projector.forward(*lonlat([p[0] for p in points], [p[1] for p in points]))
    point, edge, dist = roads.edges_near(px, py, radius)
    lines = roads._lines(np.arange(net.n_edges))
    geoms = shapely.points(px, py)
    want_point, want_edge = shapely.STRtree(lines).query(
        geoms, predicate="dwithin", distance=radius
    )
    order = np.lexsort((want_edge, want_point))
    want_point, want_edge = want_point[order], want_edge[order]
    assert point.tolist() == want_point.tolist() and edge.tolist() == want_edge.tolist()
    assert dist.tolist() == shapely.distance(geoms[want_point], lines[want_edge]).tolist()


def test_edges_near_and_the_highest_plausible_limit():
    # Bottom row primary (no limit), the rest residential (statutory 30); the first
    # bottom block posted 40 both ways.
    net, ids = grid()
    net.edge_limit_kmh[[ids[(0, 1)], ids[(1, 0)]]] = 40.0
    roads = Roads(net)
    # Within 45 m of (50, 10): the 40 block (10 m; the residential 0-4 and 1-5 are 50 m
    # off); of (50, 60): the residential 4-5 (40 m; the 40 block is 60 m off); of
    # (250, 500): nothing.
    px, py = net.projector.forward(*lonlat([50.0, 50.0, 250.0], [10.0, 60.0, 500.0]))
    point, edge, dist = roads.edges_near(px, py, 45.0)
    found = {
        (int(p), int(e)): round(float(d), 3) for p, e, d in zip(point, edge, dist, strict=True)
    }
    assert found == {
        (0, ids[(0, 1)]): 10.0,
        (0, ids[(1, 0)]): 10.0,
        (1, ids[(4, 5)]): 40.0,
        (1, ids[(5, 4)]): 40.0,
    }
    np.testing.assert_array_equal(roads.plausible_limit_kmh(px, py, 45.0, 60.0), [40.0, 30.0, 60.0])
    # A road without a limit counts as the cap: the primary's second block, 50 m away.
    px, py = net.projector.forward(*lonlat([150.0], [50.0]))
    assert roads.plausible_limit_kmh(px, py, 55.0, 60.0).tolist() == [60.0]
    assert roads.plausible_limit_kmh(px, py, 55.0, 45.0).tolist() == [45.0]


def _route_line(net: RoadNetwork, xs: list[float], ys: list[float]) -> shapely.LineString:
    """A line drawn through local metres, in the network's projected CRS."""
    return shapely.LineString(np.column_stack(net.projector.forward(*lonlat(xs, ys))))


def _path_of(roads: Roads, line: shapely.LineString) -> list[float] | None:
    path = roads.route_path(line)
    return None if path is None else [*path.cum_m.tolist(), *path.cum_s.tolist()]


def test_snapped_routes_are_kept_and_read_back_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roads with a table cache keep each route they snap (one file a route); the next
    Roads of the same network reads it back (snapping is then refused) with the same path
    and edges as an uncached snap."""
    from cdw.roads import services

    net, _ = grid()
    cache = tmp_path / "cache"
    line = _route_line(net, [0.0, 0.0, 300.0, 300.0], [0.0, 100.0, 100.0, 0.0])
    plain = Roads(net)
    want, along = _path_of(plain, line), plain.edges_along(line).tolist()
    assert want is not None and along
    assert _path_of(Roads(net, table_cache=cache), line) == want
    files = list((cache / "snapped-routes").glob("snapped-route-*.npy"))
    assert len(files) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("snapped again")

    monkeypatch.setattr(services, "snap_route", refuse)
    again = Roads(net, table_cache=cache)
    assert _path_of(again, line) == want
    assert again.edges_along(line).tolist() == along
    copy = shapely.LineString(shapely.get_coordinates(line))  # another object, same line
    assert _path_of(Roads(net, table_cache=cache), copy) == want


def test_a_changed_route_network_or_code_is_snapped_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept snap is only read back for the very line, network, matcher parameters and
    code that made it: each change misses, is snapped afresh and kept beside the others."""
    from cdw.roads import routing, services
    from cdw.roads.matching import MatchParams

    net, _ = grid()
    cache = tmp_path / "cache"
    line = _route_line(net, [0.0, 300.0], [3.0, -3.0])
    assert _path_of(Roads(net, table_cache=cache), line) is not None
    snaps = []
    real = services.snap_route
    monkeypatch.setattr(services, "snap_route", lambda *a, **k: snaps.append(1) or real(*a, **k))

    moved = _route_line(net, [0.0, 300.0], [3.0, -2.0])  # one vertex a metre off
    assert _path_of(Roads(net, table_cache=cache), moved) is not None
    assert len(snaps) == 1
    banned, _ = grid({(1, 2): {"hgv_no": True}})  # the same roads, one closed to trucks
    assert _path_of(Roads(banned, table_cache=cache), line) is None  # not the kept path
    assert len(snaps) == 2
    shifted = dataclasses.replace(net, node_x=net.node_x + 1.0)
    Roads(shifted, table_cache=cache).route_path(line)
    assert len(snaps) == 3
    Roads(net, MatchParams(sigma_m=8.0), table_cache=cache).route_path(line)
    assert len(snaps) == 4
    monkeypatch.setattr(routing, "_code_digest", lambda: b"other code")
    Roads(net, table_cache=cache).route_path(line)
    assert len(snaps) == 5
    assert len(list((cache / "snapped-routes").glob("snapped-route-*.npy"))) == 6


@pytest.mark.parametrize("damage", ["garbage", "truncated", "altered", "foreign edge"])
def test_a_damaged_snapped_route_file_is_snapped_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    """A kept snap that is unreadable, cut short or altered (its checksum no longer fits)
    is no error: the line is snapped again, with the same answer, and the file rewritten."""
    net, _ = grid()
    cache = tmp_path / "cache"
    line = _route_line(net, [0.0, 0.0, 300.0, 300.0], [0.0, 100.0, 100.0, 0.0])
    want = _path_of(Roads(net, table_cache=cache), line)
    (path,) = (cache / "snapped-routes").glob("snapped-route-*.npy")
    whole = path.read_bytes()
    stored = np.load(path)
    if damage == "garbage":
        path.write_bytes(b"not a route")
    elif damage == "truncated":
        path.write_bytes(whole[:-8])
    elif damage == "altered":
        stored[-1] = (stored[-1] + 1) % net.n_edges  # another edge, the old checksum
        np.save(path, stored)
    else:  # an edge the network does not have
        stored[-1] = net.n_edges + 5
        np.save(path, stored)
    with caplog.at_level("WARNING", logger="cdw.roads.routing"):
        assert _path_of(Roads(net, table_cache=cache), line) == want
    assert "snapping it again" in caplog.text
    assert path.read_bytes() == whole


def test_snapped_routes_without_a_writable_cache(tmp_path: Path, caplog) -> None:
    """A cache folder that cannot be made only costs the snapping."""
    (tmp_path / "file").write_text("")
    net, _ = grid()
    line = _route_line(net, [0.0, 300.0], [3.0, -3.0])
    with caplog.at_level("WARNING", logger="cdw.roads.routing"):
        path = _path_of(Roads(net, table_cache=tmp_path / "file" / "cache"), line)
    assert "not kept" in caplog.text
    assert path == _path_of(Roads(net), line)
