"""GPS readers: every source becomes the points frame of DESIGN.md §5 plus a list of rejects.

``read_points`` picks the reader by ``fmt`` or the file extension. What a reject's ``line``
means depends on the format: CSV and GPX the physical line (1-based), GeoJSON the feature
index and Parquet the row index (0-based), JT/T 808 the byte offset of the frame. A file
that cannot be read at all raises :class:`cdw.errors.InputFileError`.

``iter_points`` reads the same file in chunks of about ``chunk_rows`` points, in file order,
so that memory follows the chunk: CSV by blocks of lines, Parquet by batches of row groups,
JT/T 808 captures frame by frame. GeoJSON and GPX come as one chunk: a JSON document or an
XML tree is read whole, and files of those formats are small by nature (one vehicle's
track, a phone's export). The chunks put together are what ``read_points`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cdw.tracking.io.csv import iter_csv
from cdw.tracking.io.geojson import read_geojson
from cdw.tracking.io.gpx import read_gpx
from cdw.tracking.io.jt808 import iter_jt808
from cdw.tracking.io.parquet import iter_parquet
from cdw.tracking.io.raw_rows import (
    DEFAULT_CHUNK_ROWS,
    ReadResult,
    Reject,
    check_crs,
    concat_results,
    file_error,
)

FORMATS = ("csv", "parquet", "geojson", "gpx", "jt808")
_BY_SUFFIX = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpx": "gpx",
    ".jt808": "jt808",
    ".808": "jt808",
    ".bin": "jt808",
    ".hex": "jt808",
}

__all__ = ["FORMATS", "ReadResult", "Reject", "detect_format", "iter_points", "read_points"]


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise file_error(
                str(path),
                f"未知格式：{fmt}（可选 {', '.join(FORMATS)}）",
                f"unknown format: {fmt} (choose one of {', '.join(FORMATS)})",
            )
        return fmt.lower()
    found = _BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        raise file_error(
            str(path),
            f"无法从扩展名判断格式，请用 --format 指定（{', '.join(FORMATS)}）",
            f"cannot tell the format from the extension; pass --format ({', '.join(FORMATS)})",
        )
    return found


def read_points(
    path: str | Path,
    *,
    fmt: str | None = None,
    vehicle: str | None = None,
    crs: str = "wgs84",
    tz: str | None = None,
    terminal_to_plate: dict[str, str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ReadResult:
    """Read one file. ``vehicle`` names the vehicle where the source names none (GPX,
    GeoJSON, Parquet without a plate column); ``tz`` interprets timestamps written without
    a UTC offset (rejected otherwise); ``crs="gcj02"`` converts coordinates to WGS-84;
    ``terminal_to_plate`` maps JT/T 808 terminal phone numbers to plates (without it the
    vehicle is the phone number)."""
    return concat_results(
        iter_points(
            path,
            fmt=fmt,
            vehicle=vehicle,
            crs=crs,
            tz=tz,
            terminal_to_plate=terminal_to_plate,
            chunk_rows=chunk_rows,
        )
    )


def iter_points(
    path: str | Path,
    *,
    fmt: str | None = None,
    vehicle: str | None = None,
    crs: str = "wgs84",
    tz: str | None = None,
    terminal_to_plate: dict[str, str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[ReadResult]:
    """:func:`read_points` in chunks (see the module doc); the file is checked before the
    first chunk is read."""
    path = Path(path)
    crs = check_crs(crs)
    if not path.is_file():
        raise file_error(str(path), "文件不存在", "file not found")
    kind = detect_format(path, fmt)
    if kind == "csv":
        return iter_csv(path, tz=tz, crs=crs, chunk_rows=chunk_rows)
    if kind == "parquet":
        return iter_parquet(path, vehicle=vehicle, tz=tz, crs=crs, chunk_rows=chunk_rows)
    if kind == "geojson":
        return iter([read_geojson(path, vehicle=vehicle, tz=tz, crs=crs)])
    if kind == "gpx":
        return iter([read_gpx(path, vehicle=vehicle, tz=tz, crs=crs)])
    return iter_jt808(path, terminal_to_plate=terminal_to_plate, crs=crs, chunk_rows=chunk_rows)
