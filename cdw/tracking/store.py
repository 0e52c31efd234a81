"""Append-only Parquet point store partitioned by local day (DESIGN.md §5).

Layout: ``<root>/day=YYYY-MM-DD/part-<uuid>.parquet``, each file sorted by vehicle and time.
The day is the *local* calendar day in ``Settings.local_timezone`` (Asia/Shanghai by
default), the day officers ask about, so one vehicle-day never straddles two partitions.

``(vehicle, ts)`` is the key: :meth:`PointStore.append` writes only keys not stored yet,
so ingesting a file twice stores nothing new.

Atomicity: an append (or a compaction) first writes every new file under a temporary
name, then records a journal ``<root>/.journal.json`` naming the renames and deletions,
carries them out and removes the journal. An exception before the journal exists removes
the temporary files; one after it undoes the renames. A crash leaves either stray temporary
files (deleted) or a complete journal (rolled forward) that the next operation on the
store settles before it does anything else. An exclusive lock on ``<root>/.lock``
serialises writers; readers take a shared lock, so they never see half an operation.

Provenance: each stored point keeps the id of the upload that brought it (column
``upload``, a ``gps_upload`` row: file, SHA-256, channel, uploader; null for points stored
without one or before uploads were recorded). :meth:`PointStore.read` returns the points
frame without it; :meth:`PointStore.read_uploads` gives it.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from cdw.config import get_settings
from cdw.tracking.clean import sorted_by_vehicle_ts
from cdw.tracking.points import POINTS_SCHEMA, conform, empty_points

_JOURNAL = ".journal.json"
_LOCK = ".lock"
_TMP_PREFIX = ".tmp-"
DEFAULT_COMPACT_FILES = 32
UPLOAD = "upload"
STORED_SCHEMA: dict[str, pl.DataType] = {**POINTS_SCHEMA, UPLOAD: pl.String()}


def _stored(frame: pl.DataFrame, upload: str | None = None) -> pl.DataFrame:
    """``frame`` as the store keeps it: the points columns and the upload id."""
    if UPLOAD in frame.columns:
        return conform(frame).with_columns(frame[UPLOAD].cast(pl.String))
    return conform(frame).with_columns(pl.lit(upload, dtype=pl.String()).alias(UPLOAD))


def _scan(files: list[Path]) -> pl.LazyFrame:
    """The stored files as one frame (files from before ``upload`` existed read it as null)."""
    return pl.scan_parquet(
        files, hive_partitioning=False, schema=STORED_SCHEMA, missing_columns="insert"
    )


def _utc_span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    return start.astimezone(UTC), end.astimezone(UTC)


def _write(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", statistics=True)


def _first_of_each_key(batch: pl.DataFrame) -> pl.Series | None:
    """In ``batch`` sorted by key (stably), the rows that are the first of their key; None
    when every key is unique (nothing to drop)."""
    repeat = (pl.col("vehicle") == pl.col("vehicle").shift(1)) & (
        pl.col("ts") == pl.col("ts").shift(1)
    )
    repeats = batch.select(repeat.fill_null(False)).to_series()
    return ~repeats if repeats.any() else None


def _runs(frame: pl.DataFrame, column: str) -> Iterator[tuple[Any, pl.DataFrame]]:
    """``(value, rows)`` of each run of equal ``column`` values: zero-copy slices."""
    if frame.height == 0:
        return
    offset = 0
    for length, value in frame.select(pl.col(column).rle()).unnest(column).iter_rows():
        yield value, frame.slice(offset, length)
        offset += length


class _Staged:
    """Temporary files written by one operation, not yet made visible by a journal."""

    def __init__(self) -> None:
        self.renames: list[tuple[Path, Path]] = []
        self.by_day: dict[str, list[Path]] = {}
        self.vehicles: set[str] = set()

    def write(self, target: Path, frame: pl.DataFrame, day: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f"{_TMP_PREFIX}{target.name}")
        self.renames.append((temp, target))
        _write(frame, temp)
        self.by_day.setdefault(day, []).append(temp)

    def discard(self) -> None:
        for temp, _ in self.renames:
            temp.unlink(missing_ok=True)


@dataclass(frozen=True)
class AppendResult:
    new: int
    duplicates: int  # keys already stored, or repeated within the batch


class PointStore:
    def __init__(
        self,
        root: Path | str,
        *,
        timezone: str | None = None,
        compact_files: int | None = DEFAULT_COMPACT_FILES,
    ):
        """``compact_files``: after an append, a day holding more files than this is
        compacted into one (None: only when :meth:`compact` is called)."""
        self.root = Path(root)
        self.timezone = timezone or get_settings().local_timezone
        self.compact_files = compact_files

    # ------------------------------------------------------------------ public

    def append(self, frame: pl.DataFrame, upload: str | None = None) -> AppendResult:
        """Store the points whose key is new; ``upload``: the id of their ``gps_upload``."""
        return self.append_many([frame], upload)

    def append_many(
        self, frames: Iterable[pl.DataFrame], upload: str | None = None
    ) -> AppendResult:
        """Store the new keys of every frame as ONE all-or-nothing step (``upload``: the id of
        their ``gps_upload``). Frames are taken one at a time (an iterator of chunks is never
        held whole): each is checked against the store (only its days, vehicles and time span
        are read) and against itself, and its new points are written to temporary files at
        once; the journal that makes them visible is written after the last frame. Frames
        normally hold whole vehicle tracks; a key repeated in a later frame still counts as
        a duplicate (that frame is also checked against the files already written)."""
        new = duplicates = 0
        staged = _Staged()
        with self._lock(exclusive=True):
            try:
                for frame in frames:
                    fresh, repeated = self._stage(frame, upload, staged)
                    new += fresh
                    duplicates += repeated
                self._commit_staged(staged.renames, deletes=[])
            except BaseException:
                staged.discard()
                raise
            if self.compact_files is not None:
                for day in sorted(staged.by_day):
                    if len(self._files(day)) > self.compact_files:
                        self._compact_day(day)
        return AppendResult(new, duplicates)

    def _stage(self, frame: pl.DataFrame, upload: str | None, staged: _Staged) -> tuple[int, int]:
        """Write the new points of ``frame`` to temporary files (caller holds the write lock);
        returns (new, duplicates)."""
        if frame.height == 0:
            return 0, 0
        batch = _stored(frame, upload)
        if batch["vehicle"].null_count() or batch["ts"].null_count():
            raise ValueError("points without vehicle or ts cannot be stored")
        # one sort (by partition, vehicle, time; stable, so the first of repeated keys stays
        # first) replaces a unique, a partition and a per-part sort: every part is a slice
        batch = batch.with_columns(self._day_expr().alias("_day")).sort(
            "_day", "vehicle", "ts", maintain_order=True
        )
        keep = _first_of_each_key(batch)
        keep = self._not_stored(batch, staged, keep)
        fresh = batch if keep is None else batch.filter(keep)
        for day, part in _runs(fresh, "_day"):
            target = self._day_dir(day) / f"part-{uuid.uuid4().hex}.parquet"
            staged.write(target, part.drop("_day"), day)
        staged.vehicles.update(fresh["vehicle"].unique().to_list())
        return fresh.height, batch.height - fresh.height

    def read(
        self,
        start: datetime,
        end: datetime,
        vehicles: Iterable[str] | None = None,
    ) -> pl.DataFrame:
        """Points with ``start <= ts < end``, sorted by vehicle then time."""
        start, end = _utc_span(start, end)
        wanted = (pl.col("ts") >= start) & (pl.col("ts") < end)
        if vehicles is not None:
            wanted &= pl.col("vehicle").is_in(list(vehicles))
        frame = self._collect(start, end, wanted)
        if frame is None:
            return empty_points()
        frame = conform(frame)
        # each file is sorted; several files (or days) need a merge
        return frame if sorted_by_vehicle_ts(frame) else frame.sort("vehicle", "ts")

    def read_box(
        self,
        start: datetime,
        end: datetime,
        box: tuple[float, float, float, float],
        columns: Iterable[str] | None = None,
    ) -> pl.DataFrame:
        """Points with ``start <= ts < end`` inside ``box`` (west, south, east, north in
        degrees), sorted by vehicle then time: the box and the span pushed down into the
        Parquet reader. ``columns``: default all of the points frame; ``vehicle`` and ``ts``
        are always among them."""
        start, end = _utc_span(start, end)
        west, south, east, north = box
        wanted = (
            pl.col("lon").is_between(west, east)
            & pl.col("lat").is_between(south, north)
            & (pl.col("ts") >= start)
            & (pl.col("ts") < end)
        )
        names = list(POINTS_SCHEMA) if columns is None else list(columns)
        names = ["vehicle", "ts", *(n for n in names if n not in ("vehicle", "ts"))]
        frame = self._collect(start, end, wanted, names)
        if frame is None:
            return pl.DataFrame(schema={n: POINTS_SCHEMA[n] for n in names})
        return frame.sort("vehicle", "ts")

    def _collect(
        self, start: datetime, end: datetime, wanted: pl.Expr, names: list[str] | None = None
    ) -> pl.DataFrame | None:
        """The rows ``wanted`` of the files of the local days ``start``..``end`` (UTC) spans,
        read under the shared lock; None when the store holds no file of those days."""
        with self._lock(exclusive=False):
            files = self._span_files(start, end)
            if not files:
                return None
            lazy = _scan(files).filter(wanted)
            return (lazy if names is None else lazy.select(names)).collect()

    def _span_files(self, start: datetime, end: datetime) -> list[Path]:
        """The files of the local days ``start``..``end`` (UTC) spans (caller holds a lock)."""
        first = self._local_day(start)
        last = self._local_day(end - timedelta(microseconds=1))
        return [
            f
            for d in self._day_names()
            if first <= date.fromisoformat(d) <= last
            for f in self._files(d)
        ]

    def vehicle_counts(self, start: datetime, end: datetime) -> pl.DataFrame:
        """``vehicle, rows``: stored points per vehicle with ``start <= ts < end``, sorted by
        vehicle (a streaming count: the points themselves are not held)."""
        start, end = _utc_span(start, end)
        wanted = (pl.col("ts") >= start) & (pl.col("ts") < end)
        with self._lock(exclusive=False):
            files = self._span_files(start, end)
            if not files:
                return pl.DataFrame(schema={"vehicle": pl.String(), "rows": pl.UInt32()})
            return (
                _scan(files)
                .filter(wanted)
                .group_by("vehicle")
                .agg(pl.len().alias("rows"))
                .sort("vehicle")
                .collect(engine="streaming")
            )

    def read_uploads(self, day: date) -> pl.DataFrame:
        """``vehicle, ts, upload`` of every point stored for local ``day``."""
        with self._lock(exclusive=False):
            files = self._files(day.isoformat())
            if not files:
                return pl.DataFrame(schema={k: STORED_SCHEMA[k] for k in ("vehicle", "ts", UPLOAD)})
            return _scan(files).select("vehicle", "ts", UPLOAD).sort("vehicle", "ts").collect()

    def days(self) -> list[date]:
        with self._lock(exclusive=False):
            return [date.fromisoformat(d) for d in self._day_names() if self._files(d)]

    def files(self, day: date) -> list[Path]:
        with self._lock(exclusive=False):
            return self._files(day.isoformat())

    def compact(self, days: Iterable[date] | None = None) -> int:
        """Merge each day's files into one; returns the number of days rewritten."""
        with self._lock(exclusive=True):
            names = [d.isoformat() for d in days] if days is not None else self._day_names()
            return sum(self._compact_day(name) for name in names)

    # ------------------------------------------------------------------ internals

    def _day_expr(self) -> pl.Expr:
        return pl.col("ts").dt.convert_time_zone(self.timezone).dt.date().cast(pl.String)

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def _day_dir(self, day: str) -> Path:
        return self.root / f"day={day}"

    def _day_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name[4:] for p in self.root.glob("day=*") if p.is_dir())

    def _files(self, day: str) -> list[Path]:
        return sorted(self._day_dir(day).glob("part-*.parquet"))

    def _not_stored(
        self, batch: pl.DataFrame, staged: _Staged, keep: pl.Series | None
    ) -> pl.Series | None:
        """``keep`` narrowed to the rows whose key is not stored yet (nor written earlier in
        this operation); only the batch's days, vehicles and time span are read."""
        days = batch["_day"].unique().to_list()
        vehicles = batch["vehicle"].unique()
        files = [f for d in days for f in self._files(d)]
        if not staged.vehicles.isdisjoint(vehicles.to_list()):
            files += [f for d in days for f in staged.by_day.get(d, [])]
        if not files:
            return keep
        stored = (
            _scan(files)
            .select("vehicle", "ts")
            .filter(
                pl.col("vehicle").is_in(vehicles.implode())
                & pl.col("ts").is_between(batch["ts"].min(), batch["ts"].max())
            )
            .with_columns(_stored=pl.lit(True))
            .collect()
        )
        if stored.height == 0:
            return keep
        # stored keys are unique, so a left join keeps the batch's length and order
        new = (
            batch.select("vehicle", "ts")
            .join(stored, on=["vehicle", "ts"], how="left", maintain_order="left")
            .get_column("_stored")
            .is_null()
        )
        return new if keep is None else new & keep

    def _compact_day(self, day: str) -> bool:
        files = self._files(day)
        if len(files) < 2:
            return False
        merged = _scan(files).collect().sort("vehicle", "ts")
        target = self._day_dir(day) / f"part-{uuid.uuid4().hex}.parquet"
        self._commit([(target, _stored(merged))], deletes=files)
        return True

    def _commit(self, writes: list[tuple[Path, pl.DataFrame]], deletes: list[Path]) -> None:
        """Write ``writes`` and remove ``deletes`` as one all-or-nothing step."""
        staged = _Staged()
        try:
            for target, frame in writes:
                staged.write(target, frame, "")
            self._commit_staged(staged.renames, deletes)
        except BaseException:
            staged.discard()
            raise

    def _commit_staged(self, renames: list[tuple[Path, Path]], deletes: list[Path]) -> None:
        """Make the temporary files ``renames`` visible and remove ``deletes``, all or nothing:
        the journal first, then the renames (undone on failure), then the deletions."""
        if not renames and not deletes:
            return
        self._write_journal(renames, deletes)
        done: list[Path] = []
        try:
            for temp, target in renames:
                os.replace(temp, target)
                done.append(target)
        except BaseException:
            for target in done:
                target.unlink(missing_ok=True)
            for temp, _ in renames:
                temp.unlink(missing_ok=True)
            (self.root / _JOURNAL).unlink(missing_ok=True)
            raise
        for path in deletes:
            path.unlink(missing_ok=True)
        (self.root / _JOURNAL).unlink()

    def _write_journal(self, renames: list[tuple[Path, Path]], deletes: list[Path]) -> None:
        body = {
            "renames": [
                [str(t.relative_to(self.root)), str(f.relative_to(self.root))] for t, f in renames
            ],
            "deletes": [str(p.relative_to(self.root)) for p in deletes],
        }
        temp = self.root / f"{_TMP_PREFIX}journal-{uuid.uuid4().hex}.json"
        temp.write_text(json.dumps(body))
        os.replace(temp, self.root / _JOURNAL)

    def _recover(self) -> None:
        """Settle what a crashed operation left: roll a journal forward, remove temp files."""
        journal = self.root / _JOURNAL
        if journal.exists():
            body = json.loads(journal.read_text())
            for temp, target in body["renames"]:
                if (self.root / temp).exists():
                    os.replace(self.root / temp, self.root / target)
            for path in body["deletes"]:
                (self.root / path).unlink(missing_ok=True)
            journal.unlink()
        for stray in self._temp_files():
            stray.unlink()

    def _temp_files(self) -> Iterator[Path]:
        yield from self.root.glob(f"{_TMP_PREFIX}*")
        yield from self.root.glob(f"day=*/{_TMP_PREFIX}*")

    def _needs_recovery(self) -> bool:
        return (self.root / _JOURNAL).exists() or next(self._temp_files(), None) is not None

    @contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / _LOCK, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if self._needs_recovery():
                    self._recover()
                if not exclusive:
                    fcntl.flock(handle, fcntl.LOCK_SH)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
