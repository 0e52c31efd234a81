"""Numba kernels of the cleaning filters: implied speed, and the order checks (arrays in,
arrays out)."""

from __future__ import annotations

import numpy as np
from numba import njit

EARTH_RADIUS_M = 6_371_008.8


@njit(cache=True, nogil=True)
def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Equirectangular distance: within 0.01 % of the great circle below 100 km (|lat| ≤ 60°),
    ample for telling a plausible move from a jump, and cheaper than haversine."""
    k = np.pi / 180.0
    x = (lon2 - lon1) * k * np.cos((lat1 + lat2) * 0.5 * k)
    y = (lat2 - lat1) * k
    return EARTH_RADIUS_M * np.sqrt(x * x + y * y)


@njit(cache=True, nogil=True)
def _plausible(
    lon: np.ndarray, lat: np.ndarray, t_us: np.ndarray, i: int, j: int, max_speed_ms: float
) -> bool:
    dt = (t_us[j] - t_us[i]) / 1e6
    limit = max_speed_ms * dt
    # Speed: the same distance without the cosine (<= 1) is an upper bound, also in
    # floating point (rounding is monotone); within the limit it settles the verdict
    # without the cosine, as for nearly every real fix.
    k = np.pi / 180.0
    x = (lon[j] - lon[i]) * k
    y = (lat[j] - lat[i]) * k
    if EARTH_RADIUS_M * np.sqrt(x * x + y * y) <= limit:
        return True
    return _distance_m(lon[i], lat[i], lon[j], lat[j]) <= limit


@njit(cache=True, nogil=True)
def implied_speed_keep(
    lon: np.ndarray,
    lat: np.ndarray,
    t_us: np.ndarray,
    starts: np.ndarray,
    max_speed_ms: float,
) -> np.ndarray:
    """Keep-mask for points sorted by vehicle then strictly increasing time.

    ``starts`` holds the first index of each vehicle plus the total length. Each point is
    compared with the last kept point (the anchor): a jump faster than ``max_speed_ms`` drops
    the point, so in A-B-A the spike B goes and the second A stays. An anchor that no
    earlier point has confirmed (a vehicle's first point, or one kept after its own anchor
    was dropped) is itself dropped instead when the next two points agree with each other
    but not with it, so a bad first fix cannot throw away the good track behind it.
    """
    n = lon.shape[0]
    keep = np.ones(n, dtype=np.bool_)
    for g in range(starts.shape[0] - 1):
        lo = starts[g]
        hi = starts[g + 1]
        if hi - lo < 2:
            continue
        anchor = lo
        confirmed = False
        for i in range(lo + 1, hi):
            if _plausible(lon, lat, t_us, anchor, i, max_speed_ms):
                anchor = i
                confirmed = True
            elif (
                not confirmed
                and i + 1 < hi
                and _plausible(lon, lat, t_us, i, i + 1, max_speed_ms)
                and not _plausible(lon, lat, t_us, anchor, i + 1, max_speed_ms)
            ):
                keep[anchor] = False
                anchor = i
            else:
                keep[i] = False
    return keep


@njit(cache=True, nogil=True)
def steps_back(ts: np.ndarray) -> np.ndarray:
    """Every index i (from 1) where ``ts[i] < ts[i - 1]``, ascending: one pass to count, one
    to fill (``np.flatnonzero(np.diff(ts) < 0) + 1`` without the temporaries)."""
    count = 0
    for i in range(1, ts.size):
        if ts[i] < ts[i - 1]:
            count += 1
    out = np.empty(count, np.int64)
    k = 0
    for i in range(1, ts.size):
        if ts[i] < ts[i - 1]:
            out[k] = i
            k += 1
    return out


@njit(cache=True, nogil=True)
def any_repeat(ts: np.ndarray) -> bool:
    """Whether some ``ts[i] == ts[i - 1]`` (``(np.diff(ts) == 0).any()``, stopping at the
    first)."""
    for i in range(1, ts.size):  # noqa: SIM110 (a loop Numba compiles, not any() over a generator)
        if ts[i] == ts[i - 1]:
            return True
    return False
