"""The leadership dashboard's figures in one answer each: KPIs of a period, and flags by
code and day. They gather what the figure and statistics services already compute
(``cdw.manifests.figures``, ``cdw.enforcement.statistics``); the hotspots and the three
control lists (三张管控清单, with their exports) are the enforcement routes'.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cdw.api.deps import SessionDep, SettingsDep, TodayDep, require_roles
from cdw.api.routes.manifests import OFFICIALS, DayRange
from cdw.api.schemas import errors
from cdw.auth.models import User
from cdw.enforcement.statistics import flags_per_day, statistics
from cdw.flags.codes import FlagCode
from cdw.manifests import figures

router = APIRouter(prefix="/dashboard", tags=["dashboard 领导驾驶舱"])
Reader = Annotated[User, require_roles(*OFFICIALS)]


class Kpis(BaseModel):
    date_from: str
    date_to: str
    manifests_issued: int
    manifests_closed: int
    manifests_overdue: int
    received_m3: float
    recycled_m3: float
    recycling_share: float | None = Field(description="综合利用率 of the period's manifests")
    facilities: int
    capacity_m3: float
    used_m3: float
    remaining_m3: float
    held_by_permits_m3: float
    flags_total: int
    cases_opened: int
    cases_closed: int
    closure_rate: float | None


class CodeLabel(BaseModel):
    zh: str
    en: str


class FlagDay(BaseModel):
    day: str
    total: int
    by_code: dict[str, int]


class FlagsPerDay(BaseModel):
    codes: dict[str, CodeLabel]
    data: list[FlagDay]


@router.get(
    "/kpis",
    response_model=Kpis,
    responses=errors(403),
    summary="关键指标 / KPIs of a period (manifests, 综合利用率, capacity, flags, cases)",
)
def read_kpis(
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    _: Reader,
    days: Annotated[DayRange, Query()],
) -> Kpis:
    tz = ZoneInfo(settings.local_timezone)
    per_day = figures.manifests_per_day(session, days.date_from, days.last, tz)
    share = figures.recycling_share(session, days.date_from, days.last, tz)
    capacity = figures.facility_capacity(session, today)
    stats = statistics(session, days.date_from, days.last, settings.local_timezone)
    return Kpis(
        date_from=days.date_from.isoformat(),
        date_to=days.last.isoformat(),
        manifests_issued=sum(d["issued"] for d in per_day),
        manifests_closed=sum(d["closed"] for d in per_day),
        manifests_overdue=sum(d["overdue"] for d in per_day),
        received_m3=share["received_m3"],
        recycled_m3=share["recycled_m3"],
        recycling_share=share["share"],
        facilities=len(capacity),
        capacity_m3=round(sum(f["capacity_m3"] for f in capacity), 3),
        used_m3=round(sum(f["used_m3"] for f in capacity), 3),
        remaining_m3=round(sum(f["remaining_m3"] for f in capacity), 3),
        held_by_permits_m3=round(sum(f["held_by_permits_m3"] for f in capacity), 3),
        flags_total=stats["flags_total"],
        cases_opened=stats["cases_opened"],
        cases_closed=stats["cases_closed"],
        closure_rate=stats["closure_rate"],
    )


@router.get(
    "/flags-per-day",
    response_model=FlagsPerDay,
    responses=errors(403),
    summary="每日预警 / flags by code and day",
)
def read_flags_per_day(
    session: SessionDep, _: Reader, days: Annotated[DayRange, Query()]
) -> FlagsPerDay:
    return FlagsPerDay(
        codes={str(c): CodeLabel(zh=c.zh, en=c.en) for c in FlagCode},
        data=[FlagDay(**d) for d in flags_per_day(session, days.date_from, days.last)],
    )
