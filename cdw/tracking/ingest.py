"""Ingest one GPS file: read → validate → clean → append to the point store.

A file is stored whole or not at all: any rejected row aborts it with
:class:`~cdw.errors.ValidationFailed` listing every problem, unless ``skip_invalid`` is
set, in which case the good rows are stored and the rejects are written beside the input
as ``<name>.rejects.csv`` (``line, field, reason_zh, reason_en, raw``).

Given a database ``session``, a stored file is recorded: a ``gps_upload`` row (file name,
SHA-256, channel, uploader, rows read/rejected, points new/already stored) whose id the
points carry in the store, and an audit entry, both flushed for the caller to commit right
after the points are stored (the point store is files: it cannot share the database's
transaction; the upload id is random, so a rolled-back record is never confused with
another).
"""

from __future__ import annotations

import csv
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from cdw.audit.log import audit
from cdw.auth.models import User
from cdw.config import Thresholds, get_settings
from cdw.errors import ValidationFailed
from cdw.exports import safe_row
from cdw.tracking.clean import clean
from cdw.tracking.io import Reject, detect_format, read_points
from cdw.tracking.models import GpsUpload
from cdw.tracking.store import PointStore

REJECTS_COLUMNS = ("line", "field", "reason_zh", "reason_en", "raw")


@dataclass
class IngestReport:
    source: str
    format: str
    read: int  # candidate points: valid plus rejected rows
    rejected: int
    dropped: dict[str, int] = field(default_factory=dict)  # by cleaning reason code
    reordered: int = 0
    new: int = 0
    already_stored: int = 0
    rejects_file: Path | None = None
    rejects: list[Reject] = field(default_factory=list)
    upload_id: str | None = None  # the gps_upload row, when recorded

    @property
    def note(self) -> tuple[str, str]:
        """One line in Chinese and English saying what happened to the file."""
        if self.new:
            zh, en = f"新存储 {self.new} 个点", f"stored {self.new} new points"
            if self.already_stored:
                zh += f"，{self.already_stored} 个此前已存储"
                en += f", {self.already_stored} were already stored"
        elif self.already_stored:
            zh = f"全部 {self.already_stored} 个有效点此前已存储，未写入新数据"
            en = f"all {self.already_stored} valid points were already stored; nothing new written"
        else:
            zh, en = "没有可存储的点", "no points to store"
        if self.rejected:
            zh += f"；跳过 {self.rejected} 行无效数据"
            en += f"; skipped {self.rejected} invalid rows"
        if self.rejects_file:
            zh += f"（见 {self.rejects_file}）"
            en += f" (see {self.rejects_file})"
        return zh, en

    def as_dict(self) -> dict[str, Any]:
        zh, en = self.note
        return {
            "source": self.source,
            "format": self.format,
            "read": self.read,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "reordered": self.reordered,
            "new": self.new,
            "already_stored": self.already_stored,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
            "message_zh": zh,
            "message_en": en,
        }


def ingest_file(
    path: str | Path,
    store: PointStore,
    *,
    skip_invalid: bool = False,
    fmt: str | None = None,
    crs: str = "wgs84",
    terminal_to_plate: dict[str, str] | None = None,
    vehicle: str | None = None,
    tz: str | None = None,
    thresholds: Thresholds | None = None,
    now: datetime | None = None,
    write_rejects_file: bool = True,
    session: Session | None = None,
    uploader: User | str = "system",
    channel: str = "cli",
    file_name: str | None = None,
) -> IngestReport:
    """The report carries the rejects; ``write_rejects_file`` also writes them beside the
    input (an upload answers them instead). With ``session``, the upload is recorded and
    audited (``uploader``, ``channel``, ``file_name`` as sent, default the path's name);
    the caller commits."""
    path = Path(path)
    kind = detect_format(path, fmt)
    result = read_points(
        path, fmt=kind, vehicle=vehicle, crs=crs, tz=tz, terminal_to_plate=terminal_to_plate
    )
    rejects_file = None
    if result.rejects:
        if not skip_invalid:
            n = result.rejected_rows
            raise ValidationFailed(
                result.rejects,
                zh=f"文件 {path.name} 有 {n} 行无效，未存储任何数据（可用 --skip-invalid 跳过无效行）",
                en=f"{path.name} has {n} invalid row(s); nothing was stored "
                "(use --skip-invalid to store the valid rows)",
            )
        if write_rejects_file:
            rejects_file = path.parent / f"{path.stem}.rejects.csv"
            write_rejects(rejects_file, result.rejects)
    cleaned = clean(result.points, thresholds or get_settings().thresholds, now)
    upload_id = None if session is None else uuid.uuid4().hex
    appended = store.append(cleaned.points, upload=upload_id)
    report = IngestReport(
        source=str(path),
        format=kind,
        read=result.points.height + result.rejected_rows,
        rejected=result.rejected_rows,
        dropped=cleaned.dropped,
        reordered=cleaned.reordered,
        new=appended.new,
        already_stored=appended.duplicates,
        rejects_file=rejects_file,
        rejects=result.rejects,
        upload_id=upload_id,
    )
    if session is not None:
        record_upload(session, path, report, uploader, channel, file_name or path.name)
    return report


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_upload(
    session: Session,
    path: Path,
    report: IngestReport,
    uploader: User | str,
    channel: str,
    file_name: str,
) -> GpsUpload:
    """The ``gps_upload`` row of a stored file and its audit entry (flushed, not committed)."""
    upload = GpsUpload(
        id=report.upload_id,
        uploader=uploader.username if isinstance(uploader, User) else uploader,
        channel=channel,
        file_name=file_name[:255],
        sha256=file_sha256(path),
        format=report.format,
        rows_read=report.read,
        rows_rejected=report.rejected,
        points_new=report.new,
        points_already_stored=report.already_stored,
    )
    session.add(upload)
    session.flush()
    audit(
        session,
        actor=uploader,
        entity="gps_upload",
        entity_id=upload.id,
        action="upload",
        data=upload.model_dump(exclude={"id", "at", "uploader"}),
    )
    return upload


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    """UTF-8 with BOM so that spreadsheet programs show the Chinese text; written atomically."""
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECTS_COLUMNS)
        for r in rejects:
            writer.writerow(safe_row([r.line, r.field, r.zh, r.en, r.raw]))
    os.replace(temp, path)
