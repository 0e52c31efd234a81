import numpy as np
import pytest

from cdw.config import Thresholds
from cdw.flags.codes import FlagCode
from cdw.tracking.checks import speeding
from cdw.tracking.trips import RAYLEIGH_MEDIAN
from tests.tracking.handbuilt import (
    TrackBuilder,
    context,
    lonlat,
    roads,
    run_check,
    track_of,
    utc,
)


def reported(
    fast_from: int, fast_to: int, kmh: float = 70.0, gap_after: int | None = None
) -> TrackBuilder:
    """Fixes every second t=0..200 along x, reporting 50 km/h, ``kmh`` for
    t=fast_from..fast_to, each where that speed since the previous fix puts it; the fixes
    after ``gap_after`` are shifted 300 s later."""
    b, x = TrackBuilder(), 0.0
    for t in range(201):
        speed = kmh if fast_from <= t <= fast_to else 50.0
        x += speed / 3.6 if t else 0.0
        shift = 300 if gap_after is not None and t > gap_after else 0
        b.at(t + shift, x, 0, speed_kmh=speed)
    return b


def test_thirty_seconds_above_the_limit_fires():
    # Fixes t=100..129 report 70 km/h; the step into t=100 is also driven at 70 km/h (the
    # positions say so), so the run starts at t=99: 30 s.
    (flag,) = run_check(speeding.check, reported(100, 129), context())
    assert flag.code == FlagCode.SPEEDING
    assert (flag.start, flag.end) == (utc(99), utc(129))
    assert flag.measured == {
        "duration_s": 30.0,
        "max_speed_kmh": 70.0,
        "mean_speed_kmh": pytest.approx(69.4, abs=0.05),  # the fix at t=99 reports 50
        "distance_m": pytest.approx(583.3, abs=0.05),  # 30 s at 70 km/h
        "stretch_speed_kmh": 70.0,  # every step at 70 km/h
    }
    assert flag.thresholds == {"speed_limit_kmh": 60.0, "speeding_min_duration_s": 30.0}
    assert flag.severity == 50
    assert (
        flag.explanation_zh
        == "车速超过 60 km/h 持续 30 秒（阈值 30 秒），最高 70.0 km/h，行驶 583 米"
    )
    assert (
        flag.explanation_en == "Above 60 km/h for 30 s (threshold 30 s), peak 70.0 km/h over 583 m"
    )
    # A straight run: the 31 fixes simplify to their two ends.
    x99 = 99 * 50 / 3.6
    assert flag.geometry == {
        "type": "LineString",
        "coordinates": [list(lonlat(x99, 0)), list(lonlat(x99 + 30 * 70 / 3.6, 0))],
    }


def test_twenty_nine_seconds_above_the_limit_does_not_fire():
    # t=100..128 at 70 km/h, and the step into t=100: 29 s.
    assert run_check(speeding.check, reported(100, 128), context()) == []


def test_exactly_the_limit_is_not_speeding():
    assert run_check(speeding.check, reported(100, 160, kmh=60.0), context()) == []


def test_a_signal_gap_breaks_the_run():
    # 100..115 then, after a 5-minute gap, 116..140: 15 s and 24 s, not one long run.
    assert run_check(speeding.check, reported(100, 140, gap_after=115), context()) == []


def test_computed_speed_is_used_without_reported_speed():
    b = TrackBuilder().stay(0, 100, 0, 0)
    b.drive(100, (0, 0), (800, 0), 20.0, step=1.0, include_start=False)  # 72 km/h, t=101..140
    (flag,) = run_check(speeding.check, b, context())
    # The speed at t=101 is the step's from t=100: the run starts there.
    assert (flag.start, flag.end) == (utc(100), utc(140))
    assert flag.measured["max_speed_kmh"] == pytest.approx(72.0)
    assert flag.measured["stretch_speed_kmh"] == pytest.approx(72.0)
    assert flag.measured["duration_s"] == 40.0


# --- one noisy fix is no speeding ---------------------------------------------------------


def test_one_noisy_fix_making_a_speed_spike_does_not_fire():
    # 55 km/h along x, a fix every 30 s, no reported speed; the fix at t=300 lies 250 m
    # off to the side, so the steps into and out of it both read 62.6 km/h, 30 s apart.
    b = TrackBuilder()
    for t in range(0, 601, 30):
        b.at(t, t * 55 / 3.6, 250.0 if t == 300 else 0.0)
    spike = track_of(b, context()).speed_kmh
    assert np.flatnonzero(spike > 60).tolist() == [10, 11]
    assert spike[10] == pytest.approx(62.6, abs=0.1)
    # The path from t=270 to t=330 with the thrown fix left out is 55 km/h: no flag.
    assert run_check(speeding.check, b, context()) == []


def test_a_run_round_a_bend_is_measured_along_the_fixes():
    """75 km/h for 120 s, 60 s east then 60 s north (a ramp off a trunk), a fix every 10 s:
    the straight line from end to end reads 53 km/h; the path along the fixes, with the
    one fix left out that shortens it most (the corner, cut by the chord past it), 71.3."""
    b, v = TrackBuilder(), 75 / 3.6
    for t in range(0, 121, 10):
        b.at(t, v * min(t, 60), v * max(t - 60, 0), speed_kmh=75.0)
    (flag,) = run_check(speeding.check, b, context())
    assert (flag.start, flag.end) == (utc(0), utc(120))
    corner_cut = 120 * v - 20 * v + np.hypot(10 * v, 10 * v)
    assert flag.measured["stretch_speed_kmh"] == pytest.approx(3.6 * corner_cut / 120, abs=0.05)
    # the same run with one fix thrown 300 m out is measured with that fix left out
    thrown = TrackBuilder()
    for t in range(0, 121, 10):
        x, y = v * min(t, 60), v * max(t - 60, 0)
        thrown.at(t, x + (300.0 if t == 30 else 0.0), y, speed_kmh=75.0)
    (flag,) = run_check(speeding.check, thrown, context())
    assert flag.measured["stretch_speed_kmh"] == pytest.approx(75.0, abs=0.05)


def sampled_every_30_s(fast_s: float, kmh: float = 79.0) -> TrackBuilder:
    """Along x at 50 km/h, ``kmh`` for ``fast_s`` seconds from t=605, fixes every 30 s
    reporting the speed of their instant: a run of a few fixes whose ends fall between."""

    def x_at(t: float) -> float:
        fast = min(max(t - 605.0, 0.0), fast_s)
        return (t - fast) * 50 / 3.6 + fast * kmh / 3.6

    b = TrackBuilder()
    for t in range(0, 1501, 30):
        b.at(t, x_at(t), 0, speed_kmh=kmh if 605 <= t <= 605 + fast_s else 50.0)
    return b


def test_a_two_minute_run_sampled_every_30_s_is_found():
    """79 km/h from t=605 to t=725 (120 s): fixes t=630..720 report it (90 s); the step
    from t=600 is driven at 74 km/h (distance over time), so the run counts from t=600;
    the step to t=750 at 54.8 km/h does not count."""
    (flag,) = run_check(speeding.check, sampled_every_30_s(120.0), context())
    assert (flag.start, flag.end) == (utc(600), utc(720))
    assert flag.measured["duration_s"] == 120.0
    # the positions' speed: the lowest with one fix left out, here the last (t=600..690)
    assert flag.measured["stretch_speed_kmh"] == pytest.approx((5 * 50 + 85 * 79) / 90, abs=0.05)


def test_one_fix_over_the_limit_is_a_spike_whatever_its_steps():
    # 79 km/h for 25 s before the fix at t=630: the 30 s step into it averages 74 km/h,
    # but one fix over the limit is no run.
    assert run_check(speeding.check, sampled_every_30_s(25.0), context()) == []
    # 79 km/h for 55 s: two fixes (t=630, 660) and the step into them: 60 s.
    (flag,) = run_check(speeding.check, sampled_every_30_s(55.0), context())
    assert (flag.start, flag.end) == (utc(600), utc(660))
    # One fix reporting 79 km/h while the positions move on at 50 km/h: no run.
    b = TrackBuilder()
    for t in range(0, 1501, 30):
        b.at(t, t * 50 / 3.6, 0, speed_kmh=79.0 if t == 630 else 50.0)
    assert run_check(speeding.check, b, context()) == []


def test_reported_speed_the_positions_do_not_bear_out_does_not_fire():
    # Reports 70 km/h for 40 s while the fixes move on at 50 km/h.
    b = TrackBuilder()
    for t in range(201):
        b.at(t, t * 50 / 3.6, 0, speed_kmh=70.0 if 100 <= t <= 140 else 50.0)
    assert run_check(speeding.check, b, context()) == []


# --- with a road network: the highest limit of the roads the truck may be on -------------

# 广州大道 (trunk, no posted limit) along y=0; its frontage road, posted 40, 15 m north.
TRUNK = roads(
    {1: (-100, 0), 2: (6100, 0), 3: (-100, 15), 4: (6100, 15)},
    [
        ([1, 2], {"name": "广州大道", "highway": "trunk"}),
        ([3, 4], {"name": "广州大道辅路", "highway": "secondary", "maxspeed": 40.0}),
    ],
)
# 市桥路 posted 40 along y=0, a residential road (statutory 30) 300 m north.
TOWN = roads(
    {1: (-100, 0), 2: (6100, 0), 3: (-100, 300), 4: (6100, 300)},
    [
        ([1, 2], {"name": "市桥路", "highway": "tertiary", "maxspeed": 40.0}),
        ([3, 4], {"name": "桥东街", "highway": "residential"}),
    ],
)


def drive(kmh: float, y: float, seconds: int = 120, step: int = 10) -> TrackBuilder:
    """Along y from x=10 at ``kmh`` (reported), a fix every ``step`` s, for ``seconds``."""
    b = TrackBuilder()
    for t in range(0, seconds + 1, step):
        b.at(t, 10.0 + t * kmh / 3.6, y, speed_kmh=kmh)
    return b


def test_a_truck_on_a_trunk_beside_a_slow_frontage_road_is_not_speeding():
    # 70 km/h 5 m from the trunk and 10 m from the frontage road (either could be matched);
    # the trucks' limit here is 80 km/h.
    ctx = context(roads=TRUNK, thresholds=Thresholds(speed_limit_kmh=80.0))
    assert run_check(speeding.check, drive(70.0, 5.0), ctx) == []
    # Above the truck limit it is speeding, whichever road: the truck limit applies.
    (flag,) = run_check(speeding.check, drive(85.0, 5.0), ctx)
    assert flag.thresholds["speed_limit_kmh"] == 80.0
    assert flag.measured["limit_applied"] == "truck"
    assert flag.measured["road"] == "广州大道 (trunk)"
    assert flag.explanation_zh.endswith(
        "；道路：「广州大道」（快速路），未标限速，适用货车限速 80 km/h"
        "；另查道路：「广州大道辅路」（次干路） 限速 40（10 米）"
    )


def test_a_truck_on_the_frontage_road_itself_is_not_flagged_either():
    # On the frontage road at 55: the trunk 15 m away is a road it may have been on.
    assert run_check(speeding.check, drive(55.0, 15.0), context(roads=TRUNK)) == []
    # Where the search radius is a GPS error of 10 m, only the frontage road is near.
    ctx = context(roads=TRUNK, thresholds=Thresholds(speeding_road_radius_m=10.0))
    (flag,) = run_check(speeding.check, drive(55.0, 15.0), ctx)
    assert flag.measured["road"] == "广州大道辅路 (secondary)"


def test_a_truck_at_55_on_a_road_posted_40_with_no_faster_road_near_is_speeding():
    (flag,) = run_check(speeding.check, drive(55.0, 3.0), context(roads=TOWN))
    assert (flag.start, flag.end) == (utc(0), utc(120))
    assert flag.measured == {
        "duration_s": 120.0,
        "max_speed_kmh": 55.0,
        "mean_speed_kmh": 55.0,
        "distance_m": pytest.approx(1833.3, abs=0.05),
        "stretch_speed_kmh": 55.0,
        "max_excess_kmh": 15.0,
        "gps_sigma_m": 0.0,  # no stop to see the noise at
        "road_radius_m": 50.0,
        "road": "市桥路 (tertiary)",
        "limit_applied": "road",
        "limit_source": "tagged speed limit",
        "roads_considered": [
            {
                "road": "市桥路 (tertiary)",
                "limit_kmh": 40.0,
                "limit_source": "tagged speed limit",
                "distance_m": pytest.approx(3.0, abs=0.01),
            }
        ],
    }
    assert flag.thresholds == {
        "speed_limit_kmh": 40.0,
        "truck_speed_limit_kmh": 60.0,
        "speeding_min_duration_s": 30.0,
        "speeding_road_radius_m": 50.0,
        "speeding_radius_sigmas": 3.5,
    }
    assert flag.severity == 60
    assert flag.explanation_zh == (
        "车速超过 40 km/h 持续 2.0 分钟（阈值 30 秒），最高 55.0 km/h，行驶 1.83 公里；"
        "道路：「市桥路」（支路），限速 40 km/h（路网标注限速），50 米内车辆可能所在的道路"
        "限速均低于车速"
    )
    assert flag.explanation_en == (
        "Above 40 km/h for 2.0 min (threshold 30 s), peak 55.0 km/h over 1.83 km; road: "
        "市桥路 (tertiary), posted 40 km/h (tagged speed limit); every road within 50 m is "
        "posted below the speed"
    )


def test_a_statutory_default_limit_is_named_as_such():
    (flag,) = run_check(speeding.check, drive(40.0, 300.0), context(roads=TOWN))
    assert flag.thresholds["speed_limit_kmh"] == 30.0
    assert flag.measured["road"] == "桥东街 (residential)"
    assert flag.measured["limit_source"] == "statutory default limit"
    assert "限速 30 km/h（法定默认限速）" in flag.explanation_zh


def test_without_a_network_only_the_truck_limit_counts():
    assert run_check(speeding.check, drive(55.0, 3.0), context()) == []


def test_a_permit_truck_limit_below_the_posted_one_applies():
    ctx = context(roads=TOWN, thresholds=Thresholds(speed_limit_kmh=35.0))
    (flag,) = run_check(speeding.check, drive(38.0, 3.0), ctx)
    assert flag.thresholds["speed_limit_kmh"] == 35.0
    assert flag.measured["limit_applied"] == "truck"
    assert "限速 40 km/h，适用货车限速 35 km/h" in flag.explanation_zh


def test_off_the_network_the_truck_limit_applies():
    (flag,) = run_check(speeding.check, drive(70.0, 150.0), context(roads=TOWN))
    assert flag.thresholds["speed_limit_kmh"] == 60.0
    assert (flag.measured["road"], flag.measured["roads_considered"]) == ("", [])
    assert flag.explanation_en.endswith("; no road within 50 m: the truck limit of 60 km/h applies")


def test_a_noisy_fix_near_a_slow_road_does_not_fire():
    # 38 km/h on 市桥路 (40), reported, a fix every 30 s; one fix reports 75 km/h: the run
    # it makes is a single fix.
    b = TrackBuilder()
    for t in range(0, 601, 30):
        b.at(t, 10 + t * 38 / 3.6, 3.0, speed_kmh=75.0 if t == 300 else 38.0)
    assert run_check(speeding.check, b, context(roads=TOWN)) == []


# 沙湾路 posted 50 along y=0, a residential road (statutory 30) 60 m north.
BESIDE = roads(
    {1: (-100, 0), 2: (20100, 0), 3: (-100, 60), 4: (20100, 60)},
    [
        ([1, 2], {"name": "沙湾路", "highway": "tertiary", "maxspeed": 50.0}),
        ([3, 4], {"name": "桥东街", "highway": "residential"}),
    ],
)


def test_one_fix_thrown_beside_a_slower_road_is_no_run():
    """45 km/h on the road posted 50, a fix every 30 s; the fix at t=300 thrown 55 m north,
    5 m from the residential road posted 30 (and beyond the 50 m radius of the road the
    truck is on): over its own limit, but the steps to it are only over the 30 at one end."""
    b = TrackBuilder()
    for t in range(0, 601, 30):
        b.at(t, 10 + t * 45 / 3.6, 55.0 if t == 300 else 0.0, speed_kmh=45.0)
    assert run_check(speeding.check, b, context(roads=BESIDE)) == []
    # Two fixes in a row beside it, 30 s apart: the track says so, and it is a run.
    b.rows[11]["y"] = 55.0
    (flag,) = run_check(speeding.check, b, context(roads=BESIDE))
    assert flag.measured["duration_s"] == 30.0
    assert flag.measured["road"] == "桥东街 (residential)"


def test_the_road_radius_grows_with_the_noise_the_track_shows():
    """At 55 km/h, 61 m from 市桥路's twin posted 50 and 3 m from a road posted 40: within
    the 50 m radius only the 40 road. Parked first, the fixes scatter 25 m around the stop
    (σ 21.7 m from their median distance, 25 m × √(24/23) / 1.177): the radius grows to
    3.5 σ = 76.0 m, rounded up to 80 m, the road
    posted 50 is a road the truck may be on, and 55 km/h is over 50 only."""
    wide = roads(
        {1: (-100, 0), 2: (6100, 0), 3: (-100, 58), 4: (6100, 58)},
        [
            ([1, 2], {"name": "市桥路", "highway": "tertiary", "maxspeed": 40.0}),
            ([3, 4], {"name": "市桥路", "highway": "tertiary", "maxspeed": 50.0}),
        ],
    )
    quiet = drive(55.0, -3.0)
    (flag,) = run_check(speeding.check, quiet, context(roads=wide))
    assert flag.thresholds["speed_limit_kmh"] == 40.0
    noisy = TrackBuilder()
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    for k, a in enumerate(angles):  # 4 min parked 4 km away, fixes 25 m from the spot
        noisy.at(-600 + 10 * k, 4000 + 25 * np.cos(a), 4000 + 25 * np.sin(a), speed_kmh=0.0)
    noisy.rows += quiet.rows
    (flag,) = run_check(speeding.check, noisy, context(roads=wide))
    sigma = 25 * np.sqrt(24 / 23) / np.sqrt(2 * np.log(2))
    assert flag.measured["gps_sigma_m"] == pytest.approx(sigma, abs=0.05)
    assert flag.measured["road_radius_m"] == 80.0
    assert flag.thresholds["speed_limit_kmh"] == 50.0


@pytest.mark.parametrize("base_m, sigmas", [(50.0, 3.5), (30.0, 2.5), (80.0, 5.0), (50.0, 3.0)])
def test_the_radius_read_by_counting_is_the_radius_of_the_tracks_noise(base_m, sigmas) -> None:
    """Where a track's stay scatter is counted as quiet, the radius is the one its σ gives:
    tracks parked with noise on either side of the σ that still keeps the base radius."""
    from cdw.tracking.trips import VehicleTrack

    th = Thresholds(speeding_road_radius_m=base_m, speeding_radius_sigmas=sigmas)
    edge = base_m / sigmas  # the σ where the radius starts to grow
    rng = np.random.default_rng(7)
    counted = 0
    for sigma in (0.0, 1.0, 0.6 * edge, 0.97 * edge, edge, 1.03 * edge, 1.5 * edge, 4 * edge):
        n = 400  # a truck parked for over an hour, reporting every 10 s, twice
        t = 1.7e9 + np.arange(n) * 10.0 + np.where(np.arange(n) >= 200, 7200.0, 0.0)
        x = 3e5 + rng.normal(0, sigma, n) + np.where(np.arange(n) >= 200, 5000.0, 0.0)
        y = 2.5e6 + rng.normal(0, sigma, n)
        zeros = np.zeros(n)
        track = VehicleTrack("粤A00001", t, x, y, zeros, zeros, zeros, zeros, zeros,
                             np.zeros(n, bool), zeros, np.zeros(n, np.int8),
                             np.zeros(n, np.uint32), {}, np.zeros(n, bool))  # fmt: skip
        params = (th.stop_radius_m, th.dumping_stop_min_duration_s, th.trip_split_gap_s)
        exact = speeding.road_radius_m(th, track.noise_sigma_m(*params))
        assert speeding._track_radius_m(track, th) == exact
        quiet = track.noise_scatter_at_most(speeding._quiet_scatter_m(th), *params)
        counted += quiet
        assert not quiet or exact == base_m
    assert 0 < counted < 8  # both ways were taken
    assert speeding.road_radius_m(th, speeding._quiet_scatter_m(th) / RAYLEIGH_MEDIAN) == base_m
