"""Enforcement: review queue, evidence, explanations (申诉), cases, credit, hotspots,
control lists, statistics, reports and the audit check.

Roles (DESIGN.md §1): enforcement officers and admins act; viewers read statistics,
hotspots and control lists; a haulier reads and explains only the flags of its own vehicles.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from cdw.api.deps import SessionDep, SettingsDep, require_roles
from cdw.api.routes.tracks import StoreDep
from cdw.api.schemas import (
    AuditCheck,
    ChainProblem,
    ControlListPublic,
    HotspotPublic,
    StatisticsPublic,
    errors,
)
from cdw.audit.log import chain_head, verify_chain
from cdw.auth.models import Role, User
from cdw.enforcement import cases, review
from cdw.enforcement.case_machine import ActionInput, CaseAction
from cdw.enforcement.hotspots import DEFAULT_MIN_EVENTS, DEFAULT_RADIUS_M, hotspots
from cdw.enforcement.lists import ListKind, control_list, to_csv, to_xlsx
from cdw.enforcement.models import (
    Case,
    CaseActed,
    CasePublic,
    CasesPublic,
    CaseState,
    CaseSummary,
    CreditChange,
    DocumentPublic,
    EvidencePublic,
    ExplanationPublic,
    FlagPublic,
    FlagsPublic,
    ReviewStatus,
)
from cdw.enforcement.report import case_report_html
from cdw.enforcement.statistics import statistics
from cdw.flags.codes import FlagCode
from cdw.registry.services import scope_for
from cdw.roads.services import configured_roads

router = APIRouter(prefix="/enforcement", tags=["enforcement 执法"])

OFFICERS = (Role.admin, Role.enforcement_officer)
DASHBOARD = (*OFFICERS, Role.viewer)
EXPLAINERS = (*OFFICERS, Role.haulier)
Officer = Annotated[User, require_roles(*OFFICERS)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _Body(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class ReasonIn(_Body):
    reason: str = Field(default="", max_length=2000)


class ExplanationIn(_Body):
    text: str = Field(min_length=1, max_length=4000)


class CaseIn(_Body):
    flag_ids: list[int] = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)
    driver_id: int | None = None


class PartiesIn(_Body):
    haulier_id: int | None = None
    driver_id: int | None = None
    site_id: int | None = None
    facility_id: int | None = None
    dumping_lon: float | None = Field(default=None, ge=-180, le=180)
    dumping_lat: float | None = Field(default=None, ge=-90, le=90)
    dumping_description: str = Field(default="", max_length=500)
    reason: str = Field(default="", max_length=2000)


class ActionIn(_Body):
    penalty_amount_yuan: float | None = Field(default=None, ge=0)
    legal_basis: str = Field(default="", max_length=2000)
    decision_text: str = Field(default="", max_length=4000)
    reason: str = Field(default="", max_length=2000)


class DocumentIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    uri: str = Field(min_length=1, max_length=1000)
    sha256: str | None = None


# --- review queue ----------------------------------------------------------------------------


@router.get(
    "/queue",
    response_model=FlagsPublic,
    responses=errors(403),
    summary="审核队列 / review queue of flags, by score",
)
def read_queue(
    session: SessionDep,
    _: Officer,
    code: FlagCode | None = None,
    min_severity: Annotated[int, Query(ge=0, le=100)] = 0,
    haulier_id: int | None = None,
    vehicle: str | None = None,
    site_id: int | None = None,
    facility_id: int | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
    status: ReviewStatus = ReviewStatus.open,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FlagsPublic:
    where = review.QueueFilter(
        code, min_severity, haulier_id, vehicle, site_id, facility_id, day_from, day_to, status
    )
    rows, count = review.queue(session, where, offset=offset, limit=limit)
    return FlagsPublic(data=[FlagPublic.model_validate(r) for r in rows], count=count)


@router.get(
    "/flags/{flag_id}/evidence",
    response_model=EvidencePublic,
    responses=errors(403, 404),
    summary="证据包 / evidence packet of a flag",
)
def read_evidence(
    flag_id: int, session: SessionDep, store: StoreDep, settings: SettingsDep, _: Officer
) -> EvidencePublic:
    return review.evidence(session, store, review.get_flag(session, flag_id), settings)


@router.post(
    "/flags/{flag_id}/dismiss",
    response_model=FlagPublic,
    responses=errors(403, 404, 409),
    summary="排除预警 / dismiss a flag (reason required)",
)
def dismiss_flag(flag_id: int, body: ReasonIn, session: SessionDep, user: Officer) -> FlagPublic:
    record = review.get_flag(session, flag_id)
    review.dismiss(session, record, user, body.reason)
    session.commit()
    return FlagPublic.model_validate(record)


@router.post(
    "/flags/{flag_id}/warn",
    response_model=FlagPublic,
    responses=errors(403, 404, 409),
    summary="警告 / warn the haulier, no case",
)
def warn_flag(flag_id: int, body: ReasonIn, session: SessionDep, user: Officer) -> FlagPublic:
    record = review.get_flag(session, flag_id)
    review.warn(session, record, user, body.reason)
    session.commit()
    return FlagPublic.model_validate(record)


@router.get(
    "/flags/{flag_id}/explanations",
    response_model=list[ExplanationPublic],
    responses=errors(403, 404),
    summary="申诉 / explanations on a flag",
)
def read_explanations(
    flag_id: int, session: SessionDep, user: Annotated[User, require_roles(*EXPLAINERS)]
) -> list[ExplanationPublic]:
    record = review.get_flag(session, flag_id, scope_for(user))
    rows = review.explanations(session, record.id)  # type: ignore[arg-type]
    return [ExplanationPublic.model_validate(r) for r in rows]


@router.post(
    "/flags/{flag_id}/explanations",
    status_code=201,
    response_model=ExplanationPublic,
    responses=errors(403, 404),
    summary="提交申诉 / a haulier explains a flag of its own vehicle",
)
def add_explanation(
    flag_id: int,
    body: ExplanationIn,
    session: SessionDep,
    user: Annotated[User, require_roles(Role.haulier)],
) -> ExplanationPublic:
    record = review.get_flag(session, flag_id, scope_for(user))
    entry = review.explain(session, record, user, body.text)
    session.commit()
    return ExplanationPublic.model_validate(entry)


# --- cases -----------------------------------------------------------------------------------


@router.post(
    "/cases",
    status_code=201,
    response_model=CasePublic,
    responses=errors(403, 404, 409),
    summary="立案 / open a case from flags",
)
def open_case(body: CaseIn, session: SessionDep, user: Officer) -> CasePublic:
    case = cases.open_case(
        session, user, body.flag_ids, body.title, reason=body.reason, driver_id=body.driver_id
    )
    session.commit()
    return cases.case_public(session, case)


@router.get(
    "/cases", response_model=CasesPublic, responses=errors(403), summary="案件列表 / list cases"
)
def list_cases(
    session: SessionDep,
    _: Officer,
    state: CaseState | None = None,
    haulier_id: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CasesPublic:
    rows, count = cases.list_cases(
        session, state=state, haulier_id=haulier_id, offset=offset, limit=limit
    )
    return CasesPublic(data=[CaseSummary.model_validate(c) for c in rows], count=count)


@router.get(
    "/cases/{case_id}",
    response_model=CasePublic,
    responses=errors(403, 404),
    summary="案件详情 / read a case",
)
def read_case(case_id: int, session: SessionDep, _: Officer) -> CasePublic:
    return cases.case_public(session, cases.get_case(session, case_id))


@router.patch(
    "/cases/{case_id}/parties",
    response_model=CasePublic,
    responses=errors(403, 404, 409),
    summary="当事方 / correct the responsible parties",
)
def update_parties(case_id: int, body: PartiesIn, session: SessionDep, user: Officer) -> CasePublic:
    case = cases.get_case(session, case_id)
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    cases.update_parties(session, case, user, changes, body.reason)
    session.commit()
    return cases.case_public(session, case)


@router.post(
    "/cases/{case_id}/actions/{action}",
    response_model=CaseActed,
    responses=errors(403, 404, 409),
    summary="案件流转 / investigate, decide, close, withdraw",
)
def act_on_case(
    case_id: int,
    action: CaseAction,
    body: ActionIn,
    session: SessionDep,
    settings: SettingsDep,
    user: Officer,
) -> CaseActed:
    case = cases.get_case(session, case_id)
    result = cases.act(session, case, action, user, ActionInput(**body.model_dump()), settings)
    session.commit()
    credit = None if result.credit is None else CreditChange.model_validate(result.credit)
    return CaseActed(**dict(cases.case_public(session, case)), credit=credit)


@router.post(
    "/cases/{case_id}/documents",
    status_code=201,
    response_model=DocumentPublic,
    responses=errors(403, 404, 409),
    summary="案件文件 / attach a document",
)
def add_document(
    case_id: int, body: DocumentIn, session: SessionDep, user: Officer
) -> DocumentPublic:
    case = cases.get_case(session, case_id)
    document = cases.add_document(session, case, user, body.name, body.uri, body.sha256)
    session.commit()
    return DocumentPublic.model_validate(document)


@router.get(
    "/cases/{case_id}/report",
    response_class=HTMLResponse,
    responses=errors(403, 404, html_route=True),
    summary="证据报告 / printable evidence report (HTML)",
)
def case_report(
    case_id: int, session: SessionDep, store: StoreDep, settings: SettingsDep, _: Officer
) -> HTMLResponse:
    case: Case = cases.get_case(session, case_id)
    return HTMLResponse(case_report_html(session, store, case, settings))


# --- dashboards ------------------------------------------------------------------------------


@router.get(
    "/hotspots",
    response_model=list[HotspotPublic],
    responses=errors(403),
    summary="偷倒热点 / hotspots of dumping and long stops",
)
def read_hotspots(
    session: SessionDep,
    _: Annotated[User, require_roles(*DASHBOARD)],
    day_from: date | None = None,
    day_to: date | None = None,
    radius_m: Annotated[float, Query(gt=0, le=5000)] = DEFAULT_RADIUS_M,
    min_events: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_MIN_EVENTS,
) -> list[HotspotPublic]:
    found = hotspots(
        session, day_from=day_from, day_to=day_to, radius_m=radius_m, min_events=min_events
    )
    return [HotspotPublic.model_validate(h) for h in found]


@router.get(
    "/control-lists/{kind}",
    response_model=ControlListPublic,
    responses={
        **errors(403),
        200: {
            "description": "JSON (fmt=json), CSV (fmt=csv) or XLSX (fmt=xlsx)",
            "content": {"text/csv": {}, XLSX: {}},
        },
    },
    summary="管控清单 / control list (JSON, CSV or XLSX)",
)
def read_control_list(
    kind: ListKind,
    session: SessionDep,
    settings: SettingsDep,
    _: Annotated[User, require_roles(*DASHBOARD)],
    day_from: date | None = None,
    day_to: date | None = None,
    fmt: Literal["json", "csv", "xlsx"] = "json",
) -> ControlListPublic | Response:
    roads = configured_roads(settings) if kind is ListKind.roads else None
    rows = control_list(session, kind, day_from, day_to, roads)
    if fmt == "json":
        return ControlListPublic(kind=str(kind), title_zh=kind.zh, data=rows)
    disposition = {"Content-Disposition": f'attachment; filename="control-list-{kind}.{fmt}"'}
    if fmt == "csv":
        return Response(
            to_csv(kind, rows), media_type="text/csv; charset=utf-8", headers=disposition
        )
    return Response(to_xlsx(kind, rows), media_type=XLSX, headers=disposition)


@router.get(
    "/statistics",
    response_model=StatisticsPublic,
    responses=errors(403),
    summary="统计 / statistics of a period",
)
def read_statistics(
    session: SessionDep,
    settings: SettingsDep,
    _: Annotated[User, require_roles(*DASHBOARD)],
    date_from: date,
    date_to: date,
) -> StatisticsPublic:
    return StatisticsPublic.model_validate(
        statistics(session, date_from, date_to, settings.local_timezone)
    )


@router.get(
    "/audit/verify",
    response_model=AuditCheck,
    responses=errors(403),
    summary="审计日志校验 / check the audit hash chain",
)
def audit_verify(session: SessionDep, _: Annotated[User, require_roles(Role.admin)]) -> AuditCheck:
    problems = verify_chain(session)
    head = chain_head(session)
    return AuditCheck(
        intact=not problems,
        entries=head.entries,
        head_id=head.head_id,
        head_hash=head.head_hash,
        problems=[ChainProblem(kind=p.field, id=p.line, zh=p.zh, en=p.en) for p in problems],
    )
