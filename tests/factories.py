"""The test factories: input models valid by default (any field overridable), and records
built through the services as the API and the importers build them (validated, audited).

Each ``add_*`` commits, so that the record is there for the next session and the next call.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.manifests import services as manifests
from cdw.manifests.models import Manifest
from cdw.manifests.services import ManifestIssue
from cdw.permits import services as permits
from cdw.permits.models import Permit
from cdw.permits.services import PermitApplication
from cdw.registry import services as registry
from cdw.registry.models import (
    ConstructionSite,
    ConstructionSiteCreate,
    Depot,
    DepotCreate,
    DisposalFacility,
    DisposalFacilityCreate,
    Driver,
    DriverCreate,
    Haulier,
    HaulierCreate,
    RestrictedZone,
    RestrictedZoneCreate,
    Vehicle,
    VehicleCreate,
)
from cdw.registry.validators.identifiers import credit_code_check_char
from tests.sample_registry import box

CONGHUA = (113.58, 23.55)


def square(lon: float = CONGHUA[0], lat: float = CONGHUA[1], size_m: float = 100.0) -> dict:
    return box(lon, lat, size_m, size_m)


def flag_record(vehicle: str, at: datetime, **kw: Any) -> FlagRecord:
    """An engine flag of ``vehicle`` at the instant ``at`` (its day in UTC), at Conghua, any
    field overridable; add it to a session to store it."""
    lon, lat = CONGHUA
    fields: dict[str, Any] = {
        "code": FlagCode.LONG_STOP,
        "severity": 50,
        "vehicle": vehicle,
        "day": at.date(),
        "start_ts": at,
        "end_ts": at,
        "lon": lon,
        "lat": lat,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "explanation_zh": "测试",
        "explanation_en": "test",
    }
    return FlagRecord(**(fields | kw))


def credit_code(n: int) -> str:
    """A valid (invented) credit code, different for each ``n``."""
    first17 = f"91440117MA{n:07d}"
    return first17 + credit_code_check_char(first17)


def plate(n: int) -> str:
    return f"粤A{n:05d}"


def site_in(**kw: Any) -> ConstructionSiteCreate:
    data = dict(
        name="从化区测试工地",
        project_permit_no="440117202501010001",
        builder="建设单位",
        contractor="施工单位",
        geofence=square(),
        expected_categories=["excavated_soil"],
        expected_volume_m3=1000,
    )
    return ConstructionSiteCreate.model_validate({**data, **kw})


def facility_in(**kw: Any) -> DisposalFacilityCreate:
    data = dict(
        name="测试消纳场",
        kind="landfill",
        geofence=square(113.40, 23.62, 300),
        capacity_m3=100_000,
        accepted_categories=["excavated_soil", "construction"],
        opening_hours="07:00-22:00",
    )
    return DisposalFacilityCreate.model_validate({**data, **kw})


def haulier_in(n: int = 1, **kw: Any) -> HaulierCreate:
    data = dict(
        name=f"测试运输公司{n}",
        credit_code=credit_code(n),
        licence_no=f"粤交运管许可穗字{n:06d}号",
        licence_valid_until=date(2030, 12, 31),
    )
    return HaulierCreate.model_validate({**data, **kw})


def vehicle_in(haulier_id: int, n: int = 1, **kw: Any) -> VehicleCreate:
    data = dict(
        plate=plate(n),
        haulier_id=haulier_id,
        rated_capacity_m3=18,
        rated_load_t=31,
        sealed_body=True,
        inspection_valid_until=date(2030, 6, 30),
    )
    return VehicleCreate.model_validate({**data, **kw})


def driver_in(haulier_id: int, n: int = 1, **kw: Any) -> DriverCreate:
    data = dict(name=f"司机{n}", licence_no=f"4401841985{n:08d}", haulier_id=haulier_id)
    return DriverCreate.model_validate({**data, **kw})


def depot_in(haulier_id: int, **kw: Any) -> DepotCreate:
    data = dict(haulier_id=haulier_id, name="测试停车场", geofence=square(113.60, 23.56, 80))
    return DepotCreate.model_validate({**data, **kw})


def zone_in(**kw: Any) -> RestrictedZoneCreate:
    data = dict(name="测试水源保护区", kind="water_source", geofence=square(113.59, 23.57, 500))
    return RestrictedZoneCreate.model_validate({**data, **kw})


# --- records, through the services -----------------------------------------------------------


def _stored(session: Session, model: type, data: Any) -> Any:
    record = registry.create(session, model, data)
    session.commit()
    return record


def add_site(session: Session, **kw: Any) -> ConstructionSite:
    return _stored(session, ConstructionSite, site_in(**kw))


def add_facility(session: Session, **kw: Any) -> DisposalFacility:
    return _stored(session, DisposalFacility, facility_in(**kw))


def add_haulier(session: Session, n: int = 1, **kw: Any) -> Haulier:
    return _stored(session, Haulier, haulier_in(n, **kw))


def add_vehicle(session: Session, haulier: Haulier, n: int = 1, **kw: Any) -> Vehicle:
    return _stored(session, Vehicle, vehicle_in(haulier.id, n, **kw))


def add_driver(session: Session, haulier: Haulier, n: int = 1, **kw: Any) -> Driver:
    return _stored(session, Driver, driver_in(haulier.id, n, **kw))


def add_depot(session: Session, haulier: Haulier, **kw: Any) -> Depot:
    return _stored(session, Depot, depot_in(haulier.id, **kw))


def add_zone(session: Session, **kw: Any) -> RestrictedZone:
    return _stored(session, RestrictedZone, zone_in(**kw))


def add_permit(
    session: Session,
    site: ConstructionSite,
    facility: DisposalFacility,
    vehicles: list[Vehicle],
    **terms: Any,
) -> Permit:
    """An application for ``vehicles`` from ``site`` to ``facility``, approved on its first
    day (the approval checks run: capacity, categories, vehicles)."""
    data = dict(
        site_id=site.id,
        facility_id=facility.id,
        categories=["excavated_soil"],
        volume_m3=1000,
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
        routes={"type": "LineString", "coordinates": [[113.58, 23.55], [113.40, 23.62]]},
        vehicles=[v.plate for v in vehicles],
    )
    application = PermitApplication.model_validate({**data, **terms})
    permit = permits.apply(session, application, "site-dispatcher")
    permits.approve(session, permit.id, "permit-officer", application.valid_from)
    session.commit()
    return permit


def issue_manifest(
    session: Session, permit: Permit, vehicle: Vehicle, now: datetime, **kw: Any
) -> Manifest:
    """A manifest issued at the site gate at ``now`` (the gate check runs)."""
    data = dict(
        permit_id=permit.id,
        plate=vehicle.plate,
        category=permit.categories[0],
        declared_volume_m3=vehicle.rated_capacity_m3 - 1,
    )
    manifest = manifests.issue(
        session, ManifestIssue.model_validate({**data, **kw}), "gate", now=now
    )
    session.commit()
    return manifest
