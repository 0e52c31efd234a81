"""Plain-Python twins of the Numba kernels in ``cdw.roads._kernels``, written from each
kernel's documented contract (not from its code); used only by the tests.

Routes are measured on the arc graph itself: a point ``o`` metres along arc ``e`` reaches
a point on arc ``f`` by driving the rest of ``e``, a shortest arc path from ``e``'s end
node to ``f``'s start node, and ``f`` up to the point. Turning round happens at nodes, by
taking the arc back, never in the middle of an arc.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

import numpy as np

Ints = Sequence[int]
Floats = Sequence[float]


# --- shortest paths -------------------------------------------------------------------


def dijkstra(
    out_start: Ints,
    out_edges: Ints,
    edge_to: Ints,
    edge_cost: Floats,
    sources: Ints,
    source_cost: Floats,
    bound: float,
) -> dict[int, float]:
    """Exact distance of every node within ``bound`` of the nearest source, each source
    starting at its own cost; edges of infinite cost are closed."""
    best: dict[int, float] = {}
    for s, c in zip(sources, source_cost, strict=True):
        best[s] = min(best.get(s, math.inf), c)
    heap = [(c, s) for s, c in best.items()]
    heapq.heapify(heap)
    done: dict[int, float] = {}
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
            if new < best.get(edge_to[e], math.inf):
                best[edge_to[e]] = new
                heapq.heappush(heap, (new, edge_to[e]))
    return done


def path_edges(pred_edge: Ints, edge_from: Ints, target: int) -> list[int]:
    """Follow the predecessor edges back from ``target``; return them in driving order."""
    path = []
    node = target
    while pred_edge[node] >= 0:
        path.append(pred_edge[node])
        node = edge_from[pred_edge[node]]
    return path[::-1]


def distance_table(
    out_start: Ints, out_edges: Ints, edge_to: Ints, edge_cost: Floats, limit: float
) -> list[dict[int, float]]:
    """Per node, every node within ``limit`` of it and the distance."""
    return [
        dijkstra(out_start, out_edges, edge_to, edge_cost, [u], [0.0], limit)
        for u in range(len(out_start) - 1)
    ]


def tier_table(
    start: np.ndarray, node: np.ndarray, dist: np.ndarray, pred: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A ``distance_table`` with one tier a row cut into ``TABLE_TIERS`` tiers by distance
    after the fact (a sort by row, tier and node): what ``distance_table`` with tiers gives."""
    from cdw.roads._kernels import TABLE_TIERS

    n = start.size - 1
    row = np.repeat(np.arange(n), np.diff(start))
    tops = np.array([limit / 2.0 ** (TABLE_TIERS - 1 - j) for j in range(TABLE_TIERS - 1)])
    tier = row * TABLE_TIERS + np.searchsorted(tops, dist, side="left")
    order = np.lexsort((node, tier))
    tier_start = np.zeros(n * TABLE_TIERS + 1, np.int64)
    np.cumsum(np.bincount(tier, minlength=n * TABLE_TIERS), out=tier_start[1:])
    return tier_start, node[order], dist[order], pred[order]


def shortest_edge_path(
    out_start: Ints,
    out_edges: Ints,
    edge_from: Ints,
    edge_to: Ints,
    edge_length: Floats,
    source: int,
    target: int,
) -> list[int] | None:
    """Edges of a shortest path from ``source`` to ``target``: [] for the same node, None
    when there is none."""
    best = {source: (0.0, -1)}  # node -> (distance, edge it was reached by)
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
            if new < best.get(edge_to[e], (math.inf, -1))[0]:
                best[edge_to[e]] = (new, e)
                heapq.heappush(heap, (new, edge_to[e]))
    if target not in done:
        return None
    path, node = [], target
    while best[node][1] >= 0:
        path.append(best[node][1])
        node = edge_from[best[node][1]]
    return path[::-1]


# --- chains ---------------------------------------------------------------------------


def pass_through(n_nodes: int, edge_from: Ints, edge_to: Ints) -> dict[int, int]:
    """For each arc ending at a node a road only passes through, the arc that continues it.

    A node passes through with one arc in and one out, from and to two other nodes
    (one-way), or two in and two out, from and to the same two other nodes (two-way);
    there the arc from ``u`` continues with the arc that does not go back to ``u``.
    """
    arcs_in: list[list[int]] = [[] for _ in range(n_nodes)]
    arcs_out: list[list[int]] = [[] for _ in range(n_nodes)]
    for e, (u, v) in enumerate(zip(edge_from, edge_to, strict=True)):
        arcs_out[u].append(e)
        arcs_in[v].append(e)
    follow = {}
    for v in range(n_nodes):
        came = [edge_from[e] for e in arcs_in[v]]
        goes = [edge_to[e] for e in arcs_out[v]]
        if len(came) == 1 and len(goes) == 1 and len({came[0], goes[0], v}) == 3:
            follow[arcs_in[v][0]] = arcs_out[v][0]
        elif len(came) == 2 and sorted(came) == sorted(goes) and len({*came, v}) == 3:
            for e in arcs_in[v]:
                (onward,) = [f for f in arcs_out[v] if edge_to[f] != edge_from[e]]
                follow[e] = onward
    return follow


def build_chains(n_nodes: int, edge_from: Ints, edge_to: Ints) -> set[tuple[int, ...]]:
    """Maximal runs of arcs through pass-through nodes, each as its arcs in driving order.

    A run starts at an arc leaving a node that is not pass-through (a junction or a dead
    end); runs made only of pass-through nodes are closed loops, started at their lowest
    arc, and a two-way loop's other direction at the reverse of that run's last arc.
    """
    follow = pass_through(n_nodes, edge_from, edge_to)
    continued = set(follow.values())  # arcs that leave a pass-through node
    chains = set()
    used: set[int] = set()
    for first in [e for e in range(len(edge_from)) if e not in continued] + sorted(continued):
        start: int | None = first
        while start is not None and start not in used:
            chain = [start]
            while chain[-1] in follow and follow[chain[-1]] != start:
                chain.append(follow[chain[-1]])
            used.update(chain)
            chains.add(tuple(chain))
            start = None
            if first in continued:  # a loop: its other direction, if two-way
                last = chain[-1]
                backs = [
                    e
                    for e in range(len(edge_from))
                    if edge_from[e] == edge_to[last] and edge_to[e] == edge_from[last]
                ]
                start = backs[0] if backs else None
    return chains


def chain_reverses(
    chains: Sequence[tuple[int, ...]], edge_from: Ints, edge_to: Ints
) -> list[set[int]]:
    """Per chain, the chains that drive its arcs the other way (arc ``k`` reversed is arc
    ``n-1-k`` of the other; never itself). Parallel arcs may give several."""
    out = []
    for c, arcs in enumerate(chains):
        found = set()
        for r, other in enumerate(chains):
            if (
                r != c
                and len(other) == len(arcs)
                and all(
                    edge_from[other[-1 - q]] == edge_to[e]
                    and edge_to[other[-1 - q]] == edge_from[e]
                    for q, e in enumerate(arcs)
                )
            ):
                found.add(r)
        out.append(found)
    return out


# --- candidates -----------------------------------------------------------------------


def segment_point(
    x: float, y: float, x0: float, y0: float, x1: float, y1: float
) -> tuple[float, float]:
    """(fraction along the segment of the nearest point, distance to it)."""
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    u = 0.0 if length2 == 0 else min(max(((x - x0) * dx + (y - y0) * dy) / length2, 0.0), 1.0)
    ex, ey = x - (x0 + u * dx), y - (y0 + u * dy)
    return u, math.sqrt(ex * ex + ey * ey)


def edge_candidates(
    px: Floats,
    py: Floats,
    x0: Floats,
    y0: Floats,
    x1: Floats,
    y1: Floats,
    road: Ints,
    along0: Floats,
    along1: Floats,
    radius: float,
    max_k: int,
    near: float,
    cap: int,
) -> list[list[tuple[int, float, float]]]:
    """Per point: (segment, fraction, distance) of the nearest segment within ``radius``
    of each part of a road, nearest first (ties: the lower segment): the ``max_k``
    nearest, or all within ``near`` where those are more, and never more than ``cap``.

    A part is a road and the bucket, ``2 * radius`` long, that the segment's nearest
    point lies in along the road (``along0`` at the segment's start to ``along1`` at its
    end); a part is left out where a part of the same road in a neighbouring bucket is
    nearer."""
    out = []
    for x, y in zip(px, py, strict=True):
        parts: dict[tuple[int, int], tuple[float, int, float]] = {}
        if math.isfinite(x) and math.isfinite(y):
            for s in range(len(x0)):
                u, d = segment_point(x, y, x0[s], y0[s], x1[s], y1[s])
                if d <= radius:
                    along = along0[s] + u * (along1[s] - along0[s])
                    key = (road[s], math.floor(along / (2.0 * radius)))
                    parts[key] = min(parts.get(key, (math.inf, 0, 0.0)), (d, s, u))
        found = sorted((v, key) for key, v in parts.items())
        kept = [
            (d, s, u)
            for (d, s, u), (r, b) in found
            if not any(
                r2 == r and abs(b2 - b) == 1 and (d2, s2) < (d, s)
                for (d2, s2, _), (r2, b2) in found
            )
        ]
        n_near = sum(d <= near for d, _, _ in kept)
        kept = kept[: min(cap, max(max_k, n_near))]
        out.append([(s, u, d) for d, s, u in kept])
    return out


def directed_candidates(
    candidates: list[list[tuple[int, float, float]]],
    heading: Floats,
    speed: Floats,
    reverse: Ints,
    bearing: Floats,
    min_speed: float,
) -> list[list[tuple[int, float, float, float]]]:
    """Per point: (arc, fraction, distance, turn) of each candidate's arc and then its
    reverse; where the point has a heading (degrees) and a speed of at least
    ``min_speed``, only the one whose bearing (radians) is nearer it (ties: the arc
    found). ``agree``: the cosine of the angle between heading and bearing, NaN without."""
    out = []
    for cands, h, v in zip(candidates, heading, speed, strict=True):
        known = math.isfinite(h) and v >= min_speed
        row = []
        for e, u, d in cands:
            options = [(e, u)] + ([(reverse[e], 1.0 - u)] if reverse[e] >= 0 else [])
            turns = [_angle(math.radians(h), bearing[a]) if known else math.nan for a, _ in options]
            if known and len(options) == 2:
                pick = 1 if turns[1] < turns[0] else 0
                options, turns = [options[pick]], [turns[pick]]
            row += [(a, f, d, math.cos(t)) for (a, f), t in zip(options, turns, strict=True)]
        out.append(row)
    return out


def _angle(a: float, b: float) -> float:
    """The angle between two directions (radians), 0..pi."""
    diff = abs(a - b) % (2 * math.pi)
    return min(diff, 2 * math.pi - diff)


# --- hidden Markov model ----------------------------------------------------------------


def emission_logprob(dist: Floats, sigma: float) -> list[float]:
    return [-0.5 * (d / sigma) ** 2 for d in dist]


def heading_logprob(agree: Floats, kappa: float, floor: float) -> list[float]:
    """log of a von Mises density (the cosine of the angle: ``agree``) mixed with a
    uniform share ``floor``, 0 at no turn."""
    return [
        math.log((1 - floor) * math.exp(kappa * (a - 1)) + floor) if math.isfinite(a) else 0.0
        for a in agree
    ]


def transition_logprob(
    route: Floats, straight: Floats, beta: float, floor: float, factor: float, slack: float
) -> list[float]:
    """log of an exponential density in |route - straight| (scale beta) mixed with a share
    ``floor`` of routes uniform up to the bound factor * straight + slack (at least beta),
    relative to the exponential's density at 0; -|route - straight| / beta at floor 0."""
    out = []
    for r, s in zip(route, straight, strict=True):
        if not r < math.inf:
            out.append(-math.inf)
        elif floor == 0:
            out.append(-abs(r - s) / beta)
        else:
            uniform = 1 / max(factor * s + slack, beta)
            exponential = math.exp(-abs(r - s) / beta) / beta
            out.append(math.log(((1 - floor) * exponential + floor * uniform) * beta))
    return out


def route_distance(
    graph: tuple[Ints, Ints, Ints, Ints, Floats],
    table: list[dict[int, float]],
    arc_chain: Ints,
    arc_offset: Floats,
    ea: int,
    oa: float,
    eb: int,
    ob: float,
    backward_tolerance: float,
) -> tuple[float, bool]:
    """Distance from ``oa`` metres along arc ``ea`` to ``ob`` along ``eb``, and whether
    it is exact (False: the matcher may measure more, see below).

    ``table`` holds every node-to-node distance of the arc graph. Two points on the same
    chain with the second ahead, or behind by at most ``backward_tolerance`` (GPS
    jitter), are the distance between them along the chain. A point behind on the same
    chain beyond the tolerance is reached through the arc graph; the matcher does not
    turn round twice inside one chain, so it may measure more than that.
    """
    _, _, edge_from, edge_to, length = graph
    pa, pb = arc_offset[ea] + oa, arc_offset[eb] + ob
    if arc_chain[ea] == arc_chain[eb] and pb >= pa - backward_tolerance:
        return abs(pb - pa), True
    d = (length[ea] - oa) + table[edge_to[ea]].get(edge_from[eb], math.inf) + ob
    return d, arc_chain[ea] != arc_chain[eb]


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


def fill_path(
    arc: Ints,
    offset: Floats,
    segment: Ints,
    graph: tuple[Ints, Ints, Ints, Ints, Floats],
    chains: Sequence[tuple[int, ...]],
    arc_chain: Ints,
    arc_offset: Floats,
    backward_tolerance: float,
) -> tuple[list[int], list[int], list[tuple[int, int]], set[int]]:
    """The arc path through matched points (``arc >= 0``, ``offset`` metres along it):
    ``(path, path_segment, stops, inexact)``; ``stops`` lists (segment, arc) of the points
    the path goes on from, in order.

    A segment's first point gives its arc; each later one is reached from the point
    before as ``route_distance`` measures: ahead on the same chain along its arcs (back
    within the tolerance, or onto the arc ending where it stands, adds nothing and leaves
    the path at the point before), else by a shortest arc path (None: unreachable, the arc
    alone). Segments
    with a step behind on the same chain beyond the tolerance are ``inexact``: the matcher
    may drive farther there.
    """
    out_start, out_edges, edge_from, edge_to, length = graph
    path: list[int] = []
    path_segment: list[int] = []
    stops: list[tuple[int, int]] = []
    inexact: set[int] = set()
    last = None
    for i, e in enumerate(arc):
        if e < 0:
            continue
        if last is None or segment[last] != segment[i]:
            path.append(e)
            path_segment.append(segment[i])
            stops.append((segment[i], e))
            last = i
            continue
        a = arc[last]
        pa, pb = arc_offset[a] + offset[last], arc_offset[e] + offset[i]
        if arc_chain[a] == arc_chain[e] and pb >= pa - backward_tolerance:
            arcs = chains[arc_chain[a]]
            if pb >= pa and arcs.index(e) >= arcs.index(a):
                link = list(arcs[arcs.index(a) + 1 : arcs.index(e) + 1])
                path += link
                path_segment += [segment[i]] * len(link)
                if link:
                    stops.append((segment[i], e))
                last = i
            continue
        link = shortest_edge_path(
            out_start, out_edges, edge_from, edge_to, length, edge_to[a], edge_from[e]
        )
        if arc_chain[a] == arc_chain[e]:
            inexact.add(segment[i])
        link = [*(link or []), e]
        path += link
        path_segment += [segment[i]] * len(link)
        stops.append((segment[i], e))
        last = i
    return path, path_segment, stops, inexact
