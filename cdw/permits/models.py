"""Disposal approvals (处置核准) as the engine reads them: who may haul what, where, when, how.

The approval workflow (apply, approve, amend, revoke) is built on these tables later.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from cdw.db import plain_enum


class PermitStatus(StrEnum):
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    revoked = "revoked"
    expired = "expired"


PERMIT_STATUS_LABELS = {
    PermitStatus.submitted: ("已提交", "submitted"),
    PermitStatus.approved: ("已核准", "approved"),
    PermitStatus.rejected: ("已驳回", "rejected"),
    PermitStatus.revoked: ("已撤销", "revoked"),
    PermitStatus.expired: ("已过期", "expired"),
}


class PermitVehicle(SQLModel, table=True):
    __tablename__ = "permit_vehicle"

    permit_id: int = Field(foreign_key="permit.id", primary_key=True)
    vehicle_id: int = Field(foreign_key="vehicle.id", primary_key=True)


class Permit(SQLModel, table=True):
    __tablename__ = "permit"

    id: int | None = Field(default=None, primary_key=True)
    permit_no: str = Field(unique=True, index=True, max_length=64)
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
