"""Load approved permits (处置核准) from a JSON file, all or nothing.

Each object names its site and facility by registry code (or by a name only one record of
the kind bears: ``cdw.registry.refs``) and its vehicles by plate::

    {"permit_no": "CH-2026-001", "site": "S000001", "facility": "…消纳场",
     "categories": ["excavated_soil"], "volume_m3": 12000,
     "valid_from": "2026-11-01", "valid_to": "2026-12-31",
     "allowed_hours_start": "08:00", "allowed_hours_end": "20:00",
     "routes": {"type": "LineString", "coordinates": [[lon, lat], …]},
     "corridor_half_width_m": 50, "vehicles": ["粤A12345"], "threshold_overrides": {}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlmodel import Session, select

from cdw.bounds import Day, PositiveVolumeM3
from cdw.config import ThresholdOverrides
from cdw.errors import InputFileError, Problem, ValidationFailed
from cdw.geo.shapes import LINE_KINDS, ROUTE, parse_geometry
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.permits.rules import parse_hours
from cdw.registry.models import ConstructionSite, DisposalFacility, Vehicle
from cdw.registry.refs import try_resolve
from cdw.registry.validators import (
    parse_categories,
    problems_from_validation_error,
    validate_plate,
)


class PermitTerms(BaseModel):
    """What a permit allows, checked: shared by the file loader and the application API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    categories: list[str]
    volume_m3: PositiveVolumeM3
    valid_from: Day
    valid_to: Day
    allowed_hours_start: str = "00:00"
    allowed_hours_end: str = "24:00"
    routes: dict[str, Any]
    corridor_half_width_m: float | None = Field(default=None, gt=0, le=1000)
    vehicles: list[str] = Field(min_length=1)
    threshold_overrides: ThresholdOverrides = Field(default_factory=dict)

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

    @model_validator(mode="after")
    def _dates_and_hours(self) -> PermitTerms:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to 早于 valid_from / valid_to precedes valid_from")
        try:
            parse_hours(self.allowed_hours_start, self.allowed_hours_end, "allowed_hours")
        except ValidationFailed as exc:
            raise ValueError("; ".join(f"{p.zh} / {p.en}" for p in exc.problems)) from None
        return self


class PermitIn(PermitTerms):
    """One entry of a permits file: site and facility by code or unique name, vehicles by plate."""

    permit_no: str = Field(min_length=1, max_length=64)
    site: str
    facility: str


def json_item_lines(text: str) -> list[int]:
    """The line on which each element of the JSON list ``text`` starts."""
    decoder = json.JSONDecoder()
    lines, pos = [], text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return lines
        lines.append(text.count("\n", 0, pos) + 1)
        _, pos = decoder.raw_decode(text, pos)


def import_permits(session: Session, path: Path) -> int:
    """Insert every permit of ``path`` as approved, or none: raises ValidationFailed listing
    every bad entry (the line its object starts on) and field."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        items = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(
            f"无法读取许可文件 {path}：{exc}", f"cannot read permits file {path}: {exc}"
        ) from exc
    if not isinstance(items, list):
        raise InputFileError(
            f"许可文件须为 JSON 数组：{path}", f"permits file must be a JSON array: {path}"
        )
    problems: list[Problem] = []
    staged: list[tuple[Permit, list[int]]] = []
    seen: set[str] = set()
    for line, raw in zip(json_item_lines(text), items, strict=True):
        try:
            item = PermitIn.model_validate(raw)
        except ValidationError as exc:
            problems += problems_from_validation_error(exc, line=line, source=str(path))
            continue
        site, row_problems = try_resolve(session, ConstructionSite, item.site, field="site")
        facility, facility_problems = try_resolve(
            session, DisposalFacility, item.facility, field="facility"
        )
        row_problems += facility_problems
        vehicle_ids = []
        for plate in item.vehicles:
            vehicle = session.exec(select(Vehicle).where(Vehicle.plate == plate)).first()
            if vehicle is None:
                row_problems.append(
                    Problem("vehicles", f"未登记的车辆：{plate}", f"unknown vehicle: {plate}")
                )
            else:
                vehicle_ids.append(vehicle.id)
        duplicate = (
            item.permit_no in seen
            or session.exec(select(Permit).where(Permit.permit_no == item.permit_no)).first()
        )
        if duplicate:
            row_problems.append(
                Problem(
                    "permit_no",
                    f"许可编号重复：{item.permit_no}",
                    f"duplicate permit number: {item.permit_no}",
                )
            )
        seen.add(item.permit_no)
        for p in row_problems:
            p.line, p.source = line, str(path)
        problems += row_problems
        if not row_problems:
            permit = Permit(
                **item.model_dump(exclude={"site", "facility", "vehicles"}),
                site_id=site.id,
                facility_id=facility.id,
                status=PermitStatus.approved,
            )
            staged.append((permit, vehicle_ids))
    if problems:
        raise ValidationFailed(
            problems,
            zh=f"许可文件 {path} 有错误，未导入任何许可",
            en=f"{path} has errors; no permit was imported",
        )
    for permit, vehicle_ids in staged:
        session.add(permit)
        session.flush()
        session.add_all(PermitVehicle(permit_id=permit.id, vehicle_id=v) for v in vehicle_ids)
    session.flush()
    return len(staged)
