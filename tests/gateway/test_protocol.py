"""The gateway over TCP, with every terminal frame written out byte by byte and every reply
compared with the bytes the protocol prescribes (both editions, escapes, subpackages, a
blind-area batch); refusals; malformed frames mid-session; idle timeout."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import polars as pl

from cdw.gateway.status import GatewayStatus, StatusServer
from cdw.gateway.terminals import auth_code
from tests.gateway.helpers import (
    PHONE,
    PLATE,
    SECRET,
    Terminal,
    framed,
    running_gateway,
)

H = bytes.fromhex
PHONE_BCD = H("01 39 12 34 43 29")  # 2013 header: BCD[6]
PHONE_BCD_2019 = H("00 00 00 00 01 39 12 34 43 29")  # 2019 header: BCD[10]
UNKNOWN_BCD = H("01 99 99 99 99 99")
CODE = auth_code(SECRET, PHONE)

# Registration body, 2013: province, city, maker[5], model[20], terminal id[7], colour, plate.
REGISTER_2013 = (
    H("00 2C 01 00")
    + b"CDWTS"
    + b"M1" + bytes(18)
    + b"T000001"
    + H("02")
    + H("D4 C1") + b"A12345"  # 粤A12345 in GBK
)  # fmt: skip
# 2019: maker[11], model[30], terminal id[30].
REGISTER_2019 = (
    H("00 2C 01 00")
    + b"CDWTS" + bytes(6)
    + b"M1" + bytes(28)
    + b"T000001" + bytes(23)
    + H("02")
    + H("D4 C1") + b"A12345"
)  # fmt: skip

# Location 0x0200 body: alarm, status (bit 1 fixed, bits 8-9 full load), lat 23.123456,
# lon 113.345678, altitude 12 m, speed 0x007E (12.6 km/h: escaped on the wire), heading
# 0x007D (125°: escaped too), time 2026-12-06 08:30:00 GMT+8.
LOCATION = (
    H("00 00 00 00")
    + H("00 00 03 02")
    + H("01 60 D6 00")
    + H("06 C1 84 8E")
    + H("00 0C")
    + H("00 7E")
    + H("00 7D")
    + H("26 12 06 08 30 00")
)  # fmt: skip
# Blind-area fixes: 2026-12-05 23:59:50 and 2026-12-06 00:00:10 GMT+8 (both on 5 December
# in UTC, on two local days).
BLIND_1 = H("00000000 00000002 015EC386 06C33695 0000 0000 0000 261205235950")
BLIND_2 = H("00000000 00000002 015EF3C1 06BC3E42 0000 0000 0000 261206000010")


def head_2013(msg: str, length: int, flow: int, phone: bytes = PHONE_BCD, sub: int = 0) -> bytes:
    return H(msg) + (sub | length).to_bytes(2, "big") + phone + flow.to_bytes(2, "big")


def head_2019(msg: str, length: int, flow: int) -> bytes:
    return (
        H(msg) + (0x4000 | length).to_bytes(2, "big") + H("01") + PHONE_BCD_2019
        + flow.to_bytes(2, "big")
    )  # fmt: skip


def reply_2013(platform_flow: int, flow: int, msg: str, result: int, phone=PHONE_BCD) -> bytes:
    return framed(
        H("80 01 00 05") + phone + platform_flow.to_bytes(2, "big")
        + flow.to_bytes(2, "big") + H(msg) + bytes([result])
    )  # fmt: skip


def reply_2019(platform_flow: int, flow: int, msg: str, result: int) -> bytes:
    return framed(
        H("80 01 40 05 01") + PHONE_BCD_2019 + platform_flow.to_bytes(2, "big")
        + flow.to_bytes(2, "big") + H(msg) + bytes([result])
    )  # fmt: skip


def run(coro) -> None:
    asyncio.run(coro)


async def _login_2013(t: Terminal) -> None:
    await t.send(framed(head_2013("0100", len(REGISTER_2013), 1) + REGISTER_2013))
    await t.reply()
    await t.send(framed(head_2013("0102", len(CODE), 2) + CODE.encode()))
    await t.reply()


def test_2013_register_authenticate_heartbeat_locate_logout(tmp_path):
    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await t.send(framed(head_2013("0100", 45, 0x0001) + REGISTER_2013))
            assert await t.reply() == framed(
                H("81 00 00 13") + PHONE_BCD + H("00 00") + H("00 01 00") + CODE.encode()
            )
            await t.send(framed(head_2013("0102", 16, 0x0002) + CODE.encode()))
            assert await t.reply() == reply_2013(1, 0x0002, "0102", 0)
            await t.send(framed(head_2013("0002", 0, 0x0003)))
            assert await t.reply() == reply_2013(2, 0x0003, "0002", 0)

            # flow 0x007E: the header's 7E goes as 7D 02, in the reply's body as well
            frame = framed(head_2013("0200", 28, 0x007E) + LOCATION)
            assert H("7D 02 00 7D 01") in frame and frame.count(b"\x7e") == 2
            await t.send(frame)
            reply = await t.reply()
            assert reply == reply_2013(3, 0x007E, "0200", 0)
            assert reply == H("7E 80 01 00 05 01 39 12 34 43 29 00 03 00 7D 02 02 00 00 8F 7E")

            await t.send(framed(head_2013("0003", 0, 0x0005)))
            assert await t.reply() == reply_2013(4, 0x0005, "0003", 0)
            # logged out: positions are refused (result 1) and not stored
            await t.send(framed(head_2013("0200", 28, 0x0006) + LOCATION[:-1] + H("01")))
            assert await t.reply() == reply_2013(5, 0x0006, "0200", 1)
            t.close()
            h.intake.absorb()
            stored = h.store.read(
                datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)
            )
            assert stored.select("vehicle", "ts", "lon", "lat", "speed_kmh", "heading", "status").rows() == [
                (PLATE, datetime(2026, 12, 6, 0, 30, tzinfo=UTC), 113.345678, 23.123456,
                 pl.Series([12.6], dtype=pl.Float32)[0], 125.0, 0x302)
            ]  # fmt: skip
            assert h.sink.points["ts"].to_list() == [datetime(2026, 12, 6, 0, 30, tzinfo=UTC)]

    run(scenario())


def test_2019_register_authenticate_and_locate(tmp_path):
    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await t.send(framed(head_2019("0100", len(REGISTER_2019), 0x0101) + REGISTER_2019))
            assert await t.reply() == framed(
                H("81 00 40 13 01") + PHONE_BCD_2019 + H("00 00") + H("01 01 00") + CODE.encode()
            )
            # 2019 authentication: code length, code, IMEI[15], software version[20]
            auth = bytes([16]) + CODE.encode() + b"861234567890123" + b"V1.0" + bytes(16)
            await t.send(framed(head_2019("0102", len(auth), 0x0102) + auth))
            assert await t.reply() == reply_2019(1, 0x0102, "0102", 0)
            await t.send(framed(head_2019("0200", 28, 0x0103) + LOCATION))
            assert await t.reply() == reply_2019(2, 0x0103, "0200", 0)
            await t.send(framed(head_2019("0002", 0, 0x0104)))
            assert await t.reply() == reply_2019(3, 0x0104, "0002", 0)
            t.close()
            h.intake.absorb()
            assert h.store.days() == [date(2026, 12, 6)]

    run(scenario())


def test_subpackaged_blind_area_batch_lands_in_its_local_days(tmp_path):
    # 0x0704 body: count 2, type 1 (blind-area re-upload), each item's length then the item
    batch = H("00 02 01") + H("00 1C") + BLIND_1 + H("00 1C") + BLIND_2
    first, second = batch[:40], batch[40:]

    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await _login_2013(t)
            # subpackage bit 13, then packet count and number after the flow number
            await t.send(
                framed(head_2013("0704", 40, 0x0010, sub=0x2000) + H("00 02 00 01") + first)
            )
            assert await t.reply() == reply_2013(2, 0x0010, "0704", 0)
            assert h.sink.batches == []  # nothing is acknowledged as durable yet
            await t.send(
                framed(head_2013("0704", 23, 0x0011, sub=0x2000) + H("00 02 00 02") + second)
            )
            assert await t.reply() == reply_2013(3, 0x0011, "0704", 0)
            t.close()
            h.intake.absorb()
            assert h.store.days() == [date(2026, 12, 5), date(2026, 12, 6)]
            assert h.store.read(
                datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)
            )["ts"].to_list() == [
                datetime(2026, 12, 5, 15, 59, 50, tzinfo=UTC),
                datetime(2026, 12, 5, 16, 0, 10, tzinfo=UTC),
            ]
            assert h.sink.points.height == 2

    run(scenario())


def test_a_resent_position_is_acknowledged_and_stored_once(tmp_path):
    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await _login_2013(t)
            for flow in (7, 8):  # no ack seen by the terminal: it sends the fix again
                await t.send(framed(head_2013("0200", 28, flow) + LOCATION))
                assert await t.reply() == reply_2013(flow - 5, flow, "0200", 0)
            t.close()
            h.intake.absorb()
        assert (
            h.store.read(
                datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)
            ).height
            == 1
        )
        assert h.sink.points.height == 1
        assert h.intake.duplicates_total == 1

    run(scenario())


def test_an_unknown_terminal_is_refused_with_the_protocol_codes(tmp_path, caplog):
    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await t.send(framed(head_2013("0100", 45, 1, phone=UNKNOWN_BCD) + REGISTER_2013))
            # 0x8100 result 4: terminal not in the database; no authentication code
            assert await t.reply() == framed(
                H("81 00 00 03") + UNKNOWN_BCD + H("00 00") + H("00 01 04")
            )
            code = auth_code(SECRET, "019999999999").encode()
            await t.send(framed(head_2013("0102", 16, 2, phone=UNKNOWN_BCD) + code))
            assert await t.reply() == reply_2013(1, 2, "0102", 1, phone=UNKNOWN_BCD)
            await t.send(framed(head_2013("0200", 28, 3, phone=UNKNOWN_BCD) + LOCATION))
            assert await t.reply() == reply_2013(2, 3, "0200", 1, phone=UNKNOWN_BCD)
            t.close()
            h.intake.absorb()
            assert h.store.days() == []
            assert h.gateway.refused == 3

    run(scenario())
    assert "19999999999" in caplog.text and "unknown terminal" in caplog.text


def test_a_wrong_code_is_refused_and_repeated_failures_close_the_connection(tmp_path, caplog):
    async def scenario():
        async with running_gateway(tmp_path, max_auth_failures=2) as h:
            t = await Terminal.connect(h.port)
            wrong = b"0000000000000000"
            await t.send(framed(head_2013("0102", 16, 1) + wrong))
            assert await t.reply() == reply_2013(0, 1, "0102", 1)
            await t.send(framed(head_2013("0200", 28, 2) + LOCATION))
            assert await t.reply() == reply_2013(1, 2, "0200", 1)
            await t.send(framed(head_2013("0102", 16, 3) + wrong))
            assert await t.reply() == reply_2013(2, 3, "0102", 1)
            assert await t.closed()

    run(scenario())
    assert "wrong code" in caplog.text


def test_truncated_corrupted_and_stray_bytes_do_not_close_a_healthy_session(tmp_path, caplog):
    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await _login_2013(t)
            good = framed(head_2013("0200", 28, 0x20) + LOCATION)
            # truncated: the frame loses its last 10 bytes and its closing flag; the next
            # frame's opening flag ends it
            truncated = framed(head_2013("0200", 28, 0x21) + LOCATION[:-1] + H("05"))[:-11]
            later = LOCATION[:-1] + H("10")
            await t.send(truncated + framed(head_2013("0200", 28, 0x22) + later))
            assert await t.replies(2) == [
                reply_2013(2, 0x21, "0200", 2),  # header readable: "message wrong"
                reply_2013(3, 0x22, "0200", 0),
            ]
            # corrupted: one body byte changed after the checksum was computed
            corrupted = bytearray(framed(head_2013("0200", 28, 0x23) + LOCATION[:-1] + H("15")))
            corrupted[20] ^= 0x01
            await t.send(bytes(corrupted))
            assert await t.reply() == reply_2013(4, 0x23, "0200", 2)
            # bytes between frames (taken for a frame: bad checksum) and a frame too short to
            # have a header: logged only
            await t.send(b"GET / HTTP/1.1\r\n" + H("7E 02 00 7E"))
            await t.send(good)
            assert await t.reply() == reply_2013(5, 0x20, "0200", 0)
            # a message the gateway does not handle: 3, not supported
            await t.send(framed(head_2013("0900", 1, 0x24) + H("F1")))
            assert await t.reply() == reply_2013(6, 0x24, "0900", 3)
            t.close()
            h.intake.absorb()
            stored = h.store.read(
                datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)
            )
            assert stored["ts"].to_list() == [
                datetime(2026, 12, 6, 0, 30, tzinfo=UTC),
                datetime(2026, 12, 6, 0, 30, 10, tzinfo=UTC),
            ]
            assert h.gateway.bad_frames == 4

    run(scenario())
    assert "bad checksum" in caplog.text
    assert "frame too short" in caplog.text


def test_an_impossible_fix_is_answered_message_wrong(tmp_path):
    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await _login_2013(t)
            bad_time = LOCATION[:-6] + H("26 13 45 08 30 00")  # month 13
            await t.send(framed(head_2013("0200", 28, 9) + bad_time))
            assert await t.reply() == reply_2013(2, 9, "0200", 2)
            future = LOCATION[:-6] + H("99 12 31 23 59 59")
            await t.send(framed(head_2013("0200", 28, 10) + future))
            assert await t.reply() == reply_2013(3, 10, "0200", 2)
            short = LOCATION[:20]
            await t.send(framed(head_2013("0200", 20, 11) + short))
            assert await t.reply() == reply_2013(4, 11, "0200", 2)
            t.close()
            h.intake.absorb()
            assert h.store.days() == []

    run(scenario())


def test_an_idle_connection_is_closed(tmp_path):
    async def scenario():
        async with running_gateway(tmp_path, idle_timeout_s=0.2) as h:
            t = await Terminal.connect(h.port)
            await _login_2013(t)
            assert await t.closed(timeout=30)
            assert h.gateway.idle_closed == 1

    run(scenario())


def test_a_fix_without_position_is_answered_and_not_stored(tmp_path):
    no_fix = H("00000000 00000000 00000000 00000000 0000 0000 0000 261206083000")

    async def scenario():
        async with running_gateway(tmp_path) as h:
            t = await Terminal.connect(h.port)
            await _login_2013(t)
            await t.send(framed(head_2013("0200", 28, 12) + no_fix))
            assert await t.reply() == reply_2013(2, 12, "0200", 0)
            t.close()
            h.intake.absorb()
            assert h.store.days() == []

    run(scenario())


def test_the_status_listener_reports_terminals_positions_and_backlog(tmp_path):
    async def get(port: int, path: str) -> tuple[str, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        head, _, body = data.decode().partition("\r\n\r\n")
        return head.split("\r\n")[0], body

    async def scenario():
        async with running_gateway(tmp_path) as h:
            status = StatusServer(h.gateway)
            port = await status.start("127.0.0.1", 0)
            t = await Terminal.connect(h.port)
            await _login_2013(t)
            await t.send(framed(head_2013("0200", 28, 3) + LOCATION))
            await t.reply()
            line, body = await get(port, "/status")
            assert line == "HTTP/1.1 200 OK"
            report = GatewayStatus.model_validate_json(body)
            assert (report.connections, report.connected_terminals) == (1, 1)
            assert (report.positions_total, report.pending_points, report.absorbed_total) == (
                1,
                1,
                0,
            )
            assert report.wal_backlog_bytes > 0 and report.ack_latency_p50_ms is not None
            await asyncio.to_thread(h.intake.absorb)
            _, metrics = await get(port, "/metrics")
            assert "cdw_gateway_connected_terminals 1\n" in metrics
            assert "cdw_gateway_wal_backlog_bytes 0\n" in metrics
            assert "# TYPE cdw_gateway_positions_total counter" in metrics
            assert (await get(port, "/nothing"))[0] == "HTTP/1.1 404 Not Found"
            t.close()
            await status.close()

    run(scenario())
