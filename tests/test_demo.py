"""``make demo`` end to end on the bundled sample day (Panyu, real roads): every labelled
violation found, no other flag (a flag on a near miss is a false flag)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from rich.console import Console

from cdw.demo import DEFAULT_BUNDLE, run_demo
from cdw.flags.codes import FlagCode
from cdw.flows import partitioned


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@pytest.mark.skipif(not DEFAULT_BUNDLE.is_dir(), reason=f"sample bundle missing: {DEFAULT_BUNDLE}")
def test_demo_finds_every_labelled_violation_and_nothing_else(tmp_path, monkeypatch):
    runs = []
    run = partitioned.run_pipeline
    monkeypatch.setattr(
        partitioned, "run_pipeline", lambda *a, **kw: runs.append(1) or run(*a, **kw)
    )
    console = Console(record=True, width=160)
    out = run_demo(DEFAULT_BUNDLE, tmp_path / "demo", console)
    assert len(runs) == 1  # the day analysed and reconciled on one engine run
    flags = json.loads(out.read_text(encoding="utf-8"))
    truth = json.loads((DEFAULT_BUNDLE / "ground_truth.json").read_text(encoding="utf-8"))
    labels = [lb for lb in truth if not lb.get("near_miss")]
    assert {lb["code"] for lb in labels} == {str(c) for c in FlagCode}
    assert any(lb.get("near_miss") for lb in truth)

    def same_event(f: dict, lb: dict) -> bool:
        return (
            f["code"] == lb["code"]
            and f["vehicle"] == lb["plate"]
            and _t(f["start"]) <= _t(lb["end"])
            and _t(lb["start"]) <= _t(f["end"])
        )

    missed = [lb for lb in labels if not any(same_event(f, lb) for f in flags)]
    unlabelled = [f for f in flags if not any(same_event(f, lb) for lb in labels)]
    assert not missed
    assert not unlabelled, [(f["code"], f["vehicle"], f["start"]) for f in unlabelled]
    # One owner per code: each wrong destination flagged once (the engine's check).
    wrong = [lb for lb in labels if lb["code"] == "WRONG_DESTINATION"]
    assert wrong and all(sum(same_event(f, lb) for f in flags) == 1 for lb in wrong)
    text = console.export_text()
    assert "预警与标注对照" in text and "flags written to" in text
