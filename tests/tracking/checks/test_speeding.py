import pytest

from cdw.config import Thresholds
from cdw.tracking.checks import speeding
from cdw.tracking.flags import FlagCode
from tests.tracking.handbuilt import TrackBuilder, context, lonlat, roads, run_check, utc


def reported(
    fast_from: int, fast_to: int, kmh: float = 70.0, gap_after: int | None = None
) -> TrackBuilder:
    """Fixes every second t=0..200 along x with reported speed 50 km/h, ``kmh`` for
    t=fast_from..fast_to; the fixes after ``gap_after`` are shifted 300 s later."""
    b = TrackBuilder()
    for t in range(201):
        shift = 300 if gap_after is not None and t > gap_after else 0
        b.at(t + shift, 15.0 * t, 0, speed_kmh=kmh if fast_from <= t <= fast_to else 50.0)
    return b


def test_thirty_seconds_above_the_limit_fires():
    (flag,) = run_check(speeding.check, reported(100, 130), context())
    assert flag.code == FlagCode.SPEEDING
    assert (flag.start, flag.end) == (utc(100), utc(130))
    assert flag.measured == {
        "duration_s": 30.0,
        "max_speed_kmh": 70.0,
        "mean_speed_kmh": 70.0,
        "distance_m": 450.0,
    }
    assert flag.thresholds == {"speed_limit_kmh": 60.0, "speeding_min_duration_s": 30.0}
    assert flag.severity == 50
    assert (
        flag.explanation_zh
        == "车速超过 60 km/h 持续 30 秒（阈值 30 秒），最高 70.0 km/h，行驶 450 米"
    )
    assert (
        flag.explanation_en == "Above 60 km/h for 30 s (threshold 30 s), peak 70.0 km/h over 450 m"
    )
    # A straight run: the 31 fixes simplify to their two ends.
    assert flag.geometry == {
        "type": "LineString",
        "coordinates": [list(lonlat(1500, 0)), list(lonlat(1950, 0))],
    }


def test_twenty_nine_seconds_above_the_limit_does_not_fire():
    assert run_check(speeding.check, reported(100, 129), context()) == []


def test_exactly_the_limit_is_not_speeding():
    assert run_check(speeding.check, reported(100, 160, kmh=60.0), context()) == []


def test_a_signal_gap_breaks_the_run():
    # 100..115 then, after a 5-minute gap, 116..140: 15 s and 24 s, not one long run.
    assert run_check(speeding.check, reported(100, 140, gap_after=115), context()) == []


def test_computed_speed_is_used_without_reported_speed():
    b = TrackBuilder().stay(0, 100, 0, 0)
    b.drive(100, (0, 0), (800, 0), 20.0, step=1.0, include_start=False)  # 72 km/h, t=101..140
    (flag,) = run_check(speeding.check, b, context())
    assert (flag.start, flag.end) == (utc(101), utc(140))
    assert flag.measured["max_speed_kmh"] == pytest.approx(72.0)
    assert flag.measured["duration_s"] == 39.0


# --- with a road network: the lower of the posted limit and the truck limit ------------

# 中山路 along y=0: posted 40 km/h up to x=1000, untagged to x=2000, posted 80 beyond; a
# side road 40 m north of it, posted 30 km/h, all the way.
STREET = roads(
    {1: (-100, 0), 2: (1000, 0), 3: (2000, 0), 4: (3100, 0), 5: (-100, 40), 6: (3100, 40)},
    [
        ([1, 2], {"name": "中山路", "highway": "primary", "maxspeed": 40.0}),
        ([2, 3], {"name": "中山路", "highway": "primary"}),
        ([3, 4], {"name": "中山路", "highway": "primary", "maxspeed": 80.0}),
        ([5, 6], {"name": "辅路", "maxspeed": 30.0}),
    ],
)


def along_street(kmh: dict[tuple[int, int], float], base: float, y: float = 0.0) -> TrackBuilder:
    """Fixes every second t=0..150 at x = 10 + 20 t (none on a node, none thinned away by
    the matcher) with reported speed ``base``, or ``kmh[(a, b)]`` for a <= t <= b."""
    b = TrackBuilder()
    for t in range(151):
        speed = next((v for (lo, hi), v in kmh.items() if lo <= t <= hi), base)
        b.at(t, 10.0 + 20.0 * t, y, speed_kmh=speed)
    return b


def test_the_posted_limit_applies_where_it_is_below_the_truck_limit():
    track = along_street({(46, 150): 38.0}, 50.0)
    (flag,) = run_check(speeding.check, track, context(roads=STREET))
    # 50 km/h up to x=910 (t=45), on the stretch posted 40; 38 km/h beyond.
    assert (flag.start, flag.end) == (utc(0), utc(45))
    assert flag.measured == {
        "duration_s": 45.0,
        "max_speed_kmh": 50.0,
        "mean_speed_kmh": 50.0,
        "distance_m": 900.0,
        "max_excess_kmh": 10.0,
        "road": "中山路 (primary)",
        "road_edge": 0,
        "limit_applied": "road",
    }
    assert flag.thresholds == {
        "speed_limit_kmh": 40.0,
        "truck_speed_limit_kmh": 60.0,
        "road_speed_limit_kmh": 40.0,
        "speeding_min_duration_s": 30.0,
    }
    assert flag.severity == 50
    assert flag.explanation_zh == (
        "车速超过 40 km/h 持续 45 秒（阈值 30 秒），最高 50.0 km/h，行驶 900 米；"
        "道路：「中山路」（主干路），限速 40 km/h，低于货车限速 60 km/h，适用道路限速"
    )
    assert flag.explanation_en == (
        "Above 40 km/h for 45 s (threshold 30 s), peak 50.0 km/h over 900 m; road: 中山路 "
        "(primary), posted 40 km/h, below the truck limit of 60 km/h: the posted limit applies"
    )


def test_without_a_network_only_the_truck_limit_counts():
    assert run_check(speeding.check, along_street({(46, 150): 38.0}, 50.0), context()) == []


def test_the_truck_limit_applies_on_a_faster_or_untagged_road():
    # 35 km/h (legal everywhere, though above the side road's 30), 70 km/h on the untagged
    # stretch (t=55..95, x=1110..1910) and on the 80 km/h one (t=105..150, x=2110..3010).
    flags = run_check(
        speeding.check,
        along_street({(55, 95): 70.0, (105, 150): 70.0}, 35.0),
        context(roads=STREET),
    )
    assert [(f.start, f.end) for f in flags] == [(utc(55), utc(95)), (utc(105), utc(150))]
    untagged, faster = flags
    assert untagged.thresholds["road_speed_limit_kmh"] is None
    assert untagged.measured["limit_applied"] == "truck"
    assert untagged.explanation_zh.endswith(
        "；道路：「中山路」（主干路），未标限速，适用货车限速 60 km/h"
    )
    assert faster.thresholds == {
        "speed_limit_kmh": 60.0,
        "truck_speed_limit_kmh": 60.0,
        "road_speed_limit_kmh": 80.0,
        "speeding_min_duration_s": 30.0,
    }
    assert faster.explanation_en.endswith(
        "; road: 中山路 (primary), posted 80 km/h: the truck limit of 60 km/h is lower and applies"
    )


def test_a_permit_truck_limit_below_the_posted_one_applies():
    ctx = context(roads=STREET, thresholds=Thresholds(speed_limit_kmh=35.0))
    (flag,) = run_check(speeding.check, along_street({}, 50.0), ctx)
    assert (flag.start, flag.end) == (utc(0), utc(150))
    assert flag.thresholds["speed_limit_kmh"] == 35.0
    assert flag.measured["limit_applied"] == "truck"
    assert "限速 40 km/h，货车限速 35 km/h 更低，适用货车限速" in flag.explanation_zh


def test_the_slow_side_road_does_not_count_for_a_truck_on_the_main_road():
    # 35 km/h on the main road past the side road posted 30 40 m away: matched, not slow.
    track = along_street({(0, 49): 38.0}, 35.0)
    assert run_check(speeding.check, track, context(roads=STREET)) == []
    # On the side road itself, 35 km/h is over its 30.
    (flag,) = run_check(speeding.check, along_street({}, 35.0, y=40.0), context(roads=STREET))
    assert (flag.start, flag.end) == (utc(0), utc(150))
    assert flag.measured["road"] == "辅路 (residential)"


def test_off_the_network_the_truck_limit_applies():
    (flag,) = run_check(speeding.check, along_street({}, 70.0, y=500.0), context(roads=STREET))
    assert flag.thresholds["road_speed_limit_kmh"] is None
    assert flag.measured["road"] == ""
    assert flag.explanation_en.endswith(
        "; not matched to a road: the truck limit of 60 km/h applies"
    )
