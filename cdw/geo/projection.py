"""One projection per batch: WGS-84 degrees <-> metres in the UTM zone of the data.

All metric work (distances, stays, corridors, geofences) runs on the projected
coordinates; build one ``Projector`` per batch with ``Projector.for_points``.

pyproj chooses the CRS and stays the authority on it. For a transverse Mercator CRS on
the WGS-84 ellipsoid (every UTM zone) the transforms run in the Numba kernels
``kernels.tm_forward`` / ``tm_inverse`` (Krüger's series to sixth order, Karney 2011),
built from the parameters pyproj reports: they agree with pyproj to well under a
millimetre and are faster, which matters at one call per GPS fix. Any other CRS goes
through pyproj.

Faster still, for the fixes of a batch (one call per fix), ``Projector.forward_tiled``
projects through polynomials of the forward kernel on tiles of 1/8 degree, each fitted the
first time a point falls on it and used only where confirmed within ``TILE_MAX_ERROR_M`` of the
exact kernel (``kernels.tm_forward_tiled``); they agree with it to its own rounding, a few
nanometres. A tile's polynomials depend on its place alone, so a point's coordinates do not
depend on the batch it comes in nor on earlier batches. ``Projector.forward`` stays the exact
kernel, as the road matcher's own projection is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from cdw.errors import Problem, ValidationFailed
from cdw.geo import kernels as K
from cdw.geo.index import coordinate_arrays

WGS84 = pyproj.CRS.from_epsg(4326)
# UTM is defined from 80°S to 84°N; beyond lie the polar (UPS) projections.
UTM_MIN_LAT = -80.0
UTM_MAX_LAT = 84.0

Geom = TypeVar("Geom", BaseGeometry, np.ndarray)

# Tiles of the forward fast path: 1/8 degree (a power of two, so a point's tile and its place
# on it are computed without rounding) within TILE_SPAN_DEG of the central meridian and over
# the UTM latitudes; polynomials of total degree ``K.TM_TILE_DEGREE`` fitted on a 7 x 7 grid of
# Chebyshev nodes, each checked on a 9 x 9 grid (edges and corners included) against the exact
# kernel and used only within TILE_MAX_ERROR_M of it. Points elsewhere take the exact kernel.
TILE_DEG = 0.125
TILE_SPAN_DEG = 12.0
TILE_MAX_ERROR_M = 1e-6
TILE_FIT_NODES = 7
TILE_CHECK_POINTS = 9


def _tile_fit_matrices() -> tuple[np.ndarray, np.ndarray]:
    """The Chebyshev nodes of ``kernels.tm_tile_fit`` and its design matrix's pseudo-inverse."""
    nodes = np.cos(np.pi * (np.arange(TILE_FIT_NODES) + 0.5) / TILE_FIT_NODES)
    u, v = np.repeat(nodes, nodes.size), np.tile(nodes, nodes.size)
    terms = [(a, b) for a in range(K.TM_TILE_DEGREE + 1) for b in range(K.TM_TILE_DEGREE + 1 - a)]
    design = np.column_stack([u**a * v**b for a, b in terms])
    return nodes, np.linalg.pinv(design)


_TILE_NODES, _TILE_PSEUDO_INVERSE = _tile_fit_matrices()


def _bad_values(
    values: np.ndarray, field: str, name_zh: str, bounds: tuple[float, float] | None = None
) -> Problem | None:
    """A Problem counting the non-finite (or out-of-bounds) values of one coordinate array."""
    if (
        values.size
        and bounds is not None
        and bounds[0] <= values.min() <= values.max() <= bounds[1]
    ):
        return None  # fast path, two passes: NaN and infinities fail these comparisons
    bad = ~np.isfinite(values)
    what_zh, what_en = "NaN 或无穷大", "NaN or infinite"
    if bounds is not None:
        lo, hi = bounds
        bad |= (values < lo) | (values > hi)
        what_zh += f"，或超出 [{lo:g}, {hi:g}]"
        what_en += f", or outside [{lo:g}, {hi:g}]"
    if not bad.any():
        return None
    first = int(np.argmax(bad))
    count = int(bad.sum())
    return Problem(
        field,
        f"{count} 个{name_zh}无效（{what_zh}），首个位于第 {first} 项：{float(values[first])!r}",
        f"{count} invalid {field} value(s) ({what_en}), first at index {first}: {float(values[first])!r}",
    )


def validated_lonlat(
    lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """``lon``/``lat`` as float64 arrays, or ValidationFailed if any is NaN or out of range."""
    lon_arr, lat_arr = coordinate_arrays(lon, lat, ("lon", "lat"))
    problems = [
        p
        for p in (
            _bad_values(lon_arr, "lon", "经度", (-180.0, 180.0)),
            _bad_values(lat_arr, "lat", "纬度", (UTM_MIN_LAT, UTM_MAX_LAT)),
        )
        if p is not None
    ]
    if problems:
        raise ValidationFailed(problems, zh="坐标无效", en="Invalid coordinates")
    return lon_arr, lat_arr


def utm_crs_for(lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]) -> pyproj.CRS:
    """The WGS-84 UTM zone (EPSG 326zz north, 327zz south) of the median point of the data.

    Uses the plain 6° zone formula (no Norway/Svalbard exceptions); a batch spanning the
    antimeridian gets the zone of its median longitude.
    """
    lon_arr, lat_arr = validated_lonlat(lon, lat)
    if lon_arr.size == 0:
        raise ValidationFailed(
            [
                Problem(
                    "lon,lat",
                    "没有坐标，无法选择投影",
                    "no coordinates to choose a projection from",
                )
            ]
        )
    zone = min(int((float(np.median(lon_arr)) + 180.0) // 6.0) + 1, 60)
    hemisphere = 32600 if float(np.median(lat_arr)) >= 0.0 else 32700
    return pyproj.CRS.from_epsg(hemisphere + zone)


def kruger_coefficients(n: float) -> tuple[np.ndarray, np.ndarray]:
    """Krüger's forward (alpha) and inverse (beta) coefficients to sixth order in the third
    flattening ``n`` (Karney 2011, eqs. 35 and 36)."""
    n2, n3, n4, n5, n6 = n**2, n**3, n**4, n**5, n**6
    alpha = [
        n / 2 - 2 * n2 / 3 + 5 * n3 / 16 + 41 * n4 / 180 - 127 * n5 / 288 + 7891 * n6 / 37800,
        13 * n2 / 48 - 3 * n3 / 5 + 557 * n4 / 1440 + 281 * n5 / 630 - 1983433 * n6 / 1935360,
        61 * n3 / 240 - 103 * n4 / 140 + 15061 * n5 / 26880 + 167603 * n6 / 181440,
        49561 * n4 / 161280 - 179 * n5 / 168 + 6601661 * n6 / 7257600,
        34729 * n5 / 80640 - 3418889 * n6 / 1995840,
        212378941 * n6 / 319334400,
    ]
    beta = [
        n / 2 - 2 * n2 / 3 + 37 * n3 / 96 - n4 / 360 - 81 * n5 / 512 + 96199 * n6 / 604800,
        n2 / 48 + n3 / 15 - 437 * n4 / 1440 + 46 * n5 / 105 - 1118711 * n6 / 3870720,
        17 * n3 / 480 - 37 * n4 / 840 - 209 * n5 / 4480 + 5569 * n6 / 90720,
        4397 * n4 / 161280 - 11 * n5 / 504 - 830251 * n6 / 7257600,
        4583 * n5 / 161280 - 108847 * n6 / 3991680,
        20648693 * n6 / 638668800,
    ]
    return np.array(alpha), np.array(beta)


@dataclass(frozen=True)
class TransverseMercator:
    """Parameters of the ``kernels.tm_forward`` / ``tm_inverse`` kernels for one CRS."""

    lon0: float  # central meridian, degrees
    k0_a: float  # scale factor on the central meridian times the rectifying radius A
    false_easting: float
    false_northing: float
    e: float  # first eccentricity
    alpha: np.ndarray
    beta: np.ndarray

    @classmethod
    def of(cls, crs: pyproj.CRS) -> TransverseMercator | None:
        """The parameters of a transverse Mercator CRS in metres (easting, northing) on
        WGS-84 with its origin on the equator, as every UTM zone is; None for any other."""
        operation = crs.coordinate_operation
        if (
            not crs.is_projected
            or operation is None
            or operation.method_name != "Transverse Mercator"
            or not crs.geodetic_crs.equals(WGS84, ignore_axis_order=True)
            or [(a.direction, a.unit_name) for a in crs.axis_info]
            != [("east", "metre"), ("north", "metre")]
        ):
            return None
        params = {p.name: p for p in operation.params}
        try:
            lat0 = params["Latitude of natural origin"]
            lon0 = params["Longitude of natural origin"]
            k0 = params["Scale factor at natural origin"]
            fe, fn = params["False easting"], params["False northing"]
        except KeyError:
            return None
        if (
            lat0.value != 0.0
            or lon0.unit_name != "degree"
            or {fe.unit_name, fn.unit_name} != {"metre"}
        ):
            return None
        a = crs.ellipsoid.semi_major_metre
        f = 1.0 / crs.ellipsoid.inverse_flattening
        n = f / (2.0 - f)
        alpha, beta = kruger_coefficients(n)
        rectifying_radius = a / (1.0 + n) * (1.0 + n**2 / 4 + n**4 / 64 + n**6 / 256)
        return cls(
            lon0=float(lon0.value),
            k0_a=float(k0.value) * rectifying_radius,
            false_easting=float(fe.value),
            false_northing=float(fn.value),
            e=math.sqrt(f * (2.0 - f)),
            alpha=alpha,
            beta=beta,
        )

    def forward(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact kernel."""
        return K.tm_forward(lon, lat, *self._forward_args())

    def forward_tiled(
        self, lon: np.ndarray, lat: np.ndarray, tiles: K.TmTiles
    ) -> tuple[np.ndarray, np.ndarray, K.TmTiles]:
        """(x, y, tiles): through the polynomials of ``tiles`` where usable, the tiles the
        points fall on fitted first where they are not yet (``tiles`` as it was, or a new
        table with those tiles added); through the exact kernel elsewhere."""
        x, y, missed = K.tm_forward_tiled(lon, lat, tiles)
        if missed * 4 > lon.size:  # a new area: fit its tiles, then the whole batch again
            tiles = self.fit_tiles(tiles, lon, lat)
            x, y, missed = K.tm_forward_tiled(lon, lat, tiles)
        if missed:
            at = np.flatnonzero(np.isnan(x))
            tiles = self.fit_tiles(tiles, lon[at], lat[at])
            x_at, y_at, still = K.tm_forward_tiled(lon[at], lat[at], tiles)
            if still:
                off = np.isnan(x_at)
                x_at[off], y_at[off] = self.forward(lon[at][off], lat[at][off])
            x[at], y[at] = x_at, y_at
        return x, y, tiles

    def _forward_args(self) -> tuple[float, float, float, float, float, np.ndarray]:
        return self.lon0, self.k0_a, self.false_easting, self.false_northing, self.e, self.alpha

    def empty_tiles(self) -> K.TmTiles:
        """The tile grid of this projection, nothing fitted: 1/8-degree tiles within
        TILE_SPAN_DEG of the central meridian, from UTM_MIN_LAT to UTM_MAX_LAT."""
        col0 = math.floor((self.lon0 - TILE_SPAN_DEG) / TILE_DEG)
        n_cols = math.floor((self.lon0 + TILE_SPAN_DEG) / TILE_DEG) - col0 + 1
        row0 = math.floor(UTM_MIN_LAT / TILE_DEG)
        n_rows = math.floor(UTM_MAX_LAT / TILE_DEG) - row0 + 1
        terms = K.TM_TILE_DEGREE + 1
        return K.TmTiles(
            col0 * TILE_DEG, row0 * TILE_DEG, TILE_DEG, n_cols, n_rows,
            np.full(n_cols * n_rows, K.TILE_UNFITTED, np.int32), np.empty((0, 2)),
            np.empty((0, terms, terms, 2)), np.empty(0, np.bool_),
        )  # fmt: skip

    def fit_tiles(self, tiles: K.TmTiles, lon: np.ndarray, lat: np.ndarray) -> K.TmTiles:
        """``tiles`` with every tile holding one of these points fitted: a new table if any
        was not, each usable where checked within TILE_MAX_ERROR_M of the exact kernel."""
        wanted = K.tm_unfitted_tiles(lon, lat, tiles)
        if not wanted.size:
            return tiles
        tile_lon = tiles.lon_origin + (wanted % tiles.n_cols) * tiles.tile_deg
        tile_lat = tiles.lat_origin + (wanted // tiles.n_cols) * tiles.tile_deg
        centre, coeffs = K.tm_tile_fit(
            tile_lon, tile_lat, tiles.tile_deg, _TILE_NODES, _TILE_PSEUDO_INVERSE,
            *self._forward_args(),
        )  # fmt: skip
        errors = K.tm_tile_errors(
            tile_lon, tile_lat, tiles.tile_deg, centre, coeffs, TILE_CHECK_POINTS,
            *self._forward_args(),
        )  # fmt: skip
        slot = tiles.slot.copy()
        slot[wanted] = tiles.usable.size + np.arange(wanted.size)
        return tiles._replace(
            slot=slot,
            centre=np.concatenate((tiles.centre, centre)),
            coeffs=np.concatenate((tiles.coeffs, coeffs)),
            usable=np.concatenate((tiles.usable, errors <= TILE_MAX_ERROR_M)),
        )

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return K.tm_inverse(
            x, y, self.lon0, self.k0_a, self.false_easting, self.false_northing, self.e,
            self.beta,
        )  # fmt: skip


class Projector:
    """Forward (lon/lat -> x/y metres) and inverse transforms for one projected CRS."""

    def __init__(self, crs: pyproj.CRS) -> None:
        self.crs = crs
        self._tm = TransverseMercator.of(crs)
        # the forward fast path's tiles, fitted as points come (replaced, never changed)
        self._tiles: K.TmTiles | None = None
        self._forward = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)
        self._inverse = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)

    @classmethod
    def for_points(
        cls, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
    ) -> Projector:
        """The projector of the UTM zone of these points (see ``utm_crs_for``)."""
        return cls(utm_crs_for(lon, lat))

    def __repr__(self) -> str:
        return f"Projector({self.crs.to_string()})"

    def __getstate__(self) -> dict:
        """Pickled without its tiles (a megabyte of slots): refitted where it is unpickled,
        to the same polynomials."""
        return {**self.__dict__, "_tiles": None}

    def forward(
        self, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 degrees to projected metres (float64)."""
        lon_arr, lat_arr = validated_lonlat(lon, lat)
        if self._tm is not None:
            return self._tm.forward(lon_arr, lat_arr)
        x, y = self._forward.transform(lon_arr, lat_arr)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def forward_tiled(
        self, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``forward`` through the tiles' polynomials (module docstring): within a few
        nanometres of it, several times faster; for the fixes of a batch."""
        if self._tm is None:
            return self.forward(lon, lat)
        lon_arr, lat_arr = validated_lonlat(lon, lat)
        tiles = self._tiles or self._tm.empty_tiles()
        x, y, self._tiles = self._tm.forward_tiled(lon_arr, lat_arr, tiles)
        return x, y

    def inverse(
        self, x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Projected metres to WGS-84 degrees (float64)."""
        x_arr, y_arr = coordinate_arrays(x, y, ("x", "y"))
        problems = [
            p
            for p in (
                _bad_values(x_arr, "x", "x 坐标"),
                _bad_values(y_arr, "y", "y 坐标"),
            )
            if p is not None
        ]
        if problems:
            raise ValidationFailed(problems, zh="坐标无效", en="Invalid coordinates")
        if self._tm is not None:
            return self._tm.inverse(x_arr, y_arr)
        lon, lat = self._inverse.transform(x_arr, y_arr)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def geom_forward(self, geom: Geom) -> Geom:
        """A shapely geometry (or array of them) from lon/lat degrees to projected metres."""
        return shapely.transform(geom, self._transform_forward)

    def geom_inverse(self, geom: Geom) -> Geom:
        """A shapely geometry (or array of them) from projected metres to lon/lat degrees."""
        return shapely.transform(geom, self._transform_inverse)

    def _transform_forward(self, coords: np.ndarray) -> np.ndarray:
        return np.column_stack(self.forward(coords[:, 0], coords[:, 1]))

    def _transform_inverse(self, coords: np.ndarray) -> np.ndarray:
        return np.column_stack(self.inverse(coords[:, 0], coords[:, 1]))
