"""The write-ahead log: positions are acknowledged once they are in it (appended and fsynced).

A log is a directory ``<data_dir>/wal/<name>`` that one process owns at a time (an exclusive
``flock`` on ``.lock``, held while the log is open):

- ``<segment>.wal`` files of records, ``length u32 | crc32 u32 | payload``; a new segment is
  started when the current one passes ``segment_bytes`` and at every open;
- ``checkpoint``: ``<segment> <offset>``, the end of the last record the point store has
  absorbed (written to a temporary file, fsynced, renamed).

:meth:`WriteAheadLog.write` appends a group of records with one ``write`` and one
``fdatasync`` (the callers batch: group commit). :meth:`WriteAheadLog.recover` reads every
record after the checkpoint; a record cut short or with a bad checksum (a crash in the
middle of a write, which was never acknowledged) ends its segment. The point store keys
points by (vehicle, ts), so a record absorbed twice (a crash between the store's append
and the checkpoint) stores nothing twice.

A payload is a batch of points (:func:`encode_points`): vehicle, UTC time in microseconds,
lon, lat, speed, heading, status, alarm (each of the last four may be null) and the id of
the upload that brought them (empty for the gateway's).
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import polars as pl

_RECORD = struct.Struct("<II")
_FIXED = struct.Struct("<qddBffII")
_COUNT = struct.Struct("<I")
CHECKPOINT = "checkpoint"
SUFFIX = ".wal"
DEFAULT_SEGMENT_BYTES = 64 << 20
MAX_RECORD_BYTES = 256 << 20


class Point(NamedTuple):
    """One position as the gateway keeps it until the point store has it."""

    vehicle: str
    ts_us: int  # UTC microseconds since 1970
    lon: float
    lat: float
    speed_kmh: float | None = None
    heading: float | None = None
    status: int | None = None
    alarm: int | None = None
    upload: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return self.vehicle, self.ts_us


@dataclass(frozen=True, order=True)
class Position:
    """A place in the log: the end of a record."""

    segment: int
    offset: int


class LogBusy(RuntimeError):
    """Another process holds this log."""


def encode_points(points: list[Point]) -> bytes:
    parts = [_COUNT.pack(len(points))]
    for p in points:
        vehicle = p.vehicle.encode()
        upload = p.upload.encode()
        nulls = (
            (p.speed_kmh is None)
            | (p.heading is None) << 1
            | (p.status is None) << 2
            | (p.alarm is None) << 3
        )
        parts.append(bytes([len(vehicle)]) + vehicle + bytes([len(upload)]) + upload)
        parts.append(
            _FIXED.pack(
                p.ts_us,
                p.lon,
                p.lat,
                nulls,
                p.speed_kmh or 0.0,
                p.heading or 0.0,
                p.status or 0,
                p.alarm or 0,
            )
        )
    return b"".join(parts)


def decode_points(payload: bytes) -> list[Point]:
    (count,) = _COUNT.unpack_from(payload)
    pos = _COUNT.size
    out: list[Point] = []
    for _ in range(count):
        n = payload[pos]
        vehicle = payload[pos + 1 : pos + 1 + n].decode()
        pos += 1 + n
        n = payload[pos]
        upload = payload[pos + 1 : pos + 1 + n].decode()
        pos += 1 + n
        ts, lon, lat, nulls, speed, heading, status, alarm = _FIXED.unpack_from(payload, pos)
        pos += _FIXED.size
        out.append(
            Point(
                vehicle,
                ts,
                lon,
                lat,
                None if nulls & 1 else speed,
                None if nulls & 2 else heading,
                None if nulls & 4 else status,
                None if nulls & 8 else alarm,
                upload,
            )
        )
    return out


def points_frame(points: list[Point], *, with_upload: bool = False) -> pl.DataFrame:
    """The points frame of DESIGN.md §5 (with the ``upload`` column when asked), built
    column by column (no query engine: this runs for every durable group)."""
    cols: list[tuple] = list(zip(*points, strict=True)) if points else [()] * len(Point._fields)
    data = {
        "vehicle": pl.Series("vehicle", cols[0], dtype=pl.String),
        "ts": pl.Series("ts", cols[1], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        "lon": pl.Series("lon", cols[2], dtype=pl.Float64),
        "lat": pl.Series("lat", cols[3], dtype=pl.Float64),
        "speed_kmh": pl.Series("speed_kmh", cols[4], dtype=pl.Float32),
        "heading": pl.Series("heading", cols[5], dtype=pl.Float32),
        "status": pl.Series("status", cols[6], dtype=pl.UInt32),
        "alarm": pl.Series("alarm", cols[7], dtype=pl.UInt32),
    }
    if with_upload:
        data["upload"] = pl.Series("upload", [u or None for u in cols[8]], dtype=pl.String)
    return pl.DataFrame(data)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteAheadLog:
    def __init__(
        self,
        directory: Path | str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        sync: bool = True,
    ):
        """Open (and own) the log in ``directory``; raises :class:`LogBusy` when another
        process has it. ``sync`` False skips fdatasync (tests of logic only)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.sync = sync
        self._lock_file = open(self.directory / ".lock", "a+b")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise LogBusy(f"write-ahead log {self.directory} is held by another process") from None
        self._write_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._checkpoint = self._read_checkpoint()
        segments = self._segments()
        self._segment = max([self._checkpoint.segment, *segments], default=0) + 1
        self._fd: int | None = None
        self._size = 0
        self.bytes_written = 0
        self.bytes_absorbed = 0
        self.groups_written = 0

    # ------------------------------------------------------------------ reading

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit())

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}{SUFFIX}"

    def _read_checkpoint(self) -> Position:
        try:
            segment, offset = (self.directory / CHECKPOINT).read_text().split()
            return Position(int(segment), int(offset))
        except (FileNotFoundError, ValueError):
            return Position(0, 0)

    @property
    def checkpoint_position(self) -> Position:
        return self._checkpoint

    def recover(self) -> Iterator[tuple[Position, list[Point]]]:
        """Every record after the checkpoint, in order, with the position of its end."""
        for segment in self._segments():
            if segment < self._checkpoint.segment or segment >= self._segment:
                continue
            start = self._checkpoint.offset if segment == self._checkpoint.segment else 0
            data = self._path(segment).read_bytes()
            pos = start
            while pos + _RECORD.size <= len(data):
                length, crc = _RECORD.unpack_from(data, pos)
                end = pos + _RECORD.size + length
                if length > MAX_RECORD_BYTES or end > len(data):
                    break
                payload = data[pos + _RECORD.size : end]
                if zlib.crc32(payload) != crc:
                    break
                pos = end
                yield Position(segment, end), decode_points(payload)

    # ------------------------------------------------------------------ writing

    def write(self, payloads: list[bytes]) -> Position:
        """Append ``payloads`` as records with one write and one fdatasync; returns the end."""
        data = b"".join(_RECORD.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        with self._write_lock:
            if self._fd is None or self._size >= self.segment_bytes:
                self._rotate()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self.sync:
                os.fdatasync(self._fd)
            self._size += len(data)
            self.bytes_written += len(data)
            self.groups_written += 1
            return Position(self._segment, self._size)

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._segment += 1
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        if self.sync:
            _fsync_dir(self.directory)

    def checkpoint(self, position: Position, absorbed_bytes: int = 0) -> None:
        """Everything up to ``position`` is in the point store: record it and delete the
        segments before it."""
        with self._checkpoint_lock:
            if position <= self._checkpoint:
                return
            temp = self.directory / f".{CHECKPOINT}.tmp"
            with open(temp, "w") as out:
                out.write(f"{position.segment} {position.offset}\n")
                out.flush()
                if self.sync:
                    os.fsync(out.fileno())
            os.replace(temp, self.directory / CHECKPOINT)
            if self.sync:
                _fsync_dir(self.directory)
            self._checkpoint = position
            self.bytes_absorbed += absorbed_bytes
            for segment in self._segments():
                if segment < position.segment:
                    self._path(segment).unlink(missing_ok=True)

    def backlog_bytes(self) -> int:
        """Bytes of records not absorbed yet (on disk, this log's segments after the
        checkpoint)."""
        total = 0
        for segment in self._segments():
            if segment < self._checkpoint.segment:
                continue
            size = self._path(segment).stat().st_size if self._path(segment).exists() else 0
            total += size - (self._checkpoint.offset if segment == self._checkpoint.segment else 0)
        return max(total, 0)

    def close(self) -> None:
        with self._write_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if not self._lock_file.closed:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()


def open_slot(base: Path | str, prefix: str, **kwargs) -> WriteAheadLog:
    """The first log ``<base>/<prefix>-<n>`` no other process holds (a crashed process's log
    is taken over, and recovered by its new owner)."""
    for n in range(64):
        try:
            return WriteAheadLog(Path(base) / f"{prefix}-{n}", **kwargs)
        except LogBusy:
            continue
    raise LogBusy(f"no free write-ahead log slot {prefix}-0…63 under {base}")
