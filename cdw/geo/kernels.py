"""Numba kernels of the geo floor: grids over segments and polygons, distances, point in
polygon, and the transverse Mercator transforms. Arrays (or named bundles of arrays) in,
arrays out, no Python objects.

Coordinates are projected metres (float64, one transform per batch, see ``projection.py``).
Validating wrappers live in ``index.py`` and ``projection.py``; every kernel has a
plain-Python twin in ``tests/geo/twins.py``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

_INT = np.int64
# A point more than this many cells from a grid's origin is searched by brute force, so
# cell arithmetic cannot overflow int64 (real data never comes near it).
_MAX_CELL_OFFSET = 2.0**40
# Rounding allowance when deciding that no unseen grid cell can hold a nearer segment.
_BOUND_SLACK_M = 1e-6


class Segments(NamedTuple):
    """Line segments ``(x0[s], y0[s]) - (x1[s], y1[s])`` (float64 arrays of equal length)."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray


class Grid(NamedTuple):
    """A uniform grid of items (see ``build_segment_index``): cell ``c = row * n_cols +
    col`` covers ``[origin_x + col * cell_size, origin_x + (col + 1) * cell_size)`` (and
    likewise in y) and holds items ``cell_items[cell_start[c] : cell_start[c + 1]]``."""

    origin_x: float
    origin_y: float
    cell_size: float
    n_cols: int
    n_rows: int
    cell_start: np.ndarray
    cell_items: np.ndarray


class Polygons(NamedTuple):
    """Polygons as rings: ring ``r`` is ``ring_x/ring_y[ring_start[r] : ring_start[r+1]]``
    (closed or not); polygon ``p`` owns rings ``poly_ring_start[p] : poly_ring_start[p+1]``,
    the exterior first, then holes; ``poly_bbox[p]`` is (minx, miny, maxx, maxy) over all
    its rings."""

    ring_x: np.ndarray
    ring_y: np.ndarray
    ring_start: np.ndarray
    poly_ring_start: np.ndarray
    poly_bbox: np.ndarray


class CorridorRaster(NamedTuple):
    """Certain verdicts of ``within_distance`` per sub-cell (see ``build_corridor_raster``)."""

    block_of: np.ndarray
    states: np.ndarray
    fine: int


# --- distance to line segments through a uniform grid ---------------------------------


@njit(cache=True, nogil=True, inline="always")
def cell_of(v: float, origin: float, inv_cell: float, n_cells: int) -> int:
    """Cell ``floor((v - origin) * inv_cell)`` clamped to ``0 .. n_cells-1`` (v not NaN).

    Monotone in ``v``, so whatever lies between two boxes' corners falls between their cells.
    """
    f = (v - origin) * inv_cell
    if f < 0.0:
        return 0
    if f >= n_cells:
        return n_cells - 1
    return int(f)


@njit(cache=True, nogil=True, inline="always")
def grown_cell(x: float, y: float, grid: Grid) -> int:
    """The cell of ``grid`` (boxes grown by the search radius) holding (x, y); -1 outside the
    grid, where no grown box reaches, and for NaN."""
    origin_x, origin_y, cell_size, n_cols, n_rows, _, _ = grid
    if not (
        origin_x <= x <= origin_x + n_cols * cell_size
        and origin_y <= y <= origin_y + n_rows * cell_size
    ):
        return -1
    inv_cell = 1.0 / cell_size
    return cell_of(y, origin_y, inv_cell, n_rows) * n_cols + cell_of(x, origin_x, inv_cell, n_cols)


@njit(cache=True, nogil=True)
def build_segment_index(
    seg_x0: np.ndarray,
    seg_y0: np.ndarray,
    seg_x1: np.ndarray,
    seg_y1: np.ndarray,
    cell_size: float,
) -> tuple[float, float, int, int, np.ndarray, np.ndarray]:
    """Uniform grid over segments: (origin_x, origin_y, n_cols, n_rows, cell_start, cell_items).

    Cell ``c = row * n_cols + col`` covers ``[origin + col * cell_size, origin + (col+1) *
    cell_size)`` (and likewise in y; the column of x is ``floor((x - origin_x) * (1 /
    cell_size))``, clamped to the grid); its segments are ``cell_items[cell_start[c] :
    cell_start[c+1]]``, ascending. A segment is listed in every cell its bounding box
    touches. No segments gives a 0 x 0 grid.
    """
    n = seg_x0.size
    if n == 0:
        return 0.0, 0.0, 0, 0, np.zeros(1, _INT), np.empty(0, _INT)
    min_x = min(seg_x0.min(), seg_x1.min())
    min_y = min(seg_y0.min(), seg_y1.min())
    max_x = max(seg_x0.max(), seg_x1.max())
    max_y = max(seg_y0.max(), seg_y1.max())
    n_cols = int((max_x - min_x) / cell_size) + 1
    n_rows = int((max_y - min_y) / cell_size) + 1
    inv_cell = 1.0 / cell_size
    col0 = np.empty(n, _INT)
    col1 = np.empty(n, _INT)
    row0 = np.empty(n, _INT)
    row1 = np.empty(n, _INT)
    counts = np.zeros(n_cols * n_rows + 1, _INT)
    for s in range(n):
        col0[s] = cell_of(min(seg_x0[s], seg_x1[s]), min_x, inv_cell, n_cols)
        col1[s] = cell_of(max(seg_x0[s], seg_x1[s]), min_x, inv_cell, n_cols)
        row0[s] = cell_of(min(seg_y0[s], seg_y1[s]), min_y, inv_cell, n_rows)
        row1[s] = cell_of(max(seg_y0[s], seg_y1[s]), min_y, inv_cell, n_rows)
        for r in range(row0[s], row1[s] + 1):
            for c in range(col0[s], col1[s] + 1):
                counts[r * n_cols + c + 1] += 1
    cell_start = np.cumsum(counts)
    cursor = cell_start[:-1].copy()
    cell_items = np.empty(cell_start[-1], _INT)
    for s in range(n):
        for r in range(row0[s], row1[s] + 1):
            for c in range(col0[s], col1[s] + 1):
                cell = r * n_cols + c
                cell_items[cursor[cell]] = s
                cursor[cell] += 1
    return min_x, min_y, n_cols, n_rows, cell_start, cell_items


@njit(cache=True, nogil=True, inline="always")
def _segment_dist2(x: float, y: float, x0: float, y0: float, x1: float, y1: float) -> float:
    """Squared distance from (x, y) to the segment (x0, y0)-(x1, y1); a point if zero length."""
    dx = x1 - x0
    dy = y1 - y0
    wx = x - x0
    wy = y - y0
    length2 = dx * dx + dy * dy
    if length2 > 0.0:
        u = (wx * dx + wy * dy) / length2
        if u < 0.0:
            u = 0.0
        elif u > 1.0:
            u = 1.0
        wx -= u * dx
        wy -= u * dy
    return wx * wx + wy * wy


@njit(cache=True, nogil=True)
def distance_to_segments(
    px: np.ndarray, py: np.ndarray, segments: Segments, grid: Grid, max_dist: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact distance from each point to the nearest segment: (dist, nearest_seg).

    Rings of cells around the point's cell are searched outwards until no unseen cell can
    hold a nearer segment, or none can lie within ``max_dist``. Where no segment lies
    within ``max_dist`` (inclusive) the result is ``inf`` and ``-1``; NaN points too.
    Among equally near segments the lowest index wins. ``grid`` lists ``segments`` by
    their bounding boxes (``build_segment_index``).
    """
    seg_x0, seg_y0, seg_x1, seg_y1 = segments
    origin_x, origin_y, cell_size, n_cols, n_rows, cell_start, cell_items = grid
    n = px.size
    dist = np.full(n, np.inf)
    nearest = np.full(n, -1, _INT)
    if n_cols == 0:
        return dist, nearest
    grid_x1 = origin_x + n_cols * cell_size
    grid_y1 = origin_y + n_rows * cell_size
    max_dist2 = max_dist * max_dist
    for i in range(n):
        x = px[i]
        y = py[i]
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        gx = max(origin_x - x, 0.0, x - grid_x1)
        gy = max(origin_y - y, 0.0, y - grid_y1)
        if gx * gx + gy * gy > max_dist2:
            continue
        fx = (x - origin_x) / cell_size
        fy = (y - origin_y) / cell_size
        best2 = np.inf
        best_s = -1
        if abs(fx) > _MAX_CELL_OFFSET or abs(fy) > _MAX_CELL_OFFSET:
            for s in range(seg_x0.size):  # absurdly far away: no grid arithmetic
                d2 = _segment_dist2(x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s])
                if d2 < best2:
                    best2 = d2
                    best_s = s
        else:
            cx = int(math.floor(fx))
            cy = int(math.floor(fy))
            # Rings nearer than this are wholly outside the grid, hence empty.
            k = max(0, -cx, cx - (n_cols - 1), -cy, cy - (n_rows - 1))
            while True:
                for r in range(max(cy - k, 0), min(cy + k, n_rows - 1) + 1):
                    if r == cy - k or r == cy + k:
                        c_lo = max(cx - k, 0)
                        c_hi = min(cx + k, n_cols - 1)
                        c_step = 1
                    else:  # inner rows of a ring: only its two edge columns
                        c_lo = cx - k
                        c_hi = cx + k
                        c_step = max(2 * k, 1)
                    for c in range(c_lo, c_hi + 1, c_step):
                        if c < 0 or c >= n_cols:
                            continue
                        cell = r * n_cols + c
                        for j in range(cell_start[cell], cell_start[cell + 1]):
                            s = cell_items[j]
                            d2 = _segment_dist2(x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s])
                            if d2 < best2 or (d2 == best2 and s < best_s):
                                best2 = d2
                                best_s = s
                if cx - k <= 0 and cx + k >= n_cols - 1 and cy - k <= 0 and cy + k >= n_rows - 1:
                    break  # the whole grid has been searched
                # Nearest possible point of any cell outside rings 0..k (less a rounding slack).
                bound = -_BOUND_SLACK_M + min(
                    x - (origin_x + (cx - k) * cell_size),
                    origin_x + (cx + k + 1) * cell_size - x,
                    y - (origin_y + (cy - k) * cell_size),
                    origin_y + (cy + k + 1) * cell_size - y,
                )
                if best2 < bound * bound or bound > max_dist:
                    break
                k += 1
        if best_s >= 0 and best2 <= max_dist2:
            dist[i] = math.sqrt(best2)
            nearest[i] = best_s
    return dist, nearest


@njit(cache=True, nogil=True, inline="always")
def _segment_within(
    x: float, y: float, x0: float, y0: float, x1: float, y1: float, max_dist2: float
) -> bool:
    """Is (x, y) within ``sqrt(max_dist2)`` of segment (x0, y0)-(x1, y1)? No division:
    beyond an end the distance to that end, else the cross product against the length."""
    dx = x1 - x0
    dy = y1 - y0
    wx = x - x0
    wy = y - y0
    dot = wx * dx + wy * dy
    if dot <= 0.0:
        return wx * wx + wy * wy <= max_dist2
    length2 = dx * dx + dy * dy
    if dot >= length2:
        ex = x - x1
        ey = y - y1
        return ex * ex + ey * ey <= max_dist2
    cross = wx * dy - wy * dx
    return cross * cross <= max_dist2 * length2


# Corridor raster states of a fine cell: every point of it is outside the corridor, inside
# it, or either (test exactly).
RASTER_OUTSIDE = 0
RASTER_INSIDE = 1
RASTER_MIXED = 2
# Certificates leave this much room (m) for rounding in cell and distance arithmetic.
_RASTER_SLACK_M = 1e-6


@njit(cache=True, nogil=True)
def build_corridor_raster(
    segments: Segments, grid: Grid, max_dist: float, fine: int
) -> CorridorRaster:
    """Certain verdicts of ``within_distance`` per fine cell: (block_of, states, fine).

    The grid is the one ``within_distance`` takes (boxes grown by ``max_dist``). Each
    non-empty cell ``c`` gets block ``block_of[c]`` of ``fine x fine`` sub-cells, the state
    of sub-cell (row ``a``, column ``b``) being ``states[(block * fine + a) * fine + b]``;
    an empty cell has block -1 (no segment within ``max_dist`` of any point of it). With
    ``d`` the distance from a sub-cell's centre to the nearest listed segment and ``h``
    its half-diagonal plus a rounding slack: INSIDE when ``d + h < max_dist``, OUTSIDE
    when ``d - h > max_dist``, MIXED otherwise (by the triangle inequality every point of
    an INSIDE sub-cell is nearer than ``max_dist``, of an OUTSIDE one farther).
    """
    seg_x0, seg_y0, seg_x1, seg_y1 = segments
    origin_x, origin_y, cell_size, n_cols, n_rows, cell_start, cell_items = grid
    n_cells = n_cols * n_rows
    block_of = np.full(n_cells, -1, _INT)
    n_blocks = 0
    for cell in range(n_cells):
        if cell_start[cell + 1] > cell_start[cell]:
            block_of[cell] = n_blocks
            n_blocks += 1
    states = np.empty(n_blocks * fine * fine, np.uint8)
    step = cell_size / fine
    half_diagonal = step * math.sqrt(0.5) + _RASTER_SLACK_M
    for cell in range(n_cells):
        block = block_of[cell]
        if block < 0:
            continue
        x_left = origin_x + (cell % n_cols) * cell_size
        y_low = origin_y + (cell // n_cols) * cell_size
        for a in range(fine):
            cy = y_low + (a + 0.5) * step
            for b in range(fine):
                cx = x_left + (b + 0.5) * step
                best2 = np.inf
                for j in range(cell_start[cell], cell_start[cell + 1]):
                    s = cell_items[j]
                    best2 = min(
                        best2, _segment_dist2(cx, cy, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s])
                    )
                d = math.sqrt(best2)
                if d + half_diagonal < max_dist:
                    state = RASTER_INSIDE
                elif d - half_diagonal > max_dist:
                    state = RASTER_OUTSIDE
                else:
                    state = RASTER_MIXED
                states[(block * fine + a) * fine + b] = state
    return CorridorRaster(block_of, states, fine)


@njit(cache=True, nogil=True)
def within_distance(
    px: np.ndarray,
    py: np.ndarray,
    segments: Segments,
    grid: Grid,
    raster: CorridorRaster,
    max_dist: float,
) -> np.ndarray:
    """For each point: is some segment within ``max_dist`` (inclusive)? NaN points: False.

    The grid must list each segment in every cell its bounding box *grown by max_dist*
    touches (``build_segment_index`` on the grown boxes), so a point's own cell names every
    segment that can be near enough; ``raster`` comes from ``build_corridor_raster`` on
    that grid, its ``fine`` a power of two. Most points are
    settled by their sub-cell's state alone; the rest (MIXED sub-cells, points just outside the grid) are tested
    against their cell's segments, the previous such point's segment and its two
    neighbours first (tracks are continuous, polylines numbered in vertex order), with
    the division-free ``_segment_within``. So the verdict is ``distance_to_segments(...,
    max_dist)[1] >= 0``, except that a distance equal to ``max_dist`` to within rounding
    may be judged differently.
    """
    seg_x0, seg_y0, seg_x1, seg_y1 = segments
    origin_x, origin_y, cell_size, n_cols, n_rows, cell_start, cell_items = grid
    block_of, states, fine = raster
    n = px.size
    out = np.zeros(n, np.bool_)
    if n_cols == 0:
        return out
    # Beyond one cell around the grid lies no grown box; inside, cells are clamped.
    lo_x = origin_x - cell_size
    lo_y = origin_y - cell_size
    hi_x = origin_x + (n_cols + 1) * cell_size
    hi_y = origin_y + (n_rows + 1) * cell_size
    grid_x1 = origin_x + n_cols * cell_size
    grid_y1 = origin_y + n_rows * cell_size
    inv_cell = 1.0 / cell_size
    # Sub-cells are numbered across the whole grid: column gx is cell gx >> shift,
    # sub-column gx & (fine - 1).
    shift = 0
    while (1 << shift) < fine:
        shift += 1
    sub_mask = fine - 1
    inv_step = fine / cell_size
    n_sub_cols = n_cols * fine
    n_sub_rows = n_rows * fine
    max_dist2 = max_dist * max_dist
    n_seg = seg_x0.size
    last = -1
    for i in range(n):
        x = px[i]
        y = py[i]
        if not (lo_x <= x <= hi_x and lo_y <= y <= hi_y):
            continue  # NaN too
        if origin_x <= x < grid_x1 and origin_y <= y < grid_y1:
            gx = cell_of(x, origin_x, inv_step, n_sub_cols)
            gy = cell_of(y, origin_y, inv_step, n_sub_rows)
            block = block_of[(gy >> shift) * n_cols + (gx >> shift)]
            if block < 0:
                continue
            state = states[(((block << shift) + (gy & sub_mask)) << shift) + (gx & sub_mask)]
            if state == RASTER_INSIDE:
                out[i] = True
                continue
            if state == RASTER_OUTSIDE:
                continue
        cell = cell_of(y, origin_y, inv_cell, n_rows) * n_cols + cell_of(
            x, origin_x, inv_cell, n_cols
        )
        if last >= 0:
            hit = -1
            for s in (last, last + 1, last - 1):
                if 0 <= s < n_seg and _segment_within(
                    x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s], max_dist2
                ):
                    hit = s
                    break
            if hit >= 0:
                out[i] = True
                last = hit
                continue
        for j in range(cell_start[cell], cell_start[cell + 1]):
            s = cell_items[j]
            if _segment_within(x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s], max_dist2):
                out[i] = True
                last = s
                break
    return out


@njit(cache=True, nogil=True)
def _ranks_before(u: float, v: float, descending: bool) -> bool:
    """Does value ``u`` come before ``v`` in ``rank_cells``'s order (NaN last either way)?"""
    if np.isnan(u):
        return False
    if np.isnan(v):
        return True
    return u > v if descending else u < v


@njit(cache=True, nogil=True)
def rank_cells(
    cell_start: np.ndarray, cell_items: np.ndarray, values: np.ndarray, descending: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A grid's items with each cell's in order of ``values`` (one per segment): ascending
    or descending, NaN last, ties in their grid order (a stable insertion sort: cells hold
    tens of items); and each item's value beside it. ``some_within_below`` (ascending) and
    ``highest_within`` (descending) read a cell in this order and stop early."""
    items = cell_items.copy()
    ranked = np.empty(items.size)
    for j in range(items.size):
        ranked[j] = values[items[j]]
    for c in range(cell_start.size - 1):
        for j in range(cell_start[c] + 1, cell_start[c + 1]):
            item, value = items[j], ranked[j]
            k = j
            while k > cell_start[c] and _ranks_before(value, ranked[k - 1], descending):
                items[k], ranked[k] = items[k - 1], ranked[k - 1]
                k -= 1
            items[k], ranked[k] = item, value
    return items, ranked


@njit(cache=True, nogil=True)
def highest_within(
    px: np.ndarray,
    py: np.ndarray,
    segments: Segments,
    grid: Grid,
    item_values: np.ndarray,
    max_dist: float,
) -> np.ndarray:
    """For each point, the highest value among the segments within ``max_dist``
    (inclusive) of it; ``-inf`` where none is (and for NaN points; NaN values count as
    none). ``grid`` lists each segment by its bounding box grown by ``max_dist``, as for
    ``within_distance``, so a point's own cell names every segment that can be near
    enough; its cells ranked by value, descending (``rank_cells``: ``item_values``), so
    the first near segment holds the answer."""
    seg_x0, seg_y0, seg_x1, seg_y1 = segments
    cell_start, cell_items = grid.cell_start, grid.cell_items
    n = px.size
    out = np.full(n, -np.inf)
    if grid.n_cols == 0:
        return out
    max_dist2 = max_dist * max_dist
    for i in range(n):
        x = px[i]
        y = py[i]
        cell = grown_cell(x, y, grid)
        if cell < 0:
            continue
        for j in range(cell_start[cell], cell_start[cell + 1]):
            if not item_values[j] > -np.inf:  # -inf or NaN: so is every later one
                break
            s = cell_items[j]
            if _segment_dist2(x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s]) <= max_dist2:
                out[i] = item_values[j]
                break
    return out


@njit(cache=True, nogil=True)
def some_within_below(
    px: np.ndarray,
    py: np.ndarray,
    segments: Segments,
    grid: Grid,
    item_values: np.ndarray,
    bounds: np.ndarray,
    max_dist: float,
) -> np.ndarray:
    """For each point i: is some segment s valued below ``bounds[i]`` within ``max_dist``
    (inclusive) of it? False for NaN points and bounds. The grid is ``highest_within``'s,
    its cells ranked by value, ascending (``rank_cells``: ``item_values``), so a point
    reads only the segments valued below its bound and stops at the first near one;
    nearness is ``within_distance``'s division-free test (``_segment_within``), so with
    every bound infinite and every value finite it is ``within_distance``'s verdict."""
    seg_x0, seg_y0, seg_x1, seg_y1 = segments
    cell_start, cell_items = grid.cell_start, grid.cell_items
    n = px.size
    out = np.zeros(n, np.bool_)
    if grid.n_cols == 0:
        return out
    max_dist2 = max_dist * max_dist
    for i in range(n):
        x = px[i]
        y = py[i]
        cell = grown_cell(x, y, grid)
        if cell < 0:
            continue
        bound = bounds[i]
        for j in range(cell_start[cell], cell_start[cell + 1]):
            if not item_values[j] < bound:  # nor is any later one
                break
            s = cell_items[j]
            if _segment_within(x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s], max_dist2):
                out[i] = True
                break
    return out


# --- point in polygon ----------------------------------------------------------------

# The polygon grid holds at most this many cells (so a polygon covering a whole city
# costs at most this many index entries).
_POLY_GRID_MAX_CELLS = 65536
_POLY_GRID_CELLS_PER_POLYGON = 16
# Each polygon's edges are bucketed into horizontal bands of about this many vertices, so
# a crossing test reads only the edges near the point's y (at most _MAX_BANDS bands).
_VERTICES_PER_BAND = 2
_MAX_BANDS = 4096


@njit(cache=True, nogil=True)
def _polygon_grid(
    poly_bbox: np.ndarray,
) -> tuple[float, float, float, int, int, np.ndarray, np.ndarray]:
    """Uniform grid over polygon bounding boxes: (min_x, min_y, 1 / cell size, n_cols,
    n_rows, cell_start, cell_items), polygons of a cell ascending."""
    n_poly = poly_bbox.shape[0]
    min_x = poly_bbox[:, 0].min()
    min_y = poly_bbox[:, 1].min()
    width = poly_bbox[:, 2].max() - min_x
    height = poly_bbox[:, 3].max() - min_y
    target = min(_POLY_GRID_MAX_CELLS, _POLY_GRID_CELLS_PER_POLYGON * n_poly)
    cell_size = max(math.sqrt(width * height / target), max(width, height) / target)
    if not cell_size > 0.0:
        cell_size = 1.0
    n_cols = int(width / cell_size) + 1
    n_rows = int(height / cell_size) + 1
    inv_cell = 1.0 / cell_size
    counts = np.zeros(n_cols * n_rows + 1, _INT)
    for p in range(n_poly):
        c0 = cell_of(poly_bbox[p, 0], min_x, inv_cell, n_cols)
        c1 = cell_of(poly_bbox[p, 2], min_x, inv_cell, n_cols)
        r0 = cell_of(poly_bbox[p, 1], min_y, inv_cell, n_rows)
        r1 = cell_of(poly_bbox[p, 3], min_y, inv_cell, n_rows)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                counts[r * n_cols + c + 1] += 1
    cell_start = np.cumsum(counts)
    cursor = cell_start[:-1].copy()
    cell_items = np.empty(cell_start[-1], _INT)
    for p in range(n_poly):
        c0 = cell_of(poly_bbox[p, 0], min_x, inv_cell, n_cols)
        c1 = cell_of(poly_bbox[p, 2], min_x, inv_cell, n_cols)
        r0 = cell_of(poly_bbox[p, 1], min_y, inv_cell, n_rows)
        r1 = cell_of(poly_bbox[p, 3], min_y, inv_cell, n_rows)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                cell = r * n_cols + c
                cell_items[cursor[cell]] = p
                cursor[cell] += 1
    return min_x, min_y, inv_cell, n_cols, n_rows, cell_start, cell_items


@njit(cache=True, nogil=True)
def _edge_bands(
    ring_y: np.ndarray,
    ring_start: np.ndarray,
    poly_ring_start: np.ndarray,
    poly_bbox: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges of each polygon bucketed by horizontal band.

    Edge ``v`` joins vertex ``prev[v]`` to vertex ``v`` (rings close implicitly). Polygon
    ``p`` has ``n_bands[p]`` bands; y falls in band ``cell_of(y, miny_p, band_scale[p],
    n_bands[p])``, band ``b`` being ``k = first_band[p] + b``, whose edges are
    ``band_edges[band_start[k] : band_start[k + 1]]``. An edge is listed in every band its
    y-range touches; horizontal edges, which never cross a horizontal ray, in none.
    """
    n_poly = poly_bbox.shape[0]
    prev = np.empty(ring_y.size, _INT)
    for r in range(ring_start.size - 1):
        lo = ring_start[r]
        hi = ring_start[r + 1]
        for v in range(lo, hi):
            prev[v] = v - 1 if v > lo else hi - 1
    n_bands = np.empty(n_poly, _INT)
    band_scale = np.zeros(n_poly)
    first_band = np.empty(n_poly + 1, _INT)
    first_band[0] = 0
    for p in range(n_poly):
        n_vertices = ring_start[poly_ring_start[p + 1]] - ring_start[poly_ring_start[p]]
        height = poly_bbox[p, 3] - poly_bbox[p, 1]
        n_bands[p] = min(max(n_vertices // _VERTICES_PER_BAND, 1), _MAX_BANDS) if height > 0 else 1
        if height > 0:
            band_scale[p] = n_bands[p] / height
        first_band[p + 1] = first_band[p] + n_bands[p]
    counts = np.zeros(first_band[n_poly] + 1, _INT)
    for fill in (False, True):
        if fill:
            band_start = np.cumsum(counts)
            cursor = band_start[:-1].copy()
            band_edges = np.empty(band_start[-1], _INT)
        for p in range(n_poly):
            for v in range(ring_start[poly_ring_start[p]], ring_start[poly_ring_start[p + 1]]):
                y0 = ring_y[v]
                y1 = ring_y[prev[v]]
                if y0 == y1:
                    continue
                b0 = cell_of(min(y0, y1), poly_bbox[p, 1], band_scale[p], n_bands[p])
                b1 = cell_of(max(y0, y1), poly_bbox[p, 1], band_scale[p], n_bands[p])
                for b in range(b0, b1 + 1):
                    k = first_band[p] + b
                    if fill:
                        band_edges[cursor[k]] = v
                        cursor[k] += 1
                    else:
                        counts[k + 1] += 1
    return prev, n_bands, band_scale, first_band, band_start, band_edges


@njit(cache=True, nogil=True, inline="always")
def _crosses_odd(
    x: float,
    y: float,
    k: int,
    ring_x: np.ndarray,
    ring_y: np.ndarray,
    prev: np.ndarray,
    band_start: np.ndarray,
    band_edges: np.ndarray,
) -> bool:
    """Does a ray from (x, y) towards +x cross the edges of band ``k`` an odd number of
    times (the even-odd rule, half-open as in PNPOLY)?"""
    inside = False
    for j in range(band_start[k], band_start[k + 1]):
        v = band_edges[j]
        w = prev[v]
        yv = ring_y[v]
        yw = ring_y[w]
        if (yv > y) != (yw > y):
            x_cross = (ring_x[w] - ring_x[v]) * (y - yv) / (yw - yv) + ring_x[v]
            if x < x_cross:
                inside = not inside
    return inside


# Sub-cell states of a polygon's raster (``_polygon_raster``): every point of the sub-cell
# is inside the polygon, outside it, or either (test exactly).
POLY_OUTSIDE = 0
POLY_INSIDE = 1
POLY_MIXED = 2
# Sub-cells per side of a polygon's raster, fewer where there are many polygons (at most
# _POLY_RASTER_MAX_CELLS sub-cells in all).
_POLY_RASTER_SIDE = 32
_POLY_RASTER_MAX_CELLS = 1 << 22


@njit(cache=True, nogil=True)
def _polygon_raster(
    ring_x: np.ndarray,
    ring_y: np.ndarray,
    ring_start: np.ndarray,
    poly_ring_start: np.ndarray,
    poly_bbox: np.ndarray,
    prev: np.ndarray,
    n_bands: np.ndarray,
    band_scale: np.ndarray,
    first_band: np.ndarray,
    band_start: np.ndarray,
    band_edges: np.ndarray,
) -> tuple[int, np.ndarray, np.ndarray]:
    """Certain verdicts of the even-odd rule per sub-cell of each polygon's bounding box:
    (side, scale, states). Polygon ``p``'s box is cut into ``side x side`` sub-cells, the
    point (x, y) falling in column ``cell_of(x, minx_p, scale[p, 0], side)`` and row
    ``cell_of(y, miny_p, scale[p, 1], side)``, state ``states[(p * side + row) * side +
    col]``. A sub-cell that no edge of the polygon comes within ``_RASTER_SLACK_M`` of (a
    room for rounding in cell arithmetic) has the verdict of its centre at every point:
    INSIDE or OUTSIDE; the others are MIXED, as are all sub-cells of a box without width
    or height."""
    n_poly = poly_bbox.shape[0]
    side = _POLY_RASTER_SIDE
    while side > 1 and n_poly * side * side > _POLY_RASTER_MAX_CELLS:
        side //= 2
    scale = np.zeros((n_poly, 2))
    states = np.full(n_poly * side * side, POLY_MIXED, np.uint8)
    mixed = np.zeros(side * side, np.bool_)
    slack = _RASTER_SLACK_M
    for p in range(n_poly):
        min_x, min_y, max_x, max_y = (
            poly_bbox[p, 0],
            poly_bbox[p, 1],
            poly_bbox[p, 2],
            poly_bbox[p, 3],
        )
        width = max_x - min_x
        height = max_y - min_y
        if not (width > 0.0 and height > 0.0):
            continue
        scale[p, 0] = side / width
        scale[p, 1] = side / height
        step_x = width / side
        step_y = height / side
        mixed[:] = False
        for v in range(ring_start[poly_ring_start[p]], ring_start[poly_ring_start[p + 1]]):
            x0, y0 = ring_x[prev[v]], ring_y[prev[v]]
            x1, y1 = ring_x[v], ring_y[v]
            c0 = cell_of(min(x0, x1) - slack, min_x, scale[p, 0], side)
            c1 = cell_of(max(x0, x1) + slack, min_x, scale[p, 0], side)
            r0 = cell_of(min(y0, y1) - slack, min_y, scale[p, 1], side)
            r1 = cell_of(max(y0, y1) + slack, min_y, scale[p, 1], side)
            dx = x1 - x0
            dy = y1 - y0
            for r in range(r0, r1 + 1):
                lo_y = min_y + r * step_y - slack
                hi_y = min_y + (r + 1) * step_y + slack
                for c in range(c0, c1 + 1):
                    lo_x = min_x + c * step_x - slack
                    hi_x = min_x + (c + 1) * step_x + slack
                    # the edge's line passes between the corners unless all lie on one side
                    s0 = dx * (lo_y - y0) - dy * (lo_x - x0)
                    s1 = dx * (lo_y - y0) - dy * (hi_x - x0)
                    s2 = dx * (hi_y - y0) - dy * (lo_x - x0)
                    s3 = dx * (hi_y - y0) - dy * (hi_x - x0)
                    if not (
                        (s0 > 0.0 and s1 > 0.0 and s2 > 0.0 and s3 > 0.0)
                        or (s0 < 0.0 and s1 < 0.0 and s2 < 0.0 and s3 < 0.0)
                    ):
                        mixed[r * side + c] = True
        for r in range(side):
            cy = min_y + (r + 0.5) * step_y
            k = first_band[p] + cell_of(cy, min_y, band_scale[p], n_bands[p])
            for c in range(side):
                if mixed[r * side + c]:
                    continue
                cx = min_x + (c + 0.5) * step_x
                inside = _crosses_odd(cx, cy, k, ring_x, ring_y, prev, band_start, band_edges)
                states[(p * side + r) * side + c] = POLY_INSIDE if inside else POLY_OUTSIDE
    return side, scale, states


class PolygonLookup(NamedTuple):
    """What ``points_in_polygons`` reads besides the polygons, built once per set of them
    (``polygon_lookup``): the grid over their boxes (``_polygon_grid``), their edges by
    band (``_edge_bands``) and their rasters of certain verdicts (``_polygon_raster``)."""

    min_x: float
    min_y: float
    max_x: float
    max_y: float
    inv_cell: float
    n_cols: int
    n_rows: int
    cell_start: np.ndarray
    cell_items: np.ndarray
    prev: np.ndarray
    n_bands: np.ndarray
    band_scale: np.ndarray
    first_band: np.ndarray
    band_start: np.ndarray
    band_edges: np.ndarray
    side: int
    scale: np.ndarray
    states: np.ndarray


@njit(cache=True, nogil=True)
def _polygon_lookup_parts(polygons: Polygons) -> tuple[object, ...]:
    """``PolygonLookup``'s fields, in order (of at least one polygon)."""
    ring_x, ring_y, ring_start, poly_ring_start, poly_bbox = polygons
    min_x, min_y, inv_cell, n_cols, n_rows, cell_start, cell_items = _polygon_grid(poly_bbox)
    prev, n_bands, band_scale, first_band, band_start, band_edges = _edge_bands(
        ring_y, ring_start, poly_ring_start, poly_bbox
    )
    side, scale, states = _polygon_raster(
        ring_x, ring_y, ring_start, poly_ring_start, poly_bbox,
        prev, n_bands, band_scale, first_band, band_start, band_edges,
    )  # fmt: skip
    return (
        min_x, min_y, poly_bbox[:, 2].max(), poly_bbox[:, 3].max(), inv_cell, n_cols, n_rows,
        cell_start, cell_items, prev, n_bands, band_scale, first_band, band_start, band_edges,
        side, scale, states,
    )  # fmt: skip


def polygon_lookup(polygons: Polygons) -> PolygonLookup | None:
    """The lookup ``points_in_polygons`` reads for ``polygons`` (None for none)."""
    if polygons.poly_bbox.shape[0] == 0:
        return None
    return PolygonLookup(*_polygon_lookup_parts(polygons))


@njit(cache=True, nogil=True)
def _points_in_polygons(
    px: np.ndarray, py: np.ndarray, polygons: Polygons, lookup: PolygonLookup
) -> np.ndarray:
    ring_x, ring_y = polygons.ring_x, polygons.ring_y
    poly_bbox = polygons.poly_bbox
    min_x, min_y, max_x, max_y = lookup.min_x, lookup.min_y, lookup.max_x, lookup.max_y
    inv_cell, n_cols, n_rows = lookup.inv_cell, lookup.n_cols, lookup.n_rows
    cell_start, cell_items, side, scale, states = (
        lookup.cell_start, lookup.cell_items, lookup.side, lookup.scale, lookup.states
    )  # fmt: skip
    prev, n_bands, band_scale = lookup.prev, lookup.n_bands, lookup.band_scale
    first_band, band_start, band_edges = lookup.first_band, lookup.band_start, lookup.band_edges
    n = px.size
    out = np.full(n, -1, _INT)
    for i in range(n):
        x = px[i]
        y = py[i]
        if not (min_x <= x <= max_x and min_y <= y <= max_y):
            continue
        cell = cell_of(y, min_y, inv_cell, n_rows) * n_cols + cell_of(x, min_x, inv_cell, n_cols)
        for j in range(cell_start[cell], cell_start[cell + 1]):
            p = cell_items[j]
            if not (
                poly_bbox[p, 0] <= x <= poly_bbox[p, 2] and poly_bbox[p, 1] <= y <= poly_bbox[p, 3]
            ):
                continue
            row = cell_of(y, poly_bbox[p, 1], scale[p, 1], side)
            state = states[(p * side + row) * side + cell_of(x, poly_bbox[p, 0], scale[p, 0], side)]
            if state == POLY_MIXED:
                k = first_band[p] + cell_of(y, poly_bbox[p, 1], band_scale[p], n_bands[p])
                inside = _crosses_odd(x, y, k, ring_x, ring_y, prev, band_start, band_edges)
            else:
                inside = state == POLY_INSIDE
            if inside:
                out[i] = p
                break
    return out


def points_in_polygons(
    px: np.ndarray, py: np.ndarray, polygons: Polygons, lookup: PolygonLookup | None
) -> np.ndarray:
    """Index of the first polygon containing each point, -1 if none (NaN points: -1).

    Containment is the even-odd (crossing number) rule over all rings of a polygon, so a
    point in a hole is outside. Boundary rule (half-open, as in PNPOLY): a point exactly
    on an edge counts as inside where the polygon lies to its right or above it, outside
    where it lies to its left or below (for an axis-aligned square: left and bottom edges
    inside, right and top edges outside). Candidates come from a uniform grid over the
    bounding boxes, each polygon's edges from horizontal bands, and a point in a sub-cell of
    a polygon's box that no edge comes near takes that sub-cell's verdict
    (``_polygon_raster``): ``lookup``, built once for the polygons (``polygon_lookup``).
    """
    if lookup is None or px.size == 0:
        return np.full(px.size, -1, _INT)
    return _points_in_polygons(px, py, polygons, lookup)


@njit(cache=True, nogil=True, inline="always")
def _point_segment_distance(
    x: float, y: float, ax: float, ay: float, bx: float, by: float
) -> float:
    """Distance from (x, y) to the segment (ax, ay)-(bx, by), in the steps of GEOS's
    ``Distance::pointToSegment`` (shapely's distance), so that both give the same bits."""
    if ax == bx and ay == by:
        return math.sqrt((x - ax) * (x - ax) + (y - ay) * (y - ay))
    length2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / length2
    if r <= 0.0:
        return math.sqrt((x - ax) * (x - ax) + (y - ay) * (y - ay))
    if r >= 1.0:
        return math.sqrt((x - bx) * (x - bx) + (y - by) * (y - by))
    s = ((ay - y) * (bx - ax) - (ax - x) * (by - ay)) / length2
    return abs(s) * math.sqrt(length2)


@njit(cache=True, nogil=True)
def boundary_distances(
    px: np.ndarray,
    py: np.ndarray,
    which: np.ndarray,
    owner_part_start: np.ndarray,
    polygons: Polygons,
) -> np.ndarray:
    """Distance from each point to the boundary (every ring) of polygon ``which[i]``, whose
    parts are ``owner_part_start[which[i]] : owner_part_start[which[i] + 1]`` of
    ``polygons``; inf for one without rings. For a point outside that polygon it is the
    distance to the polygon (shapely's)."""
    ring_x, ring_y, ring_start, part_ring_start = (
        polygons.ring_x, polygons.ring_y, polygons.ring_start, polygons.poly_ring_start
    )  # fmt: skip
    out = np.empty(px.size)
    for i in range(px.size):
        x, y, best = px[i], py[i], math.inf
        for part in range(owner_part_start[which[i]], owner_part_start[which[i] + 1]):
            for r in range(part_ring_start[part], part_ring_start[part + 1]):
                a, b = ring_start[r], ring_start[r + 1]
                for j in range(a, b):
                    k = j + 1 if j + 1 < b else a  # an unclosed ring closes on its first vertex
                    d = _point_segment_distance(x, y, ring_x[j], ring_y[j], ring_x[k], ring_y[k])
                    best = min(best, d)
        out[i] = best
    return out


# --- transverse Mercator (UTM) ---------------------------------------------------------
#
# Krüger's series to sixth order in the third flattening n, as in Karney (2011),
# "Transverse Mercator with an accuracy of a few nanometers", J. Geodesy 85, eqs. 7-11,
# 15-21 and 35-36. Within 4000 km of the central meridian the error is below 5 nm, far
# below PROJ's own UTM (the same series); projection.py builds the coefficients from the
# CRS that pyproj chose and calls these two kernels instead of pyproj for every fix.


@njit(cache=True, nogil=True, inline="always")
def _sin_series(
    sin2xi: float, cos2xi: float, sinh2eta: float, cosh2eta: float, coeffs: np.ndarray
) -> tuple[float, float]:
    """Real and imaginary parts of sum_k coeffs[k-1] * sin(2k * zeta), k = 1..len(coeffs),
    zeta = xi + i eta given through the sines and cosines of 2 xi and 2 i eta, by Clenshaw
    summation in complex arithmetic written out in reals."""
    # a = 2 cos(2 zeta); b_k = coeffs[k-1] + a b_{k+1} - b_{k+2}; sum = b_1 sin(2 zeta)
    ar = 2.0 * cos2xi * cosh2eta
    ai = -2.0 * sin2xi * sinh2eta
    b1r = b1i = b2r = b2i = 0.0
    for k in range(coeffs.size, 0, -1):
        b0r = ar * b1r - ai * b1i - b2r + coeffs[k - 1]
        b0i = ar * b1i + ai * b1r - b2i
        b2r, b2i = b1r, b1i
        b1r, b1i = b0r, b0i
    sr = sin2xi * cosh2eta  # sin(2 zeta) = sin 2xi cosh 2eta + i cos 2xi sinh 2eta
    si = cos2xi * sinh2eta
    return b1r * sr - b1i * si, b1r * si + b1i * sr


@njit(cache=True, nogil=True, inline="always")
def _conformal_tau(sin_phi: float, cos_phi: float, e: float) -> float:
    """tan of the conformal latitude from the geodetic latitude (Karney eqs. 7-9).

    sigma = sinh(e atanh(e sin phi)) is written with exp and log: exp(e atanh(u)) is
    ((1 + u) / (1 - u)) ** (e / 2). glibc's exp and log are several times faster than its
    sinh and atanh, and with |u| <= e < 0.082 nothing cancels: the absolute error stays
    near 1e-16, a nanometre on the ground."""
    u = e * sin_phi
    grow = math.exp(0.5 * e * math.log((1.0 + u) / (1.0 - u)))
    sigma = 0.5 * (grow - 1.0 / grow)
    return (sin_phi * math.sqrt(1.0 + sigma * sigma) - sigma) / cos_phi


@njit(cache=True, nogil=True, inline="always")
def _tm_point(
    lon: float,
    lat: float,
    lon0: float,
    k0_a: float,
    false_easting: float,
    false_northing: float,
    e: float,
    alpha: np.ndarray,
) -> tuple[float, float]:
    """``tm_forward`` of one point."""
    deg = math.pi / 180.0
    dlon = lon - lon0
    if dlon >= 180.0:
        dlon -= 360.0
    elif dlon < -180.0:
        dlon += 360.0
    phi = lat * deg
    tau_p = _conformal_tau(math.sin(phi), math.cos(phi), e)
    sin_lam = math.sin(dlon * deg)
    cos_lam = math.cos(dlon * deg)
    # xi' = atan2(tau', cos lam), sinh eta' = sin lam / r: all sides of one triangle.
    r = math.sqrt(tau_p * tau_p + cos_lam * cos_lam)
    sin_xi, cos_xi = tau_p / r, cos_lam / r
    sinh_eta = sin_lam / r
    cosh_eta = math.sqrt(1.0 + sinh_eta * sinh_eta)
    # Within a zone cos lam > 0, so atan2(tau', cos lam) is atan(tau' / cos lam); and
    # asinh written with log and sqrt (glibc's atan2 and asinh are slow ones); for tiny
    # eta' this loses relative but not absolute precision (1e-16, a nanometre).
    xi_p = math.atan2(tau_p, cos_lam) if cos_lam <= 0.0 else math.atan(tau_p / cos_lam)
    eta_p = math.copysign(math.log(abs(sinh_eta) + cosh_eta), sinh_eta)
    dxi, deta = _sin_series(
        2.0 * sin_xi * cos_xi,
        cos_xi * cos_xi - sin_xi * sin_xi,
        2.0 * sinh_eta * cosh_eta,
        cosh_eta * cosh_eta + sinh_eta * sinh_eta,
        alpha,
    )
    return false_easting + k0_a * (eta_p + deta), false_northing + k0_a * (xi_p + dxi)


@njit(cache=True, nogil=True)
def tm_forward(
    lon: np.ndarray,
    lat: np.ndarray,
    lon0: float,
    k0_a: float,
    false_easting: float,
    false_northing: float,
    e: float,
    alpha: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Degrees to transverse-Mercator metres. ``k0_a`` is the scale factor times the
    rectifying radius A, ``e`` the eccentricity, ``alpha`` Krüger's six coefficients.

    Speed: the sines and cosines of 2 xi' and 2 eta' come by algebra (double-angle
    identities on the sides of one right triangle) instead of four more calls to
    trigonometric and hyperbolic functions, the costly part of each fix."""
    n = lon.size
    x = np.empty(n)
    y = np.empty(n)
    for i in range(n):
        x[i], y[i] = _tm_point(lon[i], lat[i], lon0, k0_a, false_easting, false_northing, e, alpha)
    return x, y


# --- transverse Mercator by tiles of polynomials ----------------------------------------
#
# Over a small area the projection is a very smooth function of (lon, lat): on a tile of
# 1/8 degree a polynomial of total degree 4 in the two coordinates, fitted to the exact
# kernel by least squares on a grid of Chebyshev nodes, reproduces it to about its own
# rounding (a few nanometres) for several times less work. ``projection.py`` fits each tile
# the first time a point falls on it, keeps it only where ``tm_tile_errors`` confirms it, and
# sends every other point through ``tm_forward``.

# Degree of a tile's polynomials: terms u**a v**b with a + b <= TM_TILE_DEGREE (a constant,
# so that the loops unroll).
TM_TILE_DEGREE = 4
# ``TmTiles.slot`` of a tile not fitted yet.
TILE_UNFITTED = -1


class TmTiles(NamedTuple):
    """Polynomials of ``tm_forward`` on tiles of a lon/lat grid: tile ``t = row * n_cols +
    col`` covers lon ``lon_origin + [col, col + 1] * tile_deg`` and lat likewise from
    ``lat_origin``; its polynomials, if fitted, are number ``s = slot[t]`` (else ``slot[t]``
    is TILE_UNFITTED). With ``u = 2 (lon - lon_origin) / tile_deg - (2 col + 1)`` and ``v``
    likewise (both in [-1, 1] on the tile), x is ``centre[s, 0]`` plus the sum over ``a + b
    <= TM_TILE_DEGREE`` of ``coeffs[s, a, b, 0] u**a v**b``, and y the same with index 1.
    Polynomials with ``usable[s]`` False are not used."""

    lon_origin: float
    lat_origin: float
    tile_deg: float
    n_cols: int
    n_rows: int
    slot: np.ndarray
    centre: np.ndarray
    coeffs: np.ndarray
    usable: np.ndarray


@njit(cache=True, nogil=True, inline="always")
def _tile_offsets(coeffs: np.ndarray, s: int, u: float, v: float) -> tuple[float, float]:
    """Polynomials ``s`` at (u, v): rows summed over powers of v, then over powers of u
    (independent products, short dependency chains)."""
    u2 = u * u
    v2 = v * v
    pu = (1.0, u, u2, u2 * u, u2 * u2)
    pv = (1.0, v, v2, v2 * v, v2 * v2)
    qx = 0.0
    qy = 0.0
    for a in range(TM_TILE_DEGREE + 1):
        rx = 0.0
        ry = 0.0
        for b in range(TM_TILE_DEGREE + 1 - a):
            rx += coeffs[s, a, b, 0] * pv[b]
            ry += coeffs[s, a, b, 1] * pv[b]
        qx += rx * pu[a]
        qy += ry * pu[a]
    return qx, qy


@njit(cache=True, nogil=True)
def tm_tile_fit(
    tile_lon: np.ndarray,
    tile_lat: np.ndarray,
    tile_deg: float,
    nodes: np.ndarray,
    pseudo_inverse: np.ndarray,
    lon0: float,
    k0_a: float,
    false_easting: float,
    false_northing: float,
    e: float,
    alpha: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(centre, coeffs) of ``TmTiles`` for the tiles whose south-west corners are
    ``(tile_lon[i], tile_lat[i])``: on each, the least-squares fit of ``tm_forward`` (less
    its value at the tile's centre) at the points ``(nodes[k], nodes[j])`` (in [-1, 1]) of
    the tensor grid of ``nodes``. ``pseudo_inverse`` is that of the design matrix whose row
    ``k * nodes.size + j`` holds ``nodes[k]**a nodes[j]**b`` for the terms ``a + b <=
    TM_TILE_DEGREE`` in the order (a, then b) ascending. Each tile is fitted on its own: its
    polynomials depend on its corner alone."""
    m = nodes.size
    n_tiles = tile_lon.size
    centre = np.empty((n_tiles, 2))
    coeffs = np.zeros((n_tiles, TM_TILE_DEGREE + 1, TM_TILE_DEGREE + 1, 2))
    values = np.empty((m * m, 2))
    half = 0.5 * tile_deg
    for i in range(n_tiles):
        lon_c = tile_lon[i] + half
        lat_c = tile_lat[i] + half
        cx, cy = _tm_point(lon_c, lat_c, lon0, k0_a, false_easting, false_northing, e, alpha)
        centre[i, 0] = cx
        centre[i, 1] = cy
        for k in range(m):
            for j in range(m):
                x, y = _tm_point(
                    lon_c + half * nodes[k], lat_c + half * nodes[j],
                    lon0, k0_a, false_easting, false_northing, e, alpha,
                )  # fmt: skip
                values[k * m + j, 0] = x - cx
                values[k * m + j, 1] = y - cy
        term = 0
        for a in range(TM_TILE_DEGREE + 1):
            for b in range(TM_TILE_DEGREE + 1 - a):
                for c in range(2):
                    total = 0.0
                    for k in range(m * m):
                        total += pseudo_inverse[term, k] * values[k, c]
                    coeffs[i, a, b, c] = total
                term += 1
    return centre, coeffs


@njit(cache=True, nogil=True)
def tm_tile_errors(
    tile_lon: np.ndarray,
    tile_lat: np.ndarray,
    tile_deg: float,
    centre: np.ndarray,
    coeffs: np.ndarray,
    n_check: int,
    lon0: float,
    k0_a: float,
    false_easting: float,
    false_northing: float,
    e: float,
    alpha: np.ndarray,
) -> np.ndarray:
    """Per tile of ``tm_tile_fit``'s output, the largest distance (m, in x or y) between
    its polynomials and ``tm_forward`` over an ``n_check`` x ``n_check`` grid spanning the
    tile, edges and corners included (``n_check`` >= 2); NaN if any is NaN."""
    n_tiles = tile_lon.size
    worst = np.zeros(n_tiles)
    half = 0.5 * tile_deg
    for i in range(n_tiles):
        lon_c = tile_lon[i] + half
        lat_c = tile_lat[i] + half
        for k in range(n_check):
            u = -1.0 + 2.0 * k / (n_check - 1)
            for j in range(n_check):
                v = -1.0 + 2.0 * j / (n_check - 1)
                x, y = _tm_point(
                    lon_c + half * u, lat_c + half * v,
                    lon0, k0_a, false_easting, false_northing, e, alpha,
                )  # fmt: skip
                qx, qy = _tile_offsets(coeffs, i, u, v)
                err = max(abs(centre[i, 0] + qx - x), abs(centre[i, 1] + qy - y))
                if err > worst[i] or math.isnan(err):  # a NaN stays
                    worst[i] = err
    return worst


@njit(cache=True, nogil=True, inline="always")
def _tile_of(lon: float, lat: float, tiles: TmTiles) -> tuple[int, float, float]:
    """The tile of the point, -1 off the grid (and for NaN), and (u, v) on it."""
    lon_origin, lat_origin, tile_deg, n_cols, n_rows = tiles[:5]
    per_deg = 1.0 / tile_deg
    fc = (lon - lon_origin) * per_deg
    fr = (lat - lat_origin) * per_deg
    if not (0.0 <= fc < n_cols and 0.0 <= fr < n_rows):
        return -1, 0.0, 0.0
    col = int(fc)
    row = int(fr)
    return row * n_cols + col, 2.0 * (fc - col) - 1.0, 2.0 * (fr - row) - 1.0


@njit(cache=True, nogil=True)
def tm_unfitted_tiles(lon: np.ndarray, lat: np.ndarray, tiles: TmTiles) -> np.ndarray:
    """The tiles (ascending) holding some point whose tile is on the grid but not fitted."""
    slot = tiles.slot
    wanted = np.zeros(slot.size, np.bool_)
    for i in range(lon.size):
        t, _, _ = _tile_of(lon[i], lat[i], tiles)
        if t >= 0 and slot[t] == TILE_UNFITTED:
            wanted[t] = True
    return np.flatnonzero(wanted)


@njit(cache=True, nogil=True, fastmath={"contract"})
def tm_forward_tiled(
    lon: np.ndarray, lat: np.ndarray, tiles: TmTiles
) -> tuple[np.ndarray, np.ndarray, int]:
    """``tm_forward`` through the polynomials of ``tiles`` where a point lies on a fitted,
    usable tile: (x, y, missed), x and y NaN for the ``missed`` other points (off the grid,
    on a tile not fitted yet or not usable, NaN), which the caller sends to the exact kernel:
    the polynomials may use fused multiply-adds (``contract``), the exact kernel must not."""
    slot, centre, coeffs, usable = tiles[5:]
    n = lon.size
    x = np.empty(n)
    y = np.empty(n)
    missed = 0
    for i in range(n):
        t, u, v = _tile_of(lon[i], lat[i], tiles)
        s = slot[t] if t >= 0 else TILE_UNFITTED
        if s != TILE_UNFITTED and usable[s]:
            qx, qy = _tile_offsets(coeffs, s, u, v)
            x[i] = centre[s, 0] + qx
            y[i] = centre[s, 1] + qy
        else:
            x[i] = y[i] = np.nan
            missed += 1
    return x, y, missed


@njit(cache=True, nogil=True)
def tm_inverse(
    x: np.ndarray,
    y: np.ndarray,
    lon0: float,
    k0_a: float,
    false_easting: float,
    false_northing: float,
    e: float,
    beta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Transverse-Mercator metres to degrees (the inverse of ``tm_forward``; ``beta`` are
    Krüger's inverse coefficients). The geodetic latitude is found from the conformal one
    by Newton's method (Karney eqs. 19-21), converged to double precision."""
    n = x.size
    lon = np.empty(n)
    lat = np.empty(n)
    e2m = 1.0 - e * e
    tol = math.sqrt(2.220446049250313e-16) * 0.1
    for i in range(n):
        xi = (y[i] - false_northing) / k0_a
        eta = (x[i] - false_easting) / k0_a
        dxi, deta = _sin_series(
            math.sin(2.0 * xi), math.cos(2.0 * xi), math.sinh(2.0 * eta), math.cosh(2.0 * eta), beta
        )
        xi_p = xi - dxi
        eta_p = eta - deta
        sinh_eta = math.sinh(eta_p)
        cos_xi = math.cos(xi_p)
        tau_p = math.sin(xi_p) / math.sqrt(sinh_eta * sinh_eta + cos_xi * cos_xi)
        tau = tau_p / e2m
        step_tol = tol * max(1.0, abs(tau_p))
        for _ in range(5):
            cos_phi = 1.0 / math.sqrt(1.0 + tau * tau)
            tau_pa = _conformal_tau(tau * cos_phi, cos_phi, e)
            d_tau = (
                (tau_p - tau_pa)
                * (1.0 + e2m * tau * tau)
                / (e2m * math.sqrt(1.0 + tau * tau) * math.sqrt(1.0 + tau_pa * tau_pa))
            )
            tau += d_tau
            if abs(d_tau) < step_tol:
                break
        lat[i] = math.degrees(math.atan(tau))
        lon[i] = (lon0 + math.degrees(math.atan2(sinh_eta, cos_xi)) + 180.0) % 360.0 - 180.0
    return lon, lat
