import math
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.config import Thresholds
from cdw.tracking.points import LOAD_FULL, LOAD_HALF
from cdw.tracking.trips import (
    LOAD_UNKNOWN,
    TripKind,
    local_seconds_of_day,
    prepare_tracks,
    trip_ids,
)
from tests.tracking.handbuilt import (
    EMPTY,
    FULL,
    PLATE,
    TrackBuilder,
    box,
    context,
    permit,
    trips_of,
    utc,
    zone,
)

SITE = zone(1, box(-100, -100, 100, 100), "工地甲")
FACILITY = zone(10, box(5000, -100, 5200, 100), "消纳场乙")
DEPOT = zone(20, box(-3100, -100, -2900, 100))


def ctx(**kw):
    kw.setdefault("permits", [permit()])
    kw.setdefault("sites", [SITE])
    return context(facilities=[FACILITY], depots=[DEPOT], **kw)


def summary(trips):
    return [
        (
            str(t.kind),
            t.start_index,
            t.end_index,
            t.origin and (t.origin.kind, t.origin.id),
            t.destination and (t.destination.kind, t.destination.id),
            t.permit_no,
        )
        for t in trips
    ]


def haul(status=None) -> TrackBuilder:
    """Depot (t=0..10) → site (x=0 at t=320, leaves after t=600) → facility, fixes every 30 s
    on the road."""
    b = TrackBuilder().stay(0, 10, -3000, 0, status=status)  # 0, 1
    b.drive(20, (-3000, 0), (0, 0), 10.0, step=30.0, status=status)  # 2..12 (t=20..320)
    b.stay(330, 600, 0, 0, status=status)  # 13..40
    b.drive(610, (0, 0), (5100, 0), 10.0, step=30.0, include_start=False, status=status)
    return b.stay(b.last_t + 10, b.last_t + 60, 5100, 0, status=status)


def test_site_exit_to_facility_entry_is_the_loaded_leg():
    track, trips = trips_of(haul(), ctx())
    # Fixes: the depot visit, the empty run to the site (no load bits: a drive out of the
    # depot is empty), 11..40 in the site (x=-120 is outside, the fix at x=0 t=320 is
    # inside), then the leg, then the facility visit.
    in_depot = np.flatnonzero(track.zone["depot"] >= 0)
    in_site = np.flatnonzero(track.zone["site"] >= 0)
    in_facility = np.flatnonzero(track.zone["facility"] >= 0)
    assert summary(trips) == [
        ("visit", 0, in_depot[-1] + 1, ("depot", 20), ("depot", 20), None),
        ("empty", in_depot[-1] + 1, in_site[0], ("depot", 20), ("site", 1), None),
        ("visit", in_site[0], in_site[-1] + 1, ("site", 1), ("site", 1), None),
        ("loaded", in_site[-1] + 1, in_facility[0], ("site", 1), ("facility", 10), "HZ-2024-001"),
        ("visit", in_facility[0], track.n, ("facility", 10), ("facility", 10), None),
    ]
    leg = trips[3]
    assert (leg.origin_site_id, leg.destination_facility_id) == (1, 10)
    # Departure: the last fix in the site (t=600); arrival: the first in the facility.
    assert track.time(leg.first_fix) == utc(600)
    assert track.t[leg.last_fix] == track.t[in_facility[0]]
    assert leg.trip_id == f"{PLATE}@{utc(640):%Y%m%dT%H%M%S}Z"  # its first fix
    assert sum(t.end_index - t.start_index for t in trips) == track.n


def test_facility_to_site_is_an_empty_leg():
    b = TrackBuilder().stay(0, 60, 5100, 0)
    b.drive(70, (5100, 0), (0, 0), 10.0, step=30.0, include_start=False)
    _, trips = trips_of(b, ctx())
    assert [str(t.kind) for t in trips] == ["visit", "empty", "visit"]
    assert trips[1].permit is None


@pytest.mark.parametrize(("gap_s", "pieces"), [(1800, 2), (1799, 1)])
def test_a_long_gap_splits_a_leg(gap_s, pieces):
    b = TrackBuilder().stay(0, 60, 0, 0)
    b.drive(70, (200, 0), (2000, 0), 10.0, step=30.0)
    b.drive(b.last_t + gap_s, (2300, 0), (5100, 0), 10.0, step=30.0)
    track, trips = trips_of(b, ctx())
    legs = [t for t in trips if t.kind != TripKind.visit]
    assert len(legs) == pieces
    if pieces == 2:
        # The site leg ends at the gap (no destination), the other starts after it (no
        # origin, no load bits: "other").
        assert summary(legs)[0][3:5] == (("site", 1), None)
        assert str(legs[0].kind) == "loaded"
        assert (str(legs[1].kind), legs[1].origin) == ("other", None)
        assert legs[1].destination.id == 10
        assert track.dt_s[legs[1].start_index] == gap_s
    else:
        assert (legs[0].origin.id, legs[0].destination.id) == (1, 10)


def test_gap_split_threshold_is_a_setting():
    b = TrackBuilder().stay(0, 60, 0, 0).stay(700, 760, 3000, 3000)
    _, trips = trips_of(b, ctx(thresholds=Thresholds(trip_split_gap_s=600)))
    assert [str(t.kind) for t in trips] == ["visit", "other"]
    _, trips = trips_of(b, ctx())
    assert [str(t.kind) for t in trips] == ["visit", "loaded"]


def leg_kind(
    start: str, end: str, status: int | None, sensor: bool = True, **kw
) -> tuple[str, str]:
    """Kind and load-state source of the one leg from ``start`` to ``end`` ("site",
    "facility", "depot" or "road"); with ``sensor``, the terminal has shown a load before."""
    where = {"site": (0, 0), "facility": (5100, 0), "depot": (-3000, 0), "road": (2500, 2000)}
    b = TrackBuilder()
    if start != "road":
        b.stay(0, 150, *where[start], status=status)
    for k, t in enumerate((160, 230, 300)):  # 140 s away: more than fence jitter
        b.at(t, 2500, 1000 + 250 * k, status=status)
    if end != "road":
        b.stay(310, 460, *where[end], status=status)
    if sensor and status is not None:
        b.sensor_shown()
    _, trips = trips_of(b, ctx(**kw))
    (leg,) = [t for t in trips if t.kind != TripKind.visit and t.end_index - t.start_index > 1]
    return str(leg.kind), leg.load_state_source


@pytest.mark.parametrize(
    ("start", "end", "status", "kind", "source"),
    [
        ("site", "facility", None, "loaded", "inferred"),
        ("site", "facility", EMPTY, "loaded", "inferred"),  # geofences decide first
        ("site", "facility", FULL, "loaded", "reported"),
        ("site", "road", None, "loaded", "inferred"),
        ("site", "road", FULL, "loaded", "reported"),
        ("site", "road", EMPTY, "empty", "reported"),
        ("facility", "site", None, "empty", "inferred"),
        ("facility", "road", FULL, "loaded", "reported"),  # load refused at the facility
        ("facility", "road", LOAD_HALF << 8, "loaded", "reported"),
        ("facility", "road", EMPTY, "empty", "reported"),
        ("road", "facility", None, "other", "inferred"),
        ("road", "facility", FULL, "loaded", "reported"),
        ("road", "road", EMPTY, "empty", "reported"),
        ("site", "depot", None, "empty", "inferred"),  # the run home ends an inferred load
        ("site", "depot", FULL, "loaded", "reported"),
        ("site", "depot", EMPTY, "empty", "reported"),
        ("depot", "site", None, "empty", "inferred"),
        ("depot", "facility", FULL, "loaded", "reported"),
    ],
)
def test_leg_kind_table(start, end, status, kind, source):
    assert leg_kind(start, end, status) == (kind, source)


@pytest.mark.parametrize(
    ("start", "end", "kind"),
    [
        ("site", "facility", "loaded"),
        ("site", "road", "loaded"),
        ("site", "site", "loaded"),
        ("facility", "road", "empty"),
        ("facility", "site", "empty"),
        ("road", "road", "other"),
        ("site", "depot", "empty"),
        ("depot", "site", "empty"),
        ("depot", "facility", "empty"),
    ],
)
def test_without_a_load_sensor_the_load_state_is_inferred(start, end, kind):
    # Status bits always 0 ("empty"): no sensor, whatever the registry says.
    assert leg_kind(start, end, EMPTY, sensor=False) == (kind, "inferred")
    # The registry says no sensor: even "full" bits are no evidence.
    assert leg_kind(start, end, FULL, no_load_sensor=frozenset({PLATE})) == (kind, "inferred")


def test_a_sensorless_truck_is_not_loaded_through_its_depot_stay():
    """Site → depot (parked 4 h) → site: the inferred load of the site dwell ends at the
    depot visit (a loaded leg site → next site would run through the night)."""
    b = TrackBuilder().stay(0, 300, 0, 0, status=EMPTY)
    b.drive(310, (0, 0), (-3000, 0), 10.0, step=30.0, include_start=False, status=EMPTY)
    b.stay(b.last_t + 10, b.last_t + 4 * 3600, -3000, 0, step=300.0, status=EMPTY)
    b.drive(b.last_t + 10, (-3000, 0), (0, 0), 10.0, step=30.0, include_start=False, status=EMPTY)
    b.stay(b.last_t + 10, b.last_t + 300, 0, 0, status=EMPTY)
    _, trips = trips_of(b, ctx())
    assert [(str(t.kind), t.origin.kind, t.destination.kind) for t in trips] == [
        ("visit", "site", "site"),
        ("empty", "site", "depot"),
        ("visit", "depot", "depot"),
        ("empty", "depot", "site"),
        ("visit", "site", "site"),
    ]
    assert {t.load_state_source for t in trips} == {"inferred"}


def test_load_bits_of_a_vehicle_without_a_sensor_are_unknown():
    b = TrackBuilder().stay(0, 150, 0, 0, status=EMPTY)
    track, _ = trips_of(b, ctx())
    assert (track.load == LOAD_UNKNOWN).all()
    track, _ = trips_of(b.sensor_shown(), ctx())
    assert track.load.tolist() == [LOAD_FULL] + [0] * 16


def test_permit_selection_prefers_same_site_and_facility():
    other_facility = zone(11, box(-100, 5000, 100, 5200))
    exact = permit(permit_no="P-EXACT", facility_id=11)
    site_only = permit(permit_no="P-SITE", facility_id=10)
    expired = replace(permit(permit_no="P-OLD", facility_id=11), valid_to=date(2024, 5, 5))
    c = context(
        sites=[SITE],
        facilities=[FACILITY, other_facility],
        permits=[site_only, expired, exact],
    )
    b = TrackBuilder().stay(0, 30, 0, 0)
    b.drive(40, (0, 0), (0, 5100), 10.0, step=30.0, include_start=False)
    _, trips = trips_of(b, c)
    assert [t.permit_no for t in trips if t.kind == TripKind.loaded] == ["P-EXACT"]
    # No permit for that facility: the same-site one (a wrong destination, checked later).
    c = context(sites=[SITE], facilities=[FACILITY, other_facility], permits=[site_only])
    _, trips = trips_of(b, c)
    assert [t.permit_no for t in trips if t.kind == TripKind.loaded] == ["P-SITE"]
    # A permit for another site does not cover a load from this one.
    c = context(
        sites=[SITE],
        facilities=[FACILITY, other_facility],
        permits=[permit(site_id=2, facility_id=11)],
    )
    _, trips = trips_of(b, c)
    assert [t.permit for t in trips if t.kind == TripKind.loaded] == [None]
    # Another vehicle's permit does not count.
    c = context(
        sites=[SITE],
        facilities=[FACILITY, other_facility],
        permits=[permit(vehicles=frozenset({"粤B00001D"}))],
    )
    _, trips = trips_of(b, c)
    assert [t.permit for t in trips if t.kind == TripKind.loaded] == [None]


def test_loaded_leg_uses_its_permits_thresholds():
    strict = Thresholds(speed_limit_kmh=40)
    _, trips = trips_of(haul(), ctx(permits=[permit(thresholds=strict)]))
    assert [t.thresholds.speed_limit_kmh for t in trips] == [60, 60, 60, 40, 60]


def test_prepare_tracks_splits_vehicles_and_fills_per_point_arrays():
    a = TrackBuilder(vehicle="粤A00001D")
    a.at(0, 0, 0, speed_kmh=50.0, status=FULL, alarm=1 << 8).at(10, 100, 0)
    b = TrackBuilder(vehicle="粤B00002D").at(5, 5100, 0, status=EMPTY).at(25, 5100, 300)
    frame = pl.concat([a.frame(), b.frame()])
    c = ctx()
    one, two = prepare_tracks(frame, c)
    assert (one.vehicle, two.vehicle) == ("粤A00001D", "粤B00002D")
    np.testing.assert_allclose(one.step_m, [0, 100], atol=1e-6)
    np.testing.assert_allclose(two.step_m, [0, 300], atol=1e-6)  # nothing across vehicles
    np.testing.assert_array_equal(two.dt_s, [0, 20])
    # Reported speed where present, else computed (100 m in 10 s = 36 km/h).
    np.testing.assert_allclose(one.speed_kmh, [50, 36], atol=1e-6)
    np.testing.assert_array_equal(one.load, [LOAD_FULL, LOAD_UNKNOWN])
    np.testing.assert_array_equal(one.alarm, [256, 0])
    np.testing.assert_array_equal(two.zone["facility"], [0, -1])
    np.testing.assert_array_equal(one.zone["site"], [0, -1])
    # 02:00 UTC is 10:00 in Shanghai.
    np.testing.assert_array_equal(one.local_sod, [36000, 36010])


def test_trip_ids_are_stable_and_readable():
    t = np.array([utc(0).timestamp(), utc(0.25).timestamp()])
    assert trip_ids(PLATE, t) == [f"{PLATE}@20240506T020000Z", f"{PLATE}@20240506T020000.250Z"]


BERLIN = ZoneInfo("Europe/Berlin")
# Around the 2024 spring-forward (31 March 01:00 UTC) and fall-back (27 October 01:00 UTC).
SPRING = datetime(2024, 3, 31, 1, 0, tzinfo=UTC).timestamp()
AUTUMN = datetime(2024, 10, 27, 1, 0, tzinfo=UTC).timestamp()


def reference_sod(t: float, tz: ZoneInfo) -> float:
    local = datetime.fromtimestamp(t, tz)
    return local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6


@pytest.mark.parametrize("tz", [BERLIN, ZoneInfo("Asia/Shanghai"), ZoneInfo("UTC")])
def test_local_seconds_of_day_at_dst_changes(tz):
    t = np.array([SPRING - 1, SPRING, SPRING + 0.5, AUTUMN - 1, AUTUMN, AUTUMN + 1799])
    expected = [reference_sod(v, tz) for v in t]
    np.testing.assert_allclose(local_seconds_of_day(t, tz), expected, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(SPRING - 3 * 86400, SPRING + 3 * 86400), min_size=1, max_size=30))
def test_local_seconds_of_day_matches_zoneinfo(times):
    t = np.round(np.array(times), 6)
    expected = [reference_sod(v, BERLIN) for v in t]
    np.testing.assert_allclose(local_seconds_of_day(t, BERLIN), expected, atol=1e-5)


def test_leg_of_unknown_origin_takes_the_permit_of_its_facility_or_the_only_one():
    b = TrackBuilder().at(0, 2500, 1000, status=FULL).at(30, 2500, 1200, status=FULL)
    b.stay(60, 90, 5100, 0, status=FULL)
    two = [permit(permit_no="P-OTHER", facility_id=11), permit(permit_no="P-HERE")]
    _, trips = trips_of(b, ctx(permits=two))
    assert [t.permit_no for t in trips if t.kind == TripKind.loaded] == ["P-HERE"]
    one = [permit(permit_no="P-ONLY", facility_id=11)]
    _, trips = trips_of(b, ctx(permits=one))
    assert [t.permit_no for t in trips if t.kind == TripKind.loaded] == ["P-ONLY"]
    three = [*two, permit(permit_no="P-THIRD", facility_id=12)]
    b.rows = b.rows[:2]  # never reaches a facility: no way to choose among three
    _, trips = trips_of(b, ctx(permits=three))
    assert [t.permit for t in trips if t.kind == TripKind.loaded] == [None]


def test_mod_day_is_numpy_mod() -> None:
    from cdw.tracking.trips import _mod_day

    days = np.arange(-3, 20_000) * 86400.0
    x = np.concatenate(
        (
            days,
            np.nextafter(days, -np.inf),  # a hair below midnight: the quotient rounds up
            np.nextafter(days, np.inf),
            np.random.default_rng(2).uniform(-2e9, 4e9, 10_000),
        )
    )
    np.testing.assert_array_equal(_mod_day(x), np.mod(x, 86400.0))


def twin_mod_day(seconds: list[float], offsets: list[float]) -> list[float]:
    out = []
    for x, o in zip(seconds, offsets, strict=True):
        rest = x + o
        rest = rest - math.floor(rest / 86400.0) * 86400.0
        out.append(rest + 86400.0 if rest < 0.0 else rest)
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.floats(-4e9, 4e9) | st.integers(-50_000, 50_000).map(lambda d: d * 86400.0), max_size=40
    ),
    st.sampled_from([0.0, 28_800.0, -18_000.0, 19_800.0]),
)
def test_mod_day_kernel_matches_twin(seconds: list[float], offset: float) -> None:
    from cdw.tracking import _kernels as K

    x = np.array(seconds, dtype=np.float64)
    one = K.mod_day(x, np.array([offset])).tolist()
    each = K.mod_day(x, np.full(x.size, offset)).tolist()
    assert one == each == twin_mod_day(seconds, [offset] * len(seconds))
    assert one == np.mod(x + offset, 86400.0).tolist()


def test_new_trip_is_the_dataclass_built_faster() -> None:
    import dataclasses

    import pytest

    from cdw.config import Thresholds
    from cdw.tracking.trips import Trip, TripKind, _new_trip

    fields = dict(
        trip_id="粤A12345D@20240506T020000Z",
        vehicle="粤A12345D",
        kind=TripKind.loaded,
        start_index=3,
        end_index=9,
        origin=None,
        destination=None,
        permit=None,
        thresholds=Thresholds(),
        load_state_source="inferred",
    )
    fast = _new_trip(**fields)
    assert fast == Trip(**fields) and repr(fast) == repr(Trip(**fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.end_index = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        _new_trip(**{**fields, "extra": 1})
    del fields["permit"]
    with pytest.raises(TypeError):
        _new_trip(**fields)


def test_trip_ids_match_numpy_iso_formatting() -> None:
    from cdw.tracking.trips import trip_ids

    rng = np.random.default_rng(4)
    epoch = np.concatenate(
        (
            rng.uniform(-3e9, 4e9, 2000),  # any millisecond, before 1970 too
            np.round(rng.uniform(0, 2e9, 2000)),  # whole seconds
            [0.0, -0.001, 86399.9996, 1714960800.25],
        )
    )
    ms = np.round(epoch * 1000).astype(np.int64).astype("datetime64[ms]")
    expected = []
    for stamp in np.datetime_as_string(ms, unit="ms").tolist():  # 2024-05-06T02:00:00.250
        fraction = "" if stamp.endswith(".000") else stamp[19:]
        expected.append(f"V@{stamp[:19].replace('-', '').replace(':', '')}{fraction}Z")
    assert trip_ids("V", epoch) == expected
    assert trip_ids("V", np.array([1714960800.25]))[0] == "V@20240506T020000.250Z"


# --- visits robust to GPS jitter ----------------------------------------------------------

OTHER_SITE = zone(2, box(2400, -100, 2600, 100), "工地丙")


def kinds(trips) -> list[tuple[str, object, object]]:
    return [
        (str(t.kind), t.origin and (t.origin.kind, t.origin.id), t.destination and t.destination.id)
        for t in trips
    ]


def jittery_departure(out_x: float, out_s: float, back_s: float = 0.0) -> TrackBuilder:
    """Loading at (60, 0) t=0..600, one fix every 10 s; then fixes at x=``out_x`` (outside
    the fence at x=100) for ``out_s`` seconds, back at (60, 0) for ``back_s``, and off to
    the facility."""
    b = TrackBuilder().stay(0, 600, 60, 0)
    b.stay(610, 610 + out_s, out_x, 0)
    b.stay(b.last_t + 10, b.last_t + 10 + back_s, 60, 0)
    b.drive(b.last_t + 10, (60, 0), (5100, 0), 12.0, include_start=False)
    return b.stay(b.last_t + 10, b.last_t + 300, 5100, 0)


@pytest.mark.parametrize(
    ("out_x", "out_s"),
    [
        (130, 0),  # one fix 30 m outside
        (200, 40),  # five fixes 100 m outside, over 40 s
        (140, 900),  # a quarter of an hour 40 m outside (waiting by the gate)
    ],
)
def test_fence_jitter_at_departure_leaves_one_leg(out_x, out_s):
    track, trips = trips_of(jittery_departure(out_x, out_s), ctx())
    assert kinds(trips) == [
        ("visit", ("site", 1), 1),
        ("loaded", ("site", 1), 10),
        ("visit", ("facility", 10), 10),
    ]
    # The leg leaves at the last fix in the site: after the excursion.
    assert track.t[trips[1].first_fix] == 610 + out_s + 10 + track.t[0]


def test_a_real_excursion_from_the_fence_is_a_leg_of_its_own():
    # 60 s farther than 50 m from the fence: the truck left, came back and stopped.
    _, trips = trips_of(jittery_departure(200, 60, back_s=150), ctx())
    assert kinds(trips) == [
        ("visit", ("site", 1), 1),
        ("loaded", ("site", 1), 1),
        ("visit", ("site", 1), 1),
        ("loaded", ("site", 1), 10),
        ("visit", ("facility", 10), 10),
    ]


def test_fence_hysteresis_is_a_setting():
    th = Thresholds(fence_exit_margin_m=20.0, fence_exit_min_s=30.0)
    _, trips = trips_of(jittery_departure(200, 40, back_s=150), ctx(thresholds=th))
    assert len(trips) == 5
    _, trips = trips_of(jittery_departure(200, 40, back_s=150), ctx())
    assert len(trips) == 3


def test_coming_back_through_the_fence_without_stopping_is_no_visit():
    # Out for a minute, back through the site for 10 s, off to the facility: one leg.
    _, trips = trips_of(jittery_departure(200, 60), ctx())
    assert kinds(trips) == [
        ("visit", ("site", 1), 1),
        ("loaded", ("site", 1), 10),
        ("visit", ("facility", 10), 10),
    ]


def through_other_site(stop_s: float) -> TrackBuilder:
    """Site → along y=0 through the other site's fence (x=2400..2600), stopping ``stop_s``
    at x=2500 → facility."""
    b = TrackBuilder().stay(0, 600, 0, 0)
    b.drive(610, (0, 0), (2500, 0), 10.0, include_start=False)
    if stop_s:
        b.stay(b.last_t + 10, b.last_t + stop_s, 2500, 0)
    b.drive(b.last_t + 10, (2500, 0), (5100, 0), 10.0, include_start=False)
    return b.stay(b.last_t + 10, b.last_t + 300, 5100, 0)


def test_passing_through_another_fence_keeps_one_leg():
    c = ctx(sites=[SITE, OTHER_SITE])
    track, trips = trips_of(through_other_site(60), c)
    assert kinds(trips) == [
        ("visit", ("site", 1), 1),
        ("loaded", ("site", 1), 10),
        ("visit", ("facility", 10), 10),
    ]
    leg = trips[1]
    # Its fixes in the other fence: two on the way in and out, seven of the 60 s stop.
    assert (track.zone["site"][leg.start_index : leg.end_index] == 1).sum() == 9
    assert leg.permit_no == "HZ-2024-001"


def test_stopping_in_another_fence_ends_the_leg():
    c = ctx(sites=[SITE, OTHER_SITE])
    _, trips = trips_of(through_other_site(130), c)
    assert kinds(trips) == [
        ("visit", ("site", 1), 1),
        ("loaded", ("site", 1), 2),
        ("visit", ("site", 2), 2),
        ("loaded", ("site", 2), 10),
        ("visit", ("facility", 10), 10),
    ]


def test_a_fence_at_the_end_of_the_track_stays_a_visit():
    # Ends 30 s into the facility: nothing says the truck did not stop there.
    b = TrackBuilder().stay(0, 600, 0, 0)
    b.drive(610, (0, 0), (5100, 0), 10.0, include_start=False)
    _, trips = trips_of(b, ctx())
    assert kinds(trips)[-1] == ("visit", ("facility", 10), 10)
