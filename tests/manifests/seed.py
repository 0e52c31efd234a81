"""A small registry for permit and manifest tests: one site, two facilities, one haulier,
two vehicles, one driver, one approved permit (all valid in 2026)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.registry.models import ConstructionSite, DisposalFacility, Driver, Haulier, Vehicle
from tests.registry.factories import square

ROUTE = {"type": "LineString", "coordinates": [[113.58, 23.55], [113.40, 23.62]]}


@dataclass
class Seed:
    site: ConstructionSite
    facility: DisposalFacility
    recycler: DisposalFacility
    haulier: Haulier
    vehicle: Vehicle
    spare: Vehicle
    driver: Driver
    permit: Permit


def seed(session: Session) -> Seed:
    site = ConstructionSite(
        name="从化区测试工地",
        address="从化区街口街1号",
        project_permit_no="P-1",
        builder="建设单位",
        contractor="施工单位",
        geofence=square(),
        expected_categories=["excavated_soil"],
        expected_volume_m3=5000,
    )
    facility = DisposalFacility(
        name="测试消纳场",
        kind="landfill",
        geofence=square(113.40, 23.62, 300),
        capacity_m3=10_000,
        accepted_categories=["excavated_soil", "construction"],
    )
    recycler = DisposalFacility(
        name="测试综合利用厂",
        kind="recycling",
        geofence=square(113.45, 23.60, 300),
        capacity_m3=10_000,
        accepted_categories=["construction", "demolition"],
    )
    haulier = Haulier(
        name="测试运输公司",
        credit_code="91440117MA0000001X",
        licence_no="L-1",
        licence_valid_until=date(2030, 1, 1),
    )
    session.add_all([site, facility, recycler, haulier])
    session.flush()
    vehicle = Vehicle(
        plate="粤A12345",
        haulier_id=haulier.id,
        rated_capacity_m3=18,
        rated_load_t=30,
        sealed_body=True,
        inspection_valid_until=date(2030, 1, 1),
    )
    spare = Vehicle(
        plate="粤A54321",
        haulier_id=haulier.id,
        rated_capacity_m3=18,
        rated_load_t=30,
        sealed_body=True,
        inspection_valid_until=date(2030, 1, 1),
    )
    driver = Driver(name="张三", licence_no="440184199001010011", haulier_id=haulier.id)
    permit = Permit(
        permit_no="HZ-2026-001",
        site_id=site.id,
        facility_id=facility.id,
        categories=["excavated_soil"],
        volume_m3=1000,
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
        allowed_hours_start="06:00",
        allowed_hours_end="22:00",
        routes=ROUTE,
        status=PermitStatus.approved,
    )
    session.add_all([vehicle, spare, driver, permit])
    session.flush()
    session.add(PermitVehicle(permit_id=permit.id, vehicle_id=vehicle.id))
    session.commit()
    return Seed(site, facility, recycler, haulier, vehicle, spare, driver, permit)
