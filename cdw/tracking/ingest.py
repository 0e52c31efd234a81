"""Ingest one GPS file: read → validate → clean → append to the point store.

A file is stored whole or not at all: any rejected row aborts it with
:class:`~cdw.errors.ValidationFailed` listing every problem, unless ``skip_invalid`` is
set, in which case the good rows are stored and the rejects are written beside the input
as ``<name>.rejects.csv`` (``line, field, reason_zh, reason_en, raw``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cdw.config import Thresholds, get_settings
from cdw.errors import ValidationFailed
from cdw.exports import safe_row
from cdw.tracking.clean import clean
from cdw.tracking.io import Reject, detect_format, read_points
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
) -> IngestReport:
    """The report carries the rejects; ``write_rejects_file`` also writes them beside the
    input (an upload answers them instead)."""
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
    appended = store.append(cleaned.points)
    return IngestReport(
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
    )


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    """UTF-8 with BOM so that spreadsheet programs show the Chinese text; written atomically."""
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECTS_COLUMNS)
        for r in rejects:
            writer.writerow(safe_row([r.line, r.field, r.zh, r.en, r.raw]))
    os.replace(temp, path)
