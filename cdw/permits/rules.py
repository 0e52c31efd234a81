"""Pure rules of a permit, shared by approval, the gate check and the engine: plain facts
in, every problem out. The permit's hours (one window: parsed, tested, labelled here), its
effective thresholds and its route lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from cdw.config import Thresholds
from cdw.errors import Problem, ValidationFailed
from cdw.registry.categories import HaulierStatus, RecordStatus, WasteCategory

# A permit's allowed hours: seconds after local midnight (start, end); start > end spans
# midnight; None: any time of day.
Hours = tuple[float, float] | None


@dataclass(frozen=True)
class VehicleFacts:
    """What the rules need to know about one vehicle and its haulier."""

    vehicle_id: int
    plate: str
    status: str
    sealed_body: bool
    inspection_valid_until: date
    rated_capacity_m3: float
    rated_load_t: float
    haulier_name: str
    haulier_status: str
    haulier_licence_valid_until: date


@dataclass(frozen=True)
class FacilityFacts:
    name: str
    status: str
    accepted_categories: frozenset[str]
    capacity_m3: float
    used_m3: float


def vehicle_problems(v: VehicleFacts, day: date, field: str = "vehicles") -> list[Problem]:
    """Why ``v`` may not haul on ``day``: inactive, haulier licence expired, inspection (审验)
    expired, body not sealed, haulier not active. Empty when it may."""
    out: list[Problem] = []
    if v.status != RecordStatus.active:
        out.append(Problem(field, f"车辆 {v.plate} 已停用", f"vehicle {v.plate} is inactive"))
    if v.haulier_licence_valid_until < day:
        out.append(
            Problem(
                field,
                f"车辆 {v.plate} 所属运输企业「{v.haulier_name}」的经营许可已于 "
                f"{v.haulier_licence_valid_until} 过期",
                f"the licence of {v.plate}'s haulier {v.haulier_name} expired on "
                f"{v.haulier_licence_valid_until}",
            )
        )
    if v.inspection_valid_until < day:
        out.append(
            Problem(
                field,
                f"车辆 {v.plate} 的审验已于 {v.inspection_valid_until} 过期",
                f"the inspection of {v.plate} expired on {v.inspection_valid_until}",
            )
        )
    if not v.sealed_body:
        out.append(
            Problem(
                field,
                f"车辆 {v.plate} 未取得密闭化车厢认证",
                f"vehicle {v.plate} has no sealed-body certification",
            )
        )
    if v.haulier_status != HaulierStatus.active:
        status = HaulierStatus(v.haulier_status)
        out.append(
            Problem(
                field,
                f"车辆 {v.plate} 所属运输企业「{v.haulier_name}」状态为{status.zh}",
                f"the haulier {v.haulier_name} of {v.plate} is {status.en}",
            )
        )
    return out


def approval_problems(
    *,
    categories: Iterable[str],
    needed_m3: float,
    facility: FacilityFacts,
    committed_m3: float,
    vehicles: Iterable[VehicleFacts],
    day: date,
) -> list[Problem]:
    """Every reason a permit may not be approved on ``day``.

    ``needed_m3``: the volume the permit still needs at the facility; ``committed_m3``: what
    other active permits still hold there. Remaining capacity = capacity − used − committed.
    """
    out: list[Problem] = []
    if facility.status != RecordStatus.active:
        out.append(
            Problem(
                "facility_id",
                f"消纳场所「{facility.name}」已停用",
                f"facility {facility.name} is inactive",
            )
        )
    remaining = facility.capacity_m3 - facility.used_m3 - committed_m3
    if needed_m3 > remaining:
        out.append(
            Problem(
                "volume_m3",
                f"消纳场所「{facility.name}」剩余容量 {remaining:.1f} 立方米"
                f"（已用 {facility.used_m3:.1f}，其他有效核准占用 {committed_m3:.1f}），"
                f"不足 {needed_m3:.1f} 立方米",
                f"facility {facility.name} has {remaining:.1f} m³ left (used "
                f"{facility.used_m3:.1f}, held by other active permits {committed_m3:.1f}), "
                f"less than {needed_m3:.1f} m³",
            )
        )
    for category in categories:
        if category not in facility.accepted_categories:
            label = WasteCategory(category)
            out.append(
                Problem(
                    "categories",
                    f"消纳场所「{facility.name}」不接收{label.zh}",
                    f"facility {facility.name} does not accept {label.en}",
                )
            )
    for v in vehicles:
        out += vehicle_problems(v, day)
    return out


# --- hours, thresholds and routes ------------------------------------------------------------


def parse_hours(start: str, end: str, source: str) -> Hours:
    """``"HH:MM"`` pair → seconds after midnight; ``00:00-24:00`` (or equal ends) → None."""
    problems: list[Problem] = []
    parsed: list[float] = []
    for name, text in (("allowed_hours_start", start), ("allowed_hours_end", end)):
        try:
            hh, mm = (int(part) for part in text.split(":"))
            if not (0 <= hh <= 24 and 0 <= mm < 60 and hh * 60 + mm <= 24 * 60):
                raise ValueError
            parsed.append(hh * 3600.0 + mm * 60.0)
        except (ValueError, AttributeError):
            problems.append(
                Problem(
                    field=name,
                    zh=f"时段格式应为 HH:MM，实际为 {text!r}",
                    en=f"hours must be HH:MM, got {text!r}",
                    source=source,
                )
            )
    if problems:
        raise ValidationFailed(problems)
    lo, hi = parsed[0] % 86400.0, parsed[1]
    if (lo == 0.0 and hi == 86400.0) or lo == hi:
        return None
    return lo, hi % 86400.0


def effective_thresholds(
    base: Thresholds,
    overrides: dict[str, Any] | None,
    corridor_half_width_m: float | None,
    source: str,
) -> Thresholds:
    """Settings thresholds with a permit's corridor width and overrides applied."""
    values = base.model_dump()
    if corridor_half_width_m is not None:
        values["corridor_half_width_m"] = corridor_half_width_m
    unknown = sorted(set(overrides or {}) - set(values))
    if unknown:
        raise ValidationFailed(
            [
                Problem(
                    field="threshold_overrides",
                    zh=f"未知的阈值名称：{', '.join(unknown)}",
                    en=f"unknown threshold names: {', '.join(unknown)}",
                    source=source,
                )
            ]
        )
    values.update(overrides or {})
    try:
        return Thresholds.model_validate(values)
    except ValueError as exc:
        raise ValidationFailed(
            [
                Problem(
                    field="threshold_overrides",
                    zh=f"阈值无效：{exc}",
                    en=f"invalid threshold value: {exc}",
                    source=source,
                )
            ]
        ) from exc


def within_hours(second_of_day: Any, hours: Hours) -> Any:
    """Whether local ``second_of_day`` (a number or an array) lies in the window ``hours``:
    start inclusive, end exclusive, spanning midnight when start > end."""
    if hours is None:
        return np.ones(np.shape(second_of_day), bool) if np.ndim(second_of_day) else True
    start, end = hours
    if start <= end:
        return (start <= second_of_day) & (second_of_day < end)
    return (second_of_day >= start) | (second_of_day < end)


def hours_label(hours: Hours) -> str:
    """``"07:00-22:00"``; ``"00:00-24:00"`` for any time of day."""
    if hours is None:
        return "00:00-24:00"
    return f"{_hhmm(hours[0])}-{_hhmm(hours[1])}"


def _hhmm(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
