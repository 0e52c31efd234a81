"""Cleaning filters: exact drops, near misses, and the implied-speed kernel against its twin."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.config import Thresholds
from cdw.tracking import clean as C
from cdw.tracking._clean_kernels import EARTH_RADIUS_M, any_repeat, implied_speed_keep, steps_back
from cdw.tracking.points import conform

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 2, tzinfo=UTC)
TH = Thresholds()
DEG_LAT_M = EARTH_RADIUS_M * math.pi / 180  # metres per degree of latitude


def frame(rows: list[tuple[str, float, float, float]]) -> pl.DataFrame:
    """rows of (vehicle, seconds after T0, lon, lat)."""
    return conform(
        pl.DataFrame(
            {
                "vehicle": [r[0] for r in rows],
                "ts": [T0 + timedelta(seconds=r[1]) for r in rows],
                "lon": [r[2] for r in rows],
                "lat": [r[3] for r in rows],
            }
        )
    )


def north(metres: float) -> float:
    """Latitude of a point ``metres`` north of (113.0, 23.0) along the meridian."""
    return 23.0 + metres / DEG_LAT_M


# ------------------------------------------------------------------ plain-Python twin


def twin_keep(
    lon: list[float], lat: list[float], t_us: list[int], vehicles: list[str], max_speed_ms: float
) -> list[bool]:
    def dist(i: int, j: int) -> float:
        k = math.pi / 180
        x = (lon[j] - lon[i]) * k * math.cos((lat[i] + lat[j]) / 2 * k)
        y = (lat[j] - lat[i]) * k
        return EARTH_RADIUS_M * math.hypot(x, y)

    def ok(i: int, j: int) -> bool:
        return dist(i, j) <= max_speed_ms * (t_us[j] - t_us[i]) / 1e6

    keep = [True] * len(lon)
    groups: dict[str, list[int]] = {}
    for index, v in enumerate(vehicles):
        groups.setdefault(v, []).append(index)
    for members in groups.values():
        anchor, confirmed = members[0], False
        for pos, i in enumerate(members[1:], start=1):
            following = members[pos + 1] if pos + 1 < len(members) else None
            if ok(anchor, i):
                anchor, confirmed = i, True
            elif (
                not confirmed
                and following is not None
                and ok(i, following)
                and not ok(anchor, following)
            ):
                keep[anchor] = False
                anchor = i
            else:
                keep[i] = False
    return keep


def kernel_keep(f: pl.DataFrame, max_speed_ms: float) -> list[bool]:
    v = f["vehicle"]
    starts = np.append((v != v.shift(1)).fill_null(True).arg_true().to_numpy(), f.height)
    return implied_speed_keep(
        f["lon"].to_numpy(),
        f["lat"].to_numpy(),
        f["ts"].dt.epoch("us").to_numpy(),
        starts.astype(np.int64),
        max_speed_ms,
    ).tolist()


def compare(f: pl.DataFrame, max_speed_ms: float) -> list[bool]:
    expected = twin_keep(
        f["lon"].to_list(),
        f["lat"].to_list(),
        f["ts"].dt.epoch("us").to_list(),
        f["vehicle"].to_list(),
        max_speed_ms,
    )
    assert kernel_keep(f, max_speed_ms) == expected
    return expected


SPEED_MS = 50.0  # 180 km/h, the default threshold


def test_kernel_fixed_cases() -> None:
    # A-B-A spike: B (5 km away 10 s later) goes, both A stay
    aba = frame(
        [("V", 0, 113.0, north(0)), ("V", 10, 113.0, north(5000)), ("V", 20, 113.0, north(100))]
    )
    assert compare(aba, SPEED_MS) == [True, False, True]
    # bad first fix: it goes, the consistent track behind it stays
    first = frame(
        [
            ("V", 0, 113.0, north(20000)),
            ("V", 10, 113.0, north(0)),
            ("V", 20, 113.0, north(200)),
            ("V", 30, 113.0, north(400)),
        ]
    )
    assert compare(first, SPEED_MS) == [False, True, True, True]
    # 49.99 m/s is allowed; 50.01 m/s from the last kept point is not
    edge = frame(
        [("V", 0, 113.0, north(0)), ("V", 10, 113.0, north(499.9)), ("V", 20, 113.0, north(1000.0))]
    )
    assert compare(edge, SPEED_MS) == [True, True, False]
    # vehicles are independent; single points are kept
    two = frame([("A", 0, 113.0, north(0)), ("B", 5, 113.0, north(90000)), ("C", 0, 120.0, 30.0)])
    assert compare(two, SPEED_MS) == [True, True, True]
    # a displacement that persists is dropped only until the elapsed time explains it
    moved = frame(
        [("V", 0, 113.0, north(0)), ("V", 10, 113.0, north(0))]
        + [("V", 10 + 10 * k, 113.0, north(990)) for k in range(1, 4)]
    )
    # from t=10 the anchor is confirmed; 990 m needs 19.8 s at 50 m/s
    assert compare(moved, SPEED_MS) == [True, True, False, True, True]


@st.composite
def tracks(draw: st.DrawFn) -> pl.DataFrame:
    rows: list[tuple[str, float, float, float]] = []
    for v in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 12))
        gaps = draw(st.lists(st.integers(1, 120), min_size=n, max_size=n))
        t = 0
        for gap in gaps:
            t += gap
            lon = draw(st.floats(112.9, 113.1))
            lat = draw(st.floats(22.9, 23.1))
            rows.append((f"V{v}", t, lon, lat))
    return frame(rows)


@given(tracks(), st.sampled_from([5.0, 50.0, 500.0]))
@settings(max_examples=150, deadline=None)
def test_kernel_matches_twin(f: pl.DataFrame, max_speed_ms: float) -> None:
    compare(f, max_speed_ms)


def twin_steps_back(ts: list[int]) -> list[int]:
    return [i for i in range(1, len(ts)) if ts[i] < ts[i - 1]]


@given(
    st.lists(st.integers(-(2**62), 2**62), max_size=60) | st.lists(st.integers(0, 5), max_size=60)
)
@settings(max_examples=150, deadline=None)
def test_steps_back_matches_twin(ts: list[int]) -> None:
    got = steps_back(np.array(ts, dtype=np.int64)).tolist()
    assert got == twin_steps_back(ts)


@given(
    st.lists(st.integers(-(2**62), 2**62), max_size=60) | st.lists(st.integers(0, 5), max_size=60)
)
@settings(max_examples=150, deadline=None)
def test_any_repeat_matches_twin(ts: list[int]) -> None:
    assert any_repeat(np.array(ts, dtype=np.int64)) == any(
        a == b for a, b in zip(ts, ts[1:], strict=False)
    )


def test_steps_back_hand_computed() -> None:
    assert steps_back(np.array([5, 7, 7, 3, 9, 1], dtype=np.int64)).tolist() == [3, 5]
    assert steps_back(np.array([], dtype=np.int64)).tolist() == []


# ------------------------------------------------------------------ filters


def test_invalid_coordinates() -> None:
    f = frame(
        [
            ("V", 0, 113.0, 23.0),
            ("V", 1, 0.0, 0.0),  # no-fix placeholder
            ("V", 2, float("nan"), 23.0),
            ("V", 3, 181.0, 23.0),
            ("V", 4, 113.0, -90.5),
            ("V", 5, 0.0, 0.000001),  # near miss: not exactly (0, 0)
            ("V", 6, 180.0, 90.0),  # near miss: on the range limits
        ]
    )
    result = C.invalid_coordinates(f, TH, NOW)
    assert result.count == 4
    assert result.kept["ts"].dt.second().to_list() == [0, 5, 6]
    assert result.dropped["ts"].dt.second().to_list() == [1, 2, 3, 4]


def test_future_timestamps() -> None:
    now = T0 + timedelta(hours=1)
    tol = TH.future_tolerance_s
    f = conform(
        pl.DataFrame(
            {
                "vehicle": ["V"] * 3,
                "ts": [
                    now,
                    now + timedelta(seconds=tol),
                    now + timedelta(seconds=tol, microseconds=1),
                ],
                "lon": [113.0] * 3,
                "lat": [23.0] * 3,
            }
        )
    )
    result = C.future_timestamps(f, TH, now)
    assert result.count == 1
    assert result.kept.height == 2


def test_duplicates_keep_first_in_file_order() -> None:
    f = frame(
        [
            ("V", 10, 113.0, 23.0),
            ("V", 0, 113.1, 23.0),
            ("V", 10, 113.2, 23.0),
            ("W", 10, 113.3, 23.0),
        ]
    )
    result = C.duplicates(f, TH, NOW)
    assert result.count == 1
    assert result.kept["lon"].to_list() == [113.0, 113.1, 113.3]
    assert result.dropped["lon"].to_list() == [113.2]
    # the sorted fast path gives the same answer
    sorted_result = C.duplicates(f.sort("vehicle", "ts", maintain_order=True), TH, NOW)
    assert sorted(sorted_result.kept["lon"].to_list()) == [113.0, 113.1, 113.3]


def test_out_of_order_counts_and_sorts() -> None:
    # V: 0, 10, 5 (earlier than its predecessor), 20; W interleaved but in order
    f = frame(
        [
            ("V", 0, 113.0, 23.0),
            ("W", 7, 113.0, 23.0),
            ("V", 10, 113.0, 23.0),
            ("V", 5, 113.0, 23.0),
            ("W", 8, 113.0, 23.0),
            ("V", 20, 113.0, 23.0),
        ]
    )
    result = C.out_of_order(f, TH, NOW)
    assert result.count == 1
    assert result.dropped.height == 0
    assert result.kept.select("vehicle", pl.col("ts").dt.second()).rows() == [
        ("V", 0),
        ("V", 5),
        ("V", 10),
        ("V", 20),
        ("W", 7),
        ("W", 8),
    ]


def test_implied_speed_jumps_filter_sorts_first() -> None:
    f = frame(
        [("V", 20, 113.0, north(100)), ("V", 0, 113.0, north(0)), ("V", 10, 113.0, north(5000))]
    )
    result = C.implied_speed_jumps(f, TH, NOW)
    assert result.count == 1
    assert result.dropped["ts"].dt.second().to_list() == [10]


def test_clean_pipeline_counts_every_reason() -> None:
    f = frame(
        [
            ("粤A12345", 0, 113.0, north(0)),
            ("粤A12345", 10, 113.0, north(100)),
            ("粤A12345", 10, 113.0, north(100)),  # duplicate
            ("粤A12345", 5, 113.0, north(50)),  # out of order: kept, re-sorted
            ("粤A12345", 20, 0.0, 0.0),  # (0, 0)
            ("粤A12345", 30, 113.0, north(9000)),  # jump
            ("粤A12345", 40, 113.0, north(300)),
            ("粤A12345", 2 * 86400, 113.0, north(300)),  # future (NOW = T0 + 1 day)
        ]
    )
    result = C.clean(f, TH, NOW)
    assert result.dropped == {
        "invalid_coordinates": 1,
        "future_timestamps": 1,
        "duplicates": 1,
        "implied_speed_jumps": 1,
    }
    assert result.reordered == 1
    assert result.dropped_total == 4
    assert result.points["ts"].dt.second().to_list() == [0, 5, 10, 40]
    assert result.dropped_rows["reason"].to_list() == [
        "invalid_coordinates",
        "future_timestamps",
        "duplicates",
        "implied_speed_jumps",
    ]
    assert set(C.REASONS) == {
        "invalid_coordinates",
        "future_timestamps",
        "duplicates",
        "out_of_order",
        "implied_speed_jumps",
    }


def test_clean_empty_frame_and_naive_now() -> None:
    result = C.clean(frame([]), TH, NOW)
    assert result.points.height == 0 and result.dropped_total == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        C.clean(frame([]), TH, datetime(2024, 5, 1))


def test_threshold_comes_from_settings() -> None:
    f = frame(
        [("V", 0, 113.0, north(0)), ("V", 10, 113.0, north(400)), ("V", 20, 113.0, north(400))]
    )
    assert (
        C.clean(f, Thresholds(max_implied_speed_kmh=180), NOW).dropped["implied_speed_jumps"] == 0
    )
    assert (
        C.clean(f, Thresholds(max_implied_speed_kmh=100), NOW).dropped["implied_speed_jumps"] == 1
    )


def test_sorted_by_vehicle_ts() -> None:
    assert C.sorted_by_vehicle_ts(
        frame([("A", 0, 1, 1), ("A", 0, 1, 1), ("A", 5, 1, 1), ("B", 0, 1, 1)])
    )
    assert not C.sorted_by_vehicle_ts(frame([("A", 5, 1, 1), ("A", 0, 1, 1)]))
    assert not C.sorted_by_vehicle_ts(frame([("B", 0, 1, 1), ("A", 9, 1, 1)]))
    assert C.sorted_by_vehicle_ts(frame([]))


def test_sorted_by_vehicle_ts_fast_path_agrees_with_the_plain_rule() -> None:
    # Time going back only where the vehicle changes is sorted; within a vehicle it is not,
    # even when the vehicle changed just before.
    assert C.sorted_by_vehicle_ts(frame([("A", 9, 1, 1), ("B", 0, 1, 1), ("B", 3, 1, 1)]))
    assert not C.sorted_by_vehicle_ts(
        frame([("A", 9, 1, 1), ("B", 5, 1, 1), ("B", 3, 1, 1), ("C", 0, 1, 1)])
    )
    rng = np.random.default_rng(3)
    for _ in range(50):
        rows = [
            (str(rng.choice(["A", "B", "C"])), float(rng.integers(0, 5)), 1.0, 1.0)
            for _ in range(int(rng.integers(0, 8)))
        ]
        rows = sorted(rows) if rng.random() < 0.5 else rows
        f = frame(rows)
        plain = not any(
            (v1, t1) < (v0, t0)
            for (v0, t0, _, _), (v1, t1, _, _) in zip(rows, rows[1:], strict=False)
        )
        assert C.sorted_by_vehicle_ts(f) == plain
