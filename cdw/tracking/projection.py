"""One projection per batch: WGS-84 degrees <-> metres in the UTM zone of the data.

All metric work (distances, stays, corridors, geofences) runs on the projected
coordinates; build one ``Projector`` per batch with ``Projector.for_points``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from cdw.errors import Problem, ValidationFailed
from cdw.tracking.geometry import coordinate_arrays

WGS84 = pyproj.CRS.from_epsg(4326)
# UTM is defined from 80°S to 84°N; beyond lie the polar (UPS) projections.
UTM_MIN_LAT = -80.0
UTM_MAX_LAT = 84.0

Geom = TypeVar("Geom", BaseGeometry, np.ndarray)


def _bad_values(
    values: np.ndarray, field: str, name_zh: str, bounds: tuple[float, float] | None = None
) -> Problem | None:
    """A Problem counting the non-finite (or out-of-bounds) values of one coordinate array."""
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


class Projector:
    """Forward (lon/lat -> x/y metres) and inverse transforms for one projected CRS."""

    def __init__(self, crs: pyproj.CRS) -> None:
        self.crs = crs
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

    def forward(
        self, lon: np.ndarray | Sequence[float], lat: np.ndarray | Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 degrees to projected metres (float64)."""
        lon_arr, lat_arr = validated_lonlat(lon, lat)
        x, y = self._forward.transform(lon_arr, lat_arr)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

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
