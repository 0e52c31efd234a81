"""The engine's context from the database: the one place the registry, permit and flag
tables become an :class:`~cdw.tracking.context.AnalysisContext`.

Known dumping hotspots are the hotspots (``cdw.enforcement.hotspots``: suspected dumping and
long stops not dismissed, DBSCAN) of the ``HOTSPOT_LOOKBACK_DAYS`` before the days analysed:
only earlier days, so a day's own flags never raise its own scores and re-analysing a day
gives the same answer. Each is a disc of the clustering radius around its centre.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Text, cast
from sqlmodel import Session, col, select

from cdw.config import Settings, get_settings
from cdw.enforcement.hotspots import DEFAULT_MIN_EVENTS, DEFAULT_RADIUS_M, hotspots
from cdw.geo.projection import Projector
from cdw.geo.shapes import GEOFENCE, GEOFENCE_KINDS, parse_geometry, route_lines_of_json, zone_area
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.permits.rules import effective_thresholds, parse_hours
from cdw.registry.models import (
    ConstructionSite,
    Depot,
    DisposalFacility,
    RecordStatus,
    RestrictedZone,
    Vehicle,
)
from cdw.roads.network import RoadNetwork
from cdw.roads.services import Roads
from cdw.roads.sources import load_network
from cdw.tracking.context import AnalysisContext, PermitRule, Zone

HOTSPOT_LOOKBACK_DAYS = 90


def known_hotspots(session: Session, day_start: date, projector: Projector) -> list[Zone]:
    """The dumping hotspots of the ``HOTSPOT_LOOKBACK_DAYS`` before ``day_start``, projected."""
    found = hotspots(
        session,
        day_from=day_start - timedelta(days=HOTSPOT_LOOKBACK_DAYS),
        day_to=day_start - timedelta(days=1),
        radius_m=DEFAULT_RADIUS_M,
        min_events=DEFAULT_MIN_EVENTS,
    )
    out = []
    for spot in found:
        (x,), (y,) = projector.forward([spot.lon], [spot.lat])
        out.append(
            Zone(
                id=spot.rank,
                name=f"热点 #{spot.rank}（{spot.count} 次）/ hotspot #{spot.rank} ({spot.count} events)",
                geometry=Point(float(x), float(y)).buffer(DEFAULT_RADIUS_M),
                kind="hotspot",
            )
        )
    return out


def _projected(projector: Projector, geoms: list[BaseGeometry]) -> list[BaseGeometry]:
    """``geoms`` projected in one call over all their coordinates (``Projector.geom_forward``
    of an array: one projection kernel call, not one a geometry)."""
    if not geoms:
        return []
    array = np.empty(len(geoms), dtype=object)
    array[:] = geoms
    return list(projector.geom_forward(array))


def load_context(
    session: Session,
    day_start: date,
    day_end: date,
    projector: Projector,
    settings: Settings | None = None,
) -> AnalysisContext:
    """Active geofences, the permits approved for any day in ``day_start..day_end``, the
    known dumping hotspots (those of the flags before ``day_start``: ``known_hotspots``) and
    the road network of the settings with its matcher."""
    settings = settings or get_settings()
    fields, network = context_parts(session, day_start, day_end, projector, settings)
    roads = (
        None
        if network is None
        else Roads.for_projector(network, projector, table_cache=settings.road_cache_dir)
    )
    return AnalysisContext(**fields, roads=roads)


def context_parts(
    session: Session,
    day_start: date,
    day_end: date,
    projector: Projector,
    settings: Settings | None = None,
) -> tuple[dict[str, Any], RoadNetwork | None]:
    """``load_context`` unbuilt: every field of the context but its roads, and the road
    network of the settings as loaded (None without one), its matcher not built (a Dask
    coordinator only sends them: ``cdw.flows.partitioned.ContextParcel``)."""
    settings = settings or get_settings()
    base = settings.thresholds
    half_width = base.corridor_half_width_m

    def zones(model: Any, table: str) -> list[Zone]:
        rows = session.exec(
            select(model).where(model.status == RecordStatus.active).order_by(model.id)
        ).all()
        fences = _projected(
            projector,
            [
                parse_geometry(
                    row.geofence, GEOFENCE_KINDS, field="geofence", what=GEOFENCE,
                    source=f"{table} {row.id}",
                )
                for row in rows
            ],
        )  # fmt: skip
        out = []
        for row, fence in zip(rows, fences, strict=True):
            # a banned road's area is its corridor (``zone_area``)
            polygon, line = zone_area(fence, half_width)
            kind = str(getattr(row, "kind", None) or "")
            out.append(Zone(id=row.id, name=row.name, geometry=polygon, kind=kind, line=line))
        return out

    plates_by_permit: dict[int, set[str]] = {}
    links = session.exec(
        select(PermitVehicle.permit_id, Vehicle.plate).join(
            Vehicle, col(Vehicle.id) == col(PermitVehicle.vehicle_id)
        )
    ).all()
    for permit_id, plate in links:
        plates_by_permit.setdefault(permit_id, set()).add(plate)

    # the permit's columns the engine reads, its routes as their JSON text
    # (``route_lines_of_json``: GEOS reads them, no Python lists of their coordinates)
    permits = session.exec(
        select(
            Permit.id, Permit.permit_no, Permit.site_id, Permit.facility_id, Permit.valid_from,
            Permit.valid_to, Permit.allowed_hours_start, Permit.allowed_hours_end,
            Permit.threshold_overrides, Permit.corridor_half_width_m,
            cast(Permit.routes, Text),
        )
        .where(
            Permit.status == PermitStatus.approved,
            Permit.valid_from <= day_end,
            Permit.valid_to >= day_start,
        )
        .order_by(Permit.id)
    ).all()  # fmt: skip
    parsed = []  # each permit's fields read in the order their errors are reported
    for permit in permits:
        source = f"permit {permit.permit_no}"
        hours = parse_hours(permit.allowed_hours_start, permit.allowed_hours_end, source)
        lines = route_lines_of_json(permit[-1], source=source)
        thresholds = effective_thresholds(
            base, permit.threshold_overrides, permit.corridor_half_width_m, source
        )
        parsed.append((permit, hours, lines, thresholds))
    projected = iter(_projected(projector, [line for _, _, lines, _ in parsed for line in lines]))
    rules = [
        PermitRule(
            permit_no=permit.permit_no,
            site_id=permit.site_id,
            facility_id=permit.facility_id,
            vehicles=frozenset(plates_by_permit.get(permit.id, ())),
            valid_from=permit.valid_from,
            valid_to=permit.valid_to,
            allowed_hours=hours,
            routes=tuple(next(projected) for _ in lines),
            thresholds=thresholds,
        )
        for permit, hours, lines, thresholds in parsed
    ]

    fields = dict(
        projector=projector,
        thresholds=base,
        timezone=ZoneInfo(settings.local_timezone),
        sites=zones(ConstructionSite, "construction_site"),
        facilities=zones(DisposalFacility, "disposal_facility"),
        depots=zones(Depot, "depot"),
        restricted=zones(RestrictedZone, "restricted_zone"),
        hotspots=known_hotspots(session, day_start, projector),
        permits=rules,
        no_load_sensor=frozenset(
            session.exec(select(Vehicle.plate).where(col(Vehicle.load_sensor).is_(False))).all()
        ),
    )
    network = None if settings.road_network is None else load_network(settings.road_network)
    return fields, network
