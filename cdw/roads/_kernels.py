"""Numba kernels of the road network: shortest paths, candidate edges, the HMM matcher.

Arrays in, arrays out. A graph is in CSR form (``out_start``, ``out_edges``, ``edge_from``,
``edge_to``): the ``RoadNetwork``'s arcs, each a straight segment in projected metres, for
routing; for matching, the chains of arcs between junctions (``build_chains``). Public
wrappers live in ``routing.py`` and ``matching.py``; every kernel has a plain-Python twin in
``tests/roads/twins.py``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from cdw.geo.kernels import cell_of as _cell_of
from cdw.geo.kernels import tm_forward

_INT = np.int64
TIE_M = 1e-9  # distances closer than this are equal (an arc and its reverse, rounded)


# --- shortest paths -------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _heap_push(
    heap_cost: np.ndarray, heap_node: np.ndarray, size: int, cost: float, node: int
) -> None:
    """Add an item to a binary min-heap holding ``size`` items (room for one more)."""
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if heap_cost[parent] <= cost:
            break
        heap_cost[i] = heap_cost[parent]
        heap_node[i] = heap_node[parent]
        i = parent
    heap_cost[i] = cost
    heap_node[i] = node


@njit(cache=True, nogil=True)
def _heap_drop_root(heap_cost: np.ndarray, heap_node: np.ndarray, size: int) -> None:
    """Remove the root of a binary min-heap of ``size`` items (read it first)."""
    size -= 1
    if size == 0:
        return
    last_cost = heap_cost[size]
    last_node = heap_node[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_cost[child + 1] < heap_cost[child]:
            child += 1
        if heap_cost[child] >= last_cost:
            break
        heap_cost[i] = heap_cost[child]
        heap_node[i] = heap_node[child]
        i = child
    heap_cost[i] = last_cost
    heap_node[i] = last_node


class Workspace(NamedTuple):
    """A ``dijkstra`` workspace (``new_workspace``)."""

    dist: np.ndarray
    pred_edge: np.ndarray
    settled: np.ndarray
    heap_cost: np.ndarray
    heap_node: np.ndarray
    touched: np.ndarray


def new_workspace(n_nodes: int, n_edges: int) -> Workspace:
    """A ``dijkstra`` workspace: ``(dist, pred_edge, settled, heap_cost, heap_node,
    touched)``, sized so no search needs more (a heap entry per source and edge)."""
    heap = n_edges + 2 * n_nodes + 2
    return Workspace(
        np.full(n_nodes, math.inf),
        np.full(n_nodes, -1, _INT),
        np.zeros(n_nodes, np.bool_),
        np.empty(heap),
        np.empty(heap, _INT),
        np.empty(n_nodes, _INT),
    )


class Graph(NamedTuple):
    """A graph in CSR form: the edges leaving node ``v`` are
    ``out_edges[out_start[v]:out_start[v+1]]``, edge ``e`` ends at ``edge_to[e]`` and
    costs ``edge_cost[e]`` (inf: closed)."""

    out_start: np.ndarray
    out_edges: np.ndarray
    edge_to: np.ndarray
    edge_cost: np.ndarray


@njit(cache=True, nogil=True)
def dijkstra(
    graph: Graph,
    sources: np.ndarray,
    source_cost: np.ndarray,
    targets: np.ndarray,
    target_bound: np.ndarray,
    bound: float,
    workspace: Workspace,
) -> int:
    """Shortest paths from the nearest of ``sources`` over edges of finite cost; returns
    how many nodes it touched, listed first in ``touched``.

    Each source starts at its ``source_cost``. The ``workspace`` (``new_workspace``: ``dist``
    all inf, ``pred_edge`` all -1, ``settled`` all False, one entry per node) is filled in
    place: afterwards a node is settled exactly when its distance is final and ``<=
    bound``, with ``dist`` and the edge it was reached by in ``pred_edge`` (-1 at a
    source); other nodes keep inf and -1. With ``targets``, the search stops once each is
    settled or farther than its ``target_bound``; without, once nothing within ``bound``
    is left. Hand ``touched[:n]`` to ``reset_workspace`` before the next search.
    """
    out_start, out_edges, edge_to, edge_cost = graph
    dist, pred_edge, settled, heap_cost, heap_node, touched = workspace
    n_touched = 0
    size = 0
    for s in range(sources.size):
        node = sources[s]
        if source_cost[s] < dist[node]:
            if dist[node] == math.inf:
                touched[n_touched] = node
                n_touched += 1
            dist[node] = source_cost[s]
            _heap_push(heap_cost, heap_node, size, dist[node], node)
            size += 1
    limit = bound  # the farthest a still unsettled target may lie
    if targets.size:
        limit = min(bound, target_bound.max())
    while size > 0:
        cost = heap_cost[0]
        node = heap_node[0]
        _heap_drop_root(heap_cost, heap_node, size)
        size -= 1
        if settled[node] or cost > dist[node]:
            continue
        if cost > limit:
            break
        settled[node] = True
        if targets.size:
            hit = False
            for t in range(targets.size):
                hit = hit or targets[t] == node
            if hit:
                limit = -math.inf
                for t in range(targets.size):
                    if not settled[targets[t]]:
                        limit = max(limit, target_bound[t])
                limit = min(limit, bound)
                if limit < cost:
                    break
        for j in range(out_start[node], out_start[node + 1]):
            e = out_edges[j]
            w = edge_cost[e]
            if not w < math.inf:
                continue
            nxt = edge_to[e]
            new_cost = cost + w
            if new_cost < dist[nxt] and not settled[nxt]:
                if dist[nxt] == math.inf:
                    touched[n_touched] = nxt
                    n_touched += 1
                dist[nxt] = new_cost
                pred_edge[nxt] = e
                _heap_push(heap_cost, heap_node, size, new_cost, nxt)
                size += 1
    for k in range(n_touched):
        node = touched[k]
        if not settled[node]:
            dist[node] = math.inf
            pred_edge[node] = -1
    return n_touched


@njit(cache=True, nogil=True)
def reset_workspace(
    touched: np.ndarray, dist: np.ndarray, pred_edge: np.ndarray, settled: np.ndarray
) -> None:
    """Put the touched entries of a ``dijkstra`` workspace back to inf, -1, False."""
    for k in range(touched.size):
        node = touched[k]
        dist[node] = math.inf
        pred_edge[node] = -1
        settled[node] = False


@njit(cache=True, nogil=True)
def _reset(workspace: Workspace, n_touched: int) -> None:
    """``reset_workspace`` on the nodes a search touched (its count, ``n_touched``)."""
    reset_workspace(
        workspace.touched[:n_touched], workspace.dist, workspace.pred_edge, workspace.settled
    )


@njit(cache=True, nogil=True)
def path_edges(pred_edge: np.ndarray, edge_from: np.ndarray, target: int) -> np.ndarray:
    """Edges from the search's source to ``target`` (settled), in driving order."""
    count = 0
    node = target
    while pred_edge[node] >= 0:
        count += 1
        node = edge_from[pred_edge[node]]
    out = np.empty(count, _INT)
    node = target
    for k in range(count - 1, -1, -1):
        e = pred_edge[node]
        out[k] = e
        node = edge_from[e]
    return out


# --- chains ---------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _pass_through(
    n_nodes: int, edge_from: np.ndarray, edge_to: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per node: True where a road only passes through (no junction, no dead end), and
    the arc leaving it that continues each arc arriving there (-1 at junctions).

    A node passes through when one arc arrives and one leaves, from and to two other
    nodes (one-way road), or two arrive and two leave, from and to the same two other
    nodes (two-way road).
    """
    n_in = np.zeros(n_nodes, _INT)
    n_out = np.zeros(n_nodes, _INT)
    arc_in = np.full((n_nodes, 2), -1, _INT)
    arc_out = np.full((n_nodes, 2), -1, _INT)
    for e in range(edge_from.size):
        u = edge_from[e]
        v = edge_to[e]
        if n_out[u] < 2:
            arc_out[u, n_out[u]] = e
        n_out[u] += 1
        if n_in[v] < 2:
            arc_in[v, n_in[v]] = e
        n_in[v] += 1
    through = np.zeros(n_nodes, np.bool_)
    for v in range(n_nodes):
        if n_in[v] == 1 and n_out[v] == 1:
            u = edge_from[arc_in[v, 0]]
            w = edge_to[arc_out[v, 0]]
            through[v] = u != w and u != v and w != v
        elif n_in[v] == 2 and n_out[v] == 2:
            u1 = edge_from[arc_in[v, 0]]
            u2 = edge_from[arc_in[v, 1]]
            w1 = edge_to[arc_out[v, 0]]
            w2 = edge_to[arc_out[v, 1]]
            through[v] = (
                u1 != u2
                and u1 != v
                and u2 != v
                and ((u1 == w1 and u2 == w2) or (u1 == w2 and u2 == w1))
            )
    next_arc = np.full(edge_from.size, -1, _INT)
    for e in range(edge_from.size):
        v = edge_to[e]
        if through[v]:
            nxt = arc_out[v, 0]
            if n_out[v] == 2 and edge_to[nxt] == edge_from[e]:
                nxt = arc_out[v, 1]
            next_arc[e] = nxt
    return through, next_arc


@njit(cache=True, nogil=True)
def build_chains(
    edge_from: np.ndarray,
    edge_to: np.ndarray,
    edge_length: np.ndarray,
    out_start: np.ndarray,
    out_edges: np.ndarray,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray, np.ndarray,
]:  # fmt: skip
    """Join arcs into chains: maximal runs of arcs through nodes a road only passes.

    Returns ``(chain_start, chain_arcs, arc_chain, arc_pos, arc_offset, chain_from,
    chain_to, chain_length, chain_reverse)``: the arcs of chain ``c`` in driving order are
    ``chain_arcs[chain_start[c]:chain_start[c+1]]``; each arc's chain, index in it and
    distance from the chain's start; the chain's end nodes and length; and the chain
    driving the same arcs the other way (arc ``k`` of ``c`` reversed is arc ``n-1-k`` of
    its reverse, never itself), -1 for one-way chains. Chains start at junctions and dead ends; a loop of
    pass-through nodes becomes one chain from its lowest arc, and where it is two-way a
    second one from the reverse of that chain's last arc.
    """
    through, next_arc = _pass_through(out_start.size - 1, edge_from, edge_to)
    m = edge_from.size
    arc_chain = np.full(m, -1, _INT)
    arc_pos = np.zeros(m, _INT)
    arc_offset = np.zeros(m)
    chain_start = np.zeros(m + 1, _INT)
    chain_arcs = np.empty(m, _INT)
    chain_from = np.empty(m, _INT)
    chain_to = np.empty(m, _INT)
    chain_length = np.empty(m)
    n_chains = 0
    for loops in range(2):  # chains from junctions first, then closed loops
        for first in range(m):
            if arc_chain[first] >= 0 or (loops == 0 and through[edge_from[first]]):
                continue
            start = first
            while start >= 0:
                e = start
                count = chain_start[n_chains]
                along = 0.0
                while e >= 0 and arc_chain[e] < 0:
                    arc_chain[e] = n_chains
                    arc_pos[e] = count - chain_start[n_chains]
                    arc_offset[e] = along
                    chain_arcs[count] = e
                    count += 1
                    along += edge_length[e]
                    last = e
                    e = next_arc[e]
                chain_from[n_chains] = edge_from[start]
                chain_to[n_chains] = edge_to[last]
                chain_length[n_chains] = along
                n_chains += 1
                chain_start[n_chains] = count
                # a two-way loop: its other direction starts where this one ends, so that
                # the two pair up arc for arc as reverses
                start = -1
                if loops == 1:
                    for j in range(out_start[edge_to[last]], out_start[edge_to[last] + 1]):
                        back = out_edges[j]
                        if edge_to[back] == edge_from[last] and arc_chain[back] < 0:
                            start = back
    chain_reverse = np.full(n_chains, -1, _INT)
    for c in range(n_chains):
        u = chain_from[c]
        v = chain_to[c]
        head = chain_arcs[chain_start[c]]
        n_arcs = chain_start[c + 1] - chain_start[c]
        for j in range(out_start[edge_to[head]], out_start[edge_to[head] + 1]):
            e = out_edges[j]  # the reverse of c's first arc ends the reverse chain
            if edge_to[e] == edge_from[head]:
                r = arc_chain[e]
                if (
                    r != c
                    and arc_pos[e] == n_arcs - 1
                    and chain_start[r + 1] - chain_start[r] == n_arcs
                    and chain_from[r] == v
                    and chain_to[r] == u
                ):
                    chain_reverse[c] = r
                    break
    return (
        chain_start[: n_chains + 1].copy(),
        chain_arcs,
        arc_chain,
        arc_pos,
        arc_offset,
        chain_from[:n_chains].copy(),
        chain_to[:n_chains].copy(),
        chain_length[:n_chains].copy(),
        chain_reverse,
    )


# --- candidates -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _nearest_on_segment(
    x: float, y: float, x0: float, y0: float, x1: float, y1: float
) -> tuple[float, float, float]:
    """``(u, ex, ey)``: the segment's point nearest to (x, y) lies at fraction ``u`` (0..1)
    along it, ``(ex, ey)`` from it to (x, y)."""
    dx = x1 - x0
    dy = y1 - y0
    length2 = dx * dx + dy * dy
    u = 0.0
    if length2 > 0.0:
        u = min(max(((x - x0) * dx + (y - y0) * dy) / length2, 0.0), 1.0)
    return u, x - (x0 + u * dx), y - (y0 + u * dy)


class SegmentGrid(NamedTuple):
    """Segments in a grid (``cdw.geo.kernels.build_segment_index``): ``origin_x``,
    ``origin_y``, ``cell_size``, ``n_cols``, ``n_rows``, ``cell_start``, ``cell_items``;
    per ``cell_items`` entry (so that a cell's segments are read from consecutive memory)
    its segment's ends, a row ``x0, y0, x1, y1`` of ``ends`` (one read brings all four),
    its ``road``, and where its ends lie along that road (``along0``, ``along1``,
    metres)."""

    origin_x: float
    origin_y: float
    cell_size: float
    n_cols: int
    n_rows: int
    cell_start: np.ndarray
    cell_items: np.ndarray
    ends: np.ndarray
    road: np.ndarray
    along0: np.ndarray
    along1: np.ndarray


@njit(cache=True, nogil=True)
def _before(d: float, s: int, other_d: float, other_s: int) -> bool:
    """Whether a candidate at distance ``d`` of segment ``s`` sorts before the other."""
    return d < other_d or (d == other_d and s < other_s)


@njit(cache=True, nogil=True)
def edge_candidates(
    px: np.ndarray,
    py: np.ndarray,
    grid: SegmentGrid,
    radius: float,
    max_k: int,
    near: float,
    cap: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The nearest segments within ``radius`` (inclusive) of each point, one per part of
    a road (a road counts once where it passes once): the ``max_k`` nearest, or more
    where more lie within ``near`` (all of those), never more than ``cap``.

    A segment's part is its road and the bucket, ``2 * radius`` long, its nearest point
    lies in along the road; each part keeps its nearest segment, and is dropped where a
    part of the same road in a neighbouring bucket is nearer (a road crossing the search
    circle spans at most two neighbouring buckets; one passing twice, as a loop ramp,
    twice far apart). Returns CSR ``(cand_start, cand_seg, cand_frac, cand_dist)``: the
    candidates of point ``i`` are ``cand_start[i]:cand_start[i+1]``, nearest first (ties:
    lower segment first); ``cand_frac`` is where the nearest point lies along the
    segment, 0..1.
    """
    n = px.size
    cand_start = np.zeros(n + 1, _INT)
    max_k = min(max_k, cap)
    size = max(n * cap, 1)
    cand_seg = np.empty(size, _INT)
    cand_frac = np.empty(size)
    cand_dist = np.empty(size)
    inv_cell = 1.0 / grid.cell_size if grid.cell_size > 0 else 0.0
    radius2 = radius * radius
    # parts found near one point: at most the grid entries of the cells searched, sized
    # once (an array reassigned in the loop would count references at every point)
    room = 1
    for i in range(n if grid.n_cols > 0 else 0):
        x = px[i]
        y = py[i]
        if math.isfinite(x) and math.isfinite(y):
            c0 = _cell_of(x - radius, grid.origin_x, inv_cell, grid.n_cols)
            c1 = _cell_of(x + radius, grid.origin_x, inv_cell, grid.n_cols)
            r0 = _cell_of(y - radius, grid.origin_y, inv_cell, grid.n_rows)
            r1 = _cell_of(y + radius, grid.origin_y, inv_cell, grid.n_rows)
            window = 0
            for r in range(r0, r1 + 1):
                window += grid.cell_start[r * grid.n_cols + c1 + 1]
                window -= grid.cell_start[r * grid.n_cols + c0]
            room = max(room, window)
    buf_seg = np.empty(room, _INT)
    buf_road = np.empty(room, _INT)
    buf_bucket = np.empty(room, _INT)
    buf_frac = np.empty(room)
    buf_dist = np.empty(room)
    bucket_m = 2.0 * radius
    k_total = 0
    for i in range(n):
        x = px[i]
        y = py[i]
        count = 0
        if grid.n_cols > 0 and math.isfinite(x) and math.isfinite(y):
            c0 = _cell_of(x - radius, grid.origin_x, inv_cell, grid.n_cols)
            c1 = _cell_of(x + radius, grid.origin_x, inv_cell, grid.n_cols)
            r0 = _cell_of(y - radius, grid.origin_y, inv_cell, grid.n_rows)
            r1 = _cell_of(y + radius, grid.origin_y, inv_cell, grid.n_rows)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    cell = r * grid.n_cols + c
                    for j in range(grid.cell_start[cell], grid.cell_start[cell + 1]):
                        u, ex, ey = _nearest_on_segment(
                            x, y, grid.ends[j, 0], grid.ends[j, 1], grid.ends[j, 2], grid.ends[j, 3]
                        )
                        d2 = ex * ex + ey * ey
                        if not d2 <= radius2:
                            continue
                        d = math.sqrt(d2)
                        if not d <= radius:
                            continue
                        s = grid.cell_items[j]
                        road = grid.road[j]
                        along = grid.along0[j] + u * (grid.along1[j] - grid.along0[j])
                        bucket = int(math.floor(along / bucket_m))
                        # one entry per part: a nearer segment of it replaces the entry (a
                        # segment met again in another cell compares equal and is skipped)
                        same = -1
                        for q in range(count):
                            if buf_road[q] == road and buf_bucket[q] == bucket:
                                same = q
                                break
                        if same >= 0:
                            if not _before(d, s, buf_dist[same], buf_seg[same]):
                                continue
                            for q in range(same, count - 1):
                                buf_dist[q] = buf_dist[q + 1]
                                buf_seg[q] = buf_seg[q + 1]
                                buf_road[q] = buf_road[q + 1]
                                buf_bucket[q] = buf_bucket[q + 1]
                                buf_frac[q] = buf_frac[q + 1]
                            count -= 1
                        pos = count  # insert, keeping the buffer sorted
                        while pos > 0 and _before(d, s, buf_dist[pos - 1], buf_seg[pos - 1]):
                            buf_dist[pos] = buf_dist[pos - 1]
                            buf_seg[pos] = buf_seg[pos - 1]
                            buf_road[pos] = buf_road[pos - 1]
                            buf_bucket[pos] = buf_bucket[pos - 1]
                            buf_frac[pos] = buf_frac[pos - 1]
                            pos -= 1
                        buf_dist[pos] = d
                        buf_seg[pos] = s
                        buf_road[pos] = road
                        buf_bucket[pos] = bucket
                        buf_frac[pos] = u
                        count += 1
        # drop a part where a nearer part of its road lies in a neighbouring bucket
        kept = 0
        for q in range(count):
            if kept == cap or (kept >= max_k and buf_dist[q] > near):
                break  # (nearest first: no later one is kept)
            dropped = False
            for r in range(q):
                if buf_road[r] == buf_road[q] and abs(buf_bucket[r] - buf_bucket[q]) == 1:
                    dropped = True
                    break
            if dropped:
                continue
            cand_seg[k_total] = buf_seg[q]
            cand_frac[k_total] = buf_frac[q]
            cand_dist[k_total] = buf_dist[q]
            k_total += 1
            kept += 1
        cand_start[i + 1] = k_total
    return (
        cand_start,
        cand_seg[:k_total].copy(),
        cand_frac[:k_total].copy(),
        cand_dist[:k_total].copy(),
    )


@njit(cache=True, nogil=True)
def directed_candidates(
    cand_start: np.ndarray,
    cand_seg: np.ndarray,
    cand_frac: np.ndarray,
    cand_dist: np.ndarray,
    heading: np.ndarray,
    speed: np.ndarray,
    arc_reverse: np.ndarray,
    arc_bearing: np.ndarray,
    min_speed: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The arcs a truck may drive at each road candidate (``edge_candidates`` grouped by
    road): the arc found and its reverse (``arc_reverse``, -1 on a one-way road), or,
    where the point reports a heading (degrees clockwise from north, NaN if none) at a
    ``speed`` of ``min_speed`` or more, the one whose bearing (``arc_bearing``, radians
    clockwise from north) is nearer it. Returns CSR ``(start, arc, frac, dist, agree)``:
    ``frac`` along the arc, ``agree`` the cosine of the angle between heading and bearing
    (-1..1; NaN without a heading), in the order found, an arc before its reverse."""
    n = cand_start.size - 1
    size = 2 * cand_seg.size
    start = np.zeros(n + 1, _INT)
    arc = np.empty(size, _INT)
    frac = np.empty(size)
    dist = np.empty(size)
    agree = np.empty(size)
    count = 0
    for i in range(n):
        h = math.radians(heading[i])
        known = math.isfinite(h) and speed[i] >= min_speed
        for c in range(cand_start[i], cand_start[i + 1]):
            e = cand_seg[c]
            r = arc_reverse[e]
            a_e = math.nan
            a_r = math.nan
            if known:
                a_e = min(1.0, max(-1.0, math.cos(h - arc_bearing[e])))
                if r >= 0:
                    a_r = min(1.0, max(-1.0, math.cos(h - arc_bearing[r])))
            for q in range(2):
                f = e if q == 0 else r
                if f < 0 or (known and r >= 0 and (a_r > a_e if q == 0 else a_r <= a_e)):
                    continue
                arc[count] = f
                frac[count] = cand_frac[c] if q == 0 else 1.0 - cand_frac[c]
                dist[count] = cand_dist[c]
                agree[count] = a_e if q == 0 else a_r
                count += 1
        start[i + 1] = count
    return (
        start, arc[:count].copy(), frac[:count].copy(), dist[:count].copy(),
        agree[:count].copy(),
    )  # fmt: skip


# --- hidden Markov model ----------------------------------------------------------------


@njit(cache=True, nogil=True)
def emission_logprob(dist: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian log-likelihood of each point-to-edge distance, less its constant."""
    out = np.empty(dist.size)
    for k in range(dist.size):
        z = dist[k] / sigma
        out[k] = -0.5 * z * z
    return out


@njit(cache=True, nogil=True)
def heading_logprob(agree: np.ndarray, kappa: float, floor: float) -> np.ndarray:
    """Log-likelihood of the angle between reported heading and arc bearing, given its
    cosine ``agree``: von Mises (concentration ``kappa``) mixed with a uniform share
    ``floor`` (turns, bad headings), scaled to 0 at no angle; 0 where unknown (NaN)."""
    out = np.zeros(agree.size)
    for k in range(agree.size):
        if math.isfinite(agree[k]):
            out[k] = math.log((1.0 - floor) * math.exp(kappa * (agree[k] - 1.0)) + floor)
    return out


@njit(cache=True, nogil=True)
def transition_logprob(
    route: np.ndarray,
    straight: np.ndarray,
    beta: float,
    floor: float,
    factor: float,
    slack: float,
) -> np.ndarray:
    """Log-likelihood of a step's ``route`` given the ``straight`` distance: exponential
    in ``|route - straight|`` (scale ``beta``) mixed with a share ``floor`` of steps whose
    route is nothing like the straight line (a turn, a loop ramp or a U-turn between
    sparse fixes), uniform up to the step's bound ``factor * straight + slack`` (at least
    ``beta``); -inf where no route. At ``floor`` 0, ``-|route - straight| / beta``."""
    out = np.empty(route.size)
    for k in range(route.size):
        if route[k] < math.inf:
            z = abs(route[k] - straight[k]) / beta
            if floor > 0.0:
                reach = max(factor * straight[k] + slack, beta)
                out[k] = math.log((1.0 - floor) * math.exp(-z) + floor * beta / reach)
            else:
                out[k] = -z
        else:
            out[k] = -math.inf
    return out


class Places(NamedTuple):
    """Positions along chains (candidates, or the states the matcher chose): each one's
    ``chain``, ``offset`` along it, and the span of the arc it lies on along the chain
    (``arc_start``, ``arc_end``)."""

    chain: np.ndarray
    offset: np.ndarray
    arc_start: np.ndarray
    arc_end: np.ndarray


@njit(cache=True, nogil=True)
def _chain_graph(chains: Chains) -> Graph:
    """The graph ``dijkstra`` searches for the matcher: chain-end nodes, chains as edges
    costing their length."""
    return Graph(chains.out_start, chains.out_chains, chains.chain_to, chains.chain_length)


@njit(cache=True, nogil=True)
def _exits(
    off: float, arc_end: float, c_from: int, c_to: int, length: float, two_way: bool
) -> tuple[int, int, float, int, float]:
    """Where a truck at ``off`` along a chain (from node ``c_from`` to ``c_to``, ``length``
    long) can leave it: ``(n, node0, cost0, node1, cost1)``, the first ``n`` of them: the
    chain's end node, and where the chain is ``two_way`` its start node too (turning at the
    end of the arc it is on, ``arc_end``). Scalars only, so that a hot loop calling it
    counts no array references."""
    if not two_way:
        return 1, c_to, length - off, c_to, length - off
    return 2, c_to, length - off, c_from, 2.0 * arc_end - off


@njit(cache=True, nogil=True)
def _turning_entry(length: float, arc_start: float, off: float) -> float:
    """From a two-way chain's end node to ``off`` along it: back along its reverse to the
    node where ``off``'s arc (starting at ``arc_start``) begins, then round onto it."""
    return length - 2.0 * arc_start + off


@njit(cache=True, nogil=True)
def _entry_distance(
    dist: np.ndarray,
    c: int,
    off: float,
    arc_start: float,
    chain_from: np.ndarray,
    chain_to: np.ndarray,
    chain_length: np.ndarray,
    chain_reverse: np.ndarray,
) -> tuple[float, int]:
    """Best distance to ``off`` along chain ``c`` given node distances ``dist``, and the
    entry used: 0 from the chain's start node, 1 from its end node onto the reverse chain,
    turning at the start of the arc ``off`` lies on (``arc_start``)."""
    d_start = dist[chain_from[c]] + off
    if chain_reverse[c] < 0:
        return d_start, 0
    d_end = dist[chain_to[c]] + _turning_entry(chain_length[c], arc_start, off)
    if d_end < d_start:
        return d_end, 1
    return d_start, 0


@njit(cache=True, nogil=True)
def _along_chain(
    ca: int,
    oa: float,
    end_a: float,
    cb: int,
    ob: float,
    start_b: float,
    length_a: float,
    reverse_a: int,
    backward_tolerance: float,
) -> float:
    """Distance from ``oa`` on chain ``ca`` (``length_a`` long, its reverse chain
    ``reverse_a``) to ``ob`` on ``cb`` without passing a chain end: forward on one chain (or
    back by at most ``backward_tolerance``, GPS jitter), or turning round at a node onto
    the reverse chain; inf otherwise."""
    if ca == cb and ob >= oa - backward_tolerance:
        return abs(ob - oa)
    if reverse_a == cb:
        turn = max(end_a, length_a - start_b)  # the first node passing both
        return 2.0 * turn - oa - length_a + ob
    return math.inf


@njit(cache=True, nogil=True)
def distance_table(
    graph: Graph, limit: float, workspace: Workspace, tiers: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every shortest distance up to ``limit``, from every node (an upper-bounded
    origin-destination table, as fmm's UBODT): CSR ``(table_start, table_node,
    table_dist, table_pred)``, the nodes within ``limit`` of ``u`` ascending in
    ``table_node[table_start[u]:table_start[u+1]]``, each with the edge it is reached by
    on a shortest path from ``u`` (-1 at ``u``), so that the path is read off ``u``'s row
    alone. The workspace is ``new_workspace``'s.

    With ``tiers`` > 1 each row is cut into that many tiers by distance, as ``Table``
    holds them: tier ``j`` of row ``u`` is ``table_start[u * tiers + j] :
    table_start[u * tiers + j + 1]``, ascending by node, the distances above
    ``limit / 2 ** (tiers - j)`` up to ``limit / 2 ** (tiers - 1 - j)`` (the last tier:
    every farther one).
    """
    dist, pred_edge, settled, _, _, touched = workspace
    n = graph.out_start.size - 1
    table_start = np.zeros(n * tiers + 1, _INT)
    table_node = np.empty(max(16, 16 * n), np.int32)
    table_dist = np.empty(table_node.size)
    table_pred = np.empty(table_node.size, np.int32)
    source = np.empty(1, _INT)
    zero = np.zeros(1)
    no_targets = np.empty(0, _INT)
    no_bounds = np.empty(0)
    count = 0
    for u in range(n):
        source[0] = u
        n_touched = dijkstra(graph, source, zero, no_targets, no_bounds, limit, workspace)
        reached = np.sort(touched[:n_touched])
        if count + n_touched > table_node.size:
            cap = max(2 * table_node.size, count + n_touched)
            grown_node = np.empty(cap, np.int32)
            grown_dist = np.empty(cap)
            grown_pred = np.empty(cap, np.int32)
            grown_node[:count] = table_node[:count]
            grown_dist[:count] = table_dist[:count]
            grown_pred[:count] = table_pred[:count]
            table_node = grown_node
            table_dist = grown_dist
            table_pred = grown_pred
        for tier in range(tiers):
            above = -math.inf if tier == 0 else limit / 2.0 ** (tiers - tier)
            top = math.inf if tier == tiers - 1 else limit / 2.0 ** (tiers - 1 - tier)
            for v in reached:
                if settled[v] and above < dist[v] <= top:
                    table_node[count] = v
                    table_dist[count] = dist[v]
                    table_pred[count] = pred_edge[v]
                    count += 1
            table_start[u * tiers + tier + 1] = count
        _reset(workspace, n_touched)
    return (
        table_start,
        table_node[:count].copy(),
        table_dist[:count].copy(),
        table_pred[:count].copy(),
    )


TABLE_TIERS = 3  # a row's entries by distance: up to limit/4, limit/2, limit


class Table(NamedTuple):
    """A ``distance_table`` holding every distance up to ``limit``, each row in
    ``TABLE_TIERS`` tiers by distance (``new_table``): tier ``j`` of row ``u`` is
    ``tier_start[u * TABLE_TIERS + j] : tier_start[u * TABLE_TIERS + j + 1]`` of
    ``node``, ``dist`` and ``pred``, ascending by node, holding the distances above
    ``_tier_top(limit, j - 1)`` up to ``_tier_top(limit, j)``. A search bounded well
    below the limit reads only the near tiers, a small part of the row (the rows of a
    whole network do not fit in a cache). An empty one with limit 0 holds none
    (``no_table``)."""

    tier_start: np.ndarray
    node: np.ndarray
    dist: np.ndarray
    pred: np.ndarray
    limit: float


@njit(cache=True, nogil=True)
def _tier_top(limit: float, j: int) -> float:
    """The farthest distance tier ``j`` of a table up to ``limit`` holds."""
    return limit / 2.0 ** (TABLE_TIERS - 1 - j)


def new_table(graph: Graph, limit: float, workspace: Workspace) -> Table:
    """The ``Table`` of every shortest distance up to ``limit`` over ``graph``
    (``distance_table`` with ``TABLE_TIERS`` tiers a row)."""
    return Table(*distance_table(graph, limit, workspace, TABLE_TIERS), float(limit))


def no_table(n_nodes: int) -> Table:
    """A ``Table`` of no distances over ``n_nodes`` nodes."""
    none = np.zeros(0, np.int32)
    return Table(np.zeros(n_nodes * TABLE_TIERS + 1, _INT), none, np.zeros(0), none, 0.0)


@njit(cache=True, nogil=True)
def _table_index(table: Table, u: int, v: int, within: float) -> int:
    """Where ``v`` stands in ``u``'s row of a ``distance_table`` (its nearest tiers
    first), searching only the tiers that may hold a distance up to ``within``; -1 where
    not found there (beyond ``within`` or the table's limit)."""
    for j in range(TABLE_TIERS):
        if j > 0 and _tier_top(table.limit, j - 1) >= within:
            break  # the farther tiers hold nothing within reach
        lo = table.tier_start[u * TABLE_TIERS + j]
        end = table.tier_start[u * TABLE_TIERS + j + 1]
        hi = end
        while lo < hi:
            mid = (lo + hi) // 2
            if table.node[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        if lo < end and table.node[lo] == v:
            return lo
    return -1


@njit(cache=True, nogil=True)
def _table_distance(table: Table, u: int, v: int, within: float) -> float:
    """Distance from ``u`` to ``v`` in a ``distance_table`` where it is at most
    ``within``; else that distance or inf."""
    j = _table_index(table, u, v, within)
    return table.dist[j] if j >= 0 else math.inf


@njit(cache=True, nogil=True)
def _table_row(
    table: Table, u: int, nodes: np.ndarray, n: int, bound: float, out: np.ndarray, row: int
) -> None:
    """``out[row, j]``: the distance from ``u`` to ``nodes[j]`` (``n`` of them, ascending) in
    the table where it is at most ``bound``, else a distance above ``bound`` or inf;
    read only from the tiers that may hold such distances, each in one pass (galloping
    ahead from each node found to the next)."""
    for j in range(n):
        out[row, j] = math.inf
    for tier in range(TABLE_TIERS):
        if tier > 0 and _tier_top(table.limit, tier - 1) >= bound:
            break  # the farther tiers hold nothing within the bound
        lo = table.tier_start[u * TABLE_TIERS + tier]
        end = table.tier_start[u * TABLE_TIERS + tier + 1]
        for j in range(n):
            v = nodes[j]
            step = 1
            probe = lo  # every entry before lo is below v
            while probe < end and table.node[probe] < v:
                lo = probe + 1
                probe = lo + step - 1
                step *= 2
            hi = min(probe, end)
            while lo < hi:
                mid = (lo + hi) // 2
                if table.node[mid] < v:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < end and table.node[lo] == v:
                out[row, j] = table.dist[lo]


@njit(cache=True, nogil=True)
def _table_walk(
    table: Table, edge_from: np.ndarray, u: int, v: int, within: float = math.inf
) -> tuple[bool, np.ndarray]:
    """A shortest path from ``u`` to ``v`` read off ``u``'s row of the table, back from
    ``v`` along each node's ``pred`` edge. Returns ``(found, edges)``, in driving order;
    not found where ``v`` lies beyond the table's limit (or beyond ``within``, where
    only the tiers up to it are searched)."""
    j = _table_index(table, u, v, within)
    if j < 0:
        return False, np.empty(0, _INT)
    reach = table.dist[j]  # every node of the path lies nearer u than v: in the row
    count = 0
    node = v
    while node != u:
        count += 1
        node = edge_from[table.pred[_table_index(table, u, node, reach)]]
    edges = np.empty(count, _INT)
    node = v
    for q in range(count - 1, -1, -1):
        e = table.pred[_table_index(table, u, node, reach)]
        edges[q] = e
        node = edge_from[e]
    return True, edges


class RouteScratch(NamedTuple):
    """Buffers of ``_route_steps`` (``_route_scratch``)."""

    sources: np.ndarray
    source_cost: np.ndarray
    targets: np.ndarray
    target_bound: np.ndarray
    target_extra: np.ndarray
    entry: np.ndarray
    exit_node: np.ndarray
    exit_dist: np.ndarray
    exit_done: np.ndarray
    exit_reach: np.ndarray
    target_nodes: np.ndarray
    target_at: np.ndarray


@njit(cache=True, nogil=True)
def _route_scratch(max_a: int) -> RouteScratch:
    """Buffers of ``_route_steps`` for steps of at most ``max_a`` candidates a side."""
    return RouteScratch(
        np.empty(2, _INT),  # sources
        np.empty(2),  # source_cost
        np.empty(2 * max_a, _INT),  # targets
        np.empty(2 * max_a),  # target_bound
        np.empty(2 * max_a),  # target_extra: from the entry node on to the candidate
        np.full((max_a, 2), -1, _INT),  # entry: target index of each candidate's entries
        np.empty(2 * max_a, _INT),  # exit_node: distinct exit nodes of a step (table)
        np.empty((2 * max_a, 2 * max_a)),  # exit_dist: exit node -> target node distances
        np.zeros(2 * max_a, np.bool_),  # exit_done: its row of exit_dist is filled
        np.empty(2 * max_a),  # exit_reach: the farthest a distance from it may count
        np.empty(2 * max_a, _INT),  # target_nodes: distinct target nodes, ascending
        np.empty(2 * max_a, _INT),  # target_at: each target's place among them
    )


@njit(cache=True, nogil=True)
def _route_steps(
    cand_start: np.ndarray,
    steps: np.ndarray,
    bounds: np.ndarray,
    trans_start: np.ndarray,
    route: np.ndarray,
    places: Places,
    chains: Chains,
    table: Table,
    backward_tolerance: float,
    workspace: Workspace,
    scratch: RouteScratch,
) -> None:
    """Steps of ``route_distances``: for each ``i`` of ``steps``, from the candidates of
    point ``i - 1`` to those of ``i`` into ``route[trans_start[i]:trans_start[i + 1]]``
    (that step's matrix, row-major), paths up to ``bounds`` of it (inf: any length, by
    search). All in one call: a call takes a reference to each array it is given (an
    atomic count each way), which per step cost more than a step's own work."""
    cand_chain, cand_off, cand_arc_start, cand_arc_end = places
    chain_from = chains.chain_from
    chain_to = chains.chain_to
    chain_length = chains.chain_length
    chain_reverse = chains.chain_reverse
    (sources, source_cost, targets, target_bound, target_extra, entry, exit_node, exit_dist,
     exit_done, exit_reach, target_nodes, target_at) = scratch  # fmt: skip
    for step in range(steps.size):
        i = steps[step]
        bound = bounds[step]
        base = trans_start[i]
        a0 = cand_start[i - 1]
        b0 = cand_start[i]
        b1 = cand_start[i + 1]
        a1 = b0
        nb = b1 - b0
        for k in range(base, base + (a1 - a0) * nb):
            route[k] = math.inf
        # Entry nodes of i's candidates, each with how far a path to it may go.
        n_targets = 0
        for b in range(b0, b1):
            cb = cand_chain[b]
            entry[b - b0, 0] = -1
            entry[b - b0, 1] = -1
            for y in range(2):
                extra = cand_off[b]
                if y == 1:
                    if chain_reverse[cb] < 0:
                        continue
                    extra = _turning_entry(chain_length[cb], cand_arc_start[b], cand_off[b])
                if extra <= bound:
                    entry[b - b0, y] = n_targets
                    targets[n_targets] = chain_from[cb] if y == 0 else chain_to[cb]
                    target_extra[n_targets] = extra
                    target_bound[n_targets] = bound - extra
                    n_targets += 1
        use_table = bound <= table.limit
        n_nodes = 0
        if use_table:  # the distinct target nodes, ascending: an exit's row is read once
            for t in range(n_targets):
                v = targets[t]
                pos = n_nodes
                while pos > 0 and target_nodes[pos - 1] > v:
                    pos -= 1
                if pos > 0 and target_nodes[pos - 1] == v:
                    continue
                for q in range(n_nodes, pos, -1):
                    target_nodes[q] = target_nodes[q - 1]
                target_nodes[pos] = v
                n_nodes += 1
            for t in range(n_targets):
                q = 0
                while target_nodes[q] != targets[t]:
                    q += 1
                target_at[t] = q
        n_exits = 0
        if use_table:  # the exit nodes, each with how far a distance from it may count
            nearest_target = math.inf
            for t in range(n_targets):
                nearest_target = min(nearest_target, target_extra[t])
            for a in range(a0, a1):
                ca = cand_chain[a]
                n_sources, sources[0], source_cost[0], sources[1], source_cost[1] = _exits(
                    cand_off[a], cand_arc_end[a], chain_from[ca], chain_to[ca],
                    chain_length[ca], chain_reverse[ca] >= 0,
                )  # fmt: skip
                for x in range(n_sources):
                    found = -1
                    for q in range(n_exits):
                        if exit_node[q] == sources[x]:
                            found = q
                    if found < 0:
                        found = n_exits
                        exit_node[found] = sources[x]
                        exit_done[found] = False  # read when first needed
                        exit_reach[found] = -math.inf
                        n_exits += 1
                    exit_reach[found] = max(
                        exit_reach[found], bound - source_cost[x] - nearest_target
                    )
        for a in range(a0, a1):
            ca = cand_chain[a]
            oa = cand_off[a]
            length_a = chain_length[ca]
            reverse_a = chain_reverse[ca]
            row = base + (a - a0) * nb
            search = False
            for b in range(b0, b1):
                cb = cand_chain[b]
                d = _along_chain(
                    ca, oa, cand_arc_end[a], cb, cand_off[b], cand_arc_start[b],
                    length_a, reverse_a, backward_tolerance,
                )  # fmt: skip
                if d <= bound:
                    route[row + b - b0] = d
                if not (ca == cb and cand_off[b] >= oa - backward_tolerance):
                    search = True
            if not search or n_targets == 0:
                continue
            n_sources, sources[0], source_cost[0], sources[1], source_cost[1] = _exits(
                oa, cand_arc_end[a], chain_from[ca], chain_to[ca], length_a, reverse_a >= 0
            )
            n_touched = 0
            if use_table:  # distances from each exit node, looked up once per step, if needed
                for x in range(n_sources):
                    q = 0
                    while exit_node[q] != sources[x]:
                        q += 1
                    sources[x] = q  # from here on: the row of exit_dist
            else:
                n_touched = dijkstra(
                    _chain_graph(chains), sources[:n_sources], source_cost[:n_sources],
                    targets[:n_targets], target_bound[:n_targets], bound, workspace,
                )  # fmt: skip
            for b in range(b0, b1):
                cb = cand_chain[b]
                if ca == cb and cand_off[b] >= oa - backward_tolerance:
                    continue
                best = math.inf
                limit = min(bound, route[row + b - b0])  # what a path must not exceed to count
                for y in range(2):
                    t = entry[b - b0, y]
                    if t < 0:
                        continue
                    if use_table:
                        for x in range(n_sources):
                            lower = source_cost[x] + target_extra[t]
                            if lower > limit:  # cannot count, whatever the distance between
                                continue
                            r = sources[x]
                            if not exit_done[r]:
                                _table_row(
                                    table, exit_node[r], target_nodes, n_nodes, exit_reach[r],
                                    exit_dist, r,
                                )  # fmt: skip
                                exit_done[r] = True
                            best = min(best, lower + exit_dist[r, target_at[t]])
                            limit = min(limit, best)
                    else:
                        best = min(best, workspace.dist[targets[t]] + target_extra[t])
                if best <= bound and best < route[row + b - b0]:
                    route[row + b - b0] = best
            if not use_table:
                _reset(workspace, n_touched)


@njit(cache=True, nogil=True)
def route_distances(
    px: np.ndarray,
    py: np.ndarray,
    cand_start: np.ndarray,
    places: Places,
    chains: Chains,
    table: Table,
    bound_factor: float,
    bound_slack: float,
    backward_tolerance: float,
    workspace: Workspace,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network distance between every candidate of point ``i-1`` and every one of ``i``.

    Candidates (CSR ``cand_start``) are ``places`` along the ``chains``. Returns ``(trans_start,
    route, straight)``: the matrix of step ``i`` (row: candidate of ``i-1``, column:
    candidate of ``i``, row-major) is ``route[trans_start[i] : trans_start[i+1]]``;
    ``straight`` repeats the points' distance for each entry. The distance is the shorter
    of ``_along_chain`` and leaving the chain (``_exits``), the shortest path between
    chain ends and entering the other (``_entry_distance``): the shortest drive over the
    arcs, turning round at nodes of two-way roads where needed. Paths longer than
    ``bound_factor * straight + bound_slack`` are not searched: inf.

    Node-to-node distances come from the ``table`` (a ``Table``; ``no_table`` for none)
    when the bound is within its limit,
    else from one search per candidate of ``i-1`` that stops once every entry node of
    ``i``'s candidates is settled or out of reach, in ``workspace`` (``new_workspace``
    over the chain graph's nodes).
    """
    n = px.size
    trans_start = np.zeros(n + 1, _INT)
    max_a = 0
    for i in range(1, n):
        na = cand_start[i] - cand_start[i - 1]
        nb = cand_start[i + 1] - cand_start[i]
        trans_start[i + 1] = trans_start[i] + na * nb
        max_a = max(max_a, na, nb)
    total = trans_start[n] if n > 0 else 0
    route = np.full(total, math.inf)
    straight = np.empty(total)
    steps = np.arange(1, max(n, 1))
    bounds = np.empty(steps.size)
    for i in range(1, n):
        gc = math.hypot(px[i] - px[i - 1], py[i] - py[i - 1])
        for k in range(trans_start[i], trans_start[i + 1]):
            straight[k] = gc
        bounds[i - 1] = bound_factor * gc + bound_slack
    _route_steps(
        cand_start, steps, bounds, trans_start, route, places, chains, table,
        backward_tolerance, workspace, _route_scratch(max_a),
    )  # fmt: skip
    return trans_start, route, straight


@njit(cache=True, nogil=True)
def viterbi(
    cand_start: np.ndarray,
    emission: np.ndarray,
    trans_start: np.ndarray,
    transition: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Most likely candidate of each point: ``(choice, segment)``.

    ``choice[i]`` is a candidate index (global, into the CSR arrays), -1 for a point with
    no candidate; where no candidate of point ``i`` can be reached from any of the
    previous point's, the chain breaks and a new segment starts at ``i`` (``segment``
    counts from 0; -1 for points without candidates). A point without candidates does not
    break the chain: transitions join the points that have them, as ``route_distances``
    computes for the arrays it is given. Ties go to the lower candidate index.
    """
    n = cand_start.size - 1
    total = cand_start[n] if n > 0 else 0
    score = np.full(total, -math.inf)
    back = np.full(total, -1, _INT)
    restart = np.zeros(n, np.bool_)
    prev = -1  # last point with candidates
    for i in range(n):
        b0 = cand_start[i]
        b1 = cand_start[i + 1]
        if b1 == b0:
            continue
        reached = False
        if prev >= 0:
            a0 = cand_start[prev]
            a1 = cand_start[prev + 1]
            nb = b1 - b0
            base = trans_start[i]
            for b in range(b0, b1):
                best = -math.inf
                arg = -1
                for a in range(a0, a1):
                    t = transition[base + (a - a0) * nb + (b - b0)]
                    s = score[a] + t
                    if s > best:
                        best = s
                        arg = a
                if arg >= 0:
                    score[b] = best + emission[b]
                    back[b] = arg
                    reached = True
        if not reached:
            restart[i] = True
            for b in range(b0, b1):
                score[b] = emission[b]
                back[b] = -1
        prev = i
    choice = np.full(n, -1, _INT)
    segment = np.full(n, -1, _INT)
    # Backtrack from the best end of each segment, last segment first.
    i = n - 1
    follow = -1  # candidate chosen by the later point's back pointer
    while i >= 0:
        b0 = cand_start[i]
        b1 = cand_start[i + 1]
        if b1 > b0:
            if follow < 0:
                best = -math.inf
                for b in range(b0, b1):
                    if follow < 0 or score[b] > best:
                        best = score[b]
                        follow = b
            choice[i] = follow
            follow = -1 if restart[i] else back[follow]
        i -= 1
    seg = -1
    for i in range(n):
        if choice[i] >= 0:
            if restart[i]:
                seg += 1
            segment[i] = seg
    return choice, segment


@njit(cache=True, nogil=True)
def _append_int(values: np.ndarray, count: int, value: int) -> np.ndarray:
    """``values`` with ``value`` at ``count``, grown (doubled) when full."""
    if count == values.size:
        grown = np.empty(2 * values.size, _INT)
        grown[:count] = values
        values = grown
    values[count] = value
    return values


@njit(cache=True, nogil=True)
def _append_arcs(
    out: np.ndarray,
    out_seg: np.ndarray,
    count: int,
    chain_arcs: np.ndarray,
    base: int,
    first: int,
    last: int,
    seg: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Append arcs ``first..last`` (inclusive, indices along the chain whose arcs start at
    ``chain_arcs[base]``) to the path, grown (doubled) when full."""
    need = count + max(0, last - first + 1)
    if need > out.size:
        size = max(2 * out.size, need)
        grown = np.empty(size, _INT)
        grown[:count] = out[:count]
        grown_seg = np.empty(size, _INT)
        grown_seg[:count] = out_seg[:count]
        out, out_seg = grown, grown_seg
    for q in range(base + first, base + last + 1):
        out[count] = chain_arcs[q]
        out_seg[count] = seg
        count += 1
    return out, out_seg, count


@njit(cache=True, nogil=True)
def fill_path(
    places: Places,
    arc: np.ndarray,
    segment: np.ndarray,
    step_route: np.ndarray,
    chains: Chains,
    table: Table,
    backward_tolerance: float,
    workspace: Workspace,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The continuous arc path through matched points (those with ``chain >= 0``), each
    at ``offset`` along its chain on ``arc`` (``places``).

    Returns ``(path_edge, path_segment, at)``, ``at[i]`` the path entry the path stands on
    once it has reached point ``i`` (-1 for unmatched points): a segment's first point
    contributes its arc;
    each later point is joined to the one before by the drive ``route_distances`` measures
    (forward along the chain, turning round on it, or through the shortest path between
    chain ends), ending with its own arc. ``step_route`` (the distance the matcher found
    from the point before, inf if unknown) bounds the search; where it is within the
    ``table``'s limit, the shortest path is read off the table (``_table_walk``) instead
    of searched. A point jittering back along
    the same chain (within ``backward_tolerance``, or onto the arc ending where the path
    stands) adds nothing and the path goes on from the point before it. A new segment
    starts a new run.
    """
    chain, offset, arc_start, arc_end = places
    chain_start = chains.chain_start
    chain_arcs = chains.chain_arcs
    arc_pos = chains.arc_pos
    chain_from = chains.chain_from
    chain_to = chains.chain_to
    chain_length = chains.chain_length
    chain_reverse = chains.chain_reverse
    dist, pred_edge = workspace.dist, workspace.pred_edge
    out = np.empty(16, _INT)
    out_seg = np.empty(16, _INT)
    count = 0
    sources = np.empty(2, _INT)
    source_cost = np.empty(2)
    targets = np.empty(2, _INT)
    target_bound = np.empty(2)
    extra = np.empty(2)  # from each entry node on to the point
    no_bound = np.full(2, math.inf)
    links = np.empty(0, _INT)
    at = np.full(chain.size, -1, _INT)
    last = -1  # the point the path has reached
    for i in range(chain.size):
        cb = chain[i]
        if cb < 0:
            continue
        seg = segment[i]
        if last < 0 or segment[last] != seg:
            out = _append_int(out, count, arc[i])
            out_seg = _append_int(out_seg, count, seg)
            count += 1
            at[i] = count - 1
            last = i
            continue
        ca = chain[last]
        pos_a = arc_pos[arc[last]]
        pos_b = arc_pos[arc[i]]
        if ca == cb and offset[i] >= offset[last] - backward_tolerance:
            if offset[i] >= offset[last] and pos_b >= pos_a:  # (not the arc before a node)
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[ca], pos_a + 1, pos_b, seg
                )
                last = i
            at[i] = count - 1
            continue
        direct = _along_chain(
            ca, offset[last], arc_end[last], cb, offset[i], arc_start[i], chain_length[ca],
            chain_reverse[ca], backward_tolerance,
        )  # fmt: skip
        n_sources, sources[0], source_cost[0], sources[1], source_cost[1] = _exits(
            offset[last], arc_end[last], chain_from[ca], chain_to[ca], chain_length[ca],
            chain_reverse[ca] >= 0,
        )  # fmt: skip
        targets[0] = chain_from[cb]
        targets[1] = chain_to[cb] if chain_reverse[cb] >= 0 else chain_from[cb]
        reach = step_route[i] + backward_tolerance + 1e-6 * (1.0 + step_route[i])
        extra[0] = offset[i]
        extra[1] = _turning_entry(chain_length[cb], arc_start[i], offset[i])
        n_touched = 0
        via = math.inf
        entry = 0
        leave = 0  # the exit taken
        known = False  # the drive is known without a search
        if reach <= table.limit:  # every distance that could count is in the table
            for y in range(2 if chain_reverse[cb] >= 0 else 1):
                for x in range(n_sources):
                    d = (
                        source_cost[x]
                        + _table_distance(table, sources[x], targets[y], reach)
                        + extra[y]
                    )
                    if d < via:
                        via, entry, leave = d, y, x
            if direct <= via and direct <= reach:
                known = True
            elif via <= reach:
                known, links = _table_walk(table, chain_from, sources[leave], targets[entry], reach)
        if not known:
            target_bound[0] = reach - extra[0]
            target_bound[1] = reach - extra[1]
            for attempt in range(2):  # bounded by the matched distance; unbounded if too tight
                n_touched = dijkstra(
                    _chain_graph(chains), sources[:n_sources], source_cost[:n_sources], targets,
                    target_bound if attempt == 0 else no_bound, math.inf, workspace,
                )  # fmt: skip
                via, entry = _entry_distance(
                    dist, cb, offset[i], arc_start[i], chain_from, chain_to, chain_length,
                    chain_reverse,
                )  # fmt: skip
                if min(via, direct) <= reach or attempt == 1:  # else the bound was too tight
                    break
                _reset(workspace, n_touched)
            if via < math.inf:
                entry_node = chain_from[cb] if entry == 0 else chain_to[cb]
                links = path_edges(pred_edge, chain_from, entry_node)
                start = chain_from[links[0]] if links.size else entry_node
                ahead = start == chain_to[ca] and (
                    n_sources == 1 or start != chain_from[ca] or source_cost[0] <= source_cost[1]
                )  # on a loop both exits are one node: the cheaper one was taken
                leave = 0 if ahead else 1
        n_a = chain_start[ca + 1] - chain_start[ca]
        n_b = chain_start[cb + 1] - chain_start[cb]
        if direct <= via and direct < math.inf:  # turn round on the chain: cb reverses ca
            if arc_end[last] >= chain_length[ca] - arc_start[i]:  # at the end of a's arc
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[cb], n_a - 1 - pos_a, pos_b, seg
                )
            else:  # on to the node where b's arc begins on the way back
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[ca], pos_a + 1, n_b - 1 - pos_b,
                    seg,
                )  # fmt: skip
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[cb], pos_b, pos_b, seg
                )
        elif via < math.inf:
            if leave == 0:  # leave at the end of a's chain
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[ca], pos_a + 1, n_a - 1, seg
                )
            else:  # turn round at the end of a's arc and leave at the chain's start
                ra = chain_reverse[ca]
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[ra], n_a - 1 - pos_a, n_a - 1,
                    seg,
                )  # fmt: skip
            for q in range(links.size):
                link = links[q]
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[link], 0,
                    chain_start[link + 1] - chain_start[link] - 1, seg,
                )  # fmt: skip
            if entry == 0:
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[cb], 0, pos_b, seg
                )
            else:  # along the reverse chain, turning round onto b's arc
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[chain_reverse[cb]], 0,
                    n_b - 1 - pos_b, seg,
                )  # fmt: skip
                out, out_seg, count = _append_arcs(
                    out, out_seg, count, chain_arcs, chain_start[cb], pos_b, pos_b, seg
                )
        else:  # not reachable (the matcher starts a new segment before this happens)
            out, out_seg, count = _append_arcs(
                out, out_seg, count, chain_arcs, chain_start[cb], pos_b, pos_b, seg
            )
        if n_touched:
            _reset(workspace, n_touched)
        at[i] = count - 1
        last = i
    return out[:count].copy(), out_seg[:count].copy(), at


@njit(cache=True, nogil=True)
def thin_points(x: np.ndarray, y: np.ndarray, min_step: float) -> np.ndarray:
    """Keep the first point and each point at least ``min_step`` from the last kept one
    (Newson & Krumm drop fixes within 2 sigma of the previous), and the last point."""
    n = x.size
    keep = np.zeros(n, np.bool_)
    last = -1
    for i in range(n):
        if last < 0 or math.hypot(x[i] - x[last], y[i] - y[last]) >= min_step or i == n - 1:
            keep[i] = True
            last = i
    return keep


# --- the whole matcher ------------------------------------------------------------------


class Arcs(NamedTuple):
    """Per arc of the network: its ends ``x0, y0, x1, y1`` (projected metres), ``length``,
    its ``reverse`` (-1 on a one-way road) and ``bearing`` (radians clockwise from north)."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    length: np.ndarray
    reverse: np.ndarray
    bearing: np.ndarray


class Chains(NamedTuple):
    """The chain graph (``build_chains``, renumbered as ``matching.ChainGraph`` keeps it):
    each chain's arcs (CSR ``chain_start``/``chain_arcs``), each arc's chain, index in it
    and offset along it, each chain's end nodes, length and reverse, and the chains
    leaving each node (CSR ``out_start``/``out_chains``)."""

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


class TrackParams(NamedTuple):
    """``match_track``'s settings (metres, radians, m/s); see ``matching.MatchParams``."""

    sigma: float
    beta: float
    radius: float
    max_k: int
    near: float
    cap: int
    route_factor: float
    route_slack: float
    break_factor: float
    break_steps: int
    heading_kappa: float
    heading_floor: float
    heading_min_speed: float
    route_floor: float


@njit(cache=True, nogil=True)
def match_track(
    x: np.ndarray,
    y: np.ndarray,
    heading: np.ndarray,
    speed: np.ndarray,
    grid: SegmentGrid,
    arcs: Arcs,
    chains: Chains,
    table: Table,
    params: TrackParams,
    workspace: Workspace,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One track through the kernels above, in one call: ``(edge, offset, distance,
    segment, path_edge, path_segment)``. ``heading`` (degrees) and ``speed`` (m/s) are
    per fix, NaN where not reported.

    ``thin_points`` (2 sigma) keeps the fixes that become states; ``edge_candidates``
    (on ``grid``, one per part of a road, radius, ``max_k``, all within ``near``, at most
    ``cap``) and ``directed_candidates`` give their candidates, placed along chains by
    ``arc_chain`` / ``arc_offset``; ``route_distances``, ``emission_logprob`` plus
    ``heading_logprob``, ``transition_logprob`` and ``viterbi`` choose one per state.
    Where a state cannot be reached from the one before (the kept fix just before it),
    that step and the ``break_steps - 1`` before it (back to a kept fix without
    candidates) are searched again with their bound ``break_factor`` times wider
    (``_route_steps``) and ``viterbi`` runs again, until no new such step; what still
    cannot be reached, or follows kept fixes without candidates, starts a new segment.
    ``fill_path`` joins the states. Every fix takes the segment of the last kept fix at
    or before it (its owner); a kept fix keeps its arc, a thinned one takes the nearest
    arc (ties: the first) of the path from its owner's entry on (``fill_path``'s ``at``)
    up to the next kept fix's entry in the segment, no further than 4 sigma along the
    path past the owner (distances within ``TIE_M`` tie). Offsets along the arc and
    distances from it are each fix's own (0 and NaN where unmatched).
    """
    seg_x0, seg_y0, seg_x1, seg_y1, edge_length, arc_reverse, arc_bearing = arcs
    arc_chain, arc_offset = chains.arc_chain, chains.arc_offset
    sigma = params.sigma
    n = x.size
    keep = np.flatnonzero(thin_points(x, y, 2.0 * sigma))
    kx = x[keep]
    ky = y[keep]
    road_start, road_edge, road_frac, road_dist = edge_candidates(
        kx, ky, grid, params.radius, params.max_k, params.near, params.cap
    )
    cand_start, cand_edge, cand_frac, cand_dist, cand_agree = directed_candidates(
        road_start, road_edge, road_frac, road_dist, heading[keep], speed[keep], arc_reverse,
        arc_bearing, params.heading_min_speed,
    )  # fmt: skip
    m = cand_edge.size
    cand_chain = np.empty(m, _INT)
    cand_arc_start = np.empty(m)
    cand_arc_end = np.empty(m)
    cand_off = np.empty(m)
    for c in range(m):
        e = cand_edge[c]
        cand_chain[c] = arc_chain[e]
        cand_arc_start[c] = arc_offset[e]
        cand_arc_end[c] = arc_offset[e] + edge_length[e]
        cand_off[c] = arc_offset[e] + cand_frac[c] * edge_length[e]
    # states: the kept fixes with candidates
    has = np.flatnonzero(cand_start[1:] > cand_start[:-1])
    sub_start = np.empty(has.size + 1, _INT)
    sub_start[: has.size] = cand_start[has]
    sub_start[has.size] = m
    places = Places(cand_chain, cand_off, cand_arc_start, cand_arc_end)
    trans_start, route, straight = route_distances(
        kx[has], ky[has], sub_start, places, chains, table, params.route_factor,
        params.route_slack, sigma, workspace,
    )  # fmt: skip
    emission = emission_logprob(cand_dist, sigma) + heading_logprob(
        cand_agree, params.heading_kappa, params.heading_floor
    )
    transition = transition_logprob(
        route,
        straight,
        params.beta,
        params.route_floor,
        params.route_factor,
        params.route_slack,
    )
    choice, state_segment = viterbi(sub_start, emission, trans_start, transition)
    widened = np.zeros(has.size, np.bool_)
    scratch = _route_scratch(max(1, int(np.max(np.diff(sub_start))) if has.size else 1))
    while True:  # widen the bound of each step where the match breaks
        again = False
        for b in range(1, has.size):
            # (not across kept fixes without candidates: there the truck left the map)
            if state_segment[b] == state_segment[b - 1] or has[b] > has[b - 1] + 1:
                continue
            # the broken step and those just before it (the wrong turn may lie there)
            for h in range(b, max(0, b - params.break_steps), -1):
                if has[h] > has[h - 1] + 1:
                    break
                if widened[h]:
                    continue
                widened[h] = True
                again = True
                bound = params.break_factor * (params.route_factor * straight[trans_start[h]]
                                               + params.route_slack)  # fmt: skip
                _route_steps(
                    sub_start, np.array([h]), np.array([bound]), trans_start, route, places,
                    chains, table, sigma, workspace, scratch,
                )  # fmt: skip
                lo = trans_start[h]
                hi = trans_start[h + 1]
                transition[lo:hi] = transition_logprob(
                    route[lo:hi],
                    straight[lo:hi],
                    params.beta,
                    params.route_floor,
                    params.route_factor,
                    params.route_slack,
                )
        if not again:
            break
        choice, state_segment = viterbi(sub_start, emission, trans_start, transition)
    nk = keep.size
    kept_chain = np.full(nk, -1, _INT)
    kept_edge = np.full(nk, -1, _INT)
    kept_segment = np.full(nk, -1, _INT)
    kept_off = np.zeros(nk)
    kept_arc_start = np.zeros(nk)
    kept_arc_end = np.zeros(nk)
    step = np.full(nk, math.inf)  # the distance driven into each state from the one before
    for h in range(has.size):
        c = choice[h]
        j = has[h]
        kept_chain[j] = cand_chain[c]
        kept_edge[j] = cand_edge[c]
        kept_segment[j] = state_segment[h]
        kept_off[j] = cand_off[c]
        kept_arc_start[j] = cand_arc_start[c]
        kept_arc_end[j] = cand_arc_end[c]
        if h > 0:
            width = sub_start[h + 1] - sub_start[h]
            cell = trans_start[h] + (choice[h - 1] - sub_start[h - 1]) * width
            step[j] = route[cell + c - sub_start[h]]
    path_edge, path_segment, at = fill_path(
        Places(kept_chain, kept_off, kept_arc_start, kept_arc_end), kept_edge, kept_segment,
        step, chains, table, sigma, workspace,
    )  # fmt: skip
    edge = np.full(n, -1, _INT)
    offset = np.zeros(n)
    distance = np.full(n, np.nan)
    segment = np.full(n, -1, _INT)
    owner = -1
    for i in range(n):
        if owner + 1 < nk and keep[owner + 1] == i:
            owner += 1
        e = kept_edge[owner]
        if e < 0:
            continue
        if keep[owner] != i:  # thinned: the nearest arc of the path just ahead of its owner
            k = at[owner]
            stop = k  # the path entry of the next kept fix, if it follows in this segment
            if owner + 1 < nk and kept_segment[owner + 1] == kept_segment[owner]:
                stop = at[owner + 1]
            ahead = kept_arc_end[owner] - kept_off[owner]  # to the start of entry k + 1
            e = path_edge[k]
            u, ex, ey = _nearest_on_segment(
                x[i], y[i], seg_x0[e], seg_y0[e], seg_x1[e], seg_y1[e]
            )  # fmt: skip
            best = math.hypot(ex, ey)
            while k < stop and ahead <= 4.0 * sigma:
                k += 1
                f = path_edge[k]
                u, ex, ey = _nearest_on_segment(
                    x[i], y[i], seg_x0[f], seg_y0[f], seg_x1[f], seg_y1[f]
                )  # fmt: skip
                if math.hypot(ex, ey) < best - TIE_M:  # (an arc and its reverse tie)
                    best = math.hypot(ex, ey)
                    e = f
                ahead += edge_length[f]
        edge[i] = e
        segment[i] = kept_segment[owner]
        u, ex, ey = _nearest_on_segment(x[i], y[i], seg_x0[e], seg_y0[e], seg_x1[e], seg_y1[e])
        offset[i] = u * edge_length[e]
        distance[i] = math.hypot(ex, ey)
    return edge, offset, distance, segment, path_edge, path_segment


@njit(cache=True, nogil=True)
def match_track_plain(
    x: np.ndarray,
    y: np.ndarray,
    heading: np.ndarray,
    speed: np.ndarray,
    network: tuple,
    params: tuple,
    workspace: tuple,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``match_track`` with its bundles as plain tuples: ``network`` holds the fields of
    its ``SegmentGrid``, ``Arcs``, ``Chains`` and ``Table``, each a tuple. Numba types a
    plain tuple argument from a cached fingerprint, a named tuple in Python at every call
    (~10 µs a track, as much as 20 fixes' matching)."""
    grid, arcs, chains, table = network
    return match_track(
        x, y, heading, speed, SegmentGrid(*grid), Arcs(*arcs), Chains(*chains), Table(*table),
        TrackParams(*params), Workspace(*workspace),
    )  # fmt: skip


@njit(cache=True, nogil=True)
def match_lonlat_plain(
    lon: np.ndarray,
    lat: np.ndarray,
    heading: np.ndarray,
    speed_kmh: np.ndarray,
    projection: tuple,
    network: tuple,
    params: tuple,
    workspace: tuple,
) -> tuple[bool, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """``match_track_plain`` on fixes in WGS-84 degrees, projected in the same call by
    ``cdw.geo.kernels.tm_forward``: ``projection`` is ``(lon0, k0_a, false_easting,
    false_northing, e, alpha, min_lat, max_lat)``. ``heading`` (degrees) and ``speed_kmh``
    per fix, or empty where not reported at all. Returns ``(ok, result)``: not ok, with
    empty arrays, where a coordinate is not finite or lies outside [-180, 180] x
    [min_lat, max_lat] (the caller names the problem)."""
    lon0, k0_a, false_easting, false_northing, e, alpha, min_lat, max_lat = projection
    n = lon.size
    ok = lat.size == n
    for i in range(n if ok else 0):
        if not (-180.0 <= lon[i] <= 180.0 and min_lat <= lat[i] <= max_lat):
            ok = False
            break
    if not ok:
        none = np.empty(0, _INT)
        return False, (none, np.empty(0), np.empty(0), none, none, none)
    x, y = tm_forward(lon, lat, lon0, k0_a, false_easting, false_northing, e, alpha)
    h = heading if heading.size == n else np.full(n, math.nan)
    v = np.full(n, math.nan)
    if speed_kmh.size == n:
        for i in range(n):
            v[i] = speed_kmh[i] / 3.6
    return True, match_track_plain(x, y, h, v, network, params, workspace)
