"""The geo floor's Numba kernels: hand-computed cases, edge cases, and agreement with their
plain-Python twins (tests/geo/twins.py), shapely and pyproj on hypothesis-generated inputs."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdw.errors import ValidationFailed
from cdw.geo import kernels as K
from cdw.geo.index import segment_grid
from cdw.geo.projection import (
    _TILE_NODES,
    _TILE_PSEUDO_INVERSE,
    TILE_DEG,
    TransverseMercator,
)
from tests.geo import twins

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
F = np.float64


def arr(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=F)


def ints(values: np.ndarray) -> list[int]:
    return [int(v) for v in values]


# Coordinates within a few km: integers hit ties and exact boundaries, floats the rest.
coord = st.one_of(st.integers(0, 3000).map(float), st.floats(0, 3000, allow_nan=False))
far_coord = st.one_of(st.integers(-1000, 4000).map(float), st.floats(-1000, 4000))


# --- segment index and distance -----------------------------------------------------------


def test_build_segment_index_hand_computed() -> None:
    ox, oy, n_cols, n_rows, cell_start, cell_items = K.build_segment_index(
        arr([0, 5]), arr([0, 15]), arr([25, 5]), arr([0, 35]), 10.0
    )
    assert (ox, oy, n_cols, n_rows) == (0.0, 0.0, 3, 4)
    # Segment 0 lies along row 0 (cells 0-2); segment 1 up column 0 (cells 3, 6, 9).
    assert ints(cell_start) == [0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]
    assert ints(cell_items) == [0, 0, 0, 1, 1, 1]


def test_build_segment_index_empty() -> None:
    out = K.build_segment_index(arr([]), arr([]), arr([]), arr([]), 10.0)
    assert out[:4] == (0.0, 0.0, 0, 0)
    assert ints(out[4]) == [0] and out[5].size == 0


# Segment 0 from (0,0) to (100,0); segment 1 of zero length at (200,0).
SEGS = K.Segments(x0=arr([0, 200]), y0=arr([0, 0]), x1=arr([100, 200]), y1=arr([0, 0]))


def nearest(px: list[float], py: list[float], max_dist: float = math.inf, cell: float = 50.0):
    grid = segment_grid(SEGS, cell)
    dist, seg = K.distance_to_segments(arr(px), arr(py), SEGS, grid, max_dist)
    return dist.tolist(), ints(seg)


def test_distance_to_segments_hand_computed() -> None:
    dist, seg = nearest([50, -30, 200, 150, 5000, math.nan], [30, 40, 7, 0, 5000, 0])
    # Foot of the perpendicular, beyond an end, a zero-length segment, a tie (lowest index
    # wins), a point far outside the grid, NaN.
    assert dist == [30.0, 50.0, 7.0, 50.0, math.hypot(4800, 5000), math.inf]
    assert seg == [0, 0, 1, 0, 1, -1]


def test_distance_to_segments_max_dist_is_inclusive() -> None:
    assert nearest([-30], [40], max_dist=50.0) == ([50.0], [0])
    assert nearest([-30], [40], max_dist=49.999) == ([math.inf], [-1])
    assert nearest([5000], [5000], max_dist=1000.0) == ([math.inf], [-1])


def test_distance_to_segments_no_segments_or_points() -> None:
    empty = arr([])
    segments = K.Segments(empty, empty, empty, empty)
    grid = segment_grid(segments, 10.0)
    dist, seg = K.distance_to_segments(arr([1]), arr([1]), segments, grid, math.inf)
    assert (dist.tolist(), ints(seg)) == ([math.inf], [-1])
    assert nearest([], []) == ([], [])


# Offsets at micrometre resolution: GEOS mis-measures segments shorter than ~1e-150 m.
offset = st.one_of(
    st.integers(-400, 400).map(float), st.floats(-400, 400).map(lambda v: round(v, 6))
)
# Route-like segments up to a few hundred metres: any direction, axis-parallel, zero length.
segment = st.one_of(
    st.tuples(coord, coord, offset, offset),
    st.tuples(coord, coord, st.just(0.0), offset),
    st.tuples(coord, coord, offset, st.just(0.0)),
    st.tuples(coord, coord, st.just(0.0), st.just(0.0)),
).map(lambda s: (s[0], s[1], s[0] + s[2], s[1] + s[3]))


@PROPERTY
@given(
    st.lists(segment, max_size=30),
    st.lists(st.tuples(far_coord, far_coord), max_size=30),
    st.sampled_from([20.0, 50.0, 137.5, 500.0, 5000.0]),
    st.sampled_from([math.inf, 0.0, 10.0, 50.0, 300.0]),
)
def test_distance_to_segments_matches_twin_and_shapely(segs, points, cell, max_dist) -> None:
    x0, y0, x1, y1 = (arr([s[i] for s in segs]) for i in range(4))
    px, py = arr([p[0] for p in points]), arr([p[1] for p in points])

    index = K.build_segment_index(x0, y0, x1, y1, cell)
    ox, oy, n_cols, n_rows, cell_start, cell_items = index
    decoded = [ints(cell_items[cell_start[c] : cell_start[c + 1]]) for c in range(n_cols * n_rows)]
    assert (ox, oy, n_cols, n_rows, decoded) == twins.build_segment_index(
        x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), cell
    )

    grid = K.Grid(ox, oy, cell, n_cols, n_rows, cell_start, cell_items)
    dist, seg = K.distance_to_segments(px, py, K.Segments(x0, y0, x1, y1), grid, max_dist)
    want_dist, want_seg = twins.distance_to_segments(
        px.tolist(), py.tolist(), x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), max_dist
    )
    assert dist.tolist() == want_dist
    assert ints(seg) == want_seg

    if segs and points:
        lines = shapely.linestrings(np.stack([np.c_[x0, y0], np.c_[x1, y1]], axis=1))
        exact = shapely.distance(shapely.points(px, py)[:, None], lines[None, :]).min(axis=1)
        within = exact <= max_dist - 1e-6
        assert dist[within] == pytest.approx(exact[within], rel=1e-9, abs=1e-7)
        assert np.isinf(dist[exact > max_dist + 1e-6]).all()


def within(px: list[float], py: list[float], max_dist: float, cell: float = 50.0) -> list[bool]:
    """``within_distance`` over SEGS with a grid of the boxes grown by ``max_dist``."""
    x0, y0, x1, y1 = SEGS
    grown = K.Segments(
        np.minimum(x0, x1) - max_dist,
        np.minimum(y0, y1) - max_dist,
        np.maximum(x0, x1) + max_dist,
        np.maximum(y0, y1) + max_dist,
    )
    grid = segment_grid(grown, cell)
    raster = K.build_corridor_raster(SEGS, grid, max_dist, 4)
    return K.within_distance(arr(px), arr(py), SEGS, grid, raster, max_dist).tolist()


def test_within_distance_hand_computed() -> None:
    px = [50, -30, 200, 150, 5000, math.nan, 100]
    py = [30, 40, 7, 0, 5000, 0, 50.5]
    assert within(px, py, 50.0) == [True, True, True, True, False, False, False]
    # Exactly 50 m away is within 50 m, not within 49.999 m.
    assert within(px, py, 49.999) == [True, False, True, False, False, False, False]
    assert within(px, py, 0.0) == [False] * 7
    assert within([0, 100], [0, 0], 0.0) == [True, True]


def test_corridor_raster_hand_computed() -> None:
    # Segment (0,0)-(100,0), corridor 10 m; grown box (-10,-10)-(110,10) in 40 m cells
    # (4 x 1), 8 x 8 sub-cells of 5 m (half-diagonal 3.54 m).
    seg = K.Segments(arr([0]), arr([0]), arr([100]), arr([0]))
    grid = segment_grid(K.Segments(arr([-10]), arr([-10]), arr([110]), arr([10])), 40.0)
    assert (grid.n_cols, grid.n_rows) == (4, 1)
    block_of, states, fine = K.build_corridor_raster(seg, grid, max_dist=10.0, fine=8)
    assert fine == 8
    assert ints(block_of) == [0, 1, 2, 3]
    I, O, M = K.RASTER_INSIDE, K.RASTER_OUTSIDE, K.RASTER_MIXED  # noqa: E741
    # Cell 1, sub-column 3 (x = 47.5), rows at y = -7.5, -2.5, …, 27.5.
    column = [int(states[(1 * 8 + a) * 8 + 3]) for a in range(8)]
    assert column == [M, I, I, M, M, O, O, O]


@PROPERTY
@given(
    st.lists(segment, max_size=20),
    st.sampled_from([20.0, 137.5, 500.0]),
    st.sampled_from([0.0, 10.0, 50.0, 300.0]),
    st.integers(1, 6),
)
def test_corridor_raster_matches_twin(segs, cell, max_dist, fine) -> None:
    x0, y0, x1, y1 = (arr([s[i] for s in segs]) for i in range(4))
    grown = (
        np.minimum(x0, x1) - max_dist,
        np.minimum(y0, y1) - max_dist,
        np.maximum(x0, x1) + max_dist,
        np.maximum(y0, y1) + max_dist,
    )
    ox, oy, n_cols, n_rows, cell_start, cell_items = K.build_segment_index(*grown, cell)
    grid = K.Grid(ox, oy, cell, n_cols, n_rows, cell_start, cell_items)
    block_of, states, _ = K.build_corridor_raster(K.Segments(x0, y0, x1, y1), grid, max_dist, fine)
    lists = [ints(cell_items[cell_start[c] : cell_start[c + 1]]) for c in range(n_cols * n_rows)]
    want_block_of, want_states = twins.corridor_raster(
        x0.tolist(),
        y0.tolist(),
        x1.tolist(),
        y1.tolist(),
        ox,
        oy,
        cell,
        n_cols,
        lists,
        max_dist,
        fine,
    )
    assert ints(block_of) == want_block_of
    assert states.tolist() == want_states


@PROPERTY
@given(
    st.lists(segment, max_size=30),
    st.lists(st.tuples(far_coord, far_coord), max_size=30),
    st.sampled_from([None, 20.0, 137.5, 5000.0]),
    st.sampled_from([math.inf, 0.0, 10.0, 50.0, 300.0]),
    st.lists(st.tuples(st.integers(0, 29), st.floats(0, 1), st.floats(-1.5, 1.5)), max_size=30),
)
def test_within_distance_matches_twin_and_distance(segs, points, cell, max_dist, near_edge) -> None:
    """Random points, and points about max_dist from a segment, where the raster's
    certain verdicts would go wrong first."""
    from cdw.geo.index import SegmentIndex

    x0, y0, x1, y1 = (arr([s[i] for s in segs]) for i in range(4))
    px, py = [p[0] for p in points], [p[1] for p in points]
    for k, u, offset in near_edge:
        if segs and math.isfinite(max_dist):
            s = segs[k % len(segs)]
            length = math.hypot(s[2] - s[0], s[3] - s[1]) or 1.0
            normal = ((s[1] - s[3]) / length, (s[2] - s[0]) / length)
            along = (s[0] + u * (s[2] - s[0]), s[1] + u * (s[3] - s[1]))
            px.append(along[0] + offset * max_dist * normal[0])
            py.append(along[1] + offset * max_dist * normal[1])
    px, py = arr(px), arr(py)
    lines = [shapely.LineString([s[:2], s[2:]]) for s in segs]
    index = SegmentIndex(lines, cell_size=cell)
    got = index.within(px, py, max_dist)  # few points: no raster, every point tested
    assert got.tolist() == twins.within_distance(
        px.tolist(), py.tolist(), x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), max_dist
    )
    with pytest.MonkeyPatch.context() as patch:  # the raster from the first point on
        patch.setattr("cdw.geo.index.RASTER_AFTER_POINTS", 0)
        rastered = SegmentIndex(lines, cell_size=cell)
        assert rastered.within(px, py, max_dist).tolist() == got.tolist()
        assert rastered._corridors or not segs or math.isinf(max_dist)
    # The distance kernel divides, this one does not: a distance equal to max_dist up to
    # rounding may go either way.
    exact, _ = index.distance(px, py)
    with np.errstate(invalid="ignore"):  # inf - inf where there are no segments
        clear = np.abs(exact - max_dist) > 1e-9 * max(1.0, max_dist)
    near = index.distance(px, py, max_dist)[1] >= 0
    assert got[clear].tolist() == near[clear].tolist()


@PROPERTY
@given(
    st.lists(
        st.tuples(segment, st.sampled_from([20.0, 30.0, 40.0, 60.0, -math.inf, math.nan])),
        max_size=30,
    ),
    st.lists(st.tuples(far_coord, far_coord), max_size=30),
    st.sampled_from([None, 20.0, 137.5, 5000.0]),
    st.sampled_from([0.0, 10.0, 50.0, 300.0]),
)
def test_highest_within_matches_twin_and_shapely(segs, points, cell, max_dist) -> None:
    """The highest value among the segments within max_dist of each point: the kernel
    (through ``SegmentValues``) against the twin, and against shapely's ``dwithin``
    away from distances equal to max_dist up to rounding."""
    from cdw.geo.index import SegmentIndex, SegmentValues

    x0, y0, x1, y1 = (arr([s[0][i] for s in segs]) for i in range(4))
    values = arr([s[1] for s in segs])
    px, py = arr([p[0] for p in points]), arr([p[1] for p in points])
    index = SegmentIndex([shapely.LineString([s[0][:2], s[0][2:]]) for s in segs], cell_size=cell)
    got = SegmentValues(index, values).highest_within(px, py, max_dist)
    assert got.tolist() == twins.highest_within(
        px.tolist(),
        py.tolist(),
        x0.tolist(),
        y0.tolist(),
        x1.tolist(),
        y1.tolist(),
        values.tolist(),
        max_dist,
    )
    if segs and points:
        lines = shapely.linestrings(np.stack([np.c_[x0, y0], np.c_[x1, y1]], axis=1))
        exact = shapely.distance(shapely.points(px, py)[:, None], lines[None, :])
        near = np.where(exact <= max_dist, values[None, :], -np.inf)
        near = np.fmax.reduce(near, axis=1, initial=-np.inf)  # NaN values count as none
        clear = (np.abs(exact - max_dist) > 1e-9 * max(1.0, max_dist)).all(axis=1)
        assert got[clear].tolist() == near[clear].tolist()


@PROPERTY
@given(
    st.lists(st.integers(0, 6), max_size=12),
    st.lists(st.sampled_from([5.0, 30.0, 30.0, 50.0, math.inf, -math.inf, math.nan]), min_size=1),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_rank_cells_matches_twin(counts, values, descending, rng) -> None:
    """Each cell's items ranked by value (NaN last, ties in grid order), against the twin."""
    cell_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cell_items = np.array(
        [rng.randrange(len(values)) for _ in range(int(cell_start[-1]))], np.int64
    )
    given_items = cell_items.copy()
    items, ranked = K.rank_cells(cell_start, cell_items, arr(values), descending)
    want_items, want_ranked = twins.rank_cells(
        cell_start.tolist(), cell_items.tolist(), values, descending
    )
    assert items.tolist() == want_items
    assert np.array_equal(ranked, arr(want_ranked), equal_nan=True)
    assert cell_items.tolist() == given_items.tolist()  # the grid's own order left as it was


def test_highest_within_hand_computed() -> None:
    """Segment 0 (0,0)-(100,0) valued 30, the zero-length segment 1 at (200,0) valued 50."""
    from cdw.geo.index import SegmentIndex, SegmentValues

    index = SegmentIndex(
        [shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(200, 0), (200, 0)])]
    )
    got = SegmentValues(index, arr([30, 50])).highest_within(
        arr([50, 150, 150, 200, 400]), arr([10, 0, 60, 0, 0]), 50.0
    )
    assert got.tolist() == [30.0, 50.0, -math.inf, 50.0, -math.inf]


@PROPERTY
@given(
    st.lists(
        st.tuples(segment, st.sampled_from([20.0, 30.0, 40.0, 60.0, math.inf, math.nan])),
        max_size=30,
    ),
    st.lists(
        st.tuples(
            far_coord, far_coord, st.sampled_from([0.0, 25.0, 40.0, 61.0, math.inf, math.nan])
        ),
        max_size=30,
    ),
    st.sampled_from([None, 20.0, 137.5, 5000.0]),
    st.sampled_from([0.0, 10.0, 50.0, 300.0]),
)
def test_some_within_below_matches_twin_and_within(segs, points, cell, max_dist) -> None:
    """Is a segment valued below the point's bound near it: the kernel (through
    ``SegmentValues``) against the twin, and against ``within`` on the segments valued
    below each bound (the corridor test it replaces, one per value)."""
    from cdw.geo.index import SegmentIndex, SegmentValues

    x0, y0, x1, y1 = (arr([s[0][i] for s in segs]) for i in range(4))
    values = arr([s[1] for s in segs])
    px, py, bounds = (arr([p[i] for p in points]) for i in range(3))
    lines = [shapely.LineString([s[0][:2], s[0][2:]]) for s in segs]
    index = SegmentIndex(lines, cell_size=cell)
    got = SegmentValues(index, values).some_within_below(px, py, max_dist, bounds)
    assert got.tolist() == twins.some_within_below(
        px.tolist(),
        py.tolist(),
        x0.tolist(),
        y0.tolist(),
        x1.tolist(),
        y1.tolist(),
        values.tolist(),
        bounds.tolist(),
        max_dist,
    )
    want = np.zeros(px.size, bool)
    for bound in np.unique(bounds[~np.isnan(bounds)]).tolist():
        below = [line for line, v in zip(lines, values.tolist(), strict=True) if v < bound]
        if below:
            near = SegmentIndex(below, cell_size=cell).within(px, py, max_dist)
            want |= near & (bounds == bound)
    assert got.tolist() == want.tolist()


def test_some_within_below_hand_computed() -> None:
    """Segment 0 (0,0)-(100,0) valued 30, the zero-length segment 1 at (200,0) valued 50,
    segment 2 (100,0)-(200,0) valued 40; bounds per point; a NaN point is never near."""
    from cdw.geo.index import SegmentIndex, SegmentValues

    index = SegmentIndex(
        [
            shapely.LineString([(0, 0), (100, 0)]),
            shapely.LineString([(200, 0), (200, 0)]),
            shapely.LineString([(100, 0), (200, 0)]),
        ]
    )
    px, py = arr([50, 150, 150, 200, 200, 400, np.nan]), arr([10, 0, 60, 0, 0, 0, 0])
    bounds = arr([31, 30, 99, 41, 40, 99, 99])
    limits = SegmentValues(index, arr([30, 50, 40]))
    got = limits.some_within_below(px, py, 50.0, bounds)
    assert got.tolist() == [True, False, False, True, False, False, False]
    with pytest.raises(ValueError):
        limits.some_within_below(px, py, 50.0, bounds[:2])
    with pytest.raises(ValueError):
        SegmentValues(index, arr([30, 50]))


@PROPERTY
@given(st.lists(segment, max_size=40), st.sampled_from([None, 20.0, 137.5]))
def test_segment_index_of_segments_is_the_index_of_their_lines(segs, cell) -> None:
    """``SegmentIndex.of_segments`` builds the very index ``SegmentIndex`` builds from the
    two-point lines: same segments, parts and grid."""
    from cdw.geo.index import SegmentIndex

    x0, y0, x1, y1 = (arr([s[i] for s in segs]) for i in range(4))
    lines = SegmentIndex([shapely.LineString([s[:2], s[2:]]) for s in segs], cell_size=cell)
    arrays = SegmentIndex.of_segments(x0, y0, x1, y1, cell_size=cell)
    for name in ("seg_x0", "seg_y0", "seg_x1", "seg_y1", "segment_part"):
        assert getattr(arrays, name).tolist() == getattr(lines, name).tolist()
        assert getattr(arrays, name).dtype == getattr(lines, name).dtype
    for got, want in zip(arrays.grid, lines.grid, strict=True):
        assert np.asarray(got).tolist() == np.asarray(want).tolist()


@PROPERTY
@given(
    st.lists(segment, max_size=30),
    st.lists(st.tuples(far_coord, far_coord), max_size=30),
    st.sampled_from([None, 20.0, 137.5, 5000.0]),
    st.sampled_from([0.0, 10.0, 50.0, 300.0]),
)
def test_candidates_hold_every_segment_within(segs, points, cell, max_dist) -> None:
    """Every (point, segment) pair within max_dist (shapely's dwithin) is a candidate; the
    pairs are sorted by point and none repeats."""
    from cdw.geo.index import SegmentIndex

    lines = [shapely.LineString([s[:2], s[2:]]) for s in segs]
    px, py = arr([p[0] for p in points]), arr([p[1] for p in points])
    index = SegmentIndex(lines, cell_size=cell)
    point, seg = index.candidates(px, py, max_dist)
    pairs = list(zip(point.tolist(), seg.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs) and point.tolist() == sorted(point.tolist())
    if segs and points:
        near = shapely.dwithin(
            shapely.points(px, py)[:, None], np.array(lines, dtype=object)[None, :], max_dist
        )
        assert set(zip(*np.nonzero(near), strict=True)) <= set(pairs)


def test_segment_index_of_segments_refuses_nan() -> None:
    from cdw.geo.index import SegmentIndex

    with pytest.raises(ValidationFailed) as err:
        SegmentIndex.of_segments(arr([0, 1]), arr([0, 0]), arr([1, np.nan]), arr([0, 0]))
    assert err.value.problems[0].field == "lines[1]"


# --- points in polygons ----------------------------------------------------------------------


def polygon_arrays(polygons: list[list[list[tuple[float, float]]]]):
    """Flatten ``polygons[p][ring][vertex]`` into the kernel's ring and polygon arrays."""
    ring_x, ring_y, ring_start, poly_ring_start, bbox = [], [], [0], [0], []
    for rings in polygons:
        for ring in rings:
            ring_x += [v[0] for v in ring]
            ring_y += [v[1] for v in ring]
            ring_start.append(len(ring_x))
        poly_ring_start.append(len(ring_start) - 1)
        xs = [v[0] for ring in rings for v in ring]
        ys = [v[1] for ring in rings for v in ring]
        bbox.append((min(xs), min(ys), max(xs), max(ys)))
    return (
        arr(ring_x),
        arr(ring_y),
        np.array(ring_start, dtype=np.int64),
        np.array(poly_ring_start, dtype=np.int64),
        arr(bbox).reshape(-1, 4),
    )


def square(x0: float, y0: float, x1: float, y1: float, closed: bool = True):
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return ring + [ring[0]] if closed else ring


def in_polygons(px: np.ndarray, py: np.ndarray, polygons) -> list[int]:
    """The kernel with the lookup built for ``polygons``, once, as ``PolygonSet`` builds it."""
    arrays = K.Polygons(*polygon_arrays(polygons))
    return ints(K.points_in_polygons(px, py, arrays, K.polygon_lookup(arrays)))


def locate(polygons, points: list[tuple[float, float]]) -> list[int]:
    return in_polygons(arr([p[0] for p in points]), arr([p[1] for p in points]), polygons)


def test_points_in_polygons_hand_computed() -> None:
    with_hole = [square(0, 0, 10, 10), square(4, 4, 6, 6)]
    overlapping = [square(8, 0, 20, 10, closed=False)]
    points = [(2, 2), (5, 5), (9, 5), (15, 5), (25, 5), (math.nan, 5)]
    # Inside, in the hole, in both (first wins), in the second only, outside, NaN.
    assert locate([with_hole, overlapping], points) == [0, -1, 0, 1, -1, -1]


def test_points_in_polygons_boundary_rule() -> None:
    sq = [[square(0, 0, 10, 10)], [square(0, 0, 10, 10, closed=False)]]
    on_edges = [(0, 5), (5, 0), (10, 5), (5, 10), (0, 0), (10, 0), (10, 10), (0, 10)]
    # Left and bottom edges inside, right and top outside; of the corners only (0, 0).
    expected = [0, 0, -1, -1, 0, -1, -1, -1]
    assert locate(sq[:1], on_edges) == expected
    assert locate(sq[1:], on_edges) == expected  # an unclosed ring is implicitly closed
    holed = [[square(0, 0, 10, 10), square(4, 4, 6, 6)]]
    # A hole's left edge has the polygon to its left (outside), its right edge inside.
    assert locate(holed, [(4, 5), (6, 5), (5, 4), (5, 6)]) == [-1, 0, -1, 0]


def test_points_in_polygons_empty() -> None:
    assert locate([], [(1, 1)]) == [-1]
    assert locate([[square(0, 0, 1, 1)]], []) == []


def star(cx: float, cy: float, radii: list[float], scale: float = 1.0, turn: float = 0.0):
    k = len(radii)
    return [
        (
            cx + scale * r * math.cos(turn + 2 * math.pi * i / k),
            cy + scale * r * math.sin(turn + 2 * math.pi * i / k),
        )
        for i, r in enumerate(radii)
    ]


# A star-shaped polygon about a centre, sometimes with a star-shaped hole well inside it.
polygon = st.tuples(
    coord,
    coord,
    st.lists(st.floats(50, 500), min_size=3, max_size=12),
    st.booleans(),
    st.floats(0, 1),
).map(
    lambda p: (
        [star(p[0], p[1], p[2])]
        + ([star(p[0], p[1], [min(p[2])] * 5, scale=0.3, turn=p[4])] if p[3] else [])
    )
)


# Arbitrary rings of integer vertices (self-crossing, horizontal edges, repeated
# vertices) and integer points: the even-odd rule must agree with the twin on every point,
# on edges and vertices too.
grid_ring = st.lists(
    st.tuples(st.integers(0, 40).map(float), st.integers(0, 40).map(float)), min_size=3, max_size=40
)


@PROPERTY
@given(
    st.lists(st.lists(grid_ring, min_size=1, max_size=3), max_size=5),
    st.lists(
        st.tuples(st.integers(-2, 42).map(float), st.integers(-2, 42).map(float)), max_size=60
    ),
)
def test_points_in_polygons_matches_twin_on_grid_rings(polygons, points) -> None:
    assert locate(polygons, points) == twins.points_in_polygons(
        [p[0] for p in points], [p[1] for p in points], polygons
    )


@PROPERTY
@given(st.lists(polygon, max_size=8), st.lists(st.tuples(far_coord, far_coord), max_size=40))
def test_points_in_polygons_matches_twin_and_shapely(polygons, points) -> None:
    got = locate(polygons, points)
    assert got == twins.points_in_polygons([p[0] for p in points], [p[1] for p in points], polygons)

    shapes = [shapely.Polygon(rings[0], rings[1:]) for rings in polygons]
    for (x, y), index in zip(points, got, strict=True):
        if any(shapely.distance(s.boundary, shapely.Point(x, y)) < 1e-6 for s in shapes):
            continue  # on a boundary: the kernel's rule, tested above, not shapely's
        containing = [i for i, s in enumerate(shapes) if shapely.contains_xy(s, x, y)]
        assert index == (containing[0] if containing else -1)


def _raster(polygons) -> tuple[int, np.ndarray, np.ndarray]:
    ring_x, ring_y, ring_start, poly_ring_start, bbox = polygon_arrays(polygons)
    bands = K._edge_bands(ring_y, ring_start, poly_ring_start, bbox)
    return K._polygon_raster(ring_x, ring_y, ring_start, poly_ring_start, bbox, *bands)


def test_polygon_raster_of_a_diamond() -> None:
    # A diamond fills the middle of its box; the box's corners lie outside it.
    side, scale, states = _raster([[[(0.0, 5.0), (5.0, 0.0), (10.0, 5.0), (5.0, 10.0)]]])
    grid = states.reshape(side, side)
    assert side == 32 and scale.tolist() == [[3.2, 3.2]]
    assert grid[0, 0] == grid[0, -1] == grid[-1, 0] == grid[-1, -1] == K.POLY_OUTSIDE
    assert (
        grid[side // 2 - 1 : side // 2 + 1, side // 2 - 1 : side // 2 + 1].tolist()
        == [[K.POLY_INSIDE] * 2] * 2
    )
    # every sub-cell an edge runs through is MIXED: the diagonals of the grid's quarters
    for r in range(side // 2):
        assert grid[r, side // 2 - 1 - r] == grid[r, side // 2 + r] == K.POLY_MIXED
    # a polygon without width: every sub-cell MIXED, so every point is tested exactly
    _, _, flat = _raster([[[(0.0, 0.0), (5.0, 0.0), (10.0, 0.0)]]])
    assert (flat == K.POLY_MIXED).all()


@PROPERTY
@given(st.lists(polygon, min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_points_in_polygons_dense_points_match_twin(polygons, seed: int) -> None:
    """Hundreds of points over the polygons' boxes (most settled by their sub-cell's verdict),
    their vertices and points a hair off them: the same verdicts as the twin."""
    rng = np.random.default_rng(seed)
    xs = [v[0] for rings in polygons for ring in rings for v in ring]
    ys = [v[1] for rings in polygons for ring in rings for v in ring]
    px = np.concatenate([rng.uniform(min(xs) - 10, max(xs) + 10, 400), xs, np.add(xs, 1e-7)])
    py = np.concatenate([rng.uniform(min(ys) - 10, max(ys) + 10, 400), ys, np.subtract(ys, 1e-7)])
    got = in_polygons(px, py, polygons)
    assert got == twins.points_in_polygons(px.tolist(), py.tolist(), polygons)


def fence_distances(px, py, which, polygons) -> list[float]:
    """The kernel over ``polygons``, each polygon one part."""
    arrays = K.Polygons(*polygon_arrays(polygons))
    parts = np.arange(len(polygons) + 1, dtype=np.int64)
    return K.boundary_distances(arr(px), arr(py), np.array(which, np.int64), parts, arrays).tolist()


def test_boundary_distances_hand_computed() -> None:
    with_hole = [square(0, 0, 10, 10), square(4, 4, 6, 6)]
    unclosed = [square(20, 0, 30, 10, closed=False)]
    px, py = [15, -3, 5, 5, 20, 35], [5, -4, 5, 2, 5, 10]
    which = [0, 0, 0, 0, 1, 1]
    # beside the square; off a corner (3-4-5); in the hole (1 from its rings); inside
    # between the rings; on an edge; to the right of the closing edge of an unclosed ring
    assert fence_distances(px, py, which, [with_hole, unclosed]) == [5.0, 5.0, 1.0, 2.0, 0.0, 5.0]


@PROPERTY
@given(
    st.lists(polygon, min_size=1, max_size=4),
    st.lists(st.tuples(far_coord, far_coord, st.integers(0, 3)), max_size=40),
)
def test_boundary_distances_match_twin_and_shapely(polygons, points) -> None:
    px, py = [p[0] for p in points], [p[1] for p in points]
    which = [p[2] % len(polygons) for p in points]
    got = fence_distances(px, py, which, polygons)
    assert got == twins.boundary_distances(px, py, which, polygons)
    shapes = [shapely.Polygon(rings[0], rings[1:]) for rings in polygons]
    for x, y, w, d in zip(px, py, which, got, strict=True):
        assert d == shapely.distance(shapes[w].boundary, shapely.Point(x, y))
        if not shapely.contains_xy(shapes[w], x, y):
            assert d == shapely.distance(shapes[w], shapely.Point(x, y))


# --- transverse Mercator -----------------------------------------------------------------

UTM49 = TransverseMercator.of(pyproj.CRS.from_epsg(32649))
UTM56S = TransverseMercator.of(pyproj.CRS.from_epsg(32756))
PYPROJ_UTM49 = pyproj.Transformer.from_crs(4326, 32649, always_xy=True)


def _tm_args(tm: TransverseMercator) -> tuple[float, float, float, float, float]:
    return tm.lon0, tm.k0_a, tm.false_easting, tm.false_northing, tm.e


def test_tm_forward_hand_computed() -> None:
    # On the central meridian x is the false easting and y is k0 times the meridian arc:
    # 4 984 944.378 m from the equator to 45° N on WGS-84.
    x, y = K.tm_forward(arr([111.0, 111.0]), arr([0.0, 45.0]), *_tm_args(UTM49), UTM49.alpha)
    assert x.tolist() == [500_000.0, 500_000.0]
    assert y[0] == 0.0
    assert y[1] == pytest.approx(0.9996 * 4_984_944.378, abs=1e-3)


def test_tm_kernels_on_empty_arrays() -> None:
    x, y = K.tm_forward(arr([]), arr([]), *_tm_args(UTM49), UTM49.alpha)
    lon, lat = K.tm_inverse(arr([]), arr([]), *_tm_args(UTM49), UTM49.beta)
    assert x.size == y.size == lon.size == lat.size == 0


@pytest.mark.parametrize("tm", [UTM49, UTM56S], ids=["49N", "56S"])
def test_tm_kernels_match_twins_on_fixed_points(tm: TransverseMercator) -> None:
    lon = arr([tm.lon0 - 3.0, tm.lon0, tm.lon0 + 2.9, tm.lon0 + 6.0, tm.lon0 - 0.1])
    lat = arr([0.0, 23.1, -33.9, 60.0, -79.9])
    x, y = K.tm_forward(lon, lat, *_tm_args(tm), tm.alpha)
    tx, ty = twins.tm_forward(lon, lat, *_tm_args(tm), tm.alpha)
    assert np.abs(x - tx).max() < 1e-6 and np.abs(y - ty).max() < 1e-6
    back_lon, back_lat = K.tm_inverse(x, y, *_tm_args(tm), tm.beta)
    twin_lon, twin_lat = twins.tm_inverse(x, y, *_tm_args(tm), tm.beta)
    assert np.abs(back_lon - twin_lon).max() < 1e-11 and np.abs(back_lat - twin_lat).max() < 1e-11
    assert np.abs(back_lon - lon).max() < 1e-11 and np.abs(back_lat - lat).max() < 1e-11


@PROPERTY
@given(st.lists(st.tuples(st.floats(-4.0, 4.0), st.floats(-80.0, 84.0)), min_size=1, max_size=30))
def test_tm_kernels_match_twins_and_pyproj(offsets: list[tuple[float, float]]) -> None:
    lon = UTM49.lon0 + arr([o[0] for o in offsets])
    lat = arr([o[1] for o in offsets])
    x, y = K.tm_forward(lon, lat, *_tm_args(UTM49), UTM49.alpha)
    tx, ty = twins.tm_forward(lon, lat, *_tm_args(UTM49), UTM49.alpha)
    assert np.abs(x - tx).max() < 1e-6 and np.abs(y - ty).max() < 1e-6
    px, py = PYPROJ_UTM49.transform(lon, lat)
    assert np.abs(x - px).max() < 1e-3 and np.abs(y - py).max() < 1e-3
    lon_back, lat_back = K.tm_inverse(px, py, *_tm_args(UTM49), UTM49.beta)
    twin_lon, twin_lat = twins.tm_inverse(px, py, *_tm_args(UTM49), UTM49.beta)
    assert np.abs(lon_back - twin_lon).max() < 1e-11
    assert np.abs(lat_back - twin_lat).max() < 1e-11
    # 1e-8 degrees is about a millimetre.
    assert np.abs(lon_back - lon).max() < 1e-8 and np.abs(lat_back - lat).max() < 1e-8


# --- transverse Mercator by tiles of polynomials ---------------------------------------------

TM49_ARGS = (*_tm_args(UTM49), UTM49.alpha)
DEGREE = K.TM_TILE_DEGREE


def _fit(lon: list[float], lat: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return K.tm_tile_fit(
        arr(lon), arr(lat), TILE_DEG, _TILE_NODES, _TILE_PSEUDO_INVERSE, *TM49_ARGS
    )


def _table(lon: float, lat: float, cols: int, rows: int, fitted: list[int]) -> K.TmTiles:
    """A grid of 1/8-degree tiles from (lon, lat), the listed tiles fitted (all usable)."""
    tile_lon = [lon + (t % cols) * TILE_DEG for t in fitted]
    tile_lat = [lat + (t // cols) * TILE_DEG for t in fitted]
    centre, coeffs = _fit(tile_lon, tile_lat)
    slot = np.full(cols * rows, K.TILE_UNFITTED, np.int32)
    slot[fitted] = np.arange(len(fitted))
    usable = np.ones(len(fitted), bool)
    return K.TmTiles(lon, lat, TILE_DEG, cols, rows, slot, centre, coeffs, usable)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(113.25, 22.75), (110.0, -80.0), (116.875, 83.875), (105.0, 0.0), (119.5, -45.0)],
    ids=["panyu", "south-edge", "north-edge", "equator-zone-edge", "south-zone-edge"],
)
def test_tm_tile_fit_matches_twin_and_stays_within_nanometres(lon: float, lat: float) -> None:
    tile_lon, tile_lat = [lon, lon + TILE_DEG], [lat, lat]
    centre, coeffs = _fit(tile_lon, tile_lat)
    twin_centres, fits = twins.tm_tile_fit(
        tile_lon, tile_lat, TILE_DEG, _TILE_NODES.tolist(), DEGREE, TM49_ARGS
    )
    for i, (twin_centre, fit) in enumerate(zip(twin_centres, fits, strict=True)):
        assert np.abs(centre[i] - twin_centre).max() < 1e-6
        for (a, b), (cx, cy) in fit.items():
            assert coeffs[i, a, b, 0] == pytest.approx(cx, abs=1e-6)
            assert coeffs[i, a, b, 1] == pytest.approx(cy, abs=1e-6)
        high = [(a, b) for a in range(DEGREE + 1) for b in range(DEGREE + 1) if a + b > DEGREE]
        assert not any(coeffs[i, a, b].any() for a, b in high)  # beyond the degree: zero
    args = (arr(tile_lon), arr(tile_lat), TILE_DEG, centre, coeffs, 5)
    errors = K.tm_tile_errors(*args, *TM49_ARGS)
    twin_errors = twins.tm_tile_errors(*args, DEGREE, TM49_ARGS)
    assert np.abs(errors - twin_errors).max() < 1e-8
    assert errors.max() < 2e-8  # the exact kernel's own rounding is a few nanometres


def test_tm_tile_errors_find_a_wrong_polynomial() -> None:
    tile_lon, tile_lat = arr([113.25, 113.375]), arr([22.75, 22.75])
    centre, coeffs = _fit(tile_lon.tolist(), tile_lat.tolist())
    wrong = coeffs.copy()
    wrong[1, 2, 2, 1] += 2e-6  # u^2 v^2 in y: off by 2 µm at the tile's corners only
    errors = K.tm_tile_errors(tile_lon, tile_lat, TILE_DEG, centre, wrong, 9, *TM49_ARGS)
    assert errors[0] < 1e-8 and errors[1] == pytest.approx(2e-6, rel=1e-2)
    wrong[0, 0, 0, 0] = np.nan
    errors = K.tm_tile_errors(tile_lon, tile_lat, TILE_DEG, centre, wrong, 9, *TM49_ARGS)
    assert np.isnan(errors[0])


def test_tm_forward_tiled_on_fitted_unfitted_and_unusable_tiles() -> None:
    tiles = _table(113.25, 22.75, 2, 2, fitted=[0, 1, 3])
    tiles = tiles._replace(usable=np.array([True, False, True]))
    lon = arr([113.3, 113.45, 113.3, 113.1, 113.6, 113.45, math.nan, 113.3])
    lat = arr([22.8, 22.8, 22.9, 22.8, 22.8, 22.9, 22.8, math.nan])
    # on tile 0; tile 1 (unusable); tile 2 (unfitted); west, east of the grid; tile 3; NaNs
    x, y, missed = K.tm_forward_tiled(lon, lat, tiles)
    ex, ey = K.tm_forward(lon, lat, *TM49_ARGS)
    for i in (0, 5):
        assert abs(x[i] - ex[i]) < 1e-8 and abs(y[i] - ey[i]) < 1e-8
    assert missed == 6 and np.isnan(x[[1, 2, 3, 4, 6, 7]]).all()
    assert np.isnan(y[[1, 2, 3, 4, 6, 7]]).all()
    assert K.tm_unfitted_tiles(lon, lat, tiles).tolist() == [2]
    x, y, missed = K.tm_forward_tiled(arr([]), arr([]), tiles)
    assert x.size == y.size == missed == 0


@PROPERTY
@given(
    st.lists(st.tuples(st.floats(-0.05, 0.55), st.floats(-0.05, 0.3)), min_size=1, max_size=30),
    st.sampled_from([(113.25, 22.75), (110.0, 60.0), (116.75, -80.0), (108.0, 83.75)]),
    st.sets(st.integers(0, 7)),
)
def test_tm_forward_tiled_matches_twin_and_exact_kernel(
    offsets: list[tuple[float, float]], origin: tuple[float, float], fitted: set[int]
) -> None:
    tiles = _table(*origin, 4, 2, sorted(fitted))  # half a degree by a quarter, some fitted
    lon = origin[0] + arr([o[0] for o in offsets])
    lat = np.minimum(origin[1] + arr([o[1] for o in offsets]), 84.0)
    x, y, missed = K.tm_forward_tiled(lon, lat, tiles)
    tx, ty, twin_missed = twins.tm_forward_tiled(lon, lat, tiles, DEGREE)
    assert missed == twin_missed
    np.testing.assert_allclose(x, tx, rtol=0, atol=1e-8)  # NaN where the twin has NaN
    np.testing.assert_allclose(y, ty, rtol=0, atol=1e-8)
    assert K.tm_unfitted_tiles(lon, lat, tiles).tolist() == twins.tm_unfitted_tiles(lon, lat, tiles)
    ex, ey = K.tm_forward(lon, lat, *TM49_ARGS)
    on = ~np.isnan(x)
    assert np.abs(x - ex)[on].max(initial=0) < 2e-8 and np.abs(y - ey)[on].max(initial=0) < 2e-8
