"""The shipped Panyu day (``sample_tracks/panyu-demo``: simulated on the real Panyu road
network) fed to the live engine as a gateway would: every 10 s, the fixes of those 10 s,
first made durable in the point store, then accepted."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import polars as pl
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdw.bundle import load_registry
from cdw.config import Settings
from cdw.demo import DEFAULT_BUNDLE
from cdw.flags.models import FlagRecord
from cdw.live.engine import LiveEngine
from cdw.tracking.io import read_points
from cdw.tracking.store import PointStore

BUNDLE = DEFAULT_BUNDLE
DAY = date(2026, 11, 20)
STEP = timedelta(seconds=10)


def at(hhmmss: str) -> datetime:
    """A UTC time of the day's morning (``00:30:46`` is 08:30:46 local) or, from 20:00 on,
    of the evening before it in UTC (the local day starts at 16:00 UTC)."""
    day = DAY if hhmmss < "16" else DAY - timedelta(days=1)
    return datetime.fromisoformat(f"{day}T{hhmmss}+00:00")


@cache
def day_points() -> pl.DataFrame:
    return read_points(Path(BUNDLE) / "tracks.csv").points.sort("vehicle", "ts")


def points_of(plate: str, start: datetime | None = None, end: datetime | None = None):
    frame = day_points().filter(pl.col("vehicle") == plate)
    if start is not None:
        frame = frame.filter(pl.col("ts") >= start)
    if end is not None:
        frame = frame.filter(pl.col("ts") < end)
    return frame


def seed_registry(engine: Engine) -> None:
    with Session(engine) as session:
        load_registry(session, BUNDLE)
        session.commit()


def live_engine(engine: Engine, store: PointStore, settings: Settings) -> LiveEngine:
    return LiveEngine(engine, settings, store=store, autotick=False)


def feed(
    live: LiveEngine,
    store: PointStore,
    points: pl.DataFrame,
    start: datetime,
    end: datetime,
    until=None,
) -> datetime | None:
    """Feed ``points`` with ``start <= ts < end`` in 10 s batches, each stored then accepted;
    with ``until(batch_end)`` (checked after each batch), stop at the first batch it holds
    for and return that batch's end."""

    async def run() -> datetime | None:
        t = start
        while t < end:
            batch = points.filter((pl.col("ts") >= t) & (pl.col("ts") < t + STEP))
            t += STEP
            if batch.height:
                store.append(batch)
                await live.accept(batch)
                await live.drain()
            if until is not None and until(t):
                return t
        return None

    return asyncio.run(run())


def flags_of(engine: Engine, plate: str, code: str | None = None) -> list[FlagRecord]:
    with Session(engine) as session:
        stmt = select(FlagRecord).where(FlagRecord.vehicle == plate)
        if code is not None:
            stmt = stmt.where(FlagRecord.code == code)
        return list(session.exec(stmt.order_by(FlagRecord.start_ts, FlagRecord.id)).all())


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
