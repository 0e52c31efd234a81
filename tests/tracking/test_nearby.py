"""The visits near a place (cdw.tracking.nearby): the vectorised parts against plain loops,
and the runs split where a truck leaves, loses its signal or another truck's fixes begin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.tracking.nearby import Place, _loaded_then_empty, _longest_stay, find_visits
from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, LOAD_HALF, POINTS_SCHEMA

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
PLACE = Place(113.40, 22.95, 150.0)
M_PER_DEG_LON = 111_320 * np.cos(np.radians(22.95))


def _plain_loaded_then_empty(load: list[int], lo: int, hi: int) -> bool:
    part = load[lo : hi + 1]
    return any(
        part[i] in (LOAD_FULL, LOAD_HALF) and part[j] == LOAD_EMPTY
        for i in range(len(part))
        for j in range(i + 1, len(part))
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([-1, LOAD_EMPTY, LOAD_HALF, LOAD_FULL]), min_size=1, max_size=30),
    st.data(),
)
def test_loaded_then_empty_matches_the_plain_loop(load, data):
    ranges = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(load) - 1), st.integers(0, len(load) - 1)).map(sorted),
            min_size=1,
            max_size=8,
        )
    )
    lo = np.array([r[0] for r in ranges])
    hi = np.array([r[1] for r in ranges])
    got = _loaded_then_empty(np.array(load), lo, hi)
    assert got.tolist() == [_plain_loaded_then_empty(load, a, b) for a, b in ranges]


def _plain_longest_stay(x, y, t, r):
    """The same rule written out with the running mean recomputed from the kept fixes."""
    best, kept, i = 0.0, [0], 1
    while i < len(x):
        cx, cy = np.mean([x[k] for k in kept]), np.mean([y[k] for k in kept])
        if np.hypot(x[i] - cx, y[i] - cy) <= r:
            kept.append(i)
            best = max(best, t[i] - t[kept[0]])
        elif i + 1 < len(x) and np.hypot(x[i + 1] - cx, y[i + 1] - cy) <= r:
            pass
        else:
            kept = [i]
        i += 1
    return best


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-120, 120), st.floats(-120, 120), st.floats(1, 60)),
        min_size=1,
        max_size=25,
    )
)
def test_longest_stay_matches_the_plain_rule(fixes):
    x = [f[0] for f in fixes]
    y = [f[1] for f in fixes]
    t = np.cumsum([f[2] for f in fixes]).tolist()
    assert abs(_longest_stay(x, y, t, 50.0) - _plain_longest_stay(x, y, t, 50.0)) < 1e-9


def _frame(tracks: dict[str, list[tuple[float, float]]], status=None) -> pl.DataFrame:
    """Per plate: (seconds after T0, metres east of the place)."""
    rows = [
        (plate, T0 + timedelta(seconds=s), PLACE.lon + east / M_PER_DEG_LON, PLACE.lat, 0)
        for plate, fixes in sorted(tracks.items())
        for s, east in fixes
    ]
    return pl.DataFrame(
        rows, schema=["vehicle", "ts", "lon", "lat", "status"], orient="row"
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC"), pl.col("status").cast(pl.UInt32))


def test_runs_split_on_leaving_on_a_gap_and_between_vehicles():
    tracks = {
        # in, out (300 m), back in: two visits
        "粤A00001": [(0, 0), (10, 20), (20, 300), (30, 10), (40, 0)],
        # in, then no fix for 10 min, in again: two visits
        "粤A00002": [(0, 100), (10, 100), (620, 100), (630, 100)],
        # one fix in, right after the first truck's rows: its own visit
        "粤A00003": [(5, -50)],
    }
    visits = find_visits(
        _frame(tracks), PLACE, T0, T0 + timedelta(hours=1),
        stop_radius_m=50, stop_min_s=120, gap_s=300,
    )  # fmt: skip
    got = sorted((v.vehicle, v.fixes, round(v.distance_m)) for v in visits)
    assert got == [
        ("粤A00001", 2, 0),
        ("粤A00001", 2, 0),
        ("粤A00002", 2, 100),
        ("粤A00002", 2, 100),
        ("粤A00003", 1, 50),
    ]
    assert not any(v.stopped for v in visits)


def test_only_fixes_inside_the_window_count():
    tracks = {"粤A00001": [(s, 0) for s in range(0, 600, 10)]}  # stands 10 min
    window = (T0 + timedelta(minutes=4), T0 + timedelta(minutes=6))
    (visit,) = find_visits(
        _frame(tracks), PLACE, *window, stop_radius_m=50, stop_min_s=60, gap_s=300
    )
    assert visit.first_seen == window[0] and visit.last_seen < window[1]
    assert visit.inside_s == visit.dwell_s == 110 and visit.stopped


def test_the_store_reads_a_box_of_the_window_s_days_only(tmp_path):
    from cdw.tracking.store import PointStore

    store = PointStore(tmp_path, timezone="Asia/Shanghai")
    frame = _frame({"粤A00001": [(0, 0), (60, 500)], "粤A00002": [(30, 20)]})
    store.append(frame)
    store.append(frame.with_columns(pl.col("ts") + timedelta(days=1)))  # the next day
    box = PLACE.box(100.0)  # 250 m around the place: the fix 500 m east is out
    got = store.read_box(T0, T0 + timedelta(hours=1), box, columns=("lon",))
    assert got.columns == ["vehicle", "ts", "lon"]
    assert got["vehicle"].to_list() == ["粤A00001", "粤A00002"]
    both_days = store.read_box(T0, T0 + timedelta(days=2), box)
    assert both_days.height == 4 and both_days.columns == list(POINTS_SCHEMA)
