"""JT/T 808 codec and reader: hand-built frames, published worked examples, broken files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.errors import InputFileError
from cdw.tracking.io import jt808, read_points
from cdw.tracking.points import LOAD_FULL, load_state

# A 2013-edition 0x0200 frame written out byte by byte. The speed (0x7D) and direction (0x7E)
# words and the checksum (0x7E) all need escaping.
HAND_BUILT_2013 = bytes.fromhex(
    "7e"  # start flag
    "0200"  # message id: location report
    "001c"  # body properties: 28-byte body, no subpackage, no encryption, 2013 edition
    "013912345678"  # terminal phone, BCD[6]
    "0043"  # flow number 67
    "00000001"  # alarm: bit 0 emergency
    "00000302"  # status: bit 1 positioned, bits 8-9 = 11 fully loaded
    "0160ef90"  # latitude 23130000 → 23.130000° N
    "06c04580"  # longitude 113264000 → 113.264000° E
    "0015"  # altitude 21 m
    "007d01"  # speed 0x007D = 125 → 12.5 km/h (0x7D escaped as 7D 01)
    "007d02"  # direction 0x007E = 126° (0x7E escaped as 7D 02)
    "240501083000"  # time 2024-05-01 08:30:00 GMT+8
    "7d02"  # checksum 0x7E, escaped
    "7e"  # end flag
)

# Published worked examples.
# Huabao Telematics, "JT808 common message parsing of GPS electronic lock" (2022),
# https://huabaotelematics.com/blog/jt808-common-message-parsing-of-gps-electronic-lock-huabaotelematics-com_b9
# 2013 edition, 0x0200 with additional information items (mileage, signal, lock data).
HUABAO_0200 = bytes.fromhex(
    "7E 02 00 00 52 00 20 02 60 43 23 00 A4 00 02 00 00 00 0C 00 02 01 58 B9 1B 06 CB 70 61 00 46"
    " 00 00 00 59 21 09 22 16 37 58 01 04 00 00 00 01 03 02 00 00 25 04 00 00 00 01 30 01 11 31"
    " 01 10 E3 01 00 D5 1B 02 20 02 60 43 23 27 95 93 78 61 60 00 12 20 00 00 12 34 27 95 93 78"
    " 61 58 00 12 86 7E"
)
# hylexus/xtream-codec, debug UI sample messages
# (debug/jt/jt-808-server-spring-boot-starter-debug-ui/src/utils/codec-utils.ts): 2019 edition.
XTREAM_0200_2019 = bytes.fromhex(
    "7e02004026010000000001391234432900000000006f0000001601dc9a0707456246007b00420003250129"
    "2233440202006401040000000c417e"
)
XTREAM_0704_2019 = bytes.fromhex(
    "7e0704403f01000000000139123443290000000200001c000000010000000101d907f2073d336c029a0021"
    "0059241029213903001c000000010000000101d907f3073d336d03090043005a241029213903f87e"
)


def write(tmp_path: Path, data: bytes, name: str = "capture.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ escaping and checksum


def test_escape_examples() -> None:
    assert jt808.escape(bytes.fromhex("307e087d55")) == bytes.fromhex("307d02087d0155")
    assert jt808.unescape(bytes.fromhex("307d02087d0155")) == bytes.fromhex("307e087d55")
    # 7D 01 02 is an escaped 7D followed by a literal 02, not 7E
    assert jt808.unescape(bytes.fromhex("7d0102")) == bytes.fromhex("7d02")


@given(st.binary(max_size=200))
@settings(max_examples=200)
def test_escape_round_trip(data: bytes) -> None:
    escaped = jt808.escape(data)
    assert 0x7E not in escaped
    assert jt808.unescape(escaped) == data


def test_bad_escape_is_an_error() -> None:
    with pytest.raises(jt808.FrameError, match="bad escape"):
        jt808.unescape(bytes.fromhex("017d03"))


def test_checksum_is_xor() -> None:
    assert jt808.checksum(bytes.fromhex("0102040810")) == 0x1F
    assert jt808.checksum(b"") == 0


# ------------------------------------------------------------------ decoding


def test_hand_built_2013_frame() -> None:
    (frame,) = list(jt808.iter_frames(HAND_BUILT_2013))
    h = frame.header
    assert (h.msg_id, h.version, h.protocol_version, h.phone, h.flow) == (
        0x0200,
        2013,
        None,
        "013912345678",
        67,
    )
    assert (h.body_length, h.encryption, h.packet_total, h.packet_seq) == (28, 0, None, None)
    loc = jt808.decode_location(frame.body)
    assert loc.alarm == 1
    assert loc.status == 0x302
    assert loc.load_state == LOAD_FULL
    assert (loc.lat, loc.lon) == (23.13, 113.264)
    assert (loc.altitude_m, loc.speed_kmh, loc.heading) == (21, 12.5, 126)
    assert loc.ts == datetime(2024, 5, 1, 0, 30, tzinfo=UTC)
    assert loc.extras == {}


def test_encoder_reproduces_hand_built_frame() -> None:
    body = jt808.encode_location(
        lat=23.13,
        lon=113.264,
        ts=datetime(2024, 5, 1, 0, 30, tzinfo=UTC),
        alarm=1,
        status=0x302,
        altitude_m=21,
        speed_kmh=12.5,
        heading=126,
    )
    assert jt808.encode_frame(0x0200, "13912345678", body, flow=67) == HAND_BUILT_2013


def test_published_2013_example_with_additional_items() -> None:
    (frame,) = list(jt808.iter_frames(HUABAO_0200))
    assert frame.header.phone == "002002604323"
    assert frame.header.flow == 0xA4
    assert frame.header.version == 2013
    loc = jt808.decode_location(frame.body)
    assert loc.alarm == 0x00020000
    assert loc.status == 0x000C0002
    assert load_state(loc.status) == 0
    assert (loc.lat, loc.lon) == (22.591771, 113.995873)
    assert (loc.altitude_m, loc.speed_kmh, loc.heading) == (70, 0.0, 89)
    assert loc.ts == datetime(2021, 9, 22, 8, 37, 58, tzinfo=UTC)
    assert loc.extras[0x01] == bytes.fromhex("00000001")  # mileage
    assert loc.extras[0x30] == bytes.fromhex("11")  # network signal
    assert loc.extras[0x31] == bytes.fromhex("10")  # GNSS satellites
    assert len(loc.extras[0xD5]) == 0x1B  # vendor lock data, kept as bytes
    assert list(loc.extras) == [0x01, 0x03, 0x25, 0x30, 0x31, 0xE3, 0xD5]


def test_published_2019_location_report() -> None:
    (frame,) = list(jt808.iter_frames(XTREAM_0200_2019))
    h = frame.header
    assert (h.version, h.protocol_version, h.phone, h.body_length) == (
        2019,
        1,
        "00000000013912344329",
        38,
    )
    loc = jt808.decode_location(frame.body)
    assert (loc.alarm, loc.status) == (111, 22)
    # status 22 = 0b10110: bit 2 is set, so the latitude is south
    assert (loc.lat, loc.lon) == (-31.234567, 121.987654)
    assert (loc.altitude_m, loc.speed_kmh, loc.heading) == (123, 6.6, 3)
    assert loc.ts == datetime(2025, 1, 29, 14, 33, 44, tzinfo=UTC)
    assert loc.extras == {0x01: bytes.fromhex("0000000c"), 0x02: bytes.fromhex("0064")}


def test_published_2019_batch_upload() -> None:
    (frame,) = list(jt808.iter_frames(XTREAM_0704_2019))
    assert frame.header.msg_id == 0x0704
    kind, items = jt808.decode_batch(frame.body)
    assert kind == 0
    locs = [jt808.decode_location(i) for i in items]
    assert [(x.lat, x.lon, x.altitude_m, x.speed_kmh, x.heading) for x in locs] == [
        (31.000562, 121.451372, 666, 3.3, 89),
        (31.000563, 121.451373, 777, 6.7, 90),
    ]
    assert all(x.ts == datetime(2024, 10, 29, 13, 39, 3, tzinfo=UTC) for x in locs)


def test_2019_header_built_by_encoder() -> None:
    body = jt808.encode_location(lat=1.0, lon=2.0, ts=datetime(2024, 1, 1, tzinfo=UTC))
    frame_bytes = jt808.encode_frame(
        0x0200, "12345678901234567890", body, version=2019, protocol_version=2
    )
    # 7E, id, properties with bit 14 set, protocol version, 10-byte BCD phone
    assert frame_bytes[:16].hex() == "7e0200401c" + "02" + "12345678901234567890"
    (frame,) = list(jt808.iter_frames(frame_bytes))
    assert (frame.header.version, frame.header.protocol_version) == (2019, 2)
    assert frame.header.phone == "12345678901234567890"


@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    seconds=st.integers(946_684_800 - 8 * 3600, 4_102_444_799 - 8 * 3600),
    status=st.integers(0, 2**32 - 1),
    alarm=st.integers(0, 2**32 - 1),
    speed=st.integers(0, 65535),
    heading=st.integers(0, 359),
    version=st.sampled_from([2013, 2019]),
)
@settings(max_examples=100)
def test_encode_decode_round_trip(
    lat: float,
    lon: float,
    seconds: int,
    status: int,
    alarm: int,
    speed: int,
    heading: int,
    version: int,
) -> None:
    ts = datetime.fromtimestamp(seconds, UTC)
    body = jt808.encode_location(
        lat=lat, lon=lon, ts=ts, status=status, alarm=alarm, speed_kmh=speed / 10, heading=heading
    )
    (frame,) = list(
        jt808.iter_frames(jt808.encode_frame(0x0200, "13912345678", body, version=version))
    )
    loc = jt808.decode_location(frame.body)
    assert abs(loc.lat - lat) <= 5e-7 and abs(loc.lon - lon) <= 5e-7
    assert loc.ts == ts
    assert loc.alarm == alarm
    # bits 2 and 3 follow the hemisphere; every other bit is kept
    hemisphere = jt808.STATUS_SOUTH | jt808.STATUS_WEST
    assert loc.status & ~hemisphere == status & ~hemisphere
    assert (loc.speed_kmh, loc.heading) == (speed / 10, heading)


# ------------------------------------------------------------------ reader


def test_reader_keeps_status_and_alarm(tmp_path: Path) -> None:
    result = read_points(write(tmp_path, HAND_BUILT_2013))
    assert result.rejects == []
    row = result.points.row(0, named=True)
    assert row["vehicle"] == "13912345678"
    assert row["ts"] == datetime(2024, 5, 1, 0, 30, tzinfo=UTC)
    assert (row["lon"], row["lat"], row["speed_kmh"], row["heading"]) == (113.264, 23.13, 12.5, 126)
    assert (row["status"], row["alarm"]) == (0x302, 1)
    assert load_state(row["status"]) == LOAD_FULL


def test_reader_maps_terminals_to_plates(tmp_path: Path) -> None:
    path = write(tmp_path, HUABAO_0200 + XTREAM_0704_2019)
    # Keys may be given with or without the BCD left padding; plates are normalised.
    mapping = {"002002604323": "粤B·12345", "13912344329": "粤a12345d"}
    result = read_points(path, terminal_to_plate=mapping)
    assert result.rejects == []
    assert result.points["vehicle"].to_list() == ["粤B12345", "粤A12345D", "粤A12345D"]
    assert result.points["speed_kmh"].to_list() == pytest.approx([0.0, 3.3, 6.7])


def test_reader_rejects_unmapped_terminal_and_bad_plate(tmp_path: Path) -> None:
    path = write(tmp_path, HUABAO_0200 + XTREAM_0200_2019)
    result = read_points(path, terminal_to_plate={"13912344329": "粤A1234"})
    assert [(r.line, r.field) for r in result.rejects] == [
        (0, "terminal"),
        (len(HUABAO_0200), "plate"),
    ]
    assert "2002604323" in result.rejects[0].en
    assert result.points.height == 0
    assert result.rejected_rows == 2


def test_reader_rejects_bad_values_by_frame_offset(tmp_path: Path) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    good = jt808.encode_frame(0x0200, "1", jt808.encode_location(lat=23.0, lon=113.0, ts=ts))
    bad_time = bytearray(jt808.encode_location(lat=23.0, lon=113.0, ts=ts))
    bad_time[22:28] = bytes.fromhex("241301000000")  # month 13
    bad_lat = jt808.encode_location(lat=91.5, lon=113.0, ts=ts)
    data = (
        good
        + jt808.encode_frame(0x0200, "1", bytes(bad_time))
        + jt808.encode_frame(0x0200, "1", bad_lat)
    )
    result = read_points(write(tmp_path, data))
    assert [(r.line, r.field) for r in result.rejects] == [
        (len(good), "ts"),
        (2 * len(good), "lat"),
    ]
    assert "241301000000" not in result.rejects[0].en  # shown as a readable time
    assert "2024-13-01T00:00:00+08:00" in result.rejects[0].en
    assert result.points.height == 1


def test_reader_skips_messages_without_position(tmp_path: Path) -> None:
    heartbeat = jt808.encode_frame(0x0002, "13912345678", b"")
    result = read_points(write(tmp_path, heartbeat + HAND_BUILT_2013 + heartbeat))
    assert result.points.height == 1
    assert result.rejects == []


def test_reader_accepts_hex_text(tmp_path: Path) -> None:
    text = HUABAO_0200.hex(" ").upper() + "\n" + HAND_BUILT_2013.hex() + "\n"
    result = read_points(write(tmp_path, text.encode(), "capture.hex"))
    assert result.points["vehicle"].to_list() == ["2002604323", "13912345678"]


def test_subpackaged_batch_is_reassembled(tmp_path: Path) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    items = [
        jt808.encode_location(lat=23.0 + i / 1000, lon=113.0, ts=ts.replace(minute=i))
        for i in range(3)
    ]
    body = jt808.encode_batch(items, kind=1)
    first, second = body[:40], body[40:]
    frames = jt808.encode_frame(0x0704, "1", first, flow=10, packet=(2, 1)) + jt808.encode_frame(
        0x0704, "1", second, flow=11, packet=(2, 2)
    )
    parsed = list(jt808.iter_frames(frames))
    assert [(f.header.packet_total, f.header.packet_seq) for f in parsed] == [(2, 1), (2, 2)]
    result = read_points(write(tmp_path, frames))
    assert result.rejects == []
    assert result.points["lat"].to_list() == [23.0, 23.001, 23.002]
    assert result.points["ts"].dt.minute().to_list() == [0, 1, 2]


def test_incomplete_subpackage_is_rejected(tmp_path: Path) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    body = jt808.encode_batch([jt808.encode_location(lat=23.0, lon=113.0, ts=ts)] * 2)
    only_first = jt808.encode_frame(0x0704, "1", body[:30], flow=5, packet=(2, 1))
    result = read_points(write(tmp_path, HAND_BUILT_2013 + only_first))
    assert [(r.line, r.field) for r in result.rejects] == [(len(HAND_BUILT_2013), "subpackage")]
    assert "1 of 2 packets" in result.rejects[0].en
    assert result.points.height == 1


# ------------------------------------------------------------------ broken files


def test_bad_checksum_names_offset(tmp_path: Path) -> None:
    broken = bytearray(HUABAO_0200)
    broken[-2] ^= 0x01
    path = write(tmp_path, HAND_BUILT_2013 + bytes(broken))
    with pytest.raises(InputFileError) as err:
        read_points(path)
    assert err.value.extra["offset"] == len(HAND_BUILT_2013)
    assert "bad checksum: expected 0x86, found 0x87" in err.value.en
    assert "校验码错误" in err.value.zh
    assert str(path) in err.value.en


def test_truncated_frame_names_offset(tmp_path: Path) -> None:
    path = write(tmp_path, HAND_BUILT_2013 + HUABAO_0200[:40])
    with pytest.raises(InputFileError) as err:
        read_points(path)
    assert err.value.extra["offset"] == len(HAND_BUILT_2013)
    assert "truncated frame" in err.value.en
    assert "帧不完整" in err.value.zh


def test_frame_cut_short_before_next_frame(tmp_path: Path) -> None:
    cut = HUABAO_0200[:40]  # no closing flag: the next frame's opening flag closes it
    path = write(tmp_path, cut + HAND_BUILT_2013)
    with pytest.raises(InputFileError) as err:
        read_points(path)
    assert err.value.extra["offset"] == 0


def test_garbage_between_frames(tmp_path: Path) -> None:
    path = write(tmp_path, HAND_BUILT_2013 + b"\x00\x01" + HAND_BUILT_2013)
    with pytest.raises(InputFileError) as err:
        read_points(path)
    assert err.value.extra["offset"] == len(HAND_BUILT_2013)
    assert "expected frame start flag 0x7E, found 0x00" in err.value.en


def test_body_length_mismatch(tmp_path: Path) -> None:
    payload = bytes.fromhex("0200001d" + "013912345678" + "0001") + bytes(28)
    frame = b"\x7e" + jt808.escape(payload + bytes([jt808.checksum(payload)])) + b"\x7e"
    with pytest.raises(InputFileError, match="header says 29 bytes, frame has 28"):
        read_points(write(tmp_path, frame))


# ------------------------------------------------------------------ read in chunks


def test_capture_read_in_small_blocks_and_chunks_equals_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    escaped = jt808.encode_location(lat=23.126, lon=113.126, ts=ts)  # 0x7E in the body
    body = jt808.encode_batch([jt808.encode_location(lat=23.0, lon=113.0, ts=ts)] * 3)
    data = (
        HAND_BUILT_2013
        + jt808.encode_frame(0x0704, "1", body[:30], flow=5, packet=(2, 1))
        + jt808.encode_frame(0x0200, "7", escaped)
        + b"\x7e"  # 7E 7E: an empty gap
        + jt808.encode_frame(0x0704, "1", body[30:], flow=6, packet=(2, 2))
        + jt808.encode_frame(0x0704, "2", body[:30], flow=9, packet=(2, 1))  # never completed
        + XTREAM_0704_2019
    )
    whole = read_points(write(tmp_path, data))
    hex_text = write(tmp_path, data.hex(" ", 3).encode() + b"\n", "capture.hex")
    monkeypatch.setattr(jt808, "_READ_BYTES", 7)  # frames and hex pairs cut across blocks
    for path in (tmp_path / "capture.bin", hex_text):
        for chunk_rows in (1, 2, 10**6):
            chunked = read_points(path, chunk_rows=chunk_rows)
            assert chunked.points.equals(whole.points)
            assert [(r.line, r.field, r.en, r.raw) for r in chunked.rejects] == [
                (r.line, r.field, r.en, r.raw) for r in whole.rejects
            ]
    assert [r.field for r in whole.rejects] == ["subpackage"]
    assert whole.points.height == 1 + 3 + 1 + 2


def test_truncated_capture_in_small_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jt808, "_READ_BYTES", 5)
    path = write(tmp_path, HAND_BUILT_2013 + HUABAO_0200[:-3])
    with pytest.raises(InputFileError, match="truncated frame") as err:
        read_points(path)
    assert err.value.extra["offset"] == len(HAND_BUILT_2013)
    odd = write(tmp_path, HAND_BUILT_2013.hex().encode() + b"a", "odd.hex")
    with pytest.raises(InputFileError, match="invalid hex text"):
        read_points(odd)


@settings(max_examples=50, deadline=None)
@given(
    heads=st.lists(
        st.tuples(
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**16 - 1),
            st.integers(0, 2**16 - 1),
            st.integers(0, 2**16 - 1),
            st.binary(min_size=6, max_size=6),
        ),
        max_size=6,
    ),
    extra=st.binary(max_size=8),
)
def test_location_heads_decoded_at_once_match_decode_location(
    heads: list[tuple[int, int, int, int, int, int, int, bytes]], extra: bytes
) -> None:
    bodies = [jt808._LOCATION.pack(*head) + extra for head in heads]
    rows = {
        "line": list(range(len(bodies))),
        "sub": [None] * len(bodies),
        "plate": ["1"] * len(bodies),
        "raw": bodies,
    }
    frame = jt808._location_rows(rows)
    expected = []
    for body in bodies:
        loc = jt808.decode_location(body, with_extras=False)
        t = loc.time_bcd
        expected.append(
            (
                f"20{t[0:2]}-{t[2:4]}-{t[4:6]}T{t[6:8]}:{t[8:10]}:{t[10:12]}+08:00",
                loc.lon,
                loc.lat,
                loc.speed_kmh,
                float(loc.heading),
                loc.status,
                loc.alarm,
                body,
            )
        )
    columns = ["ts", "lon", "lat", "speed_kmh", "heading", "status", "alarm", "raw"]
    assert frame.select(columns).rows() == expected
