"""The day flow: one engine run per day analysed and reconciled; reconciliation on the
analysis run's legs; the engine sees the known hotspots of the days before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from cdw.config import Settings
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flows import partitioned
from cdw.flows.day import (
    _run,
    analyse_and_reconcile_days,
    analyse_days,
    analysed_legs,
    reconcile_days,
)
from cdw.flows.models import AnalysedDay, LoadedLeg
from cdw.tracking.store import PointStore
from tests.manifests.test_reconcile import NOW, seed_day, track
from tests.tracking.handbuilt import DAY, lonlat, utc
from tests.tracking.test_analysis import day_track, seed_registry


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of checks of every pipeline run the day flow makes."""
    calls: list[int] = []
    run = partitioned.run_pipeline

    def counted(points, context, now=None, checks=partitioned.CHECKS):
        calls.append(len(checks))
        return run(points, context, now, checks)

    monkeypatch.setattr(partitioned, "run_pipeline", counted)
    return calls


@pytest.fixture
def store(tmp_path) -> PointStore:
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    points.append(track().frame())
    return points


def _flags(report) -> list[tuple[str, str, str | None, str]]:
    return [(str(f.code), f.vehicle, f.trip_id, f.start.isoformat()) for f in report.flags]


def test_one_pipeline_run_per_day_analysed_and_reconciled(
    session: Session, store: PointStore, runs: list[int]
):
    seed_day(session)
    analysis, reconciliation = analyse_and_reconcile_days(
        session, store, DAY, DAY, Settings(), now=NOW
    )
    assert runs == [len(partitioned.CHECKS)]
    # The reconciliation's trips are the engine's: the same legs, the same trip ids.
    legs = session.exec(select(LoadedLeg).order_by(LoadedLeg.start_ts)).all()
    assert reconciliation.trips == len(legs) == 3
    engine_trip_ids = {f.trip_id for f in analysis.flags}
    assert {f.trip_id for f in reconciliation.flags} - {None} <= {leg.trip_id for leg in legs}
    (wrong,) = [f for f in analysis.flags if f.code == FlagCode.WRONG_DESTINATION]
    assert wrong.trip_id in engine_trip_ids and wrong.trip_id in {leg.trip_id for leg in legs}
    # Reconciling the analysed day again runs nothing: the analysis run's legs are used.
    again = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert runs == [len(partitioned.CHECKS)]
    assert _flags(again) == _flags(reconciliation)
    # Analysed, then reconciled apart: still one run for the day.
    runs.clear()
    analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    alone = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert runs == [len(partitioned.CHECKS)]
    assert _flags(alone) == _flags(reconciliation)
    assert session.get(AnalysedDay, DAY) is not None


def test_the_stored_legs_are_the_runs_legs_field_for_field(session: Session, store: PointStore):
    seed_day(session)
    analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    legs = _run(session, store, DAY, DAY, Settings(), NOW, checks=False)[1]
    assert len(legs) == 3
    assert analysed_legs(session, DAY, DAY) == legs


def test_reconcile_works_on_the_analysis_run_not_on_points_stored_since(
    session: Session, store: PointStore, tmp_path, runs: list[int]
):
    seed_day(session)
    analysed = analyse_and_reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)[1]
    empty = PointStore(tmp_path / "none", timezone="Asia/Shanghai")
    later = reconcile_days(session, empty, DAY, DAY, Settings(), now=NOW)
    assert later.trips == analysed.trips == 3
    assert _flags(later) == _flags(analysed)
    assert len(runs) == 1


def test_a_day_never_analysed_is_reconciled_on_its_own_run_without_checks(
    session: Session, store: PointStore, runs: list[int]
):
    seed_day(session)
    report = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert runs == [0] and report.trips == 3
    assert session.exec(select(LoadedLeg)).all() == []  # nothing of that run is kept
    sources = {r.source for r in session.exec(select(FlagRecord))}
    assert sources == {"reconciliation"}


def test_a_known_hotspot_raises_the_dumping_score_of_a_real_run(session: Session, tmp_path):
    seed_registry(session)
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    points.append(day_track().frame())

    def dumping() -> dict:
        report = analyse_days(session, points, DAY, DAY, Settings())
        (flag,) = [f for f in report.flags if f.code == FlagCode.SUSPECTED_DUMPING]
        return flag.measured

    assert dumping()["score"]["hotspot"] == 0
    # Three dumping stops reported on the days before, where this truck stops on DAY.
    for k, (dx, dy) in enumerate([(0, 0), (30, 0), (0, 40)]):
        lon, lat = lonlat(2000 + dx, dy)
        start = utc(0) - timedelta(days=k + 1)
        session.add(
            FlagRecord(
                code=FlagCode.SUSPECTED_DUMPING, severity=40, vehicle=f"粤B0000{k}",
                day=DAY - timedelta(days=k + 1), start_ts=start,
                end_ts=start + timedelta(minutes=5), lon=lon, lat=lat,
                geometry={"type": "Point", "coordinates": [lon, lat]},
                explanation_zh="停留", explanation_en="stop",
            )
        )  # fmt: skip
    session.commit()
    measured = dumping()
    assert measured["score"]["hotspot"] == 15
    assert measured["hotspot"].startswith("热点 #1")
    assert measured["score_total"] == 40 + 15
    # The day's own flags are no known hotspot of it: re-analysing gives the same score.
    assert dumping()["score_total"] == 55
