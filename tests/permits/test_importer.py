"""Permit files load whole or not at all, with every problem named by entry and field."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from cdw.errors import ValidationFailed
from cdw.permits.importer import import_permits
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.registry.categories import FacilityKind, WasteCategory
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier, Vehicle

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[113.58, 23.55], [113.581, 23.55], [113.581, 23.551], [113.58, 23.551], [113.58, 23.55]]
    ],
}


@pytest.fixture
def registry(session):
    haulier = Haulier(
        name="甲运输",
        credit_code="91440101MA5CYC4X4K",
        licence_no="A",
        licence_valid_until=date(2030, 1, 1),
    )
    session.add_all(
        [
            ConstructionSite(
                name="一号工地",
                project_permit_no="P1",
                builder="甲",
                contractor="乙",
                geofence=SQUARE,
                expected_volume_m3=1,
            ),
            DisposalFacility(
                name="一号消纳场",
                kind=FacilityKind.landfill,
                geofence=SQUARE,
                capacity_m3=10,
                accepted_categories=[WasteCategory.excavated_soil],
            ),
            haulier,
        ]
    )
    session.flush()
    session.add(
        Vehicle(
            plate="粤A12345",
            haulier_id=haulier.id,
            rated_capacity_m3=18,
            rated_load_t=30,
            inspection_valid_until=date(2030, 1, 1),
        )
    )
    session.commit()


def _permit(**changes):
    base = {
        "permit_no": "CH-001",
        "site": "一号工地",
        "facility": "一号消纳场",
        "categories": ["excavated_soil"],
        "volume_m3": 1000,
        "valid_from": "2026-11-01",
        "valid_to": "2026-12-31",
        "allowed_hours_start": "08:00",
        "allowed_hours_end": "20:00",
        "routes": {"type": "LineString", "coordinates": [[113.58, 23.55], [113.59, 23.56]]},
        "corridor_half_width_m": 60,
        "vehicles": ["粤A12345"],
    }
    return base | changes


def test_good_file_loads_approved_permits_with_vehicles(session, registry, tmp_path):
    path = tmp_path / "permits.json"
    path.write_text(json.dumps([_permit()], ensure_ascii=False), encoding="utf-8")
    assert import_permits(session, path) == 1
    session.commit()
    permit = session.exec(select(Permit)).one()
    assert permit.status == PermitStatus.approved
    assert permit.corridor_half_width_m == 60
    assert len(session.exec(select(PermitVehicle)).all()) == 1


def test_one_bad_entry_rejects_the_file_and_names_every_problem(session, registry, tmp_path):
    path = tmp_path / "permits.json"
    entries = [
        _permit(),
        _permit(permit_no="CH-002", site="不存在的工地", vehicles=["粤I12345"]),
        _permit(
            permit_no="CH-003",
            valid_to="2026-10-01",
            routes={"type": "Point", "coordinates": [113.58, 23.55]},
        ),
        _permit(permit_no="CH-001"),
    ]
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        import_permits(session, path)
    where = {(p.line, p.field) for p in caught.value.problems}
    assert (2, "vehicles.0") in where or (2, "vehicles") in where
    assert (3, "routes") in where
    assert (4, "permit_no") in where
    session.rollback()
    assert session.exec(select(Permit)).all() == []
