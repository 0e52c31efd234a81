"""What a day flow keeps of its engine run besides the flags: the days it analysed and their
loaded legs, so that a later reconciliation works on the very trips the engine flagged."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel

from cdw.manifests.reconcile import TripFacts


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AnalysedDay(SQLModel, table=True):
    """A local day the engine analysed; its loaded legs are the ``loaded_leg`` rows of the day."""

    __tablename__ = "analysed_day"

    day: date = Field(primary_key=True)
    analysed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class LoadedLeg(SQLModel, table=True):
    """A loaded leg of an analysis run, as reconciliation reads it (``TripFacts``)."""

    __tablename__ = "loaded_leg"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True, description="local date of start_ts")
    trip_id: str = Field(max_length=96)
    vehicle: str = Field(max_length=32)
    start_ts: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    end_ts: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    origin_site_id: int | None = None
    origin_site_name: str = ""
    destination_facility_id: int | None = None
    destination_facility_name: str = ""
    destination_site_id: int | None = None
    load_state_source: str = Field(default="reported", max_length=16)
    path: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    @staticmethod
    def row_of(trip: TripFacts, tz: tzinfo) -> dict[str, Any]:
        """The leg's row for a bulk insert: every column but ``id`` (no model instance: a
        day's thousands of legs are inserted at once)."""
        return {
            "day": trip.start.astimezone(tz).date(),
            "trip_id": trip.trip_id,
            "vehicle": trip.vehicle,
            "start_ts": trip.start,
            "end_ts": trip.end,
            "origin_site_id": trip.origin_site_id,
            "origin_site_name": trip.origin_site_name,
            "destination_facility_id": trip.destination_facility_id,
            "destination_facility_name": trip.destination_facility_name,
            "destination_site_id": trip.destination_site_id,
            "load_state_source": trip.load_state_source,
            "path": trip.path,  # an array: written by the engine's JSON encoder (cdw.db)
        }

    def to_facts(self) -> TripFacts:
        return TripFacts(
            trip_id=self.trip_id,
            vehicle=self.vehicle,
            start=_utc(self.start_ts),
            end=_utc(self.end_ts),
            origin_site_id=self.origin_site_id,
            destination_facility_id=self.destination_facility_id,
            path=self.path,
            origin_site_name=self.origin_site_name,
            destination_facility_name=self.destination_facility_name,
            destination_site_id=self.destination_site_id,
            load_state_source=self.load_state_source,
        )
