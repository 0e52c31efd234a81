"""The road kernels against their plain-Python twins, on fixed and hypothesis inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.roads import _kernels as k
from cdw.tracking._kernels import build_segment_index
from tests.roads import twins

SETTINGS = settings(max_examples=40, deadline=None)


def _random_graph(seed: int, n_nodes: int, n_edges: int) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 500, n_nodes)
    y = rng.uniform(0, 500, n_nodes)
    src = rng.integers(0, n_nodes, n_edges)
    dst = rng.integers(0, n_nodes, n_edges)
    length = np.hypot(x[dst] - x[src], y[dst] - y[src])
    order = np.argsort(src, kind="stable")
    out_start = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n_nodes), out=out_start[1:])
    return (
        x,
        y,
        src.astype(np.int64),
        dst.astype(np.int64),
        length,
        out_start,
        order.astype(np.int64),
    )


def _workspace(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.full(n, np.inf), np.full(n, -1, np.int64), np.zeros(n, bool)


def test_dijkstra_fixed_chain() -> None:
    # 0 -> 1 -> 2 -> 3 costs 1, 2, 3; a shortcut 0 -> 2 costs 4; 3 -> 0 is closed (inf)
    src = np.array([0, 1, 2, 0, 3])
    dst = np.array([1, 2, 3, 2, 0])
    cost = np.array([1.0, 2.0, 3.0, 4.0, np.inf])
    out_start = np.array([0, 2, 3, 4, 5])
    out_edges = np.array([0, 3, 1, 2, 4])
    dist, pred, settled = _workspace(4)
    touched = k.dijkstra(out_start, out_edges, dst, cost, 0, -1, 3.5, dist, pred, settled)
    assert dist.tolist() == [0.0, 1.0, 3.0, math.inf]  # node 3 at 6 is beyond the bound
    assert pred.tolist() == [-1, 0, 1, -1]
    assert k.path_edges(pred, src, 2).tolist() == [0, 1]
    k.reset_workspace(touched, dist, pred, settled)
    assert np.isinf(dist).all() and (pred == -1).all() and not settled.any()
    k.dijkstra(out_start, out_edges, dst, cost, 3, -1, math.inf, dist, pred, settled)
    assert dist.tolist() == [math.inf, math.inf, math.inf, 0.0]


@SETTINGS
@given(st.integers(0, 10_000), st.integers(2, 30), st.integers(0, 90), st.floats(0, 800))
def test_dijkstra_matches_twin(seed: int, n_nodes: int, n_edges: int, bound: float) -> None:
    _, _, src, dst, length, out_start, out_edges = _random_graph(seed, n_nodes, n_edges)
    dist, pred, settled = _workspace(n_nodes)
    k.dijkstra(out_start, out_edges, dst, length, 0, -1, bound, dist, pred, settled)
    expected = twins.dijkstra(out_start, out_edges, dst, length, 0, bound)
    got = {i: float(d) for i, d in enumerate(dist) if d < math.inf}
    assert got.keys() == expected.keys()
    for node, d in expected.items():
        assert got[node] == pytest.approx(d, abs=1e-9)
        if node:
            assert length[k.path_edges(pred, src, node)].sum() == pytest.approx(d, abs=1e-9)


def _candidates(px, py, x0, y0, x1, y1, radius, max_k, cell):
    grid = build_segment_index(x0, y0, x1, y1, cell)
    return k.edge_candidates(
        px, py, x0, y0, x1, y1, grid[0], grid[1], cell, *grid[2:], radius, max_k
    )


def test_edge_candidates_fixed() -> None:
    x0, y0 = np.array([0.0, 0.0, 0.0]), np.array([0.0, 30.0, 0.0])
    x1, y1 = np.array([100.0, 100.0, 0.0]), np.array([0.0, 30.0, 100.0])
    start, seg, frac, dist = _candidates(
        np.array([50.0, 500.0]), np.array([10.0, 0.0]), x0, y0, x1, y1, 50.0, 2, 40.0
    )
    assert start.tolist() == [0, 2, 2]
    assert seg.tolist() == [0, 1] and frac.tolist() == [0.5, 0.5] and dist.tolist() == [10.0, 20.0]


@SETTINGS
@given(
    st.integers(0, 10_000),
    st.integers(0, 40),
    st.floats(1, 120),
    st.integers(1, 5),
    st.floats(5, 200),
)
def test_edge_candidates_match_twin(
    seed: int, n_seg: int, radius: float, max_k: int, cell: float
) -> None:
    rng = np.random.default_rng(seed)
    x0, y0 = rng.uniform(0, 400, n_seg), rng.uniform(0, 400, n_seg)
    x1, y1 = x0 + rng.normal(0, 60, n_seg), y0 + rng.normal(0, 60, n_seg)
    px, py = rng.uniform(-50, 450, 30), rng.uniform(-50, 450, 30)
    start, seg, frac, dist = _candidates(px, py, x0, y0, x1, y1, radius, max_k, cell)
    expected = twins.edge_candidates(px, py, x0, y0, x1, y1, radius, max_k)
    for i, cands in enumerate(expected):
        sl = slice(start[i], start[i + 1])
        assert seg[sl].tolist() == [s for s, _, _ in cands]
        assert frac[sl] == pytest.approx([u for _, u, _ in cands], abs=1e-12)
        assert dist[sl] == pytest.approx([d for _, _, d in cands], abs=1e-9)


@SETTINGS
@given(st.lists(st.floats(0, 1e4), max_size=20), st.floats(0.5, 50), st.floats(0.5, 50))
def test_emission_and_transition_match_twins(
    values: list[float], sigma: float, beta: float
) -> None:
    arr = np.array(values, dtype=float)
    assert k.emission_logprob(arr, sigma).tolist() == pytest.approx(
        twins.emission_logprob(values, sigma)
    )
    route = np.where(np.arange(arr.size) % 3 == 0, np.inf, arr)
    straight = arr[::-1].copy()
    got = k.transition_logprob(route, straight, beta).tolist()
    assert got == pytest.approx(twins.transition_logprob(route.tolist(), straight.tolist(), beta))


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_route_distances_match_twin(seed: int, n_points: int) -> None:
    x, y, src, dst, length, out_start, out_edges = _random_graph(seed, 20, 70)
    rng = np.random.default_rng(seed + 1)
    counts = rng.integers(0, 4, n_points)
    cand_start = np.concatenate(([0], np.cumsum(counts)))
    cand_edge = rng.integers(0, 70, cand_start[-1])
    cand_frac = rng.uniform(0, 1, cand_start[-1])
    px, py = rng.uniform(0, 500, n_points), rng.uniform(0, 500, n_points)
    ws = _workspace(20)
    trans_start, route, straight = k.route_distances(
        px, py, cand_start, cand_edge, cand_frac, src, dst, length, out_start, out_edges,
        1.5, 50.0, 5.0, *ws,
    )  # fmt: skip
    graph = (out_start, out_edges, src, dst, length)
    for i in range(1, n_points):
        gc = math.hypot(px[i] - px[i - 1], py[i] - py[i - 1])
        pos = trans_start[i]
        for a in range(cand_start[i - 1], cand_start[i]):
            for b in range(cand_start[i], cand_start[i + 1]):
                want = twins.route_distance(
                    graph,
                    cand_edge[a],
                    cand_frac[a],
                    cand_edge[b],
                    cand_frac[b],
                    1.5 * gc + 50.0,
                    5.0,
                )
                assert route[pos] == pytest.approx(want, abs=1e-9)
                assert straight[pos] == pytest.approx(gc, rel=1e-12)
                pos += 1
        assert pos == trans_start[i + 1]
    assert np.isinf(ws[0]).all() and not ws[2].any()  # workspace handed back clean


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


@SETTINGS
@given(st.integers(0, 10_000), st.integers(0, 19))
def test_path_edges_match_twin(seed: int, target: int) -> None:
    x, y, src, dst, length, out_start, out_edges = _random_graph(seed, 20, 60)
    dist, pred, settled = _workspace(20)
    k.dijkstra(out_start, out_edges, dst, length, 0, -1, math.inf, dist, pred, settled)
    got = k.path_edges(pred, src, target).tolist()
    assert got == twins.path_edges(pred.tolist(), src.tolist(), target)
    if got:
        assert length[got].sum() == pytest.approx(dist[target], abs=1e-9)


def _run_summary(path: list[int], path_segment: list[int], graph: tuple) -> list[tuple]:
    """Per path entry: its segment and whether it continues the previous edge; per segment
    the total length. Equal-length alternatives (parallel edges) summarise alike."""
    _, _, edge_from, edge_to, edge_length = graph
    joins = [
        (path_segment[j], j > 0 and edge_to[path[j - 1]] == edge_from[path[j]])
        for j in range(len(path))
    ]
    totals: dict[int, float] = {}
    for e, s in zip(path, path_segment, strict=True):
        totals[s] = totals.get(s, 0.0) + edge_length[e]
    return [*joins, *sorted((s, round(v, 6)) for s, v in totals.items())]


@SETTINGS
@given(st.integers(0, 10_000), st.integers(0, 12))
def test_fill_path_matches_twin(seed: int, n_points: int) -> None:
    x, y, src, dst, length, out_start, out_edges = _random_graph(seed, 20, 60)
    rng = np.random.default_rng(seed + 7)
    edge = rng.integers(-1, 60, n_points)  # -1: an unmatched point
    offset = rng.uniform(0, 1, n_points) * np.where(edge >= 0, length[edge], 0.0)
    segment = np.cumsum(rng.random(n_points) < 0.2)
    ws = _workspace(20)
    got_path, got_seg = k.fill_path(
        edge, offset, segment, src, dst, length, out_start, out_edges, 5.0, *ws
    )
    graph = (out_start, out_edges, src, dst, length)
    want_path, want_seg = twins.fill_path(
        edge.tolist(), offset.tolist(), segment.tolist(), graph, 5.0
    )
    assert got_seg.tolist() == want_seg
    assert [e for e in got_path.tolist() if e in set(edge.tolist())] == [
        e for e in want_path if e in set(edge.tolist())
    ]
    assert _run_summary(got_path.tolist(), got_seg.tolist(), graph) == _run_summary(
        want_path, want_seg, graph
    )
    assert np.isinf(ws[0]).all() and not ws[2].any()  # workspace handed back clean
