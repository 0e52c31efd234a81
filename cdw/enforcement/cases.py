"""Cases (立案): opened from flags, worked through the state machine, documents by reference.

Services take a Session, ``flush`` and never ``commit``; every change is audited in the same
transaction. The responsible parties of "一案三查" are filled from the flags: the vehicle's
haulier, the permit's emitting site and receiving facility, and the location of a dumping
or stop flag; the officer adds the driver and corrects the rest while the case is open.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from cdw.audit.log import audit, history
from cdw.auth.models import User
from cdw.config import Settings
from cdw.enforcement.case_machine import ActionInput, CaseAction, next_state
from cdw.enforcement.credit import CreditOutcome, deduct_for_flags
from cdw.enforcement.models import (
    Case,
    CaseDocument,
    CaseFlag,
    CaseParties,
    CasePublic,
    CaseState,
    DocumentPublic,
    DumpingLocation,
    FlagPublic,
    FlagReview,
    HistoryEntry,
    NamedRef,
    ReviewOutcome,
    ReviewStatus,
)
from cdw.enforcement.review import get_flag, require_open, set_status
from cdw.errors import Conflict, NotFound, Problem, ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.permits.models import Permit
from cdw.registry.models import (
    ConstructionSite,
    DisposalFacility,
    Driver,
    Haulier,
)
from cdw.registry.services import holder_at

CASE_ENTITY = "case"
LOCATION_CODES = {FlagCode.SUSPECTED_DUMPING, FlagCode.LONG_STOP}
EDITABLE_STATES = {CaseState.open, CaseState.investigating}


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("案件", "case", case_id)
    return case


def list_cases(
    session: Session,
    *,
    state: CaseState | None = None,
    haulier_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Case], int]:
    """Cases, newest first, and the total count."""
    stmt = select(Case)
    if state is not None:
        stmt = stmt.where(Case.state == state)
    if haulier_id is not None:
        stmt = stmt.where(Case.haulier_id == haulier_id)
    count = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(Case.id).desc()).offset(offset).limit(limit)).all()
    return list(rows), count


def case_flags(session: Session, case: Case) -> list[FlagRecord]:
    stmt = (
        select(FlagRecord)
        .join(CaseFlag, col(CaseFlag.flag_id) == col(FlagRecord.id))
        .where(CaseFlag.case_id == case.id)
        .order_by(col(FlagRecord.start_ts))
    )
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class Parties:
    """The chain of responsibility (一案三查); None where unknown."""

    haulier_id: int | None = None
    driver_id: int | None = None
    site_id: int | None = None
    facility_id: int | None = None
    dumping_lon: float | None = None
    dumping_lat: float | None = None
    dumping_description: str = ""


def parties_from_flags(session: Session, flags: list[FlagRecord]) -> tuple[str | None, Parties]:
    """The vehicle (if one) and the parties the flags point to."""
    plates = {f.vehicle for f in flags}
    # The haulier that held the vehicle when each flag was raised, not today's.
    hauliers = {holder_at(session, f.vehicle, f.start_ts) for f in flags} - {None}
    if len(hauliers) > 1:
        raise ValidationFailed(
            [
                Problem(
                    "flag_ids",
                    "一个案件的预警须属于同一运输企业",
                    "the flags of one case must belong to one haulier",
                )
            ]
        )
    permit_nos = [f.permit_no for f in flags if f.permit_no]
    permit = (
        session.exec(select(Permit).where(Permit.permit_no == permit_nos[0])).first()
        if permit_nos
        else None
    )
    spot = next((f for f in flags if FlagCode(f.code) in LOCATION_CODES), None)
    parties = Parties(
        haulier_id=next(iter(hauliers), None),
        site_id=permit.site_id if permit else None,
        facility_id=permit.facility_id if permit else None,
        dumping_lon=spot.lon if spot else None,
        dumping_lat=spot.lat if spot else None,
    )
    return (next(iter(plates)) if len(plates) == 1 else None), parties


def _check_parties(session: Session, parties: dict[str, Any]) -> None:
    refs = (
        ("haulier_id", Haulier, "运输企业", "haulier"),
        ("driver_id", Driver, "驾驶员", "driver"),
        ("site_id", ConstructionSite, "排放工地", "construction site"),
        ("facility_id", DisposalFacility, "消纳场所", "disposal facility"),
    )
    problems = [
        Problem(field, f"{zh} {parties[field]} 不存在", f"{en} {parties[field]} does not exist")
        for field, model, zh, en in refs
        if parties.get(field) is not None and session.get(model, parties[field]) is None
    ]
    if problems:
        raise ValidationFailed(problems)


def open_case(
    session: Session,
    actor: User,
    flag_ids: list[int],
    title: str,
    *,
    reason: str = "",
    driver_id: int | None = None,
) -> Case:
    """A new case from open flags (each becomes ``in_case``)."""
    if not flag_ids:
        raise ValidationFailed(
            [Problem("flag_ids", "至少选择一条预警", "choose at least one flag")]
        )
    if not title.strip():
        raise ValidationFailed([Problem("title", "案件标题不能为空", "the case needs a title")])
    flags = [get_flag(session, flag_id) for flag_id in dict.fromkeys(flag_ids)]
    for flag in flags:
        require_open(flag)
    vehicle, parties = parties_from_flags(session, flags)
    parties = Parties(**{**parties.__dict__, "driver_id": driver_id})
    _check_parties(session, parties.__dict__)
    case = Case(
        case_no=f"tmp-{uuid.uuid4().hex[:24]}",
        title=title.strip(),
        vehicle=vehicle,
        opened_by=actor.username,
        **parties.__dict__,
    )
    session.add(case)
    session.flush()
    case.case_no = f"ZF{case.opened_at.year}-{case.id:06d}"
    session.add(case)
    for flag in flags:
        session.add(CaseFlag(case_id=case.id, flag_id=flag.id))  # type: ignore[arg-type]
        session.add(
            FlagReview(
                flag_id=flag.id,  # type: ignore[arg-type]
                outcome=ReviewOutcome.case_opened,
                reason=reason,
                reviewer=actor.username,
                case_id=case.id,
            )
        )
        set_status(
            session,
            flag,
            ReviewStatus.in_case,
            actor=actor,
            reason=reason,
            data={"case_no": case.case_no},
        )
    audit(
        session,
        actor=actor,
        entity=CASE_ENTITY,
        entity_id=case.id,
        action="open",
        reason=reason or None,
        data={"case_no": case.case_no, "flag_ids": [f.id for f in flags], **_parties_of(case)},
    )
    session.flush()
    return case


def _parties_of(case: Case) -> dict[str, Any]:
    return {field: getattr(case, field) for field in Parties.__dataclass_fields__}


def update_parties(
    session: Session, case: Case, actor: User, changes: dict[str, Any], reason: str = ""
) -> Case:
    """Correct the responsible parties while the case is open or under investigation."""
    if case.state not in EDITABLE_STATES:
        raise Conflict(
            f"案件处于「{CaseState(case.state).zh}」状态，不能修改当事方",
            f"the parties of a case in state '{case.state}' cannot change",
        )
    unknown = set(changes) - set(Parties.__dataclass_fields__)
    if unknown:
        raise ValidationFailed(
            [Problem(f, "不是当事方字段", "not a party field") for f in sorted(unknown)]
        )
    _check_parties(session, changes)
    before = _parties_of(case)
    for field, value in changes.items():
        setattr(case, field, value)
    case.updated_at = datetime.now(UTC)
    session.add(case)
    audit(
        session,
        actor=actor,
        entity=CASE_ENTITY,
        entity_id=case.id,
        action="parties",
        reason=reason or None,
        data={"before": before, "after": _parties_of(case)},
    )
    session.flush()
    return case


@dataclass(frozen=True)
class ActionResult:
    case: Case
    credit: CreditOutcome | None = None


def act(
    session: Session,
    case: Case,
    action: CaseAction,
    actor: User,
    given: ActionInput,
    settings: Settings,
) -> ActionResult:
    """Move the case on. Deciding confirms its flags and deducts the haulier's credit;
    withdrawing marks its flags ``withdrawn``."""
    before = CaseState(case.state)
    case.state = next_state(before, action, given)
    now = datetime.now(UTC)
    case.updated_at = now
    credit: CreditOutcome | None = None
    flags = case_flags(session, case)
    if action is CaseAction.decide:
        case.penalty_amount_yuan = given.penalty_amount_yuan
        case.legal_basis = given.legal_basis.strip()
        case.decision_text = given.decision_text.strip()
        case.decided_at = now
    elif action is CaseAction.close:
        case.closed_at = now
    elif action is CaseAction.withdraw:
        case.withdrawal_reason = given.reason.strip()
        case.closed_at = now
    session.add(case)
    audit(
        session,
        actor=actor,
        entity=CASE_ENTITY,
        entity_id=case.id,
        action=str(action),
        reason=given.reason.strip() or None,
        data={
            "from": str(before),
            "to": str(case.state),
            "penalty_amount_yuan": case.penalty_amount_yuan,
            "legal_basis": case.legal_basis,
        },
    )
    if action in (CaseAction.decide, CaseAction.withdraw):
        status = ReviewStatus.confirmed if action is CaseAction.decide else ReviewStatus.withdrawn
        for flag in flags:
            set_status(
                session, flag, status, actor=actor, reason=None, data={"case_no": case.case_no}
            )
    if action is CaseAction.decide and case.haulier_id is not None:
        haulier = session.get(Haulier, case.haulier_id)
        if haulier is not None:
            credit = deduct_for_flags(
                session,
                haulier,
                flags,
                actor=actor,
                threshold=settings.credit_suspension_threshold,
                case_no=case.case_no,
            )
    session.flush()
    return ActionResult(case, credit)


def add_document(
    session: Session, case: Case, actor: User, name: str, uri: str, sha256: str | None = None
) -> CaseDocument:
    """Attach a document by reference (name, where it lives, optional SHA-256)."""
    problems = []
    if not name.strip():
        problems.append(Problem("name", "文件名不能为空", "the document needs a name"))
    if not uri.strip():
        problems.append(Problem("uri", "文件地址不能为空", "the document needs a URI"))
    digest = (sha256 or "").strip().lower() or None
    if digest is not None and (
        len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)
    ):
        problems.append(
            Problem("sha256", "SHA-256 须为 64 位十六进制", "sha256 must be 64 hexadecimal digits")
        )
    if problems:
        raise ValidationFailed(problems)
    if case.state in (CaseState.closed, CaseState.withdrawn):
        raise Conflict(
            f"案件已{CaseState(case.state).zh}，不能再添加文件",
            f"a {case.state} case takes no more documents",
        )
    document = CaseDocument(
        case_id=case.id,  # type: ignore[arg-type]
        name=name.strip(),
        uri=uri.strip(),
        sha256=digest,
        added_by=actor.username,
    )
    session.add(document)
    session.flush()
    audit(
        session,
        actor=actor,
        entity=CASE_ENTITY,
        entity_id=case.id,
        action="document",
        data={
            "document_id": document.id,
            "name": document.name,
            "uri": document.uri,
            "sha256": digest,
        },
    )
    return document


def _named(session: Session, model: type, record_id: int | None) -> NamedRef | None:
    if record_id is None:
        return None
    record = session.get(model, record_id)
    return NamedRef(id=record_id, name=getattr(record, "name", None))


def case_public(session: Session, case: Case) -> CasePublic:
    """The case with its parties, decision, flags, documents and history."""
    documents = session.exec(
        select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(col(CaseDocument.id))
    ).all()
    spot = (
        None
        if case.dumping_lon is None
        else DumpingLocation(
            lon=case.dumping_lon, lat=case.dumping_lat, description=case.dumping_description
        )
    )
    parties = CaseParties(
        haulier=_named(session, Haulier, case.haulier_id),
        driver=_named(session, Driver, case.driver_id),
        site=_named(session, ConstructionSite, case.site_id),
        facility=_named(session, DisposalFacility, case.facility_id),
        dumping_location=spot,
    )
    return CasePublic.model_validate(
        case.model_dump()
        | {
            "parties": parties,
            "flags": [FlagPublic.model_validate(f) for f in case_flags(session, case)],
            "documents": [DocumentPublic.model_validate(d) for d in documents],
            "history": [
                HistoryEntry.model_validate(e) for e in history(session, CASE_ENTITY, case.id)
            ],
        }
    )
