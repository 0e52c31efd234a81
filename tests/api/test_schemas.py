"""Answer models keep the JSON the hand-written serialisers gave."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cdw.api.schemas import HotspotPublic, RejectOut
from cdw.enforcement.hotspots import Hotspot
from cdw.enforcement.models import FlagPublic
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.tracking.io import Reject

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def test_a_hotspot_answer():
    spot = Hotspot(1, 3, ["粤A1", "粤A2"], T0, T0, 113.1234567, 23.7654321, {"LONG_STOP": 3}, [4])
    assert HotspotPublic.model_validate(spot).model_dump(mode="json") == {
        "rank": 1, "count": 3, "vehicles": ["粤A1", "粤A2"], "vehicle_count": 2,
        "first_seen": "2026-11-20T03:00:00+00:00", "last_seen": "2026-11-20T03:00:00+00:00",
        "lon": 113.123457, "lat": 23.765432, "codes": {"LONG_STOP": 3}, "flag_ids": [4],
    }  # fmt: skip


def test_a_stored_flag_shows_utc_times_and_labels():
    naive = datetime(2026, 11, 20, 3, 0)  # as SQLite hands it back
    record = FlagRecord(
        id=7, code=FlagCode.LONG_STOP, severity=40, vehicle="粤A1", trip_id=None,
        day=date(2026, 11, 20), start_ts=naive, end_ts=naive, lon=113.0, lat=23.0,
        explanation_zh="停留", explanation_en="stopped", status="warned",
    )  # fmt: skip
    shown = FlagPublic.model_validate(record).model_dump(mode="json")
    assert (shown["start"], shown["end"]) == (T0.isoformat(), T0.isoformat())
    assert (shown["label_zh"], shown["label_en"]) == ("长时间停留", "Long stop")
    assert (shown["status"], shown["status_zh"], shown["source"]) == ("warned", "已警告", "engine")


def test_a_reject_keeps_the_rejects_file_columns():
    reject = Reject("lon", "经度超出范围", "longitude out of range", line=5, raw="a,b")
    assert RejectOut.model_validate(reject).model_dump() == {
        "line": 5, "field": "lon", "reason_zh": "经度超出范围",
        "reason_en": "longitude out of range", "raw": "a,b",
    }  # fmt: skip
