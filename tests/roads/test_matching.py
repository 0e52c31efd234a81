"""The HMM matcher on small hand-built networks with exact expected edges, and on Kubicka."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString

from cdw.errors import ValidationFailed
from cdw.roads.matching import MapMatcher, MatchParams
from cdw.roads.network import RoadNetwork
from cdw.roads.sources import read_kubicka
from tests.roads.handbuilt import X0, Y0, lonlat, network, two_way


def _road(
    y: float, first_id: int, n: int = 11, step: float = 100.0
) -> dict[int, tuple[float, float]]:
    return {first_id + i: (i * step, y) for i in range(n)}


def _arc_ids(net: RoadNetwork) -> dict[tuple[int, int], int]:
    return {
        (int(net.node_id[u]), int(net.node_id[v])): i
        for i, (u, v) in enumerate(zip(net.edge_from, net.edge_to, strict=True))
    }


def _xy(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return xs + X0, ys + Y0


def _path(net: RoadNetwork, edges: np.ndarray) -> list[tuple[int, int]]:
    ids = {i: arc for arc, i in _arc_ids(net).items()}
    return [ids[int(e)] for e in edges]


def parallel_roads() -> RoadNetwork:
    """Road A (nodes 0-10) along y=0 and road B (100-110) along y=40, both two-way,
    joined at both ends."""
    nodes = {**_road(0.0, 0), **_road(40.0, 100)}
    pairs = [(i, i + 1) for i in range(10)] + [(100 + i, 101 + i) for i in range(10)]
    return network(nodes, two_way(pairs + [(0, 100), (10, 110)]))


def test_parallel_roads_pick_the_nearer() -> None:
    net = parallel_roads()
    xs = np.arange(30.0, 700.0, 50.0)
    result = MapMatcher(net).match_xy(*_xy(xs, np.full(xs.size, 8.0)))
    assert _path(net, result.path_edges) == [(i, i + 1) for i in range(7)]
    assert result.distance_m == pytest.approx(np.full(xs.size, 8.0), abs=1e-6)
    assert result.offset_m == pytest.approx(xs % 100.0, abs=1e-6)
    assert (result.segment == 0).all() and result.n_segments == 1
    geom = result.geometry()
    assert isinstance(geom, LineString)
    # from the first fix's point on the road to the last one's, through nodes 1..6
    assert LineString(net.projector.geom_forward(geom)).length == pytest.approx(650.0, abs=1e-3)


def test_oneway_street_is_not_driven_backwards() -> None:
    nodes = {**_road(0.0, 0), **_road(30.0, 100)}
    arcs = [(i, i + 1, {"oneway": True}) for i in range(10)]  # eastbound only
    arcs += two_way([(100 + i, 101 + i) for i in range(10)] + [(0, 100), (10, 110)])
    net = network(nodes, arcs)
    xs = np.arange(680.0, 100.0, -50.0)  # driving west, nearer the one-way street
    result = MapMatcher(net).match_xy(*_xy(xs, np.full(xs.size, 10.0)))
    assert _path(net, result.path_edges) == [(107 - i, 106 - i) for i in range(6)]
    assert result.n_segments == 1


def test_u_turn() -> None:
    net = network(_road(0.0, 0), two_way([(i, i + 1) for i in range(10)]))
    xs = np.concatenate((np.arange(20.0, 480.0, 40.0), np.arange(460.0, 0.0, -40.0)))
    ys = np.concatenate((np.full(12, 3.0), np.full(12, -3.0)))
    result = MapMatcher(net).match_xy(*_xy(xs, ys))
    east = [(i, i + 1) for i in range(5)]
    west = [(5 - i, 4 - i) for i in range(5)]
    assert _path(net, result.path_edges) == east + west


def test_gap_in_the_network_breaks_the_match() -> None:
    nodes = {**_road(0.0, 0, n=6), **{20 + i: (600.0 + 100 * i, 0.0) for i in range(6)}}
    pairs = [(i, i + 1) for i in range(5)] + [(20 + i, 21 + i) for i in range(5)]
    net = network(nodes, two_way(pairs))
    xs = np.arange(10.0, 1100.0, 40.0)
    ys = np.where(np.isclose(xs, 450.0), 500.0, 2.0)  # one fix far off every road
    result = MapMatcher(net).match_xy(*_xy(xs, ys))
    assert result.edge[np.isclose(xs, 450.0)].tolist() == [-1]
    left = [(i, i + 1) for i in range(5)]
    right = [(20 + i, 21 + i) for i in range(5)]
    assert _path(net, result.path_edges) == left + right
    assert result.path_segment.tolist() == [0] * 5 + [1] * 5
    assert isinstance(result.geometry(), MultiLineString)
    # fixes at x=530, 570 lie within 50 m of a road end: they belong to one side or the other
    assert (result.segment[xs < 500] == 0).all() or (result.segment[xs > 600] == 1).all()


def test_close_fixes_follow_the_kept_fix() -> None:
    net = parallel_roads()
    xs = np.array([10.0, 12.0, 14.0, 60.0, 61.0, 130.0])
    result = MapMatcher(net).match_xy(*_xy(xs, np.full(6, 5.0)))
    assert _path(net, result.path_edges) == [(0, 1), (1, 2)]
    assert result.edge.tolist() == [result.path_edges[0]] * 5 + [result.path_edges[1]]


def test_thinned_fixes_go_on_the_arc_they_lie_on() -> None:
    # fixes 12 m apart: every other one is within 2 sigma of the one kept before it
    net = parallel_roads()
    xs = np.arange(6.0, 600.0, 12.0)
    result = MapMatcher(net).match_xy(*_xy(xs, np.full(xs.size, 1.0)))
    arcs = _arc_ids(net)
    assert result.edge.tolist() == [arcs[(int(x // 100), int(x // 100) + 1)] for x in xs]
    assert result.distance_m == pytest.approx(np.ones(xs.size), abs=1e-6)


def test_bad_parameters_and_input() -> None:
    net = parallel_roads()
    with pytest.raises(ValidationFailed):
        MapMatcher(net, MatchParams(sigma_m=0.0))
    with pytest.raises(ValidationFailed) as err:
        MapMatcher(net, MatchParams(max_candidates=8, max_candidates_dense=4))
    assert err.value.problems[0].field == "max_candidates_dense"
    with pytest.raises(ValidationFailed):
        MapMatcher(net).match_xy([1.0, 2.0], [1.0])
    empty = MapMatcher(net).match_xy([], [])
    assert empty.path_edges.size == 0 and empty.n_segments == 0
    # beta: 2 sigma unless set; a set one must be positive, as must break_steps
    assert MatchParams(sigma_m=7.0).kernel().beta == 14.0
    assert MatchParams(sigma_m=7.0, beta_m=3.0).kernel().beta == 3.0
    for bad in (MatchParams(beta_m=0.0), MatchParams(break_steps=0)):
        with pytest.raises(ValidationFailed) as err:
            bad.validated()
        assert err.value.problems[0].field in ("beta_m", "break_steps")


def test_kubicka_track_is_matched(shared_data: Path) -> None:
    folder = shared_data / "kubicka-map-matching" / "00000005"
    net = read_kubicka(folder)
    track = np.loadtxt(folder / "00000005.track")
    truth = set(np.loadtxt(folder / "00000005.route", dtype=np.int64).tolist())
    result = MapMatcher(net).match(track[:, 0], track[:, 1])
    matched = set(result.path_edges.tolist())
    length = net.edge_length_m
    assert length[list(truth & matched)].sum() / length[list(truth)].sum() >= 0.97
    assert length[list(matched - truth)].sum() / length[list(matched)].sum() <= 0.03


def test_dual_carriageway_and_frontage_road_keep_the_true_road() -> None:
    # A trunk road: eastbound carriageway at y=0, westbound at y=20 (both two-way, as on
    # networks that lost OSM oneway), a two-way frontage road at y=-15 with a 15 m
    # dead-end driveway every 20 m; cross links every 200 m. A truck drives east on y=0,
    # its fixes 12 m either side. South of the road, the frontage road's short chains
    # (each direction of each once) filled a fix's 8 candidates and the true road fell
    # out; counted per road, with every road within 3 sigma kept, it stays.
    drives = [i for i in range(1, 50) if i % 10]
    nodes = {**_road(0.0, 0), **_road(20.0, 100), **_road(-15.0, 200, n=51, step=20.0)}
    nodes |= {300 + i: (20.0 * i, -30.0) for i in drives}
    pairs = [(i, i + 1) for i in range(10)] + [(100 + i, 101 + i) for i in range(10)]
    pairs += [(200 + i, 201 + i) for i in range(50)] + [(200 + i, 300 + i) for i in drives]
    pairs += [(2 * j, 100 + 2 * j) for j in range(6)] + [(2 * j, 200 + 10 * j) for j in range(6)]
    net = network(nodes, two_way(pairs))
    xs = np.arange(30.0, 960.0, 50.0)
    ys = np.where(np.arange(xs.size) % 2 == 0, -12.0, 12.0)
    result = MapMatcher(net).match(*lonlat(xs, ys), np.full(xs.size, 90.0), np.full(xs.size, 60.0))
    assert _path(net, result.path_edges) == [(i, i + 1) for i in range(10)]
    assert result.n_segments == 1


def test_heading_picks_the_direction() -> None:
    # one-way carriageways: eastbound at y=0, westbound at y=15; a fix at y=9 is nearer
    # the westbound one, but heading east at speed it belongs to the eastbound one
    nodes = {**_road(0.0, 0, n=3), **_road(15.0, 100, n=3)}
    arcs = [(0, 1, {"oneway": True}), (1, 2, {"oneway": True})]
    arcs += [(102, 101, {"oneway": True}), (101, 100, {"oneway": True})]
    net = network(nodes, arcs)
    arc = _arc_ids(net)
    matcher = MapMatcher(net)
    x, y = _xy(np.array([150.0]), np.array([9.0]))
    assert matcher.match_xy(x, y).edge.tolist() == [arc[(102, 101)]]
    assert matcher.match_xy(x, y, [92.0], [40.0]).edge.tolist() == [arc[(1, 2)]]
    # too slow for the heading to count; no heading (NaN); heading west
    assert matcher.match_xy(x, y, [92.0], [3.0]).edge.tolist() == [arc[(102, 101)]]
    assert matcher.match_xy(x, y, [np.nan], [40.0]).edge.tolist() == [arc[(102, 101)]]
    assert matcher.match_xy(x, y, [268.0], [40.0]).edge.tolist() == [arc[(102, 101)]]
    # on a two-way road the heading picks the arc of its direction
    net = network(_road(0.0, 0, n=3), two_way([(0, 1), (1, 2)]))
    arc = _arc_ids(net)
    x, y = _xy(np.array([150.0]), np.array([5.0]))
    assert MapMatcher(net).match_xy(x, y, [95.0], [40.0]).edge.tolist() == [arc[(1, 2)]]
    assert MapMatcher(net).match_xy(x, y, [275.0], [40.0]).edge.tolist() == [arc[(2, 1)]]


def test_hairpin_does_not_break_the_track() -> None:
    # A road east along y=0 turns back at x=150 along y=60. Fixes 30 s apart drive out
    # and back: from (10, 2) to (10, 58) is 56 m in a straight line but 340 m by road, past
    # the bound of 2 x 56 + 100 m; the step is searched again with a 2 x wider bound
    # instead of breaking the track.
    nodes = {**_road(0.0, 0, n=10, step=50.0), **_road(60.0, 100, n=10, step=50.0)}
    nodes = {i: (x - 300.0, y) for i, (x, y) in nodes.items()}
    pairs = [(i, i + 1) for i in range(9)] + [(100 + i, 101 + i) for i in range(9)]
    net = network(nodes, two_way([*pairs, (9, 109)]))
    xs = np.array([-240.0, -140.0, 10.0, 10.0, -140.0, -240.0])
    ys = np.array([2.0, -2.0, 2.0, 58.0, 62.0, 58.0])
    result = MapMatcher(net).match_xy(*_xy(xs, ys))
    assert result.n_segments == 1 and (result.segment == 0).all()
    out = [(i, i + 1) for i in range(1, 9)]
    back = [(9, 109)] + [(109 - i, 108 - i) for i in range(8)]
    assert _path(net, result.path_edges) == out + back
    # with the wider search switched off (factor 1) the track breaks there
    broken = MapMatcher(net, MatchParams(break_factor=1.0)).match_xy(*_xy(xs, ys))
    assert broken.n_segments == 2 and broken.segment.tolist() == [0, 0, 0, 1, 1, 1]


def test_match_takes_heading_and_speed_per_fix() -> None:
    net = parallel_roads()
    matcher = MapMatcher(net)
    lon, lat = lonlat([10.0, 60.0], [5.0, 5.0])
    with pytest.raises(ValidationFailed) as err:
        matcher.match(lon, lat, heading_deg=[90.0])
    assert "heading_deg" in str(err.value.problems[0].field)
    with pytest.raises(ValidationFailed):
        matcher.match(lon, lat, speed_kmh=[[1.0, 2.0]])
    # the projector is the matcher's own, built once
    assert (
        matcher.match(lon, lat).edge.tolist()
        == matcher.match(lon, lat, [90, 90], [30, 30]).edge.tolist()
    )


def _same(a, b) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
        for f in ("edge", "offset_m", "distance_m", "segment", "path_edges", "path_segment")
    )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-50, 1050), st.floats(-40, 80)), max_size=25),
    st.booleans(),
    st.booleans(),
)
def test_match_projects_in_the_kernel_as_the_projector_does(
    points: list[tuple[float, float]], with_heading: bool, with_speed: bool
) -> None:
    # match(lon, lat) projects inside its one kernel call (match_lonlat_plain); the same
    # fixes projected by the network's projector and matched in metres match alike
    net = parallel_roads()
    matcher = MapMatcher(net)
    xs = np.array([p[0] for p in points], float)
    ys = np.array([p[1] for p in points], float)
    lon, lat = lonlat(xs, ys)
    n = xs.size
    heading = np.linspace(0.0, 350.0, n) if with_heading else None
    speed = np.where(np.arange(n) % 3 == 0, np.nan, 40.0) if with_speed else None
    x, y = net.projector.forward(lon, lat)
    assert _same(matcher.match(lon, lat, heading, speed), matcher.match_xy(x, y, heading, speed))
    # lists take the projector's path, with the same result
    assert _same(matcher.match(lon.tolist(), lat.tolist(), heading, speed),
                 matcher.match_xy(x, y, heading, speed))  # fmt: skip


def test_match_names_bad_coordinates() -> None:
    matcher = MapMatcher(parallel_roads())
    lon, lat = lonlat([10.0, 60.0, 110.0], [5.0, 5.0, 5.0])
    for bad_lat in (np.nan, 95.0, -85.0):
        with pytest.raises(ValidationFailed) as err:
            matcher.match(lon, np.array([lat[0], bad_lat, lat[2]]))
        assert err.value.problems[0].field == "lat"
    with pytest.raises(ValidationFailed) as err:
        matcher.match(np.array([lon[0], 181.0, lon[2]]), lat)
    assert err.value.problems[0].field == "lon"
    with pytest.raises(ValidationFailed):
        matcher.match(lon, lat[:2])


def _tables_equal(a, b) -> bool:
    return all(x.tolist() == y.tolist() for x, y in zip(a[:4], b[:4], strict=True)) and (
        a.limit == b.limit
    )


def test_distance_table_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    """A matcher with a table cache writes its distance table there; the next matcher of
    the same network and table_m reads it (computing is then refused) and matches alike;
    another table_m or network has its own file; a damaged file is computed again."""
    from cdw.roads import _kernels as k
    from cdw.roads import matching

    net = parallel_roads()
    xs = np.arange(30.0, 700.0, 50.0)
    fixes = _xy(xs, np.full(xs.size, 8.0))
    plain = MapMatcher(net)
    first = MapMatcher(net, table_cache=tmp_path / "cache")
    files = list((tmp_path / "cache").glob("matcher-table-*.npz"))
    assert len(files) == 1 and _tables_equal(first._table, plain._table)

    computed = k.new_table

    def refuse(*args):
        raise AssertionError("computed again")

    monkeypatch.setattr(k, "new_table", refuse)
    second = MapMatcher(net, table_cache=tmp_path / "cache")
    assert _tables_equal(second._table, plain._table)
    assert second.match_xy(*fixes).path_edges.tolist() == plain.match_xy(*fixes).path_edges.tolist()
    monkeypatch.setattr(k, "new_table", computed)

    MapMatcher(net, MatchParams(table_m=500.0), table_cache=tmp_path / "cache")
    nodes = {**_road(0.0, 0), **_road(60.0, 100)}
    pairs = [(i, i + 1) for i in range(10)] + [(100 + i, 101 + i) for i in range(10)]
    other = network(nodes, two_way([*pairs, (0, 100)]))
    MapMatcher(other, table_cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("matcher-table-*.npz"))) == 3

    files[0].write_bytes(b"not a table")
    with caplog.at_level("WARNING", logger=matching.__name__):
        again = MapMatcher(net, table_cache=tmp_path / "cache")
    assert "unreadable" in caplog.text
    assert _tables_equal(again._table, plain._table)
    with np.load(files[0]) as stored:  # written again, whole
        assert stored["node"].tolist() == plain._table.node.tolist()


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "compressed"])
def test_a_damaged_distance_table_file_is_computed_again(
    tmp_path: Path, caplog, damage: str
) -> None:
    """The kept table is mapped from its file, not read (``mapped_npz``), yet a file whose
    bytes changed (its CRC-32 no longer fits), that was cut short or is not as ``np.savez``
    writes it is refused as unreadable and computed again."""
    import zipfile

    from cdw.roads import matching

    net = parallel_roads()
    plain = MapMatcher(net)
    MapMatcher(net, table_cache=tmp_path / "cache")
    (path,) = (tmp_path / "cache").glob("matcher-table-*.npz")
    whole = path.read_bytes()
    if damage == "flipped byte":  # the last byte of the last distance
        info = zipfile.ZipFile(path).getinfo("dist.npy")
        extra = int.from_bytes(whole[info.header_offset + 28 : info.header_offset + 30], "little")
        at = info.header_offset + 30 + len("dist.npy") + extra + info.file_size - 1
        path.write_bytes(whole[:at] + bytes([whole[at] ^ 0x10]) + whole[at + 1 :])
    elif damage == "truncated":
        path.write_bytes(whole[: len(whole) // 2])
    else:
        with np.load(path) as stored:
            np.savez_compressed(path, **dict(stored))
        assert zipfile.ZipFile(path).infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    with caplog.at_level("WARNING", logger=matching.__name__):
        again = MapMatcher(net, table_cache=tmp_path / "cache")
    assert "unreadable" in caplog.text
    assert _tables_equal(again._table, plain._table)
    assert path.read_bytes() == whole  # written again, whole


def test_a_kept_table_is_mapped_from_its_file(tmp_path: Path) -> None:
    """``mapped_npz`` gives ``np.load``'s arrays (dtype, shape, order, values), writable
    (the kernels' types), backed by the file's pages rather than a copy."""
    from cdw.roads.matching import mapped_npz

    path = tmp_path / "arrays.npz"
    rng = np.random.default_rng(3)
    want = {
        "a": rng.normal(size=1000),
        "b": np.arange(12, dtype=np.int32).reshape(3, 4),
        "c": np.asfortranarray(rng.integers(0, 9, (5, 7))),
        "empty": np.zeros(0, np.int64),
    }
    np.savez(path, **want)
    got = mapped_npz(path)
    assert sorted(got) == sorted(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        assert got[name].tolist() == array.tolist() and got[name].flags.writeable
    assert got["c"].flags.f_contiguous
    assert not got["a"].flags.owndata


def test_distance_table_cache_unwritable(tmp_path: Path, caplog) -> None:
    """A cache folder that cannot be made only costs the computation."""
    (tmp_path / "file").write_text("")
    with caplog.at_level("WARNING", logger="cdw.roads.matching"):
        matcher = MapMatcher(parallel_roads(), table_cache=tmp_path / "file" / "cache")
    assert "not kept" in caplog.text
    assert _tables_equal(matcher._table, MapMatcher(parallel_roads())._table)
