"""The durable path of a position: write-ahead log → acknowledgement → sink → point store.

:class:`Intake` is shared by the JT/T 808 gateway (asynchronous: :meth:`Intake.submit`) and
the HTTP push route (synchronous: :meth:`Intake.submit_sync`):

1. ``claim``: a key (vehicle, ts) already waiting in this intake, or repeated in the batch,
   is a duplicate and goes no further (the point store drops those it already holds);
2. the fresh points are appended to the write-ahead log; many callers' points go out with
   one write and one fdatasync (group commit: the asynchronous side has one writer task
   draining a queue, the synchronous side a leader thread writing what the others queued);
3. only then the callers are answered (the gateway acknowledges), and the durable batch
   is handed to the sink (``await sink(points)``, the live engine; contract in STATUS.md);
4. in the background (every ``absorb_interval_s``, or sooner when many points wait) the
   durable points are appended to the point store and the log is checkpointed past them.

On start :meth:`Intake.recover` appends every record after the checkpoint to the store: a
kill -9 loses no acknowledged position, and since the store keys points by (vehicle, ts)
none is stored twice. The store partitions by the local day of each point's own time, so
a late or out-of-order position (a blind-area re-upload) lands in its day.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.from_thread
import polars as pl

from cdw.gateway.metrics import RateMeter
from cdw.gateway.wal import (
    LogBusy,
    Point,
    Position,
    WriteAheadLog,
    encode_points,
    open_slot,
    points_frame,
)
from cdw.tracking.store import PointStore

log = logging.getLogger("cdw.gateway")

Sink = Callable[[pl.DataFrame], Awaitable[None] | None]


async def no_sink(points: pl.DataFrame) -> None:
    """The sink until the live engine is wired: durable points go to the store only."""


@dataclass
class _Group:
    position: Position
    points: list[Point]
    nbytes: int


@dataclass
class _Waiting:
    """A synchronous caller's points waiting for the leader's write."""

    points: list[Point]
    done: bool = False
    error: BaseException | None = None


@dataclass
class Submitted:
    accepted: list[Point] = field(default_factory=list)
    duplicates: list[Point] = field(default_factory=list)
    waits: list[Any] = field(default_factory=list)  # tickets of the duplicates' first copies


class Intake:
    sink_on_write = True  # the writer hands durable batches to the sink (not so with a broker)
    broker_pending: int | None = None  # messages the broker holds for the absorbers

    def __init__(
        self,
        wal: WriteAheadLog | None,
        store: PointStore,
        *,
        sink: Sink | None = None,
        absorb_interval_s: float = 2.0,
        absorb_max_points: int = 50_000,
        max_group_points: int = 20_000,
    ):
        self.wal = wal
        self.store = store
        self.sink: Sink = sink or no_sink
        self.absorb_interval_s = absorb_interval_s
        self.absorb_max_points = absorb_max_points
        self.max_group_points = max_group_points
        # claimed, not yet in the store → the ticket of the write that makes it durable
        self._pending: dict[tuple[str, int], Any] = {}
        self._durable: list[_Group] = []
        self._durable_points = 0
        self._keys_lock = threading.Lock()
        self._absorb_lock = threading.Lock()
        self.accepted = RateMeter()
        self.duplicates_total = 0
        self.absorbed_total = 0
        self.sink_errors = 0
        # asynchronous side
        self._queue: asyncio.Queue[tuple[list[Point], asyncio.Future[None]]] | None = None
        self._sink_queue: asyncio.Queue[list[Point]] | None = None
        self._absorb_now: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        # synchronous side
        self._cond = threading.Condition()
        self._flushing = False
        self._waiting: list[_Waiting] = []
        self._absorber: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ keys

    def claim(self, points: list[Point], ticket: Any = None) -> Submitted:
        """Split ``points`` into fresh ones (now reserved under ``ticket``, what tells when
        they are durable) and duplicates of points waiting in this intake or earlier in the
        batch; ``waits``: the tickets of the duplicates' first copies, since a duplicate
        may be acknowledged only once its first copy is durable."""
        out = Submitted()
        with self._keys_lock:
            for point in points:
                key = point.key
                if key in self._pending:
                    out.duplicates.append(point)
                    first = self._pending[key]
                    if first is not None and first is not ticket and first not in out.waits:
                        out.waits.append(first)
                else:
                    self._pending[key] = ticket
                    out.accepted.append(point)
            self.duplicates_total += len(out.duplicates)
        return out

    def release(self, points: list[Point]) -> None:
        with self._keys_lock:
            for point in points:
                self._pending.pop(point.key, None)

    def is_pending(self, key: tuple[str, int]) -> bool:
        return key in self._pending

    @property
    def pending_points(self) -> int:
        """Points claimed and not yet in the point store (queued or durable in the log)."""
        return len(self._pending)

    def _durable_group(self, position: Position, points: list[Point], nbytes: int) -> None:
        with self._keys_lock:
            self._durable.append(_Group(position, points, nbytes))
            self._durable_points += len(points)
        self.accepted.add(len(points))

    # ------------------------------------------------------------------ store

    def absorb(self) -> int:
        """Append the durable points to the point store and checkpoint the log past them;
        returns the number of points handed to the store."""
        with self._absorb_lock:
            with self._keys_lock:
                groups, self._durable = self._durable, []
                self._durable_points = 0
            if not groups:
                return 0
            points = [p for g in groups for p in g.points]
            try:
                self.store.append(points_frame(points, with_upload=True))
            except BaseException:
                with self._keys_lock:  # try again next time
                    self._durable = groups + self._durable
                    self._durable_points += len(points)
                raise
            assert self.wal is not None
            self.wal.checkpoint(groups[-1].position, sum(g.nbytes for g in groups))
            self.release(points)
            self.absorbed_total += len(points)
            return len(points)

    def recover(self, chunk_points: int = 200_000) -> list[Point]:
        """Store every record the log holds after its checkpoint (left by a crash); returns
        those points (for the sink)."""
        assert self.wal is not None
        recovered: list[Point] = []
        batch: list[Point] = []
        last: Position | None = None
        for position, points in self.wal.recover():
            batch.extend(points)
            last = position
            if len(batch) >= chunk_points:
                self.store.append(points_frame(batch, with_upload=True))
                self.wal.checkpoint(last)
                recovered.extend(batch)
                batch = []
        if batch:
            self.store.append(points_frame(batch, with_upload=True))
        if last is not None:
            self.wal.checkpoint(last)
        recovered.extend(batch)
        if recovered:
            log.info("write-ahead log %s: %d points recovered", self.wal.directory, len(recovered))
        return recovered

    # ------------------------------------------------------------------ sink

    async def _call_sink(self, points: list[Point], sink: Sink | None = None) -> None:
        if (sink or self.sink) is no_sink:
            return
        try:
            result = (sink or self.sink)(points_frame(points))
            if inspect.isawaitable(result):
                await result
        except Exception:  # the points are durable; the sink's failure is logged
            self.sink_errors += 1
            log.exception("position sink failed on %d points", len(points))

    # ------------------------------------------------------------------ asynchronous side

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._sink_queue = asyncio.Queue()
        self._absorb_now = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._writer(), name="wal-writer"),
            asyncio.create_task(self._sinker(), name="sink"),
            asyncio.create_task(self._absorber_task(), name="absorber"),
        ]

    async def submit(self, points: list[Point]) -> Submitted:
        """Return once the fresh points of ``points`` are durable."""
        assert self._queue is not None, "Intake.start() first"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        claimed = self.claim(points, future)
        if claimed.accepted:
            self._queue.put_nowait((claimed.accepted, future))
            await future
        for first in claimed.waits:  # a copy sent again before the first was durable
            if isinstance(first, asyncio.Future):
                await asyncio.shield(first)
        return claimed

    @property
    def queue_depth(self) -> int:
        """Batches waiting for the log writer plus durable batches waiting for the sink."""
        writer = self._queue.qsize() if self._queue is not None else 0
        sink = self._sink_queue.qsize() if self._sink_queue is not None else 0
        return writer + sink

    async def _writer(self) -> None:
        assert self._queue is not None and self._sink_queue is not None
        while True:
            group = [await self._queue.get()]
            count = len(group[0][0])
            while not self._queue.empty() and count < self.max_group_points:
                item = self._queue.get_nowait()
                group.append(item)
                count += len(item[0])
            points = [p for pts, _ in group for p in pts]
            try:
                payload = encode_points(points)
                position = await self._write_group(payload)
            except BaseException as exc:
                self.release(points)
                for _, future in group:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                        )
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("write-ahead log write failed")
                continue
            self._durable_group(position, points, len(payload))
            for _, future in group:
                if not future.done():
                    future.set_result(None)
            if self.sink_on_write:
                self._sink_queue.put_nowait(points)
            if self._durable_points >= self.absorb_max_points:
                assert self._absorb_now is not None
                self._absorb_now.set()

    async def _write_group(self, payload: bytes) -> Position:
        """Make one record durable (one write and fdatasync of the log)."""
        assert self.wal is not None
        return await asyncio.to_thread(self.wal.write, [payload])

    def backlog_bytes(self) -> int:
        return self.wal.backlog_bytes() if self.wal is not None else 0

    async def _sinker(self) -> None:
        assert self._sink_queue is not None
        while True:
            points = await self._sink_queue.get()
            while not self._sink_queue.empty() and len(points) < self.max_group_points:
                points = points + self._sink_queue.get_nowait()
            await self._call_sink(points)

    async def _absorber_task(self) -> None:
        assert self._absorb_now is not None
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._absorb_now.wait(), self.absorb_interval_s)
            self._absorb_now.clear()
            try:
                await asyncio.to_thread(self.absorb)
            except Exception:
                log.exception("absorbing the write-ahead log into the point store failed")

    async def drain(self) -> None:
        """Wait until every submitted batch is durable and handed to the sink."""
        while self._queue is not None and self._sink_queue is not None:
            if self._queue.empty() and self._sink_queue.empty():
                await asyncio.sleep(0)
                if self._queue.empty() and self._sink_queue.empty():
                    return
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Finish the queued work, absorb everything and close the log."""
        await self.drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.wal is not None:
            await asyncio.to_thread(self.absorb)
            self.wal.close()

    # ------------------------------------------------------------------ synchronous side

    def submit_sync(
        self,
        points: list[Point],
        stored: Callable[[list[Point]], set[tuple[str, int]]] | None = None,
    ) -> Submitted:
        """Return once the fresh points of ``points`` are durable (thread-safe; concurrent
        callers share one write and fdatasync). ``stored``: the keys among the claimed
        points the point store already holds (asked after the claim, so that a point
        absorbed meanwhile is seen in the one or the other); those count as duplicates."""
        me = _Waiting([])
        claimed = self.claim(points, me)
        if stored is not None and claimed.accepted:
            held = stored(claimed.accepted)
            if held:
                known = [p for p in claimed.accepted if p.key in held]
                self.release(known)
                claimed.accepted = [p for p in claimed.accepted if p.key not in held]
                claimed.duplicates.extend(known)
                self.duplicates_total += len(known)
        if not claimed.accepted:
            self._wait_for(claimed.waits)
            return claimed
        me.points = claimed.accepted
        with self._cond:
            self._waiting.append(me)
            while not me.done:
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flushing = True
                group, self._waiting = self._waiting, []
                self._cond.release()
                try:
                    self._write_sync(group)
                finally:
                    self._cond.acquire()
                    self._flushing = False
                    self._cond.notify_all()
        if me.error is not None:
            raise me.error
        self._wait_for(claimed.waits)
        return claimed

    def _wait_for(self, tickets: list[Any]) -> None:
        """Wait until the writes of other callers' ``tickets`` are done (raising if one
        failed: its points are not durable)."""
        with self._cond:
            for ticket in tickets:
                if not isinstance(ticket, _Waiting):
                    continue
                while not ticket.done:
                    self._cond.wait()
                if ticket.error is not None:
                    raise ticket.error

    def _write_sync(self, group: list[_Waiting]) -> None:
        points = [p for w in group for p in w.points]
        assert self.wal is not None
        try:
            payload = encode_points(points)
            position = self.wal.write([payload])
        except BaseException as exc:
            self.release(points)
            for waiting in group:
                waiting.error, waiting.done = exc, True
            return
        self._durable_group(position, points, len(payload))
        for waiting in group:
            waiting.done = True
        if self._durable_points >= self.absorb_max_points:
            self.absorb()

    def start_absorber_thread(self) -> None:
        """Absorb in a background thread every ``absorb_interval_s`` (synchronous use)."""
        if self._absorber is not None:
            return

        def run() -> None:
            while not self._stop.wait(self.absorb_interval_s):
                try:
                    self.absorb()
                except Exception:
                    log.exception("absorbing the write-ahead log into the point store failed")

        self._absorber = threading.Thread(target=run, name="wal-absorber", daemon=True)
        self._absorber.start()

    def deliver_sync(self, points: list[Point], sink: Sink | None = None) -> None:
        """Hand durable ``points`` to ``sink`` (default: this intake's) from a worker
        thread of the API (an asynchronous sink runs on the server's event loop)."""
        if not points:
            return
        try:
            anyio.from_thread.run(self._call_sink, points, sink)
        except RuntimeError:  # not in a worker thread of an event loop
            asyncio.run(self._call_sink(points, sink))

    def close_sync(self) -> None:
        self._stop.set()
        if self._absorber is not None:
            self._absorber.join()
            self._absorber = None
        self.absorb()
        if self.wal is not None:
            self.wal.close()


_shared: dict[tuple[str, str], Intake] = {}
_shared_lock = threading.Lock()


def shared_intake(wal_dir: Path, points_dir: Path, timezone: str) -> Intake:
    """The intake of this (API) process: its own log slot ``api-<n>`` (recovered on first
    use: what a crashed process left in that slot goes to the store) and a background
    absorber thread."""
    key = (str(wal_dir), str(points_dir))
    with _shared_lock:
        intake = _shared.get(key)
        if intake is None:
            intake = Intake(
                open_slot(wal_dir, "api"),
                PointStore(points_dir, timezone=timezone),
            )
            intake.recover()
            intake.start_absorber_thread()
            _shared[key] = intake
        return intake


def recover_orphans(wal_dir: Path, store: PointStore, prefix: str = "api") -> int:
    """Store what crashed processes left in the logs ``<wal_dir>/<prefix>-<n>`` that no
    process holds now (an API process absorbs its own slot on its first push; the gateway
    calls this at start so nothing waits for that). Returns the points recovered."""
    total = 0
    for directory in sorted(Path(wal_dir).glob(f"{prefix}-*")):
        try:
            wal = WriteAheadLog(directory)
        except LogBusy:
            continue
        try:
            total += len(Intake(wal, store).recover())
        finally:
            wal.close()
    return total
