"""The audit log table (entries are appended by :func:`cdw.audit.log.audit`, never changed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class AuditEntry(SQLModel, table=True):
    """One entry of the audit log; never updated or deleted by cdw."""

    __tablename__ = "audit_log"

    # Assigned by audit() as last id + 1 (no database sequence), so gaps mean deletions.
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    actor: str = Field(max_length=64, index=True)
    actor_role: str = Field(max_length=32)
    entity: str = Field(max_length=32, index=True)
    entity_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=64)
    reason: str | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(min_length=64, max_length=64, unique=True)
    hash: str = Field(min_length=64, max_length=64, unique=True)
