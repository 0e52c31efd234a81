"""Codes and references: generated codes, a code or a unique name resolves, an ambiguous or
unknown one is a bilingual problem naming the field (and the candidates' codes)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from cdw.errors import Conflict, ValidationFailed
from cdw.registry import services
from cdw.registry.models import (
    ConstructionSite,
    ConstructionSiteUpdate,
    Depot,
    DisposalFacility,
    DisposalFacilityUpdate,
    Haulier,
    RestrictedZone,
)
from cdw.registry.refs import resolve_ref, try_resolve
from cdw.registry.validators.pydantic_errors import problems_from_validation_error
from tests.factories import depot_in, facility_in, haulier_in, site_in, zone_in


def test_codes_are_generated_from_the_kind_and_the_id(session: Session):
    haulier = services.create(session, Haulier, haulier_in(1))
    made = [
        services.create(session, ConstructionSite, site_in()),
        services.create(session, ConstructionSite, site_in()),
        services.create(session, DisposalFacility, facility_in()),
        services.create(session, Depot, depot_in(haulier.id)),
        services.create(session, RestrictedZone, zone_in()),
    ]
    session.commit()
    assert [r.code for r in made] == ["S000001", "S000002", "F000001", "D000001", "Z000001"]
    assert made[0].name == made[1].name


def test_a_generated_code_steps_aside_for_a_code_already_given(session: Session):
    services.create(session, ConstructionSite, site_in(code="S000002"))  # id 1, code given
    second = services.create(session, ConstructionSite, site_in())  # id 2: S000002 is taken
    third = services.create(session, ConstructionSite, site_in(code="S000003-2"))
    fourth = services.create(session, ConstructionSite, site_in())
    session.commit()
    assert (second.code, third.code, fourth.code) == ("S000002-2", "S000003-2", "S000004")


def test_a_table_record_built_directly_gets_a_code_too(session: Session):
    site = ConstructionSite.model_validate(site_in().model_dump())
    session.add(site)
    session.commit()
    assert site.code == f"S{site.id:06d}"
    session.expire_all()
    assert session.get(ConstructionSite, site.id).code == site.code


def test_duplicate_codes_are_conflicts_on_create_and_update(session: Session):
    kept = services.create(session, DisposalFacility, facility_in(code="AT-01"))
    other = services.create(session, DisposalFacility, facility_in())
    session.commit()
    with pytest.raises(Conflict) as caught:
        services.create(session, DisposalFacility, facility_in(code="AT-01"))
    assert caught.value.problems[0].field == "code"
    assert f"disposal facility {kept.id}" in caught.value.en
    site = services.create(session, ConstructionSite, site_in(code="AT-01"))  # other kind: fine
    assert site.code == "AT-01"
    with pytest.raises(Conflict):
        services.update(session, DisposalFacility, other.id, DisposalFacilityUpdate(code="AT-01"))


def test_invalid_codes_are_refused():
    for bad in ("a b", "工地", "x" * 41, "S/1", "~abc"):
        with pytest.raises(ValidationError) as caught:
            site_in(code=bad)
        [problem] = problems_from_validation_error(caught.value)
        assert problem.field == "code" and "1–40" in problem.zh and "1-40" in problem.en
    assert site_in(code="  GZ-PY.01_a ").code == "GZ-PY.01_a"
    assert site_in(code="").code is None  # blank: generated
    with pytest.raises(ValidationError):
        ConstructionSiteUpdate(code=None)


def test_resolve_by_code_or_unique_name(session: Session):
    a = services.create(session, ConstructionSite, site_in(name="一期", code="P1"))
    b = services.create(session, ConstructionSite, site_in(name="二期"))
    c = services.create(session, ConstructionSite, site_in(name="P1"))  # a name equal to a code
    session.commit()
    assert resolve_ref(session, ConstructionSite, "P1", field="site").id == a.id  # code wins
    assert resolve_ref(session, ConstructionSite, " 二期 ", field="site").id == b.id
    assert resolve_ref(session, ConstructionSite, c.code, field="site").id == c.id
    assert try_resolve(session, ConstructionSite, b.code, field="site") == (b, [])


def test_ambiguous_unknown_and_blank_references(session: Session):
    first = services.create(session, DisposalFacility, facility_in(name="消纳场"))
    services.create(session, DisposalFacility, facility_in(name="消纳场", code="XN-2"))
    session.commit()
    record, problems = try_resolve(session, DisposalFacility, "消纳场", field="facility")
    assert record is None
    assert [(p.field, p.zh, p.en) for p in problems] == [
        (
            "facility",
            f"消纳场所名称「消纳场」不唯一：2 个记录同名（编码 {first.code}, XN-2），请改用编码",
            f"disposal facility name '消纳场' is ambiguous: 2 records share it "
            f"(codes {first.code}, XN-2); refer to one by its code",
        )
    ]
    with pytest.raises(ValidationFailed) as caught:
        resolve_ref(session, DisposalFacility, "xn-2", field="facility")  # codes keep their case
    assert caught.value.problems[0].en == (
        "unknown disposal facility 'xn-2' (neither a code nor a name)"
    )
    with pytest.raises(ValidationFailed) as caught:
        resolve_ref(session, DisposalFacility, "  ", field="facility")
    assert caught.value.problems[0].zh == "未填写消纳场所"
