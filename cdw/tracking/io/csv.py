"""GPS CSV reader (DESIGN.md §5): ``plate,ts,lon,lat[,speed_kmh,heading,status,alarm]``.

Header names are matched case-insensitively; other columns are ignored. Files may be UTF-8
(with or without BOM) or GB18030/GBK, as Chinese spreadsheet exports often are. Reject
``line`` numbers are physical file lines (the header is line 1), also after values that
hold quoted newlines. Blank lines are skipped.

:func:`iter_csv` reads the file in blocks of about ``chunk_rows`` lines, each cut after a
newline that ends a record (an even number of quotes before it), so memory follows the
block, not the file. A block without quotes or lone carriage returns (the usual export) is
parsed by polars, multi-threaded, after a vectorised count of each line's fields finds the
lines with a wrong field count; any other block goes to pyarrow, whose invalid-row handler
reports them. Both give every field as text; :func:`finish` types and checks them.
Encoding: the first block that is not plain ASCII decides (UTF-8 when it decodes as UTF-8,
else GB18030); a later block that is not in that encoding is a file error.
"""

from __future__ import annotations

import csv as std_csv
import io
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from cdw.tracking.io.raw_rows import (
    DEFAULT_CHUNK_ROWS,
    OPTIONAL_COLUMNS,
    PlateCache,
    ReadResult,
    Reject,
    check_crs,
    concat_results,
    file_error,
    finish,
)

REQUIRED = ("plate", "ts", "lon", "lat")
_PROBE_BYTES = 1 << 16  # read first to learn the header and the bytes per line
_NEWLINE, _COMMA = ord("\n"), ord(",")


def read_csv(
    path: str | Path,
    *,
    tz: str | None = None,
    crs: str = "wgs84",
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ReadResult:
    """The whole file as one result (the chunks of :func:`iter_csv` put together)."""
    return concat_results(iter_csv(path, tz=tz, crs=crs, source=source, chunk_rows=chunk_rows))


def iter_csv(
    path: str | Path,
    *,
    tz: str | None = None,
    crs: str = "wgs84",
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[ReadResult]:
    """One result per block of about ``chunk_rows`` lines, in file order."""
    path = Path(path)
    source = source or str(path)
    crs = check_crs(crs)
    with open(path, "rb") as handle:
        state, rest = _open(handle, source)
        per_line = max(len(rest), 1) / max(rest.count(b"\n"), 1)
        target = max(int(chunk_rows * per_line), 1)
        first_line = 2
        for block in _blocks(handle, rest, target):
            result, lines = _read_block(block, first_line, state, source, tz, crs)
            yield result
            first_line += lines


@dataclass
class _State:
    """What one file's blocks share: its header, encoding and checked plates."""

    header: list[str]
    encoding: str | None  # None while every byte so far is ASCII (either encoding reads it)
    plates_seen: PlateCache = field(default_factory=dict)

    @property
    def wanted(self) -> list[str]:
        return [c for c in (*REQUIRED, *OPTIONAL_COLUMNS) if c in self.header]


def _open(handle: BinaryIO, source: str) -> tuple[_State, bytes]:
    """Read and check the header; returns the state and the bytes read after it."""
    data = handle.read(_PROBE_BYTES)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    while b"\n" not in data and (more := handle.read(_PROBE_BYTES)):
        data += more
    header_end = data.find(b"\n")
    header_bytes, rest = (
        (data, b"") if header_end == -1 else (data[:header_end], data[header_end + 1 :])
    )
    if header_bytes.strip() == b"" and _only_whitespace(rest, handle):
        raise file_error(source, "文件为空", "the file is empty", line=1)
    encoding: str | None = None
    if not header_bytes.isascii():
        try:
            header_text = header_bytes.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            header_text = _transcode(header_bytes, source, 1).decode("utf-8")
            encoding = "gb18030"
    else:
        header_text = header_bytes.decode("ascii")
    header = [h.strip().lower() for h in next(std_csv.reader([header_text.rstrip("\r")]), [])]
    _check_header(header, source)
    return _State(header, encoding), rest


def _only_whitespace(rest: bytes, handle: BinaryIO) -> bool:
    """Whether ``rest`` and the unread remainder of the file are all whitespace."""
    position = handle.tell()
    chunk = rest
    while chunk:
        if not chunk.isspace():
            handle.seek(position)
            return False
        chunk = handle.read(1 << 20)
    handle.seek(position)
    return True


def _blocks(handle: BinaryIO, rest: bytes, target: int) -> Iterator[bytes]:
    """Blocks of whole records of about ``target`` bytes (longer when one record is), from
    where ``rest`` (the bytes read after the header) starts. The file is mapped, record ends
    are searched in the map, and each block is copied out of it once; the pages behind it
    are then released, so the map holds at most about one block in memory."""
    start = handle.tell() - len(rest)
    end = os.fstat(handle.fileno()).st_size
    if start >= end:
        return
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        while start < end:
            size = target
            while True:
                if start + size >= end:
                    cut = end - 1
                    break
                cut = _record_end(data, start, start + size)
                if cut != -1:
                    break
                size *= 2  # no whole record within ``size`` bytes: look further
            block = data[start : cut + 1]
            # the map's pages read so far leave this process's resident memory
            done = (cut + 1) // mmap.PAGESIZE * mmap.PAGESIZE
            if done:
                data.madvise(mmap.MADV_DONTNEED, 0, done)
            yield block
            start = cut + 1


def _record_end(data: mmap.mmap, start: int, limit: int) -> int:
    """Index of the last newline in ``data[start:limit]`` outside quotes (an even number of
    quotes between ``start`` and it), or -1. In a malformed file a stray quote may make this
    a newline that pyarrow reads as inside a value; the block is then read differently from
    a whole-file read, never silently: such rows are rejected either way."""
    pos = data.rfind(b"\n", start, limit)
    if data.find(b'"', start, limit) == -1:
        return pos
    quoted = data[start:limit]
    pos -= start
    while pos != -1 and quoted.count(b'"', 0, pos) % 2:
        pos = quoted.rfind(b"\n", 0, pos)
    return pos if pos == -1 else pos + start


class _NotUtf8(Exception):
    pass


def _transcode(data: bytes, source: str, line: int) -> bytes:
    try:
        return data.decode("gb18030").encode("utf-8")
    except UnicodeDecodeError as exc:
        raise file_error(
            source,
            "文件编码无法识别（应为 UTF-8 或 GBK/GB18030）",
            "unknown text encoding (expected UTF-8 or GBK/GB18030)",
            line=line,
        ) from exc


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` decodes as (strict) UTF-8, as ``data.decode("utf-8")`` would tell,
    checked by polars without building the decoded text (a block's worth of it)."""
    try:
        pl.Series([data], dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.ComputeError:
        return False
    return True


def _read_block(
    block: bytes, first_line: int, state: _State, source: str, tz: str | None, crs: str
) -> tuple[ReadResult, int]:
    """The block's result and how many newlines it holds."""
    if state.encoding is None and not block.isascii():  # the first block that decides
        state.encoding = "utf-8" if is_utf8(block) else "gb18030"
    text = _transcode(block, source, first_line) if state.encoding == "gb18030" else block
    try:
        raw, column_rejects, newlines = _parse(text, first_line, state, source)
    except _NotUtf8:  # an earlier block decided UTF-8
        raise file_error(
            source,
            "文件编码前后不一致：此处起不是 UTF-8，而前文是 UTF-8",
            "mixed text encodings: not UTF-8 from here on, although earlier lines are",
            line=first_line,
        ) from None
    blank = pl.all_horizontal(pl.col(c) == "" for c in state.wanted)
    raw = raw.filter(~blank)
    result = finish(raw, source, tz=tz, crs=crs, plates_seen=state.plates_seen)
    if result.rejects:
        lines = text.decode("utf-8", errors="replace").split("\n")
        for reject in result.rejects:
            assert reject.line is not None
            reject.raw = lines[reject.line - first_line].rstrip("\r")
    return result.with_rejects(column_rejects, len(column_rejects)), newlines


def _parse(
    text: bytes, first_line: int, state: _State, source: str
) -> tuple[pl.DataFrame, list[Reject], int]:
    """The block's rows as text with their ``line``, the lines with a wrong field count, and
    the number of newlines."""
    plain = text.find(b'"') == -1 and (
        text.find(b"\r") == -1 or text.count(b"\r") == text.count(b"\r\n")
    )
    if plain:
        return _parse_plain(text, first_line, state, source)
    return (*_parse_quoted(text, first_line, state, source), text.count(b"\n"))


def _wrong_field_count(
    header: list[str], actual: int, line: int, row_text: str, source: str
) -> Reject:
    return Reject(
        field="row",
        zh=f"列数应为 {len(header)}，实际为 {actual}",
        en=f"expected {len(header)} fields, got {actual}",
        line=line,
        source=source,
        raw=row_text,
    )


def _parse_plain(
    text: bytes, first_line: int, state: _State, source: str
) -> tuple[pl.DataFrame, list[Reject], int]:
    """A block without quotes: one record a line, fields counted by commas.

    The usual block has exactly one comma fewer than the header has columns on every line:
    when the block's commas add up to that, polars reads every column (it refuses a line
    with too many fields, so no line has too few either) and the lines are numbered in
    sequence. Any other block is split line by line first (:func:`_parse_counted`)."""
    newlines = text.count(b"\n")
    records = newlines + (not text.endswith(b"\n"))
    if text and text.count(b",") == records * (len(state.header) - 1):
        try:
            frame = _read_plain(text, state, source, projection=False)
        except _Ragged:
            frame = None
        if frame is not None and frame.height == records:
            lines = pl.int_range(first_line, first_line + records, dtype=pl.Int64, eager=True)
            return frame.select(lines.alias("line"), *state.wanted), [], newlines
    return _parse_counted(text, first_line, state, source)


class _Ragged(Exception):
    """Lines of the block hold more, or fewer, fields than the header."""


def _read_plain(text: bytes, state: _State, source: str, *, projection: bool) -> pl.DataFrame:
    """Every field of a block without quotes, as text: only the wanted columns with
    ``projection``, else every column (and lines of more or fewer fields raise _Ragged)."""
    header = state.header
    try:
        return pl.read_csv(
            text,
            has_header=False,
            schema={name: pl.String for name in header},
            columns=[header.index(c) for c in state.wanted] if projection else None,
            empty_string_is_null=False,
            quote_char=None,
        )
    except pl.exceptions.PolarsError as exc:
        if "utf-8" in str(exc).lower() or "utf8" in str(exc).lower():
            raise _NotUtf8 from exc
        if not projection:
            raise _Ragged from exc
        if not isinstance(exc, pl.exceptions.ComputeError):
            raise
        raise file_error(source, f"CSV 无法解析：{exc}", f"CSV cannot be parsed: {exc}") from exc


def _parse_counted(
    text: bytes, first_line: int, state: _State, source: str
) -> tuple[pl.DataFrame, list[Reject], int]:
    """A block without quotes whose lines are checked one by one: a line with the wrong
    number of fields is a reject (a blank one is skipped), the others are read."""
    header = state.header
    buf = np.frombuffer(text, dtype=np.uint8)
    ends = np.flatnonzero(buf == _NEWLINE)
    newlines = len(ends)
    if not text.endswith(b"\n"):
        ends = np.append(ends, len(text))
    starts = np.concatenate(([0], ends[:-1] + 1))
    commas = np.flatnonzero(buf == _COMMA)
    fields = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
    good = fields == len(header)
    lines = first_line + np.arange(len(ends), dtype=np.int64)
    rejects: list[Reject] = []
    if not good.all():
        for i in np.flatnonzero(~good):
            row_text = text[starts[i] : ends[i]].decode("utf-8", errors="replace").rstrip("\r")
            if row_text.strip() != "":
                rejects.append(
                    _wrong_field_count(header, int(fields[i]), int(lines[i]), row_text, source)
                )
        edges = np.flatnonzero(np.diff(np.concatenate(([0], good.astype(np.int8), [0]))))
        text = b"".join(
            text[starts[a] : ends[b - 1] + 1] for a, b in zip(edges[0::2], edges[1::2], strict=True)
        )
        lines = lines[good]
    if not text:
        return _no_rows(state), rejects, newlines
    frame = _read_plain(text, state, source, projection=True)
    return frame.select(pl.Series("line", lines), *state.wanted), rejects, newlines


def _no_rows(state: _State) -> pl.DataFrame:
    return pl.DataFrame(schema={"line": pl.Int64, **dict.fromkeys(state.wanted, pl.String)})


def _parse_quoted(
    text: bytes, first_line: int, state: _State, source: str
) -> tuple[pl.DataFrame, list[Reject]]:
    """Any other block, by pyarrow: quoted values may hold separators and newlines."""
    header = state.header
    if text.isspace() or not text:  # blank lines only: nothing to read (pyarrow would refuse)
        return _no_rows(state), []
    if not text.isascii():  # pyarrow's invalid-row handler fails on bad UTF-8: check first
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _NotUtf8 from exc
    skipped: list[tuple[int, str, int]] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        skipped.append((row.number, row.text, row.actual_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(text),
            # Single-threaded so that pyarrow numbers the rows it skips.
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_invalid_row,
                newlines_in_values=True,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "utf8" in str(exc).lower():
            raise _NotUtf8 from exc
        raise file_error(source, f"CSV 无法解析：{exc}", f"CSV cannot be parsed: {exc}") from exc
    raw = pl.from_arrow(table)
    assert isinstance(raw, pl.DataFrame)
    row_lines, skipped_lines = _physical_lines(raw, skipped, first_line)
    rejects = [
        _wrong_field_count(header, actual, int(line), row_text, source)
        for (_, row_text, actual), line in zip(skipped, skipped_lines, strict=True)
        if row_text.strip() != ""
    ]
    return raw.select(pl.Series("line", row_lines), *state.wanted), rejects


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
    raw: pl.DataFrame, skipped: list[tuple[int, str, int]], first_line: int
) -> tuple[np.ndarray, np.ndarray]:
    """Physical lines of the parsed rows and of the rows pyarrow skipped.

    pyarrow numbers the block's records from 1, and a quoted value may hold newlines, so
    record ``k`` (0-based) starts on line ``first_line + k + newlines in records before it``
    (every column is read, so that newlines in ignored columns count too).
    """
    n_rows, n_skipped = raw.height, len(skipped)
    is_skipped = np.zeros(n_rows + n_skipped, dtype=bool)
    is_skipped[[number - 1 for number, _, _ in skipped]] = True
    newlines = np.zeros(n_rows + n_skipped, dtype=np.int64)
    parsed = np.zeros(n_rows, dtype=np.int64)
    for name in raw.columns:
        parsed += raw[name].str.count_matches("\n", literal=True).fill_null(0).to_numpy()
    newlines[~is_skipped] = parsed
    newlines[is_skipped] = [text.count("\n") for _, text, _ in skipped]
    before = np.concatenate([[0], np.cumsum(newlines)[:-1]])
    lines = first_line + np.arange(n_rows + n_skipped, dtype=np.int64) + before
    return lines[~is_skipped], lines[is_skipped]
