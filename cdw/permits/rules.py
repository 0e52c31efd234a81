"""Pure rules shared by permit approval and the gate check: plain facts in, every problem out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from cdw.errors import Problem
from cdw.registry.categories import HaulierStatus, RecordStatus, WasteCategory


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
