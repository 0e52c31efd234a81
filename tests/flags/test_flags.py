import json
from datetime import UTC

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cdw import db
from cdw.audit.models import AuditEntry
from cdw.db import insert_rows
from cdw.flags import store
from cdw.flags.codes import FLAG_LABELS, FlagCode, FlagSource
from cdw.flags.models import FlagRecord, flag_findings
from cdw.flags.store import FLAG_RUN_ENTITY, replace_flags
from cdw.flags.values import Flag
from tests.tracking.handbuilt import DAY, PLATE, utc

CATALOGUE = [
    "ROUTE_DEVIATION",
    "偏离路线",
    "LONG_STOP",
    "长时间停留",
    "SUSPECTED_DUMPING",
    "疑似偷倒",
    "WRONG_DESTINATION",
    "异地卸载",
    "SPEEDING",
    "超速",
    "OUT_OF_HOURS",
    "非许可时段运输",
    "RESTRICTED_ZONE",
    "进入禁区",
    "SIGNAL_GAP",
    "轨迹中断",
    "TAMPER_SUSPECTED",
    "疑似车机分离",
    "NO_RECEIPT",
    "联单未闭合",
    "UNMANIFESTED_TRIP",
    "无单运输",
    "RECEIPT_WITHOUT_TRIP",
    "有单无轨迹",
    "QUANTITY_DISCREPANCY",
    "数量不符",
    "OVERLOAD",
    "超载",
    "UNAUTHORISED_VEHICLE",
    "无证运输",
]


def test_every_code_of_the_catalogue_has_its_labels():
    pairs = dict(zip(CATALOGUE[::2], CATALOGUE[1::2], strict=True))
    assert {str(c): c.zh for c in FlagCode} == pairs
    assert all(FLAG_LABELS[c][1] for c in FlagCode)
    assert FlagCode.TAMPER_SUSPECTED.en == "Suspected tampering"


def flag(**kw) -> Flag:
    data = dict(
        code=FlagCode.LONG_STOP,
        severity=30,
        vehicle=PLATE,
        trip_id=f"{PLATE}@20240506T020000Z",
        start=utc(100),
        end=utc(700),
        lon=113.3,
        lat=23.1,
        geometry={"type": "Point", "coordinates": [113.3, 23.1]},
        measured={"duration_s": 600.0},
        thresholds={"long_stop_min_duration_s": 600.0},
        explanation_zh="停留 10.0 分钟（阈值 10.0 分钟）",
        explanation_en="Stopped 10.0 min (threshold 10.0 min)",
        permit_no="HZ-2024-001",
    )
    return Flag(**{**data, **kw})


def test_flag_as_dict_is_json_ready():
    out = json.loads(json.dumps(flag().as_dict(), ensure_ascii=False))
    assert out["code"] == "LONG_STOP"
    assert (out["label_zh"], out["label_en"]) == ("长时间停留", "Long stop")
    assert out["start"] == "2024-05-06T02:01:40+00:00"


def test_record_round_trip_and_identity_is_unique(session: Session):
    session.add(FlagRecord.from_flag(flag(), DAY))
    session.commit()
    stored = session.get(FlagRecord, 1)
    assert stored.to_flag() == flag()
    assert (stored.status, stored.source, stored.day) == ("open", FlagSource.engine, DAY)
    # Same identity from the reconciliation side is another flag.
    session.add(FlagRecord.from_flag(flag(), DAY, source=FlagSource.reconciliation))
    session.commit()
    session.add(FlagRecord.from_flag(flag(severity=50, end=utc(800)), DAY))
    with pytest.raises(IntegrityError):
        session.commit()


def test_replace_flags_leaves_the_commit_to_its_caller(session: Session):
    saved = replace_flags(session, FlagSource.engine, DAY, DAY, [flag()], UTC)
    assert (saved.stored, saved.replaced) == (1, 0)
    session.rollback()
    assert session.exec(select(FlagRecord)).all() == []
    replace_flags(session, FlagSource.engine, DAY, DAY, [flag()], UTC)
    session.commit()
    assert [r.to_flag() for r in session.exec(select(FlagRecord))] == [flag()]


def _run(severity: int, n: int) -> list[Flag]:
    """``n`` flags of one day, each its own identity (vehicle and start)."""
    flags = [
        flag(vehicle=f"粤A{i // 10:05d}", start=utc(100 + i % 10 * 600), severity=severity)
        for i in range(n)
    ]
    return sorted(flags, key=_by_identity)


def _by_identity(f: Flag) -> tuple:
    return (f.vehicle, f.start)


def test_a_run_of_thousands_of_flags_is_stored_whole_in_batches(session: Session, monkeypatch):
    # several batches of each kind of write (SQLite; PostgreSQL copies them)
    monkeypatch.setattr(store, "WRITE_BATCH", 700)
    monkeypatch.setattr(db, "WRITE_BATCH", 700)
    first = replace_flags(session, FlagSource.engine, DAY, DAY, _run(30, 3000), UTC, actor="job")
    session.commit()
    assert (first.stored, first.replaced, first.kept_reviewed) == (3000, 0, 0)
    rows = session.exec(select(FlagRecord).order_by(FlagRecord.id)).all()
    assert sorted((r.to_flag() for r in rows), key=_by_identity) == _run(30, 3000)
    assert {(r.status, r.day, r.source) for r in rows} == {("open", DAY, FlagSource.engine)}
    loaded = rows[0]

    # Found again: 2,000 updated in place (same ids), the other 1,000 deleted; one entry each run.
    again = replace_flags(session, FlagSource.engine, DAY, DAY, _run(60, 2000), UTC, actor="job")
    session.commit()
    assert (again.stored, again.replaced) == (2000, 3000)
    kept = session.exec(select(FlagRecord).order_by(FlagRecord.id)).all()
    assert [r.id for r in kept] == [r.id for r in rows[:2000]]
    assert {r.severity for r in kept} == {60}
    assert loaded.severity == 60  # a record the session held is reloaded, not stale
    entries = session.exec(
        select(AuditEntry).where(AuditEntry.entity == FLAG_RUN_ENTITY).order_by(AuditEntry.id)
    ).all()
    assert [(e.actor, e.data["stored"], e.data["deleted_count"]) for e in entries] == [
        ("job", 3000, 0),
        ("job", 2000, 1000),
    ]
    assert entries[1].data["updated"] == [r.id for r in kept]
    assert sorted(d["id"] for d in entries[1].data["deleted"]) == [r.id for r in rows[2000:]]


def test_flags_written_in_bulk_read_back_as_written_and_a_duplicate_fails_whole(session: Session):
    """``insert_rows`` (PostgreSQL: COPY) binds each value as an INSERT would: text with tabs,
    newlines and backslashes, JSON with nulls and nesting, None; a duplicate identity is
    SQLAlchemy's IntegrityError and nothing of the statement is kept."""
    odd = flag(
        trip_id=None,
        permit_no=None,
        explanation_zh="停留\t10 分钟\n\\N 反斜杠 \\ 结束",
        explanation_en="tab\there, newline\nthere, \\N and \\.",
        geometry={"type": "LineString", "coordinates": [[113.3, 23.1], [113.31, 23.11]]},
        measured={"nothing": None, "nested": {"list": [1, 2.5, "三"]}, "quote": "'\""},
    )
    others = [flag(start=utc(1000 + i), severity=i) for i in range(3)]
    rows = [FlagRecord.from_flag(f, DAY).model_dump(exclude={"id"}) for f in (odd, *others)]
    insert_rows(session, FlagRecord.__table__, rows)
    session.commit()
    stored = session.exec(select(FlagRecord).order_by(FlagRecord.start_ts)).all()
    assert [r.to_flag() for r in stored] == [odd, *others]
    assert {(r.status, r.source, r.day) for r in stored} == {("open", FlagSource.engine, DAY)}

    fresh = FlagRecord.from_flag(flag(start=utc(5000)), DAY).model_dump(exclude={"id"})
    with pytest.raises(IntegrityError):
        insert_rows(session, FlagRecord.__table__, [fresh, rows[1]])
    session.rollback()
    assert len(session.exec(select(FlagRecord)).all()) == 4


def test_a_flag_reviewed_after_the_run_read_it_fails_the_run_s_update(session: Session):
    """The run updates the open flags it found again; one reviewed meanwhile matches no more
    and the update is refused (IntegrityError: ``replace_flags`` answers 409)."""
    replace_flags(session, FlagSource.engine, DAY, DAY, [flag(), flag(start=utc(900))], UTC)
    session.commit()
    first, second = session.exec(select(FlagRecord).order_by(FlagRecord.id)).all()
    first.status = "dismissed"
    session.commit()
    found_again = [{"b_id": r.id, **flag_findings(flag(severity=77))} for r in (first, second)]
    with pytest.raises(IntegrityError):
        store._update(session, found_again)
    session.rollback()
    store._update(session, found_again[1:])
    session.commit()
    assert [
        (r.status, r.severity) for r in session.exec(select(FlagRecord).order_by(FlagRecord.id))
    ] == [
        ("dismissed", 30),
        ("open", 77),
    ]
