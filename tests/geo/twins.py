"""Plain-Python twins of the Numba kernels in ``cdw.geo.kernels``.

Straightforward loops over lists, written from each kernel's documented contract, used
only by the tests to check the kernels on fixed and hypothesis-generated inputs.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence

import numpy as np

Floats = Sequence[float]


def _cell(v: float, origin: float, inv_cell: float, n_cells: int) -> int:
    return min(max(math.floor((v - origin) * inv_cell), 0), n_cells - 1)


def build_segment_index(
    seg_x0: Floats, seg_y0: Floats, seg_x1: Floats, seg_y1: Floats, cell_size: float
) -> tuple[float, float, int, int, list[list[int]]]:
    """(origin_x, origin_y, n_cols, n_rows, segments of each cell) — the CSR kernel's content."""
    if not seg_x0:
        return 0.0, 0.0, 0, 0, []
    xs = list(seg_x0) + list(seg_x1)
    ys = list(seg_y0) + list(seg_y1)
    min_x, min_y = min(xs), min(ys)
    n_cols = int((max(xs) - min_x) / cell_size) + 1
    n_rows = int((max(ys) - min_y) / cell_size) + 1
    inv_cell = 1.0 / cell_size
    cells: list[list[int]] = [[] for _ in range(n_cols * n_rows)]
    for s in range(len(seg_x0)):
        c0 = _cell(min(seg_x0[s], seg_x1[s]), min_x, inv_cell, n_cols)
        c1 = _cell(max(seg_x0[s], seg_x1[s]), min_x, inv_cell, n_cols)
        r0 = _cell(min(seg_y0[s], seg_y1[s]), min_y, inv_cell, n_rows)
        r1 = _cell(max(seg_y0[s], seg_y1[s]), min_y, inv_cell, n_rows)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                cells[r * n_cols + c].append(s)
    return min_x, min_y, n_cols, n_rows, cells


def segment_dist2(x: float, y: float, x0: float, y0: float, x1: float, y1: float) -> float:
    dx, dy = x1 - x0, y1 - y0
    wx, wy = x - x0, y - y0
    length2 = dx * dx + dy * dy
    if length2 > 0:
        u = min(max((wx * dx + wy * dy) / length2, 0.0), 1.0)
        wx -= u * dx
        wy -= u * dy
    return wx * wx + wy * wy


def distance_to_segments(
    px: Floats,
    py: Floats,
    seg_x0: Floats,
    seg_y0: Floats,
    seg_x1: Floats,
    seg_y1: Floats,
    max_dist: float,
) -> tuple[list[float], list[int]]:
    """Brute force over every segment; lowest index among equally near ones."""
    dist, nearest = [], []
    for x, y in zip(px, py, strict=True):
        best2, best_s = math.inf, -1
        if math.isfinite(x) and math.isfinite(y):
            for s in range(len(seg_x0)):
                d2 = segment_dist2(x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s])
                if d2 < best2:
                    best2, best_s = d2, s
        if best_s >= 0 and best2 <= max_dist * max_dist:
            dist.append(math.sqrt(best2))
            nearest.append(best_s)
        else:
            dist.append(math.inf)
            nearest.append(-1)
    return dist, nearest


def within_distance(
    px: Floats,
    py: Floats,
    seg_x0: Floats,
    seg_y0: Floats,
    seg_x1: Floats,
    seg_y1: Floats,
    max_dist: float,
) -> list[bool]:
    """Is any segment within ``max_dist`` (inclusive) of each point?"""
    return [
        any(
            segment_within(x, y, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s], max_dist)
            for s in range(len(seg_x0))
        )
        for x, y in zip(px, py, strict=True)
    ]


def segment_within(
    x: float, y: float, x0: float, y0: float, x1: float, y1: float, max_dist: float
) -> bool:
    """Division-free: nearer end beyond the segment's ends, else cross product vs length."""
    dx, dy = x1 - x0, y1 - y0
    wx, wy = x - x0, y - y0
    r2 = max_dist * max_dist
    dot = wx * dx + wy * dy
    if dot <= 0:
        return wx * wx + wy * wy <= r2
    length2 = dx * dx + dy * dy
    if dot >= length2:
        ex, ey = x - x1, y - y1
        return ex * ex + ey * ey <= r2
    cross = wx * dy - wy * dx
    return cross * cross <= r2 * length2


def rank_cells(
    cell_start: Sequence[int], cell_items: Sequence[int], values: Floats, descending: bool
) -> tuple[list[int], list[float]]:
    """Each cell's items in order of their values, ascending or descending, NaN last, ties
    in grid order; and each item's value."""
    items: list[int] = []
    for c in range(len(cell_start) - 1):
        cell = list(cell_items[cell_start[c] : cell_start[c + 1]])
        items += sorted(
            cell,
            key=lambda s: (
                math.isnan(values[s]),
                0.0 if math.isnan(values[s]) else (-values[s] if descending else values[s]),
            ),
        )
    return items, [values[s] for s in items]


def highest_within(
    px: Floats,
    py: Floats,
    x0: Floats,
    y0: Floats,
    x1: Floats,
    y1: Floats,
    values: Floats,
    max_dist: float,
) -> list[float]:
    """Per point, the highest value among the segments within ``max_dist``; -inf if none."""
    out = []
    for x, y in zip(px, py, strict=True):
        best = -math.inf
        for s in range(len(x0)):
            if segment_dist2(x, y, x0[s], y0[s], x1[s], y1[s]) <= max_dist * max_dist:
                best = max(best, values[s])
        out.append(best)
    return out


def some_within_below(
    px: Floats,
    py: Floats,
    x0: Floats,
    y0: Floats,
    x1: Floats,
    y1: Floats,
    values: Floats,
    bounds: Floats,
    max_dist: float,
) -> list[bool]:
    """Per point, is some segment valued below the point's bound within ``max_dist`` (the
    division-free test of ``within_distance``)?"""
    return [
        any(
            values[s] < bound and segment_within(x, y, x0[s], y0[s], x1[s], y1[s], max_dist)
            for s in range(len(x0))
        )
        for x, y, bound in zip(px, py, bounds, strict=True)
    ]


def corridor_raster(
    seg_x0: Floats,
    seg_y0: Floats,
    seg_x1: Floats,
    seg_y1: Floats,
    origin_x: float,
    origin_y: float,
    cell_size: float,
    n_cols: int,
    cell_lists: Sequence[Sequence[int]],
    max_dist: float,
    fine: int,
) -> tuple[list[int], list[int]]:
    """(block_of, states): 1 inside, 0 outside, 2 mixed for each sub-cell of each
    non-empty cell, by its centre's distance to the cell's segments and half-diagonal."""
    block_of, states = [], []
    step = cell_size / fine
    half_diagonal = step * math.sqrt(0.5) + 1e-6
    for cell, items in enumerate(cell_lists):
        if not items:
            block_of.append(-1)
            continue
        block_of.append(len(block_of) - block_of.count(-1))
        x_left = origin_x + (cell % n_cols) * cell_size
        y_low = origin_y + (cell // n_cols) * cell_size
        for a in range(fine):
            for b in range(fine):
                cx, cy = x_left + (b + 0.5) * step, y_low + (a + 0.5) * step
                d = math.sqrt(
                    min(
                        segment_dist2(cx, cy, seg_x0[s], seg_y0[s], seg_x1[s], seg_y1[s])
                        for s in items
                    )
                )
                if d + half_diagonal < max_dist:
                    states.append(1)
                elif d - half_diagonal > max_dist:
                    states.append(0)
                else:
                    states.append(2)
    return block_of, states


def points_in_polygons(
    px: Floats, py: Floats, polygons: Sequence[Sequence[Sequence[tuple[float, float]]]]
) -> list[int]:
    """``polygons[p]`` is a list of rings (exterior first, then holes) of (x, y) vertices."""
    out = []
    for x, y in zip(px, py, strict=True):
        found = -1
        for p, rings in enumerate(polygons):
            inside = False
            for ring in rings:
                for v in range(len(ring)):
                    xv, yv = ring[v]
                    xj, yj = ring[v - 1]  # v == 0 pairs with the last vertex
                    if (yv > y) != (yj > y) and x < (xj - xv) * (y - yv) / (yj - yv) + xv:
                        inside = not inside
            if inside:
                found = p
                break
        out.append(found)
    return out


def boundary_distances(
    px: Floats,
    py: Floats,
    which: Sequence[int],
    polygons: Sequence[Sequence[Sequence[tuple[float, float]]]],
) -> list[float]:
    """Distance from each point to the rings of ``polygons[which[i]]`` (each ring closed
    on its first vertex), as GEOS measures a point against a segment."""

    def to_segment(x: float, y: float, a: tuple[float, float], b: tuple[float, float]) -> float:
        (ax, ay), (bx, by) = a, b

        def length(dx: float, dy: float) -> float:
            # squares by multiplication, as GEOS: ``dx ** 2`` (C's pow) differs in the last bit
            return math.sqrt(dx * dx + dy * dy)

        if a == b:
            return length(x - ax, y - ay)
        length2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
        r = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / length2
        if r <= 0:
            return length(x - ax, y - ay)
        if r >= 1:
            return length(x - bx, y - by)
        return abs(((ay - y) * (bx - ax) - (ax - x) * (by - ay)) / length2) * math.sqrt(length2)

    return [
        min(
            (
                to_segment(x, y, ring[v], ring[(v + 1) % len(ring)])
                for ring in polygons[w]
                for v in range(len(ring))
            ),
            default=math.inf,
        )
        for x, y, w in zip(px, py, which, strict=True)
    ]


# --- transverse Mercator (Karney 2011, written straight from the paper's equations) ------


def _conformal_tau(tau: float, e: float) -> float:
    sigma = math.sinh(e * math.atanh(e * tau / math.hypot(1.0, tau)))
    return tau * math.hypot(1.0, sigma) - sigma * math.hypot(1.0, tau)


def tm_forward(
    lon: Floats,
    lat: Floats,
    lon0: float,
    k0_a: float,
    false_easting: float,
    false_northing: float,
    e: float,
    alpha: Floats,
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for lon_i, lat_i in zip(lon, lat, strict=True):
        lam = math.radians((lon_i - lon0 + 180.0) % 360.0 - 180.0)
        tau_p = _conformal_tau(math.tan(math.radians(lat_i)), e)
        xi_p = math.atan2(tau_p, math.cos(lam))
        eta_p = math.asinh(math.sin(lam) / math.hypot(tau_p, math.cos(lam)))
        zeta = complex(xi_p, eta_p)
        zeta += sum(a * cmath.sin(2 * k * zeta) for k, a in enumerate(alpha, start=1))
        xs.append(false_easting + k0_a * zeta.imag)
        ys.append(false_northing + k0_a * zeta.real)
    return xs, ys


def tm_inverse(
    x: Floats,
    y: Floats,
    lon0: float,
    k0_a: float,
    false_easting: float,
    false_northing: float,
    e: float,
    beta: Floats,
) -> tuple[list[float], list[float]]:
    lons, lats = [], []
    for x_i, y_i in zip(x, y, strict=True):
        zeta = complex((y_i - false_northing) / k0_a, (x_i - false_easting) / k0_a)
        zeta -= sum(b * cmath.sin(2 * k * zeta) for k, b in enumerate(beta, start=1))
        xi_p, eta_p = zeta.real, zeta.imag
        tau_p = math.sin(xi_p) / math.hypot(math.sinh(eta_p), math.cos(xi_p))
        lam = math.atan2(math.sinh(eta_p), math.cos(xi_p))
        tau = tau_p
        for _ in range(10):  # Newton on tau' (tau) = tau_p, more rounds than it needs
            tau_pa = _conformal_tau(tau, e)
            tau += (
                (tau_p - tau_pa)
                * (1 + (1 - e * e) * tau * tau)
                / ((1 - e * e) * math.hypot(1.0, tau) * math.hypot(1.0, tau_pa))
            )
        lats.append(math.degrees(math.atan(tau)))
        lons.append((lon0 + math.degrees(lam) + 180.0) % 360.0 - 180.0)
    return lons, lats


# --- transverse Mercator by tiles of polynomials --------------------------------------------


def tile_terms(degree: int) -> list[tuple[int, int]]:
    """The (a, b) of the terms u**a v**b of a tile's polynomials, in the kernels' order."""
    return [(a, b) for a in range(degree + 1) for b in range(degree + 1 - a)]


def tm_tile_fit(
    tile_lon: Floats, tile_lat: Floats, tile_deg: float, nodes: Floats, degree: int, tm_args: tuple
) -> tuple[list[tuple[float, float]], list[dict[tuple[int, int], tuple[float, float]]]]:
    """Per tile (south-west corners): the exact projection of its centre, and the
    least-squares polynomials of the projection less that centre on the tensor grid of
    ``nodes`` (numpy's lstsq)."""
    centres, fits = [], []
    terms = tile_terms(degree)
    grid = [(u, v) for u in nodes for v in nodes]
    design = np.array([[u**a * v**b for a, b in terms] for u, v in grid])
    for lon_t, lat_t in zip(tile_lon, tile_lat, strict=True):
        lon_c, lat_c = lon_t + tile_deg / 2, lat_t + tile_deg / 2
        (cx,), (cy,) = tm_forward([lon_c], [lat_c], *tm_args)
        xs, ys = tm_forward(
            [lon_c + tile_deg / 2 * u for u, _ in grid],
            [lat_c + tile_deg / 2 * v for _, v in grid],
            *tm_args,
        )
        fit_x = np.linalg.lstsq(design, np.array(xs) - cx, rcond=None)[0]
        fit_y = np.linalg.lstsq(design, np.array(ys) - cy, rcond=None)[0]
        centres.append((cx, cy))
        fits.append(
            {ab: (float(px), float(py)) for ab, px, py in zip(terms, fit_x, fit_y, strict=True)}
        )
    return centres, fits


def tile_polynomials(
    coeffs: Sequence, s: int, u: float, v: float, degree: int
) -> tuple[float, float]:
    """Polynomials ``s`` at (u, v), term by term (``coeffs[s][a][b][0 or 1]``)."""
    qx = sum(coeffs[s][a][b][0] * u**a * v**b for a, b in tile_terms(degree))
    qy = sum(coeffs[s][a][b][1] * u**a * v**b for a, b in tile_terms(degree))
    return qx, qy


def tm_tile_errors(
    tile_lon: Floats,
    tile_lat: Floats,
    tile_deg: float,
    centre: Sequence,
    coeffs: Sequence,
    n_check: int,
    degree: int,
    tm_args: tuple,
) -> list[float]:
    worst = []
    for i, (lon_t, lat_t) in enumerate(zip(tile_lon, tile_lat, strict=True)):
        err = 0.0
        for k in range(n_check):
            u = -1.0 + 2.0 * k / (n_check - 1)
            for j in range(n_check):
                v = -1.0 + 2.0 * j / (n_check - 1)
                (x,), (y,) = tm_forward(
                    [lon_t + tile_deg / 2 * (1 + u)], [lat_t + tile_deg / 2 * (1 + v)], *tm_args
                )
                qx, qy = tile_polynomials(coeffs, i, u, v, degree)
                err = max(err, abs(centre[i][0] + qx - x), abs(centre[i][1] + qy - y))
        worst.append(err)
    return worst


def _tile_of(lon: float, lat: float, tiles: tuple) -> tuple[int, float, float]:
    lon_origin, lat_origin, tile_deg, n_cols, n_rows = tiles[:5]
    fc = (lon - lon_origin) / tile_deg
    fr = (lat - lat_origin) / tile_deg
    if not (0 <= fc < n_cols and 0 <= fr < n_rows):
        return -1, 0.0, 0.0
    col, row = math.floor(fc), math.floor(fr)
    return row * n_cols + col, 2 * (fc - col) - 1, 2 * (fr - row) - 1


def tm_unfitted_tiles(lon: Floats, lat: Floats, tiles: tuple) -> list[int]:
    slot = tiles[5]
    found = {_tile_of(lo, la, tiles)[0] for lo, la in zip(lon, lat, strict=True)}
    return sorted(t for t in found if t >= 0 and slot[t] == -1)


def tm_forward_tiled(
    lon: Floats, lat: Floats, tiles: tuple, degree: int
) -> tuple[list[float], list[float], int]:
    slot, centre, coeffs, usable = tiles[5:]
    xs, ys, missed = [], [], 0
    for lon_i, lat_i in zip(lon, lat, strict=True):
        t, u, v = _tile_of(lon_i, lat_i, tiles)
        if t >= 0 and slot[t] != -1 and usable[slot[t]]:
            qx, qy = tile_polynomials(coeffs, slot[t], u, v, degree)
            xs.append(centre[slot[t]][0] + qx)
            ys.append(centre[slot[t]][1] + qy)
        else:
            xs.append(math.nan)
            ys.append(math.nan)
            missed += 1
    return xs, ys, missed
