"""Parquet reader: a table with the points-frame columns (``vehicle`` or ``plate``, ``ts``,
``lon``, ``lat`` and any optional ones). ``ts`` may be a timezone-aware timestamp, a naive
one together with ``tz``, epoch seconds, or ISO-8601 text. Reject ``line`` = 0-based row index.

:func:`iter_parquet` reads batches of at most ``chunk_rows`` rows, row group by row group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cdw.tracking.io.raw_rows import (
    DEFAULT_CHUNK_ROWS,
    OPTIONAL_COLUMNS,
    PlateCache,
    ReadResult,
    check_crs,
    concat_results,
    file_error,
    finish,
)


def read_parquet(
    path: str | Path,
    *,
    vehicle: str | None = None,
    tz: str | None = None,
    crs: str = "wgs84",
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ReadResult:
    return concat_results(
        iter_parquet(path, vehicle=vehicle, tz=tz, crs=crs, source=source, chunk_rows=chunk_rows)
    )


def iter_parquet(
    path: str | Path,
    *,
    vehicle: str | None = None,
    tz: str | None = None,
    crs: str = "wgs84",
    source: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[ReadResult]:
    source = source or str(path)
    crs = check_crs(crs)

    def unreadable(exc: Exception) -> Exception:
        return file_error(source, f"Parquet 文件无法读取：{exc}", f"cannot read Parquet: {exc}")

    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise unreadable(exc) from exc
    by_name = {c.lower(): c for c in names}
    plate_col = by_name.get("plate") or by_name.get("vehicle")
    missing = [c for c in ("ts", "lon", "lat") if c not in by_name]
    if plate_col is None and vehicle is None:
        missing.insert(0, "plate")
    if missing:
        raise file_error(
            source,
            f"缺少必需列：{', '.join(missing)}",
            f"missing required column(s): {', '.join(missing)}",
        )
    plate = pl.col(plate_col) if plate_col is not None else pl.lit(vehicle)
    plates_seen: PlateCache = {}
    offset = 0
    batches = parquet.iter_batches(batch_size=max(chunk_rows, 1))
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:
            raise unreadable(exc) from exc
        if batch is None:
            return
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        raw = frame.select(
            pl.int_range(offset, offset + pl.len(), dtype=pl.Int64).alias("line"),
            plate.cast(pl.String).fill_null(pl.lit(vehicle)).alias("plate"),
            *(
                pl.col(by_name[c]).alias(c)
                for c in ("ts", "lon", "lat", *OPTIONAL_COLUMNS)
                if c in by_name
            ),
        )
        result = finish(raw, source, tz=tz, crs=crs, plates_seen=plates_seen)
        for reject in result.rejects:
            assert reject.line is not None
            reject.raw = json.dumps(
                frame.row(reject.line - offset, named=True), ensure_ascii=False, default=str
            )
        yield result
        offset += frame.height
