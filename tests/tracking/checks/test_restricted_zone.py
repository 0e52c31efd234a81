from cdw.flags.codes import FlagCode
from cdw.tracking.checks import restricted_zone
from cdw.tracking.context import Zone
from tests.tracking.handbuilt import TrackBuilder, box, context, line, roads, run_check, utc, zone

RESERVOIR = zone(30, box(2000, 500, 2400, 900), "北江水源保护区", kind="water_source")


def pass_along(y: float, x0: float = 1805.0, x1: float = 2605.0, t0: float = 0.0) -> TrackBuilder:
    """Fixes every second along y at 10 m/s from x0 (fixes at x0 + 10 k)."""
    return TrackBuilder().drive(t0, (x0, y), (x1, y), 10.0, step=1.0)


def test_driving_through_a_restricted_zone_fires():
    (flag,) = run_check(restricted_zone.check, pass_along(700), context(restricted=[RESERVOIR]))
    assert flag.code == FlagCode.RESTRICTED_ZONE
    # Inside from x=2005 (t=20) to x=2395 (t=59).
    assert (flag.start, flag.end) == (utc(20), utc(59))
    assert flag.measured == {
        "zone_id": 30,
        "zone": "北江水源保护区",
        "zone_kind": "water_source",
        "duration_s": 39.0,
        "distance_m": 390.0,
        "n_fixes": 40,
    }
    assert flag.severity == 71
    assert flag.explanation_zh == (
        "进入禁区「北江水源保护区」（水源保护区），区内 39 秒、390 米（任何进入均违规）"
    )
    assert flag.explanation_en == (
        "Inside restricted zone '北江水源保护区' (water-source protection area) for 39 s "
        "and 390 m (any entry counts)"
    )


def test_passing_ten_metres_outside_does_not_fire():
    assert run_check(restricted_zone.check, pass_along(910), context(restricted=[RESERVOIR])) == []


def test_two_entries_are_two_flags():
    b = pass_along(700)
    b.drive(b.last_t + 1, (2605, 800), (1805, 800), 10.0, step=1.0)
    flags = run_check(restricted_zone.check, b, context(restricted=[RESERVOIR]))
    assert [f.measured["n_fixes"] for f in flags] == [40, 40]
    assert flags[1].start == utc(81 + 21)  # back east to west: x=2395 at t=102


def test_no_restricted_zones_no_flags():
    assert run_check(restricted_zone.check, pass_along(700), context()) == []


# --- banned roads on matched edges -----------------------------------------------------

# 解放路 along y=0 from x=-500 to 1500, banned from x=0 to 1000 (its nodes at 0, 500, 1000);
# a parallel road 40 m north, inside the banned road's 50 m corridor; a crossing road
# along x=500 through the junction at (500, 0).
BANNED_LINE = line((0, 0), (1000, 0))
BANNED = Zone(40, "解放路禁行路段", BANNED_LINE.buffer(50.0), "banned_road", BANNED_LINE)
NETWORK = roads(
    {1: (-500, 0), 2: (0, 0), 3: (500, 0), 4: (1000, 0), 5: (1500, 0)}
    | {6: (-500, 40), 7: (1500, 40), 8: (500, -500), 9: (500, 500)},
    [
        ([1, 2, 3, 4, 5], {"name": "解放路", "highway": "primary"}),
        ([6, 7], {"name": "解放路辅路", "highway": "service"}),
        ([8, 3, 9], {"name": "人民路", "highway": "secondary"}),
    ],
)


def east(y: float) -> TrackBuilder:
    """Fixes every 10 s at 7 m/s along y from x=-500 to 1500: x = -500 + 70 k."""
    return TrackBuilder().drive(0, (-500, y), (1500, y), 7.0, step=10.0)


def test_the_banned_road_is_tied_to_the_edges_it_was_drawn_along():
    ctx = context(restricted=[BANNED], roads=NETWORK)
    net = NETWORK.network
    tied = {
        (int(net.node_id[net.edge_from[e]]), int(net.node_id[net.edge_to[e]]))
        for e in ctx.banned_edges(0)
    }
    assert tied == {(2, 3), (3, 2), (3, 4), (4, 3)}


def test_driving_along_the_banned_road_fires_on_its_matched_edges():
    ctx = context(restricted=[BANNED], roads=NETWORK)
    (flag,) = run_check(restricted_zone.check, east(0), ctx)
    # In the corridor from x=-10 (t=70) to x=1040 (t=220), but on the banned edges only from
    # x=60 (t=80) to x=970 (t=210); without the network the corridor alone counts.
    assert (flag.start, flag.end) == (utc(80), utc(210))
    assert flag.measured["on_matched_road"] is True
    assert flag.measured["n_fixes"] == 14
    assert flag.explanation_zh == (
        "进入禁区「解放路禁行路段」（禁行道路），区内 2.2 分钟、910 米，经地图匹配在该禁行道路上"
        "（任何进入均违规）"
    )
    assert flag.explanation_en == (
        "Inside restricted zone '解放路禁行路段' (banned road) for 2.2 min and 910 m, "
        "map-matched onto the banned road (any entry counts)"
    )
    (plain,) = run_check(restricted_zone.check, east(0), context(restricted=[BANNED]))
    assert (plain.start, plain.end) == (utc(70), utc(220))
    assert "on_matched_road" not in plain.measured


def test_a_parallel_road_inside_the_corridor_is_not_the_banned_road():
    assert (
        run_check(restricted_zone.check, east(40), context(restricted=[BANNED], roads=NETWORK))
        == []
    )
    assert len(run_check(restricted_zone.check, east(40), context(restricted=[BANNED]))) == 1


def test_crossing_the_banned_road_is_not_driving_on_it():
    # Fixes every second at 10 m/s along x=500, y = -495 + 10 k: ten of them in the corridor.
    crossing = TrackBuilder().drive(0, (500, -495), (500, 495), 10.0, step=1.0)
    assert (
        run_check(restricted_zone.check, crossing, context(restricted=[BANNED], roads=NETWORK))
        == []
    )
    (plain,) = run_check(restricted_zone.check, crossing, context(restricted=[BANNED]))
    assert plain.measured["n_fixes"] == 10


def test_a_water_source_polygon_is_unchanged_by_a_network():
    (flag,) = run_check(
        restricted_zone.check, pass_along(700), context(restricted=[RESERVOIR], roads=NETWORK)
    )
    assert (flag.start, flag.end) == (utc(20), utc(59))
    assert "on_matched_road" not in flag.measured


def along_the_edge(thrown: dict[int, float]) -> TrackBuilder:
    """Every 10 s at 10 m/s along y=880, 20 m inside the zone's north edge, from x=1955 to
    x=2455 (inside at fixes 1-4, x=2055-2355); fix k (x = 1955 + 100 k) is thrown to
    y = ``thrown[k]`` by GPS noise."""
    b = TrackBuilder()
    for k in range(6):
        b.at(10.0 * k, 1955.0 + 100 * k, thrown.get(k, 880.0))
    return b


def test_gps_jitter_at_the_edge_of_a_zone_is_one_entry():
    """Fixes 2 and 3 thrown 30 m and 45 m outside the zone (within fence_exit_margin_m 50 m
    of it): one flag from the first fix inside to the last, counting the fixes inside."""
    ctx = context(restricted=[RESERVOIR])
    (flag,) = run_check(restricted_zone.check, along_the_edge({2: 930.0, 3: 945.0}), ctx)
    assert (flag.start, flag.end) == (utc(10), utc(40))  # x=2055 to x=2355
    assert flag.measured["n_fixes"] == 2
    assert flag.measured["duration_s"] == 30.0
    # one fix thrown 80 m out is multipath, no exit; two in a row are an exit
    (flag,) = run_check(restricted_zone.check, along_the_edge({2: 980.0}), ctx)
    assert (flag.start, flag.end, flag.measured["n_fixes"]) == (utc(10), utc(40), 3)
    flags = run_check(restricted_zone.check, along_the_edge({2: 980.0, 3: 980.0}), ctx)
    assert [(f.start, f.end) for f in flags] == [(utc(10), utc(10)), (utc(40), utc(40))]


def test_leaving_a_zone_for_a_minute_and_coming_back_is_two_entries():
    """Out of the zone 100 m north for 40 s (fixes at t=20..60), then back in: two flags."""
    b = TrackBuilder()
    for t, (x, y) in enumerate([(2100, 700), (2200, 700), (2200, 1000), (2300, 1000),
                                (2400, 1000), (2500, 1000), (2500, 1000), (2300, 700),
                                (2200, 700)]):  # fmt: skip
        b.at(10.0 * t, x, y)
    flags = run_check(restricted_zone.check, b, context(restricted=[RESERVOIR]))
    assert [(f.start, f.end) for f in flags] == [(utc(0), utc(10)), (utc(70), utc(80))]
