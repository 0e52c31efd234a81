"""The real road network a scenario day runs on, and the places found beside its roads.

The network is Guangzhou's Panyu district from OpenStreetMap (ODbL; ``sample_tracks/panyu-osm``).
``World`` adds what a simulated day needs: drivable arcs of the main connected component,
posted limits (NaN → the truck limit), fastest paths by free-flow time (lawful ones avoid the
restricted zone), a spatial index of road segments, and fenced places:

- *dead-end* places: a fence around the end of a real dead-end road (a yard reached by its
  own access road), crossed by no other road;
- *roadside* places: a yard beside a through road whose fence is drawn across that road, so
  trucks going by pass through the fence without stopping (as real fences drawn loosely do).

Coordinates are the network's projected metres (UTM zone 49N for Panyu).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Polygon

from cdw.roads.network import BUNDLED_NETWORK, DRIVABLE_HIGHWAYS, RoadNetwork
from cdw.roads.routing import cheapest_tree
from cdw.roads.sources import load_cache

TRUCK_LIMIT_KMH = 60.0  # Settings.thresholds.speed_limit_kmh
MAJOR = frozenset({"motorway", "trunk", "primary"})
LOCAL = ("service", "unclassified", "residential", "tertiary")
# Lawful paths keep this far from the restricted zone, so that no fix thrown by GPS noise
# (σ up to 20 m, multipath three times that) falls inside it off a road along its edge.
ZONE_MARGIN_M = 100.0


@lru_cache(maxsize=1)
def panyu() -> World:
    """The shipped Panyu world (``BUNDLED_NETWORK``), built once per process."""
    return World(load_cache(BUNDLED_NETWORK), BUNDLED_NETWORK)


@dataclass
class Place:
    """A fenced place: the network node a truck joins it at, the yard spot where it loads
    or tips, and the fence (projected)."""

    kind: str  # "dead_end" | "roadside"
    node: int
    spot: tuple[float, float]
    fence: Polygon
    name: str = ""
    code: str = ""
    record: dict[str, Any] = field(default_factory=dict)


class World:
    def __init__(self, net: RoadNetwork, path: Path) -> None:
        self.net, self.file = net, path
        self.x, self.y = net.node_x, net.node_y
        self._to_lonlat = Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
        classes = net.highway_classes[net.edge_highway]
        self.edge_class = classes
        drivable = np.isin(classes, sorted(DRIVABLE_HIGHWAYS)) & (net.edge_length_m > 0)
        n = net.n_nodes
        self._trees: dict[tuple[int, bool], tuple[np.ndarray, Callable[[int], np.ndarray]]] = {}
        self._turned = net.reversed()
        # the main component: every node reachable from the motorway node nearest the middle
        # of the district and back (a motorway node at the edge of the extract may be one
        # that the carriageway only leaves)
        self.edge_s = net.edge_travel_time_s  # free-flow seconds per arc, computed once
        self.free_s = np.where(drivable, self.edge_s, np.inf)
        motorway = np.unique(net.edge_from[drivable & (classes == "motorway")])
        middle = np.hypot(
            self.x[motorway] - np.median(self.x), self.y[motorway] - np.median(self.y)
        )
        start = int(motorway[np.argmin(middle)])
        self.in_main = self.both_ways(start, lawful=False)
        self.drivable = drivable & self.in_main[net.edge_from]
        # the posted limit; where none applies, the truck limit
        limit = net.edge_limit_kmh
        self.limit_kmh = np.where(np.isfinite(limit), limit, TRUCK_LIMIT_KMH)
        self.free_s = np.where(self.drivable, self.edge_s, np.inf)
        self.lawful_s = self.free_s
        # an undirected segment id per arc (both arcs of a road segment share it)
        lo, hi = np.minimum(net.edge_from, net.edge_to), np.maximum(net.edge_from, net.edge_to)
        key = lo * n + hi
        order = np.argsort(key, kind="stable")
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        self.segment = np.empty(net.n_edges, np.int64)
        self.segment[order] = np.cumsum(first) - 1
        rep = order[first]
        self.segs = np.flatnonzero(self.drivable[rep])
        arcs = rep[self.segs]
        self.seg_lines = shapely.linestrings(
            np.stack(
                [
                    np.c_[self.x[net.edge_from[arcs]], self.y[net.edge_from[arcs]]],
                    np.c_[self.x[net.edge_to[arcs]], self.y[net.edge_to[arcs]]],
                ],
                axis=1,
            )
        )
        self.seg_index = shapely.STRtree(self.seg_lines)
        deg_pairs = np.unique(np.c_[lo[self.drivable], hi[self.drivable]], axis=0)
        self.degree = np.bincount(deg_pairs.ravel(), minlength=n)
        self._adj_start = np.zeros(n + 1, np.int64)
        ends = np.r_[deg_pairs[:, 0], deg_pairs[:, 1]]
        other = np.r_[deg_pairs[:, 1], deg_pairs[:, 0]]
        o = np.argsort(ends, kind="stable")
        np.cumsum(np.bincount(ends, minlength=n), out=self._adj_start[1:])
        self._adj = other[o]
        mid = np.isin(classes, ["primary", "secondary", "tertiary"]) & self.drivable
        fast = np.isin(classes, ["motorway", "motorway_link", "trunk", "trunk_link"])
        touches_mid = np.zeros(n, bool)
        touches_mid[net.edge_from[mid]] = True
        touches_fast = np.zeros(n, bool)
        touches_fast[net.edge_from[fast]] = True
        # nodes of primaries, secondaries and tertiaries (no expressway): where yards face
        # through roads, and a third of the junctions are signalised
        self.on_main_road = touches_mid & ~touches_fast
        self.signal = (self.degree >= 3) & self.on_main_road & (np.arange(n) % 3 == 0)

    # --- geometry --------------------------------------------------------------------------

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._to_lonlat.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon), np.asarray(lat)

    def xy(self, node: int) -> tuple[float, float]:
        return float(self.x[node]), float(self.y[node])

    def neighbours(self, node: int) -> np.ndarray:
        return self._adj[self._adj_start[node] : self._adj_start[node + 1]]

    def polyline(self, edges: np.ndarray) -> np.ndarray:
        nodes = np.r_[self.net.edge_from[edges[:1]], self.net.edge_to[edges]]
        return np.c_[self.x[nodes], self.y[nodes]]

    def segments_near(self, geom: Any) -> np.ndarray:
        """Undirected segment ids of the roads ``geom`` touches."""
        hits = self.seg_index.query(geom, predicate="intersects")
        return self.segs[hits]

    # --- routing ---------------------------------------------------------------------------

    def set_zone(self, zone: Polygon) -> None:
        """Lawful paths avoid every road segment within ``ZONE_MARGIN_M`` of ``zone``."""
        self.lawful_s = self.free_s.copy()
        hit = np.isin(self.segment, self.segments_near(zone.buffer(ZONE_MARGIN_M)))
        self.lawful_s[hit] = np.inf
        self._trees.clear()

    def path(
        self, a: int, b: int, *, lawful: bool = True, cost: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Fastest arcs from node ``a`` to ``b`` (free-flow time); lawful paths avoid the
        zone; None when ``b`` cannot be reached. A full tree per source is kept."""
        if a == b:
            return np.zeros(0, np.int64)
        if cost is not None:
            tree, arcs_to = cheapest_tree(self.net, cost, a, b)
        else:
            tree, arcs_to = self._tree(a, lawful)
        return arcs_to(b) if tree[b] >= 0 else None

    def both_ways(self, a: int, *, lawful: bool = True) -> np.ndarray:
        """Per node: True where a truck can drive from ``a`` to it and back again (one-way
        carriageways only their way); True at ``a``."""
        cost = self.lawful_s if lawful else self.free_s
        there = cheapest_tree(self.net, cost, a)[0] >= 0
        back = cheapest_tree(self._turned, cost, a)[0] >= 0
        out = there & back
        out[a] = True
        return out

    def _tree(self, a: int, lawful: bool) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
        """The fastest paths from ``a``, computed once."""
        key = (a, lawful)
        if key not in self._trees:
            self._trees[key] = cheapest_tree(self.net, self.lawful_s if lawful else self.free_s, a)
        return self._trees[key]

    def travel_s(self, edges: np.ndarray) -> float:
        return float(self.edge_s[edges].sum())

    # --- places ----------------------------------------------------------------------------

    def _chain_back(self, end: int, max_m: float) -> tuple[list[int], float] | None:
        """Nodes from dead end ``end`` back along its road while nodes have degree 2."""
        nodes, length, prev = [end], 0.0, -1
        node = end
        while length < max_m:
            nxt = [m for m in self.neighbours(node).tolist() if m != prev]
            if len(nxt) != 1:
                break
            prev, node = node, nxt[0]
            length += math.dist(self.xy(prev), self.xy(node))
            nodes.append(node)
            if self.degree[node] != 2:
                break
        return (nodes, length) if len(nodes) >= 2 else None

    def arc(self, u: int, v: int) -> int:
        """The arc from node ``u`` to its neighbour ``v``; -1 where the road between them is
        one-way the other way."""
        arcs = self.net.out_edges[self.net.out_start[u] : self.net.out_start[u + 1]]
        found = arcs[self.net.edge_to[arcs] == v]
        return int(found[0]) if found.size else -1

    def arcs(self, nodes: list[int]) -> np.ndarray | None:
        """The arcs from each node of ``nodes`` to the next; None where one of them would run
        against a one-way road."""
        out = [self.arc(u, v) for u, v in pairwise(nodes)]
        return None if -1 in out else np.array(out, np.int64)

    def _segments_of(self, nodes: list[int]) -> frozenset[int]:
        """The road segments between consecutive ``nodes``, whichever way they run."""
        return frozenset(
            int(self.segment[max(self.arc(u, v), self.arc(v, u))]) for u, v in pairwise(nodes)
        )

    def dead_end_place(
        self, end: int, rng: np.random.Generator, size: tuple[float, float]
    ) -> Place | None:
        """A yard around dead end ``end``: the fence holds only the end of its access road."""
        if self.degree[end] != 1 or not self.in_main[end]:
            return None
        back = self._chain_back(end, 400.0)
        if back is None or back[1] < 150.0:
            return None
        nodes, _ = back
        line = LineString([self.xy(n) for n in nodes])
        ex, ey = self.xy(end)
        bx, by = line.interpolate(min(60.0, line.length)).coords[0]
        ux, uy = ex - bx, ey - by
        norm = math.hypot(ux, uy) or 1.0
        ux, uy = ux / norm, uy / norm
        behind = float(rng.uniform(40.0, 70.0))
        ahead = float(rng.uniform(*size))
        half = float(rng.uniform(size[0] * 0.5, size[1] * 0.5))
        fence = _rectangle(ex, ey, ux, uy, -behind, ahead, -half, half)
        chain = self._segments_of(nodes)
        if not set(self.segments_near(fence).tolist()) <= chain:
            return None
        if line.intersection(fence.exterior).geom_type != "Point":
            return None  # the access road enters the yard once
        into = min(ahead * 0.5, 40.0)
        spot = (ex + ux * into, ey + uy * into)
        return Place("dead_end", end, spot, fence)

    def roadside_place(
        self, node: int, rng: np.random.Generator, size: tuple[float, float]
    ) -> Place | None:
        """A yard beside the through road at ``node`` whose fence is drawn across that road."""
        if self.degree[node] != 2 or not self.in_main[node]:
            return None
        a, b = self.neighbours(node).tolist()
        left = self._chain_back_from(node, a)
        right = self._chain_back_from(node, b)
        (ax, ay), (bx, by) = self.xy(left[-1]), self.xy(right[-1])
        ux, uy = bx - ax, by - ay
        norm = math.hypot(ux, uy)
        if norm < 200:
            return None
        ux, uy = ux / norm, uy / norm
        nx_, ny_ = -uy, ux
        if rng.random() < 0.5:
            nx_, ny_ = -nx_, -ny_
        x, y = self.xy(node)
        half = float(rng.uniform(60.0, 110.0))
        depth = float(rng.uniform(*size))
        fence = _rectangle(x, y, ux, uy, -half, half, -float(rng.uniform(15, 30)), depth, nx_, ny_)
        chain = self._segments_of(left[::-1] + [node] + right)
        if not set(self.segments_near(fence).tolist()) <= chain:
            return None
        into = float(rng.uniform(50.0, min(90.0, depth - 20)))
        spot = (x + nx_ * into, y + ny_ * into)
        return Place("roadside", node, spot, fence)

    def _chain_back_from(self, node: int, first: int, max_m: float = 250.0) -> list[int]:
        nodes, prev, cur, length = [first], node, first, math.dist(self.xy(node), self.xy(first))
        while self.degree[cur] == 2 and length < max_m:
            nxt = [m for m in self.neighbours(cur).tolist() if m != prev][0]
            length += math.dist(self.xy(cur), self.xy(nxt))
            prev, cur = cur, nxt
            nodes.append(cur)
        return nodes


def _rectangle(
    x: float,
    y: float,
    ux: float,
    uy: float,
    a0: float,
    a1: float,
    b0: float,
    b1: float,
    nx_: float | None = None,
    ny_: float | None = None,
) -> Polygon:
    """The rectangle ``a0..a1`` along (ux, uy) and ``b0..b1`` across it from (x, y)."""
    if nx_ is None:
        nx_, ny_ = -uy, ux
    corners = [(a0, b0), (a1, b0), (a1, b1), (a0, b1)]
    return Polygon([(x + a * ux + b * nx_, y + a * uy + b * ny_) for a, b in corners])
