"""The flag table: a persisted flag, one row per ``(source, code, vehicle, start)``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, desc
from sqlmodel import Field, SQLModel

from cdw.db import plain_enum
from cdw.flags.codes import FlagCode, FlagSource
from cdw.flags.values import Flag


class FlagStatus(StrEnum):
    open = "open"


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def flag_findings(flag: Flag) -> dict[str, Any]:
    """The columns a flag found again updates (all but its identity, day, source, status and
    creation time)."""
    return {
        "severity": flag.severity,
        "trip_id": flag.trip_id,
        "end_ts": flag.end,
        "lon": flag.lon,
        "lat": flag.lat,
        "geometry": flag.geometry,
        "measured": flag.measured,
        "thresholds": flag.thresholds,
        "explanation_zh": flag.explanation_zh,
        "explanation_en": flag.explanation_en,
        "permit_no": flag.permit_no,
    }


def flag_columns(flag: Flag, day: date, source: FlagSource) -> dict[str, Any]:
    """The columns of a new record of ``flag`` (its status and creation time by default)."""
    return {
        "code": flag.code,
        "vehicle": flag.vehicle,
        "day": day,
        "start_ts": flag.start,
        "source": source,
        **flag_findings(flag),
    }


class FlagRecord(SQLModel, table=True):
    """A persisted flag. ``(source, code, vehicle, start_ts)`` identifies it, so re-analysing
    a day cannot store the same flag twice."""

    __tablename__ = "flag"
    __table_args__ = (
        UniqueConstraint("source", "code", "vehicle", "start_ts", name="uq_flag_identity"),
        # The lists' order (severity first, then oldest: cdw.enforcement.review.queue) read
        # straight off an index, for all flags and for one status (the review queue).
        Index("ix_flag_rank", desc("severity"), "start_ts", "id"),
        Index("ix_flag_status_rank", "status", desc("severity"), "start_ts", "id"),
        # One code over a span of days, and a vehicle's flags in a time window (console,
        # citizen reports, a haulier's flags): each holding the lists' order, so that a page
        # of them is ranked from the index alone (cdw.enforcement.review.queue).
        Index("ix_flag_code_day", "code", "day", "severity", "start_ts", "id"),
        Index("ix_flag_vehicle_start", "vehicle", "start_ts", "severity", "id"),
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
        return cls(**flag_columns(flag, day, source))

    def refresh_from(self, flag: Flag) -> None:
        """Take the findings of ``flag``, the same violation found again (same identity): the
        row keeps its id, source, status and creation time, so a flag raised live and found
        again by the day's run stays one record."""
        for name, value in flag_findings(flag).items():
            setattr(self, name, value)

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
