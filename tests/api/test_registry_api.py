"""Registry REST API: create/read/update/list/deactivate, error bodies, and bound users' views."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cdw.audit.log import history
from cdw.auth.models import Role
from tests.factories import credit_code, square
from tests.sample_registry import seed_sample_registry

API = "/api/v1"

PAYLOADS: dict[str, dict[str, Any]] = {
    "sites": {
        "name": "从化区街口旧城改造项目",
        "project_permit_no": "440117202503150101",
        "builder": "广州市从化区城市更新建设有限公司",
        "contractor": "广东粤从建设工程有限公司",
        "geofence": square(),
        "expected_categories": ["demolition", "工程垃圾"],
        "expected_volume_m3": 42000,
    },
    "facilities": {
        "name": "鳌头镇建筑废弃物消纳场",
        "kind": "landfill",
        "geofence": square(113.388, 23.625, 500),
        "capacity_m3": 1200000,
        "accepted_categories": ["excavated_soil"],
        "opening_hours": "20:00-06:00",
    },
    "hauliers": {
        "name": "广州市从化区穗通土石方运输有限公司",
        "credit_code": credit_code(1),
        "licence_no": "粤交运管许可穗字440117001236号",
        "licence_valid_until": "2030-06-30",
    },
    "zones": {
        "name": "流溪河水源保护区",
        "kind": "水源保护区",
        "geofence": square(113.58, 23.56, 800),
    },
}


def haulier_payloads(haulier_id: int) -> dict[str, dict[str, Any]]:
    return {
        "vehicles": {
            "plate": "粤A26918D",
            "haulier_id": haulier_id,
            "rated_capacity_m3": 17,
            "rated_load_t": 30,
            "sealed_body": True,
            "terminal_id": "013800138003",
            "inspection_valid_until": "2030-01-31",
        },
        "drivers": {"name": "陈志强", "licence_no": "440184198503120318", "haulier_id": haulier_id},
        "depots": {
            "name": "穗通街口停车场",
            "haulier_id": haulier_id,
            "geofence": square(113.595, 23.56, 120),
        },
    }


@pytest.fixture
def officer(auth_headers) -> dict[str, str]:
    return auth_headers(Role.permit_officer)


@pytest.fixture
def sample(engine: Engine) -> dict[str, list[int]]:
    with Session(engine) as s:
        records = seed_sample_registry(s)
        s.commit()
        return {kind: [r.id for r in rows] for kind, rows in records.items()}


def test_register_read_update_list_and_deactivate_every_kind(client: TestClient, officer):
    created = {}
    for kind, body in PAYLOADS.items():
        resp = client.post(f"{API}/{kind}", json=body, headers=officer)
        assert resp.status_code == 201, resp.text
        created[kind] = resp.json()
    for kind, body in haulier_payloads(created["hauliers"]["id"]).items():
        resp = client.post(f"{API}/{kind}", json=body, headers=officer)
        assert resp.status_code == 201, resp.text
        created[kind] = resp.json()

    assert created["sites"]["expected_categories"] == ["demolition", "construction"]
    assert created["zones"]["kind"] == "water_source"
    assert created["vehicles"]["status"] == "active"
    for kind, record in created.items():
        got = client.get(f"{API}/{kind}/{record['id']}", headers=officer)
        assert got.json() == record
        page = client.get(f"{API}/{kind}", headers=officer).json()
        assert page == {"data": [record], "count": 1}

    resp = client.patch(
        f"{API}/facilities/{created['facilities']['id']}",
        json={"used_m3": 350000, "opening_hours": "7:00-22:00"},
        headers=officer,
    )
    assert resp.status_code == 200
    assert (resp.json()["used_m3"], resp.json()["opening_hours"]) == (350000, "07:00-22:00")
    assert resp.json()["name"] == PAYLOADS["facilities"]["name"]

    vehicle_id = created["vehicles"]["id"]
    resp = client.post(f"{API}/vehicles/{vehicle_id}/deactivate", headers=officer)
    assert (resp.status_code, resp.json()["status"]) == (200, "inactive")
    assert client.get(f"{API}/vehicles?status=active", headers=officer).json()["count"] == 0
    assert client.get(f"{API}/vehicles?status=inactive", headers=officer).json()["count"] == 1
    resp = client.post(f"{API}/hauliers/{created['hauliers']['id']}/deactivate", headers=officer)
    assert resp.json()["status"] == "revoked"


@pytest.mark.parametrize(
    ("kind", "change", "field", "zh_part"),
    [
        ("hauliers", {"credit_code": "91440117MA0000001A"}, "credit_code", "校验位错误"),
        ("hauliers", {"credit_score": 101}, "credit_score", ""),
        ("sites", {"geofence": {"type": "Polygon", "coordinates": [[[23.55, 113.58], [23.55, 113.581], [23.551, 113.581], [23.55, 113.58]]]}}, "geofence", "经纬度颠倒"),
        ("sites", {"geofence": {"type": "Polygon", "coordinates": [[[113.58, 23.55], [113.59, 23.56], [113.59, 23.55], [113.58, 23.56], [113.58, 23.55]]]}}, "geofence", "自相交"),
        ("sites", {"expected_categories": ["生活垃圾"]}, "expected_categories", "未知的废弃物类别"),
        ("facilities", {"opening_hours": "7点到22点"}, "opening_hours", "HH:MM-HH:MM"),
        ("facilities", {"kind": "dump"}, "kind", "消纳场（landfill）"),
        ("zones", {"colour": "red"}, "colour", ""),
    ],
)  # fmt: skip
def test_invalid_input_is_422_naming_the_field(client, officer, kind, change, field, zh_part):
    resp = client.post(f"{API}/{kind}", json={**PAYLOADS[kind], **change}, headers=officer)
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "validation_failed"
    [problem] = body["problems"]
    assert problem["field"] == field
    assert zh_part in problem["zh"]
    assert problem["en"]


def test_invalid_plate_and_null_required_field(client, officer, sample):
    haulier_id = sample["hauliers"][0]
    body = {**haulier_payloads(haulier_id)["vehicles"], "plate": "粤AI8823"}
    resp = client.post(f"{API}/vehicles", json=body, headers=officer)
    assert resp.status_code == 422
    assert [p["field"] for p in resp.json()["problems"]] == ["plate"]
    assert "不使用字母 I 和 O" in resp.json()["problems"][0]["zh"]

    vehicle_id = sample["vehicles"][0]
    resp = client.patch(f"{API}/vehicles/{vehicle_id}", json={"plate": None}, headers=officer)
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["field"] == "plate"
    resp = client.patch(f"{API}/vehicles/{vehicle_id}", json={"terminal_id": None}, headers=officer)
    assert (resp.status_code, resp.json()["terminal_id"]) == (200, None)


def test_duplicates_are_409_naming_field_and_value(client, officer, sample):
    haulier_id = sample["hauliers"][0]
    body = {**haulier_payloads(haulier_id)["vehicles"], "plate": "粤a·5b721", "terminal_id": None}
    resp = client.post(f"{API}/vehicles", json=body, headers=officer)
    assert resp.status_code == 409
    assert resp.json()["code"] == "conflict"
    assert resp.json()["problems"] == [
        {"field": "plate", "zh": "车牌号重复：粤A5B721", "en": "duplicate plate: 粤A5B721"}
    ]
    resp = client.post(
        f"{API}/hauliers",
        json={**PAYLOADS["hauliers"], "credit_code": "91440117MA59C3TK22"},
        headers=officer,
    )
    assert resp.status_code == 409
    assert "91440117MA59C3TK22" in resp.json()["message_zh"]
    # Taking another vehicle's plate by PATCH is a conflict too.
    resp = client.patch(
        f"{API}/vehicles/{sample['vehicles'][1]}", json={"plate": "粤A5B721"}, headers=officer
    )
    assert resp.status_code == 409


def test_unknown_ids_are_404(client, officer, sample):
    assert client.get(f"{API}/vehicles/9999", headers=officer).json()["code"] == "not_found"
    assert client.patch(f"{API}/sites/9999", json={"name": "x"}, headers=officer).status_code == 404
    assert client.post(f"{API}/zones/9999/deactivate", headers=officer).status_code == 404
    body = {**haulier_payloads(9999)["drivers"]}
    resp = client.post(f"{API}/drivers", json=body, headers=officer)
    assert (resp.status_code, resp.json()["problems"][0]["field"]) == (422, "haulier_id")


def test_pagination_and_filters(client, officer, sample):
    page = client.get(f"{API}/vehicles?offset=2&limit=2", headers=officer).json()
    assert [v["plate"] for v in page["data"]] == ["粤A26918D", "粤A07735F"]
    assert page["count"] == 7

    def plates(query: str) -> list[str]:
        page = client.get(f"{API}/vehicles?{query}", headers=officer).json()
        return [v["plate"] for v in page["data"]]

    assert plates("plate=粤AD") == ["粤AD36891"]
    assert plates(f"haulier_id={sample['hauliers'][2]}") == ["粤A3X517"]
    facilities = client.get(f"{API}/facilities?kind=recycling", headers=officer).json()
    assert [f["name"] for f in facilities["data"]] == ["从化区建筑废弃物综合利用厂"]
    hauliers = client.get(f"{API}/hauliers?status=suspended", headers=officer).json()
    assert [h["credit_code"] for h in hauliers["data"]] == ["91440113MA9W4N7J1D"]
    for bad in ("limit=0", "limit=501", "offset=-1", "status=gone"):
        assert client.get(f"{API}/vehicles?{bad}", headers=officer).status_code == 422


def test_haulier_sees_only_itself_and_its_fleet(client, auth_headers, sample):
    mine, other = sample["hauliers"][0], sample["hauliers"][1]
    me = auth_headers(Role.haulier, haulier_id=mine)

    hauliers = client.get(f"{API}/hauliers", headers=me).json()
    assert [h["id"] for h in hauliers["data"]] == [mine] and hauliers["count"] == 1
    assert client.get(f"{API}/hauliers/{mine}", headers=me).status_code == 200
    assert client.get(f"{API}/hauliers/{other}", headers=me).status_code == 404

    vehicles = client.get(f"{API}/vehicles", headers=me).json()
    assert [v["plate"] for v in vehicles["data"]] == ["粤A5B721", "粤AK8823", "粤A26918D"]
    assert client.get(f"{API}/vehicles?haulier_id={other}", headers=me).json()["count"] == 0
    foreign_vehicle = sample["vehicles"][3]
    assert client.get(f"{API}/vehicles/{foreign_vehicle}", headers=me).status_code == 404
    assert {d["haulier_id"] for d in client.get(f"{API}/drivers", headers=me).json()["data"]} == {
        mine
    }
    depots = client.get(f"{API}/depots", headers=me).json()
    assert [d["name"] for d in depots["data"]] == ["穗通街口停车场"]
    assert client.get(f"{API}/depots/{sample['depots'][1]}", headers=me).status_code == 404
    # Reading is all: a haulier cannot change its own records.
    resp = client.patch(
        f"{API}/vehicles/{sample['vehicles'][0]}", json={"rated_load_t": 50}, headers=me
    )
    assert resp.status_code == 403


def test_facility_operator_and_site_dispatcher_see_only_their_own(client, auth_headers, sample):
    f1, f2 = sample["facilities"][:2]
    operator = auth_headers(Role.facility_operator, facility_id=f1)
    page = client.get(f"{API}/facilities", headers=operator).json()
    assert ([f["id"] for f in page["data"]], page["count"]) == ([f1], 1)
    assert client.get(f"{API}/facilities/{f2}", headers=operator).status_code == 404
    assert client.get(f"{API}/sites", headers=operator).status_code == 403

    s1, s2 = sample["sites"][:2]
    dispatcher = auth_headers(Role.site_dispatcher, site_id=s1)
    page = client.get(f"{API}/sites", headers=dispatcher).json()
    assert ([s["id"] for s in page["data"]], page["count"]) == ([s1], 1)
    assert client.get(f"{API}/sites/{s2}", headers=dispatcher).status_code == 404
    assert client.get(f"{API}/facilities", headers=dispatcher).status_code == 403

    # Restricted zones are for everyone to see and avoid.
    for headers in (operator, dispatcher):
        assert client.get(f"{API}/zones", headers=headers).json()["count"] == 1


def test_unrestricted_readers_see_everything_but_cannot_write(client, auth_headers, sample):
    for role in (Role.enforcement_officer, Role.viewer):
        headers = auth_headers(role)
        assert client.get(f"{API}/vehicles", headers=headers).json()["count"] == 7
        assert client.get(f"{API}/sites/{sample['sites'][1]}", headers=headers).status_code == 200
        resp = client.post(f"{API}/zones", json=PAYLOADS["zones"], headers=headers)
        assert resp.status_code == 403
    assert client.get(f"{API}/vehicles").status_code == 401


def test_enum_labels_and_openapi(client, auth_headers):
    labels = client.get(
        f"{API}/registry/enums", headers=auth_headers(Role.haulier, haulier_id=None)
    ).json()
    assert labels["WasteCategory"]["slurry"] == {"zh": "工程泥浆", "en": "slurry"}
    assert labels["FacilityKind"]["backfill"]["zh"] == "回填工地"
    paths = client.get("/openapi.json").json()["paths"]
    for kind in ("sites", "facilities", "hauliers", "depots", "vehicles", "drivers", "zones"):
        assert {
            f"{API}/{kind}",
            f"{API}/{kind}/{{record_id}}",
            f"{API}/{kind}/{{record_id}}/deactivate",
        } <= set(paths)


def test_two_sites_may_share_a_name_and_are_known_by_code(client, officer, session):
    first = client.post(f"{API}/sites", json=PAYLOADS["sites"], headers=officer)
    second = client.post(
        f"{API}/sites", json={**PAYLOADS["sites"], "code": "JK-2"}, headers=officer
    )
    assert (first.status_code, second.status_code) == (201, 201)
    first_id = first.json()["id"]
    assert first.json()["code"] == f"S{first_id:06d}"  # generated
    assert second.json()["code"] == "JK-2"
    assert first.json()["name"] == second.json()["name"]
    listed = client.get(f"{API}/sites", params={"code": "JK-2"}, headers=officer).json()
    assert [s["id"] for s in listed["data"]] == [second.json()["id"]]
    too_long = client.get(f"{API}/sites", params={"code": "x" * 41}, headers=officer)
    assert too_long.status_code == 422

    taken = client.post(f"{API}/sites", json={**PAYLOADS["sites"], "code": "JK-2"}, headers=officer)
    assert taken.status_code == 409
    assert taken.json()["problems"] == [
        {"field": "code", "zh": "编码重复：JK-2", "en": "duplicate code: JK-2"}
    ]
    moved = client.patch(f"{API}/sites/{first_id}", json={"code": "JK-1"}, headers=officer)
    assert (moved.status_code, moved.json()["code"]) == (200, "JK-1")
    clash = client.patch(f"{API}/sites/{first_id}", json={"code": "JK-2"}, headers=officer)
    assert clash.status_code == 409
    for bad in ("", "JK 1", "工地1", "x" * 41):
        resp = client.patch(f"{API}/sites/{first_id}", json={"code": bad}, headers=officer)
        assert resp.status_code == 422, bad
        assert resp.json()["problems"][0]["field"] == "code"
    # the code change is in the audit log, with the acting officer
    [entry] = [
        e for e in history(session, "registry.construction_site", first_id) if e.action == "update"
    ]
    assert entry.actor == "permit_officer"
    assert entry.data == {"code": {"from": f"S{first_id:06d}", "to": "JK-1"}}


@pytest.mark.parametrize("kind", ["facilities", "zones"])
def test_codes_of_facilities_and_zones(client, officer, kind):
    made = client.post(
        f"{API}/{kind}", json={**PAYLOADS[kind], "code": " GZ.py_01 "}, headers=officer
    )
    assert (made.status_code, made.json()["code"]) == (201, "GZ.py_01")
    again = client.post(f"{API}/{kind}", json=PAYLOADS[kind], headers=officer).json()
    assert again["code"] == f"{kind[0].upper()}{again['id']:06d}"


def test_load_sensor_round_trips_and_is_checked(client, officer, sample):
    haulier_id = sample["hauliers"][0]
    body = {**haulier_payloads(haulier_id)["vehicles"], "plate": "粤A77777", "terminal_id": None}
    made = client.post(f"{API}/vehicles", json={**body, "load_sensor": "无"}, headers=officer)
    assert (made.status_code, made.json()["load_sensor"]) == (201, False)
    vehicle_id = made.json()["id"]
    assert (
        client.get(f"{API}/vehicles/{vehicle_id}", headers=officer).json()["load_sensor"] is False
    )
    patched = client.patch(
        f"{API}/vehicles/{vehicle_id}", json={"load_sensor": True}, headers=officer
    )
    assert patched.json()["load_sensor"] is True
    default = client.get(f"{API}/vehicles/{sample['vehicles'][0]}", headers=officer).json()
    assert default["load_sensor"] is True
    for bad in ("maybe", 2, None):
        resp = client.patch(
            f"{API}/vehicles/{vehicle_id}", json={"load_sensor": bad}, headers=officer
        )
        assert resp.status_code == 422, bad
        assert resp.json()["problems"][0]["field"] == "load_sensor"
