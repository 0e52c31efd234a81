"""Issuing at the gate, receipts (once only, also under concurrency), corrections, capacity."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdw.errors import Conflict, NotFound
from cdw.manifests import services
from cdw.manifests.gate import GateRefused
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import Manifest, Receipt
from cdw.manifests.services import ManifestIssue, ReceiptCorrection, ReceiptIn
from cdw.registry.models import DisposalFacility
from cdw.registry.services import Scope
from tests.manifests.seed import seed

NOON = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Guangzhou


def issue(session, s, **kw) -> Manifest:
    data = dict(permit_id=s.permit.id, plate="粤A12345", category="工程渣土",
                declared_volume_m3=15, driver_id=s.driver.id)  # fmt: skip
    return services.issue(
        session,
        ManifestIssue.model_validate({**data, **kw}),
        "gate",
        Scope(False, site_id=s.site.id),
        NOON,
    )


def test_issue_copies_the_manifest_fields(session: Session):
    s = seed(session)
    m = issue(session, s)
    assert m.manifest_no == f"LD20260601{s.site.id:04d}0001"
    assert (m.site_address, m.facility_name, m.disposal_method, m.driver_name) == (
        "从化区街口街1号", "测试消纳场", "landfill", "张三",
    )  # fmt: skip
    assert (m.permit_no, m.plate, m.haulier_name, m.state) == (
        "HZ-2026-001", "粤A12345", "测试运输公司", "issued",
    )  # fmt: skip
    assert issue(session, s).manifest_no.endswith("0002")
    assert [e.to_state for e in services.history(session, m.id)] == ["issued"]


def test_gate_refusal_issues_nothing(session: Session):
    s = seed(session)
    with pytest.raises(GateRefused) as err:
        issue(session, s, plate="粤A12345", declared_volume_m3=19)
    assert [p.field for p in err.value.problems] == ["declared_volume_m3"]
    with pytest.raises(GateRefused) as err:  # off the permit: that alone, nothing about it
        issue(session, s, plate="粤A54321", declared_volume_m3=19)
    assert [p.field for p in err.value.problems] == ["plate"]
    assert session.exec(select(Manifest)).all() == []
    with pytest.raises(NotFound):  # another site's dispatcher cannot use the permit
        services.issue(session, ManifestIssue(permit_id=s.permit.id, plate="粤A12345",
                       category="excavated_soil", declared_volume_m3=1), "gate",
                       Scope(False, site_id=s.site.id + 1), NOON)  # fmt: skip


def test_receipt_once_then_409_and_capacity_counted_once(session: Session):
    s = seed(session)
    m = issue(session, s)
    with pytest.raises(Conflict) as err:  # not departed yet
        services.confirm_receipt(session, m.id, ReceiptIn(received_volume_m3=14.5), "op")
    assert err.value.extra["current_state"] == "issued"
    services.change_state(session, m, ManifestState.departed, "gate")
    scope = Scope(False, facility_id=s.facility.id)
    assert [x.id for x in services.expected_arrivals(session, s.facility.id)] == [m.id]
    with pytest.raises(NotFound):  # only the receiving facility
        services.confirm_receipt(
            session,
            m.id,
            ReceiptIn(received_volume_m3=1),
            "op",
            Scope(False, facility_id=s.recycler.id),
        )
    services.confirm_receipt(
        session, m.id, ReceiptIn(received_volume_m3=14.5, weighbridge_t=21), "op", scope
    )
    session.commit()
    assert m.state == ManifestState.received
    assert [e.to_state for e in services.history(session, m.id)] == [
        "issued", "departed", "arrived", "received",
    ]  # fmt: skip
    with pytest.raises(Conflict) as err:
        services.confirm_receipt(session, m.id, ReceiptIn(received_volume_m3=14.5), "op", scope)
    assert "已收货" in err.value.zh
    session.rollback()
    session.refresh(s.facility)
    assert s.facility.used_m3 == 14.5
    assert services.expected_arrivals(session, s.facility.id) == []


def test_correction_is_a_new_version_and_moves_capacity_by_the_difference(session: Session):
    s = seed(session)
    m = issue(session, s)
    services.change_state(session, m, ManifestState.departed, "gate")
    services.confirm_receipt(session, m.id, ReceiptIn(received_volume_m3=14.5), "op")
    services.correct_receipt(
        session, m.id,
        ReceiptCorrection(outcome="partially_rejected", received_volume_m3=10,
                          rejected_volume_m3=4.5, reason="混有生活垃圾",
                          correction_reason="复核地磅"),
        "op2",
    )  # fmt: skip
    session.commit()
    versions = services.receipts_of(session, m.id)
    assert [(r.version, r.received_volume_m3, r.recorded_by) for r in versions] == [
        (1, 14.5, "op"), (2, 10, "op2"),
    ]  # fmt: skip
    assert versions[1].correction_reason == "复核地磅"
    assert m.state == ManifestState.partially_rejected
    session.refresh(s.facility)
    assert s.facility.used_m3 == 10


def test_rejection_needs_a_reason():
    with pytest.raises(ValueError, match="reason"):
        ReceiptIn(outcome="rejected")
    assert ReceiptIn(outcome="rejected", reason="超标").received_volume_m3 is None


def test_two_operators_at_once_one_receipt(engine: Engine):
    with Session(engine) as session:
        s = seed(session)
        m = issue(session, s)
        services.change_state(session, m, ManifestState.departed, "gate")
        session.commit()
        manifest_id, facility_id = m.id, s.facility.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def operator(name: str) -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                services.confirm_receipt(
                    session, manifest_id, ReceiptIn(received_volume_m3=15), name
                )
                session.commit()
                outcomes.append("ok")
            except Conflict:
                session.rollback()
                outcomes.append("409")

    threads = [threading.Thread(target=operator, args=(f"op{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "ok"]
    with Session(engine) as session:
        assert len(session.exec(select(Receipt)).all()) == 1
        assert session.get(DisposalFacility, facility_id).used_m3 == 15


def test_permit_keeps_the_volume_its_manifests_declare(session: Session):
    """The permit's ledger: an issued manifest adds its m³, a void one gives them back; the
    gate check counts what is left (a load over the remainder is refused)."""
    s = seed(session)
    first = issue(session, s, declared_volume_m3=15)
    issue(session, s, declared_volume_m3=12.5)
    session.refresh(s.permit)
    assert s.permit.used_m3 == 27.5
    services.change_state(session, first, ManifestState.void, "officer", "开错单 / issued in error")
    session.refresh(s.permit)
    assert s.permit.used_m3 == 12.5
    assert services.public(session, first).state == "void"


def test_manifests_issued_at_one_site_at_once_all_get_their_numbers(engine: Engine):
    """Twelve dispatchers' requests at the same moment: each is issued, numbers in sequence,
    the permit's ledger counts every one (no 409 "retry")."""
    with Session(engine) as session:
        s = seed(session)
        session.commit()
        permit_id, site_id, driver_id = s.permit.id, s.site.id, s.driver.id
    barrier = threading.Barrier(12)
    numbers: list[str] = []
    refused: list[Exception] = []

    def dispatcher() -> None:
        data = ManifestIssue(permit_id=permit_id, plate="粤A12345", category="工程渣土",
                             declared_volume_m3=10, driver_id=driver_id)  # fmt: skip
        with Session(engine) as session:
            barrier.wait()
            try:
                m = services.issue(session, data, "gate", Scope(False, site_id=site_id), NOON)
                session.commit()
                numbers.append(m.manifest_no)
            except Exception as exc:  # noqa: BLE001 - the test names what went wrong
                session.rollback()
                refused.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert refused == []
    assert sorted(numbers) == [f"LD20260601{site_id:04d}{n:04d}" for n in range(1, 13)]
    with Session(engine) as session:
        assert session.get(type(s.permit), permit_id).used_m3 == 120
