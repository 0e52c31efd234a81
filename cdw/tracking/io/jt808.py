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
from typing import Any, BinaryIO

import numpy as np
import polars as pl

from cdw.registry.validators.plates import plate_key
from cdw.tracking.io.raw_rows import (
    DEFAULT_CHUNK_ROWS,
    PlateCache,
    ReadResult,
    Reject,
    check_crs,
    concat_results,
    file_error,
    finish,
)

FLAG = 0x7E
ESCAPE = 0x7D
MSG_TERMINAL_REPLY = 0x0001
MSG_HEARTBEAT = 0x0002
MSG_LOGOUT = 0x0003
MSG_REGISTER = 0x0100
MSG_AUTHENTICATE = 0x0102
MSG_LOCATION = 0x0200
MSG_BATCH_LOCATION = 0x0704
MSG_PLATFORM_REPLY = 0x8001
MSG_REGISTER_REPLY = 0x8100
# Platform general reply 0x8001 results.
RESULT_OK, RESULT_FAILURE, RESULT_BAD_MESSAGE, RESULT_UNSUPPORTED = 0, 1, 2, 3
# Registration reply 0x8100 results.
REGISTER_OK = 0
REGISTER_VEHICLE_TAKEN = 1
REGISTER_NO_VEHICLE = 2
REGISTER_TERMINAL_TAKEN = 3
REGISTER_NO_TERMINAL = 4
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3
GMT8 = timezone(timedelta(hours=8))
MAX_BODY_LENGTH = 0x3FF
LOCATION_BASE_LENGTH = 28

_PROPS_ENCRYPTION_SHIFT = 10
_PROPS_SUBPACKAGE = 1 << 13
_PROPS_VERSION_2019 = 1 << 14
_HEX_TEXT = re.compile(rb"^[0-9A-Fa-f\s]+$")
_READ_BYTES = 1 << 20
_LOCATION = struct.Struct(">IIIIHHH6s")
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_LOCATION_HEAD = np.dtype(
    [
        ("alarm", ">u4"),
        ("status", ">u4"),
        ("lat", ">u4"),
        ("lon", ">u4"),
        ("altitude", ">u2"),
        ("speed", ">u2"),
        ("direction", ">u2"),
        ("time", "S6"),
    ]
)


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
        t = self.time_bcd
        if len(t) != 12 or not t.isdigit():
            raise ValueError(f"time is not BCD: {t}")
        local = datetime(
            2000 + int(t[0:2]),
            int(t[2:4]),
            int(t[4:6]),
            int(t[6:8]),
            int(t[8:10]),
            int(t[10:12]),
            tzinfo=GMT8,
        )
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


class FrameSplitter:
    """Frames out of a byte stream fed in arbitrary chunks (a TCP connection).

    Every 0x7E is a boundary; the bytes between two flags are one frame's escaped content
    (empty content, ``7E 7E``, is skipped). Bytes before a first flag, or content longer
    than ``max_content`` (a lost closing flag), come out as garbage so that the caller can
    log it; the splitter then resynchronises on the next flag.
    """

    def __init__(self, max_content: int = 2 * (17 + 4 + MAX_BODY_LENGTH + 1) + 16):
        self.max_content = max_content
        self._buffer = bytearray()
        self._open = False  # an opening flag was seen and its content is in the buffer

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[bool, bytes]]:
        """``(is_frame, content)`` in stream order; ``is_frame`` False: garbage bytes."""
        out: list[tuple[bool, bytes]] = []
        start = 0
        while True:
            end = data.find(b"\x7e", start)
            if end == -1:
                self._buffer += data[start:]
                if len(self._buffer) > self.max_content:
                    out.append((False, bytes(self._buffer)))
                    self._buffer.clear()
                    self._open = False
                return out
            self._buffer += data[start:end]
            if self._buffer:
                too_long = len(self._buffer) > self.max_content
                out.append((self._open and not too_long, bytes(self._buffer)))
                self._buffer.clear()
            self._open = True
            start = end + 1


def peek_header(content: bytes) -> Header | None:
    """The header of a frame that failed to decode, when enough of it is readable (to answer
    it with "message wrong"); None otherwise."""
    payload = content.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
    if len(payload) < 12:
        return None
    msg_id, props = struct.unpack_from(">HH", payload, 0)
    is_2019 = bool(props & _PROPS_VERSION_2019)
    if is_2019 and len(payload) < 17:
        return None
    phone = bcd_digits(payload[5:15] if is_2019 else payload[4:10])
    if not phone.isdigit():
        return None
    (flow,) = struct.unpack_from(">H", payload, 15 if is_2019 else 10)
    return Header(
        msg_id=msg_id,
        body_length=props & MAX_BODY_LENGTH,
        encryption=(props >> _PROPS_ENCRYPTION_SHIFT) & 0b111,
        version=2019 if is_2019 else 2013,
        protocol_version=payload[4] if is_2019 else None,
        phone=phone,
        flow=flow,
    )


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


def encode_general_reply(flow: int, msg_id: int, result: int) -> bytes:
    """Body of 0x8001 (platform) or 0x0001 (terminal) general reply: the answered message's
    flow number and id, and the result."""
    return struct.pack(">HHB", flow, msg_id, result)


def decode_general_reply(body: bytes) -> tuple[int, int, int]:
    """0x8001 / 0x0001 body → (flow number answered, message id answered, result)."""
    if len(body) != 5:
        raise FrameError("通用应答长度应为 5 字节", "a general reply body is 5 bytes")
    return struct.unpack(">HHB", body)


def encode_register_reply(flow: int, result: int, auth_code: str = "") -> bytes:
    """Body of 0x8100: the registration's flow number, the result and (on success only) the
    authentication code (GBK string)."""
    body = struct.pack(">HB", flow, result)
    return body + auth_code.encode("gbk") if result == REGISTER_OK else body


def decode_register_reply(body: bytes) -> tuple[int, int, str]:
    if len(body) < 3:
        raise FrameError("注册应答过短", "registration reply too short")
    flow, result = struct.unpack_from(">HB", body)
    return flow, result, body[3:].decode("gbk")


# Registration 0x0100: province WORD, city WORD, maker, model and terminal id (fixed-width
# BYTE fields, 5/20/7 in 2013 and 11/30/30 in 2019, right-padded with 0x00), plate colour
# BYTE, plate STRING (GBK).
_REGISTER_WIDTHS = {2013: (5, 20, 7), 2019: (11, 30, 30)}


@dataclass(frozen=True, slots=True)
class Registration:
    province: int
    city: int
    maker: str
    model: str
    terminal_id: str
    plate_colour: int
    plate: str


def _fixed(text: str, width: int) -> bytes:
    raw = text.encode("ascii")[:width]
    return raw + b"\x00" * (width - len(raw))


def _unfixed(raw: bytes) -> str:
    return raw.rstrip(b"\x00 ").decode("ascii", errors="replace")


def encode_registration(reg: Registration, version: int = 2013) -> bytes:
    maker_w, model_w, id_w = _REGISTER_WIDTHS[version]
    return (
        struct.pack(">HH", reg.province, reg.city)
        + _fixed(reg.maker, maker_w)
        + _fixed(reg.model, model_w)
        + _fixed(reg.terminal_id, id_w)
        + bytes([reg.plate_colour])
        + reg.plate.encode("gbk")
    )


def decode_registration(body: bytes, version: int = 2013) -> Registration:
    maker_w, model_w, id_w = _REGISTER_WIDTHS[version]
    fixed = 4 + maker_w + model_w + id_w + 1
    if len(body) < fixed:
        raise FrameError(
            f"注册消息过短：{len(body)} 字节，至少 {fixed} 字节",
            f"registration body too short: {len(body)} bytes, need {fixed}",
        )
    province, city = struct.unpack_from(">HH", body)
    pos = 4
    maker = _unfixed(body[pos : pos + maker_w])
    pos += maker_w
    model = _unfixed(body[pos : pos + model_w])
    pos += model_w
    terminal_id = _unfixed(body[pos : pos + id_w])
    pos += id_w
    try:
        plate = body[pos + 1 :].decode("gbk").strip("\x00 ")
    except UnicodeDecodeError as exc:
        raise FrameError("车牌不是 GBK 编码", "plate is not GBK text") from exc
    return Registration(province, city, maker, model, terminal_id, body[pos], plate)


# Authentication 0x0102: 2013 the code (the whole body); 2019 its length BYTE, the code,
# IMEI BYTE[15] and software version BYTE[20].
def encode_authentication(
    code: str, version: int = 2013, *, imei: str = "", software: str = ""
) -> bytes:
    raw = code.encode("gbk")
    if version == 2013:
        return raw
    return bytes([len(raw)]) + raw + _fixed(imei, 15) + _fixed(software, 20)


def decode_authentication(body: bytes, version: int = 2013) -> str:
    """The authentication code of a 0x0102 body."""
    try:
        if version == 2013:
            return body.decode("gbk")
        if not body or len(body) < 1 + body[0]:
            raise FrameError("鉴权消息过短", "authentication body too short")
        return body[1 : 1 + body[0]].decode("gbk")
    except UnicodeDecodeError as exc:
        raise FrameError("鉴权码不是 GBK 编码", "authentication code is not GBK text") from exc


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
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ReadResult:
    return concat_results(
        iter_jt808(
            path, terminal_to_plate=terminal_to_plate, crs=crs, source=source, chunk_rows=chunk_rows
        )
    )


def iter_jt808(
    path: str | Path,
    *,
    terminal_to_plate: dict[str, str] | None = None,
    crs: str = "wgs84",
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[ReadResult]:
    """The capture read incrementally: one result per ``chunk_rows`` points or so, in the
    order their messages complete (a subpackaged message when its last packet arrives; an
    incomplete one is rejected in the last result)."""
    source = source or str(path)
    crs = check_crs(crs)
    plates = (
        {terminal_key(k): plate_key(v) for k, v in terminal_to_plate.items()}
        if terminal_to_plate is not None
        else None
    )
    plates_seen: PlateCache = {}
    rows: dict[str, list[Any]] = {c: [] for c in ("line", "sub", "plate", "raw")}
    rejects: list[Reject] = []
    pending: dict[tuple[str, int, int, int], dict[int, Frame]] = {}

    def chunk() -> ReadResult:
        raw = _location_rows(rows)
        result = finish(
            raw, source, crs=crs, check_plates=plates is not None, plates_seen=plates_seen
        )
        result = result.with_rejects(list(rejects), len(rejects))
        for values in rows.values():
            values.clear()
        rejects.clear()
        return result

    with open(path, "rb") as handle:
        try:
            for frame in _stream_frames(_capture_bytes(handle, source)):
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
                else:
                    first_flow = (header.flow - header.packet_seq + 1) & 0xFFFF
                    key = (header.phone, header.msg_id, header.packet_total, first_flow)
                    parts = pending.setdefault(key, {})
                    parts[header.packet_seq] = frame
                    if len(parts) == header.packet_total:
                        del pending[key]
                        ordered = [parts[i] for i in sorted(parts)]
                        body = b"".join(p.body for p in ordered)
                        _add_message(rows, rejects, header, body, ordered[0].offset, plates, source)
                if len(rows["line"]) >= chunk_rows:
                    yield chunk()
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
    if rows["line"] or rejects:
        yield chunk()


def _capture_bytes(handle: BinaryIO, source: str) -> Iterator[bytes]:
    """The capture's bytes in blocks; hex text (decided by the first block) decoded."""
    data = handle.read(_READ_BYTES)
    if data[:1] == bytes([FLAG]) or not _HEX_TEXT.match(data):
        while data:
            yield data
            data = handle.read(_READ_BYTES)
        return
    odd = b""  # a hex digit whose pair is in the next block
    while data:
        if not _HEX_TEXT.match(data):
            raise _bad_hex(source)
        digits = odd + re.sub(rb"\s+", b"", data)
        digits, odd = (digits[:-1], digits[-1:]) if len(digits) % 2 else (digits, b"")
        yield bytes.fromhex(digits.decode("ascii"))
        data = handle.read(_READ_BYTES)
    if odd:
        raise _bad_hex(source)


def _bad_hex(source: str) -> Exception:
    return file_error(
        source,
        "十六进制文本无效（长度为奇数或含非十六进制字符）",
        "invalid hex text (odd length or a non-hex character)",
    )


def _stream_frames(blocks: Iterator[bytes]) -> Iterator[Frame]:
    """:func:`iter_frames` over bytes arriving in blocks (offsets count from the first)."""
    buffer, base = b"", 0  # base: offset of buffer[0]
    for block in blocks:
        buffer += block
        pos, n = 0, len(buffer)
        while pos < n:
            if buffer[pos] != FLAG:
                raise FrameError(
                    f"此处应为帧起始标志 0x7E，实为 0x{buffer[pos]:02X}",
                    f"expected frame start flag 0x7E, found 0x{buffer[pos]:02X}",
                    base + pos,
                )
            end = buffer.find(FLAG, pos + 1)
            if end == -1:  # the frame goes on in the next block
                break
            if end == pos + 1:  # 7E 7E: the second flag opens the next frame
                pos = end
                continue
            yield decode_frame(buffer[pos + 1 : end], base + pos)
            pos = end + 1
        buffer, base = buffer[pos:], base + pos
    if buffer:
        raise FrameError(
            "帧不完整：缺少结束标志 0x7E（文件被截断？）",
            "truncated frame: no closing 0x7E flag (file cut short?)",
            base,
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
    "raw": pl.Binary,  # the location body; rejects show it as hex
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
        if len(item) < LOCATION_BASE_LENGTH:
            raise FrameError(
                f"位置信息过短：{len(item)} 字节，至少 {LOCATION_BASE_LENGTH} 字节",
                f"location body too short: {len(item)} bytes, need {LOCATION_BASE_LENGTH}",
                offset,
            )
        rows["line"].append(offset)
        rows["sub"].append(sub)
        rows["plate"].append(plate)
        rows["raw"].append(item)


def _location_rows(rows: dict[str, list[Any]]) -> pl.DataFrame:
    """The raw frame of the collected location bodies, their fixed 28-byte head decoded at
    once (as :func:`decode_location` does one by one, additional items left out); the BCD
    time stays text, ``YYYY-MM-DDThh:mm:ss+08:00``, for :func:`finish` to check."""
    items: list[bytes] = rows["raw"]
    head = np.frombuffer(
        b"".join(item[:LOCATION_BASE_LENGTH] for item in items), dtype=_LOCATION_HEAD
    )
    south = np.where(head["status"] & STATUS_SOUTH, -1, 1)
    west = np.where(head["status"] & STATUS_WEST, -1, 1)
    time = np.frombuffer(head["time"].tobytes(), dtype=np.uint8).reshape(-1, 6)
    text = np.frombuffer(b"20YY-MM-DDThh:mm:ss+08:00" * len(items), dtype=np.uint8).reshape(-1, 25)
    text = text.copy()
    for k, column in enumerate((2, 5, 8, 11, 14, 17)):  # BCD digits as hex, like bytes.hex()
        text[:, column] = _HEX_DIGITS[time[:, k] >> 4]
        text[:, column + 1] = _HEX_DIGITS[time[:, k] & 0x0F]
    ts = pl.Series(text.reshape(-1).view("S25"), dtype=pl.Binary).cast(pl.String)
    return pl.DataFrame(
        {
            "line": rows["line"],
            "sub": rows["sub"],
            "plate": rows["plate"],
            "ts": ts,
            "lon": head["lon"] / 1e6 * west,
            "lat": head["lat"] / 1e6 * south,
            "speed_kmh": head["speed"] / 10.0,
            "heading": head["direction"].astype(np.float64),
            "status": head["status"].astype(np.int64),
            "alarm": head["alarm"].astype(np.int64),
            "raw": pl.Series(items, dtype=pl.Binary),
        },
        schema=_SCHEMA,
    )
