"""Every state-changing service covered by issue 13 writes its audit entry in the same
transaction as the change: after the call both are in the session, after a rollback
neither is (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from cdw.audit.log import EXPORT_ENTITY, record_export, verify_chain
from cdw.audit.models import AuditEntry
from cdw.config import Thresholds
from cdw.flags.codes import FlagSource
from cdw.flags.models import FlagRecord
from cdw.flags.store import FLAG_RUN_ENTITY, replace_flags
from cdw.manifests import services as manifests
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import Manifest, Receipt
from cdw.manifests.services import ManifestIssue, ReceiptCorrection, ReceiptIn
from cdw.permits import services as permits
from cdw.permits.models import Permit
from cdw.permits.services import PermitApplication
from cdw.registry.services import Scope
from cdw.tracking.ingest import file_sha256, ingest_file
from cdw.tracking.models import GpsUpload
from cdw.tracking.store import PointStore
from tests.flags.test_flags import flag
from tests.manifests.seed import ROUTE, Seed, seed
from tests.tracking.handbuilt import DAY

NOON = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
OVERRIDES = {"long_stop_min_duration_s": 900.0}


def _count(session: Session, model: type[SQLModel]) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _departed(session: Session, s: Seed) -> Manifest:
    m = _issue(session, s)
    manifests.change_state(session, m, ManifestState.departed, "gate")
    return m


def _issue(session: Session, s: Seed) -> Manifest:
    data = ManifestIssue(permit_id=s.permit.id, plate="粤A12345", category="工程渣土",
                         declared_volume_m3=15, driver_id=s.driver.id)  # fmt: skip
    return manifests.issue(session, data, "gate", Scope(False, site_id=s.site.id), NOON)


def _received(session: Session, s: Seed) -> Manifest:
    m = _departed(session, s)
    manifests.confirm_receipt(session, m.id, ReceiptIn(received_volume_m3=14.5), "op")
    return m


def _apply(session: Session, s: Seed, _: Path) -> tuple[str, str, dict]:
    permit = permits.apply(
        session,
        PermitApplication(site_id=s.site.id, facility_id=s.facility.id, categories=["工程渣土"],
                          volume_m3=100, valid_from=date(2026, 6, 1), valid_to=date(2026, 6, 30),
                          routes=ROUTE, vehicles=["粤A12345"], threshold_overrides=OVERRIDES),
        "officer",
    )  # fmt: skip
    return "permit", "submit", {"id": permit.id}


def _issue_step(session: Session, s: Seed, _: Path) -> tuple[str, str, dict]:
    m = _issue(session, s)
    return "manifest", "state:issued", {"id": m.id}


def _confirm(session: Session, s: Seed, _: Path) -> tuple[str, str, dict]:
    m = _departed(session, s)
    session.commit()
    receipt = ReceiptIn(received_volume_m3=14.5, weighbridge_t=21)
    manifests.confirm_receipt(session, m.id, receipt, "op")
    return "manifest", "receipt:confirm", {"id": m.id}


def _correct(session: Session, s: Seed, _: Path) -> tuple[str, str, dict]:
    m = _received(session, s)
    session.commit()
    fix = ReceiptCorrection(received_volume_m3=12.0, correction_reason="称重复核 / reweighed")
    manifests.correct_receipt(session, m.id, fix, "op")
    return "manifest", "receipt:correct", {"id": m.id}


def _flag_run(session: Session, s: Seed, _: Path) -> tuple[str, str, dict]:
    replace_flags(session, FlagSource.engine, DAY, DAY, [flag()], UTC, actor="officer")
    return FLAG_RUN_ENTITY, "replace", {}


def _upload(session: Session, s: Seed, tmp: Path) -> tuple[str, str, dict]:
    gps = tmp / "track.csv"
    gps.write_text(
        "plate,ts,lon,lat\n粤A12345,2026-06-01T04:00:00Z,113.58,23.55\n"
        "粤A12345,2026-06-01T04:00:10Z,113.581,23.55\n",
        encoding="utf-8",
    )
    store = PointStore(tmp / "points", timezone="Asia/Shanghai")
    report = ingest_file(gps, store, thresholds=Thresholds(), now=NOON, session=session,
                         uploader="uploader1", channel="api", file_name="track.csv")  # fmt: skip
    return "gps_upload", "upload", {"id": report.upload_id, "sha256": file_sha256(gps)}


def _export(session: Session, s: Seed, _: Path) -> tuple[str, str, dict]:
    record_export(session, actor="viewer", what="control_list:hauliers", fmt="xlsx", rows=3)
    return EXPORT_ENTITY, "export:xlsx", {}


STEPS: dict[str, tuple[Callable, type[SQLModel] | None]] = {
    "permit apply": (_apply, Permit),
    "manifest issue": (_issue_step, Manifest),
    "receipt confirm": (_confirm, Receipt),
    "receipt correct": (_correct, Receipt),
    "flags of a run": (_flag_run, FlagRecord),
    "gps upload": (_upload, GpsUpload),
    "export": (_export, None),
}


@pytest.mark.parametrize("step", STEPS)
def test_the_change_and_its_entry_commit_or_roll_back_together(session, tmp_path, step):
    run, table = STEPS[step]
    s = seed(session)
    session.commit()
    run(session, s, tmp_path)  # commits its own preparation, then changes and audits
    entries, rows = _count(session, AuditEntry), table and _count(session, table)
    session.rollback()
    assert _count(session, AuditEntry) < entries  # the entries went with the rollback…
    if table is not None:
        assert _count(session, table) < rows  # …and so did the change

    entity, action, facts = run(session, s, tmp_path)  # …and again, committed
    entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.entity, entry.action) == (entity, action)
    if "id" in facts:
        assert entry.entity_id == str(facts["id"])
    session.commit()
    assert verify_chain(session) == []

    if step == "permit apply":
        assert entry.data["terms"]["threshold_overrides"] == OVERRIDES
    if step == "manifest issue":
        assert entry.data["declared_volume_m3"] == 15 and entry.data["plate"] == "粤A12345"
    if step == "receipt correct":
        assert (entry.data["received_volume_m3"], entry.data["previous_counted_m3"]) == (
            12.0,
            14.5,
        )
        assert entry.reason == "称重复核 / reweighed"
    if step == "gps upload":
        upload = session.get(GpsUpload, facts["id"])
        assert (upload.uploader, upload.channel, upload.file_name) == (
            "uploader1",
            "api",
            "track.csv",
        )
        assert upload.sha256 == facts["sha256"] == entry.data["sha256"]
        assert (upload.rows_read, upload.rows_rejected, upload.points_new) == (2, 0, 0)
