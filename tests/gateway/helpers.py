"""A gateway on a loopback port with a temporary log and store, and a raw terminal client."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import polars as pl

from cdw.gateway.intake import Intake
from cdw.gateway.server import Gateway
from cdw.gateway.terminals import TerminalDirectory
from cdw.gateway.wal import WriteAheadLog
from cdw.tracking.io.jt808 import FrameSplitter, decode_frame
from cdw.tracking.store import PointStore

SECRET = "test-secret-key-for-authentication-codes"
PHONE = "013912344329"  # 2013: BCD[6]
PHONE_2019 = "00000000013912344329"  # 2019: BCD[10]
PLATE = "粤A12345"
TERMINALS = {"13912344329": PLATE, "13800000001": "粤A00001"}


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def framed(payload: bytes) -> bytes:
    """Flags around ``payload`` + its checksum, escaped (test side, written out plainly)."""
    raw = payload + bytes([xor(payload)])
    out = bytearray()
    for byte in raw:
        if byte == 0x7E:
            out += b"\x7d\x02"
        elif byte == 0x7D:
            out += b"\x7d\x01"
        else:
            out.append(byte)
    return b"\x7e" + bytes(out) + b"\x7e"


@dataclass
class Recorder:
    batches: list[pl.DataFrame] = field(default_factory=list)

    async def __call__(self, points: pl.DataFrame) -> None:
        self.batches.append(points)

    @property
    def points(self) -> pl.DataFrame:
        return pl.concat(self.batches) if self.batches else pl.DataFrame()


@dataclass
class Harness:
    gateway: Gateway
    intake: Intake
    store: PointStore
    sink: Recorder
    port: int


@asynccontextmanager
async def running_gateway(tmp: Path, **kwargs):
    wal = WriteAheadLog(tmp / "wal" / "gateway-0")
    store = PointStore(tmp / "points", timezone="Asia/Shanghai")
    sink = Recorder()
    intake = Intake(wal, store, sink=sink, absorb_interval_s=3600)
    intake.recover()
    await intake.start()
    terminals = TerminalDirectory(lambda: dict(TERMINALS), refresh_s=0)
    terminals.reload()
    gateway = Gateway(intake, terminals, SECRET, **kwargs)
    port = await gateway.start("127.0.0.1", 0)
    try:
        yield Harness(gateway, intake, store, sink, port)
    finally:
        await gateway.close()
        await intake.close()


class Terminal:
    """A raw TCP client: sends bytes, reads whole reply frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.splitter = FrameSplitter()
        self.frames: list[bytes] = []  # raw reply frames with their flags

    @classmethod
    async def connect(cls, port: int) -> Terminal:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def replies(self, n: int, timeout: float = 10.0) -> list[bytes]:
        """The next ``n`` reply frames, each as sent (flags and escapes included)."""
        while len(self.frames) < n:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("closed by the gateway")
            for ok, content in self.splitter.feed(data):
                assert ok, content
                self.frames.append(b"\x7e" + content + b"\x7e")
        out, self.frames = self.frames[:n], self.frames[n:]
        return out

    async def reply(self) -> bytes:
        return (await self.replies(1))[0]

    async def closed(self, timeout: float = 10.0) -> bool:
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        return data == b""

    def close(self) -> None:
        self.writer.close()


def body_of(frame: bytes):
    return decode_frame(frame[1:-1])
