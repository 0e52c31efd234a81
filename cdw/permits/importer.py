"""Load approved permits (处置核准) from a JSON file through the permit service, all or nothing.

Each object names its site and facility by registry code (or by a name only one record of
the kind bears: ``cdw.registry.refs``) and its vehicles by plate::

    {"permit_no": "CH-2026-001", "site": "S000001", "facility": "…消纳场",
     "categories": ["excavated_soil"], "volume_m3": 12000,
     "valid_from": "2026-11-01", "valid_to": "2026-12-31",
     "allowed_hours_start": "08:00", "allowed_hours_end": "20:00",
     "routes": {"type": "LineString", "coordinates": [[lon, lat], …]},
     "corridor_half_width_m": 50, "vehicles": ["粤A12345"], "threshold_overrides": {}}

Every entry is applied for and approved by the importing actor (``services.apply`` and
``services.approve``), as an application through the API would be: the same checks, the same
audit log entries. A file records approvals already given, so each is checked as of its
first valid day (``valid_from``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, ValidationError
from sqlmodel import Session

from cdw.auth.models import User
from cdw.errors import InputFileError, Problem, ValidationFailed
from cdw.permits import services
from cdw.registry.importer import json_item_lines
from cdw.registry.validators.pydantic_errors import problems_from_validation_error


class PermitIn(services.PermitApplication):
    """One entry of a permits file: an application that carries its permit number."""

    permit_no: str = Field(min_length=1, max_length=64)


def _read(path: Path) -> tuple[str, list]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        items = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(
            f"无法读取许可文件 {path}：{exc}", f"cannot read permits file {path}: {exc}"
        ) from exc
    if not isinstance(items, list):
        raise InputFileError(
            f"许可文件须为 JSON 数组：{path}", f"permits file must be a JSON array: {path}"
        )
    return text, items


def import_permits(session: Session, path: Path, actor: User | str = "import") -> int:
    """Apply for and approve every permit of ``path`` as ``actor`` (flushed, not committed).
    All or none: raises ValidationFailed listing every bad entry (the line its object starts
    on) and field, every refusal of the service among them; the caller then rolls back."""
    text, items = _read(path)
    source = str(path)
    problems: list[Problem] = []
    seen: set[str] = set()
    for line, raw in zip(json_item_lines(text), items, strict=True):
        try:
            entry = PermitIn.model_validate(raw)
        except ValidationError as exc:
            problems += problems_from_validation_error(exc, line=line, source=source)
            continue
        if entry.permit_no in seen:
            problems.append(
                Problem(
                    "permit_no",
                    f"许可编号重复：{entry.permit_no}",
                    f"duplicate permit number: {entry.permit_no}",
                    line,
                    source,
                )
            )
            continue
        seen.add(entry.permit_no)
        try:
            permit = services.apply(session, entry, actor)
            services.approve(session, permit.id, actor, day=entry.valid_from)
        except ValidationFailed as exc:
            problems += [Problem(p.field, p.zh, p.en, line, source) for p in exc.problems]
    if problems:
        raise ValidationFailed(
            problems,
            zh=f"许可文件 {path} 有错误，未导入任何许可",
            en=f"{path} has errors; no permit was imported",
        )
    return len(items)
