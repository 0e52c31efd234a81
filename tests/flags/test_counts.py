"""The flag counts (``flag_count``) equal a COUNT of the flags per (status, code, day) after
any sequence of writes through the services: a day's run replacing flags (inserted, updated
in place, deleted, kept when reviewed or held), a rolled-back run, a flag raised live,
reviews, explanations and case actions; and the lists' totals taken from them are exact."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlmodel import Session, col, select

from cdw.auth.models import Role, User
from cdw.config import Settings
from cdw.enforcement import cases, review
from cdw.enforcement.case_machine import ActionInput, CaseAction
from cdw.enforcement.models import Case, CaseState, ReviewStatus
from cdw.enforcement.review import QueueFilter
from cdw.enforcement.statistics import flags_per_day, statistics
from cdw.errors import Conflict
from cdw.flags.codes import FlagCode, FlagSource
from cdw.flags.counts import FlagCount, counted
from cdw.flags.models import FlagRecord, FlagStatus
from cdw.flags.store import replace_flags
from cdw.flags.values import Flag
from cdw.flows.day import FLAG_HOLDERS
from tests.enforcement.world import DAY, T0, World, add_flag, build_world

TZ = ZoneInfo("Asia/Shanghai")
CODES = (FlagCode.LONG_STOP, FlagCode.SPEEDING, FlagCode.NO_RECEIPT)
SETTINGS = Settings()


def counts_kept(session: Session) -> dict[tuple[str, str, str], int]:
    rows = session.exec(select(FlagCount)).all()
    return {(r.status, str(r.code), r.day.isoformat()): r.n for r in rows if r.n}


def counts_of_rows(session: Session) -> dict[tuple[str, str, str], int]:
    rows = session.exec(
        select(FlagRecord.status, FlagRecord.code, FlagRecord.day, func.count()).group_by(
            col(FlagRecord.status), col(FlagRecord.code), col(FlagRecord.day)
        )
    ).all()
    return {(status, str(code), day.isoformat()): n for status, code, day, n in rows}


def exact_count(session: Session, where: QueueFilter) -> int:
    stmt = select(func.count()).select_from(FlagRecord)
    if where.status is not None:
        stmt = stmt.where(FlagRecord.status == where.status)
    if where.code is not None:
        stmt = stmt.where(FlagRecord.code == where.code)
    if where.day_from is not None:
        stmt = stmt.where(FlagRecord.day >= where.day_from)
    if where.day_to is not None:
        stmt = stmt.where(FlagRecord.day <= where.day_to)
    return session.exec(stmt).one()


def a_flag(world: World, code: int, vehicle: int, day: int, slot: int, severity: int) -> Flag:
    plate = (world.vehicle, world.other_vehicle)[vehicle].plate
    start = T0 + timedelta(days=day, minutes=7 * slot)
    return Flag(
        code=CODES[code],
        severity=severity,
        vehicle=plate,
        trip_id=None,
        start=start,
        end=start + timedelta(minutes=5),
        lon=113.49,
        lat=23.585,
        geometry={"type": "Point", "coordinates": [113.49, 23.585]},
        measured={"duration_s": 300.0},
        thresholds={"long_stop_min_duration_s": 180.0},
        explanation_zh="测试预警",
        explanation_en="test flag",
        permit_no="CZ-2026-001",
    )


FLAGS = st.lists(
    st.tuples(
        st.integers(0, len(CODES) - 1),  # code
        st.integers(0, 1),  # vehicle
        st.integers(0, 5),  # slot of the day
        st.integers(10, 95),  # severity
    ),
    max_size=6,
)
PICK = st.integers(0, 1_000)  # which of the candidate flags or cases (modulo their number)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.sampled_from(list(FlagSource)), st.integers(0, 2), FLAGS),
        st.tuples(st.just("run rolled back"), st.integers(0, 2), FLAGS),
        st.tuples(st.just("live"), st.integers(0, 2), FLAGS),
        st.tuples(st.sampled_from(["dismiss", "warn", "explain", "open case"]), PICK),
        st.tuples(st.sampled_from(["decide", "withdraw"]), PICK),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture
def world(session: Session) -> World:
    built = build_world(session)
    session.add(
        User(
            username="haulier1", role=Role.haulier, hashed_password="!", haulier_id=built.haulier.id
        )
    )
    session.commit()
    return built


def _pick(rows: list, pick: int):
    return rows[pick % len(rows)] if rows else None


def _open_flags(session: Session, plate: str | None = None) -> list[FlagRecord]:
    stmt = select(FlagRecord).where(FlagRecord.status == FlagStatus.open)
    if plate is not None:
        stmt = stmt.where(FlagRecord.vehicle == plate)
    return list(session.exec(stmt.order_by(col(FlagRecord.id))).all())


def _apply(session: Session, world: World, step: tuple) -> None:
    kind = step[0]
    officer = world.officer
    if kind in ("run", "run rolled back"):
        source = step[1] if kind == "run" else FlagSource.engine
        day, flags = step[-2], step[-1]
        found = [a_flag(world, c, v, day, s, sev) for c, v, s, sev in flags]
        first = DAY + timedelta(days=day)
        replace_flags(session, source, first, first, found, TZ, actor=officer, held_by=FLAG_HOLDERS)
        if kind == "run":
            session.commit()
        else:
            session.rollback()
    elif kind == "live":  # as cdw.live.engine stores a flag: the ORM record, new or refreshed
        for c, v, s, sev in step[2]:
            flag = a_flag(world, c, v, step[1], s, sev)
            record = session.exec(
                select(FlagRecord).where(
                    FlagRecord.source == FlagSource.engine,
                    FlagRecord.code == flag.code,
                    FlagRecord.vehicle == flag.vehicle,
                    FlagRecord.start_ts == flag.start,
                )
            ).first()
            if record is None:
                session.add(FlagRecord.from_flag(flag, flag.start.astimezone(TZ).date()))
            elif record.status == FlagStatus.open:
                record.refresh_from(flag)
                session.add(record)
            session.flush()
        session.commit()
    elif kind in ("dismiss", "warn", "explain", "open case"):
        plate = world.vehicle.plate if kind == "explain" else None
        record = _pick(_open_flags(session, plate), step[1])
        if record is None:
            return
        if kind == "dismiss":
            review.dismiss(session, record, officer, "误报 / false alarm")
        elif kind == "warn":
            review.warn(session, record, officer, None)
        elif kind == "explain":
            haulier = session.exec(select(User).where(User.username == "haulier1")).one()
            review.explain(session, record, haulier, "正常卸货 / regular unloading")
        else:
            cases.open_case(session, officer, [record.id], "案件 / case")
        session.commit()
    else:
        case = _pick(
            list(session.exec(select(Case).where(Case.state == CaseState.open).order_by(Case.id))),
            step[1],
        )
        if case is None:
            return
        if kind == "decide":
            cases.act(session, case, CaseAction.investigate, officer, ActionInput(), SETTINGS)
            given_ = ActionInput(penalty_amount_yuan=500, legal_basis="条例第 20 条")
            cases.act(session, case, CaseAction.decide, officer, given_, SETTINGS)
        else:
            given_ = ActionInput(reason="证据不足 / insufficient evidence")
            cases.act(session, case, CaseAction.withdraw, officer, given_, SETTINGS)
        session.commit()


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_counts_equal_the_rows_after_any_sequence_of_writes(session, world, steps):
    for step in steps:
        _apply(session, world, step)
        assert counts_kept(session) == counts_of_rows(session), step
    filters = [
        QueueFilter(),
        QueueFilter(status=None),
        QueueFilter(status=ReviewStatus.dismissed, code=FlagCode.SPEEDING),
        QueueFilter(status=None, day_from=DAY + timedelta(days=1), day_to=DAY + timedelta(days=2)),
        QueueFilter(code=FlagCode.NO_RECEIPT, day_to=DAY),
    ]
    for where in filters:
        assert review.queue(session, where, limit=1)[1] == exact_count(session, where)


def test_rows_written_directly_are_counted_and_a_rollback_takes_its_counts_back(engine):
    """The triggers count whatever writes the table, and in its transaction."""
    with Session(engine) as session:
        world = build_world(session)
        flag = add_flag(session, FlagCode.SPEEDING, plate=world.vehicle.plate)
        add_flag(session, FlagCode.SPEEDING, plate=world.vehicle.plate, minutes=10)
        session.exec(
            text("UPDATE flag SET status = 'warned', day = :day WHERE id = :id"),  # type: ignore[call-overload]
            params={"day": DAY + timedelta(days=1), "id": flag.id},
        )
        session.commit()
        expected = {
            ("open", "SPEEDING", DAY.isoformat()): 1,
            ("warned", "SPEEDING", (DAY + timedelta(days=1)).isoformat()): 1,
        }
        assert counts_kept(session) == counts_of_rows(session) == expected
        session.exec(text("DELETE FROM flag"))  # type: ignore[call-overload]
        assert counts_kept(session) == {}
        session.rollback()
        assert counts_kept(session) == expected
        assert counted(session, code=FlagCode.SPEEDING) == 2
        assert counted(session, status="warned", day_to=DAY) == 0


def test_dashboard_figures_from_the_counts_equal_the_rows(session, world):
    for minutes, code in enumerate((FlagCode.SPEEDING, FlagCode.SPEEDING, FlagCode.LONG_STOP)):
        add_flag(session, code, plate=world.vehicle.plate, minutes=minutes)
    add_flag(session, FlagCode.LONG_STOP, plate=world.vehicle.plate, day=DAY + timedelta(days=2))
    record = _open_flags(session)[0]
    review.dismiss(session, record, world.officer, "误报")
    session.commit()
    stats = statistics(session, DAY, DAY, "Asia/Shanghai")
    assert stats["flags_total"] == 3
    assert stats["flags_by_code"]["SPEEDING"]["count"] == 2
    assert stats["flags_by_code"]["LONG_STOP"]["count"] == 1
    days = flags_per_day(session, DAY, DAY + timedelta(days=2))
    assert [(d["total"], d["by_code"]) for d in days] == [
        (3, {"LONG_STOP": 1, "SPEEDING": 2}),
        (0, {}),
        (1, {"LONG_STOP": 1}),
    ]


def test_a_run_caught_in_a_deadlock_over_a_count_is_a_conflict_to_retry(engine):
    """PostgreSQL: a run holding a count's cell (its inserts) waits for a flag another writer
    holds, which then waits for that cell; the database aborts one of them, and the run's
    answer is the 409 of any concurrent change (nothing stored, run it again)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writers take the database lock one at a time: no deadlock")
    with Session(engine) as session:
        world = build_world(session)
        stale = add_flag(session, FlagCode.SPEEDING, plate=world.vehicle.plate)
        stale_id, plate = stale.id, world.vehicle.plate
    new = a_flag(world, code=1, vehicle=0, day=0, slot=3, severity=50)  # SPEEDING, DAY
    outcome: list[BaseException | None] = []

    def run() -> None:
        with Session(engine) as session:
            try:  # inserts `new` (locking the cell), then deletes `stale`: waits for it
                replace_flags(session, FlagSource.engine, DAY, DAY, [new], TZ)
                session.commit()
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                outcome.append(exc)

    with engine.connect() as other:
        other.execute(text("SELECT id FROM flag WHERE id = :id FOR UPDATE"), {"id": stale_id})
        thread = threading.Thread(target=run)
        thread.start()
        # the run waits for the stale flag's row, held here (pg_stat_activity is a snapshot per
        # transaction: cleared before each look, else the first answer repeats for ever)
        waited = time.monotonic() + 60
        while not other.execute(
            text(
                "SELECT pg_stat_clear_snapshot(), count(*) FROM pg_stat_activity"
                " WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"  # waits for this one
            )
        ).one()[1]:
            assert time.monotonic() < waited, "the run never waited for the stale flag"
            time.sleep(0.05)
        other.execute(  # a flag of the same cell: waits for the run's cell, closing the cycle
            text(
                "INSERT INTO flag (code, severity, vehicle, day, start_ts, end_ts, lon, lat,"
                " geometry, measured, thresholds, explanation_zh, explanation_en, source,"
                " status, created_at) VALUES ('SPEEDING', 50, :plate, :day, now(), now(), 0, 0,"
                " '{}', '{}', '{}', '', '', 'reconciliation', 'open', now())"
            ),
            {"plate": plate, "day": DAY},
        )
        other.commit()
        thread.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    with Session(engine) as session:
        assert counts_kept(session) == counts_of_rows(session)
        assert session.get(FlagRecord, stale_id) is not None  # the run stored nothing
