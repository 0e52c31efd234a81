"""An officer's speed limits, drawn as lines, put onto the network's edges.

A limits file is a GeoJSON FeatureCollection of LineStrings in WGS-84 degrees, each with
a ``speed_limit_kmh`` property (a positive number). Each line is snapped onto the edges
it runs along (``snap_route``, as a drawn permit route is); the limit applies to those
edges and to their reverse arcs (a sign on a two-way road holds both ways; the carriageways
of a divided road are separate one-way arcs and are drawn separately).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from shapely.geometry import LineString

from cdw.errors import InputFileError, Problem
from cdw.roads.matching import MapMatcher, MatchParams
from cdw.roads.network import RoadNetwork
from cdw.roads.routing import snap_route
from cdw.roads.sources import existing_file, read_json

LIMIT_PROPERTY = "speed_limit_kmh"


def read_officer_limits(network: RoadNetwork, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The edges and limits (km/h) of a limits file, for ``RoadNetwork.with_officer_limits``;
    every bad feature (geometry, limit, a line that is not on the network) is reported at
    once, by its 0-based index and field, and nothing is applied."""
    source = existing_file(path)
    doc = read_json(source, "限速文件", "limits file")
    features = doc.get("features") if isinstance(doc, dict) else None
    if not (isinstance(doc, dict) and doc.get("type") == "FeatureCollection") or not isinstance(
        features, list
    ):
        raise InputFileError(
            f"{source} 不是 GeoJSON FeatureCollection",
            f"{source} is not a GeoJSON FeatureCollection",
        )
    matcher = MapMatcher(network, MatchParams(sigma_m=5.0, table_m=0.0))
    edges, limits, problems = [], [], []
    arc_reverse = network.arc_reverse()
    for index, feature in enumerate(features):
        found = _feature_limit(feature)
        if isinstance(found, Problem):
            found.line, found.source = index, str(source)
            problems.append(found)
            continue
        line, limit = found
        snapped = snap_route(network, line, matcher=matcher)
        if snapped.proposal is None or snapped.violations:
            problems.append(
                Problem(
                    "geometry",
                    "限速线有部分不在路网上或不连通",
                    "part of the limit line is off the network or not connected",
                    line=index,
                    source=str(source),
                )
            )
            continue
        on = np.array(snapped.proposal.edge_ids, np.int64)
        reverse = arc_reverse[on]
        both = np.union1d(on, reverse[reverse >= 0])
        edges.append(both)
        limits.append(np.full(both.size, limit))
    if problems:
        raise InputFileError(
            f"{source} 中有 {len(problems)} 条限速无效",
            f"{source} has {len(problems)} invalid limit feature(s)",
            problems=problems,
        )
    if not edges:
        raise InputFileError(f"{source} 中没有限速", f"{source} has no limits")
    return np.concatenate(edges), np.concatenate(limits)


def _feature_limit(feature: object) -> tuple[LineString, float] | Problem:
    """The line and limit of one feature, or the first thing wrong with it."""
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind != "LineString":
        return Problem(
            "geometry",
            f"限速线必须是 LineString，实际为 {kind}",
            f"a limit line must be a LineString, got {kind}",
        )
    try:
        coords = np.asarray(geometry.get("coordinates"), dtype=np.float64)
        ok = coords.ndim == 2 and coords.shape[0] >= 2 and coords.shape[1] >= 2
        ok = ok and bool(
            np.isfinite(coords[:, :2]).all()
            and (np.abs(coords[:, 0]) <= 180).all()
            and (np.abs(coords[:, 1]) <= 90).all()
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        return Problem(
            "geometry",
            "坐标须为至少两个有效的 [经度, 纬度] 点",
            "coordinates must be at least two valid [lon, lat] positions",
        )
    props = feature.get("properties")
    value = props.get(LIMIT_PROPERTY) if isinstance(props, dict) else None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        return Problem(
            LIMIT_PROPERTY,
            f"限速必须是正数（km/h），实际为 {value!r}",
            f"the speed limit must be a positive number (km/h), got {value!r}",
        )
    return LineString(coords[:, :2]), float(value)
