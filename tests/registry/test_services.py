"""Registry services on SQLite and, when configured, PostgreSQL (the shared ``session``)."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlmodel import Session, func, select

from cdw.audit.log import history, verify_chain
from cdw.auth.models import Role, User
from cdw.errors import Conflict, NotFound, ValidationFailed
from cdw.registry import services
from cdw.registry.categories import FacilityKind, HaulierStatus, RecordStatus, WasteCategory
from cdw.registry.models import (
    ConstructionSite,
    ConstructionSitePublic,
    Depot,
    DisposalFacility,
    Driver,
    Haulier,
    RestrictedZone,
    Vehicle,
    VehicleUpdate,
)
from cdw.registry.services import Scope
from tests.factories import (
    credit_code,
    depot_in,
    driver_in,
    facility_in,
    haulier_in,
    plate,
    site_in,
    square,
    vehicle_in,
    zone_in,
)
from tests.sample_registry import seed_sample_registry


@pytest.fixture
def haulier(session: Session) -> Haulier:
    h = services.create(session, Haulier, haulier_in(1))
    session.commit()
    return h


def count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_create_and_read_back_every_kind(session: Session, haulier: Haulier):
    site = services.create(session, ConstructionSite, site_in())
    facility = services.create(session, DisposalFacility, facility_in())
    depot = services.create(session, Depot, depot_in(haulier.id))
    vehicle = services.create(session, Vehicle, vehicle_in(haulier.id, terminal_id="013800138000"))
    driver = services.create(session, Driver, driver_in(haulier.id, phone="138 0013 8000"))
    zone = services.create(session, RestrictedZone, zone_in())
    session.commit()
    session.expire_all()  # read from the database, not the identity map

    got = services.get(session, ConstructionSite, site.id)
    assert got.geofence == square()
    assert got.expected_categories == ["excavated_soil"]
    assert got.status == RecordStatus.active
    got = services.get(session, DisposalFacility, facility.id)
    assert (got.kind, got.opening_hours, got.used_m3) == (FacilityKind.landfill, "07:00-22:00", 0)
    assert got.accepted_categories == [WasteCategory.excavated_soil, WasteCategory.construction]
    assert services.get(session, Depot, depot.id).haulier_id == haulier.id
    got = services.get(session, Vehicle, vehicle.id)
    assert (got.plate, got.terminal_id, got.sealed_body) == ("粤A00001", "013800138000", True)
    assert services.get(session, Driver, driver.id).phone == "13800138000"
    assert services.get(session, RestrictedZone, zone.id).kind == "water_source"
    assert services.get(session, Haulier, haulier.id).credit_score == 100


def test_public_timestamps_are_utc_and_equal_on_creation(session: Session):
    site = services.create(session, ConstructionSite, site_in())
    session.commit()
    session.expire_all()
    public = ConstructionSitePublic.model_validate(services.get(session, ConstructionSite, site.id))
    assert public.created_at.tzinfo == UTC
    assert public.created_at == public.updated_at


@pytest.mark.parametrize(
    ("model", "first", "second", "field"),
    [
        (Vehicle, {"n": 1}, {"n": 2, "plate": "粤a·00001"}, "plate"),
        (Vehicle, {"n": 1, "terminal_id": "013800138000"}, {"n": 2, "terminal_id": "013800138000"}, "terminal_id"),
        (Driver, {"n": 1}, {"n": 2, "licence_no": "440184198500000001"}, "licence_no"),
    ],
)  # fmt: skip
def test_duplicates_are_conflicts_naming_field_and_value(
    session: Session, haulier: Haulier, model, first, second, field
):
    make = vehicle_in if model is Vehicle else driver_in
    services.create(session, model, make(haulier.id, **first))
    session.commit()
    with pytest.raises(Conflict) as exc:
        services.create(session, model, make(haulier.id, **second))
    value = getattr(make(haulier.id, **second), field)
    assert exc.value.problems[0].field == field
    assert value in exc.value.zh and value in exc.value.en
    session.rollback()
    assert count(session, model) == 1


def test_duplicate_credit_code_is_a_conflict(session: Session, haulier: Haulier):
    with pytest.raises(Conflict) as exc:
        services.create(session, Haulier, haulier_in(2, credit_code=credit_code(1)))
    assert (
        exc.value.zh == f"统一社会信用代码已被运输企业（编号 {haulier.id}）使用：{credit_code(1)}"
    )
    assert exc.value.http_status == 409


def test_update_checks_uniqueness_against_others_only(session: Session, haulier: Haulier):
    v1 = services.create(session, Vehicle, vehicle_in(haulier.id, 1))
    v2 = services.create(session, Vehicle, vehicle_in(haulier.id, 2))
    session.commit()
    # Re-saving its own plate is fine; taking another vehicle's plate is not.
    services.update(session, Vehicle, v1.id, VehicleUpdate(plate=plate(1), rated_load_t=25))
    with pytest.raises(Conflict):
        services.update(session, Vehicle, v2.id, VehicleUpdate(plate=plate(1)))
    session.rollback()
    assert services.get(session, Vehicle, v2.id).plate == plate(2)


def test_update_changes_only_given_fields_and_can_clear_terminal(
    session: Session, haulier: Haulier
):
    v = services.create(session, Vehicle, vehicle_in(haulier.id, terminal_id="013800138000"))
    session.commit()
    created = v.created_at
    services.update(session, Vehicle, v.id, VehicleUpdate.model_validate({"terminal_id": None}))
    session.commit()
    session.expire_all()
    got = services.get(session, Vehicle, v.id)
    assert (got.terminal_id, got.plate, got.rated_load_t) == (None, plate(1), 31)
    assert got.updated_at > created.replace(tzinfo=got.updated_at.tzinfo)


def test_reference_to_a_missing_haulier_is_a_validation_problem(session: Session):
    with pytest.raises(ValidationFailed) as exc:
        services.create(session, Vehicle, vehicle_in(haulier_id=999))
    assert [(p.field, p.zh) for p in exc.value.problems] == [("haulier_id", "运输企业不存在：999")]


def test_concurrent_duplicate_caught_by_the_database(
    session: Session, haulier: Haulier, monkeypatch
):
    """If the pre-check misses a duplicate (another transaction won), the constraint answers 409."""
    services.create(session, Vehicle, vehicle_in(haulier.id, 1))
    session.commit()
    monkeypatch.setattr(services, "duplicate_of", lambda *a, **k: None)
    with pytest.raises(Conflict) as exc:
        services.create(session, Vehicle, vehicle_in(haulier.id, 2, plate=plate(1)))
    assert f"plate={plate(1)}" in exc.value.en
    # The session was rolled back and stays usable.
    assert count(session, Vehicle) == 1


def test_get_missing_is_not_found(session: Session):
    with pytest.raises(NotFound) as exc:
        services.get(session, Vehicle, 42)
    assert (exc.value.zh, exc.value.en) == ("未找到运输车辆：42", "vehicle not found: 42")


def test_deactivate_keeps_the_record(session: Session, haulier: Haulier):
    v = services.create(session, Vehicle, vehicle_in(haulier.id))
    session.commit()
    assert services.deactivate(session, Vehicle, v.id).status == RecordStatus.inactive
    assert services.deactivate(session, Vehicle, v.id).status == RecordStatus.inactive  # idempotent
    assert services.deactivate(session, Haulier, haulier.id).status == HaulierStatus.revoked
    session.commit()
    assert count(session, Vehicle) == 1 and count(session, Haulier) == 1
    rows, total = services.list_records(session, Vehicle, filters={"status": "inactive"})
    assert ([r.id for r in rows], total) == ([v.id], 1)


def test_list_pages_and_filters(session: Session, haulier: Haulier):
    other = services.create(session, Haulier, haulier_in(2))
    for n in range(1, 6):
        services.create(session, Vehicle, vehicle_in(haulier.id, n))
    services.create(session, Vehicle, vehicle_in(other.id, 6, plate="粤B00006"))
    session.commit()

    rows, total = services.list_records(session, Vehicle, offset=2, limit=2)
    assert ([r.plate for r in rows], total) == ([plate(3), plate(4)], 6)
    rows, total = services.list_records(session, Vehicle, filters={"plate": "粤a0000"})
    assert total == 5
    rows, total = services.list_records(session, Vehicle, filters={"haulier_id": other.id})
    assert [r.plate for r in rows] == ["粤B00006"]
    rows, total = services.list_records(session, Vehicle, filters={"plate": None})
    assert total == 6  # a None filter is ignored


def test_name_filter_is_a_substring_with_wildcards_escaped(session: Session):
    services.create(session, ConstructionSite, site_in(name="街口旧城改造 Phase 1"))
    services.create(session, ConstructionSite, site_in(name="太平镇配套工程"))
    session.commit()

    def names(query: str) -> list[str]:
        rows, _ = services.list_records(session, ConstructionSite, filters={"name": query})
        return [s.name for s in rows]

    assert names("旧城") == ["街口旧城改造 Phase 1"]
    assert names("phase") == ["街口旧城改造 Phase 1"]  # case-insensitive
    assert names("%") == []
    assert names("_") == []


def test_unknown_filter_is_a_programming_error(session: Session):
    with pytest.raises(TypeError):
        services.list_records(session, Haulier, filters={"plate": "粤A"})


# --- scope of bound users -------------------------------------------------------------------------


def user(role: Role, **binding) -> User:
    return User(username="u", role=role, hashed_password="!", **binding)


@pytest.mark.parametrize(
    ("role", "binding", "expected"),
    [
        (Role.admin, {}, Scope()),
        (Role.viewer, {}, Scope()),
        (Role.enforcement_officer, {}, Scope()),
        (Role.facility_operator, {"facility_id": 3}, Scope(False, facility_id=3)),
        (Role.site_dispatcher, {"site_id": 4}, Scope(False, site_id=4)),
        (Role.haulier, {"haulier_id": 5}, Scope(False, haulier_id=5)),
    ],
)
def test_scope_for_user(role, binding, expected):
    assert services.scope_for(user(role, **binding)) == expected


def test_bound_users_see_only_their_own_records(session: Session):
    sample = seed_sample_registry(session)
    session.commit()
    h1, h2 = sample["hauliers"][0], sample["hauliers"][1]
    f1, f2 = sample["facilities"][0], sample["facilities"][1]
    s1, s2 = sample["sites"][0], sample["sites"][1]

    mine = Scope(False, haulier_id=h1.id)
    plates = [v.plate for v in services.list_records(session, Vehicle, scope=mine)[0]]
    assert plates == ["粤A5B721", "粤AK8823", "粤A26918D"]
    assert [d.name for d in services.list_records(session, Driver, scope=mine)[0]] == [
        "陈志强",
        "李建华",
    ]
    assert [d.name for d in services.list_records(session, Depot, scope=mine)[0]] == [
        "穗通街口停车场"
    ]
    assert services.list_records(session, Haulier, scope=mine) == ([h1], 1)
    assert services.get(session, Haulier, h1.id, mine) is h1
    other_vehicle = sample["vehicles"][3]
    assert other_vehicle.haulier_id == h2.id
    with pytest.raises(NotFound):
        services.get(session, Vehicle, other_vehicle.id, mine)
    with pytest.raises(NotFound):
        services.get(session, Haulier, h2.id, mine)
    # A haulier is bound to nothing else.
    assert services.list_records(session, ConstructionSite, scope=mine) == ([], 0)

    operator = Scope(False, facility_id=f1.id)
    assert services.list_records(session, DisposalFacility, scope=operator) == ([f1], 1)
    with pytest.raises(NotFound):
        services.get(session, DisposalFacility, f2.id, operator)

    dispatcher = Scope(False, site_id=s1.id)
    assert services.list_records(session, ConstructionSite, scope=dispatcher) == ([s1], 1)
    with pytest.raises(NotFound):
        services.get(session, ConstructionSite, s2.id, dispatcher)

    # Restricted zones are public; a bound role without its binding sees nothing else.
    assert services.list_records(session, RestrictedZone, scope=operator)[1] == 1
    assert services.list_records(session, DisposalFacility, scope=Scope(False))[1] == 0


def test_lookups_by_natural_keys(session: Session):
    seed_sample_registry(session)
    session.commit()
    assert services.get_vehicle_by_plate(session, "粤a·26918d").plate == "粤A26918D"
    assert services.get_vehicle_by_terminal(session, "013800138004").plate == "粤A07735F"
    assert services.get_haulier_by_credit_code(session, "91440111ma5ar8qh6m").name == (
        "广州市宏达建筑废弃物运输有限公司"
    )
    assert services.get_vehicle_by_plate(session, "粤A99999") is None


def test_sample_registry_is_valid_and_idempotent(session: Session):
    first = seed_sample_registry(session)
    session.commit()
    again = seed_sample_registry(session)
    session.commit()
    assert {k: len(v) for k, v in first.items()} == {
        "sites": 3, "facilities": 4, "hauliers": 3, "depots": 2, "vehicles": 7, "drivers": 4, "zones": 1,
    }  # fmt: skip
    assert {k: [r.id for r in v] for k, v in again.items()} == {
        k: [r.id for r in v] for k, v in first.items()
    }
    assert {f.kind for f in first["facilities"]} == set(FacilityKind)
    assert any(len(v.plate) == 8 for v in first["vehicles"])
    assert count(session, Vehicle) == 7


def test_every_write_is_audited_with_what_changed(session: Session, haulier: Haulier):
    officer = User(username="officer9", role=Role.permit_officer, hashed_password="!")
    session.add(officer)
    vehicle = services.create(session, Vehicle, vehicle_in(haulier.id, load_sensor=False), officer)
    services.update(session, Vehicle, vehicle.id, VehicleUpdate(load_sensor=True), officer)
    services.update(session, Vehicle, vehicle.id, VehicleUpdate(load_sensor=True), officer)  # no-op
    services.deactivate(session, Vehicle, vehicle.id, "nightly-job")
    services.deactivate(session, Vehicle, vehicle.id, "nightly-job")  # already inactive
    session.commit()
    entries = history(session, "registry.vehicle", vehicle.id)
    assert [(e.action, e.actor, e.actor_role) for e in entries] == [
        ("create", "officer9", "permit_officer"),
        ("update", "officer9", "permit_officer"),
        ("deactivate", "nightly-job", "system"),
    ]
    assert entries[0].data["plate"] == vehicle.plate and entries[0].data["load_sensor"] is False
    assert entries[1].data == {"load_sensor": {"from": False, "to": True}}
    assert entries[2].data == {"status": {"from": "active", "to": "inactive"}}
    assert verify_chain(session) == []
