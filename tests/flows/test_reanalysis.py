"""Re-analysis and re-reconciliation keep the flags a haulier explained (申诉) or an officer
reviewed, never block on them, and record the flags they delete in the audit log (issue 13,
finding 2). SQLite and PostgreSQL (the ``session``/``engine`` fixtures), flow, API and CLI."""

from __future__ import annotations

import gc

import typer
from sqlmodel import Session, select
from typer.testing import CliRunner

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.audit.log import history, verify_chain
from cdw.audit.models import AuditEntry
from cdw.auth.models import Role, User
from cdw.config import Settings
from cdw.enforcement.models import FlagExplanation
from cdw.enforcement.review import explain
from cdw.flags.codes import FlagCode, FlagSource
from cdw.flags.models import FlagRecord
from cdw.flags.store import FLAG_RUN_ENTITY
from cdw.flows import day as day_flow
from cdw.flows.day import analyse_and_reconcile_days, analyse_days, reconcile_days
from cdw.registry.models import Vehicle
from cdw.tracking.store import PointStore
from tests.manifests.test_reconcile import NOW as RECONCILE_NOW
from tests.manifests.test_reconcile import seed_day, track
from tests.tracking.handbuilt import DAY, PLATE
from tests.tracking.test_analysis import NOW, day_track, seed_registry


def _store(tmp_path, builder) -> PointStore:
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    points.append(builder.frame())
    return points


def _haulier_user(session: Session, plate: str) -> User:
    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == plate)).one()
    user = User(
        username="haulier_a", role=Role.haulier, hashed_password="!", haulier_id=vehicle.haulier_id
    )
    session.add(user)
    session.commit()
    return user


def _flags(session: Session, source: FlagSource) -> list[FlagRecord]:
    stmt = select(FlagRecord).where(FlagRecord.source == source).order_by(FlagRecord.id)
    return list(session.exec(stmt).all())


def _run_entries(session: Session) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.entity == FLAG_RUN_ENTITY).order_by(AuditEntry.id)
    return list(session.exec(stmt).all())


def test_an_explained_flag_survives_reanalysis_once_and_the_deleted_are_audited(
    session: Session, tmp_path
):
    seed_registry(session)
    store = _store(tmp_path, day_track())
    analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    before = {r.code: r.id for r in _flags(session, FlagSource.engine)}
    stop = session.get(FlagRecord, before[FlagCode.LONG_STOP])
    explain(session, stop, _haulier_user(session, PLATE), "车辆抛锚 / breakdown")
    session.commit()

    again = analyse_days(session, store, DAY, DAY, Settings(), now=NOW, actor="officer_x")
    assert (again.stored, again.replaced, again.kept_reviewed) == (2, 2, 1)
    after = _flags(session, FlagSource.engine)
    assert sorted(str(r.code) for r in after) == sorted(str(c) for c in before)  # none twice
    kept = session.get(FlagRecord, before[FlagCode.LONG_STOP])
    assert kept is not None and kept.status == "open"
    explanation = session.exec(select(FlagExplanation)).one()
    assert explanation.flag_id == kept.id

    first_run, second_run = _run_entries(session)
    assert first_run.data["deleted"] == [] and first_run.data["stored"] == 3
    assert second_run.actor == "officer_x"
    # The open flags found again are updated in place: same ids, nothing deleted.
    assert second_run.data["deleted_count"] == 0 and second_run.data["kept"] == 1
    assert second_run.data["updated"] == sorted(
        [before[FlagCode.SUSPECTED_DUMPING], before[FlagCode.SIGNAL_GAP]]
    )
    assert {r.code: r.id for r in _flags(session, FlagSource.engine)} == before
    assert verify_chain(session) == []

    # A third run still keeps it, and a run that no longer finds it keeps it too.
    analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    empty = PointStore(tmp_path / "empty", timezone="Asia/Shanghai")
    cleared = analyse_days(session, empty, DAY, DAY, Settings(), now=NOW)
    assert (cleared.stored, cleared.replaced) == (0, 2)
    assert [r.id for r in _flags(session, FlagSource.engine)] == [kept.id]


def test_an_explained_reconciliation_flag_survives_rereconciliation(session: Session, tmp_path):
    seed_day(session)
    store = _store(tmp_path, track())
    first = analyse_and_reconcile_days(session, store, DAY, DAY, Settings(), now=RECONCILE_NOW)[1]
    records = _flags(session, FlagSource.reconciliation)
    assert len(records) == first.stored > 1
    target = next(r for r in records if r.vehicle)
    explain(session, target, _haulier_user(session, target.vehicle), "已补单 / receipt follows")
    session.commit()

    again = reconcile_days(session, store, DAY, DAY, Settings(), now=RECONCILE_NOW)
    assert again.kept_reviewed == 1 and again.replaced == len(records) - 1
    identities = [r.identity for r in _flags(session, FlagSource.reconciliation)]
    assert len(identities) == len(set(identities)) == len(records)
    assert session.get(FlagRecord, target.id) is not None
    assert _run_entries(session)[-1].data["source"] == "reconciliation"


def test_a_rolled_back_run_leaves_neither_its_flags_nor_its_audit_entry(session: Session, tmp_path):
    seed_registry(session)
    store = _store(tmp_path, day_track())
    from cdw.flows.day import _analyse

    _analyse(session, store, DAY, DAY, Settings(), NOW, "system")
    assert _run_entries(session) and _flags(session, FlagSource.engine)
    session.rollback()
    assert _run_entries(session) == [] and _flags(session, FlagSource.engine) == []


def test_reanalysis_through_the_api_after_an_explanation(client, auth_headers, session, tmp_path):
    seed_registry(session)
    store = _store(tmp_path, day_track())
    app.dependency_overrides[get_store] = lambda: store
    try:
        officer = auth_headers(Role.enforcement_officer)
        body = {"date_from": DAY.isoformat()}
        assert client.post("/api/v1/analyses", headers=officer, json=body).status_code == 200
        stop = session.exec(select(FlagRecord).where(FlagRecord.code == FlagCode.LONG_STOP)).one()
        vehicle = session.exec(select(Vehicle).where(Vehicle.plate == PLATE)).one()
        haulier = auth_headers(Role.haulier, haulier_id=vehicle.haulier_id)
        said = client.post(
            f"/api/v1/enforcement/flags/{stop.id}/explanations",
            headers=haulier,
            json={"text": "车辆抛锚"},
        )
        assert said.status_code in (200, 201), said.text
        again = client.post("/api/v1/analyses", headers=officer, json=body)
        assert again.status_code == 200, again.text
        assert again.json()["kept_reviewed"] == 1
        recon = client.post("/api/v1/reconciliations", headers=officer, json=body)
        assert recon.status_code == 200, recon.text
    finally:
        app.dependency_overrides.pop(get_store, None)
    session.expire_all()
    codes = [str(r.code) for r in _flags(session, FlagSource.engine)]
    assert codes.count("LONG_STOP") == 1
    assert _run_entries(session)[1].actor == "enforcement_officer"
    assert [e.action for e in history(session, "flag", stop.id)] == ["explanation"]


def test_the_api_stores_a_run_with_the_collector_paused(
    client, auth_headers, session, tmp_path, monkeypatch
):
    """No full collection while an analysis or a reconciliation request writes its flags
    and legs; the collector runs again after each."""
    seed_registry(session)
    store = _store(tmp_path, day_track())
    collecting: list[bool] = []
    original = day_flow.replace_flags

    def replace_flags(*args, **kwargs):
        collecting.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(day_flow, "replace_flags", replace_flags)
    app.dependency_overrides[get_store] = lambda: store
    try:
        officer = auth_headers(Role.enforcement_officer)
        body = {"date_from": DAY.isoformat()}
        assert gc.isenabled()
        for path in ("/api/v1/analyses", "/api/v1/reconciliations"):
            assert client.post(path, headers=officer, json=body).status_code == 200
            assert gc.isenabled()
    finally:
        app.dependency_overrides.pop(get_store, None)
    assert collecting == [False, False]


def test_reanalysis_from_the_cli_after_an_explanation(engine, tmp_path, monkeypatch):
    from cdw.cli import analyse as analyse_cli

    store = _store(tmp_path, day_track())
    with Session(engine) as session:
        seed_registry(session)
    monkeypatch.setattr("cdw.db.get_engine", lambda: engine)
    monkeypatch.setattr(
        analyse_cli,
        "get_settings",
        lambda: Settings(data_dir=store.root.parent, database_url=str(engine.url)),
    )
    cli = typer.Typer()
    cli.command("analyse")(analyse_cli.analyse_command)
    assert CliRunner().invoke(cli, ["--date", DAY.isoformat()]).exit_code == 0
    with Session(engine) as session:
        stop = session.exec(select(FlagRecord).where(FlagRecord.code == FlagCode.LONG_STOP)).one()
        explain(session, stop, _haulier_user(session, PLATE), "车辆抛锚")
        session.commit()
    result = CliRunner().invoke(cli, ["--date", DAY.isoformat()])
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        codes = [str(r.code) for r in _flags(session, FlagSource.engine)]
        assert codes.count("LONG_STOP") == 1 and len(codes) == 3
