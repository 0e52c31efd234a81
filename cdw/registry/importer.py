"""Bulk import of registry records from CSV, JSON or Excel (.xlsx) files.

A file holds one kind of record (sites, facilities, hauliers, vehicles, drivers, depots,
zones). CSV and the first sheet of an .xlsx workbook have a header row of field names,
geofences as GeoJSON text and waste categories separated by ``;`` (the line of an .xlsx row
is its row number); JSON is a list of objects. Vehicles, drivers and depots name their
haulier by ``haulier_credit_code``. Sites, facilities, depots and zones may carry a
``code``; a row without one gets a generated code (``cdw.registry.models``), and rows that
give a code are stored first so that a generated code never takes a code the file gives.
Names may repeat.

Every row is checked before anything is written: field rules, the haulier reference, and
duplicates within the file and against the database (for a site, facility, depot or zone
without a code: the same name with the same geofence). By default the import is
all-or-nothing: one bad row raises :class:`~cdw.errors.ValidationFailed` listing every bad
row by line and field, and nothing is written. With ``skip_invalid`` the good rows are imported and each
problem of the rejected rows is written to a CSV file (line, field, zh, en, raw).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, SQLModel, col, select

from cdw.auth.models import User
from cdw.errors import InputFileError, Problem, ValidationFailed
from cdw.exports import safe_row
from cdw.registry import services
from cdw.registry.models import (
    CODE_PREFIX,
    ConstructionSite,
    ConstructionSiteCreate,
    Depot,
    DepotCreate,
    DisposalFacility,
    DisposalFacilityCreate,
    Driver,
    DriverCreate,
    Haulier,
    HaulierCreate,
    RestrictedZone,
    RestrictedZoneCreate,
    Vehicle,
    VehicleCreate,
)
from cdw.registry.validators.identifiers import (
    validate_code,
    validate_credit_code,
    validate_terminal_id,
)
from cdw.registry.validators.plates import validate_plate
from cdw.registry.validators.pydantic_errors import problems_from_validation_error

HAULIER_REF = "haulier_credit_code"
LOOKUP_BATCH = 1_000  # values per SELECT … IN of the checks against stored records


@dataclass(frozen=True)
class ImportKind:
    model: type[SQLModel]
    create: type[SQLModel]

    @property
    def refers_to_haulier(self) -> bool:
        return "haulier_id" in self.create.model_fields

    @property
    def columns(self) -> list[str]:
        """The fields a file may carry (a haulier is named by its credit code, not its id)."""
        names = [n for n in self.create.model_fields if n != "haulier_id"]
        return [HAULIER_REF, *names] if self.refers_to_haulier else names


KINDS: dict[str, ImportKind] = {
    "sites": ImportKind(ConstructionSite, ConstructionSiteCreate),
    "facilities": ImportKind(DisposalFacility, DisposalFacilityCreate),
    "hauliers": ImportKind(Haulier, HaulierCreate),
    "vehicles": ImportKind(Vehicle, VehicleCreate),
    "drivers": ImportKind(Driver, DriverCreate),
    "depots": ImportKind(Depot, DepotCreate),
    "zones": ImportKind(RestrictedZone, RestrictedZoneCreate),
}


@dataclass
class ImportReport:
    kind: str
    source: str
    read: int = 0
    imported: int = 0
    rejected: int = 0
    ids: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rejects_path: Path | None = None


@dataclass
class _Row:
    line: int
    raw: dict[str, Any]
    data: SQLModel | None = None
    problems: list[Problem] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------------


def _read_csv(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(first line of the record, {column: value}) for each non-empty record; blanks omitted."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}：不是 UTF-8 编码（第 {exc.start} 字节）",
            f"{path}: not UTF-8 encoded (byte {exc.start})",
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    last_line = 0
    for record in reader:
        first_line, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [h.strip() for h in record]
            _check_header(path, header, columns, first_line)
            continue
        row: dict[str, Any] = {
            name: cell.strip() for name, cell in zip(header, record, strict=False) if cell.strip()
        }
        if len(record) > len(header):
            row["__extra__"] = record[len(header) :]
        yield first_line, row
    if header is None:
        raise InputFileError(f"{path}：文件为空", f"{path}: the file is empty")


def _check_header(path: Path, header: list[str], columns: list[str], line: int) -> None:
    dupes = sorted({h for h in header if header.count(h) > 1})
    unknown = [h for h in header if h not in columns]
    if dupes or unknown:
        what_zh = "；".join(
            part
            for part in (
                f"重复的列：{', '.join(dupes)}" if dupes else "",
                f"未知的列：{', '.join(unknown)}" if unknown else "",
            )
            if part
        )
        what_en = "; ".join(
            part
            for part in (
                f"duplicate columns: {', '.join(dupes)}" if dupes else "",
                f"unknown columns: {', '.join(unknown)}" if unknown else "",
            )
            if part
        )
        raise InputFileError(
            f"{path} 第 {line} 行表头有误：{what_zh}。可用的列：{', '.join(columns)}",
            f"{path} line {line}: bad header: {what_en}. Allowed columns: {', '.join(columns)}",
        )


def json_item_lines(text: str) -> list[int]:
    """The line on which each element of the JSON list ``text`` starts; one pass over the
    text (the lines are counted from one element to the next, not from the start again)."""
    decoder = json.JSONDecoder()
    lines: list[int] = []
    pos = text.index("[") + 1
    line, counted = 1, 0  # the line of text[counted]
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return lines
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)


def _read_json(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line where the object starts, object without nulls) for each element of the list."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}：不是 UTF-8 编码（第 {exc.start} 字节）",
            f"{path}: not UTF-8 encoded (byte {exc.start})",
        ) from None
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{path} 第 {exc.lineno} 行：JSON 格式错误：{exc.msg}",
            f"{path} line {exc.lineno}: invalid JSON: {exc.msg}",
        ) from None
    if not isinstance(items, list):
        raise InputFileError(
            f"{path}：JSON 文件应为对象列表", f"{path}: the JSON file must be a list of objects"
        )
    for line, item in zip(json_item_lines(text), items, strict=True):
        if not isinstance(item, dict):
            yield line, {"__not_object__": item}
            continue
        unknown = [k for k in item if k not in columns]
        row = {k: v for k, v in item.items() if v is not None and k not in unknown}
        if unknown:
            row["__unknown__"] = unknown
        yield line, row


def _cell_text(value: Any) -> str:
    """An Excel cell as the text a CSV file would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, {column: text}) for each non-empty row of the first sheet; blanks omitted."""
    # here: the command line and API start without openpyxl (~175 modules)
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputFileError(
            f"{path}：不是有效的 Excel（.xlsx）文件：{exc}",
            f"{path}: not a valid Excel (.xlsx) workbook: {exc}",
        ) from None
    try:
        header: list[str] | None = None
        for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), 1):
            cells = [_cell_text(v).strip() for v in values]
            if not any(cells):
                continue
            if header is None:
                header = cells[: max(i for i, c in enumerate(cells) if c) + 1]
                _check_header(path, header, columns, number)
                continue
            row: dict[str, Any] = {
                name: cell for name, cell in zip(header, cells, strict=False) if cell
            }
            extra = [cell for cell in cells[len(header) :] if cell]
            if extra:
                row["__extra__"] = extra
            yield number, row
    finally:
        book.close()
    if header is None:
        raise InputFileError(f"{path}：文件为空", f"{path}: the file is empty")


def read_rows(path: Path, kind: str) -> list[tuple[int, dict[str, Any]]]:
    """The records of a CSV, JSON or .xlsx file, each with the line it starts on."""
    if kind not in KINDS:
        raise InputFileError(
            f"未知的登记类型：{kind}（可选：{', '.join(KINDS)}）",
            f"unknown registry kind: {kind} (one of {', '.join(KINDS)})",
        )
    if not path.is_file():
        raise InputFileError(f"文件不存在：{path}", f"file not found: {path}")
    suffix = path.suffix.lower()
    columns = KINDS[kind].columns
    if suffix == ".csv":
        return list(_read_csv(path, columns))
    if suffix == ".json":
        return list(_read_json(path, columns))
    if suffix == ".xlsx":
        return list(_read_xlsx(path, columns))
    raise InputFileError(
        f"{path}：仅支持 .csv、.json 和 .xlsx 文件",
        f"{path}: only .csv, .json and .xlsx files are supported",
    )


# --- checking -----------------------------------------------------------------------------------


def _shape_problems(raw: dict[str, Any], columns: list[str]) -> list[Problem]:
    problems = []
    if "__extra__" in raw:
        problems.append(
            Problem(
                "*",
                f"本行比表头多 {len(raw['__extra__'])} 列",
                f"the row has {len(raw['__extra__'])} more cells than the header",
            )
        )
    if "__not_object__" in raw:
        problems.append(Problem("*", "列表元素应为对象", "list element must be an object"))
    for name in raw.get("__unknown__", []):
        problems.append(
            Problem(
                name,
                f"未知的字段；可用：{', '.join(columns)}",
                f"unknown field; allowed: {', '.join(columns)}",
            )
        )
    return problems


def _credit_code(raw: dict[str, Any]) -> str | None:
    """The row's haulier credit code, normalised; None when absent or invalid."""
    code = raw.get(HAULIER_REF)
    if code is None:
        return None
    try:
        return validate_credit_code(str(code), field=HAULIER_REF)
    except ValidationFailed:
        return None


def _resolve_haulier(
    raw: dict[str, Any], values: dict[str, Any], hauliers: dict[str, int]
) -> list[Problem]:
    code = raw.get(HAULIER_REF)
    if code is None:
        return [Problem(HAULIER_REF, "必填字段缺失", "Field required")]
    try:
        norm = validate_credit_code(str(code), field=HAULIER_REF)
    except ValidationFailed as exc:
        return exc.problems
    if norm not in hauliers:
        return [
            Problem(
                HAULIER_REF,
                f"运输企业未登记：{norm}",
                f"no haulier is registered with credit code {norm}",
            )
        ]
    values["haulier_id"] = hauliers[norm]
    return []


def _stored(session: Session, model: Any, name: str, values: set[Any]) -> dict[Any, int]:
    """The id of the stored ``model`` record holding each of ``values`` in field ``name``
    (one query per ``LOOKUP_BATCH`` values, not one per row)."""
    column, ordered = col(getattr(model, name)), sorted(values)
    found: dict[Any, int] = {}
    for first in range(0, len(ordered), LOOKUP_BATCH):
        batch = ordered[first : first + LOOKUP_BATCH]
        stmt = select(column, model.id).where(column.in_(batch)).order_by(col(model.id).desc())
        found.update(session.exec(stmt).all())  # the lowest id last: it wins
    return found


def _check_row(spec: ImportKind, row: _Row, hauliers: dict[str, int]) -> None:
    row.problems = _shape_problems(row.raw, spec.columns)
    if "__not_object__" in row.raw:
        return
    values = {k: v for k, v in row.raw.items() if not k.startswith("__") and k != HAULIER_REF}
    if spec.refers_to_haulier:
        row.problems += _resolve_haulier(row.raw, values, hauliers)
        # An unresolved haulier is reported above; a valid stand-in keeps the model quiet on it.
        values.setdefault("haulier_id", 1)
    try:
        row.data = spec.create.model_validate(values)
    except ValidationError as exc:
        row.problems += problems_from_validation_error(exc)


# How each unique field is normalised, to compare rows that failed other checks too.
_UNIQUE_KEY: dict[str, Callable[[str], str]] = {
    "plate": validate_plate,
    "terminal_id": validate_terminal_id,
    "credit_code": validate_credit_code,
    "licence_no": lambda v: v.strip().upper(),
    "code": validate_code,
}


def _unique_value(row: _Row, name: str) -> Any:
    if row.data is not None:
        return getattr(row.data, name)
    raw = row.raw.get(name)
    if raw is None:
        return None
    try:
        return _UNIQUE_KEY[name](str(raw))
    except ValidationFailed:  # already reported by the model check
        return None


def _check_duplicates(session: Session, spec: ImportKind, rows: list[_Row]) -> None:
    """Mark rows whose unique fields repeat an earlier row or a stored record."""
    entity = services.ENTITIES[spec.model]
    for name, label_zh, label_en in entity.unique:
        values = [_unique_value(row, name) for row in rows]
        stored = _stored(session, spec.model, name, {v for v in values if v is not None})
        first_line: dict[Any, int] = {}
        for row, value in zip(rows, values, strict=True):
            if value is None:
                continue
            if value in first_line:
                row.problems.append(
                    Problem(
                        name,
                        f"{label_zh}与第 {first_line[value]} 行重复：{value}",
                        f"{label_en} repeats line {first_line[value]}: {value}",
                    )
                )
                continue
            first_line[value] = row.line
            if value in stored:
                row.problems.append(
                    Problem(
                        name,
                        f"{label_zh}已登记（{entity.zh}编号 {stored[value]}）：{value}",
                        f"{label_en} already registered ({entity.en} {stored[value]}): {value}",
                    )
                )


def _check_uncoded_repeats(session: Session, spec: ImportKind, rows: list[_Row]) -> None:
    """A row without a code that repeats the name and geofence of an earlier row or a stored
    record is the same place given twice (a file imported again), not a second record."""
    if spec.model not in CODE_PREFIX:
        return
    entity = services.ENTITIES[spec.model]
    model: Any = spec.model
    uncoded = [r for r in rows if r.data is not None and r.data.code is None]  # type: ignore[attr-defined]
    names = sorted({r.data.name for r in uncoded})  # type: ignore[union-attr]
    same_name: dict[str, list[Any]] = {}
    for first in range(0, len(names), LOOKUP_BATCH):
        batch = names[first : first + LOOKUP_BATCH]
        for record in session.exec(
            select(model).where(col(model.name).in_(batch)).order_by(col(model.id))
        ):
            same_name.setdefault(record.name, []).append(record)
    first_line: dict[tuple[str, str], int] = {}
    for row in uncoded:
        name, fence = row.data.name, row.data.geofence  # type: ignore[union-attr]
        key = (name, json.dumps(fence, sort_keys=True))
        if key in first_line:
            row.problems.append(
                Problem(
                    "name",
                    f"名称与地理围栏均与第 {first_line[key]} 行相同：{name}（如为另一处，请填写编码）",
                    f"name and geofence repeat line {first_line[key]}: {name} (give a code if "
                    "it is another place)",
                )
            )
            continue
        first_line[key] = row.line
        stored = next((r for r in same_name.get(name, []) if r.geofence == fence), None)
        if stored is not None:
            row.problems.append(
                Problem(
                    "name",
                    f"名称与地理围栏均已登记（{entity.zh} {stored.code}）：{name}"
                    "（如为另一处，请填写编码）",
                    f"name and geofence already registered ({entity.en} {stored.code}): {name} "
                    "(give a code if it is another place)",
                )
            )


def _write_rejects(path: Path, rows: list[_Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "field", "zh", "en", "raw"])
        for row in rows:
            raw = {k: v for k, v in row.raw.items() if not k.startswith("__")}
            for p in row.problems:
                writer.writerow(
                    safe_row([row.line, p.field, p.zh, p.en, json.dumps(raw, ensure_ascii=False)])
                )


# --- import -------------------------------------------------------------------------------------


def import_file(
    session: Session,
    kind: str,
    path: Path,
    *,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    actor: User | str = "import",
) -> ImportReport:
    """Import a CSV or JSON file of ``kind`` records into ``session`` (flushed, not committed).

    All-or-nothing unless ``skip_invalid``; then rejects go to ``rejects_path`` (default
    ``<file>.rejects.csv``), written only when some row is rejected. Each record stored is
    audited as created by ``actor``.
    """
    path = Path(path)
    spec = KINDS.get(kind)
    rows = [_Row(line, raw) for line, raw in read_rows(path, kind)]
    assert spec is not None  # read_rows rejected unknown kinds
    hauliers = (
        _stored(session, Haulier, "credit_code", {c for r in rows if (c := _credit_code(r.raw))})
        if spec.refers_to_haulier
        else {}
    )
    for row in rows:
        _check_row(spec, row, hauliers)
    _check_duplicates(session, spec, rows)
    _check_uncoded_repeats(session, spec, rows)

    source = str(path)
    bad = [row for row in rows if row.problems]
    problems = [Problem(p.field, p.zh, p.en, row.line, source) for row in bad for p in row.problems]
    if bad and not skip_invalid:
        raise ValidationFailed(
            problems,
            zh=f"导入失败：{len(bad)} 行有误，未写入任何记录",
            en=f"import failed: {len(bad)} bad rows, nothing was written",
        )
    report = ImportReport(kind, source, read=len(rows), rejected=len(bad), problems=problems)
    good = [row for row in rows if not row.problems]
    # Records with a code first: a generated code never takes one a later row gives.
    ordered = sorted(good, key=lambda r: getattr(r.data, "code", "") is None)
    ids = services.create_checked(session, spec.model, [r.data for r in ordered], actor)  # type: ignore[misc]
    stored = {id(row): record_id for row, record_id in zip(ordered, ids, strict=True)}
    report.ids = [stored[id(row)] for row in good]
    report.imported = len(report.ids)
    if bad:
        report.rejects_path = rejects_path or path.with_name(path.name + ".rejects.csv")
        _write_rejects(report.rejects_path, bad)
    return report
