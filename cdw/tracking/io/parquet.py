"""Parquet reader: a table with the points-frame columns (``vehicle`` or ``plate``, ``ts``,
``lon``, ``lat`` and any optional ones). ``ts`` may be a timezone-aware timestamp, a naive
one together with ``tz``, epoch seconds, or ISO-8601 text. Reject ``line`` = 0-based row index.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from cdw.tracking.io.raw_rows import OPTIONAL_COLUMNS, ReadResult, file_error, finish


def read_parquet(
    path: str | Path,
    *,
    vehicle: str | None = None,
    tz: str | None = None,
    crs: str = "wgs84",
    source: str | None = None,
) -> ReadResult:
    source = source or str(path)
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise file_error(
            source, f"Parquet 文件无法读取：{exc}", f"cannot read Parquet: {exc}"
        ) from exc
    by_name = {c.lower(): c for c in frame.columns}
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
    raw = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("line"),
        plate.cast(pl.String).fill_null(pl.lit(vehicle)).alias("plate"),
        *(
            pl.col(by_name[c]).alias(c)
            for c in ("ts", "lon", "lat", *OPTIONAL_COLUMNS)
            if c in by_name
        ),
    )
    result = finish(raw, source, tz=tz, crs=crs)
    for reject in result.rejects:
        assert reject.line is not None
        reject.raw = json.dumps(frame.row(reject.line, named=True), ensure_ascii=False, default=str)
    return result
