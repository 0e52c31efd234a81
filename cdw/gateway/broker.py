"""Optional transport: NATS JetStream as the durable log (``CDW_GATEWAY_BROKER_URL``).

Without a broker a gateway keeps its own write-ahead log (:mod:`cdw.gateway.wal`). With one,
every gateway process publishes each group of positions to the stream
(``CDW_GATEWAY_BROKER_STREAM``, file storage, subject ``<stream>.positions``) and
acknowledges the terminals once JetStream has answered the publish: the broker holds them.
Every gateway process also runs a :class:`BrokerConsumer` on one shared durable pull
consumer: a batch fetched is appended to the point store (which keys points by (vehicle,
ts): a message delivered twice stores nothing twice), handed to the sink, and only then
acknowledged to JetStream, so a process killed in between leaves it to be delivered again.
Gateways can thus be added behind a TCP balancer without a shared disk.

Needs the ``nats-py`` package (extra ``broker``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from contextlib import suppress
from typing import Any

from cdw.gateway.intake import Intake, Sink, no_sink
from cdw.gateway.wal import Position, decode_points, points_frame
from cdw.tracking.store import PointStore

log = logging.getLogger("cdw.gateway")
DURABLE = "cdw-absorber"
RECENT_KEYS = 200_000


def subject_of(stream: str) -> str:
    return f"{stream.lower()}.positions"


async def connect_broker(url: str, stream: str) -> tuple[Any, Any]:
    """(connection, JetStream context), the stream made when missing."""
    import nats  # noqa: PLC0415 (optional dependency)
    from nats.js.api import StorageType  # noqa: PLC0415

    nc = await nats.connect(url, name="cdw-gateway", max_reconnect_attempts=-1)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subject_of(stream)], storage=StorageType.FILE)
    return nc, js


class BrokerIntake(Intake):
    """The intake with JetStream in place of the local write-ahead log."""

    sink_on_write = False  # the consumers hand what they absorb to the sink

    def __init__(self, js: Any, stream: str, store: PointStore, **kwargs: Any):
        super().__init__(None, store, **kwargs)
        self.js = js
        self.stream = stream
        self.subject = subject_of(stream)

    async def _write_group(self, payload: bytes) -> Position:
        ack = await self.js.publish(self.subject, payload, stream=self.stream)
        return Position(0, ack.seq)

    def _durable_group(self, position: Position, points: list, nbytes: int) -> None:
        self.accepted.add(len(points))
        self.release(points)  # in the broker now: absorbed by the consumers

    def absorb(self) -> int:
        return 0

    def recover(self, chunk_points: int = 0) -> list:
        return []


class BrokerConsumer:
    """Pulls positions from the stream into the point store, then the sink, then acks."""

    def __init__(
        self,
        js: Any,
        stream: str,
        store: PointStore,
        *,
        sink: Sink | None = None,
        batch: int = 1000,
        intake: Intake | None = None,
    ):
        self.js = js
        self.stream = stream
        self.store = store
        self.sink: Sink = sink or no_sink
        self.batch = batch
        self.intake = intake  # whose status shows the broker's backlog
        self.absorbed_total = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._recent: OrderedDict[tuple[str, int], None] = OrderedDict()  # bounded

    async def subscribe(self) -> None:
        self._sub = await self.js.pull_subscribe(
            subject_of(self.stream), durable=DURABLE, stream=self.stream
        )

    async def start(self) -> None:
        await self.subscribe()
        self._task = asyncio.create_task(self._run(), name="broker-consumer")

    async def absorb_once(self, timeout: float = 1.0) -> int:
        """Fetch, store, sink and acknowledge one batch; returns the points absorbed."""
        try:
            msgs = await self._sub.fetch(self.batch, timeout=timeout)
        except TimeoutError:  # nats.errors.TimeoutError or asyncio's: nothing to fetch
            msgs = []
        points = []
        if msgs:
            points = [p for m in msgs for p in decode_points(m.data)]
            if points:
                await asyncio.to_thread(self.store.append, points_frame(points, with_upload=True))
                fresh = self._unseen(points)
                try:
                    result = self.sink(points_frame(fresh)) if fresh else None
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("position sink failed on %d points", len(points))
            for m in msgs:
                await m.ack()
            self.absorbed_total += len(points)
            if self.intake is not None:
                self.intake.absorbed_total += len(points)
        if self.intake is not None:
            info = await self.js.consumer_info(self.stream, DURABLE)
            self.intake.broker_pending = info.num_pending + info.num_ack_pending
        return len(points)

    def _unseen(self, points: list) -> list:
        """The points whose key this consumer has not absorbed lately (a fix published
        twice is stored once by the store; the sink is spared the second copy too)."""
        fresh = []
        for point in points:
            if point.key in self._recent:
                continue
            self._recent[point.key] = None
            fresh.append(point)
        while len(self._recent) > RECENT_KEYS:
            self._recent.popitem(last=False)
        return fresh

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.absorb_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("absorbing from the broker failed")
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """Finish the batch in hand (stored, sunk and acknowledged), then stop."""
        if self._task is not None:
            self._stopping = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 30)
            except TimeoutError:
                self._task.cancel()
                with suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
