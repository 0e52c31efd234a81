"""The GPS upload table: every file stored into the point store, with who sent it and how.

The points themselves live in the Parquet point store; each stored point carries the id of
its upload (``PointStore`` column ``upload``), so a point can be traced to the file, its
SHA-256, the channel and the uploader. The audit log has an entry for each upload too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class GpsUpload(SQLModel, table=True):
    __tablename__ = "gps_upload"

    # A random hex id, written into the point store with the points (never reused, even
    # when a transaction that took it rolls back).
    id: str = Field(primary_key=True, min_length=32, max_length=32)
    at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True),
    )
    uploader: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=16, description="api, cli, bundle, demo")
    file_name: str = Field(max_length=255)
    sha256: str = Field(min_length=64, max_length=64, index=True)
    format: str = Field(max_length=16)
    rows_read: int
    rows_rejected: int
    points_new: int
    points_already_stored: int
