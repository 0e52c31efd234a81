"""``make demo`` end to end on the bundled sample day (Panyu, real roads): every labelled
violation found, no other flag (a flag on a near miss is a false flag). The day is built
once (``demo_day`` in tests/conftest.py); tests/web serves the same one."""

from __future__ import annotations

import json
from datetime import datetime

from cdw.demo import DEFAULT_BUNDLE
from cdw.flags.codes import FlagCode


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def test_demo_finds_every_labelled_violation_and_nothing_else(demo_day):
    assert demo_day.pipeline_runs == 1  # the day analysed and reconciled on one engine run
    flags = json.loads(demo_day.flags_json)
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
    text = demo_day.console_text
    assert "预警与标注对照" in text and "flags written to" in text
