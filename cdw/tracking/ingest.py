"""Ingest one GPS file: read → validate → clean → append to the point store, in bounded memory.

A file is stored whole or not at all: any rejected row aborts it with
:class:`~cdw.errors.ValidationFailed` listing the problems, unless ``skip_invalid`` is set,
in which case the good rows are stored and the rejects are written beside the input as
``<name>.rejects.csv`` (``line, field, reason_zh, reason_en, raw``).

Memory follows ``Settings.ingest_chunk_rows``, not the file: the reader yields checked
chunks of about that many points (:func:`cdw.tracking.io.iter_points`); a file of one chunk
is cleaned and stored as it is, a longer one is staged on disk, partitioned by vehicle, in
``<store root>/.ingest-<id>/`` and then cleaned and stored one group of partitions (about one
chunk of points) at a time, all groups in ONE commit (:meth:`PointStore.append_many`). The
rejects are staged too; the report keeps the first :data:`REJECTS_KEPT` of them and their
count. The staging directory is removed when the ingest ends, however it ends; one left by a
killed process is removed by the next ingest into the same store.

Two threads share the work (:mod:`cdw.tracking.prefetch`): the next chunk is read and parsed
while this one is staged, the next group cleaned while this one is stored, and with
:func:`ingest_files` the next file read and staged while this one is stored; the order, and
so every result, is the serial one.

Given a database ``session``, a stored file is recorded: a ``gps_upload`` row (file name,
SHA-256, channel, uploader, rows read/rejected, points new/already stored) whose id the
points carry in the store, and an audit entry, both flushed for the caller to commit right
after the points are stored (the point store is files: it cannot share the database's
transaction; the upload id is random, so a rolled-back record is never confused with
another).
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl
from sqlmodel import Session

from cdw.audit.log import audit
from cdw.auth.models import User
from cdw.config import MAX_STORE_BUCKETS, Thresholds, get_settings
from cdw.errors import MAX_PROBLEMS_SHOWN, CdwError, ValidationFailed
from cdw.exports import safe_row
from cdw.tracking._clean_kernels import implied_speed_keep
from cdw.tracking.clean import clean
from cdw.tracking.io import Reject, detect_format, iter_points
from cdw.tracking.models import GpsUpload
from cdw.tracking.points import empty_points
from cdw.tracking.prefetch import Prefetch
from cdw.tracking.store import PointStore, vehicle_bucket

REJECTS_COLUMNS = ("line", "field", "reason_zh", "reason_en", "raw")
REJECTS_KEPT = MAX_PROBLEMS_SHOWN  # rejects a report or error carries; the rejects file has all
STAGING_PREFIX = ".ingest-"
# Staged partitions: about one per this many bytes of input per chunk row, so that a group
# of whole partitions holds about one chunk of points (Parquet, the densest input, takes
# some 10-20 bytes a point; CSV and JT/T 808 50-80).
_INPUT_BYTES_PER_POINT = 16
_REJECTS_IN_MEMORY = 10_000  # staged rejects beyond this go to disk
_STALE_STAGING_S = 3600.0  # a staging directory without a lock file this old is abandoned


@dataclass
class IngestReport:
    source: str
    format: str
    read: int  # candidate points: valid plus rejected rows
    rejected: int
    dropped: dict[str, int] = field(default_factory=dict)  # by cleaning reason code
    reordered: int = 0
    new: int = 0
    already_stored: int = 0
    rejects_file: Path | None = None
    rejects: list[Reject] = field(default_factory=list)  # the first REJECTS_KEPT, by line
    upload_id: str | None = None  # the gps_upload row, when recorded
    rejects_total: int = 0  # every reject (one per bad field), also those not kept

    @property
    def note(self) -> tuple[str, str]:
        """One line in Chinese and English saying what happened to the file."""
        if self.new:
            zh, en = f"新存储 {self.new} 个点", f"stored {self.new} new points"
            if self.already_stored:
                zh += f"，{self.already_stored} 个此前已存储"
                en += f", {self.already_stored} were already stored"
        elif self.already_stored:
            zh = f"全部 {self.already_stored} 个有效点此前已存储，未写入新数据"
            en = f"all {self.already_stored} valid points were already stored; nothing new written"
        else:
            zh, en = "没有可存储的点", "no points to store"
        if self.rejected:
            zh += f"；跳过 {self.rejected} 行无效数据"
            en += f"; skipped {self.rejected} invalid rows"
        if self.rejects_file:
            zh += f"（见 {self.rejects_file}）"
            en += f" (see {self.rejects_file})"
        return zh, en

    def as_dict(self) -> dict[str, Any]:
        zh, en = self.note
        return {
            "source": self.source,
            "format": self.format,
            "read": self.read,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "reordered": self.reordered,
            "new": self.new,
            "already_stored": self.already_stored,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
            "message_zh": zh,
            "message_en": en,
        }


class FileRejected(ValidationFailed):
    """A file refused for its invalid rows: ``problems`` holds the first of them (by line),
    ``problem_count`` how many there are."""

    def __init__(self, problems: list[Reject], problem_count: int, zh: str, en: str):
        super().__init__(list(problems), zh, en)
        self.problem_count = problem_count

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        body["problem_count"] = self.problem_count
        return body


def ingest_file(
    path: str | Path,
    store: PointStore,
    *,
    session: Session | None = None,
    uploader: User | str = "system",
    channel: str = "cli",
    file_name: str | None = None,
    **options: Any,
) -> IngestReport:
    """:func:`read_file` (``options``: its keywords) then :func:`store_read`. The report
    carries the first rejects; ``write_rejects_file`` also writes them all beside the input
    (an upload answers them instead). With ``session``, the upload is recorded and audited
    (``uploader``, ``channel``, ``file_name`` as sent, default the path's name); the caller
    commits. ``chunk_rows``: default ``Settings.ingest_chunk_rows``."""
    with read_file(path, store, **options) as read:
        return store_read(
            read, store, session=session, uploader=uploader, channel=channel, file_name=file_name
        )


def ingest_files(
    paths: Iterable[Path],
    store: PointStore,
    *,
    session_scope: Callable[[], AbstractContextManager[Session]],
    uploader: User | str = "system",
    channel: str = "cli",
    **options: Any,
) -> Iterator[tuple[Path, IngestReport | CdwError]]:
    """:func:`ingest_file` for each path in turn, each file recorded in its own session (a
    new ``session_scope()``), yielding its report or the :class:`CdwError` that refused it.
    The next file is read, checked and staged on a worker thread (and hashed on another)
    while this one is cleaned and stored, so that reading (mostly parsing) and writing
    overlap on two cores; files are stored in order, each as ``ingest_file`` would store it. ``options``: those
    of :func:`read_file`."""

    def read_each() -> Iterator[tuple[Path, ReadFile | CdwError]]:
        with ThreadPoolExecutor(1, thread_name_prefix="cdw-ingest-hash") as hasher:
            for path in paths:
                digest = hasher.submit(file_sha256, Path(path))  # hashed while it is read
                try:
                    read = read_file(path, store, **options)
                except CdwError as exc:
                    yield path, exc
                    continue
                try:
                    read.sha256 = digest.result()
                except BaseException:
                    read.close()
                    raise
                yield path, read

    with Prefetch(read_each(), name="cdw-ingest-files", discard=_close_read) as reads:
        for path, read in reads:
            if isinstance(read, CdwError):
                yield path, read
                continue
            try:
                with read, session_scope() as session:
                    report = store_read(
                        read, store, session=session, uploader=uploader, channel=channel
                    )
            except CdwError as exc:
                yield path, exc
                continue
            yield path, report


def _close_read(item: tuple[Path, ReadFile | CdwError]) -> None:
    if isinstance(item[1], ReadFile):
        item[1].close()


@dataclass
class ReadFile:
    """A file read, checked and staged by :func:`read_file`, not yet stored; a context
    manager whose exit (or :meth:`close`) removes its staging."""

    path: Path
    format: str
    staging: _Staging
    read: int
    rejected: int
    rejects: list[Reject]  # the first REJECTS_KEPT
    rejects_file: Path | None
    thresholds: Thresholds
    now: datetime
    sha256: str | None = None  # the file's digest, when taken while it was read

    def __enter__(self) -> ReadFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.staging.close()


def read_file(
    path: str | Path,
    store: PointStore,
    *,
    skip_invalid: bool = False,
    fmt: str | None = None,
    crs: str = "wgs84",
    terminal_to_plate: dict[str, str] | None = None,
    vehicle: str | None = None,
    tz: str | None = None,
    thresholds: Thresholds | None = None,
    now: datetime | None = None,
    write_rejects_file: bool = True,
    chunk_rows: int | None = None,
) -> ReadFile:
    """The first half of :func:`ingest_file`: read, check and stage ``path`` (and write its
    rejects file); :class:`FileRejected` when it has rejects and not ``skip_invalid``."""
    path = Path(path)
    kind = detect_format(path, fmt)
    if store.read_only:  # refused before anything is staged beside a remote store
        store.append_many([])
    settings = get_settings()
    thresholds = thresholds or settings.thresholds
    now = now or datetime.now(UTC)  # one instant for every group's future-timestamp check
    chunk_rows = chunk_rows or settings.ingest_chunk_rows
    _load_cleaning_kernel_in_background()  # loaded while the file is read
    chunks = iter_points(
        path,
        fmt=kind,
        vehicle=vehicle,
        crs=crs,
        tz=tz,
        terminal_to_plate=terminal_to_plate,
        chunk_rows=chunk_rows,
    )
    with ExitStack() as on_error:
        staging = on_error.enter_context(_Staging(store, chunk_rows, path.stat().st_size))
        read = rejected = 0
        # the next chunk is read and parsed while this one is staged
        with Prefetch(chunks, name="cdw-ingest-read") as chunks_ahead:
            for chunk in chunks_ahead:
                read += chunk.points.height + chunk.rejected_rows
                rejected += chunk.rejected_rows
                staging.add_rejects(chunk.rejects)
                if skip_invalid or not staging.rejects_total:  # a refused file's points are dropped
                    staging.add_points(chunk.points)
        kept = staging.first_rejects(REJECTS_KEPT)
        if staging.rejects_total and not skip_invalid:
            raise FileRejected(
                kept,
                staging.rejects_total,
                zh=f"文件 {path.name} 有 {rejected} 行无效，未存储任何数据（可用 --skip-invalid 跳过无效行）",
                en=f"{path.name} has {rejected} invalid row(s); nothing was stored "
                "(use --skip-invalid to store the valid rows)",
            )
        rejects_file = None
        if staging.rejects_total and write_rejects_file:
            rejects_file = path.parent / f"{path.stem}.rejects.csv"
            write_rejects(rejects_file, staging.sorted_rejects())
        on_error.pop_all()  # the staging now belongs to the ReadFile
    return ReadFile(path, kind, staging, read, rejected, kept, rejects_file, thresholds, now)


def _load_cleaning_kernel_in_background() -> None:
    """Load ``implied_speed_keep``'s compiled code (numba's on-disk cache, ~0.5-1 s the first
    time in a process) on a daemon thread, so that a caller reading its input meanwhile does
    not wait for it later. Loading is under numba's compiler lock: a call made before it ends
    waits for it, nothing is compiled twice."""
    if implied_speed_keep.signatures:
        return
    # the types clean() passes: read-only columns (polars' arrays) and writable starts
    lon, t_us = np.empty(0, np.float64), np.empty(0, np.int64)
    lon.flags.writeable = t_us.flags.writeable = False
    threading.Thread(
        target=implied_speed_keep,
        args=(lon, lon, t_us, np.zeros(1, np.int64), 1.0),
        name="cdw-load-kernels",
        daemon=True,
    ).start()


def store_read(
    read: ReadFile,
    store: PointStore,
    *,
    session: Session | None = None,
    uploader: User | str = "system",
    channel: str = "cli",
    file_name: str | None = None,
) -> IngestReport:
    """The second half of :func:`ingest_file`: clean and store what ``read`` staged (the
    caller closes it), record the upload with ``session``."""
    tally = _CleanTally()
    upload_id = None if session is None else uuid.uuid4().hex
    # the next group is read back and cleaned while this one is written to the store
    with Prefetch(
        tally.cleaned(read.staging.groups(), read.thresholds, read.now), name="cdw-ingest-clean"
    ) as cleaned_ahead:
        appended = store.append_many(cleaned_ahead, upload=upload_id)
    report = IngestReport(
        source=str(read.path),
        format=read.format,
        read=read.read,
        rejected=read.rejected,
        dropped=tally.dropped,
        reordered=tally.reordered,
        new=appended.new,
        already_stored=appended.duplicates,
        rejects_file=read.rejects_file,
        rejects=read.rejects,
        upload_id=upload_id,
        rejects_total=read.staging.rejects_total,
    )
    if session is not None:
        path = read.path
        record_upload(
            session, path, report, uploader, channel, file_name or path.name, sha256=read.sha256
        )
    return report


class _CleanTally:
    """Cleans the groups one at a time and adds up what cleaning did.

    Cleaning a group of whole vehicle tracks gives exactly what cleaning the whole file gives
    for those vehicles, because every filter of :mod:`cdw.tracking.clean` looks at one row
    or one vehicle's points: invalid coordinates and future timestamps row by row (against
    one ``now`` for the file), duplicates by the key (vehicle, ts) keeping the first in file
    order (the staged partitions keep file order within a vehicle), out-of-order counted
    and sorted within each vehicle, implied-speed jumps along each vehicle's sorted track.
    So the counts add up and the kept points are the same; only their order across
    vehicles differs, which the store does not keep (each file is sorted by vehicle, ts).
    """

    def __init__(self) -> None:
        self.dropped: dict[str, int] = {}
        self.reordered = 0

    def cleaned(
        self, groups: Iterable[pl.DataFrame], thresholds: Thresholds, now: datetime
    ) -> Iterator[pl.DataFrame]:
        for group in groups:
            ordered = _in_track_order(group)
            result = clean(group if ordered is None else ordered, thresholds, now)
            for code, count in result.dropped.items():
                self.dropped[code] = self.dropped.get(code, 0) + count
            self.reordered += result.reordered
            yield result.points
        if not self.dropped:  # no point at all: the counts a whole-file clean reports
            self.dropped = clean(empty_points(), thresholds, now).dropped


def _in_track_order(group: pl.DataFrame) -> pl.DataFrame | None:
    """``group`` sorted by vehicle and time (stably, on integer keys) when no vehicle's time
    steps back in file order, else None (the usual file: each terminal reports in order).

    Cleaning the sorted frame then gives exactly what cleaning ``group`` gives, faster (its
    filters take their sorted paths): the row filters drop the same rows; a stable sort
    keeps the first of a repeated key first, so duplicates keeps the same rows; no time
    steps back, so out_of_order counts none either way (a subsequence of a non-decreasing
    sequence is non-decreasing) and sorts into the same order. Within a vehicle, times
    never step back in file order exactly when the sort keeps its rows in file order.
    """
    if group.height == 0 or group["vehicle"].null_count() or group["ts"].null_count():
        return None
    plates = group["vehicle"].unique().sort()
    rank = group["vehicle"].replace_strict(
        plates, pl.int_range(plates.len(), dtype=pl.UInt32, eager=True), return_dtype=pl.UInt32
    )
    order = _arg_sort_by_rank_and_time(rank, group["ts"])
    ranks = rank.gather(order)
    steps_back = (ranks.diff() == 0) & (order.cast(pl.Int64).diff() < 0)
    if steps_back.any():
        return None
    # sorted by rank among the sorted plates: the plates are in polars' string order
    return group.gather(order).with_columns(pl.col("vehicle").set_sorted())


def _arg_sort_by_rank_and_time(rank: pl.Series, ts: pl.Series) -> pl.Series:
    """The stable order by (rank, ts): one Int64 key ``rank × (span + 1) + (ts - first)``
    (in µs; ordered as the pair is) where it fits in 63 bits, else the two keys."""
    first, last = ts.min(), ts.max()
    span_us = (last - first) // timedelta(microseconds=1) + 1  # type: ignore[operator]
    if (rank.max() + 1) * span_us < 2**63:  # type: ignore[operator]
        keys = pl.DataFrame(
            {"key": rank.cast(pl.Int64) * span_us + (ts - first).dt.total_microseconds()}
        )
        return keys.select(pl.arg_sort_by("key", maintain_order=True)).to_series()
    keys = pl.DataFrame({"rank": rank, "ts": ts})
    return keys.select(pl.arg_sort_by("rank", "ts", maintain_order=True)).to_series()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_upload(
    session: Session,
    path: Path,
    report: IngestReport,
    uploader: User | str,
    channel: str,
    file_name: str,
    sha256: str | None = None,
) -> GpsUpload:
    """The ``gps_upload`` row of a stored file and its audit entry (flushed, not committed);
    ``sha256``: the file's digest if already taken."""
    upload = GpsUpload(
        id=report.upload_id,
        uploader=uploader.username if isinstance(uploader, User) else uploader,
        channel=channel,
        file_name=file_name[:255],
        sha256=sha256 or file_sha256(path),
        format=report.format,
        rows_read=report.read,
        rows_rejected=report.rejected,
        points_new=report.new,
        points_already_stored=report.already_stored,
    )
    session.add(upload)
    session.flush()
    audit(
        session,
        actor=uploader,
        entity="gps_upload",
        entity_id=upload.id,
        action="upload",
        data=upload.model_dump(exclude={"id", "at", "uploader"}),
    )
    return upload


def write_rejects(path: Path, rejects: Iterable[Reject]) -> None:
    """UTF-8 with BOM so that spreadsheet programs show the Chinese text; written atomically,
    row by row (``rejects`` may be a stream)."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with open(temp, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(REJECTS_COLUMNS)
            for r in rejects:
                writer.writerow(safe_row([r.line, r.field, r.zh, r.en, r.raw]))
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


_REJECT_SCHEMA: dict[str, Any] = {
    "line": pl.Int64,
    "field": pl.String,
    "zh": pl.String,
    "en": pl.String,
    "source": pl.String,
    "raw": pl.String,
}


class _Staging:
    """One ingest's points and rejects on their way to the store, on disk past one chunk.

    Points: the latest chunk stays in memory; when another arrives, it is split by
    :func:`vehicle_bucket` into ``parts`` partitions written as uncompressed Arrow IPC files
    (``part=NNNN/chunk-NNNNNN.arrow``: written and read back at disk-cache speed), so the
    last chunk is never written (nor a file of one chunk). :meth:`groups` reads back whole
    partitions, the last chunk's share from memory, about ``chunk_rows`` points a group,
    each vehicle's points in file order. ``parts`` is a
    multiple of the store's bucket count, so partition ``p`` lies in store bucket
    ``p % buckets`` (both are the same CRC-32 modulo) and a group never spans two store
    buckets: each frame the store receives writes one file per day. Rejects: kept in
    memory up to ``_REJECTS_IN_MEMORY``, then written out; read back in line order.
    The directory holds ``.lock``, locked while its ingest runs: a directory whose lock can
    be taken belongs to a dead process and is removed by the next ingest.
    """

    def __init__(self, store: PointStore, chunk_rows: int, input_bytes: int):
        self.root = Path(store.root)
        self.chunk_rows = chunk_rows
        self.buckets = store.buckets
        per_bucket = math.ceil(input_bytes / (chunk_rows * _INPUT_BYTES_PER_POINT * self.buckets))
        self.parts = self.buckets * min(max(per_bucket, 1), MAX_STORE_BUCKETS // self.buckets)
        self.dir = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        self._lock: IO[bytes] | None = None
        self._held: pl.DataFrame | None = None  # the latest chunk, not written
        self._held_parts: dict[int, pl.DataFrame] = {}
        self._chunks_written = 0
        self._part_rows: dict[int, int] = {}
        self._rejects: list[Reject] = []
        self._reject_files: list[Path] = []
        self._last_line: int | None = None
        self._rejects_in_order = True
        self.rejects_total = 0

    def __enter__(self) -> _Staging:
        self.root.mkdir(parents=True, exist_ok=True)
        remove_abandoned_staging(self.root)
        self.dir.mkdir()
        self._lock = open(self.dir / ".lock", "wb")  # noqa: SIM115 (held until __exit__)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()

    # ------------------------------------------------------------------ points

    def add_points(self, points: pl.DataFrame) -> None:
        if points.height == 0:
            return
        if self._held is not None:
            self._write_points(self._held)
        self._held = points

    def _split(self, points: pl.DataFrame) -> dict[int, pl.DataFrame]:
        """``points`` by partition, each in file order; counted in ``_part_rows``."""
        part = vehicle_bucket(points["vehicle"], self.parts).alias("_part")
        split = points.with_columns(part).partition_by("_part", as_dict=True, maintain_order=True)
        parts = {}
        for (number,), frame in split.items():
            parts[number] = frame.drop("_part")
            self._part_rows[number] = self._part_rows.get(number, 0) + frame.height
        return parts

    def _write_points(self, points: pl.DataFrame) -> None:
        for number, frame in self._split(points).items():
            folder = self.dir / f"part={number:04d}"
            folder.mkdir(exist_ok=True)
            frame.write_ipc(
                folder / f"chunk-{self._chunks_written:06d}.arrow", compression="uncompressed"
            )
        self._chunks_written += 1

    def groups(self) -> Iterator[pl.DataFrame]:
        """Frames of whole partitions (so of whole vehicles) of one store bucket, about
        ``chunk_rows`` points each."""
        if self._held is not None:
            if not self._chunks_written:
                yield self._held
                return
            self._held_parts, self._held = self._split(self._held), None
        group: list[int] = []
        rows = 0
        for number in sorted(self._part_rows, key=lambda p: (p % self.buckets, p)):
            same_bucket = not group or group[0] % self.buckets == number % self.buckets
            if group and (rows + self._part_rows[number] > self.chunk_rows or not same_bucket):
                yield self._read_parts(group)
                group, rows = [], 0
            group.append(number)
            rows += self._part_rows[number]
        if group:
            yield self._read_parts(group)

    def _read_parts(self, numbers: list[int]) -> pl.DataFrame:
        """The partitions' points: their written chunks in order, then the last chunk's."""
        frames = []
        for number in numbers:
            folder = self.dir / f"part={number:04d}"
            frames += [pl.read_ipc(file) for file in sorted(folder.glob("chunk-*.arrow"))]
            if number in self._held_parts:
                frames.append(self._held_parts.pop(number))
        return pl.concat(frames)

    # ------------------------------------------------------------------ rejects

    def add_rejects(self, rejects: list[Reject]) -> None:
        for reject in rejects:
            line = reject.line or 0
            if self._last_line is not None and line < self._last_line:
                self._rejects_in_order = False
            self._last_line = line if self._last_line is None else max(line, self._last_line)
        self._rejects.extend(rejects)
        self.rejects_total += len(rejects)
        if len(self._rejects) > _REJECTS_IN_MEMORY:
            file = self.dir / f"rejects-{len(self._reject_files):06d}.arrow"
            _rejects_frame(self._rejects).write_ipc(file, compression="uncompressed")
            self._reject_files.append(file)
            self._rejects = []

    def sorted_rejects(self) -> Iterator[Reject]:
        """Every reject, ordered by line (a stable sort: as each chunk listed them)."""
        frames = (pl.read_ipc(f) for f in self._reject_files)
        if self._rejects_in_order:
            for frame in frames:
                yield from _rejects_of(frame)
            yield from self._rejects
            return
        every = pl.concat([*frames, _rejects_frame(self._rejects)])
        yield from _rejects_of(every.sort(pl.col("line").fill_null(0), maintain_order=True))

    def first_rejects(self, n: int) -> list[Reject]:
        out: list[Reject] = []
        for reject in self.sorted_rejects():
            if len(out) == n:
                break
            out.append(reject)
        return out


def _rejects_frame(rejects: list[Reject]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "line": [r.line for r in rejects],
            "field": [r.field for r in rejects],
            "zh": [r.zh for r in rejects],
            "en": [r.en for r in rejects],
            "source": [r.source for r in rejects],
            "raw": [r.raw for r in rejects],
        },
        schema=_REJECT_SCHEMA,
    )


def _rejects_of(frame: pl.DataFrame) -> Iterator[Reject]:
    for row in frame.iter_rows(named=True):
        yield Reject(**row)


def remove_abandoned_staging(root: Path) -> None:
    """Remove the staging directories of ingests that died (their lock is free, or they
    never took one and are over an hour old)."""
    for folder in root.glob(f"{STAGING_PREFIX}*"):
        lock = folder / ".lock"
        try:
            with open(lock, "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live ingest
        except FileNotFoundError:
            try:
                if time.time() - folder.stat().st_mtime < _STALE_STAGING_S:
                    continue  # just created: its ingest is about to lock it
            except FileNotFoundError:
                continue
        shutil.rmtree(folder, ignore_errors=True)
