"""Small hand-built networks in metres (UTM 50N around 117° E, 31.6° N) for exact tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyproj import Transformer

from cdw.roads.network import RoadNetwork

X0, Y0 = 500_000.0, 3_500_000.0
_TO_LONLAT = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def lonlat(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local metres (offsets from X0, Y0) to lon/lat."""
    lon, lat = _TO_LONLAT.transform(np.asarray(x, float) + X0, np.asarray(y, float) + Y0)
    return np.asarray(lon), np.asarray(lat)


def network(
    nodes: dict[int, tuple[float, float]],
    edges: list[tuple[int, int, dict]],
) -> RoadNetwork:
    """Nodes ``id -> (x, y)`` local metres; edges ``(from, to, attrs)`` in this order, with
    attrs among highway, maxweight, hgv_no, oneway, name. Node index = position in ``nodes``."""
    ids = list(nodes)
    lon, lat = lonlat([nodes[i][0] for i in ids], [nodes[i][1] for i in ids])
    pos = {n: k for k, n in enumerate(ids)}
    return RoadNetwork.from_arrays(
        np.array(ids),
        lon,
        lat,
        np.array([pos[u] for u, _, _ in edges]),
        np.array([pos[v] for _, v, _ in edges]),
        edge_highway=np.array([a.get("highway", "residential") for *_, a in edges], dtype=object),
        edge_maxweight_t=np.array([a.get("maxweight", np.nan) for *_, a in edges]),
        edge_hgv_no=np.array([a.get("hgv_no", False) for *_, a in edges]),
        edge_oneway=np.array([a.get("oneway", False) for *_, a in edges]),
        edge_name=np.array([a.get("name", "") for *_, a in edges], dtype=object),
    )


def two_way(pairs: list[tuple[int, int]], **attrs: object) -> list[tuple[int, int, dict]]:
    """Both arcs of each road, forward then back."""
    return [arc for u, v in pairs for arc in ((u, v, dict(attrs)), (v, u, dict(attrs)))]


def grid(special: dict[tuple[int, int], dict] | None = None) -> tuple[RoadNetwork, dict]:
    """4 x 3 nodes 100 m apart, node r*4+c at (100c, 100r); the bottom row is primary
    (60 km/h, 6 s an edge), the rest residential (30 km/h, 12 s). ``special`` replaces the
    attrs of named arcs (a missing "arc" key drops it). Returns the network and arc ids."""
    nodes = {r * 4 + c: (100.0 * c, 100.0 * r) for r in range(3) for c in range(4)}
    pairs = [(r * 4 + c, r * 4 + c + 1) for r in range(3) for c in range(3)]
    pairs += [(r * 4 + c, (r + 1) * 4 + c) for r in range(2) for c in range(4)]
    arcs = []
    for u, v in pairs:
        attrs = {"highway": "primary"} if u < 4 and v < 4 else {}
        for a, b in ((u, v), (v, u)):
            extra = (special or {}).get((a, b), {})
            if extra.get("drop"):
                continue
            arcs.append((a, b, {**attrs, **extra}))
    net = network(nodes, arcs)
    ids = {(a, b): i for i, (a, b, _) in enumerate(arcs)}
    return net, ids
