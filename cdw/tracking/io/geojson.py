"""GeoJSON reader: a FeatureCollection (or one Feature) of

- ``Point`` features with a time property (``time``, ``ts`` or ``timestamp``), or
- ``LineString`` / ``MultiLineString`` features with per-vertex times in ``times``,
  ``coordTimes`` (as written by togeojson) or ``coordinateProperties.times``.

The vehicle comes from the ``plate`` (or ``vehicle``) property, else the ``vehicle``
argument. Point features may carry ``speed_kmh``, ``heading``, ``status`` and ``alarm``.
Reject ``line`` = 0-based feature index; for line features the message names the vertex.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from cdw.tracking.io.raw_rows import OPTIONAL_COLUMNS, ReadResult, Reject, file_error, finish

_TIME_KEYS = ("time", "ts", "timestamp")
_TIMES_KEYS = ("times", "coordTimes")
_COLUMNS = ("line", "sub", "plate", "ts", "lon", "lat", *OPTIONAL_COLUMNS, "raw")


def read_geojson(
    path: str | Path,
    *,
    vehicle: str | None = None,
    tz: str | None = None,
    crs: str = "wgs84",
    source: str | None = None,
) -> ReadResult:
    source = source or str(path)
    try:
        doc = json.loads(Path(path).read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise file_error(source, "文件不是 UTF-8 编码", "the file is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise file_error(
            source, f"JSON 语法错误：{exc.msg}", f"invalid JSON: {exc.msg}", line=exc.lineno
        ) from exc
    features = _features(doc, source)
    rows: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
    structural: list[Reject] = []
    for index, feature in enumerate(features):
        problem = _feature_rows(index, feature, vehicle, rows)
        if problem is not None:
            zh, en = problem
            structural.append(
                Reject(
                    field="geometry",
                    zh=zh,
                    en=en,
                    line=index,
                    source=source,
                    raw=_dump(feature),
                )
            )
    raw = pl.DataFrame(
        rows, schema={c: pl.Int64 if c in ("line", "sub") else pl.String for c in _COLUMNS}
    )
    return finish(raw, source, tz=tz, crs=crs).with_rejects(structural, len(structural))


def _features(doc: Any, source: str) -> list[Any]:
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "FeatureCollection" and isinstance(doc.get("features"), list):
        return doc["features"]
    if kind == "Feature":
        return [doc]
    raise file_error(
        source,
        "不是 GeoJSON FeatureCollection 或 Feature",
        "not a GeoJSON FeatureCollection or Feature",
    )


def _feature_rows(
    index: int, feature: Any, vehicle: str | None, rows: dict[str, list[Any]]
) -> tuple[str, str] | None:
    """Append the feature's points to ``rows``; return (zh, en) when it has none to give."""
    if not isinstance(feature, dict):
        return "要素不是对象", "feature is not an object"
    props = feature.get("properties") or {}
    geometry = feature.get("geometry") or {}
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    plate = _text(props.get("plate", props.get("vehicle"))) or vehicle
    if kind == "Point":
        if not _is_position(coords):
            return "Point 坐标无效", "Point coordinates are invalid"
        time = next((props[k] for k in _TIME_KEYS if k in props), None)
        extra = {c: _text(props.get(c)) for c in OPTIONAL_COLUMNS}
        _add(rows, index, None, plate, time, coords, extra, _dump(feature))
        return None
    if kind in ("LineString", "MultiLineString"):
        parts = [coords] if kind == "LineString" else coords
        times = _vertex_times(props)
        if times is None:
            return (
                f"{kind} 缺少逐点时间（properties.times 或 coordTimes）",
                f"{kind} has no per-vertex times (properties.times or coordTimes)",
            )
        time_parts = [times] if kind == "LineString" else times
        if (
            not isinstance(parts, list)
            or not isinstance(time_parts, list)
            or len(parts) != len(time_parts)
            or any(
                not isinstance(p, list) or not isinstance(t, list) or len(p) != len(t)
                for p, t in zip(parts, time_parts, strict=True)
            )
        ):
            return (
                "时间个数与顶点个数不一致",
                "the number of times differs from the number of vertices",
            )
        vertices = [
            (position, time)
            for part, part_times in zip(parts, time_parts, strict=True)
            for position, time in zip(part, part_times, strict=True)
        ]
        for vertex, (position, _) in enumerate(vertices):
            if not _is_position(position):
                return f"第 {vertex} 个顶点坐标无效", f"vertex {vertex} has invalid coordinates"
        for vertex, (position, time) in enumerate(vertices):
            raw = _dump({"coordinates": position, "time": time})
            _add(rows, index, vertex, plate, time, position, {}, raw)
        return None
    return (
        f"不支持的几何类型：{kind}（应为 Point、LineString 或 MultiLineString）",
        f"unsupported geometry type: {kind} (expected Point, LineString or MultiLineString)",
    )


def _vertex_times(props: dict[str, Any]) -> Any:
    for key in _TIMES_KEYS:
        if key in props:
            return props[key]
    coordinate_props = props.get("coordinateProperties")
    if isinstance(coordinate_props, dict):
        return coordinate_props.get("times")
    return None


def _is_position(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 2


def _add(
    rows: dict[str, list[Any]],
    index: int,
    sub: int | None,
    plate: str | None,
    time: Any,
    position: list[Any],
    extra: dict[str, str | None],
    raw: str,
) -> None:
    rows["line"].append(index)
    rows["sub"].append(sub)
    rows["plate"].append(plate)
    rows["ts"].append(_text(time))
    rows["lon"].append(_text(position[0]))
    rows["lat"].append(_text(position[1]))
    for name in OPTIONAL_COLUMNS:
        rows[name].append(extra.get(name))
    rows["raw"].append(raw)


def _text(value: Any) -> str | None:
    """Every value goes to the validator as text, so that all sources share one set of rules."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:1000]
