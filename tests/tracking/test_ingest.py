"""Ingest: whole file or nothing, --skip-invalid with its rejects file, idempotence, the CLI."""

from __future__ import annotations

import csv
import fcntl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from typer.testing import CliRunner

from cdw.cli import ingest as ingest_cli
from cdw.config import MAX_STORE_BUCKETS, Settings, Thresholds
from cdw.db import make_engine, session_scope
from cdw.errors import CdwError, InputFileError, ValidationFailed
from cdw.models import all_models
from cdw.tracking import ingest as ingest_module
from cdw.tracking.clean import clean
from cdw.tracking.ingest import (
    STAGING_PREFIX,
    FileRejected,
    IngestReport,
    ingest_file,
    ingest_files,
)
from cdw.tracking.io import iter_points, jt808
from cdw.tracking.io.coords import wgs84_to_gcj02
from cdw.tracking.models import GpsUpload
from cdw.tracking.points import conform
from cdw.tracking.store import PointStore, ReadOnlyStore, vehicle_bucket

NOW = datetime(2024, 6, 1, tzinfo=UTC)
GOOD = [
    "粤A12345,2024-05-01T08:00:00+08:00,113.2640,23.1300",
    "粤A12345,2024-05-01T08:00:10+08:00,113.2641,23.1301",
    "粤A12345,2024-05-01T08:00:20+08:00,113.2642,23.1302",
]


@pytest.fixture
def store(tmp_path: Path) -> PointStore:
    return PointStore(tmp_path / "store", timezone="Asia/Shanghai")


def csv_file(tmp_path: Path, rows: list[str], name: str = "track.csv") -> Path:
    path = tmp_path / name
    path.write_text("plate,ts,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def stored(store: PointStore) -> pl.DataFrame:
    return store.read(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def ingest(path: Path, store: PointStore, **kwargs: object) -> object:
    return ingest_file(path, store, now=NOW, thresholds=Thresholds(), **kwargs)  # type: ignore[arg-type]


def test_clean_file_is_stored(tmp_path: Path, store: PointStore) -> None:
    report = ingest(csv_file(tmp_path, GOOD), store)
    assert report.as_dict() | {"source": None} == {
        "source": None,
        "format": "csv",
        "read": 3,
        "rejected": 0,
        "dropped": {
            "invalid_coordinates": 0,
            "future_timestamps": 0,
            "duplicates": 0,
            "implied_speed_jumps": 0,
        },
        "reordered": 0,
        "new": 3,
        "already_stored": 0,
        "rejects_file": None,
        "message_zh": "新存储 3 个点",
        "message_en": "stored 3 new points",
    }
    assert stored(store)["lon"].to_list() == [113.264, 113.2641, 113.2642]


def test_any_bad_row_aborts_the_whole_file(tmp_path: Path, store: PointStore) -> None:
    rows = [
        GOOD[0],
        "粤A12345,2024-05-01T08:00:05+08:00,113.2,NaN",
        GOOD[1],
        "粤A1234,bad,113.2,23.1",
    ]
    path = csv_file(tmp_path, rows)
    with pytest.raises(ValidationFailed) as err:
        ingest(path, store)
    assert [(p.source, p.line, p.field) for p in err.value.problems] == [
        (str(path), 3, "lat"),
        (str(path), 5, "plate"),
        (str(path), 5, "ts"),
    ]
    assert "track.csv has 2 invalid row(s); nothing was stored" in err.value.en
    assert "未存储任何数据" in err.value.zh
    assert err.value.problems[0].en == "latitude is NaN"
    assert stored(store).height == 0
    assert not (tmp_path / "track.rejects.csv").exists()


def test_skip_invalid_stores_good_rows_and_writes_rejects(
    tmp_path: Path, store: PointStore
) -> None:
    rows = [
        GOOD[0],
        "粤A12345,2024-05-01T08:00:05+08:00,113.2,NaN",
        GOOD[1],
        "粤A12345,1714521630,113.2",
        GOOD[2],
    ]
    path = csv_file(tmp_path, rows)
    report = ingest(path, store, skip_invalid=True)
    assert (report.read, report.rejected, report.new) == (5, 2, 3)
    assert report.rejects_file == tmp_path / "track.rejects.csv"
    with open(report.rejects_file, encoding="utf-8-sig", newline="") as handle:
        content = list(csv.reader(handle))
    assert content == [
        ["line", "field", "reason_zh", "reason_en", "raw"],
        ["3", "lat", "纬度为 NaN", "latitude is NaN", rows[1]],
        ["5", "row", "列数应为 4，实际为 3", "expected 4 fields, got 3", rows[3]],
    ]
    assert report.rejects_file.read_bytes().startswith(b"\xef\xbb\xbf")
    assert stored(store).height == 3
    assert "skipped 2 invalid rows" in report.note[1]


def test_same_file_twice_stores_nothing_new(tmp_path: Path, store: PointStore) -> None:
    path = csv_file(tmp_path, GOOD)
    ingest(path, store)
    report = ingest(path, store)
    assert (report.new, report.already_stored) == (0, 3)
    assert report.note == (
        "全部 3 个有效点此前已存储，未写入新数据",
        "all 3 valid points were already stored; nothing new written",
    )
    assert stored(store).height == 3


def test_file_of_another_vehicles_duplicates_stores_nothing(
    tmp_path: Path, store: PointStore
) -> None:
    """A second file (another source, another name) repeating a vehicle's stored points."""
    ingest(
        csv_file(tmp_path, GOOD + ["粤B12345,2024-05-01T08:00:00+08:00,113.3,23.2"], "a.csv"), store
    )
    copy = csv_file(tmp_path, [GOOD[2], GOOD[0], GOOD[1]], "b.csv")
    before = list(store.root.rglob("part-*.parquet"))
    report = ingest(copy, store)
    assert (report.new, report.already_stored, report.rejected) == (0, 3, 0)
    assert report.reordered == 1
    assert "already stored" in report.note[1]
    assert list(store.root.rglob("part-*.parquet")) == before
    assert stored(store).height == 4


def test_cleaning_reasons_are_counted(tmp_path: Path, store: PointStore) -> None:
    rows = [
        GOOD[0],
        GOOD[0],  # duplicate
        "粤A12345,2024-05-01T08:00:05+08:00,0,0",  # no fix
        "粤A12345,2024-05-01T08:00:07+08:00,114.5,23.1",  # 130 km away two seconds later
        GOOD[1],
        "粤A12345,2030-01-01T00:00:00+08:00,113.2,23.1",  # future
    ]
    report = ingest(csv_file(tmp_path, rows), store)
    assert report.dropped == {
        "invalid_coordinates": 1,
        "future_timestamps": 1,
        "duplicates": 1,
        "implied_speed_jumps": 1,
    }
    assert (report.read, report.new) == (6, 2)


def test_gcj02_source_is_stored_as_wgs84(tmp_path: Path, store: PointStore) -> None:
    lon, lat = wgs84_to_gcj02(113.264, 23.13)
    path = csv_file(tmp_path, [f"粤A12345,1714521600,{float(lon)},{float(lat)}"])
    ingest(path, store, crs="gcj02")
    row = stored(store).row(0, named=True)
    assert (row["lon"], row["lat"]) == pytest.approx((113.264, 23.13), abs=1e-9)


def test_broken_files_store_nothing(tmp_path: Path, store: PointStore) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    frame = jt808.encode_frame(
        0x0200, "13912345678", jt808.encode_location(lat=23.1, lon=113.2, ts=ts)
    )
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(frame + frame[:-5])
    bad_checksum = tmp_path / "checksum.bin"
    bad_checksum.write_bytes(frame + frame[:-2] + bytes([frame[-2] ^ 0xFF]) + b"\x7e")
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("vehicle;ts;lon;lat\n粤A12345;1714521600;113.2;23.1\n")
    for path, needle in [
        (truncated, "truncated frame"),
        (bad_checksum, "bad checksum"),
        (bad_header, "header lacks required column"),
    ]:
        with pytest.raises(InputFileError, match=needle):
            ingest(path, store, skip_invalid=True)
    assert stored(store).height == 0
    assert store.days() == []


def test_jt808_with_terminal_map(tmp_path: Path, store: PointStore) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    body = jt808.encode_location(lat=23.1, lon=113.2, ts=ts, status=0x300)
    path = tmp_path / "capture.808"
    path.write_bytes(jt808.encode_frame(0x0200, "13912345678", body, version=2019))
    report = ingest(path, store, terminal_to_plate={"013912345678": "粤A12345D"})
    assert (report.format, report.new) == ("jt808", 1)
    assert stored(store).select("vehicle", "status").rows() == [("粤A12345D", 0x300)]


# ------------------------------------------------------------------ CLI


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setattr(ingest_cli, "get_settings", lambda: settings)
    engine = make_engine(f"sqlite:///{tmp_path / 'uploads.db'}")  # the uploads are recorded
    all_models().metadata.create_all(engine)
    monkeypatch.setattr("cdw.db.get_engine", lambda: engine)
    app = typer.Typer()
    app.command("ingest")(ingest_cli.ingest_command)
    app.command("noop")(lambda: None)  # keeps "ingest" a sub-command
    return app


def test_cli_ingest_summary(tmp_path: Path, cli: typer.Typer) -> None:
    good = csv_file(tmp_path, GOOD, "good.csv")
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(good)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "新增 / new" in result.output
    assert "good.csv: 新存储 3 个点 / stored 3 new points" in result.output
    again = runner.invoke(cli, ["ingest", str(good)], env={"COLUMNS": "200"})
    assert "all 3 valid points were already stored" in again.output
    assert (
        PointStore(tmp_path / "data" / "points")
        .read(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
        .height
        == 3
    )


def test_cli_reports_bad_file_and_exits_1(tmp_path: Path, cli: typer.Typer) -> None:
    bad = csv_file(tmp_path, [GOOD[0], "粤A12345,x,113.2,23.1"], "bad.csv")
    good = csv_file(tmp_path, GOOD, "good.csv")
    result = CliRunner().invoke(cli, ["ingest", str(bad), str(good)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "[ts] 无法解析时间：x" in result.output
    assert "good.csv: 新存储 3 个点" in result.output
    skipped = CliRunner().invoke(
        cli, ["ingest", str(bad), "--skip-invalid"], env={"COLUMNS": "200"}
    )
    assert skipped.exit_code == 0, skipped.output
    assert (tmp_path / "bad.rejects.csv").exists()


# ------------------------------------------------------------------ chunked (bounded memory)


def fleet_rows() -> list[str]:
    """Three vehicles interleaved in time; a duplicate, an out-of-order point, a (0, 0) fix,
    a position jump and a future point, so that every cleaning filter has work."""
    rows = []
    for second in range(0, 120, 10):
        for k, plate in enumerate(("粤A12345", "粤B12345", "湘A12345")):
            rows.append(
                f"{plate},2024-05-01T08:{second // 60:02d}:{second % 60:02d}+08:00,"
                f"{113.26 + k / 100 + second / 1e5:.5f},{23.13 + second / 1e5:.5f}"
            )
    rows.insert(7, rows[4])  # duplicate
    rows.insert(12, "粤B12345,2024-05-01T07:59:55+08:00,113.27,23.13")  # out of order
    rows.insert(20, "湘A12345,2024-05-01T08:00:05+08:00,0,0")
    rows.insert(25, "粤A12345,2024-05-01T08:00:15+08:00,114.5,23.1")  # jump
    rows.append("粤B12345,2030-01-01T00:00:00+08:00,113.2,23.1")
    return rows


def ingest_chunked(path: Path, root: Path, chunk_rows: int, **kwargs: object) -> tuple:
    store = PointStore(root, timezone="Asia/Shanghai")
    report = ingest(path, store, chunk_rows=chunk_rows, **kwargs)
    assert list(root.glob(".ingest-*")) == []  # staging removed
    return store, report


def same_store_and_report(a: tuple, b: tuple) -> None:
    (store_a, report_a), (store_b, report_b) = a, b
    assert report_a.as_dict() == report_b.as_dict()
    assert report_a.rejects == report_b.rejects
    assert report_a.rejects_total == report_b.rejects_total
    assert stored(store_a).equals(stored(store_b))
    for day in store_a.days():
        assert store_a.read_uploads(day).equals(store_b.read_uploads(day))


@pytest.mark.parametrize("chunk_rows", [1, 2, 7])
def test_chunked_csv_is_stored_as_one_chunk_is(tmp_path: Path, chunk_rows: int) -> None:
    rows = fleet_rows()
    rows.insert(30, "粤A12345,2024-05-01T08:00:31+08:00,113.2,NaN")  # a reject in a later chunk
    rows.insert(33, "粤B12345,1714521630,113.2")  # wrong field count
    path = csv_file(tmp_path, rows)
    whole = ingest_chunked(path, tmp_path / "whole", 10**6, skip_invalid=True)
    whole_rejects = (tmp_path / "track.rejects.csv").read_bytes()
    chunked = ingest_chunked(path, tmp_path / "chunked", chunk_rows, skip_invalid=True)
    same_store_and_report(whole, chunked)
    assert (tmp_path / "track.rejects.csv").read_bytes() == whole_rejects
    report = chunked[1]
    assert [(r.line, r.field) for r in report.rejects] == [(32, "lat"), (35, "row")]
    assert report.reordered == 2  # the early point, and the jump (dropped later)
    assert all(count == 1 for count in report.dropped.values()), report.dropped
    assert len(list(iter_points(path, chunk_rows=chunk_rows))) > 1


def test_chunked_jt808_is_stored_as_one_chunk_is(tmp_path: Path) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    frames = [
        jt808.encode_frame(
            0x0200,
            phone,
            jt808.encode_location(
                lat=23.1 + minute / 1000, lon=113.2, ts=ts.replace(minute=minute)
            ),
        )
        for minute in range(6)
        for phone in ("13912345678", "13912345679")
    ]
    items = [
        jt808.encode_location(lat=23.0, lon=113.2 + i / 1000, ts=ts.replace(minute=10 + i))
        for i in range(3)
    ]
    batch = jt808.encode_batch(items, kind=1)
    split = jt808.encode_frame(0x0704, "13912345678", batch[:40], flow=7, packet=(2, 1))
    rest = jt808.encode_frame(0x0704, "13912345678", batch[40:], flow=8, packet=(2, 2))
    lost = jt808.encode_frame(0x0704, "13912345679", batch[:40], flow=3, packet=(2, 1))
    bad = bytearray(jt808.encode_location(lat=23.0, lon=113.2, ts=ts))
    bad[22:28] = bytes.fromhex("241301000000")  # month 13
    data = lost + b"".join(frames[:5]) + split + b"".join(frames[5:]) + rest
    data += jt808.encode_frame(0x0200, "13912345678", bytes(bad))
    path = tmp_path / "capture.808"
    path.write_bytes(data)
    whole = ingest_chunked(path, tmp_path / "whole", 10**6, skip_invalid=True)
    for chunk_rows in (1, 4):
        chunked = ingest_chunked(path, tmp_path / f"c{chunk_rows}", chunk_rows, skip_invalid=True)
        same_store_and_report(whole, chunked)
    assert [r.field for r in whole[1].rejects] == ["subpackage", "ts"]  # sorted by offset
    assert whole[1].new == 15


def test_chunked_parquet_is_stored_as_one_chunk_is(tmp_path: Path) -> None:
    rows = [r.split(",") for r in fleet_rows()]
    frame = pl.DataFrame(
        {
            "plate": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "lon": [float(r[2]) for r in rows],
            "lat": [float(r[3]) if i != 17 else 95.0 for i, r in enumerate(rows)],
        }
    )
    path = tmp_path / "track.parquet"
    frame.write_parquet(path, row_group_size=4)
    whole = ingest_chunked(path, tmp_path / "whole", 10**6, skip_invalid=True)
    chunked = ingest_chunked(path, tmp_path / "chunked", 3, skip_invalid=True)
    same_store_and_report(whole, chunked)
    assert [(r.line, r.field) for r in whole[1].rejects] == [(17, "lat")]


def test_bad_row_in_a_later_chunk_stores_nothing(tmp_path: Path) -> None:
    rows = [*fleet_rows(), "粤A12345,2024-05-01T08:05:00+08:00,abc,23.1"]
    path = csv_file(tmp_path, rows)
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")
    with pytest.raises(FileRejected) as err:
        ingest(path, store, chunk_rows=2)
    assert [(p.line, p.field) for p in err.value.problems] == [(len(rows) + 1, "lon")]
    assert err.value.as_dict()["problem_count"] == 1
    assert stored(store).height == 0
    assert list(store.root.glob(".ingest-*")) == []
    assert not (tmp_path / "track.rejects.csv").exists()


def test_many_rejects_keep_the_first_and_count_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "REJECTS_KEPT", 2)
    monkeypatch.setattr(ingest_module, "_REJECTS_IN_MEMORY", 1)  # rejects staged on disk
    bad = [f"粤A12345,2024-05-01T08:00:{s:02d}+08:00,113.2,x" for s in range(5)]
    path = csv_file(tmp_path, [GOOD[0], *bad, GOOD[1]])
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")
    report = ingest(path, store, chunk_rows=2, skip_invalid=True)
    assert [r.line for r in report.rejects] == [3, 4]
    assert (report.rejected, report.rejects_total, report.new) == (5, 5, 2)
    with open(tmp_path / "track.rejects.csv", encoding="utf-8-sig") as handle:
        lines = [row[0] for row in csv.reader(handle)][1:]
    assert lines == ["3", "4", "5", "6", "7"]
    with pytest.raises(FileRejected) as err:
        ingest(path, store, chunk_rows=2)
    assert len(err.value.problems) == 2
    assert err.value.as_dict()["problem_count"] == 5


def test_abandoned_staging_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")
    dead = store.root / f"{STAGING_PREFIX}dead"
    live = store.root / f"{STAGING_PREFIX}live"
    for folder in (dead, live):
        (folder / "part=0000").mkdir(parents=True)
        (folder / ".lock").touch()
    with open(live / ".lock", "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        ingest(csv_file(tmp_path, GOOD), store, chunk_rows=1)
        assert not dead.exists()
        assert live.exists()
    assert stored(store).height == 3


def test_failure_while_storing_removes_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")

    def broken_clean(*args: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_module, "clean", broken_clean)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest(csv_file(tmp_path, fleet_rows()), store, chunk_rows=2)
    assert list(store.root.glob(".ingest-*")) == []
    assert stored(store).height == 0


def upload_rows(engine: object) -> list[tuple]:
    with Session(engine) as session:  # type: ignore[arg-type]
        uploads = session.exec(select(GpsUpload)).all()
        return sorted(
            (
                u.file_name,
                u.sha256,
                u.rows_read,
                u.rows_rejected,
                u.points_new,
                u.points_already_stored,
            )
            for u in uploads
        )


def test_ingest_files_equals_ingest_file_one_by_one(tmp_path: Path) -> None:
    """The pipeline (next file read on a worker while this one is stored) stores, reports and
    records what ingest_file gives file by file, a refused file and a broken one included."""
    fleet = csv_file(tmp_path, fleet_rows(), "fleet.csv")
    refused = csv_file(tmp_path, [GOOD[0], "粤A12345,x,113.2,23.1"], "refused.csv")
    broken = tmp_path / "broken.808"
    broken.write_bytes(b"\x7e\x02\x00")
    good = csv_file(tmp_path, GOOD, "good.csv")
    files = [fleet, refused, broken, good, fleet]

    def run(root: Path, pipelined: bool) -> tuple:
        store = PointStore(root / "store", timezone="Asia/Shanghai")
        engine = make_engine(f"sqlite:///{root / 'db.sqlite'}")
        all_models().metadata.create_all(engine)
        options = {
            "now": NOW,
            "thresholds": Thresholds(),
            "chunk_rows": 4,
            "write_rejects_file": False,
        }
        outcomes: list[tuple[Path, object]] = []
        if pipelined:
            outcomes = list(
                ingest_files(files, store, session_scope=lambda: session_scope(engine), **options)
            )
        else:
            for path in files:
                try:
                    with session_scope(engine) as session:
                        outcomes.append(
                            (path, ingest_file(path, store, session=session, **options))
                        )
                except CdwError as exc:
                    outcomes.append((path, exc))
        assert list(store.root.glob(".ingest-*")) == []
        summary = [
            (p, o.as_dict() if isinstance(o, IngestReport) else (type(o), o.zh, o.en, o.problems))
            for p, o in outcomes
        ]
        return summary, stored(store), upload_rows(engine)

    pipelined, serial = run(tmp_path / "a", True), run(tmp_path / "b", False)
    assert pipelined[0] == serial[0]
    assert pipelined[1].equals(serial[1])
    assert pipelined[2] == serial[2]
    assert [type(o) for _, o in pipelined[0]] == [dict, tuple, tuple, dict, dict]  # refused, broken
    assert pipelined[1].height > 0 and len(pipelined[2]) == 3  # fleet twice, good once


def test_ingest_files_left_early_removes_the_staging_of_files_read_ahead(tmp_path: Path) -> None:
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    all_models().metadata.create_all(engine)
    files = [csv_file(tmp_path, GOOD, f"good{n}.csv") for n in range(4)]
    outcomes = ingest_files(
        files, store, session_scope=lambda: session_scope(engine), now=NOW, chunk_rows=1
    )
    path, report = next(outcomes)
    assert (path, report.new) == (files[0], 3)  # type: ignore[union-attr]
    outcomes.close()  # the next file was read (and staged) meanwhile
    assert list(store.root.glob(".ingest-*")) == []
    assert not any(t.name.startswith("cdw-ingest") for t in threading.enumerate())
    assert stored(store).height == 3


class SerialPrefetch:
    """Prefetch's interface without a thread: ingest's stages one after another."""

    def __init__(self, items: object, **kwargs: object) -> None:
        self.items = items

    def __enter__(self) -> object:
        return iter(self.items)  # type: ignore[call-overload]

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.mark.parametrize("chunk_rows", [1, 4, 10**6])
def test_threaded_ingest_equals_the_serial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    rows = fleet_rows()
    rows.insert(30, "粤A12345,2024-05-01T08:00:31+08:00,113.2,NaN")
    rows.insert(33, "粤B12345,1714521630,113.2")
    path = csv_file(tmp_path, rows)
    threaded = ingest_chunked(path, tmp_path / "threaded", chunk_rows, skip_invalid=True)
    rejects = (tmp_path / "track.rejects.csv").read_bytes()
    monkeypatch.setattr(ingest_module, "Prefetch", SerialPrefetch)
    serial = ingest_chunked(path, tmp_path / "serial", chunk_rows, skip_invalid=True)
    same_store_and_report(threaded, serial)
    assert (tmp_path / "track.rejects.csv").read_bytes() == rejects
    assert threaded[1].new > 0 and threaded[1].rejects_total == 2


def test_file_error_in_a_later_chunk_names_file_and_offset_and_stores_nothing(
    tmp_path: Path,
) -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    frames = [
        jt808.encode_frame(
            0x0200,
            "13912345678",
            jt808.encode_location(lat=23.1, lon=113.2, ts=ts.replace(minute=m)),
        )
        for m in range(40)
    ]
    broken = frames[-1][:-2] + bytes([frames[-1][-2] ^ 0xFF]) + b"\x7e"
    path = tmp_path / "capture.808"
    path.write_bytes(b"".join(frames) + broken)  # read on the worker thread, chunks ago
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")
    with pytest.raises(InputFileError, match="bad checksum") as err:
        ingest(path, store, chunk_rows=3)
    offset = sum(len(f) for f in frames)
    assert f"{path}" in err.value.en and f"offset {offset}" in err.value.en
    assert stored(store).height == 0 and store.days() == []
    assert list(store.root.glob(".ingest-*")) == []
    assert not any(t.name.startswith("cdw-ingest") for t in threading.enumerate())


def test_failure_while_storing_stops_the_cleaning_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")
    original = store._stage
    calls = []

    def failing(*args: object) -> object:
        calls.append(1)
        if len(calls) == 2:  # the worker has cleaned groups ahead of this one
            raise OSError("disk full")
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_stage", failing)
    rows = [
        f"粤A{n:05d},2024-05-01T08:00:{s:02d}+08:00,113.2,23.1" for s in (0, 20) for n in range(60)
    ]
    with pytest.raises(OSError, match="disk full"):
        ingest(csv_file(tmp_path, rows), store, chunk_rows=5)
    assert not any(t.name.startswith("cdw-ingest") for t in threading.enumerate())
    assert list(store.root.glob(".ingest-*")) == []
    assert stored(store).height == 0
    assert [p for p in store.root.rglob("*.parquet")] == []


def test_each_stored_frame_holds_whole_vehicles_of_one_store_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        f"粤A{n:05d},2024-05-01T08:00:{s:02d}+08:00,113.2,23.1"
        for s in range(0, 60, 20)
        for n in range(40)
    ]
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai")
    frames: list[pl.DataFrame] = []
    original = store.append_many

    def recording(given: object, upload: str | None = None) -> object:
        def keep() -> object:
            for frame in given:  # type: ignore[attr-defined]
                frames.append(frame)
                yield frame

        return original(keep(), upload)

    monkeypatch.setattr(store, "append_many", recording)
    report = ingest(csv_file(tmp_path, rows), store, chunk_rows=10)
    assert report.new == 120
    assert len(frames) > 1
    buckets = [set(vehicle_bucket(f["vehicle"], store.buckets).to_list()) for f in frames]
    assert all(len(b) == 1 for b in buckets)
    vehicles = [set(f["vehicle"].to_list()) for f in frames]
    assert sum(len(v) for v in vehicles) == len(set().union(*vehicles)) == 40


def test_read_only_store_refuses_before_staging(tmp_path: Path) -> None:
    remote = PointStore((tmp_path / "store").as_uri())
    with pytest.raises(ReadOnlyStore):
        ingest(csv_file(tmp_path, GOOD), remote, chunk_rows=1)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("buckets", "input_bytes"), [(16, 10**12), (10, 10**12), (16, 10), (7, 5000)]
)
def test_staged_partitions_are_whole_multiples_of_the_store_buckets(
    tmp_path: Path, buckets: int, input_bytes: int
) -> None:
    store = PointStore(tmp_path / "store", timezone="Asia/Shanghai", buckets=buckets)
    parts = ingest_module._Staging(store, 1, input_bytes).parts
    assert parts % store.buckets == 0
    assert store.buckets <= parts <= MAX_STORE_BUCKETS


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["粤A12345", "粤B12345", "湘A12345", "A"]),
            st.integers(0, 40),  # seconds: repeats likely
            st.sampled_from([113.2, 113.2001, 113.9, 0.0, 200.0]),  # jumps, (0, 0), bad
        ),
        max_size=40,
    ),
    keep_file_order=st.booleans(),
)
def test_cleaning_a_group_in_track_order_equals_cleaning_it_as_read(
    rows: list[tuple[str, int, float]], keep_file_order: bool
) -> None:
    """The sorted group ingest hands to clean gives the same points and counts, and it is
    offered exactly when no vehicle's time steps back in file order."""
    if keep_file_order:  # each vehicle's times non-decreasing, vehicles interleaved
        rows = sorted(rows, key=lambda r: r[1])
    start = datetime(2024, 5, 1, tzinfo=UTC)
    group = pl.DataFrame(
        {
            "vehicle": [r[0] for r in rows],
            "ts": [start + timedelta(seconds=r[1]) for r in rows],
            "lon": [r[2] for r in rows],
            "lat": [0.0 if r[2] == 0.0 else 23.1 for r in rows],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    group = conform(group)
    steps_back = any(
        later[1] < earlier[1]
        for i, earlier in enumerate(rows)
        for later in rows[i + 1 :]
        if later[0] == earlier[0]
    )
    ordered = ingest_module._in_track_order(group)
    assert (ordered is None) == (steps_back or not rows)
    if ordered is None:
        return
    assert ordered["vehicle"].to_list() == sorted(ordered["vehicle"].to_list())
    as_read, sorted_first = clean(group, Thresholds(), NOW), clean(ordered, Thresholds(), NOW)
    assert sorted_first.points.equals(as_read.points)
    assert sorted_first.dropped == as_read.dropped
    assert sorted_first.reordered == as_read.reordered == 0


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 5), st.integers(-(10**6), 10**6)), min_size=1, max_size=40
    ),
    scale=st.sampled_from([1, 10**6, 10**8]),  # 2·10**14 µs × 2**32 ranks: the two-key path
    big_rank=st.booleans(),
)
def test_one_key_sort_by_rank_and_time_equals_the_two_key_sort(
    pairs: list[tuple[int, int]], scale: int, big_rank: bool
) -> None:
    rank = pl.Series([r + (2**32 - 6 if big_rank else 0) for r, _ in pairs], dtype=pl.UInt32)
    ts = pl.Series(
        [datetime(2024, 5, 1, tzinfo=UTC) + timedelta(microseconds=t * scale) for _, t in pairs],
        dtype=pl.Datetime("us", "UTC"),
    )
    two_keys = pl.DataFrame({"rank": rank, "ts": ts}).select(
        pl.arg_sort_by("rank", "ts", maintain_order=True)
    )
    assert (
        ingest_module._arg_sort_by_rank_and_time(rank, ts).to_list()
        == two_keys.to_series().to_list()
    )
