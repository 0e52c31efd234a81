"""Flags raised by the engine and by reconciliation: list, read, and run an analysis."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, model_validator

from cdw.api.deps import SessionDep, SettingsDep, require_roles
from cdw.api.routes.tracks import StoreDep
from cdw.api.schemas import AnalysisPublic, errors
from cdw.auth.models import Role, User
from cdw.enforcement.models import FlagPublic, FlagsPublic
from cdw.enforcement.review import QueueFilter, get_flag, queue
from cdw.flags.codes import FlagCode
from cdw.flows.day import analyse_days
from cdw.registry.services import scope_for

router = APIRouter(tags=["flags 预警"])

# No viewer: a flag's geometry is the trip's path (a piece of raw track); viewers read the
# aggregated figures (statistics, hotspots, control lists).
FLAG_READERS = (
    Role.admin,
    Role.permit_officer,
    Role.enforcement_officer,
    Role.haulier,
)
ANALYSTS = (Role.admin, Role.enforcement_officer)
MAX_ANALYSIS_DAYS = 31


class AnalysisRequest(BaseModel):
    date_from: date
    date_to: date | None = None

    @model_validator(mode="after")
    def _range(self):
        last = self.date_to or self.date_from
        if last < self.date_from or (last - self.date_from).days >= MAX_ANALYSIS_DAYS:
            raise ValueError(
                f"date_to 须不早于 date_from 且跨度不超过 {MAX_ANALYSIS_DAYS} 天 / "
                f"date_to must not precede date_from and the span is at most {MAX_ANALYSIS_DAYS} days"
            )
        return self


@router.post(
    "/analyses",
    response_model=AnalysisPublic,
    responses=errors(403, 409),
    summary="运行轨迹分析 / analyse the stored tracks of a day or range",
)
def run_analysis(
    request: AnalysisRequest,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    _: Annotated[User, require_roles(*ANALYSTS)],
) -> dict[str, Any]:
    report = analyse_days(
        session, store, request.date_from, request.date_to or request.date_from, settings
    )
    return report.as_dict()


@router.get(
    "/flags", response_model=FlagsPublic, responses=errors(403), summary="预警列表 / list flags"
)
def list_flags(
    session: SessionDep,
    user: Annotated[User, require_roles(*FLAG_READERS)],
    code: FlagCode | None = None,
    vehicle: str | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
    min_severity: Annotated[int, Query(ge=0, le=100)] = 0,
    status: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FlagsPublic:
    """Flags ordered by severity (highest first), then time."""
    where = QueueFilter(
        code=code,
        min_severity=min_severity,
        vehicle=vehicle,
        day_from=day_from,
        day_to=day_to,
        status=status,
    )
    rows, count = queue(session, where, scope=scope_for(user), offset=offset, limit=limit)
    return FlagsPublic(data=[FlagPublic.model_validate(r) for r in rows], count=count)


@router.get(
    "/flags/{flag_id}",
    response_model=FlagPublic,
    responses=errors(403, 404),
    summary="预警详情 / read one flag",
)
def read_flag(
    flag_id: int, session: SessionDep, user: Annotated[User, require_roles(*FLAG_READERS)]
) -> FlagPublic:
    return FlagPublic.model_validate(get_flag(session, flag_id, scope_for(user)))
