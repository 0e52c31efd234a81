"""Validators for registry fields.

Each ``validate_*`` function returns the normalised value or raises
:class:`~cdw.errors.ValidationFailed` whose problems say, in Chinese and English, everything
that is wrong with the value (a geofence reports all its defects at once). They are plain
functions: the Create/Update models, the bulk importer and other packages call the same ones.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import time
from typing import Any

import shapely
from pydantic import ValidationError
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon

from cdw.errors import Problem, ValidationFailed
from cdw.geo.shapes import GEOFENCE, POLYGON_KINDS, parse_geometry
from cdw.registry.categories import LabelledEnum, WasteCategory

# ---------------------------------------------------------------------------------------------
# Plates (GA 36-2018): province character, issuing-office letter, serial.

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "A-HJ-NP-Z"  # I and O are never used
_ORDINARY = re.compile(rf"[{PROVINCES}][{_LETTER}][0-9{_LETTER}]{{5}}")
_NEV_SMALL = re.compile(rf"[{PROVINCES}][{_LETTER}][DF][0-9{_LETTER}][0-9]{{4}}")
_NEV_LARGE = re.compile(rf"[{PROVINCES}][{_LETTER}][0-9]{{5}}[DF]")
_PLATE_SEPARATORS = re.compile(r"[\s·•・.\-]")


def _fail(field: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed([Problem(field, zh, en)])


def plate_key(plate: str) -> str:
    """A plate as stored: upper case, without spaces, dots or dashes (not validated)."""
    return _PLATE_SEPARATORS.sub("", plate).upper()


def validate_plate(plate: str, *, field: str = "plate") -> str:
    """Normalise (upper case, no separators) and check a mainland plate number.

    Ordinary plates have 7 characters (``粤A12345``); new-energy plates 8: small vehicles
    ``粤AD12345`` (D/F, a letter or digit, four digits), large vehicles ``粤A12345D`` (five
    digits, then D/F). I and O are never used.
    """
    if not isinstance(plate, str):
        raise _fail(field, "车牌号应为文本", "plate must be a string")
    norm = plate_key(plate)
    if not norm:
        raise _fail(field, "车牌号为空", "plate is empty")
    why_zh: str
    why_en: str
    if norm[0] not in PROVINCES:
        why_zh = f"首字「{norm[0]}」不是省级简称"
        why_en = f"first character '{norm[0]}' is not a province abbreviation"
    elif "I" in norm or "O" in norm:
        why_zh, why_en = "车牌不使用字母 I 和 O", "plates never use the letters I and O"
    elif len(norm) not in (7, 8):
        why_zh = f"应为 7 位（普通）或 8 位（新能源），实为 {len(norm)} 位"
        why_en = f"expected 7 characters (ordinary) or 8 (new-energy), got {len(norm)}"
    elif (
        len(norm) == 7
        and _ORDINARY.fullmatch(norm)
        or len(norm) == 8
        and (_NEV_SMALL.fullmatch(norm) or _NEV_LARGE.fullmatch(norm))
    ):
        return norm
    elif len(norm) == 7:
        why_zh = "普通号牌格式应为：省简称 + 发牌机关字母 + 5 位字母或数字"
        why_en = "an ordinary plate is province + office letter + 5 letters or digits"
    else:
        why_zh = (
            "新能源号牌格式应为：小型 省简称+字母+D/F+字母或数字+4 位数字，"
            "大型 省简称+字母+5 位数字+D/F"
        )
        why_en = (
            "a new-energy plate is province + letter + D/F + letter-or-digit + 4 digits (small)"
            " or province + letter + 5 digits + D/F (large)"
        )
    raise _fail(field, f"车牌号无效「{plate}」：{why_zh}", f"invalid plate '{plate}': {why_en}")


def is_new_energy_plate(plate: str) -> bool:
    return len(plate) == 8


# ---------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015).

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def validate_credit_code(code: str, *, field: str = "credit_code") -> str:
    """Normalise (upper case, no spaces) and check an 18-character unified social credit code."""
    if not isinstance(code, str):
        raise _fail(field, "统一社会信用代码应为文本", "credit code must be a string")
    norm = re.sub(r"\s", "", code).upper()
    if len(norm) != 18:
        raise _fail(
            field,
            f"统一社会信用代码应为 18 位，「{code}」为 {len(norm)} 位",
            f"a unified social credit code has 18 characters, '{code}' has {len(norm)}",
        )
    bad = sorted({c for c in norm if c not in _CREDIT_VALUE})
    if bad:
        listed = "".join(bad)
        raise _fail(
            field,
            f"统一社会信用代码含非法字符「{listed}」（不使用 I、O、Z、S、V）",
            f"credit code contains invalid characters '{listed}' (I, O, Z, S, V are not used)",
        )
    if not norm[2:8].isdigit():
        raise _fail(
            field,
            f"统一社会信用代码第 3–8 位（行政区划码）应为数字：「{norm[2:8]}」",
            f"characters 3-8 (administrative division code) must be digits: '{norm[2:8]}'",
        )
    expected = credit_code_check_char(norm[:17])
    if norm[17] != expected:
        raise _fail(
            field,
            f"统一社会信用代码校验位错误：「{norm}」末位应为 {expected}",
            f"credit code check character is wrong: '{norm}' should end in {expected}",
        )
    return norm


# ---------------------------------------------------------------------------------------------
# Registry codes: the natural key of a site, facility, depot or zone (names may repeat).

CODE_MAX_LENGTH = 40
_CODE = re.compile(rf"[A-Za-z0-9._-]{{1,{CODE_MAX_LENGTH}}}")


def validate_code(code: str, *, field: str = "code") -> str:
    """A registry code as given (case kept, surrounding spaces dropped): 1–40 letters,
    digits, ``.``, ``_`` or ``-``."""
    norm = str(code).strip()
    if not _CODE.fullmatch(norm):
        raise _fail(
            field,
            f"编码应为 1–{CODE_MAX_LENGTH} 位字母、数字、「.」「_」「-」：「{code}」",
            f"a code is 1-{CODE_MAX_LENGTH} letters, digits, '.', '_' or '-': '{code}'",
        )
    return norm


# ---------------------------------------------------------------------------------------------
# JT/T 808 terminal phone number, opening hours.

_TERMINAL = re.compile(r"\d{11,20}")


def validate_terminal_id(terminal_id: str, *, field: str = "terminal_id") -> str:
    """A JT/T 808 terminal phone number: 11 to 20 digits, kept as given (leading zeros too)."""
    norm = re.sub(r"\s", "", str(terminal_id))
    if not _TERMINAL.fullmatch(norm):
        raise _fail(
            field,
            f"终端手机号应为 11–20 位数字：「{terminal_id}」",
            f"terminal phone number must be 11-20 digits: '{terminal_id}'",
        )
    return norm


_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})")


def parse_opening_hours(hours: str, *, field: str = "opening_hours") -> tuple[time, time | None]:
    """``"07:00-22:00"`` → (07:00, 22:00). An end of ``24:00`` is returned as ``None``."""
    match = _HOURS.fullmatch(str(hours).strip())
    problem = _fail(
        field,
        f"营业时间格式应为 HH:MM-HH:MM（如 07:00-22:00，可跨夜 20:00-06:00）：「{hours}」",
        f"opening hours must look like HH:MM-HH:MM (07:00-22:00; overnight 20:00-06:00): '{hours}'",
    )
    if not match:
        raise problem
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise problem
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end == start:
        raise _fail(
            field,
            f"营业时间起止相同「{hours}」；全天开放请写 00:00-24:00",
            f"opening hours start and end are equal '{hours}'; write 00:00-24:00 for all day",
        )
    return start, end


def validate_opening_hours(hours: str, *, field: str = "opening_hours") -> str:
    """Check and normalise to ``HH:MM-HH:MM``; an end before the start means overnight."""
    start, end = parse_opening_hours(hours, field=field)
    return f"{start:%H:%M}-{'24:00' if end is None else f'{end:%H:%M}'}"


def opening_hours_contain(hours: str, at: time) -> bool:
    """Whether local time ``at`` lies in ``hours`` (start inclusive, end exclusive)."""
    start, end = parse_opening_hours(hours)
    if end is None:
        return at >= start
    if start < end:
        return start <= at < end
    return at >= start or at < end  # overnight


# ---------------------------------------------------------------------------------------------
# Enumerations and waste-category lists given as values or labels.


def parse_enum(enum: type[LabelledEnum], raw: Any, *, field: str) -> LabelledEnum:
    """A member of ``enum`` from its value or its Chinese or English label."""
    try:
        return enum.parse(raw)
    except ValueError:
        raise _fail(
            field,
            f"取值无效「{raw}」，可选：{enum.choices_zh()}",
            f"invalid value '{raw}'; allowed: {enum.choices_en()}",
        ) from None


def parse_categories(raw: Any, *, field: str = "categories") -> list[WasteCategory]:
    """Waste categories from a list or a ``;``/``,``/``|``-separated string; order kept, no repeats."""
    if raw is None:
        return []
    items: Iterable[Any]
    if isinstance(raw, str):
        items = [p for p in re.split(r"[;,|；，、]", raw) if p.strip()]
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        raise _fail(field, "废弃物类别应为列表", "waste categories must be a list")
    out: list[WasteCategory] = []
    problems: list[Problem] = []
    for item in items:
        try:
            member = WasteCategory.parse(item)
        except ValueError:
            problems.append(
                Problem(
                    field,
                    f"未知的废弃物类别「{item}」，可选：{WasteCategory.choices_zh()}",
                    f"unknown waste category '{item}'; allowed: {WasteCategory.choices_en()}",
                )
            )
            continue
        if member not in out:
            out.append(member)
    if problems:
        raise ValidationFailed(problems)
    return out


# ---------------------------------------------------------------------------------------------
# Geofences: GeoJSON Polygon / MultiPolygon in WGS-84 longitude, latitude order.

GEOFENCE_MIN_AREA_M2 = 10.0
GEOFENCE_MAX_AREA_M2 = 100e6  # 100 km²: larger than any site, facility or depot
ZONE_MAX_AREA_M2 = 2000e6  # water-source protection areas can be large

# Longitude / latitude extent of China, for the swapped-order heuristic.
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)
_GEOD = Geod(ellps="WGS84")


def _in_china(lon: float, lat: float) -> bool:
    return _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _polygons_of(geojson: dict[str, Any]) -> list[Any]:
    """The coordinate arrays of each polygon (one for Polygon, several for MultiPolygon)."""
    coords = geojson.get("coordinates")
    if geojson.get("type") == "Polygon":
        return [coords]
    return coords if isinstance(coords, list) else [coords]


def _structure_problems(
    geojson: dict[str, Any], field: str
) -> tuple[list[Problem], list[tuple[float, float]]]:
    """Problems with rings and positions, and the positions that are pairs of numbers."""
    problems: list[Problem] = []
    positions: list[tuple[float, float]] = []
    multi = geojson.get("type") == "MultiPolygon"
    polygons = _polygons_of(geojson)
    if not polygons or not all(isinstance(p, list) for p in polygons):
        return [Problem(field, "缺少坐标 coordinates", "coordinates are missing")], positions
    for pi, rings in enumerate(polygons):
        where_zh = f"第 {pi + 1} 个多边形" if multi else "多边形"
        where_en = f"polygon {pi + 1}" if multi else "polygon"
        if not rings:
            problems.append(Problem(field, f"{where_zh}没有环", f"{where_en} has no ring"))
            continue
        for ri, ring in enumerate(rings):
            ring_zh = f"{where_zh}{'外环' if ri == 0 else f'第 {ri} 个内环'}"
            ring_en = f"{where_en} {'exterior ring' if ri == 0 else f'hole {ri}'}"
            if not isinstance(ring, list):
                problems.append(
                    Problem(
                        field, f"{ring_zh}应为坐标列表", f"{ring_en} must be a list of positions"
                    )
                )
                continue
            pairs = []
            bad = 0
            for pos in ring:
                if (
                    isinstance(pos, list | tuple)
                    and len(pos) >= 2
                    and all(map(_is_number, pos[:2]))
                ):
                    pairs.append((float(pos[0]), float(pos[1])))
                else:
                    bad += 1
            if bad:
                problems.append(
                    Problem(
                        field,
                        f"{ring_zh}有 {bad} 个坐标不是 [经度, 纬度] 数值对",
                        f"{ring_en} has {bad} positions that are not [lon, lat] number pairs",
                    )
                )
            positions.extend(pairs)
            if len(ring) < 4:
                problems.append(
                    Problem(
                        field,
                        f"{ring_zh}只有 {len(ring)} 个坐标，至少需要 4 个（首尾相同）",
                        f"{ring_en} has {len(ring)} positions; at least 4 are needed (first = last)",
                    )
                )
            elif not bad and pairs[0] != pairs[-1]:
                problems.append(
                    Problem(
                        field,
                        f"{ring_zh}未闭合：首点 {list(pairs[0])} 与末点 {list(pairs[-1])} 不同",
                        f"{ring_en} is not closed: first {list(pairs[0])} differs from last "
                        f"{list(pairs[-1])}",
                    )
                )
    return problems, positions


def _range_problems(positions: list[tuple[float, float]], field: str) -> list[Problem]:
    if not positions:
        return []
    outside = [(x, y) for x, y in positions if not (-180 <= x <= 180 and -90 <= y <= 90)]
    swap_fits = all(-90 <= x <= 90 and -180 <= y <= 180 for x, y in positions)
    in_china = all(_in_china(x, y) for x, y in positions)
    swapped_in_china = all(_in_china(y, x) for x, y in positions)
    if swap_fits and (outside or (swapped_in_china and not in_china)):
        x, y = positions[0]
        return [
            Problem(
                field,
                f"疑似经纬度颠倒：首点为 [{x}, {y}]，GeoJSON 要求 [经度, 纬度]",
                f"looks like lat/lon swapped: first position is [{x}, {y}]; GeoJSON wants "
                "[longitude, latitude]",
            )
        ]
    if outside:
        x, y = outside[0]
        return [
            Problem(
                field,
                f"{len(outside)} 个坐标超出 WGS-84 范围（经度 ±180，纬度 ±90），如 [{x}, {y}]",
                f"{len(outside)} positions are outside WGS-84 ranges (lon ±180, lat ±90), "
                f"e.g. [{x}, {y}]",
            )
        ]
    return []


_VALIDITY_ZH = {
    "Self-intersection": "多边形自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points": "点数过少",
    "Hole lies outside shell": "内环位于外环之外",
    "Nested holes": "内环相互嵌套",
    "Interior is disconnected": "内部不连通",
    "Nested shells": "多边形相互嵌套",
    "Duplicate Rings": "环重复",
    "Invalid Coordinate": "坐标无效",
}


def _validity_problem(geom: Polygon | MultiPolygon, field: str) -> Problem | None:
    reason = shapely.is_valid_reason(geom)
    if reason == "Valid Geometry":
        return None
    kind, _, where = reason.partition("[")
    where = f"（位置 [{where}）" if where else ""
    zh = _VALIDITY_ZH.get(kind.strip(), "几何无效")
    return Problem(field, f"{zh}{where}", f"invalid polygon: {reason}")


def geodesic_area_m2(geom: Polygon | MultiPolygon) -> float:
    """Area on the WGS-84 ellipsoid in square metres."""
    area, _perimeter = _GEOD.geometry_area_perimeter(geom)
    return abs(area)


def validate_geofence(
    geojson: Any,
    *,
    field: str = "geofence",
    max_area_m2: float = GEOFENCE_MAX_AREA_M2,
) -> Polygon | MultiPolygon:
    """Check a GeoJSON Polygon or MultiPolygon (a dict, a JSON string, or a Feature holding one).

    Every defect is reported at once: wrong type, rings not closed or too short, positions that
    are not number pairs or lie outside WGS-84 ranges, probable latitude/longitude swap,
    self-intersection and other invalidity, and an area outside 10 m² … ``max_area_m2``.
    """
    if isinstance(geojson, str):
        try:
            geojson = json.loads(geojson)
        except json.JSONDecodeError as exc:
            raise _fail(
                field,
                f"地理围栏不是有效的 JSON：{exc.msg}",
                f"geofence is not valid JSON: {exc.msg}",
            ) from None
    if isinstance(geojson, dict) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        got = geojson.get("type") if isinstance(geojson, dict) else type(geojson).__name__
        raise _fail(
            field,
            f"地理围栏应为 GeoJSON Polygon 或 MultiPolygon，实为 {got}",
            f"geofence must be a GeoJSON Polygon or MultiPolygon, got {got}",
        )
    problems, positions = _structure_problems(geojson, field)
    problems += _range_problems(positions, field)
    if problems:
        raise ValidationFailed(problems)

    geom = parse_geometry(geojson, POLYGON_KINDS, field=field, what=GEOFENCE)
    invalid = _validity_problem(geom, field)
    if invalid:  # the area of an invalid polygon means nothing
        raise ValidationFailed([invalid])
    area = geodesic_area_m2(geom)
    if not GEOFENCE_MIN_AREA_M2 <= area <= max_area_m2:
        shown = f"{area:,.1f} m²" if area < 1e6 else f"{area / 1e6:,.1f} km²"
        raise _fail(
            field,
            f"地理围栏面积 {shown} 不合理（应在 {GEOFENCE_MIN_AREA_M2:,.0f} m² 至 "
            f"{max_area_m2 / 1e6:,.0f} km² 之间）",
            f"geofence area {shown} is not plausible (expected "
            f"{GEOFENCE_MIN_AREA_M2:,.0f} m² to {max_area_m2 / 1e6:,.0f} km²)",
        )
    return geom


def normalise_geofence(
    geojson: Any, *, field: str = "geofence", max_area_m2: float = GEOFENCE_MAX_AREA_M2
) -> dict[str, Any]:
    """Validate, then return a clean GeoJSON geometry dict (2-D float positions, no extras)."""
    geom = validate_geofence(geojson, field=field, max_area_m2=max_area_m2)
    return json.loads(shapely.to_geojson(geom))


# ---------------------------------------------------------------------------------------------
# Pydantic errors → Problems with Chinese and English text.

_PYDANTIC_ZH = {
    "missing": "必填字段缺失",
    "string_type": "应为文本",
    "string_too_short": "文本过短",
    "string_too_long": "文本过长",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限数字",
    "bool_type": "应为是/否（true/false）",
    "bool_parsing": "应为是/否（true/false）",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不含时刻",
    "datetime_parsing": "应为日期时间（ISO 8601）",
    "datetime_type": "应为日期时间（ISO 8601）",
    "enum": "取值无效",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "json_invalid": "JSON 格式错误",
    "extra_forbidden": "不允许的字段",
}


def _pydantic_zh(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    bounds = {
        "greater_than": "应大于 {gt}",
        "greater_than_equal": "应不小于 {ge}",
        "less_than": "应小于 {lt}",
        "less_than_equal": "应不大于 {le}",
    }
    shown = {k: f"{v:g}" if isinstance(v, int | float) else v for k, v in ctx.items()}
    if kind in bounds:
        return bounds[kind].format(**shown)
    if kind == "too_short" and "min_length" in ctx:
        return f"至少需要 {ctx['min_length']} 项"
    if kind == "too_long" and "max_length" in ctx:
        return f"至多 {ctx['max_length']} 项"
    if kind == "enum" and "expected" in ctx:
        return f"取值无效，可选：{ctx['expected']}"
    return _PYDANTIC_ZH.get(kind, "取值无效")


def problems_from_validation_error(
    exc: ValidationError | list[dict[str, Any]],
    *,
    line: int | None = None,
    source: str | None = None,
    skip_loc: tuple[str, ...] = ("body", "query", "path"),
) -> list[Problem]:
    """Turn pydantic errors (or ``RequestValidationError.errors()``) into Problems.

    Errors raised by the validators of this module keep their own Chinese and English text.
    """
    errors = exc.errors() if isinstance(exc, ValidationError) else exc
    problems: list[Problem] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in skip_loc]
        field = ".".join(loc) or "body"
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, ValidationFailed):
            problems += [Problem(field, p.zh, p.en, line, source) for p in inner.problems]
        else:
            problems.append(
                Problem(field, _pydantic_zh(err), str(err.get("msg", "")), line, source)
            )
    return problems
