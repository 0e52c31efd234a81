import json
from datetime import UTC

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cdw.flags.codes import FLAG_LABELS, FlagCode, FlagSource
from cdw.flags.models import FlagRecord
from cdw.flags.store import replace_flags
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
