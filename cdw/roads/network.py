"""A road network as a compact directed graph in arrays, loaded offline and cached.

Every edge (arc) is one straight segment between two nodes, as OSM ways are between their
consecutive nodes (osmnx with ``simplify=False``, the Panyu tables, the Kubicka arcs). A
two-way road is two arcs. Outgoing arcs of each node are listed in CSR form
(``out_start``/``out_edges``) for the routing and matching kernels.

What a road *is* stays apart from what routing assumes: ``edge_limit_kmh`` is the posted
limit with ``edge_limit_source`` saying where it comes from (a tagged ``maxspeed``, an
officer's setting, the statutory default of the road kind, or none), while
``edge_speed_kmh`` is the free-flow speed routing uses.

The readers (OSM, Parquet tables, Kubicka, GeoJSON) and the ``.npz`` cache are in
``cdw.roads.sources``; an officer's limits drawn as lines are read by ``cdw.roads.limits``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import cdw
from cdw.errors import Problem, ValidationFailed
from cdw.geo.projection import Projector

# The real Panyu district network (© OpenStreetMap contributors, ODbL 1.0), shipped in the
# repository as a cache; see sample_tracks/panyu-osm/SOURCE.md.
BUNDLED_NETWORK = (
    Path(cdw.__file__).resolve().parents[1] / "sample_tracks" / "panyu-osm" / "panyu.npz"
)

# Where an edge's posted limit comes from (``edge_limit_source``).
LIMIT_TAGGED = 0  # the road's maxspeed tag
LIMIT_OFFICER = 1  # set by an officer (``with_officer_limits``)
LIMIT_DEFAULT = 2  # the statutory default of the road kind (``STATUTORY_LIMIT_KMH``)
LIMIT_NONE = 3  # no posted limit and no statutory default: ``edge_limit_kmh`` is NaN
LIMIT_SOURCE_LABELS = {
    LIMIT_TAGGED: ("路网标注限速", "tagged speed limit"),
    LIMIT_OFFICER: ("执法人员设定限速", "limit set by an officer"),
    LIMIT_DEFAULT: ("法定默认限速", "statutory default limit"),
    LIMIT_NONE: ("无限速", "no speed limit"),
}

# Highway classes a truck may drive on; others (footway, steps, busway, ...) are dropped
# when reading OSM files.
DRIVABLE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
# Free-flow speed (km/h) where maxspeed is not tagged; the Panyu tables use the same defaults.
DEFAULT_SPEED_KMH = {
    "motorway": 80.0,
    "trunk": 70.0,
    "primary": 60.0,
    "secondary": 50.0,
    "tertiary": 40.0,
    "residential": 30.0,
    "unclassified": 30.0,
    "service": 20.0,
    "living_street": 15.0,
}
OTHER_SPEED_KMH = 30.0
# A truck's speed limit on a motorway (art. 78; small passenger cars: 120).
TRUCK_MOTORWAY_MAX_KMH = 100.0
# Statutory limits (km/h) of a truck on a road without a limit sign, by OSM class; the
# legal source of each figure is in ``posted_limits``.
STATUTORY_LIMIT_KMH = {
    "motorway": TRUCK_MOTORWAY_MAX_KMH,
    "motorway_link": TRUCK_MOTORWAY_MAX_KMH,
    "secondary": 50.0,
    "secondary_link": 50.0,
    "tertiary": 50.0,
    "tertiary_link": 50.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 30.0,
    "service": 30.0,
}
# Road-class labels for people; classes not listed show their OSM tag.
HIGHWAY_ZH = {
    "motorway": "高速公路",
    "trunk": "快速路",
    "primary": "主干路",
    "secondary": "次干路",
    "tertiary": "支路",
    "unclassified": "未分级道路",
    "residential": "居住区道路",
    "living_street": "生活街道",
    "service": "服务道路",
}


def default_speed_kmh(highway: str) -> float:
    """Free-flow speed of a class; ``*_link`` roads take their parent's."""
    return DEFAULT_SPEED_KMH.get(highway.removesuffix("_link"), OTHER_SPEED_KMH)


def posted_limits(
    classes: np.ndarray, edge_highway: np.ndarray, maxspeed_kmh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each edge's limit and its source: the tagged maxspeed (LIMIT_TAGGED), else the
    statutory default of its class (``STATUTORY_LIMIT_KMH``, LIMIT_DEFAULT), else none
    (NaN, LIMIT_NONE).

    The statutory defaults, for a truck on a road without a limit sign:

    - 《中华人民共和国道路交通安全法实施条例》第四十五条 (PRC Road Traffic Safety Law
      Implementing Regulations, art. 45): (1) a road without a centre line: 30 km/h on a
      city road (40 on a highway); (2) a road with one motor lane per direction: 50 km/h
      on a city road (70 on a highway). cdw supervises urban haulage and takes the city
      figures. ``service``, ``residential``, ``living_street`` and ``unclassified`` are
      read as roads without a centre line (30); ``secondary`` and ``tertiary`` and their
      links as roads with one lane per direction (50) — a reading, as OSM classes do not
      record the lane count the article turns on.
    - 第七十八条 (art. 78): on a motorway, vehicles other than small passenger cars may
      not exceed 100 km/h (``TRUCK_MOTORWAY_MAX_KMH``), so ``motorway`` and
      ``motorway_link`` are 100. A motorway tagged higher (120, the small-car figure)
      keeps its tag here; art. 78 still holds a truck to 100 there.
    - Multi-lane ``trunk`` and ``primary`` roads and their links, and every other class,
      have no statutory figure: only a sign sets their limit.
    """
    statutory = np.array([STATUTORY_LIMIT_KMH.get(str(c), math.nan) for c in classes])
    default = statutory[edge_highway] if edge_highway.size else np.zeros(0)
    tagged = np.isfinite(maxspeed_kmh) & (maxspeed_kmh > 0)
    limit = np.where(tagged, maxspeed_kmh, default)
    source = np.where(
        tagged, LIMIT_TAGGED, np.where(np.isfinite(default), LIMIT_DEFAULT, LIMIT_NONE)
    )
    return limit.astype(np.float64), source.astype(np.int8)


@dataclass(eq=False)
class RoadNetwork:
    """Nodes and directed edges in parallel arrays; build with a ``from_*`` loader.

    ``edge_highway`` indexes ``highway_classes``; ``edge_maxspeed_kmh`` and
    ``edge_maxweight_t`` are NaN where untagged; ``edge_oneway`` marks arcs of one-way
    roads; ``edge_hgv_no`` arcs tagged ``hgv=no``; ``edge_name`` is "" where unnamed.
    ``edge_speed_kmh`` is the free-flow speed routing assumes; ``edge_limit_kmh`` the
    posted limit (NaN where none applies) and ``edge_limit_source`` one of the
    ``LIMIT_*`` codes. ``node_x``/``node_y`` are metres in ``crs`` (the UTM zone of the
    nodes).
    """

    crs: str
    highway_classes: np.ndarray  # str
    node_id: np.ndarray  # int64, source ids (OSM node ids, or line numbers)
    node_lon: np.ndarray
    node_lat: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    edge_from: np.ndarray  # int64 node index
    edge_to: np.ndarray
    edge_length_m: np.ndarray
    edge_speed_kmh: np.ndarray
    edge_highway: np.ndarray  # int16
    edge_oneway: np.ndarray  # bool
    edge_maxspeed_kmh: np.ndarray
    edge_maxweight_t: np.ndarray
    edge_hgv_no: np.ndarray  # bool
    edge_name: np.ndarray  # str
    edge_limit_kmh: np.ndarray  # float64, NaN where no limit applies
    edge_limit_source: np.ndarray  # int8, LIMIT_*
    out_start: np.ndarray  # int64, n_nodes + 1
    out_edges: np.ndarray  # int64, edge ids grouped by from-node

    @property
    def n_nodes(self) -> int:
        return int(self.node_id.size)

    @property
    def n_edges(self) -> int:
        return int(self.edge_from.size)

    @property
    def edge_travel_time_s(self) -> np.ndarray:
        return self.edge_length_m / (self.edge_speed_kmh / 3.6)

    @property
    def projector(self) -> Projector:
        import pyproj

        return Projector(pyproj.CRS.from_user_input(self.crs))

    def arc_reverse(self) -> np.ndarray:
        """Per arc, the arc from its end back to its start (the other direction of a
        two-way road); -1 where there is none."""
        keys = self.edge_from * self.n_nodes + self.edge_to
        back = self.edge_to * self.n_nodes + self.edge_from
        order = np.argsort(keys, kind="stable")
        pos = np.minimum(np.searchsorted(keys[order], back), keys.size - 1)
        return np.where(keys[order][pos] == back, order[pos], -1)

    def edge_class(self, edge: int) -> str:
        return str(self.highway_classes[self.edge_highway[edge]])

    def __repr__(self) -> str:
        return f"RoadNetwork({self.n_nodes} nodes, {self.n_edges} edges, {self.crs})"

    # --- building -----------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        node_id: np.ndarray,
        node_lon: np.ndarray,
        node_lat: np.ndarray,
        edge_from: np.ndarray,
        edge_to: np.ndarray,
        *,
        edge_length_m: np.ndarray | None = None,
        edge_highway: np.ndarray | None = None,
        edge_speed_kmh: np.ndarray | None = None,
        edge_oneway: np.ndarray | None = None,
        edge_maxspeed_kmh: np.ndarray | None = None,
        edge_maxweight_t: np.ndarray | None = None,
        edge_hgv_no: np.ndarray | None = None,
        edge_name: np.ndarray | None = None,
    ) -> RoadNetwork:
        """A network from node and edge arrays (edges as node indices, already directed).

        Missing columns get defaults: length from the projected coordinates, class
        ``unclassified``, speed the tagged maxspeed else the class default. The posted
        limit is the tagged maxspeed, else the statutory default (``posted_limits``).
        """
        node_lon = np.ascontiguousarray(node_lon, np.float64)
        node_lat = np.ascontiguousarray(node_lat, np.float64)
        projector = Projector.for_points(node_lon, node_lat)
        node_x, node_y = projector.forward(node_lon, node_lat)
        edge_from = np.ascontiguousarray(edge_from, np.int64)
        edge_to = np.ascontiguousarray(edge_to, np.int64)
        m = edge_from.size
        if edge_length_m is None:
            edge_length_m = np.hypot(
                node_x[edge_to] - node_x[edge_from], node_y[edge_to] - node_y[edge_from]
            )
        highway = np.full(m, "unclassified", dtype=object) if edge_highway is None else edge_highway
        classes, codes = np.unique(np.asarray(highway, dtype=str), return_inverse=True)
        maxspeed = _float_or_nan(edge_maxspeed_kmh, m)
        if edge_speed_kmh is None:
            class_speed = np.array([default_speed_kmh(str(c)) for c in classes])
            edge_speed_kmh = np.where(
                np.isfinite(maxspeed) & (maxspeed > 0), maxspeed, class_speed[codes]
            )
        limit, limit_source = posted_limits(classes, codes, maxspeed)
        out_start, out_edges = _out_arcs(edge_from, node_id.size)
        return cls(
            crs=projector.crs.to_string(),
            highway_classes=classes.astype(str),
            node_id=np.ascontiguousarray(node_id, np.int64),
            node_lon=node_lon,
            node_lat=node_lat,
            node_x=node_x,
            node_y=node_y,
            edge_from=edge_from,
            edge_to=edge_to,
            edge_length_m=np.ascontiguousarray(edge_length_m, np.float64),
            edge_speed_kmh=np.ascontiguousarray(edge_speed_kmh, np.float64),
            edge_highway=codes.astype(np.int16),
            edge_oneway=_bool_or_false(edge_oneway, m),
            edge_maxspeed_kmh=maxspeed,
            edge_maxweight_t=_float_or_nan(edge_maxweight_t, m),
            edge_hgv_no=_bool_or_false(edge_hgv_no, m),
            edge_name=np.asarray([""] * m if edge_name is None else edge_name, dtype=str),
            edge_limit_kmh=limit,
            edge_limit_source=limit_source,
            out_start=out_start,
            out_edges=out_edges,
        )

    def reversed(self) -> RoadNetwork:
        """The network with every arc turned round: a search from a node in it finds the
        paths that lead to that node."""
        out_start, out_edges = _out_arcs(self.edge_to, self.n_nodes)
        return replace(
            self,
            edge_from=self.edge_to,
            edge_to=self.edge_from,
            out_start=out_start,
            out_edges=out_edges,
        )

    # --- officer settings ---------------------------------------------------------------

    def with_officer_limits(self, edges: np.ndarray, limits_kmh: np.ndarray) -> RoadNetwork:
        """A copy whose ``edges`` carry the posted limits an officer set (LIMIT_OFFICER);
        a later entry for the same edge wins."""
        edges = np.asarray(edges, np.int64).reshape(-1)
        limits = np.asarray(limits_kmh, np.float64).reshape(-1)
        problems = []
        if edges.size != limits.size:
            problems.append(
                Problem(
                    "limits_kmh",
                    f"路段数 {edges.size} 与限速数 {limits.size} 不一致",
                    f"{edges.size} edges but {limits.size} limits",
                )
            )
        elif edges.size and (edges.min() < 0 or edges.max() >= self.n_edges):
            problems.append(
                Problem("edges", "路段编号越界", f"edge id outside 0..{self.n_edges - 1}")
            )
        elif not (np.isfinite(limits) & (limits > 0)).all():
            problems.append(
                Problem("limits_kmh", "限速必须是正数（km/h）", "a limit must be a positive km/h")
            )
        if problems:
            raise ValidationFailed(problems, zh="执法人员限速无效", en="Invalid officer limits")
        limit, source = self.edge_limit_kmh.copy(), self.edge_limit_source.copy()
        limit[edges], source[edges] = limits, LIMIT_OFFICER
        return replace(self, edge_limit_kmh=limit, edge_limit_source=source)


def _out_arcs(edge_from: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of each node's outgoing arcs: ``out_start`` (n_nodes + 1) and ``out_edges``."""
    out_start = np.zeros(n_nodes + 1, np.int64)
    np.cumsum(np.bincount(edge_from, minlength=n_nodes), out=out_start[1:])
    return out_start, np.argsort(edge_from, kind="stable").astype(np.int64)


def _float_or_nan(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.ascontiguousarray(values, np.float64)


def _bool_or_false(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, bool) if values is None else np.ascontiguousarray(values, bool)
