"""An HTML report of the flags of one or more days: one self-contained file (inline CSS and
SVG, no script, no map service, no link outside the page) that an officer can open offline.

It holds a summary (trips, flags by code, hotspots, facility capacity), an overview map and,
for every flag, a map of the track around the event with the approved route corridor, the
nearby fences (sites, facilities, depots, restricted zones) and the flag's location, then
its explanation in Chinese and English with the measured values and the thresholds used.
Maps are drawn from the project's own data, projected with the batch's UTM projector.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import shapely
from shapely.geometry.base import BaseGeometry
from sqlmodel import Session, col, select

from cdw.config import Settings, day_bounds
from cdw.enforcement.hotspots import rank_hotspots
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flags.values import Flag
from cdw.geo.projection import Projector
from cdw.geo.shapes import GEOFENCE, GEOFENCE_KINDS, ROUTE, parse_geometry
from cdw.permits.models import Permit
from cdw.registry.models import ConstructionSite, Depot, DisposalFacility, RestrictedZone
from cdw.tracking.analysis import ENGINE_CODES
from cdw.tracking.store import PointStore

TRACK_CONTEXT = timedelta(minutes=10)  # track drawn before and after a flag's span
MAP_SIZE = (520, 360)
OVERVIEW_SIZE = (900, 640)
MIN_MAP_SPAN_M = 800.0
# Hotspots of the days reported (cdw.enforcement.hotspots): every place with a stop flag,
# stop flags within this distance of another making one place.
HOTSPOT_RADIUS_M = 200.0
TOP_HOTSPOTS = 10

# kind: (fill, stroke, zh, en)
PLACE_STYLES = {
    "site": ("#f3e2c0", "#a0702a", "工地", "construction site"),
    "facility": ("#d6e6f5", "#2f6ea5", "消纳场", "disposal facility"),
    "depot": ("#e4e4e4", "#707070", "停车场", "depot"),
    "restricted": ("#f6d0d0", "#c0392b", "禁区", "restricted zone"),
}


@dataclass(frozen=True)
class Place:
    """A fenced place to draw; ``geometry`` is GeoJSON in WGS-84 lon/lat."""

    name: str
    kind: str  # a key of PLACE_STYLES
    geometry: dict[str, Any]


@dataclass(frozen=True)
class Route:
    """A permit's approved route(s) (GeoJSON, lon/lat) and its corridor half-width."""

    permit_no: str
    geometry: dict[str, Any]
    half_width_m: float


@dataclass(frozen=True)
class FacilityUse:
    name: str
    kind_zh: str
    kind_en: str
    capacity_m3: float
    used_m3: float


# --- SVG ----------------------------------------------------------------------------------------


class _Frame:
    """Projected metres inside ``bounds`` to SVG pixels (north up, same scale on both axes)."""

    def __init__(self, bounds: tuple[float, float, float, float], size: tuple[int, int]):
        minx, miny, maxx, maxy = bounds
        self.width, self.height = size
        self.scale = min(self.width / (maxx - minx), self.height / (maxy - miny))
        # centre the data in the frame
        self.x0 = (minx + maxx) / 2 - self.width / 2 / self.scale
        self.y1 = (miny + maxy) / 2 + self.height / 2 / self.scale
        self.box = shapely.box(
            self.x0, self.y1 - self.height / self.scale, self.x0 + self.width / self.scale, self.y1
        )

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.x0) * self.scale, (self.y1 - y) * self.scale

    def _points(self, coords: np.ndarray) -> str:
        return " ".join(f"{px:.1f},{py:.1f}" for px, py in (self.pixel(x, y) for x, y in coords))

    def path(self, geom: BaseGeometry) -> str:
        """SVG path data of a geometry clipped to the frame ('' when nothing is inside)."""
        if geom.is_empty or not geom.intersects(self.box):
            return ""
        clipped = shapely.clip_by_rect(geom, *self.box.bounds)
        parts = []
        for part in getattr(clipped, "geoms", [clipped]):
            if part.is_empty:
                continue
            if part.geom_type == "Polygon":
                for ring in (part.exterior, *part.interiors):
                    parts.append(f"M{self._points(np.asarray(ring.coords))}Z")
            elif part.geom_type in ("LineString", "LinearRing"):
                parts.append(f"M{self._points(np.asarray(part.coords))}")
            elif part.geom_type in ("MultiPolygon", "MultiLineString", "GeometryCollection"):
                parts.append(self.path(part))
        return " ".join(p for p in parts if p)


def _scale_bar(frame: _Frame) -> str:
    target = frame.width / frame.scale / 4
    length = max(
        (m for m in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if m <= target),
        default=50,
    )
    px = length * frame.scale
    y = frame.height - 12
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    return (
        f'<path d="M10,{y - 5} V{y} H{10 + px:.1f} V{y - 5}" class="scale"/>'
        f'<text x="{14 + px:.1f}" y="{y}" class="scale-label">{label}</text>'
    )


def _place_layers(frame: _Frame, places: Sequence[tuple[Place, BaseGeometry]]) -> list[str]:
    out = []
    for place, geom in places:
        d = frame.path(geom)
        if not d:
            continue
        fill, stroke, zh, en = PLACE_STYLES[place.kind]
        name = escape(place.name)
        out.append(
            f'<path d="{d}" fill="{fill}" stroke="{stroke}" fill-rule="evenodd" '
            f'fill-opacity="0.7"><title>{zh} / {en}: {name}</title></path>'
        )
        cx, cy = frame.pixel(*geom.representative_point().coords[0])
        if 0 <= cx <= frame.width and 0 <= cy <= frame.height:
            out.append(f'<text x="{cx:.1f}" y="{cy:.1f}" class="place">{name}</text>')
    return out


def _corridor_layers(frame: _Frame, routes: Sequence[tuple[Route, BaseGeometry]]) -> list[str]:
    out = []
    for route, line in routes:
        corridor = frame.path(line.buffer(route.half_width_m))
        if corridor:
            out.append(
                f'<path d="{corridor}" class="corridor"><title>核准路线走廊 / approved route '
                f"corridor {escape(route.permit_no)} ±{route.half_width_m:g} m</title></path>"
            )
            out.append(f'<path d="{frame.path(line)}" class="route"/>')
    return out


def _svg(frame: _Frame, layers: list[str], css_class: str, label: str) -> str:
    return (
        f'<svg class="{css_class}" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="{frame.width}" height="{frame.height}" role="img" aria-label="{escape(label)}">'
        f'<rect width="{frame.width}" height="{frame.height}" class="ground"/>'
        + "".join(layers)
        + _scale_bar(frame)
        + "</svg>"
    )


def _padded(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = bounds
    span = max(maxx - minx, maxy - miny, MIN_MAP_SPAN_M)
    pad = span * 0.2
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half = span / 2 + pad
    return cx - half, cy - half, cx + half, cy + half


# --- report -------------------------------------------------------------------------------------


def _fence(place: Place) -> BaseGeometry:
    return parse_geometry(place.geometry, GEOFENCE_KINDS, field="geofence", what=GEOFENCE)


class _Drawing:
    """Everything projected once: places, routes, the vehicles' tracks."""

    def __init__(
        self,
        points: pl.DataFrame,
        places: Sequence[Place],
        routes: Sequence[Route],
        flags: Sequence[Flag],
    ) -> None:
        lon = np.concatenate([points["lon"].to_numpy(), [f.lon for f in flags]])
        lat = np.concatenate([points["lat"].to_numpy(), [f.lat for f in flags]])
        if lon.size == 0:
            coords = [shapely.get_coordinates(_fence(p)) for p in places]
            lon, lat = np.concatenate(coords).T if coords else (np.array([113.58]), [23.55])
        self.projector = Projector.for_points(lon, lat)
        self.places = [(p, self.projector.geom_forward(_fence(p))) for p in places]
        self.routes = [
            (r, self.projector.geom_forward(parse_geometry(r.geometry, field="routes", what=ROUTE)))
            for r in routes
        ]
        self.points = points.sort("vehicle", "ts")
        if points.height:
            x, y = self.projector.forward(points["lon"].to_numpy(), points["lat"].to_numpy())
            self.points = points.with_columns(x=pl.Series(x), y=pl.Series(y)).sort("vehicle", "ts")

    def track(self, vehicle: str, start: datetime, end: datetime) -> np.ndarray:
        if not self.points.height:
            return np.empty((0, 2))
        rows = self.points.filter(
            (pl.col("vehicle") == vehicle) & (pl.col("ts") >= start) & (pl.col("ts") <= end)
        )
        return rows.select("x", "y").to_numpy()

    def overview(self, flags: Sequence[Flag]) -> str:
        geoms = [g for _, g in self.places] + [g for _, g in self.routes]
        xy = [self.projector.forward([f.lon], [f.lat]) for f in flags]
        geoms += [shapely.Point(x[0], y[0]) for x, y in xy]
        if not geoms:
            return ""
        frame = _Frame(_padded(shapely.GeometryCollection(geoms).bounds), OVERVIEW_SIZE)
        layers = _place_layers(frame, self.places)
        layers += [f'<path d="{frame.path(g)}" class="route"/>' for _, g in self.routes]
        for number, (flag, (x, y)) in enumerate(zip(flags, xy, strict=True), start=1):
            px, py = frame.pixel(x[0], y[0])
            layers.append(
                f'<a href="#flag-{number}"><circle cx="{px:.1f}" cy="{py:.1f}" r="7" '
                f'class="marker"><title>{number}. {flag.code.zh} / {flag.code.en} '
                f"{escape(flag.vehicle)}</title></circle>"
                f'<text x="{px:.1f}" y="{py + 3.5:.1f}" class="marker-label">{number}</text></a>'
            )
        return _svg(frame, layers, "overview-map", "总览 / overview")

    def flag_map(self, flag: Flag, routes_by_permit: dict[str, list[int]]) -> str:
        event = self.track(flag.vehicle, flag.start, flag.end)
        context = self.track(flag.vehicle, flag.start - TRACK_CONTEXT, flag.end + TRACK_CONTEXT)
        geom = (
            self.projector.geom_forward(parse_geometry(flag.geometry, field="geometry"))
            if flag.geometry
            else None
        )
        (fx,), (fy,) = self.projector.forward([flag.lon], [flag.lat])
        parts = [shapely.Point(fx, fy)]
        if geom is not None and not geom.is_empty:
            parts.append(geom)
        if len(event) > 1:
            parts.append(shapely.MultiPoint(event))
        frame = _Frame(_padded(shapely.GeometryCollection(parts).bounds), MAP_SIZE)
        routes = [self.routes[i] for i in routes_by_permit.get(flag.permit_no or "", [])]
        layers = _place_layers(frame, self.places) + _corridor_layers(frame, routes)
        if len(context) > 1:
            layers.append(f'<path d="{frame.path(shapely.LineString(context))}" class="track"/>')
        if len(event) > 1:
            layers.append(f'<path d="{frame.path(shapely.LineString(event))}" class="event"/>')
        if geom is not None and geom.geom_type != "Point" and not geom.is_empty:
            layers.append(f'<path d="{frame.path(geom)}" class="evidence"/>')
        px, py = frame.pixel(fx, fy)
        layers.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" class="flag-at">'
            f"<title>{flag.code.zh} / {flag.code.en}</title></circle>"
        )
        return _svg(frame, layers, "flag-map", f"{flag.code.zh} / {flag.code.en}")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:g}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _kv_table(values: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(_value(v))}</td></tr>" for k, v in values.items()
    )
    return f'<table class="kv">{rows}</table>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}thead th{background:#f2f2f2}table.kv th{background:#fafafa;
font-weight:normal;color:#555}.flag{border:1px solid #ddd;border-radius:6px;padding:1em;
margin:1em 0;display:grid;grid-template-columns:540px 1fr;gap:1em}.flag h3{margin:0 0 .4em}
.sev{display:inline-block;background:#c0392b;color:#fff;border-radius:3px;padding:0 .4em}
.en{color:#555}svg{border:1px solid #bbb;background:#fbfbf8}.ground{fill:#fbfbf8}
.corridor{fill:#2e8b57;fill-opacity:.18;stroke:#2e8b57;stroke-width:.8}
.route{fill:none;stroke:#2e8b57;stroke-width:1.5;stroke-dasharray:6 3}
.track{fill:none;stroke:#6b7fa3;stroke-width:1.6}.event{fill:none;stroke:#e67e22;stroke-width:3}
.evidence{fill:none;stroke:#c0392b;stroke-width:2;stroke-dasharray:3 2}
.flag-at{fill:#c0392b;stroke:#fff;stroke-width:2}.marker{fill:#c0392b;stroke:#fff;stroke-width:1.5}
.marker-label{font-size:9px;fill:#fff;text-anchor:middle}.place{font-size:10px;fill:#333}
.scale{fill:none;stroke:#333;stroke-width:1.5}.scale-label{font-size:10px;fill:#333}
.legend span{display:inline-block;margin-right:1.2em}.swatch{display:inline-block;width:1.6em;
height:.8em;margin-right:.3em;vertical-align:middle;border:1px solid #999}
"""


def _legend() -> str:
    items = [
        (f"background:{fill};border-color:{stroke}", f"{zh} / {en}")
        for fill, stroke, zh, en in PLACE_STYLES.values()
    ]
    items += [
        ("background:#cfe6d8;border-color:#2e8b57", "核准路线走廊 / approved route corridor"),
        ("background:#6b7fa3", "前后轨迹 / track before and after"),
        ("background:#e67e22", "预警时段轨迹 / track during the flag"),
        ("background:#c0392b", "预警位置与证据 / flag location and evidence"),
    ]
    return (
        '<p class="legend">'
        + "".join(
            f'<span><i class="swatch" style="{style}"></i>{escape(text)}</span>'
            for style, text in items
        )
        + "</p>"
    )


def write_report(
    path: Path,
    flags: Sequence[Flag],
    points: pl.DataFrame,
    places: Sequence[Place],
    routes: Sequence[Route],
    facilities: Sequence[FacilityUse],
    *,
    trips: int,
    title: str,
    timezone: str = "Asia/Shanghai",
) -> Path:
    """Write the report to ``path`` (folders created); ``points`` is a points frame (vehicle,
    ts, lon, lat) holding at least the flagged vehicles' fixes of the days reported."""
    tz = ZoneInfo(timezone)
    flags = sorted(flags, key=lambda f: (f.start, f.vehicle, f.code))
    drawing = _Drawing(points, places, routes, flags)
    routes_by_permit: dict[str, list[int]] = {}
    for i, route in enumerate(routes):
        routes_by_permit.setdefault(route.permit_no, []).append(i)

    def local(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    counts = Counter(f.code for f in flags)
    codes = list(ENGINE_CODES) + [c for c in FlagCode if c in counts and c not in ENGINE_CODES]
    by_code = _table(
        ("代码 / code", "中文", "English", "数量 / count"),
        [(c.value, c.zh, c.en, counts.get(c, 0)) for c in codes],
    )
    spots = rank_hotspots(flags, HOTSPOT_RADIUS_M, min_events=1)[:TOP_HOTSPOTS]
    spot_rows = [
        (
            spot.rank,
            f"{spot.lon:.5f}, {spot.lat:.5f}",
            spot.count,
            ", ".join(f"{FlagCode(c).zh} / {FlagCode(c).en}" for c in spot.codes),
            ", ".join(spot.vehicles),
        )
        for spot in spots
    ]
    hotspot_table = (
        _table(
            ("#", "位置 / lon, lat", "预警 / flags", "类型 / codes", "车辆 / vehicles"), spot_rows
        )
        if spot_rows
        else "<p>无 / none</p>"
    )
    facility_table = _table(
        (
            "消纳场 / facility",
            "类型 / kind",
            "容量 m³ / capacity",
            "已用 m³ / used",
            "剩余 / remaining",
        ),
        [
            (
                f.name,
                f"{f.kind_zh} / {f.kind_en}",
                f"{f.capacity_m3:,.0f}",
                f"{f.used_m3:,.0f}",
                f"{f.capacity_m3 - f.used_m3:,.0f} ({(1 - f.used_m3 / f.capacity_m3):.0%})",
            )
            for f in facilities
        ],
    )
    vehicles = points["vehicle"].n_unique() if points.height else 0
    sections = []
    for number, flag in enumerate(flags, start=1):
        permit = f"<p>核准 / permit: {escape(flag.permit_no)}</p>" if flag.permit_no else ""
        sections.append(
            f'<section class="flag" id="flag-{number}"><div>'
            f"{drawing.flag_map(flag, routes_by_permit)}</div><div>"
            f"<h3>{number}. {flag.code.zh} / {flag.code.en} "
            f'<span class="sev">{flag.severity}</span></h3>'
            f"<p><b>{escape(flag.vehicle)}</b> {local(flag.start)} – {local(flag.end)}"
            f" ({flag.lon:.5f}, {flag.lat:.5f})</p>{permit}"
            f"<p>{escape(flag.explanation_zh)}</p>"
            f'<p class="en">{escape(flag.explanation_en)}</p>'
            f"<h4>测量值 / measured</h4>{_kv_table(flag.measured)}"
            f"<h4>阈值 / thresholds</h4>{_kv_table(flag.thresholds)}"
            "</div></section>"
        )
    overview = drawing.overview(flags)
    html = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>行程 / trips: <b>{trips}</b> · 车辆 / vehicles: <b>{vehicles}</b> · "
        f"轨迹点 / points: <b>{points.height}</b> · 预警 / flags: <b>{len(flags)}</b></p>"
        f"<h2>预警类型 / flags by code</h2>{by_code}"
        f"<h2>热点 / hotspots</h2><p>停留类预警（长时间停留、疑似偷倒）与另一处相距 "
        f"{HOTSPOT_RADIUS_M:g} 米内归为一处 / stop flags (long stop, suspected dumping) within "
        f"{HOTSPOT_RADIUS_M:g} m of another count as one place</p>{hotspot_table}"
        f"<h2>消纳场容量 / facility capacity</h2>{facility_table}"
        f"<h2>总览 / overview</h2>{_legend()}{overview}"
        f"<h2>预警明细 / flags</h2>{''.join(sections) or '<p>无 / none</p>'}"
        "</body></html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def report_from_database(
    session: Session,
    store: PointStore,
    start_day: date,
    end_day: date,
    path: Path,
    settings: Settings,
    *,
    trips: int,
) -> Path:
    """The report of the stored flags of ``start_day..end_day`` with the registry's fences,
    the approved routes valid in those days and the flagged vehicles' tracks."""
    records = session.exec(
        select(FlagRecord).where(col(FlagRecord.day) >= start_day, col(FlagRecord.day) <= end_day)
    )
    flags = [r.to_flag() for r in records]
    start, end = day_bounds(start_day, end_day, ZoneInfo(settings.local_timezone))
    points = store.read(start, end)
    places = [
        Place(row.name, kind, row.geofence)
        for kind, model in (
            ("site", ConstructionSite),
            ("facility", DisposalFacility),
            ("depot", Depot),
            ("restricted", RestrictedZone),
        )
        for row in session.exec(select(model).order_by(model.id))
    ]
    permits = session.exec(
        select(Permit).where(Permit.valid_from <= end_day, Permit.valid_to >= start_day)
    )
    routes = [
        Route(
            p.permit_no,
            p.routes,
            p.corridor_half_width_m or settings.thresholds.corridor_half_width_m,
        )
        for p in permits
        if p.routes
    ]
    facilities = [
        FacilityUse(f.name, f.kind.zh, f.kind.en, f.capacity_m3, f.used_m3)
        for f in session.exec(select(DisposalFacility).order_by(DisposalFacility.id))
    ]
    days = start_day.isoformat() if start_day == end_day else f"{start_day} – {end_day}"
    return write_report(
        path,
        flags,
        points,
        places,
        routes,
        facilities,
        trips=trips,
        title=f"建筑垃圾运输预警报告 / construction-waste transport flags {days}",
        timezone=settings.local_timezone,
    )
