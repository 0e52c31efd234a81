"""Electronic manifests (电子联单), their state history and facility receipts.

A manifest copies what the Guangdong manifest rules ask it to carry (site and address,
category and quantity, haulier, vehicle, driver, route, times, facility and disposal
method, permit number) at the moment it is issued, so that later registry edits do not
rewrite it. Receipts are versioned: a correction is a new row, ``version`` + 1, with who,
when and why; the current receipt is the highest version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from cdw.db import plain_enum
from cdw.manifests.lifecycle import ManifestState, ReceiptOutcome
from cdw.registry.categories import LabelledEnum


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts() -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True))


class DisposalMethod(LabelledEnum):
    landfill = "landfill", "填埋", "landfill"
    recycling = "recycling", "资源化利用", "recycling"
    temporary = "temporary", "临时堆放", "temporary storage"
    backfill = "backfill", "回填", "backfill"


STATE_OF_OUTCOME = {
    ReceiptOutcome.accepted: ManifestState.received,
    ReceiptOutcome.partially_rejected: ManifestState.partially_rejected,
    ReceiptOutcome.rejected: ManifestState.rejected,
}


class ManifestBase(SQLModel):
    manifest_no: str = Field(unique=True, index=True, max_length=40)
    permit_id: int = Field(foreign_key="permit.id", index=True)
    permit_no: str = Field(index=True, max_length=64)
    site_id: int = Field(foreign_key="construction_site.id", index=True)
    site_name: str = Field(max_length=200)
    site_address: str = Field(default="", max_length=300)
    facility_id: int = Field(foreign_key="disposal_facility.id", index=True)
    facility_name: str = Field(max_length=200)
    disposal_method: DisposalMethod = Field(sa_type=plain_enum(DisposalMethod))
    category: str = Field(max_length=32)
    declared_volume_m3: float | None = Field(default=None, gt=0)
    declared_weight_t: float | None = Field(default=None, gt=0)
    haulier_id: int = Field(foreign_key="haulier.id", index=True)
    haulier_name: str = Field(max_length=200)
    vehicle_id: int = Field(foreign_key="vehicle.id", index=True)
    plate: str = Field(index=True, max_length=8)
    driver_id: int | None = Field(default=None, foreign_key="driver.id")
    driver_name: str = Field(default="", max_length=100)
    route: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    state: ManifestState = Field(
        default=ManifestState.issued, sa_type=plain_enum(ManifestState), index=True
    )
    issued_by: str = Field(max_length=64)
    issued_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    departed_at: datetime | None = _ts()
    arrived_at: datetime | None = _ts()
    received_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()


class Manifest(ManifestBase, table=True):
    __tablename__ = "manifest"

    id: int | None = Field(default=None, primary_key=True)


class ManifestEventBase(SQLModel):
    manifest_id: int = Field(foreign_key="manifest.id", index=True)
    from_state: ManifestState | None = Field(default=None, sa_type=plain_enum(ManifestState))
    to_state: ManifestState = Field(sa_type=plain_enum(ManifestState), index=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    actor: str = Field(max_length=64)
    reason: str | None = None


class ManifestEvent(ManifestEventBase, table=True):
    """One state change of a manifest (its lifecycle history; append-only)."""

    __tablename__ = "manifest_event"

    id: int | None = Field(default=None, primary_key=True)


class ManifestEventPublic(ManifestEventBase):
    id: int


class ReceiptBase(SQLModel):
    manifest_id: int = Field(foreign_key="manifest.id", index=True)
    version: int = Field(default=1, ge=1)
    facility_id: int = Field(foreign_key="disposal_facility.id", index=True)
    outcome: ReceiptOutcome = Field(sa_type=plain_enum(ReceiptOutcome))
    received_volume_m3: float | None = Field(default=None, ge=0)
    weighbridge_t: float | None = Field(default=None, ge=0)
    rejected_volume_m3: float | None = Field(default=None, ge=0)
    # The volume this version adds to the facility's used capacity.
    counted_m3: float = Field(default=0.0, ge=0)
    reason: str | None = None
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    correction_reason: str | None = None


class Receipt(ReceiptBase, table=True):
    """A facility's confirmation or rejection of one load; corrections are new versions."""

    __tablename__ = "receipt"
    __table_args__ = (UniqueConstraint("manifest_id", "version", name="uq_receipt_version"),)

    id: int | None = Field(default=None, primary_key=True)


class ReceiptPublic(ReceiptBase):
    id: int


class ManifestRow(ManifestBase):
    """A manifest's own row (lists)."""

    id: int


class ManifestsPublic(SQLModel):
    data: list[ManifestRow]
    count: int


class ManifestPublic(ManifestRow):
    """A manifest with its state and disposal method in words, its receipts (every version)
    and its state history."""

    state_zh: str
    state_en: str
    disposal_method_zh: str
    receipts: list[ReceiptPublic]
    history: list[ManifestEventPublic]
