"""JT/T 808 codec (2013 and 2019 editions) and a reader for binary captures.

A frame is ``0x7E | header | body | checksum | 0x7E``. Inside the flags ``0x7E`` is sent as
``0x7D 0x02`` and ``0x7D`` as ``0x7D 0x01``; the checksum is the XOR of header and body.
Header: message id (WORD), body properties (WORD: bits 0–9 body length, 10–12 encryption,
13 subpackage, 14 version flag = 2019 edition), then for 2019 a protocol-version BYTE and a
BCD[10] terminal phone number (2013: BCD[6]), a flow number (WORD) and, when subpackaged,
the packet count and packet number (WORD each).

Location report 0x0200 body: alarm DWORD, status DWORD (bit 2 south, bit 3 west, bits 8–9
load state), latitude and longitude DWORD in 1e-6 degrees, altitude WORD (m), speed WORD
(0.1 km/h), direction WORD (degrees), time BCD[6] ``YYMMDDhhmmss`` in GMT+8, then
additional-information items ``id BYTE, length BYTE, value``. Batch upload 0x0704: count
WORD, type BYTE (0 regular, 1 blind-area re-upload), then per item a length WORD and a
0x0200 body.

The reader accepts a raw binary capture or the same bytes written as hex text. Reject
``line`` = byte offset of the frame's opening flag (in the decoded bytes for hex text);
for 0x0704 the message names the item. Other message types (heartbeats, registration,
authentication…) carry no position and are skipped.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

from cdw.registry.validators.plates import plate_key
from cdw.tracking.io.raw_rows import ReadResult, Reject, file_error, finish

FLAG = 0x7E
ESCAPE = 0x7D
MSG_LOCATION = 0x0200
MSG_BATCH_LOCATION = 0x0704
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3
GMT8 = timezone(timedelta(hours=8))
MAX_BODY_LENGTH = 0x3FF
LOCATION_BASE_LENGTH = 28

_PROPS_ENCRYPTION_SHIFT = 10
_PROPS_SUBPACKAGE = 1 << 13
_PROPS_VERSION_2019 = 1 << 14
_HEX_TEXT = re.compile(rb"^[0-9A-Fa-f\s]+$")
_LOCATION = struct.Struct(">IIIIHHH6s")


class FrameError(ValueError):
    """A frame that cannot be decoded; ``offset`` is the byte offset of its opening flag."""

    def __init__(self, zh: str, en: str, offset: int = 0):
        self.zh = zh
        self.en = en
        self.offset = offset
        super().__init__(f"{en} (offset {offset})")


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    body_length: int
    encryption: int
    version: int  # 2013 or 2019
    protocol_version: int | None
    phone: str  # BCD digits as sent, leading zeros kept
    flow: int
    packet_total: int | None = None
    packet_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    header: Header
    body: bytes


@dataclass(frozen=True, slots=True)
class Location:
    alarm: int
    status: int
    lat: float  # signed degrees (south negative)
    lon: float  # signed degrees (west negative)
    altitude_m: int
    speed_kmh: float
    heading: int
    time_bcd: str  # YYMMDDhhmmss, GMT+8
    extras: dict[int, bytes] = field(default_factory=dict)

    @property
    def ts(self) -> datetime:
        """UTC time; raises ValueError for an impossible BCD time."""
        local = datetime.strptime("20" + self.time_bcd, "%Y%m%d%H%M%S").replace(tzinfo=GMT8)
        return local.astimezone(UTC)

    @property
    def load_state(self) -> int:
        return (self.status >> 8) & 0b11


# ---------------------------------------------------------------- byte-level helpers


def checksum(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def escape(data: bytes) -> bytes:
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes, offset: int = 0) -> bytes:
    escapes = data.count(b"\x7d")
    if escapes != data.count(b"\x7d\x01") + data.count(b"\x7d\x02"):
        raise FrameError(
            "转义错误：0x7D 后应为 0x01 或 0x02",
            "bad escape: 0x7D must be followed by 0x01 or 0x02",
            offset,
        )
    if not escapes:
        return data
    # Every 0x7D starts an escape pair, so replacing 7D 02 first cannot misread 7D 01 02.
    return data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def bcd_digits(data: bytes) -> str:
    return data.hex()


# ---------------------------------------------------------------- decoding


def split_frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset of the opening flag, escaped content between the flags)``."""
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] != FLAG:
            raise FrameError(
                f"此处应为帧起始标志 0x7E，实为 0x{data[pos]:02X}",
                f"expected frame start flag 0x7E, found 0x{data[pos]:02X}",
                pos,
            )
        end = data.find(FLAG, pos + 1)
        if end == -1:
            raise FrameError(
                "帧不完整：缺少结束标志 0x7E（文件被截断？）",
                "truncated frame: no closing 0x7E flag (file cut short?)",
                pos,
            )
        if end == pos + 1:  # 7E 7E: an empty gap between frames; the second flag opens the next
            pos = end
            continue
        yield pos, data[pos + 1 : end]
        pos = end + 1


def decode_frame(content: bytes, offset: int = 0) -> Frame:
    """Decode the escaped bytes between two flags; verifies escapes, checksum and length."""
    payload = unescape(content, offset)
    if len(payload) < 13:
        raise FrameError(
            f"帧过短（{len(payload)} 字节），不足以容纳消息头",
            f"frame too short ({len(payload)} bytes) to hold a header",
            offset,
        )
    expected = checksum(payload[:-1])
    if expected != payload[-1]:
        raise FrameError(
            f"校验码错误：应为 0x{expected:02X}，实为 0x{payload[-1]:02X}",
            f"bad checksum: expected 0x{expected:02X}, found 0x{payload[-1]:02X}",
            offset,
        )
    msg_id, props = struct.unpack_from(">HH", payload, 0)
    is_2019 = bool(props & _PROPS_VERSION_2019)
    if is_2019:
        header_len = 17
        protocol_version: int | None = payload[4]
        phone_bytes = payload[5:15]
    else:
        header_len = 12
        protocol_version = None
        phone_bytes = payload[4:10]
    subpackaged = bool(props & _PROPS_SUBPACKAGE)
    if subpackaged:
        header_len += 4
    if len(payload) < header_len + 1:
        raise FrameError(
            "帧过短，不足以容纳消息头",
            "frame too short to hold its header",
            offset,
        )
    phone = bcd_digits(phone_bytes)
    if not phone.isdigit():
        raise FrameError(
            f"终端手机号不是 BCD 码：{phone}",
            f"terminal phone number is not BCD: {phone}",
            offset,
        )
    (flow,) = struct.unpack_from(">H", payload, header_len - (6 if subpackaged else 2))
    total = seq = None
    if subpackaged:
        total, seq = struct.unpack_from(">HH", payload, header_len - 4)
    body = payload[header_len:-1]
    length = props & MAX_BODY_LENGTH
    if len(body) != length:
        raise FrameError(
            f"消息体长度不符：消息头为 {length} 字节，实际 {len(body)} 字节",
            f"body length mismatch: header says {length} bytes, frame has {len(body)}",
            offset,
        )
    header = Header(
        msg_id=msg_id,
        body_length=length,
        encryption=(props >> _PROPS_ENCRYPTION_SHIFT) & 0b111,
        version=2019 if is_2019 else 2013,
        protocol_version=protocol_version,
        phone=phone,
        flow=flow,
        packet_total=total,
        packet_seq=seq,
    )
    return Frame(offset, header, body)


def iter_frames(data: bytes) -> Iterator[Frame]:
    for offset, content in split_frames(data):
        yield decode_frame(content, offset)


def decode_location(body: bytes, *, with_extras: bool = True, offset: int = 0) -> Location:
    if len(body) < LOCATION_BASE_LENGTH:
        raise FrameError(
            f"位置信息过短：{len(body)} 字节，至少 {LOCATION_BASE_LENGTH} 字节",
            f"location body too short: {len(body)} bytes, need {LOCATION_BASE_LENGTH}",
            offset,
        )
    alarm, status, lat_raw, lon_raw, altitude, speed, direction, time = _LOCATION.unpack_from(body)
    lat = lat_raw / 1e6 * (-1 if status & STATUS_SOUTH else 1)
    lon = lon_raw / 1e6 * (-1 if status & STATUS_WEST else 1)
    extras: dict[int, bytes] = {}
    if with_extras:
        pos = LOCATION_BASE_LENGTH
        while pos < len(body):
            if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                raise FrameError(
                    f"附加信息项被截断（位置信息第 {pos} 字节）",
                    f"additional information item truncated (location byte {pos})",
                    offset,
                )
            item_id, item_len = body[pos], body[pos + 1]
            extras[item_id] = body[pos + 2 : pos + 2 + item_len]
            pos += 2 + item_len
    return Location(
        alarm=alarm,
        status=status,
        lat=lat,
        lon=lon,
        altitude_m=altitude,
        speed_kmh=speed / 10.0,
        heading=direction,
        time_bcd=time.hex(),
        extras=extras,
    )


def decode_batch(body: bytes, offset: int = 0) -> tuple[int, list[bytes]]:
    """0x0704 body → (type, list of 0x0200 bodies)."""
    if len(body) < 3:
        raise FrameError("批量位置数据过短", "batch location body too short", offset)
    count, kind = struct.unpack_from(">HB", body)
    items: list[bytes] = []
    pos = 3
    for index in range(count):
        if pos + 2 > len(body):
            break
        (length,) = struct.unpack_from(">H", body, pos)
        item = body[pos + 2 : pos + 2 + length]
        if len(item) != length:
            raise FrameError(
                f"批量位置数据第 {index} 项被截断",
                f"batch location item {index} is truncated",
                offset,
            )
        items.append(item)
        pos += 2 + length
    if len(items) != count or pos != len(body):
        raise FrameError(
            f"批量位置数据项数不符：声明 {count} 项，解析出 {len(items)} 项，剩余 {len(body) - pos} 字节",
            f"batch item count mismatch: {count} declared, {len(items)} found, "
            f"{len(body) - pos} bytes left over",
            offset,
        )
    return kind, items


# ---------------------------------------------------------------- encoding (tests, simulators)


def encode_location(
    *,
    lat: float,
    lon: float,
    ts: datetime,
    alarm: int = 0,
    status: int = 0,
    altitude_m: int = 0,
    speed_kmh: float = 0.0,
    heading: int = 0,
    extras: dict[int, bytes] | None = None,
) -> bytes:
    """A 0x0200 body; the south/west status bits follow the signs of ``lat``/``lon``."""
    status &= ~(STATUS_SOUTH | STATUS_WEST)
    status |= (STATUS_SOUTH if lat < 0 else 0) | (STATUS_WEST if lon < 0 else 0)
    time = bytes.fromhex(ts.astimezone(GMT8).strftime("%y%m%d%H%M%S"))
    body = _LOCATION.pack(
        alarm,
        status,
        round(abs(lat) * 1e6),
        round(abs(lon) * 1e6),
        altitude_m,
        round(speed_kmh * 10),
        heading,
        time,
    )
    for item_id, value in (extras or {}).items():
        body += bytes([item_id, len(value)]) + value
    return body


def encode_batch(bodies: list[bytes], kind: int = 0) -> bytes:
    out = struct.pack(">HB", len(bodies), kind)
    for body in bodies:
        out += struct.pack(">H", len(body)) + body
    return out


def encode_frame(
    msg_id: int,
    phone: str,
    body: bytes,
    *,
    version: int = 2013,
    flow: int = 0,
    protocol_version: int = 1,
    packet: tuple[int, int] | None = None,
    encryption: int = 0,
) -> bytes:
    """A complete escaped frame with flags; ``packet`` = (total, number) sets the subpackage bit."""
    if len(body) > MAX_BODY_LENGTH:
        raise ValueError(f"body of {len(body)} bytes exceeds {MAX_BODY_LENGTH}; subpackage it")
    props = len(body) | (encryption << _PROPS_ENCRYPTION_SHIFT)
    if packet is not None:
        props |= _PROPS_SUBPACKAGE
    if version == 2019:
        props |= _PROPS_VERSION_2019
        header = struct.pack(">HHB", msg_id, props, protocol_version) + bytes.fromhex(
            phone.zfill(20)
        )
    elif version == 2013:
        header = struct.pack(">HH", msg_id, props) + bytes.fromhex(phone.zfill(12))
    else:
        raise ValueError(f"unknown JT/T 808 edition {version}")
    header += struct.pack(">H", flow)
    if packet is not None:
        header += struct.pack(">HH", *packet)
    payload = header + body
    return bytes([FLAG]) + escape(payload + bytes([checksum(payload)])) + bytes([FLAG])


# ---------------------------------------------------------------- reader


def terminal_key(phone: str) -> str:
    """Terminal identity without BCD left padding: ``013912344329`` → ``13912344329``."""
    return phone.lstrip("0") or "0"


def read_jt808(
    path: str | Path,
    *,
    terminal_to_plate: dict[str, str] | None = None,
    crs: str = "wgs84",
    source: str | None = None,
) -> ReadResult:
    source = source or str(path)
    data = Path(path).read_bytes()
    if data[:1] != bytes([FLAG]) and _HEX_TEXT.match(data):
        data = bytes.fromhex(re.sub(rb"\s+", b"", data).decode("ascii"))
    plates = (
        {terminal_key(k): plate_key(v) for k, v in terminal_to_plate.items()}
        if terminal_to_plate is not None
        else None
    )
    rows: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
    rejects: list[Reject] = []
    pending: dict[tuple[str, int, int, int], dict[int, Frame]] = {}
    try:
        for frame in iter_frames(data):
            header = frame.header
            if header.msg_id not in (MSG_LOCATION, MSG_BATCH_LOCATION):
                continue
            if header.encryption:
                rejects.append(
                    Reject(
                        "encryption",
                        "消息体已加密，无法解析",
                        "message body is encrypted and cannot be decoded",
                        line=frame.offset,
                        source=source,
                    )
                )
                continue
            if header.packet_total is None or header.packet_seq is None:
                _add_message(rows, rejects, header, frame.body, frame.offset, plates, source)
                continue
            first_flow = (header.flow - header.packet_seq + 1) & 0xFFFF
            key = (header.phone, header.msg_id, header.packet_total, first_flow)
            parts = pending.setdefault(key, {})
            parts[header.packet_seq] = frame
            if len(parts) == header.packet_total:
                del pending[key]
                ordered = [parts[i] for i in sorted(parts)]
                body = b"".join(p.body for p in ordered)
                _add_message(rows, rejects, header, body, ordered[0].offset, plates, source)
    except FrameError as exc:
        raise file_error(source, exc.zh, exc.en, offset=exc.offset) from exc
    for (phone, _, total, _), parts in pending.items():
        first = min(p.offset for p in parts.values())
        rejects.append(
            Reject(
                "subpackage",
                f"终端 {terminal_key(phone)} 的分包消息不完整：收到 {len(parts)}/{total} 包",
                f"incomplete subpackaged message from terminal {terminal_key(phone)}: "
                f"{len(parts)} of {total} packets",
                line=first,
                source=source,
            )
        )
    raw = pl.DataFrame(rows, schema=_SCHEMA)
    result = finish(raw, source, crs=crs, check_plates=plates is not None)
    return result.with_rejects(rejects, len(rejects))


_COLUMNS = (
    "line",
    "sub",
    "plate",
    "ts",
    "lon",
    "lat",
    "speed_kmh",
    "heading",
    "status",
    "alarm",
    "raw",
)
_SCHEMA: dict[str, Any] = {
    "line": pl.Int64,
    "sub": pl.Int64,
    "plate": pl.String,
    "ts": pl.String,
    "lon": pl.Float64,
    "lat": pl.Float64,
    "speed_kmh": pl.Float64,
    "heading": pl.Float64,
    "status": pl.Int64,
    "alarm": pl.Int64,
    "raw": pl.String,
}


def _add_message(
    rows: dict[str, list[Any]],
    rejects: list[Reject],
    header: Header,
    body: bytes,
    offset: int,
    plates: dict[str, str] | None,
    source: str,
) -> None:
    terminal = terminal_key(header.phone)
    if header.msg_id == MSG_LOCATION:
        items: list[tuple[int | None, bytes]] = [(None, body)]
    else:
        _, batch = decode_batch(body, offset)
        items = list(enumerate(batch))
    if plates is not None and terminal not in plates:
        rejects.append(
            Reject(
                "terminal",
                f"终端 {terminal} 不在终端—车牌对照表中",
                f"terminal {terminal} is not in the terminal-to-plate mapping",
                line=offset,
                source=source,
                raw=body.hex(),
            )
        )
        return
    plate = plates[terminal] if plates is not None else terminal
    for sub, item in items:
        loc = decode_location(item, with_extras=False, offset=offset)
        t = loc.time_bcd
        rows["line"].append(offset)
        rows["sub"].append(sub)
        rows["plate"].append(plate)
        rows["ts"].append(f"20{t[0:2]}-{t[2:4]}-{t[4:6]}T{t[6:8]}:{t[8:10]}:{t[10:12]}+08:00")
        rows["lon"].append(loc.lon)
        rows["lat"].append(loc.lat)
        rows["speed_kmh"].append(loc.speed_kmh)
        rows["heading"].append(float(loc.heading))
        rows["status"].append(loc.status)
        rows["alarm"].append(loc.alarm)
        rows["raw"].append(item.hex())
