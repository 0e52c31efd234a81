"""Spatial indexes in projected metres: nearest polyline segment and point in polygon.

Thin validating wrappers around the Numba kernels of ``kernels.py``; build one per batch
(or per permit / geofence set) and query it with whole coordinate arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from cdw.errors import Problem, ValidationFailed
from cdw.geo.kernels import (
    RASTER_MIXED,
    CorridorRaster,
    Grid,
    Polygons,
    Segments,
    boundary_distances,
    build_corridor_raster,
    build_segment_index,
    distance_to_segments,
    highest_within,
    points_in_polygons,
    polygon_lookup,
    rank_cells,
    some_within_below,
    within_distance,
)

# Segment grid cell size bounds (m) when chosen from the data, and the most cells a grid may have.
MIN_CELL_SIZE_M = 100.0
MAX_CELL_SIZE_M = 250.0
MAX_GRID_CELLS = 4_000_000
# ``within`` settles most points by a raster of sub-cells at most this fraction of the
# distance on a side (a power of two of them to a grid cell's side, at most this many).
RASTER_STEP_OF_DISTANCE = 0.25
MAX_RASTER_FINE = 16
# ... but only once this many points have been asked about at one distance: a raster costs
# about as much as testing some thousands of points exactly (a permit's route corridor is
# asked about the few hundred fixes of its legs). Its verdicts are certain (a slack beyond
# rounding), so with or without it the answers are the same.
RASTER_AFTER_POINTS = 20_000


def coordinate_arrays(
    a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float], names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Two equally long 1-D contiguous float64 arrays, or ValidationFailed naming the fields."""
    arrays = []
    problems = []
    for value, name in zip((a, b), names, strict=True):
        try:
            arr = np.ascontiguousarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            problems.append(
                Problem(name, "坐标必须是数值数组", "coordinates must be a numeric array")
            )
            continue
        if arr.ndim != 1:
            problems.append(
                Problem(
                    name,
                    f"坐标必须是一维数组，实际为 {arr.ndim} 维",
                    f"coordinates must be a 1-D array, got {arr.ndim}-D",
                )
            )
        arrays.append(arr)
    if not problems and arrays[0].size != arrays[1].size:
        problems.append(
            Problem(
                f"{names[0]},{names[1]}",
                f"{names[0]} 与 {names[1]} 长度不同（{arrays[0].size} 与 {arrays[1].size}）",
                f"{names[0]} and {names[1]} differ in length ({arrays[0].size} vs {arrays[1].size})",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    return arrays[0], arrays[1]


def _geometry_array(
    geoms: Sequence[BaseGeometry], allowed: tuple[str, ...], field: str
) -> np.ndarray:
    """``geoms`` as a shapely array after checking types and finite coordinates of each."""
    arr = np.asarray(list(geoms), dtype=object)
    if _all_valid(arr, allowed):
        return arr
    problems = []
    for i, geom in enumerate(arr):
        if not isinstance(geom, BaseGeometry) or geom.geom_type not in allowed:
            kind = getattr(geom, "geom_type", type(geom).__name__)
            problems.append(
                Problem(
                    f"{field}[{i}]",
                    f"几何类型必须是 {'/'.join(allowed)}，实际为 {kind}",
                    f"geometry must be {'/'.join(allowed)}, got {kind}",
                )
            )
        elif not np.isfinite(shapely.get_coordinates(geom)).all():
            problems.append(
                Problem(
                    f"{field}[{i}]",
                    "几何坐标含 NaN 或无穷大",
                    "geometry has NaN or infinite coordinates",
                )
            )
    if problems:
        raise ValidationFailed(problems)
    return arr


def _all_valid(arr: np.ndarray, allowed: tuple[str, ...]) -> bool:
    """Every item a geometry of an ``allowed`` type with finite coordinates, checked on
    the whole array at once (the item-by-item check names the culprits otherwise)."""
    if not all(isinstance(geom, BaseGeometry) for geom in arr.tolist()):
        return False
    kinds = {shapely.GeometryType[kind.upper()].value for kind in allowed}
    if not np.isin(shapely.get_type_id(arr), list(kinds)).all():
        return False
    return bool(np.isfinite(shapely.get_coordinates(arr)).all())


def _max_dist(max_dist: float) -> float:
    if not (isinstance(max_dist, int | float) and max_dist >= 0):  # NaN fails too
        raise ValidationFailed(
            [
                Problem(
                    "max_dist",
                    f"最大距离必须是非负数，实际为 {max_dist!r}",
                    f"max_dist must be a non-negative number, got {max_dist!r}",
                )
            ]
        )
    return float(max_dist)


def _finite_max_dist(max_dist: float, what: str) -> float:
    """``_max_dist`` for the grid's look-ups, which need a finite one."""
    radius = _max_dist(max_dist)
    if math.isinf(radius):
        raise ValueError(f"{what} needs a finite max_dist / 需要有限的 max_dist")
    return radius


def segment_grid(segments: Segments, cell_size: float) -> Grid:
    """The uniform grid of ``build_segment_index`` over ``segments``' bounding boxes."""
    origin_x, origin_y, n_cols, n_rows, cell_start, cell_items = build_segment_index(
        *segments, cell_size
    )
    return Grid(origin_x, origin_y, float(cell_size), n_cols, n_rows, cell_start, cell_items)


def _fit_cell_size(size: float, width: float, height: float) -> float:
    """``size``, doubled until a grid over width x height has at most MAX_GRID_CELLS cells."""
    while (width / size + 1) * (height / size + 1) > MAX_GRID_CELLS:
        size *= 2.0
    return size


class SegmentIndex:
    """Nearest line segment for many points, over polylines in projected metres.

    ``segment_part[s]`` is the index (in the caller's list) of the line that segment ``s``
    belongs to; the segments of a line are numbered in vertex order, line after line.
    """

    def __init__(self, lines: Sequence[BaseGeometry], cell_size: float | None = None) -> None:
        geoms = _geometry_array(lines, ("LineString", "LinearRing", "MultiLineString"), "lines")
        parts, part_owner = shapely.get_parts(geoms, return_index=True)
        coords, vertex_part = shapely.get_coordinates(parts, return_index=True)
        same_part = vertex_part[1:] == vertex_part[:-1]
        self._set_up(
            coords[:-1, 0][same_part],
            coords[:-1, 1][same_part],
            coords[1:, 0][same_part],
            coords[1:, 1][same_part],
            part_owner[vertex_part[:-1][same_part]],
            cell_size,
        )

    @classmethod
    def of_segments(
        cls,
        x0: np.ndarray,
        y0: np.ndarray,
        x1: np.ndarray,
        y1: np.ndarray,
        cell_size: float | None = None,
    ) -> SegmentIndex:
        """The index of the two-point lines ``(x0[s], y0[s])-(x1[s], y1[s])`` (segment s is
        line s), as ``SegmentIndex`` of those lines builds it, without making them."""
        ends = np.column_stack([np.asarray(a, np.float64) for a in (x0, y0, x1, y1)])
        if not np.isfinite(ends).all():
            bad = int(np.flatnonzero(~np.isfinite(ends).all(axis=1))[0])
            raise ValidationFailed(
                [
                    Problem(
                        f"lines[{bad}]",
                        "几何坐标含 NaN 或无穷大",
                        "geometry has NaN or infinite coordinates",
                    )
                ]
            )
        index = cls.__new__(cls)
        index._set_up(*ends.T, np.arange(ends.shape[0]), cell_size)
        return index

    def _set_up(
        self,
        x0: np.ndarray,
        y0: np.ndarray,
        x1: np.ndarray,
        y1: np.ndarray,
        segment_part: np.ndarray,
        cell_size: float | None,
    ) -> None:
        self.seg_x0 = np.ascontiguousarray(x0)
        self.seg_y0 = np.ascontiguousarray(y0)
        self.seg_x1 = np.ascontiguousarray(x1)
        self.seg_y1 = np.ascontiguousarray(y1)
        self.segment_part = np.asarray(segment_part).astype(np.int64)
        self.segments = Segments(self.seg_x0, self.seg_y0, self.seg_x1, self.seg_y1)
        # Segment bounding boxes, and the extent of them all.
        self._box = (
            np.minimum(self.seg_x0, self.seg_x1),
            np.minimum(self.seg_y0, self.seg_y1),
            np.maximum(self.seg_x0, self.seg_x1),
            np.maximum(self.seg_y0, self.seg_y1),
        )
        self._extent = (
            (
                float(self._box[2].max() - self._box[0].min()),
                float(self._box[3].max() - self._box[1].min()),
            )
            if len(self)
            else (0.0, 0.0)
        )
        self.grid = segment_grid(
            self.segments, _fit_cell_size(self._base_cell_size(cell_size), *self._extent)
        )
        # Grids over the boxes grown by a distance, for ``within``; built on first use (a
        # raster once RASTER_AFTER_POINTS points have been asked about at that distance).
        self._corridors: dict[float, _Corridor] = {}
        self._grown: dict[float, Grid] = {}
        self._asked: dict[float, int] = {}
        self._undecided: dict[float, _Corridor] = {}  # per radius, until the raster is built

    def __len__(self) -> int:
        return int(self.seg_x0.size)

    def _base_cell_size(self, requested: float | None) -> float:
        """The requested size, else the median segment length clipped to 100-250 m."""
        if requested is None:
            if not len(self):
                return MIN_CELL_SIZE_M
            lengths = np.hypot(self.seg_x1 - self.seg_x0, self.seg_y1 - self.seg_y0)
            return float(np.clip(np.median(lengths), MIN_CELL_SIZE_M, MAX_CELL_SIZE_M))
        if not (isinstance(requested, int | float) and requested > 0 and math.isfinite(requested)):
            raise ValidationFailed(
                [
                    Problem(
                        "cell_size",
                        f"网格边长必须是正数，实际为 {requested!r}",
                        f"cell_size must be a positive number, got {requested!r}",
                    )
                ]
            )
        return float(requested)

    def distance(
        self,
        px: np.ndarray | Sequence[float],
        py: np.ndarray | Sequence[float],
        max_dist: float = math.inf,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distance (m) from each point to its nearest segment, and that segment's index.

        ``inf`` and ``-1`` where no segment lies within ``max_dist`` (and for NaN points).
        """
        x, y = coordinate_arrays(px, py, ("px", "py"))
        return distance_to_segments(
            x, y, segments=self.segments, grid=self.grid, max_dist=_max_dist(max_dist)
        )

    def within(
        self,
        px: np.ndarray | Sequence[float],
        py: np.ndarray | Sequence[float],
        max_dist: float,
    ) -> np.ndarray:
        """True where some segment lies within ``max_dist`` (inclusive) of the point: the
        corridor check. NaN points are False.

        The verdict of ``distance(px, py, max_dist)[1] >= 0`` (but for a distance equal to
        ``max_dist`` to within rounding), several times faster: the grid and raster of
        each ``max_dist`` are built on first use and kept.
        """
        x, y = coordinate_arrays(px, py, ("px", "py"))
        radius = _max_dist(max_dist)
        if math.isinf(radius):  # every finite point is near any segment
            return np.isfinite(x) & np.isfinite(y) & (len(self) > 0)
        asked = self._asked[radius] = self._asked.get(radius, 0) + x.size
        if radius not in self._corridors and asked >= RASTER_AFTER_POINTS:
            self._corridors[radius] = self._corridor(radius)
            self._undecided.pop(radius, None)
        corridor = self._corridors.get(radius)
        if corridor is None:  # few points so far: each tested exactly, no raster built
            corridor = self._undecided.get(radius)
            if corridor is None:
                grid = self._grown_grid(radius)
                corridor = self._undecided[radius] = _Corridor(grid, _undecided_raster(grid))
        return within_distance(
            x,
            y,
            segments=self.segments,
            grid=corridor.grid,
            raster=corridor.raster,
            max_dist=radius,
        )

    def candidates(
        self, px: np.ndarray | Sequence[float], py: np.ndarray | Sequence[float], max_dist: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(point, segment) pairs, by point: every segment whose box grown by ``max_dist``
        may hold the point (the segments in the point's cell of that grid, as the kernels
        read it), so every segment within ``max_dist`` of a point is among its pairs."""
        x, y = coordinate_arrays(px, py, ("px", "py"))
        radius = _finite_max_dist(max_dist, "candidates")
        if not len(self):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        origin_x, origin_y, cell_size, n_cols, n_rows, cell_start, cell_items = self._grown_grid(
            radius
        )
        inside = (
            (origin_x <= x)
            & (x <= origin_x + n_cols * cell_size)
            & (origin_y <= y)
            & (y <= origin_y + n_rows * cell_size)
        )
        point = np.flatnonzero(inside)
        inv_cell = 1.0 / cell_size
        col = np.clip(np.floor((x[point] - origin_x) * inv_cell), 0, max(n_cols - 1, 0))
        row = np.clip(np.floor((y[point] - origin_y) * inv_cell), 0, max(n_rows - 1, 0))
        cell = row.astype(np.int64) * n_cols + col.astype(np.int64)
        first, count = cell_start[cell], cell_start[cell + 1] - cell_start[cell]
        pair_point = np.repeat(point, count)
        slot = np.arange(pair_point.size) - np.repeat(np.cumsum(count) - count, count)
        return pair_point, cell_items[np.repeat(first, count) + slot].astype(np.int64)

    def _grown_grid(self, radius: float) -> Grid:
        """Grid over the segment boxes grown by ``radius`` (built on first use and kept)."""
        if radius not in self._grown:
            min_x, min_y, max_x, max_y = self._box
            cell = _fit_cell_size(
                self.grid.cell_size, self._extent[0] + 2 * radius, self._extent[1] + 2 * radius
            )
            grown = Segments(min_x - radius, min_y - radius, max_x + radius, max_y + radius)
            self._grown[radius] = segment_grid(grown, cell)
        return self._grown[radius]

    def _corridor(self, radius: float) -> _Corridor:
        """Grid over the segment boxes grown by ``radius``, and its raster of certain verdicts."""
        grid = self._grown_grid(radius)
        cell = grid.cell_size
        fine = MAX_RASTER_FINE  # a power of two
        while radius > 0 and fine > 1 and cell / (fine // 2) <= RASTER_STEP_OF_DISTANCE * radius:
            fine //= 2
        raster = build_corridor_raster(self.segments, grid, max_dist=radius, fine=fine)
        return _Corridor(grid, raster)


class SegmentValues:
    """One value per segment of a ``SegmentIndex`` (a road's posted limit), for look-ups of
    segments by value near points. Per distance, the index's grid with each cell's segments
    ranked by value (``rank_cells``), built on first use and kept, so that a look-up reads a
    cell's segments from the value that can answer it and stops at the first near one."""

    def __init__(self, index: SegmentIndex, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, np.float64)
        if values.shape != (len(index),):
            raise ValueError("one value per segment / 每个线段一个值")
        self.index, self.values = index, values
        self._ranked: dict[tuple[float, bool], tuple[Grid, np.ndarray]] = {}

    def highest_within(
        self, px: np.ndarray | Sequence[float], py: np.ndarray | Sequence[float], max_dist: float
    ) -> np.ndarray:
        """Per point, the highest value among the segments within ``max_dist`` (inclusive)
        of it; ``-inf`` where none is (and for NaN points; NaN values count as none)."""
        x, y = coordinate_arrays(px, py, ("px", "py"))
        radius = _finite_max_dist(max_dist, "highest_within")
        grid, ranked = self._ranked_grid(radius, descending=True)
        return highest_within(x, y, self.index.segments, grid, ranked, radius)

    def some_within_below(
        self,
        px: np.ndarray | Sequence[float],
        py: np.ndarray | Sequence[float],
        max_dist: float,
        bounds: np.ndarray,
    ) -> np.ndarray:
        """Per point i: is some segment valued below ``bounds[i]`` within ``max_dist``
        (inclusive, ``SegmentIndex.within``'s test) of it? False for NaN points."""
        x, y = coordinate_arrays(px, py, ("px", "py"))
        radius = _finite_max_dist(max_dist, "some_within_below")
        bounds = np.ascontiguousarray(bounds, np.float64)
        if bounds.shape != x.shape:
            raise ValueError("one bound per point / 每个点一个上界")
        grid, ranked = self._ranked_grid(radius, descending=False)
        return some_within_below(x, y, self.index.segments, grid, ranked, bounds, radius)

    def _ranked_grid(self, radius: float, descending: bool) -> tuple[Grid, np.ndarray]:
        key = (radius, descending)
        if key not in self._ranked:
            grid = self.index._grown_grid(radius)
            items, ranked = rank_cells(grid.cell_start, grid.cell_items, self.values, descending)
            self._ranked[key] = (grid._replace(cell_items=items), ranked)
        return self._ranked[key]


def _undecided_raster(grid: Grid) -> CorridorRaster:
    """A raster of one sub-cell per grid cell, every one MIXED: ``within_distance`` then
    tests each point against its cell's segments."""
    return CorridorRaster(
        np.zeros(grid.n_cols * grid.n_rows, np.int64), np.full(1, RASTER_MIXED, np.uint8), 1
    )


@dataclass(frozen=True)
class _Corridor:
    grid: Grid  # over the segment boxes grown by the radius
    raster: CorridorRaster


class PolygonSet:
    """Which polygon (geofence) contains each point, over polygons in projected metres.

    A MultiPolygon's parts all map to its index in the caller's list; where polygons
    overlap the lowest index wins. Boundary points follow the rule of
    ``kernels.points_in_polygons``.
    """

    def __init__(self, polygons: Sequence[BaseGeometry]) -> None:
        geoms = _geometry_array(polygons, ("Polygon", "MultiPolygon"), "polygons")
        parts, part_owner = shapely.get_parts(geoms, return_index=True)
        non_empty = ~shapely.is_empty(parts)
        parts = parts[non_empty]
        self.part_owner = part_owner[non_empty].astype(np.int64)
        rings, ring_part = shapely.get_rings(parts, return_index=True)  # exterior first
        coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
        self.polygons = Polygons(
            ring_x=np.ascontiguousarray(coords[:, 0]),
            ring_y=np.ascontiguousarray(coords[:, 1]),
            ring_start=_offsets(vertex_ring, rings.size),
            poly_ring_start=_offsets(ring_part, parts.size),
            poly_bbox=_ring_bounds(coords, vertex_ring, ring_part, parts.size),
        )
        self.size = len(geoms)
        self._owner_part_start = _offsets(self.part_owner, self.size)
        self._lookup = polygon_lookup(self.polygons)  # grid, bands, rasters: built once
        # One part a polygon (no MultiPolygon, none empty): part index = caller's index.
        self._parts_are_polygons = bool(
            np.array_equal(self.part_owner, np.arange(self.size, dtype=np.int64))
        )

    def __len__(self) -> int:
        return self.size

    def locate(
        self, px: np.ndarray | Sequence[float], py: np.ndarray | Sequence[float]
    ) -> np.ndarray:
        """For each point the caller's index of the polygon containing it, -1 if none."""
        x, y = coordinate_arrays(px, py, ("px", "py"))
        part = points_in_polygons(x, y, self.polygons, self._lookup)
        if not self.part_owner.size or self._parts_are_polygons:
            return part
        return np.where(part >= 0, self.part_owner[np.maximum(part, 0)], -1)

    def boundary_distance(
        self, px: np.ndarray | Sequence[float], py: np.ndarray | Sequence[float], which: np.ndarray
    ) -> np.ndarray:
        """For each point the distance to the boundary of polygon ``which[i]`` (the caller's
        index): for a point outside it, its distance to the polygon (``shapely.distance``)."""
        x, y = coordinate_arrays(px, py, ("px", "py"))
        index = np.asarray(which, dtype=np.int64)
        if index.shape != x.shape or (
            index.size and not 0 <= index.min() <= index.max() < self.size
        ):
            raise ValueError(
                f"多边形序号应为 0 到 {self.size - 1}，每点一个 / "
                f"which must hold one polygon index 0..{self.size - 1} per point"
            )
        return boundary_distances(x, y, index, self._owner_part_start, self.polygons)


def _offsets(owner: np.ndarray, n_groups: int) -> np.ndarray:
    """CSR offsets (length n_groups + 1) of an ascending owner-index array."""
    out = np.zeros(n_groups + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=n_groups), out=out[1:])
    return out


def _ring_bounds(
    coords: np.ndarray, vertex_ring: np.ndarray, ring_part: np.ndarray, n_parts: int
) -> np.ndarray:
    """(n_parts, 4) bounding boxes over every ring of each part, holes included."""
    bbox = np.empty((n_parts, 4))
    if n_parts:
        part_of_vertex = ring_part[vertex_ring]
        first = _offsets(part_of_vertex, n_parts)[:-1]
        bbox[:, 0] = np.minimum.reduceat(coords[:, 0], first)
        bbox[:, 1] = np.minimum.reduceat(coords[:, 1], first)
        bbox[:, 2] = np.maximum.reduceat(coords[:, 0], first)
        bbox[:, 3] = np.maximum.reduceat(coords[:, 1], first)
    return bbox
