"""Restricted zones on the road network: the one rule the route planner and the engine share.

A zone covers an area (``cdw.geo.shapes.zone_area``: a polygon, or a banned road's line
buffered by the corridor half-width). A banned road drawn along the network is tied to the
arcs it runs along (``banned_arcs``): the engine flags a fix in its corridor only when the
fix is matched onto one of them, and the planner bans them. Any other zone is its area: the
engine flags every fix inside, and the planner avoids every arc that meets it. So a proposed
route never takes what RESTRICTED_ZONE would flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from cdw.geo.shapes import zone_area

if TYPE_CHECKING:
    from cdw.roads.network import RoadNetwork
    from cdw.roads.services import Roads


def banned_arcs(roads: Roads | None, line: BaseGeometry | None) -> np.ndarray | None:
    """The network arcs (both directions) a projected banned-road line runs along, part by
    part; None without a network or a line, or when the line runs along no road (its
    corridor then counts as an area)."""
    if roads is None or line is None:
        return None
    arcs = np.unique(
        np.concatenate(
            [roads.edges_along(part) for part in shapely.get_parts(line)] or [np.empty(0, int)]
        )
    ).astype(np.int64)
    return arcs if arcs.size else None


@dataclass(frozen=True)
class ZoneOnRoads:
    """A restricted zone as the network sees it, in the network's projected metres."""

    area: BaseGeometry
    line: BaseGeometry | None
    arcs: np.ndarray | None  # the banned road's arcs; None: the area counts

    @classmethod
    def of(
        cls, projected: BaseGeometry, roads: Roads | None, corridor_half_width_m: float
    ) -> ZoneOnRoads:
        area, line = zone_area(projected, corridor_half_width_m)
        return cls(area, line, banned_arcs(roads, line))


def zone_restrictions(
    network: RoadNetwork, zones: Iterable[ZoneOnRoads]
) -> tuple[frozenset[int], tuple[BaseGeometry, ...]]:
    """What a route must avoid: the arcs of banned roads tied to the network, and the area
    (in lon/lat, as ``RouteRestrictions.restricted_zones`` takes them) of every other zone."""
    arcs: set[int] = set()
    areas: list[BaseGeometry] = []
    for zone in zones:
        if zone.arcs is not None:
            arcs.update(int(a) for a in zone.arcs)
        else:
            areas.append(network.projector.geom_inverse(zone.area))
    return frozenset(arcs), tuple(areas)
