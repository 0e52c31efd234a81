"""Load manifests.csv and receipts.csv of a bundle (as cdw.scenario writes them), all or none.

These are historical records: they are stored as issued and departed (with the gate check
not re-run, so that reconciliation can find what the gate should have refused), then each
receipt is confirmed through the receipt service (capacity counted, history written).

A manifest's ``site`` and ``facility`` and a receipt's ``facility`` are a code or a name only
one record bears (``cdw.registry.refs``); they must be the permit's site and facility (a
receipt: its manifest's facility).
"""

from __future__ import annotations

import csv
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session, col, select

from cdw.audit.log import audit_many
from cdw.bounds import LoadM3, Moment
from cdw.errors import InputFileError, Problem, ValidationFailed
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import DisposalMethod, Manifest
from cdw.manifests.services import ReceiptIn, change_records, confirm_receipt
from cdw.permits.models import Permit
from cdw.permits.services import record_use
from cdw.registry.models import ConstructionSite, DisposalFacility, Driver, Haulier, Vehicle
from cdw.registry.refs import try_resolve
from cdw.registry.services import get_vehicle_by_plate

ACTOR = "import"
_MOMENT = TypeAdapter(Moment)
_LOAD_M3 = TypeAdapter(LoadM3)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"无法读取 {path}：{exc}", f"cannot read {path}: {exc}") from exc


def _place_problems(
    session: Session,
    row: dict[str, str],
    field: str,
    model: type,
    expected_id: int,
    whose: tuple[str, str],
) -> list[Problem]:
    """The reference in ``row[field]`` (if the column is there): known, unique, and the
    record ``expected_id`` that ``whose`` (the permit, the manifest) names. The expected
    record's own code or name always resolves, even where other records share that name."""
    ref = row.get(field)
    if ref is None:
        return []
    expected = session.get(model, expected_id)
    if ref.strip() in (expected.code, expected.name):
        return []
    record, problems = try_resolve(session, model, ref, field=field)
    if record is None or record.id == expected_id:
        return problems
    return [
        Problem(
            field,
            f"「{ref}」（{record.code}）不是{whose[0]}所载的 {expected.code}「{expected.name}」",
            f"'{ref}' ({record.code}) is not {expected.code} '{expected.name}' named by {whose[1]}",
        )
    ]


def _store_departed(session: Session, staged: list[Manifest]) -> None:
    """Insert the staged manifests (in their order: the ids one at a time would give), each
    with its history (issued, then departed) and their audit entries in that order, written
    in bulk, and each permit's use raised by its manifests' declared volume."""
    session.add_all(staged)
    session.flush()
    events, changes = [], []
    used: dict[str, float] = {}  # per permit: its manifests' declared m³
    issued, departed = ManifestState.issued, ManifestState.departed
    for m in staged:
        steps = ((None, issued, m.issued_at), (issued, departed, m.departed_at))
        for before, after, at in steps:
            event, change = change_records(m, before, after, ACTOR, at, None)
            events.append(event)
            changes.append(change)
        used[m.permit_no] = used.get(m.permit_no, 0.0) + (m.declared_volume_m3 or 0.0)
    session.add_all(events)
    audit_many(session, actor=ACTOR, changes=changes)
    for permit_no, m3 in used.items():
        record_use(session, permit_no, m3)


def load_manifests(session: Session, folder: Path) -> tuple[int, int]:
    """Store the bundle's manifests and receipts; returns (manifests, receipts)."""
    manifests_csv, receipts_csv = Path(folder) / "manifests.csv", Path(folder) / "receipts.csv"
    problems: list[Problem] = []
    staged: list[Manifest] = []

    # A city's day names each permit, vehicle, driver, site and facility many times: each is
    # read once (and held, so that the session's identity map keeps it for _place_problems).
    @cache
    def latest_permit(permit_no: str) -> Permit | None:
        newest = select(Permit).where(Permit.permit_no == permit_no)
        return session.exec(newest.order_by(col(Permit.version).desc())).first()

    @cache
    def vehicle_of(plate: str) -> Vehicle | None:
        return get_vehicle_by_plate(session, plate)

    @cache
    def driver_of(licence_no: str) -> Driver | None:
        return session.exec(select(Driver).where(Driver.licence_no == licence_no)).first()

    @cache
    def record(model: type, record_id: int) -> Any:
        return session.get(model, record_id)

    for line, row in enumerate(_rows(manifests_csv), start=2):
        try:
            permit = latest_permit(row["permit_no"])
            vehicle = vehicle_of(row["plate"])
            driver = driver_of(row["driver_licence_no"].upper())
            issued = _MOMENT.validate_python(row["issued_at"]).astimezone(UTC)
            departed = _MOMENT.validate_python(row["departed_at"]).astimezone(UTC)
            volume = _LOAD_M3.validate_python(row["declared_volume_m3"])
        except (KeyError, ValueError) as exc:
            problems.append(
                Problem("row", f"格式错误：{exc}", f"malformed: {exc}", line, str(manifests_csv))
            )
            continue
        missing = [(f, v) for f, v, obj in (("permit_no", row["permit_no"], permit),
                                            ("plate", row["plate"], vehicle)) if obj is None]  # fmt: skip
        for f, v in missing:
            problems.append(
                Problem(f, f"未登记：{v}", f"not registered: {v}", line, str(manifests_csv))
            )
        if missing:
            continue
        whose = (f"核准 {permit.permit_no} ", f"permit {permit.permit_no}")
        places = _place_problems(
            session, row, "site", ConstructionSite, permit.site_id, whose
        ) + _place_problems(session, row, "facility", DisposalFacility, permit.facility_id, whose)
        for p in places:
            p.line, p.source = line, str(manifests_csv)
        problems += places
        if places:
            continue
        site = record(ConstructionSite, permit.site_id)
        facility = record(DisposalFacility, permit.facility_id)
        haulier = record(Haulier, vehicle.haulier_id)
        staged.append(
            Manifest(
                manifest_no=row["manifest_no"], permit_id=permit.id, permit_no=permit.permit_no,
                site_id=site.id, site_name=site.name, site_address=site.address,
                facility_id=facility.id, facility_name=facility.name,
                disposal_method=DisposalMethod(str(facility.kind)), category=row["category"],
                declared_volume_m3=volume, haulier_id=haulier.id, haulier_name=haulier.name,
                vehicle_id=vehicle.id, plate=vehicle.plate,
                driver_id=driver.id if driver else None, driver_name=driver.name if driver else "",
                route=permit.routes, state=ManifestState.departed, issued_by=ACTOR,
                issued_at=issued, departed_at=departed,
            )
        )  # fmt: skip
    if problems:
        raise ValidationFailed(problems, zh="联单文件有错误，未导入", en="manifests not imported")
    _store_departed(session, staged)
    by_no = {m.manifest_no: m for m in staged}
    receipts = 0
    for line, row in enumerate(_rows(receipts_csv), start=2):
        manifest = by_no.get(row.get("manifest_no", ""))
        if manifest is None:
            problems.append(Problem("manifest_no", f"联单不存在：{row.get('manifest_no')}",
                                    f"unknown manifest: {row.get('manifest_no')}", line,
                                    str(receipts_csv)))  # fmt: skip
            continue
        places = _place_problems(
            session, row, "facility", DisposalFacility, manifest.facility_id,
            (f"联单 {manifest.manifest_no} ", f"manifest {manifest.manifest_no}"),
        )  # fmt: skip
        for p in places:
            p.line, p.source = line, str(receipts_csv)
        problems += places
        if places:
            continue
        try:
            data = ReceiptIn(
                outcome=row["result"],
                received_volume_m3=row["received_volume_m3"],
                weighbridge_t=row.get("weighbridge_t") or None,
                received_at=row["received_at"],
            )
        except (KeyError, ValidationError) as exc:
            problems.append(
                Problem("row", f"格式错误：{exc}", f"malformed: {exc}", line, str(receipts_csv))
            )
            continue
        confirm_receipt(session, manifest.id, data, ACTOR)
        receipts += 1
    if problems:
        session.rollback()
        raise ValidationFailed(problems, zh="收货文件有错误，未导入", en="receipts not imported")
    session.flush()
    return len(staged), receipts
