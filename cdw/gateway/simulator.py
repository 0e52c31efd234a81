"""A simulated JT/T 808 terminal (for the benchmark, the crash test and trying a gateway
out): registers, authenticates, reports positions one at a time and waits for each reply."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from cdw.tracking.io.jt808 import (
    MSG_AUTHENTICATE,
    MSG_HEARTBEAT,
    MSG_LOCATION,
    MSG_PLATFORM_REPLY,
    MSG_REGISTER,
    MSG_REGISTER_REPLY,
    REGISTER_OK,
    RESULT_OK,
    Frame,
    FrameSplitter,
    Registration,
    decode_frame,
    decode_general_reply,
    decode_register_reply,
    encode_authentication,
    encode_frame,
    encode_location,
    encode_registration,
)


class Refused(Exception):
    """The gateway answered with a result other than success."""


class SimTerminal:
    def __init__(self, phone: str, plate: str, *, version: int = 2013, timeout: float = 30.0):
        self.phone = phone
        self.plate = plate
        self.version = version
        self.timeout = timeout
        self.flow = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._splitter = FrameSplitter()
        self._frames: list[Frame] = []

    async def connect(self, host: str, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self._splitter = FrameSplitter()
        self._frames = []

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _next_flow(self) -> int:
        self.flow = (self.flow + 1) & 0xFFFF
        return self.flow

    async def _request(self, msg_id: int, body: bytes) -> tuple[int, Frame]:
        if self.writer is None or self.reader is None:
            raise ConnectionError("not connected")
        flow = self._next_flow()
        self.writer.write(encode_frame(msg_id, self.phone, body, version=self.version, flow=flow))
        await self.writer.drain()
        while True:
            while self._frames:
                frame = self._frames.pop(0)
                return flow, frame
            data = await asyncio.wait_for(self.reader.read(4096), self.timeout)
            if not data:
                raise ConnectionError("connection closed by the gateway")
            self._frames += [decode_frame(c) for ok, c in self._splitter.feed(data) if ok]

    async def _general(self, msg_id: int, body: bytes) -> int:
        flow, frame = await self._request(msg_id, body)
        if frame.header.msg_id != MSG_PLATFORM_REPLY:
            raise Refused(f"expected 0x8001, got 0x{frame.header.msg_id:04X}")
        answered_flow, answered_id, result = decode_general_reply(frame.body)
        if (answered_flow, answered_id) != (flow, msg_id):
            raise Refused(f"reply to {answered_flow}/0x{answered_id:04X}, sent {flow}")
        return result

    async def login(self) -> str:
        """Register and authenticate; returns the authentication code."""
        body = encode_registration(
            Registration(44, 100, "CDW", "SIM", self.phone[-7:], 2, self.plate), self.version
        )
        flow, frame = await self._request(MSG_REGISTER, body)
        if frame.header.msg_id != MSG_REGISTER_REPLY:
            raise Refused(f"expected 0x8100, got 0x{frame.header.msg_id:04X}")
        answered, result, code = decode_register_reply(frame.body)
        if answered != flow or result != REGISTER_OK:
            raise Refused(f"registration refused: result {result}")
        result = await self._general(MSG_AUTHENTICATE, encode_authentication(code, self.version))
        if result != RESULT_OK:
            raise Refused(f"authentication refused: result {result}")
        return code

    async def heartbeat(self) -> int:
        return await self._general(MSG_HEARTBEAT, b"")

    async def report(self, ts: datetime, lon: float, lat: float, speed_kmh: float = 0.0) -> float:
        """Send one position; returns the seconds until its acknowledgement."""
        body = encode_location(lat=lat, lon=lon, ts=ts, speed_kmh=speed_kmh, status=0x2)
        start = time.perf_counter()
        result = await self._general(MSG_LOCATION, body)
        if result != RESULT_OK:
            raise Refused(f"position refused: result {result}")
        return time.perf_counter() - start
