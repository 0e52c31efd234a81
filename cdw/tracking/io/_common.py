"""Shared reader plumbing: raw rows in, validated points frame and rejects out.

Every reader builds a *raw* frame, one row per candidate point, with the columns

- ``line``: where the row sits in its source (CSV/GPX line, GeoJSON feature index, Parquet
  row index, JT/T 808 frame byte offset), and optionally ``sub`` (point index inside a
  GeoJSON line feature) and ``raw`` (the row's source text, for the rejects file);
- ``plate``, ``ts``, ``lon``, ``lat`` and any of ``speed_kmh``, ``heading``, ``status``,
  ``alarm``: strings as read, or already typed values.

:func:`finish` validates every field with vectorised Polars expressions and returns the
points frame of DESIGN.md §5 and one :class:`Reject` per bad field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from cdw.errors import InputFileError, Problem, ValidationFailed
from cdw.registry.validators import plate_key, validate_plate
from cdw.tracking.io.coords import gcj02_to_wgs84
from cdw.tracking.points import POINTS_SCHEMA, conform, empty_points

Crs = Literal["wgs84", "gcj02"]
OPTIONAL_COLUMNS = ("speed_kmh", "heading", "status", "alarm")
TS_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)
DWORD_MAX = 2**32 - 1

FIELD_NAMES: dict[str, tuple[str, str]] = {
    "plate": ("车牌号", "plate"),
    "ts": ("时间", "timestamp"),
    "lon": ("经度", "longitude"),
    "lat": ("纬度", "latitude"),
    "speed_kmh": ("速度", "speed"),
    "heading": ("方向", "heading"),
    "status": ("状态字", "status"),
    "alarm": ("报警字", "alarm"),
}
_RANGES: dict[str, tuple[float, float]] = {
    "lon": (-180.0, 180.0),
    "lat": (-90.0, 90.0),
    "speed_kmh": (0.0, float("inf")),
    "heading": (0.0, 360.0),
}
_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("缺少{fzh}", "missing {fen}"),
    "not_number": ("{fzh}不是数字：{v}", "{fen} is not a number: {v}"),
    "nan": ("{fzh}为 NaN", "{fen} is NaN"),
    "range": ("{fzh}超出范围 [{lo:g}, {hi:g}]：{v}", "{fen} out of range [{lo:g}, {hi:g}]: {v}"),
    "negative": ("{fzh}不能为负：{v}", "{fen} must not be negative: {v}"),
    "not_dword": (
        "{fzh}不是 0–4294967295 的整数：{v}",
        "{fen} is not an integer in 0–4294967295: {v}",
    ),
    "ts_unparsable": (
        "无法解析时间：{v}（应为带时区偏移的 ISO-8601 时间或 Unix 秒）",
        "cannot parse timestamp: {v} (expected ISO-8601 with a UTC offset, or epoch seconds)",
    ),
    "ts_naive": (
        "时间缺少时区偏移：{v}（请写明偏移如 +08:00，或指定时区 --tz）",
        "timestamp has no UTC offset: {v} (write one such as +08:00, or pass --tz)",
    ),
    "ts_range": (
        "时间不在 2000–2100 年之间：{v}（Unix 时间应以秒计，而非毫秒）",
        "timestamp outside the years 2000–2100: {v} (epoch time must be seconds, not milliseconds)",
    ),
}

# ISO-8601 date-time; groups: date, hh:mm, :ss[.fff], offset.
_ISO = (
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:[.,]\d{1,9})?)?\s*"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_EPOCH = r"^[+-]?\d+(?:\.\d+)?$"


@dataclass
class Reject(Problem):
    """A :class:`Problem` with the offending row's source text (for the rejects file)."""

    raw: str = ""


@dataclass
class ReadResult:
    """What a reader returns: the valid points (file order) and one reject per bad field."""

    points: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    rejected_rows: int = 0

    def merged(self, other: ReadResult) -> ReadResult:
        points = pl.concat([self.points, other.points]) if other.points.height else self.points
        rejects = sorted([*self.rejects, *other.rejects], key=lambda r: r.line or 0)
        return ReadResult(points, rejects, self.rejected_rows + other.rejected_rows)


def file_error(
    source: str, zh: str, en: str, *, line: int | None = None, offset: int | None = None
) -> InputFileError:
    """A structural error naming the file and the line (text formats) or byte offset."""
    where: dict[str, int] = {}
    loc_zh = loc_en = ""
    if line is not None:
        where["line"] = line
        loc_zh, loc_en = f" 第 {line} 行", f" line {line}"
    if offset is not None:
        where["offset"] = offset
        loc_zh, loc_en = f" 字节偏移 {offset}", f" at byte offset {offset}"
    return InputFileError(f"{source}{loc_zh}：{zh}", f"{source}{loc_en}: {en}", file=source, **where)


def check_crs(crs: str) -> Crs:
    value = crs.lower().replace("-", "")
    if value not in ("wgs84", "gcj02"):
        raise ValidationFailed(
            [
                Problem(
                    "crs",
                    f"不支持的坐标系：{crs}（可选 wgs84、gcj02）",
                    f"unsupported coordinate system: {crs} (choose wgs84 or gcj02)",
                )
            ]
        )
    return value  # type: ignore[return-value]


def finish(
    raw: pl.DataFrame,
    source: str,
    *,
    tz: str | None = None,
    crs: str = "wgs84",
    check_plates: bool = True,
) -> ReadResult:
    """Validate a raw frame (see module doc); convert GCJ-02 to WGS-84 where declared."""
    crs = check_crs(crs)
    if raw.height == 0:
        return ReadResult(empty_points())
    typed: list[pl.Expr] = []
    errors: list[pl.Expr] = []

    plate_text = pl.col("plate").cast(pl.String).str.strip_chars()
    plates = _check_plates(raw["plate"].cast(pl.String).str.strip_chars().unique(), check_plates)
    typed.append(
        plate_text.replace_strict(
            list(plates), [p[0] for p in plates.values()], default=None, return_dtype=pl.String
        ).alias("_v_vehicle")
    )
    plate_err = (
        pl.when(plate_text.is_null() | (plate_text == ""))
        .then(pl.lit("missing"))
        .when(plate_text.is_in([p for p, (norm, _) in plates.items() if norm is None]))
        .then(pl.lit("plate_invalid"))
        .otherwise(None)
    )
    errors.append(plate_err.alias("_e_plate"))

    ts_value, ts_err = _timestamp(raw.schema["ts"], tz)
    typed.append(ts_value.alias("_v_ts"))
    errors.append(ts_err.alias("_e_ts"))

    for name in ("lon", "lat", "speed_kmh", "heading"):
        if name in raw.columns:
            value, err = _float(name, raw.schema[name], required=name in ("lon", "lat"))
            typed.append(value.alias(f"_v_{name}"))
            errors.append(err.alias(f"_e_{name}"))
    for name in ("status", "alarm"):
        if name in raw.columns:
            value, err = _dword(name, raw.schema[name])
            typed.append(value.alias(f"_v_{name}"))
            errors.append(err.alias(f"_e_{name}"))

    checked = raw.with_columns(*typed, *errors)
    error_cols = [c for c in checked.columns if c.startswith("_e_")]
    bad_mask = pl.any_horizontal(pl.col(c).is_not_null() for c in error_cols)
    bad = checked.filter(bad_mask)
    plate_messages = {p: why for p, (_, why) in plates.items() if why is not None}
    rejects = _rejects(bad, source, error_cols, plate_messages)
    good = checked.filter(~bad_mask)
    points = conform(
        good.select(pl.col(f"_v_{c}").alias(c) for c in POINTS_SCHEMA if f"_v_{c}" in good.columns)
    )
    if crs == "gcj02" and points.height:
        lon, lat = gcj02_to_wgs84(points["lon"].to_numpy(), points["lat"].to_numpy())
        points = points.with_columns(pl.Series("lon", lon), pl.Series("lat", lat))
    return ReadResult(points, rejects, bad.height)


def _check_plates(
    unique: pl.Series, check: bool
) -> dict[str, tuple[str | None, tuple[str, str] | None]]:
    """Each distinct non-empty plate → (normalised plate or None, (zh, en) why invalid).

    Plates repeat on every row, so the registry's validator runs once per distinct plate.
    """
    out: dict[str, tuple[str | None, tuple[str, str] | None]] = {}
    for plate in unique.drop_nulls().to_list():
        if plate == "":
            continue
        if not check:
            out[plate] = (plate_key(plate), None)
            continue
        try:
            out[plate] = (validate_plate(plate), None)
        except ValidationFailed as exc:
            out[plate] = (None, (exc.problems[0].zh, exc.problems[0].en))
    return out


def _timestamp(dtype: pl.DataType, tz: str | None) -> tuple[pl.Expr, pl.Expr]:
    col = pl.col("ts")
    utc = pl.Datetime("us", "UTC")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            value = col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
            naive = pl.lit(False)
        elif tz is not None:
            value = _localise(col.dt.cast_time_unit("us"), tz)
            naive = pl.lit(False)
        else:
            value = pl.lit(None, dtype=utc)
            naive = col.is_not_null()
        missing = col.is_null()
        unparsable = pl.lit(False)
    elif dtype.is_numeric():
        seconds = col.cast(pl.Float64)
        value = _from_epoch(seconds)
        missing = seconds.is_null()
        unparsable = seconds.is_nan() | seconds.is_infinite()
        naive = pl.lit(False)
    else:
        text = col.cast(pl.String).str.strip_chars()
        missing = text.is_null() | (text == "")
        is_epoch = text.str.contains(_EPOCH)
        parts = text.str.extract_groups(_ISO)
        offset = parts.struct.field("4")
        offset = (
            pl.when(offset.str.to_uppercase() == "Z")
            .then(pl.lit("+00:00"))
            .when(offset.str.len_chars() == 3)
            .then(offset + ":00")
            .when(offset.str.len_chars() == 5)
            .then(offset.str.slice(0, 3) + ":" + offset.str.slice(3, 2))
            .otherwise(offset)
        )
        stamp = (
            parts.struct.field("1")
            + "T"
            + parts.struct.field("2")
            + parts.struct.field("3").fill_null(":00").str.replace(",", ".", literal=True)
        )
        aware = (stamp + offset).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC"
        )
        local = stamp.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
        localised = _localise(local, tz) if tz is not None else pl.lit(None, dtype=utc)
        epoch = _from_epoch(text.cast(pl.Float64, strict=False))
        value = (
            pl.when(is_epoch)
            .then(epoch)
            .when(offset.is_not_null())
            .then(aware)
            .otherwise(localised)
        )
        naive = (
            ~missing & ~is_epoch & offset.is_null() & local.is_not_null() & pl.lit(tz is None)
        )
        unparsable = ~missing & ~naive & value.is_null()
    err = (
        pl.when(missing)
        .then(pl.lit("missing"))
        .when(naive)
        .then(pl.lit("ts_naive"))
        .when(unparsable | value.is_null())
        .then(pl.lit("ts_unparsable"))
        .when((value < TS_MIN) | (value >= TS_MAX))
        .then(pl.lit("ts_range"))
        .otherwise(None)
    )
    return value, err


def _localise(expr: pl.Expr, tz: str) -> pl.Expr:
    return expr.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone(
        "UTC"
    )


def _from_epoch(seconds: pl.Expr) -> pl.Expr:
    finite = seconds.is_finite() & (seconds.abs() < 1e13)
    micros = pl.when(finite).then((seconds * 1e6).round()).otherwise(None).cast(pl.Int64)
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


def _float(name: str, dtype: pl.DataType, *, required: bool) -> tuple[pl.Expr, pl.Expr]:
    col = pl.col(name)
    if dtype == pl.String:
        text = col.str.strip_chars()
        missing = text.is_null() | (text == "")
        value = text.cast(pl.Float64, strict=False)
        not_number = ~missing & value.is_null()
    else:
        value = col.cast(pl.Float64)
        missing = value.is_null()
        not_number = pl.lit(False)
    lo, hi = _RANGES[name]
    err = pl.when(missing).then(pl.lit("missing" if required else None))
    err = (
        err.when(not_number)
        .then(pl.lit("not_number"))
        .when(value.is_nan())
        .then(pl.lit("nan"))
        .when((value < lo) | (value > hi))
        .then(pl.lit("negative" if hi == float("inf") else "range"))
        .otherwise(None)
    )
    return value, err


def _dword(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    col = pl.col(name)
    if dtype == pl.String:
        text = col.str.strip_chars()
        missing = text.is_null() | (text == "")
        is_hex = text.str.to_lowercase().str.starts_with("0x")
        value = (
            pl.when(is_hex)
            .then(text.str.slice(2).str.to_integer(base=16, strict=False))
            .otherwise(text.str.to_integer(base=10, strict=False))
        )
    elif dtype.is_float():
        f = col.cast(pl.Float64)
        missing = f.is_null()
        value = pl.when(f.is_finite() & (f == f.round())).then(f).otherwise(None).cast(pl.Int64)
    else:
        value = col.cast(pl.Int64, strict=False)
        missing = col.is_null()
    bad = ~missing & (value.is_null() | (value < 0) | (value > DWORD_MAX))
    err = pl.when(bad).then(pl.lit("not_dword")).otherwise(None)
    return pl.when(bad).then(None).otherwise(value), err


def _rejects(
    bad: pl.DataFrame,
    source: str,
    error_cols: list[str],
    plate_messages: dict[str, tuple[str, str]],
) -> list[Reject]:
    if bad.height == 0:
        return []
    has_sub = "sub" in bad.columns
    has_raw = "raw" in bad.columns
    original = {c: f"__raw_{c}" for c in FIELD_NAMES if c in bad.columns}
    rows = bad.select(
        "line",
        *(["sub"] if has_sub else []),
        *(["raw"] if has_raw else []),
        *error_cols,
        *(pl.col(c).cast(pl.String).alias(alias) for c, alias in original.items()),
    ).iter_rows(named=True)
    out: list[Reject] = []
    for row in rows:
        for col in error_cols:
            code = row[col]
            if code is None:
                continue
            name = col[3:]
            fzh, fen = FIELD_NAMES[name]
            lo, hi = _RANGES.get(name, (0.0, 0.0))
            value = _shown(row.get(original.get(name, "")))
            if code == "plate_invalid":
                zh, en = plate_messages[row[original["plate"]].strip()]
            else:
                zh_t, en_t = _MESSAGES[code]
                zh = zh_t.format(fzh=fzh, fen=fen, v=value, lo=lo, hi=hi)
                en = en_t.format(fzh=fzh, fen=fen, v=value, lo=lo, hi=hi)
            if has_sub and row["sub"] is not None:
                zh += f"（第 {row['sub']} 个点）"
                en += f" (point {row['sub']})"
            out.append(
                Reject(
                    field=name,
                    zh=zh,
                    en=en,
                    line=row["line"],
                    source=source,
                    raw=row["raw"] if has_raw else "",
                )
            )
    return out


def _shown(value: str | None, limit: int = 60) -> str:
    """A raw value as it goes into a message: on one line, cut to ``limit`` characters."""
    text = "" if value is None else value.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
