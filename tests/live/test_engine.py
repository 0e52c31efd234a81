"""The live engine on the shipped Panyu day, fed in 10 s batches as the gateway feeds it: a
flag is raised within 30 s of the fix that completes its rule (before the truck returns to
its corridor, while the truck is still stopped), a signal gap at the timeout tick; and the
day's run afterwards keeps each live flag as the same record (same id), none twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from time import monotonic

import polars as pl
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdw.audit.log import verify_chain
from cdw.audit.models import AuditEntry
from cdw.config import Settings
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flows.day import analyse_days
from cdw.live.engine import BATCH_ONLY_CODES, LIVE_CODES, LIVE_FLAG_ENTITY, latency_figures
from cdw.live.models import LiveEvent, VehicleLive
from cdw.tracking.store import PointStore
from tests.live.panyu import (
    DAY,
    at,
    feed,
    flags_of,
    live_engine,
    points_of,
    seed_registry,
    utc,
)

RULE_TO_FLAG = timedelta(seconds=30)


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def store(tmp_path, settings) -> PointStore:
    return PointStore(tmp_path / "points", timezone=settings.local_timezone)


def first_fix_at_or_after(plate: str, moment) -> object:
    later = points_of(plate, start=moment)
    return later["ts"][0]


def run_the_day(engine: Engine, store: PointStore, settings: Settings, plate: str) -> None:
    """The rest of the vehicle's day into the store, then the day's batch run; the live flags
    are all still there, under the same ids, and no violation is stored twice."""
    store.append(points_of(plate))  # keys already stored are skipped
    live = {r.id: r.identity for r in flags_of(engine, plate)}
    with Session(engine) as session:
        analyse_days(session, store, DAY, DAY, settings)
    after = {r.id: r.identity for r in flags_of(engine, plate)}
    assert set(live.items()) <= set(after.items()), "a live flag lost or given a new id"
    assert all(n == 1 for n in Counter(after.values()).values()), "a violation stored twice"


def test_live_and_batch_only_codes_cover_every_code():
    assert set(FlagCode) == LIVE_CODES | BATCH_ONLY_CODES
    assert not LIVE_CODES & BATCH_ONLY_CODES
    assert FlagCode.SUSPECTED_DUMPING in BATCH_ONLY_CODES
    assert FlagCode.NO_RECEIPT in BATCH_ONLY_CODES


def test_a_route_deviation_is_raised_before_the_truck_returns_and_the_day_run_keeps_it(
    engine: Engine, store: PointStore, settings: Settings
):
    seed_registry(engine)
    plate = "粤A25957"  # labelled: off its approved route 08:30:46-08:52:29 local
    store.append(points_of(plate, end=at("00:15:00")))  # its day so far, before the engine starts
    live = live_engine(engine, store, settings)
    seen: dict = {}

    def raised(batch_end) -> bool:
        rows = flags_of(engine, plate, FlagCode.ROUTE_DEVIATION)
        if rows:
            seen["row"] = rows[0]
        return bool(rows)

    raised_at = feed(live, store, points_of(plate), at("00:15:00"), at("01:00:00"), raised)
    first = seen["row"]
    start = utc(first.start_ts)
    assert start == at("00:30:46")
    # The rule (60 s and 200 m outside the corridor) cannot be met before the first fix 60 s
    # after the exit; the flag is there by the end of the 10 s batch at most 30 s later.
    earliest = first_fix_at_or_after(plate, start + timedelta(seconds=60))
    assert raised_at - earliest <= RULE_TO_FLAG
    assert first.measured["off_route_duration_s"] >= 60
    assert first.measured["off_route_distance_m"] >= 200
    rejoin = at("00:52:29")
    assert raised_at < rejoin, "raised only after the truck was back in its corridor"
    assert first.source == "engine" and first.status == "open" and first.day == DAY
    assert "偏离" in first.explanation_zh and "off the approved route" in first.explanation_en

    # Fed on until it is back: the same record, now with the whole detour.
    feed(live, store, points_of(plate), raised_at, at("01:00:00"))
    (after,) = flags_of(engine, plate, FlagCode.ROUTE_DEVIATION)
    assert after.id == first.id
    assert utc(after.end_ts) == rejoin
    assert after.measured["off_route_duration_s"] > first.measured["off_route_duration_s"]

    with Session(engine) as session:
        events = session.exec(select(LiveEvent).where(LiveEvent.flag_id == first.id)).all()
        assert len(events) >= 2  # raised, updated (at least once it was over)
        audited = session.exec(
            select(AuditEntry).where(AuditEntry.entity == LIVE_FLAG_ENTITY)
        ).all()
        assert any(
            f["id"] == first.id and f["new"] for entry in audited for f in entry.data["flags"]
        )
        position = session.get(VehicleLive, plate)
        assert position is not None and utc(position.ts) < at("01:00:00")
        assert verify_chain(session) == []

    run_the_day(engine, store, settings, plate)
    (final,) = flags_of(engine, plate, FlagCode.ROUTE_DEVIATION)
    assert final.id == first.id and utc(final.end_ts) == rejoin
    assert latency_figures(live)["flags"] >= 1


def test_a_long_stop_is_raised_while_the_truck_is_still_there(
    engine: Engine, store: PointStore, settings: Settings
):
    seed_registry(engine)
    plate = "粤A894F4"  # labelled: parked at the roadside 07:04-07:27 local
    store.append(points_of(plate, end=at("22:50:00")))
    live = live_engine(engine, store, settings)
    seen: dict = {}

    def raised(batch_end) -> bool:
        rows = flags_of(engine, plate, FlagCode.LONG_STOP)
        if rows:
            seen["row"] = rows[0]
        return bool(rows)

    raised_at = feed(live, store, points_of(plate), at("22:50:00"), at("23:40:00"), raised)
    first = seen["row"]
    start = utc(first.start_ts)
    assert start == at("23:04:45")
    ten_minutes = first_fix_at_or_after(plate, start + timedelta(minutes=10))
    assert raised_at - ten_minutes <= RULE_TO_FLAG
    assert first.measured["duration_s"] >= 600
    assert raised_at < at("23:27:20"), "raised only after the truck left"

    feed(live, store, points_of(plate), raised_at, at("23:40:00"))
    (after,) = flags_of(engine, plate, FlagCode.LONG_STOP)
    assert after.id == first.id and utc(after.end_ts) == at("23:27:20")

    run_the_day(engine, store, settings, plate)
    (final,) = flags_of(engine, plate, FlagCode.LONG_STOP)
    assert final.id == first.id
    assert final.measured["duration_s"] == after.measured["duration_s"]


def test_a_signal_gap_is_raised_at_the_timeout_tick_then_closed_by_the_next_fix(
    engine: Engine, store: PointStore, settings: Settings
):
    seed_registry(engine)
    plate = "粤A78144"  # labelled: no fix 09:41:42-09:47:53 local
    store.append(points_of(plate, end=at("01:30:00")))
    live = live_engine(engine, store, settings)
    last_before = at("01:41:42")
    feed(live, store, points_of(plate), at("01:30:00"), last_before + timedelta(seconds=1))
    assert points_of(plate, start=at("01:41:43"), end=at("01:47:53")).height == 0

    asyncio.run(live.tick(last_before + timedelta(seconds=290)))  # not yet 5 minutes
    assert flags_of(engine, plate, FlagCode.SIGNAL_GAP) == []
    asyncio.run(live.tick(last_before + timedelta(seconds=305)))
    (gap,) = flags_of(engine, plate, FlagCode.SIGNAL_GAP)
    assert utc(gap.start_ts) == last_before
    assert gap.measured == {"duration_s": 305.0, "open": True}
    assert "尚未恢复" in gap.explanation_zh and "has not come back" in gap.explanation_en

    # The next fix closes it: the same record, with the gap's real length and jump.
    feed(live, store, points_of(plate), last_before + timedelta(seconds=1), at("01:55:00"))
    (closed,) = flags_of(engine, plate, FlagCode.SIGNAL_GAP)
    assert closed.id == gap.id
    assert closed.measured["duration_s"] == 371.0 and "open" not in closed.measured
    assert utc(closed.end_ts) == at("01:47:53")

    run_the_day(engine, store, settings, plate)
    (final,) = flags_of(engine, plate, FlagCode.SIGNAL_GAP)
    assert final.id == gap.id and final.measured == closed.measured


def test_a_vehicle_without_fixes_for_a_while_in_its_depot_is_no_gap(
    engine: Engine, store: PointStore, settings: Settings
):
    """The timeout keeps the batch rule: a terminal asleep in the depot is no gap."""
    seed_registry(engine)
    plate = "粤A25957"
    first = points_of(plate).head(20)  # the morning, parked in its depot before work
    live = live_engine(engine, store, settings)
    store.append(first)
    live.process(first)
    asyncio.run(live.tick(utc(first["ts"][-1]) + timedelta(minutes=20)))
    assert flags_of(engine, plate) == []
    with Session(engine) as session:
        (position,) = session.exec(select(VehicleLive)).all()
        assert position.plate == plate and utc(position.ts) == first["ts"][-1]


def test_late_fixes_of_an_earlier_day_are_left_to_that_days_run(
    engine: Engine, store: PointStore, settings: Settings
):
    seed_registry(engine)
    plate = "粤A25957"
    live = live_engine(engine, store, settings)
    today = points_of(plate, start=at("00:00:00"), end=at("00:05:00"))
    live.process(today)
    window = live.windows()
    yesterday = today.with_columns(pl.col("ts") - timedelta(days=1))
    live.process(yesterday)  # a blind-area re-upload of the day before
    assert live.windows() == window and window[plate] > 0
    with Session(engine) as session:
        (position,) = session.exec(select(VehicleLive)).all()
        assert utc(position.ts) == today["ts"][-1]
        assert session.exec(select(FlagRecord)).all() == []


def test_a_live_flag_an_officer_already_reviewed_is_left_as_it_is(
    engine: Engine, store: PointStore, settings: Settings
):
    seed_registry(engine)
    plate = "粤A78144"
    live = live_engine(engine, store, settings)
    last_before = at("01:41:42")
    feed(live, store, points_of(plate), at("01:35:00"), last_before + timedelta(seconds=1))
    asyncio.run(live.tick(last_before + timedelta(seconds=305)))
    (gap,) = flags_of(engine, plate, FlagCode.SIGNAL_GAP)
    with Session(engine) as session:
        record = session.get(FlagRecord, gap.id)
        record.status = "dismissed"
        session.add(record)
        session.commit()
    feed(live, store, points_of(plate), last_before + timedelta(seconds=1), at("01:50:00"))
    (kept,) = flags_of(engine, plate, FlagCode.SIGNAL_GAP)
    assert (kept.id, kept.status, kept.measured) == (gap.id, "dismissed", gap.measured)


def test_batches_accepted_while_a_pass_runs_are_all_evaluated(
    engine: Engine, store: PointStore, settings: Settings
):
    """``accept`` returns at once; the passes take every batch accepted meanwhile."""
    seed_registry(engine)
    plates = ["粤A25957", "粤A37904"]
    batches = [
        points_of(plate, start=at(f"00:0{k}:00"), end=at(f"00:0{k + 1}:00"))
        for k in range(3)
        for plate in plates
    ]
    live = live_engine(engine, store, settings)

    async def run() -> None:
        for batch in batches:
            await live.accept(batch)
        await live.close()

    asyncio.run(run())
    assert live.passes < len(batches)  # the later batches joined a pass
    with Session(engine) as session:
        positions = {p.plate: utc(p.ts) for p in session.exec(select(VehicleLive))}
    assert positions == {
        plate: max(b["ts"].max() for b in batches if b["vehicle"][0] == plate) for plate in plates
    }


def test_batches_arriving_within_the_pass_interval_share_one_pass(
    engine: Engine, store: PointStore, settings: Settings
):
    """With ``pass_interval_s``, a pass waits that long after the previous one: the batches
    arriving in a steady stream (one every 0.05 s here) are evaluated together, and every one
    of them is."""
    from cdw.live.engine import LiveEngine

    seed_registry(engine)
    plate = "粤A25957"
    batches = [
        points_of(plate, start=at("00:00:00") + timedelta(seconds=10 * k),
                  end=at("00:00:00") + timedelta(seconds=10 * (k + 1)))
        for k in range(12)
    ]  # fmt: skip
    batches = [b for b in batches if b.height]
    live = LiveEngine(engine, settings, store=store, autotick=False, pass_interval_s=0.4)

    async def run() -> float:
        began = monotonic()
        for batch in batches:
            await live.accept(batch)
            await asyncio.sleep(0.05)
        span = monotonic() - began
        await live.close()
        return span

    span = asyncio.run(run())
    assert len(batches) >= 6
    # one pass per interval at most while batches arrive, and one for the last of them
    assert live.passes <= 2 + span / 0.4 < len(batches)
    with Session(engine) as session:
        (position,) = session.exec(select(VehicleLive)).all()
    assert utc(position.ts) == max(b["ts"].max() for b in batches)


def test_a_violation_seen_again_from_a_later_start_is_not_raised_twice():
    """A window cut into a violation shows it starting later: the same violation, not a new
    one (the day's run has it whole, from the start written first)."""
    from cdw.flags.values import Flag
    from cdw.live.engine import LiveEngine, _Window, _Written

    def zone_flag(start: str, end: str) -> Flag:
        return Flag(FlagCode.RESTRICTED_ZONE, 50, "粤AA2467", None, at(start), at(end),
                    113.4, 22.9, {}, {}, {}, "zh", "en")  # fmt: skip

    first = zone_flag("22:50:54", "22:55:00")
    window = _Window(DAY)
    window.written[(str(first.code), first.start)] = _Written(
        {}, 0.0, False, first.start, first.end
    )
    assert LiveEngine._seen_as(window, zone_flag("22:55:40", "22:59:07"))
    assert not LiveEngine._seen_as(window, zone_flag("23:10:00", "23:12:00"))
    other = Flag(FlagCode.SPEEDING, 50, "粤AA2467", None, at("22:52:00"), at("22:53:00"),
                 113.4, 22.9, {}, {}, {}, "zh", "en")  # fmt: skip
    assert not LiveEngine._seen_as(window, other)
