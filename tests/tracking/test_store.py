"""Point store: key idempotence, local-day partitions, atomic writes, crash recovery, compaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cdw.config import Settings
from cdw.errors import CdwError
from cdw.tracking import store as store_module
from cdw.tracking.points import conform
from cdw.tracking.store import (
    AppendResult,
    PointStore,
    ReadOnlyStore,
    local_days,
    vehicle_bucket,
)

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


def points(vehicle: str, seconds: list[int], lon: float = 113.0) -> pl.DataFrame:
    return conform(
        pl.DataFrame(
            {
                "vehicle": [vehicle] * len(seconds),
                "ts": [T0 + timedelta(seconds=s) for s in seconds],
                "lon": [lon] * len(seconds),
                "lat": [23.0] * len(seconds),
                "status": [768] * len(seconds),
            }
        )
    )


@pytest.fixture
def store(tmp_path: Path) -> PointStore:
    return PointStore(tmp_path / "points", timezone="Asia/Shanghai", compact_files=None, buckets=16)


def everything(store: PointStore) -> pl.DataFrame:
    return store.read(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def test_append_and_read_sorted(store: PointStore) -> None:
    result = store.append(pl.concat([points("粤B12345", [20, 10]), points("粤A12345", [5])]))
    assert (result.new, result.duplicates) == (3, 0)
    got = everything(store)
    assert got.select("vehicle", pl.col("ts").dt.second()).rows() == [
        ("粤A12345", 5),
        ("粤B12345", 10),
        ("粤B12345", 20),
    ]
    assert got["status"].to_list() == [768, 768, 768]
    assert got.schema == conform(points("x", [])).schema


def test_same_points_twice_store_nothing_new(store: PointStore) -> None:
    batch = points("粤A12345", [0, 10, 20])
    store.append(batch)
    again = store.append(batch)
    assert (again.new, again.duplicates) == (0, 3)
    # a batch overlapping in part stores only the new keys; the key ignores position
    overlap = store.append(points("粤A12345", [20, 30], lon=114.0))
    assert (overlap.new, overlap.duplicates) == (1, 1)
    got = everything(store)
    assert got["ts"].dt.second().to_list() == [0, 10, 20, 30]
    assert got["lon"].to_list() == [113.0, 113.0, 113.0, 114.0]
    # the same times for another vehicle are new keys
    assert store.append(points("粤B12345", [0, 10])).new == 2


def test_repeats_within_a_batch_count_as_duplicates(store: PointStore) -> None:
    result = store.append(points("粤A12345", [0, 0, 10]))
    assert (result.new, result.duplicates) == (2, 1)


def test_partitioned_by_local_day(store: PointStore) -> None:
    # 15:59:59 UTC is 23:59:59 in Shanghai on 1 May; 16:00:00 UTC is already 2 May there
    before = 15 * 3600 + 59 * 60 + 59
    store.append(points("粤A12345", [before, before + 1]))
    assert store.days() == [date(2024, 5, 1), date(2024, 5, 2)]
    (stored,) = store.files(date(2024, 5, 1))
    bucket = vehicle_bucket(pl.Series(["粤A12345"]), store.buckets).item()
    assert (stored.parent.parent.name, stored.parent.name) == (
        "day=2024-05-01",
        f"bucket={bucket:02d}",
    )
    day2 = pl.read_parquet(store.files(date(2024, 5, 2))[0])
    assert day2["ts"].to_list() == [T0 + timedelta(seconds=before + 1)]
    utc_store = PointStore(store.root.parent / "utc", timezone="UTC")
    utc_store.append(points("粤A12345", [before, before + 1]))
    assert utc_store.days() == [date(2024, 5, 1)]


def test_read_window_and_vehicle_filter(store: PointStore) -> None:
    store.append(pl.concat([points("粤A12345", [0, 10, 86400]), points("粤B12345", [10])]))
    got = store.read(
        T0 + timedelta(seconds=10), T0 + timedelta(days=1, seconds=1), vehicles=["粤A12345"]
    )
    assert got["ts"].to_list() == [T0 + timedelta(seconds=10), T0 + timedelta(days=1)]
    # the end is exclusive; a window written in another zone means the same instants
    assert store.read(T0, T0 + timedelta(seconds=10)).height == 1
    cst = timezone(timedelta(hours=8))
    local_window = store.read(
        datetime(2024, 5, 1, 8, 0, tzinfo=cst), datetime(2024, 5, 1, 8, 0, 10, tzinfo=cst)
    )
    assert local_window.select("vehicle", "ts").rows() == [("粤A12345", T0)]
    with pytest.raises(ValueError, match="timezone-aware"):
        store.read(datetime(2024, 5, 1), datetime(2024, 5, 2))
    assert store.read(T0 + timedelta(days=30), T0 + timedelta(days=31)).height == 0


def test_failed_write_leaves_nothing(store: PointStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.append(points("粤A12345", [0]))
    real = pl.DataFrame.write_parquet
    calls = {"n": 0}

    def fail_second(self: pl.DataFrame, file: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real(self, file, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_parquet", fail_second)
    two_days = points("粤A12345", [10, 86400])
    with pytest.raises(OSError, match="disk full"):
        store.append(two_days)
    monkeypatch.undo()
    assert everything(store)["ts"].to_list() == [T0]
    assert sorted(p.name for p in store.root.rglob("*") if p.is_file()) == [
        ".lock",
        store.files(date(2024, 5, 1))[0].name,
        "store.json",
    ]
    assert store.append(two_days).new == 2


def test_failed_rename_is_undone(store: PointStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace
    calls = {"n": 0}

    def fail_on_second_part(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name.startswith("part-"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("rename failed")
        real(src, dst)

    monkeypatch.setattr("cdw.tracking.store.os.replace", fail_on_second_part)
    with pytest.raises(OSError, match="rename failed"):
        store.append(points("粤A12345", [0, 86400]))
    monkeypatch.undo()
    assert everything(store).height == 0
    assert sorted(p.name for p in store.root.rglob("*") if p.is_file()) == [".lock", "store.json"]


def test_crash_after_journal_is_rolled_forward(store: PointStore) -> None:
    """A process killed between the journal and the renames: the next operation finishes it."""
    store.append(points("粤A12345", [0]))
    day = store.root / "day=2024-05-02"
    day.mkdir()
    temp = day / ".tmp-part-crashed.parquet"
    points("粤A12345", [86400]).write_parquet(temp)
    (store.root / ".journal.json").write_text(
        json.dumps(
            {
                "renames": [
                    [str(temp.relative_to(store.root)), "day=2024-05-02/part-crashed.parquet"]
                ],
                "deletes": [],
            }
        )
    )
    (store.root / "day=2024-05-01" / ".tmp-part-orphan.parquet").write_bytes(b"half a file")
    assert everything(store)["ts"].to_list() == [T0, T0 + timedelta(days=1)]
    assert not (store.root / ".journal.json").exists()
    assert not list(store.root.rglob(".tmp-*"))


def test_compaction_merges_files_and_keeps_points(store: PointStore) -> None:
    for second in range(5):
        store.append(points("粤A12345", [second * 10]))
    store.append(points("粤B12345", [3]))
    assert len(store.files(date(2024, 5, 1))) == 6
    before = everything(store)
    # 粤A12345's five files become one; 粤B12345's bucket holds one file already
    assert vehicle_bucket(pl.Series(["粤A12345", "粤B12345"]), 16).to_list() == [3, 13]
    assert store.compact() == 1
    assert len(store.files(date(2024, 5, 1))) == 2
    assert everything(store).equals(before)
    assert store.compact() == 0
    assert store.append(points("粤A12345", [0, 50])).new == 1


def test_automatic_compaction(tmp_path: Path) -> None:
    store = PointStore(tmp_path, timezone="Asia/Shanghai", compact_files=3, buckets=16)
    for second in range(4):
        store.append(points("粤A12345", [second]))
    assert len(store.files(date(2024, 5, 1))) == 1
    assert everything(store).height == 4
    # per (day, bucket): 粤B12345's bucket (13, not 3) keeps its two files
    for second in range(2):
        store.append(points("粤B12345", [second]))
    assert sorted(f.parent.name for f in store.files(date(2024, 5, 1))) == [
        "bucket=03",
        "bucket=13",
        "bucket=13",
    ]


def test_automatic_compaction_takes_one_bucket_per_append_unless_far_over(tmp_path: Path) -> None:
    store = PointStore(tmp_path, timezone="Asia/Shanghai", compact_files=2, buckets=16)
    plates = ["粤A12345", "粤B12345", "京A00001"]  # buckets 3, 13, 11
    for second in range(3):
        store.append(pl.concat([points(p, [second]) for p in plates]))

    def files_per_bucket() -> list[int]:
        return [len(store._part_files("2024-05-01", b)) for b in (3, 13, 11)]

    # all three crossed the limit together: one (the first of the most crowded) compacted
    assert sorted(files_per_bucket()) == [1, 3, 3]
    store.append(pl.concat([points(p, [10]) for p in plates]))
    assert files_per_bucket() == [4, 2, 1]  # staggered from now on

    # any bucket over twice the limit is compacted in the same append
    crowded = PointStore(tmp_path / "c", timezone="Asia/Shanghai", compact_files=None, buckets=16)
    for second, plate in enumerate([plates[0]] * 6 + [plates[1]] * 5 + [plates[2]] * 3):
        crowded.append(points(plate, [second]))
    crowded.compact_files = 2
    crowded.append(pl.concat([points(p, [99]) for p in plates]))
    assert [len(crowded._part_files("2024-05-01", b)) for b in (3, 13, 11)] == [1, 1, 4]
    assert everything(crowded).height == 6 + 5 + 3 + 3


def test_new_stores_take_the_bucket_count_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "cdw.tracking.store.get_settings", lambda: Settings(store_buckets=5, data_dir=tmp_path)
    )
    store = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    store.append(fleet(12, [0]))
    assert json.loads((tmp_path / "points" / "store.json").read_text())["buckets"] == 5
    assert {f.parent.name for f in store.files(date(2024, 5, 1))} <= {
        f"bucket={b:02d}" for b in range(5)
    }
    with pytest.raises(ValidationError):
        Settings(store_buckets=0)
    with pytest.raises(ValueError, match="1 to 1024"):
        PointStore(tmp_path / "other", buckets=2000)


def test_points_without_key_are_refused(store: PointStore) -> None:
    batch = points("粤A12345", [0]).with_columns(pl.lit(None, dtype=pl.String).alias("vehicle"))
    with pytest.raises(ValueError, match="without vehicle or ts"):
        store.append(batch)
    assert store.days() == []


def test_empty_store(tmp_path: Path) -> None:
    store = PointStore(tmp_path / "nothing-yet", timezone="Asia/Shanghai")
    assert store.days() == []
    assert everything(store).height == 0
    assert store.append(points("x", [])).new == 0


def test_vehicle_counts_counts_each_vehicles_points_in_the_span(store: PointStore) -> None:
    store.append(
        pl.concat([points("粤A00001", [0, 10, 20, 30, 40]), points("粤A00002", [0, 10, 20])])
    )
    counts = store.vehicle_counts(T0, T0 + timedelta(seconds=30))
    assert counts.rows() == [("粤A00001", 3), ("粤A00002", 3)]
    assert store.vehicle_counts(T0 - timedelta(days=3), T0).height == 0


def shanghai_day(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone(timedelta(hours=8)))
    return start, start + timedelta(days=1)


def test_whole_days_are_counted_from_the_footers_alone(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append(pl.concat([points("粤A00001", [0, 10, 20]), points("粤A00002", [5])]))
    store.append(pl.concat([points("粤A00001", [30, 40]), points("粤A00003", [86_400])]))
    days = (shanghai_day(date(2024, 5, 1))[0], shanghai_day(date(2024, 5, 2))[1])
    with monkeypatch.context() as patch:
        patch.setattr(store, "_footer_counts", lambda *_: None)
        scanned = store.vehicle_counts(*days)
    # a span that cuts a file is counted from the data
    part = store.vehicle_counts(days[0], T0 + timedelta(seconds=35))
    assert part.rows() == [("粤A00001", 4), ("粤A00002", 1)]
    monkeypatch.setattr(store, "_scan", mock.Mock(side_effect=AssertionError("data read")))
    counts = store.vehicle_counts(*days)
    assert counts.rows() == [("粤A00001", 5), ("粤A00002", 1), ("粤A00003", 1)]
    assert counts.equals(scanned)
    assert store.vehicle_counts(*shanghai_day(date(2024, 5, 2))).rows() == [("粤A00003", 1)]


def test_files_without_counts_in_their_footer_are_counted_by_a_scan(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file written before the footer counted its rows: it lists its vehicles alone
    def listing_only(frame: pl.DataFrame, path: Path, compression: str) -> None:
        vehicles = frame["vehicle"].unique().sort().to_list()
        frame.write_parquet(path, metadata={"cdw.vehicles": json.dumps(vehicles)})

    with monkeypatch.context() as patch:
        patch.setattr(store_module, "_write", listing_only)
        store.append(points("粤A00001", [0, 10]))
    store.append(points("粤A00002", [0]))  # this one counts, the other does not
    counts = store.vehicle_counts(*shanghai_day(date(2024, 5, 1)))
    assert counts.rows() == [("粤A00001", 2), ("粤A00002", 1)]
    assert store.read(*shanghai_day(date(2024, 5, 1)), vehicles=["粤A00001"]).height == 2


def _codecs(store: PointStore) -> set[str]:
    """The compression codecs of every column chunk of the store's files."""
    return {
        meta.row_group(g).column(c).compression
        for f in Path(store.root).rglob("part-*.parquet")
        for meta in [pq.read_metadata(f)]
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    }


def test_files_are_written_in_the_settings_compression_and_any_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "points"
    lz4 = PointStore(root, timezone="Asia/Shanghai", compact_files=None, buckets=1)
    assert lz4.compression == "lz4"  # the default
    lz4.append(points("粤A00001", [0, 10]))
    assert _codecs(lz4) == {"LZ4"}
    monkeypatch.setenv("CDW_STORE_COMPRESSION", "zstd")
    with mock.patch.object(store_module, "get_settings", lambda: Settings()):
        zstd = PointStore(root, timezone="Asia/Shanghai", compact_files=None)
    assert zstd.compression == "zstd"
    zstd.append(points("粤A00001", [20]))
    assert _codecs(zstd) == {"LZ4", "ZSTD"}
    # files of both are read together, as one sorted track
    assert everything(lz4)["ts"].dt.epoch("s").to_list() == [
        int(T0.timestamp()) + s for s in (0, 10, 20)
    ]
    # a compaction rewrites the bucket in the compression of the store object doing it
    lz4.compact()
    assert _codecs(lz4) == {"LZ4"}
    assert everything(zstd).height == 3
    # a bucket of one file is rewritten only when asked to recompress (``cdw store compact
    # --recompress``, in the compression of the settings)
    from typer.testing import CliRunner

    from cdw.cli import app

    runner = CliRunner()
    assert zstd.compact() == 0 and _codecs(zstd) == {"LZ4"}
    recompress = ["store", "compact", "--store", str(root), "--recompress"]
    with mock.patch.object(store_module, "get_settings", lambda: Settings()):  # zstd, from the env
        done = runner.invoke(app, recompress)
        assert done.exit_code == 0 and "1 file(s) written" in done.output, done.output
        assert _codecs(zstd) == {"ZSTD"}
        again = runner.invoke(app, recompress)  # nothing left to rewrite
        assert again.exit_code == 0 and "0 file(s) written" in again.output, again.output
    assert everything(lz4).equals(everything(zstd))
    assert everything(zstd).height == 3


def test_an_unknown_compression_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(CdwError) as raised:
        PointStore(tmp_path / "points", compression="gzip")  # type: ignore[arg-type]
    assert "store_compression" in str(raised.value.as_dict()) and "gzip" in str(
        raised.value.as_dict()
    )
    assert not (tmp_path / "points").exists()
    with pytest.raises(ValidationError):
        Settings(store_compression="brotli")  # type: ignore[arg-type]


def test_append_many_stores_every_frame_in_one_step(store: PointStore) -> None:
    store.append(points("粤A00001", [0]))
    frames = [points("粤A00001", [0, 10, 10]), points("粤A00002", [5, 86400])]
    result = store.append_many(iter(frames), upload="u1")
    assert (result.new, result.duplicates) == (3, 2)
    got = everything(store)
    assert got.select("vehicle", pl.col("ts").dt.epoch("s") - int(T0.timestamp())).rows() == [
        ("粤A00001", 0),
        ("粤A00001", 10),
        ("粤A00002", 5),
        ("粤A00002", 86400),
    ]
    assert store.read_uploads(date(2024, 5, 1))["upload"].to_list() == [None, "u1", "u1"]
    # a key repeated in a later frame of the same call is a duplicate, not stored twice
    again = store.append_many([points("粤A00003", [1, 2]), points("粤A00003", [2, 3])])
    assert (again.new, again.duplicates) == (3, 1)
    assert store.read(T0, T0 + timedelta(seconds=10), ["粤A00003"]).height == 3


def test_append_many_failing_midway_stores_nothing(store: PointStore) -> None:
    store.append(points("粤A00001", [0]))
    before = sorted(store.root.rglob("*"))

    def frames():
        yield points("粤A00002", [0, 86400])
        yield points("粤A00003", [0])
        raise RuntimeError("chunk 3 unreadable")

    with pytest.raises(RuntimeError, match="chunk 3"):
        store.append_many(frames())
    assert sorted(p for p in store.root.rglob("*") if p.is_file()) == [
        p for p in before if p.is_file()
    ]
    assert everything(store)["vehicle"].to_list() == ["粤A00001"]
    assert store.append_many([]).new == 0


def test_vehicle_bucket_is_crc32_of_the_utf8_plate() -> None:
    # 0xCBF43926 is CRC-32's published check value (of the ASCII bytes "123456789")
    assert vehicle_bucket(pl.Series(["123456789"]), 1024).item() == 0xCBF43926 % 1024
    plates = pl.Series(["粤A12345", "粤B12345", "京A00001", None, "粤A12345"])
    # pinned: a change here moves every stored vehicle to another bucket
    assert vehicle_bucket(plates, 16).to_list() == [3, 13, 11, None, 3]
    assert vehicle_bucket(plates, 7).to_list() == [2, 0, 1, None, 2]
    frame = pl.DataFrame({"vehicle": plates})
    by_expr = frame.select(vehicle_bucket(pl.col("vehicle"), 16)).to_series()
    assert by_expr.to_list() == vehicle_bucket(plates, 16).to_list()
    assert vehicle_bucket(plates, 1).to_list() == [0, 0, 0, None, 0]
    for bad in (0, 1025, 2.0):
        with pytest.raises(ValueError, match="buckets"):
            vehicle_bucket(plates, bad)  # type: ignore[arg-type]


def fleet(vehicles: int, seconds: list[int]) -> pl.DataFrame:
    return pl.concat([points(f"粤A{v:05d}", seconds, lon=113 + v / 1000) for v in range(vehicles)])


def test_reading_some_vehicles_opens_only_their_buckets(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append(fleet(40, [0, 10, 86400]))
    opened: list[list[Path]] = []
    real = PointStore._scan

    def spy(self: PointStore, files: list[Path]) -> pl.LazyFrame:
        opened.append(list(files))
        return real(self, files)

    monkeypatch.setattr(PointStore, "_scan", spy)
    wanted = ["粤A00007", "粤A00031"]
    got = store.read(T0, T0 + timedelta(days=2), vehicles=wanted)
    assert got.select("vehicle", "ts").rows() == [
        (v, T0 + timedelta(seconds=s)) for v in wanted for s in (0, 10, 86400)
    ]
    buckets = {f"bucket={b:02d}" for b in vehicle_bucket(pl.Series(wanted), 16).to_list()}
    (files,) = opened
    assert {f.parent.name for f in files} == buckets
    assert len(files) == 2 * len(buckets)  # two days
    assert len({f.parent.name for d in store.days() for f in store.files(d)}) > len(buckets)


def test_a_store_keeps_the_bucket_count_it_was_created_with(tmp_path: Path) -> None:
    PointStore(tmp_path, timezone="Asia/Shanghai", buckets=4).append(fleet(10, [0]))
    assert json.loads((tmp_path / "store.json").read_text()) == {"layout": 2, "buckets": 4}
    reopened = PointStore(tmp_path, timezone="Asia/Shanghai", buckets=32)
    assert reopened.buckets == 4
    reopened.append(fleet(12, [10]))
    names = {f.parent.name for f in reopened.files(date(2024, 5, 1))}
    assert names <= {f"bucket={b:02d}" for b in range(4)}
    assert reopened.read(T0, T0 + timedelta(minutes=1), vehicles=["粤A00003"]).height == 2
    (tmp_path / "store.json").write_text('{"layout": 3, "buckets": 4}')
    with pytest.raises(CdwError, match="layout 3"):
        PointStore(tmp_path, timezone="Asia/Shanghai").days()


def write_legacy_day(root: Path, frame: pl.DataFrame, name: str) -> None:
    """A file as the layout-1 store wrote it: straight in the day folder, no store.json."""
    folder = root / "day=2024-05-01"
    folder.mkdir(parents=True, exist_ok=True)
    frame.sort("vehicle", "ts").write_parquet(folder / f"part-{name}.parquet")


def test_legacy_layout_is_read_and_compacted_into_buckets(tmp_path: Path) -> None:
    root = tmp_path / "old"
    write_legacy_day(root, fleet(30, [0, 10]), "a")
    write_legacy_day(root, fleet(30, [20]).with_columns(upload=pl.lit("u0")), "b")
    store = PointStore(root, timezone="Asia/Shanghai", compact_files=None, buckets=8)
    assert store.info().layout == 1
    # new points of an old store go into buckets; the old files count for duplicates
    assert store.append(fleet(30, [20, 30])) == AppendResult(new=30, duplicates=30)
    assert store.info().layout == 2
    assert len(store._legacy_files("2024-05-01")) == 2
    before = everything(store)
    uploads = store.read_uploads(date(2024, 5, 1))
    one = store.read(T0, T0 + timedelta(minutes=1), vehicles=["粤A00017"])
    span, box = (T0, T0 + timedelta(days=1)), (113.0095, 22.0, 113.0125, 24.0)
    boxed, counts = store.read_box(*span, box), store.vehicle_counts(*span)
    assert boxed["vehicle"].unique().sort().to_list() == ["粤A00010", "粤A00011", "粤A00012"]
    assert counts["rows"].to_list() == [4] * 30
    assert before.height == 30 * 4
    assert one["ts"].dt.second().to_list() == [0, 10, 20, 30]

    written = store.compact()
    assert store._legacy_files("2024-05-01") == []
    files = store.files(date(2024, 5, 1))
    assert len(files) == written == len({f.parent.name for f in files})
    for file in files:
        stored = pl.read_parquet(file)
        bucket = int(file.parent.name.split("=")[1])
        assert vehicle_bucket(stored["vehicle"], 8).unique().to_list() == [bucket]
        assert stored.sort("vehicle", "ts").equals(stored)
    assert everything(store).equals(before)
    assert store.read_uploads(date(2024, 5, 1)).equals(uploads)
    assert store.read(T0, T0 + timedelta(minutes=1), vehicles=["粤A00017"]).equals(one)
    assert store.read_box(*span, box).equals(boxed)
    assert store.vehicle_counts(*span).equals(counts)
    assert store.compact() == 0


def test_url_store_reads_and_refuses_writes(store: PointStore) -> None:
    store.append(fleet(5, [0, 10, 86400]), upload="u1")
    remote = PointStore(store.root.as_uri(), timezone="Asia/Shanghai")
    assert remote.read_only and remote.buckets == 16
    assert remote.days() == store.days()
    span = (T0, T0 + timedelta(days=2))
    assert remote.read(*span).equals(everything(store))
    assert remote.read(*span, vehicles=["粤A00002"]).equals(
        store.read(*span, vehicles=["粤A00002"])
    )
    box = (113.0015, 22.0, 113.0035, 24.0)
    assert remote.read_box(*span, box).equals(store.read_box(*span, box))
    assert remote.read_box(*span, box)["vehicle"].unique().sort().to_list() == [
        "粤A00002",
        "粤A00003",
    ]
    assert remote.vehicle_counts(*span).equals(store.vehicle_counts(*span))
    assert remote.read_uploads(date(2024, 5, 1)).equals(store.read_uploads(date(2024, 5, 1)))
    assert remote.info().as_dict() == {**store.info().as_dict(), "root": store.root.as_uri()} | {
        "read_only": True
    }
    before = sorted(store.root.rglob("*"))
    with pytest.raises(ReadOnlyStore, match="read-only"):
        remote.append(fleet(1, [99]))
    with pytest.raises(ReadOnlyStore, match="只读"):
        remote.compact()
    assert sorted(store.root.rglob("*")) == before


def test_info_counts_rows_files_bytes_and_vehicles(store: PointStore) -> None:
    assert store.info().as_dict()["days"] == 0
    store.append(fleet(6, [0, 10, 86400]))
    store.append(fleet(3, [20]))
    info = store.info()
    files = sorted(store.root.rglob("part-*.parquet"))
    assert (info.layout, info.buckets, info.read_only) == (2, 16, False)
    assert info.files == len(files)
    assert info.bytes == sum(f.stat().st_size for f in files)
    assert info.rows == sum(pl.read_parquet(f).height for f in files) == 6 * 3 + 3
    assert info.vehicles == 6
    assert [(d.day, d.rows, d.vehicles) for d in info.days] == [
        (date(2024, 5, 1), 6 * 2 + 3, 6),
        (date(2024, 5, 2), 6, 6),
    ]
    day2 = list((store.root / "day=2024-05-02").rglob("part-*.parquet"))
    assert (info.days[1].files, info.days[1].bytes) == (
        len(day2),
        sum(f.stat().st_size for f in day2),
    )


@pytest.mark.parametrize("check_rows", [1, 50_000])  # each partition alone / all in one check
def test_reappending_stores_nothing_and_writes_no_file(
    store: PointStore, monkeypatch: pytest.MonkeyPatch, check_rows: int
) -> None:
    monkeypatch.setattr("cdw.tracking.store._CHECK_ROWS", check_rows)
    batch = fleet(20, [0, 10, 20, 86400])
    assert store.append_many([batch.head(40), batch.tail(40)]) == AppendResult(80, 0)
    partly = pl.concat([batch.head(3), fleet(20, [30]), batch.head(3)])
    assert store.append(partly) == AppendResult(20, 6)
    files = sorted(store.root.rglob("part-*.parquet"))
    assert store.append(batch.sample(fraction=1.0, shuffle=True, seed=1)) == AppendResult(0, 80)
    assert everything(store).height == 100
    assert sorted(store.root.rglob("part-*.parquet")) == files


def test_crash_in_a_bucket_is_rolled_forward(store: PointStore) -> None:
    store.append(points("粤A12345", [0]))
    (old,) = store.files(date(2024, 5, 1))
    bucket = old.parent
    temp = bucket / ".tmp-part-merged.parquet"
    pl.concat([points("粤A12345", [0, 5])]).with_columns(
        upload=pl.lit(None, pl.String)
    ).write_parquet(temp)
    (store.root / ".journal.json").write_text(
        json.dumps(
            {
                "renames": [
                    [
                        str(temp.relative_to(store.root)),
                        str((bucket / "part-merged.parquet").relative_to(store.root)),
                    ]
                ],
                "deletes": [str(old.relative_to(store.root))],
            }
        )
    )
    (bucket / ".tmp-part-orphan.parquet").write_bytes(b"half a file")
    assert everything(store)["ts"].to_list() == [T0, T0 + timedelta(seconds=5)]
    assert [f.name for f in store.files(date(2024, 5, 1))] == ["part-merged.parquet"]
    assert not list(store.root.rglob(".tmp-*"))


def test_scan_is_lazy_over_the_span(store: PointStore) -> None:
    store.append(fleet(4, [0, 10, 86400]))
    lazy = store.scan(T0 + timedelta(seconds=5), T0 + timedelta(days=2), columns=["vehicle", "lon"])
    assert isinstance(lazy, pl.LazyFrame)
    got = lazy.group_by("vehicle").agg(pl.len()).sort("vehicle").collect()
    assert got.rows() == [(f"粤A{v:05d}", 2) for v in range(4)]
    assert store.scan(T0 - timedelta(days=9), T0).collect().height == 0


def test_cli_store_info_and_compact(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cdw.cli import app

    root = tmp_path / "points"
    store = PointStore(root, timezone="Asia/Shanghai", compact_files=None, buckets=4)
    for second in range(3):
        store.append(fleet(5, [second, 86400 + second]))
    runner = CliRunner()
    shown = runner.invoke(app, ["store", "info", "--store", str(root), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == store.info().as_dict()
    table = runner.invoke(app, ["store", "info", "--store", str(root)])
    assert (
        table.exit_code == 0 and "2024-05-02" in table.output and "车辆 / vehicles" in table.output
    )
    files_before = store.info().files
    one_day = runner.invoke(app, ["store", "compact", "--store", str(root), "--day", "2024-05-01"])
    assert one_day.exit_code == 0, one_day.output
    after = store.info()
    assert after.days[1].files == files_before // 2  # the day not named stays as it was
    assert after.days[0].files == len({f.parent for f in store.files(date(2024, 5, 1))})
    bad = runner.invoke(app, ["store", "compact", "--store", str(root), "--day", "5/1"])
    assert bad.exit_code == 1 and "YYYY-MM-DD" in bad.output
    remote = runner.invoke(app, ["store", "compact", "--store", root.as_uri()])
    assert remote.exit_code == 1 and "read-only" in remote.output


def test_other_folders_in_the_root_are_left_alone(store: PointStore) -> None:
    """Ingest stages chunks in ``<root>/.ingest-<hex>/``: never listed, counted or recovered."""
    staging = store.root / ".ingest-0f0f" / "day=2024-05-01"
    staging.mkdir(parents=True)
    points("粤A12345", [99]).write_parquet(staging / "part-staged.parquet")
    (store.root / ".ingest-0f0f" / ".tmp-chunk").write_bytes(b"in progress")
    (store.root / ".tmp-part-orphan.parquet").write_bytes(b"half a file")  # forces recovery
    store.append(points("粤A12345", [0]))
    assert everything(store)["ts"].to_list() == [T0]
    assert (store.info().rows, store.info().files) == (1, 1)
    assert sorted(p.name for p in (store.root / ".ingest-0f0f").rglob("*")) == [
        ".tmp-chunk",
        "day=2024-05-01",
        "part-staged.parquet",
    ]


def test_files_are_skipped_only_when_their_time_span_misses(store: PointStore) -> None:
    store.append(points("粤A12345", [0, 100]))
    store.append(points("粤A12345", [200, 300]))
    store.append(points("粤A12345", [400]))  # newer than both files: neither is opened
    assert store.append(points("粤A12345", [50, 100, 250, 300, 500])) == AppendResult(3, 2)
    # a file without usable time statistics is always checked
    folder = store.files(date(2024, 5, 1))[0].parent
    unknown = points("粤A12345", [600]).with_columns(upload=pl.lit(None, pl.String))
    unknown.write_parquet(folder / "part-nostats.parquet", statistics=False)
    assert store.append(points("粤A12345", [600, 700])) == AppendResult(1, 1)
    assert everything(store)["ts"].dt.epoch("s").diff().drop_nulls().min() > 0


batches_strategy = st.lists(  # appends of (vehicle, second) keys, each its own files
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2 * 86_400)), min_size=1, max_size=12),
    min_size=1,
    max_size=4,
)


@given(batches_strategy, st.sets(st.integers(0, 5)))
@settings(max_examples=60, deadline=None)
def test_reads_are_sorted_by_vehicle_and_time_whatever_the_files(batches, some) -> None:
    """Several appends to one bucket-day leave files whose times interleave; days add files
    too: a read (of every vehicle or some) is the stored keys sorted by vehicle and time,
    whether its runs of rows are gathered or copied as slices (``_SLICED_RUN_ROWS``)."""
    with tempfile.TemporaryDirectory() as folder:
        store = PointStore(Path(folder), timezone="Asia/Shanghai", compact_files=None, buckets=2)
        for batch in batches:
            store.append(
                pl.concat([points(f"粤A{v:05d}", [s], lon=113 + s / 1e6) for v, s in batch])
            )
        keys = sorted({(f"粤A{v:05d}", s) for batch in batches for v, s in batch})
        span = (T0, T0 + timedelta(days=3))
        got = store.read(*span)
        assert got.select("vehicle", "ts").rows() == [
            (v, T0 + timedelta(seconds=s)) for v, s in keys
        ]
        assert got["lon"].to_list() == [113 + s / 1e6 for _, s in keys]
        with mock.patch.object(store_module, "_SLICED_RUN_ROWS", 1):  # every run a slice
            assert store.read(*span).equals(got)
        wanted = [f"粤A{v:05d}" for v in some]
        assert store.read(*span, vehicles=wanted).equals(
            got.filter(pl.col("vehicle").is_in(wanted))
        )


def test_files_of_other_vehicles_are_skipped_by_their_footer(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = "粤A12345"
    b = next(  # another plate of the same bucket
        plate
        for plate in (f"粤A{n:05d}" for n in range(12346, 13000))
        if vehicle_bucket(pl.Series([plate]), 16)[0] == vehicle_bucket(pl.Series([a]), 16)[0]
    )
    store.append(points(a, [0, 10, 20]))
    (file,) = store.files(date(2024, 5, 1))
    assert json.loads(pq.read_metadata(file).metadata[b"cdw.vehicle_rows"]) == {a: 3}
    scanned: list[list] = []
    scan = store._scan
    monkeypatch.setattr(store, "_scan", lambda files: scanned.append(files) or scan(files))
    assert store.append(points(b, [0, 10, 20])) == AppendResult(3, 0)
    assert scanned == []  # same day, bucket and time span: only the vehicle list tells
    assert store.append(points(a, [10, 20, 30])) == AppendResult(1, 2)
    assert len(scanned) == 1
    # a file written without the list (before it existed) is always checked
    folder = file.parent
    unlisted = points("粤A99999", [40]).with_columns(upload=pl.lit(None, pl.String))
    unlisted.write_parquet(folder / "part-unlisted.parquet")
    assert store.append(points(b, [20, 40])) == AppendResult(1, 1)
    assert str(folder / "part-unlisted.parquet") in map(str, scanned[-1])


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
def test_time_span_from_raw_statistics(tmp_path: Path, unit: str) -> None:
    from cdw.tracking.store import _ts_span

    moments = [datetime(2024, 1, 1, 1, 2, 3, 456_789, tzinfo=UTC), datetime(2023, 5, 1, tzinfo=UTC)]
    path = tmp_path / "f.parquet"
    frame = pl.DataFrame({"ts": pl.Series(moments).dt.cast_time_unit(unit)})
    frame.write_parquet(path, row_group_size=1)
    meta = pq.read_metadata(path)
    stats = [meta.row_group(g).column(0).statistics for g in range(meta.num_row_groups)]
    assert len(stats) == 2 and all(s.has_min_max for s in stats)
    assert _ts_span(meta) == (frame["ts"].min(), frame["ts"].max())
    naive = tmp_path / "naive.parquet"
    pl.DataFrame({"ts": [datetime(2024, 1, 1)]}).write_parquet(naive)
    assert _ts_span(pq.read_metadata(naive)) is None


def test_an_ingest_does_not_import_pandas(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "import polars as pl\n"
        "from cdw.tracking.store import PointStore\n"
        f"store = PointStore({str(tmp_path / 'p')!r}, timezone='Asia/Shanghai')\n"
        "frame = pl.DataFrame({'vehicle': ['粤A12345'], 'ts': [datetime(2024, 5, 1, tzinfo=UTC)],"
        " 'lon': [113.0], 'lat': [23.0]})\n"
        "store.append(frame)\n"
        "assert store.append(frame).duplicates == 1\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


ZONES = ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(datetime(1975, 1, 1), datetime(2040, 1, 1)),
    span_minutes=st.sampled_from([0, 5, 90, 60 * 24, 60 * 24 * 20, 60 * 24 * 40]),
    offsets=st.lists(st.floats(0, 1), min_size=1, max_size=60),
)
def test_local_days_equal_the_row_by_row_conversion(
    zone: str, start: datetime, span_minutes: int, offsets: list[float]
) -> None:
    """Twin: the integer path (one offset over the span) and the fallback give polars' dates,
    also across DST changes (New York, Lord Howe's half hour), Kathmandu's +05:45 and at
    midnight."""
    first = start.replace(tzinfo=UTC)
    ts = pl.Series(
        "ts",
        [first + timedelta(minutes=span_minutes * f) for f in offsets],
        dtype=pl.Datetime("us", "UTC"),
    )
    expected = ts.dt.convert_time_zone(zone).dt.date().cast(pl.Int32)
    assert local_days(ts, zone).to_list() == expected.to_list()


@pytest.mark.parametrize(
    ("zone", "around"),
    [
        ("America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),  # 02:00 EST → EDT
        ("America/New_York", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),  # 02:00 EDT → EST
        ("Asia/Shanghai", datetime(2026, 11, 19, 16, 0, tzinfo=UTC)),  # local midnight
    ],
)
def test_local_days_at_a_change_of_offset_or_day(zone: str, around: datetime) -> None:
    ts = pl.Series(
        "ts",
        [around + timedelta(microseconds=d) for d in (-3_600_000_001, -1, 0, 1, 3_600_000_000)],
        dtype=pl.Datetime("us", "UTC"),
    )
    expected = ts.dt.convert_time_zone(zone).dt.date().cast(pl.Int32)
    assert local_days(ts, zone).to_list() == expected.to_list()


def test_a_bad_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDW_")}
    env |= {"CDW_STORE_COMPRESSION": "gzip", "CDW_STORE_BUCKETS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "cdw.cli", "store", "info", "--store", str(tmp_path / "points")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "设置无效 / Invalid setting" in out and "Traceback" not in out
    assert "[CDW_STORE_COMPRESSION]" in out and "'gzip'" in out
    assert "[CDW_STORE_BUCKETS]" in out and "greater than or equal to 1" in out
    assert not (tmp_path / "points").exists()
