"""What a permit allows, checked: shared by the application API and the permit file loader,
and the one route-geometry validator for permits and route checks."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry.base import BaseGeometry

from cdw.config import Thresholds
from cdw.errors import Problem, ValidationFailed
from cdw.registry.validators import parse_categories, validate_opening_hours, validate_plate


def route_geometry(value: Any, kinds: tuple[str, ...], field: str) -> BaseGeometry:
    """A route's geometry from GeoJSON: one of ``kinds``, not empty, WGS-84 coordinates;
    else ``ValidationFailed`` naming ``field``."""

    def fail(zh: str, en: str) -> ValidationFailed:
        return ValidationFailed([Problem(field, zh, en)])

    try:
        geom = shapely.from_geojson(json.dumps(value))
    except Exception as exc:  # shapely raises GEOSException subclasses of Exception
        raise fail(f"路线不是有效的 GeoJSON：{exc}", f"route is not valid GeoJSON: {exc}") from None
    if geom.geom_type not in kinds or geom.is_empty:
        raise fail(
            f"路线须为 {' 或 '.join(kinds)}，实际为 {geom.geom_type}",
            f"route must be a {' or a '.join(kinds)}, got {geom.geom_type}",
        )
    xy = shapely.get_coordinates(geom)
    lon, lat = np.abs(xy).T
    if not (np.isfinite(xy).all() and (lon <= 180).all() and (lat <= 90).all()):
        raise fail("路线坐标超出 WGS-84 范围", "route coordinates outside WGS-84 ranges")
    return geom


class PermitTerms(BaseModel):
    """What a permit allows, checked: shared by the file loader and the application API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    categories: list[str]
    volume_m3: float = Field(gt=0)
    valid_from: date
    valid_to: date
    allowed_hours_start: str = "00:00"
    allowed_hours_end: str = "24:00"
    routes: dict[str, Any]
    corridor_half_width_m: float | None = Field(default=None, gt=0, le=1000)
    vehicles: list[str] = Field(min_length=1)
    threshold_overrides: dict[str, float] = Field(default_factory=dict)

    @field_validator("categories", mode="before")
    @classmethod
    def _categories(cls, value: Any) -> list[str]:
        return [c.value for c in parse_categories(value, field="categories")]

    @field_validator("vehicles")
    @classmethod
    def _plates(cls, value: list[str]) -> list[str]:
        return [validate_plate(p) for p in value]

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            route_geometry(value, ("LineString", "MultiLineString"), "routes")
        except ValidationFailed as exc:
            problem = exc.problems[0]
            raise ValueError(f"{problem.zh} / {problem.en}") from None
        return value

    @field_validator("threshold_overrides")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(Thresholds.model_fields))
        if unknown:
            raise ValueError(f"未知阈值 / unknown thresholds: {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _dates_and_hours(self) -> PermitTerms:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to 早于 valid_from / valid_to precedes valid_from")
        validate_opening_hours(
            f"{self.allowed_hours_start}-{self.allowed_hours_end}", field="allowed_hours"
        )
        return self
