"""The permit (处置核准) workflow: apply, approve, reject, amend, revoke, expire.

Like the registry services these flush but never commit. Every status change goes through
:func:`_record_change`, which writes the audit log entry.

Who may do what (DESIGN.md §1): permit officers and admins decide. A site dispatcher may
apply for its own site only (the site's single account in cdw; the application is then
decided by the bureau). Reads: admin, permit and enforcement officers and viewers see every
permit; a site dispatcher those of its site, a facility operator those naming its facility,
a haulier those naming one of its vehicles.

Capacity: a facility's remaining capacity for a new approval is its capacity, less what it
has received (``used_m3``), less what other approved permits to it still hold (their volume
less the volume already manifested under them).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import case, func, update
from sqlmodel import Session, col, select

from cdw.audit.log import audit
from cdw.auth.models import User
from cdw.bounds import Day, DbId, PositiveVolumeM3
from cdw.config import ThresholdOverrides
from cdw.errors import Conflict, NotFound, Problem, ValidationFailed
from cdw.permits.models import (
    PERMIT_STATUS_LABELS,
    Permit,
    PermitPublic,
    PermitStatus,
    PermitVehicle,
)
from cdw.permits.rules import FacilityFacts, VehicleFacts, approval_problems
from cdw.permits.terms import PermitTerms
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier, Vehicle
from cdw.registry.refs import try_resolve
from cdw.registry.services import ENTITIES, UNRESTRICTED, Scope
from cdw.registry.validators.plates import plate_key

ACTIVE = (PermitStatus.approved,)
# How an application names its site and facility (resolved to Permit.site_id / facility_id).
PLACES = frozenset({"site", "site_id", "facility", "facility_id"})


_SITE_REF = "工地编码或唯一名称（可代替 site_id） / site code or unique name (instead of site_id)"
_FACILITY_REF = (
    "消纳场所编码或唯一名称（可代替 facility_id） / facility code or unique name "
    "(instead of facility_id)"
)


class PermitApplication(PermitTerms):
    """An application; ``permit_no`` is assigned (HZ + year + sequence) when omitted. The site
    and the facility are given by id, or by code or unique name (``site``, ``facility``)."""

    permit_no: str | None = Field(default=None, min_length=1, max_length=64)
    site_id: DbId | None = None
    site: str | None = Field(default=None, min_length=1, description=_SITE_REF)
    facility_id: DbId | None = None
    facility: str | None = Field(default=None, min_length=1, description=_FACILITY_REF)
    categories: list[str] = Field(min_length=1)
    vehicles: list[str] = Field(min_length=1, description="车牌号 / plates")

    @model_validator(mode="after")
    def _one_of_each(self) -> PermitApplication:
        if self.site_id is None and self.site is None:
            raise ValueError("须填写 site_id 或 site / give site_id or site")
        if self.facility_id is None and self.facility is None:
            raise ValueError("须填写 facility_id 或 facility / give facility_id or facility")
        return self


class PermitAmendment(BaseModel):
    """What an amendment changes (unset fields are copied from the amended version)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    reason: str = Field(min_length=1, description="变更原因 / why")
    facility_id: DbId | None = None
    facility: str | None = Field(default=None, min_length=1, description=_FACILITY_REF)
    categories: list[str] | None = None
    volume_m3: PositiveVolumeM3 | None = None
    valid_from: Day | None = None
    valid_to: Day | None = None
    allowed_hours_start: str | None = None
    allowed_hours_end: str | None = None
    routes: dict[str, Any] | None = None
    corridor_half_width_m: float | None = Field(default=None, gt=0, le=1000)
    vehicles: list[str] | None = None
    threshold_overrides: ThresholdOverrides | None = None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, description="理由 / reason")


def _now() -> datetime:
    return datetime.now(UTC)


def _username(actor: User | str) -> str:
    return actor.username if isinstance(actor, User) else actor


RECORDED_TERMS = {
    "site_id",
    "facility_id",
    "categories",
    "volume_m3",
    "valid_from",
    "valid_to",
    "allowed_hours_start",
    "allowed_hours_end",
    "corridor_half_width_m",
    "threshold_overrides",
}


def _record_change(
    session: Session, permit: Permit, actor: User | str, action: str, reason: str | None = None
) -> None:
    """The one place a permit state change is recorded (append-only audit log)."""
    audit(
        session,
        actor=actor,
        entity="permit",
        entity_id=permit.id,
        action=action,
        reason=reason,
        data={
            "permit_no": permit.permit_no,
            "version": permit.version,
            "status": permit.status,
            # the terms as decided, overrides included (a route by its hash: it can be long)
            "terms": permit.model_dump(include=RECORDED_TERMS),
            "routes_sha256": hashlib.sha256(
                json.dumps(permit.routes, sort_keys=True).encode("utf-8")
            ).hexdigest(),
        },
    )


# --- reads ------------------------------------------------------------------------------------


def scope_clause(scope: Scope) -> Any:
    if scope.unrestricted:
        return True
    if scope.site_id is not None:
        return col(Permit.site_id) == scope.site_id
    if scope.facility_id is not None:
        return col(Permit.facility_id) == scope.facility_id
    if scope.haulier_id is not None:
        naming = (
            select(PermitVehicle.permit_id)
            .join(Vehicle, col(Vehicle.id) == col(PermitVehicle.vehicle_id))
            .where(Vehicle.haulier_id == scope.haulier_id)
        )
        return col(Permit.id).in_(naming)
    return False


def get_permit(session: Session, permit_id: int, scope: Scope = UNRESTRICTED) -> Permit:
    permit = session.exec(select(Permit).where(Permit.id == permit_id, scope_clause(scope))).first()
    if permit is None:
        raise NotFound("处置核准", "permit", permit_id)
    return permit


def list_permits(
    session: Session,
    scope: Scope = UNRESTRICTED,
    status: PermitStatus | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Permit], int]:
    clauses = [scope_clause(scope)]
    if status is not None:
        clauses.append(col(Permit.status) == status)
    count = session.exec(select(func.count()).select_from(Permit).where(*clauses)).one()
    rows = session.exec(
        select(Permit).where(*clauses).order_by(col(Permit.id)).offset(offset).limit(limit)
    ).all()
    return list(rows), count


def plates_of(session: Session, permit: Permit) -> list[str]:
    return list(
        session.exec(
            select(Vehicle.plate)
            .join(PermitVehicle, col(PermitVehicle.vehicle_id) == col(Vehicle.id))
            .where(PermitVehicle.permit_id == permit.id)
            .order_by(Vehicle.plate)
        ).all()
    )


def public(session: Session, permit: Permit) -> PermitPublic:
    zh, en = PERMIT_STATUS_LABELS[PermitStatus(permit.status)]
    site = session.get(ConstructionSite, permit.site_id)
    facility = session.get(DisposalFacility, permit.facility_id)
    return PermitPublic.model_validate(
        permit,
        update={
            "site_code": site.code,
            "site_name": site.name,
            "facility_code": facility.code,
            "facility_name": facility.name,
            "vehicles": plates_of(session, permit),
            "status_zh": zh,
            "status_en": en,
            "used_m3": permit.used_m3,
        },
    )


def record_use(session: Session, permit_no: str, delta_m3: float) -> None:
    """Add ``delta_m3`` to what the permit's manifests declare (every version of it): a
    manifest issued adds its m³, a manifest voided takes them back."""
    if delta_m3:
        total = col(Permit.used_m3) + delta_m3
        session.execute(
            update(Permit)
            .where(col(Permit.permit_no) == permit_no)
            .values(used_m3=case((total < 0.0, 0.0), else_=total))
            .execution_options(synchronize_session="fetch")  # versions in the session reload it
        )


def committed_m3(session: Session, facility_id: int, day: date, exclude_no: str) -> float:
    """What other approved permits to ``facility_id`` still hold on ``day``."""
    others = session.exec(
        select(Permit.volume_m3, Permit.used_m3).where(
            Permit.facility_id == facility_id,
            col(Permit.status).in_(ACTIVE),
            Permit.valid_to >= day,
            Permit.permit_no != exclude_no,
        )
    ).all()  # the two figures, not whole permits with their routes
    return sum(max(volume - used, 0.0) for volume, used in others)


def vehicle_facts(session: Session, vehicle: Vehicle) -> VehicleFacts:
    return _vehicle_facts(vehicle, session.get(Haulier, vehicle.haulier_id))


def _vehicle_facts(vehicle: Vehicle, haulier: Haulier) -> VehicleFacts:
    return VehicleFacts(
        vehicle_id=vehicle.id,
        plate=vehicle.plate,
        status=str(vehicle.status),
        sealed_body=vehicle.sealed_body,
        inspection_valid_until=vehicle.inspection_valid_until,
        rated_capacity_m3=vehicle.rated_capacity_m3,
        rated_load_t=vehicle.rated_load_t,
        haulier_name=haulier.name,
        haulier_status=str(haulier.status),
        haulier_licence_valid_until=haulier.licence_valid_until,
    )


# --- writes -----------------------------------------------------------------------------------


_PLATES_PER_QUERY = 500  # plates in one IN list (well under SQLite's bound parameters)


def _vehicle_ids(session: Session, plates: list[str]) -> tuple[list[int], list[Problem]]:
    """The ids of the vehicles ``plates`` name, in their order, and a problem per plate not
    registered or repeating an earlier one (as stored: ``粤a·12345`` is ``粤A12345``); looked
    up a batch of plates at a time (a fleet's permit lists hundreds)."""
    keys = [plate_key(plate) for plate in plates]
    distinct = sorted(set(keys))
    registered: dict[str, int] = {}
    for at in range(0, len(distinct), _PLATES_PER_QUERY):
        batch = distinct[at : at + _PLATES_PER_QUERY]
        rows = session.exec(select(Vehicle.plate, Vehicle.id).where(col(Vehicle.plate).in_(batch)))
        registered.update(rows.all())
    ids, problems, listed = [], [], set()
    for plate, key in zip(plates, keys, strict=True):
        if key in listed:
            problems.append(
                Problem("vehicles", f"车辆重复列出：{plate}", f"vehicle listed twice: {plate}")
            )
        elif key in registered:
            ids.append(registered[key])
        else:
            problems.append(
                Problem("vehicles", f"未登记的车辆：{plate}", f"unregistered vehicle: {plate}")
            )
        listed.add(key)
    return ids, problems


def _place(
    session: Session, model: type, record_id: int | None, ref: str | None, field: str
) -> tuple[int | None, list[Problem]]:
    """The id of the site or facility given by id, or by code or unique name (``ref``)."""
    if ref is not None:
        record, problems = try_resolve(session, model, ref, field=field)
        if record is not None and record_id is not None and record.id != record_id:
            problems = [
                Problem(
                    field,
                    f"「{ref}」（编号 {record.id}）与 {field}_id {record_id} 不是同一记录",
                    f"'{ref}' (id {record.id}) and {field}_id {record_id} name different records",
                )
            ]
        return (record.id if record is not None else None), problems
    if session.get(model, record_id) is None:
        entity = ENTITIES[model]
        return None, [
            Problem(
                f"{field}_id",
                f"{entity.zh}不存在：{record_id}",
                f"no such {entity.en}: {record_id}",
            )
        ]
    return record_id, []


def _next_permit_no(session: Session, year: int) -> str:
    prefix = f"HZ{year}"
    taken = session.exec(
        select(func.count(func.distinct(Permit.permit_no))).where(
            col(Permit.permit_no).startswith(prefix)
        )
    ).one()
    return f"{prefix}{taken + 1:05d}"


def apply(
    session: Session, data: PermitApplication, actor: User | str, scope: Scope = UNRESTRICTED
) -> Permit:
    """Store an application as ``submitted`` (a site dispatcher: for its own site only)."""
    site_id, problems = _place(session, ConstructionSite, data.site_id, data.site, "site")
    facility_id, facility_problems = _place(
        session, DisposalFacility, data.facility_id, data.facility, "facility"
    )
    problems += facility_problems
    if not scope.unrestricted and site_id is not None and scope.site_id != site_id:
        problems.append(
            Problem("site_id", "只能为本工地申请核准", "you may apply for your own site only")
        )
    if not scope.unrestricted and data.threshold_overrides:
        problems.append(
            Problem(
                "threshold_overrides",
                "阈值调整只能由核准人员设定",
                "only a permit officer may set threshold overrides",
            )
        )
    vehicle_ids, vehicle_problems = _vehicle_ids(session, data.vehicles)
    problems += vehicle_problems
    permit_no = data.permit_no or _next_permit_no(session, data.valid_from.year)
    if session.exec(select(Permit).where(Permit.permit_no == permit_no)).first():
        problems.append(
            Problem(
                "permit_no", f"核准编号已存在：{permit_no}", f"permit number taken: {permit_no}"
            )
        )
    if problems:
        raise ValidationFailed(problems, zh="申请有误，未提交", en="application not submitted")
    permit = Permit(
        **data.model_dump(exclude=PLACES | {"permit_no", "vehicles"}),
        site_id=site_id,
        facility_id=facility_id,
        permit_no=permit_no,
        status=PermitStatus.submitted,
        applied_by=_username(actor),
        submitted_at=_now(),
    )
    session.add(permit)
    session.flush()
    session.add_all(PermitVehicle(permit_id=permit.id, vehicle_id=v) for v in vehicle_ids)
    session.flush()
    _record_change(session, permit, actor, "submit")
    return permit


def _require_status(permit: Permit, *allowed: PermitStatus) -> None:
    if permit.status not in allowed:
        zh, en = PERMIT_STATUS_LABELS[PermitStatus(permit.status)]
        raise Conflict(
            f"核准 {permit.permit_no}（第 {permit.version} 版）当前状态为「{zh}」，不能执行此操作",
            f"permit {permit.permit_no} v{permit.version} is {en}; this action is not allowed",
            current_status=str(permit.status),
        )


def approval_check(session: Session, permit: Permit, day: date) -> list[Problem]:
    """Every reason ``permit`` may not be approved on ``day`` (empty: it may)."""
    facility = session.get(DisposalFacility, permit.facility_id)
    vehicles = session.exec(
        select(Vehicle)
        .join(PermitVehicle, col(PermitVehicle.vehicle_id) == col(Vehicle.id))
        .where(PermitVehicle.permit_id == permit.id)
        .order_by(Vehicle.plate)
    ).all()
    owners = select(Haulier).where(col(Haulier.id).in_({v.haulier_id for v in vehicles}))
    hauliers = {h.id: h for h in session.exec(owners).all()}  # one query, held while used
    return approval_problems(
        categories=permit.categories,
        needed_m3=max(permit.volume_m3 - permit.used_m3, 0.0),
        facility=FacilityFacts(
            name=facility.name,
            status=str(facility.status),
            accepted_categories=frozenset(str(c) for c in facility.accepted_categories),
            capacity_m3=facility.capacity_m3,
            used_m3=facility.used_m3,
        ),
        committed_m3=committed_m3(session, facility.id, day, permit.permit_no),
        vehicles=[_vehicle_facts(v, hauliers[v.haulier_id]) for v in vehicles],
        day=day,
    )


def _decide(permit: Permit, status: PermitStatus, actor: User | str, reason: str | None) -> None:
    permit.status = status
    permit.decided_at = _now()
    permit.decided_by = _username(actor)
    permit.decision_reason = reason


def approve(session: Session, permit_id: int, actor: User | str, day: date) -> Permit:
    """Approve a submitted application on local date ``day``, or refuse with every reason
    (ValidationFailed). Approving an amendment supersedes the version it amends."""
    permit = get_permit(session, permit_id)
    _require_status(permit, PermitStatus.submitted)
    problems = approval_check(session, permit, day)
    if problems:
        raise ValidationFailed(
            problems,
            zh=f"不予核准 {permit.permit_no}：共 {len(problems)} 项原因",
            en=f"permit {permit.permit_no} cannot be approved: {len(problems)} reasons",
        )
    _decide(permit, PermitStatus.approved, actor, None)
    session.add(permit)
    if permit.previous_id is not None:
        previous = session.get(Permit, permit.previous_id)
        if previous.status in (PermitStatus.approved, PermitStatus.expired):
            previous.status = PermitStatus.superseded
            session.add(previous)
            session.flush()
            _record_change(session, previous, actor, "supersede", f"v{permit.version}")
    session.flush()
    _record_change(session, permit, actor, "approve")
    return permit


def reject(session: Session, permit_id: int, actor: User | str, reason: str) -> Permit:
    permit = get_permit(session, permit_id)
    _require_status(permit, PermitStatus.submitted)
    _decide(permit, PermitStatus.rejected, actor, reason)
    session.add(permit)
    session.flush()
    _record_change(session, permit, actor, "reject", reason)
    return permit


def revoke(session: Session, permit_id: int, actor: User | str, reason: str) -> Permit:
    permit = get_permit(session, permit_id)
    _require_status(permit, PermitStatus.approved)
    _decide(permit, PermitStatus.revoked, actor, reason)
    session.add(permit)
    session.flush()
    _record_change(session, permit, actor, "revoke", reason)
    return permit


def amend(session: Session, permit_id: int, data: PermitAmendment, actor: User | str) -> Permit:
    """A new ``submitted`` version of an approved permit (the latest version only); the
    approved version stays in force until the amendment is approved."""
    permit = get_permit(session, permit_id)
    _require_status(permit, PermitStatus.approved)
    newer = session.exec(
        select(Permit).where(Permit.permit_no == permit.permit_no, Permit.version > permit.version)
    ).first()
    if newer is not None:
        raise Conflict(
            f"核准 {permit.permit_no} 已有第 {newer.version} 版，只能变更最新版本",
            f"permit {permit.permit_no} already has version {newer.version}; amend the latest",
        )
    changes = data.model_dump(exclude_unset=True, exclude={"reason"})
    merged = permit.model_dump(
        include=set(PermitApplication.model_fields) - {"vehicles", "permit_no"}
    )
    merged.update(vehicles=plates_of(session, permit), permit_no=None)
    merged.update(changes)
    if "facility" in changes and "facility_id" not in changes:
        merged["facility_id"] = None  # the new facility is given by code or name
    application = PermitApplication.model_validate(merged)
    facility_id, problems = _place(
        session, DisposalFacility, application.facility_id, application.facility, "facility"
    )
    vehicle_ids, vehicle_problems = _vehicle_ids(session, application.vehicles)
    problems += vehicle_problems
    if problems:
        raise ValidationFailed(problems)
    new = Permit(
        **application.model_dump(exclude=PLACES | {"permit_no", "vehicles"}),
        site_id=permit.site_id,
        facility_id=facility_id,
        permit_no=permit.permit_no,
        version=permit.version + 1,
        previous_id=permit.id,
        used_m3=permit.used_m3,
        status=PermitStatus.submitted,
        applied_by=_username(actor),
        submitted_at=_now(),
        decision_reason=data.reason,
    )
    session.add(new)
    session.flush()
    session.add_all(PermitVehicle(permit_id=new.id, vehicle_id=v) for v in vehicle_ids)
    session.flush()
    _record_change(session, new, actor, "amend", data.reason)
    return new


def expire_permits(session: Session, day: date, actor: User | str = "system") -> list[Permit]:
    """Mark approved permits expired whose validity ended before ``day`` or whose volume is
    used up; returns them."""
    expired = []
    for permit in session.exec(select(Permit).where(Permit.status == PermitStatus.approved)):
        if permit.valid_to < day:
            why = f"有效期至 {permit.valid_to} / valid until {permit.valid_to}"
        elif permit.used_m3 >= permit.volume_m3:
            why = "核准方量已用完 / approved volume used up"
        else:
            continue
        permit.status = PermitStatus.expired
        session.add(permit)
        session.flush()
        _record_change(session, permit, actor, "expire", why)
        expired.append(permit)
    return expired
