"""GPX reader: every ``<trkpt lat lon>`` with its ``<time>``; ``<speed>`` (m/s, GPX 1.0 or a
Garmin TrackPointExtension) becomes km/h and ``<course>`` the heading. The vehicle is the
track's ``<name>``, else the ``vehicle`` argument. Reject ``line`` = line of the ``<trkpt>`` tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.parsers import expat

import polars as pl

from cdw.tracking.io.raw_rows import ReadResult, file_error, finish

_COLUMNS = ("line", "plate", "ts", "lon", "lat", "speed_kmh", "heading", "raw")
_MS_TO_KMH = 3.6


def read_gpx(
    path: str | Path,
    *,
    vehicle: str | None = None,
    tz: str | None = None,
    crs: str = "wgs84",
    source: str | None = None,
) -> ReadResult:
    source = source or str(path)
    parser = expat.ParserCreate(namespace_separator=" ")
    rows: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
    stack: list[str] = []
    text: list[str] = []
    track_points: list[dict[str, Any]] = []
    track_name: str | None = None
    point: dict[str, Any] | None = None

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal point, track_name
        local = name.rsplit(" ", 1)[-1]
        stack.append(local)
        text.clear()
        if local == "trk":
            track_name = None
            track_points.clear()
        elif local == "trkpt":
            point = {
                "line": parser.CurrentLineNumber,
                "lat": attrs.get("lat"),
                "lon": attrs.get("lon"),
                "ts": None,
                "speed_kmh": None,
                "heading": None,
            }

    def end(name: str) -> None:
        nonlocal point, track_name
        local = stack.pop()
        value = "".join(text).strip()
        text.clear()
        if point is not None:
            if local == "time" and point["ts"] is None:
                point["ts"] = value
            elif local == "speed" and point["speed_kmh"] is None:
                point["speed_kmh"] = _kmh(value)
            elif local == "course" and point["heading"] is None:
                point["heading"] = value
            elif local == "trkpt":
                track_points.append(point)
                point = None
        elif local == "name" and stack and stack[-1] == "trk":
            track_name = value
        if local == "trk":
            for p in track_points:
                raw = f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"><time>{p["ts"]}</time></trkpt>'
                _append(rows, p, track_name or vehicle, raw)
            track_points.clear()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(Path(path).read_bytes(), True)
    except expat.ExpatError as exc:
        raise file_error(
            source,
            f"XML 格式错误：{expat.ErrorString(exc.code)}",
            f"malformed XML: {expat.ErrorString(exc.code)}",
            line=exc.lineno,
        ) from exc
    raw = pl.DataFrame(rows, schema={c: pl.Int64 if c == "line" else pl.String for c in _COLUMNS})
    return finish(raw, source, tz=tz, crs=crs)


def _kmh(value: str) -> str:
    try:
        return repr(float(value) * _MS_TO_KMH)
    except ValueError:
        return value


def _append(rows: dict[str, list[Any]], point: dict[str, Any], plate: str | None, raw: str) -> None:
    for name in _COLUMNS:
        rows[name].append(point.get(name))
    rows["plate"][-1] = plate
    rows["raw"][-1] = raw
