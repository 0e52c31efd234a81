"""Live supervision: every vehicle's last known position and status, and the push channel
(Server-Sent Events) of positions and flags as the live engine writes them.

Both read the database only (``cdw.live.state``), so they work whether the gateway and its
live engine run in this process or another. Who may read them is who may read tracks and
flags (``TRACK_READERS``): a position is a piece of raw track; the scoping is theirs too.

The stream (``GET /stream``) is authenticated by the usual ``Authorization: Bearer``
header (the console reads it with ``fetch()`` streaming). Events: ``position`` (a vehicle
moved: ``LiveVehiclePublic``), ``flag`` (a flag raised or updated: ``FlagPublic``) and
``ping`` (at the start and every ``PING_S``; ``{seq, at}``). Each event's ``id`` is the live
cursor: a client that reconnects sends the last one as ``Last-Event-ID`` (or ``since``) and
gets what it missed. The stream ends after ``max_seconds`` (the client reconnects), or as
soon as the user's token is no longer valid (disabled, password or role changed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import anyio
from fastapi import Header, Query
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRouter
from sqlmodel import Session

from cdw.api.deps import SessionDep, SettingsDep, require_roles
from cdw.api.routes.tracks import TRACK_READERS
from cdw.api.schemas import errors
from cdw.auth.models import User
from cdw.bounds import Count
from cdw.config import Settings
from cdw.live.models import current_seq
from cdw.live.state import (
    LiveVehiclePublic,
    PingData,
    StreamEvent,
    events_since,
    live_vehicles,
    sse,
)
from cdw.registry.services import Scope, scope_for

router = APIRouter(tags=["live 实时监控"])

POLL_S = 1.0  # how often the stream looks for new live writes
PING_S = 15.0
MAX_STREAM_S = 3600


@router.get(
    "/vehicles/live",
    response_model=list[LiveVehiclePublic],
    responses=errors(403),
    summary="车辆实时位置与状态 / every vehicle's last known position and status",
)
def read_live_vehicles(
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(*TRACK_READERS)],
) -> list[LiveVehiclePublic]:
    return live_vehicles(session, scope_for(user), settings)


def _still_valid(session: Session, user_id: int, token_version: int) -> bool:
    user = session.get(User, user_id)
    return user is not None and user.is_active and user.token_version == token_version


async def _events(
    bind, user: User, scope: Scope, settings: Settings, after: int | None, max_seconds: int
) -> AsyncIterator[str]:
    user_id, version = user.id, user.token_version

    def first() -> int:
        with Session(bind) as session:
            return current_seq(session) if after is None else after

    def poll(cursor: int) -> tuple[list[StreamEvent], int, bool]:
        with Session(bind) as session:
            if not _still_valid(session, user_id, version):
                return [], cursor, False
            events, cursor = events_since(session, scope, settings, cursor)
            return events, cursor, True

    cursor = await anyio.to_thread.run_sync(first)
    started = last_ping = anyio.current_time()
    yield sse(StreamEvent(event="ping", id=cursor, data=PingData(seq=cursor, at=datetime.now(UTC))))
    while True:
        events, cursor, valid = await anyio.to_thread.run_sync(poll, cursor)
        if not valid:
            return
        for event in events:
            yield sse(event)
        now = anyio.current_time()
        if now - started >= max_seconds:
            return
        if now - last_ping >= PING_S:
            last_ping = now
            ping = PingData(seq=cursor, at=datetime.now(UTC))
            yield sse(StreamEvent(event="ping", id=cursor, data=ping))
        await anyio.sleep(POLL_S)


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


@router.get(
    "/stream",
    response_class=EventStreamResponse,
    responses={
        200: {"model": StreamEvent, "description": "Server-Sent Events (JSON data)"},
        **errors(403, html_route=True),  # errors are JSON, not events
    },
    summary="实时推送（SSE）/ live push channel of positions and flags (Server-Sent Events)",
)
def stream(
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(*TRACK_READERS)],
    last_event_id: Annotated[Count | None, Header(alias="Last-Event-ID")] = None,
    since: Annotated[Count | None, Query(description="resume after this event id")] = None,
    max_seconds: Annotated[
        int, Query(ge=0, le=MAX_STREAM_S, description="end the stream after this long")
    ] = MAX_STREAM_S,
) -> EventStreamResponse:
    after = since if since is not None else last_event_id
    body = _events(session.get_bind(), user, scope_for(user), settings, after, max_seconds)
    return EventStreamResponse(
        body,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
