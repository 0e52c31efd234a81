"""Geofences: GeoJSON Polygon / MultiPolygon in WGS-84 longitude, latitude order."""

from __future__ import annotations

import json
import math
from typing import Any

import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon

from cdw.errors import Problem, ValidationFailed
from cdw.geo.shapes import GEOFENCE, POLYGON_KINDS, parse_geometry
from cdw.registry.validators import failed

GEOFENCE_MIN_AREA_M2 = 10.0
GEOFENCE_MAX_AREA_M2 = 100e6  # 100 km²: larger than any site, facility or depot
ZONE_MAX_AREA_M2 = 2000e6  # water-source protection areas can be large

# Longitude / latitude extent of China, for the swapped-order heuristic.
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)
_GEOD = Geod(ellps="WGS84")


def _in_china(lon: float, lat: float) -> bool:
    return _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _polygons_of(geojson: dict[str, Any]) -> list[Any]:
    """The coordinate arrays of each polygon (one for Polygon, several for MultiPolygon)."""
    coords = geojson.get("coordinates")
    if geojson.get("type") == "Polygon":
        return [coords]
    return coords if isinstance(coords, list) else [coords]


def _structure_problems(
    geojson: dict[str, Any], field: str
) -> tuple[list[Problem], list[tuple[float, float]]]:
    """Problems with rings and positions, and the positions that are pairs of numbers."""
    problems: list[Problem] = []
    positions: list[tuple[float, float]] = []
    multi = geojson.get("type") == "MultiPolygon"
    polygons = _polygons_of(geojson)
    if not polygons or not all(isinstance(p, list) for p in polygons):
        return [Problem(field, "缺少坐标 coordinates", "coordinates are missing")], positions
    for pi, rings in enumerate(polygons):
        where_zh = f"第 {pi + 1} 个多边形" if multi else "多边形"
        where_en = f"polygon {pi + 1}" if multi else "polygon"
        if not rings:
            problems.append(Problem(field, f"{where_zh}没有环", f"{where_en} has no ring"))
            continue
        for ri, ring in enumerate(rings):
            ring_zh = f"{where_zh}{'外环' if ri == 0 else f'第 {ri} 个内环'}"
            ring_en = f"{where_en} {'exterior ring' if ri == 0 else f'hole {ri}'}"
            if not isinstance(ring, list):
                problems.append(
                    Problem(
                        field, f"{ring_zh}应为坐标列表", f"{ring_en} must be a list of positions"
                    )
                )
                continue
            pairs = []
            bad = 0
            for pos in ring:
                if (
                    isinstance(pos, list | tuple)
                    and len(pos) >= 2
                    and all(map(_is_number, pos[:2]))
                ):
                    pairs.append((float(pos[0]), float(pos[1])))
                else:
                    bad += 1
            if bad:
                problems.append(
                    Problem(
                        field,
                        f"{ring_zh}有 {bad} 个坐标不是 [经度, 纬度] 数值对",
                        f"{ring_en} has {bad} positions that are not [lon, lat] number pairs",
                    )
                )
            positions.extend(pairs)
            if len(ring) < 4:
                problems.append(
                    Problem(
                        field,
                        f"{ring_zh}只有 {len(ring)} 个坐标，至少需要 4 个（首尾相同）",
                        f"{ring_en} has {len(ring)} positions; at least 4 are needed (first = last)",
                    )
                )
            elif not bad and pairs[0] != pairs[-1]:
                problems.append(
                    Problem(
                        field,
                        f"{ring_zh}未闭合：首点 {list(pairs[0])} 与末点 {list(pairs[-1])} 不同",
                        f"{ring_en} is not closed: first {list(pairs[0])} differs from last "
                        f"{list(pairs[-1])}",
                    )
                )
    return problems, positions


def _range_problems(positions: list[tuple[float, float]], field: str) -> list[Problem]:
    if not positions:
        return []
    outside = [(x, y) for x, y in positions if not (-180 <= x <= 180 and -90 <= y <= 90)]
    swap_fits = all(-90 <= x <= 90 and -180 <= y <= 180 for x, y in positions)
    in_china = all(_in_china(x, y) for x, y in positions)
    swapped_in_china = all(_in_china(y, x) for x, y in positions)
    if swap_fits and (outside or (swapped_in_china and not in_china)):
        x, y = positions[0]
        return [
            Problem(
                field,
                f"疑似经纬度颠倒：首点为 [{x}, {y}]，GeoJSON 要求 [经度, 纬度]",
                f"looks like lat/lon swapped: first position is [{x}, {y}]; GeoJSON wants "
                "[longitude, latitude]",
            )
        ]
    if outside:
        x, y = outside[0]
        return [
            Problem(
                field,
                f"{len(outside)} 个坐标超出 WGS-84 范围（经度 ±180，纬度 ±90），如 [{x}, {y}]",
                f"{len(outside)} positions are outside WGS-84 ranges (lon ±180, lat ±90), "
                f"e.g. [{x}, {y}]",
            )
        ]
    return []


_VALIDITY_ZH = {
    "Self-intersection": "多边形自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points": "点数过少",
    "Hole lies outside shell": "内环位于外环之外",
    "Nested holes": "内环相互嵌套",
    "Interior is disconnected": "内部不连通",
    "Nested shells": "多边形相互嵌套",
    "Duplicate Rings": "环重复",
    "Invalid Coordinate": "坐标无效",
}


def _validity_problem(geom: Polygon | MultiPolygon, field: str) -> Problem | None:
    reason = shapely.is_valid_reason(geom)
    if reason == "Valid Geometry":
        return None
    kind, _, where = reason.partition("[")
    where = f"（位置 [{where}）" if where else ""
    zh = _VALIDITY_ZH.get(kind.strip(), "几何无效")
    return Problem(field, f"{zh}{where}", f"invalid polygon: {reason}")


def geodesic_area_m2(geom: Polygon | MultiPolygon) -> float:
    """Area on the WGS-84 ellipsoid in square metres."""
    area, _perimeter = _GEOD.geometry_area_perimeter(geom)
    return abs(area)


def validate_geofence(
    geojson: Any,
    *,
    field: str = "geofence",
    max_area_m2: float = GEOFENCE_MAX_AREA_M2,
) -> Polygon | MultiPolygon:
    """Check a GeoJSON Polygon or MultiPolygon (a dict, a JSON string, or a Feature holding one).

    Every defect is reported at once: wrong type, rings not closed or too short, positions that
    are not number pairs or lie outside WGS-84 ranges, probable latitude/longitude swap,
    self-intersection and other invalidity, and an area outside 10 m² … ``max_area_m2``.
    """
    if isinstance(geojson, str):
        try:
            geojson = json.loads(geojson)
        except json.JSONDecodeError as exc:
            raise failed(
                field,
                f"地理围栏不是有效的 JSON：{exc.msg}",
                f"geofence is not valid JSON: {exc.msg}",
            ) from None
    if isinstance(geojson, dict) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        got = geojson.get("type") if isinstance(geojson, dict) else type(geojson).__name__
        raise failed(
            field,
            f"地理围栏应为 GeoJSON Polygon 或 MultiPolygon，实为 {got}",
            f"geofence must be a GeoJSON Polygon or MultiPolygon, got {got}",
        )
    problems, positions = _structure_problems(geojson, field)
    problems += _range_problems(positions, field)
    if problems:
        raise ValidationFailed(problems)

    geom = parse_geometry(geojson, POLYGON_KINDS, field=field, what=GEOFENCE)
    invalid = _validity_problem(geom, field)
    if invalid:  # the area of an invalid polygon means nothing
        raise ValidationFailed([invalid])
    area = geodesic_area_m2(geom)
    if not GEOFENCE_MIN_AREA_M2 <= area <= max_area_m2:
        shown = f"{area:,.1f} m²" if area < 1e6 else f"{area / 1e6:,.1f} km²"
        raise failed(
            field,
            f"地理围栏面积 {shown} 不合理（应在 {GEOFENCE_MIN_AREA_M2:,.0f} m² 至 "
            f"{max_area_m2 / 1e6:,.0f} km² 之间）",
            f"geofence area {shown} is not plausible (expected "
            f"{GEOFENCE_MIN_AREA_M2:,.0f} m² to {max_area_m2 / 1e6:,.0f} km²)",
        )
    return geom


def normalise_geofence(
    geojson: Any, *, field: str = "geofence", max_area_m2: float = GEOFENCE_MAX_AREA_M2
) -> dict[str, Any]:
    """Validate, then return a clean GeoJSON geometry dict (2-D float positions, no extras)."""
    geom = validate_geofence(geojson, field=field, max_area_m2=max_area_m2)
    return json.loads(shapely.to_geojson(geom))
