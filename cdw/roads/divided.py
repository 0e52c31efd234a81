"""Divided roads whose direction was lost: infer which way each carriageway runs.

OSM draws a divided road (a motorway, a dual-carriageway trunk, primary or secondary
road) as two ways, one per carriageway, each ``oneway``. A network that lost ``oneway`` (the Panyu
tables: every edge two-way) lets a router or the matcher drive either carriageway either
way, and the two lie so close (8–40 m) that GPS cannot tell them apart. China drives on
the right, so a carriageway has the other one on its LEFT in its direction of travel.

``infer_divided_oneway`` finds such pairs: two roads (chains of arcs between junctions)
of the same divided class that run parallel ``MIN_SPACING_M``–``MAX_SPACING_M`` apart
along at least half of the length of the two-way one, the other road on one side only
there. Each such road keeps the arcs of the direction that has its twin on its left and
becomes one-way. A road with parallel roads of its class on both sides (the middle of
three), or along too little of its length, or of another class, stays two-way: a wrong
one-way is worse than none.

Only arterial classes count: they are not built twice side by side except as one divided
road, while local streets are (along both banks of a canal, in estates). Checked on the
Nanjing Xuanwu extract, whose OSM ``oneway`` tags are kept, with its directions removed:
the primary and trunk carriageways come back one-way the right way (4.1 of 4.2 km) and
no arterial road is made one-way wrongly, while counting residential and service
streets would make 0.6 km of two-way streets one-way.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np

from cdw.roads import _kernels as k
from cdw.roads.network import RoadNetwork, _out_arcs

# Classes OSM draws as one way per carriageway where the road is divided.
DIVIDED_CLASSES = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
    }
)
MIN_SPACING_M = 4.0  # centre lines nearer than this are one road drawn twice, not a pair
MAX_SPACING_M = 40.0  # a median wider than this is two roads, not one divided road
PARALLEL_DEG = 20.0  # most a carriageway turns away from its twin
SAMPLE_M = 10.0  # a road is checked at points this far apart
MIN_SHARE = 0.5  # of a road's length that must lie beside its twin, and only its twin
MIN_EVIDENCE_M = 50.0  # and at least this length of it
ONE_SIDE_SHARE = 0.9  # of that length with the twin on the same side


def divided_directions(net: RoadNetwork) -> np.ndarray:
    """Per arc: True where it is the wrong way along a carriageway of a divided road
    (its twin on its right), so that dropping those arcs leaves each carriageway one-way
    in the direction traffic drives it on the right."""
    wrong = np.zeros(net.n_edges, bool)
    if net.n_edges == 0:
        return wrong
    start, arcs, arc_chain, _, _, _, _, length, reverse = k.build_chains(
        net.edge_from, net.edge_to, net.edge_length_m, net.out_start, net.out_edges
    )
    eligible = np.array([str(c) in DIVIDED_CLASSES for c in net.highway_classes])
    eligible_chain = np.add.reduceat(eligible[net.edge_highway[arcs]], start[:-1]) > 0
    # a road: a two-way chain and its reverse, seen from the lower of the two, or a
    # one-way chain (a twin, never decided again)
    ids = np.arange(reverse.size)
    road = np.flatnonzero(((reverse > ids) | (reverse < 0)) & eligible_chain)
    two_way = reverse[road] >= 0
    if not two_way.any():
        return wrong
    sample_x, sample_y, sample_w, sample_dx, sample_dy, sample_road, sample_class = _samples(
        net, start, arcs, road
    )
    left, right = _twin_sides(
        net, start, arcs, road, eligible, sample_x, sample_y, sample_dx, sample_dy,
        sample_road, sample_class,
    )  # fmt: skip
    on_left = np.bincount(sample_road, sample_w * (left & ~right), minlength=road.size)
    on_right = np.bincount(sample_road, sample_w * (right & ~left), minlength=road.size)
    beside = on_left + on_right  # (points with roads on both sides tell nothing)
    decided = two_way & (beside >= MIN_SHARE * length[road]) & (beside >= MIN_EVIDENCE_M)
    forward = decided & (on_left >= ONE_SIDE_SHARE * beside)
    backward = decided & (on_right >= ONE_SIDE_SHARE * beside)
    for c in np.concatenate((reverse[road[forward]], road[backward])):
        wrong[arcs[start[c] : start[c + 1]]] = True
    return wrong


def infer_divided_oneway(net: RoadNetwork) -> RoadNetwork:
    """A copy where each carriageway of a divided road found by ``divided_directions``
    keeps only the arcs of its driving direction, marked one-way; roads already one-way
    and every other road are as they were (the network itself where nothing is found).
    Meant for networks that lost their directions: arc ids change."""
    wrong = divided_directions(net)
    if not wrong.any():
        return net
    keep = ~wrong
    changed = np.zeros(net.n_edges, bool)
    reverse = net.arc_reverse()
    changed[reverse[wrong]] = True
    oneway = net.edge_oneway | changed
    per_edge = {
        f.name: getattr(net, f.name)[keep]
        for f in fields(net)
        if f.name.startswith("edge_") and f.name != "edge_oneway"
    }
    out_start, out_edges = _out_arcs(per_edge["edge_from"], net.n_nodes)
    return replace(
        net, **per_edge, edge_oneway=oneway[keep], out_start=out_start, out_edges=out_edges
    )


def _samples(
    net: RoadNetwork, start: np.ndarray, arcs: np.ndarray, road: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Points every ``SAMPLE_M`` along the roads' arcs (each arc's share of its length
    split evenly among its points), with the arc's unit direction, the road index and
    the arc's class."""
    counts = start[road + 1] - start[road]
    road_arcs = arcs[np.concatenate([np.arange(start[c], start[c + 1]) for c in road])]
    arc_road = np.repeat(np.arange(road.size), counts)
    a, b = net.edge_from[road_arcs], net.edge_to[road_arcs]
    x0, y0 = net.node_x[a], net.node_y[a]
    dx, dy = net.node_x[b] - x0, net.node_y[b] - y0
    arc_len = np.hypot(dx, dy)
    n = np.maximum(1, np.round(arc_len / SAMPLE_M)).astype(np.int64)
    which = np.repeat(np.arange(road_arcs.size), n)
    first = np.repeat(np.cumsum(n) - n, n)
    t = (np.arange(which.size) - first + 0.5) / n[which]
    safe = np.where(arc_len > 0, arc_len, 1.0)
    return (
        x0[which] + t * dx[which],
        y0[which] + t * dy[which],
        net.edge_length_m[road_arcs][which] / n[which],
        (dx / safe)[which],
        (dy / safe)[which],
        arc_road[which],
        net.edge_highway[road_arcs][which],
    )


def _twin_sides(
    net: RoadNetwork,
    start: np.ndarray,
    arcs: np.ndarray,
    road: np.ndarray,
    eligible: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pdx: np.ndarray,
    pdy: np.ndarray,
    p_road: np.ndarray,
    p_class: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample point on an arc of a divided class (``eligible``): whether an arc of
    another road and of the same class runs parallel ``MIN_SPACING_M``..
    ``MAX_SPACING_M`` away on its left, and whether one does on its right (in the
    direction of its road's lower chain)."""
    import shapely

    counts = start[road + 1] - start[road]
    seg = arcs[np.concatenate([np.arange(start[c], start[c + 1]) for c in road])]
    seg_road = np.repeat(np.arange(road.size), counts)
    a, b = net.edge_from[seg], net.edge_to[seg]
    ax, ay, bx, by = net.node_x[a], net.node_y[a], net.node_x[b], net.node_y[b]
    lines = shapely.linestrings(
        np.stack((np.column_stack((ax, ay)), np.column_stack((bx, by))), axis=1)
    )
    tree = shapely.STRtree(lines)
    pi, sj = tree.query(shapely.points(px, py), predicate="dwithin", distance=MAX_SPACING_M)
    left = np.zeros(px.size, bool)
    right = np.zeros(px.size, bool)
    if pi.size == 0:
        return left, right
    sdx, sdy = bx[sj] - ax[sj], by[sj] - ay[sj]
    slen = np.hypot(sdx, sdy)
    ok = (seg_road[sj] != p_road[pi]) & (net.edge_highway[seg[sj]] == p_class[pi])
    ok &= eligible[p_class[pi]]
    ok &= np.abs(pdx[pi] * sdx + pdy[pi] * sdy) >= math.cos(math.radians(PARALLEL_DEG)) * slen
    # nearest point of the segment and the offset to it
    l2 = np.where(slen > 0, slen * slen, 1.0)
    u = np.clip(((px[pi] - ax[sj]) * sdx + (py[pi] - ay[sj]) * sdy) / l2, 0.0, 1.0)
    ox, oy = ax[sj] + u * sdx - px[pi], ay[sj] + u * sdy - py[pi]
    gap = np.hypot(ox, oy)
    cross = pdx[pi] * oy - pdy[pi] * ox  # across the road: + to its left
    # beside it, not ahead (a road's own continuation past a junction is no twin)
    ok &= (gap >= MIN_SPACING_M) & (gap <= MAX_SPACING_M)
    ok &= np.abs(cross) >= math.cos(math.radians(PARALLEL_DEG)) * gap
    cross = cross[ok]
    left[pi[ok][cross > 0]] = True
    right[pi[ok][cross < 0]] = True
    return left, right
