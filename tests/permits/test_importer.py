"""Permit files load whole or not at all, with every problem named by line and field; sites
and facilities are referred to by code, or by a name only one record bears. Each entry is
applied for and approved through the permit service: its checks, its audit entries."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from cdw.audit.log import history, verify_chain
from cdw.audit.models import AuditEntry
from cdw.bundle import load_registry
from cdw.errors import ValidationFailed
from cdw.permits.importer import import_permits
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.registry.categories import FacilityKind, HaulierStatus, WasteCategory
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier, Vehicle
from cdw.scenario.generate import generate_scenario

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
                capacity_m3=10_000,
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
            sealed_body=True,
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


def _write(path, entries) -> None:
    """One object per line, as bundles hold them (line 1 is the opening bracket)."""
    body = ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries)
    path.write_text(f"[\n{body}\n]\n", encoding="utf-8")


def _second_site_named(session, name: str, code: str | None = None) -> ConstructionSite:
    site = ConstructionSite(
        code=code,
        name=name,
        project_permit_no="P2",
        builder="甲",
        contractor="乙",
        geofence=SQUARE,
        expected_volume_m3=1,
    )
    session.add(site)
    session.commit()
    return site


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
        _permit(permit_no="CH-002", vehicles=["粤I12345"]),
        _permit(permit_no="CH-004", site="不存在的工地"),
        _permit(
            permit_no="CH-003",
            valid_to="2026-10-01",
            routes={"type": "Point", "coordinates": [113.58, 23.55]},
        ),
        _permit(permit_no="CH-001"),
    ]
    _write(path, entries)
    with pytest.raises(ValidationFailed) as caught:
        import_permits(session, path)
    where = {(p.line, p.field) for p in caught.value.problems}
    assert where == {(3, "vehicles"), (4, "site"), (5, "routes"), (6, "permit_no")}
    unknown = next(p for p in caught.value.problems if p.field == "site")
    assert unknown.zh == "未登记的排放工地：「不存在的工地」（既不是编码，也不是名称）"
    assert unknown.en == "unknown construction site '不存在的工地' (neither a code nor a name)"
    assert {p.source for p in caught.value.problems} == {str(path)}
    session.rollback()
    assert session.exec(select(Permit)).all() == []


def test_two_sites_with_one_name_are_told_apart_by_code(session, registry, tmp_path):
    first = session.exec(select(ConstructionSite)).one()
    second = _second_site_named(session, first.name, code="YH-2")
    assert first.code == f"S{first.id:06d}"  # generated: the registry gave none
    path = tmp_path / "permits.json"
    _write(
        path,
        [
            _permit(permit_no="CH-001", site=first.code),
            _permit(permit_no="CH-002", site="YH-2", facility="一号消纳场"),
        ],
    )
    assert import_permits(session, path) == 2
    site_of = dict(session.exec(select(Permit.permit_no, Permit.site_id)).all())
    assert site_of == {"CH-001": first.id, "CH-002": second.id}


def test_an_ambiguous_name_is_an_error_listing_the_candidate_codes(session, registry, tmp_path):
    first = session.exec(select(ConstructionSite)).one()
    _second_site_named(session, "一号工地", code="YH-2")
    path = tmp_path / "permits.json"
    _write(path, [_permit(site="S999999"), _permit(permit_no="CH-002")])
    with pytest.raises(ValidationFailed) as caught:
        import_permits(session, path)
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "site"), (3, "site")]
    unknown, ambiguous = caught.value.problems
    assert "S999999" in unknown.en and "unknown construction site" in unknown.en
    assert ambiguous.zh == (
        f"排放工地名称「一号工地」不唯一：2 个记录同名（编码 {first.code}, YH-2），请改用编码"
    )
    assert ambiguous.en == (
        f"construction site name '一号工地' is ambiguous: 2 records share it "
        f"(codes {first.code}, YH-2); refer to one by its code"
    )
    session.rollback()
    assert session.exec(select(Permit)).all() == []


def test_imported_permits_go_through_the_service_and_are_audited(session, registry, tmp_path):
    path = tmp_path / "permits.json"
    _write(path, [_permit(), _permit(permit_no="CH-002")])
    assert import_permits(session, path, actor="officer1") == 2
    session.commit()
    for permit in session.exec(select(Permit)):
        entries = history(session, "permit", permit.id)
        assert [(e.action, e.actor) for e in entries] == [
            ("submit", "officer1"),
            ("approve", "officer1"),
        ]
        assert permit.decided_by == "officer1"
    assert verify_chain(session) == []


def test_a_permit_the_service_refuses_is_named_by_line_and_nothing_is_kept(
    session, registry, tmp_path
):
    haulier = session.exec(select(Haulier)).one()
    haulier.status = HaulierStatus.suspended
    session.add(haulier)
    session.commit()
    path = tmp_path / "permits.json"
    _write(path, [_permit(permit_no="CH-001", vehicles=[]), _permit(permit_no="CH-002")])
    with pytest.raises(ValidationFailed) as caught:
        import_permits(session, path)
    assert [(p.line, p.field) for p in caught.value.problems] == [
        (2, "vehicles"),
        (3, "vehicles"),
    ]
    refusal = caught.value.problems[1]
    assert refusal.zh == "车辆 粤A12345 所属运输企业「甲运输」状态为暂停"
    assert refusal.en == "the haulier 甲运输 of 粤A12345 is suspended"
    assert "no permit was imported" in caught.value.en
    session.rollback()
    assert session.exec(select(Permit)).all() == []
    assert session.exec(select(AuditEntry)).all() == []


def test_a_refusal_after_good_entries_keeps_none_of_them(session, registry, tmp_path):
    path = tmp_path / "permits.json"
    _write(path, [_permit(), _permit(permit_no="CH-002", volume_m3=20_000)])
    with pytest.raises(ValidationFailed) as caught:
        import_permits(session, path)
    assert [(p.line, p.field) for p in caught.value.problems] == [(3, "volume_m3")]
    session.rollback()
    assert session.exec(select(Permit)).all() == []
    assert session.exec(select(AuditEntry)).all() == []


def test_a_generated_bundle_passes_approval(session, tmp_path):
    """The scenario generator's permits fit their facilities and name vehicles valid on the
    permit's first day, even those whose inspection has lapsed by the scenario's day."""
    bundle = tmp_path / "bundle"
    generate_scenario(bundle, trucks=10, seed=7, day=date(2026, 11, 20))
    loaded = load_registry(session, bundle)
    session.commit()
    permits = session.exec(select(Permit)).all()
    assert loaded.permits == len(permits) > 0
    assert {p.status for p in permits} == {PermitStatus.approved}
    lapsed = [
        v for v in session.exec(select(Vehicle)) if v.inspection_valid_until < date(2026, 11, 20)
    ]
    assert lapsed  # the scenario's unauthorised trucks, approved before their inspection lapsed
