"""Disposal approvals (处置核准) as the engine reads them: who may haul what, where, when, how.

The workflow (``cdw.permits.services``) applies, approves, rejects, amends, revokes and
expires them. An amendment is a new row with the same ``permit_no``, ``version`` + 1 and
``previous_id`` pointing at the row it amends; approving it marks that row ``superseded``.
Nothing is overwritten but the status and decision fields of a row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from cdw.db import plain_enum


class PermitStatus(StrEnum):
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    revoked = "revoked"
    expired = "expired"
    superseded = "superseded"


PERMIT_STATUS_LABELS = {
    PermitStatus.submitted: ("已提交", "submitted"),
    PermitStatus.approved: ("已核准", "approved"),
    PermitStatus.rejected: ("已驳回", "rejected"),
    PermitStatus.revoked: ("已撤销", "revoked"),
    PermitStatus.expired: ("已过期", "expired"),
    PermitStatus.superseded: ("已被新版本取代", "superseded by a newer version"),
}


class PermitVehicle(SQLModel, table=True):
    __tablename__ = "permit_vehicle"

    permit_id: int = Field(foreign_key="permit.id", primary_key=True)
    vehicle_id: int = Field(foreign_key="vehicle.id", primary_key=True)


class PermitBase(SQLModel):
    permit_no: str = Field(index=True, max_length=64)
    version: int = Field(default=1, ge=1)
    previous_id: int | None = Field(default=None, foreign_key="permit.id")
    site_id: int = Field(foreign_key="construction_site.id", index=True)
    facility_id: int = Field(foreign_key="disposal_facility.id", index=True)
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    volume_m3: float = Field(gt=0)
    valid_from: date
    valid_to: date
    allowed_hours_start: str = "00:00"
    allowed_hours_end: str = "24:00"
    # GeoJSON LineString / MultiLineString in WGS-84 lon/lat.
    routes: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    corridor_half_width_m: float | None = None
    threshold_overrides: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    status: PermitStatus = Field(default=PermitStatus.submitted, sa_type=plain_enum(PermitStatus))
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    applied_by: str | None = Field(default=None, max_length=64)
    submitted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    decided_by: str | None = Field(default=None, max_length=64)
    decision_reason: str | None = None


class Permit(PermitBase, table=True):
    __tablename__ = "permit"
    __table_args__ = (UniqueConstraint("permit_no", "version", name="uq_permit_version"),)

    id: int | None = Field(default=None, primary_key=True)
    # m³ declared on the permit's manifests (void ones excluded), the same on every version:
    # kept by the manifests service when a manifest is issued or voided (``record_use``)
    used_m3: float = Field(default=0.0, ge=0)


class PermitRow(PermitBase):
    """A permit's own row without its route geometry (an evidence packet shows the corridor)."""

    id: int
    routes: dict[str, Any] | None = Field(default=None, exclude=True)


class PermitPublic(PermitBase):
    """A permit as the API shows it: its row, the names of its site and facility, its
    vehicles' plates, the volume declared on its manifests and its status in both languages."""

    id: int
    site_code: str
    site_name: str
    facility_code: str
    facility_name: str
    vehicles: list[str]
    status_zh: str
    status_en: str
    used_m3: float


class PermitsPublic(SQLModel):
    data: list[PermitPublic]
    count: int


class ExpiredPermits(SQLModel):
    expired: list[str] = Field(description="到期的核准编号 / numbers of the permits expired")
