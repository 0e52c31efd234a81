"""The points frame (DESIGN.md §5): the one in-memory shape every reader produces."""

from __future__ import annotations

import polars as pl

POINTS_SCHEMA: dict[str, pl.DataType] = {
    "vehicle": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "lon": pl.Float64(),
    "lat": pl.Float64(),
    "speed_kmh": pl.Float32(),
    "heading": pl.Float32(),
    "status": pl.UInt32(),
    "alarm": pl.UInt32(),
}
REQUIRED_COLUMNS = ("vehicle", "ts", "lon", "lat")

# JT/T 808 status bits 8-9: load state (00 empty, 01 half, 11 full).
LOAD_EMPTY, LOAD_HALF, LOAD_FULL = 0, 1, 3


def load_state(status: int) -> int:
    """Load-state code from a JT/T 808 status DWORD."""
    return (status >> 8) & 0b11


def empty_points() -> pl.DataFrame:
    return pl.DataFrame(schema=POINTS_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast to the contract's types and add missing optional columns as nulls, in order."""
    cols = []
    for name, dtype in POINTS_SCHEMA.items():
        if name in frame.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(cols)
