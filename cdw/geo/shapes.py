"""The one GeoJSON -> shapely parser, for geofences, routes and flag geometries.

Every stored or submitted GeoJSON value (a geometry, or a Feature or FeatureCollection
holding one) becomes a shapely geometry here, in WGS-84 lon/lat degrees, or a
``ValidationFailed`` naming the field (and the record, ``source``) in Chinese and English.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from cdw.errors import Problem, ValidationFailed


class What(NamedTuple):
    """What a value is, as the messages name it."""

    zh: str
    en: str


ROUTE = What("路线", "route")
GEOFENCE = What("地理围栏", "geofence")
GEOMETRY = What("几何", "geometry")

LINE_KINDS = ("LineString", "MultiLineString")
POLYGON_KINDS = ("Polygon", "MultiPolygon")
# A stored geofence: an area, or (a restricted zone's banned road) a line.
GEOFENCE_KINDS = POLYGON_KINDS + LINE_KINDS


def parse_geometry(
    value: Any,
    kinds: Sequence[str] | None = None,
    *,
    field: str,
    what: What = GEOMETRY,
    source: str | None = None,
) -> BaseGeometry:
    """The shapely geometry of a GeoJSON geometry (or a Feature or FeatureCollection), in
    lon/lat degrees: one of ``kinds`` (any when None), not empty, finite and within WGS-84
    ranges; else ``ValidationFailed`` naming ``field`` (and ``source``)."""

    def fail(zh: str, en: str) -> ValidationFailed:
        return ValidationFailed([Problem(field, zh, en, source=source)])

    try:
        geom = shapely.from_geojson(json.dumps(value))
    except Exception as exc:  # shapely raises GEOSException subclasses of Exception
        raise fail(
            f"{what.zh}不是有效的 GeoJSON：{exc}", f"{what.en} is not valid GeoJSON: {exc}"
        ) from None
    if not _kind_fits(geom, kinds):
        got = "空" if geom is None or geom.is_empty else geom.geom_type
        got_en = "empty" if geom is None or geom.is_empty else geom.geom_type
        wanted = kinds or ("a geometry",)
        raise fail(
            f"{what.zh}须为 {' 或 '.join(wanted)}，实际为 {got}",
            f"{what.en} must be a {' or a '.join(wanted)}, got {got_en}",
        )
    if not _in_wgs84(geom):
        raise fail(f"{what.zh}坐标超出 WGS-84 范围", f"{what.en} coordinates outside WGS-84 ranges")
    return geom


def _kind_fits(geom: BaseGeometry | None, kinds: Sequence[str] | None) -> bool:
    """Not empty, and one of ``kinds`` (any when None)."""
    return not (
        geom is None or (kinds is not None and geom.geom_type not in kinds) or geom.is_empty
    )


def _in_wgs84(geom: BaseGeometry) -> bool:
    """Every coordinate finite and within WGS-84 ranges."""
    xy = shapely.get_coordinates(geom)
    lon, lat = np.abs(xy).T
    return bool(np.isfinite(xy).all() and (lon <= 180).all() and (lat <= 90).all())


ROUTE_KINDS = LINE_KINDS + ("GeometryCollection",)


def route_lines(routes: Any, *, field: str = "routes", source: str | None = None) -> list[Any]:
    """The LineStrings of a permit's ``routes``: a GeoJSON (Multi)LineString, a Feature or
    FeatureCollection of them, a GeometryCollection, or a list of any of those."""
    if routes is None:
        return []
    lines: list[Any] = []
    for item in routes if isinstance(routes, list) else [routes]:
        geom = parse_geometry(item, ROUTE_KINDS, field=field, what=ROUTE, source=source)
        lines += _lines_of(geom, field, source)
    return lines


def route_lines_of_json(
    text: str | None, *, field: str = "routes", source: str | None = None
) -> list[Any]:
    """``route_lines`` of ``routes`` stored as JSON text: one GeoJSON object (a permit's
    route, as the API stores it) read by GEOS straight from the text, without the Python
    lists of its coordinates that decoding it and writing it back as JSON would make (ten
    times GEOS's own reading); anything else, or an object GEOS refuses or
    ``parse_geometry`` would, read as ``route_lines`` reads it, with its messages."""
    if text is not None and text.lstrip().startswith("{"):
        try:
            geom = shapely.from_geojson(text)
        except Exception:  # shapely raises GEOSException subclasses of Exception
            geom = None
        if _kind_fits(geom, ROUTE_KINDS) and _in_wgs84(geom):
            return _lines_of(geom, field, source)
    return route_lines(None if text is None else json.loads(text), field=field, source=source)


def _lines_of(geom: BaseGeometry, field: str, source: str | None) -> list[Any]:
    """The LineStrings of a (Multi)LineString or of a GeometryCollection of them."""
    lines: list[Any] = []
    for part in shapely.get_parts(geom):
        if part.geom_type not in LINE_KINDS:
            raise ValidationFailed(
                [
                    Problem(
                        field,
                        f"路线须为 {' 或 '.join(LINE_KINDS)}，实际为 {part.geom_type}",
                        f"route must be a {' or a '.join(LINE_KINDS)}, got {part.geom_type}",
                        source=source,
                    )
                ]
            )
        lines += list(shapely.get_parts(part))
    return lines


def zone_area(projected: BaseGeometry, corridor_half_width_m: float) -> tuple[Any, Any]:
    """The area a projected geofence covers, and its line where it is one: a polygon is its
    own area; a line (a banned road) covers its corridor, the line buffered by
    ``corridor_half_width_m``."""
    if projected.geom_type in LINE_KINDS:
        return projected.buffer(corridor_half_width_m), projected
    return projected, None
