"""The gate check at site exit ("一不准进、三不准出"): pure, plain facts in, every refusal out.

A vehicle that is unregistered or not on the permit stops the check there, with one answer
that does not say which (a dispatcher learns nothing about vehicles outside its permits:
not whether they exist, nor their licence, inspection or haulier); otherwise every reason
is listed: licence or inspection expired, haulier not active, body not sealed, load above the rated capacity (m³ or t), time outside the
permit's hours, permit not approved, outside its dates, or without the volume for the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cdw.errors import CdwError, Problem
from cdw.permits.models import PERMIT_STATUS_LABELS, PermitStatus
from cdw.permits.rules import Hours, VehicleFacts, hours_label, vehicle_problems, within_hours
from cdw.registry.categories import WasteCategory


class GateRefused(CdwError):
    """The gate check refused the load; ``problems`` lists every reason."""

    code = "gate_refused"
    http_status = 422


@dataclass(frozen=True)
class PermitFacts:
    permit_no: str
    status: str
    valid_from: date
    valid_to: date
    allowed_hours: Hours  # cdw.permits.rules: local seconds of day, None = any time
    vehicle_ids: frozenset[int]
    categories: frozenset[str]
    volume_m3: float
    used_m3: float


@dataclass(frozen=True)
class Load:
    plate: str
    category: str
    volume_m3: float | None
    weight_t: float | None
    day: date  # local date of leaving
    second_of_day: float  # local seconds after midnight


def gate_check(load: Load, vehicle: VehicleFacts | None, permit: PermitFacts) -> list[Problem]:
    """Every reason the load may not leave (empty: it may)."""
    if vehicle is None or vehicle.vehicle_id not in permit.vehicle_ids:
        return [
            Problem(
                "plate",
                f"车辆 {load.plate} 未登记在核准 {permit.permit_no} 的车辆名单中，不准出场",
                f"vehicle {load.plate} is not registered on permit {permit.permit_no} "
                "and may not leave",
            )
        ]
    out = vehicle_problems(vehicle, load.day, field="plate")
    if load.volume_m3 is not None and load.volume_m3 > vehicle.rated_capacity_m3:
        out.append(
            Problem(
                "declared_volume_m3",
                f"申报 {load.volume_m3} 立方米，超过核定容积 {vehicle.rated_capacity_m3} 立方米",
                f"declared {load.volume_m3} m³ exceeds the rated {vehicle.rated_capacity_m3} m³",
            )
        )
    if load.weight_t is not None and load.weight_t > vehicle.rated_load_t:
        out.append(
            Problem(
                "declared_weight_t",
                f"申报 {load.weight_t} 吨，超过核定载质量 {vehicle.rated_load_t} 吨",
                f"declared {load.weight_t} t exceeds the rated {vehicle.rated_load_t} t",
            )
        )
    if load.category not in permit.categories:
        label = WasteCategory(load.category)
        out.append(
            Problem(
                "category",
                f"核准 {permit.permit_no} 不含{label.zh}",
                f"permit {permit.permit_no} does not cover {label.en}",
            )
        )
    if not within_hours(load.second_of_day, permit.allowed_hours):
        label = hours_label(permit.allowed_hours)
        out.append(
            Problem(
                "issued_at",
                f"当前时间不在核准运输时段 {label} 内",
                f"outside the permitted hours {label}",
            )
        )
    if permit.status != PermitStatus.approved:
        zh, en = PERMIT_STATUS_LABELS[PermitStatus(permit.status)]
        out.append(
            Problem(
                "permit_id",
                f"核准 {permit.permit_no} 状态为「{zh}」",
                f"permit {permit.permit_no} is {en}",
            )
        )
    if not permit.valid_from <= load.day <= permit.valid_to:
        out.append(
            Problem(
                "permit_id",
                f"核准 {permit.permit_no} 有效期为 {permit.valid_from} 至 {permit.valid_to}",
                f"permit {permit.permit_no} is valid {permit.valid_from} to {permit.valid_to}",
            )
        )
    remaining = permit.volume_m3 - permit.used_m3
    if remaining <= 0 or (load.volume_m3 is not None and load.volume_m3 > remaining):
        out.append(
            Problem(
                "permit_id",
                f"核准 {permit.permit_no} 剩余方量 {max(remaining, 0):.1f} 立方米，不足本车",
                f"permit {permit.permit_no} has {max(remaining, 0):.1f} m³ left, "
                "not enough for this load",
            )
        )
    return out
