"""A small road network (GeoJSON, local metres) with a site and a facility, for route tests.

A site at (-100, 0) leaves by 工地出口路 (service) to O (0, 0); three roads run from O to
D (1000, 0): 南环路 (primary, through (500, -100), the fastest), 北环路 (secondary, through
(500, 100)) and 中路 (tertiary, straight); 消纳场进场路 (service) leads on to a facility at
(1100, 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shapely.geometry import LineString, mapping
from sqlmodel import Session

from cdw.registry.categories import WasteCategory, ZoneKind
from cdw.registry.models import RestrictedZone
from tests.factories import add_facility, add_site
from tests.roads.handbuilt import lonlat
from tests.sample_registry import box

ROADS = {
    "工地出口路": ("service", [(-100, 0), (0, 0)]),
    "南环路": ("primary", [(0, 0), (500, -100), (1000, 0)]),
    "北环路": ("secondary", [(0, 0), (500, 100), (1000, 0)]),
    "中路": ("tertiary", [(0, 0), (1000, 0)]),
    "消纳场进场路": ("service", [(1000, 0), (1100, 0)]),
}


def local(x: float, y: float) -> tuple[float, float]:
    lon, lat = lonlat([x], [y])
    return float(lon[0]), float(lat[0])


def local_line(*points: tuple[float, float]) -> dict[str, Any]:
    return mapping(LineString([local(x, y) for x, y in points]))


def write_roads(folder: Path) -> Path:
    features = [
        {
            "type": "Feature",
            "geometry": local_line(*points),
            "properties": {"name_zh": name, "road_class": cls},
        }
        for name, (cls, points) in ROADS.items()
    ]
    path = folder / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def seed(session: Session) -> tuple[int, int]:
    """The site and the facility; their ids."""
    site = add_site(
        session,
        name="测试工地",
        project_permit_no="P-1",
        builder="甲",
        contractor="乙",
        geofence=box(*local(-100, 0), 40, 40),
        expected_categories=[],
        expected_volume_m3=100,
    )
    facility = add_facility(
        session,
        geofence=box(*local(1100, 0), 40, 40),
        capacity_m3=1000,
        accepted_categories=[WasteCategory.excavated_soil],
        opening_hours="00:00-24:00",
    )
    return site.id, facility.id


def add_zone(session: Session, name: str, kind: ZoneKind, geofence: dict, **kw: Any) -> int:
    """A restricted zone stored as given: a banned road may be a line, which the zone input
    model (polygons only) refuses, so it is inserted directly."""
    zone = RestrictedZone(name=name, kind=kind, geofence=geofence, **kw)
    session.add(zone)
    session.commit()
    return zone.id
