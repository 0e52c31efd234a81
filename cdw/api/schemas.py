"""Response models of the API that belong to no table, and the error answers every route
declares (the body :class:`cdw.errors.CdwError` produces)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, computed_field

from cdw.enforcement.models import FlagFound, Instant


def _absent(value: Any) -> bool:
    return value is None


class ProblemOut(BaseModel):
    """One thing wrong with an input (``cdw.errors.Problem``)."""

    model_config = ConfigDict(from_attributes=True)

    field: str
    zh: str
    en: str
    line: int | None = Field(default=None, exclude_if=_absent)
    source: str | None = Field(default=None, exclude_if=_absent)


class ErrorBody(BaseModel):
    """Every error answer: a machine code and the message in Chinese and English."""

    code: str = Field(description="e.g. not_found, conflict, validation_failed, forbidden")
    message_zh: str
    message_en: str
    problems: list[ProblemOut] = Field(default_factory=list)
    problem_count: int | None = Field(
        default=None, description="all problems found (``problems`` shows the first 100)"
    )


ERROR_BODY_REF = "#/components/schemas/ErrorBody"
ERROR_MEANINGS = {
    401: "未登录或令牌无效 / not authenticated",
    403: "角色无权 / the role may not do this",
    404: "不存在或不在权限范围内 / not found or outside the user's scope",
    409: "状态冲突或重复 / conflict with the current state or a duplicate",
    422: "输入无效 / invalid input",
}


def errors(*codes: int, html_route: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each error status with the error body.

    Every route behind a login answers 401 and 422 (bad parameters); pass the others. A
    route whose answer is HTML still answers its errors in JSON (``html_route``)."""
    if html_route:
        body = {"content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}}
    else:
        body = {"model": ErrorBody}
    return {
        code: {**body, "description": ERROR_MEANINGS[code]} for code in sorted({401, 422, *codes})
    }


# --- GeoJSON ---------------------------------------------------------------------------------


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None
    properties: dict[str, Any] = Field(default_factory=dict)


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


# --- permits: route planning -----------------------------------------------------------------


class ZoneEntered(BaseModel):
    id: int
    name: str
    kind: str
    kind_zh: str


class ProposalsPublic(FeatureCollection):
    """The fastest permitted route (rank 1) and its alternatives; ``problems`` says why when
    there is none."""

    origin: tuple[float, float]
    destination: tuple[float, float]
    problems: list[ProblemOut]


class RouteCheckPublic(BaseModel):
    acceptable: bool
    route: Feature | None
    problems: list[ProblemOut]
    zones: list[ZoneEntered]


# --- enforcement dashboards ------------------------------------------------------------------


def _to_metre(degrees: float) -> float:
    """Six decimals of a degree: about 0.1 m."""
    return round(degrees, 6)


class HotspotPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rank: int
    count: int
    vehicles: list[str]
    first_seen: Instant
    last_seen: Instant
    lon: Annotated[float, AfterValidator(_to_metre)]
    lat: Annotated[float, AfterValidator(_to_metre)]
    codes: dict[str, int]
    flag_ids: list[int]

    @computed_field
    def vehicle_count(self) -> int:
        return len(self.vehicles)


class ControlListRow(BaseModel):
    rank: int
    key: str
    name: str
    violations: int
    by_code: dict[str, int]
    last_violation: str | None = Field(description="ISO-8601")
    # hauliers
    credit_score: int | None = Field(default=None, exclude_if=_absent)
    status: str | None = Field(default=None, exclude_if=_absent)
    # road sections
    lon: float | None = Field(default=None, exclude_if=_absent)
    lat: float | None = Field(default=None, exclude_if=_absent)


class ControlListPublic(BaseModel):
    kind: str
    title_zh: str
    data: list[ControlListRow]


class CodeCount(BaseModel):
    zh: str
    en: str
    count: int


class StatisticsPublic(BaseModel):
    date_from: date
    date_to: date
    trips: int | None
    trips_note: str
    flags_total: int
    flags_by_code: dict[str, CodeCount]
    review_outcomes: dict[str, int]
    cases_opened: int
    cases_closed: int
    cases_by_state: dict[str, int]
    closure_rate: float | None


class ChainProblem(BaseModel):
    kind: str
    id: int | None
    zh: str
    en: str


class AuditCheck(BaseModel):
    intact: bool
    entries: int
    head_id: int | None
    head_hash: str
    problems: list[ChainProblem]


class Label(BaseModel):
    zh: str
    en: str


# --- tracks ----------------------------------------------------------------------------------


class RejectOut(BaseModel):
    """One invalid field of an uploaded file, with the row's source text."""

    model_config = ConfigDict(from_attributes=True)

    line: int | None
    field: str
    reason_zh: str = Field(validation_alias=AliasChoices("reason_zh", "zh"))
    reason_en: str = Field(validation_alias=AliasChoices("reason_en", "en"))
    raw: str


class UploadPublic(BaseModel):
    source: str | None = Field(description="the uploaded file's name")
    format: str
    read: int
    rejected: int
    dropped: dict[str, int]
    reordered: int
    new: int
    already_stored: int
    message_zh: str
    message_en: str
    rejects: list[RejectOut]


# --- analyses and reconciliations ------------------------------------------------------------


class AnalysisPublic(BaseModel):
    start_day: date
    end_day: date
    points_read: int
    points_kept: int
    dropped: dict[str, int]
    vehicles: int
    trips: int
    counts: dict[str, int]
    stored: int
    replaced: int
    kept_reviewed: int
    timings_s: dict[str, float]
    flags: list[FlagFound]


class ReconciliationPublic(BaseModel):
    start_day: date
    end_day: date
    manifests: int
    trips: int
    counts: dict[str, int]
    stored: int
    replaced: int
    kept_reviewed: int
    state_changes: dict[str, int]
    flags: list[FlagFound]


# --- manifests -------------------------------------------------------------------------------


class GateCheck(BaseModel):
    may_leave: bool
    problems: list[ProblemOut]


class FacilityCapacity(BaseModel):
    facility_id: int
    name: str
    kind: str
    capacity_m3: float
    used_m3: float
    held_by_permits_m3: float
    remaining_m3: float
    unallocated_m3: float


class FacilityCapacities(BaseModel):
    data: list[FacilityCapacity]


class ManifestDay(BaseModel):
    day: date
    issued: int
    closed: int
    overdue: int


class ManifestDays(BaseModel):
    data: list[ManifestDay]


class RecyclingShare(BaseModel):
    """综合利用率 of the manifests issued in the period."""

    day_from: date
    day_to: date
    received_m3: float
    recycled_m3: float
    share: float | None
