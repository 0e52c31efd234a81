"""The write-ahead log and the intake: nothing acknowledged is lost or stored twice across a
crash (a torn last record, a crash between the store's append and the checkpoint)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdw.gateway.intake import Intake
from cdw.gateway.wal import (
    LogBusy,
    Point,
    WriteAheadLog,
    decode_points,
    encode_points,
    open_slot,
    points_frame,
)
from cdw.tracking.points import POINTS_SCHEMA
from cdw.tracking.store import PointStore

T0 = int(datetime(2026, 12, 6, 8, 0, tzinfo=UTC).timestamp() * 1_000_000)
SECOND = 1_000_000


def fixes(vehicle: str, n: int, start: int = 0) -> list[Point]:
    return [
        Point(vehicle, T0 + (start + i) * 10 * SECOND, 113.3 + i * 1e-4, 23.1, 30.0, 90.0, 2, 0)
        for i in range(n)
    ]


def store_of(tmp_path) -> PointStore:
    return PointStore(tmp_path / "points", timezone="Asia/Shanghai")


def all_stored(store: PointStore):
    return store.read(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


points_strategy = st.lists(
    st.builds(
        Point,
        st.text(min_size=1, max_size=8),
        st.integers(0, 2**62),
        st.floats(-180, 180),
        st.floats(-90, 90),
        st.none() | st.floats(0, 400, width=32),
        st.none() | st.floats(0, 360, width=32),
        st.none() | st.integers(0, 2**32 - 1),
        st.none() | st.integers(0, 2**32 - 1),
        st.text(alphabet="0123456789abcdef", max_size=32),
    ),
    max_size=20,
)


@given(points_strategy)
def test_points_survive_encoding(points):
    assert decode_points(encode_points(points)) == points


def test_points_frame_follows_the_points_contract():
    frame = points_frame([Point("粤A12345", T0, 113.3, 23.1, None, 90.0, 0x300, None)])
    assert frame.schema == POINTS_SCHEMA
    assert frame.row(0) == (
        "粤A12345", datetime(2026, 12, 6, 8, 0, tzinfo=UTC), 113.3, 23.1, None, 90.0, 0x300, None
    )  # fmt: skip
    uploads = points_frame([Point("粤A12345", T0, 113.3, 23.1, upload="ab" * 16)], with_upload=True)
    assert uploads["upload"].to_list() == ["ab" * 16]


def test_one_process_owns_a_log(tmp_path):
    first = WriteAheadLog(tmp_path / "wal" / "api-0")
    with pytest.raises(LogBusy):
        WriteAheadLog(tmp_path / "wal" / "api-0")
    second = open_slot(tmp_path / "wal", "api")
    assert second.directory.name == "api-1"
    first.close()
    second.close()
    assert open_slot(tmp_path / "wal", "api").directory.name == "api-0"


def test_recovery_after_a_crash_stores_every_acknowledged_point_once(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal")
    intake = Intake(wal, store_of(tmp_path))
    intake.submit_sync(fixes("粤A00001", 5))
    intake.absorb()  # the first five reach the store and the checkpoint
    acknowledged = fixes("粤A00001", 5, start=5) + fixes("粤A00002", 3)
    intake.submit_sync(acknowledged[:6])
    intake.submit_sync(acknowledged[6:])
    # crash: the process dies in the middle of writing a further record (never acknowledged)
    segment = max(wal.directory.glob("*.wal"))
    with open(segment, "ab") as out:
        out.write(b"\x40\x00\x00\x00\x12\x34")
    wal._lock_file.close()  # the kernel drops the lock of a dead process

    reopened = WriteAheadLog(tmp_path / "wal")
    recovered = Intake(reopened, store_of(tmp_path)).recover()
    assert sorted(recovered) == sorted(acknowledged)
    stored = all_stored(store_of(tmp_path))
    assert stored.height == 13
    assert stored.select("vehicle", "ts").is_duplicated().sum() == 0
    reopened.close()

    # a second start finds nothing after the checkpoint
    again = WriteAheadLog(tmp_path / "wal")
    assert Intake(again, store_of(tmp_path)).recover() == []
    assert all_stored(store_of(tmp_path)).height == 13


def test_a_crash_between_the_store_and_the_checkpoint_duplicates_nothing(tmp_path, monkeypatch):
    wal = WriteAheadLog(tmp_path / "wal")
    intake = Intake(wal, store_of(tmp_path))
    intake.submit_sync(fixes("粤A00001", 4))

    def crash(*args, **kwargs):
        raise SystemExit("killed after the store's append")

    monkeypatch.setattr(wal, "checkpoint", crash)
    with pytest.raises(SystemExit):
        intake.absorb()
    wal._lock_file.close()
    assert all_stored(store_of(tmp_path)).height == 4

    reopened = WriteAheadLog(tmp_path / "wal")
    assert len(Intake(reopened, store_of(tmp_path)).recover()) == 4  # replayed…
    stored = all_stored(store_of(tmp_path))
    assert stored.height == 4  # …and stored once
    assert stored.select("vehicle", "ts").is_duplicated().sum() == 0


def test_absorbed_segments_are_deleted(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal", segment_bytes=200)
    intake = Intake(wal, store_of(tmp_path))
    for i in range(10):
        intake.submit_sync(fixes("粤A00001", 3, start=3 * i))
    assert len(list(wal.directory.glob("*.wal"))) >= 5
    assert wal.backlog_bytes() > 0 and intake.pending_points == 30
    intake.absorb()
    assert len(list(wal.directory.glob("*.wal"))) == 1
    assert wal.backlog_bytes() == 0 and intake.pending_points == 0
    assert all_stored(store_of(tmp_path)).height == 30


def test_a_late_point_lands_in_its_local_day(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal")
    intake = Intake(wal, store_of(tmp_path))
    intake.submit_sync(fixes("粤A00001", 2))
    late = int(datetime(2026, 12, 4, 16, 30, tzinfo=UTC).timestamp() * SECOND)  # 5 Dec, 00:30 +08
    intake.submit_sync([Point("粤A00001", late, 113.3, 23.1)])
    intake.absorb()
    assert store_of(tmp_path).days() == [date(2026, 12, 5), date(2026, 12, 6)]


def test_concurrent_asynchronous_submits_share_writes(tmp_path):
    async def scenario():
        wal = WriteAheadLog(tmp_path / "wal")
        intake = Intake(wal, store_of(tmp_path))
        await intake.start()
        await asyncio.gather(*(intake.submit(fixes(f"粤A{i:05d}", 1)) for i in range(200)))
        groups = wal.groups_written
        await intake.close()
        return groups

    groups = asyncio.run(scenario())
    assert groups < 20
    assert all_stored(store_of(tmp_path)).height == 200


def test_concurrent_synchronous_submits_are_all_durable(tmp_path):
    wal = WriteAheadLog(tmp_path / "wal")
    intake = Intake(wal, store_of(tmp_path))
    results = []

    def push(i: int) -> None:
        results.append(intake.submit_sync(fixes(f"粤A{i:05d}", 5)))

    threads = [threading.Thread(target=push, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.accepted) for r in results) == 80
    assert wal.groups_written <= 16
    intake.close_sync()
    assert all_stored(store_of(tmp_path)).height == 80


def test_the_logs_of_stopped_processes_are_recovered_and_held_ones_left_alone(tmp_path):
    from cdw.gateway.intake import recover_orphans

    crashed = WriteAheadLog(tmp_path / "wal" / "api-0")
    Intake(crashed, store_of(tmp_path)).submit_sync(fixes("粤A00001", 4))
    crashed._lock_file.close()  # the process died
    alive = WriteAheadLog(tmp_path / "wal" / "api-1")
    Intake(alive, store_of(tmp_path)).submit_sync(fixes("粤A00002", 2))
    assert recover_orphans(tmp_path / "wal", store_of(tmp_path)) == 4
    assert all_stored(store_of(tmp_path))["vehicle"].unique().to_list() == ["粤A00001"]
    assert recover_orphans(tmp_path / "wal", store_of(tmp_path)) == 0
    alive.close()


def test_a_copy_sent_again_is_answered_only_once_the_first_is_durable(tmp_path, monkeypatch):
    async def scenario(fail: bool):
        wal = WriteAheadLog(tmp_path / ("bad" if fail else "good"))
        intake = Intake(wal, store_of(tmp_path))
        if fail:

            def broken(payloads):
                raise OSError("disk full")

            monkeypatch.setattr(wal, "write", broken)
        await intake.start()
        same = fixes("粤A00001", 1)
        first, again = await asyncio.gather(
            intake.submit(same), intake.submit(same), return_exceptions=True
        )
        durable = intake.accepted.total
        await intake.close()
        return first, again, durable

    first, again, durable = asyncio.run(scenario(fail=False))
    assert (len(first.accepted), len(again.duplicates), durable) == (1, 1, 1)
    first, again, durable = asyncio.run(scenario(fail=True))
    assert isinstance(first, OSError) and isinstance(again, OSError)  # neither acknowledged
    assert durable == 0
