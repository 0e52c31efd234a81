"""A small multi-vehicle day through the whole chain gives exactly the expected flags."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from cdw.tracking.pipeline import CHECKS, FILTERS, MAY_FLAG, check_name, run_pipeline
from tests.tracking.handbuilt import (
    TrackBuilder,
    box,
    context,
    line,
    permit,
    utc,
    zone,
)

SITE = zone(1, box(-100, -100, 100, 100), "工地甲")
FACILITY = zone(10, box(5000, -100, 5200, 100), "消纳场乙")
OTHER_FACILITY = zone(11, box(-100, 5000, 100, 5200), "消纳场丙")
DEPOT = zone(20, box(-3100, -100, -2900, 100), "车队停车场")
RESERVOIR = zone(30, box(2000, 500, 2400, 900), "北江水源保护区", kind="water_source")
ROUTE = line((0, 0), (5100, 0))
A, B, C = "粤A10001D", "粤A20002D", "粤A30003D"
NOW = datetime(2024, 5, 7, tzinfo=UTC)


def ctx():
    return context(
        sites=[SITE],
        facilities=[FACILITY, OTHER_FACILITY],
        depots=[DEPOT],
        restricted=[RESERVOIR],
        permits=[permit(routes=(ROUTE,), vehicles=frozenset({A, C}))],
    )


def truck_a() -> TrackBuilder:
    """Loaded, stops 12 min on the route (long stop + suspected dumping), then delivers."""
    b = TrackBuilder(A).stay(0, 60, 0, 0)
    b.drive(60, (0, 0), (2000, 0), 10.0, include_start=False)  # arrives t=260
    b.stay(270, 970, 2000, 0)
    b.drive(980, (2100, 0), (5100, 0), 10.0)
    return b.stay(b.last_t + 10, b.last_t + 120, 5100, 0)


def truck_b() -> TrackBuilder:
    """No permit, empty: parked in the depot with the terminal off for an hour (not a gap
    in service), then crosses the reservoir zone at a reported 72 km/h for 59 s."""
    b = TrackBuilder(B).stay(0, 3600, -3000, 0).stay(7200, 7260, -3000, 0)
    b.drive(7270, (-3000, 0), (-3000, 700), 10.0, step=5.0)  # until t=7340
    b.drive(7340, (-3000, 700), (1810, 700), 10.0, step=5.0, include_start=False)  # t=7821
    for k in range(1, 61):  # x = 1830 .. 3010, t = 7822 .. 7881
        b.at(7821 + k, 1810 + 20 * k, 700, speed_kmh=72.0)
    return b


def truck_c() -> TrackBuilder:
    """Loaded, north off the approved route to the wrong facility (arrives t=560); the
    power-cut alarm on three fixes on the way."""
    b = TrackBuilder(C).stay(0, 60, 0, 0)
    b.drive(60, (0, 0), (0, 5100), 10.0, include_start=False)
    for row in b.rows:
        if 300 <= row["t"] <= 320:
            row["alarm"] = 1 << 8
    return b.stay(b.last_t + 10, b.last_t + 60, 0, 5100)


def day_frame() -> pl.DataFrame:
    frame = pl.concat([truck_a().frame(), truck_b().frame(), truck_c().frame()])
    noise = pl.concat([frame.slice(5, 1), frame.slice(0, 1).with_columns(lon=0.0, lat=0.0)])
    # Shuffled, with one duplicate fix and one (0, 0) fix: cleaning sorts and drops.
    return pl.concat([frame, noise]).sample(fraction=1.0, shuffle=True, seed=7)


def test_a_day_of_three_trucks_gives_exactly_the_expected_flags():
    result = run_pipeline(day_frame(), ctx(), now=NOW)
    got = [(f.vehicle, str(f.code), f.start, f.end) for f in result.flags]
    assert got == [
        (A, "LONG_STOP", utc(260), utc(980)),
        (A, "SUSPECTED_DUMPING", utc(260), utc(980)),
        (B, "SPEEDING", utc(7821), utc(7881)),  # from the fix before: its step is at 72 km/h
        (B, "RESTRICTED_ZONE", utc(7831), utc(7850)),
        (C, "WRONG_DESTINATION", utc(60), utc(560)),
        (C, "ROUTE_DEVIATION", utc(70), utc(550)),
        (C, "TAMPER_SUSPECTED", utc(300), utc(320)),
    ]
    by_code = {str(f.code): f for f in result.flags}
    assert by_code["SUSPECTED_DUMPING"].severity == 40
    assert by_code["SPEEDING"].measured["duration_s"] == 60.0
    assert by_code["RESTRICTED_ZONE"].measured["n_fixes"] == 20
    assert by_code["WRONG_DESTINATION"].measured["arrived_facility"] == "消纳场丙"
    assert by_code["LONG_STOP"].permit_no == "HZ-2024-001"
    assert by_code["SPEEDING"].permit_no is None


def test_cleaning_counts_trips_and_timings_are_reported():
    frame = day_frame()
    result = run_pipeline(frame, ctx(), now=NOW)
    assert result.points_in == frame.height
    assert result.points_kept == frame.height - 2
    assert result.cleaning.dropped["duplicates"] == 1
    assert result.cleaning.dropped["invalid_coordinates"] == 1
    assert [t.vehicle for t in result.tracks] == [A, B, C]
    kinds = {v: [str(t.kind) for t in result.trips if t.vehicle == v] for v in (A, B, C)}
    assert kinds == {
        A: ["visit", "loaded", "visit"],
        # two depot visits (split by the hour without fixes), then the drive out of it
        B: ["visit", "visit", "empty"],
        C: ["visit", "loaded", "visit"],
    }
    stages = ["clean", "prepare", "trips", *map(check_name, CHECKS), "total"]
    assert list(result.timings) == stages
    assert all(v >= 0 for v in result.timings.values())


def test_the_chain_is_listed_in_order():
    assert [f.__name__ for f in FILTERS][:2] == ["invalid_coordinates", "future_timestamps"]
    assert [check_name(c) for c in CHECKS] == [
        "route_deviation",
        "long_stop",
        "suspected_dumping",
        "wrong_destination",
        "speeding",
        "out_of_hours",
        "restricted_zone",
        "signal_gap",
        "tamper",
    ]


def test_an_empty_batch_gives_nothing():
    result = run_pipeline(day_frame().clear(), ctx(), now=NOW)
    assert (result.trips, result.flags, result.points_kept) == ([], [], 0)


def test_may_flag_only_skips_tracks_without_flags():
    """A track that a check's ``may_flag`` clears gives no flag from that check on any trip,
    so the pipeline's shortcut changes nothing: checked on the day above, on every check,
    and on the same day with thresholds so low that every check fires."""
    from cdw.config import Thresholds
    from cdw.tracking import clean
    from cdw.tracking.trips import prepare_tracks, segment_trips

    eager = Thresholds(
        speed_limit_kmh=5.0,
        speeding_min_duration_s=1.0,
        long_stop_min_duration_s=60.0,
        dumping_stop_min_duration_s=60.0,
        signal_gap_s=15.0,
        tamper_min_jump_m=10.0,
    )
    for thresholds in (None, eager):
        context = ctx()
        if thresholds is not None:
            context = ctx()
            context.thresholds = thresholds
        points = clean.clean(day_frame(), context.thresholds, NOW).points
        tracks = prepare_tracks(points, context)
        fired = set()
        for track in tracks:
            trips = segment_trips(track, context)
            for check in CHECKS:
                flags = [f for trip in trips for f in check(trip, track, context)]
                fired.update(str(f.code) for f in flags)
                may_flag = MAY_FLAG.get(check)
                if may_flag is not None and not may_flag(track, trips, context):
                    assert flags == [], (check_name(check), track.vehicle)
        assert len(fired) >= 5


def test_gc_paused_restores_the_collector() -> None:
    """The collector is off inside, back on after (also after an error), and a nested
    pause leaves it off until the outermost one ends; a collector that was off stays off."""
    import gc

    import pytest

    from cdw.tracking.pipeline import gc_paused

    was = gc.isenabled()
    try:
        gc.enable()
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        with pytest.raises(RuntimeError), gc_paused():
            raise RuntimeError("inside")
        assert gc.isenabled()
        gc.disable()
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()
