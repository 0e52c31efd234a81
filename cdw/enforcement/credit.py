"""Haulier credit (信用分): confirmed violations deduct points; below a threshold, suspension.

A flag becomes a confirmed violation when its case is decided. Each confirmed flag deducts
the points of its code from the responsible haulier's ``credit_score`` (100 at
registration, never below 0). When the score falls below
``Settings.credit_suspension_threshold`` (default 60) an active haulier is suspended: the
gate check and permit approval then refuse it. Every deduction and the suspension are in
the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from cdw.audit.log import audit
from cdw.auth.models import User
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.registry.categories import HaulierStatus
from cdw.registry.models import Haulier, utcnow


@dataclass(frozen=True)
class Deduction:
    points: int
    zh: str
    en: str


# Points deducted per confirmed violation, by flag code.
CREDIT_DEDUCTIONS: dict[FlagCode, Deduction] = {
    FlagCode.SUSPECTED_DUMPING: Deduction(20, "偷倒乱倒建筑垃圾", "illegal dumping"),
    FlagCode.WRONG_DESTINATION: Deduction(
        15, "未运至核准消纳场所", "unloaded at an unapproved place"
    ),
    FlagCode.RESTRICTED_ZONE: Deduction(15, "驶入禁区", "entered a restricted zone"),
    FlagCode.TAMPER_SUSPECTED: Deduction(
        15, "破坏或屏蔽车载定位设备", "tampered with the GPS terminal"
    ),
    FlagCode.UNMANIFESTED_TRIP: Deduction(10, "无联单运输", "hauled without a manifest"),
    FlagCode.UNAUTHORISED_VEHICLE: Deduction(
        10, "使用未核准车辆运输", "used an unauthorised vehicle"
    ),
    FlagCode.OVERLOAD: Deduction(10, "超载运输", "overloaded"),
    FlagCode.ROUTE_DEVIATION: Deduction(5, "未按核准路线行驶", "left the approved route"),
    FlagCode.OUT_OF_HOURS: Deduction(5, "未在核准时段运输", "hauled outside the permitted hours"),
    FlagCode.NO_RECEIPT: Deduction(5, "联单未按时闭合", "manifest not closed in time"),
    FlagCode.QUANTITY_DISCREPANCY: Deduction(
        5, "运输数量与联单不符", "quantity differs from the manifest"
    ),
    FlagCode.RECEIPT_WITHOUT_TRIP: Deduction(5, "有单无轨迹", "receipt without a GPS trip"),
    FlagCode.SPEEDING: Deduction(3, "超速行驶", "speeding"),
    FlagCode.LONG_STOP: Deduction(2, "违规长时间停留", "stopped too long outside authorised zones"),
    FlagCode.SIGNAL_GAP: Deduction(2, "定位信号中断", "GPS signal gap"),
}

CREDIT_ENTITY = "haulier"


@dataclass(frozen=True)
class CreditOutcome:
    haulier_id: int
    before: int
    after: int
    suspended: bool


def deduct_for_flags(
    session: Session,
    haulier: Haulier,
    flags: list[FlagRecord],
    *,
    actor: User | str,
    threshold: int,
    case_no: str,
) -> CreditOutcome:
    """Deduct the points of each confirmed flag; suspend the haulier below ``threshold``."""
    before = haulier.credit_score
    score = before
    for flag in flags:
        rule = CREDIT_DEDUCTIONS[FlagCode(flag.code)]
        after = max(0, score - rule.points)
        audit(
            session,
            actor=actor,
            entity=CREDIT_ENTITY,
            entity_id=haulier.id,
            action="credit_deduct",
            reason=f"{rule.zh} / {rule.en}",
            data={
                "case_no": case_no,
                "flag_id": flag.id,
                "code": str(flag.code),
                "points": rule.points,
                "before": score,
                "after": after,
            },
        )
        score = after
    haulier.credit_score = score
    suspend = score < threshold and haulier.status == HaulierStatus.active
    if suspend:
        haulier.status = HaulierStatus.suspended
        audit(
            session,
            actor=actor,
            entity=CREDIT_ENTITY,
            entity_id=haulier.id,
            action="suspend",
            reason=(
                f"信用分 {score} 低于暂停阈值 {threshold} / "
                f"credit score {score} below the suspension threshold {threshold}"
            ),
            data={"case_no": case_no, "credit_score": score, "threshold": threshold},
        )
    haulier.updated_at = utcnow()
    session.add(haulier)
    session.flush()
    return CreditOutcome(haulier.id, before, score, suspend)  # type: ignore[arg-type]
