"""``cdw enforcement …`` commands on a small decided case."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import cdw.db
from cdw.cli import app as cli_app
from cdw.config import Settings
from cdw.enforcement import cases
from cdw.enforcement.case_machine import ActionInput, CaseAction
from cdw.flags.codes import FlagCode
from tests.enforcement.world import DAY, add_flag, build_world


@pytest.fixture
def decided(engine, session, monkeypatch):
    monkeypatch.setattr(cdw.db, "get_engine", lambda: engine)
    world = build_world(session)
    flags = [
        add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=world.vehicle.plate, minutes=m)
        for m in (0, 10, 20)
    ]
    case = cases.open_case(session, world.officer, [f.id for f in flags], "偷倒")
    settings = Settings()
    cases.act(session, case, CaseAction.investigate, world.officer, ActionInput(), settings)
    decision = ActionInput(penalty_amount_yuan=1, legal_basis="x")
    cases.act(session, case, CaseAction.decide, world.officer, decision, settings)
    session.commit()
    return world, case


def test_commands(decided, tmp_path):
    world, case = decided
    runner = CliRunner()
    hot = runner.invoke(cli_app, ["enforcement", "hotspots"])
    assert hot.exit_code == 0, hot.output
    assert "3 次 / events, 1 辆车 / vehicles" in hot.output

    out = tmp_path / "hauliers.xlsx"
    listed = runner.invoke(cli_app, ["enforcement", "list", "hauliers", "--out", str(out)])
    assert listed.exit_code == 0, listed.output
    rows = list(load_workbook(out).active.values)
    assert rows[1][2] == world.haulier.name and rows[1][3] == 3
    bad = runner.invoke(cli_app, ["enforcement", "list", "sites", "--out", str(tmp_path / "x.txt")])
    assert bad.exit_code == 1 and ".csv" in bad.output

    stats = runner.invoke(
        cli_app, ["enforcement", "stats", "--from", DAY.isoformat(), "--to", DAY.isoformat()]
    )
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["flags_by_code"]["SUSPECTED_DUMPING"]["count"] == 3
    wrong = runner.invoke(cli_app, ["enforcement", "stats", "--from", "2026-13-01", "--to", "x"])
    assert wrong.exit_code == 2 and "YYYY-MM-DD" in wrong.output

    page = tmp_path / "case.html"
    report = runner.invoke(cli_app, ["enforcement", "report", str(case.id), "--out", str(page)])
    assert report.exit_code == 0, report.output
    assert case.case_no in page.read_text(encoding="utf-8")
    missing = runner.invoke(cli_app, ["enforcement", "report", "999", "--out", str(page)])
    assert missing.exit_code == 1 and "case not found: 999" in missing.output
