"""A small registry and a few flags for the enforcement tests (the registry and the permit
built through the services by the factories)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session

from cdw.auth.models import Role, User
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.permits.models import Permit
from cdw.registry.models import (
    ConstructionSite,
    DisposalFacility,
    Driver,
    Haulier,
    Vehicle,
)
from tests.factories import (
    add_driver,
    add_facility,
    add_haulier,
    add_permit,
    add_site,
    add_vehicle,
)

DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 Beijing time
# Site near (113.58, 23.55), facility near (113.40, 23.62): the route runs between them.
ROUTE = {"type": "LineString", "coordinates": [[113.58, 23.55], [113.49, 23.585], [113.40, 23.62]]}


@dataclass
class World:
    officer: User
    haulier: Haulier
    other_haulier: Haulier
    vehicle: Vehicle
    other_vehicle: Vehicle
    driver: Driver
    site: ConstructionSite
    facility: DisposalFacility
    permit: Permit


def build_world(session: Session) -> World:
    officer = User(username="officer", role=Role.enforcement_officer, hashed_password="!")
    session.add(officer)
    haulier = add_haulier(session, 1)
    other = add_haulier(session, 2)
    vehicle = add_vehicle(session, haulier, 1)
    other_vehicle = add_vehicle(session, other, 2)
    driver = add_driver(session, haulier, 1)
    site = add_site(session)
    facility = add_facility(session)
    permit = add_permit(
        session,
        site,
        facility,
        [vehicle],
        permit_no="CZ-2026-001",
        volume_m3=5000,
        valid_from=date(2026, 11, 1),
        valid_to=date(2026, 12, 31),
        routes=ROUTE,
        corridor_half_width_m=80,
    )
    return World(officer, haulier, other, vehicle, other_vehicle, driver, site, facility, permit)


def add_flag(
    session: Session,
    code: FlagCode,
    *,
    plate: str,
    minutes: int = 0,
    severity: int = 50,
    lon: float = 113.49,
    lat: float = 23.585,
    permit_no: str | None = "CZ-2026-001",
    day: date = DAY,
) -> FlagRecord:
    start = T0 + timedelta(minutes=minutes)
    record = FlagRecord(
        code=code,
        severity=severity,
        vehicle=plate,
        trip_id=None,
        day=day,
        start_ts=start,
        end_ts=start + timedelta(minutes=5),
        lon=lon,
        lat=lat,
        geometry={"type": "Point", "coordinates": [lon, lat]},
        measured={"duration_s": 300.0},
        thresholds={"dumping_stop_min_duration_s": 180.0},
        explanation_zh="测试预警",
        explanation_en="test flag",
        permit_no=permit_no,
    )
    session.add(record)
    session.commit()
    return record
