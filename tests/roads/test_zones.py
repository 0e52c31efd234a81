"""One rule for restricted zones on roads (``cdw.roads.zones``): the route the planner
proposes around a zone is never flagged RESTRICTED_ZONE by the engine, and the route it
would take without the zone is."""

from __future__ import annotations

import numpy as np
import pytest

from cdw.config import Thresholds
from cdw.roads.routing import RouteProposal, RouteRestrictions, propose_routes
from cdw.roads.zones import ZoneOnRoads, zone_restrictions
from cdw.tracking.checks import restricted_zone
from cdw.tracking.context import Zone
from tests.tracking.handbuilt import (
    PROJ,
    TrackBuilder,
    box,
    context,
    line,
    lonlat,
    roads,
    run_check,
)

HALF_WIDTH = Thresholds().corridor_half_width_m
# 解放路 (primary) from x=-500 to 1500 along y=0; 北环路 (tertiary) leaves it at (0, 0) and
# rejoins it at (1000, 0) by way of y=400, well outside any corridor along y=0.
NETWORK = roads(
    {1: (-500, 0), 2: (0, 0), 3: (500, 0), 4: (1000, 0), 5: (1500, 0)}
    | {6: (0, 400), 7: (1000, 400)},
    [
        ([1, 2, 3, 4, 5], {"name": "解放路", "highway": "primary"}),
        ([2, 6, 7, 4], {"name": "北环路", "highway": "tertiary"}),
    ],
)
ZONES = {
    "banned road": line((0, 0), (1000, 0)),
    "polygon": box(300, -60, 700, 60),
}


def propose(zones: list[ZoneOnRoads]) -> RouteProposal:
    banned, areas = zone_restrictions(NETWORK.network, zones)
    restrictions = RouteRestrictions(banned_edges=banned, restricted_zones=areas)
    (route,) = propose_routes(
        NETWORK.network, lonlat(-500, 0), lonlat(1500, 0), restrictions, alternatives=0
    )
    return route


def drive(route: RouteProposal) -> TrackBuilder:
    """Fixes every second at 10 m/s along the route's vertices (local metres)."""
    origin = np.array(line((0, 0), (0, 0)).coords[0])
    x, y = PROJ.forward(*np.array(route.geometry.coords).T)
    local = np.column_stack((x, y)) - origin
    builder = TrackBuilder()
    for k, (a, b) in enumerate(zip(local[:-1], local[1:], strict=True)):
        t0 = builder.last_t if k else 0.0
        builder.drive(t0, tuple(a), tuple(b), 10.0, step=1.0, include_start=k == 0)
    return builder


@pytest.mark.parametrize("kind", list(ZONES))
def test_a_route_proposed_around_a_zone_is_not_flagged_and_the_direct_one_is(kind: str) -> None:
    on_roads = ZoneOnRoads.of(ZONES[kind], NETWORK, HALF_WIDTH)
    assert (on_roads.arcs is not None) == (kind == "banned road")
    engine_zone = Zone(7, "禁区", on_roads.area, "banned_road", on_roads.line)
    ctx = context(restricted=[engine_zone], roads=NETWORK)
    if on_roads.arcs is not None:  # the engine ties the road to the same arcs
        assert ctx.banned_edges(0).tolist() == on_roads.arcs.tolist()

    direct = propose([])
    assert run_check(restricted_zone.check, drive(direct), ctx) != []
    around = propose([on_roads])
    assert around.edge_ids != direct.edge_ids
    assert run_check(restricted_zone.check, drive(around), ctx) == []
