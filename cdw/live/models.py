"""The live tables: the last known position of each vehicle (``vehicle_live``), the flag
events of the push channel (``live_event``) and the one counter that orders both
(``live_cursor``).

Every write of the live engine takes the next value of the counter (``next_seq``: one
``UPDATE … RETURNING`` in the write's transaction, so writers queue on the counter's row
and their values commit in order) and stamps the rows it writes with it; the push channel
reads what is newer than the last value it sent. So the API and the gateway may run in
different processes: everything goes through the database.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, update
from sqlmodel import Field, Session, SQLModel, col

LIVE_CURSOR = "live"


def _now() -> datetime:
    return datetime.now(UTC)


class VehicleLive(SQLModel, table=True):
    """A vehicle's last known position and the trip it is on (written by the live engine)."""

    __tablename__ = "vehicle_live"

    plate: str = Field(primary_key=True, max_length=32)
    ts: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    lon: float
    lat: float
    speed_kmh: float | None = None
    heading: float | None = None
    status: int | None = Field(default=None, sa_type=BigInteger)
    trip_id: str | None = Field(default=None, max_length=96)
    trip_kind: str = Field(default="other", max_length=16)
    load_state_source: str = Field(default="inferred", max_length=16)
    seq: int = Field(default=0, index=True, sa_type=BigInteger)
    updated_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class LiveEvent(SQLModel, table=True):
    """A flag the live engine raised or updated, for the push channel (``kind`` 'flag')."""

    __tablename__ = "live_event"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(index=True, sa_type=BigInteger)
    kind: str = Field(default="flag", max_length=16)
    flag_id: int = Field(index=True)
    vehicle: str = Field(max_length=32)
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class LiveCursor(SQLModel, table=True):
    """The counter of live writes (one row, ``name`` 'live')."""

    __tablename__ = "live_cursor"

    name: str = Field(primary_key=True, max_length=16)
    value: int = Field(default=0, sa_type=BigInteger)


def next_seq(session: Session) -> int:
    """The next value of the live counter, taken in ``session``'s transaction (flushed)."""
    stmt = (
        update(LiveCursor)
        .where(col(LiveCursor.name) == LIVE_CURSOR)
        .values(value=col(LiveCursor.value) + 1)
        .returning(col(LiveCursor.value))
    )
    value = session.execute(stmt).scalar_one_or_none()
    if value is None:
        session.add(LiveCursor(name=LIVE_CURSOR, value=1))
        session.flush()
        return 1
    return int(value)


def current_seq(session: Session) -> int:
    row = session.get(LiveCursor, LIVE_CURSOR)
    return 0 if row is None else int(row.value)
