"""Map layers for the console: the road network by bbox and zoom, and the geofences (the
console's own settings, its tile URL and map centre, are ``/console/settings``, cdw.web).

Every logged-in role reads them: the roads are public map data, the geofences are scoped as
the registry's lists are (``cdw.registry.map``: a dispatcher sees its site, an operator its
facility, a haulier its depots; restricted zones every role).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cdw.api.deps import SessionDep, SettingsDep, require_roles
from cdw.api.schemas import errors
from cdw.auth.models import Role, User
from cdw.config import Settings
from cdw.errors import Conflict, InputFileError, Problem, ValidationFailed
from cdw.registry.map import GEOFENCE_KINDS, geofence_features
from cdw.registry.services import scope_for
from cdw.roads.layers import (
    MAX_ZOOM,
    MIN_ZOOM,
    RoadLayers,
    band_of,
    check_bbox,
    road_layers,
    warm_up,
)

router = APIRouter(tags=["map 地图"])

MAP_READERS = tuple(Role)
Reader = Annotated[User, require_roles(*MAP_READERS)]
GeofenceKind = Literal["site", "facility", "depot", "zone"]


# --- answers ---------------------------------------------------------------------------------


class LineGeometry(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[tuple[float, float]]


class RoadProperties(BaseModel):
    highway: str = Field(description="OSM road class")
    highway_zh: str
    name: str | None


class RoadFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: LineGeometry
    properties: RoadProperties


class RoadLayerPublic(BaseModel):
    """The roads drawn at one zoom in one bbox, as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    configured: bool = Field(description="false: no road network is set (CDW_ROAD_NETWORK)")
    zoom: int
    classes: list[str] | None = Field(description="the road classes drawn (null: all)")
    truncated: bool = Field(description="more roads meet the bbox than one answer holds")
    features: list[RoadFeature]


class GeofenceProperties(BaseModel):
    kind: GeofenceKind
    kind_zh: str
    kind_en: str
    id: int
    code: str | None
    name: str
    subkind: str | None = Field(description="a facility's or a zone's kind")
    subkind_zh: str | None


class GeofenceFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict
    properties: GeofenceProperties


class GeofencesPublic(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[GeofenceFeature]


# --- helpers ---------------------------------------------------------------------------------


def configured_layers(settings: Settings) -> RoadLayers | None:
    """The layers of ``CDW_ROAD_NETWORK`` (None when none is set; 409 when unreadable)."""
    if settings.road_network is None:
        return None
    with _unreadable_is_conflict():
        return road_layers(settings.road_network)


@contextmanager
def _unreadable_is_conflict() -> Iterator[None]:
    try:
        yield
    except InputFileError as exc:
        raise Conflict(
            f"无法读取路网 CDW_ROAD_NETWORK：{exc.zh}",
            f"cannot read the road network CDW_ROAD_NETWORK: {exc.en}",
            problems=exc.problems,
        ) from exc


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    parts = raw.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValidationFailed(
            [
                Problem(
                    "bbox",
                    "范围须为四个数：西,南,东,北（经纬度）",
                    "bbox must be four numbers: west,south,east,north (degrees)",
                )
            ]
        )
    return values  # type: ignore[return-value]


# --- routes ----------------------------------------------------------------------------------


@router.get(
    "/map/roads",
    response_model=RoadLayerPublic,
    responses=errors(403, 409),
    summary="路网图层 / road network layer by bbox and zoom",
)
def read_roads(
    settings: SettingsDep,
    _: Reader,
    bbox: Annotated[str, Query(max_length=120, description="west,south,east,north")],
    zoom: Annotated[int, Query(ge=MIN_ZOOM, le=MAX_ZOOM)],
) -> RoadLayerPublic:
    """Roads of the configured network meeting ``bbox``, simplified for ``zoom``: up to zoom
    11 motorways, trunks and primaries; 12–13 with their links and secondaries (bbox at most
    1.5°); 14–15 with tertiaries and minor streets (0.5°); from 16 every road (0.2°)."""
    box = parse_bbox(bbox)
    layers = configured_layers(settings)
    if layers is None:
        check_bbox(box, band_of(zoom))
        return RoadLayerPublic(
            configured=False, zoom=zoom, classes=None, truncated=False, features=[]
        )
    found = layers.features(box, zoom)
    return RoadLayerPublic(
        configured=True,
        zoom=zoom,
        classes=None if found.band.classes is None else list(found.band.classes),
        truncated=found.truncated,
        features=[
            RoadFeature(
                geometry=LineGeometry(coordinates=f.coordinates),
                properties=RoadProperties(highway=f.highway, highway_zh=f.highway_zh, name=f.name),
            )
            for f in found.features
        ],
    )


@router.get(
    "/map/geofences",
    response_model=GeofencesPublic,
    responses=errors(403),
    summary="电子围栏图层 / geofences of sites, facilities, depots and zones",
)
def read_geofences(
    session: SessionDep,
    settings: SettingsDep,
    user: Reader,
    kind: Annotated[list[GeofenceKind] | None, Query(max_length=len(GEOFENCE_KINDS))] = None,
) -> GeofencesPublic:
    """The active geofences the user may read (bound roles: their own site, facility or
    depots; restricted zones for everyone)."""
    if settings.road_network is not None:
        warm_up(settings.road_network)  # the map asks for roads next: have them built
    found = geofence_features(session, scope_for(user), kind)
    return GeofencesPublic(
        features=[
            GeofenceFeature(
                geometry=f.geometry,
                properties=GeofenceProperties(
                    kind=f.kind,  # type: ignore[arg-type]
                    kind_zh=f.kind_zh,
                    kind_en=f.kind_en,
                    id=f.id,
                    code=f.code,
                    name=f.name,
                    subkind=f.subkind,
                    subkind_zh=f.subkind_zh,
                ),
            )
            for f in found
        ]
    )
