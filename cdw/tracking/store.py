"""Append-only Parquet point store partitioned by local day and vehicle bucket (DESIGN.md §5).

Layout (version 2)::

    <root>/store.json                                   {"layout": 2, "buckets": N}
    <root>/day=YYYY-MM-DD/bucket=NN/part-<uuid>.parquet  each file sorted by vehicle, ts

The day is the *local* calendar day in ``Settings.local_timezone`` (Asia/Shanghai by
default), the day officers ask about, so one vehicle-day never straddles two partitions.
The bucket of a vehicle is :func:`vehicle_bucket`: CRC-32 of the plate's UTF-8 bytes modulo
N, the same in every process and every version (Dask workers agree with the writer). N is
``Settings.store_buckets`` when the store is created and recorded in ``store.json``; an
existing store keeps its own N. So one vehicle-day is read from the files of one
(day, bucket), a day from its buckets, and a place-and-time window (citizen reports) from
the days it spans with the box pushed down into the Parquet reader.

Layout 1 (before ``store.json``): ``<root>/day=YYYY-MM-DD/part-<uuid>.parquet``. Such files
stay readable beside the buckets (every read includes them); new points of such a store go
into buckets, and :meth:`PointStore.compact` rewrites a day's old files into its buckets.

``(vehicle, ts)`` is the key: :meth:`PointStore.append_many` writes only keys not stored yet,
so ingesting a file twice stores nothing new.

Files are written with ``Settings.store_compression``: LZ4 by default, which a task's read
decompresses in about half of zstd's CPU time for about 1.4 times the disk (the read was the
largest single cost of a day's analysis). Files of any compression are read side by side, and
a compaction rewrites a bucket's files in the current one.

Small files (live ingest appends every few seconds) are merged per (day, bucket) when a
bucket holds more than ``compact_files`` files (after an append: its most crowded bucket,
so that the gateway's buckets, which all grow together, are compacted one append at a time),
or by :meth:`PointStore.compact` (``cdw store compact``); a compaction holds one bucket in
memory at a time.

Atomicity: an append (or a compaction) first writes every new file under a temporary
name, then records a journal ``<root>/.journal.json`` naming the renames and deletions,
carries them out and removes the journal. An exception before the journal exists removes
the temporary files; one after it undoes the renames. A crash leaves either stray temporary
files (deleted) or a complete journal (rolled forward) that the next operation on the
store settles before it does anything else. An exclusive lock on ``<root>/.lock``
serialises writers; readers take a shared lock, so they never see half an operation.

Remote stores: ``PointStore("s3://bucket/points")`` (any fsspec URL, ``file:///…`` too) opens
a store read-only: fsspec lists it, polars reads it (natively for file, s3, gs, az, http;
through fsspec file objects for other schemes); ``storage_options`` go to both. Such a
reader takes no lock: it should read days no writer is compacting at the time.

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
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, get_args, overload
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow.parquet as pq

from cdw.config import MAX_STORE_BUCKETS, StoreCompression, get_settings
from cdw.errors import CdwError, Problem, ValidationFailed
from cdw.tracking.clean import sorted_by_vehicle_ts, vehicles_marked_sorted
from cdw.tracking.points import POINTS_SCHEMA, conform, empty_points

_JOURNAL = ".journal.json"
_LOCK = ".lock"
_TMP_PREFIX = ".tmp-"
_META = "store.json"
LAYOUT = 2
DEFAULT_COMPACT_FILES = 32
# An append checks its partitions against the store in groups of at least this many rows: one
# scan and one join for a gateway batch (every bucket in one group), one partition at a time
# for a city day (small joins run faster than one large one, and memory stays bounded).
_CHECK_ROWS = 50_000
_SPAN_CACHE_FILES = 16_384  # time spans of stored files kept per store object
# A stored file's footer counts its rows per vehicle (JSON ``{plate: rows}``), so that an
# append skips the files that hold none of its vehicles without reading them, and a run's
# plan counts a span of whole files without reading them (``vehicle_counts``). Earlier files
# list their vehicles alone (``_VEHICLES_KEY``), the first ones nothing.
_VEHICLE_ROWS_KEY = "cdw.vehicle_rows"
_VEHICLES_KEY = "cdw.vehicles"
_VEHICLE_CACHE_PLATES = 1_000_000  # plates of those lists kept per store object
# Runs of rows put in order as slices, one copy each, when they average this many rows (a
# day's bulk ingest: a vehicle's whole day in a file); shorter ones (live ingest's 5-minute
# files) by one gather of every row, cheaper than a call per run.
_SLICED_RUN_ROWS = 500
UPLOAD = "upload"
STORED_SCHEMA: dict[str, pl.DataType] = {**POINTS_SCHEMA, UPLOAD: pl.String()}
# schemes polars reads itself (object_store); others are read through fsspec file objects
_POLARS_SCHEMES = frozenset(
    {"file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "http", "https", "hf"}
)

# A file of the store: a local path, or a URL / fsspec file path of a remote store.
StoredFile = Path | str


class ReadOnlyStore(CdwError, PermissionError):
    code = "read_only_store"
    http_status = 409

    def __init__(self, root: str, action_zh: str, action_en: str):
        super().__init__(
            f"点位库 {root} 以 URL 打开，只读，不能{action_zh}（请在库所在主机用本地路径操作）",
            f"the point store {root} is opened by URL, read-only: cannot {action_en} "
            "(do it with a local path on the host that holds the store)",
        )


class StoreLayoutError(CdwError):
    code = "bad_point_store"
    http_status = 500


def _check_buckets(buckets: int, field: str = "buckets") -> int:
    if (
        isinstance(buckets, bool)
        or not isinstance(buckets, int)
        or not 1 <= buckets <= MAX_STORE_BUCKETS
    ):
        raise ValidationFailed(
            [
                Problem(
                    field,
                    f"车辆分桶数应为 1 到 {MAX_STORE_BUCKETS} 的整数，实际为 {buckets!r}",
                    f"the number of vehicle buckets must be an integer 1 to {MAX_STORE_BUCKETS}, "
                    f"got {buckets!r}",
                )
            ]
        )
    return buckets


@overload
def vehicle_bucket(vehicles: pl.Series, buckets: int) -> pl.Series: ...
@overload
def vehicle_bucket(vehicles: pl.Expr, buckets: int) -> pl.Expr: ...
def vehicle_bucket(vehicles: pl.Series | pl.Expr, buckets: int) -> pl.Series | pl.Expr:
    """The bucket (UInt16, 0..buckets-1) of each plate: CRC-32 (zlib, the IEEE 802.3
    polynomial) of its UTF-8 bytes modulo ``buckets``. A published checksum, unlike Python's
    salted ``hash()`` or polars' ``hash()`` (whose values may change between versions), so
    every process and every release puts a vehicle in the same bucket. Each distinct plate
    is hashed once (a day holds thousands of plates and millions of fixes)."""
    _check_buckets(buckets)
    if isinstance(vehicles, pl.Expr):
        return vehicles.map_batches(
            lambda s: _bucket_series(s, buckets), return_dtype=pl.UInt16, is_elementwise=True
        )
    return _bucket_series(vehicles, buckets)


def _bucket_series(vehicles: pl.Series, buckets: int) -> pl.Series:
    plates = vehicles.cast(pl.String).unique().drop_nulls()
    codes = pl.Series(
        [zlib.crc32(p.encode("utf-8")) % buckets for p in plates.to_list()], dtype=pl.UInt16
    )
    return vehicles.cast(pl.String).replace_strict(
        plates, codes, default=None, return_dtype=pl.UInt16
    )


_DAY_US = 86_400_000_000
_MINUTE = timedelta(minutes=1)
_FAST_DAYS_SPAN = timedelta(days=31)  # longest span whose offsets are checked minute by minute


def local_days(ts: pl.Series, timezone: str) -> pl.Series:
    """The local date (Int32 days since 1970) in ``timezone`` of each UTC ``ts``: what
    ``ts.dt.convert_time_zone(timezone).dt.date()`` gives, by integer arithmetic when the
    zone keeps one UTC offset over the batch's span (checked at every whole minute of it:
    offsets change at whole minutes in tzdata since 1972), as a city's day nearly always
    does; otherwise, or over a span of more than a month, row by row."""
    first, last = ts.min(), ts.max()
    if first is not None and last - first <= _FAST_DAYS_SPAN:  # type: ignore[operator]
        marks = pl.datetime_range(
            first.replace(second=0, microsecond=0),  # type: ignore[union-attr]
            last,
            _MINUTE,
            time_unit="us",
            time_zone="UTC",
            eager=True,
        )
        offsets = (
            marks.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
            - marks.dt.replace_time_zone(None)
        ).unique()
        if offsets.len() == 1:
            offset_us = offsets.dt.total_microseconds().item()
            return ((ts.dt.epoch("us") + offset_us) // _DAY_US).cast(pl.Int32)
    return ts.dt.convert_time_zone(timezone).dt.date().cast(pl.Int32)


def _stored(frame: pl.DataFrame, upload: str | None = None) -> pl.DataFrame:
    """``frame`` as the store keeps it: the points columns and the upload id."""
    if UPLOAD in frame.columns:
        return conform(frame).with_columns(frame[UPLOAD].cast(pl.String))
    return conform(frame).with_columns(pl.lit(upload, dtype=pl.String()).alias(UPLOAD))


# The Parquet codec names a file's footer gives for each compression the store writes.
_CODECS: dict[str, frozenset[str]] = {
    "lz4": frozenset({"LZ4", "LZ4_RAW"}),
    "zstd": frozenset({"ZSTD"}),
    "snappy": frozenset({"SNAPPY"}),
    "uncompressed": frozenset({"UNCOMPRESSED"}),
}


def _written_in(meta: pq.FileMetaData, compression: StoreCompression) -> bool:
    """Whether every column of the file of footer ``meta`` is written in ``compression``."""
    return all(
        meta.row_group(g).column(c).compression in _CODECS[compression]
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )


def _check_compression(compression: str) -> StoreCompression:
    if compression not in get_args(StoreCompression):
        allowed = ", ".join(get_args(StoreCompression))
        raise ValidationFailed(
            [
                Problem(
                    "store_compression",
                    f"点位库压缩方式应为 {allowed} 之一，实际为 {compression!r}",
                    f"the point store's compression must be one of {allowed}, got {compression!r}",
                )
            ]
        )
    return compression  # type: ignore[return-value]


def _utc_span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    return start.astimezone(UTC), end.astimezone(UTC)


def _write(frame: pl.DataFrame, path: Path, compression: StoreCompression) -> None:
    counts = frame.group_by("vehicle").len().sort("vehicle")
    rows = dict(zip(counts["vehicle"].to_list(), counts["len"].to_list(), strict=True))
    frame.write_parquet(
        path,
        compression=compression,
        statistics=True,
        metadata={_VEHICLE_ROWS_KEY: json.dumps(rows, ensure_ascii=False)},
    )


def _first_of_each_key(batch: pl.DataFrame) -> pl.Series | None:
    """In ``batch`` sorted by key (stably), the rows to keep: the first of each key; None
    when every key is unique."""
    repeat = (pl.col("vehicle") == pl.col("vehicle").shift(1)) & (
        pl.col("ts") == pl.col("ts").shift(1)
    )
    repeats = batch.select(repeat.fill_null(False)).to_series()
    return ~repeats if repeats.any() else None


def _groups(parts: pl.Series, rows: int) -> Iterator[tuple[int, int, list[int]]]:
    """``(offset, length, partition keys)`` of consecutive runs of ``parts`` gathered until
    they hold at least ``rows`` rows (the last group may hold fewer)."""
    offset = length = 0
    keys: list[int] = []
    for run, key in parts.rle().struct.unnest().iter_rows():
        keys.append(key)
        length += run
        if length >= rows:
            yield offset, length, keys
            offset, length, keys = offset + length, 0, []
    if keys:
        yield offset, length, keys


def _runs(frame: pl.DataFrame, column: str) -> Iterator[tuple[Any, pl.DataFrame]]:
    """``(value, rows)`` of each run of equal ``column`` values: zero-copy slices."""
    offset = 0
    for length, value in frame[column].rle().struct.unnest().iter_rows():
        yield value, frame.slice(offset, length)
        offset += length


# A partition: (local day "YYYY-MM-DD", bucket); bucket None is a layout-1 day's own files.
Part = tuple[str, int | None]
_DAY_FACTOR = MAX_STORE_BUCKETS  # the sort key of a partition: days since 1970 × this + bucket


class _Staged:
    """Temporary files written by one operation, not yet made visible by a journal."""

    def __init__(self, compression: StoreCompression) -> None:
        self.compression = compression
        self.renames: list[tuple[Path, Path]] = []
        self.by_part: dict[Part, list[Path]] = {}
        self.vehicles: set[str] = set()

    def write(self, target: Path, frame: pl.DataFrame, part: Part) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f"{_TMP_PREFIX}{target.name}")
        self.renames.append((temp, target))
        _write(frame, temp, self.compression)
        self.by_part.setdefault(part, []).append(temp)

    def discard(self) -> None:
        for temp, _ in self.renames:
            temp.unlink(missing_ok=True)


@dataclass(frozen=True)
class AppendResult:
    new: int
    duplicates: int  # keys already stored, or repeated within the batch


@dataclass(frozen=True)
class DayInfo:
    day: date
    rows: int
    vehicles: int
    files: int
    bytes: int
    legacy_files: int  # layout-1 files of the day, not yet compacted into buckets


@dataclass(frozen=True)
class StoreInfo:
    root: str
    layout: int  # 2 once store.json exists; 1 for a store of the old layout only
    buckets: int
    read_only: bool
    vehicles: int  # distinct vehicles over every day
    days: list[DayInfo]

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days)

    @property
    def files(self) -> int:
        return sum(d.files for d in self.days)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.days)

    @property
    def legacy_files(self) -> int:
        return sum(d.legacy_files for d in self.days)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "layout": self.layout,
            "buckets": self.buckets,
            "read_only": self.read_only,
            "days": len(self.days),
            "vehicles": self.vehicles,
            "rows": self.rows,
            "files": self.files,
            "bytes": self.bytes,
            "legacy_files": self.legacy_files,
            "per_day": [
                {
                    "day": d.day.isoformat(),
                    "rows": d.rows,
                    "vehicles": d.vehicles,
                    "files": d.files,
                    "bytes": d.bytes,
                    "legacy_files": d.legacy_files,
                }
                for d in self.days
            ],
        }


class _Remote:
    """Listing and reading of a store opened by URL (fsspec; polars reads the files)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None):
        import fsspec

        self.url = url
        self.options = storage_options or {}
        self.fs, self.path = fsspec.core.url_to_fs(url, **self.options)
        self.native = url.split("://", 1)[0].lower() in _POLARS_SCHEMES

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(f"{self.path.rstrip('/')}/{pattern}"))

    def read_text(self, name: str) -> str | None:
        path = f"{self.path.rstrip('/')}/{name}"
        return self.fs.cat_file(path).decode("utf-8") if self.fs.exists(path) else None

    def sources(self, files: list[str]) -> list[str] | list[IO[bytes]]:
        if self.native:
            return [self.fs.unstrip_protocol(f) for f in files]
        return [self.fs.open(f, "rb") for f in files]

    def size(self, file: str) -> int:
        return int(self.fs.size(file))

    def open(self, file: str) -> IO[bytes]:
        return self.fs.open(file, "rb")


class PointStore:
    def __init__(
        self,
        root: Path | str,
        *,
        timezone: str | None = None,
        compact_files: int | None = DEFAULT_COMPACT_FILES,
        buckets: int | None = None,
        compression: StoreCompression | None = None,
        storage_options: dict[str, Any] | None = None,
    ):
        """``root``: a directory, or a URL with a scheme (``file:///…``, ``s3://…``: read-only).
        ``compact_files``: after an append, the most crowded of its (day, bucket)s holding more
        files than this is compacted into one, and any holding twice as many (None: only when
        :meth:`compact` is called). ``buckets``: vehicle
        buckets of a store created by this object (default ``Settings.store_buckets``); a
        store that exists keeps the number recorded in its ``store.json``. ``compression``:
        of the files this object writes (default ``Settings.store_compression``); files of any
        compression are read.
        ``storage_options``: for a URL, passed to fsspec and polars (credentials, endpoint)."""
        settings = get_settings()
        text = str(root)
        self._remote = _Remote(text, storage_options) if "://" in text else None
        self.root: Path | str = text if self._remote else Path(root)
        self.timezone = timezone or settings.local_timezone
        self.compact_files = compact_files
        self.compression = _check_compression(compression or settings.store_compression)
        self._new_buckets = _check_buckets(
            settings.store_buckets if buckets is None else buckets, "store_buckets"
        )
        self._recorded: dict[str, Any] | None = None
        self._spans: dict[str, tuple[datetime, datetime] | None] = {}
        self._vehicle_sets: dict[str, frozenset[str] | None] = {}
        self._vehicle_set_plates = 0

    @property
    def read_only(self) -> bool:
        return self._remote is not None

    # ------------------------------------------------------------------ writing

    def append(self, frame: pl.DataFrame, upload: str | None = None) -> AppendResult:
        """Store the points whose key is new; ``upload``: the id of their ``gps_upload``."""
        return self.append_many([frame], upload)

    def append_many(
        self, frames: Iterable[pl.DataFrame], upload: str | None = None
    ) -> AppendResult:
        """Store the new keys of every frame as ONE all-or-nothing step (``upload``: the id of
        their ``gps_upload``). Frames are taken one at a time (an iterator of chunks is never
        held whole): each is checked against the store (only its days, buckets, vehicles and
        time span are read) and against itself, and its new points are written to temporary
        files at once; the journal that makes them visible is written after the last frame.
        Frames normally hold whole vehicle tracks; a key repeated in a later frame still counts
        as a duplicate (that frame is also checked against the files already written)."""
        self._writable("写入", "append")
        new = duplicates = 0
        staged = _Staged(self.compression)
        with self._lock(exclusive=True):
            try:
                for frame in frames:
                    fresh, repeated = self._stage(frame, upload, staged)
                    new += fresh
                    duplicates += repeated
                if staged.renames:
                    self._record_layout()
                self._commit_staged(staged.renames, deletes=[])
            except BaseException:
                staged.discard()
                raise
            if self.compact_files is not None:
                self._compact_crowded(list(staged.by_part), self.compact_files)
        return AppendResult(new, duplicates)

    def _compact_crowded(self, parts: list[Part], limit: int) -> None:
        """Compact the most crowded of ``parts`` holding more than ``limit`` files, and any
        holding more than twice as many. Live ingest adds a file to every bucket at each
        append: its buckets cross the limit together once, then are compacted one per append
        and stay staggered, instead of every bucket being rewritten in the same append."""
        counts = sorted(((len(self._part_files(*p)), p) for p in parts), reverse=True)
        for rank, (files, (day, bucket)) in enumerate(counts):
            if files > limit and (rank == 0 or files > 2 * limit):
                self._compact_day(day, only=bucket)

    def _stage(self, frame: pl.DataFrame, upload: str | None, staged: _Staged) -> tuple[int, int]:
        """Write the new points of ``frame`` to temporary files, one per (day, bucket)
        (caller holds the write lock); returns (new, duplicates)."""
        if frame.height == 0:
            return 0, 0
        batch = _stored(frame, upload)
        if batch["vehicle"].null_count() or batch["ts"].null_count():
            raise ValueError("points without vehicle or ts cannot be stored")
        parts, order = self._store_order(batch)
        new = 0
        # partitions are checked against the store in groups (see _CHECK_ROWS); only one
        # group's rows are gathered into store order at a time, never the whole batch
        for offset, length, keys in _groups(parts, _CHECK_ROWS):
            if order is None:
                rows = batch.slice(offset, length)
            else:
                rows = batch.gather(order.slice(offset, length))
            rows = rows.with_columns(parts.slice(offset, length).alias("_part"))
            first = _first_of_each_key(rows)
            keep = self._not_stored(rows, [_part_of(k) for k in keys], staged, first)
            fresh = rows if keep is None else rows.filter(keep)
            for key, part_rows in _runs(fresh, "_part"):
                where = _part_of(key)
                target = self._part_dir(*where) / f"part-{uuid.uuid4().hex}.parquet"
                staged.write(target, part_rows.drop("_part"), where)
                staged.vehicles.update(part_rows["vehicle"].unique().to_list())
            new += fresh.height
        return new, batch.height - new

    def _store_order(self, batch: pl.DataFrame) -> tuple[pl.Series, pl.Series | None]:
        """The partition key (day, bucket) of each row in store order (day, bucket, vehicle,
        ts), and the row order that puts ``batch`` in it (a stable sort on integers, each
        plate ranked once: repeated keys end side by side, the first as it came first); None
        when the batch is in that order already (ingest's chunks)."""
        vehicle = batch["vehicle"]
        plates = vehicle.unique().sort()
        n = plates.len()
        per_plate = vehicle_bucket(plates, self.buckets).cast(pl.Int64) * n + pl.int_range(
            n, dtype=pl.Int64, eager=True
        )
        if vehicle.flags["SORTED_ASC"]:  # ingest's groups: a run's number is its plate's rank
            plate = per_plate.gather(vehicle.rle_id())
        else:
            plate = vehicle.replace_strict(plates, per_plate, return_dtype=pl.Int64)
        day = local_days(batch["ts"], self.timezone).cast(pl.Int64)
        keys = pl.DataFrame({"_part": day * (_DAY_FACTOR * n) + plate, "ts": batch["ts"]})
        step = pl.col("_part").diff()
        in_order = (step > 0) | ((step == 0) & (pl.col("ts").diff() >= 0))
        order = None
        if not keys.select(in_order.fill_null(True).all()).item():
            order = keys.select(pl.arg_sort_by("_part", "ts", maintain_order=True)).to_series()
            keys = keys.select(pl.col("_part").gather(order))
        return keys["_part"] // n, order

    def _not_stored(
        self, rows: pl.DataFrame, parts: list[Part], staged: _Staged, keep: pl.Series | None
    ) -> pl.Series | None:
        """``keep`` narrowed to the ``rows`` (of partitions ``parts``) whose key is not stored
        yet (nor written earlier in this operation); only those partitions' files, restricted
        to the rows' vehicles and time span, are read."""
        vehicles = rows["vehicle"].unique()
        files: list[StoredFile] = []
        for day in sorted({day for day, _ in parts}):
            files += self._legacy_files(day)
        for part in parts:
            files += self._part_files(*part)
        first, last = rows["ts"].min(), rows["ts"].max()
        wanted = set(vehicles.to_list())
        files = [
            f
            for f in files
            if self._may_hold(f, first, last)  # type: ignore[arg-type]
            and self._may_hold_vehicles(f, wanted)
        ]
        if not staged.vehicles.isdisjoint(vehicles.to_list()):
            files += [f for part in parts for f in staged.by_part.get(part, [])]
        if not files:
            return keep
        stored = (
            self._scan(files)
            .select("vehicle", "ts")
            .filter(
                pl.col("vehicle").is_in(vehicles.implode()) & pl.col("ts").is_between(first, last)
            )
            .with_columns(_stored=pl.lit(True))
            .collect()
        )
        if stored.height == 0:
            return keep
        # stored keys are unique, so a left join keeps the rows' length and order
        new = (
            rows.select("vehicle", "ts")
            .join(stored, on=["vehicle", "ts"], how="left", maintain_order="left")
            .get_column("_stored")
            .is_null()
        )
        return new if keep is None else new & keep

    def compact(self, days: Iterable[date] | None = None, recompress: bool = False) -> int:
        """Merge each (day, bucket) holding several files into one, and rewrite layout-1 files
        into buckets; one bucket in memory at a time, one all-or-nothing step per day. With
        ``recompress``, a bucket's one file written in another compression than this store
        object's is rewritten too (a store moved to another ``store_compression``).
        Returns the number of (day, bucket) files written."""
        self._writable("整理", "compact")
        with self._lock(exclusive=True):
            names = [d.isoformat() for d in days] if days is not None else self._day_names()
            if any(self._legacy_files(name) for name in names):
                self._record_layout()
            return sum(self._compact_day(name, recompress=recompress) for name in names)

    def _compact_day(self, day: str, only: int | None = None, recompress: bool = False) -> int:
        """Rewrite ``day`` (or its bucket ``only``): each bucket with several files, or with
        points in the day's layout-1 files, or (``recompress``) with one file in another
        compression, becomes one file (caller holds the write lock)."""
        legacy = [] if only is not None else self._legacy_files(day)
        legacy_by_bucket: dict[int, list[str]] = {}
        if legacy:
            plates = self._scan(legacy).select("vehicle").unique().collect()["vehicle"]
            codes = vehicle_bucket(plates, self.buckets)
            for plate, code in zip(plates.to_list(), codes.to_list(), strict=True):
                legacy_by_bucket.setdefault(code, []).append(plate)
        buckets = self._bucket_numbers(day) if only is None else [only]
        staged = _Staged(self.compression)
        deletes: list[Path] = []
        try:
            for bucket in sorted(set(buckets) | set(legacy_by_bucket)):
                files = self._part_files(day, bucket)
                plates_here = legacy_by_bucket.get(bucket)
                recompressed = (
                    recompress
                    and files
                    and not _written_in(self._metadata(files[0]), self.compression)
                )
                if len(files) < 2 and not plates_here and not recompressed:
                    continue
                scans = [self._scan(files)] if files else []
                if plates_here:
                    wanted = pl.col("vehicle").is_in(pl.Series(plates_here).implode())
                    scans.append(self._scan(legacy).filter(wanted))
                merged = pl.concat(scans).collect().sort("vehicle", "ts")
                target = self._part_dir(day, bucket) / f"part-{uuid.uuid4().hex}.parquet"
                staged.write(target, merged, (day, bucket))
                del merged
                deletes += files  # type: ignore[arg-type]
            deletes += legacy  # type: ignore[arg-type]
            self._commit_staged(staged.renames, deletes)
        except BaseException:
            staged.discard()
            raise
        return len(staged.renames)

    # ------------------------------------------------------------------ reading

    def read(
        self,
        start: datetime,
        end: datetime,
        vehicles: Iterable[str] | None = None,
    ) -> pl.DataFrame:
        """Points with ``start <= ts < end``, sorted by vehicle then time; with ``vehicles``,
        only theirs (only their buckets' files are opened, and only the row groups whose
        plates may hold them: files are sorted by plate)."""
        start, end = _utc_span(start, end)
        wanted = (pl.col("ts") >= start) & (pl.col("ts") < end)
        plates = None if vehicles is None else sorted(set(vehicles))
        if plates is not None:
            if not plates:
                return empty_points()
            plate = pl.col("vehicle")
            wanted &= plate.is_between(pl.lit(plates[0]), pl.lit(plates[-1])) & plate.is_in(
                pl.Series(plates, dtype=pl.String).implode()
            )
        frame = self._collect(start, end, wanted, list(POINTS_SCHEMA), plates)
        if frame is None:
            return empty_points()
        return _by_vehicle_and_time(conform(frame))

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

    def scan(
        self,
        start: datetime,
        end: datetime,
        columns: Iterable[str] | None = None,
        vehicles: Iterable[str] | None = None,
    ) -> pl.LazyFrame:
        """The points with ``start <= ts < end`` as a lazy frame, not collected (a streaming
        aggregate over a range). The files are listed under the shared lock but read when the
        caller collects: collect before a compaction of those days could remove them."""
        start, end = _utc_span(start, end)
        names = list(POINTS_SCHEMA) if columns is None else list(columns)
        plates = None if vehicles is None else sorted(set(vehicles))
        wanted = (pl.col("ts") >= start) & (pl.col("ts") < end)
        if plates is not None:
            wanted &= pl.col("vehicle").is_in(pl.Series(plates, dtype=pl.String).implode())
        with self._lock(exclusive=False):
            files = self._span_files(start, end, plates)
        if not files:
            return pl.LazyFrame(schema={n: POINTS_SCHEMA[n] for n in names})
        return self._scan(files).filter(wanted).select(names)

    def vehicle_counts(self, start: datetime, end: datetime) -> pl.DataFrame:
        """``vehicle, rows``: stored points per vehicle with ``start <= ts < end``, sorted by
        vehicle: from the files' footers where every file lies inside the span (a run over
        whole days), else a streaming count (the points themselves are not held)."""
        start, end = _utc_span(start, end)
        wanted = (pl.col("ts") >= start) & (pl.col("ts") < end)
        with self._lock(exclusive=False):
            files = self._span_files(start, end)
            if not files:
                return pl.DataFrame(schema={"vehicle": pl.String(), "rows": pl.UInt32()})
            footers = self._footer_counts(files, start, end)
            if footers is not None:
                return footers
            return (
                self._scan(files)
                .filter(wanted)
                .group_by("vehicle")
                .agg(pl.len().alias("rows"))
                .sort("vehicle")
                .collect(engine="streaming")
            )

    def coordinate_bounds(
        self, start: datetime, end: datetime
    ) -> tuple[float, float, float, float] | None:
        """``(west, east, south, north)``: the least and greatest longitude and latitude of
        the files of the local days ``start..end`` spans, from their footers' statistics (no
        data read; Parquet leaves NaN out of them); None without files, or when one lacks
        them. The files of a day hold only that day's points, so these bound the span's."""
        start, end = _utc_span(start, end)
        with self._lock(exclusive=False):
            files = self._span_files(start, end)
            bounds = [_lonlat_bounds(self._metadata(f)) for f in files]
        if not bounds or any(b is None for b in bounds):
            return None
        west, east, south, north = zip(*bounds, strict=True)
        return min(west), max(east), min(south), max(north)

    def read_uploads(self, day: date) -> pl.DataFrame:
        """``vehicle, ts, upload`` of every point stored for local ``day``."""
        with self._lock(exclusive=False):
            files = self._day_files(day.isoformat())
            if not files:
                return pl.DataFrame(schema={k: STORED_SCHEMA[k] for k in ("vehicle", "ts", UPLOAD)})
            return self._scan(files).select("vehicle", "ts", UPLOAD).sort("vehicle", "ts").collect()

    def days(self) -> list[date]:
        with self._lock(exclusive=False):
            return [date.fromisoformat(d) for d in self._day_names() if self._day_files(d)]

    def files(self, day: date) -> list[StoredFile]:
        """Every file of local ``day``: its buckets' and any layout-1 files."""
        with self._lock(exclusive=False):
            return self._day_files(day.isoformat())

    @property
    def buckets(self) -> int:
        """Vehicle buckets: as recorded in ``store.json``, else those a new store gets."""
        recorded = self._layout_record()
        return self._new_buckets if recorded is None else int(recorded["buckets"])

    def info(self) -> StoreInfo:
        """Rows, files, bytes and vehicles, in all and per day. Rows come from the Parquet
        footers and bytes from the file sizes (no data read); vehicles from a streaming
        distinct of the vehicle column."""
        with self._lock(exclusive=False):
            seen: set[str] = set()
            per_day: list[DayInfo] = []
            for day in self._day_names():
                files = self._day_files(day)
                if not files:
                    continue
                plates = (self._scan(files).select("vehicle").unique().collect(engine="streaming"))[
                    "vehicle"
                ]
                seen.update(plates.to_list())
                per_day.append(
                    DayInfo(
                        day=date.fromisoformat(day),
                        rows=sum(self._row_count(f) for f in files),
                        vehicles=plates.len(),
                        files=len(files),
                        bytes=sum(self._size(f) for f in files),
                        legacy_files=len(self._legacy_files(day)),
                    )
                )
            recorded = self._layout_record()
            return StoreInfo(
                root=str(self.root),
                layout=LAYOUT if recorded is not None or not per_day else 1,
                buckets=self.buckets,
                read_only=self.read_only,
                vehicles=len(seen),
                days=per_day,
            )

    def _collect(
        self,
        start: datetime,
        end: datetime,
        wanted: pl.Expr,
        names: list[str] | None = None,
        vehicles: list[str] | None = None,
    ) -> pl.DataFrame | None:
        """The rows ``wanted`` of the files of the local days ``start``..``end`` (UTC) spans
        (and the buckets of ``vehicles``), read under the shared lock; None when there is no
        such file."""
        with self._lock(exclusive=False):
            files = self._span_files(start, end, vehicles)
            if not files:
                return None
            lazy = self._scan(files).filter(wanted)
            return (lazy if names is None else lazy.select(names)).collect()

    def _span_files(
        self, start: datetime, end: datetime, vehicles: list[str] | None = None
    ) -> list[StoredFile]:
        """The files of the local days ``start``..``end`` (UTC) spans, only the buckets of
        ``vehicles`` when given (caller holds a lock)."""
        first = self._local_day(start).isoformat()
        last = self._local_day(end - timedelta(microseconds=1)).isoformat()
        buckets = None
        if vehicles is not None:
            codes = vehicle_bucket(pl.Series(vehicles, dtype=pl.String), self.buckets)
            buckets = sorted(set(codes.to_list()))
        return [
            f
            for d in self._day_names()
            if first <= d <= last  # ISO days sort as dates
            for f in self._day_files(d, buckets)
        ]

    # ------------------------------------------------------------------ layout

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def _part_dir(self, day: str, bucket: int | None) -> Path:
        assert isinstance(self.root, Path)
        folder = self.root / f"day={day}"
        return folder if bucket is None else folder / f"bucket={bucket:02d}"

    def _glob(self, pattern: str) -> list[StoredFile]:
        if self._remote is not None:
            return list(self._remote.glob(pattern))
        assert isinstance(self.root, Path)
        return sorted(self.root.glob(pattern)) if self.root.is_dir() else []

    def _day_names(self) -> list[str]:
        return sorted({_name(p)[4:] for p in self._glob("day=*")})

    def _legacy_files(self, day: str) -> list[StoredFile]:
        return self._glob(f"day={day}/part-*.parquet")

    def _part_files(self, day: str, bucket: int | None) -> list[StoredFile]:
        if bucket is None:
            return self._legacy_files(day)
        return self._glob(f"day={day}/bucket={bucket:02d}/part-*.parquet")

    def _bucket_numbers(self, day: str) -> list[int]:
        return sorted({int(_name(p)[7:]) for p in self._glob(f"day={day}/bucket=*")})

    def _day_files(self, day: str, buckets: list[int] | None = None) -> list[StoredFile]:
        """The layout-1 files of ``day`` and those of its buckets (all, or ``buckets``)."""
        if buckets is None:
            return self._legacy_files(day) + self._glob(f"day={day}/bucket=*/part-*.parquet")
        return self._legacy_files(day) + [f for b in buckets for f in self._part_files(day, b)]

    def _layout_record(self) -> dict[str, Any] | None:
        """``store.json`` (read once: it never changes), None for a store without it."""
        if self._recorded is None:
            if self._remote is not None:
                text = self._remote.read_text(_META)
            else:
                assert isinstance(self.root, Path)
                path = self.root / _META
                text = path.read_text(encoding="utf-8") if path.exists() else None
            if text is None:
                return None
            self._recorded = self._checked_record(text)
        return self._recorded

    def _checked_record(self, text: str) -> dict[str, Any]:
        where = f"{self.root}/{_META}"
        try:
            body = json.loads(text)
            layout, buckets = body["layout"], body["buckets"]
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreLayoutError(
                f"点位库描述文件 {where} 无法解析：{exc}", f"cannot read {where}: {exc}"
            ) from exc
        if layout != LAYOUT:
            raise StoreLayoutError(
                f"点位库 {where} 的布局版本为 {layout!r}，本程序只支持 {LAYOUT}",
                f"{where} records layout {layout!r}; this version reads layout {LAYOUT}",
            )
        _check_buckets(buckets, where)
        return body

    def _record_layout(self) -> None:
        """Write ``store.json`` if the store has none yet (caller holds the write lock)."""
        if self._layout_record() is not None:
            return
        assert isinstance(self.root, Path)
        body = {"layout": LAYOUT, "buckets": self._new_buckets}
        temp = self.root / f"{_TMP_PREFIX}{_META}"
        temp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(temp, self.root / _META)
        self._recorded = body

    def _scan(self, files: list[StoredFile]) -> pl.LazyFrame:
        """The stored files as one frame (files from before ``upload`` existed read it as null)."""
        sources: Any = files
        options = None
        if self._remote is not None:
            sources = self._remote.sources([str(f) for f in files])
            options = self._remote.options if self._remote.native else None
        return pl.scan_parquet(
            sources,
            hive_partitioning=False,
            schema=STORED_SCHEMA,
            missing_columns="insert",
            storage_options=options or None,
        )

    def _metadata(self, file: StoredFile) -> pq.FileMetaData:
        if self._remote is not None:
            with self._remote.open(str(file)) as handle:
                return pq.read_metadata(handle)
        return pq.read_metadata(file)

    def _row_count(self, file: StoredFile) -> int:
        return self._metadata(file).num_rows

    def _footer_counts(
        self, files: list[StoredFile], start: datetime, end: datetime
    ) -> pl.DataFrame | None:
        """``vehicle_counts`` from the footers of ``files``, when each counts its rows per
        vehicle and its time span (row group statistics) lies within ``start..end`` (every
        row counts); else None."""
        total: dict[str, int] = {}
        for file in files:
            meta = self._metadata(file)
            span, rows = _ts_span(meta), _vehicle_rows(meta)
            if span is None or rows is None or not (start <= span[0] and span[1] < end):
                return None
            for vehicle, n in rows.items():
                total[vehicle] = total.get(vehicle, 0) + n
        return pl.DataFrame(
            {"vehicle": list(total), "rows": list(total.values())},
            schema={"vehicle": pl.String(), "rows": pl.UInt32()},
        ).sort("vehicle")

    def _may_hold(self, file: StoredFile, first: datetime, last: datetime) -> bool:
        """Whether ``file``'s time span (from its footer's statistics) meets ``first``..``last``.
        Stored files never change, so the span is kept by path: the gateway's appends, each
        newer than every file of its buckets, then open none of them."""
        key = str(file)
        if key not in self._spans:
            if len(self._spans) >= _SPAN_CACHE_FILES:
                self._spans.clear()
            self._spans[key] = _ts_span(self._metadata(file))
        span = self._spans[key]
        return span is None or (span[0] <= last and first <= span[1])

    def _may_hold_vehicles(self, file: StoredFile, vehicles: set[str]) -> bool:
        """Whether ``file`` may hold points of ``vehicles``: its footer's list of vehicles
        meets them, or it has none. Kept by path (stored files never change), up to
        ``_VEHICLE_CACHE_PLATES`` plates."""
        key = str(file)
        if key not in self._vehicle_sets:
            if self._vehicle_set_plates >= _VEHICLE_CACHE_PLATES:
                self._vehicle_sets.clear()
                self._vehicle_set_plates = 0
            listed = _listed_vehicles(self._metadata(file))
            self._vehicle_sets[key] = listed
            self._vehicle_set_plates += len(listed or ())
        listed = self._vehicle_sets[key]
        return listed is None or not listed.isdisjoint(vehicles)

    def _size(self, file: StoredFile) -> int:
        if self._remote is not None:
            return self._remote.size(str(file))
        return Path(file).stat().st_size

    # ------------------------------------------------------------------ atomicity

    def _writable(self, action_zh: str, action_en: str) -> None:
        if self._remote is not None:
            raise ReadOnlyStore(self._remote.url, action_zh, action_en)

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
            self._root_path(_JOURNAL).unlink(missing_ok=True)
            raise
        for path in deletes:
            path.unlink(missing_ok=True)
        self._root_path(_JOURNAL).unlink()

    def _root_path(self, name: str) -> Path:
        assert isinstance(self.root, Path)
        return self.root / name

    def _write_journal(self, renames: list[tuple[Path, Path]], deletes: list[Path]) -> None:
        root = self._root_path("")
        body = {
            "renames": [[str(t.relative_to(root)), str(f.relative_to(root))] for t, f in renames],
            "deletes": [str(p.relative_to(root)) for p in deletes],
        }
        temp = root / f"{_TMP_PREFIX}journal-{uuid.uuid4().hex}.json"
        temp.write_text(json.dumps(body))
        os.replace(temp, root / _JOURNAL)

    def _recover(self) -> None:
        """Settle what a crashed operation left: roll a journal forward, remove temp files."""
        root = self._root_path("")
        journal = root / _JOURNAL
        if journal.exists():
            body = json.loads(journal.read_text())
            for temp, target in body["renames"]:
                if (root / temp).exists():
                    os.replace(root / temp, root / target)
            for path in body["deletes"]:
                (root / path).unlink(missing_ok=True)
            journal.unlink()
        for stray in self._temp_files():
            stray.unlink()

    def _temp_files(self) -> Iterator[Path]:
        root = self._root_path("")
        yield from root.glob(f"{_TMP_PREFIX}*")
        yield from root.glob(f"day=*/{_TMP_PREFIX}*")
        yield from root.glob(f"day=*/bucket=*/{_TMP_PREFIX}*")

    def _needs_recovery(self) -> bool:
        return self._root_path(_JOURNAL).exists() or next(self._temp_files(), None) is not None

    @contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        if self._remote is not None:  # read-only: no writer of ours to wait for
            self._layout_record()
            yield
            return
        root = self._root_path("")
        root.mkdir(parents=True, exist_ok=True)
        with open(root / _LOCK, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if self._needs_recovery():
                    self._recover()
                self._layout_record()  # a store of a layout this version cannot read: refuse
                if not exclusive:
                    fcntl.flock(handle, fcntl.LOCK_SH)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# Parquet timestamp units as (multiply, divide) to microseconds
_TS_UNITS = {"milliseconds": (1_000, 1), "microseconds": (1, 1), "nanoseconds": (1, 1_000)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts_span(meta: pq.FileMetaData) -> tuple[datetime, datetime] | None:
    """The least and greatest ``ts`` of a file by its row groups' statistics (None: unknown).
    Read from the raw INT64 values and the column's unit (pyarrow's own conversion of a
    zoned timestamp imports pandas: a second of start-up for every ingest)."""
    column = meta.schema.names.index("ts")
    kind = json.loads(meta.schema.column(column).logical_type.to_json())
    if kind.get("Type") != "Timestamp" or not kind.get("isAdjustedToUTC"):
        return None
    unit = _TS_UNITS.get(kind.get("timeUnit", ""))
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if unit is None or stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min_raw)
        highs.append(stats.max_raw)
    if not lows:
        return None
    # nanoseconds cut to the microsecond outwards: the span only widens
    (times, per), low, high = unit, min(lows), max(highs)
    low, high = low * times // per, -(-high * times // per)
    return _EPOCH + timedelta(microseconds=low), _EPOCH + timedelta(microseconds=high)


def _lonlat_bounds(meta: pq.FileMetaData) -> tuple[float, float, float, float] | None:
    """``(west, east, south, north)`` of a file by its row groups' statistics (None: unknown)."""
    names = meta.schema.names
    if "lon" not in names or "lat" not in names:
        return None
    lows: dict[str, list[float]] = {"lon": [], "lat": []}
    highs: dict[str, list[float]] = {"lon": [], "lat": []}
    for group in range(meta.num_row_groups):
        for name in ("lon", "lat"):
            stats = meta.row_group(group).column(names.index(name)).statistics
            if stats is None or not stats.has_min_max:
                return None
            lows[name].append(float(stats.min))
            highs[name].append(float(stats.max))
    if not lows["lon"]:
        return None
    return min(lows["lon"]), max(highs["lon"]), min(lows["lat"]), max(highs["lat"])


def _by_vehicle_and_time(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (the rows of several stored files, each sorted by vehicle and time) sorted by
    vehicle, then time. Its runs of rows in order (one vehicle, times rising: a vehicle's rows
    in one file) are put in order by their first row and gathered once (long runs copied as
    slices, ``_SLICED_RUN_ROWS``), cheaper in time and memory than sorting every row by plate
    and time; runs of one vehicle that overlap in time
    (files of one bucket-day whose times interleave) leave a full sort to do. The key
    (vehicle, ts) is unique, so both give the one order. Whether the runs in order make the
    rows so is read from the runs' ends (a vehicle's next run starting no earlier than its
    last one ended), not from every row again."""
    if sorted_by_vehicle_ts(frame):
        return vehicles_marked_sorted(frame)
    vehicle, ts = pl.col("vehicle"), pl.col("ts")
    new_run = (vehicle != vehicle.shift(1)) | (ts <= ts.shift(1))
    starts = frame.select(new_run.fill_null(True).arg_true()).to_series()
    ends = starts.shift(-1, fill_value=frame.height)
    runs = pl.DataFrame(
        {
            "start": starts,
            "end": ends,
            "vehicle": frame["vehicle"].gather(starts),
            "ts": frame["ts"].gather(starts),
            "last": frame["ts"].gather(ends - 1),
        }
    ).sort("vehicle", "ts")
    if frame.height >= _SLICED_RUN_ROWS * runs.height:  # long runs: copied whole
        bounds = zip(runs["start"].to_list(), runs["end"].to_list(), strict=True)
        frame = pl.concat([frame.slice(a, b - a) for a, b in bounds], rechunk=True)
    else:
        frame = frame[pl.int_ranges(runs["start"], runs["end"], eager=True).explode()]
    if frame["vehicle"].null_count() or frame["ts"].null_count():
        in_order = sorted_by_vehicle_ts(frame)
    else:
        in_order = _runs_in_order(runs)
    return vehicles_marked_sorted(frame) if in_order else frame.sort("vehicle", "ts")


def _runs_in_order(runs: pl.DataFrame) -> bool:
    """Whether ``runs`` (``vehicle, ts, last``: each run's plate and first and last time; no
    nulls), in their order, put their rows in order of vehicle, then time: each run of a
    vehicle after another of it starts no earlier than that one ended."""
    vehicle, previous = pl.col("vehicle"), pl.col("vehicle").shift(1)
    after = (vehicle != previous) | (pl.col("ts") >= pl.col("last").shift(1))
    return bool(runs.select(after.fill_null(True).all()).item())


def _vehicle_rows(meta: pq.FileMetaData) -> dict[str, int] | None:
    """A file's rows per vehicle from its footer (None: a file written without them)."""
    text = (meta.metadata or {}).get(_VEHICLE_ROWS_KEY.encode())
    return None if text is None else json.loads(text)


def _listed_vehicles(meta: pq.FileMetaData) -> frozenset[str] | None:
    """The vehicles a file's footer names (None: a file written without them)."""
    rows = _vehicle_rows(meta)
    if rows is not None:
        return frozenset(rows)
    text = (meta.metadata or {}).get(_VEHICLES_KEY.encode())
    return None if text is None else frozenset(json.loads(text))


def _part_of(key: int) -> Part:
    """The (day, bucket) of a partition sort key."""
    days, bucket = divmod(key, _DAY_FACTOR)
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat(), bucket


def _name(file: StoredFile) -> str:
    return file.name if isinstance(file, Path) else file.rstrip("/").rsplit("/", 1)[-1]
