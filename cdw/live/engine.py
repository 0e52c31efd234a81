"""The live engine (issue 14, part 4): each vehicle's open trip evaluated as its positions
arrive, by the batch engine itself.

The gateway hands every durable batch of positions to :meth:`LiveEngine.accept`. The engine
keeps, per vehicle, a window of its fixes of the current local day, from the trip before its
open one (its last ``KEEP_BEFORE``: the visit it left, so the open leg has its origin, its
kind and its permit as the day's run will see them) to its last fix. A vehicle first seen
(after a restart) starts with its fixes of the day in the point store. Each pass runs the batch
pipeline (``cdw.tracking.pipeline.run_pipeline``: the same cleaning, trips, checks and
kernels, on the context ``cdw.flows.context.load_context`` builds for the day) over the
windows of the vehicles that received fixes, with the checks of ``LIVE_CODES``. There is no
second rule set: a check meets its rule on the window when the fix that completes it
arrives, so the flag is raised in the pass of that fix (the 10 s cadence of the terminals,
plus the pass's own time), well within the 30 s the bureau asks for:

- ROUTE_DEVIATION once a loaded leg has been 60 s and 200 m outside its corridor (the run
  still going on: the check measures what there is);
- LONG_STOP once a stop outside authorised zones has lasted 10 minutes;
- SIGNAL_GAP when the fix after a 5-minute silence arrives, or earlier, at the timeout tick
  (:meth:`LiveEngine.tick`, every ``tick_s``): ``signal_gap.still_open``, the same rule
  for a gap not closed yet, raises it at the last fix with ``measured['open']``; the next
  fix turns it into the closed gap's flag (same identity);
- SPEEDING, OUT_OF_HOURS, RESTRICTED_ZONE and TAMPER_SUSPECTED as their checks meet them.

One identity per violation. A live flag is stored as the engine's flag (source ``engine``)
whose identity is the batch's (code, vehicle, start: the first fix of the violation), in
the local day of its start; while the violation goes on it is updated in place (at most
every ``update_every_s``, and when it ends). The day's run (``cdw.flows.day``) stores its
flags through ``replace_flags``, which updates an open flag of the same identity in place:
the live flag keeps its id and takes the run's final figures; it is neither stored twice
nor lost. The day's run stays the authority: a live flag it does not find again (a gap
after which the truck never reported that day, a leg the rest of the day showed to be the
empty run home) is deleted by it, and audited as such.

Batch-only (flags that need the whole trip or the paperwork): SUSPECTED_DUMPING (its score
counts whether the leg ever reaches its facility and whether the load bits dropped),
WRONG_DESTINATION (a fence reached at the end of a track may yet be passed through), and
every reconciliation flag (NO_RECEIPT, UNMANIFESTED_TRIP, RECEIPT_WITHOUT_TRIP,
QUANTITY_DISCREPANCY, OVERLOAD, UNAUTHORISED_VEHICLE).

Every pass writes, in one transaction stamped with the next value of the live counter
(``cdw.live.models.next_seq``): the last known position of each vehicle it saw
(``vehicle_live``), the flags it raised or updated, one ``live_event`` per such flag for the
push channel, and one audit entry listing them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from time import monotonic, perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from cdw.audit.log import audit
from cdw.config import Settings, day_bounds, get_settings
from cdw.db import get_engine
from cdw.flags.codes import FlagCode, FlagSource
from cdw.flags.models import FlagRecord, FlagStatus
from cdw.flags.values import Flag
from cdw.flows.context import load_context
from cdw.flows.day import FLAG_HOLDERS
from cdw.geo.projection import Projector
from cdw.live.models import LiveEvent, VehicleLive, next_seq
from cdw.tracking.analysis import projector_for
from cdw.tracking.checks import signal_gap
from cdw.tracking.checks.listing import ENGINE_CHECKS
from cdw.tracking.context import AnalysisContext
from cdw.tracking.pipeline import run_pipeline
from cdw.tracking.points import REQUIRED_COLUMNS, conform
from cdw.tracking.store import PointStore
from cdw.tracking.trips import Trip, VehicleTrack

LIVE_CODES = frozenset(
    {
        FlagCode.ROUTE_DEVIATION,
        FlagCode.LONG_STOP,
        FlagCode.SPEEDING,
        FlagCode.OUT_OF_HOURS,
        FlagCode.RESTRICTED_ZONE,
        FlagCode.SIGNAL_GAP,
        FlagCode.TAMPER_SUSPECTED,
    }
)
BATCH_ONLY_CODES = frozenset(FlagCode) - LIVE_CODES
LIVE_CHECKS = tuple(c.check for c in ENGINE_CHECKS if c.code in LIVE_CODES)
ACTOR = "live"
LIVE_FLAG_ENTITY = "flag_live"
log = logging.getLogger(__name__)
_RAISED_KEPT = 100_000
_EMPTY = conform(pl.DataFrame())
# Of the trip before the open one, a pass keeps the last this long: the open leg's origin
# (a visit at the start of a track stays a visit), and room for a stop begun just before.
KEEP_BEFORE = timedelta(minutes=15)
SAME_VIOLATION_GAP = timedelta(seconds=60)
_DEFAULT = object()

Identity = tuple[str, datetime]  # (code, start) within one vehicle


@dataclass
class _Written:
    facts: dict[str, Any]  # the flag as last written (Flag.as_dict)
    at: float  # monotonic time of that write
    open_gap: bool  # a SIGNAL_GAP still open (the timeout's)
    start: datetime
    end: datetime


@dataclass
class _Window:
    """What the engine keeps of one vehicle besides its fixes (``LiveEngine._points``): the
    local day they are of, the flags written, the track and open trip of the last pass."""

    day: date
    written: dict[Identity, _Written] = field(default_factory=dict)
    track: VehicleTrack | None = None  # of the last pass
    trip: Trip | None = None  # the open trip (last of the last pass)


@dataclass(frozen=True)
class Raised:
    """A flag the engine raised: when the batch that completed it was accepted and when the
    flag was committed (both ``time.perf_counter``), i.e. on the push channel's next poll."""

    code: str
    vehicle: str
    start: datetime
    flag_id: int
    accepted_at: float
    committed_at: float

    @property
    def latency_s(self) -> float:
        return self.committed_at - self.accepted_at


class LiveEngine:
    """Evaluates each vehicle's open trip as positions arrive (module docstring).

    ``db``: the database (default: the configured one); ``store``: the point store the
    window of a vehicle first seen is filled from (its earlier fixes of the day, after a
    restart; default: the configured store; None: start from the fixes accepted);
    ``autotick``: run :meth:`tick` every ``tick_s`` seconds once the first batch arrived;
    ``pass_interval_s``: the shortest time between two passes (the gateway passes the setting
    ``live_pass_interval_s``), so that the batches arriving meanwhile share one pass.
    """

    def __init__(
        self,
        db: Engine | None = None,
        settings: Settings | None = None,
        store: Any = _DEFAULT,
        *,
        context_ttl_s: float = 300.0,
        update_every_s: float = 60.0,
        tick_s: float = 10.0,
        pass_interval_s: float = 0.0,
        autotick: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.db = db or get_engine()
        self.store: PointStore | None = (
            PointStore(self.settings.points_dir, timezone=self.settings.local_timezone)
            if store is _DEFAULT
            else store
        )
        self.tz = ZoneInfo(self.settings.local_timezone)
        self.context_ttl_s = context_ttl_s
        self.update_every_s = update_every_s
        self.tick_s = tick_s
        self.pass_interval_s = pass_interval_s
        self.autotick = autotick
        self.raised: deque[Raised] = deque(maxlen=_RAISED_KEPT)
        self.passes = 0
        self.pass_seconds = 0.0
        self._windows: dict[str, _Window] = {}
        self._points = _EMPTY  # every vehicle's window, one frame
        self._pending: list[tuple[float, pl.DataFrame]] = []
        self._lock = threading.Lock()
        self._busy: asyncio.Lock | None = None
        self._last_pass = float("-inf")
        self._worker: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None
        self._projector: Projector | None = None
        self._contexts: dict[date, tuple[float, AnalysisContext]] = {}

    # ------------------------------------------------------------------ the gateway's side

    async def accept(self, points: pl.DataFrame) -> None:
        """Take a durable batch of positions (the points frame; any vehicles) and return at
        once: the vehicles it moves are evaluated in the background, one pass at a time in
        a worker thread, each pass taking every batch accepted meanwhile (so the gateway's
        path never waits for the engine). :meth:`drain` waits for the passes."""
        if points.height == 0:
            return
        with self._lock:
            self._pending.append((perf_counter(), points))
        loop = asyncio.get_running_loop()
        if self.autotick and self._ticker is None:
            self._ticker = loop.create_task(self._tick_forever())
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())

    async def drain(self) -> None:
        """Wait until every batch accepted so far has been evaluated and written."""
        while self._worker is not None and not self._worker.done():
            await self._worker

    async def tick(self, now: datetime | None = None) -> None:
        """The timeout: raise SIGNAL_GAP for every vehicle silent for ``signal_gap_s`` at
        ``now`` (default: the clock), its last fix not in a depot."""
        async with self._busy_lock():
            await asyncio.to_thread(self.process_tick, now or datetime.now(UTC))

    async def close(self) -> None:
        """Stop the timeout ticks and finish the passes under way."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        await self.drain()

    def process(self, points: pl.DataFrame) -> None:
        """``accept`` for a synchronous caller (benchmarks, scripts): one pass, here."""
        if points.height:
            with self._lock:
                self._pending.append((perf_counter(), points))
        self._pass()

    def windows(self) -> dict[str, int]:
        """The number of fixes in each vehicle's window (what a pass re-reads)."""
        return dict(self._points.group_by("vehicle").len().iter_rows())

    # ------------------------------------------------------------------ passes

    def _busy_lock(self) -> asyncio.Lock:
        if self._busy is None:
            self._busy = asyncio.Lock()
        return self._busy

    async def _drain(self) -> None:
        async with self._busy_lock():
            while self._pending:
                # passes at most every pass_interval_s: what arrives meanwhile joins one pass
                await asyncio.sleep(max(0.0, self._last_pass + self.pass_interval_s - monotonic()))
                self._last_pass = monotonic()
                try:
                    await asyncio.to_thread(self._pass)
                except Exception:  # the fixes are durable: the day's run will see them
                    log.exception(
                        "live pass failed; its vehicles are evaluated with their next fixes"
                    )

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.tick()
            except Exception:
                log.exception("live timeout tick failed")

    def _pass(self) -> None:
        with self._lock:
            batches, self._pending = self._pending, []
        if not batches:
            return
        started = perf_counter()
        accepted_at = min(t for t, _ in batches)
        changed = self._merge(pl.concat([conform(b) for _, b in batches], how="vertical"))
        by_day: dict[date, list[str]] = {}
        for plate in sorted(changed):
            by_day.setdefault(self._windows[plate].day, []).append(plate)
        for day, plates in sorted(by_day.items()):
            self._evaluate(day, plates, accepted_at)
        self.passes += 1
        self.pass_seconds += perf_counter() - started

    def _merge(self, frame: pl.DataFrame) -> set[str]:
        """Add the batch to the vehicles' windows; the plates whose window gained a fix. A fix
        of a day before the window's (a blind-area re-upload) is left to the day's run."""
        frame = frame.drop_nulls(list(REQUIRED_COLUMNS))
        if frame.height == 0:
            return set()
        frame = frame.with_columns(
            pl.col("ts").dt.convert_time_zone(self.settings.local_timezone).dt.date().alias("_day")
        )
        latest = frame.group_by("vehicle").agg(pl.col("_day").max())
        opened: dict[date, list[str]] = {}  # windows to open, by day: filled from the store
        for plate, day in latest.iter_rows():
            window = self._windows.get(plate)
            if window is None or day > window.day:
                opened.setdefault(day, []).append(plate)
                self._windows[plate] = _Window(day)
        if opened:
            reopened = [plate for plates in opened.values() for plate in plates]
            parts = [self._points.filter(~pl.col("vehicle").is_in(reopened))]
            parts += [self._stored(day, plates, frame) for day, plates in opened.items()]
            self._points = pl.concat(parts, how="vertical")
        plates = latest["vehicle"].to_list()
        days = pl.DataFrame(
            {"vehicle": plates, "_window_day": [self._windows[p].day for p in plates]},
            schema={"vehicle": pl.String(), "_window_day": pl.Date()},
        )
        fresh = (
            conform(frame.join(days, on="vehicle").filter(pl.col("_day") == pl.col("_window_day")))
            .unique(subset=["vehicle", "ts"], keep="first", maintain_order=True)
            .join(self._points.select("vehicle", "ts"), on=["vehicle", "ts"], how="anti")
        )
        if fresh.height == 0:
            return set()
        self._points = pl.concat([self._points, fresh], how="vertical")
        return set(fresh["vehicle"].unique().to_list())

    def _stored(self, day: date, plates: list[str], batch: pl.DataFrame) -> pl.DataFrame:
        """The fixes of ``day`` stored before this batch for vehicles first seen (after a
        restart, the day so far), one read for them all."""
        if self.store is None:
            return _EMPTY
        start, _ = day_bounds(day, day, self.tz)
        end = batch["ts"].min()
        if end <= start:
            return _EMPTY
        return conform(self.store.read(start, end, vehicles=plates))

    def _context(self, day: date, points: pl.DataFrame) -> AnalysisContext:
        projector = self._projector or projector_for(points)
        if self._projector is None:
            self._projector = projector
        cached = self._contexts.get(day)
        if cached is None or monotonic() - cached[0] > self.context_ttl_s:
            with Session(self.db) as session:
                context = load_context(session, day, day, projector, self.settings)
            self._contexts = {day: (monotonic(), context)}  # one day at a time
            cached = self._contexts[day]
        return cached[1]

    def _evaluate(self, day: date, plates: list[str], accepted_at: float) -> None:
        points = self._points.filter(pl.col("vehicle").is_in(plates)).sort("vehicle", "ts")
        lasts = {
            row["vehicle"]: row for row in points.group_by("vehicle").last().iter_rows(named=True)
        }
        keep: dict[str, datetime] = {}
        context = self._context(day, points)
        result = run_pipeline(points, context, checks=LIVE_CHECKS)
        trips: dict[str, list[Trip]] = {}
        for trip in result.trips:
            trips.setdefault(trip.vehicle, []).append(trip)
        flags: dict[str, list[Flag]] = {}
        for flag in result.flags:
            flags.setdefault(flag.vehicle, []).append(flag)
        positions: list[dict[str, Any]] = []
        writes: list[tuple[Flag, bool]] = []
        now = monotonic()
        for track in result.tracks:
            window = self._windows[track.vehicle]
            own = trips.get(track.vehicle, [])
            window.track, window.trip = track, own[-1] if own else None
            positions.append(self._position(window, track, lasts[track.vehicle]))
            last = track.time(track.n - 1)
            found = flags.get(track.vehicle, [])
            writes += self._due(window, found, now, closing=True, last=last)
            if len(own) >= 2:  # the end of the trip before the open one is all a pass needs
                before = own[-2]
                keep_from = max(
                    track.time(before.start_index),
                    track.time(before.end_index - 1) - KEEP_BEFORE,
                )
                # never into a violation still in the window: it would start later next pass
                reaching = [f.start for f in found if f.end >= keep_from]
                keep[track.vehicle] = min([keep_from, *reaching])
        if keep:
            cut = pl.DataFrame(
                {"vehicle": list(keep), "_keep_from": list(keep.values())},
                schema={"vehicle": pl.String(), "_keep_from": pl.Datetime("us", "UTC")},
            )
            self._points = (
                self._points.join(cut, on="vehicle", how="left")
                .filter(pl.col("_keep_from").is_null() | (pl.col("ts") >= pl.col("_keep_from")))
                .drop("_keep_from")
            )
        self._write(positions, writes, accepted_at)

    def process_tick(self, now: datetime) -> None:
        """The timeout tick, synchronously (see :meth:`tick`)."""
        today = now.astimezone(self.tz).date()
        writes: list[tuple[Flag, bool]] = []
        started = perf_counter()
        mono = monotonic()
        for window in self._windows.values():
            if window.day != today or window.track is None or window.trip is None:
                continue
            context = self._contexts.get(window.day)
            if context is None:
                continue
            found = signal_gap.still_open(window.trip, window.track, context[1], now.timestamp())
            writes += self._due(window, found, mono, closing=False, last=None)
        if writes:
            self._write([], writes, started)

    def _due(
        self,
        window: _Window,
        found: list[Flag],
        now: float,
        *,
        closing: bool,
        last: datetime | None,
    ) -> list[tuple[Flag, bool]]:
        """The flags of ``found`` to write: (flag, new). A flag already written is written
        again when its figures changed and: ``update_every_s`` passed, or the violation is
        over (it ends before ``last``, the window's last fix), or it was the timeout's open
        gap and the pass (``closing``) found the gap closed."""
        due = []
        for flag in found:
            if flag.code not in LIVE_CODES:
                continue
            key = (str(flag.code), flag.start)
            facts = flag.as_dict()
            before = window.written.get(key)
            is_open = bool(flag.measured.get("open"))
            if before is None and self._seen_as(window, flag):
                continue
            if before is None:
                due.append((flag, True))
            elif before.facts == facts:
                continue
            elif (
                (before.open_gap and closing)
                or (last is not None and flag.end < last)
                or now - before.at >= self.update_every_s
            ):
                due.append((flag, False))
            else:
                continue
            window.written[key] = _Written(facts, now, is_open, flag.start, flag.end)
        return due

    @staticmethod
    def _seen_as(window: _Window, flag: Flag) -> bool:
        """Whether ``flag`` is a violation already written under another start: one of its
        code whose time it begins in (or within ``SAME_VIOLATION_GAP`` after), as a window
        cut into the violation would show it. The day's run has it whole, from the start
        written first."""
        code = str(flag.code)
        return any(
            key[0] == code and w.start < flag.start <= w.end + SAME_VIOLATION_GAP
            for key, w in window.written.items()
        )

    def _position(
        self, window: _Window, track: VehicleTrack, last: dict[str, Any]
    ) -> dict[str, Any]:
        trip = window.trip
        return {
            "plate": track.vehicle,
            "ts": last["ts"],
            "lon": float(last["lon"]),
            "lat": float(last["lat"]),
            "speed_kmh": float(
                track.speed_kmh[-1] if last["speed_kmh"] is None else last["speed_kmh"]
            ),
            "heading": None if last["heading"] is None else float(last["heading"]),
            "status": last["status"],
            "trip_id": trip.trip_id if trip else None,
            "trip_kind": str(trip.kind) if trip else "other",
            "load_state_source": trip.load_state_source if trip else "inferred",
        }

    # ------------------------------------------------------------------ the database

    def _write(
        self, positions: list[dict[str, Any]], writes: list[tuple[Flag, bool]], accepted_at: float
    ) -> None:
        if not positions and not writes:
            return
        for attempt in range(3):
            try:
                self._write_once(positions, writes, accepted_at)
                return
            except (IntegrityError, OperationalError):
                if attempt == 2:
                    raise

    def _write_once(
        self, positions: list[dict[str, Any]], writes: list[tuple[Flag, bool]], accepted_at: float
    ) -> None:
        raised: list[tuple[Flag, FlagRecord, bool]] = []
        ids: list[int] = []
        with Session(self.db) as session:
            seq = next_seq(session)
            stamp = datetime.now(UTC)
            if positions:
                plates = [p["plate"] for p in positions]
                known = {
                    plate: ts
                    for plate, ts in session.exec(
                        select(VehicleLive.plate, VehicleLive.ts).where(
                            col(VehicleLive.plate).in_(plates)
                        )
                    )
                }
                rows = [p | {"seq": seq, "updated_at": stamp} for p in positions]
                fresh = [r for r in rows if r["plate"] not in known]
                moved = [r for r in rows if r["plate"] in known]
                if fresh:
                    session.execute(insert(VehicleLive), fresh)
                if moved:
                    session.execute(update(VehicleLive), moved)
            events = []
            for flag, _ in writes:
                stored = self._store_flag(session, flag)
                if stored is None:
                    continue
                record, new = stored
                events.append(
                    {"seq": seq, "kind": "flag", "flag_id": record.id, "vehicle": flag.vehicle}
                )
                raised.append((flag, record, new))
                ids.append(int(record.id))
            if events:
                session.execute(insert(LiveEvent), [e | {"created_at": stamp} for e in events])
                audit(
                    session,
                    actor=ACTOR,
                    entity=LIVE_FLAG_ENTITY,
                    entity_id=f"seq:{seq}",
                    action="raise",
                    data={
                        "seq": seq,
                        "flags": [
                            {
                                "id": record.id,
                                "code": str(flag.code),
                                "vehicle": flag.vehicle,
                                "start": flag.start.isoformat(),
                                "new": new,
                            }
                            for flag, record, new in raised
                        ],
                    },
                )
            session.commit()
        committed = perf_counter()
        for (flag, _, new), flag_id in zip(raised, ids, strict=True):
            if new:
                self.raised.append(
                    Raised(
                        str(flag.code), flag.vehicle, flag.start, flag_id, accepted_at, committed
                    )
                )

    def _store_flag(self, session: Session, flag: Flag) -> tuple[FlagRecord, bool] | None:
        """Insert the flag (new: True), or update in place the open flag of its identity;
        None when that flag was reviewed or is held (an explanation, a review, a case)."""
        start = flag.start.astimezone(UTC)
        record = session.exec(
            select(FlagRecord).where(
                FlagRecord.source == FlagSource.engine,
                FlagRecord.code == flag.code,
                FlagRecord.vehicle == flag.vehicle,
                FlagRecord.start_ts == start,
            )
        ).first()
        if record is None:
            record = FlagRecord.from_flag(flag, start.astimezone(self.tz).date())
            session.add(record)
            session.flush()
            return record, True
        if record.status != FlagStatus.open or any(
            session.exec(select(column).where(column == record.id)).first() is not None
            for column in FLAG_HOLDERS
        ):
            return None
        record.refresh_from(flag)
        session.add(record)
        session.flush()
        return record, False


def latency_figures(engine: LiveEngine, poll_s: float = 0.0) -> dict[str, float]:
    """p50 / p99 / max seconds from accepting the batch that completed a violation to its
    flag committed (plus ``poll_s``, the push channel's polling interval, when given: the
    worst case of its next poll), over the flags the engine raised."""
    values = sorted(r.latency_s + poll_s for r in engine.raised)
    if not values:
        return {"flags": 0}

    def pct(q: float) -> float:
        return values[min(len(values) - 1, round(q * (len(values) - 1)))]

    return {"flags": len(values), "p50_s": pct(0.5), "p99_s": pct(0.99), "max_s": values[-1]}
