"""Plain-Python twins of the Numba kernels in ``cdw.tracking._kernels``.

Straightforward loops over lists, written from each kernel's documented contract, used
only by the tests to check the kernels on fixed and hypothesis-generated inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Floats = Sequence[float]
DistanceFn = Callable[[float, float, float, float], float]


def planar_distance(x0: float, y0: float, x1: float, y1: float) -> float:
    dx = x1 - x0
    dy = y1 - y0
    return math.sqrt(dx * dx + dy * dy)


def step_metrics(x: Floats, y: Floats, t: Floats) -> tuple[list[float], list[float], list[float]]:
    dist, dt, speed = [], [], []
    for i in range(len(x)):
        if i == 0:
            dist.append(0.0)
            dt.append(0.0)
            speed.append(0.0)
            continue
        d = planar_distance(x[i - 1], y[i - 1], x[i], y[i])
        step = t[i] - t[i - 1]
        dist.append(d)
        dt.append(step)
        speed.append(d / step if step > 0 else 0.0)
    return dist, dt, speed


def place_codes(
    site: Sequence[int], facility: Sequence[int], depot: Sequence[int], n_sites: int, n_places: int
) -> list[int]:
    """A facility before a site before a depot; -1 in none."""
    out = []
    for s, f, d in zip(site, facility, depot, strict=True):
        if f >= 0:
            out.append(n_sites + f)
        elif s >= 0:
            out.append(s)
        else:
            out.append(n_places + d if d >= 0 else -1)
    return out


def run_lengths(mask: Sequence[bool]) -> tuple[list[int], list[int]]:
    starts, ends = [], []
    for i, value in enumerate(mask):
        if value and (i == 0 or not mask[i - 1]):
            starts.append(i)
        if value and (i == len(mask) - 1 or not mask[i + 1]):
            ends.append(i + 1)
    return starts, ends


def runs_at_least(
    mask: Sequence[bool], t: Floats, min_duration_s: float
) -> tuple[list[int], list[int]]:
    starts, ends = [], []
    for s, e in zip(*run_lengths(mask), strict=True):
        if t[e - 1] - t[s] >= min_duration_s:
            starts.append(s)
            ends.append(e)
    return starts, ends


def split_on_gaps(t: Floats, max_gap_s: float) -> list[int]:
    return [i for i in range(len(t)) if i == 0 or t[i] - t[i - 1] > max_gap_s]


def stay_points(
    x: Floats,
    y: Floats,
    t: Floats,
    radius_m: float,
    min_duration_s: float,
    max_gap_s: float,
    include_last: bool = True,
    distance: DistanceFn = planar_distance,
) -> tuple[list[int], list[int]]:
    """trackintel's sliding rule, literally; ``distance`` may be haversine for lon/lat."""
    starts, ends = [], []
    n = len(x)
    if n == 0:
        return starts, ends
    anchor = 0
    for i in range(1, n):
        if t[i] - t[i - 1] > max_gap_s:
            anchor = i
            continue
        if distance(x[anchor], y[anchor], x[i], y[i]) >= radius_m:
            if t[i] - t[anchor] >= min_duration_s:
                starts.append(anchor)
                ends.append(i - 1)
            anchor = i
    if include_last and t[n - 1] - t[anchor] >= min_duration_s:
        starts.append(anchor)
        ends.append(n - 1)
    return starts, ends


def stay_points_centred(
    x: Floats,
    y: Floats,
    t: Floats,
    radius_m: float,
    min_duration_s: float,
    max_gap_s: float,
    include_last: bool = True,
    outlier_run: int = 2,
) -> tuple[list[int], list[int]]:
    """The centred rule, literally: a stay is a list of member fixes and its mean."""
    starts, ends = [], []
    n = len(x)
    if n == 0:
        return starts, ends
    anchor, members, outliers = 0, [0], []

    def near_centre(j: int) -> bool:
        sx = sy = 0.0
        for m in members:  # left to right, as the kernel accumulates
            sx += x[m]
            sy += y[m]
        cx, cy = sx / len(members), sy / len(members)
        return math.sqrt((x[j] - cx) ** 2 + (y[j] - cy) ** 2) < radius_m

    def comes_back(i: int) -> bool:
        """One of the next ``outlier_run`` fixes, reached without a gap, is near the centre."""
        for j in range(i + 1, min(i + 1 + outlier_run, n)):
            if t[j] - t[j - 1] > max_gap_s:
                return False
            if near_centre(j):
                return True
        return False

    for i in range(1, n):
        if t[i] - t[i - 1] > max_gap_s:
            anchor, members, outliers = i, [i], []
        elif near_centre(i):
            members.append(i)
        elif len(outliers) + 1 <= max(len(members) / 4, outlier_run) and comes_back(i):
            outliers.append(i)  # inside the stay's time span, not in its centre
        else:
            if t[i] - t[anchor] >= min_duration_s:
                starts.append(anchor)
                ends.append(i - 1)
            anchor, members, outliers = i, [i], []
    if include_last and t[n - 1] - t[anchor] >= min_duration_s:
        starts.append(anchor)
        ends.append(n - 1)
    return starts, ends


def stay_points_by_group(
    x: Floats,
    y: Floats,
    t: Floats,
    group_starts: Sequence[int],
    radius_m: float,
    min_duration_s: float,
    max_gap_s: float,
    include_last: bool = True,
) -> tuple[list[int], list[int]]:
    starts, ends = [], []
    bounds = [*group_starts, len(x)]
    for g in range(len(group_starts)):
        lo, hi = bounds[g], bounds[g + 1]
        s, e = stay_points(
            x[lo:hi], y[lo:hi], t[lo:hi], radius_m, min_duration_s, max_gap_s, include_last
        )
        starts += [v + lo for v in s]
        ends += [v + lo for v in e]
    return starts, ends


def pairwise_sum(values: Floats) -> float:
    """numpy's float64 sum: a run of at most 128 values in eight interleaved accumulators
    then the rest, a longer one as the sum of its two halves (cut at a multiple of 8)."""
    n = len(values)
    if n < 8:
        total = 0.0
        for v in values:
            total += v
        return total
    if n <= 128:
        acc = list(values[:8])
        whole = n - n % 8
        for i in range(8, whole):
            acc[i % 8] += values[i]
        total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        for v in values[whole:]:
            total += v
        return total
    half = n // 2 - (n // 2) % 8
    return pairwise_sum(values[:half]) + pairwise_sum(values[half:])


def stay_centres(
    x: Floats, y: Floats, starts: Sequence[int], ends: Sequence[int]
) -> tuple[list[float], list[float]]:
    cx, cy = [], []
    for s, e in zip(starts, ends, strict=True):
        cx.append(pairwise_sum(x[s : e + 1]) / (e + 1 - s))
        cy.append(pairwise_sum(y[s : e + 1]) / (e + 1 - s))
    return cx, cy


def median(values: Floats) -> float:
    """The middle value of the sorted values, or the mean of the two middle ones (as numpy
    sums: from 0.0, so -0.0 comes out 0.0); NaN when empty or when any value is NaN."""
    if not values or any(math.isnan(v) for v in values):
        return math.nan
    ordered = sorted(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return 0.0 + ordered[half]
    return (0.0 + ordered[half - 1] + ordered[half]) / 2


def median_step(t: Floats) -> tuple[float, bool]:
    """The median step where every step is a whole number of seconds (an infinite one
    counts) and the middle ones at most 3,600 s, or where both middle steps in sorted order
    are the track's middle step."""
    steps = [b - a for a, b in zip(t[:-1], t[1:], strict=True)]
    n = len(steps)
    if any(math.isnan(v) for v in steps):
        return math.nan, False
    ordered = sorted(steps)
    low, high = ordered[(n - 1) // 2], ordered[n // 2]
    whole = all(v >= 0 and (math.isinf(v) or v == math.floor(v)) for v in steps)
    if (whole and high <= 3600) or low == high == steps[n // 2]:
        return median(steps), True
    return math.nan, False


def _stay_distances(
    x: Floats, y: Floats, starts: Sequence[int], ends: Sequence[int], cx: Floats, cy: Floats
) -> list[float]:
    """Each fix's distance from its stay's centre times √(n/(n-1)), stays of one fix left out."""
    distances = []
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        n = e + 1 - s
        if n > 1:
            scale = math.sqrt(n / (n - 1))
            # numpy's hypot (the C library's), which Python's math.hypot is not to the bit
            distances += [
                float(np.hypot(x[i] - cx[k], y[i] - cy[k])) * scale for i in range(s, e + 1)
            ]
    return distances


def stay_scatter(
    x: Floats,
    y: Floats,
    starts: Sequence[int],
    ends: Sequence[int],
    cx: Floats,
    cy: Floats,
) -> tuple[float, int]:
    distances = _stay_distances(x, y, starts, ends, cx, cy)
    return median(distances), len(distances)


def scatter_at_most(
    x: Floats,
    y: Floats,
    starts: Sequence[int],
    ends: Sequence[int],
    cx: Floats,
    cy: Floats,
    limit: float,
) -> bool:
    distances = _stay_distances(x, y, starts, ends, cx, cy)
    within = sum(d <= limit for d in distances)
    return bool(distances) and within > len(distances) // 2


def stay_verdicts(
    starts: Sequence[int],
    ends: Sequence[int],
    authorised: Sequence[bool],
    reported: Sequence[bool],
    speed_kmh: Floats,
    still_kmh: float,
) -> tuple[list[bool], list[bool]]:
    inside, always_moving = [], []
    for s, e in zip(starts, ends, strict=True):
        fixes = range(s, e + 1)
        inside.append(sum(authorised[i] for i in fixes) >= len(fixes) / 2)
        always_moving.append(all(reported[i] and speed_kmh[i] > still_kmh for i in fixes))
    return inside, always_moving
