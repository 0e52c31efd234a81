"""Truck-aware routes for permits: the best route by travel time and distinct alternatives.

Restrictions remove edges before the search: hgv=no, a maxweight below the vehicle's
weight, excluded road classes, banned edges, and every edge that touches a restricted
zone. Alternatives come from the penalty method: the edges of each route found are made
dearer and the search repeated; a new route is kept when it shares at most
``max_shared_share`` of its length with every route kept so far and takes at most
``max_time_ratio`` times the best route's time.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from cdw.errors import Problem, ValidationFailed
from cdw.roads import _kernels as k
from cdw.roads.matching import MapMatcher, MatchParams, MatchResult, digest_arrays, keep_file
from cdw.roads.network import HIGHWAY_ZH, RoadNetwork

log = logging.getLogger(__name__)

PENALTY_FACTOR = 1.5
MAX_PENALTY_ROUNDS = 20
# Spacing (m) of the points an officer's line is cut into before matching.
SNAP_STEP_M = 20.0


@dataclass(frozen=True)
class RouteRestrictions:
    """What a route for one vehicle must avoid. Zones are polygons in lon/lat."""

    vehicle_weight_t: float | None = None
    heavy_goods_vehicle: bool = True
    excluded_classes: frozenset[str] = frozenset()
    banned_edges: frozenset[int] = frozenset()
    restricted_zones: tuple[BaseGeometry, ...] = ()


@dataclass(frozen=True)
class RouteProposal:
    """One route: its lon/lat line, edges in driving order, length and free-flow time."""

    geometry: LineString
    edge_ids: tuple[int, ...]
    length_m: float
    travel_time_s: float

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature for ``Permit.routes``."""
        return {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(self.geometry),
            "properties": {
                "edge_ids": list(self.edge_ids),
                "length_m": round(self.length_m, 1),
                "travel_time_s": round(self.travel_time_s, 1),
            },
        }


@dataclass(frozen=True)
class SnappedRoute:
    """An officer-drawn line mapped onto the network, and the restrictions it breaks."""

    proposal: RouteProposal | None
    violations: list[Problem] = field(default_factory=list)


def allowed_edges(network: RoadNetwork, restrictions: RouteRestrictions) -> np.ndarray:
    """True for each edge the vehicle may use."""
    ok = np.ones(network.n_edges, bool)
    for _field, _zh, _en, hit in _restriction_hits(network, restrictions):
        ok &= ~hit
    return ok


def _restriction_hits(
    network: RoadNetwork, r: RouteRestrictions
) -> list[tuple[str, str, str, np.ndarray]]:
    """(field, zh, en, edge mask) for each kind of restriction."""
    hits = []
    if r.heavy_goods_vehicle:
        hits.append(
            (
                "hgv",
                "禁止货车通行（hgv=no）",
                "closed to heavy goods vehicles (hgv=no)",
                network.edge_hgv_no,
            )
        )
    if r.vehicle_weight_t is not None:
        with np.errstate(invalid="ignore"):
            over = network.edge_maxweight_t < r.vehicle_weight_t
        hits.append(
            ("maxweight", f"限重低于车辆重量 {r.vehicle_weight_t:g} 吨",
             f"weight limit below the vehicle's {r.vehicle_weight_t:g} t", over)
        )  # fmt: skip
    if r.excluded_classes:
        excluded = np.isin(network.highway_classes, sorted(r.excluded_classes))
        hits.append(
            ("highway", "道路等级已被排除", "road class excluded", excluded[network.edge_highway])
        )
    if r.banned_edges:
        banned = np.zeros(network.n_edges, bool)
        ids = np.array(sorted(r.banned_edges), np.int64)
        banned[ids[(ids >= 0) & (ids < network.n_edges)]] = True
        hits.append(("banned_edges", "禁行道路", "banned road", banned))
    if r.restricted_zones:
        hits.append(
            (
                "restricted_zones",
                "穿越禁区",
                "crosses a restricted zone",
                _edges_in_zones(network, r.restricted_zones),
            )
        )
    return hits


def _edges_in_zones(network: RoadNetwork, zones: Sequence[BaseGeometry]) -> np.ndarray:
    """Edges whose segment intersects any zone (polygons in lon/lat)."""
    hit = np.zeros(network.n_edges, bool)
    lon0, lat0 = network.node_lon[network.edge_from], network.node_lat[network.edge_from]
    lon1, lat1 = network.node_lon[network.edge_to], network.node_lat[network.edge_to]
    for zone in zones:
        minx, miny, maxx, maxy = zone.bounds
        near = np.flatnonzero(
            (np.maximum(lon0, lon1) >= minx) & (np.minimum(lon0, lon1) <= maxx)
            & (np.maximum(lat0, lat1) >= miny) & (np.minimum(lat0, lat1) <= maxy)
        )  # fmt: skip
        if near.size:
            coords = np.stack(
                [np.c_[lon0[near], lat0[near]], np.c_[lon1[near], lat1[near]]], axis=1
            )
            lines = shapely.linestrings(coords)
            hit[near[shapely.intersects(lines, zone)]] = True
    return hit


def nearest_node(
    network: RoadNetwork, lon: float, lat: float, usable: np.ndarray | None = None
) -> int:
    """Index of the node nearest to a lon/lat point, among ``usable`` nodes if given."""
    x, y = network.projector.forward([lon], [lat])
    d2 = (network.node_x - x[0]) ** 2 + (network.node_y - y[0]) ** 2
    if usable is not None:
        d2 = np.where(usable, d2, np.inf)
    node = int(np.argmin(d2))
    if not math.isfinite(d2[node]):
        raise ValidationFailed(
            [Problem("network", "路网中没有可用的道路", "the network has no usable road")]
        )
    return node


def cheapest_tree(
    network: RoadNetwork, edge_cost: np.ndarray, source: int, target: int | None = None
) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
    """The cheapest paths from ``source`` by ``edge_cost`` (inf: closed): per node the arc
    it is reached by (-1: the source or not reached), and a function giving the arcs to a
    reached node in driving order. With ``target`` the search stops once it is reached."""
    workspace = k.new_workspace(network.n_nodes, network.n_edges)
    targets = np.array([] if target is None else [target], np.int64)
    k.dijkstra(
        k.Graph(network.out_start, network.out_edges, network.edge_to, edge_cost),
        np.array([source]), np.zeros(1), targets, np.full(targets.size, math.inf), math.inf,
        workspace,
    )  # fmt: skip
    tree = workspace.pred_edge
    return tree, lambda node: k.path_edges(tree, network.edge_from, node)


def propose_routes(
    network: RoadNetwork,
    origin: tuple[float, float],
    destination: tuple[float, float],
    restrictions: RouteRestrictions | None = None,
    alternatives: int = 3,
    max_shared_share: float = 0.8,
    max_time_ratio: float = 1.6,
) -> list[RouteProposal]:
    """The fastest permitted route from ``origin`` to ``destination`` (lon, lat), then up to
    ``alternatives`` distinct ones; empty if the destination cannot be reached.

    Origin and destination snap to the nearest node with a permitted edge leaving
    (origin) or arriving (destination).
    """
    restrictions = restrictions or RouteRestrictions()
    ok = allowed_edges(network, restrictions)
    cost = np.where(ok, network.edge_travel_time_s, np.inf)
    has_out = np.zeros(network.n_nodes, bool)
    has_out[network.edge_from[ok]] = True
    has_in = np.zeros(network.n_nodes, bool)
    has_in[network.edge_to[ok]] = True
    source = nearest_node(network, *origin, usable=has_out)
    target = nearest_node(network, *destination, usable=has_in)
    workspace = k.new_workspace(network.n_nodes, network.n_edges)
    dist, pred, settled, _, _, touched = workspace

    def search(weights: np.ndarray) -> np.ndarray | None:
        graph = k.Graph(network.out_start, network.out_edges, network.edge_to, weights)
        n_touched = k.dijkstra(
            graph, np.array([source]), np.zeros(1), np.array([target]), np.array([math.inf]),
            math.inf, workspace,
        )  # fmt: skip
        found = settled[target]
        edges = k.path_edges(pred, network.edge_from, target) if found else None
        k.reset_workspace(touched[:n_touched], dist, pred, settled)
        return edges

    best = search(cost)
    if best is None:
        return []
    routes = [best]
    best_time = float(cost[best].sum())
    penalised = cost.copy()
    penalised[best] *= PENALTY_FACTOR
    for _ in range(MAX_PENALTY_ROUNDS):
        if len(routes) > alternatives:
            break
        candidate = search(penalised)
        if candidate is None:
            break
        penalised[candidate] *= PENALTY_FACTOR
        if float(cost[candidate].sum()) <= max_time_ratio * best_time and all(
            _shared_share(network, candidate, r) <= max_shared_share for r in routes
        ):
            routes.append(candidate)
    return [_proposal(network, edges) for edges in routes]


def _shared_share(network: RoadNetwork, route: np.ndarray, other: np.ndarray) -> float:
    """Share of ``route``'s length on edges of ``other`` (either direction of a road)."""
    length = network.edge_length_m
    total = float(length[route].sum())
    if total == 0:
        return 1.0
    key = np.minimum(network.edge_from, network.edge_to) * network.n_nodes + np.maximum(
        network.edge_from, network.edge_to
    )
    shared = np.isin(key[route], key[other])
    return float(length[route][shared].sum()) / total


def _proposal(network: RoadNetwork, edges: np.ndarray) -> RouteProposal:
    nodes = np.concatenate((network.edge_from[edges[:1]], network.edge_to[edges]))
    coords = np.c_[network.node_lon[nodes], network.node_lat[nodes]]
    if coords.shape[0] == 1:
        coords = np.repeat(coords, 2, axis=0)
    return RouteProposal(
        geometry=LineString(coords),
        edge_ids=tuple(int(e) for e in edges),
        length_m=float(network.edge_length_m[edges].sum()),
        travel_time_s=float(network.edge_travel_time_s[edges].sum()),
    )


def snap_route(
    network: RoadNetwork,
    line: LineString,
    restrictions: RouteRestrictions | None = None,
    matcher: MapMatcher | None = None,
) -> SnappedRoute:
    """An officer-edited lon/lat line mapped onto the network's edges, with every
    restriction it breaks (one Problem per restriction kind, naming the roads)."""
    if not isinstance(line, LineString) or line.is_empty or len(line.coords) < 2:
        raise ValidationFailed(
            [
                Problem(
                    "route",
                    "路线必须是至少两个点的 LineString",
                    "route must be a LineString of two or more points",
                )
            ]
        )
    # a drawn line is a few hundred points: searching beats tabulating the network
    matcher = matcher or MapMatcher(network, MatchParams(sigma_m=5.0, table_m=0.0))
    projector = matcher.projector
    projected = projector.geom_forward(line)
    steps = max(int(math.ceil(projected.length / SNAP_STEP_M)), 1)
    xy = points_along(
        shapely.get_coordinates(projected), np.linspace(0.0, projected.length, steps + 1)
    )
    result = matcher.match_xy(xy[:, 0], xy[:, 1])
    problems = []
    if (result.edge < 0).any() or result.n_segments != 1:
        problems.append(
            Problem(
                "route",
                "路线有部分不在路网上或不连通",
                "part of the line is off the network or not connected",
            )
        )
    if not result.path_edges.size:
        return SnappedRoute(None, problems)
    edges = _trim_node_ends(network, result, matcher.params.sigma_m)
    for name, zh, en, hit in _restriction_hits(network, restrictions or RouteRestrictions()):
        bad = edges[hit[edges]]
        if bad.size:
            roads = sorted({_road_label(network, int(e)) for e in bad})
            problems.append(Problem(name, f"{zh}：{'、'.join(roads)}", f"{en}: {', '.join(roads)}"))
    return SnappedRoute(_proposal(network, edges), problems)


def points_along(vertices: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """The points at ``distances`` (0 or more) along a line of (n, 2) ``vertices``, n >= 2:
    those of ``shapely.line_interpolate_point``, bit for bit, in one pass over the segments
    where GEOS walks the line again for each point. As GEOS (``LengthLocationMap``), a
    point lies on the first segment whose start's running length plus its own exceeds the
    distance, at ``p0 + (p1 - p0) * fraction``; at 0 it is the first vertex, at or past the
    end the last."""
    d = np.asarray(distances, np.float64)
    dx, dy = np.diff(vertices[:, 0]), np.diff(vertices[:, 1])
    length = np.sqrt(dx * dx + dy * dy)
    run = np.concatenate(([0.0], np.cumsum(length)))  # running sums, in GEOS's order
    seg = np.searchsorted(run[1:], d, side="right")
    beyond = seg == length.size
    seg = np.minimum(seg, length.size - 1)
    p0, p1 = vertices[seg], vertices[seg + 1]
    with np.errstate(divide="ignore", invalid="ignore"):  # past the end: replaced below
        frac = (d - run[seg]) / length[seg]
        out = (p1 - p0) * frac[:, None] + p0
    out[frac >= 1.0] = p1[frac >= 1.0]
    out[beyond] = vertices[-1]
    out[d <= 0.0] = vertices[0]
    return out


def _trim_node_ends(network: RoadNetwork, result: MatchResult, touch_m: float) -> np.ndarray:
    """The matched path less an end edge only touched within ``touch_m`` (GPS noise) of
    its node: a line ending at a junction or a bend matches either edge there."""
    edges = result.path_edges
    matched = np.flatnonzero(result.edge >= 0)
    first, last = matched[0], matched[-1]
    if edges.size > 1 and result.offset_m[last] <= touch_m and result.edge[last] == edges[-1]:
        edges = edges[:-1]
    length = network.edge_length_m
    if edges.size > 1 and result.offset_m[first] >= length[edges[0]] - touch_m:
        edges = edges[1:]
    return edges


def _road_label(network: RoadNetwork, edge: int) -> str:
    name = str(network.edge_name[edge])
    if name:
        return name
    cls = network.edge_class(edge)
    return f"{HIGHWAY_ZH.get(cls, cls)} #{edge}"


# Bumped whenever a kept snap would mean something else: its layout, or an answer of
# ``snap_route`` that the code digested below (``SNAP_CODE``) does not decide.
SNAP_FILE_VERSION = 1
# The modules whose code decides where a line snaps: a kept snap is only read back by the
# code that wrote it.
SNAP_CODE = (
    "cdw.roads.routing",
    "cdw.roads.services",
    "cdw.roads.network",
    "cdw.roads.matching",
    "cdw.roads._kernels",
    "cdw.geo.projection",
    "cdw.geo.kernels",
    "cdw.geo.index",
)


@cache
def _code_digest() -> bytes:
    digest = hashlib.sha256(f"snapped-route/{SNAP_FILE_VERSION}".encode())
    for name in SNAP_CODE:
        digest.update(Path(importlib.import_module(name).__file__ or "").read_bytes())
    return digest.digest()


class SnapCache:
    """Lines snapped onto one network by one matcher (``snap_route``), kept in ``folder`` for
    later processes: one file a line, named by a SHA-256 of everything the snap depends on
    (the code, ``SNAP_CODE``; the network's arrays the matcher and the restrictions read;
    the matcher's parameters; the line's coordinates), holding the snapped edges and whether
    the line maps onto one connected path breaking no restriction, under a checksum. A file
    that is missing, unreadable, truncated or altered is snapped again and written anew,
    whole or not at all (best effort: a folder that cannot be read or written only costs the
    snapping). Without a folder nothing is kept."""

    def __init__(self, network: RoadNetwork, params: MatchParams, folder: Path | None) -> None:
        self.network = network
        self.params = params
        self.folder = folder
        self._key: bytes | None = None

    def _network_key(self) -> bytes:
        """The digest of the code, the network and the matcher's parameters (once)."""
        if self._key is None:
            net = self.network
            digest = hashlib.sha256(_code_digest())
            digest.update(f"{net.crs}/{self.params!r}".encode())
            digest_arrays(digest, (
                net.node_x, net.node_y, net.edge_from, net.edge_to, net.edge_length_m,
                net.edge_hgv_no, net.out_start, net.out_edges,
            ))  # fmt: skip
            self._key = digest.digest()
        return self._key

    def edges(self, line: LineString, snap: Callable[[], SnappedRoute]) -> tuple[np.ndarray, bool]:
        """The edges projected ``line`` snaps onto (none where no part of it is on the
        network) and whether it snaps cleanly: read back where kept, else ``snap()``."""
        if self.folder is None:
            return _snapped_edges(snap())
        digest = hashlib.sha256(self._network_key())
        digest.update(np.ascontiguousarray(shapely.get_coordinates(line)).tobytes())
        key = digest.digest()
        path = self.folder / f"snapped-route-{key.hex()[:32]}.npy"
        try:
            stored = np.load(path)
            found = self._read(key, stored)
            if found is not None:
                return found
            log.warning("snapped route %s damaged; snapping it again", path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, EOFError) as exc:
            log.warning("snapped route %s unreadable (%s); snapping it again", path, exc)
        edges, clean = _snapped_edges(snap())
        body = np.concatenate(([int(clean)], edges)).astype(np.int64)
        stored = np.concatenate(([_checksum(key, body)], body))
        keep_file(path, lambda partial: np.save(partial, stored), "snapped route")
        return edges, clean

    def _read(self, key: bytes, stored: np.ndarray) -> tuple[np.ndarray, bool] | None:
        """A kept snap's edges and cleanness; None unless it is whole and fits the network."""
        if stored.dtype != np.int64 or stored.ndim != 1 or stored.size < 2:
            return None
        body = stored[1:]
        edges = body[1:]
        if (
            stored[0] != _checksum(key, body)
            or body[0] not in (0, 1)
            or (body[0] == 1 and not edges.size)  # a clean snap has edges
            or ((edges < 0) | (edges >= self.network.n_edges)).any()
        ):
            return None
        return edges.copy(), bool(body[0])


def _checksum(key: bytes, body: np.ndarray) -> np.int64:
    digest = hashlib.blake2b(key + body.tobytes(), digest_size=8).digest()
    return np.frombuffer(digest, np.int64)[0]


def _snapped_edges(snapped: SnappedRoute) -> tuple[np.ndarray, bool]:
    """The edges of a snap (none without a proposal) and whether it broke nothing."""
    if snapped.proposal is None:
        return np.empty(0, np.int64), False
    return np.array(snapped.proposal.edge_ids, np.int64), not snapped.violations
