"""Plain-Python twins of the Numba kernels in ``cdw.roads._kernels``, written from each
kernel's documented contract; used only by the tests."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

Ints = Sequence[int]
Floats = Sequence[float]


def dijkstra(
    out_start: Ints, out_edges: Ints, edge_to: Ints, edge_cost: Floats, source: int, bound: float
) -> dict[int, float]:
    """Exact distance of every node within ``bound`` of ``source``."""
    dist = {source: 0.0}
    done: dict[int, float] = {}
    heap = [(0.0, source)]
    while heap:
        cost, node = heapq.heappop(heap)
        if node in done or cost > bound:
            continue
        done[node] = cost
        for j in range(out_start[node], out_start[node + 1]):
            e = out_edges[j]
            if not edge_cost[e] < math.inf:
                continue
            new = cost + edge_cost[e]
            if new < dist.get(edge_to[e], math.inf):
                dist[edge_to[e]] = new
                heapq.heappush(heap, (new, edge_to[e]))
    return done


def segment_point(
    x: float, y: float, x0: float, y0: float, x1: float, y1: float
) -> tuple[float, float]:
    """(fraction along the segment of the nearest point, distance to it)."""
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    u = 0.0 if length2 == 0 else min(max(((x - x0) * dx + (y - y0) * dy) / length2, 0.0), 1.0)
    return u, math.hypot(x - (x0 + u * dx), y - (y0 + u * dy))


def edge_candidates(
    px: Floats,
    py: Floats,
    x0: Floats,
    y0: Floats,
    x1: Floats,
    y1: Floats,
    radius: float,
    max_k: int,
) -> list[list[tuple[int, float, float]]]:
    """Per point: (segment, fraction, distance) of the max_k nearest within radius."""
    out = []
    for x, y in zip(px, py, strict=True):
        found = []
        for s in range(len(x0)):
            u, d = segment_point(x, y, x0[s], y0[s], x1[s], y1[s])
            if d <= radius:
                found.append((d, s, u))
        found.sort()
        out.append([(s, u, d) for d, s, u in found[:max_k]])
    return out


def emission_logprob(dist: Floats, sigma: float) -> list[float]:
    return [-0.5 * (d / sigma) ** 2 for d in dist]


def transition_logprob(route: Floats, straight: Floats, beta: float) -> list[float]:
    return [
        -abs(r - s) / beta if r < math.inf else -math.inf
        for r, s in zip(route, straight, strict=True)
    ]


def route_distance(
    graph: tuple[Ints, Ints, Ints, Ints, Floats],
    ea: int,
    frac_a: float,
    eb: int,
    frac_b: float,
    bound: float,
    backward_tolerance: float,
) -> float:
    """Network distance from a point on edge ``ea`` to one on ``eb``; inf beyond bound."""
    out_start, out_edges, edge_from, edge_to, length = graph
    off_a, off_b = frac_a * length[ea], frac_b * length[eb]
    if ea == eb and off_b >= off_a - backward_tolerance:
        d = abs(off_b - off_a)
        return d if d <= bound else math.inf
    rest = length[ea] - off_a
    if rest > bound:
        return math.inf
    reach = dijkstra(out_start, out_edges, edge_to, length, edge_to[ea], bound - rest)
    d = rest + reach.get(edge_from[eb], math.inf) + off_b
    return d if d <= bound else math.inf


def viterbi(
    candidates: list[list[int]], emission: Floats, transition: dict[tuple[int, int], float]
) -> tuple[list[int], list[int]]:
    """``candidates[i]``: global candidate ids of point i; ``transition[(a, b)]`` log-prob."""
    score: dict[int, float] = {}
    back: dict[int, int] = {}
    restart = [False] * len(candidates)
    prev = None
    for i, cands in enumerate(candidates):
        if not cands:
            continue
        reached = False
        if prev is not None:
            for b in cands:
                options = [(score[a] + transition[(a, b)], a) for a in candidates[prev]]
                options = [(s, a) for s, a in options if s > -math.inf]
                if options:
                    best = max(s for s, _ in options)
                    arg = min(a for s, a in options if s == best)
                    score[b] = best + emission[b]
                    back[b] = arg
                    reached = True
                else:
                    score[b] = -math.inf
        if not reached:
            restart[i] = True
            for b in cands:
                score[b] = emission[b]
        prev = i
    choice = [-1] * len(candidates)
    follow = None
    for i in range(len(candidates) - 1, -1, -1):
        if not candidates[i]:
            continue
        if follow is None:
            best = max(score[b] for b in candidates[i])
            follow = min(b for b in candidates[i] if score[b] == best)
        choice[i] = follow
        follow = None if restart[i] else back[follow]
    segment, seg = [-1] * len(candidates), -1
    for i, c in enumerate(choice):
        if c >= 0:
            seg += restart[i]
            segment[i] = seg
    return choice, segment


def thin_points(x: Floats, y: Floats, min_step: float) -> list[bool]:
    keep, last = [], None
    for i in range(len(x)):
        ok = (
            last is None
            or i == len(x) - 1
            or math.hypot(x[i] - x[last], y[i] - y[last]) >= min_step
        )
        keep.append(ok)
        if ok:
            last = i
    return keep


def path_edges(pred_edge: Ints, edge_from: Ints, target: int) -> list[int]:
    """Follow the predecessor edges back from ``target``; return them in driving order."""
    path = []
    node = target
    while pred_edge[node] >= 0:
        path.append(pred_edge[node])
        node = edge_from[pred_edge[node]]
    return path[::-1]


def shortest_edge_path(
    out_start: Ints,
    out_edges: Ints,
    edge_from: Ints,
    edge_to: Ints,
    edge_length: Floats,
    source: int,
    target: int,
) -> list[int]:
    """Edges of a shortest path from ``source`` to ``target``; [] when none (or the same)."""
    best = {source: (0.0, None)}  # node -> (distance, edge it was reached by)
    heap = [(0.0, source)]
    done = set()
    while heap:
        cost, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        if node == target:
            break
        for j in range(out_start[node], out_start[node + 1]):
            e = out_edges[j]
            new = cost + edge_length[e]
            if new < best.get(edge_to[e], (math.inf, None))[0]:
                best[edge_to[e]] = (new, e)
                heapq.heappush(heap, (new, edge_to[e]))
    if target not in done:
        return []
    path, node = [], target
    while best[node][1] is not None:
        path.append(best[node][1])
        node = edge_from[best[node][1]]
    return path[::-1]


def fill_path(
    edge: Ints,
    offset: Floats,
    segment: Ints,
    graph: tuple,
    backward_tolerance: float,
) -> tuple[list[int], list[int]]:
    """Matched edges joined by shortest paths within a segment, as ``fill_path`` documents."""
    out_start, out_edges, edge_from, edge_to, edge_length = graph
    path, path_segment = [], []
    last = None
    for i, e in enumerate(edge):
        if e < 0:
            continue
        link = []
        if last is not None and segment[last] == segment[i]:
            if edge[last] == e and offset[i] >= offset[last] - backward_tolerance:
                last = i
                continue
            link = shortest_edge_path(
                out_start, out_edges, edge_from, edge_to, edge_length, edge_to[edge[last]],
                edge_from[e],
            )  # fmt: skip
        path += [*link, e]
        path_segment += [segment[i]] * (len(link) + 1)
        last = i
    return path, path_segment
