"""The optional broker transport on the NATS JetStream server of this machine
(127.0.0.1:4222): positions acknowledged once the broker holds them, absorbed into the
point store by the consumer, a message delivered twice stored once."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime

import pytest

from cdw.gateway.wal import Point, encode_points
from cdw.tracking.store import PointStore
from tests.gateway.helpers import SECRET, TERMINALS, Recorder, Terminal, framed
from tests.gateway.test_protocol import LOCATION, _login_2013, head_2013, reply_2013

nats = pytest.importorskip("nats", reason="nats-py not installed (extra 'broker')")
URL = "nats://127.0.0.1:4222"
SPAN = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def _server_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 4222), 1).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _server_answers(), reason="no NATS server on 127.0.0.1:4222: broker tests skipped"
)


async def _broker(tmp_path):
    from cdw.gateway.broker import BrokerConsumer, BrokerIntake, connect_broker

    stream = f"CDW_TEST_{uuid.uuid4().hex[:12].upper()}"
    nc, js = await connect_broker(URL, stream)
    store = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    sink = Recorder()
    intake = BrokerIntake(js, stream, store, sink=sink)
    consumer = BrokerConsumer(js, stream, store, sink=sink, intake=intake)
    return nc, js, stream, store, sink, intake, consumer


def test_positions_go_through_the_broker_into_the_store(tmp_path):
    from cdw.gateway.server import Gateway
    from cdw.gateway.terminals import TerminalDirectory

    async def scenario():
        nc, js, stream, store, sink, intake, consumer = await _broker(tmp_path)
        try:
            await intake.start()
            await consumer.start()
            terminals = TerminalDirectory(lambda: dict(TERMINALS), refresh_s=0)
            terminals.reload()
            gateway = Gateway(intake, terminals, SECRET)
            port = await gateway.start("127.0.0.1", 0)
            t = await Terminal.connect(port)
            await _login_2013(t)
            for flow in (3, 4):  # the second is the same fix sent again
                await t.send(framed(head_2013("0200", 28, flow) + LOCATION))
                assert await t.reply() == reply_2013(flow - 1, flow, "0200", 0)
            later = LOCATION[:-1] + bytes([0x10])
            await t.send(framed(head_2013("0200", 28, 5) + later))
            assert await t.reply() == reply_2013(4, 5, "0200", 0)
            t.close()
            await gateway.close()
            await intake.close()
            await consumer.stop()
            while await consumer.absorb_once(timeout=0.5):
                pass
            info = await js.stream_info(stream)
            assert info.state.messages >= 1
            return store.read(*SPAN), sink.points
        finally:
            await js.delete_stream(stream)
            await nc.close()

    stored, sunk = asyncio.run(scenario())
    assert stored["ts"].to_list() == [
        datetime(2026, 12, 6, 0, 30, tzinfo=UTC),
        datetime(2026, 12, 6, 0, 30, 10, tzinfo=UTC),
    ]
    assert sunk.height == 2


def test_a_message_delivered_twice_is_stored_once(tmp_path):
    points = [Point("粤A12345", 1796517000_000000 + i * 10_000000, 113.3, 23.1) for i in range(3)]

    async def scenario():
        nc, js, stream, store, _, intake, consumer = await _broker(tmp_path)
        try:
            payload = encode_points(points)
            for _ in range(2):  # a publisher retried after a lost PubAck
                await js.publish(intake.subject, payload, stream=stream)
            await consumer.subscribe()
            total = 0
            while n := await consumer.absorb_once(timeout=0.5):
                total += n
            return total, store.read(*SPAN), intake.broker_pending
        finally:
            await js.delete_stream(stream)
            await nc.close()

    delivered, stored, pending = asyncio.run(scenario())
    assert delivered == 6
    assert stored.height == 3
    assert pending == 0
