"""A driver's phone and ID-card (licence) number: full for admins, enforcement officers and
the driver's own haulier; masked for permit officers and viewers; other roles read no
drivers at all (issue 13, finding 9)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from cdw.auth.models import BINDING_OF_ROLE, Role
from cdw.registry.models import ConstructionSite, DisposalFacility, Driver, Haulier, mask
from tests.factories import square

API = "/api/v1"
PHONE, ID_NO = "13812345678", "440184199001011234"
FULL = {"phone": PHONE, "licence_no": ID_NO}
MASKED = {"phone": "138****5678", "licence_no": "4401**********1234"}


def test_mask_keeps_the_head_and_tail_only():
    assert mask(PHONE, 3, 4) == MASKED["phone"]
    assert mask(ID_NO, 4, 4) == MASKED["licence_no"]
    assert mask("12345", 3, 4) == "*****"  # too short to show any of it
    assert mask("", 3, 4) == ""


@pytest.fixture
def world(engine) -> dict[str, int]:
    with Session(engine) as s:
        own = Haulier(name="甲运输", credit_code="91440101MA5CYC4X4K", licence_no="A",
                      licence_valid_until=date(2030, 1, 1))  # fmt: skip
        other = Haulier(name="乙运输", credit_code="91440300MA5FUTNT48", licence_no="B",
                        licence_valid_until=date(2030, 1, 1))  # fmt: skip
        s.add_all([own, other])
        s.flush()
        driver = Driver(name="张三", licence_no=ID_NO, phone=PHONE, haulier_id=own.id)
        site = ConstructionSite(name="工地", project_permit_no="P", builder="B", contractor="C",
                                geofence=square(), expected_volume_m3=1)  # fmt: skip
        facility = DisposalFacility(name="消纳场", kind="landfill", geofence=square(),
                                    capacity_m3=1, accepted_categories=["excavated_soil"])  # fmt: skip
        s.add_all([driver, site, facility])
        s.commit()
        return {"own": own.id, "other": other.id, "driver": driver.id,
                "site_id": site.id, "facility_id": facility.id}  # fmt: skip


# role (and whose haulier) → what it reads of the driver: FULL, MASKED, 404 (outside its
# scope) or 403 (its role reads no drivers).
EXPECTED = {
    (Role.admin, None): FULL,
    (Role.enforcement_officer, None): FULL,
    (Role.haulier, "own"): FULL,
    (Role.permit_officer, None): MASKED,
    (Role.viewer, None): MASKED,
    (Role.haulier, "other"): 404,
    (Role.site_dispatcher, None): 403,
    (Role.facility_operator, None): 403,
}


def _headers(auth_headers, role: Role, whose: str | None, world) -> dict[str, str]:
    if role == Role.haulier:
        return auth_headers(role, haulier_id=world[whose])
    binding = BINDING_OF_ROLE.get(role)
    return auth_headers(role, **({binding: world[binding]} if binding else {}))


@pytest.mark.parametrize(("role", "whose"), EXPECTED, ids=[f"{r}-{w}" for r, w in EXPECTED])
def test_driver_personal_data_by_role(client, auth_headers, world, role, whose):
    headers = _headers(auth_headers, role, whose, world)
    expected = EXPECTED[(role, whose)]
    one = client.get(f"{API}/drivers/{world['driver']}", headers=headers)
    listed = client.get(f"{API}/drivers", headers=headers)
    if expected in (403, 404):
        assert one.status_code == expected, one.text
        assert listed.status_code == 403 or listed.json()["data"] == []
        return
    assert one.status_code == 200, one.text
    assert {k: one.json()[k] for k in expected} == expected
    (row,) = listed.json()["data"]
    assert {k: row[k] for k in expected} == expected


@pytest.mark.parametrize("role", [Role.admin, Role.permit_officer])
def test_a_write_answers_with_the_same_masking(client, auth_headers, world, role):
    body = {"name": "李四", "licence_no": "440184199202022345", "phone": "13900001111",
            "haulier_id": world["own"]}  # fmt: skip
    created = client.post(f"{API}/drivers", json=body, headers=auth_headers(role))
    assert created.status_code == 201, created.text
    shown = (created.json()["phone"], created.json()["licence_no"])
    if role == Role.admin:
        assert shown == ("13900001111", "440184199202022345")
    else:
        assert shown == ("139****1111", "4401**********2345")


def test_masked_readers_cannot_search_by_id_number(client, auth_headers, world):
    params = {"licence_no": ID_NO}
    for role in (Role.viewer, Role.permit_officer):
        resp = client.get(f"{API}/drivers", params=params, headers=auth_headers(role))
        assert resp.status_code == 403, role
    found = client.get(f"{API}/drivers", params=params, headers=auth_headers(Role.admin))
    assert found.json()["count"] == 1
