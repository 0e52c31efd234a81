"""The engine's Numba kernels: hand-computed cases, edge cases, and agreement with their
plain-Python twins (tests/tracking/twins.py) and trackintel on hypothesis-generated inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdw.tracking import _kernels as K
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


@PROPERTY
@given(
    st.lists(st.tuples(*[st.integers(-1, 4)] * 3), max_size=60),
    st.integers(0, 10),
    st.integers(0, 10),
)
def test_place_codes_match_twin_and_numpy(
    zones: list[tuple[int, int, int]], n_sites: int, n_facilities: int
) -> None:
    site, facility, depot = (np.array([z[k] for z in zones], np.int64) for k in range(3))
    n_places = n_sites + n_facilities
    codes = K.place_codes(site, facility, depot, n_sites, n_places)
    assert codes.dtype == np.int64
    assert ints(codes) == twins.place_codes(
        site.tolist(), facility.tolist(), depot.tolist(), n_sites, n_places
    )
    nested = np.where(  # what visit_places computed before the kernel
        facility >= 0,
        n_sites + facility,
        np.where(site >= 0, site, np.where(depot >= 0, n_places + depot, -1)),
    )
    assert ints(codes) == ints(nested)


def test_place_codes_hand_computed() -> None:
    site = np.array([2, 2, -1, -1, -1], np.int64)
    facility = np.array([1, -1, -1, -1, 0], np.int64)
    depot = np.array([0, 0, 3, -1, 5], np.int64)
    # 3 sites, 2 facilities: a facility wins over a site, a site over a depot
    assert ints(K.place_codes(site, facility, depot, 3, 5)) == [4, 2, 8, -1, 3]


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


@PROPERTY
@given(st.lists(track_step, max_size=80), stay_params)
def test_a_tracks_stays_of_any_duration_are_the_kernels(steps, params) -> None:
    """``VehicleTrack.stays`` keeps, of the runs the kernel cuts at no least duration, those
    lasting the duration asked: the kernel's own stays for every duration."""
    from cdw.tracking.trips import VehicleTrack

    radius, _, gap, _ = params
    x, y, t = random_track(steps)
    n = x.size
    zeros = np.zeros(n)
    track = VehicleTrack("粤A00001", t, x, y, zeros, zeros, zeros, zeros, zeros,
                         np.zeros(n, bool), zeros, np.zeros(n, np.int8), np.zeros(n, np.uint32), {}, np.zeros(n, bool))  # fmt: skip
    for min_duration in (0.0, 60.0, 180.0, 300.0, 600.0):
        got = track.stays(radius, min_duration, gap)
        want = K.stay_points_centred(x, y, t, radius, min_duration, gap)
        assert tuple(map(ints, got)) == tuple(map(ints, want))


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
    from cdw.geo.projection import Projector

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


# --- stay_verdicts ---------------------------------------------------------------------


def test_stay_verdicts_hand_computed() -> None:
    authorised = np.array([1, 1, 0, 0, 1, 0, 0], bool)
    reported = np.array([1, 1, 1, 0, 1, 1, 1], bool)
    speed = arr([5, 9, 3, 50, 4, 3.5, 60])
    starts, ends = np.array([0, 4, 5], np.int64), np.array([3, 4, 6], np.int64)
    inside, moving = K.stay_verdicts(starts, ends, authorised, reported, speed, 3.0)
    assert inside.tolist() == [True, True, False]  # 2 of 4 is half; 1 of 1; 0 of 2
    assert moving.tolist() == [False, True, True]  # 3 km/h is still, fix 3 unreported


@PROPERTY
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.sampled_from([0.0, 3.0, 3.5, 40.0])), max_size=60
    ),
    st.lists(st.integers(0, 60), max_size=10),
)
def test_stay_verdicts_match_twin(fixes, cuts) -> None:
    authorised, reported, speed = (np.array([f[i] for f in fixes]) for i in range(3))
    bounds = sorted({c for c in cuts if c <= len(fixes)} | {0, len(fixes)})
    starts = [a for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    ends = [b - 1 for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    got = K.stay_verdicts(
        np.array(starts, np.int64),
        np.array(ends, np.int64),
        authorised.astype(bool),
        reported.astype(bool),
        speed.astype(np.float64),
        3.0,
    )
    want = twins.stay_verdicts(
        starts, ends, authorised.tolist(), reported.tolist(), speed.tolist(), 3.0
    )
    assert [v.tolist() for v in got] == list(want)


# --- numpy's sums ------------------------------------------------------------

# Magnitudes far apart, so that the order of the additions shows in the last bits.
summand = st.one_of(
    st.floats(-1e6, 1e6), st.floats(-1e-3, 1e-3), st.integers(-5, 5).map(lambda k: 3e5 + k / 7)
)


def same_bits(a: float, b: float) -> bool:
    return np.float64(a).tobytes() == np.float64(b).tobytes() or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 255, 256, 1000, 4099])
def test_pairwise_sum_is_numpys_sum_to_the_bit(n: int) -> None:
    values = np.random.default_rng(n).normal(3e5, 40.0, n + 13)
    for lo in (0, 5, 13):
        got = K.pairwise_sum(values, lo, n)
        assert same_bits(got, float(values[lo : lo + n].sum()))
        assert same_bits(got, twins.pairwise_sum(values[lo : lo + n].tolist()))


def test_pairwise_sum_is_no_plain_loop() -> None:
    # Left to right, each 1e-16 is lost against 1.0; eight accumulators keep them.
    values = arr([1.0] + [1e-16] * 15)
    assert float(values.sum()) > 1.0
    assert same_bits(K.pairwise_sum(values, 0, 16), float(values.sum()))


@PROPERTY
@given(st.lists(summand, max_size=600), st.integers(0, 20))
def test_pairwise_sum_matches_twin_and_numpy(values: list[float], lo: int) -> None:
    a = arr([0.5] * lo + values)
    got = K.pairwise_sum(a, lo, len(values))
    assert same_bits(got, twins.pairwise_sum(values))
    assert same_bits(got, float(a[lo:].sum()))


@PROPERTY
@given(st.lists(st.one_of(summand, st.just(-0.0), st.just(math.inf), st.just(math.nan))))
def test_median_matches_twin_and_numpy(values: list[float]) -> None:
    got = K.median(arr(values))
    assert same_bits(got, twins.median(values))
    if values:
        assert same_bits(got, float(np.median(arr(values))))


def test_median_is_numpys() -> None:
    assert K.median(arr([3, 1, 2])) == 2.0
    assert K.median(arr([4, 1, 3, 2])) == 2.5
    assert math.isnan(K.median(arr([]))) and math.isnan(K.median(arr([1, math.nan, 2])))
    assert same_bits(K.median(arr([-0.0])), float(np.median(arr([-0.0]))))


def test_median_step_hand_computed() -> None:
    assert K.median_step(arr([0, 10, 20, 30, 45])) == (10.0, True)
    assert K.median_step(arr([0, 9, 20, 30, 42])) == (10.5, True)  # steps 9 11 10 12: counted
    assert K.median_step(arr([0, 10, 20, 50, 80])) == (20.0, True)  # the middle step 30 is not it
    assert K.median_step(arr([0, 0.5, 1, 1.5, 2.25])) == (0.5, True)  # steady, not whole
    assert K.median_step(arr([0, 0.5, 2, 3.5, 3.75]))[1] is False  # neither
    assert K.median_step(arr([0, 4000, 9000, 9010, 15010]))[1] is False  # middles beyond counting
    assert K.median_step(arr([0, 10, math.nan, 30]))[1] is False


@PROPERTY
@given(
    st.lists(
        st.one_of(
            st.sampled_from([0.0, 8.0, 9.0, 10.0, 11.0, 12.0, 30.0, 3600.0, 3601.0, 86_400.0]),
            st.integers(0, 4000).map(float),
            st.floats(0, 100),
        ),
        min_size=1,
    )
)
def test_median_step_is_numpys_median_step_where_found(steps: list[float]) -> None:
    t = np.cumsum(arr([1.7e9, *steps]))
    step, found = K.median_step(t)
    want_step, want_found = twins.median_step(t.tolist())
    assert found == want_found and same_bits(step, want_step)
    if found:
        assert same_bits(step, float(np.median(np.diff(t))))


def numpy_scatter(x, y, starts, ends) -> tuple[float, int]:
    """The numpy expression ``stay_scatter`` replaces (``VehicleTrack.noise_sigma_m``)."""
    parts = [
        np.hypot(x[s : e + 1] - x[s : e + 1].mean(), y[s : e + 1] - y[s : e + 1].mean())
        * np.sqrt((e + 1 - s) / (e - s))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
        if e > s
    ]
    r = np.concatenate(parts) if parts else np.empty(0)
    return (float(np.median(r)) if r.size else math.nan), r.size


def check_scatter(x, y, starts, ends) -> None:
    cx, cy = K.stay_centres(x, y, starts, ends)
    scatter, count = K.stay_scatter(x, y, starts, ends, cx, cy)
    want_numpy = numpy_scatter(x, y, starts, ends)
    assert count == want_numpy[1] and same_bits(scatter, want_numpy[0])
    lists = (x.tolist(), y.tolist(), starts.tolist(), ends.tolist(), cx.tolist(), cy.tolist())
    want_twin = twins.stay_scatter(*lists)
    assert count == want_twin[1] and same_bits(scatter, want_twin[0])


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("spread", [1e-9, 0.01, 20.0, 5000.0])
def test_stay_scatter_on_long_tracks_is_numpys_to_the_bit(seed: int, spread: float) -> None:
    """Thousands of fixes: many in each histogram bin, ties where coordinates are rounded."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6000))
    x = 3e5 + rng.normal(0, spread, n)
    y = 2.5e6 + rng.normal(0, spread, n) * (seed % 3 > 0)  # some tracks move along x only
    if seed % 2:
        x, y = np.round(x, 1), np.round(y, 1)
    cuts = np.unique(np.concatenate(([0, n], rng.integers(0, n, 8))))
    check_scatter(x, y, cuts[:-1].copy(), cuts[1:] - 1)


def test_stay_scatter_edge_cases() -> None:
    two = np.array([0, 10], np.int64), np.array([9, 29], np.int64)
    x = np.full(30, 3e5)
    check_scatter(x, x.copy(), *two)  # no scatter at all
    check_scatter(x, x.copy(), np.array([0], np.int64), np.array([0], np.int64))  # no fixes
    wide = np.random.default_rng(1).normal(0, 1e200, 30)  # squares overflow: hypot throughout
    check_scatter(wide, wide[::-1].copy(), *two)
    with np.errstate(invalid="ignore"):
        check_scatter(np.append(x[:29], math.nan), x.copy(), *two)  # NaN, as numpy's


@st.composite
def stays_of(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A track near (3e5, 2.5e6) and disjoint stays of it, some of one fix."""
    n = draw(st.integers(0, 200))
    jitter = st.floats(-60, 60)
    x = 3e5 + arr(draw(st.lists(jitter, min_size=n, max_size=n)))
    y = 2.5e6 + arr(draw(st.lists(jitter, min_size=n, max_size=n)))
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=12))))
    starts, ends = [], []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if draw(st.booleans()):
            starts.append(a)
            ends.append(b - 1)
    return x, y, np.array(starts, np.int64), np.array(ends, np.int64)


@PROPERTY
@given(stays_of())
def test_stay_centres_and_scatter_match_twins_and_numpy(track_stays) -> None:
    x, y, starts, ends = track_stays
    cx, cy = K.stay_centres(x, y, starts, ends)
    want = twins.stay_centres(x.tolist(), y.tolist(), starts.tolist(), ends.tolist())
    assert [cx.tolist(), cy.tolist()] == list(want)
    for k, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        assert same_bits(cx[k], x[s : e + 1].mean()) and same_bits(cy[k], y[s : e + 1].mean())
    check_scatter(x, y, starts, ends)


@PROPERTY
@given(stays_of(), st.floats(0, 120) | st.just(math.inf))
def test_scatter_at_most_matches_twin_and_bounds_the_median(track_stays, limit: float) -> None:
    x, y, starts, ends = track_stays
    cx, cy = K.stay_centres(x, y, starts, ends)
    scatter, _ = K.stay_scatter(x, y, starts, ends, cx, cy)
    lists = (x.tolist(), y.tolist(), starts.tolist(), ends.tolist(), cx.tolist(), cy.tolist())
    for bound in (limit, scatter, math.nextafter(scatter, 0.0), math.nextafter(scatter, math.inf)):
        got = K.scatter_at_most(x, y, starts, ends, cx, cy, bound)
        assert got == twins.scatter_at_most(*lists, bound)
        if got:  # then the median is within the bound too
            assert scatter <= bound
