"""A small registry for permit and manifest tests: one site, two facilities, one haulier,
two vehicles, one driver, one approved permit (all valid in 2026), built through the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from cdw.permits.models import Permit
from cdw.registry.models import ConstructionSite, DisposalFacility, Driver, Haulier, Vehicle
from tests.factories import (
    add_driver,
    add_facility,
    add_haulier,
    add_permit,
    add_site,
    add_vehicle,
    square,
)

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
    site = add_site(
        session, address="从化区街口街1号", project_permit_no="P-1", expected_volume_m3=5000
    )
    facility = add_facility(session, capacity_m3=10_000, opening_hours="00:00-24:00")
    recycler = add_facility(
        session,
        name="测试综合利用厂",
        kind="recycling",
        geofence=square(113.45, 23.60, 300),
        capacity_m3=10_000,
        accepted_categories=["construction", "demolition"],
        opening_hours="00:00-24:00",
    )
    haulier = add_haulier(
        session, name="测试运输公司", licence_no="L-1", licence_valid_until=date(2030, 1, 1)
    )
    vehicle, spare = (
        add_vehicle(
            session, haulier, plate=plate, rated_load_t=30, inspection_valid_until=date(2030, 1, 1)
        )
        for plate in ("粤A12345", "粤A54321")
    )
    driver = add_driver(session, haulier, name="张三", licence_no="440184199001010011")
    permit = add_permit(
        session,
        site,
        facility,
        [vehicle],
        permit_no="HZ-2026-001",
        allowed_hours_start="06:00",
        allowed_hours_end="22:00",
        routes=ROUTE,
    )
    return Seed(site, facility, recycler, haulier, vehicle, spare, driver, permit)
