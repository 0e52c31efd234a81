"""Flags (DESIGN.md §3): one suspected violation with its evidence, in memory and in SQL."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, delete, select

from cdw.db import plain_enum
from cdw.errors import Conflict


class FlagCode(StrEnum):
    ROUTE_DEVIATION = "ROUTE_DEVIATION"
    LONG_STOP = "LONG_STOP"
    SUSPECTED_DUMPING = "SUSPECTED_DUMPING"
    WRONG_DESTINATION = "WRONG_DESTINATION"
    SPEEDING = "SPEEDING"
    OUT_OF_HOURS = "OUT_OF_HOURS"
    RESTRICTED_ZONE = "RESTRICTED_ZONE"
    SIGNAL_GAP = "SIGNAL_GAP"
    TAMPER_SUSPECTED = "TAMPER_SUSPECTED"
    NO_RECEIPT = "NO_RECEIPT"
    UNMANIFESTED_TRIP = "UNMANIFESTED_TRIP"
    RECEIPT_WITHOUT_TRIP = "RECEIPT_WITHOUT_TRIP"
    QUANTITY_DISCREPANCY = "QUANTITY_DISCREPANCY"
    OVERLOAD = "OVERLOAD"
    UNAUTHORISED_VEHICLE = "UNAUTHORISED_VEHICLE"

    @property
    def zh(self) -> str:
        return FLAG_LABELS[self][0]

    @property
    def en(self) -> str:
        return FLAG_LABELS[self][1]


FLAG_LABELS: dict[FlagCode, tuple[str, str]] = {
    FlagCode.ROUTE_DEVIATION: ("偏离路线", "Route deviation"),
    FlagCode.LONG_STOP: ("长时间停留", "Long stop"),
    FlagCode.SUSPECTED_DUMPING: ("疑似偷倒", "Suspected dumping"),
    FlagCode.WRONG_DESTINATION: ("异地卸载", "Wrong destination"),
    FlagCode.SPEEDING: ("超速", "Speeding"),
    FlagCode.OUT_OF_HOURS: ("非许可时段运输", "Out of permitted hours"),
    FlagCode.RESTRICTED_ZONE: ("进入禁区", "Restricted zone"),
    FlagCode.SIGNAL_GAP: ("轨迹中断", "Signal gap"),
    FlagCode.TAMPER_SUSPECTED: ("疑似车机分离", "Suspected tampering"),
    FlagCode.NO_RECEIPT: ("联单未闭合", "No receipt"),
    FlagCode.UNMANIFESTED_TRIP: ("无单运输", "Unmanifested trip"),
    FlagCode.RECEIPT_WITHOUT_TRIP: ("有单无轨迹", "Receipt without trip"),
    FlagCode.QUANTITY_DISCREPANCY: ("数量不符", "Quantity discrepancy"),
    FlagCode.OVERLOAD: ("超载", "Overload"),
    FlagCode.UNAUTHORISED_VEHICLE: ("无证运输", "Unauthorised vehicle"),
}


@dataclass(frozen=True)
class Flag:
    """One suspected violation as a check produces it (times aware UTC, geometry lon/lat)."""

    code: FlagCode
    severity: int  # 0-100
    vehicle: str
    trip_id: str | None
    start: datetime
    end: datetime
    lon: float
    lat: float
    geometry: dict[str, Any]
    measured: dict[str, Any]
    thresholds: dict[str, Any]
    explanation_zh: str
    explanation_en: str
    permit_no: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO-8601)."""
        out = asdict(self)
        out["code"] = str(self.code)
        out["label_zh"] = self.code.zh
        out["label_en"] = self.code.en
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        return out


class FlagSource(StrEnum):
    engine = "engine"
    reconciliation = "reconciliation"


class FlagStatus(StrEnum):
    open = "open"


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FlagRecord(SQLModel, table=True):
    """A persisted flag. ``(source, code, vehicle, start_ts)`` identifies it, so re-analysing
    a day cannot store the same flag twice."""

    __tablename__ = "flag"
    __table_args__ = (
        UniqueConstraint("source", "code", "vehicle", "start_ts", name="uq_flag_identity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: FlagCode = Field(index=True, sa_type=plain_enum(FlagCode, 32))
    severity: int = Field(ge=0, le=100)
    vehicle: str = Field(index=True, max_length=32)
    trip_id: str | None = Field(default=None, max_length=96)
    day: date = Field(index=True, description="local date of start_ts")
    start_ts: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    end_ts: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    lon: float
    lat: float
    geometry: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    measured: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    thresholds: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    explanation_zh: str
    explanation_en: str
    permit_no: str | None = Field(default=None, max_length=64)
    source: FlagSource = Field(
        default=FlagSource.engine, index=True, sa_type=plain_enum(FlagSource, 16)
    )
    status: str = Field(default=FlagStatus.open, index=True, max_length=24)
    created_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_column=Column(DateTime(timezone=True), nullable=False),
    )

    @classmethod
    def from_flag(cls, flag: Flag, day: date, source: FlagSource = FlagSource.engine) -> FlagRecord:
        return cls(
            code=flag.code,
            severity=flag.severity,
            vehicle=flag.vehicle,
            trip_id=flag.trip_id,
            day=day,
            start_ts=flag.start,
            end_ts=flag.end,
            lon=flag.lon,
            lat=flag.lat,
            geometry=flag.geometry,
            measured=flag.measured,
            thresholds=flag.thresholds,
            explanation_zh=flag.explanation_zh,
            explanation_en=flag.explanation_en,
            permit_no=flag.permit_no,
            source=source,
        )

    def to_flag(self) -> Flag:
        return Flag(
            code=FlagCode(self.code),
            severity=self.severity,
            vehicle=self.vehicle,
            trip_id=self.trip_id,
            start=_utc(self.start_ts),
            end=_utc(self.end_ts),
            lon=self.lon,
            lat=self.lat,
            geometry=self.geometry,
            measured=self.measured,
            thresholds=self.thresholds,
            explanation_zh=self.explanation_zh,
            explanation_en=self.explanation_en,
            permit_no=self.permit_no,
        )

    @property
    def identity(self) -> tuple[str, str, str, datetime]:
        return (str(self.source), str(self.code), self.vehicle, _utc(self.start_ts))


def flag_identity(
    flag: Flag, source: FlagSource = FlagSource.engine
) -> tuple[str, str, str, datetime]:
    return (str(source), str(flag.code), flag.vehicle, flag.start.astimezone(UTC))


CONCURRENT_WRITER = {
    FlagSource.engine: (
        "另一次分析同时写入了相同日期的标记，请重试",
        "another analysis stored flags for the same days at the same time; run it again",
    ),
    FlagSource.reconciliation: (
        "另一次对账同时写入了相同日期的标记，请重试",
        "another reconciliation stored flags for the same days at the same time; retry",
    ),
}


@dataclass(frozen=True)
class Replacement:
    stored: int  # flags written
    replaced: int  # earlier open flags of these days and this source, deleted
    kept_reviewed: int  # found again but already under review: left as they were


def replace_flags(
    session: Session,
    source: FlagSource,
    start_day: date,
    end_day: date,
    flags: list[Flag],
    tz: tzinfo,
) -> Replacement:
    """Replace the open ``source`` flags of local days ``start_day..end_day`` with ``flags``
    and commit, so that re-running a day never stores a flag twice. Flags already under
    review stay as they are; a concurrent writer of the same days gets a 409 to retry."""
    in_days = (
        (col(FlagRecord.source) == source)
        & (col(FlagRecord.day) >= start_day)
        & (col(FlagRecord.day) <= end_day)
    )
    try:
        reviewed = {
            r.identity
            for r in session.exec(
                select(FlagRecord).where(in_days, col(FlagRecord.status) != FlagStatus.open)
            )
        }
        deleted = session.exec(
            delete(FlagRecord).where(in_days, col(FlagRecord.status) == FlagStatus.open)
        )
        stored = kept_reviewed = 0
        seen = set(reviewed)
        for flag in flags:
            identity = flag_identity(flag, source)
            if identity in seen:
                kept_reviewed += identity in reviewed
                continue
            seen.add(identity)
            session.add(FlagRecord.from_flag(flag, flag.start.astimezone(tz).date(), source))
            stored += 1
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(*CONCURRENT_WRITER[source]) from exc
    except BaseException:
        session.rollback()
        raise
    return Replacement(stored, deleted.rowcount or 0, kept_reviewed)
