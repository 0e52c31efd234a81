"""The road kernels against their plain-Python twins, on fixed and hypothesis inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.geo.kernels import build_segment_index
from cdw.roads import _kernels as k
from cdw.roads.matching import ChainGraph
from tests.roads import twins
from tests.roads.test_chains import Chains, Roads, chain_graph, road_graph, roads_of

SETTINGS = settings(max_examples=40, deadline=None)
NEAR = 1e-6  # distances this close to a bound may fall either side of it


def _random_graph(seed: int, n_nodes: int, n_edges: int) -> tuple:
    """Random arcs between random points; a few closed (inf) and free (0) ones."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 500, n_nodes)
    y = rng.uniform(0, 500, n_nodes)
    src = rng.integers(0, n_nodes, n_edges)
    dst = rng.integers(0, n_nodes, n_edges)
    cost = np.hypot(x[dst] - x[src], y[dst] - y[src])
    cost[rng.random(n_edges) < 0.1] = math.inf
    cost[rng.random(n_edges) < 0.05] = 0.0
    out_start = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n_nodes), out=out_start[1:])
    order = np.argsort(src, kind="stable")
    return src.astype(np.int64), dst.astype(np.int64), cost, out_start, order.astype(np.int64)


def _clean(ws: tuple[np.ndarray, ...]) -> bool:
    dist, pred, settled = ws[:3]
    return bool(np.isinf(dist).all() and (pred == -1).all() and not settled.any())


# --- shortest paths -------------------------------------------------------------------


def _search(graph: tuple, ws: tuple, sources, source_cost, targets, target_bound, bound) -> int:
    _, dst, cost, out_start, out_edges = graph
    return k.dijkstra(
        k.Graph(out_start, out_edges, dst, cost), np.array(sources, np.int64),
        np.array(source_cost, float), np.array(targets, np.int64),
        np.array(target_bound, float), bound, k.Workspace(*ws),
    )  # fmt: skip


def test_new_workspace() -> None:
    dist, pred, settled, heap_cost, heap_node, touched = k.new_workspace(5, 7)
    assert dist.tolist() == [math.inf] * 5 and pred.tolist() == [-1] * 5
    assert not settled.any() and settled.size == 5 and touched.size == 5
    assert heap_cost.size == heap_node.size >= 7 + 5


def test_dijkstra_fixed_chain() -> None:
    # 0 -> 1 -> 2 -> 3 costs 1, 2, 3; a shortcut 0 -> 2 costs 4; 3 -> 0 is closed (inf)
    src = np.array([0, 1, 2, 0, 3])
    dst = np.array([1, 2, 3, 2, 0])
    cost = np.array([1.0, 2.0, 3.0, 4.0, np.inf])
    graph = (src, dst, cost, np.array([0, 2, 3, 4, 5]), np.array([0, 3, 1, 2, 4]))
    ws = k.new_workspace(4, 5)
    dist, pred, settled, _, _, touched = ws
    n = _search(graph, ws, [0], [0.0], [], [], 3.5)
    assert dist.tolist() == [0.0, 1.0, 3.0, math.inf]  # node 3 at 6 is beyond the bound
    assert pred.tolist() == [-1, 0, 1, -1] and settled.tolist() == [True, True, True, False]
    assert k.path_edges(pred, src, 2).tolist() == [0, 1]
    assert set(touched[:n].tolist()) >= {0, 1, 2}
    k.reset_workspace(touched[:n], *ws[:3])
    assert _clean(ws)
    # two sources: 2 starts at 0.5, so 3 is at 3.5 (on the bound, inclusive) through it
    n = _search(graph, ws, [0, 2, 2], [0.0, 0.7, 0.5], [], [], 3.5)
    assert dist.tolist() == [0.0, 1.0, 0.5, 3.5]
    assert pred.tolist() == [-1, 0, -1, 2] and settled.all()
    assert k.path_edges(pred, src, 3).tolist() == [2]
    k.reset_workspace(touched[:n], *ws[:3])
    # a target: node 1 (bound 10) is settled at 1; whatever else is settled is exact
    n = _search(graph, ws, [0], [0.0], [1], [10.0], math.inf)
    assert settled[1] and dist[1] == 1.0 and pred[1] == 0
    exact = [0.0, 1.0, 3.0, 6.0]
    for v in range(4):
        assert dist[v] == (exact[v] if settled[v] else math.inf)
        assert settled[v] or pred[v] == -1
    k.reset_workspace(touched[:n], *ws[:3])
    # a target farther than its bound need not be searched for
    n = _search(graph, ws, [3], [0.0], [0], [1.0], math.inf)
    assert dist.tolist() == [math.inf, math.inf, math.inf, 0.0]
    k.reset_workspace(touched[:n], *ws[:3])
    assert _clean(ws)


@SETTINGS
@given(
    st.integers(0, 100_000),
    st.integers(1, 30),
    st.integers(0, 90),
    st.floats(0, 800),
    st.integers(1, 4),
    st.integers(0, 4),
)
def test_dijkstra_matches_twin(
    seed: int, n_nodes: int, n_edges: int, bound: float, n_sources: int, n_targets: int
) -> None:
    graph = _random_graph(seed, n_nodes, n_edges)
    src, dst, cost, out_start, out_edges = graph
    rng = np.random.default_rng(seed + 1)
    sources = rng.integers(0, n_nodes, n_sources)  # repeats allowed
    source_cost = np.round(rng.uniform(0, 200, n_sources), 1)
    targets = rng.integers(0, n_nodes, n_targets)
    target_bound = rng.uniform(-50, 600, n_targets)
    ws = k.new_workspace(n_nodes, n_edges)
    dist, pred, settled, _, _, touched = ws
    n = _search(graph, ws, sources, source_cost, targets, target_bound, bound)
    want = twins.dijkstra(out_start, out_edges, dst, cost, sources, source_cost, bound)
    start = {}
    for s, c in zip(sources.tolist(), source_cost.tolist(), strict=True):
        start[s] = min(start.get(s, math.inf), c)
    assert len(set(touched[:n].tolist())) == n
    assert set(np.flatnonzero(settled).tolist()) <= set(touched[:n].tolist())
    for v in range(n_nodes):
        if not settled[v]:
            assert dist[v] == math.inf and pred[v] == -1
            continue
        assert v in want and dist[v] == pytest.approx(want[v], abs=1e-9) and dist[v] <= bound
        path = k.path_edges(pred, src, v).tolist()
        assert path == twins.path_edges(pred.tolist(), src.tolist(), v)
        head = src[path[0]] if path else v
        assert pred[head] == -1 and dist[head] == start[head]
        assert all(settled[src[e]] for e in path)
        assert start[head] + cost[path].sum() == pytest.approx(dist[v], abs=1e-9)
    if n_targets == 0:  # exactly the nodes within the bound
        for v, d in want.items():
            assert settled[v] or d > bound - NEAR
    for t, tb in zip(targets.tolist(), target_bound.tolist(), strict=True):
        if want.get(t, math.inf) <= min(tb, bound) - NEAR:
            assert settled[t]
    k.reset_workspace(touched[:n], dist, pred, settled)
    assert _clean(ws)


@SETTINGS
@given(st.integers(0, 100_000), st.integers(0, 19))
def test_path_edges_match_twin(seed: int, target: int) -> None:
    graph = _random_graph(seed, 20, 60)
    src, _, cost, _, _ = graph
    ws = k.new_workspace(20, 60)
    _search(graph, ws, [0], [0.0], [], [], math.inf)
    dist, pred = ws[:2]
    got = k.path_edges(pred, src, target).tolist()
    assert got == twins.path_edges(pred.tolist(), src.tolist(), target)
    if dist[target] < math.inf:
        assert cost[got].sum() == pytest.approx(dist[target], abs=1e-9)


def test_distance_table_fixed() -> None:
    # 0 -> 1 -> 2 costs 1, 2; 2 -> 0 costs 10; limit 3
    dst, cost = np.array([1, 2, 0]), np.array([1.0, 2.0, 10.0])
    start, node, dist, pred = k.distance_table(
        k.Graph(np.array([0, 1, 2, 3]), np.array([0, 1, 2]), dst, cost),
        3.0,
        k.new_workspace(3, 3),
    )
    assert start.tolist() == [0, 3, 5, 6]
    assert node.tolist() == [0, 1, 2, 1, 2, 2]
    assert dist.tolist() == [0.0, 1.0, 3.0, 0.0, 2.0, 0.0]
    assert pred.tolist() == [-1, 0, 1, -1, 1, -1]


@SETTINGS
@given(st.integers(0, 100_000), st.integers(1, 25), st.integers(0, 80), st.floats(0, 900))
def test_distance_table_matches_twin(seed: int, n_nodes: int, n_edges: int, limit: float) -> None:
    src, dst, cost, out_start, out_edges = _random_graph(seed, n_nodes, n_edges)
    ws = k.new_workspace(n_nodes, n_edges)
    start, node, dist, pred = k.distance_table(k.Graph(out_start, out_edges, dst, cost), limit, ws)
    want = twins.distance_table(out_start, out_edges, dst, cost, limit)
    assert start[0] == 0 and start.size == n_nodes + 1
    assert start[-1] == node.size == dist.size == pred.size
    for u in range(n_nodes):
        row = node[start[u] : start[u + 1]].tolist()
        assert row == sorted(set(row))
        got = dict(zip(row, dist[start[u] : start[u + 1]].tolist(), strict=True))
        for v, d in want[u].items():
            assert v in got or d > limit - NEAR
        for v, d in got.items():
            assert d == pytest.approx(want[u].get(v, math.inf), abs=1e-9)
        # each node's edge in: from a node of the row, on a shortest path (none at u)
        for v, e in zip(row, pred[start[u] : start[u + 1]].tolist(), strict=True):
            if v == u:
                assert e == -1
            else:
                assert dst[e] == v and src[e] in got
                assert got[src[e]] + cost[e] == pytest.approx(got[v], abs=1e-9)
    assert _clean(ws)
    # the tiered table: the rows above cut into tiers, as a sort after the fact (twin)
    table = k.new_table(k.Graph(out_start, out_edges, dst, cost), limit, ws)
    assert _clean(ws)
    want_tiers = twins.tier_table(start, node, dist, pred, limit)
    for got_array, want_array in zip(table[:4], want_tiers, strict=True):
        assert got_array.tolist() == want_array.tolist()
    assert table.limit == limit
    # a table's row read for several nodes at once, and a walk along shortest paths
    rng = np.random.default_rng(seed)
    for u in range(n_nodes):
        row = dict(zip(node[start[u] : start[u + 1]].tolist(),
                       dist[start[u] : start[u + 1]].tolist(), strict=True))  # fmt: skip
        nodes = np.unique(rng.integers(0, n_nodes, int(rng.integers(0, n_nodes + 1))))
        out = np.full((2, nodes.size), -1.0)  # (row 1 of a buffer, as the matcher keeps them)
        k._table_row(table, u, nodes, nodes.size, math.inf, out, 1)
        assert out[0].tolist() == [-1.0] * nodes.size
        assert out[1].tolist() == [row.get(v, math.inf) for v in nodes.tolist()]
        # bounded: exact within the bound, beyond it anything farther
        bound = float(rng.uniform(0, limit + 1))
        k._table_row(table, u, nodes, nodes.size, bound, out, 1)
        for v, d in zip(nodes.tolist(), out[1].tolist(), strict=True):
            assert d == row[v] if row.get(v, math.inf) <= bound else d > bound
        v = int(rng.integers(0, n_nodes))
        found, edges = k._table_walk(table, src, u, v)
        assert found == (v in row)
        if v in row:  # a shortest path, edge after edge
            assert cost[edges].sum() == pytest.approx(row[v], abs=1e-6)
            assert [u, *dst[edges].tolist()][-1] == v
            assert all(src[e] == a for e, a in zip(edges, [u, *dst[edges].tolist()], strict=False))


# --- candidates -----------------------------------------------------------------------


def _grid(x0, y0, x1, y1, road, along0, along1, cell) -> k.SegmentGrid:
    ox, oy, n_cols, n_rows, cell_start, items = build_segment_index(x0, y0, x1, y1, cell)
    ends = np.column_stack((x0, y0, x1, y1)).astype(np.float64)
    per_item = (ends, np.asarray(road, np.int64), along0, along1)
    return k.SegmentGrid(
        ox, oy, cell, n_cols, n_rows, cell_start, items,
        *(np.ascontiguousarray(np.asarray(a)[items]) for a in per_item),
    )  # fmt: skip


def _candidates(px, py, x0, y0, x1, y1, road, radius, max_k, cell, near=-1.0, cap=None, along=None):
    """``edge_candidates``; ``along``: (along0, along1) per segment, else all at 0 (one
    part per road)."""
    along0, along1 = (np.zeros(len(x0)), np.zeros(len(x0))) if along is None else along
    grid = _grid(x0, y0, x1, y1, road, along0, along1, cell)
    return k.edge_candidates(
        np.asarray(px, float), np.asarray(py, float), grid, radius, max_k, near,
        max_k if cap is None else cap,
    )  # fmt: skip


def test_edge_candidates_fixed() -> None:
    # 0: y=0 from x 0..100; 1: y=30; 2: x=0 up; 3: y=-10 (same group as 0); 4: y=-30
    x0, y0 = np.array([0.0, 0.0, 0.0, 0.0, 0.0]), np.array([0.0, 30.0, 0.0, -10.0, -30.0])
    x1, y1 = np.array([100.0, 100.0, 0.0, 100.0, 100.0]), np.array([0.0, 30.0, 100.0, -10, -30])
    px, py = [50.0, 500.0, 50.0, 50.0], [10.0, 0.0, -20.0, 0.0]
    start, seg, frac, dist = _candidates(px, py, x0, y0, x1, y1, np.arange(5), 50.0, 2, 40.0)
    # point 0: 1 and 3 tie at 20 (lower first); point 2: 3 and 4 at 10, 0 at 20 beyond
    # max_k; point 3: 0 at 0, 3 at 10
    assert start.tolist() == [0, 2, 2, 4, 6]
    assert seg.tolist() == [0, 1, 3, 4, 0, 3]
    assert dist.tolist() == [10.0, 20.0, 10.0, 10.0, 0.0, 10.0]
    assert frac.tolist() == [0.5] * 6
    # grouped: 0 and 3 are one group, entered by the nearer (3 at point 2)
    group = [7, 8, 9, 7, 10]
    start, seg, frac, dist = _candidates(px, py, x0, y0, x1, y1, group, 50.0, 3, 40.0)
    assert start.tolist() == [0, 3, 3, 6, 9]
    assert seg.tolist() == [0, 1, 4, 3, 4, 1, 0, 1, 4]
    assert dist.tolist() == [10.0, 20.0, 40.0, 10.0, 10.0, 50.0, 0.0, 30.0, 30.0]
    # point 0 within radius 50 of 2 (at 50, inclusive), last
    start, seg, _, dist = _candidates(px, py, x0, y0, x1, y1, np.arange(5), 50.0, 9, 40.0)
    assert seg[start[0] : start[1]].tolist() == [0, 1, 3, 4, 2]
    assert dist[start[0] : start[1]].tolist() == [10.0, 20.0, 20.0, 40.0, 50.0]
    # every group within ``near`` (20) is kept beyond max_k (1), up to cap: point 0 keeps
    # 0 and 1 (at 10 and 20), point 2 keeps 3, 4 (10) and 0 (20), but cap 2 cuts it
    start, seg, _, _ = _candidates(px, py, x0, y0, x1, y1, np.arange(5), 50.0, 1, 40.0, 20.0, 9)
    assert start.tolist() == [0, 3, 3, 6, 8]
    assert seg.tolist() == [0, 1, 3, 3, 4, 0, 0, 3]
    start, seg, _, _ = _candidates(px, py, x0, y0, x1, y1, np.arange(5), 50.0, 1, 40.0, 20.0, 2)
    assert seg.tolist() == [0, 1, 3, 4, 0, 3]
    # no segments: no candidates; NaN point: none
    empty = np.zeros(0)
    start, seg, _, _ = _candidates(px, py, empty, empty, empty, empty, [], 50.0, 2, 40.0)
    assert start.tolist() == [0] * 5 and seg.size == 0
    start, *_ = _candidates([np.nan], [0.0], x0, y0, x1, y1, np.arange(5), 50.0, 2, 40.0)
    assert start.tolist() == [0, 0]


def test_edge_candidates_one_per_part_of_a_road() -> None:
    # One road passing a point twice, as a loop ramp: out along y=0 (segments 0, 1, along
    # 0..200) and back along y=30 (segment 2, along 500..300); another road at y=-20.
    x0, y0 = np.array([0.0, 100.0, 200.0, 0.0]), np.array([0.0, 0.0, 30.0, -20.0])
    x1, y1 = np.array([100.0, 200.0, 0.0, 200.0]), np.array([0.0, 0.0, 30.0, -20.0])
    road = [7, 7, 7, 8]
    along = (np.array([0.0, 100.0, 500.0, 0.0]), np.array([100.0, 200.0, 300.0, 200.0]))
    # at x=95, radius 50 (buckets 100 m): 0 (bucket 0) and 1 (bucket 1, at its start)
    # are one part, its nearer; the way back (bucket 4) is a part of its own
    start, seg, _, dist = _candidates([95.0], [5.0], x0, y0, x1, y1, road, 50.0, 9, 80.0,
                                      along=along)  # fmt: skip
    assert seg.tolist() == [0, 2, 3] and dist.tolist() == [5.0, 25.0, 25.0]  # (ties: lower)
    # counted as one road (no places along it), the way back is left out
    _, seg, _, _ = _candidates([95.0], [5.0], x0, y0, x1, y1, road, 50.0, 9, 80.0)
    assert seg.tolist() == [0, 3]


@SETTINGS
@given(
    st.integers(0, 100_000),
    st.integers(0, 40),
    st.floats(1, 120),
    st.integers(1, 5),
    st.floats(5, 200),
    st.integers(0, 12),
    st.floats(-1, 120),
    st.integers(0, 6),
)
def test_edge_candidates_match_twin(
    seed: int,
    n_seg: int,
    radius: float,
    max_k: int,
    cell: float,
    n_groups: int,
    near: float,
    extra: int,
) -> None:
    rng = np.random.default_rng(seed)
    x0, y0 = rng.uniform(0, 400, n_seg), rng.uniform(0, 400, n_seg)
    x1, y1 = x0 + rng.normal(0, 60, n_seg), y0 + rng.normal(0, 60, n_seg)
    point_like = rng.random(n_seg) < 0.1
    x1[point_like], y1[point_like] = x0[point_like], y0[point_like]
    px, py = rng.uniform(-50, 450, 30), rng.uniform(-50, 450, 30)
    if seed % 2:  # on a 10 m lattice: ties
        x0, y0, x1, y1, px, py = (np.round(v, -1) for v in (x0, y0, x1, y1, px, py))
    group = np.arange(n_seg) if n_groups == 0 else rng.integers(0, n_groups, n_seg)
    # where each segment lies along its road: anywhere, either way
    along0 = rng.uniform(0, 600, n_seg)
    along1 = along0 + np.hypot(x1 - x0, y1 - y0) * rng.choice([-1.0, 1.0], n_seg)
    start, seg, frac, dist = _candidates(
        px, py, x0, y0, x1, y1, group, radius, max_k, cell, near, max_k + extra,
        (along0, along1),
    )  # fmt: skip
    want = twins.edge_candidates(
        px, py, x0, y0, x1, y1, group, along0, along1, radius, max_k, near, max_k + extra
    )
    assert start[0] == 0 and start.size == px.size + 1
    for i, cands in enumerate(want):
        sl = slice(start[i], start[i + 1])
        assert seg[sl].tolist() == [s for s, _, _ in cands]
        assert frac[sl] == pytest.approx([u for _, u, _ in cands], abs=1e-12)
        assert dist[sl] == pytest.approx([d for _, _, d in cands], abs=1e-9)


def test_directed_candidates_fixed() -> None:
    # arcs 0 (east) and 1 (west) are one two-way road; arc 2 (north) is one-way
    reverse = np.array([1, 0, -1])
    bearing = np.array([math.pi / 2, -math.pi / 2, 0.0])
    cand_start = np.array([0, 2, 4, 6, 7])
    seg = np.array([0, 2, 1, 2, 0, 2, 2])
    frac = np.array([0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.5])
    dist = np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0])
    # point 0: no heading, both directions; 1: heading 100 deg at speed: east only (found
    # as 1, its reverse 0 is nearer); 2: heading 270 but too slow: both; 3: north
    heading = np.array([np.nan, 100.0, 270.0, 0.0])
    speed = np.array([10.0, 10.0, 1.0, 10.0])
    start, arc, fr, di, agree = k.directed_candidates(
        cand_start, seg, frac, dist, heading, speed, reverse, bearing, 2.0
    )
    assert start.tolist() == [0, 3, 5, 8, 9]
    assert arc.tolist() == [0, 1, 2, 0, 2, 0, 1, 2, 2]
    assert fr.tolist() == [0.25, 0.75, 0.5, 0.75, 0.5, 0.25, 0.75, 0.5, 0.5]
    assert di.tolist() == [1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0, 2.0, 3.0]
    assert np.isnan(agree[[0, 1, 2, 5, 6, 7]]).all()
    assert agree[[3, 4, 8]] == pytest.approx(np.cos(np.radians([10, 100, 0])))


@SETTINGS
@given(st.integers(0, 100_000), st.integers(0, 12), st.floats(0, 5))
def test_directed_candidates_match_twin(seed: int, n_points: int, min_speed: float) -> None:
    rng = np.random.default_rng(seed)
    n_arcs = 10
    reverse = np.full(n_arcs, -1, np.int64)
    for a in range(0, n_arcs - 2, 2):  # pairs of a two-way road, the last two one-way
        if rng.random() < 0.7:
            reverse[a], reverse[a + 1] = a + 1, a
    bearing = rng.uniform(-math.pi, math.pi, n_arcs)
    bearing[1::2] = np.where(reverse[1::2] >= 0, bearing[0::2] + math.pi, bearing[1::2])
    counts = rng.integers(0, 4, n_points)
    cand_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    seg = rng.integers(0, n_arcs, cand_start[-1])
    frac, dist = rng.uniform(0, 1, seg.size), rng.uniform(0, 50, seg.size)
    heading = np.where(rng.random(n_points) < 0.3, np.nan, rng.integers(0, 360, n_points))
    speed = rng.uniform(0, 6, n_points)
    start, arc, fr, di, agree = k.directed_candidates(
        cand_start, seg, frac, dist, heading, speed, reverse, bearing, min_speed
    )
    grouped = [
        [(int(seg[c]), frac[c], dist[c]) for c in range(cand_start[i], cand_start[i + 1])]
        for i in range(n_points)
    ]
    want = twins.directed_candidates(grouped, heading, speed, reverse, bearing, min_speed)
    assert start[0] == 0 and start.size == n_points + 1
    for i, row in enumerate(want):
        sl = slice(start[i], start[i + 1])
        assert arc[sl].tolist() == [a for a, _, _, _ in row]
        assert fr[sl] == pytest.approx([f for _, f, _, _ in row], abs=1e-12)
        assert di[sl].tolist() == [d for _, _, d, _ in row]
        assert agree[sl] == pytest.approx([a for *_, a in row], abs=1e-9, nan_ok=True)


# --- hidden Markov model ----------------------------------------------------------------


@SETTINGS
@given(
    st.lists(st.floats(0, 1e4), max_size=20),
    st.floats(0.5, 50),
    st.floats(0.5, 50),
    st.sampled_from([0.0, 0.02, 0.5]),
    st.floats(0, 4),
    st.floats(0, 300),
)
def test_emission_and_transition_match_twins(
    values: list[float], sigma: float, beta: float, floor: float, factor: float, slack: float
) -> None:
    arr = np.array(values, dtype=float)
    assert k.emission_logprob(arr, sigma).tolist() == pytest.approx(
        twins.emission_logprob(values, sigma)
    )
    agree = np.where(np.arange(arr.size) % 4 == 0, np.nan, np.cos(arr))
    assert k.heading_logprob(agree, 1 / beta, 0.02).tolist() == pytest.approx(
        twins.heading_logprob(agree.tolist(), 1 / beta, 0.02)
    )
    route = np.where(np.arange(arr.size) % 3 == 0, np.inf, arr)
    straight = arr[::-1].copy()
    got = k.transition_logprob(route, straight, beta, floor, factor, slack).tolist()
    want = twins.transition_logprob(route.tolist(), straight.tolist(), beta, floor, factor, slack)
    assert got == pytest.approx(want)


def test_transition_floor() -> None:
    # a 400 m loop between fixes 50 m apart: -17.5 without a floor; with 2 % of steps
    # anywhere within the bound (2 x 50 + 100 m), log(0.02 * 20 / 200) at most
    route, straight = np.array([50.0, 400.0, np.inf]), np.full(3, 50.0)
    assert k.transition_logprob(route, straight, 20.0, 0.0, 2.0, 100.0).tolist() == [
        0.0, -17.5, -math.inf,
    ]  # fmt: skip
    got = k.transition_logprob(route, straight, 20.0, 0.02, 2.0, 100.0)
    assert got[0] == pytest.approx(math.log(0.98 + 0.002))
    assert got[1] == pytest.approx(math.log(0.98 * math.exp(-17.5) + 0.002))
    assert math.log(0.002) < got[1] < math.log(0.002) + 1e-4 and got[2] == -math.inf


def test_viterbi_fixed_break() -> None:
    # points 0 and 1 have two candidates; 2 has none; 3 cannot be reached: new segment
    cand_start = np.array([0, 2, 4, 4, 5])
    emission = np.array([-1.0, 0.0, 0.0, -5.0, -2.0])
    transition = np.array([0.0, -np.inf, -3.0, 0.0, -np.inf, -np.inf])
    trans_start = np.array([0, 0, 4, 4, 6])
    choice, segment = k.viterbi(cand_start, emission, trans_start, transition)
    # 0->2: -1+0+0 = -1 beats 1->2: 0-3+0 = -3; 3 from either: -inf
    assert choice.tolist() == [0, 2, -1, 4]
    assert segment.tolist() == [0, 0, -1, 1]


@SETTINGS
@given(st.integers(0, 10_000), st.integers(0, 12))
def test_viterbi_matches_twin(seed: int, n_points: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 4, n_points)
    cand_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    emission = np.round(rng.normal(0, 2, cand_start[-1]), 1)  # rounding makes ties
    with_cands = [i for i in range(n_points) if counts[i]]
    table: dict[tuple[int, int], float] = {}
    values = []
    for prev, i in zip(with_cands, with_cands[1:], strict=False):
        for a in range(cand_start[prev], cand_start[prev + 1]):
            for b in range(cand_start[i], cand_start[i + 1]):
                v = -np.inf if rng.random() < 0.3 else float(np.round(-rng.exponential(2), 1))
                table[(a, b)] = v
                values.append(v)
    # the matrix of step i (previous point with candidates -> i) starts at starts[i]
    starts = np.zeros(n_points + 1, np.int64)
    total = 0
    for prev, i in zip(with_cands, with_cands[1:], strict=False):
        starts[i] = total
        total += counts[prev] * counts[i]
    choice, segment = k.viterbi(cand_start, emission, starts, np.array(values, dtype=float))
    groups = [list(range(cand_start[i], cand_start[i + 1])) for i in range(n_points)]
    want_choice, want_segment = twins.viterbi(groups, emission.tolist(), table)
    assert choice.tolist() == want_choice
    assert segment.tolist() == want_segment


@SETTINGS
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), max_size=30), st.floats(0, 40))
def test_thin_points_matches_twin(points: list[tuple[float, float]], step: float) -> None:
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    assert k.thin_points(x, y, step).tolist() == twins.thin_points(x.tolist(), y.tolist(), step)


# --- route distances --------------------------------------------------------------------


def _kernel_chains(ch: Chains) -> k.Chains:
    """The chain graph as the kernels take it."""
    return k.Chains(*(getattr(ch, name) for name in k.Chains._fields))


def _table(ch: Chains, n_nodes: int, limit: float) -> tuple:
    """A ``distance_table`` over the chain graph up to ``limit`` (0: an empty one)."""
    if limit <= 0:
        return k.no_table(n_nodes)
    ws = k.new_workspace(n_nodes, ch.n_chains)
    return k.new_table(
        k.Graph(ch.out_start, ch.out_chains, ch.chain_to, ch.chain_length), limit, ws
    )


def _route_distances(roads, ch, px, py, cand_start, arc, off, factor, slack, tol, table):
    """``route_distances`` for candidates ``off`` metres along arcs ``arc``."""
    ws = k.new_workspace(roads.n_nodes, ch.n_chains)
    places = k.Places(
        chain=ch.arc_chain[arc],
        offset=ch.arc_offset[arc] + off,
        arc_start=ch.arc_offset[arc],
        arc_end=ch.arc_offset[arc] + roads.edge_length[arc],
    )
    out = k.route_distances(
        np.asarray(px, float), np.asarray(py, float), np.asarray(cand_start, np.int64), places,
        _kernel_chains(ch), table, factor, slack, tol, ws,
    )  # fmt: skip
    assert _clean(ws)  # workspace handed back clean
    return out


def _check_routes(roads, ch, px, py, cand_start, arc, off, factor, slack, tol, got) -> None:
    trans_start, route, straight = got
    table = twins.distance_table(
        roads.out_start, roads.out_edges, roads.edge_to, roads.edge_length, math.inf
    )
    n = len(px)
    assert trans_start.size == n + 1 and trans_start[-1] == route.size == straight.size
    for i in range(1, n):
        gc = math.hypot(px[i] - px[i - 1], py[i] - py[i - 1])
        bound = factor * gc + slack
        pos = trans_start[i]
        for a in range(cand_start[i - 1], cand_start[i]):
            for b in range(cand_start[i], cand_start[i + 1]):
                want, exact = twins.route_distance(
                    roads.graph, table, ch.arc_chain, ch.arc_offset, arc[a], off[a], arc[b],
                    off[b], tol,
                )  # fmt: skip
                have = route[pos]
                where = f"step {i}: arc {arc[a]} at {off[a]} -> arc {arc[b]} at {off[b]}"
                assert straight[pos] == pytest.approx(gc, rel=1e-12)
                assert have == math.inf or have <= bound, where
                if not exact:
                    assert have >= want - NEAR, where
                elif want <= bound - NEAR:
                    assert have == pytest.approx(want, abs=NEAR), where
                elif want > bound + NEAR:
                    assert have == math.inf, where
                else:
                    assert have == math.inf or have == pytest.approx(want, abs=NEAR), where
                pos += 1
        assert pos == trans_start[i + 1]


def _two_roads() -> Roads:
    """Two-way road 0-1-2-3 (x = 0, 100, 200, 300) with a two-way spur 1-4 (x=100,
    y=100) and a one-way road 3 -> 5 -> 0 (y = -100)."""
    x, y = [0, 100, 200, 300, 100, 150], [0, 0, 0, 0, 100, -100]
    arcs = [(0, 1), (1, 2), (2, 3), (3, 2), (2, 1), (1, 0), (1, 4), (4, 1), (3, 5), (5, 0)]
    return roads_of(x, y, arcs)


def test_route_distances_fixed() -> None:
    roads = _two_roads()
    ch = chain_graph(roads)
    # point 0 on arc 0 at 50 (x=50); point 1: on arc 1 at 50 (x=150, 100 on), on arc 4
    # (2 -> 1) at 80 (x=120: on to node 2 and back, 50 + 100 + 80), on arc 0 at 45
    # (jitter: 5), on arc 7 (4 -> 1) at 10 (turning at the dead end 4: 50 + 100 + 10)
    arc = np.array([0, 1, 4, 0, 7])
    off = np.array([50.0, 50.0, 80.0, 45.0, 10.0])
    px, py = [50.0, 150.0], [0.0, 0.0]
    for limit in (1e9, 0.0):
        table = _table(ch, roads.n_nodes, limit)
        trans_start, route, straight = _route_distances(
            roads, ch, px, py, [0, 1, 5], arc, off, 2.0, 100.0, 10.0, table
        )
        assert trans_start.tolist() == [0, 0, 4]
        assert route.tolist() == pytest.approx([100.0, 230.0, 5.0, 160.0])
        assert straight.tolist() == [100.0] * 4
        # behind beyond the tolerance (arc 0 at 20 from 50): on to node 1, back to node 0
        # and on: 50 + 100 + 20; inf beyond the bound (100 + 50)
        back, back_off = np.array([0, 0]), np.array([50.0, 20.0])
        _, route, _ = _route_distances(
            roads, ch, px, py, [0, 1, 2], back, back_off, 2.0, 100.0, 10.0, table
        )
        assert route.tolist() == pytest.approx([170.0])
        _, route, _ = _route_distances(
            roads, ch, px, py, [0, 1, 2], back, back_off, 1.0, 50.0, 10.0, table
        )
        assert route.tolist() == [math.inf]


def _lollipop() -> tuple[Roads, Roads]:
    """A two-way road 0-1 ending in a two-way ring 1-2-3-1 (arcs 2: 1 -> 2 and 3: 2 -> 1
    x = 100..200); and the ring 0-1-2-0 alone (arcs 0: 0 -> 1, 1: 1 -> 0, x = 100..200).
    Each ring is two closed chains, one each way, with no reverse."""
    x, y = [0, 100, 200, 150], [0, 0, 0, 100]
    ring = [(1, 2), (2, 1), (2, 3), (3, 2), (3, 1), (1, 3)]
    lollipop = roads_of(x, y, [(0, 1), (1, 0), *ring])
    alone = roads_of(x[1:], y[1:], [(u - 1, v - 1) for u, v in ring])
    return lollipop, alone


def test_route_distances_turn_round_on_a_two_way_loop() -> None:
    # From x=150 on the ring's arc 1 -> 2 to x=150 on its arc 2 -> 1: on to node 2 and
    # back, 50 + 50, as on any two-way road. (The kernel measures 547.2 on the lollipop,
    # round the ring and round again, and inf on the lone ring: closed chains have no
    # reverse, so no turning round on them.)
    lollipop, ring = _lollipop()
    for roads, arc in ((lollipop, [2, 3]), (ring, [0, 1])):
        ch = chain_graph(roads)
        for limit in (1e9, 0.0):
            _, route, _ = _route_distances(
                roads, ch, [150.0, 150.0], [0.0, 0.0], [0, 1, 2], np.array(arc),
                np.array([50.0, 50.0]), 2.0, 1000.0, 10.0, _table(ch, roads.n_nodes, limit),
            )  # fmt: skip
            assert route.tolist() == pytest.approx([100.0])


def _pick_arcs(rng: np.random.Generator, roads: Roads, ch: Chains, counts: np.ndarray):
    """Candidate arcs for points with ``counts`` candidates, often on the chains (or their
    reverses) of the point before's, and offsets along them (some at arc ends)."""
    arcs: list[int] = []
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    for i, n in enumerate(counts):
        for _ in range(n):
            prev = arcs[starts[i - 1] : starts[i]] if i else []
            if prev and rng.random() < 0.5:
                c = ch.arc_chain[prev[rng.integers(0, len(prev))]]
                if ch.chain_reverse[c] >= 0 and rng.random() < 0.4:
                    c = ch.chain_reverse[c]
                arcs.append(int(rng.choice(ch.arcs[c])))
            else:
                arcs.append(int(rng.integers(0, roads.n_edges)))
    arc = np.array(arcs, np.int64)
    frac = rng.choice([0.0, 1.0, 0.5, *rng.uniform(0, 1, 5)], arc.size)
    return starts, arc, frac * roads.edge_length[arc]


@SETTINGS
@given(
    st.integers(0, 100_000),
    st.integers(1, 7),
    st.floats(0, 400),
    st.one_of(st.floats(1, 3), st.just(math.inf)),  # inf: the widened search of a break
    st.floats(0, 40),
)
def test_route_distances_match_twin(
    seed: int, n_points: int, slack: float, factor: float, tol: float
) -> None:
    roads = road_graph(seed, 6, 10)
    if roads.n_edges == 0:
        return
    ch = chain_graph(roads)
    rng = np.random.default_rng(seed + 1)
    counts = rng.integers(0, 4, n_points)
    cand_start, arc, off = _pick_arcs(rng, roads, ch, counts)
    px, py = rng.uniform(0, 400, n_points), rng.uniform(0, 400, n_points)
    args = (roads, ch, px, py, cand_start, arc, off, factor, slack, tol)
    with_table = _route_distances(*args, _table(ch, roads.n_nodes, 1e9))
    _check_routes(*args, with_table)
    # no table (a search every step), and one that covers only some steps: the same
    for limit in (0.0, 150.0):
        other = _route_distances(*args, _table(ch, roads.n_nodes, limit))
        assert np.array_equal(with_table[0], other[0])
        assert np.array_equal(with_table[2], other[2])
        a, b = with_table[1], other[1]
        bound = factor * with_table[2] + slack
        with np.errstate(invalid="ignore"):  # inf - inf
            same = (a == b) | (np.abs(a - b) < NEAR) | (np.minimum(a, b) > bound - NEAR)
        assert same.all(), (limit, a[~same], b[~same])


# --- the path through matched points ------------------------------------------------------


def _fill_path(roads, ch, arc, off, segment, step, tol, table_m=0.0):
    """``fill_path`` with a distance table up to ``table_m`` (0: none, every step searched)."""
    ws = k.new_workspace(roads.n_nodes, ch.n_chains)
    table = _table(ch, roads.n_nodes, table_m)
    matched = arc >= 0
    safe = np.where(matched, arc, 0)
    places = k.Places(
        chain=np.where(matched, ch.arc_chain[safe], -1),
        offset=ch.arc_offset[safe] + off,
        arc_start=ch.arc_offset[safe],
        arc_end=ch.arc_offset[safe] + roads.edge_length[safe],
    )
    path, path_seg, at = k.fill_path(
        places, arc, segment, np.asarray(step, float), _kernel_chains(ch), table, tol, ws
    )
    assert _clean(ws)  # workspace handed back clean
    # ``at``: where the path stands once it reaches each point: on the point's arc, or (the
    # path did not move) where it stood for the point before; never back; -1 unmatched
    assert (at[~matched] == -1).all()
    before = -1
    for i in np.flatnonzero(matched):
        assert path_seg[at[i]] == segment[i] and at[i] >= before
        assert path[at[i]] == arc[i] or at[i] == before
        before = at[i]
    return path.tolist(), path_seg.tolist()


def _check_path(roads, ch, arc, off, segment, tol, got) -> None:
    path, path_seg = got
    want, want_seg, stops, inexact = twins.fill_path(
        arc.tolist(), off.tolist(), segment.tolist(), roads.graph, ch.arcs,
        ch.arc_chain.tolist(), ch.arc_offset.tolist(), tol,
    )  # fmt: skip
    assert path_seg == sorted(path_seg) and set(path_seg) == set(want_seg)
    for s in set(want_seg):
        mine = [e for e, q in zip(path, path_seg, strict=True) if q == s]
        theirs = [e for e, q in zip(want, want_seg, strict=True) if q == s]
        # continuous
        assert all(
            roads.edge_to[a] == roads.edge_from[b] for a, b in zip(mine, mine[1:], strict=False)
        )
        # through every stop in order
        rest = iter(mine)
        assert all(any(e == stop for e in rest) for q, stop in stops if q == s), (s, mine)
        assert mine[0] == theirs[0] and mine[-1] == theirs[-1]
        got_m, want_m = roads.edge_length[mine].sum(), roads.edge_length[theirs].sum()
        if s in inexact:
            assert got_m >= want_m - NEAR
        else:
            assert got_m == pytest.approx(want_m, abs=NEAR), (s, mine, theirs)


def test_fill_path_fixed() -> None:
    roads = _two_roads()
    ch = chain_graph(roads)
    #  0: arc 0 at 50; 1: arc 0 at 45 (jitter, nothing); 2: arc 7 (4 -> 1) at 10, via
    #  1 -> 4 and back; 3: unmatched; 4: arc 2 at 10; new segment: 5: arc 8 at 1, 6: arc 1
    #  at 5 (3 -> 5 -> 0 -> 1 -> 2)
    arc = np.array([0, 0, 7, -1, 2, 8, 1])
    off = np.array([50.0, 45.0, 10.0, 0.0, 10.0, 1.0, 5.0])
    segment = np.array([0, 0, 0, -1, 0, 1, 1])
    around = 2 * math.hypot(150, 100) - 1 + 100 + 5  # 3 -> 5 -> 0 -> 1 -> 2
    for step in (np.full(7, math.inf), np.array([0, 5, 165, 0, 200, 0, around])):
        for table_m in (0.0, 150.0, 1e9):  # searched, partly from the table, all from it
            path, path_seg = _fill_path(roads, ch, arc, off, segment, step, 10.0, table_m)
            assert path == [0, 6, 7, 1, 2, 8, 9, 0, 1]
            assert path_seg == [0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_fill_path_turns_round_on_a_two_way_loop() -> None:
    # x=150 on the ring's arc 1 -> 2, then x=150 on its arc 2 -> 1: turn round at node 2
    # (the kernel drives round the ring and round again: [2, 4, 6, 7, 5, 3])
    lollipop, _ = _lollipop()
    ch = chain_graph(lollipop)
    for step in (math.inf, 100.0):
        for table_m in (0.0, 1e9):
            path, path_seg = _fill_path(
                lollipop, ch, np.array([2, 3]), np.array([50.0, 50.0]), np.array([0, 0]),
                np.array([math.inf, step]), 10.0, table_m,
            )  # fmt: skip
            assert path == [2, 3] and path_seg == [0, 0]


@SETTINGS
@given(st.integers(0, 100_000), st.integers(0, 12), st.floats(0, 40))
def test_fill_path_matches_twin(seed: int, n_points: int, tol: float) -> None:
    roads = road_graph(seed, 6, 10)
    if roads.n_edges == 0:
        return
    ch = chain_graph(roads)
    rng = np.random.default_rng(seed + 7)
    _, arc, off = _pick_arcs(rng, roads, ch, np.ones(n_points, np.int64))
    arc[rng.random(n_points) < 0.15] = -1  # unmatched points
    off[arc < 0] = 0.0
    table = twins.distance_table(
        roads.out_start, roads.out_edges, roads.edge_to, roads.edge_length, math.inf
    )
    # segments break at random and where the next point cannot be reached (as the
    # matcher breaks them); the step is the distance from the point before, or unknown
    segment = np.full(n_points, -1, np.int64)
    step = np.full(n_points, math.inf)
    seg, prev, at = -1, -1, -1  # the previous matched point, and where the path is
    for i in np.flatnonzero(arc >= 0):
        if prev >= 0:
            d, _ = twins.route_distance(
                roads.graph, table, ch.arc_chain, ch.arc_offset, arc[prev], off[prev], arc[i],
                off[i], tol,
            )  # fmt: skip
            reach, _ = twins.route_distance(
                roads.graph, table, ch.arc_chain, ch.arc_offset, arc[at], off[at], arc[i],
                off[i], tol,
            )  # fmt: skip
            if rng.random() < 0.5:
                step[i] = d
        if prev < 0 or rng.random() < 0.15 or reach == math.inf:
            seg += 1
            at = i
        else:  # a point jittering back leaves the path where it was
            pa = ch.arc_offset[arc[at]] + off[at]
            pb = ch.arc_offset[arc[i]] + off[i]
            if not (ch.arc_chain[arc[at]] == ch.arc_chain[arc[i]] and pa > pb >= pa - tol):
                at = i
        segment[i] = seg
        prev = i
    for table_m in (0.0, float(rng.uniform(0, 400)), 1e9):
        got = _fill_path(roads, ch, arc, off, segment, step, tol, table_m)
        _check_path(roads, ch, arc, off, segment, tol, got)


# --- the whole matcher ------------------------------------------------------------------


def _matcher_inputs(roads: Roads, ch: Chains, radius: float) -> tuple:
    """The grid and segment arrays ``MapMatcher`` hands ``match_track``, and per arc its
    reverse and bearing."""
    x0, y0 = roads.x[roads.edge_from], roads.y[roads.edge_from]
    x1, y1 = roads.x[roads.edge_to], roads.y[roads.edge_to]
    g = ChainGraph(*(getattr(ch, f) for f in ch.__dataclass_fields__))
    grid = _grid(x0, y0, x1, y1, g.arc_road(), *g.arc_along(roads.edge_length),
                 max(2.0 * radius, 50.0))  # fmt: skip
    return grid, (x0, y0, x1, y1), (g.arc_reverse(), np.arctan2(x1 - x0, y1 - y0))


def _composed(x, y, heading, speed, roads, ch, table, p) -> tuple:
    """``match_track`` as its docstring composes it, kernel by kernel."""
    sigma = p.sigma
    grid, _, (reverse, bearing) = _matcher_inputs(roads, ch, p.radius)
    ws = k.new_workspace(roads.n_nodes, ch.n_chains)
    keep = np.flatnonzero(k.thin_points(x, y, 2.0 * sigma))
    kx, ky = x[keep], y[keep]
    road = k.edge_candidates(kx, ky, grid, p.radius, p.max_k, p.near, p.cap)
    cand_start, cand_edge, cand_frac, cand_dist, cand_agree = k.directed_candidates(
        *road, heading[keep], speed[keep], reverse, bearing, p.heading_min_speed
    )
    e = cand_edge
    length = roads.edge_length[e]
    cand_chain, arc_start = ch.arc_chain[e], ch.arc_offset[e]
    cand_off = arc_start + cand_frac * length
    has = np.flatnonzero(np.diff(cand_start) > 0)
    sub_start = np.append(cand_start[has], cand_start[-1])
    chains = _kernel_chains(ch)
    places = k.Places(
        chain=cand_chain, offset=cand_off, arc_start=arc_start, arc_end=arc_start + length
    )
    trans_start, route, straight = k.route_distances(
        kx[has], ky[has], sub_start, places, chains, table, p.route_factor, p.route_slack,
        sigma, ws,
    )  # fmt: skip
    emission = k.emission_logprob(cand_dist, sigma) + k.heading_logprob(
        cand_agree, p.heading_kappa, p.heading_floor
    )
    choice, state_seg = k.viterbi(
        sub_start,
        emission,
        trans_start,
        k.transition_logprob(route, straight, p.beta, p.route_floor, p.route_factor, p.route_slack),
    )
    widened: set[int] = set()
    while True:  # steps that break: routes again with a wider bound (one step alone:
        # ``route_distances`` on its two states, with that bound as its slack)
        broken = [h for h in range(1, has.size) if state_seg[h] != state_seg[h - 1]]
        broken = [h for h in broken if has[h] == has[h - 1] + 1]
        # each broken step and up to break_steps - 1 before it, not across a gap
        redo = []
        for b in broken:
            for h in range(b, max(0, b - p.break_steps), -1):
                if has[h] != has[h - 1] + 1:
                    break
                if h not in widened and h not in redo:
                    redo.append(h)
        if not redo:
            break
        for h in redo:
            widened.add(h)
            gc = straight[trans_start[h]]
            bound = p.break_factor * (p.route_factor * gc + p.route_slack)
            two = [has[h - 1], has[h]]
            lo, mid, hi = sub_start[h - 1], sub_start[h], sub_start[h + 1]
            _, again, _ = k.route_distances(
                kx[two], ky[two], np.array([0, mid - lo, hi - lo]),
                k.Places(*(a[lo:hi] for a in places)), chains, table, 0.0, bound, sigma, ws,
            )  # fmt: skip
            route[trans_start[h] : trans_start[h + 1]] = again
        choice, state_seg = k.viterbi(
            sub_start,
            emission,
            trans_start,
            k.transition_logprob(
                route, straight, p.beta, p.route_floor, p.route_factor, p.route_slack
            ),
        )
    nk = keep.size
    kept_edge = np.full(nk, -1, np.int64)
    kept_seg = np.full(nk, -1, np.int64)
    kept_off = np.zeros(nk)
    step = np.full(nk, math.inf)
    for h, j in enumerate(has):
        c = choice[h]
        kept_edge[j], kept_seg[j], kept_off[j] = cand_edge[c], state_seg[h], cand_off[c]
        if h:
            width = sub_start[h + 1] - sub_start[h]
            row = (choice[h - 1] - sub_start[h - 1]) * width
            step[j] = route[trans_start[h] + row + c - sub_start[h]]
    safe = np.maximum(kept_edge, 0)
    kept = k.Places(
        chain=np.where(kept_edge >= 0, ch.arc_chain[safe], -1),
        offset=kept_off,
        arc_start=ch.arc_offset[safe],
        arc_end=ch.arc_offset[safe] + roads.edge_length[safe],
    )
    path, path_seg, at = k.fill_path(kept, kept_edge, kept_seg, step, chains, table, sigma, ws)
    owner = np.searchsorted(keep, np.arange(x.size), side="right") - 1
    edge = kept_edge[owner]
    segment = np.where(edge >= 0, kept_seg[owner], -1)
    for i in np.flatnonzero((edge >= 0) & (keep[owner] != np.arange(x.size))):
        # a thinned fix: the nearest arc of the path from its owner's entry to the next
        # kept fix's (same segment), at most 4 sigma along the path past the owner
        o = owner[i]
        same = o + 1 < keep.size and kept_seg[o + 1] == kept_seg[o]
        last = at[o + 1] if same else at[o]
        window = [at[o]]
        ahead = ch.arc_offset[kept_edge[o]] + roads.edge_length[kept_edge[o]] - kept_off[o]
        while window[-1] < last and ahead <= 4.0 * sigma:
            window.append(window[-1] + 1)
            ahead += roads.edge_length[path[window[-1]]]
        gaps = []
        for q in window:
            a, b = roads.edge_from[path[q]], roads.edge_to[path[q]]
            gaps.append(
                twins.segment_point(x[i], y[i], roads.x[a], roads.y[a], roads.x[b], roads.y[b])[1]
            )
        first = min(q for q, g in enumerate(gaps) if g <= min(gaps) + k.TIE_M)
        edge[i] = path[window[first]]  # the first of equals
    offset, distance = np.zeros(x.size), np.full(x.size, np.nan)
    for i in np.flatnonzero(edge >= 0):
        a, b = roads.edge_from[edge[i]], roads.edge_to[edge[i]]
        u, distance[i] = twins.segment_point(
            x[i], y[i], roads.x[a], roads.y[a], roads.x[b], roads.y[b]
        )
        offset[i] = u * roads.edge_length[edge[i]]
    return edge, offset, distance, segment, path, path_seg


def _track(rng: np.random.Generator, roads: Roads, n: int, sigma: float) -> tuple:
    """Fixes along a random drive over the arcs, with noise, stops and a few outliers."""
    e = int(rng.integers(0, roads.n_edges))
    xs, ys = [], []
    while len(xs) < n:
        a, b = roads.edge_from[e], roads.edge_to[e]
        for t in np.sort(rng.uniform(0, 1, int(rng.integers(0, 4)))):
            xs.append(roads.x[a] + t * (roads.x[b] - roads.x[a]) + rng.normal(0, sigma))
            ys.append(roads.y[a] + t * (roads.y[b] - roads.y[a]) + rng.normal(0, sigma))
        nxt = roads.out_edges[roads.out_start[b] : roads.out_start[b + 1]]
        e = int(rng.choice(nxt)) if nxt.size else int(rng.integers(0, roads.n_edges))
    x, y = np.array(xs[:n]), np.array(ys[:n])
    far = rng.random(n) < 0.1
    x[far] += 1000.0
    return x, y


@SETTINGS
@given(
    st.integers(0, 100_000),
    st.integers(0, 25),
    st.floats(2, 15),
    st.floats(20, 80),
    st.integers(1, 5),
    st.sampled_from([0.0, 100.0, 1e9]),
)
def test_match_track_composes_the_kernels(
    seed: int, n: int, sigma: float, radius: float, max_k: int, table_m: float
) -> None:
    roads = road_graph(seed, 6, 10)
    if roads.n_edges == 0:
        return
    ch = chain_graph(roads)
    rng = np.random.default_rng(seed + 3)
    x, y = _track(rng, roads, n, sigma)
    heading = np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0, 360, n))
    speed = rng.uniform(0, 10, n)
    p = k.TrackParams(
        sigma=sigma, beta=10.0, radius=radius, max_k=max_k, near=3 * sigma,
        cap=max_k + int(rng.integers(0, 3)), route_factor=float(rng.uniform(0.5, 2)),
        route_slack=float(rng.uniform(0, 200)), break_factor=float(rng.uniform(1, 5)),
        break_steps=int(rng.integers(1, 4)),
        heading_kappa=8.0, heading_floor=0.02, heading_min_speed=3.0,
        route_floor=float(rng.choice([0.0, 0.02])),
    )  # fmt: skip
    table = _table(ch, roads.n_nodes, table_m)
    grid, ends, arcs = _matcher_inputs(roads, ch, radius)
    ws = k.new_workspace(roads.n_nodes, ch.n_chains)
    chains = _kernel_chains(ch)
    got = k.match_track(
        x, y, heading, speed, grid, k.Arcs(*ends, roads.edge_length, *arcs), chains, table, p, ws
    )
    assert _clean(ws)
    want = _composed(x, y, heading, speed, roads, ch, table, p)
    edge, offset, distance, segment, path, path_seg = got
    assert edge.tolist() == want[0].tolist() and segment.tolist() == want[3].tolist()
    assert offset == pytest.approx(want[1], abs=1e-9)
    assert np.array_equal(np.isnan(distance), np.isnan(want[2]))
    assert distance[edge >= 0] == pytest.approx(want[2][edge >= 0], abs=1e-9)
    assert path.tolist() == want[4].tolist() and path_seg.tolist() == want[5].tolist()
    network = (grid, k.Arcs(*ends, roads.edge_length, *arcs), chains, table)
    plain = k.match_track_plain(
        x, y, heading, speed, tuple(tuple(b) for b in network), tuple(p), tuple(ws)
    )
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(plain, got, strict=True))
