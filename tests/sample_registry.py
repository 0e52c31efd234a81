"""A small sample registry around Conghua District, Guangzhou (从化区), for the registry tests.

Names, credit codes (check characters computed per GB 32100-2015), plates and terminal numbers
are invented for illustration. One vehicle (粤AL9H26) has an expired
inspection and one haulier is suspended, so that checks have something to find. Seeding is
idempotent: records already present (same code, credit code, plate or licence number) are
reused, not duplicated.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from cdw.registry import services
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

_M_PER_DEG_LAT = 111_320.0


def box(lon: float, lat: float, width_m: float, height_m: float) -> dict[str, Any]:
    """A GeoJSON rectangle of ``width_m`` × ``height_m`` centred on (lon, lat)."""
    dlat = height_m / 2 / _M_PER_DEG_LAT
    dlon = width_m / 2 / (_M_PER_DEG_LAT * math.cos(math.radians(lat)))
    w, e = round(lon - dlon, 6), round(lon + dlon, 6)
    s, n = round(lat - dlat, 6), round(lat + dlat, 6)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


SITES = [
    dict(
        code="CH-S01",
        name="从化区街口街旧城改造项目（一期）",
        address="广州市从化区街口街河滨北路",
        project_permit_no="440117202503150101",
        builder="广州市从化区城市更新建设有限公司",
        contractor="广东粤从建设工程有限公司",
        geofence=box(113.5860, 23.5440, 260, 180),
        expected_categories=["demolition", "construction"],
        expected_volume_m3=42_000,
    ),
    dict(
        code="CH-S02",
        name="从化区太平镇轨道交通配套工程",
        address="广州市从化区太平镇广从南路",
        project_permit_no="440117202502280207",
        builder="广州地铁集团有限公司",
        contractor="中铁广州工程局集团有限公司",
        geofence=box(113.4820, 23.4520, 320, 220),
        expected_categories=["excavated_soil", "slurry"],
        expected_volume_m3=180_000,
    ),
    dict(
        code="CH-S03",
        name="从化区江埔街安置房建设项目",
        address="广州市从化区江埔街江埔路",
        project_permit_no="440117202504020315",
        builder="广州市从化区安居建设有限公司",
        contractor="广州市第三建筑工程有限公司",
        geofence=box(113.5700, 23.5250, 240, 200),
        expected_categories=["excavated_soil", "construction"],
        expected_volume_m3=65_000,
    ),
]

FACILITIES = [
    dict(
        code="CH-F01",
        name="从化区鳌头镇建筑废弃物消纳场",
        kind="landfill",
        address="广州市从化区鳌头镇龙潭村",
        geofence=box(113.3880, 23.6250, 600, 450),
        capacity_m3=1_200_000,
        used_m3=486_000,
        accepted_categories=["excavated_soil", "construction", "demolition"],
        opening_hours="07:00-22:00",
    ),
    dict(
        code="CH-F02",
        name="从化区建筑废弃物综合利用厂",
        kind="recycling",
        address="广州市从化区城郊街明珠工业园",
        geofence=box(113.6120, 23.5010, 300, 220),
        capacity_m3=300_000,
        used_m3=92_500,
        accepted_categories=["demolition", "construction", "renovation"],
        opening_hours="06:00-23:00",
    ),
    dict(
        code="CH-F03",
        name="太平镇临时消纳点",
        kind="temporary",
        address="广州市从化区太平镇神岗村",
        geofence=box(113.5010, 23.4620, 200, 160),
        capacity_m3=60_000,
        used_m3=41_000,
        accepted_categories=["excavated_soil"],
        opening_hours="20:00-06:00",
    ),
    dict(
        code="CH-F04",
        name="明珠工业园三期回填工地",
        kind="backfill",
        address="广州市从化区城郊街明珠工业园三期",
        geofence=box(113.5250, 23.4900, 400, 300),
        capacity_m3=150_000,
        used_m3=12_000,
        accepted_categories=["excavated_soil"],
        opening_hours="00:00-24:00",
    ),
]

HAULIERS = [
    dict(
        name="广州市从化区穗通土石方运输有限公司",
        credit_code="91440117MA59C3TK22",
        licence_no="粤交运管许可穗字440117001236号",
        licence_valid_until=date(2030, 6, 30),
        credit_score=92,
    ),
    dict(
        name="广州市宏达建筑废弃物运输有限公司",
        credit_code="91440111MA5AR8QH6M",
        licence_no="粤交运管许可穗字440111004518号",
        licence_valid_until=date(2029, 3, 31),
        credit_score=85,
    ),
    dict(
        name="广州市番禺区顺捷泥头车运输有限公司",
        credit_code="91440113MA9W4N7J1D",
        licence_no="粤交运管许可穗字440113002871号",
        licence_valid_until=date(2029, 12, 31),
        status="suspended",
        credit_score=58,
    ),
]

# Keyed by the credit code of the haulier.
DEPOTS = [
    (
        "91440117MA59C3TK22",
        "CH-D01",
        "穗通街口停车场",
        "广州市从化区街口街新村路",
        box(113.5950, 23.5600, 150, 120),
    ),
    (
        "91440111MA5AR8QH6M",
        "CH-D02",
        "宏达太平停车场",
        "广州市从化区太平镇太平路",
        box(113.4700, 23.4400, 140, 110),
    ),
]

VEHICLES = [
    ("91440117MA59C3TK22", "粤A5B721", 18.0, 31.0, True, "013800138001", date(2029, 9, 30)),
    ("91440117MA59C3TK22", "粤AK8823", 16.5, 29.0, True, "013800138002", date(2029, 8, 31)),
    ("91440117MA59C3TK22", "粤A26918D", 17.0, 30.0, True, "013800138003", date(2030, 1, 31)),
    ("91440111MA5AR8QH6M", "粤A07735F", 18.0, 31.0, True, "013800138004", date(2029, 11, 30)),
    ("91440111MA5AR8QH6M", "粤AL9H26", 20.0, 33.0, False, "013800138005", date(2024, 10, 31)),
    ("91440111MA5AR8QH6M", "粤AD36891", 1.5, 1.0, False, None, date(2030, 5, 31)),
    ("91440113MA9W4N7J1D", "粤A3X517", 16.0, 28.0, True, "013800138006", date(2029, 7, 31)),
]

DRIVERS = [
    ("91440117MA59C3TK22", "陈志强", "440184198503120318", "13802231145"),
    ("91440117MA59C3TK22", "李建华", "440111197911084512", "13926018832"),
    ("91440111MA5AR8QH6M", "黄伟明", "440117199002273016", "13560072291"),
    ("91440113MA9W4N7J1D", "梁国栋", "440126198207155419", "13711568204"),
]

ZONES = [
    dict(
        code="CH-Z01",
        name="流溪河从化城区段饮用水水源保护区",
        kind="water_source",
        geofence={
            "type": "Polygon",
            "coordinates": [
                [
                    [113.5650, 23.5560],
                    [113.5790, 23.5530],
                    [113.5950, 23.5580],
                    [113.5960, 23.5660],
                    [113.5800, 23.5640],
                    [113.5650, 23.5650],
                    [113.5650, 23.5560],
                ]
            ],
        },
    ),
]


def _existing(session: Session, model: type[SQLModel], field: str, value: Any) -> Any:
    return session.exec(select(model).where(col(getattr(model, field)) == value)).first()


def _ensure(session: Session, model: type[SQLModel], key: str, data: SQLModel) -> Any:
    found = _existing(session, model, key, getattr(data, key))
    return found if found is not None else services.create(session, model, data)


def seed_sample_registry(session: Session) -> dict[str, list[Any]]:
    """Create (or find) the sample records; flushed, the caller commits.

    Returns ``{"sites": [...], "facilities": [...], "hauliers": [...], "depots": [...],
    "vehicles": [...], "drivers": [...], "zones": [...]}`` of table records.
    """
    out: dict[str, list[Any]] = {}
    out["sites"] = [
        _ensure(session, ConstructionSite, "code", ConstructionSiteCreate.model_validate(d))
        for d in SITES
    ]
    out["facilities"] = [
        _ensure(session, DisposalFacility, "code", DisposalFacilityCreate.model_validate(d))
        for d in FACILITIES
    ]
    out["hauliers"] = [
        _ensure(session, Haulier, "credit_code", HaulierCreate.model_validate(d)) for d in HAULIERS
    ]
    haulier_id = {h.credit_code: h.id for h in out["hauliers"]}
    out["depots"] = [
        _ensure(
            session,
            Depot,
            "code",
            DepotCreate(
                haulier_id=haulier_id[credit],
                code=code,
                name=name,
                address=address,
                geofence=fence,
            ),
        )
        for credit, code, name, address, fence in DEPOTS
    ]
    out["vehicles"] = [
        _ensure(
            session,
            Vehicle,
            "plate",
            VehicleCreate(
                plate=plate,
                haulier_id=haulier_id[code],
                rated_capacity_m3=capacity,
                rated_load_t=load,
                sealed_body=sealed,
                terminal_id=terminal,
                inspection_valid_until=inspection,
            ),
        )
        for code, plate, capacity, load, sealed, terminal, inspection in VEHICLES
    ]
    out["drivers"] = [
        _ensure(
            session,
            Driver,
            "licence_no",
            DriverCreate(name=name, licence_no=licence, haulier_id=haulier_id[code], phone=phone),
        )
        for code, name, licence, phone in DRIVERS
    ]
    out["zones"] = [
        _ensure(session, RestrictedZone, "code", RestrictedZoneCreate.model_validate(d))
        for d in ZONES
    ]
    return out
