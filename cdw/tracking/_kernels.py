"""Numba kernels of the trajectory engine: steps, runs, gaps and stays of a track. Arrays
in, arrays out, no Python objects.

Coordinates are projected metres (see ``cdw.geo.projection``); times are float64 seconds
since the epoch, sorted ascending within a track. The grid, segment, polygon and projection
kernels live in ``cdw.geo.kernels``; every kernel here has a plain-Python twin in
``tests/tracking/twins.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_INT = np.int64


# --- per-point steps ---------------------------------------------------------------


@njit(cache=True, nogil=True)
def step_metrics(
    x: np.ndarray, y: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step from the previous point: (distance m, time s, speed m/s); element 0 is 0.

    Speed is 0 where the time step is not positive (duplicate or reversed timestamps).
    """
    n = x.size
    dist = np.zeros(n)
    dt = np.zeros(n)
    speed = np.zeros(n)
    for i in range(1, n):
        dx = x[i] - x[i - 1]
        dy = y[i] - y[i - 1]
        d = math.sqrt(dx * dx + dy * dy)
        step = t[i] - t[i - 1]
        dist[i] = d
        dt[i] = step
        if step > 0.0:
            speed[i] = d / step
    return dist, dt, speed


# --- runs and pieces ---------------------------------------------------------------


@njit(cache=True, nogil=True)
def place_codes(
    site: np.ndarray, facility: np.ndarray, depot: np.ndarray, n_sites: int, n_places: int
) -> np.ndarray:
    """Per fix, the one place its fences say (``cdw.tracking.trips.visit_places``): the
    facility's index plus ``n_sites`` where it is in a facility, else the site's index, else
    the depot's plus ``n_places``, else -1."""
    out = np.empty(site.size, _INT)
    for i in range(site.size):
        if facility[i] >= 0:
            out[i] = n_sites + facility[i]
        elif site[i] >= 0:
            out[i] = site[i]
        elif depot[i] >= 0:
            out[i] = n_places + depot[i]
        else:
            out[i] = -1
    return out


@njit(cache=True, nogil=True)
def mod_day(seconds: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``np.mod(seconds + offset, 86400)`` in one pass (``offset``: one value for all, or
    one per second): ``x - floor(x / 86400) * 86400`` is exact; where the quotient rounds up
    to the next whole day the result is a hair below 0 and is put back, as numpy does."""
    out = np.empty(seconds.size)
    one = offset.size == 1
    for i in range(seconds.size):
        rest = seconds[i] + (offset[0] if one else offset[i])
        rest = rest - np.floor(rest / 86400.0) * 86400.0
        out[i] = rest + 86400.0 if rest < 0.0 else rest
    return out


@njit(cache=True, nogil=True)
def run_lengths(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of True in ``mask``: (starts, ends), end exclusive."""
    n = mask.size
    starts = np.empty(n // 2 + 1, _INT)
    ends = np.empty(n // 2 + 1, _INT)
    k = 0
    i = 0
    while i < n:
        if mask[i]:
            j = i + 1
            while j < n and mask[j]:
                j += 1
            starts[k] = i
            ends[k] = j
            k += 1
            i = j + 1  # mask[j] is False (or j == n)
        else:
            i += 1
    return starts[:k].copy(), ends[:k].copy()


@njit(cache=True, nogil=True)
def runs_at_least(
    mask: np.ndarray, t: np.ndarray, min_duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """True runs lasting ``t[end-1] - t[start] >= min_duration_s``: (starts, ends), end exclusive."""
    starts, ends = run_lengths(mask)
    keep = np.empty(starts.size, np.bool_)
    for r in range(starts.size):
        keep[r] = t[ends[r] - 1] - t[starts[r]] >= min_duration_s
    return starts[keep], ends[keep]


@njit(cache=True, nogil=True)
def split_on_gaps(t: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Start index of each piece of a track cut where ``t[i] - t[i-1] > max_gap_s``.

    The first start is 0; an empty track has no pieces (empty result).
    """
    n = t.size
    starts = np.empty(n, _INT)
    if n == 0:
        return starts
    starts[0] = 0
    k = 1
    for i in range(1, n):
        if t[i] - t[i - 1] > max_gap_s:
            starts[k] = i
            k += 1
    return starts[:k].copy()


# --- stay points ---------------------------------------------------------------------


@njit(cache=True, nogil=True)
def stay_points(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    radius_m: float,
    min_duration_s: float,
    max_gap_s: float,
    include_last: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Stays of one track (sorted by time): (starts, ends), int64 point indices, end inclusive.

    Mirrors trackintel ``generate_staypoints(method="sliding", dist_threshold=radius_m,
    time_threshold=min_duration_s / 60, gap_threshold=max_gap_s / 60,
    include_last=include_last)`` (trackintel 1.4, ``_generate_staypoints_sliding_user``):

    - the anchor is the first point of the current window; point ``i`` leaves the window
      when its distance to the anchor is ``>= radius_m``;
    - on leaving, the window ``anchor .. i-1`` is a stay when ``t[i] - t[anchor] >=
      min_duration_s`` (the departure time counts, as in trackintel's ``finished_at``);
      either way ``i`` becomes the new anchor;
    - a time step ``t[i] - t[i-1] > max_gap_s`` discards the open window and makes ``i``
      the anchor (a stay is never bridged over a gap, nor closed by one);
    - with ``include_last`` the open window at the end ``anchor .. n-1`` is a stay when
      ``t[n-1] - t[anchor] >= min_duration_s``.

    So the duration trackintel reports for stay ``k`` is
    ``t[min(ends[k] + 1, n - 1)] - t[starts[k]]``.

    Deliberate differences: distances are planar metres in the batch's UTM zone, not
    trackintel's haversine on a 6371 km sphere (the two differ by up to about 0.5 %: sphere
    against ellipsoid, and the UTM scale factor), so a point within 0.5 % of ``radius_m``
    from its anchor may be judged differently; and ``include_last`` defaults to True (a
    truck parked at the end of its day is a stay).
    """
    n = x.size
    starts = np.empty(n, _INT)
    ends = np.empty(n, _INT)
    k = 0
    if n == 0:
        return starts, ends
    anchor = 0
    for i in range(1, n):
        if t[i] - t[i - 1] > max_gap_s:
            anchor = i
            continue
        dx = x[i] - x[anchor]
        dy = y[i] - y[anchor]
        if math.sqrt(dx * dx + dy * dy) >= radius_m:
            if t[i] - t[anchor] >= min_duration_s:
                starts[k] = anchor
                ends[k] = i - 1
                k += 1
            anchor = i
    if include_last and t[n - 1] - t[anchor] >= min_duration_s:
        starts[k] = anchor
        ends[k] = n - 1
        k += 1
    return starts[:k].copy(), ends[:k].copy()


# How many fixes in a row may lie off a stay's centre before they count as leaving it.
OUTLIER_RUN = 2


@njit(cache=True, nogil=True)
def stay_points_centred(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    radius_m: float,
    min_duration_s: float,
    max_gap_s: float,
    include_last: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Stays robust to GPS noise: (starts, ends), int64 point indices, end inclusive.

    Like ``stay_points`` but measured from the stay's centre, as DESIGN.md §3 words it
    ("within a 50 m radius"): a fix belongs to the open stay when it lies within
    ``radius_m`` of the mean of the stay's fixes so far. A fix outside is an outlier, kept
    in the stay but not in its mean, when one of the next ``OUTLIER_RUN`` fixes (without a
    gap) is back near the centre and outliers stay at most a quarter of the members, or
    ``OUTLIER_RUN`` while the stay is young (a quarter of three members is no outlier at
    all, and at σ 20 m two of a stop's first dozen fixes lie off its centre often enough
    to cut it in pieces); otherwise it is a departure. Anchored on the first fix instead, white noise of σ 20 m
    puts two fixes of one stop 50 m apart about one time in five and cuts stops into pieces.
    Durations, gaps and ``include_last`` follow ``stay_points``.
    """
    n = x.size
    starts = np.empty(n, _INT)
    ends = np.empty(n, _INT)
    k = 0
    if n == 0:
        return starts, ends
    anchor = 0
    sum_x, sum_y, count, outliers = x[0], y[0], 1, 0
    for i in range(1, n):
        if t[i] - t[i - 1] > max_gap_s:
            anchor = i
            sum_x, sum_y, count, outliers = x[i], y[i], 1, 0
            continue
        cx, cy = sum_x / count, sum_y / count
        if math.sqrt((x[i] - cx) ** 2 + (y[i] - cy) ** 2) < radius_m:
            sum_x += x[i]
            sum_y += y[i]
            count += 1
            continue
        returns = False
        if 4 * (outliers + 1) <= max(count, 4 * OUTLIER_RUN):
            for j in range(i + 1, min(i + 1 + OUTLIER_RUN, n)):
                if t[j] - t[j - 1] > max_gap_s:
                    break
                if math.sqrt((x[j] - cx) ** 2 + (y[j] - cy) ** 2) < radius_m:
                    returns = True
                    break
        if returns:
            outliers += 1
            continue
        if t[i] - t[anchor] >= min_duration_s:
            starts[k] = anchor
            ends[k] = i - 1
            k += 1
        anchor = i
        sum_x, sum_y, count, outliers = x[i], y[i], 1, 0
    if include_last and t[n - 1] - t[anchor] >= min_duration_s:
        starts[k] = anchor
        ends[k] = n - 1
        k += 1
    return starts[:k].copy(), ends[:k].copy()


@njit(cache=True, nogil=True)
def stay_points_by_group(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    group_starts: np.ndarray,
    radius_m: float,
    min_duration_s: float,
    max_gap_s: float,
    include_last: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``stay_points`` on each group (track) of a concatenated batch, indices into the batch.

    Group ``g`` is ``group_starts[g] : group_starts[g+1]`` (the last runs to the end);
    ``group_starts`` is ascending and starts at 0 when the batch is not empty.
    """
    n = x.size
    all_starts = np.empty(n, _INT)
    all_ends = np.empty(n, _INT)
    k = 0
    for g in range(group_starts.size):
        lo = group_starts[g]
        hi = group_starts[g + 1] if g + 1 < group_starts.size else n
        s, e = stay_points(
            x[lo:hi], y[lo:hi], t[lo:hi], radius_m, min_duration_s, max_gap_s, include_last
        )
        for j in range(s.size):
            all_starts[k] = s[j] + lo
            all_ends[k] = e[j] + lo
            k += 1
    return all_starts[:k].copy(), all_ends[:k].copy()


@njit(cache=True, nogil=True)
def stay_verdicts(
    starts: np.ndarray,
    ends: np.ndarray,
    authorised: np.ndarray,
    reported: np.ndarray,
    speed_kmh: np.ndarray,
    still_kmh: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per stay ``starts[k]..ends[k]`` (end inclusive): (inside: at least half of its fixes
    are ``authorised``, always moving: every fix has a ``reported`` speed above
    ``still_kmh``)."""
    inside = np.empty(starts.size, np.bool_)
    always_moving = np.empty(starts.size, np.bool_)
    for k in range(starts.size):
        n = ends[k] + 1 - starts[k]
        authorised_fixes = moving_fixes = 0
        for i in range(starts[k], ends[k] + 1):
            authorised_fixes += authorised[i]
            moving_fixes += reported[i] and speed_kmh[i] > still_kmh
        inside[k] = 2 * authorised_fixes >= n
        always_moving[k] = moving_fixes == n
    return inside, always_moving


# --- numpy's sums, bit for bit -------------------------------------------------------

_PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE


@njit(cache=True, nogil=True)
def pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo : lo + n].sum()`` to the last bit: numpy's pairwise summation of float64 (a
    run of at most 128 summed in eight interleaved accumulators, a longer one split in two
    halves summed apart), so that a mean computed here is ``ndarray.mean``'s."""
    if n < 8:
        total = 0.0
        for i in range(lo, lo + n):
            total += a[i]
        return total
    if n <= _PAIRWISE_BLOCK:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = lo + 8
        whole = lo + n - n % 8
        while i < whole:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in range(i, lo + n):
            total += a[j]
        return total
    half = n // 2
    half -= half % 8
    return pairwise_sum(a, lo, half) + pairwise_sum(a, lo + half, n - half)


@njit(cache=True, nogil=True)
def stay_centres(
    x: np.ndarray, y: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean position of each stay's fixes ``starts[k]..ends[k]`` (end inclusive), equal to
    ``x[s : e + 1].mean()`` to the last bit (``pairwise_sum``)."""
    cx = np.empty(starts.size)
    cy = np.empty(starts.size)
    for k in range(starts.size):
        n = ends[k] + 1 - starts[k]
        cx[k] = pairwise_sum(x, starts[k], n) / n
        cy[k] = pairwise_sum(y, starts[k], n) / n
    return cx, cy


# ``median_step`` counts whole-second steps up to this long one by one (longer ones together).
_COUNTED_STEP_S = 3600


@njit(cache=True, nogil=True)
def _rank_of_counts(counts: np.ndarray, rank: int) -> int:
    """The value at ``rank`` in sorted order of the values counted in ``counts``."""
    seen = 0
    for value in range(counts.size):
        seen += counts[value]
        if seen > rank:
            return value
    return counts.size


@njit(cache=True, nogil=True)
def median_step(t: np.ndarray) -> tuple[float, bool]:
    """``np.median(np.diff(t))`` for at least two times, to the last bit, with no selection:
    (median, True) where every step is a whole number of seconds (terminals report whole
    seconds) and the middle ones are at most ``_COUNTED_STEP_S`` (read from a count of each),
    or else where both middle steps in sorted order are the track's middle step (a steady
    sampling interval: one counting pass); (NaN, False) otherwise, and at a NaN step."""
    n = t.size - 1
    counts = np.zeros(_COUNTED_STEP_S + 2, _INT)  # the last: every longer step
    for i in range(1, t.size):
        step = t[i] - t[i - 1]
        if not (step >= 0.0 and step == np.floor(step)):
            break
        counts[int(min(step, _COUNTED_STEP_S + 1.0))] += 1
    else:
        low = _rank_of_counts(counts, (n - 1) // 2)
        high = _rank_of_counts(counts, n // 2)
        if high <= _COUNTED_STEP_S:
            return (0.0 + low if n % 2 else (0.0 + low + high) / 2), True
    guess = t[n // 2 + 1] - t[n // 2]
    less = equal = more = 0
    for i in range(1, t.size):
        step = t[i] - t[i - 1]
        if step < guess:
            less += 1
        elif step == guess:
            equal += 1
        elif step > guess:
            more += 1
    if less + equal + more < n or not (less <= (n - 1) // 2 and n // 2 < less + equal):
        return math.nan, False  # a NaN step, or the guess is not the median
    return (0.0 + guess if n % 2 else (0.0 + guess + guess) / 2), True


# The median of a track's stay scatter is found in a histogram of this many bins over the
# range of the squared distances (dx² + dy², five times cheaper than hypot and in the same
# order but for ulps); hypot, exact to the last bit, is taken only in the bins around the
# middle.
_SCATTER_BINS = 1024
# dx² + dy² and hypot(dx, dy)² agree within a few ulps while dx² and dy² neither overflow
# nor underflow, i.e. max(|dx|, |dy|) within these bounds (or both 0).
_SQUARE_SAFE = (1e-100, 1e100)
# A bin must be far wider than those ulps: the range of the squares at least this fraction
# of the largest one, else every distance is taken with hypot.
_MIN_RELATIVE_RANGE = 1e-6


@njit(cache=True, nogil=True)
def median(values: np.ndarray) -> float:
    """``np.median(values)`` to the last bit: the middle value, or the two middle ones
    summed from 0.0 and halved (numpy's mean of them); NaN when empty or any is NaN."""
    n = values.size
    for v in values:
        if math.isnan(v):
            return math.nan
    if n == 0:
        return math.nan
    half = n // 2
    part = np.partition(values, half)
    if n % 2:
        return 0.0 + part[half]
    return (0.0 + part[:half].max() + part[half]) / 2


@njit(cache=True, nogil=True, inline="always")
def _scatter_bin(square: float, low: float, per_unit: float) -> int:
    return min(int((square - low) * per_unit), _SCATTER_BINS - 1)


@njit(cache=True, nogil=True, inline="always")
def _scattered_fixes(starts: np.ndarray, ends: np.ndarray) -> int:
    """The fixes of the stays of more than one fix: those ``stay_scatter`` measures."""
    count = 0
    for k in range(starts.size):
        if ends[k] > starts[k]:
            count += ends[k] + 1 - starts[k]
    return count


# Where a distance's square is this close to the limit's (relative), the distance itself is
# compared; farther off, the squares' few roundings (~1e-15) cannot turn the verdict.
_SQUARE_MARGIN = 1e-9


@njit(cache=True, nogil=True)
def scatter_at_most(
    x: np.ndarray,
    y: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    limit: float,
) -> bool:
    """Whether more than half of ``stay_scatter``'s distances (each as it measures them) are
    at most ``limit``: then so is their median, ``stay_scatter``'s first value (the middle
    one, or the mean of the two middle ones). Stops as soon as that many are counted; False
    for no distance. Squares decide where they are clearly on one side of the limit's
    (``_SQUARE_MARGIN``, coordinate differences ``_SQUARE_SAFE``), the distance elsewhere."""
    needed = _scattered_fixes(starts, ends) // 2 + 1
    within = 0
    low2 = limit * limit * (1.0 - _SQUARE_MARGIN)
    high2 = limit * limit * (1.0 + _SQUARE_MARGIN)
    squares_fit = limit == 0.0 or _SQUARE_SAFE[0] <= limit <= _SQUARE_SAFE[1]
    for k in range(starts.size):
        n = ends[k] + 1 - starts[k]
        if n > 1:
            factor = n / (n - 1)
            scale = math.sqrt(factor)
            for i in range(starts[k], ends[k] + 1):
                dx, dy = x[i] - cx[k], y[i] - cy[k]
                m = max(abs(dx), abs(dy))
                if squares_fit and (m == 0.0 or _SQUARE_SAFE[0] <= m <= _SQUARE_SAFE[1]):
                    q = (dx * dx + dy * dy) * factor
                    if q < low2:
                        near = True
                    elif q > high2:
                        near = False
                    else:
                        near = math.hypot(dx, dy) * scale <= limit
                else:
                    near = math.hypot(dx, dy) * scale <= limit
                if near:
                    within += 1
                    if within >= needed:
                        return True
    return False


@njit(cache=True, nogil=True)
def stay_scatter(
    x: np.ndarray,
    y: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
) -> tuple[float, int]:
    """(median, count) of the distances of the stays' fixes from their stay's centre
    (``cx``, ``cy``), each times √(n/(n-1)) for a stay of n fixes (stays of one fix left
    out): ``np.median`` of ``np.hypot(x - cx, y - cy) * np.sqrt(n / (n - 1))`` over all
    the stays, to the last bit.

    The middle ranks are found on the squares (dx² + dy²) n/(n-1) in ``_SCATTER_BINS``
    bins: the fixes of the bins holding them and of one bin either side are measured again
    with hypot and sorted. A square in a lower bin is more than a bin below the middle
    one, so its exact distance is below every candidate's (and likewise above). Where the
    bins are too narrow for that, or a coordinate difference is not ``_SQUARE_SAFE``,
    every distance is taken with hypot."""
    count = _scattered_fixes(starts, ends)
    if count == 0:
        return math.nan, 0
    squares = np.empty(count)
    low, high, safe = math.inf, -math.inf, True
    j = 0
    for k in range(starts.size):
        n = ends[k] + 1 - starts[k]
        if n > 1:
            factor = n / (n - 1)
            for i in range(starts[k], ends[k] + 1):
                dx, dy = x[i] - cx[k], y[i] - cy[k]
                m = max(abs(dx), abs(dy))
                if not (m == 0.0 or _SQUARE_SAFE[0] <= m <= _SQUARE_SAFE[1]):
                    safe = False
                q = (dx * dx + dy * dy) * factor
                squares[j] = q
                low, high = min(low, q), max(high, q)
                j += 1
    exact_all = not (safe and high > low and high - low >= _MIN_RELATIVE_RANGE * high)
    if exact_all:
        first, last, below, per_unit = 0, _SCATTER_BINS - 1, 0, 0.0
        size = count
    else:
        per_unit = _SCATTER_BINS / (high - low)
        counts = np.zeros(_SCATTER_BINS, _INT)
        for q in squares:
            counts[_scatter_bin(q, low, per_unit)] += 1
        rank_low, rank_high = (count - 1) // 2, count // 2  # one rank when count is odd
        bin_low = bin_high = -1
        seen = 0
        for b in range(_SCATTER_BINS):
            if bin_low < 0 and seen + counts[b] > rank_low:
                bin_low = b
            if seen + counts[b] > rank_high:
                bin_high = b
                break
            seen += counts[b]
        first, last = max(bin_low - 1, 0), min(bin_high + 1, _SCATTER_BINS - 1)
        below = counts[:first].sum()
        size = counts[first : last + 1].sum()
    middle = np.empty(size)
    j = m = 0
    for k in range(starts.size):
        n = ends[k] + 1 - starts[k]
        if n > 1:
            scale = math.sqrt(n / (n - 1))
            for i in range(starts[k], ends[k] + 1):
                if exact_all or first <= _scatter_bin(squares[j], low, per_unit) <= last:
                    middle[m] = math.hypot(x[i] - cx[k], y[i] - cy[k]) * scale
                    m += 1
                j += 1
    if exact_all:
        return median(middle), count
    middle.sort()
    rank_low, rank_high = (count - 1) // 2 - below, count // 2 - below
    if count % 2:
        return 0.0 + middle[rank_low], count
    return (0.0 + middle[rank_low] + middle[rank_high]) / 2, count
