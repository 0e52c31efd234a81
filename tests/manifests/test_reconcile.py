"""Reconciliation on a small hand-built day: exactly the expected flags, nothing more."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from shapely.geometry import mapping
from sqlmodel import Session, select

from cdw.config import Settings
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import Manifest, Receipt
from cdw.manifests.reconcile import reconcile_days
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier, Vehicle
from cdw.tracking.flags import FlagRecord
from cdw.tracking.store import PointStore
from tests.tracking.handbuilt import DAY, PLATE, PROJ, TrackBuilder, box, line, utc

NOW = datetime(2024, 5, 8, tzinfo=UTC)
OTHER = "粤A54321"


def geo(geom) -> dict:
    return mapping(PROJ.geom_inverse(geom))


def track() -> TrackBuilder:
    """Site (0,0) → A (5100,0) → site → B (100,5100) → site → A, 12.5 m/s, a fix every 10 s."""
    b = TrackBuilder().stay(0, 120, 0, 0)
    b.drive(120, (0, 0), (5100, 0), 12.5, include_start=False).stay(530, 830, 5100, 0)
    b.drive(840, (5100, 0), (0, 0), 12.5).stay(1250, 1550, 0, 0)
    b.drive(1560, (0, 0), (100, 5100), 12.5).stay(1970, 2270, 100, 5100)
    b.drive(2280, (100, 5100), (0, 0), 12.5).stay(2690, 2990, 0, 0)
    return b.drive(3000, (0, 0), (5100, 0), 12.5).stay(3410, 3710, 5100, 0)


def seed_day(session: Session) -> dict[str, int]:
    site = ConstructionSite(
        name="工地甲",
        project_permit_no="P",
        builder="b",
        contractor="c",
        geofence=geo(box(-100, -100, 100, 100)),
        expected_volume_m3=1000,
    )
    fa = DisposalFacility(
        name="消纳场A",
        kind="landfill",
        geofence=geo(box(5000, -100, 5200, 100)),
        capacity_m3=1e5,
        accepted_categories=["excavated_soil"],
    )
    fb = DisposalFacility(
        name="消纳场B",
        kind="landfill",
        geofence=geo(box(0, 5000, 200, 5200)),
        capacity_m3=1e5,
        accepted_categories=["excavated_soil"],
    )
    haulier = Haulier(
        name="运输公司",
        credit_code="91440117MA0000001X",
        licence_no="L",
        licence_valid_until=date(2030, 1, 1),
    )
    session.add_all([site, fa, fb, haulier])
    session.flush()
    v1 = Vehicle(
        plate=PLATE,
        haulier_id=haulier.id,
        rated_capacity_m3=18,
        rated_load_t=30,
        sealed_body=True,
        inspection_valid_until=date(2030, 1, 1),
    )
    v2 = Vehicle(
        plate=OTHER,
        haulier_id=haulier.id,
        rated_capacity_m3=18,
        rated_load_t=30,
        sealed_body=True,
        inspection_valid_until=date(2024, 1, 1),
    )
    permit = Permit(
        permit_no="HZ-1",
        site_id=site.id,
        facility_id=fa.id,
        categories=["excavated_soil"],
        volume_m3=5000,
        valid_from=date(2024, 1, 1),
        valid_to=date(2024, 12, 31),
        routes=geo(line((0, 0), (5100, 0))),
        status=PermitStatus.approved,
    )
    session.add_all([v1, v2, permit])
    session.flush()
    session.add_all([PermitVehicle(permit_id=permit.id, vehicle_id=v.id) for v in (v1, v2)])

    def manifest(no, vehicle, issued, state, volume):
        m = Manifest(
            manifest_no=no,
            permit_id=permit.id,
            permit_no="HZ-1",
            site_id=site.id,
            site_name=site.name,
            facility_id=fa.id,
            facility_name=fa.name,
            disposal_method="landfill",
            category="excavated_soil",
            declared_volume_m3=volume,
            haulier_id=haulier.id,
            haulier_name=haulier.name,
            vehicle_id=vehicle.id,
            plate=vehicle.plate,
            state=state,
            issued_by="gate",
            issued_at=utc(issued),
            departed_at=utc(issued + 50),
        )
        session.add(m)
        session.flush()
        return m

    m1 = manifest("M1", v1, 60, ManifestState.received, 15)
    m2 = manifest("M2", v1, 1500, ManifestState.departed, 15)
    m3 = manifest("M3", v2, 200, ManifestState.received, 20)
    session.add_all([
        # 13.6 vs 15: 9.3 % apart, inside the 10 % tolerance
        Receipt(manifest_id=m1.id, facility_id=fa.id, outcome="accepted",
                received_volume_m3=13.6, weighbridge_t=20, received_at=utc(600),
                recorded_by="op"),
        Receipt(manifest_id=m3.id, facility_id=fa.id, outcome="accepted",
                received_volume_m3=15, received_at=utc(2500), recorded_by="op"),
    ])  # fmt: skip
    session.commit()
    return {"M1": m1.id, "M2": m2.id, "M3": m3.id}


@pytest.fixture
def store(tmp_path) -> PointStore:
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    points.append(track().frame())
    return points


def stored(session: Session) -> list[tuple[str, str, datetime]]:
    rows = session.exec(select(FlagRecord).order_by(FlagRecord.vehicle, FlagRecord.code)).all()
    assert all(r.source == "reconciliation" for r in rows)
    return [(r.vehicle, str(r.code), r.to_flag().start) for r in rows]


def test_the_hand_built_day(session: Session, store: PointStore):
    ids = seed_day(session)
    report = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert (report.manifests, report.trips) == (3, 3)
    assert stored(session) == [
        (PLATE, "NO_RECEIPT", utc(1500)),
        (PLATE, "UNMANIFESTED_TRIP", utc(3000)),
        (PLATE, "WRONG_DESTINATION", utc(1560)),
        (OTHER, "OVERLOAD", utc(200)),
        (OTHER, "QUANTITY_DISCREPANCY", utc(200)),
        (OTHER, "RECEIPT_WITHOUT_TRIP", utc(200)),
        (OTHER, "UNAUTHORISED_VEHICLE", utc(200)),
    ]
    states = {no: session.get(Manifest, i).state for no, i in ids.items()}
    assert states == {"M1": "closed", "M2": "overdue", "M3": "discrepancy"}
    wrong = session.exec(select(FlagRecord).where(FlagRecord.code == "WRONG_DESTINATION")).one()
    assert wrong.measured["trip_facility_id"] != wrong.measured["manifest_facility_id"]
    assert wrong.geometry["type"] == "LineString" and wrong.explanation_zh

    again = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert (again.stored, again.replaced) == (7, 7)
    assert len(stored(session)) == 7


def test_before_the_allowance_there_is_no_no_receipt(session: Session, store: PointStore):
    seed_day(session)
    report = reconcile_days(session, store, DAY, DAY, Settings(), now=utc(1550 + 4 * 3600))
    assert report.counts["NO_RECEIPT"] == 0
