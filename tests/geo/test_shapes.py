"""The one GeoJSON parser: geometries, Features and collections in; clear zh/en problems
naming the field and record out."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import LineString, Point, Polygon

from cdw.errors import ValidationFailed
from cdw.geo.shapes import (
    GEOFENCE,
    GEOFENCE_KINDS,
    LINE_KINDS,
    POLYGON_KINDS,
    ROUTE,
    parse_geometry,
    route_lines,
    route_lines_of_json,
    zone_area,
)

SQUARE = {"type": "Polygon", "coordinates": [[[113, 23], [113.01, 23], [113.01, 23.01], [113, 23]]]}
ROAD = {"type": "LineString", "coordinates": [[113, 23], [113.01, 23]]}


def feature(geometry: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"name": "x"}}


def problem(value, kinds=None, **kw):
    with pytest.raises(ValidationFailed) as err:
        parse_geometry(value, kinds, **kw)
    (p,) = err.value.problems
    return p


def test_a_geometry_or_a_feature_of_one() -> None:
    assert parse_geometry(SQUARE, POLYGON_KINDS, field="geofence").geom_type == "Polygon"
    assert parse_geometry(feature(ROAD), LINE_KINDS, field="routes").equals(
        LineString(ROAD["coordinates"])
    )
    assert parse_geometry(ROAD, GEOFENCE_KINDS, field="geofence").geom_type == "LineString"


@pytest.mark.parametrize(
    "value",
    [
        {"foo": 1},
        {"type": "LineString", "coordinates": [[117.0, 31.6]]},
        {"type": "LineString", "coordinates": "x"},
        feature(None),
        "LineString",
    ],
)
def test_not_geojson_names_the_field_and_record(value) -> None:
    p = problem(value, LINE_KINDS, field="routes", what=ROUTE, source="permit HZ-1")
    assert (p.field, p.source) == ("routes", "permit HZ-1")
    assert p.zh.startswith("路线不是有效的 GeoJSON：")
    assert p.en.startswith("route is not valid GeoJSON: ")


def test_wrong_kind_and_empty() -> None:
    p = problem(ROAD, POLYGON_KINDS, field="geofence", what=GEOFENCE)
    assert p.zh == "地理围栏须为 Polygon 或 MultiPolygon，实际为 LineString"
    assert p.en == "geofence must be a Polygon or a MultiPolygon, got LineString"
    p = problem({"type": "LineString", "coordinates": []}, LINE_KINDS, field="routes", what=ROUTE)
    assert (p.zh, p.en) == (
        "路线须为 LineString 或 MultiLineString，实际为 空",
        "route must be a LineString or a MultiLineString, got empty",
    )


@pytest.mark.parametrize("lon, lat", [(181.0, 23.0), (113.0, -90.5), (-180.5, 0.0)])
def test_outside_wgs84(lon: float, lat: float) -> None:
    value = {"type": "LineString", "coordinates": [[113, 23], [lon, lat]]}
    p = problem(value, field="routes", what=ROUTE)
    assert (p.zh, p.en) == ("路线坐标超出 WGS-84 范围", "route coordinates outside WGS-84 ranges")


def test_route_lines_of_collections_and_lists() -> None:
    multi = {"type": "MultiLineString", "coordinates": [ROAD["coordinates"]] * 2}
    collection = {"type": "FeatureCollection", "features": [feature(ROAD), feature(multi)]}
    geometries = {"type": "GeometryCollection", "geometries": [ROAD]}
    assert len(route_lines(collection)) == 3
    assert len(route_lines([ROAD, geometries, feature(multi)])) == 4
    assert route_lines(None) == []


def test_route_lines_reject_a_point_among_lines() -> None:
    point = {"type": "Point", "coordinates": [113, 23]}
    with pytest.raises(ValidationFailed) as err:
        route_lines({"type": "GeometryCollection", "geometries": [ROAD, point]}, source="p 1")
    (p,) = err.value.problems
    assert (p.field, p.source) == ("routes", "p 1")
    assert p.en == "route must be a LineString or a MultiLineString, got Point"


def test_zone_area_of_a_polygon_and_of_a_line() -> None:
    square = Polygon([(0, 0), (10, 0), (10, 10)])
    assert zone_area(square, 50.0) == (square, None)
    road = LineString([(0, 0), (100, 0)])
    area, line = zone_area(road, 50.0)
    assert line is road
    assert area.contains(Point(50, 49)) and not area.contains(Point(50, 51))


MULTI = {
    "type": "MultiLineString",
    "coordinates": [ROAD["coordinates"], [[113.2, 23.1], [113.3, 23.25]]],
}
GOOD_ROUTES = [
    ROAD,
    MULTI,
    feature(ROAD),
    {"type": "FeatureCollection", "features": [feature(ROAD), feature(MULTI)]},
    {"type": "GeometryCollection", "geometries": [ROAD, MULTI]},
    [ROAD, feature(MULTI)],
    {"type": "LineString", "coordinates": [[113.123456789012345, 23.1], [113.1 + 1e-13, 23.2]]},
    None,
]
BAD_ROUTES = [
    {"type": "Point", "coordinates": [113, 23]},
    {"type": "GeometryCollection", "geometries": [ROAD, {"type": "Point", "coordinates": [1, 2]}]},
    {"type": "LineString", "coordinates": []},
    {"type": "LineString", "coordinates": [[113, 23], [181, 23]]},
    {"type": "LineString", "coordinates": [[117.0, 31.6]]},
    {"foo": 1},
    [ROAD, {"type": "Point", "coordinates": [113, 23]}],
    "LineString",
]


@pytest.mark.parametrize("routes", GOOD_ROUTES)
def test_route_lines_of_json_text_are_route_lines(routes) -> None:
    """Routes read from their JSON text (as stored) are those of the decoded value, to the
    last bit: the same lines, in the same order."""
    text = json.dumps(routes)
    want = [g.wkb for g in route_lines(routes, source="p 1")]
    assert [g.wkb for g in route_lines_of_json(text, source="p 1")] == want
    assert [g.wkb for g in route_lines_of_json(f"  {text}\n", source="p 1")] == want
    assert route_lines_of_json(None) == []


@pytest.mark.parametrize("routes", BAD_ROUTES)
def test_route_lines_of_json_text_refuse_as_route_lines(routes) -> None:
    """A value ``route_lines`` refuses is refused from its text with the same problem."""
    with pytest.raises(ValidationFailed) as want:
        route_lines(routes, source="p 1")
    with pytest.raises(ValidationFailed) as got:
        route_lines_of_json(json.dumps(routes), source="p 1")
    assert [p.as_dict() for p in got.value.problems] == [p.as_dict() for p in want.value.problems]
