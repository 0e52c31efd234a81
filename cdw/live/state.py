"""The live state as the API reads it (issue 14, part 5): each vehicle's last known position
and status, and the events of the push channel since a cursor.

Scoped like every read of tracks and flags, with the very rules those reads use: a
haulier sees the positions of the vehicles it held at the time of the fix
(``cdw.registry.services.held_by``, as for tracks) and the flags of ``scoped_flags``
(``cdw.enforcement.review``); unrestricted roles see all; a user bound to a facility or a
site sees no raw track, so no position and no flag (the routes do not admit them).

A vehicle's state, first that applies: ``offline`` (no fix for ``signal_gap_s`` at the
time of reading), ``flagged`` (an open flag on the trip it is on), ``stopped`` (its last
speed at most ``STILL_KMH``), then ``loaded`` or ``empty`` (the kind of the trip it is on,
as the engine segments it; ``load_state_source`` says whether the load bits or the
geofences decided).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from cdw.config import Settings
from cdw.enforcement.models import FlagPublic, Instant
from cdw.enforcement.review import scoped_flags
from cdw.flags.models import FlagRecord, FlagStatus
from cdw.live.models import LiveEvent, VehicleLive, current_seq
from cdw.manifests.lifecycle import IN_TRANSIT
from cdw.manifests.models import Manifest
from cdw.registry.models import Vehicle
from cdw.registry.services import Scope, held_by
from cdw.tracking.checks import STILL_KMH

LiveState = Literal["loaded", "empty", "stopped", "offline", "flagged"]
MAX_FLAG_EVENTS = 1000  # per poll of the push channel


class LiveVehiclePublic(BaseModel):
    """A vehicle's last known position and status (module docstring)."""

    vehicle_id: int | None = Field(description="registry id (null: a plate not registered)")
    plate: str
    haulier_id: int | None
    lon: float
    lat: float
    ts: Instant
    speed_kmh: float | None
    heading: float | None
    state: LiveState
    load_state_source: Literal["reported", "inferred"]
    open_flags: int = Field(description="open flags of the vehicle raised today (local day)")
    manifest_id: int | None = Field(description="the manifest it is carrying, if any")
    trip_id: str | None
    seq: int = Field(description="the live write that last moved it (the stream's event id)")


class PingData(BaseModel):
    seq: int
    at: Instant


class StreamEvent(BaseModel):
    """One Server-Sent Event of ``GET /stream``: ``event`` names it, ``id`` is the live
    cursor (send it back as ``Last-Event-ID`` to resume), ``data`` is JSON."""

    event: Literal["position", "flag", "ping"]
    id: int
    data: LiveVehiclePublic | FlagPublic | PingData


def _positions(session: Session, scope: Scope):
    stmt = select(VehicleLive)
    if scope.unrestricted:
        return stmt
    if scope.haulier_id is None:
        return stmt.where(col(VehicleLive.plate).is_(None))
    return stmt.where(held_by(scope.haulier_id, VehicleLive.plate, VehicleLive.ts))


def live_vehicles(
    session: Session,
    scope: Scope,
    settings: Settings,
    now: datetime | None = None,
    *,
    after_seq: int | None = None,
    upto_seq: int | None = None,
) -> list[LiveVehiclePublic]:
    """The vehicles ``scope`` may see, by plate (those moved after ``after_seq`` and up to
    ``upto_seq`` when given)."""
    now = now or datetime.now(UTC)
    stmt = _positions(session, scope)
    if after_seq is not None:
        stmt = stmt.where(col(VehicleLive.seq) > after_seq)
    if upto_seq is not None:
        stmt = stmt.where(col(VehicleLive.seq) <= upto_seq)
    rows = session.exec(stmt.order_by(col(VehicleLive.plate))).all()
    if not rows:
        return []
    plates = [r.plate for r in rows]
    registry = {
        plate: (vid, hid)
        for vid, plate, hid in session.exec(
            select(Vehicle.id, Vehicle.plate, Vehicle.haulier_id).where(
                col(Vehicle.plate).in_(plates)
            )
        )
    }
    today = now.astimezone(ZoneInfo(settings.local_timezone)).date()
    open_today = scoped_flags(
        select(FlagRecord.vehicle, FlagRecord.trip_id, func.count()).where(
            col(FlagRecord.vehicle).in_(plates),
            col(FlagRecord.status) == FlagStatus.open,
            col(FlagRecord.day) == today,
        ),
        scope,
    ).group_by(col(FlagRecord.vehicle), col(FlagRecord.trip_id))
    counts: dict[str, int] = {}
    flagged_trips: set[tuple[str, str | None]] = set()
    for vehicle, trip_id, n in session.exec(open_today):
        counts[vehicle] = counts.get(vehicle, 0) + n
        flagged_trips.add((vehicle, trip_id))
    carrying: dict[str, int] = {}
    for manifest_id, plate in session.exec(
        select(Manifest.id, Manifest.plate)
        .where(col(Manifest.plate).in_(plates), col(Manifest.state).in_(list(IN_TRANSIT)))
        .order_by(col(Manifest.issued_at), col(Manifest.id))
    ):
        carrying[plate] = manifest_id  # the latest issued wins
    offline_after = settings.thresholds.signal_gap_s
    out = []
    for row in rows:
        vehicle_id, haulier_id = registry.get(row.plate, (None, None))
        ts = row.ts if row.ts.tzinfo else row.ts.replace(tzinfo=UTC)
        out.append(
            LiveVehiclePublic(
                vehicle_id=vehicle_id,
                plate=row.plate,
                haulier_id=haulier_id,
                lon=row.lon,
                lat=row.lat,
                ts=ts,
                speed_kmh=row.speed_kmh,
                heading=row.heading,
                state=vehicle_state(
                    silent_s=(now - ts).total_seconds(),
                    offline_after_s=offline_after,
                    flagged=row.trip_id is not None and (row.plate, row.trip_id) in flagged_trips,
                    speed_kmh=row.speed_kmh,
                    loaded=row.trip_kind == "loaded",
                ),
                load_state_source="reported" if row.load_state_source == "reported" else "inferred",
                open_flags=counts.get(row.plate, 0),
                manifest_id=carrying.get(row.plate),
                trip_id=row.trip_id,
                seq=row.seq,
            )
        )
    return out


def vehicle_state(
    *, silent_s: float, offline_after_s: float, flagged: bool, speed_kmh: float | None, loaded: bool
) -> LiveState:
    """A vehicle's state from its last fix, first that applies (module docstring): the live
    channel and the console's day view both call this, so a truck has one colour.
    ``silent_s``: seconds since its last fix; ``flagged``: an open flag on what it is doing."""
    if silent_s >= offline_after_s:
        return "offline"
    if flagged:
        return "flagged"
    if speed_kmh is not None and speed_kmh <= STILL_KMH:
        return "stopped"
    return "loaded" if loaded else "empty"


def events_since(
    session: Session,
    scope: Scope,
    settings: Settings,
    after_seq: int,
    now: datetime | None = None,
) -> tuple[list[StreamEvent], int]:
    """The push channel's events after ``after_seq`` that ``scope`` may see (positions: the
    latest of each vehicle moved since; flags: each one raised or updated since), and the
    cursor to ask from next. Rows are read up to the counter's committed value, so nothing
    committed later with a smaller value can be skipped."""
    upto = current_seq(session)
    if upto <= after_seq:  # nothing new (or a cursor from before the counter was reset)
        return [], upto
    events = [
        StreamEvent(event="position", id=v.seq, data=v)
        for v in live_vehicles(session, scope, settings, now, after_seq=after_seq, upto_seq=upto)
    ]
    flagged = session.exec(
        scoped_flags(
            select(LiveEvent.seq, FlagRecord)
            .join(FlagRecord, col(FlagRecord.id) == col(LiveEvent.flag_id))
            .where(col(LiveEvent.seq) > after_seq, col(LiveEvent.seq) <= upto),
            scope,
        )
        .order_by(col(LiveEvent.seq), col(LiveEvent.id))
        .limit(MAX_FLAG_EVENTS)
    ).all()
    if len(flagged) == MAX_FLAG_EVENTS:  # the rest on the next poll
        upto = flagged[-1][0]
        events = [e for e in events if e.id <= upto]
    seen: set[tuple[int, int]] = set()
    for seq, record in flagged:
        if (seq, record.id) not in seen:
            seen.add((seq, record.id))
            events.append(StreamEvent(event="flag", id=seq, data=FlagPublic.model_validate(record)))
    events.sort(key=lambda e: (e.id, e.event != "position"))
    return events, upto


def sse(event: StreamEvent) -> str:
    """The event as Server-Sent Events text."""
    data: Any = event.data.model_dump_json()
    return f"id: {event.id}\nevent: {event.event}\ndata: {data}\n\n"
