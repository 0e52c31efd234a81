"""The citizen report (举报) table and its answers.

A report is what an officer took down from a citizen: a place (a point on the map, or an
address the registry knows), a time window, a radius, notes and optionally a photo (stored
on disk under ``<data_dir>/citizen-reports/<id>/``, named by its SHA-256; the table keeps
the name, type, size and hash). ``trucks`` (``cdw.enforcement.citizen.trucks_near``) are the
vehicles that stopped or passed there in the window, ranked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Column, DateTime
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from cdw.bounds import DbId, Latitude, Longitude, Moment
from cdw.db import plain_enum
from cdw.enforcement.models import Instant

MIN_RADIUS_M, MAX_RADIUS_M, DEFAULT_RADIUS_M = 10.0, 2000.0, 200.0
MAX_WINDOW = timedelta(days=31)
MAX_NOTES = 2000
MAX_ADDRESS = 300


def _now() -> datetime:
    return datetime.now(UTC)


def _utc_column(nullable: bool = False) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class LocationSource(StrEnum):
    map = "map"  # a point placed on the map (or typed in)
    address = "address"  # the address matched a place of the registry


class CitizenReport(SQLModel, table=True):
    __tablename__ = "citizen_report"

    id: int | None = SQLField(default=None, primary_key=True)
    created_at: datetime = SQLField(default_factory=_now, sa_column=_utc_column())
    created_by: str = SQLField(max_length=64, index=True)
    lon: float
    lat: float
    location_source: LocationSource = SQLField(sa_type=plain_enum(LocationSource, 16))
    address: str = SQLField(default="", max_length=MAX_ADDRESS)
    window_start: datetime = SQLField(sa_column=_utc_column())
    window_end: datetime = SQLField(sa_column=_utc_column())
    radius_m: float
    notes: str = SQLField(default="", max_length=MAX_NOTES)
    photo_name: str | None = SQLField(default=None, max_length=100)
    photo_type: str | None = SQLField(default=None, max_length=32)
    photo_bytes: int | None = None
    photo_sha256: str | None = SQLField(default=None, max_length=64)


Radius = Annotated[float, Field(ge=MIN_RADIUS_M, le=MAX_RADIUS_M, allow_inf_nan=False)]


class CitizenReportCreate(BaseModel):
    """A report as an officer enters it: ``lon``/``lat`` or an ``address`` (matched to a
    site, facility, depot or zone of the registry by name or address)."""

    model_config = ConfigDict(extra="forbid")

    lon: Longitude | None = None
    lat: Latitude | None = None
    address: str = Field(default="", max_length=MAX_ADDRESS)
    window_start: Moment
    window_end: Moment
    radius_m: Radius = DEFAULT_RADIUS_M
    notes: str = Field(default="", max_length=MAX_NOTES)

    @model_validator(mode="after")
    def _place_and_window(self) -> CitizenReportCreate:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("经度和纬度须同时给出 / give both lon and lat, or neither")
        if self.lon is None and not self.address.strip():
            raise ValueError(
                "须在地图上标点或填写地址 / place the report on the map or give an address"
            )
        start, end = self.window_start, self.window_end
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise ValueError(
                "起止时间须同时带或同时不带时区 / give both times with an offset, or neither"
            )
        if not start < end or end - start > MAX_WINDOW:
            raise ValueError(
                "时间窗须大于 0 且不超过 31 天 / the window must be positive and at most 31 days"
            )
        return self


class PhotoPublic(BaseModel):
    name: str
    content_type: str
    bytes: int
    sha256: str


class CitizenReportPublic(BaseModel):
    id: int
    created_at: Instant
    created_by: str
    lon: float
    lat: float
    location_source: LocationSource
    address: str
    window_start: Instant
    window_end: Instant
    radius_m: float
    notes: str
    photo: PhotoPublic | None

    @classmethod
    def of(cls, report: CitizenReport) -> CitizenReportPublic:
        photo = (
            None
            if report.photo_sha256 is None
            else PhotoPublic(
                name=report.photo_name or "photo",
                content_type=report.photo_type or "application/octet-stream",
                bytes=report.photo_bytes or 0,
                sha256=report.photo_sha256,
            )
        )
        return cls(
            id=report.id,
            created_at=report.created_at,
            created_by=report.created_by,
            lon=report.lon,
            lat=report.lat,
            location_source=report.location_source,
            address=report.address,
            window_start=report.window_start,
            window_end=report.window_end,
            radius_m=report.radius_m,
            notes=report.notes,
            photo=photo,
        )


class CitizenReportsPublic(BaseModel):
    data: list[CitizenReportPublic]
    count: int


class Reason(BaseModel):
    code: str = Field(description="stopped, unloaded, off_route or passed")
    zh: str
    en: str


class ReplayLink(BaseModel):
    """What the console's replay view takes: the vehicle and a time window."""

    vehicle_id: int | None
    plate: str
    start: Instant
    end: Instant


class TruckNear(BaseModel):
    rank: int
    vehicle_id: DbId | None = Field(description="null: a plate the registry does not know")
    plate: str
    haulier_id: int | None
    haulier_name: str | None
    closest_ts: Instant
    closest_lon: float
    closest_lat: float
    distance_m: float
    first_seen: Instant
    last_seen: Instant
    inside_s: float = Field(description="time within the radius")
    dwell_s: float = Field(description="longest stay (standing within the stop radius)")
    stopped: bool
    unloaded: bool = Field(description="reported loaded before, empty after")
    off_route: bool = Field(description="a route-deviation flag overlaps the visit")
    load_before: str | None
    load_after: str | None
    reasons: list[Reason]
    flag_ids: list[int] = Field(description="flags of this vehicle overlapping the visit")
    replay: ReplayLink


class TrucksNearPublic(BaseModel):
    report_id: int
    lon: float
    lat: float
    radius_m: float
    window_start: Instant
    window_end: Instant
    vehicles: int
    visits: int
    data: list[TruckNear]
    query_s: float = Field(description="time the point-store query took (seconds)")
