"""Choosing the batch's UTM zone and projecting points and geometries with it."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon

from cdw.errors import ValidationFailed
from cdw.geo.projection import (
    Projector,
    TransverseMercator,
    kruger_coefficients,
    utm_crs_for,
)


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        ([113.3, 113.2, 113.5], [23.1, 23.0, 23.2], 32649),  # Guangzhou, zone 49N
        ([151.2], [-33.9], 32756),  # Sydney, zone 56S
        ([-180.0], [0.0], 32601),
        ([180.0], [0.0], 32660),
        ([114.0], [10.0], 32650),  # 114° E is the western edge of zone 50
    ],
)
def test_utm_crs_for(lon: list[float], lat: list[float], epsg: int) -> None:
    assert utm_crs_for(np.array(lon), np.array(lat)).to_epsg() == epsg


def test_utm_zone_is_the_medians() -> None:
    # Two of three points in zone 49: the median decides, not the mean or the first point.
    assert utm_crs_for([113.0, 113.1, 120.0], [23.0, 23.0, 23.0]).to_epsg() == 32649


def test_forward_on_the_central_meridian() -> None:
    projector = Projector.for_points([113.3], [23.1])
    x, y = projector.forward([111.0, 111.0], [0.0, 23.1])
    assert x.tolist() == [pytest.approx(500_000.0, abs=1e-6)] * 2
    assert y[0] == pytest.approx(0.0, abs=1e-6)
    assert x.dtype == np.float64


def test_projected_distance_matches_geodesic() -> None:
    projector = Projector.for_points([113.3], [23.1])
    lon, lat = np.array([113.30, 113.31]), np.array([23.10, 23.11])
    x, y = projector.forward(lon, lat)
    planar = math.hypot(x[1] - x[0], y[1] - y[0])
    geodesic = pyproj.Geod(ellps="WGS84").inv(lon[0], lat[0], lon[1], lat[1])[2]
    # UTM scale 2.3° east of the central meridian is about 1.0003.
    assert planar / geodesic == pytest.approx(1.0003, abs=1e-4)


def test_round_trip() -> None:
    rng = np.random.default_rng(1)
    lon, lat = 113.3 + rng.uniform(-0.5, 0.5, 1000), 23.1 + rng.uniform(-0.5, 0.5, 1000)
    projector = Projector.for_points(lon, lat)
    back_lon, back_lat = projector.inverse(*projector.forward(lon, lat))
    assert np.abs(back_lon - lon).max() < 1e-9
    assert np.abs(back_lat - lat).max() < 1e-9


def test_geometries_round_trip() -> None:
    projector = Projector.for_points([113.3], [23.1])
    route = LineString([(113.30, 23.10), (113.31, 23.11)])
    fence = Polygon([(113.3, 23.1), (113.301, 23.1), (113.301, 23.101)])
    metres = projector.geom_forward(route)
    x, y = projector.forward([113.30, 113.31], [23.10, 23.11])
    assert shapely.get_coordinates(metres).tolist() == np.c_[x, y].tolist()
    both = projector.geom_inverse(projector.geom_forward(np.array([route, fence])))
    assert shapely.equals_exact(both, np.array([route, fence]), tolerance=1e-9).all()


def test_empty_arrays_project_to_empty() -> None:
    x, y = Projector.for_points([113.3], [23.1]).forward([], [])
    assert x.size == 0 and y.size == 0


@pytest.mark.parametrize(
    ("lon", "lat", "field", "en_part"),
    [
        ([113.0, math.nan, math.nan], [23.0, 23.0, 23.0], "lon", "2 invalid lon value(s)"),
        ([113.0], [85.0], "lat", "outside [-80, 84]"),
        ([181.0], [23.0], "lon", "first at index 0: 181.0"),
        ([113.0], [math.inf], "lat", "NaN or infinite"),
        ([113.0, 114.0], [23.0], "lon,lat", "differ in length"),
    ],
)
def test_invalid_coordinates_are_refused(
    lon: list[float], lat: list[float], field: str, en_part: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        Projector.for_points([113.3], [23.1]).forward(lon, lat)
    [problem] = err.value.problems
    assert problem.field == field
    assert en_part in problem.en
    assert problem.zh


def test_both_fields_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as err:
        utm_crs_for([math.nan], [95.0])
    assert [p.field for p in err.value.problems] == ["lon", "lat"]


def test_no_points_no_zone() -> None:
    with pytest.raises(ValidationFailed) as err:
        Projector.for_points([], [])
    assert "no coordinates" in err.value.problems[0].en


def test_inverse_refuses_non_finite() -> None:
    with pytest.raises(ValidationFailed) as err:
        Projector.for_points([113.3], [23.1]).inverse([500_000.0], [math.inf])
    assert err.value.problems[0].field == "y"


def test_geom_forward_refuses_out_of_range() -> None:
    with pytest.raises(ValidationFailed):
        Projector.for_points([113.3], [23.1]).geom_forward(LineString([(0, 0), (0, 89)]))


def test_utm_runs_on_the_kruger_kernels_and_agrees_with_pyproj() -> None:
    projector = Projector.for_points([113.3], [23.1])
    assert TransverseMercator.of(projector.crs) is not None
    rng = np.random.default_rng(7)
    lon, lat = 113.3 + rng.uniform(-5, 5, 5000), rng.uniform(-80, 84, 5000)
    reference = pyproj.Transformer.from_crs(4326, projector.crs, always_xy=True)
    x, y = projector.forward(lon, lat)
    px, py = reference.transform(lon, lat)
    assert np.abs(x - px).max() < 1e-3 and np.abs(y - py).max() < 1e-3
    back_lon, back_lat = projector.inverse(px, py)
    assert np.abs(back_lon - lon).max() < 1e-8 and np.abs(back_lat - lat).max() < 1e-8


@pytest.mark.parametrize(
    "epsg",
    [
        3857,  # web Mercator: not transverse
        2383,  # Xian 1980 / 3-degree Gauss-Kruger: transverse Mercator on another datum
        3395,  # world Mercator
    ],
)
def test_other_crs_go_through_pyproj(epsg: int) -> None:
    crs = pyproj.CRS.from_epsg(epsg)
    assert TransverseMercator.of(crs) is None
    projector = Projector(crs)
    reference = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    x, y = projector.forward([113.3], [23.1])
    assert (x[0], y[0]) == reference.transform(113.3, 23.1)


def test_kruger_coefficients_of_wgs84() -> None:
    # Karney (2011), table 1 lists alpha_1 = 8.377318206244698e-4 for WGS-84.
    f = 1 / 298.257223563
    alpha, beta = kruger_coefficients(f / (2 - f))
    assert alpha[0] == pytest.approx(8.377318206244698e-4, rel=1e-15)
    assert beta[0] == pytest.approx(8.377321640579488e-4, rel=1e-15)
    assert alpha.size == beta.size == 6


# --- the forward fast path: polynomials on tiles -------------------------------------------


def _exact(projector: Projector, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tm = projector._tm
    assert tm is not None
    return tm.forward(lon, lat)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.floats(-180.0, 180.0),
    st.floats(-80.0, 84.0),
    st.sampled_from([0.0, 0.01, 0.4, 3.0]),
    st.integers(0, 2**32 - 1),
)
def test_tiled_forward_agrees_with_the_exact_kernel_and_pyproj(
    lon_c: float, lat_c: float, spread: float, seed: int
) -> None:
    """A batch anywhere (a depot, a city, a province), its zone chosen from its points: the
    fast path is within a micrometre of the exact kernel and within a millimetre of PROJ, and
    a point projects the same alone as in the batch."""
    rng = np.random.default_rng(seed)
    n = 2000
    lon = (lon_c + rng.uniform(-spread, spread, n) + 180.0) % 360.0 - 180.0
    lat = np.clip(lat_c + rng.uniform(-spread, spread, n), -80.0, 84.0)
    projector = Projector.for_points(lon, lat)
    x, y = projector.forward_tiled(lon, lat)
    tiles = projector._tiles
    assert tiles is not None and tiles.usable.all()
    wraps = lon.max() - lon.min() > 180.0  # across the antimeridian: off the grid
    assert wraps or tiles.usable.size > 0
    ex, ey = _exact(projector, lon, lat)
    assert np.abs(x - ex).max() <= 1e-6 and np.abs(y - ey).max() <= 1e-6
    px, py = pyproj.Transformer.from_crs(4326, projector.crs, always_xy=True).transform(lon, lat)
    assert np.abs(x - px).max() < 1e-3 and np.abs(y - py).max() < 1e-3
    alone = Projector(projector.crs)
    for i in rng.choice(n, 5):
        assert alone.forward_tiled(lon[i : i + 1], lat[i : i + 1]) == (x[i], y[i])


def test_tiles_are_fitted_as_points_come() -> None:
    projector = Projector.for_points([113.3], [23.0])
    assert projector._tiles is None
    x0, y0 = projector.forward_tiled([113.31, 113.32], [23.01, 23.02])  # one tile
    one = projector._tiles
    assert one.usable.tolist() == [True]
    assert (
        np.abs(
            x0 - _exact(projector, np.array([113.31, 113.32]), np.array([23.01, 23.02]))[0]
        ).max()
        < 1e-8
    )
    projector.forward_tiled([113.33], [23.03])  # the same tile: the same table
    assert projector._tiles is one
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(113.2, 113.55, 5000), rng.uniform(22.8, 23.1, 5000)
    x, y = projector.forward_tiled(lon, lat)  # tiles of a city: 4 x 3, the first one kept
    tiles = projector._tiles
    assert tiles.usable.size == 12 and (tiles.slot >= 0).sum() == 12
    assert tiles.coeffs[0].tolist() == one.coeffs[0].tolist()
    again = projector.forward_tiled([113.31, 113.32], [23.01, 23.02])
    assert np.array_equal(again[0], x0) and np.array_equal(again[1], y0)
    # a few new points among many known ones: only theirs fitted
    lon2, lat2 = np.append(lon, 114.0), np.append(lat, 23.5)
    x2, y2 = projector.forward_tiled(lon2, lat2)
    assert projector._tiles.usable.size == 13
    assert np.array_equal(x2[:-1], x) and np.array_equal(y2[:-1], y)


def test_points_off_the_tile_grid_take_the_exact_kernel() -> None:
    projector = Projector.for_points([113.3], [23.0])  # zone 49: central meridian 111 E
    lon = np.array([98.9, 123.2, 113.3, 113.3, 113.3])  # 12 degrees away; beyond the UTM band
    lat = np.array([23.0, 23.0, 84.0, -80.0, 30.0])
    x, y = projector._tm.forward_tiled(lon, lat, projector._tm.empty_tiles())[:2]
    ex, ey = _exact(projector, lon, lat)
    np.testing.assert_array_equal(x[:2], ex[:2])
    np.testing.assert_array_equal(y[:2], ey[:2])
    assert np.abs(x[2:] - ex[2:]).max() < 1e-8 and np.abs(y[2:] - ey[2:]).max() < 1e-8


def test_tiles_beyond_the_error_bound_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import cdw.geo.projection as projection

    monkeypatch.setattr(projection, "TILE_MAX_ERROR_M", 0.0)  # none can be that exact
    projector = Projector.for_points([113.3], [23.0])
    lon = np.linspace(113.2, 113.5, 1000)
    lat = np.linspace(22.8, 23.1, 1000)
    x, y = projector.forward_tiled(lon, lat)
    assert projector._tiles.usable.size > 0 and not projector._tiles.usable.any()
    ex, ey = _exact(projector, lon, lat)
    assert np.array_equal(x, ex) and np.array_equal(y, ey)


def test_a_pickled_projector_refits_the_same_tiles() -> None:
    projector = Projector.for_points([113.3], [23.0])
    lon, lat = np.array([113.31, 113.6]), np.array([23.01, 22.9])
    x, y = projector.forward_tiled(lon, lat)
    copy = pickle.loads(pickle.dumps(projector))
    assert projector._tiles is not None and copy._tiles is None
    x2, y2 = copy.forward_tiled(lon, lat)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_forward_stays_the_exact_kernel() -> None:
    projector = Projector.for_points([113.3], [23.0])
    lon, lat = np.linspace(113.2, 113.5, 100), np.linspace(22.8, 23.1, 100)
    projector.forward_tiled(lon, lat)  # tiles fitted: forward does not use them
    x, y = projector.forward(lon, lat)
    ex, ey = _exact(projector, lon, lat)
    assert np.array_equal(x, ex) and np.array_equal(y, ey)
    other = Projector(pyproj.CRS.from_epsg(3857))  # not transverse Mercator: pyproj's
    assert other.forward_tiled([113.3], [23.0]) == other.forward([113.3], [23.0])
