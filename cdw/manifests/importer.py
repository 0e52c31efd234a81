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
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, col, select

from cdw.errors import InputFileError, Problem, ValidationFailed
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import DisposalMethod, Manifest
from cdw.manifests.services import ReceiptIn, _record_change, confirm_receipt
from cdw.permits.models import Permit
from cdw.permits.services import record_use
from cdw.registry.models import ConstructionSite, DisposalFacility, Driver, Haulier
from cdw.registry.refs import try_resolve
from cdw.registry.services import get_vehicle_by_plate

ACTOR = "import"


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


def load_manifests(session: Session, folder: Path) -> tuple[int, int]:
    """Store the bundle's manifests and receipts; returns (manifests, receipts)."""
    manifests_csv, receipts_csv = Path(folder) / "manifests.csv", Path(folder) / "receipts.csv"
    problems: list[Problem] = []
    staged: list[Manifest] = []
    for line, row in enumerate(_rows(manifests_csv), start=2):
        try:
            permit = session.exec(
                select(Permit)
                .where(Permit.permit_no == row["permit_no"])
                .order_by(col(Permit.version).desc())
            ).first()
            vehicle = get_vehicle_by_plate(session, row["plate"])
            driver = session.exec(
                select(Driver).where(Driver.licence_no == row["driver_licence_no"].upper())
            ).first()
            issued = datetime.fromisoformat(row["issued_at"]).astimezone(UTC)
            departed = datetime.fromisoformat(row["departed_at"]).astimezone(UTC)
            volume = float(row["declared_volume_m3"])
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
        site = session.get(ConstructionSite, permit.site_id)
        facility = session.get(DisposalFacility, permit.facility_id)
        haulier = session.get(Haulier, vehicle.haulier_id)
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
    for manifest in staged:
        session.add(manifest)
        session.flush()
        record_use(session, manifest.permit_no, manifest.declared_volume_m3 or 0.0)
        _record_change(
            session, manifest, None, ManifestState.issued, ACTOR, manifest.issued_at, None
        )
        _record_change(
            session, manifest, ManifestState.issued, ManifestState.departed, ACTOR,
            manifest.departed_at, None,
        )  # fmt: skip
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
        data = ReceiptIn(
            outcome=row["result"],
            received_volume_m3=float(row["received_volume_m3"]),
            weighbridge_t=float(row["weighbridge_t"]) if row.get("weighbridge_t") else None,
            received_at=datetime.fromisoformat(row["received_at"]),
        )
        confirm_receipt(session, manifest.id, data, ACTOR)
        receipts += 1
    if problems:
        session.rollback()
        raise ValidationFailed(problems, zh="收货文件有错误，未导入", en="receipts not imported")
    session.flush()
    return len(staged), receipts
