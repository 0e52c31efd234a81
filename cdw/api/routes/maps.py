"""Map layers for the console: the road network by bbox and zoom, the geofences, and the
console's settings (base-map tiles, the network's extent).

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
    BANDS,
    MAX_ZOOM,
    MIN_ZOOM,
    RoadLayers,
    band_of,
    check_bbox,
    network_bounds,
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


class TileLayer(BaseModel):
    url: str
    attribution: str
    max_zoom: int


class ZoomBand(BaseModel):
    min_zoom: int
    max_zoom: int
    classes: list[str] | None
    max_span_deg: float | None


class ConsoleConfig(BaseModel):
    """What the console needs before it draws its first map."""

    tiles: TileLayer | None = Field(description="a base map of tiles; null: roads drawn by cdw")
    road_network: bool = Field(description="a road network is configured")
    bounds: tuple[float, float, float, float] | None = Field(
        description="west, south, east, north of the road network"
    )
    center: tuple[float, float] | None = Field(description="lon, lat")
    zoom_bands: list[ZoomBand]
    local_timezone: str


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
    """Roads of the configured network meeting ``bbox``, simplified for ``zoom``: low zooms
    draw the major classes only, zoom 16 and above every road (see ``zoom_bands`` of
    ``/console/config`` for the classes and the widest bbox of each band)."""
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
    user: Reader,
    kind: Annotated[list[GeofenceKind] | None, Query(max_length=len(GEOFENCE_KINDS))] = None,
) -> GeofencesPublic:
    """The active geofences the user may read (bound roles: their own site, facility or
    depots; restricted zones for everyone)."""
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


@router.get(
    "/console/config",
    response_model=ConsoleConfig,
    responses=errors(403, 409),
    summary="控制台配置 / console settings: base map and network extent",
)
def read_console_config(settings: SettingsDep, _: Reader) -> ConsoleConfig:
    bounds = None
    if settings.road_network is not None:
        with _unreadable_is_conflict():
            bounds = network_bounds(settings.road_network)
        warm_up(settings.road_network)  # the map's first road request finds the layers built
    center = None if bounds is None else ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    tiles = (
        None
        if settings.map_tile_url is None
        else TileLayer(
            url=settings.map_tile_url,
            attribution=settings.map_tile_attribution,
            max_zoom=settings.map_tile_max_zoom,
        )
    )
    return ConsoleConfig(
        tiles=tiles,
        road_network=bounds is not None,
        bounds=bounds,
        center=center,
        zoom_bands=[
            ZoomBand(
                min_zoom=b.min_zoom,
                max_zoom=b.max_zoom,
                classes=None if b.classes is None else list(b.classes),
                max_span_deg=b.max_span_deg,
            )
            for b in BANDS
        ],
        local_timezone=settings.local_timezone,
    )
