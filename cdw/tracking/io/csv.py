"""GPS CSV reader (DESIGN.md §5): ``plate,ts,lon,lat[,speed_kmh,heading,status,alarm]``.

Header names are matched case-insensitively; other columns are ignored. Files may be UTF-8
(with or without BOM) or GB18030/GBK, as Chinese spreadsheet exports often are. Reject
``line`` numbers are physical file lines (the header is line 1), also after values that
hold quoted newlines. Blank lines are skipped.
"""

from __future__ import annotations

import csv as std_csv
import io
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from cdw.tracking.io.raw_rows import OPTIONAL_COLUMNS, ReadResult, Reject, file_error, finish

REQUIRED = ("plate", "ts", "lon", "lat")


def read_csv(
    path: str | Path, *, tz: str | None = None, crs: str = "wgs84", source: str | None = None
) -> ReadResult:
    path = Path(path)
    source = source or str(path)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():
        raise file_error(source, "文件为空", "the file is empty", line=1)
    try:
        return _read(data, source, tz=tz, crs=crs)
    except _NotUtf8:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise file_error(
            source,
            "文件编码无法识别（应为 UTF-8 或 GBK/GB18030）",
            "unknown text encoding (expected UTF-8 or GBK/GB18030)",
        ) from exc
    return _read(text.encode("utf-8"), source, tz=tz, crs=crs)


class _NotUtf8(Exception):
    pass


def _read(data: bytes, source: str, *, tz: str | None, crs: str) -> ReadResult:
    header_end = data.find(b"\n")
    header_bytes = data if header_end == -1 else data[:header_end]
    try:
        header_line = header_bytes.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise _NotUtf8 from exc
    header = [h.strip().lower() for h in next(std_csv.reader([header_line]), [])]
    _check_header(header, source)
    quoted = data.find(b'"') != -1

    skipped: list[tuple[int, str, int]] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        skipped.append((row.number, row.text, row.actual_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            # Single-threaded so that pyarrow reports physical line numbers of bad rows.
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_invalid_row,
                newlines_in_values=quoted,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in header},
                include_columns=[c for c in (*REQUIRED, *OPTIONAL_COLUMNS) if c in header],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf8" in str(exc).lower():
            raise _NotUtf8 from exc
        raise file_error(source, f"CSV 无法解析：{exc}", f"CSV cannot be parsed: {exc}") from exc

    raw = pl.from_arrow(table)
    assert isinstance(raw, pl.DataFrame)
    row_lines, skipped_lines = _physical_lines(raw, skipped, count_newlines=quoted)
    column_rejects = [
        Reject(
            field="row",
            zh=f"列数应为 {len(header)}，实际为 {actual}",
            en=f"expected {len(header)} fields, got {actual}",
            line=int(line),
            source=source,
            raw=row_text,
        )
        for (_, row_text, actual), line in zip(skipped, skipped_lines, strict=True)
        if row_text.strip() != ""
    ]
    raw = raw.with_columns(pl.Series("line", row_lines))
    blank = pl.all_horizontal(pl.col(c) == "" for c in table.column_names)
    raw = raw.filter(~blank)
    result = finish(raw, source, tz=tz, crs=crs)
    if result.rejects:
        text_lines = data.decode("utf-8").split("\n")
        for reject in result.rejects:
            assert reject.line is not None
            reject.raw = _row_text(text_lines, reject.line)
    return result.with_rejects(column_rejects, len(column_rejects))


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


def _physical_lines(
    raw: pl.DataFrame, skipped: list[tuple[int, str, int]], *, count_newlines: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Physical lines of the parsed rows and of the rows pyarrow skipped.

    pyarrow numbers records (header = 1), and a quoted value may hold newlines, so record
    ``k`` (0-based, after the header) starts on line ``2 + k + newlines in records before it``.
    """
    n_rows, n_skipped = raw.height, len(skipped)
    is_skipped = np.zeros(n_rows + n_skipped, dtype=bool)
    is_skipped[[number - 2 for number, _, _ in skipped]] = True
    newlines = np.zeros(n_rows + n_skipped, dtype=np.int64)
    if count_newlines:  # only quoted values can hold a newline
        parsed = np.zeros(n_rows, dtype=np.int64)
        for name in raw.columns:
            parsed += raw[name].str.count_matches("\n", literal=True).fill_null(0).to_numpy()
        newlines[~is_skipped] = parsed
        newlines[is_skipped] = [text.count("\n") for _, text, _ in skipped]
    before = np.concatenate([[0], np.cumsum(newlines)[:-1]])
    lines = 2 + np.arange(n_rows + n_skipped, dtype=np.int64) + before
    return lines[~is_skipped], lines[is_skipped]


def _row_text(lines: list[str], line: int) -> str:
    return lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
