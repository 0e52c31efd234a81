"""The road services the trajectory engine uses (``AnalysisContext.roads``).

``configured_roads`` reads the file named by ``CDW_ROAD_NETWORK`` (``sources.load_network``).
``Roads`` holds that network in the batch's projected CRS (its
nodes re-projected when the network's own UTM zone differs) and one ``MapMatcher``, built
once per batch; the checks match only the stretches of track they need.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString

from cdw.config import Settings
from cdw.geo.index import SegmentIndex, SegmentValues
from cdw.geo.projection import Projector
from cdw.roads.matching import MapMatcher, MatchParams, MatchResult
from cdw.roads.network import HIGHWAY_ZH, LIMIT_SOURCE_LABELS, RoadNetwork
from cdw.roads.routing import SnapCache, SnappedRoute, snap_route
from cdw.roads.sources import load_network


def configured_roads(settings: Settings, projector: Projector | None = None) -> Roads | None:
    """``Roads`` of the network file in the settings (in ``projector``'s CRS, else its own);
    None when none is set."""
    if settings.road_network is None:
        return None
    network = load_network(settings.road_network)
    cache = settings.road_cache_dir
    if projector is None:
        return Roads(network, table_cache=cache)
    return Roads.for_projector(network, projector, table_cache=cache)


@dataclass(frozen=True)
class NetworkPath:
    """A connected path along network edges in projected metres: its polyline, and the
    length and free-flow travel time from its start to each vertex."""

    line: LineString
    cum_m: np.ndarray
    cum_s: np.ndarray

    @classmethod
    def of(cls, network: RoadNetwork, xy: np.ndarray, edges: np.ndarray) -> NetworkPath:
        """``xy`` has one vertex more than ``edges``; piece k runs along ``edges[k]``."""
        piece_m = np.hypot(*np.diff(xy, axis=0).T)
        piece_s = piece_m / (network.edge_speed_kmh[edges] / 3.6)
        zero = np.zeros(1)
        return cls(
            LineString(xy),
            np.concatenate((zero, piece_m.cumsum())),
            np.concatenate((zero, piece_s.cumsum())),
        )

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])

    @property
    def time_s(self) -> float:
        return float(self.cum_s[-1])

    def between(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Distance and free-flow time along the path between the points nearest to
        (x[0], y[0]) and (x[1], y[1])."""
        along = shapely.line_locate_point(self.line, shapely.points(x, y))
        times = np.interp(along, self.cum_m, self.cum_s)
        return float(abs(along[1] - along[0])), float(abs(times[1] - times[0]))


class Roads:
    """A network in one batch's projected CRS, with its matcher (one per batch and thread)."""

    def __init__(
        self,
        network: RoadNetwork,
        params: MatchParams | None = None,
        table_cache: Path | None = None,
    ) -> None:
        self.network = network
        self.matcher = MapMatcher(network, params, table_cache)
        p = self.matcher.params
        # Every edge a fix can be matched onto lies within the search radius of the fix,
        # or of the fix within 2 sigma before it that the matcher kept in its place.
        self._reach_m = p.search_radius_m + 2 * p.sigma_m
        posted = network.edge_limit_kmh[np.isfinite(network.edge_limit_kmh)]
        self.lowest_limit_kmh = float(posted.min()) if posted.size else np.inf
        self._routes: dict[int, tuple[LineString, NetworkPath | None]] = {}
        folder = None if table_cache is None else table_cache / "snapped-routes"
        self._snaps = SnapCache(network, p, folder)
        self._edge_index: SegmentIndex | None = None  # every edge, for limits near a fix
        self._posted: SegmentValues | None = None  # its edges' posted limits (may_be_slower)
        self._applies: dict[float, SegmentValues] = {}  # per cap: limits that apply (plausible)

    @classmethod
    def for_projector(
        cls,
        network: RoadNetwork,
        projector: Projector,
        params: MatchParams | None = None,
        table_cache: Path | None = None,
    ) -> Roads:
        """``network`` with its nodes in ``projector``'s CRS (as is when it is already)."""
        crs = projector.crs.to_string()
        if network.crs != crs:
            x, y = projector.forward(network.node_lon, network.node_lat)
            network = dataclasses.replace(network, crs=crs, node_x=x, node_y=y)
        return cls(network, params, table_cache)

    def match(self, x: np.ndarray, y: np.ndarray) -> MatchResult:
        return self.matcher.match_xy(x, y)

    def posted_limit_kmh(self, edges: np.ndarray) -> np.ndarray:
        """Posted limit of each edge (``RoadNetwork.edge_limit_kmh``); NaN where none
        applies or unmatched (-1)."""
        return np.where(edges >= 0, self.network.edge_limit_kmh[np.maximum(edges, 0)], np.nan)

    def may_be_slower(
        self,
        x: np.ndarray,
        y: np.ndarray,
        speed_kmh: np.ndarray,
        below_kmh: float,
        radius_m: float | None = None,
    ) -> np.ndarray:
        """Per point: some edge within ``radius_m`` (default: every edge it may be matched
        onto) is posted below both ``below_kmh`` and its speed; the edges near each point
        read from the lowest limit up, stopping at the first such
        (``SegmentValues.some_within_below``)."""
        radius = self._reach_m if radius_m is None else radius_m
        # NaN speeds compare False with every limit, as NaN bounds do in the kernel
        bounds = np.minimum(np.asarray(speed_kmh, np.float64), below_kmh)
        return self._posted_limits().some_within_below(x, y, radius, bounds)

    def edges_near(
        self, x: np.ndarray, y: np.ndarray, radius_m: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every edge within ``radius_m`` of each point: (point index, edge, distance),
        sorted by point, then edge (shapely's ``dwithin`` and ``distance`` on the edges the
        all-edges index names as candidates, ``SegmentIndex.candidates``)."""
        points = shapely.points(x, y)
        point, edge = self._all_edges().candidates(x, y, radius_m)
        lines = self._lines(edge)
        near = shapely.dwithin(points[point], lines, radius_m)
        point, edge, lines = point[near], edge[near], lines[near]
        order = np.lexsort((edge, point))
        point, edge, lines = point[order], edge[order], lines[order]
        return point, edge, shapely.distance(points[point], lines)

    def plausible_limit_kmh(
        self, x: np.ndarray, y: np.ndarray, radius_m: float, cap_kmh: float
    ) -> np.ndarray:
        """Per point, the highest limit of the edges within ``radius_m`` (the roads the
        truck may be on), where an edge without a posted limit counts as ``cap_kmh`` and no
        limit is above ``cap_kmh``; ``cap_kmh`` where no edge is that near."""
        if cap_kmh not in self._applies:
            index = self._all_edges()
            limits = np.fmin(self.network.edge_limit_kmh[index.segment_part], cap_kmh)
            self._applies[cap_kmh] = SegmentValues(index, limits)
        highest = self._applies[cap_kmh].highest_within(x, y, radius_m)
        return np.where(np.isfinite(highest), highest, cap_kmh)

    def build_indexes(self) -> None:
        """Build now the indexes of every edge and of their posted limits, built otherwise
        at first use (a local cluster's fork server builds them once for all its workers)."""
        self._posted_limits()

    def _posted_limits(self) -> SegmentValues:
        """Every edge's posted limit (an edge without one, NaN, is never slower)."""
        if self._posted is None:
            index = self._all_edges()
            self._posted = SegmentValues(index, self.network.edge_limit_kmh[index.segment_part])
        return self._posted

    def _all_edges(self) -> SegmentIndex:
        """Every edge as one segment index (built on first use)."""
        if self._edge_index is None:
            net = self.network
            u, v = net.edge_from, net.edge_to
            self._edge_index = SegmentIndex.of_segments(
                net.node_x[u], net.node_y[u], net.node_x[v], net.node_y[v]
            )
        return self._edge_index

    def _lines(self, edges: np.ndarray) -> np.ndarray:
        """The straight line of each edge, from node to node."""
        net = self.network
        u, v = net.edge_from[edges], net.edge_to[edges]
        return shapely.linestrings(
            np.stack(
                (
                    np.column_stack((net.node_x[u], net.node_y[u])),
                    np.column_stack((net.node_x[v], net.node_y[v])),
                ),
                axis=1,
            )
        )

    def path(self, result: MatchResult, segment: int) -> NetworkPath:
        """The matched path of one segment of a match."""
        edges = result.path_edges[result.path_segment == segment]
        return NetworkPath.of(self.network, result.path_xy[segment], edges)

    def _snap(self, line: LineString) -> SnappedRoute:
        """A projected line cut into points every 20 m and matched (``snap_route``)."""
        lonlat = self.matcher.projector.geom_inverse(line)
        return snap_route(self.network, lonlat, matcher=self.matcher)

    def _snapped(self, line: LineString) -> tuple[np.ndarray, bool]:
        """``_snap``'s edges (none where no part of the line is on the network) and whether
        they are one connected path breaking no restriction; kept in the table cache's
        folder, where there is one, for the next batch and process (``SnapCache``)."""
        return self._snaps.edges(line, lambda: self._snap(line))

    def route_path(self, line: LineString) -> NetworkPath | None:
        """An approved route as a path along the network (None where it does not map onto
        one connected path on it); matched once per route and batch, and not again while
        the route, the network and the code are unchanged (``_snapped``)."""
        key = id(line)
        if key not in self._routes:
            edges, clean = self._snapped(line)
            path = None
            if clean:
                net = self.network
                nodes = np.append(net.edge_from[edges], net.edge_to[edges[-1]])
                xy = np.column_stack((net.node_x[nodes], net.node_y[nodes]))
                path = NetworkPath.of(net, xy, edges)
            self._routes[key] = (line, path)  # the line is kept so that its id stays its own
        return self._routes[key][1]

    def edges_along(self, line: LineString) -> np.ndarray:
        """The arcs of the road a projected line was drawn along, in both directions: the
        edges it is snapped onto (an end edge only touched at its node does not count)."""
        edges, _ = self._snapped(line)
        if not edges.size:
            return np.empty(0, np.int64)
        net = self.network
        keys = net.edge_from * net.n_nodes + net.edge_to
        back = net.edge_to[edges] * net.n_nodes + net.edge_from[edges]
        return np.flatnonzero(np.isin(keys, keys[edges]) | np.isin(keys, back))

    def limit_source(self, edge: int) -> tuple[str, str]:
        """Where the edge's posted limit comes from, ``(中文, English)``."""
        return LIMIT_SOURCE_LABELS[int(self.network.edge_limit_source[edge])]

    def label(self, edge: int) -> tuple[str, str]:
        """A road for people: ``(中文, English)``, its name and class."""
        net = self.network
        cls = net.edge_class(edge)
        name = str(net.edge_name[edge])
        cls_zh = HIGHWAY_ZH.get(cls, cls)
        if not name:
            return f"未命名{cls_zh}", f"unnamed {cls} road"
        return f"「{name}」（{cls_zh}）", f"{name} ({cls})"


__all__ = ["NetworkPath", "Roads", "configured_roads", "load_network"]
