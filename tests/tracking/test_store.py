"""Point store: key idempotence, local-day partitions, atomic writes, crash recovery, compaction."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from cdw.tracking.points import conform
from cdw.tracking.store import PointStore

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
    return PointStore(tmp_path / "points", timezone="Asia/Shanghai", compact_files=None)


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
    assert [p.parent.name for p in store.files(date(2024, 5, 1))] == ["day=2024-05-01"]
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
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [".lock"]


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
    assert store.compact() == 1
    assert len(store.files(date(2024, 5, 1))) == 1
    assert everything(store).equals(before)
    assert store.compact() == 0
    assert store.append(points("粤A12345", [0, 50])).new == 1


def test_automatic_compaction(tmp_path: Path) -> None:
    store = PointStore(tmp_path, timezone="Asia/Shanghai", compact_files=3)
    for second in range(4):
        store.append(points("粤A12345", [second]))
    assert len(store.files(date(2024, 5, 1))) == 1
    assert everything(store).height == 4


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
