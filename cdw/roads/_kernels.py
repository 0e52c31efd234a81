"""Numba kernels of the road network: shortest paths, candidate edges, the HMM matcher.

Arrays in, arrays out. The graph is the CSR form of ``RoadNetwork`` (``out_start``,
``out_edges``, ``edge_from``, ``edge_to``); every edge is a straight segment in projected
metres. Public wrappers live in ``routing.py`` and ``matching.py``; every kernel has a
plain-Python twin in ``tests/roads/twins.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from cdw.tracking._kernels import _cell_of

_INT = np.int64


# --- shortest paths -------------------------------------------------------------------


@njit(cache=True, nogil=True)
def dijkstra(
    out_start: np.ndarray,
    out_edges: np.ndarray,
    edge_to: np.ndarray,
    edge_cost: np.ndarray,
    source: int,
    target: int,
    bound: float,
    dist: np.ndarray,
    pred_edge: np.ndarray,
    settled: np.ndarray,
) -> np.ndarray:
    """Shortest paths from ``source`` over edges of finite cost; returns the touched nodes.

    Workspaces ``dist`` (all inf), ``pred_edge`` (all -1) and ``settled`` (all False), one
    entry per node, are filled in place: afterwards a node is settled exactly when its
    distance is final and ``<= bound``, with ``dist`` and the edge it was reached by in
    ``pred_edge``; other nodes keep inf and -1. The search stops once ``target`` (if >= 0)
    is settled or nothing within ``bound`` is left. Hand the touched nodes to
    ``reset_workspace`` before the next search.
    """
    touched = np.empty(16, _INT)
    n_touched = 0
    heap_cost = np.empty(16)
    heap_node = np.empty(16, _INT)
    size = 0
    dist[source] = 0.0
    touched[0] = source
    n_touched = 1
    heap_cost[0] = 0.0
    heap_node[0] = source
    size = 1
    while size > 0:
        cost = heap_cost[0]
        node = heap_node[0]
        size -= 1
        if size > 0:  # move the last item to the root and sift it down
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
        if settled[node] or cost > dist[node]:
            continue
        if cost > bound:
            break
        settled[node] = True
        if node == target:
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
                    if n_touched == touched.size:
                        grown = np.empty(2 * touched.size, _INT)
                        grown[:n_touched] = touched
                        touched = grown
                    touched[n_touched] = nxt
                    n_touched += 1
                dist[nxt] = new_cost
                pred_edge[nxt] = e
                if size == heap_cost.size:
                    grown_cost = np.empty(2 * size)
                    grown_node = np.empty(2 * size, _INT)
                    grown_cost[:size] = heap_cost
                    grown_node[:size] = heap_node
                    heap_cost = grown_cost
                    heap_node = grown_node
                i = size  # sift up
                size += 1
                while i > 0:
                    parent = (i - 1) // 2
                    if heap_cost[parent] <= new_cost:
                        break
                    heap_cost[i] = heap_cost[parent]
                    heap_node[i] = heap_node[parent]
                    i = parent
                heap_cost[i] = new_cost
                heap_node[i] = nxt
    for k in range(n_touched):
        node = touched[k]
        if not settled[node]:
            dist[node] = math.inf
            pred_edge[node] = -1
    return touched[:n_touched]


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


# --- candidates -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def edge_candidates(
    px: np.ndarray,
    py: np.ndarray,
    seg_x0: np.ndarray,
    seg_y0: np.ndarray,
    seg_x1: np.ndarray,
    seg_y1: np.ndarray,
    origin_x: float,
    origin_y: float,
    cell_size: float,
    n_cols: int,
    n_rows: int,
    cell_start: np.ndarray,
    cell_items: np.ndarray,
    radius: float,
    max_k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``max_k`` nearest segments within ``radius`` (inclusive) of each point.

    Returns CSR ``(cand_start, cand_seg, cand_frac, cand_dist)``: the candidates of point
    ``i`` are ``cand_start[i]:cand_start[i+1]``, nearest first (ties: lower segment
    first); ``cand_frac`` is where the nearest point lies along the segment, 0..1.
    The grid is ``tracking._kernels.build_segment_index`` over the same segments.
    """
    n = px.size
    cand_start = np.zeros(n + 1, _INT)
    cap = max(n * max_k, 1)
    cand_seg = np.empty(cap, _INT)
    cand_frac = np.empty(cap)
    cand_dist = np.empty(cap)
    seen = np.full(seg_x0.size, -1, _INT)
    buf_seg = np.empty(max_k + 1, _INT)
    buf_frac = np.empty(max_k + 1)
    buf_dist = np.empty(max_k + 1)
    inv_cell = 1.0 / cell_size if cell_size > 0 else 0.0
    k_total = 0
    for i in range(n):
        x = px[i]
        y = py[i]
        count = 0
        if n_cols > 0 and math.isfinite(x) and math.isfinite(y):
            c0 = _cell_of(x - radius, origin_x, inv_cell, n_cols)
            c1 = _cell_of(x + radius, origin_x, inv_cell, n_cols)
            r0 = _cell_of(y - radius, origin_y, inv_cell, n_rows)
            r1 = _cell_of(y + radius, origin_y, inv_cell, n_rows)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    cell = r * n_cols + c
                    for j in range(cell_start[cell], cell_start[cell + 1]):
                        s = cell_items[j]
                        if seen[s] == i:
                            continue
                        seen[s] = i
                        dx = seg_x1[s] - seg_x0[s]
                        dy = seg_y1[s] - seg_y0[s]
                        length2 = dx * dx + dy * dy
                        u = 0.0
                        if length2 > 0.0:
                            u = ((x - seg_x0[s]) * dx + (y - seg_y0[s]) * dy) / length2
                            u = min(max(u, 0.0), 1.0)
                        d = math.hypot(x - (seg_x0[s] + u * dx), y - (seg_y0[s] + u * dy))
                        if not d <= radius:
                            continue
                        # insert into the sorted buffer, dropping the farthest beyond max_k
                        pos = count
                        while pos > 0 and (
                            buf_dist[pos - 1] > d
                            or (buf_dist[pos - 1] == d and buf_seg[pos - 1] > s)
                        ):
                            if pos < max_k:
                                buf_dist[pos] = buf_dist[pos - 1]
                                buf_seg[pos] = buf_seg[pos - 1]
                                buf_frac[pos] = buf_frac[pos - 1]
                            pos -= 1
                        if pos < max_k:
                            buf_dist[pos] = d
                            buf_seg[pos] = s
                            buf_frac[pos] = u
                            if count < max_k:
                                count += 1
        for k in range(count):
            cand_seg[k_total] = buf_seg[k]
            cand_frac[k_total] = buf_frac[k]
            cand_dist[k_total] = buf_dist[k]
            k_total += 1
        cand_start[i + 1] = k_total
    return (
        cand_start,
        cand_seg[:k_total].copy(),
        cand_frac[:k_total].copy(),
        cand_dist[:k_total].copy(),
    )


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
def transition_logprob(route: np.ndarray, straight: np.ndarray, beta: float) -> np.ndarray:
    """Exponential log-likelihood of ``|route - straight| / beta``; -inf where no route."""
    out = np.empty(route.size)
    for k in range(route.size):
        if route[k] < math.inf:
            out[k] = -abs(route[k] - straight[k]) / beta
        else:
            out[k] = -math.inf
    return out


@njit(cache=True, nogil=True)
def route_distances(
    px: np.ndarray,
    py: np.ndarray,
    cand_start: np.ndarray,
    cand_edge: np.ndarray,
    cand_frac: np.ndarray,
    edge_from: np.ndarray,
    edge_to: np.ndarray,
    edge_length: np.ndarray,
    out_start: np.ndarray,
    out_edges: np.ndarray,
    bound_factor: float,
    bound_slack: float,
    backward_tolerance: float,
    dist: np.ndarray,
    pred_edge: np.ndarray,
    settled: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network distance between every candidate of point ``i-1`` and every one of ``i``.

    Returns ``(trans_start, route, straight)``: the matrix of step ``i`` (row: candidate of
    ``i-1``, column: candidate of ``i``, row-major) is ``route[trans_start[i] :
    trans_start[i+1]]``; ``straight`` repeats the points' distance for each entry. On one
    edge, moving forward (or back by at most ``backward_tolerance`` m, GPS jitter) costs the
    offset difference; otherwise the rest of the first edge, the shortest path between the
    edges and the offset into the second. Paths longer than ``bound_factor * straight +
    bound_slack`` are not searched: inf. ``dist``/``pred_edge``/``settled`` are a
    ``dijkstra`` workspace.
    """
    n = px.size
    trans_start = np.zeros(n + 1, _INT)
    for i in range(1, n):
        na = cand_start[i] - cand_start[i - 1]
        nb = cand_start[i + 1] - cand_start[i]
        trans_start[i + 1] = trans_start[i] + na * nb
    trans_start[1] = 0
    total = trans_start[n] if n > 0 else 0
    route = np.full(total, math.inf)
    straight = np.empty(total)
    for i in range(1, n):
        gc = math.hypot(px[i] - px[i - 1], py[i] - py[i - 1])
        bound = bound_factor * gc + bound_slack
        a0 = cand_start[i - 1]
        a1 = cand_start[i]
        b0 = cand_start[i]
        b1 = cand_start[i + 1]
        nb = b1 - b0
        base = trans_start[i]
        for k in range(base, base + (a1 - a0) * nb):
            straight[k] = gc
        for a in range(a0, a1):
            ea = cand_edge[a]
            off_a = cand_frac[a] * edge_length[ea]
            rest_a = edge_length[ea] - off_a
            searched = False
            touched = np.empty(0, _INT)
            for b in range(b0, b1):
                eb = cand_edge[b]
                off_b = cand_frac[b] * edge_length[eb]
                k = base + (a - a0) * nb + (b - b0)
                if ea == eb and off_b >= off_a - backward_tolerance:
                    d = abs(off_b - off_a)
                    if d <= bound:
                        route[k] = d
                    continue
                if rest_a > bound:
                    continue
                if not searched:
                    touched = dijkstra(
                        out_start, out_edges, edge_to, edge_length, edge_to[ea], -1,
                        bound - rest_a, dist, pred_edge, settled,
                    )  # fmt: skip
                    searched = True
                d = rest_a + dist[edge_from[eb]] + off_b
                if d <= bound:
                    route[k] = d
            if searched:
                reset_workspace(touched, dist, pred_edge, settled)
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
def fill_path(
    edge: np.ndarray,
    offset: np.ndarray,
    segment: np.ndarray,
    edge_from: np.ndarray,
    edge_to: np.ndarray,
    edge_length: np.ndarray,
    out_start: np.ndarray,
    out_edges: np.ndarray,
    backward_tolerance: float,
    dist: np.ndarray,
    pred_edge: np.ndarray,
    settled: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The continuous edge path through matched points (those with ``edge >= 0``).

    Returns ``(path_edge, path_segment)``: within a segment, consecutive points on
    different edges (or going back on one edge by more than ``backward_tolerance``) are
    joined by the shortest path between the edges; a new segment starts a new run.
    """
    out = np.empty(16, _INT)
    out_seg = np.empty(16, _INT)
    count = 0
    last = -1  # previous matched point
    for i in range(edge.size):
        e = edge[i]
        if e < 0:
            continue
        start_new = last < 0 or segment[last] != segment[i]
        link = np.empty(0, _INT)
        if not start_new:
            ea = edge[last]
            if ea == e and offset[i] >= offset[last] - backward_tolerance:
                last = i
                continue
            touched = dijkstra(
                out_start, out_edges, edge_to, edge_length, edge_to[ea], edge_from[e],
                math.inf, dist, pred_edge, settled,
            )  # fmt: skip
            link = path_edges(pred_edge, edge_from, edge_from[e])
            reset_workspace(touched, dist, pred_edge, settled)
        need = count + link.size + 1
        if need > out.size:
            cap = max(2 * out.size, need)
            grown = np.empty(cap, _INT)
            grown_seg = np.empty(cap, _INT)
            grown[:count] = out[:count]
            grown_seg[:count] = out_seg[:count]
            out = grown
            out_seg = grown_seg
        for k in range(link.size):
            out[count] = link[k]
            out_seg[count] = segment[i]
            count += 1
        out[count] = e
        out_seg[count] = segment[i]
        count += 1
        last = i
    return out[:count].copy(), out_seg[:count].copy()


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
