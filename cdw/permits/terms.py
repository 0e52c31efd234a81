"""What a permit allows, checked: shared by the application API and the permit file loader."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cdw.config import Thresholds
from cdw.errors import ValidationFailed
from cdw.geo.shapes import LINE_KINDS, ROUTE, parse_geometry
from cdw.permits.rules import parse_hours
from cdw.registry.validators.choices import parse_categories
from cdw.registry.validators.plates import validate_plate


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
            parse_geometry(value, LINE_KINDS, field="routes", what=ROUTE)
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
        try:
            parse_hours(self.allowed_hours_start, self.allowed_hours_end, "allowed_hours")
        except ValidationFailed as exc:
            raise ValueError("; ".join(f"{p.zh} / {p.en}" for p in exc.problems)) from None
        return self
