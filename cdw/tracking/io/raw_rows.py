"""Raw rows in, validated points frame and rejects out: the checks every reader shares.

Every reader builds a *raw* frame, one row per candidate point, with the columns

- ``line``: where the row sits in its source (CSV/GPX line, GeoJSON feature index, Parquet
  row index, JT/T 808 frame byte offset), and optionally ``sub`` (point index inside a
  GeoJSON line feature) and ``raw`` (the row's source text for the rejects file, or its
  source bytes, shown as hex);
- ``plate``, ``ts``, ``lon``, ``lat`` and any of ``speed_kmh``, ``heading``, ``status``,
  ``alarm``: strings as read, or already typed values.

:func:`finish` validates every field with vectorised Polars operations and returns the
points frame of DESIGN.md §5 and one :class:`Reject` per bad field. The common spellings
are parsed in one pass over all rows; only the rows they miss take the slower, more
lenient paths (whitespace, other ISO-8601 forms, hexadecimal DWORDs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from cdw.bounds import MAX_SPEED_KMH
from cdw.errors import InputFileError, Problem, ValidationFailed
from cdw.registry.validators.plates import plate_key, validate_plate
from cdw.tracking.io.coords import gcj02_to_wgs84
from cdw.tracking.points import conform, empty_points

Crs = Literal["wgs84", "gcj02"]
OPTIONAL_COLUMNS = ("speed_kmh", "heading", "status", "alarm")
# Points per chunk of a reader (ingest passes Settings.ingest_chunk_rows).
DEFAULT_CHUNK_ROWS = 1_000_000
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
    "speed_kmh": (0.0, MAX_SPEED_KMH),
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
_FAST_ISO = "%Y-%m-%dT%H:%M:%S%.f%z"
# The date and time of day of the usual spelling "YYYY-MM-DDTHH:MM:SS±HH:MM" (its first 19
# characters), parsed apart from what follows: a few times faster than _FAST_ISO whole.
_ISO_LOCAL = "%Y-%m-%dT%H:%M:%S"
_ISO_LOCAL_CHARS = 19
_SUFFIX_KINDS_MAX = 64  # distinct suffixes (offsets, fractions) worth the split parse
_SUFFIX_REFERENCE = datetime(2000, 1, 1)
_UTC = pl.Datetime("us", "UTC")
# A plate as read -> (normalised plate or None, error code or None, why it is invalid).
PlateVerdict = tuple[str | None, str | None, tuple[str, str] | None]
PlateCache = dict[str, PlateVerdict]


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

    def with_rejects(self, extra: list[Reject], rows: int) -> ReadResult:
        """Add rejects found outside :func:`finish` (``rows`` of the source they cover)."""
        rejects = sorted([*self.rejects, *extra], key=lambda r: r.line or 0)
        return ReadResult(self.points, rejects, self.rejected_rows + rows)


def concat_results(parts: Iterable[ReadResult]) -> ReadResult:
    """The chunks of one file read in parts as the result of reading it whole."""
    points: list[pl.DataFrame] = []
    rejects: list[Reject] = []
    rows = 0
    for part in parts:
        points.append(part.points)
        rejects.extend(part.rejects)
        rows += part.rejected_rows
    frame = pl.concat(points) if points else empty_points()
    return ReadResult(frame, sorted(rejects, key=lambda r: r.line or 0), rows)


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
    return InputFileError(
        f"{source}{loc_zh}：{zh}", f"{source}{loc_en}: {en}", file=source, **where
    )


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
    plates_seen: PlateCache | None = None,
) -> ReadResult:
    """Validate a raw frame (see module doc); convert GCJ-02 to WGS-84 where declared.
    ``plates_seen`` carries the plates already checked from one chunk of a file to the next
    (a chunked reader passes the same dict to every call)."""
    crs = check_crs(crs)
    if raw.height == 0:
        return ReadResult(empty_points())
    values: dict[str, pl.Series] = {}
    errors: dict[str, pl.Series | None] = {}  # None: no row has an error in that field
    values["vehicle"], errors["plate"], plate_messages = _plates(
        raw["plate"], check_plates, {} if plates_seen is None else plates_seen
    )
    values["ts"], errors["ts"] = _timestamps(raw["ts"], tz)
    for name in ("lon", "lat", "speed_kmh", "heading"):
        if name in raw.columns:
            values[name], errors[name] = _floats(raw[name], name, required=name in ("lon", "lat"))
    for name in ("status", "alarm"):
        if name in raw.columns:
            values[name], errors[name] = _dwords(raw[name])

    points = conform(pl.DataFrame([v.alias(k) for k, v in values.items()]))
    found = [code for code in errors.values() if code is not None]
    if not found:  # the usual chunk
        n_bad = 0
    else:
        error_frame = pl.DataFrame(found)
        bad_mask = error_frame.select(pl.any_horizontal(pl.all().is_not_null())).to_series()
        n_bad = int(bad_mask.sum())
    rejects: list[Reject] = []
    if n_bad:
        bad_raw = raw.filter(bad_mask)
        if "raw" in raw.columns and raw.schema["raw"] == pl.Binary:  # source bytes, shown as hex
            bad_raw = bad_raw.with_columns(pl.col("raw").bin.encode("hex"))
        rejects = _rejects(bad_raw, error_frame.filter(bad_mask), source, plate_messages)
        points = points.filter(~bad_mask)
    if crs == "gcj02" and points.height:
        lon, lat = gcj02_to_wgs84(points["lon"].to_numpy(), points["lat"].to_numpy())
        points = points.with_columns(pl.Series("lon", lon), pl.Series("lat", lat))
    return ReadResult(points, rejects, n_bad)


def _plates(
    plates: pl.Series, check: bool, seen: PlateCache
) -> tuple[pl.Series, pl.Series | None, dict[str, tuple[str, str]]]:
    """Normalised plates, error codes (None: none), and why each invalid plate is invalid.

    Plates repeat on every row, so the registry's validator runs once per distinct value
    (once per file when ``seen`` is shared by its chunks).
    """
    plates = plates.cast(pl.String)
    normalised: dict[str, str | None] = {}
    codes: dict[str, str] = {}
    why: dict[str, tuple[str, str]] = {}
    for plate in plates.unique().drop_nulls().to_list():
        if plate not in seen:
            seen[plate] = _check_plate(plate, check)
        normalised[plate], code, reason = seen[plate]
        if code is not None:
            codes[plate] = code
        if reason is not None:
            why[plate] = reason
    if all(plate == kept for plate, kept in normalised.items()):
        vehicle = plates  # written as the registry writes them (the usual file)
    else:
        vehicle = plates.replace_strict(
            list(normalised), list(normalised.values()), default=None, return_dtype=pl.String
        )
    if not codes and not plates.null_count():
        return vehicle.alias("vehicle"), None, why
    code = plates.replace_strict(
        list(codes), list(codes.values()), default=None, return_dtype=pl.String
    )
    code = code.set(plates.is_null(), "missing") if plates.null_count() else code
    return vehicle.alias("vehicle"), code.alias("plate"), why


def _check_plate(plate: str, check: bool) -> PlateVerdict:
    if plate.strip() == "":
        return None, "missing", None
    if not check:
        return plate_key(plate), None, None
    try:
        return validate_plate(plate), None, None
    except ValidationFailed as exc:
        return None, "plate_invalid", (exc.problems[0].zh, exc.problems[0].en)


def _timestamps(ts: pl.Series, tz: str | None) -> tuple[pl.Series, pl.Series | None]:
    n = len(ts)
    missing = ts.is_null()
    naive = _falses(n)
    if isinstance(ts.dtype, pl.Datetime):
        if ts.dtype.time_zone is not None:
            value = ts.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        elif tz is not None:
            value = _localise(ts.dt.cast_time_unit("us"), tz)
        else:
            value = pl.repeat(None, n, dtype=_UTC, eager=True)
            naive = ~missing
    elif ts.dtype.is_numeric():
        value = _from_epoch(ts.cast(pl.Float64))
    else:
        text = ts.cast(pl.String)
        value = _split_iso(text)
        todo = value.is_null() & ~missing
        if todo.any():
            index = todo.arg_true()
            value = value.scatter(
                index,
                text.gather(index).str.to_datetime(
                    _FAST_ISO, strict=False, time_unit="us", time_zone="UTC"
                ),
            )
            todo = value.is_null() & ~missing
        if todo.any():
            index = todo.arg_true()
            value = value.scatter(
                index, _from_epoch(text.gather(index).cast(pl.Float64, strict=False))
            )
            todo = value.is_null() & ~missing
        if todo.any():
            index = todo.arg_true()
            sub_value, sub_missing, sub_naive = _timestamps_slow(text.gather(index), tz)
            value = value.scatter(index, sub_value)
            missing = missing.scatter(index, sub_missing)
            naive = naive.scatter(index, sub_naive)
    if not value.null_count() and value.min() >= TS_MIN and value.max() < TS_MAX:  # type: ignore[operator]
        return value.alias("ts"), None  # every row read, none missing or naive, all in range
    frame = pl.DataFrame({"v": value, "missing": missing, "naive": naive})
    code = frame.select(
        pl.when("missing")
        .then(pl.lit("missing"))
        .when("naive")
        .then(pl.lit("ts_naive"))
        .when(pl.col("v").is_null())
        .then(pl.lit("ts_unparsable"))
        .when((pl.col("v") < TS_MIN) | (pl.col("v") >= TS_MAX))
        .then(pl.lit("ts_range"))
        .otherwise(None)
    ).to_series()
    return value.alias("ts"), code.alias("ts")


def _split_iso(text: pl.Series) -> pl.Series:
    """``text`` parsed as :data:`_FAST_ISO` where a row is its first 19 characters as
    :data:`_ISO_LOCAL` and a suffix that parses after a reference time (an offset, maybe a
    fraction before it); null elsewhere, and everywhere when the suffixes are too varied.
    The same value as ``_FAST_ISO`` parses: the time of day plus what the suffix adds to the
    reference (the parser reads the prefix and the suffix apart, left to right)."""
    suffix = text.str.slice(_ISO_LOCAL_CHARS)
    kinds = suffix.unique().drop_nulls()
    if kinds.len() > _SUFFIX_KINDS_MAX:
        return pl.repeat(None, len(text), dtype=_UTC, eager=True)
    reference = (_SUFFIX_REFERENCE.isoformat() + kinds).str.to_datetime(
        _FAST_ISO, strict=False, time_unit="us", time_zone="UTC"
    )
    shift = reference.dt.replace_time_zone(None) - _SUFFIX_REFERENCE
    local = text.str.slice(0, _ISO_LOCAL_CHARS).str.to_datetime(
        _ISO_LOCAL, strict=False, time_unit="us"
    )
    added = suffix.replace_strict(kinds, shift, default=None, return_dtype=shift.dtype)
    return (local + added).dt.replace_time_zone("UTC").alias(text.name)


def _timestamps_slow(text: pl.Series, tz: str | None) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Epoch seconds and every ISO-8601 spelling; returns (value, missing, naive)."""
    frame = pl.DataFrame({"text": text.str.strip_chars()})
    frame = frame.with_columns(
        missing=pl.col("text").is_null() | (pl.col("text") == ""),
        is_epoch=pl.col("text").str.contains(_EPOCH),
        parts=pl.col("text").str.extract_groups(_ISO),
    )
    offset = pl.col("parts").struct.field("4")
    frame = frame.with_columns(
        offset=pl.when(offset.str.to_uppercase() == "Z")
        .then(pl.lit("+00:00"))
        .when(offset.str.len_chars() == 3)
        .then(offset + ":00")
        .when(offset.str.len_chars() == 5)
        .then(offset.str.slice(0, 3) + ":" + offset.str.slice(3, 2))
        .otherwise(offset),
        stamp=pl.col("parts").struct.field("1")
        + "T"
        + pl.col("parts").struct.field("2")
        + pl.col("parts").struct.field("3").fill_null(":00").str.replace(",", ".", literal=True),
    )
    frame = frame.with_columns(
        local=pl.col("stamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        aware=(pl.col("stamp") + pl.col("offset")).str.to_datetime(
            _FAST_ISO, strict=False, time_unit="us", time_zone="UTC"
        ),
    )
    localised = _localise(pl.col("local"), tz) if tz is not None else pl.lit(None, dtype=_UTC)
    out = frame.select(
        value=pl.when("is_epoch")
        .then(_from_epoch(pl.col("text").cast(pl.Float64, strict=False)))
        .when(pl.col("offset").is_not_null())
        .then(pl.col("aware"))
        .otherwise(localised),
        missing=pl.col("missing"),
        naive=~pl.col("missing")
        & ~pl.col("is_epoch")
        & pl.col("offset").is_null()
        & pl.col("local").is_not_null()
        & pl.lit(tz is None),
    )
    return out["value"], out["missing"], out["naive"]


def _localise(value: Any, tz: str) -> Any:
    return value.dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


def _from_epoch(seconds: Any) -> Any:
    finite = seconds.is_finite() & (seconds.abs() < 1e13)
    if isinstance(seconds, pl.Series):
        micros = (seconds * 1e6).round().set(~finite, None).cast(pl.Int64)
        return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    micros = pl.when(finite).then((seconds * 1e6).round()).otherwise(None).cast(pl.Int64)
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


def _floats(col: pl.Series, name: str, *, required: bool) -> tuple[pl.Series, pl.Series | None]:
    lo, hi = _RANGES[name]
    value = col.cast(pl.Float64, strict=False) if col.dtype == pl.String else col.cast(pl.Float64)
    if (
        not value.null_count()
        and not value.is_nan().any()
        and lo <= value.min() <= value.max() <= hi  # type: ignore[operator]
    ):
        return value.alias(name), None  # every row a number in range (the usual column)
    missing = col.is_null()
    not_number = _falses(len(col))
    if col.dtype == pl.String:
        todo = value.is_null() & ~missing
        if todo.any():
            index = todo.arg_true()
            stripped = col.gather(index).str.strip_chars()
            retry = stripped.cast(pl.Float64, strict=False)
            value = value.scatter(index, retry)
            missing = missing.scatter(index, stripped == "")
            not_number = not_number.scatter(index, retry.is_null() & (stripped != ""))
    frame = pl.DataFrame({"v": value, "missing": missing, "not_number": not_number})
    code = frame.select(
        pl.when("missing")
        .then(pl.lit("missing" if required else None))
        .when("not_number")
        .then(pl.lit("not_number"))
        .when(pl.col("v").is_nan())
        .then(pl.lit("nan"))
        .when(pl.col("v") < lo)
        .then(pl.lit("negative" if name == "speed_kmh" else "range"))
        .when(pl.col("v") > hi)
        .then(pl.lit("range"))
        .otherwise(None)
    ).to_series()
    return value.alias(name), code.alias(name)


def _dwords(col: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    name = col.name
    missing = col.is_null()
    if col.dtype == pl.String:
        value = col.str.to_integer(base=10, strict=False)
        todo = value.is_null() & ~missing
        if todo.any():
            index = todo.arg_true()
            stripped = col.gather(index).str.strip_chars().str.to_lowercase()
            hexa = stripped.str.starts_with("0x")
            retry = pl.select(
                pl.when(hexa)
                .then(stripped.str.slice(2).str.to_integer(base=16, strict=False))
                .otherwise(stripped.str.to_integer(base=10, strict=False))
            ).to_series()
            value = value.scatter(index, retry)
            missing = missing.scatter(index, stripped == "")
    elif col.dtype.is_float():
        integral = col.is_finite() & (col == col.round())
        value = col.set(~integral.fill_null(False), None).cast(pl.Int64)
    else:
        value = col.cast(pl.Int64, strict=False)
    if not value.null_count() and value.min() >= 0 and value.max() <= DWORD_MAX:  # type: ignore[operator]
        return value.alias(name), None  # every row a DWORD (the usual column)
    bad = (~missing & (value.is_null() | (value < 0) | (value > DWORD_MAX))).fill_null(True)
    code = pl.repeat(None, len(col), dtype=pl.String, eager=True).set(bad, "not_dword")
    return value.set(bad, None).alias(name), code.alias(name)


def _falses(n: int) -> pl.Series:
    return pl.repeat(False, n, eager=True)


def _rejects(
    raw: pl.DataFrame,
    errors: pl.DataFrame,
    source: str,
    plate_messages: dict[str, tuple[str, str]],
) -> list[Reject]:
    has_sub = "sub" in raw.columns
    has_raw = "raw" in raw.columns
    shown = raw.select(pl.col(c).cast(pl.String) for c in errors.columns)
    out: list[Reject] = []
    for i, codes in enumerate(errors.iter_rows(named=True)):
        sub = raw["sub"][i] if has_sub else None
        for name, code in codes.items():
            if code is None:
                continue
            value = shown[name][i]
            if code == "plate_invalid":
                zh, en = plate_messages[value]
            else:
                fzh, fen = FIELD_NAMES[name]
                lo, hi = _RANGES.get(name, (0.0, 0.0))
                zh_t, en_t = _MESSAGES[code]
                fields = {"fzh": fzh, "fen": fen, "v": _shown(value), "lo": lo, "hi": hi}
                zh, en = zh_t.format(**fields), en_t.format(**fields)
            if sub is not None:
                zh += f"（第 {sub} 个点）"
                en += f" (point {sub})"
            out.append(
                Reject(
                    field=name,
                    zh=zh,
                    en=en,
                    line=raw["line"][i],
                    source=source,
                    raw=raw["raw"][i] if has_raw else "",
                )
            )
    return out


def _shown(value: str | None, limit: int = 60) -> str:
    """A raw value as it goes into a message: on one line, cut to ``limit`` characters."""
    text = "" if value is None else value.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
