"""Hidden-Markov map matching (Newson & Krumm 2009) on a ``RoadNetwork``.

Candidates are the edges within a search radius of each fix; the emission is Gaussian in
the fix-to-edge distance (sigma), the transition exponential in the difference between
the network distance and the straight-line distance of consecutive fixes (beta); network
distances come from a Dijkstra search bounded by a multiple of the straight-line
distance. Where no candidate of a fix can be reached from the previous one, the match
breaks and a new segment starts; a fix with no edge in reach is left unmatched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString, MultiLineString

from cdw.errors import Problem, ValidationFailed
from cdw.roads import _kernels as k
from cdw.roads.network import RoadNetwork
from cdw.tracking._kernels import build_segment_index
from cdw.tracking.geometry import coordinate_arrays


@dataclass(frozen=True)
class MatchParams:
    """Matcher settings (metres). ``sigma_m``: GPS noise; ``beta_m``: tolerated difference
    between network and straight-line distance; fixes nearer than ``2 * sigma_m`` to the
    previous kept fix are matched onto its edge instead of being states of their own."""

    sigma_m: float = 10.0
    beta_m: float = 10.0
    search_radius_m: float = 50.0
    max_candidates: int = 8
    route_factor: float = 2.0
    route_slack_m: float = 100.0

    def validated(self) -> MatchParams:
        problems = [
            Problem(
                name,
                f"{name} 必须是正数，实际为 {value!r}",
                f"{name} must be positive, got {value!r}",
            )
            for name, value in vars(self).items()
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0)
        ]
        if problems:
            raise ValidationFailed(problems, zh="匹配参数无效", en="Invalid matching parameters")
        return self


@dataclass(frozen=True)
class MatchResult:
    """Per fix: matched ``edge`` (-1 if none), ``offset_m`` along it from its start,
    ``distance_m`` from the fix, ``segment`` (-1 if unmatched). Per track: the continuous
    ``path_edges`` and the segment of each."""

    edge: np.ndarray
    offset_m: np.ndarray
    distance_m: np.ndarray
    segment: np.ndarray
    path_edges: np.ndarray
    path_segment: np.ndarray
    path_xy: list[np.ndarray]  # one (m, 2) polyline in projected metres per segment

    @property
    def n_segments(self) -> int:
        return len(self.path_xy)

    def geometry(self, network: RoadNetwork) -> LineString | MultiLineString:
        """The matched path in lon/lat: a LineString, or a MultiLineString where it breaks."""
        projector = network.projector
        lines = [np.column_stack(projector.inverse(xy[:, 0], xy[:, 1])) for xy in self.path_xy]
        if len(lines) == 1:
            return LineString(lines[0])
        return MultiLineString(lines)


class MapMatcher:
    """Matches tracks onto one network; holds its edge grid and a search workspace, so
    keep one per network and thread."""

    def __init__(self, network: RoadNetwork, params: MatchParams | None = None) -> None:
        self.network = network
        self.params = (params or MatchParams()).validated()
        net = network
        self._x0 = np.ascontiguousarray(net.node_x[net.edge_from])
        self._y0 = np.ascontiguousarray(net.node_y[net.edge_from])
        self._x1 = np.ascontiguousarray(net.node_x[net.edge_to])
        self._y1 = np.ascontiguousarray(net.node_y[net.edge_to])
        cell = max(2.0 * self.params.search_radius_m, 50.0)
        if net.n_edges:
            span = max(np.ptp(net.node_x), np.ptp(net.node_y))
            cell = max(cell, span / 2000.0)  # at most ~4 M cells
        self._cell = cell
        self._grid = build_segment_index(self._x0, self._y0, self._x1, self._y1, cell)
        self._dist = np.full(net.n_nodes, np.inf)
        self._pred = np.full(net.n_nodes, -1, np.int64)
        self._settled = np.zeros(net.n_nodes, bool)

    def candidates(
        self, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """CSR candidates (start, edge, fraction along edge, distance) of projected points."""
        origin_x, origin_y, n_cols, n_rows, cell_start, cell_items = self._grid
        return k.edge_candidates(
            x, y, self._x0, self._y0, self._x1, self._y1, origin_x, origin_y, self._cell,
            n_cols, n_rows, cell_start, cell_items,
            float(self.params.search_radius_m), int(self.params.max_candidates),
        )  # fmt: skip

    def match(
        self, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
    ) -> MatchResult:
        """Match one track given in WGS-84 degrees, in driving order."""
        x, y = self.network.projector.forward(lon, lat)
        return self.match_xy(x, y)

    def match_xy(
        self, px: np.ndarray | Sequence[float], py: np.ndarray | Sequence[float]
    ) -> MatchResult:
        """Match one track given in the network's projected metres, in driving order."""
        x, y = coordinate_arrays(px, py, ("x", "y"))
        net, p = self.network, self.params
        n = x.size
        keep = np.flatnonzero(k.thin_points(x, y, 2.0 * p.sigma_m))
        kx, ky = x[keep], y[keep]
        cand_start, cand_edge, cand_frac, cand_dist = self.candidates(kx, ky)
        has = np.flatnonzero(np.diff(cand_start) > 0)  # states join fixes with candidates
        sub_start = np.concatenate(([0], np.cumsum(np.diff(cand_start)[has])))
        trans_start, route, straight = k.route_distances(
            kx[has], ky[has], sub_start, cand_edge, cand_frac,
            net.edge_from, net.edge_to, net.edge_length_m, net.out_start, net.out_edges,
            p.route_factor, p.route_slack_m, p.sigma_m, self._dist, self._pred, self._settled,
        )  # fmt: skip
        choice, seg = k.viterbi(
            sub_start,
            k.emission_logprob(cand_dist, p.sigma_m),
            trans_start,
            k.transition_logprob(route, straight, p.beta_m),
        )
        kept_edge = np.full(keep.size, -1, np.int64)
        kept_seg = np.full(keep.size, -1, np.int64)
        ok = choice >= 0
        kept_edge[has[ok]] = cand_edge[choice[ok]]
        kept_seg[has[ok]] = seg[ok]
        kept_offset = np.zeros(keep.size)
        kept_offset[has[ok]] = cand_frac[choice[ok]] * net.edge_length_m[cand_edge[choice[ok]]]
        path_edges, path_segment = k.fill_path(
            kept_edge, kept_offset, kept_seg, net.edge_from, net.edge_to, net.edge_length_m,
            net.out_start, net.out_edges, p.sigma_m, self._dist, self._pred, self._settled,
        )  # fmt: skip
        # Every fix takes the match of the last kept fix at or before it.
        owner = np.searchsorted(keep, np.arange(n), side="right") - 1
        edge = kept_edge[owner]
        segment = kept_seg[owner]
        offset, distance = self._project(x, y, edge)
        path_xy = self._path_lines(path_edges, path_segment, edge, offset, segment)
        return MatchResult(edge, offset, distance, segment, path_edges, path_segment, path_xy)

    def _project(
        self, x: np.ndarray, y: np.ndarray, edge: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Offset along and distance from each fix's edge (0 and NaN where unmatched)."""
        e = np.maximum(edge, 0)
        dx, dy = self._x1[e] - self._x0[e], self._y1[e] - self._y0[e]
        length2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where(
                length2 > 0, ((x - self._x0[e]) * dx + (y - self._y0[e]) * dy) / length2, 0.0
            )
        u = np.clip(u, 0.0, 1.0)
        distance = np.hypot(x - (self._x0[e] + u * dx), y - (self._y0[e] + u * dy))
        matched = edge >= 0
        offset = np.where(matched, u * self.network.edge_length_m[e], 0.0)
        return offset, np.where(matched, distance, np.nan)

    def _path_lines(
        self,
        path_edges: np.ndarray,
        path_segment: np.ndarray,
        edge: np.ndarray,
        offset: np.ndarray,
        segment: np.ndarray,
    ) -> list[np.ndarray]:
        """Per segment: the first fix's point on its edge, the nodes passed, the last fix's."""
        net = self.network
        lines = []
        for s in np.unique(path_segment):
            edges = path_edges[path_segment == s]
            fixes = np.flatnonzero(segment == s)
            first, last = fixes[0], fixes[-1]
            start = self._point_on(edge[first], offset[first])
            end = self._point_on(edge[last], offset[last])
            inner = np.column_stack(
                (net.node_x[net.edge_from[edges[1:]]], net.node_y[net.edge_from[edges[1:]]])
            )
            coords = np.vstack((start, inner, end))
            lines.append(coords)
        return lines

    def _point_on(self, edge: int, offset: float) -> np.ndarray:
        length = self.network.edge_length_m[edge]
        u = offset / length if length > 0 else 0.0
        return np.array(
            [[self._x0[edge] + u * (self._x1[edge] - self._x0[edge]),
              self._y0[edge] + u * (self._y1[edge] - self._y0[edge])]]
        )  # fmt: skip


def path_length_m(network: RoadNetwork, edges: np.ndarray) -> float:
    """Total length of a list of edges."""
    return float(network.edge_length_m[np.asarray(edges, np.int64)].sum())


__all__ = ["MapMatcher", "MatchParams", "MatchResult", "path_length_m"]
