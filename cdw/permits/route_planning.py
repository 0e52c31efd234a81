"""Routes for permits (核准路线): proposals from a site to a facility, and officer-drawn
lines snapped onto the road network and checked.

Both honour the same restrictions: hgv=no, the vehicle's weight against maxweight, road
classes the officer excludes, and every active restricted zone of the registry as the engine
reads it (``cdw.roads.zones``: banned-road lines ban the network arcs they run along; polygons,
and lines along no road buffered by the corridor half-width, are avoided). Each route comes
back as a GeoJSON Feature that a permit's ``routes`` accepts as it is.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator
from shapely.geometry import LineString
from sqlmodel import Session, select

from cdw.config import Settings
from cdw.errors import Conflict, InputFileError, Problem, ValidationFailed
from cdw.geo.shapes import GEOFENCE, GEOFENCE_KINDS, ROUTE, parse_geometry
from cdw.registry.categories import ZoneKind
from cdw.registry.models import ConstructionSite, DisposalFacility, RecordStatus, RestrictedZone
from cdw.registry.services import get
from cdw.roads.matching import MatchParams
from cdw.roads.routing import RouteProposal, RouteRestrictions, propose_routes, snap_route
from cdw.roads.services import Roads
from cdw.roads.sources import load_network
from cdw.roads.zones import ZoneOnRoads, zone_restrictions

MAX_ALTERNATIVES = 5
# A drawn line is a few hundred points: a matcher without a distance table, as snap_route's.
SNAP_PARAMS = MatchParams(sigma_m=5.0, table_m=0.0)

LonLat = tuple[Annotated[float, Field(ge=-180, le=180)], Annotated[float, Field(ge=-90, le=90)]]


class RouteOptions(BaseModel):
    """What a route must avoid besides hgv=no roads and the registry's restricted zones."""

    model_config = ConfigDict(extra="forbid")

    excluded_road_classes: list[str] = Field(
        default_factory=list, description="排除的道路等级 / road classes (highway) to avoid"
    )
    vehicle_weight_t: float | None = Field(
        default=None, gt=0, le=100, description="车辆总重（吨） / vehicle weight (t)"
    )


class ProposalRequest(RouteOptions):
    """From a site (or an ``origin`` [lon, lat]) to a facility (or a ``destination``)."""

    site_id: int | None = None
    facility_id: int | None = None
    origin: LonLat | None = Field(default=None, description="起点 [经度, 纬度] / [lon, lat]")
    destination: LonLat | None = Field(default=None, description="终点 / [lon, lat]")
    alternatives: int = Field(default=3, ge=0, le=MAX_ALTERNATIVES, description="备选路线数")


class RouteCheckRequest(RouteOptions):
    route: dict[str, Any] = Field(
        description="GeoJSON LineString（或含它的 Feature） / a LineString or a Feature of one"
    )

    @field_validator("route")
    @classmethod
    def _line(cls, value: dict[str, Any]) -> dict[str, Any]:
        route_line(value)
        return value


def route_line(geojson: Any, field: str = "route") -> LineString:
    """The lon/lat LineString of a GeoJSON LineString, a Feature of one, or a
    FeatureCollection of exactly one."""
    if isinstance(geojson, dict) and geojson.get("type") == "FeatureCollection":
        features = geojson.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise ValidationFailed(
                [
                    Problem(
                        field,
                        "FeatureCollection 须只含一条路线",
                        "a FeatureCollection must hold one route",
                    )
                ]
            )
        geojson = features[0]
    geom = parse_geometry(geojson, ("LineString",), field=field, what=ROUTE)
    if len(np.unique(shapely.get_coordinates(geom), axis=0)) < 2:
        raise ValidationFailed(
            [Problem(field, "路线须有至少两个不同的点", "route needs two or more distinct points")]
        )
    return geom


def permit_roads(settings: Settings) -> Roads:
    """The configured network with a matcher for drawn lines; 409 when none is usable."""
    if settings.road_network is None:
        raise Conflict(
            "未配置路网：请设置 CDW_ROAD_NETWORK",
            "no road network configured: set CDW_ROAD_NETWORK",
            problems=[Problem("CDW_ROAD_NETWORK", "未设置", "not set")],
        )
    try:
        network = load_network(settings.road_network)
    except InputFileError as exc:
        raise Conflict(
            f"无法读取路网 CDW_ROAD_NETWORK：{exc.zh}",
            f"cannot read the road network CDW_ROAD_NETWORK: {exc.en}",
            problems=exc.problems,
        ) from exc
    return Roads(network, SNAP_PARAMS)


class _Zones:
    """The active restricted zones on one network (``cdw.roads.zones``: banned-road arcs,
    and areas), as the engine sees them."""

    def __init__(self, session: Session, roads: Roads, corridor_half_width_m: float) -> None:
        net = roads.network
        self.projector = net.projector
        self.rows = session.exec(
            select(RestrictedZone)
            .where(RestrictedZone.status == RecordStatus.active)
            .order_by(RestrictedZone.id)
        ).all()
        self.on_roads = {
            zone.id: ZoneOnRoads.of(
                net.projector.geom_forward(
                    parse_geometry(zone.geofence, GEOFENCE_KINDS, field="geofence", what=GEOFENCE)
                ),
                roads,
                corridor_half_width_m,
            )
            for zone in self.rows
        }
        self.banned_edges, self.areas = zone_restrictions(net, self.on_roads.values())

    def entered_by(self, proposal: RouteProposal) -> list[dict[str, Any]]:
        """The zones a route enters: it uses a banned road's arc, or meets another's area."""
        line = None
        entered = []
        for zone in self.rows:
            on_roads = self.on_roads[zone.id]
            if on_roads.arcs is not None:
                hit = np.isin(proposal.edge_ids, on_roads.arcs).any()
            else:
                if line is None:
                    line = self.projector.geom_forward(proposal.geometry)
                hit = on_roads.area.intersects(line)
            if hit:
                entered.append(
                    {
                        "id": zone.id,
                        "name": zone.name,
                        "kind": str(zone.kind),
                        "kind_zh": ZoneKind(zone.kind).zh,
                    }
                )
        return entered


def _restrictions(roads: Roads, options: RouteOptions, zones: _Zones) -> RouteRestrictions:
    known = [str(c) for c in roads.network.highway_classes]
    unknown = sorted(set(options.excluded_road_classes) - set(known))
    if unknown:
        raise ValidationFailed(
            [
                Problem(
                    "excluded_road_classes",
                    f"路网中没有道路等级 {'、'.join(unknown)}（可选：{'、'.join(known)}）",
                    f"unknown road class {', '.join(unknown)} (known: {', '.join(known)})",
                )
            ]
        )
    return RouteRestrictions(
        vehicle_weight_t=options.vehicle_weight_t,
        excluded_classes=frozenset(options.excluded_road_classes),
        banned_edges=zones.banned_edges,
        restricted_zones=zones.areas,
    )


def _end(
    session: Session,
    model: type[ConstructionSite | DisposalFacility],
    record_id: int | None,
    point: tuple[float, float] | None,
    names: tuple[str, str],
) -> tuple[float, float]:
    """A route end: the record's geofence centroid, or the point given."""
    id_field, point_field = names
    if (record_id is None) == (point is None):
        raise ValidationFailed(
            [
                Problem(
                    id_field,
                    f"{id_field} 与 {point_field} 须给出且只给出一个",
                    f"give exactly one of {id_field} and {point_field}",
                )
            ]
        )
    if point is not None:
        return point
    fence = get(session, model, record_id).geofence
    centroid = parse_geometry(fence, GEOFENCE_KINDS, field="geofence", what=GEOFENCE).centroid
    return centroid.x, centroid.y


def _feature(roads: Roads, proposal: RouteProposal, **properties: Any) -> dict[str, Any]:
    """``proposal.to_geojson()`` with ``properties`` and the roads passed, in order."""
    net = roads.network
    passed: list[dict[str, Any]] = []
    for edge in proposal.edge_ids:
        zh, en = roads.label(edge)
        length = float(net.edge_length_m[edge])
        if passed and passed[-1]["name_zh"] == zh:
            passed[-1]["length_m"] += length
        else:
            passed.append({"name_zh": zh, "name_en": en, "length_m": length})
    for road in passed:
        road["length_m"] = round(road["length_m"], 1)
    feature = proposal.to_geojson()
    feature["properties"] = {**properties, **feature["properties"], "roads": passed}
    return feature


def propose(session: Session, settings: Settings, request: ProposalRequest) -> dict[str, Any]:
    """A FeatureCollection of the fastest permitted route (rank 1) and its alternatives;
    ``problems`` says why when there is none."""
    origin = _end(session, ConstructionSite, request.site_id, request.origin, ("site_id", "origin"))
    destination = _end(
        session,
        DisposalFacility,
        request.facility_id,
        request.destination,
        ("facility_id", "destination"),
    )
    roads = permit_roads(settings)
    zones = _Zones(session, roads, settings.thresholds.corridor_half_width_m)
    restrictions = _restrictions(roads, request, zones)
    proposals = propose_routes(
        roads.network, origin, destination, restrictions, alternatives=request.alternatives
    )
    none = Problem(
        "route", "在这些限制下没有可行路线", "no permitted route under these restrictions"
    )
    return {
        "type": "FeatureCollection",
        "features": [_feature(roads, p, rank=k) for k, p in enumerate(proposals, 1)],
        "origin": list(origin),
        "destination": list(destination),
        "problems": [] if proposals else [none.as_dict()],
    }


def check(session: Session, settings: Settings, request: RouteCheckRequest) -> dict[str, Any]:
    """A drawn line snapped onto the network: the snapped route (a Feature, or None when no
    part of it is on the network), every restriction it breaks and the zones it enters."""
    line = route_line(request.route)
    roads = permit_roads(settings)
    zones = _Zones(session, roads, settings.thresholds.corridor_half_width_m)
    restrictions = _restrictions(roads, request, zones)
    snapped = snap_route(roads.network, line, restrictions, matcher=roads.matcher)
    proposal = snapped.proposal
    return {
        "acceptable": proposal is not None and not snapped.violations,
        "route": _feature(roads, proposal) if proposal else None,
        "problems": [p.as_dict() for p in snapped.violations],
        "zones": zones.entered_by(proposal) if proposal else [],
    }
