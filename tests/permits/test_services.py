"""The permit workflow: apply, approve (or refuse with every reason), reject, amend, revoke,
expire — and the audit trail of each change."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

from cdw.audit.log import history
from cdw.errors import Conflict, NotFound, ValidationFailed
from cdw.permits import services
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.permits.services import PermitAmendment, PermitApplication
from cdw.registry.categories import HaulierStatus
from cdw.registry.models import ConstructionSite
from cdw.registry.services import Scope
from tests.manifests.seed import ROUTE, seed

DAY = date(2026, 6, 1)


def application(s, **kw) -> PermitApplication:
    data = dict(
        site_id=s.site.id, facility_id=s.facility.id, categories=["工程渣土"], volume_m3=2000,
        valid_from="2026-05-01", valid_to="2026-09-30", allowed_hours_start="07:00",
        allowed_hours_end="20:00", routes=ROUTE, vehicles=["粤A12345", "粤A54321"],
    )  # fmt: skip
    return PermitApplication.model_validate({**data, **kw})


def test_apply_then_approve_records_who_and_when(session: Session):
    s = seed(session)
    permit = services.apply(session, application(s), "dispatcher")
    assert (permit.status, permit.version, permit.applied_by) == ("submitted", 1, "dispatcher")
    assert permit.permit_no == "HZ202600001" and permit.submitted_at is not None
    assert permit.categories == ["excavated_soil"]
    services.approve(session, permit.id, "officer", DAY)
    session.commit()
    assert permit.status == PermitStatus.approved
    assert permit.decided_by == "officer" and permit.decided_at >= permit.submitted_at
    assert [e.action for e in history(session, "permit", permit.id)] == ["submit", "approve"]


def test_approval_lists_every_reason(session: Session):
    s = seed(session)
    # The seeded permit holds 1000 m³ at the facility; 8000 already received there.
    s.facility.used_m3 = 8000
    s.vehicle.inspection_valid_until = date(2026, 5, 31)
    s.spare.sealed_body = False
    s.haulier.status = HaulierStatus.suspended
    s.haulier.licence_valid_until = date(2026, 1, 1)
    session.add_all([s.facility, s.vehicle, s.spare, s.haulier])
    session.commit()
    permit = services.apply(
        session, application(s, categories=["excavated_soil", "slurry"], volume_m3=1001), "x"
    )
    session.commit()
    with pytest.raises(ValidationFailed) as err:
        services.approve(session, permit.id, "officer", DAY)
    found = [(p.field, p.en) for p in err.value.problems]
    assert found == [
        ("volume_m3", "facility 测试消纳场 has 1000.0 m³ left (used 8000.0, held by other "
         "active permits 1000.0), less than 1001.0 m³"),
        ("categories", "facility 测试消纳场 does not accept slurry"),
        ("vehicles", "the licence of 粤A12345's haulier 测试运输公司 expired on 2026-01-01"),
        ("vehicles", "the inspection of 粤A12345 expired on 2026-05-31"),
        ("vehicles", "the haulier 测试运输公司 of 粤A12345 is suspended"),
        ("vehicles", "the licence of 粤A54321's haulier 测试运输公司 expired on 2026-01-01"),
        ("vehicles", "vehicle 粤A54321 has no sealed-body certification"),
        ("vehicles", "the haulier 测试运输公司 of 粤A54321 is suspended"),
    ]  # fmt: skip
    assert all(p.zh for p in err.value.problems)
    session.rollback()
    assert session.get(Permit, permit.id).status == PermitStatus.submitted


def test_apply_finds_each_plate_as_stored_and_names_every_unknown_or_repeated_one(
    session: Session,
):
    s = seed(session)
    plates = ["粤a·54321", "粤A99999", "粤A 12345", "粤A88888", "粤A54321"]
    with pytest.raises(ValidationFailed) as err:
        services.apply(session, application(s, vehicles=plates), "x")
    assert [(p.field, p.zh, p.en) for p in err.value.problems] == [
        ("vehicles", "未登记的车辆：粤A99999", "unregistered vehicle: 粤A99999"),
        ("vehicles", "未登记的车辆：粤A88888", "unregistered vehicle: 粤A88888"),
        ("vehicles", "车辆重复列出：粤A54321", "vehicle listed twice: 粤A54321"),
    ]
    permit = services.apply(session, application(s, vehicles=plates[:3:2]), "x")
    held = session.exec(
        select(PermitVehicle.vehicle_id).where(PermitVehicle.permit_id == permit.id)
    ).all()
    assert sorted(held) == sorted([s.spare.id, s.vehicle.id])


def test_capacity_exactly_enough_passes(session: Session):
    s = seed(session)
    s.facility.used_m3 = 7000  # 10000 - 7000 - 1000 held = 2000 = needed
    session.add(s.facility)
    permit = services.apply(session, application(s), "x")
    assert services.approval_check(session, permit, DAY) == []
    permit.volume_m3 = 2000.5
    assert [p.field for p in services.approval_check(session, permit, DAY)] == ["volume_m3"]


def test_reject_revoke_and_states_that_forbid_them(session: Session):
    s = seed(session)
    permit = services.apply(session, application(s), "x")
    services.reject(session, permit.id, "officer", "路线穿越水源保护区")
    assert (permit.status, permit.decision_reason) == ("rejected", "路线穿越水源保护区")
    with pytest.raises(Conflict) as err:
        services.approve(session, permit.id, "officer", DAY)
    assert "已驳回" in err.value.zh and err.value.extra["current_status"] == "rejected"
    services.revoke(session, s.permit.id, "officer", "违规倾倒")
    assert s.permit.status == PermitStatus.revoked
    with pytest.raises(Conflict):
        services.revoke(session, s.permit.id, "officer", "again")


def test_amend_makes_a_new_version_and_its_approval_supersedes_the_old(session: Session):
    s = seed(session)
    new = services.amend(
        session, s.permit.id, PermitAmendment(reason="增加方量", volume_m3=1500), "officer"
    )
    assert (new.permit_no, new.version, new.previous_id, new.status) == (
        "HZ-2026-001", 2, s.permit.id, "submitted",
    )  # fmt: skip
    assert services.plates_of(session, new) == ["粤A12345"]
    assert s.permit.volume_m3 == 1000 and s.permit.status == "approved"  # untouched
    with pytest.raises(Conflict):  # only the latest version can be amended
        services.amend(session, s.permit.id, PermitAmendment(reason="again"), "officer")
    services.approve(session, new.id, "officer", DAY)
    assert (s.permit.status, new.status) == ("superseded", "approved")
    versions = session.exec(select(Permit).where(Permit.permit_no == "HZ-2026-001")).all()
    assert sorted(p.version for p in versions) == [1, 2]


def test_expiry_by_date(session: Session):
    s = seed(session)
    assert services.expire_permits(session, date(2026, 12, 31)) == []
    assert [p.id for p in services.expire_permits(session, date(2027, 1, 1))] == [s.permit.id]
    assert s.permit.status == PermitStatus.expired


def test_scopes(session: Session):
    s = seed(session)
    assert services.get_permit(session, s.permit.id, Scope(False, haulier_id=s.haulier.id))
    assert services.get_permit(session, s.permit.id, Scope(False, site_id=s.site.id))
    with pytest.raises(NotFound):
        services.get_permit(session, s.permit.id, Scope(False, facility_id=s.recycler.id))
    with pytest.raises(ValidationFailed) as err:
        services.apply(session, application(s), "d", Scope(False, site_id=s.site.id + 1))
    assert err.value.problems[0].field == "site_id"


def test_apply_and_amend_name_the_site_and_facility_by_code_or_unique_name(session: Session):
    s = seed(session)
    session.refresh(s.site)
    same = s.site.model_dump(exclude={"id", "code", "expected_categories"})
    twin = ConstructionSite(**same, code="TWIN-2")
    session.add(twin)
    session.flush()
    kw = {"site_id": None, "facility_id": None}
    by_code = services.apply(
        session, application(s, **kw, site="TWIN-2", facility=s.facility.code), "officer"
    )
    assert (by_code.site_id, by_code.facility_id) == (twin.id, s.facility.id)
    shown = services.public(session, by_code)
    assert (shown.site_code, shown.facility_code) == ("TWIN-2", s.facility.code)
    assert shown.site_name == s.site.name

    with pytest.raises(ValidationFailed) as caught:  # the name is now shared
        services.apply(session, application(s, **kw, site=s.site.name, facility="nowhere"), "o")
    ambiguous, unknown = caught.value.problems
    assert ambiguous.field == "site" and f"codes {s.site.code}, TWIN-2" in ambiguous.en
    assert unknown.field == "facility" and "unknown disposal facility 'nowhere'" in unknown.en
    with pytest.raises(ValidationFailed) as caught:  # an id and a code that disagree
        services.apply(session, application(s, site="TWIN-2"), "o")
    assert caught.value.problems[0].field == "site"
    with pytest.raises(ValueError, match="site_id"):
        application(s, site_id=None)

    amended = services.amend(
        session,
        s.permit.id,
        PermitAmendment(reason="改去综合利用厂", facility=s.recycler.name),
        "o",
    )
    assert (amended.site_id, amended.facility_id) == (s.permit.site_id, s.recycler.id)
