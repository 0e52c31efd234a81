"""The JT/T 808 TCP server: one asyncio task per terminal connection.

Per connection the bytes are cut into frames at every 0x7E (:class:`FrameSplitter`), each
frame is decoded (escapes, checksum, 2013 or 2019 header) and answered in order:

================  ===============================================================
0x0100 register   0x8100: 0 and the authentication code; 4 (terminal not in the
                  database) for a terminal bound to no active vehicle
0x0102 auth       0x8001: 0, or 1 for an unknown terminal or a wrong code (after
                  ``max_auth_failures`` wrong codes the connection is closed)
0x0002 heartbeat  0x8001: 0
0x0003 logout     0x8001: 0; the session is no longer authenticated
0x0200 location   0x8001: 0 once the position is durable (write-ahead log); 1 when
                  the session is not authenticated; 2 for a position that cannot
                  be (an impossible time, coordinates out of range); a (0, 0) fix
                  (no position) is answered 0 and not stored
0x0704 batch      0x8001: 0 once the batch's valid positions are durable (blind-area
                  re-uploads of old positions included); invalid items are logged
0x0001            a terminal's own general reply: not answered
other             0x8001: 3 (not supported); encrypted bodies too
================  ===============================================================

Every reply carries the flow number and id of the message it answers and the edition of
its header (2019 replies carry the terminal's protocol version). A subpackaged message is
reassembled per connection: each packet but the last is answered at once, the last once
the whole message is handled (so its positions are acknowledged only once durable). A
frame that cannot be decoded is logged and, when its header is readable, answered with 2
(message wrong); the connection stays open. A connection silent for ``idle_timeout_s``
is closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cdw.bounds import MAX_SPEED_KMH
from cdw.gateway.intake import Intake
from cdw.gateway.metrics import LatencyWindow, RateMeter
from cdw.gateway.terminals import TerminalDirectory, auth_code, check_auth_code
from cdw.gateway.wal import Point
from cdw.tracking.io.jt808 import (
    MSG_AUTHENTICATE,
    MSG_BATCH_LOCATION,
    MSG_HEARTBEAT,
    MSG_LOCATION,
    MSG_LOGOUT,
    MSG_PLATFORM_REPLY,
    MSG_REGISTER,
    MSG_REGISTER_REPLY,
    MSG_TERMINAL_REPLY,
    REGISTER_NO_TERMINAL,
    REGISTER_OK,
    RESULT_BAD_MESSAGE,
    RESULT_FAILURE,
    RESULT_OK,
    RESULT_UNSUPPORTED,
    FrameError,
    FrameSplitter,
    Header,
    Location,
    decode_authentication,
    decode_batch,
    decode_frame,
    decode_location,
    decode_registration,
    encode_frame,
    encode_general_reply,
    encode_register_reply,
    peek_header,
    terminal_key,
)

log = logging.getLogger("cdw.gateway")

TS_MIN_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1e6)
MAX_REASSEMBLY_BYTES = 1 << 20  # per connection: subpackaged messages being put together


@dataclass(eq=False)
class Session:
    peer: str
    phone: str | None = None  # of the authenticated terminal
    plate: str | None = None
    auth_failures: int = 0
    flow: int = 0
    parts: dict[tuple[int, int, int], dict[int, bytes]] = field(default_factory=dict)
    parts_bytes: int = 0
    closing: bool = False
    writer: asyncio.StreamWriter | None = None
    last_seen: float = 0.0  # event-loop time of the last bytes received
    idle: bool = False  # closed for silence

    @property
    def authenticated(self) -> bool:
        return self.plate is not None

    def next_flow(self) -> int:
        flow = self.flow
        self.flow = (self.flow + 1) & 0xFFFF
        return flow


class Gateway:
    def __init__(
        self,
        intake: Intake,
        terminals: TerminalDirectory,
        secret: str,
        *,
        idle_timeout_s: float = 180.0,
        max_auth_failures: int = 3,
        future_tolerance_s: float = 300.0,
        max_connections: int = 20_000,
    ):
        self.intake = intake
        self.terminals = terminals
        self.secret = secret
        self.idle_timeout_s = idle_timeout_s
        self.max_auth_failures = max_auth_failures
        self.future_tolerance_s = future_tolerance_s
        self.max_connections = max_connections
        self.sessions: set[Session] = set()
        self.frames = RateMeter()
        self.bad_frames = 0
        self.refused = 0
        self.connections_total = 0
        self.idle_closed = 0
        self.ack_latency = LatencyWindow()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None]
        self._connections: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (useful with port 0)."""
        self._server = await asyncio.start_server(self._connection, host, port, backlog=4096)
        self._sweeper = asyncio.create_task(self._sweep_idle(), name="idle-sweeper")
        return self._server.sockets[0].getsockname()[1]

    async def _sweep_idle(self) -> None:
        """Close the connections silent for ``idle_timeout_s`` (one task for all of them,
        cheaper than a timeout on every read)."""
        loop = asyncio.get_running_loop()
        period = min(max(self.idle_timeout_s / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for session in list(self.sessions):
                if now - session.last_seen > self.idle_timeout_s and not session.idle:
                    session.idle = True
                    self.idle_closed += 1
                    log.info(
                        "连接空闲超时，已关闭 / idle connection closed: %s (terminal %s)",
                        session.peer,
                        session.phone,
                    )
                    if session.writer is not None:
                        session.writer.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._sweeper
            self._server.close()
            for session in list(self.sessions):
                if session.writer is not None:
                    session.writer.transport.abort()
            if self._connections:
                _, late = await asyncio.wait(list(self._connections), timeout=5)
                for task in late:
                    task.cancel()
            await self._server.wait_closed()
            self._server = None

    @property
    def connected_terminals(self) -> int:
        return sum(1 for s in self.sessions if s.authenticated)

    # ------------------------------------------------------------------ connection

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self.sessions) >= self.max_connections:
            log.warning("连接数已满 / connection limit %d reached", self.max_connections)
            writer.close()
            return
        host, port = (writer.get_extra_info("peername") or ("?", "?"))[:2]
        peer = f"{host}:{port}"
        loop = asyncio.get_running_loop()
        session = Session(peer, writer=writer, last_seen=loop.time())
        self.sessions.add(session)
        self.connections_total += 1
        if task is not None:
            self._connections.add(task)
        splitter = FrameSplitter()
        try:
            while not session.closing:
                data = await reader.read(1 << 16)
                if not data:
                    break
                session.last_seen = loop.time()
                received = time.perf_counter()
                for is_frame, content in splitter.feed(data):
                    if not is_frame:
                        self.bad_frames += 1
                        log.warning(
                            "丢弃帧外字节 / discarded %d bytes outside a frame from %s: %s",
                            len(content),
                            peer,
                            content[:32].hex(),
                        )
                        continue
                    replies, positions = await self._frame(session, content)
                    if replies:
                        writer.write(b"".join(replies))
                        await writer.drain()
                        if positions:
                            self.ack_latency.add(time.perf_counter() - received)
                    if session.closing:
                        break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.sessions.discard(session)
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    # ------------------------------------------------------------------ frames

    def _reply(self, session: Session, header: Header, msg_id: int, body: bytes) -> bytes:
        return encode_frame(
            msg_id,
            header.phone,
            body,
            version=header.version,
            flow=session.next_flow(),
            protocol_version=header.protocol_version or 1,
        )

    def _general(self, session: Session, header: Header, result: int) -> bytes:
        body = encode_general_reply(header.flow, header.msg_id, result)
        return self._reply(session, header, MSG_PLATFORM_REPLY, body)

    async def _frame(self, session: Session, content: bytes) -> tuple[list[bytes], int]:
        """The replies to one frame, and how many positions it made durable."""
        self.frames.add()
        try:
            frame = decode_frame(content)
        except FrameError as exc:
            self.bad_frames += 1
            header = peek_header(content)
            log.warning(
                "无法解析的帧 / malformed frame from %s (terminal %s): %s — %s",
                session.peer,
                header.phone if header else "?",
                exc.en,
                content[:48].hex(),
            )
            return ([self._general(session, header, RESULT_BAD_MESSAGE)] if header else []), 0
        header, body = frame.header, frame.body
        if header.msg_id == MSG_TERMINAL_REPLY:
            return [], 0
        if header.encryption:
            return [self._general(session, header, RESULT_UNSUPPORTED)], 0
        if header.packet_total is not None:
            assembled = self._reassemble(session, header, body)
            if assembled is None:
                return [self._general(session, header, RESULT_OK)], 0
            if isinstance(assembled, int):
                return [self._general(session, header, assembled)], 0
            body = assembled
        try:
            return await self._message(session, header, body)
        except FrameError as exc:
            self.bad_frames += 1
            log.warning(
                "消息内容有误 / bad 0x%04X body from %s (terminal %s): %s",
                header.msg_id,
                session.peer,
                terminal_key(header.phone),
                exc.en,
            )
            return [self._general(session, header, RESULT_BAD_MESSAGE)], 0
        except Exception:  # a bug must not end a terminal's session: answer, log, go on
            log.exception(
                "处理消息出错 / error handling 0x%04X from terminal %s",
                header.msg_id,
                terminal_key(header.phone),
            )
            return [self._general(session, header, RESULT_FAILURE)], 0

    def _reassemble(self, session: Session, header: Header, body: bytes) -> bytes | int | None:
        """The whole body once the last packet is in; None while packets are missing; a
        result code for a packet that cannot belong to any message."""
        total, seq = header.packet_total or 0, header.packet_seq or 0
        if not 1 <= seq <= total:
            return RESULT_BAD_MESSAGE
        first_flow = (header.flow - seq + 1) & 0xFFFF
        key = (header.msg_id, total, first_flow)
        parts = session.parts.setdefault(key, {})
        if seq not in parts:
            session.parts_bytes += len(body)
        parts[seq] = body
        if session.parts_bytes > MAX_REASSEMBLY_BYTES:
            log.warning(
                "分包消息过大，已丢弃 / subpackaged messages over %d bytes dropped (terminal %s)",
                MAX_REASSEMBLY_BYTES,
                terminal_key(header.phone),
            )
            session.parts.clear()
            session.parts_bytes = 0
            return RESULT_FAILURE
        if len(parts) < total:
            return None
        del session.parts[key]
        whole = b"".join(parts[i] for i in range(1, total + 1))
        session.parts_bytes -= len(whole)
        return whole

    async def _message(
        self, session: Session, header: Header, body: bytes
    ) -> tuple[list[bytes], int]:
        msg = header.msg_id
        if msg == MSG_HEARTBEAT:
            return [self._general(session, header, RESULT_OK)], 0
        if msg == MSG_REGISTER:
            return [await self._register(session, header, body)], 0
        if msg == MSG_AUTHENTICATE:
            return [await self._authenticate(session, header, body)], 0
        if msg == MSG_LOGOUT:
            if session.phone == header.phone:
                session.phone = session.plate = None
            return [self._general(session, header, RESULT_OK)], 0
        if msg in (MSG_LOCATION, MSG_BATCH_LOCATION):
            return await self._positions(session, header, body)
        return [self._general(session, header, RESULT_UNSUPPORTED)], 0

    async def _plate_of(self, phone: str) -> str | None:
        plate = self.terminals.cached(phone)
        if plate is None:
            plate = await asyncio.to_thread(self.terminals.lookup, phone)
        return plate

    async def _register(self, session: Session, header: Header, body: bytes) -> bytes:
        registration = decode_registration(body, header.version)
        plate = await self._plate_of(header.phone)
        terminal = terminal_key(header.phone)
        if plate is None:
            self.refused += 1
            log.warning(
                "注册被拒：终端未登记到任何在用车辆 / registration refused: terminal %s "
                "(plate %s) is bound to no active vehicle",
                terminal,
                registration.plate,
            )
            reply = encode_register_reply(header.flow, REGISTER_NO_TERMINAL)
        else:
            if registration.plate and registration.plate.upper() != plate:
                log.warning(
                    "终端 %s 上报车牌 %s 与登记车牌 %s 不符 / terminal reports plate %s, "
                    "registered %s",
                    terminal,
                    registration.plate,
                    plate,
                    registration.plate,
                    plate,
                )
            reply = encode_register_reply(
                header.flow, REGISTER_OK, auth_code(self.secret, header.phone)
            )
        return self._reply(session, header, MSG_REGISTER_REPLY, reply)

    async def _authenticate(self, session: Session, header: Header, body: bytes) -> bytes:
        code = decode_authentication(body, header.version)
        plate = await self._plate_of(header.phone)
        terminal = terminal_key(header.phone)
        if plate is not None and check_auth_code(self.secret, header.phone, code):
            session.phone, session.plate = header.phone, plate
            session.auth_failures = 0
            return self._general(session, header, RESULT_OK)
        self.refused += 1
        session.auth_failures += 1
        why = "终端未登记 / unknown terminal" if plate is None else "鉴权码错误 / wrong code"
        log.warning(
            "鉴权被拒 / authentication refused: terminal %s from %s: %s (%d/%d)",
            terminal,
            session.peer,
            why,
            session.auth_failures,
            self.max_auth_failures,
        )
        if session.auth_failures >= self.max_auth_failures:
            session.closing = True
        return self._general(session, header, RESULT_FAILURE)

    async def _positions(
        self, session: Session, header: Header, body: bytes
    ) -> tuple[list[bytes], int]:
        if not session.authenticated or session.phone != header.phone:
            self.refused += 1
            log.warning(
                "未鉴权终端的位置被拒 / position from unauthenticated terminal %s refused",
                terminal_key(header.phone),
            )
            return [self._general(session, header, RESULT_FAILURE)], 0
        assert session.plate is not None
        if header.msg_id == MSG_LOCATION:
            items = [body]
        else:
            _, items = decode_batch(body)
        points: list[Point] = []
        for index, item in enumerate(items):
            loc = decode_location(item, with_extras=False)
            point, why = self._point(session.plate, loc)
            if point is not None:
                points.append(point)
                continue
            if not why:  # no fix: answered, not stored
                continue
            self.bad_frames += 1
            log.warning(
                "位置无效，已丢弃 / invalid position dropped (terminal %s, 0x%04X item %d): %s",
                terminal_key(header.phone),
                header.msg_id,
                index,
                why,
            )
            if header.msg_id == MSG_LOCATION:
                return [self._general(session, header, RESULT_BAD_MESSAGE)], 0
        if points:
            try:
                await self.intake.submit(points)
            except Exception:  # not durable: the terminal keeps the fix and sends it again
                log.exception(
                    "位置未能持久化 / positions not made durable (terminal %s)",
                    terminal_key(header.phone),
                )
                return [self._general(session, header, RESULT_FAILURE)], 0
        return [self._general(session, header, RESULT_OK)], len(points)

    def _point(self, plate: str, loc: Location) -> tuple[Point | None, str]:
        """The point of a fix, or None and why not ("" for a fix without a position)."""
        if loc.lat == 0 and loc.lon == 0:  # what a terminal without a fix sends
            return None, ""
        try:
            ts = loc.ts
        except ValueError:
            return None, f"impossible time {loc.time_bcd}"
        ts_us = int(ts.timestamp() * 1_000_000)
        if ts_us < TS_MIN_US or ts.timestamp() > time.time() + self.future_tolerance_s:
            return None, f"time {ts.isoformat()} before 2000 or in the future"
        if not (-90 <= loc.lat <= 90 and -180 <= loc.lon <= 180):
            return None, f"coordinates out of range ({loc.lon}, {loc.lat})"
        speed = loc.speed_kmh if loc.speed_kmh <= MAX_SPEED_KMH else None
        heading = float(loc.heading) if loc.heading <= 360 else None
        point = Point(plate, ts_us, loc.lon, loc.lat, speed, heading, loc.status, loc.alarm)
        return point, ""
