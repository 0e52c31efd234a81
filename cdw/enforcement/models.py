"""Enforcement tables: reviews and explanations of flags, cases (立案) and their documents;
and their answers as the API shows them (flags with their review status, evidence, cases)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, PlainSerializer, computed_field
from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from cdw.db import plain_enum
from cdw.flags.codes import FlagCode, FlagSource
from cdw.permits.models import PermitRow


def _now() -> datetime:
    return datetime.now(UTC)


def _iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC, ``+00:00`` (SQLite hands back naive datetimes, stored as UTC)."""
    return (
        value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    ).isoformat()


# A moment as the API shows it: ISO-8601 in UTC.
Instant = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str)]


def _stamp(nullable: bool = False) -> Field:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False))


class ReviewStatus(StrEnum):
    """What became of a flag (stored in ``FlagRecord.status``)."""

    open = "open"
    dismissed = "dismissed"
    warned = "warned"
    in_case = "in_case"
    confirmed = "confirmed"  # its case was decided: a confirmed violation
    withdrawn = "withdrawn"  # its case was withdrawn

    @classmethod
    def of(cls, value: str) -> ReviewStatus | None:
        """The member for a stored status (None for one another module wrote)."""
        return cls._value2member_map_.get(value)  # type: ignore[return-value]

    @property
    def zh(self) -> str:
        return REVIEW_STATUS_LABELS[self][0]

    @property
    def en(self) -> str:
        return REVIEW_STATUS_LABELS[self][1]


REVIEW_STATUS_LABELS = {
    ReviewStatus.open: ("待审核", "open"),
    ReviewStatus.dismissed: ("已排除", "dismissed"),
    ReviewStatus.warned: ("已警告", "warned"),
    ReviewStatus.in_case: ("已立案", "in a case"),
    ReviewStatus.confirmed: ("违规已确认", "confirmed violation"),
    ReviewStatus.withdrawn: ("案件已撤销", "case withdrawn"),
}


class ReviewOutcome(StrEnum):
    dismissed = "dismissed"
    warned = "warned"
    case_opened = "case_opened"


class FlagReview(SQLModel, table=True):
    """One review decision on a flag (the queue's history; the audit log has it too)."""

    __tablename__ = "flag_review"

    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="flag.id", index=True)
    outcome: ReviewOutcome = Field(sa_type=plain_enum(ReviewOutcome, 16), index=True)
    reason: str = Field(default="", max_length=2000)
    reviewer: str = Field(max_length=64)
    case_id: int | None = Field(default=None, foreign_key="enforcement_case.id")
    at: datetime = _stamp()


class FlagExplanation(SQLModel, table=True):
    """An explanation (申诉) a haulier attaches to a flag on one of its vehicles."""

    __tablename__ = "flag_explanation"

    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="flag.id", index=True)
    haulier_id: int = Field(foreign_key="haulier.id", index=True)
    author: str = Field(max_length=64)
    text: str = Field(min_length=1, max_length=4000)
    at: datetime = _stamp()


class CaseState(StrEnum):
    open = "open"
    investigating = "investigating"
    decided = "decided"
    closed = "closed"
    withdrawn = "withdrawn"

    @property
    def zh(self) -> str:
        return CASE_STATE_LABELS[self][0]

    @property
    def en(self) -> str:
        return CASE_STATE_LABELS[self][1]


CASE_STATE_LABELS = {
    CaseState.open: ("已立案", "open"),
    CaseState.investigating: ("调查中", "investigating"),
    CaseState.decided: ("已处罚决定", "decided"),
    CaseState.closed: ("已结案", "closed"),
    CaseState.withdrawn: ("已撤销", "withdrawn"),
}


class Case(SQLModel, table=True):
    """An enforcement case (立案) with the chain of responsibility (一案三查): the emitting
    site, the haulier and driver, and the receiving facility or the dumping location."""

    __tablename__ = "enforcement_case"

    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(unique=True, index=True, max_length=32)
    title: str = Field(min_length=1, max_length=200)
    state: CaseState = Field(default=CaseState.open, sa_type=plain_enum(CaseState, 16), index=True)
    vehicle: str | None = Field(default=None, max_length=32, index=True)
    haulier_id: int | None = Field(default=None, foreign_key="haulier.id", index=True)
    driver_id: int | None = Field(default=None, foreign_key="driver.id")
    site_id: int | None = Field(default=None, foreign_key="construction_site.id", index=True)
    facility_id: int | None = Field(default=None, foreign_key="disposal_facility.id")
    dumping_lon: float | None = None
    dumping_lat: float | None = None
    dumping_description: str = Field(default="", max_length=500)
    penalty_amount_yuan: float | None = Field(default=None, ge=0)
    legal_basis: str = Field(default="", max_length=2000)
    decision_text: str = Field(default="", max_length=4000)
    withdrawal_reason: str = Field(default="", max_length=2000)
    opened_by: str = Field(max_length=64)
    opened_at: datetime = _stamp()
    decided_at: datetime | None = _stamp(nullable=True)
    closed_at: datetime | None = _stamp(nullable=True)
    updated_at: datetime = _stamp()


class CaseFlag(SQLModel, table=True):
    __tablename__ = "case_flag"

    case_id: int = Field(foreign_key="enforcement_case.id", primary_key=True)
    flag_id: int = Field(foreign_key="flag.id", primary_key=True, index=True)


class CaseDocument(SQLModel, table=True):
    """A document of a case, attached by reference (the file itself lives elsewhere)."""

    __tablename__ = "case_document"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="enforcement_case.id", index=True)
    name: str = Field(min_length=1, max_length=200)
    uri: str = Field(min_length=1, max_length=1000)
    sha256: str | None = Field(default=None, min_length=64, max_length=64)
    added_by: str = Field(max_length=64)
    added_at: datetime = _stamp()


__all__ = [
    "Case",
    "CaseDocument",
    "CaseFlag",
    "CaseState",
    "FlagExplanation",
    "FlagReview",
    "ReviewOutcome",
    "ReviewStatus",
]


# --- answers ---------------------------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FlagFound(_Answer):
    """A flag as a check produced it, with its code labelled in both languages."""

    code: FlagCode
    severity: int
    vehicle: str
    trip_id: str | None
    start: Instant = Field(validation_alias=AliasChoices("start", "start_ts"))
    end: Instant = Field(validation_alias=AliasChoices("end", "end_ts"))
    lon: float
    lat: float
    geometry: dict[str, Any]
    measured: dict[str, Any]
    thresholds: dict[str, Any]
    explanation_zh: str
    explanation_en: str
    permit_no: str | None = None

    @computed_field
    def label_zh(self) -> str:
        return self.code.zh

    @computed_field
    def label_en(self) -> str:
        return self.code.en


def _status_label(status: str, language: str) -> str:
    known = ReviewStatus.of(status)
    return getattr(known, language) if known else status


class FlagPublic(FlagFound):
    """A stored flag with its review status labelled in both languages."""

    id: int
    day: date
    source: FlagSource
    status: str

    @computed_field
    def status_zh(self) -> str:
        return _status_label(self.status, "zh")

    @computed_field
    def status_en(self) -> str:
        return _status_label(self.status, "en")


class FlagsPublic(BaseModel):
    data: list[FlagPublic]
    count: int


class EarlierFlag(_Answer):
    id: int
    code: FlagCode
    start: Instant = Field(validation_alias=AliasChoices("start", "start_ts"))
    severity: int
    status: str

    @computed_field
    def label_zh(self) -> str:
        return self.code.zh

    @computed_field
    def label_en(self) -> str:
        return self.code.en


class ExplanationPublic(_Answer):
    id: int
    flag_id: int
    author: str
    text: str
    at: Instant


class ReviewPublic(_Answer):
    outcome: ReviewOutcome
    reason: str
    reviewer: str
    case_id: int | None
    at: Instant


class HistoryEntry(_Answer):
    """One audit-log entry of a record."""

    id: int
    at: Instant
    actor: str
    action: str
    reason: str | None


class VehicleRef(_Answer):
    plate: str
    id: int
    haulier_id: int


class EvidencePublic(BaseModel):
    """Everything an officer needs to judge one flag; the geometries are GeoJSON."""

    flag: FlagPublic
    measured: dict[str, Any]
    thresholds: dict[str, Any]
    flag_geometry: dict[str, Any] = Field(description="GeoJSON Feature")
    track: dict[str, Any] = Field(description="GeoJSON FeatureCollection: the track ±15 min")
    corridor: dict[str, Any] = Field(description="GeoJSON FeatureCollection: route, corridor")
    geofences: dict[str, Any] = Field(description="GeoJSON FeatureCollection: fences nearby")
    permit: PermitRow | None
    vehicle: VehicleRef | None
    earlier_flags: list[EarlierFlag]
    explanations: list[ExplanationPublic]
    reviews: list[ReviewPublic]
    history: list[HistoryEntry]


class DocumentPublic(_Answer):
    id: int
    name: str
    uri: str
    sha256: str | None
    added_by: str
    added_at: Instant


class CaseSummary(_Answer):
    id: int
    case_no: str
    title: str
    state: CaseState
    vehicle: str | None
    haulier_id: int | None
    opened_at: Instant
    penalty_amount_yuan: float | None

    @computed_field
    def state_zh(self) -> str:
        return self.state.zh

    @computed_field
    def state_en(self) -> str:
        return self.state.en


class CasesPublic(BaseModel):
    data: list[CaseSummary]
    count: int


class NamedRef(BaseModel):
    id: int
    name: str | None


class DumpingLocation(BaseModel):
    lon: float
    lat: float | None
    description: str


class CaseParties(BaseModel):
    haulier: NamedRef | None
    driver: NamedRef | None
    site: NamedRef | None
    facility: NamedRef | None
    dumping_location: DumpingLocation | None


class CasePublic(CaseSummary):
    """A case with its parties (一案三查), decision, flags, documents and history."""

    parties: CaseParties
    legal_basis: str
    decision_text: str
    withdrawal_reason: str
    opened_by: str
    decided_at: Instant | None
    closed_at: Instant | None
    flags: list[FlagPublic]
    documents: list[DocumentPublic]
    history: list[HistoryEntry]


class CreditChange(_Answer):
    """A haulier's credit score before and after a decided case's deductions."""

    haulier_id: int
    before: int
    after: int
    suspended: bool


class CaseActed(CasePublic):
    credit: CreditChange | None = None
