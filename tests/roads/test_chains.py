"""``build_chains`` against its plain-Python twin, on a hand-drawn network and random road
graphs; ``road_graph`` and ``chain_graph`` also feed the matcher kernels' tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.roads import _kernels as k
from cdw.roads.matching import ChainGraph
from tests.roads import twins

SETTINGS = settings(max_examples=40, deadline=None)


@dataclass(frozen=True)
class Roads:
    """A directed road graph in metres, in the CSR form of ``RoadNetwork``."""

    x: np.ndarray
    y: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_length: np.ndarray
    out_start: np.ndarray
    out_edges: np.ndarray

    @property
    def n_nodes(self) -> int:
        return self.x.size

    @property
    def n_edges(self) -> int:
        return self.edge_from.size

    @property
    def graph(self) -> tuple[np.ndarray, ...]:
        """``(out_start, out_edges, edge_from, edge_to, edge_length)`` for the twins."""
        return self.out_start, self.out_edges, self.edge_from, self.edge_to, self.edge_length


def roads_of(x: list[float], y: list[float], arcs: list[tuple[int, int]]) -> Roads:
    """Nodes at ``(x, y)``; straight arcs ``(from, to)``, ids in list order."""
    xs, ys = np.array(x, float), np.array(y, float)
    src = np.array([u for u, _ in arcs], np.int64)
    dst = np.array([v for _, v in arcs], np.int64)
    out_start = np.zeros(xs.size + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=xs.size), out=out_start[1:])
    return Roads(
        xs,
        ys,
        src,
        dst,
        np.hypot(xs[dst] - xs[src], ys[dst] - ys[src]),
        out_start,
        np.argsort(src, kind="stable").astype(np.int64),
    )


def road_graph(seed: int, n_junctions: int = 6, n_roads: int = 8) -> Roads:
    """Random roads between junctions: two-way and one-way roads through shaping nodes,
    dead ends, roads looping back to their junction, parallel arcs, self-loops and
    isolated loops (one-way and two-way); arcs in random order."""
    rng = np.random.default_rng(seed)
    x = list(rng.uniform(0, 400, n_junctions))
    y = list(rng.uniform(0, 400, n_junctions))
    arcs: list[tuple[int, int]] = []

    def node(px: float, py: float) -> int:
        x.append(px)
        y.append(py)
        return len(x) - 1

    for _ in range(n_roads):
        kind = rng.integers(0, 7)
        if kind <= 3:  # a road between junctions (or back to the same one)
            u, v = (int(n) for n in rng.integers(0, n_junctions, 2))
            n_mid = int(rng.integers(0, 4))
            mids = [
                node(
                    x[u] + (x[v] - x[u]) * (q + 1) / (n_mid + 1) + rng.normal(0, 30),
                    y[u] + (y[v] - y[u]) * (q + 1) / (n_mid + 1) + rng.normal(0, 30),
                )
                for q in range(n_mid)
            ]
            path = [u, *mids, v]
            if u == v and n_mid == 0:
                path = [u, v]  # a self-loop
            pairs = list(zip(path, path[1:], strict=False))
            arcs += pairs
            if kind != 3:  # two-way
                arcs += [(b, a) for a, b in pairs]
        elif kind == 4:  # an isolated loop
            cx, cy = rng.uniform(0, 400, 2)
            ring = [
                node(cx + 40 * math.cos(t), cy + 40 * math.sin(t))
                for t in np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(2, 5))))
            ]
            pairs = list(zip(ring, ring[1:] + ring[:1], strict=True))
            arcs += pairs
            if rng.random() < 0.5:
                arcs += [(b, a) for a, b in pairs]
        elif kind == 5 and arcs:  # a parallel arc
            arcs.append(arcs[int(rng.integers(0, len(arcs)))])
        else:  # a self-loop at a junction
            u = int(rng.integers(0, n_junctions))
            arcs.append((u, u))
    order = rng.permutation(len(arcs))
    return roads_of(x, y, [arcs[q] for q in order])


@dataclass(frozen=True)
class Chains:
    """``build_chains``' output over ``Roads``, with the CSR of chains by start node."""

    chain_start: np.ndarray
    chain_arcs: np.ndarray
    arc_chain: np.ndarray
    arc_pos: np.ndarray
    arc_offset: np.ndarray
    chain_from: np.ndarray
    chain_to: np.ndarray
    chain_length: np.ndarray
    chain_reverse: np.ndarray
    out_start: np.ndarray
    out_chains: np.ndarray

    @property
    def n_chains(self) -> int:
        return self.chain_from.size

    @property
    def arcs(self) -> list[tuple[int, ...]]:
        """The arcs of each chain, in driving order."""
        s = self.chain_start
        return [tuple(self.chain_arcs[s[c] : s[c + 1]].tolist()) for c in range(self.n_chains)]


def chain_graph(roads: Roads) -> Chains:
    built = k.build_chains(
        roads.edge_from, roads.edge_to, roads.edge_length, roads.out_start, roads.out_edges
    )
    chain_from = built[5]
    out_start = np.zeros(roads.n_nodes + 1, np.int64)
    np.cumsum(np.bincount(chain_from, minlength=roads.n_nodes), out=out_start[1:])
    return Chains(*built, out_start, np.argsort(chain_from, kind="stable").astype(np.int64))


def _check_chains(roads: Roads, ch: Chains) -> None:
    """``ch`` holds the twin's chains, consistently indexed, with valid reverses."""
    m = roads.n_edges
    arcs = ch.arcs
    assert ch.chain_start[0] == 0 and ch.chain_start[-1] == m
    assert sorted(ch.chain_arcs.tolist()) == list(range(m))  # every arc in one chain
    assert len(set(arcs)) == len(arcs)
    assert set(arcs) == twins.build_chains(roads.n_nodes, roads.edge_from, roads.edge_to)
    for c, chain in enumerate(arcs):
        along = 0.0
        for pos, e in enumerate(chain):
            assert (ch.arc_chain[e], ch.arc_pos[e]) == (c, pos)
            assert ch.arc_offset[e] == pytest.approx(along, abs=1e-9)
            along += roads.edge_length[e]
        assert ch.chain_from[c] == roads.edge_from[chain[0]]
        assert ch.chain_to[c] == roads.edge_to[chain[-1]]
        assert ch.chain_length[c] == pytest.approx(along, abs=1e-9)
    reverses = twins.chain_reverses(arcs, roads.edge_from, roads.edge_to)
    for c, options in enumerate(reverses):
        if options:
            assert ch.chain_reverse[c] in options
        else:
            assert ch.chain_reverse[c] == -1


def test_build_chains_fixed() -> None:
    #   6 -> 7 -> 8 -> 6 (one-way ring)      9 <-> 10 <-> 11 <-> 9 (two-way ring)
    #
    #              3 (dead end, two arcs 2 -> 3)
    #              |
    #   0 <-> 1 <-> 2 -> 4 <-> 12 (dead end)
    #   ^ self-loop    \  |
    #    \_____ 5 <______/   (one-way 4 -> 5 -> 0)
    x = [0, 100, 200, 200, 300, 150, 0, 100, 50, 400, 500, 450, 300]
    y = [0, 0, 0, 100, 0, -100, 300, 300, 400, 300, 300, 400, -100]
    arcs = [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (2, 4), (4, 5), (5, 0)]
    arcs += [(6, 7), (7, 8), (8, 6)]  # 9..11
    arcs += [(9, 10), (10, 9), (10, 11), (11, 10), (11, 9), (9, 11)]  # 12..17
    arcs += [(0, 0), (4, 12), (12, 4), (2, 3)]  # 18..21
    roads = roads_of(x, y, arcs)
    ch = chain_graph(roads)
    _check_chains(roads, ch)
    chains = {arcs: c for c, arcs in enumerate(ch.arcs)}
    assert set(chains) == {
        (0, 2), (3, 1), (4,), (5,), (21,), (6,), (7, 8), (19,), (20,), (9, 10, 11),
        (12, 14, 16), (17, 15, 13), (18,),
    }  # fmt: skip
    ends = {arcs: (ch.chain_from[c], ch.chain_to[c]) for arcs, c in chains.items()}
    assert ends[(0, 2)] == (0, 2) and ends[(7, 8)] == (4, 0) and ends[(9, 10, 11)] == (6, 6)
    assert ends[(17, 15, 13)] == (9, 9) and ends[(18,)] == (0, 0)
    assert ch.chain_length[chains[(7, 8)]] == pytest.approx(2 * math.hypot(150, 100))
    assert ch.arc_offset[8] == pytest.approx(math.hypot(150, 100)) and ch.arc_pos[8] == 1
    assert ch.arc_offset[2] == 100.0 and ch.chain_length[chains[(0, 2)]] == 200.0

    def rev(arcs: tuple[int, ...]) -> tuple[int, ...] | None:
        r = ch.chain_reverse[chains[arcs]]
        return ch.arcs[r] if r >= 0 else None

    assert rev((0, 2)) == (3, 1) and rev((3, 1)) == (0, 2)
    assert rev((4,)) == (5,) and rev((21,)) == (5,) and rev((5,)) in {(4,), (21,)}
    assert rev((19,)) == (20,) and rev((20,)) == (19,)
    assert rev((12, 14, 16)) == (17, 15, 13) and rev((17, 15, 13)) == (12, 14, 16)
    for one_way in [(6,), (7, 8), (9, 10, 11), (18,)]:
        assert rev(one_way) is None


@SETTINGS
@given(st.integers(0, 100_000), st.integers(1, 8), st.integers(0, 14))
def test_build_chains_match_twin(seed: int, n_junctions: int, n_roads: int) -> None:
    roads = road_graph(seed, n_junctions, n_roads)
    _check_chains(roads, chain_graph(roads))


@SETTINGS
@given(st.integers(0, 100_000), st.integers(1, 8), st.integers(0, 14))
def test_arc_reverse_and_road(seed: int, n_junctions: int, n_roads: int) -> None:
    # an arc's reverse drives it the other way, on its chain's reverse; a road is the lower
    # of a chain and its reverse, so both directions of a two-way road are one road
    roads = road_graph(seed, n_junctions, n_roads)
    ch = chain_graph(roads)
    g = ChainGraph(*(getattr(ch, f) for f in ch.__dataclass_fields__))
    reverse, road = g.arc_reverse(), g.arc_road()
    # where an arc lies along its road: along the road's chain, it runs from its offset
    # for its length; the reverse of an arc covers the same stretch the other way
    along0, along1 = g.arc_along(roads.edge_length)
    for e in range(roads.n_edges):
        c, r = ch.arc_chain[e], reverse[e]
        length = roads.edge_length[e]
        if road[e] == c:
            assert (along0[e], along1[e]) == pytest.approx(
                (ch.arc_offset[e], ch.arc_offset[e] + length)
            )
        back = ch.chain_reverse[c]
        if back < 0:
            assert r == -1 and road[e] == c
            continue
        assert ch.arc_chain[r] == back and road[e] == min(c, back)
        assert (roads.edge_from[r], roads.edge_to[r]) == (roads.edge_to[e], roads.edge_from[e])
        if ch.chain_reverse[back] == c:  # (parallel arcs may make reverses one-sided)
            assert reverse[r] == e and road[r] == road[e]
            assert (along0[r], along1[r]) == pytest.approx((along1[e], along0[e]), abs=1e-9)
