"""The bureau's figures on hand-built numbers: facility capacity, manifests per day and the
recycling share (综合利用率), each day a local (Asia/Shanghai) day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cdw.manifests import services
from cdw.manifests.figures import facility_capacity, manifests_per_day, recycling_share
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import Manifest
from cdw.manifests.services import ReceiptIn
from tests.factories import add_permit, issue_manifest
from tests.manifests.seed import ROUTE, Seed, seed

TZ = ZoneInfo("Asia/Shanghai")
JUNE_1 = date(2026, 6, 1)
NOON = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 on 1 June in Guangzhou
# 07:30 on 2 June in Guangzhou, still 1 June in UTC: counted on 2 June.
EARLY_JUNE_2 = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)


def received(session: Session, manifest: Manifest, at: datetime, **receipt) -> None:
    services.change_state(session, manifest, ManifestState.departed, "gate", at=at)
    services.confirm_receipt(session, manifest.id, ReceiptIn(**receipt), "op", now=at)
    session.commit()


@dataclass
class Loads:
    seed: Seed
    first: Manifest  # to the landfill, received and later closed
    on_its_way: Manifest  # to the landfill, never received


def a_day_of_loads(session: Session) -> Loads:
    """On 1 June: two loads to the landfill (14.5 m³ measured; 10 m³ weighed, counted as
    declared), one to the recycling plant (12 m³), one still on its way; on 2 June (local)
    one more to the recycling plant (6 m³)."""
    s = seed(session)
    recycling = add_permit(
        session, s.site, s.recycler, [s.spare], permit_no="HZ-2026-002",
        categories=["construction"], volume_m3=500, routes=ROUTE,
    )  # fmt: skip
    hour = timedelta(hours=1)
    first = issue_manifest(session, s.permit, s.vehicle, NOON, declared_volume_m3=15)
    third = issue_manifest(session, recycling, s.spare, NOON, declared_volume_m3=12)
    received(session, first, NOON + hour, received_volume_m3=14.5)
    received(session, third, NOON + hour, received_volume_m3=12)
    second = issue_manifest(session, s.permit, s.vehicle, NOON + hour, declared_volume_m3=10)
    received(session, second, NOON + 2 * hour, weighbridge_t=17.2)
    on_its_way = issue_manifest(
        session, s.permit, s.vehicle, NOON + 2 * hour, declared_volume_m3=16
    )
    fourth = issue_manifest(session, recycling, s.spare, EARLY_JUNE_2, declared_volume_m3=7)
    received(session, fourth, EARLY_JUNE_2 + hour, received_volume_m3=6)
    return Loads(s, first, on_its_way)


def test_capacity_is_what_was_received_and_what_approved_permits_still_hold(session: Session):
    s = a_day_of_loads(session).seed
    landfill, recycler = facility_capacity(session, JUNE_1)
    # Landfill: 14.5 + 10 received; HZ-2026-001 holds 1000 - (15 + 10 + 16) declared.
    assert landfill == {
        "facility_id": s.facility.id,
        "name": "测试消纳场",
        "kind": "landfill",
        "capacity_m3": 10_000,
        "used_m3": 24.5,
        "held_by_permits_m3": 959.0,
        "remaining_m3": 9975.5,
        "unallocated_m3": 9016.5,
    }
    # Recycling plant: 12 + 6 received; HZ-2026-002 holds 500 - (12 + 7) declared.
    assert (recycler["kind"], recycler["used_m3"], recycler["held_by_permits_m3"]) == (
        "recycling", 18.0, 481.0,
    )  # fmt: skip
    assert (recycler["remaining_m3"], recycler["unallocated_m3"]) == (9982.0, 9501.0)


def test_permits_past_their_last_day_hold_nothing(session: Session):
    a_day_of_loads(session)
    landfill, recycler = facility_capacity(session, date(2027, 1, 1))
    assert (landfill["held_by_permits_m3"], landfill["unallocated_m3"]) == (0.0, 9975.5)
    assert (recycler["held_by_permits_m3"], recycler["unallocated_m3"]) == (0.0, 9982.0)


def test_manifests_per_local_day(session: Session):
    loads = a_day_of_loads(session)
    six_pm = NOON + timedelta(hours=6)  # 18:00 on 1 June
    services.change_state(session, loads.on_its_way, ManifestState.overdue, "system", at=six_pm)
    services.change_state(session, loads.first, ManifestState.closed, "system", at=EARLY_JUNE_2)
    session.commit()
    assert manifests_per_day(session, date(2026, 5, 31), date(2026, 6, 2), TZ) == [
        {"day": "2026-05-31", "issued": 0, "closed": 0, "overdue": 0},
        {"day": "2026-06-01", "issued": 4, "closed": 0, "overdue": 1},
        {"day": "2026-06-02", "issued": 1, "closed": 1, "overdue": 0},
    ]


def test_recycling_share_of_the_volume_received(session: Session):
    a_day_of_loads(session)
    # 1 June: 12 of 14.5 + 10 + 12 = 36.5 m³ went to recycling; the load on its way counts
    # nothing.
    assert recycling_share(session, JUNE_1, JUNE_1, TZ) == {
        "day_from": "2026-06-01",
        "day_to": "2026-06-01",
        "received_m3": 36.5,
        "recycled_m3": 12.0,
        "share": 0.3288,
    }
    both = recycling_share(session, JUNE_1, date(2026, 6, 2), TZ)
    assert (both["received_m3"], both["recycled_m3"], both["share"]) == (42.5, 18.0, 0.4235)
    june_2 = recycling_share(session, date(2026, 6, 2), date(2026, 6, 2), TZ)
    assert (june_2["received_m3"], june_2["share"]) == (6.0, 1.0)


def test_no_receipts_no_share(session: Session):
    a_day_of_loads(session)
    assert recycling_share(session, date(2026, 5, 1), date(2026, 5, 31), TZ) == {
        "day_from": "2026-05-01",
        "day_to": "2026-05-31",
        "received_m3": 0.0,
        "recycled_m3": 0.0,
        "share": None,
    }
