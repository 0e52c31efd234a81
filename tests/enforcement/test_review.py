"""The review queue, evidence packets, reviewer actions and haulier explanations."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from cdw.audit.log import history, verify_chain
from cdw.auth.models import Role, User
from cdw.config import Settings
from cdw.enforcement import review
from cdw.enforcement.models import ReviewStatus
from cdw.enforcement.review import QueueFilter
from cdw.errors import Conflict, NotFound, ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.tracking.store import PointStore
from tests.enforcement.world import DAY, T0, add_flag, build_world


@pytest.fixture
def world(session):
    return build_world(session)


def _ids(rows) -> list[int]:
    return [r.id for r in rows]


def test_queue_filters_and_orders_by_score(session, world):
    plate, other = world.vehicle.plate, world.other_vehicle.plate
    low = add_flag(session, FlagCode.SPEEDING, plate=plate, severity=20)
    high = add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=plate, severity=90, minutes=30)
    mid_other = add_flag(session, FlagCode.LONG_STOP, plate=other, severity=60, permit_no=None)
    old = add_flag(
        session,
        FlagCode.SPEEDING,
        plate=plate,
        severity=90,
        day=DAY - timedelta(days=3),
        minutes=-3 * 24 * 60,
    )

    rows, count = review.queue(session, QueueFilter())
    assert _ids(rows) == [old.id, high.id, mid_other.id, low.id] and count == 4
    assert _ids(review.queue(session, QueueFilter(code=FlagCode.SPEEDING))[0]) == [old.id, low.id]
    assert _ids(review.queue(session, QueueFilter(min_severity=60))[0]) == [
        old.id,
        high.id,
        mid_other.id,
    ]
    by_haulier = review.queue(session, QueueFilter(haulier_id=world.other_haulier.id))[0]
    assert _ids(by_haulier) == [mid_other.id]
    assert _ids(review.queue(session, QueueFilter(vehicle=other))[0]) == [mid_other.id]
    by_site = review.queue(session, QueueFilter(site_id=world.site.id))[0]
    assert _ids(by_site) == [old.id, high.id, low.id]
    assert review.queue(session, QueueFilter(site_id=world.site.id + 1))[1] == 0
    assert _ids(review.queue(session, QueueFilter(facility_id=world.facility.id))[0]) == [
        old.id,
        high.id,
        low.id,
    ]
    assert _ids(review.queue(session, QueueFilter(day_from=DAY, day_to=DAY))[0]) == [
        high.id,
        mid_other.id,
        low.id,
    ]
    page, total = review.queue(session, QueueFilter(), offset=1, limit=2)
    assert _ids(page) == [high.id, mid_other.id] and total == 4

    review.dismiss(session, low, world.officer, "定位漂移")
    session.commit()
    assert low.id not in _ids(review.queue(session, QueueFilter())[0])
    assert _ids(review.queue(session, QueueFilter(status=ReviewStatus.dismissed))[0]) == [low.id]


def test_dismiss_needs_a_reason_and_each_action_is_audited(session, world):
    flag = add_flag(session, FlagCode.ROUTE_DEVIATION, plate=world.vehicle.plate)
    with pytest.raises(ValidationFailed) as exc:
        review.dismiss(session, flag, world.officer, "  ")
    assert exc.value.problems[0].field == "reason"
    assert flag.status == ReviewStatus.open

    review.dismiss(session, flag, world.officer, "道路施工绕行")
    session.commit()
    assert flag.status == ReviewStatus.dismissed
    with pytest.raises(Conflict):
        review.warn(session, flag, world.officer, "")

    warned = add_flag(session, FlagCode.SPEEDING, plate=world.vehicle.plate, minutes=10)
    review.warn(session, warned, world.officer, "")
    session.commit()
    assert warned.status == ReviewStatus.warned
    entries = history(session, "flag", flag.id) + history(session, "flag", warned.id)
    assert [(e.action, e.reason, e.actor) for e in entries] == [
        ("status:dismissed", "道路施工绕行", "officer"),
        ("status:warned", "", "officer"),
    ]
    assert entries[0].data == {"from": "open", "to": "dismissed"}
    assert verify_chain(session) == []


def test_a_haulier_explains_only_its_own_flags(session, world):
    own = add_flag(session, FlagCode.LONG_STOP, plate=world.vehicle.plate)
    foreign = add_flag(session, FlagCode.LONG_STOP, plate=world.other_vehicle.plate)
    user = User(
        username="haulier1", role=Role.haulier, haulier_id=world.haulier.id, hashed_password="!"
    )
    session.add(user)
    session.commit()

    review.explain(session, own, user, "  车辆故障等待救援  ")
    session.commit()
    with pytest.raises(NotFound):
        review.explain(session, foreign, user, "不是我们的车")
    with pytest.raises(ValidationFailed):
        review.explain(session, own, user, "   ")
    assert [e.text for e in review.explanations(session, own.id)] == ["车辆故障等待救援"]
    assert review.explanations(session, foreign.id) == []
    assert history(session, "flag", own.id)[0].actor == "haulier1"


def test_evidence_packet(session, world, tmp_path):
    plate = world.vehicle.plate
    earlier = add_flag(session, FlagCode.SPEEDING, plate=plate, minutes=-120)
    add_flag(session, FlagCode.SPEEDING, plate=world.other_vehicle.plate, minutes=-60)
    # the flag sits inside the site's fence (113.58, 23.55)
    flag = add_flag(session, FlagCode.SUSPECTED_DUMPING, plate=plate, lon=113.58, lat=23.55)
    store = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    offsets_min = [-20, -14, 0, 19, 20, 21]  # the flag lasts 5 min: window is [-15, +20)
    store.append(
        pl.DataFrame(
            {
                "vehicle": [plate] * len(offsets_min) + [world.other_vehicle.plate],
                "ts": [T0 + timedelta(minutes=m) for m in offsets_min] + [T0],
                "lon": [113.58 + 0.001 * i for i in range(len(offsets_min))] + [113.0],
                "lat": [23.55] * (len(offsets_min) + 1),
            }
        )
    )
    packet = review.evidence(session, store, flag, Settings()).model_dump(mode="json")

    [track] = packet["track"]["features"]
    assert track["geometry"]["coordinates"] == [
        [113.581, 23.55],
        [113.582, 23.55],
        [113.583, 23.55],
    ]
    assert track["properties"]["times"][0] == (T0 - timedelta(minutes=14)).isoformat()
    assert track["properties"]["points"] == 3
    route, corridor = packet["corridor"]["features"]
    assert route["properties"]["kind"] == "route" and route["geometry"]["type"] == "LineString"
    assert corridor["geometry"]["type"] == "Polygon"
    assert corridor["properties"]["corridor_half_width_m"] == 80
    fences = packet["geofences"]["features"]
    # the site (distance 0) only: the facility is ~20 km away, beyond 2 km
    assert [(f["properties"]["kind"], f["properties"]["distance_m"]) for f in fences] == [
        ("site", 0.0)
    ]
    assert packet["permit"]["permit_no"] == "CZ-2026-001"
    assert packet["measured"] == {"duration_s": 300.0}
    assert packet["thresholds"] == {"dumping_stop_min_duration_s": 180.0}
    assert [f["id"] for f in packet["earlier_flags"]] == [earlier.id]
    assert packet["flag"]["label_zh"] == "疑似偷倒"


def test_evidence_without_points_or_permit(session, world, tmp_path):
    flag = add_flag(session, FlagCode.LONG_STOP, plate=world.vehicle.plate, permit_no=None)
    packet = review.evidence(session, PointStore(tmp_path / "empty"), flag, Settings()).model_dump(
        mode="json"
    )
    assert packet["track"]["features"] == []
    assert packet["corridor"]["features"] == []
    assert packet["permit"] is None
