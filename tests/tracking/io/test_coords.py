"""GCJ-02 ↔ WGS-84."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.tracking.io.coords import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02

# Reference pairs (WGS-84 lat, lon → GCJ-02 lat, lon) from the test suite of
# googollee/eviltransform (python/test.py): Shanghai, Shenzhen, Beijing.
REFERENCE = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]


def metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    k = np.pi / 180
    x = (lon2 - lon1) * k * np.cos((lat1 + lat2) / 2 * k)
    return 6_371_008.8 * np.hypot(x, (lat2 - lat1) * k)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), REFERENCE)
def test_reference_pairs(wlat: float, wlon: float, glat: float, glon: float) -> None:
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert (float(lon), float(lat)) == pytest.approx((glon, glat), abs=1e-9)
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert (float(lon), float(lat)) == pytest.approx((wlon, wlat), abs=1e-9)


def test_offset_is_hundreds_of_metres_in_china() -> None:
    lon, lat = wgs84_to_gcj02(113.264, 23.13)  # Guangzhou
    shift = metres(np.array(113.264), np.array(23.13), lon, lat)
    assert 300 < shift < 700


def test_no_offset_outside_china() -> None:
    lons = np.array(
        [2.35, -74.0, 139.9, 100.5]
    )  # Paris, New York, Tokyo (east of the box), Bangkok
    lats = np.array([48.85, 40.7, 35.7, 0.5])  # Bangkok latitude moved below the box
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        lon, lat = fn(lons, lats)
        assert np.array_equal(lon, lons) and np.array_equal(lat, lats)
    assert out_of_china(lons, lats).all()
    assert not out_of_china(np.array([113.26]), np.array([23.13])).any()


def test_vectorised_matches_scalar() -> None:
    lons = np.array([121.5272106, 113.912316, 116.377817])
    lats = np.array([31.1774276, 22.543847, 39.911954])
    lon, lat = wgs84_to_gcj02(lons, lats)
    for i in range(3):
        one = wgs84_to_gcj02(lons[i], lats[i])
        assert (lon[i], lat[i]) == (float(one[0]), float(one[1]))


@given(
    st.lists(
        st.tuples(st.floats(73.0, 135.0), st.floats(18.0, 53.5)),
        min_size=1,
        max_size=50,
    )
)
@settings(max_examples=100, deadline=None)  # no timing in tests: a loaded machine is slow
def test_round_trip_under_half_a_metre(points: list[tuple[float, float]]) -> None:
    lons = np.array([p[0] for p in points])
    lats = np.array([p[1] for p in points])
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lons, lats))
    assert metres(lons, lats, back_lon, back_lat).max() < 0.5
    # in fact the iteration converges far below that
    assert metres(lons, lats, back_lon, back_lat).max() < 0.001
