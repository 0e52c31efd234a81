"""GET /vehicles/live and GET /stream: typed, scoped like tracks and flags (a haulier sees its
own vehicles and their flags, the others what the track readers see), the stream resumable
from its last event id, and read live over HTTP while another process writes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdw.api.app import app
from cdw.api.deps import get_session
from cdw.auth.models import Role
from cdw.config import Settings
from cdw.flags.codes import FlagCode
from cdw.live.engine import LiveEngine
from cdw.live.state import live_vehicles, vehicle_state
from cdw.registry.models import Haulier
from cdw.registry.services import UNRESTRICTED, Scope
from cdw.tracking.store import PointStore
from tests.live.panyu import at, flags_of, points_of, seed_registry

ROOT = Path(__file__).resolve().parents[2]
FIRST, SECOND = "9144011333011164KR", "9144011356448866EJ"  # the hauliers' credit codes
OWN_FIRST, OWN_SECOND = "粤A37904", "粤A78144"


@pytest.fixture
def world(engine: Engine, tmp_path) -> dict:
    """Two hauliers' trucks seen live; the second one's silent for 6 minutes (an open gap)."""
    seed_registry(engine)
    settings = Settings()
    store = PointStore(tmp_path / "points", timezone=settings.local_timezone)
    live = LiveEngine(engine, settings, store=store, autotick=False)
    live.process(points_of(OWN_FIRST, start=at("01:36:00"), end=at("01:47:30")))
    live.process(points_of(OWN_SECOND, start=at("01:36:00"), end=at("01:41:43")))
    asyncio.run(live.tick(at("01:47:43")))
    with Session(engine) as session:
        hauliers = {h.credit_code: h.id for h in session.exec(select(Haulier))}
    return {"live": live, "settings": settings, "haulier": hauliers}


def _as(auth_headers, world, credit_code: str) -> dict[str, str]:
    return auth_headers(Role.haulier, haulier_id=world["haulier"][credit_code])


def events(text: str) -> list[tuple[str, int, dict]]:
    """(event, id, data) of a Server-Sent Events body."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))
    return out


def test_live_vehicles_are_typed_and_scoped(client, auth_headers, world):
    admin = client.get("/api/v1/vehicles/live", headers=auth_headers(Role.admin))
    assert admin.status_code == 200
    rows = {r["plate"]: r for r in admin.json()}
    assert set(rows) == {OWN_FIRST, OWN_SECOND}
    first = rows[OWN_FIRST]
    assert first["haulier_id"] == world["haulier"][FIRST] and first["vehicle_id"] > 0
    assert first["state"] == "offline"  # its last fix is from 2026-11-20
    assert first["load_state_source"] in ("reported", "inferred")
    assert first["ts"].startswith("2026-11-20T01:47")

    mine = client.get("/api/v1/vehicles/live", headers=_as(auth_headers, world, FIRST))
    assert [r["plate"] for r in mine.json()] == [OWN_FIRST]
    theirs = client.get("/api/v1/vehicles/live", headers=_as(auth_headers, world, SECOND))
    assert [r["plate"] for r in theirs.json()] == [OWN_SECOND]
    for role in (Role.viewer, Role.facility_operator, Role.site_dispatcher):
        binding = {
            Role.facility_operator: {"facility_id": 1},
            Role.site_dispatcher: {"site_id": 1},
        }.get(role, {})
        refused = client.get("/api/v1/vehicles/live", headers=auth_headers(role, **binding))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


def test_the_state_of_a_vehicle(engine: Engine, world):
    settings = world["settings"]
    with Session(engine) as session:
        just_after = {
            v.plate: v for v in live_vehicles(session, UNRESTRICTED, settings, at("01:41:45"))
        }
        later = {v.plate: v for v in live_vehicles(session, UNRESTRICTED, settings, at("01:47:43"))}
        nobody = live_vehicles(session, Scope(unrestricted=False), settings, at("01:41:45"))
    # The open gap is on the trip the second truck is on: flagged, counted.
    assert just_after[OWN_SECOND].state == "flagged"
    assert just_after[OWN_SECOND].open_flags == 1
    assert just_after[OWN_FIRST].open_flags == 0
    assert just_after[OWN_FIRST].state in ("loaded", "empty", "stopped")
    assert later[OWN_SECOND].state == "offline"
    assert nobody == []


def test_the_stream_sends_the_events_each_user_may_see(client, auth_headers, world, engine):
    (gap,) = flags_of(engine, OWN_SECOND, FlagCode.SIGNAL_GAP)
    url = "/api/v1/stream?since=0&max_seconds=0"
    admin = client.get(url, headers=auth_headers(Role.admin))
    assert admin.status_code == 200
    assert admin.headers["content-type"].startswith("text/event-stream")
    sent = events(admin.text)
    assert sent[0][0] == "ping" and sent[0][1] == 0
    positions = {d["plate"] for e, _, d in sent if e == "position"}
    assert positions == {OWN_FIRST, OWN_SECOND}
    flags = [d for e, _, d in sent if e == "flag"]
    assert [(f["id"], f["code"], f["vehicle"]) for f in flags] == [
        (gap.id, "SIGNAL_GAP", OWN_SECOND)
    ]
    assert all(i > 0 for e, i, _ in sent if e != "ping")

    first = events(client.get(url, headers=_as(auth_headers, world, FIRST)).text)
    assert [(e, d.get("plate")) for e, _, d in first if e != "ping"] == [("position", OWN_FIRST)]
    second = events(client.get(url, headers=_as(auth_headers, world, SECOND)).text)
    assert {(e, d.get("plate") or d.get("vehicle")) for e, _, d in second if e != "ping"} == {
        ("position", OWN_SECOND),
        ("flag", OWN_SECOND),
    }
    refused = client.get(url, headers=auth_headers(Role.viewer))
    assert refused.status_code == 403
    assert client.get(url).status_code == 401


def test_the_stream_resumes_after_the_last_event_id(client, auth_headers, world):
    headers = auth_headers(Role.admin)
    (ping,) = events(client.get("/api/v1/stream?max_seconds=0", headers=headers).text)
    assert ping[0] == "ping"
    cursor = ping[1]
    world["live"].process(points_of(OWN_FIRST, start=at("01:47:30"), end=at("01:48:30")))
    resumed = events(
        client.get(
            "/api/v1/stream?max_seconds=0", headers=headers | {"Last-Event-ID": str(cursor)}
        ).text
    )
    assert [(e, d.get("plate")) for e, i, d in resumed if e != "ping"] == [("position", OWN_FIRST)]
    assert all(i > cursor for e, i, _ in resumed if e != "ping")


# --- over HTTP, the writer in another process ---------------------------------------------


@contextmanager
def serving(engine: Engine) -> Iterator[str]:
    """The API on a loopback port, its sessions on the test database."""

    def session():
        with Session(engine) as s:
            yield s

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.dependency_overrides[get_session] = session
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.dependency_overrides.pop(get_session, None)


WRITER = """
import sys
from cdw.config import Settings
from cdw.db import make_engine
from cdw.live.engine import LiveEngine
from tests.live.panyu import at, points_of
live = LiveEngine(make_engine(sys.argv[1]), Settings(), store=None, autotick=False)
live.process(points_of("粤A49320", start=at("01:00:00"), end=at("01:01:00")))
"""


def test_the_stream_carries_what_another_process_writes(engine: Engine, auth_headers, world):
    headers = auth_headers(Role.admin)
    url = engine.url.render_as_string(hide_password=False)
    with (
        serving(engine) as base,
        httpx.Client(base_url=base, timeout=httpx.Timeout(120.0)) as http,
        http.stream("GET", "/api/v1/stream", params={"max_seconds": 120}, headers=headers) as r,
    ):
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(lines).startswith("id: ")
        assert next(lines) == "event: ping"
        writer = subprocess.run(
            [sys.executable, "-c", WRITER, url],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert writer.returncode == 0, writer.stderr[-2000:]
        event = None
        for line in lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "position":
                data = json.loads(line.removeprefix("data: "))
                assert data["plate"] == "粤A49320"
                assert data["ts"].startswith("2026-11-20T01:00")
                break
        else:
            pytest.fail("the stream ended without the other process's position")


@pytest.mark.parametrize(
    ("silent_s", "flagged", "speed_kmh", "loaded", "expected"),
    [
        (300.0, True, 40.0, True, "offline"),  # silent for the signal gap: offline first
        (299.0, True, 0.0, True, "flagged"),
        (10.0, False, 0.0, True, "stopped"),
        (10.0, False, None, True, "loaded"),  # no speed reported: not read as stopped
        (10.0, False, 35.0, False, "empty"),
    ],
)
def test_one_state_rule_for_the_live_channel_and_the_console(
    silent_s, flagged, speed_kmh, loaded, expected
):
    state = vehicle_state(
        silent_s=silent_s,
        offline_after_s=300.0,
        flagged=flagged,
        speed_kmh=speed_kmh,
        loaded=loaded,
    )
    assert state == expected
