"""Readers and writers of road networks: OSM XML and PBF, the Panyu Parquet tables, the
Kubicka benchmark files, GeoJSON, and cdw's own ``.npz`` cache (``save_cache``,
``load_cache``); ``load_network`` picks the reader by the file's suffix.

Each reader checks its input and reports every problem with the file, line and field in
Chinese and English.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import lru_cache
from itertools import groupby, pairwise
from pathlib import Path

import numpy as np

from cdw.errors import InputFileError, Problem
from cdw.geo.projection import Projector
from cdw.roads.divided import infer_divided_oneway
from cdw.roads.network import (
    DRIVABLE_HIGHWAYS,
    LIMIT_SOURCE_LABELS,
    OTHER_SPEED_KMH,
    RoadNetwork,
    _out_arcs,
    posted_limits,
)

# The cache: format 2 is compressed and leaves out what ``load_cache`` rebuilds (format 1, the
# uncompressed cache of every array, has no limits and still loads).
CACHE_FORMAT = 2
_DERIVED = frozenset({"node_x", "node_y", "out_start", "out_edges"})
_NODE_INDEX = ("edge_from", "edge_to")
_FIELD_DTYPES: dict[str, type] = {
    "crs": str,
    "highway_classes": str,
    "node_id": np.int64,
    "node_lon": np.float64,
    "node_lat": np.float64,
    "node_x": np.float64,
    "node_y": np.float64,
    "edge_from": np.int64,
    "edge_to": np.int64,
    "edge_length_m": np.float64,
    "edge_speed_kmh": np.float64,
    "edge_highway": np.int16,
    "edge_oneway": np.bool_,
    "edge_maxspeed_kmh": np.float64,
    "edge_maxweight_t": np.float64,
    "edge_hgv_no": np.bool_,
    "edge_name": str,
    "edge_limit_kmh": np.float64,
    "edge_limit_source": np.int8,
    "out_start": np.int64,
    "out_edges": np.int64,
}
_OSM_WAY_TAGS = ("highway", "name", "oneway", "junction", "maxspeed", "maxweight", "hgv", "access")
# ``oneway`` values osmnx reads as one-way, and as one-way against the node order.
_ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
_REVERSED_VALUES = frozenset({"-1", "reverse", "T"})
_EARTH_RADIUS_M = 6_371_009.0  # osmnx's, so both OSM loaders measure arcs alike
_MPH_KMH = 1.609344
_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)")
# The per-class speed the Panyu tables' build put where maxspeed was not tagged (its
# SOURCE.md lists the main classes; the ``*_link`` figures are those ≥ 97 % of each link
# class carries, which the build's default table must have given).
_PANYU_TABLE_DEFAULT_KMH = {
    "motorway": 80.0,
    "motorway_link": 50.0,
    "trunk": 70.0,
    "trunk_link": 45.0,
    "primary": 60.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 35.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "residential": 30.0,
    "unclassified": 30.0,
    "service": 20.0,
    "living_street": 15.0,
}


def read_osm_xml(path: str | Path) -> RoadNetwork:
    """Drivable roads of an OSM XML file (``.osm``, ``.osm.xml``, ``.osm.bz2``), offline.

    One-way roads (``oneway=yes/-1``, roundabouts, motorways) keep one direction.
    """
    import osmnx as ox

    source = existing_file(path)
    with _osmnx_way_tags():
        try:
            graph = ox.graph_from_xml(source, simplify=False, retain_all=True)
        except Exception as exc:  # expat, bz2 and osmnx errors alike
            raise InputFileError(
                f"无法读取 OSM XML 文件 {source}：{exc}",
                f"cannot read OSM XML file {source}: {exc}",
                problems=[
                    Problem("path", "文件格式无效", "invalid file format", source=str(source))
                ],
            ) from exc
    arcs, lengths = [], []
    for u, v, data in graph.edges(data=True):
        attrs = _arc_tags(data, bool(data.get("oneway", False)))
        if attrs is None or (attrs[1] and data.get("reversed", False)):
            continue  # not drivable, or the reversed copy of an implied one-way motorway
        arcs.append((u, v, *attrs))
        lengths.append(float(data["length"]))

    def lonlat(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nodes = [graph.nodes[n] for n in ids.tolist()]
        return np.array([n["x"] for n in nodes]), np.array([n["y"] for n in nodes])

    return _from_osm_arcs(source, arcs, lonlat, lengths)


def read_osm_pbf(path: str | Path) -> RoadNetwork:
    """Drivable roads of an OSM PBF file (``.osm.pbf``), offline, read as ``from_osm_xml``
    reads XML.

    Streams the file once with pyosmium: libosmium keeps node locations in a sparse
    index (16 bytes a node) and hands Python only the highway ways, located.
    """
    import osmium

    source = existing_file(path)
    arcs, located = [], {}
    ways = (
        osmium.FileProcessor(osmium.io.File(str(source), "pbf"), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations("sparse_mem_array")
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    with _reading_pbf(source):
        for way in ways:
            tags = {k: way.tags.get(k) for k in _OSM_WAY_TAGS}
            oneway = tags["oneway"] in _ONEWAY_VALUES or tags["junction"] == "roundabout"
            attrs = _arc_tags(tags, oneway)
            if attrs is None:
                continue
            for node in way.nodes:
                if node.location.valid():
                    located[node.ref] = (node.location.lon, node.location.lat)
            refs = [ref for ref, _ in groupby(n.ref for n in way.nodes)]
            if oneway and tags["oneway"] in _REVERSED_VALUES:
                refs.reverse()
            pairs = list(pairwise(refs))
            arcs.extend((u, v, *attrs) for u, v in pairs)
            if not attrs[1]:
                arcs.extend((v, u, *attrs) for u, v in pairs)
    return _from_osm_arcs(source, arcs, lambda ids: _node_lonlat(source, located, ids))


def read_osm_file(path: str | Path) -> RoadNetwork:
    """An OSM extract by its suffix: ``.osm.pbf``/``.pbf``, or XML ``.osm``, ``.osm.xml``,
    ``.osm.bz2``."""
    source = existing_file(path)
    name = source.name.lower()
    if name.endswith(".pbf"):
        return read_osm_pbf(source)
    if name.endswith((".osm", ".xml", ".osm.bz2")):
        return read_osm_xml(source)
    raise InputFileError(
        f"无法识别的 OSM 文件类型：{source}（应为 .osm、.osm.xml、.osm.bz2、.osm.pbf 或 .pbf）",
        f"unknown OSM file type: {source} (expected .osm, .osm.xml, .osm.bz2, .osm.pbf or .pbf)",
        problems=[Problem("path", "不支持的文件类型", "unsupported file type", source=str(source))],
    )


def _from_osm_arcs(
    source: Path,
    arcs: list[tuple],
    node_lonlat: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    lengths: list[float] | None = None,
) -> RoadNetwork:
    """The network of OSM arcs ``(u, v, *_arc_tags)`` (u, v node ids); ``node_lonlat``
    locates the sorted used node ids; lengths default to the great-circle distance."""
    if not arcs:
        raise InputFileError(
            f"OSM 文件 {source} 中没有可通行车辆的道路",
            f"OSM file {source} has no drivable roads",
        )
    cols = list(zip(*arcs, strict=True))
    used = np.unique(np.array(cols[0] + cols[1], dtype=np.int64))
    lon, lat = node_lonlat(used)
    edge_from = np.searchsorted(used, np.array(cols[0], np.int64))
    edge_to = np.searchsorted(used, np.array(cols[1], np.int64))
    if lengths is None:
        length_m = _great_circle_m(lon[edge_from], lat[edge_from], lon[edge_to], lat[edge_to])
    else:
        length_m = np.array(lengths)
    return RoadNetwork.from_arrays(
        used,
        lon,
        lat,
        edge_from,
        edge_to,
        edge_length_m=length_m,
        edge_highway=np.array(cols[2], dtype=object),
        edge_oneway=np.array(cols[3]),
        edge_maxspeed_kmh=np.array(cols[4]),
        edge_maxweight_t=np.array(cols[5]),
        edge_hgv_no=np.array(cols[6]),
        edge_name=np.array(cols[7], dtype=object),
    )


def read_parquet_tables(nodes: str | Path, edges: str | Path) -> RoadNetwork:
    """The Panyu table format: nodes (node_id, lon, lat), undirected edges (u, v,
    distance_km, speed_kmh, highway); each edge becomes two arcs.

    ``speed_kmh`` is the free-flow speed. The tables merged the maxspeed tag and a
    per-class default into it, so a value other than that class's default is read as
    a tagged maxspeed and a value equal to it as untagged (a tag equal to the default
    is lost; ``_panyu_maxspeed``).

    The tables lost OSM ``oneway`` (every road is two-way in them): the two carriageways
    of a divided road are found and made one-way the way traffic drives them
    (``cdw.roads.divided.infer_divided_oneway``; arc ids change).
    """
    node_path, edge_path = existing_file(nodes), existing_file(edges)
    node_table = _read_parquet(node_path, ("node_id", "lon", "lat"))
    edge_table = _read_parquet(edge_path, ("u", "v", "distance_km", "speed_kmh", "highway"))
    node_id = node_table["node_id"]
    order = np.argsort(node_id)
    sorted_ids = node_id[order]
    index = {}
    for end in ("u", "v"):
        pos = np.searchsorted(sorted_ids, edge_table[end])
        pos = np.minimum(pos, sorted_ids.size - 1)
        missing = sorted_ids[pos] != edge_table[end]
        if missing.any():
            first = int(np.argmax(missing))
            raise InputFileError(
                f"{edge_path} 第 {first} 行的 {end} 节点 {int(edge_table[end][first])} 不在节点表中",
                f"{edge_path} row {first}: {end} node {int(edge_table[end][first])} is not in the node table",
                problems=[
                    Problem(end, "节点不存在", "unknown node", line=first, source=str(edge_path))
                ],
            )
        index[end] = order[pos]
    u, v = index["u"], index["v"]
    both = np.concatenate
    speed = edge_table["speed_kmh"].astype(np.float64)
    network = RoadNetwork.from_arrays(
        node_id,
        node_table["lon"],
        node_table["lat"],
        both([u, v]),
        both([v, u]),
        edge_length_m=both([edge_table["distance_km"]] * 2) * 1000.0,
        edge_highway=both([edge_table["highway"]] * 2),
        edge_speed_kmh=both([speed] * 2),
        edge_maxspeed_kmh=both([_panyu_maxspeed(edge_table["highway"], speed)] * 2),
    )
    return infer_divided_oneway(network)


def read_kubicka(folder_or_prefix: str | Path) -> RoadNetwork:
    """A Kubicka benchmark network: ``<prefix>.nodes`` (lon lat) and ``<prefix>.arcs``
    (from to, directed); node and edge ids are the 0-based line numbers."""
    prefix = _kubicka_prefix(folder_or_prefix)
    nodes_path = existing_file(prefix.with_name(prefix.name + ".nodes"))
    arcs_path = existing_file(prefix.with_name(prefix.name + ".arcs"))
    coords = _read_table(nodes_path, np.float64, 2)
    arcs = _read_table(arcs_path, np.int64, 2)
    bad = (arcs < 0) | (arcs >= coords.shape[0])
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise InputFileError(
            f"{arcs_path} 第 {row + 1} 行引用了不存在的节点",
            f"{arcs_path} line {row + 1} refers to a node that does not exist",
            problems=[
                Problem(
                    "arcs",
                    "节点编号越界",
                    "node id out of range",
                    line=row + 1,
                    source=str(arcs_path),
                )
            ],
        )
    return RoadNetwork.from_arrays(
        np.arange(coords.shape[0], dtype=np.int64),
        coords[:, 0],
        coords[:, 1],
        arcs[:, 0],
        arcs[:, 1],
    )


def save_cache(network: RoadNetwork, path: str | Path) -> Path:
    """Write the network to one compressed ``.npz`` cache, byte-identical for the same
    network (fixed zip timestamps and order). Arrays ``load_cache`` rebuilds (the
    projected coordinates, the outgoing-arc index) are left out; node indices are
    stored in the narrowest integer type that holds them."""
    target = Path(path)
    arrays = {"format": np.array(CACHE_FORMAT, np.int8), "crs": np.array(network.crs)}
    index_type = np.int32 if network.n_nodes < 2**31 else np.int64
    for f in fields(network):
        if f.name in _DERIVED or f.name == "crs":
            continue
        value = getattr(network, f.name)
        arrays[f.name] = value.astype(index_type) if f.name in _NODE_INDEX else value
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)
    tmp.replace(target)
    return target


def load_cache(path: str | Path) -> RoadNetwork:
    """A network written by ``save_cache``, of this format or the earlier uncompressed one
    (whose limits are derived from the maxspeed tags and the statutory defaults)."""
    source = existing_file(path)
    try:
        with np.load(source, allow_pickle=False) as data:
            stored = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputFileError(
            f"无法读取路网缓存 {source}：{exc}",
            f"cannot read network cache {source}: {exc}",
            problems=[
                Problem("path", "不是路网缓存文件", "not a network cache", source=str(source))
            ],
        ) from exc
    return _from_stored(source, stored)


def read_geojson(path: str | Path) -> RoadNetwork:
    """(Multi)LineString roads of a GeoJSON FeatureCollection in WGS-84 degrees; each
    vertex pair is one road segment, vertices at the same coordinates are one node.

    Properties (all optional): ``speed_limit_kmh`` or ``maxspeed`` (posted limit, km/h
    or ``"40 mph"``), ``name_zh`` or ``name``, ``road_class`` or ``highway`` (default
    ``unclassified``), ``oneway`` (``yes``/``true``/``1``; ``-1`` runs backwards).
    Every bad feature is reported at once, by its 0-based index and field.
    """

    source = existing_file(path)
    doc = read_json(source, "GeoJSON 文件", "GeoJSON file")
    is_collection = isinstance(doc, dict) and doc.get("type") == "FeatureCollection"
    features = doc.get("features") if is_collection else None
    if not isinstance(features, list):
        raise InputFileError(
            f"{source} 不是 GeoJSON FeatureCollection",
            f"{source} is not a GeoJSON FeatureCollection",
        )
    roads, problems = [], []
    for index, feature in enumerate(features):
        found = _geojson_road(feature)
        if isinstance(found, Problem):
            found.line, found.source = index, str(source)
            problems.append(found)
        else:
            roads.append(found)
    if problems:
        raise InputFileError(
            f"{source} 中有 {len(problems)} 条道路无效",
            f"{source} has {len(problems)} invalid road feature(s)",
            problems=problems,
        )
    if not roads:
        raise InputFileError(f"{source} 中没有道路", f"{source} has no roads")
    coords = np.round(np.vstack([c for road in roads for c in road.lines]), 7)
    nodes, vertex_node = np.unique(coords, axis=0, return_inverse=True)
    vertex_node = vertex_node.reshape(-1)
    cols: dict[str, list] = {k: [] for k in ("u", "v", "cls", "one", "speed", "name")}
    start = 0
    for road in roads:
        for line in road.lines:
            ids = vertex_node[start : start + len(line)]
            start += len(line)
            u, v = (ids[:-1], ids[1:]) if road.oneway >= 0 else (ids[1:], ids[:-1])
            keep = u != v
            arcs = [(u[keep], v[keep])] + ([(v[keep], u[keep])] if road.oneway == 0 else [])
            for a, b in arcs:
                cols["u"].append(a)
                cols["v"].append(b)
                for key, value in (
                    ("cls", road.highway),
                    ("one", road.oneway != 0),
                    ("speed", road.maxspeed),
                    ("name", road.name),
                ):
                    cols[key].append(np.full(a.size, value, dtype=object))
    both = {k: np.concatenate(v) for k, v in cols.items()}
    return RoadNetwork.from_arrays(
        np.arange(len(nodes), dtype=np.int64),
        nodes[:, 0],
        nodes[:, 1],
        both["u"],
        both["v"],
        edge_highway=both["cls"],
        edge_oneway=both["one"].astype(bool),
        edge_maxspeed_kmh=both["speed"].astype(np.float64),
        edge_name=both["name"],
    )


def read_json(source: Path, what_zh: str, what_en: str) -> object:
    """The JSON document in ``source`` (UTF-8, with or without a BOM); a file that is not
    one is an InputFileError naming it as ``what``."""
    try:
        return json.loads(source.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(
            f"无法读取{what_zh} {source}：{exc}",
            f"cannot read {what_en} {source}: {exc}",
            problems=[Problem("path", "不是 UTF-8 JSON", "not UTF-8 JSON", source=str(source))],
        ) from exc


@dataclass(frozen=True)
class _GeojsonRoad:
    lines: list[np.ndarray]  # (n, 2) lon/lat vertices, n >= 2
    highway: str
    oneway: int  # 0 two-way, 1 forward, -1 backward
    maxspeed: float
    name: str


_ONEWAY = {"yes": 1, "true": 1, "1": 1, "no": 0, "false": 0, "0": 0, "-1": -1, "": 0}


def _geojson_road(feature: object) -> _GeojsonRoad | Problem:
    """One road of a GeoJSON feature, or the first thing wrong with it."""
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in ("LineString", "MultiLineString"):
        return Problem(
            "geometry",
            f"道路必须是 LineString 或 MultiLineString，实际为 {kind}",
            f"a road must be a LineString or MultiLineString, got {kind}",
        )
    parts = geometry.get("coordinates")
    parts = [parts] if kind == "LineString" else parts
    try:
        lines = [np.asarray(part, dtype=np.float64) for part in parts]
        ok = all(
            line.ndim == 2 and line.shape[0] >= 2 and line.shape[1] >= 2 for line in lines
        ) and bool(lines)
        lines = [line[:, :2] for line in lines] if ok else lines
        ok = ok and all(
            np.isfinite(line).all()
            and (np.abs(line[:, 0]) <= 180).all()
            and (np.abs(line[:, 1]) <= 90).all()
            for line in lines
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        return Problem(
            "geometry",
            "坐标须为至少两个有效的 [经度, 纬度] 点",
            "coordinates must be at least two valid [lon, lat] positions",
        )
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return Problem("properties", "properties 必须是对象", "properties must be an object")
    raw_speed = props.get("speed_limit_kmh", props.get("maxspeed"))
    speed = math.nan
    if raw_speed is not None and raw_speed != "":
        speed = float(raw_speed) if isinstance(raw_speed, int | float) else _parse_speed(raw_speed)
        if isinstance(raw_speed, bool) or not (math.isfinite(speed) and speed > 0):
            field = "speed_limit_kmh" if "speed_limit_kmh" in props else "maxspeed"
            return Problem(
                field,
                f"限速必须是正数（km/h），实际为 {raw_speed!r}",
                f"the speed limit must be a positive number (km/h), got {raw_speed!r}",
            )
    raw_oneway = props.get("oneway", "")
    oneway = _ONEWAY.get(str(raw_oneway).strip().lower())
    if isinstance(raw_oneway, bool):
        oneway = int(raw_oneway)
    if oneway is None:
        return Problem(
            "oneway",
            f"oneway 应为 yes、no 或 -1，实际为 {raw_oneway!r}",
            f"oneway must be yes, no or -1, got {raw_oneway!r}",
        )
    name = props.get("name_zh", props.get("name")) or ""
    highway = props.get("road_class", props.get("highway")) or "unclassified"
    return _GeojsonRoad(lines, str(highway), oneway, speed, str(name))


def _kubicka_prefix(folder_or_prefix: str | Path) -> Path:
    """``dir/00000005`` for ``dir/00000005`` (a folder named like its files) or a prefix."""
    path = Path(folder_or_prefix)
    return path / path.name if path.is_dir() else path


def _read_table(path: Path, dtype: type, n_cols: int) -> np.ndarray:
    try:
        table = np.loadtxt(path, dtype=dtype, ndmin=2)
    except ValueError as exc:
        raise InputFileError(
            f"无法解析 {path}：{exc}",
            f"cannot parse {path}: {exc}",
            problems=[
                Problem(
                    "path",
                    "不是制表符分隔的数值表",
                    "not a tab-separated numeric table",
                    source=str(path),
                )
            ],
        ) from exc
    if table.size and table.shape[1] < n_cols:
        raise InputFileError(
            f"{path} 应有 {n_cols} 列，实际 {table.shape[1]} 列",
            f"{path} should have {n_cols} columns, got {table.shape[1]}",
        )
    return table[:, :n_cols].reshape(-1, n_cols)


def _read_parquet(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputFileError(
            f"无法读取 Parquet 文件 {path}：{exc}", f"cannot read Parquet file {path}: {exc}"
        ) from exc
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputFileError(
            f"{path} 缺少列：{', '.join(missing)}",
            f"{path} lacks column(s): {', '.join(missing)}",
            problems=[Problem(c, "缺少列", "missing column", source=str(path)) for c in missing],
        )
    return {c: table.column(c).to_numpy() for c in columns}


@contextmanager
def _osmnx_way_tags() -> Iterator[None]:
    """osmnx settings that keep the way tags trucks care about, restored afterwards."""
    import osmnx as ox

    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(_OSM_WAY_TAGS)
    try:
        yield
    finally:
        ox.settings.useful_tags_way = saved


@contextmanager
def _reading_pbf(source: Path) -> Iterator[None]:
    """libosmium's errors (not PBF, truncated, corrupt) as the project's error."""
    try:
        yield
    except RuntimeError as exc:
        raise InputFileError(
            f"无法读取 OSM PBF 文件 {source}：{exc}",
            f"cannot read OSM PBF file {source}: {exc}",
            problems=[Problem("path", "文件格式无效", "invalid file format", source=str(source))],
        ) from exc


def _node_lonlat(
    source: Path, located: dict[int, tuple[float, float]], ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of the nodes ``ids``; an error names the unlocated ones."""
    missing = [n for n in ids.tolist() if n not in located]
    if missing:
        raise InputFileError(
            f"OSM PBF 文件 {source} 缺少 {len(missing)} 个道路节点的坐标（如节点 {missing[0]}），"
            "可能是裁剪所致；请用 osmium extract --strategy complete_ways 重新裁剪",
            f"OSM PBF file {source} lacks the locations of {len(missing)} road node(s) "
            f"(e.g. node {missing[0]}), perhaps clipped; re-extract it with "
            "osmium extract --strategy complete_ways",
            problems=[Problem("path", "道路节点缺失", "road nodes missing", source=str(source))],
        )
    coords = np.array([located[n] for n in ids.tolist()], np.float64).reshape(-1, 2)
    return coords[:, 0], coords[:, 1]


def _arc_tags(
    tags: Mapping[str, object], oneway: bool
) -> tuple[str, bool, float, float, bool, str] | None:
    """Class, one-way flag, maxspeed, maxweight, ``hgv=no`` and name of a way's arcs, from
    its tags and osmnx's one-way reading; None where trucks may not drive. Motorways are
    implied one-way."""
    highway = _first(tags.get("highway"))
    if highway not in DRIVABLE_HIGHWAYS or _first(tags.get("access")) == "no":
        return None
    return (
        highway,
        oneway or highway == "motorway",
        _parse_speed(tags.get("maxspeed")),
        _parse_number(tags.get("maxweight")),
        _first(tags.get("hgv")) == "no",
        _first(tags.get("name")) or "",
    )


def _great_circle_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Haversine distance in metres, computed as ``osmnx.distance.great_circle`` does."""
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    x1, x2 = np.deg2rad(lon1), np.deg2rad(lon2)
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    return 2 * np.arcsin(np.sqrt(np.minimum(1, h))) * _EARTH_RADIUS_M


def _first(value: object) -> str | None:
    """A tag value as a string; osmnx may give a list where ways were merged."""
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _parse_number(value: object) -> float:
    """Leading number of a tag (``"10"``, ``"5.5 t"``), NaN if none."""
    text = _first(value)
    match = _NUMBER.match(text) if text else None
    return float(match.group(1)) if match else math.nan


def _parse_speed(value: object) -> float:
    """maxspeed in km/h (``"60"``, ``"40 mph"``); NaN for none or a zone code."""
    speed = _parse_number(value)
    text = _first(value) or ""
    return speed * _MPH_KMH if "mph" in text else speed


def _panyu_maxspeed(highway: np.ndarray, speed_kmh: np.ndarray) -> np.ndarray:
    """The maxspeed tags the Panyu tables merged into ``speed_kmh``: the value where it
    differs from the build's default for the class (``_PANYU_TABLE_DEFAULT_KMH``, else
    ``OTHER_SPEED_KMH``), NaN where it equals it."""
    classes, codes = np.unique(np.asarray(highway, dtype=str), return_inverse=True)
    default = np.array([_PANYU_TABLE_DEFAULT_KMH.get(c, OTHER_SPEED_KMH) for c in classes])
    return np.where(speed_kmh == default[codes.reshape(-1)], np.nan, speed_kmh)


def _from_stored(source: Path, stored: dict[str, np.ndarray]) -> RoadNetwork:
    """The network of a cache's arrays, checked: every field present with its type and
    length, node indices in range."""
    stamp = stored.pop("format", np.array(1))
    if stamp.shape != () or stamp.dtype.kind not in "iu":
        raise InputFileError(
            f"路网缓存 {source} 的格式号无效",
            f"network cache {source} has an invalid format number",
            problems=[Problem("format", "格式号无效", "invalid format number", source=str(source))],
        )
    version = int(stamp)
    derived = _DERIVED if version >= 2 else frozenset()
    needed = [f.name for f in fields(RoadNetwork) if f.name not in derived]
    if version < 2:
        needed = [n for n in needed if n not in ("edge_limit_kmh", "edge_limit_source")]
    problems = [
        Problem(name, "缓存缺少该数组", "array missing from the cache", source=str(source))
        for name in needed
        if name not in stored
    ]
    if version > CACHE_FORMAT:
        problems.append(
            Problem(
                "format",
                f"缓存格式 {version} 比本程序支持的 {CACHE_FORMAT} 新",
                f"cache format {version} is newer than the supported {CACHE_FORMAT}",
                source=str(source),
            )
        )
    values = {}
    if not problems:
        values = {name: stored[name] for name in needed}
        problems = _array_problems(source, values)
    if problems:
        raise InputFileError(
            f"路网缓存 {source} 无效", f"invalid network cache {source}", problems=problems
        )
    crs = str(values.pop("crs"))
    for name, dtype in _FIELD_DTYPES.items():
        if name in values and dtype is not str:
            values[name] = np.ascontiguousarray(values[name], dtype)
    if version < 2:
        values["edge_limit_kmh"], values["edge_limit_source"] = posted_limits(
            values["highway_classes"], values["edge_highway"], values["edge_maxspeed_kmh"]
        )
    else:
        import pyproj

        projector = Projector(pyproj.CRS.from_user_input(crs))
        values["node_x"], values["node_y"] = projector.forward(
            values["node_lon"], values["node_lat"]
        )
        values["out_start"], values["out_edges"] = _out_arcs(
            values["edge_from"], values["node_id"].size
        )
    return RoadNetwork(crs=crs, **values)


def _array_problems(source: Path, values: dict[str, np.ndarray]) -> list[Problem]:
    """What is wrong with a cache's arrays: a type, a length, an index or code out of range."""
    problems = []

    def bad(name: str, zh: str, en: str) -> None:
        problems.append(Problem(name, zh, en, source=str(source)))

    n_nodes, n_edges = values["node_id"].size, values["edge_from"].size
    for name, value in values.items():
        dtype = _FIELD_DTYPES.get(name)
        if dtype is None:
            continue
        kind_ok = (
            value.dtype.kind == "U"
            if dtype is str
            else np.can_cast(value.dtype, dtype, casting="safe")
        )
        if not kind_ok:
            bad(name, f"数组类型 {value.dtype} 不符", f"array of type {value.dtype} not expected")
            continue
        size = (
            n_nodes if name.startswith("node_") else n_edges if name.startswith("edge_") else None
        )
        if size is not None and value.shape != (size,):
            bad(
                name,
                f"数组形状 {value.shape} 应为 ({size},)",
                f"array shape {value.shape}, expected ({size},)",
            )
    if problems:
        return problems
    for name in _NODE_INDEX:
        index = values[name]
        if index.size and (index.min() < 0 or index.max() >= n_nodes):
            bad(name, "节点编号越界", f"node index outside 0..{n_nodes - 1}")
    classes = values["highway_classes"].size
    highway = values["edge_highway"]
    if highway.size and (highway.min() < 0 or highway.max() >= classes):
        bad("edge_highway", "道路等级编号越界", f"road class index outside 0..{classes - 1}")
    limit_source = values.get("edge_limit_source")
    if limit_source is not None and not np.isin(limit_source, list(LIMIT_SOURCE_LABELS)).all():
        bad("edge_limit_source", "未知的限速来源代码", "unknown limit source code")
    return problems


def existing_file(path: str | Path) -> Path:
    source = Path(path)
    if not source.is_file():
        raise InputFileError(
            f"找不到文件：{source}",
            f"file not found: {source}",
            problems=[Problem("path", "文件不存在", "file does not exist", source=str(source))],
        )
    return source


# Loaders by file-name ending; ``.npz`` is the cache that ``save_cache`` writes.
_LOADERS = {
    ".npz": load_cache,
    ".geojson": read_geojson,
    ".json": read_geojson,
    ".osm": read_osm_file,
    ".osm.xml": read_osm_file,
    ".osm.bz2": read_osm_file,
    ".pbf": read_osm_file,
}


def load_network(path: str | Path) -> RoadNetwork:
    """The network in ``path`` (``.npz`` cache, GeoJSON, OSM XML or PBF), cached while the
    file is unchanged."""
    source = existing_file(path).resolve()
    name = source.name.lower()
    suffix = next((s for s in sorted(_LOADERS, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None:
        known = "、".join(_LOADERS)
        raise InputFileError(
            f"无法识别的路网文件类型：{source}（应为 {known}）",
            f"unknown road network file type: {source} (expected {', '.join(_LOADERS)})",
            problems=[Problem("road_network", "不支持的文件类型", "unsupported file type")],
        )
    stat = source.stat()
    return _cached(str(source), suffix, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=2)
def _cached(path: str, suffix: str, mtime_ns: int, size: int) -> RoadNetwork:
    return _LOADERS[suffix](path)
