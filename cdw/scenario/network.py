"""A generated road network for scenarios: a grid-ish district with a road hierarchy.

Nodes carry projected coordinates in metres (UTM zone 49N, EPSG:32649), edges their length,
road class, free-flow truck speed and travel time. Grid lines every ``SPACING_M`` metres; every
fifth line is an arterial (主干路), lines offset by two from those are secondaries (次干路),
the rest locals (支路), some of which are missing. Sites and depots sit inside blocks on a
dead-end access road (出入口道路) to one block corner; facilities lie outside the grid at the
end of a long access road. Dead ends are never crossed by a shortest path, so trucks pass
no geofence they are not heading for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from pyproj import Transformer

CENTRE_LON, CENTRE_LAT = 113.58, 23.55
PROJECTED_CRS = "EPSG:32649"
SPACING_M = 600.0
LINES = 26  # 25 blocks of 600 m: a 15 × 15 km district

ROAD_CLASSES = ("arterial", "secondary", "local", "access")
# Free-flow truck speed (km/h) per class; normal driving varies it by ±10 % and caps at 55.
CLASS_SPEED_KMH = {"arterial": 48.0, "secondary": 40.0, "local": 30.0, "access": 18.0}
CLASS_ZH = {"arterial": "主干路", "secondary": "次干路", "local": "支路", "access": "出入口道路"}

_TO_LONLAT = Transformer.from_crs(PROJECTED_CRS, "EPSG:4326", always_xy=True)
_TO_XY = Transformer.from_crs("EPSG:4326", PROJECTED_CRS, always_xy=True)

Node = tuple[str, int, int] | tuple[str, int]


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _TO_LONLAT.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def to_xy(lon: float, lat: float) -> tuple[float, float]:
    x, y = _TO_XY.transform(lon, lat)
    return float(x), float(y)


def line_class(index: int) -> str:
    if index % 5 == 0:
        return "arterial"
    if index % 5 == 2:
        return "secondary"
    return "local"


@dataclass
class RoadNetwork:
    """The graph plus what scenarios need to place things on it."""

    graph: nx.Graph
    origin: tuple[float, float]  # projected x, y of grid node (0, 0)
    zone_interior: frozenset[tuple[int, int]] = frozenset()
    _normal: nx.Graph | None = field(default=None, repr=False)
    _paths: dict[tuple[object, object, bool], list[object]] = field(
        default_factory=dict, repr=False
    )

    def xy(self, node: object) -> tuple[float, float]:
        data = self.graph.nodes[node]
        return data["x"], data["y"]

    def grid_node(self, i: int, j: int) -> tuple[str, int, int]:
        return ("g", i, j)

    @property
    def normal(self) -> nx.Graph:
        """The graph without the roads inside the restricted zone (what lawful routes use)."""
        if self._normal is None:
            inside = [("g", i, j) for i, j in self.zone_interior]
            self._normal = self.graph.subgraph(n for n in self.graph if n not in set(inside)).copy()
        return self._normal

    def path(self, a: object, b: object, *, through_zone: bool = False) -> list[object]:
        """Fastest path by travel time (cached); lawful roads only unless ``through_zone``."""
        key = (a, b, through_zone)
        if key not in self._paths:
            graph = self.graph if through_zone else self.normal
            self._paths[key] = nx.shortest_path(graph, a, b, weight="travel_time_s")
        return self._paths[key]

    def polyline(self, nodes: list[object]) -> np.ndarray:
        return np.array([self.xy(n) for n in nodes], dtype=float)

    def edge_attrs(self, nodes: list[object]) -> tuple[list[str], np.ndarray]:
        """Road class and free-flow speed (km/h) of each edge of a node path."""
        classes = [
            self.graph.edges[u, v]["road_class"] for u, v in zip(nodes, nodes[1:], strict=False)
        ]
        speeds = np.array([CLASS_SPEED_KMH[c] for c in classes])
        return classes, speeds

    def has_signal(self, node: object) -> bool:
        return bool(self.graph.nodes[node].get("signal", False))

    def add_access(
        self, name: Node, x: float, y: float, to: object, via: tuple[float, float] | None = None
    ) -> None:
        """A dead-end access road from grid node ``to`` (through ``via``) to a place at (x, y)."""
        self.graph.add_node(name, x=x, y=y)
        prev = to
        if via is not None:
            gate = (*name, "gate") if isinstance(name, tuple) else (name, "gate")
            self.graph.add_node(gate, x=via[0], y=via[1])
            self._link(to, gate, "access")
            prev = gate
        self._link(prev, name, "access")
        self._normal = None

    def _link(self, u: object, v: object, road_class: str) -> None:
        (x1, y1), (x2, y2) = self.xy(u), self.xy(v)
        length = math.hypot(x2 - x1, y2 - y1)
        speed = CLASS_SPEED_KMH[road_class]
        self.graph.add_edge(
            u,
            v,
            length_m=length,
            road_class=road_class,
            speed_kmh=speed,
            travel_time_s=length / (speed / 3.6),
        )


def build_network(
    rng: np.random.Generator, zone_cells: tuple[int, int] | None = None
) -> RoadNetwork:
    """A ``LINES`` × ``LINES`` grid centred on Conghua with jittered nodes and a road hierarchy.

    ``zone_cells`` is the lower-left block of a 3 × 3-block restricted zone: the four grid
    nodes strictly inside it are left out of lawful routing (``RoadNetwork.normal``).
    """
    cx, cy = to_xy(CENTRE_LON, CENTRE_LAT)
    half = SPACING_M * (LINES - 1) / 2
    origin = (cx - half, cy - half)
    graph = nx.Graph()
    jitter = rng.uniform(-30.0, 30.0, size=(LINES, LINES, 2))
    for i in range(LINES):
        for j in range(LINES):
            # Arterials are straighter: no jitter across their direction.
            dx = 0.0 if line_class(i) == "arterial" else jitter[i, j, 0]
            dy = 0.0 if line_class(j) == "arterial" else jitter[i, j, 1]
            graph.add_node(
                ("g", i, j),
                x=origin[0] + i * SPACING_M + dx,
                y=origin[1] + j * SPACING_M + dy,
                signal=line_class(i) != "local" and line_class(j) != "local",
            )
    net = RoadNetwork(graph=graph, origin=origin)
    drop = rng.random(size=(2, LINES, LINES)) < 0.12
    for i in range(LINES):
        for j in range(LINES):
            if i + 1 < LINES:  # east-west edge lies on horizontal line j
                cls = line_class(j)
                if not (cls == "local" and drop[0, i, j]):
                    net._link(("g", i, j), ("g", i + 1, j), cls)
            if j + 1 < LINES:  # north-south edge lies on vertical line i
                cls = line_class(i)
                if not (cls == "local" and drop[1, i, j]):
                    net._link(("g", i, j), ("g", i, j + 1), cls)
    keep = max(nx.connected_components(graph), key=len)
    graph.remove_nodes_from([n for n in list(graph) if n not in keep])
    if zone_cells is not None:
        zi, zj = zone_cells
        net.zone_interior = frozenset((zi + a, zj + b) for a in (1, 2) for b in (1, 2))
    return net
