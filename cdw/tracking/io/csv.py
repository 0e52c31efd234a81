"""GPS CSV reader (DESIGN.md §5): ``plate,ts,lon,lat[,speed_kmh,heading,status,alarm]``.

Header names are matched case-insensitively; other columns are ignored. Files may be UTF-8
(with or without BOM) or GB18030/GBK, as Chinese spreadsheet exports often are. Reject
``line`` numbers are physical file lines (the header is line 1), also across quoted
newlines. Blank lines are skipped.
"""

from __future__ import annotations

import csv as std_csv
import io
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from cdw.tracking.io._common import OPTIONAL_COLUMNS, ReadResult, Reject, file_error, finish

REQUIRED = ("plate", "ts", "lon", "lat")


def read_csv(
    path: str | Path, *, tz: str | None = None, crs: str = "wgs84", source: str | None = None
) -> ReadResult:
    path = Path(path)
    source = source or str(path)
    text = _decode(path.read_bytes(), source)
    header_line, _, _ = text.partition("\n")
    header = [h.strip().lower() for h in next(std_csv.reader([header_line]), [])]
    _check_header(header, source)

    skipped: list[tuple[int, str, int]] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        skipped.append((row.number, row.text, row.actual_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            # Single-threaded so that pyarrow reports physical line numbers of bad rows.
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_invalid_row,
                newlines_in_values=True,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                include_columns=[c for c in (*REQUIRED, *OPTIONAL_COLUMNS) if c in header],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise file_error(source, f"CSV 无法解析：{exc}", f"CSV cannot be parsed: {exc}") from exc

    raw = pl.from_arrow(table)
    assert isinstance(raw, pl.DataFrame)
    column_rejects: list[Reject] = []
    for number, row_text, actual in skipped:
        if row_text.strip() == "":
            continue
        column_rejects.append(
            Reject(
                field="row",
                zh=f"列数应为 {len(header)}，实际为 {actual}",
                en=f"expected {len(header)} fields, got {actual}",
                line=number,
                source=source,
                raw=row_text,
            )
        )
    raw = raw.with_columns(pl.Series("line", _physical_lines(raw, [s[0] for s in skipped])))
    blank = pl.all_horizontal(pl.col(c).str.strip_chars() == "" for c in table.column_names)
    raw = raw.filter(~blank)
    result = finish(raw, source, tz=tz, crs=crs)
    if result.rejects:
        lines = text.split("\n")
        for reject in result.rejects:
            assert reject.line is not None
            reject.raw = _row_text(lines, reject.line)
    rejects = sorted([*result.rejects, *column_rejects], key=lambda r: r.line or 0)
    return ReadResult(result.points, rejects, result.rejected_rows + len(column_rejects))


def _decode(data: bytes, source: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise file_error(
                source,
                "文件编码无法识别（应为 UTF-8 或 GBK/GB18030）",
                "unknown text encoding (expected UTF-8 or GBK/GB18030)",
            ) from exc
    if not text.strip():
        raise file_error(source, "文件为空", "the file is empty", line=1)
    return text.replace("\r\n", "\n")


def _check_header(header: list[str], source: str) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise file_error(
            source,
            f"表头缺少必需列：{', '.join(missing)}（应为 plate,ts,lon,lat[,speed_kmh,heading,status,alarm]）",
            f"header lacks required column(s): {', '.join(missing)} "
            "(expected plate,ts,lon,lat[,speed_kmh,heading,status,alarm])",
            line=1,
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise file_error(
            source,
            f"表头列名重复：{', '.join(duplicated)}",
            f"header repeats column(s): {', '.join(duplicated)}",
            line=1,
        )


def _physical_lines(raw: pl.DataFrame, skipped_lines: list[int]) -> np.ndarray:
    """Physical line of each parsed row, given the lines of the rows pyarrow skipped.

    Row ``k`` would sit on ``2 + k + (newlines inside earlier rows)`` if nothing were skipped;
    each skipped row before it pushes it down one line.
    """
    n = raw.height
    newlines = np.zeros(n, dtype=np.int64)
    for name in raw.columns:
        newlines += raw[name].str.count_matches("\n", literal=True).fill_null(0).to_numpy()
    base = 2 + np.arange(n + 1, dtype=np.int64) + np.concatenate([[0], np.cumsum(newlines)])
    skipped = np.sort(np.asarray(skipped_lines, dtype=np.int64))
    rows_before_skip = np.searchsorted(base, skipped - np.arange(len(skipped)))
    skips_before_row = np.searchsorted(rows_before_skip, np.arange(n), side="right")
    return base[:n] + skips_before_row


def _row_text(lines: list[str], line: int) -> str:
    return lines[line - 1] if 0 < line <= len(lines) else ""
