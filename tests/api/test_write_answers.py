"""Every write answers with the record it wrote (ids, states, labels), not an empty body."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cdw.auth.models import Role
from tests.manifests.seed import ROUTE, seed

API = "/api/v1"


def _world(session: Session):
    s = seed(session)
    s.permit.allowed_hours_start, s.permit.allowed_hours_end = "00:00", "24:00"
    s.permit.valid_to = date(2030, 12, 31)
    session.add(s.permit)
    session.commit()
    return s


def test_permit_writes_answer_the_permit(client, auth_headers, session):
    s = _world(session)
    officer = auth_headers(Role.permit_officer)
    application = {
        "site_id": s.site.id, "facility_id": s.facility.id, "categories": ["工程渣土"],
        "volume_m3": 500, "valid_from": "2026-01-01", "valid_to": "2030-06-30",
        "routes": ROUTE, "vehicles": ["粤A12345"],
    }  # fmt: skip
    applied = client.post(f"{API}/permits", json=application, headers=officer)
    assert applied.status_code == 201, applied.text
    permit = applied.json()
    assert permit["id"] > s.permit.id and permit["permit_no"]
    assert (permit["status"], permit["status_zh"], permit["version"]) == ("submitted", "已提交", 1)
    assert (permit["site_name"], permit["vehicles"], permit["used_m3"]) == (
        s.site.name, ["粤A12345"], 0.0,
    )  # fmt: skip

    approved = client.post(f"{API}/permits/{permit['id']}/approve", headers=officer)
    assert approved.status_code == 200, approved.text
    assert approved.json()["id"] == permit["id"]
    assert (approved.json()["status"], approved.json()["status_en"]) == ("approved", "approved")
    assert approved.json()["decided_by"] is not None

    amended = client.post(
        f"{API}/permits/{permit['id']}/amend",
        json={"reason": "增加方量", "volume_m3": 800},
        headers=officer,
    )
    assert amended.status_code == 201, amended.text
    assert (amended.json()["version"], amended.json()["previous_id"]) == (2, permit["id"])
    assert amended.json()["volume_m3"] == 800


def test_manifest_writes_answer_the_manifest_and_the_receipt(client, auth_headers, session):
    s = _world(session)
    dispatcher = auth_headers(Role.site_dispatcher, site_id=s.site.id)
    operator = auth_headers(Role.facility_operator, facility_id=s.facility.id)
    load = {"permit_id": s.permit.id, "plate": "粤A12345", "category": "工程渣土",
            "declared_volume_m3": 15, "driver_id": s.driver.id}  # fmt: skip

    issued = client.post(f"{API}/manifests", json=load, headers=dispatcher)
    assert issued.status_code == 201, issued.text
    manifest = issued.json()
    assert manifest["id"] and manifest["manifest_no"].startswith("LD")
    assert (manifest["state"], manifest["state_zh"], manifest["plate"]) == (
        "issued", "已开单", "粤A12345",
    )  # fmt: skip
    assert [e["to_state"] for e in manifest["history"]] == ["issued"]
    assert manifest["receipts"] == []

    departed = client.post(f"{API}/manifests/{manifest['id']}/depart", headers=dispatcher)
    assert departed.status_code == 200, departed.text
    assert (departed.json()["id"], departed.json()["state"]) == (manifest["id"], "departed")
    assert departed.json()["departed_at"] is not None

    expected = client.get(f"{API}/manifests/expected", headers=operator).json()
    assert [(m["id"], m["state"]) for m in expected["data"]] == [(manifest["id"], "departed")]
    listed = client.get(f"{API}/manifests", headers=dispatcher).json()
    assert (listed["count"], listed["data"][0]["manifest_no"]) == (1, manifest["manifest_no"])

    received = client.post(
        f"{API}/manifests/{manifest['id']}/receipt",
        json={"received_volume_m3": 14},
        headers=operator,
    )
    assert received.status_code == 201, received.text
    receipt = received.json()
    assert receipt["id"] and receipt["manifest_id"] == manifest["id"]
    assert (receipt["version"], receipt["outcome"], receipt["counted_m3"]) == (1, "accepted", 14)

    corrected = client.post(
        f"{API}/manifests/{manifest['id']}/receipt/corrections",
        json={"received_volume_m3": 15, "correction_reason": "地磅复核"},
        headers=operator,
    )
    assert corrected.status_code == 201, corrected.text
    assert (corrected.json()["version"], corrected.json()["correction_reason"]) == (2, "地磅复核")

    shown = client.get(f"{API}/manifests/{manifest['id']}", headers=dispatcher).json()
    assert [r["version"] for r in shown["receipts"]] == [1, 2]
    assert shown["state"] == "received"

    viewer = auth_headers(Role.viewer)
    capacity = client.get(f"{API}/figures/facilities", headers=viewer)
    assert capacity.status_code == 200, capacity.text
    landfill = next(f for f in capacity.json()["data"] if f["facility_id"] == s.facility.id)
    assert (landfill["used_m3"], landfill["remaining_m3"]) == (15, 10_000 - 15)
    issued_at = datetime.fromisoformat(manifest["issued_at"]).replace(tzinfo=UTC)
    day = {"date_from": issued_at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()}
    per_day = client.get(f"{API}/figures/manifests", params=day, headers=viewer).json()
    assert [d["issued"] for d in per_day["data"]] == [1]
    share = client.get(f"{API}/figures/recycling", params=day, headers=viewer).json()
    assert (share["received_m3"], share["recycled_m3"], share["share"]) == (15, 0, 0)
