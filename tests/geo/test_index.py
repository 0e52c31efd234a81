"""SegmentIndex and PolygonSet: the validating wrappers over the spatial kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box

from cdw.errors import ValidationFailed
from cdw.geo.index import PolygonSet, SegmentIndex


def test_segment_index_maps_segments_to_lines() -> None:
    index = SegmentIndex(
        [
            LineString([(0, 0), (100, 0), (100, 100)]),
            MultiLineString([[(500, 500), (600, 600)], [(700, 0), (800, 0)]]),
            LineString(),
        ]
    )
    # The two parts of the MultiLineString are not joined by a segment.
    assert len(index) == 4
    assert index.segment_part.tolist() == [0, 0, 1, 1]
    dist, seg = index.distance([50, 150, 550, 750, 1000], [10, 50, 560, 30, 1000], 100.0)
    assert dist.tolist() == [10.0, 50.0, pytest.approx(math.sqrt(50)), 30.0, math.inf]
    assert seg.tolist() == [0, 1, 2, 3, -1]


def test_segment_index_chooses_cell_size_from_data() -> None:
    short = SegmentIndex([LineString([(i * 10.0, 0) for i in range(20)])])
    long = SegmentIndex([LineString([(i * 1000.0, 0) for i in range(5)])])
    assert (short.grid.cell_size, long.grid.cell_size) == (100.0, 250.0)
    assert SegmentIndex([LineString([(0, 0), (10, 0)])], cell_size=7.5).grid.cell_size == 7.5
    huge = SegmentIndex([LineString([(0, 0), (1e6, 1e6)])])  # 4000 x 4000 cells at 250 m
    assert huge.grid.cell_size == 1000.0


def test_segment_index_without_lines() -> None:
    dist, seg = SegmentIndex([]).distance([1.0], [2.0])
    assert (dist.tolist(), seg.tolist()) == ([math.inf], [-1])
    assert SegmentIndex([]).within([1.0], [2.0], 50.0).tolist() == [False]
    assert SegmentIndex([]).within([1.0], [2.0], math.inf).tolist() == [False]


def test_within_is_the_corridor_verdict() -> None:
    index = SegmentIndex([LineString([(0, 0), (1000, 0)])])
    px = [500, 500, 500, -50, 1030, math.nan]
    py = [50, 50.001, -49.9, 0, 40, 0]
    assert index.within(px, py, 50.0).tolist() == [True, False, True, True, True, False]
    assert index.within(px, py, math.inf).tolist() == [True] * 5 + [False]


def test_segment_index_agrees_with_shapely_on_a_route() -> None:
    rng = np.random.default_rng(7)
    route = LineString(np.c_[np.cumsum(rng.uniform(20, 200, 60)), np.cumsum(rng.normal(0, 80, 60))])
    px = rng.uniform(-500, route.bounds[2] + 500, 2000)
    py = rng.uniform(route.bounds[1] - 500, route.bounds[3] + 500, 2000)
    dist, _ = SegmentIndex([route]).distance(px, py)
    assert dist == pytest.approx(shapely.distance(route, shapely.points(px, py)), rel=1e-9)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize(
    ("make_lines", "field"),
    [
        (lambda: [Point(0, 0)], "lines[0]"),
        (lambda: [LineString([(0, 0), (1, 1)]), "LINESTRING (0 0, 1 1)"], "lines[1]"),
        (lambda: [LineString([(0, 0), (math.nan, 1)])], "lines[0]"),
    ],
)
def test_segment_index_rejects_bad_lines(make_lines, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        SegmentIndex(make_lines())
    assert [p.field for p in err.value.problems] == [field]
    assert err.value.problems[0].zh and err.value.problems[0].en


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda i: i.distance([1, 2], [1]), "px,py"),
        (lambda i: i.distance([[1]], [1]), "px"),
        (lambda i: i.distance([1], ["a"]), "py"),
        (lambda i: i.distance([1], [1], max_dist=-1.0), "max_dist"),
        (lambda i: i.distance([1], [1], max_dist=math.nan), "max_dist"),
    ],
)
def test_segment_index_rejects_bad_queries(call, field: str) -> None:
    index = SegmentIndex([LineString([(0, 0), (10, 0)])])
    with pytest.raises(ValidationFailed) as err:
        call(index)
    assert [p.field for p in err.value.problems] == [field]


def test_segment_index_rejects_bad_cell_size() -> None:
    with pytest.raises(ValidationFailed) as err:
        SegmentIndex([LineString([(0, 0), (10, 0)])], cell_size=0)
    assert err.value.problems[0].field == "cell_size"


def test_polygon_set_maps_parts_to_callers_index() -> None:
    fences = PolygonSet(
        [
            Polygon(box(0, 0, 10, 10).exterior.coords, [box(4, 4, 6, 6).exterior.coords]),
            MultiPolygon([box(20, 0, 30, 10), box(40, 0, 50, 10)]),
            Polygon(),
            box(100, 100, 110, 110),
        ]
    )
    assert len(fences) == 4
    px = [2, 5, 25, 45, 60, 105]
    py = [2, 5, 5, 5, 5, 105]
    assert fences.locate(px, py).tolist() == [0, -1, 1, 1, -1, 3]


def test_polygon_set_boundary_distance_is_shapelys_outside_each_fence() -> None:
    shapes = [
        Polygon(box(0, 0, 10, 10).exterior.coords, [box(4, 4, 6, 6).exterior.coords]),
        MultiPolygon([box(20, 0, 30, 10), box(40, 0, 50, 10)]),
        Polygon(),
        LineString([(0, 0), (300, 200), (600, 0)]).buffer(50),
    ]
    fences = PolygonSet(shapes)
    rng = np.random.default_rng(5)
    px, py = rng.uniform(-100, 700, 3000), rng.uniform(-100, 300, 3000)
    which = rng.choice([0, 1, 3], 3000)
    got = fences.boundary_distance(px, py, which)
    boundaries = shapely.boundary(np.array(shapes, dtype=object)[which])
    assert (got == shapely.distance(boundaries, shapely.points(px, py))).all()
    outside = ~shapely.contains_xy(np.array(shapes, dtype=object)[which], px, py)
    expected = shapely.distance(np.array(shapes, dtype=object)[which], shapely.points(px, py))
    assert (got[outside] == expected[outside]).all() and outside.sum() > 2000
    assert fences.boundary_distance([1.0], [1.0], np.array([2])).tolist() == [math.inf]  # empty
    with pytest.raises(ValueError, match="polygon index 0..3"):
        fences.boundary_distance([1.0], [1.0], np.array([4]))
    with pytest.raises(ValueError, match="one polygon index"):
        fences.boundary_distance([1.0, 2.0], [1.0, 2.0], np.array([0]))


def test_polygon_set_empty() -> None:
    assert PolygonSet([]).locate([1.0, 2.0], [1.0, 2.0]).tolist() == [-1, -1]
    assert PolygonSet([box(0, 0, 1, 1)]).locate([], []).tolist() == []


def test_polygon_set_agrees_with_shapely_on_a_buffer() -> None:
    rng = np.random.default_rng(3)
    fence = (
        LineString([(0, 0), (300, 200), (600, 0)]).buffer(50).difference(Point(300, 150).buffer(20))
    )
    px, py = rng.uniform(-100, 700, 5000), rng.uniform(-100, 300, 5000)
    got = PolygonSet([fence]).locate(px, py)
    assert ((got == 0) == shapely.contains_xy(fence, px, py)).all()


def test_polygon_set_rejects_lines() -> None:
    with pytest.raises(ValidationFailed) as err:
        PolygonSet([box(0, 0, 1, 1), LineString([(0, 0), (1, 1)])])
    assert [p.field for p in err.value.problems] == ["polygons[1]"]
    assert "LineString" in err.value.problems[0].en
