"""Manifests: issue at the gate, depart, receive, correct, close, void.

Every state change goes through :func:`change_state`: the lifecycle decides whether it is
legal, a conditional UPDATE (``WHERE state = <the state read>``) makes it atomic, and the
change is written to the manifest's history and the audit log. Two facility operators
confirming one manifest at once: the second UPDATE finds the state changed (PostgreSQL
waits for the first transaction's row lock, SQLite for its write lock) and gets 409; the
unique ``(manifest_id, version)`` of receipts backs this up.

Reads are scoped: a site dispatcher sees its site's manifests, a facility operator those to
its facility, a haulier those of its vehicles; outside the scope a manifest is not found.
Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from cdw.audit.log import Change, audit
from cdw.auth.models import Role, User
from cdw.bounds import DbId, LoadM3, Moment, PositiveLoadM3, PositiveWeightT, WeightT
from cdw.config import Settings, get_settings
from cdw.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from cdw.manifests.gate import GateRefused, Load, PermitFacts, gate_check
from cdw.manifests.lifecycle import (
    AWAITING_RECEIPT,
    IN_TRANSIT,
    RECEIPT_OUTCOMES,
    ManifestState,
    transition,
)
from cdw.manifests.models import (
    STATE_OF_OUTCOME,
    DisposalMethod,
    Manifest,
    ManifestEvent,
    ManifestPublic,
    Receipt,
    ReceiptOutcome,
    as_utc,
)
from cdw.permits.models import Permit, PermitVehicle
from cdw.permits.rules import parse_hours
from cdw.permits.services import get_permit, record_use, vehicle_facts
from cdw.registry.categories import WasteCategory
from cdw.registry.models import ConstructionSite, DisposalFacility, Driver, Haulier
from cdw.registry.services import UNRESTRICTED, Scope, get_vehicle_by_plate

S = ManifestState
_TIMESTAMP_OF = {
    S.departed: "departed_at",
    S.arrived: "arrived_at",
    S.received: "received_at",
    S.partially_rejected: "received_at",
    S.rejected: "received_at",
    S.closed: "closed_at",
}


# --- inputs -----------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class ManifestIssue(_In):
    permit_id: DbId
    plate: str
    driver_id: DbId | None = None
    category: str
    declared_volume_m3: PositiveLoadM3 | None = None
    declared_weight_t: PositiveWeightT | None = None

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: Any) -> str:
        try:
            return WasteCategory.parse(value).value
        except ValueError:
            raise ValueError(
                f"未知的建筑垃圾类别 / unknown category: {value}; {WasteCategory.choices_en()}"
            ) from None

    @model_validator(mode="after")
    def _quantity(self) -> ManifestIssue:
        if self.declared_volume_m3 is None and self.declared_weight_t is None:
            raise ValueError("须申报方量或重量 / declare the volume (m³) or the weight (t)")
        return self


class ReceiptIn(_In):
    outcome: ReceiptOutcome = ReceiptOutcome.accepted
    received_volume_m3: LoadM3 | None = None
    weighbridge_t: WeightT | None = None
    rejected_volume_m3: LoadM3 | None = None
    reason: str | None = None
    received_at: Moment | None = None

    @field_validator("received_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """Stored as UTC (SQLite keeps no offset); a time without one is taken as UTC."""
        return as_utc(value)

    @model_validator(mode="after")
    def _consistent(self) -> ReceiptIn:
        problems = []
        if self.outcome != ReceiptOutcome.rejected and (
            self.received_volume_m3 is None and self.weighbridge_t is None
        ):
            problems.append("须填写实收方量或地磅吨数 / give the received m³ or weighbridge t")
        if self.outcome == ReceiptOutcome.partially_rejected and self.received_volume_m3 is None:
            problems.append("部分拒收须填写实收方量 / a partial rejection needs the received m³")
        if self.outcome != ReceiptOutcome.accepted and not self.reason:
            problems.append("拒收须说明理由 / a rejection needs a reason")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ReceiptCorrection(ReceiptIn):
    correction_reason: str = Field(min_length=1, description="更正原因 / why")


class StateChange(_In):
    reason: str = Field(min_length=1)


# --- reads ------------------------------------------------------------------------------------


def scope_clause(scope: Scope) -> Any:
    if scope.unrestricted:
        return True
    for binding in ("site_id", "facility_id", "haulier_id"):
        if getattr(scope, binding) is not None:
            return col(getattr(Manifest, binding)) == getattr(scope, binding)
    return False


def get_manifest(session: Session, manifest_id: int, scope: Scope = UNRESTRICTED) -> Manifest:
    manifest = session.exec(
        select(Manifest).where(Manifest.id == manifest_id, scope_clause(scope))
    ).first()
    if manifest is None:
        raise NotFound("联单", "manifest", manifest_id)
    return manifest


def list_manifests(
    session: Session,
    scope: Scope = UNRESTRICTED,
    *,
    state: ManifestState | None = None,
    states: frozenset[ManifestState] | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Manifest], int]:
    clauses = [scope_clause(scope)]
    if state is not None:
        clauses.append(col(Manifest.state) == state)
    if states is not None:
        clauses.append(col(Manifest.state).in_(states))
    count = session.exec(select(func.count()).select_from(Manifest).where(*clauses)).one()
    rows = session.exec(
        select(Manifest).where(*clauses).order_by(col(Manifest.issued_at), col(Manifest.id))
        .offset(offset).limit(limit)
    ).all()  # fmt: skip
    return list(rows), count


def expected_arrivals(session: Session, facility_id: int) -> list[Manifest]:
    """Manifests on their way to ``facility_id`` (issued, departed, arrived, overdue)."""
    rows, _ = list_manifests(
        session,
        Scope(unrestricted=False, facility_id=facility_id),
        states=frozenset(IN_TRANSIT | {S.overdue}),
        limit=10_000,
    )
    return rows


def receipts_of(session: Session, manifest_id: int) -> list[Receipt]:
    return list(
        session.exec(
            select(Receipt).where(Receipt.manifest_id == manifest_id).order_by(col(Receipt.version))
        ).all()
    )


def current_receipt(session: Session, manifest_id: int) -> Receipt | None:
    versions = receipts_of(session, manifest_id)
    return versions[-1] if versions else None


def history(session: Session, manifest_id: int) -> list[ManifestEvent]:
    return list(
        session.exec(
            select(ManifestEvent)
            .where(ManifestEvent.manifest_id == manifest_id)
            .order_by(col(ManifestEvent.id))
        ).all()
    )


def public(session: Session, manifest: Manifest) -> ManifestPublic:
    state = ManifestState(manifest.state)
    return ManifestPublic.model_validate(
        manifest,
        update={
            "state_zh": state.zh,
            "state_en": state.en,
            "disposal_method_zh": DisposalMethod(manifest.disposal_method).zh,
            "receipts": receipts_of(session, manifest.id),
            "history": history(session, manifest.id),
        },
    )


# --- state changes ----------------------------------------------------------------------------


def _username(actor: User | str) -> str:
    return actor.username if isinstance(actor, User) else actor


def _record_change(
    session: Session,
    manifest: Manifest,
    from_state: ManifestState | None,
    to_state: ManifestState,
    actor: User | str,
    at: datetime,
    reason: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """The one place a manifest state change is recorded: its history and the audit log
    (``details``: what else the change wrote, e.g. an issued manifest's load)."""
    event, change = change_records(manifest, from_state, to_state, actor, at, reason, details)
    session.add(event)
    audit(session, actor=actor, **vars(change))


def change_records(
    manifest: Manifest,
    from_state: ManifestState | None,
    to_state: ManifestState,
    actor: User | str,
    at: datetime,
    reason: str | None,
    details: dict[str, Any] | None = None,
) -> tuple[ManifestEvent, Change]:
    """What ``_record_change`` writes, unwritten: the history event and the audit entry's
    change (a bulk load writes many of them at once, ``audit_many``)."""
    event = ManifestEvent(
        manifest_id=manifest.id,
        from_state=from_state,
        to_state=to_state,
        at=at,
        actor=_username(actor),
        reason=reason,
    )
    change = Change(
        entity="manifest",
        entity_id=manifest.id,
        action=f"state:{to_state.value}",
        reason=reason,
        data={"manifest_no": manifest.manifest_no, "from": from_state, "to": to_state}
        | (details or {}),
    )
    return event, change


def _load(manifest: Manifest) -> dict[str, Any]:
    return manifest.model_dump(
        include={
            "permit_no",
            "plate",
            "site_id",
            "facility_id",
            "category",
            "disposal_method",
            "haulier_id",
            "driver_id",
            "declared_volume_m3",
            "declared_weight_t",
        }
    )


def _receipt_data(receipt: Receipt) -> dict[str, Any]:
    return receipt.model_dump(exclude={"id", "manifest_id", "recorded_by", "recorded_at"})


def _concurrent() -> Conflict:
    return Conflict(
        "联单已被他人同时处理，请刷新后重试",
        "the manifest was changed by someone else at the same time; reload and retry",
    )


def change_state(
    session: Session,
    manifest: Manifest,
    target: ManifestState,
    actor: User | str,
    reason: str | None = None,
    at: datetime | None = None,
) -> Manifest:
    """Move ``manifest`` to ``target`` (Conflict if the lifecycle or a concurrent change
    forbids it); sets the matching timestamp."""
    current = ManifestState(manifest.state)
    transition(current, target)
    at = at or datetime.now(UTC)
    values: dict[str, Any] = {"state": target}
    if target in _TIMESTAMP_OF:
        values[_TIMESTAMP_OF[target]] = at
    try:
        result = session.execute(
            update(Manifest)
            .where(col(Manifest.id) == manifest.id, col(Manifest.state) == current)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    except OperationalError as exc:  # SQLite: another writer held the lock too long
        session.rollback()
        raise _concurrent() from exc
    if result.rowcount != 1:
        session.rollback()
        fresh = session.get(Manifest, manifest.id)
        transition(ManifestState(fresh.state), target)  # names the state it is in now
        raise _concurrent()
    session.refresh(manifest)
    if target == ManifestState.void:  # its m³ go back to the permit
        record_use(session, manifest.permit_no, -(manifest.declared_volume_m3 or 0.0))
    _record_change(session, manifest, current, target, actor, at, reason)
    session.flush()
    return manifest


# A site dispatcher voids only what has not left the site; a manifest on the road, overdue
# or disputed carries evidence, and only an officer may void it (with the reason).
DISPATCHER_MAY_VOID = frozenset({S.issued})


def void(session: Session, manifest: Manifest, actor: User, reason: str) -> Manifest:
    """Void ``manifest`` (Forbidden for a dispatcher once it left the site); the flags
    raised on it are closed by the flow (``cdw.flows.manifests.void_manifest``)."""
    state = ManifestState(manifest.state)
    if actor.role == Role.site_dispatcher and state not in DISPATCHER_MAY_VOID:
        raise Forbidden(
            f"联单已是「{state.zh}」，出场管理员只能作废未出场的联单，请由审批员或执法队员处理",
            f"the manifest is {state.en}; a site dispatcher may void only a manifest that has "
            "not left the site; ask a permit or enforcement officer",
        )
    change_state(session, manifest, S.void, actor, reason)
    session.flush()
    return manifest


def _next_manifest_no(session: Session, day: date, site_id: int) -> str:
    prefix = f"LD{day:%Y%m%d}{site_id:04d}"
    taken = session.exec(
        select(func.count())
        .select_from(Manifest)
        .where(col(Manifest.manifest_no).startswith(prefix))
    ).one()
    return f"{prefix}{taken + 1:04d}"


def permit_facts(session: Session, permit: Permit) -> PermitFacts:
    rule_hours = parse_hours(
        permit.allowed_hours_start, permit.allowed_hours_end, f"permit {permit.permit_no}"
    )
    vehicle_ids = session.exec(
        select(PermitVehicle.vehicle_id).where(PermitVehicle.permit_id == permit.id)
    ).all()
    return PermitFacts(
        permit_no=permit.permit_no,
        status=str(permit.status),
        valid_from=permit.valid_from,
        valid_to=permit.valid_to,
        allowed_hours=rule_hours,
        vehicle_ids=frozenset(vehicle_ids),
        categories=frozenset(str(c) for c in permit.categories),
        volume_m3=permit.volume_m3,
        used_m3=permit.used_m3,
    )


def check_at_gate(
    session: Session,
    data: ManifestIssue,
    scope: Scope,
    now: datetime,
    settings: Settings,
) -> tuple[Permit, list[Problem]]:
    """The permit (in the dispatcher's scope) and every gate refusal for ``data``."""
    permit = get_permit(session, data.permit_id, scope)
    vehicle = get_vehicle_by_plate(session, data.plate)
    local = now.astimezone(ZoneInfo(settings.local_timezone))
    load = Load(
        plate=data.plate,
        category=data.category,
        volume_m3=data.declared_volume_m3,
        weight_t=data.declared_weight_t,
        day=local.date(),
        second_of_day=local.hour * 3600 + local.minute * 60 + local.second,
    )
    facts = vehicle_facts(session, vehicle) if vehicle else None
    return permit, gate_check(load, facts, permit_facts(session, permit))


def _serialise_issues_at_site(session: Session, site_id: int) -> None:
    """Hold the site's issuing lock until this transaction ends, so that manifests issued
    at one site at the same moment take numbers one after another and each gate check sees
    the permit volume the others used (PostgreSQL: the site's row lock; SQLite: the
    database write lock, taken before anything is read)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE construction_site SET id = id WHERE 0"))
    else:
        session.exec(
            select(ConstructionSite.id).where(ConstructionSite.id == site_id).with_for_update()
        ).first()


def issue(
    session: Session,
    data: ManifestIssue,
    actor: User | str,
    scope: Scope = UNRESTRICTED,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Manifest:
    """Run the gate check and issue the manifest (GateRefused listing every reason)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    _serialise_issues_at_site(session, get_permit(session, data.permit_id, scope).site_id)
    permit, problems = check_at_gate(session, data, scope, now, settings)
    if problems:
        raise GateRefused(
            f"不准出场：{len(problems)} 项原因", f"may not leave: {len(problems)} reasons",
            problems=problems,
        )  # fmt: skip
    vehicle = get_vehicle_by_plate(session, data.plate)
    driver = session.get(Driver, data.driver_id) if data.driver_id is not None else None
    if data.driver_id is not None and (driver is None or driver.haulier_id != vehicle.haulier_id):
        raise ValidationFailed(
            [
                Problem(
                    "driver_id",
                    f"驾驶员 {data.driver_id} 不属于车辆 {vehicle.plate} 的运输企业",
                    f"driver {data.driver_id} does not work for {vehicle.plate}'s haulier",
                )
            ]
        )
    site = session.get(ConstructionSite, permit.site_id)
    facility = session.get(DisposalFacility, permit.facility_id)
    haulier = session.get(Haulier, vehicle.haulier_id)
    local_day = now.astimezone(ZoneInfo(settings.local_timezone)).date()
    manifest = Manifest(
        manifest_no=_next_manifest_no(session, local_day, site.id),
        permit_id=permit.id,
        permit_no=permit.permit_no,
        site_id=site.id,
        site_name=site.name,
        site_address=site.address,
        facility_id=facility.id,
        facility_name=facility.name,
        disposal_method=DisposalMethod(str(facility.kind)),
        category=data.category,
        declared_volume_m3=data.declared_volume_m3,
        declared_weight_t=data.declared_weight_t,
        haulier_id=haulier.id,
        haulier_name=haulier.name,
        vehicle_id=vehicle.id,
        plate=vehicle.plate,
        driver_id=driver.id if driver else None,
        driver_name=driver.name if driver else "",
        route=permit.routes,
        state=S.issued,
        issued_by=_username(actor),
        issued_at=now,
    )
    session.add(manifest)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "联单编号冲突（同时开单），请重试", "manifest number taken concurrently; retry"
        ) from exc
    record_use(session, permit.permit_no, manifest.declared_volume_m3 or 0.0)
    _record_change(session, manifest, None, S.issued, actor, now, None, _load(manifest))
    session.flush()
    return manifest


def _counted_m3(data: ReceiptIn, manifest: Manifest) -> float:
    """Volume a receipt adds to the facility: the received m³, else (tonnes only) the
    declared m³ of an accepted load, else nothing."""
    if data.received_volume_m3 is not None:
        return data.received_volume_m3
    if data.outcome == ReceiptOutcome.accepted:
        return manifest.declared_volume_m3 or 0.0
    return 0.0


def _add_used(session: Session, facility_id: int, delta_m3: float) -> None:
    if delta_m3:
        session.execute(
            update(DisposalFacility)
            .where(col(DisposalFacility.id) == facility_id)
            .values(used_m3=col(DisposalFacility.used_m3) + delta_m3)
            .execution_options(synchronize_session=False)
        )


def _store_receipt(session: Session, receipt: Receipt) -> None:
    session.add(receipt)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise _concurrent() from exc


def confirm_receipt(
    session: Session,
    manifest_id: int,
    data: ReceiptIn,
    actor: User | str,
    scope: Scope = UNRESTRICTED,
    now: datetime | None = None,
) -> Receipt:
    """Confirm or reject the load (the receiving facility only); exactly once."""
    now = now or datetime.now(UTC)
    manifest = get_manifest(session, manifest_id, scope)
    target = STATE_OF_OUTCOME[data.outcome]
    if manifest.state not in AWAITING_RECEIPT:
        transition(ManifestState(manifest.state), target)
    received_at = data.received_at or now
    if manifest.state == S.departed:  # the weighbridge is inside the facility: it arrived
        change_state(session, manifest, S.arrived, actor, at=received_at)
    change_state(session, manifest, target, actor, data.reason, at=received_at)
    receipt = Receipt(
        manifest_id=manifest.id,
        version=1,
        facility_id=manifest.facility_id,
        outcome=data.outcome,
        received_volume_m3=data.received_volume_m3,
        weighbridge_t=data.weighbridge_t,
        rejected_volume_m3=data.rejected_volume_m3,
        counted_m3=_counted_m3(data, manifest),
        reason=data.reason,
        received_at=received_at,
        recorded_by=_username(actor),
        recorded_at=now,
    )
    _store_receipt(session, receipt)
    _add_used(session, manifest.facility_id, receipt.counted_m3)
    audit(
        session,
        actor=actor,
        entity="manifest",
        entity_id=manifest.id,
        action="receipt:confirm",
        reason=data.reason,
        data=_receipt_data(receipt),
    )
    session.flush()
    return receipt


def correct_receipt(
    session: Session,
    manifest_id: int,
    data: ReceiptCorrection,
    actor: User | str,
    scope: Scope = UNRESTRICTED,
    now: datetime | None = None,
) -> Receipt:
    """A new receipt version (who, when, why); the facility's used capacity moves by the
    difference, the manifest follows a changed outcome."""
    now = now or datetime.now(UTC)
    manifest = get_manifest(session, manifest_id, scope)
    previous = current_receipt(session, manifest.id)
    if previous is None or manifest.state not in RECEIPT_OUTCOMES:
        state = ManifestState(manifest.state)
        raise Conflict(
            f"联单当前状态为「{state.zh}」，没有可更正的收货记录",
            f"the manifest is {state.en}; there is no receipt to correct",
            current_state=state.value,
        )
    target = STATE_OF_OUTCOME[data.outcome]
    if target != manifest.state:
        change_state(session, manifest, target, actor, data.correction_reason, at=now)
    receipt = Receipt(
        manifest_id=manifest.id,
        version=previous.version + 1,
        facility_id=manifest.facility_id,
        outcome=data.outcome,
        received_volume_m3=data.received_volume_m3,
        weighbridge_t=data.weighbridge_t,
        rejected_volume_m3=data.rejected_volume_m3,
        counted_m3=_counted_m3(data, manifest),
        reason=data.reason,
        received_at=data.received_at or as_utc(previous.received_at),
        recorded_by=_username(actor),
        recorded_at=now,
        correction_reason=data.correction_reason,
    )
    _store_receipt(session, receipt)
    _add_used(session, manifest.facility_id, receipt.counted_m3 - previous.counted_m3)
    audit(
        session,
        actor=actor,
        entity="manifest",
        entity_id=manifest.id,
        action="receipt:correct",
        reason=data.correction_reason,
        data=_receipt_data(receipt) | {"previous_counted_m3": previous.counted_m3},
    )
    session.flush()
    return receipt
