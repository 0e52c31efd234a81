"""The Numba kernels: hand-computed cases, edge cases, and agreement with their plain-Python
twins (tests/tracking/twins.py), shapely and trackintel on hypothesis-generated inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdw.tracking import _kernels as K
from cdw.tracking.projection import TransverseMercator
from tests.tracking import twins

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
F = np.float64


def arr(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=F)


def ints(values: np.ndarray) -> list[int]:
    return [int(v) for v in values]


# Coordinates within a few km: integers hit ties and exact boundaries, floats the rest.
coord = st.one_of(st.integers(0, 3000).map(float), st.floats(0, 3000, allow_nan=False))
far_coord = st.one_of(st.integers(-1000, 4000).map(float), st.floats(-1000, 4000))


# --- step_metrics ---------------------------------------------------------------------


def test_step_metrics_hand_computed() -> None:
    dist, dt, speed = K.step_metrics(arr([0, 3, 3, 3]), arr([0, 4, 4, 10]), arr([0, 1, 1, 3]))
    assert dist.tolist() == [0.0, 5.0, 0.0, 6.0]
    assert dt.tolist() == [0.0, 1.0, 0.0, 2.0]
    assert speed.tolist() == [0.0, 5.0, 0.0, 3.0]


def test_step_metrics_reversed_time_has_zero_speed() -> None:
    dist, dt, speed = K.step_metrics(arr([0, 100, 200]), arr([0, 0, 0]), arr([0, 10, 5]))
    assert dt.tolist() == [0.0, 10.0, -5.0]
    assert speed.tolist() == [0.0, 10.0, 0.0]


@pytest.mark.parametrize("n", [0, 1])
def test_step_metrics_empty_and_single(n: int) -> None:
    out = K.step_metrics(np.ones(n), np.ones(n), np.ones(n))
    assert [a.tolist() for a in out] == [[0.0] * n] * 3


@PROPERTY
@given(st.lists(st.tuples(far_coord, far_coord, st.integers(0, 100).map(float)), max_size=40))
def test_step_metrics_matches_twin(rows: list[tuple[float, float, float]]) -> None:
    x, y, t = (arr([r[i] for r in rows]) for i in range(3))
    t = np.cumsum(t) - 50.0  # some steps of 0 s
    got = K.step_metrics(x, y, t)
    want = twins.step_metrics(x.tolist(), y.tolist(), t.tolist())
    for g, w in zip(got, want, strict=True):
        assert g.tolist() == w


# --- run_lengths, runs_at_least, split_on_gaps ------------------------------------------


def test_run_lengths_hand_computed() -> None:
    starts, ends = K.run_lengths(np.array([True, True, False, True, False, False, True]))
    assert (ints(starts), ints(ends)) == ([0, 3, 6], [2, 4, 7])


@pytest.mark.parametrize(
    ("mask", "expected"),
    [([], ([], [])), ([False, False], ([], [])), ([True, True, True], ([0], [3]))],
)
def test_run_lengths_edges(mask: list[bool], expected: tuple[list[int], list[int]]) -> None:
    starts, ends = K.run_lengths(np.array(mask, dtype=bool))
    assert (ints(starts), ints(ends)) == expected


def test_runs_at_least_threshold_is_inclusive() -> None:
    mask = np.array([True, True, True, False, True, True, False, True])
    t = arr([0, 10, 30, 40, 50, 79.5, 90, 100])
    starts, ends = K.runs_at_least(mask, t, 30.0)
    # Run 0-3 lasts exactly 30 s (kept); run 4-6 lasts 29.5 s (near miss); a lone point lasts 0 s.
    assert (ints(starts), ints(ends)) == ([0], [3])
    starts, ends = K.runs_at_least(mask, t, 0.0)
    assert (ints(starts), ints(ends)) == ([0, 4, 7], [3, 6, 8])


def test_split_on_gaps_gap_equal_to_limit_does_not_split() -> None:
    t = arr([0, 10, 310, 611, 612, 2000])
    assert ints(K.split_on_gaps(t, 300.0)) == [0, 3, 5]
    assert ints(K.split_on_gaps(arr([]), 300.0)) == []
    assert ints(K.split_on_gaps(arr([5]), 300.0)) == [0]


@PROPERTY
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=60), st.integers(0, 120))
def test_runs_and_gaps_match_twins(rows: list[tuple[bool, int]], limit: int) -> None:
    mask = np.array([r[0] for r in rows], dtype=bool)
    t = np.cumsum(arr([r[1] for r in rows]))
    assert tuple(map(ints, K.run_lengths(mask))) == twins.run_lengths(mask.tolist())
    assert tuple(map(ints, K.runs_at_least(mask, t, float(limit)))) == twins.runs_at_least(
        mask.tolist(), t.tolist(), limit
    )
    assert ints(K.split_on_gaps(t, float(limit))) == twins.split_on_gaps(t.tolist(), limit)


# --- stay_points --------------------------------------------------------------------------

# One fix a minute: driving, a stop of fixes 1-6 (200,0)…(212,0), driving on.
STOP_TRACK = [
    (0, 0),
    (200, 0),
    (210, 0),
    (205, 10),
    (215, -10),
    (210, 5),
    (212, 0),
    (400, 0),
    (600, 0),
]


def track(points: list[tuple[float, float]], step_s: float = 60.0):
    x = arr([p[0] for p in points])
    y = arr([p[1] for p in points])
    return x, y, np.arange(len(points), dtype=F) * step_s


def stays(x, y, t, radius=50.0, min_dur=300.0, gap=900.0, include_last=True):
    starts, ends = K.stay_points(x, y, t, radius, min_dur, gap, include_last)
    return list(zip(ints(starts), ints(ends), strict=True))


def test_stay_points_hand_computed() -> None:
    x, y, t = track(STOP_TRACK)
    # Fix 7 is the first 50 m or more from anchor 1; it departs at 420 s, 360 s after fix 1.
    assert stays(x, y, t) == [(1, 6)]
    assert stays(x, y, t, min_dur=360.0) == [(1, 6)]
    assert stays(x, y, t, min_dur=360.5) == []  # near miss
    assert stays(x, y, t, radius=10.0) == []  # jitter leaves a 10 m radius


def test_stay_points_distance_equal_to_radius_leaves() -> None:
    x, y, t = track([(0, 0), (30, 40), (60, 80), (60, 81)], step_s=400.0)
    # (30, 40) is exactly 50 m from (0, 0): it leaves, closing a 400 s stay of fix 0 alone.
    assert stays(x, y, t) == [(0, 0), (1, 1), (2, 3)]
    assert stays(x, y, t, radius=50.000001) == [(0, 1), (2, 3)]


def test_stay_points_gap_discards_open_window() -> None:
    x, y, t = track(STOP_TRACK)
    t[4:] += 1000.0  # a 1060 s gap before fix 4, longer than the 900 s limit
    # The gap cuts the 360 s stop into 120 s (fixes 1-3, discarded at the gap) and 180 s
    # (fixes 4-6 until fix 7 departs); neither lasts 300 s.
    assert stays(x, y, t) == []
    assert stays(x, y, t, min_dur=180.0) == [(4, 6)]
    assert stays(x, y, t, gap=1060.0) == [(1, 6)]  # a gap equal to the limit is no gap


def test_stay_points_last_window() -> None:
    x, y, t = track(STOP_TRACK[:7])  # the track ends during the stop
    assert stays(x, y, t) == [(1, 6)]  # 300 s from fix 1 to the last fix
    assert stays(x, y, t, include_last=False) == []
    assert stays(x, y, t, min_dur=301.0) == []


def test_stay_points_duplicate_timestamps() -> None:
    x, y, t = track(STOP_TRACK)
    x, y, t = np.insert(x, 3, 206.0), np.insert(y, 3, 3.0), np.insert(t, 3, t[3])
    assert stays(x, y, t) == [(1, 7)]


@pytest.mark.parametrize("n", [0, 1])
def test_stay_points_empty_and_single(n: int) -> None:
    x, y, t = np.zeros(n), np.zeros(n), np.zeros(n)
    assert stays(x, y, t) == []
    # A single fix lasts 0 s: a stay only when the minimum duration is 0, as in trackintel.
    assert stays(x, y, t, min_dur=0.0) == [(0, 0)] * n


def test_stay_points_by_group_keeps_vehicles_apart() -> None:
    x, y, t = track([(0, 0)] * 6 + [(10, 0)] * 6)
    t[6:] -= 300.0  # second vehicle's clock overlaps the first
    starts, ends = K.stay_points_by_group(x, y, t, np.array([0, 6]), 50.0, 300.0, 900.0, True)
    assert list(zip(ints(starts), ints(ends), strict=True)) == [(0, 5), (6, 11)]
    assert stays(x, y, t, gap=1e9) == [(0, 11)]  # as one track, one stay


# A step: jitter in place or a move, and a time step (0 s duplicates, up to long gaps).
track_step = st.tuples(
    st.one_of(st.floats(-30, 30), st.floats(-300, 300)),
    st.one_of(st.floats(-30, 30), st.floats(-300, 300)),
    st.one_of(st.just(0.0), st.integers(1, 120).map(float), st.integers(200, 1500).map(float)),
)
stay_params = st.tuples(
    st.sampled_from([25.0, 50.0, 100.0]),
    st.sampled_from([0.0, 60.0, 300.0, 600.0]),
    st.sampled_from([300.0, 900.0]),
    st.booleans(),
)


def random_track(steps: list[tuple[float, float, float]]) -> tuple[np.ndarray, ...]:
    x = np.cumsum(arr([s[0] for s in steps]))
    y = np.cumsum(arr([s[1] for s in steps]))
    t = 1.7e9 + np.cumsum(arr([s[2] for s in steps]))
    return x, y, t


@PROPERTY
@given(st.lists(track_step, max_size=80), stay_params)
def test_stay_points_matches_twin(steps, params) -> None:
    x, y, t = random_track(steps)
    got = K.stay_points(x, y, t, *params)
    want = twins.stay_points(x.tolist(), y.tolist(), t.tolist(), *params)
    assert tuple(map(ints, got)) == want


@PROPERTY
@given(
    st.lists(track_step, max_size=80),
    st.lists(st.integers(0, 80), max_size=5),
    stay_params,
)
def test_stay_points_by_group_matches_twin(steps, cuts, params) -> None:
    x, y, t = random_track(steps)
    group_starts = sorted({0, *(c for c in cuts if c < x.size)}) if x.size else []
    got = K.stay_points_by_group(x, y, t, np.array(group_starts, dtype=np.int64), *params)
    want = twins.stay_points_by_group(x.tolist(), y.tolist(), t.tolist(), group_starts, *params)
    assert tuple(map(ints, got)) == want


# --- stay_points_centred -----------------------------------------------------------------


def centred(x, y, t, radius=50.0, min_dur=300.0, gap=900.0, include_last=True):
    starts, ends = K.stay_points_centred(arr(x), arr(y), arr(t), radius, min_dur, gap, include_last)
    return list(zip(ints(starts), ints(ends), strict=True))


def test_centred_stay_keeps_fixes_far_from_the_first_but_near_the_centre() -> None:
    # The first fix lies 25 m west of the others; the 45 m fixes are 70 m from it.
    x = [-25.0] + [20.0, 45.0, 10.0, 40.0, 15.0, 35.0, 20.0, 30.0, 25.0, 30.0] * 2 + [500.0, 600.0]
    y, t = [0.0] * 23, [60.0 * i for i in range(23)]
    assert centred(x, y, t) == [(0, 20)]
    assert stays(arr(x), arr(y), arr(t)) == [
        (2, 20)
    ]  # anchored on the first fix, the stay starts late


def test_centred_outliers_up_to_the_run_stay_in_and_a_longer_run_leaves() -> None:
    assert K.OUTLIER_RUN == 2
    t, y = [60.0 * i for i in range(17)], [0.0] * 17
    one = [0.0] * 9 + [80.0] + [0.0] * 5 + [500.0, 600.0]
    assert centred(one, y, t) == [(0, 14)]
    two = [0.0] * 9 + [80.0, 90.0] + [0.0] * 4 + [500.0, 600.0]
    assert centred(two, y, t) == [(0, 14)]
    three = [0.0] * 9 + [80.0, 90.0, 80.0] + [0.0] * 3 + [500.0, 600.0]
    assert centred(three, y, t) == [(0, 8)]


def test_centred_outliers_are_at_most_a_quarter_of_the_members() -> None:
    # A fix 80 m off after only two members is an outlier: a young stay may have
    # OUTLIER_RUN of them.
    t = [60.0 * i for i in range(14)]
    x = [0.0, 0.0, 80.0] + [0.0] * 7
    assert centred(x, [0.0] * 10, t[:10]) == [(0, 9)]
    # A third one with five members (a quarter: 1.25) is a departure.
    x = [0.0, 0.0, 0.0, 80.0, 0.0, 80.0, 0.0, 80.0] + [0.0] * 6
    assert centred(x, [0.0] * 14, t) == [(0, 6), (8, 13)]


def test_centred_outlier_before_a_gap_is_a_departure() -> None:
    x = [0.0] * 6 + [80.0, 0.0]
    t = [60.0 * i for i in range(7)] + [60.0 * 6 + 2000.0]
    # The fix back at the centre comes after a gap, so the outlier is a departure.
    assert centred(x, [0.0] * 8, t) == [(0, 5)]


@pytest.mark.parametrize("n", [0, 1])
def test_centred_empty_and_single(n: int) -> None:
    assert centred([0.0] * n, [0.0] * n, [0.0] * n, min_dur=0.0) == ([(0, 0)] if n else [])


@PROPERTY
@given(st.lists(track_step, max_size=80), stay_params)
def test_stay_points_centred_matches_twin(steps, params) -> None:
    x, y, t = random_track(steps)
    got = K.stay_points_centred(x, y, t, *params)
    want = twins.stay_points_centred(x.tolist(), y.tolist(), t.tolist(), *params)
    assert tuple(map(ints, got)) == want


# --- stay_points against trackintel itself ----------------------------------------------

GZ_LON, GZ_LAT = 113.3, 23.1
M_PER_DEG_LAT = 110_700.0
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(GZ_LAT))


def trackintel_stays(lon, lat, t, radius, min_dur, gap, include_last) -> list[tuple[int, int]]:
    """(first, last) fix of each stay found by trackintel's sliding method."""
    ti = pytest.importorskip("trackintel", reason="trackintel (bench extra) not installed")
    import geopandas as gpd
    import pandas as pd

    frame = gpd.GeoDataFrame(
        {"user_id": 0, "tracked_at": pd.to_datetime(t, unit="s", utc=True)},
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pfs, _ = ti.Positionfixes(frame).generate_staypoints(
            method="sliding",
            dist_threshold=radius,
            time_threshold=min_dur / 60.0,
            gap_threshold=gap / 60.0,
            include_last=include_last,
            exclude_duplicate_pfs=False,
        )
    sp_id = pfs["staypoint_id"].to_numpy(dtype=float, na_value=np.nan)
    return [
        (int(np.flatnonzero(sp_id == k).min()), int(np.flatnonzero(sp_id == k).max()))
        for k in np.unique(sp_id[~np.isnan(sp_id)])
    ]


def haversine(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    from trackintel.geogr import point_haversine_dist

    return point_haversine_dist(lon0, lat0, lon1, lat1, float_flag=True)


@settings(max_examples=25, deadline=None)
@given(st.lists(track_step, min_size=1, max_size=60), stay_params)
def test_stay_rule_is_trackintels(steps, params) -> None:
    """The twin's rule with trackintel's own haversine gives trackintel's stays exactly."""
    x, y, t = random_track(steps)
    lon, lat = GZ_LON + x / M_PER_DEG_LON, GZ_LAT + y / M_PER_DEG_LAT
    want = trackintel_stays(lon, lat, t, *params)
    got = twins.stay_points(lon.tolist(), lat.tolist(), t.tolist(), *params, distance=haversine)
    assert list(zip(*got, strict=True)) == want


# Stops: fixes within 0.3 radius of a centre; moves: steps of at least 2 radii. No distance
# is then near the radius, so planar UTM metres and haversine metres must agree.
stop_or_move = st.tuples(
    st.booleans(),
    st.integers(1, 12),
    st.floats(0, 2 * math.pi),
    st.sampled_from([10.0, 30.0, 60.0, 400.0, 1000.0]),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(stop_or_move, min_size=1, max_size=8), st.integers(0, 2**32 - 1), stay_params)
def test_stay_points_match_trackintel_on_clear_tracks(legs, seed, params) -> None:
    from cdw.tracking.projection import Projector

    radius = params[0]
    rng = np.random.default_rng(seed)
    xs, ys, dts = [], [], []
    here = np.zeros(2)
    for is_stop, count, heading, dt in legs:
        if is_stop:
            # Move clear of the last fix (with its jitter), then jitter about a new centre.
            here = here + 3 * radius * np.array([math.cos(heading), math.sin(heading)])
            for _ in range(count):
                r, a = rng.uniform(0, 0.15 * radius), rng.uniform(0, 2 * math.pi)
                xs.append(here[0] + r * math.cos(a))
                ys.append(here[1] + r * math.sin(a))
                dts.append(dt)
        else:
            for _ in range(count):
                step = rng.uniform(2.5, 5) * radius
                here = here + step * np.array([math.cos(heading), math.sin(heading)])
                xs.append(here[0])
                ys.append(here[1])
                dts.append(dt)
    lon = GZ_LON + arr(xs) / M_PER_DEG_LON
    lat = GZ_LAT + arr(ys) / M_PER_DEG_LAT
    t = 1.7e9 + np.cumsum(arr(dts))
    px, py = Projector.for_points(lon, lat).forward(lon, lat)
    got = K.stay_points(px, py, t, *params)
    assert list(zip(*map(ints, got), strict=True)) == trackintel_stays(lon, lat, t, *params)


# --- segment index and distance -----------------------------------------------------------


def test_build_segment_index_hand_computed() -> None:
    ox, oy, n_cols, n_rows, cell_start, cell_items = K.build_segment_index(
        arr([0, 5]), arr([0, 15]), arr([25, 5]), arr([0, 35]), 10.0
    )
    assert (ox, oy, n_cols, n_rows) == (0.0, 0.0, 3, 4)
    # Segment 0 lies along row 0 (cells 0-2); segment 1 up column 0 (cells 3, 6, 9).
    assert ints(cell_start) == [0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]
    assert ints(cell_items) == [0, 0, 0, 1, 1, 1]


def test_build_segment_index_empty() -> None:
    out = K.build_segment_index(arr([]), arr([]), arr([]), arr([]), 10.0)
    assert out[:4] == (0.0, 0.0, 0, 0)
    assert ints(out[4]) == [0] and out[5].size == 0


# Segment 0 from (0,0) to (100,0); segment 1 of zero length at (200,0).
SEGS = (arr([0, 200]), arr([0, 0]), arr([100, 200]), arr([0, 0]))


def nearest(px: list[float], py: list[float], max_dist: float = math.inf, cell: float = 50.0):
    index = K.build_segment_index(*SEGS, cell)
    dist, seg = K.distance_to_segments(
        arr(px), arr(py), *SEGS, *index[:2], cell, *index[2:], max_dist
    )
    return dist.tolist(), ints(seg)


def test_distance_to_segments_hand_computed() -> None:
    dist, seg = nearest([50, -30, 200, 150, 5000, math.nan], [30, 40, 7, 0, 5000, 0])
    # Foot of the perpendicular, beyond an end, a zero-length segment, a tie (lowest index
    # wins), a point far outside the grid, NaN.
    assert dist == [30.0, 50.0, 7.0, 50.0, math.hypot(4800, 5000), math.inf]
    assert seg == [0, 0, 1, 0, 1, -1]


def test_distance_to_segments_max_dist_is_inclusive() -> None:
    assert nearest([-30], [40], max_dist=50.0) == ([50.0], [0])
    assert nearest([-30], [40], max_dist=49.999) == ([math.inf], [-1])
    assert nearest([5000], [5000], max_dist=1000.0) == ([math.inf], [-1])


def test_distance_to_segments_no_segments_or_points() -> None:
    empty = arr([])
    index = K.build_segment_index(empty, empty, empty, empty, 10.0)
    dist, seg = K.distance_to_segments(
        arr([1]), arr([1]), empty, empty, empty, empty, *index[:2], 10.0, *index[2:], math.inf
    )
    assert (dist.tolist(), ints(seg)) == ([math.inf], [-1])
    assert nearest([], []) == ([], [])


# Offsets at micrometre resolution: GEOS mis-measures segments shorter than ~1e-150 m.
offset = st.one_of(
    st.integers(-400, 400).map(float), st.floats(-400, 400).map(lambda v: round(v, 6))
)
# Route-like segments up to a few hundred metres: any direction, axis-parallel, zero length.
segment = st.one_of(
    st.tuples(coord, coord, offset, offset),
    st.tuples(coord, coord, st.just(0.0), offset),
    st.tuples(coord, coord, offset, st.just(0.0)),
    st.tuples(coord, coord, st.just(0.0), st.just(0.0)),
).map(lambda s: (s[0], s[1], s[0] + s[2], s[1] + s[3]))


@PROPERTY
@given(
    st.lists(segment, max_size=30),
    st.lists(st.tuples(far_coord, far_coord), max_size=30),
    st.sampled_from([20.0, 50.0, 137.5, 500.0, 5000.0]),
    st.sampled_from([math.inf, 0.0, 10.0, 50.0, 300.0]),
)
def test_distance_to_segments_matches_twin_and_shapely(segs, points, cell, max_dist) -> None:
    x0, y0, x1, y1 = (arr([s[i] for s in segs]) for i in range(4))
    px, py = arr([p[0] for p in points]), arr([p[1] for p in points])

    index = K.build_segment_index(x0, y0, x1, y1, cell)
    ox, oy, n_cols, n_rows, cell_start, cell_items = index
    decoded = [ints(cell_items[cell_start[c] : cell_start[c + 1]]) for c in range(n_cols * n_rows)]
    assert (ox, oy, n_cols, n_rows, decoded) == twins.build_segment_index(
        x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), cell
    )

    dist, seg = K.distance_to_segments(
        px, py, x0, y0, x1, y1, ox, oy, cell, n_cols, n_rows, cell_start, cell_items, max_dist
    )
    want_dist, want_seg = twins.distance_to_segments(
        px.tolist(), py.tolist(), x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), max_dist
    )
    assert dist.tolist() == want_dist
    assert ints(seg) == want_seg

    if segs and points:
        lines = shapely.linestrings(np.stack([np.c_[x0, y0], np.c_[x1, y1]], axis=1))
        exact = shapely.distance(shapely.points(px, py)[:, None], lines[None, :]).min(axis=1)
        within = exact <= max_dist - 1e-6
        assert dist[within] == pytest.approx(exact[within], rel=1e-9, abs=1e-7)
        assert np.isinf(dist[exact > max_dist + 1e-6]).all()


def within(px: list[float], py: list[float], max_dist: float, cell: float = 50.0) -> list[bool]:
    """``within_distance`` over SEGS with a grid of the boxes grown by ``max_dist``."""
    x0, y0, x1, y1 = SEGS
    grown = (
        np.minimum(x0, x1) - max_dist,
        np.minimum(y0, y1) - max_dist,
        np.maximum(x0, x1) + max_dist,
        np.maximum(y0, y1) + max_dist,
    )
    ox, oy, n_cols, n_rows, cell_start, cell_items = K.build_segment_index(*grown, cell)
    grid = (ox, oy, cell, n_cols, n_rows, cell_start, cell_items)
    raster = K.build_corridor_raster(*SEGS, *grid, max_dist, 4)
    return K.within_distance(arr(px), arr(py), *SEGS, *grid, *raster, 4, max_dist).tolist()


def test_within_distance_hand_computed() -> None:
    px = [50, -30, 200, 150, 5000, math.nan, 100]
    py = [30, 40, 7, 0, 5000, 0, 50.5]
    assert within(px, py, 50.0) == [True, True, True, True, False, False, False]
    # Exactly 50 m away is within 50 m, not within 49.999 m.
    assert within(px, py, 49.999) == [True, False, True, False, False, False, False]
    assert within(px, py, 0.0) == [False] * 7
    assert within([0, 100], [0, 0], 0.0) == [True, True]


def test_corridor_raster_hand_computed() -> None:
    # Segment (0,0)-(100,0), corridor 10 m; grown box (-10,-10)-(110,10) in 40 m cells
    # (4 x 1), 8 x 8 sub-cells of 5 m (half-diagonal 3.54 m).
    seg = (arr([0]), arr([0]), arr([100]), arr([0]))
    ox, oy, n_cols, n_rows, cell_start, cell_items = K.build_segment_index(
        arr([-10]), arr([-10]), arr([110]), arr([10]), 40.0
    )
    assert (n_cols, n_rows) == (4, 1)
    block_of, states = K.build_corridor_raster(
        *seg, ox, oy, 40.0, n_cols, n_rows, cell_start, cell_items, 10.0, 8
    )
    assert ints(block_of) == [0, 1, 2, 3]
    I, O, M = K.RASTER_INSIDE, K.RASTER_OUTSIDE, K.RASTER_MIXED  # noqa: E741
    # Cell 1, sub-column 3 (x = 47.5), rows at y = -7.5, -2.5, …, 27.5.
    column = [int(states[(1 * 8 + a) * 8 + 3]) for a in range(8)]
    assert column == [M, I, I, M, M, O, O, O]


@PROPERTY
@given(
    st.lists(segment, max_size=20),
    st.sampled_from([20.0, 137.5, 500.0]),
    st.sampled_from([0.0, 10.0, 50.0, 300.0]),
    st.integers(1, 6),
)
def test_corridor_raster_matches_twin(segs, cell, max_dist, fine) -> None:
    x0, y0, x1, y1 = (arr([s[i] for s in segs]) for i in range(4))
    grown = (
        np.minimum(x0, x1) - max_dist,
        np.minimum(y0, y1) - max_dist,
        np.maximum(x0, x1) + max_dist,
        np.maximum(y0, y1) + max_dist,
    )
    ox, oy, n_cols, n_rows, cell_start, cell_items = K.build_segment_index(*grown, cell)
    grid = (ox, oy, cell, n_cols, n_rows, cell_start, cell_items)
    block_of, states = K.build_corridor_raster(x0, y0, x1, y1, *grid, max_dist, fine)
    lists = [ints(cell_items[cell_start[c] : cell_start[c + 1]]) for c in range(n_cols * n_rows)]
    want_block_of, want_states = twins.corridor_raster(
        x0.tolist(),
        y0.tolist(),
        x1.tolist(),
        y1.tolist(),
        ox,
        oy,
        cell,
        n_cols,
        lists,
        max_dist,
        fine,
    )
    assert ints(block_of) == want_block_of
    assert states.tolist() == want_states


@PROPERTY
@given(
    st.lists(segment, max_size=30),
    st.lists(st.tuples(far_coord, far_coord), max_size=30),
    st.sampled_from([None, 20.0, 137.5, 5000.0]),
    st.sampled_from([math.inf, 0.0, 10.0, 50.0, 300.0]),
    st.lists(st.tuples(st.integers(0, 29), st.floats(0, 1), st.floats(-1.5, 1.5)), max_size=30),
)
def test_within_distance_matches_twin_and_distance(segs, points, cell, max_dist, near_edge) -> None:
    """Random points, and points about max_dist from a segment, where the raster's
    certain verdicts would go wrong first."""
    from cdw.tracking.geometry import SegmentIndex

    x0, y0, x1, y1 = (arr([s[i] for s in segs]) for i in range(4))
    px, py = [p[0] for p in points], [p[1] for p in points]
    for k, u, offset in near_edge:
        if segs and math.isfinite(max_dist):
            s = segs[k % len(segs)]
            length = math.hypot(s[2] - s[0], s[3] - s[1]) or 1.0
            normal = ((s[1] - s[3]) / length, (s[2] - s[0]) / length)
            along = (s[0] + u * (s[2] - s[0]), s[1] + u * (s[3] - s[1]))
            px.append(along[0] + offset * max_dist * normal[0])
            py.append(along[1] + offset * max_dist * normal[1])
    px, py = arr(px), arr(py)
    index = SegmentIndex([shapely.LineString([s[:2], s[2:]]) for s in segs], cell_size=cell)
    got = index.within(px, py, max_dist)
    assert got.tolist() == twins.within_distance(
        px.tolist(), py.tolist(), x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), max_dist
    )
    # The distance kernel divides, this one does not: a distance equal to max_dist up to
    # rounding may go either way.
    exact, _ = index.distance(px, py)
    with np.errstate(invalid="ignore"):  # inf - inf where there are no segments
        clear = np.abs(exact - max_dist) > 1e-9 * max(1.0, max_dist)
    near = index.distance(px, py, max_dist)[1] >= 0
    assert got[clear].tolist() == near[clear].tolist()


# --- points in polygons ----------------------------------------------------------------------


def polygon_arrays(polygons: list[list[list[tuple[float, float]]]]):
    """Flatten ``polygons[p][ring][vertex]`` into the kernel's ring and polygon arrays."""
    ring_x, ring_y, ring_start, poly_ring_start, bbox = [], [], [0], [0], []
    for rings in polygons:
        for ring in rings:
            ring_x += [v[0] for v in ring]
            ring_y += [v[1] for v in ring]
            ring_start.append(len(ring_x))
        poly_ring_start.append(len(ring_start) - 1)
        xs = [v[0] for ring in rings for v in ring]
        ys = [v[1] for ring in rings for v in ring]
        bbox.append((min(xs), min(ys), max(xs), max(ys)))
    return (
        arr(ring_x),
        arr(ring_y),
        np.array(ring_start, dtype=np.int64),
        np.array(poly_ring_start, dtype=np.int64),
        arr(bbox).reshape(-1, 4),
    )


def square(x0: float, y0: float, x1: float, y1: float, closed: bool = True):
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return ring + [ring[0]] if closed else ring


def locate(polygons, points: list[tuple[float, float]]) -> list[int]:
    px, py = arr([p[0] for p in points]), arr([p[1] for p in points])
    return ints(K.points_in_polygons(px, py, *polygon_arrays(polygons)))


def test_points_in_polygons_hand_computed() -> None:
    with_hole = [square(0, 0, 10, 10), square(4, 4, 6, 6)]
    overlapping = [square(8, 0, 20, 10, closed=False)]
    points = [(2, 2), (5, 5), (9, 5), (15, 5), (25, 5), (math.nan, 5)]
    # Inside, in the hole, in both (first wins), in the second only, outside, NaN.
    assert locate([with_hole, overlapping], points) == [0, -1, 0, 1, -1, -1]


def test_points_in_polygons_boundary_rule() -> None:
    sq = [[square(0, 0, 10, 10)], [square(0, 0, 10, 10, closed=False)]]
    on_edges = [(0, 5), (5, 0), (10, 5), (5, 10), (0, 0), (10, 0), (10, 10), (0, 10)]
    # Left and bottom edges inside, right and top outside; of the corners only (0, 0).
    expected = [0, 0, -1, -1, 0, -1, -1, -1]
    assert locate(sq[:1], on_edges) == expected
    assert locate(sq[1:], on_edges) == expected  # an unclosed ring is implicitly closed
    holed = [[square(0, 0, 10, 10), square(4, 4, 6, 6)]]
    # A hole's left edge has the polygon to its left (outside), its right edge inside.
    assert locate(holed, [(4, 5), (6, 5), (5, 4), (5, 6)]) == [-1, 0, -1, 0]


def test_points_in_polygons_empty() -> None:
    assert locate([], [(1, 1)]) == [-1]
    assert locate([[square(0, 0, 1, 1)]], []) == []


def star(cx: float, cy: float, radii: list[float], scale: float = 1.0, turn: float = 0.0):
    k = len(radii)
    return [
        (
            cx + scale * r * math.cos(turn + 2 * math.pi * i / k),
            cy + scale * r * math.sin(turn + 2 * math.pi * i / k),
        )
        for i, r in enumerate(radii)
    ]


# A star-shaped polygon about a centre, sometimes with a star-shaped hole well inside it.
polygon = st.tuples(
    coord,
    coord,
    st.lists(st.floats(50, 500), min_size=3, max_size=12),
    st.booleans(),
    st.floats(0, 1),
).map(
    lambda p: (
        [star(p[0], p[1], p[2])]
        + ([star(p[0], p[1], [min(p[2])] * 5, scale=0.3, turn=p[4])] if p[3] else [])
    )
)


# Arbitrary rings of integer vertices (self-crossing, horizontal edges, repeated
# vertices) and integer points: the even-odd rule must agree with the twin on every point,
# on edges and vertices too.
grid_ring = st.lists(
    st.tuples(st.integers(0, 40).map(float), st.integers(0, 40).map(float)), min_size=3, max_size=40
)


@PROPERTY
@given(
    st.lists(st.lists(grid_ring, min_size=1, max_size=3), max_size=5),
    st.lists(
        st.tuples(st.integers(-2, 42).map(float), st.integers(-2, 42).map(float)), max_size=60
    ),
)
def test_points_in_polygons_matches_twin_on_grid_rings(polygons, points) -> None:
    assert locate(polygons, points) == twins.points_in_polygons(
        [p[0] for p in points], [p[1] for p in points], polygons
    )


@PROPERTY
@given(st.lists(polygon, max_size=8), st.lists(st.tuples(far_coord, far_coord), max_size=40))
def test_points_in_polygons_matches_twin_and_shapely(polygons, points) -> None:
    got = locate(polygons, points)
    assert got == twins.points_in_polygons([p[0] for p in points], [p[1] for p in points], polygons)

    shapes = [shapely.Polygon(rings[0], rings[1:]) for rings in polygons]
    for (x, y), index in zip(points, got, strict=True):
        if any(shapely.distance(s.boundary, shapely.Point(x, y)) < 1e-6 for s in shapes):
            continue  # on a boundary: the kernel's rule, tested above, not shapely's
        containing = [i for i, s in enumerate(shapes) if shapely.contains_xy(s, x, y)]
        assert index == (containing[0] if containing else -1)


# --- transverse Mercator -----------------------------------------------------------------

UTM49 = TransverseMercator.of(pyproj.CRS.from_epsg(32649))
UTM56S = TransverseMercator.of(pyproj.CRS.from_epsg(32756))
PYPROJ_UTM49 = pyproj.Transformer.from_crs(4326, 32649, always_xy=True)


def _tm_args(tm: TransverseMercator) -> tuple[float, float, float, float, float]:
    return tm.lon0, tm.k0_a, tm.false_easting, tm.false_northing, tm.e


def test_tm_forward_hand_computed() -> None:
    # On the central meridian x is the false easting and y is k0 times the meridian arc:
    # 4 984 944.378 m from the equator to 45° N on WGS-84.
    x, y = K.tm_forward(arr([111.0, 111.0]), arr([0.0, 45.0]), *_tm_args(UTM49), UTM49.alpha)
    assert x.tolist() == [500_000.0, 500_000.0]
    assert y[0] == 0.0
    assert y[1] == pytest.approx(0.9996 * 4_984_944.378, abs=1e-3)


def test_tm_kernels_on_empty_arrays() -> None:
    x, y = K.tm_forward(arr([]), arr([]), *_tm_args(UTM49), UTM49.alpha)
    lon, lat = K.tm_inverse(arr([]), arr([]), *_tm_args(UTM49), UTM49.beta)
    assert x.size == y.size == lon.size == lat.size == 0


@pytest.mark.parametrize("tm", [UTM49, UTM56S], ids=["49N", "56S"])
def test_tm_kernels_match_twins_on_fixed_points(tm: TransverseMercator) -> None:
    lon = arr([tm.lon0 - 3.0, tm.lon0, tm.lon0 + 2.9, tm.lon0 + 6.0, tm.lon0 - 0.1])
    lat = arr([0.0, 23.1, -33.9, 60.0, -79.9])
    x, y = K.tm_forward(lon, lat, *_tm_args(tm), tm.alpha)
    tx, ty = twins.tm_forward(lon, lat, *_tm_args(tm), tm.alpha)
    assert np.abs(x - tx).max() < 1e-6 and np.abs(y - ty).max() < 1e-6
    back_lon, back_lat = K.tm_inverse(x, y, *_tm_args(tm), tm.beta)
    twin_lon, twin_lat = twins.tm_inverse(x, y, *_tm_args(tm), tm.beta)
    assert np.abs(back_lon - twin_lon).max() < 1e-11 and np.abs(back_lat - twin_lat).max() < 1e-11
    assert np.abs(back_lon - lon).max() < 1e-11 and np.abs(back_lat - lat).max() < 1e-11


@PROPERTY
@given(st.lists(st.tuples(st.floats(-4.0, 4.0), st.floats(-80.0, 84.0)), min_size=1, max_size=30))
def test_tm_kernels_match_twins_and_pyproj(offsets: list[tuple[float, float]]) -> None:
    lon = UTM49.lon0 + arr([o[0] for o in offsets])
    lat = arr([o[1] for o in offsets])
    x, y = K.tm_forward(lon, lat, *_tm_args(UTM49), UTM49.alpha)
    tx, ty = twins.tm_forward(lon, lat, *_tm_args(UTM49), UTM49.alpha)
    assert np.abs(x - tx).max() < 1e-6 and np.abs(y - ty).max() < 1e-6
    px, py = PYPROJ_UTM49.transform(lon, lat)
    assert np.abs(x - px).max() < 1e-3 and np.abs(y - py).max() < 1e-3
    lon_back, lat_back = K.tm_inverse(px, py, *_tm_args(UTM49), UTM49.beta)
    twin_lon, twin_lat = twins.tm_inverse(px, py, *_tm_args(UTM49), UTM49.beta)
    assert np.abs(lon_back - twin_lon).max() < 1e-11
    assert np.abs(lat_back - twin_lat).max() < 1e-11
    # 1e-8 degrees is about a millimetre.
    assert np.abs(lon_back - lon).max() < 1e-8 and np.abs(lat_back - lat).max() < 1e-8
