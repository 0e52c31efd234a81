"""The road network as map layers: simplified polylines per zoom band, queried by bbox.

A network holds one straight arc per direction and per pair of consecutive nodes (the
Panyu district: 260k arcs, 142k undirected segments). Drawn as they are, they make a map
crawl. :class:`RoadLayers` builds, once per network and process (``road_layers`` caches it
while the file is unchanged):

1. one undirected segment per pair of nodes (the two arcs of a two-way road drawn once);
2. per road class and name, the segments merged into polylines at the nodes where only
   two of them meet (``shapely.line_merge``: 142k segments → about 25k lines);
3. per zoom band (``BANDS``), the classes drawn at that scale, simplified
   (Douglas-Peucker, keeping topology of each line) with a tolerance under one screen
   pixel at the band's largest scale, and an STR tree of them for bbox queries.

A query (``features``) takes a bbox and a zoom; the wider the view a band allows
(``Band.max_span_deg``) the fewer classes it draws, so the answer stays a few thousand
lines at most (and at most ``MAX_FEATURES``, with ``truncated`` said).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely

from cdw.errors import Problem, ValidationFailed
from cdw.roads.network import HIGHWAY_ZH, RoadNetwork
from cdw.roads.sources import existing_file, load_network

MAJOR = ("motorway", "trunk", "primary")
MAJOR_LINKS = ("motorway_link", "trunk_link", "primary_link")
MIDDLE = ("secondary", "secondary_link", "tertiary", "tertiary_link")
MINOR = ("unclassified", "residential", "living_street", "road")
MAX_FEATURES = 20_000
MIN_ZOOM, MAX_ZOOM = 0, 22


@dataclass(frozen=True)
class Band:
    """Zooms ``min_zoom``…``max_zoom`` draw ``classes`` (None: every class) simplified by
    ``tolerance_deg``; a bbox wider or taller than ``max_span_deg`` is refused (None: any)."""

    min_zoom: int
    max_zoom: int
    classes: tuple[str, ...] | None
    tolerance_deg: float
    max_span_deg: float | None
    decimals: int


# Metres per pixel at 23° N: about 144 km / 2^zoom (z11: 70 m, z13: 18 m, z15: 4.4 m).
BANDS = (
    Band(MIN_ZOOM, 11, MAJOR, 3e-4, None, 5),
    Band(12, 13, MAJOR + MAJOR_LINKS + ("secondary",), 8e-5, 1.5, 5),
    Band(14, 15, MAJOR + MAJOR_LINKS + MIDDLE + MINOR, 2e-5, 0.5, 6),
    Band(16, MAX_ZOOM, None, 0.0, 0.2, 6),
)


def band_of(zoom: int) -> Band:
    return next(b for b in BANDS if b.min_zoom <= zoom <= b.max_zoom)


@dataclass(frozen=True)
class _Layer:
    lines: np.ndarray  # shapely LineStrings, lon/lat
    highway: np.ndarray  # str per line
    name: np.ndarray  # str per line ("" when unnamed)
    coords: list[np.ndarray]  # rounded coordinates per line
    tree: shapely.STRtree


@dataclass(frozen=True)
class RoadFeature:
    highway: str
    highway_zh: str
    name: str | None
    coordinates: list[list[float]]


@dataclass(frozen=True)
class RoadQuery:
    band: Band
    features: list[RoadFeature]
    truncated: bool


class RoadLayers:
    """Simplified polylines of ``network`` per zoom band (see the module docstring)."""

    def __init__(self, network: RoadNetwork) -> None:
        self.bounds = (
            float(network.node_lon.min()),
            float(network.node_lat.min()),
            float(network.node_lon.max()),
            float(network.node_lat.max()),
        )
        lines, highway, name = _merged_lines(network)
        self.segments = int(_undirected(network).size)
        self.lines = int(lines.size)
        self._layers = [self._layer(band, lines, highway, name) for band in BANDS]

    @staticmethod
    def _layer(band: Band, lines: np.ndarray, highway: np.ndarray, name: np.ndarray) -> _Layer:
        keep = np.ones(lines.size, bool) if band.classes is None else np.isin(highway, band.classes)
        chosen = lines[keep]
        if band.tolerance_deg > 0:
            chosen = shapely.simplify(chosen, band.tolerance_deg, preserve_topology=True)
        coords = [np.round(shapely.get_coordinates(line), band.decimals) for line in chosen]
        return _Layer(chosen, highway[keep], name[keep], coords, shapely.STRtree(chosen))

    def features(self, bbox: tuple[float, float, float, float], zoom: int) -> RoadQuery:
        """The roads drawn at ``zoom`` that meet ``bbox`` (lon/lat min, min, max, max)."""
        band = band_of(zoom)
        check_bbox(bbox, band)
        layer = self._layers[BANDS.index(band)]
        hits = np.sort(layer.tree.query(shapely.box(*bbox), predicate="intersects"))
        truncated = hits.size > MAX_FEATURES
        if truncated:  # the most important roads first
            rank = {c: i for i, c in enumerate((*MAJOR, *MAJOR_LINKS, *MIDDLE, *MINOR))}
            order = np.argsort([rank.get(str(h), 99) for h in layer.highway[hits]], kind="stable")
            hits = np.sort(hits[order[:MAX_FEATURES]])
        return RoadQuery(
            band,
            [
                RoadFeature(
                    highway=str(layer.highway[i]),
                    highway_zh=HIGHWAY_ZH.get(str(layer.highway[i]), str(layer.highway[i])),
                    name=str(layer.name[i]) or None,
                    coordinates=layer.coords[i].tolist(),
                )
                for i in hits
            ],
            truncated,
        )


def check_bbox(bbox: tuple[float, float, float, float], band: Band) -> None:
    west, south, east, north = bbox
    problems = []
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        problems.append(
            Problem(
                "bbox",
                "范围须为 西,南,东,北（经纬度，西<东，南<北）",
                "bbox must be west,south,east,north in degrees with west<east and south<north",
            )
        )
    elif band.max_span_deg is not None and max(east - west, north - south) > band.max_span_deg:
        problems.append(
            Problem(
                "bbox",
                f"第 {band.min_zoom}–{band.max_zoom} 级缩放的范围不得超过 {band.max_span_deg}°",
                f"at zoom {band.min_zoom}-{band.max_zoom} the bbox may span at most "
                f"{band.max_span_deg}°",
            )
        )
    if problems:
        raise ValidationFailed(problems)


def _undirected(network: RoadNetwork) -> np.ndarray:
    """One arc per pair of nodes (the first of a two-way road's two arcs)."""
    lo = np.minimum(network.edge_from, network.edge_to)
    hi = np.maximum(network.edge_from, network.edge_to)
    _, first = np.unique(lo * network.n_nodes + hi, return_index=True)
    return np.sort(first)


def _merged_lines(network: RoadNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polylines of the undirected segments merged per (class, name)."""
    arcs = _undirected(network)
    a, b = network.edge_from[arcs], network.edge_to[arcs]
    ends = np.stack(
        [
            np.stack([network.node_lon[a], network.node_lat[a]], axis=1),
            np.stack([network.node_lon[b], network.node_lat[b]], axis=1),
        ],
        axis=1,
    )
    segments = shapely.linestrings(ends)
    classes = network.highway_classes[network.edge_highway[arcs]].astype(str)
    names = network.edge_name[arcs].astype(str)
    groups, group_of = np.unique(
        np.char.add(np.char.add(classes, "\x1f"), names), return_inverse=True
    )
    out_lines, out_class, out_name = [], [], []
    for g, key in enumerate(groups):
        cls, _, name = str(key).partition("\x1f")
        merged = shapely.get_parts(
            shapely.line_merge(shapely.multilinestrings(segments[group_of == g]))
        )
        out_lines.append(merged)
        out_class.append(np.full(merged.size, cls, dtype=object))
        out_name.append(np.full(merged.size, name, dtype=object))
    if not out_lines:
        empty = np.array([], dtype=object)
        return empty, empty, empty
    return np.concatenate(out_lines), np.concatenate(out_class), np.concatenate(out_name)


def road_layers(path: str | Path) -> RoadLayers:
    """The layers of the network file ``path``, built once while the file is unchanged."""
    source = existing_file(path).resolve()
    stat = source.stat()
    with _BUILD_LOCK:  # one build at a time: a request waits for the warm-up's build
        return _layers(str(source), stat.st_mtime_ns, stat.st_size)


_BUILD_LOCK = threading.Lock()
_WARMING: set[str] = set()
_WARMING_LOCK = threading.Lock()


def warm_up(path: str | Path) -> None:
    """Build the layers of ``path`` in a background thread (the first map request then
    finds them ready); errors are left to the request that needs them."""

    key = str(path)
    with _WARMING_LOCK:
        if key in _WARMING:
            return
        _WARMING.add(key)

    def build() -> None:
        try:
            road_layers(path)
        except Exception:  # noqa: BLE001 - the request that needs the layers reports it
            with _WARMING_LOCK:
                _WARMING.discard(key)

    threading.Thread(target=build, name="road-layers", daemon=True).start()


@lru_cache(maxsize=2)
def _layers(path: str, mtime_ns: int, size: int) -> RoadLayers:
    return RoadLayers(load_network(path))
