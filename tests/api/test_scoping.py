"""Who may void which manifest, what a void does to the flags raised on it, and what the
gate check tells a dispatcher about vehicles outside its permits (issue 13, findings 11 and
the gate-check leak)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from cdw.audit.models import AuditEntry
from cdw.auth.models import BINDING_OF_ROLE, Role
from cdw.config import get_settings
from cdw.enforcement.models import FlagReview, ReviewStatus
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flows.day import reconcile_days
from cdw.manifests import services
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import Manifest
from cdw.manifests.services import ManifestIssue
from cdw.registry.categories import HaulierStatus
from cdw.registry.models import Haulier, Vehicle
from cdw.registry.services import Scope
from cdw.tracking.store import PointStore
from tests.manifests.seed import seed

API = "/api/v1"
NOON = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Guangzhou
DAY = NOON.date()
S = ManifestState


def _issue(session: Session, s) -> Manifest:
    data = {"permit_id": s.permit.id, "plate": "粤A12345", "category": "工程渣土",
            "declared_volume_m3": 15}  # fmt: skip
    return services.issue(
        session, ManifestIssue.model_validate(data), "gate", Scope(False, site_id=s.site.id), NOON
    )


def _headers(auth_headers, role: Role, s) -> dict[str, str]:
    own = {"site_id": s.site.id, "facility_id": s.facility.id, "haulier_id": s.haulier.id}
    binding = BINDING_OF_ROLE.get(role)
    return auth_headers(role, **({binding: own[binding]} if binding else {}))


def _in_state(session: Session, s, state: ManifestState) -> Manifest:
    manifest = _issue(session, s)
    session.execute(update(Manifest).where(col(Manifest.id) == manifest.id).values(state=state))
    session.commit()
    return manifest


# Every role × the states a void starts from: who may void (200), who is refused (403).
OFFICERS = {Role.admin, Role.permit_officer, Role.enforcement_officer}
VOID = {
    S.issued: OFFICERS | {Role.site_dispatcher},  # not yet left the site
    S.departed: OFFICERS,
    S.overdue: OFFICERS,
    S.discrepancy: OFFICERS,
}
CASES = [(state, role) for state in VOID for role in Role]


@pytest.mark.parametrize(("state", "role"), CASES, ids=[f"{s}-{r}" for s, r in CASES])
def test_void_by_role_and_state(client, auth_headers, session, state, role):
    s = seed(session)
    manifest = _in_state(session, s, state)
    resp = client.post(
        f"{API}/manifests/{manifest.id}/void",
        json={"reason": "开错单"},
        headers=_headers(auth_headers, role, s),
    )
    if role in VOID[state]:
        assert resp.status_code == 200, resp.text
        assert resp.json()["state"] == "void"
        assert resp.json()["history"][-1]["reason"] == "开错单"
    else:
        assert resp.status_code == 403, (role, state, resp.text)
        session.expire_all()
        assert session.get(Manifest, manifest.id).state == state


def test_void_needs_a_reason(client, auth_headers, session):
    s = seed(session)
    manifest = _in_state(session, s, S.overdue)
    officer = auth_headers(Role.enforcement_officer)
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        resp = client.post(f"{API}/manifests/{manifest.id}/void", json=body, headers=officer)
        assert resp.status_code == 422, body


@pytest.fixture
def store(tmp_path) -> PointStore:
    return PointStore(tmp_path / "points", timezone="Asia/Shanghai")


def _reconcile(session: Session, store: PointStore) -> None:
    reconcile_days(session, store, DAY, DAY, get_settings(), NOON + timedelta(days=1))


def _no_receipt(session: Session) -> FlagRecord:
    return session.exec(select(FlagRecord).where(FlagRecord.code == FlagCode.NO_RECEIPT)).one()


def test_an_overdue_manifest_voided_keeps_its_flags_on_the_record(
    client, auth_headers, session, store
):
    s = seed(session)
    manifest = _issue(session, s)
    services.change_state(session, manifest, S.departed, "gate", at=NOON)
    session.commit()
    _reconcile(session, store)
    session.expire_all()
    assert session.get(Manifest, manifest.id).state == S.overdue
    flag = _no_receipt(session)
    assert flag.measured["manifest_no"] == manifest.manifest_no

    dispatcher = _headers(auth_headers, Role.site_dispatcher, s)
    url = f"{API}/manifests/{manifest.id}/void"
    assert client.post(url, json={"reason": "x"}, headers=dispatcher).status_code == 403

    officer = auth_headers(Role.enforcement_officer)
    resp = client.post(url, json={"reason": "车辆未出场，系统误开单"}, headers=officer)
    assert resp.status_code == 200, resp.text

    _reconcile(session, store)  # skips the void manifest; the flag must not vanish
    session.expire_all()
    flag = _no_receipt(session)
    assert flag.status == ReviewStatus.dismissed
    (review,) = session.exec(select(FlagReview).where(FlagReview.flag_id == flag.id)).all()
    assert "车辆未出场，系统误开单" in review.reason and manifest.manifest_no in review.reason
    actions = session.exec(
        select(AuditEntry.entity, AuditEntry.action, AuditEntry.reason).where(
            AuditEntry.actor == "enforcement_officer"
        )
    ).all()
    assert ("manifest", "state:void", "车辆未出场，系统误开单") in actions
    assert ("flag", "status:dismissed", review.reason) in actions


def _gate(client, headers, s, plate: str):
    body = {"permit_id": s.permit.id, "plate": plate, "category": "工程渣土",
            "declared_volume_m3": 15}  # fmt: skip
    return client.post(f"{API}/manifests/check", json=body, headers=headers)


def test_gate_check_tells_nothing_about_a_vehicle_off_the_permit(client, auth_headers, session):
    s = seed(session)
    # the gate checks the hours at the moment it is asked: any hour, for a test of scoping
    s.permit.allowed_hours_start, s.permit.allowed_hours_end = "00:00", "24:00"
    session.add(s.permit)
    stranger = Haulier(name="他人运输", credit_code="91440101MA5CYC4X4K", licence_no="X",
                       licence_valid_until=NOON.date(), status=HaulierStatus.suspended)  # fmt: skip
    session.add(stranger)
    session.flush()
    session.add(Vehicle(plate="粤B77777", haulier_id=stranger.id, rated_capacity_m3=1,
                        rated_load_t=1, inspection_valid_until=NOON.date()))  # fmt: skip
    session.commit()
    dispatcher = _headers(auth_headers, Role.site_dispatcher, s)
    unknown = _gate(client, dispatcher, s, "粤B99999").json()
    for plate in ("粤B77777", "粤A54321"):  # suspended elsewhere; same haulier, not on permit
        answer = _gate(client, dispatcher, s, plate).json()
        assert answer == {**unknown, "problems": [
            {**p, "zh": p["zh"].replace("粤B99999", plate), "en": p["en"].replace("粤B99999", plate)}
            for p in unknown["problems"]
        ]}  # fmt: skip
    assert unknown["may_leave"] is False and len(unknown["problems"]) == 1
    assert _gate(client, dispatcher, s, "粤A12345").json() == {"may_leave": True, "problems": []}


def test_viewers_get_no_raw_track(client, auth_headers):
    params = {"start": "2026-06-01T00:00:00+08:00", "end": "2026-06-02T00:00:00+08:00"}
    resp = client.get(f"{API}/tracks/粤A12345", params=params, headers=auth_headers(Role.viewer))
    assert resp.status_code == 403
