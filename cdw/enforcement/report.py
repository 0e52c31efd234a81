"""A printable evidence report of one case (HTML), its map an inline SVG drawn from the
project's own data: the tracks around each flag, the approved corridor, nearby geofences.
No external map service is called."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np
from sqlmodel import Session

from cdw.config import Settings
from cdw.enforcement.cases import case_flags, case_public
from cdw.enforcement.models import Case
from cdw.enforcement.review import (
    corridor_geojson,
    nearby_geofences,
    permit_by_no,
    track_geojson,
)
from cdw.flags.models import FlagRecord
from cdw.geo.projection import Projector
from cdw.tracking.store import PointStore

SVG_WIDTH = 800
MIN_EXTENT_M = 400.0
PAD = 0.08
STYLE = {
    "corridor": 'fill="#c8e6c9" fill-opacity="0.6" stroke="none"',
    "route": 'fill="none" stroke="#2e7d32" stroke-width="2" stroke-dasharray="6 4"',
    "site": 'fill="#bbdefb" fill-opacity="0.4" stroke="#1565c0" stroke-width="1.5"',
    "facility": 'fill="#d1c4e9" fill-opacity="0.4" stroke="#4527a0" stroke-width="1.5"',
    "depot": 'fill="#eeeeee" fill-opacity="0.4" stroke="#616161" stroke-width="1.5"',
    "restricted_zone": 'fill="#ffcdd2" fill-opacity="0.5" stroke="#c62828" stroke-width="1.5"',
    "track": 'fill="none" stroke="#0d47a1" stroke-width="2.5" stroke-linejoin="round"',
}


class _Canvas:
    """Lon/lat → SVG pixels through the projection of the case (north up, metres kept square)."""

    def __init__(self, projector: Projector, lon: np.ndarray, lat: np.ndarray):
        self.projector = projector
        x, y = projector.forward(lon, lat)
        cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
        extent = max(x.max() - x.min(), y.max() - y.min(), MIN_EXTENT_M) * (1 + 2 * PAD)
        self.x0, self.y1 = cx - extent / 2, cy + extent / 2
        self.scale = SVG_WIDTH / extent  # pixels per metre
        self.metres = extent

    def points(self, coords: list[list[float]]) -> str:
        arr = np.asarray(coords, dtype=np.float64)[:, :2]
        x, y = self.projector.forward(arr[:, 0], arr[:, 1])
        px, py = (x - self.x0) * self.scale, (self.y1 - y) * self.scale
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    kind = geometry.get("type")
    if kind == "Polygon":
        return [geometry["coordinates"][0]]
    if kind == "MultiPolygon":
        return [poly[0] for poly in geometry["coordinates"]]
    return []


def _lines(geometry: dict[str, Any]) -> list[list[list[float]]]:
    kind = geometry.get("type")
    if kind == "LineString":
        return [geometry["coordinates"]]
    if kind == "MultiLineString":
        return list(geometry["coordinates"])
    return []


def _scale_bar(canvas: _Canvas) -> str:
    target = canvas.metres / 5
    step = 10 ** math.floor(math.log10(target))
    metres = max(m * step for m in (1, 2, 5) if m * step <= target)
    width = metres * canvas.scale
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    return (
        f'<g transform="translate(20,{SVG_WIDTH - 24})"><rect width="{width:.1f}" height="6" '
        f'fill="#212121"/><text y="-4" font-size="12">{label}</text></g>'
    )


def track_svg(
    session: Session, store: PointStore, flags: list[FlagRecord], settings: Settings
) -> str:
    """The map of the case: corridor, geofences, tracks and numbered flag markers."""
    if not flags:
        return ""
    projector = Projector.for_points([f.lon for f in flags], [f.lat for f in flags])
    tracks = [track_geojson(store, f) for f in flags]
    track_lines = [
        line for t in tracks for feat in t["features"] for line in _lines(feat["geometry"])
    ]
    lon = np.array([f.lon for f in flags] + [c[0] for line in track_lines for c in line])
    lat = np.array([f.lat for f in flags] + [c[1] for line in track_lines for c in line])
    canvas = _Canvas(projector, lon, lat)
    radius = max(settings.thresholds.dumping_facility_radius_m, canvas.metres)
    shapes: list[str] = []
    permits = {f.permit_no for f in flags if f.permit_no}
    for permit_no in sorted(permits):
        corridor = corridor_geojson(permit_by_no(session, permit_no), settings, projector)
        # the corridor first, so that the route line is drawn on top of it
        for feat in sorted(
            corridor["features"], key=lambda f: f["properties"]["kind"] != "corridor"
        ):
            kind = feat["properties"]["kind"]
            for ring in _rings(feat["geometry"]):
                shapes.append(f'<polygon points="{canvas.points(ring)}" {STYLE["corridor"]}/>')
            for line in _lines(feat["geometry"]):
                shapes.append(f'<polyline points="{canvas.points(line)}" {STYLE[kind]}/>')
    seen: set[tuple[str, int]] = set()
    for flag in flags:
        for feat in nearby_geofences(session, flag, radius, projector)["features"]:
            props = feat["properties"]
            if (props["kind"], props["id"]) in seen:
                continue
            seen.add((props["kind"], props["id"]))
            label = escape(f"{props['kind_zh']}：{props['name']}")
            for ring in _rings(feat["geometry"]):
                shapes.append(
                    f'<polygon points="{canvas.points(ring)}" {STYLE[props["kind"]]}>'
                    f"<title>{label}</title></polygon>"
                )
    for line in track_lines:
        if len(line) > 1:
            shapes.append(f'<polyline points="{canvas.points(line)}" {STYLE["track"]}/>')
    for number, flag in enumerate(flags, start=1):
        x, y = canvas.points([[flag.lon, flag.lat]]).split(",")
        shapes.append(
            f'<circle cx="{x}" cy="{y}" r="7" fill="#d32f2f" stroke="white" stroke-width="2"/>'
            f'<text x="{float(x) + 9:.1f}" y="{float(y) - 9:.1f}" font-size="14" '
            f'font-weight="bold" fill="#d32f2f">{number}</text>'
        )
    shapes.append(_scale_bar(canvas))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{SVG_WIDTH}" '
        f'viewBox="0 0 {SVG_WIDTH} {SVG_WIDTH}" role="img" aria-label="案件轨迹图 / case map">'
        f'<rect width="100%" height="100%" fill="#fafafa"/>{"".join(shapes)}'
        '<text x="770" y="30" font-size="16" text-anchor="middle">N ↑</text></svg>'
    )


def _row(label_zh: str, label_en: str, value: Any) -> str:
    shown = "—" if value in (None, "") else escape(str(value))
    return f"<tr><th>{label_zh} / {label_en}</th><td>{shown}</td></tr>"


def _party(party: dict[str, Any] | None) -> str | None:
    return None if party is None else f"{party['name']}（#{party['id']}）"


def case_report_html(session: Session, store: PointStore, case: Case, settings: Settings) -> str:
    """The whole report as one self-contained HTML page."""
    body = case_public(session, case).model_dump(mode="json")
    flags = case_flags(session, case)
    parties = body["parties"]
    spot = parties["dumping_location"]
    spot_text = (
        None
        if spot is None
        else f"{spot['lon']:.6f}, {spot['lat']:.6f} {spot['description']}".strip()
    )
    flag_rows = "".join(
        f"<tr><td>{n}</td><td>{escape(f['label_zh'])} / {escape(f['label_en'])}</td>"
        f"<td>{escape(f['vehicle'])}</td><td>{escape(f['start'])}</td><td>{f['severity']}</td>"
        f"<td>{escape(f['explanation_zh'])}<br>{escape(f['explanation_en'])}</td>"
        f"<td>{escape(str(f['measured']))}<br><small>{escape(str(f['thresholds']))}</small></td></tr>"
        for n, f in enumerate(body["flags"], start=1)
    )
    documents = "".join(
        f"<li>{escape(d['name'])} — {escape(d['uri'])}"
        f"{' (SHA-256 ' + d['sha256'] + ')' if d['sha256'] else ''}</li>"
        for d in body["documents"]
    )
    history = "".join(
        f"<tr><td>#{h['id']}</td><td>{escape(h['at'])}</td><td>{escape(h['actor'])}</td>"
        f"<td>{escape(h['action'])}</td><td>{escape(h['reason'] or '')}</td></tr>"
        for h in body["history"]
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>案件证据报告 {escape(body["case_no"])} / Case evidence report</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; color: #212121; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; width: 100%; }}
th, td {{ border: 1px solid #9e9e9e; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eeeeee; width: 16em; }}
@media print {{ body {{ margin: 0; }} h2 {{ page-break-after: avoid; }} svg {{ page-break-inside: avoid; }} }}
</style></head><body>
<h1>案件证据报告 / Case evidence report — {escape(body["case_no"])}</h1>
<table>
{_row("案件标题", "title", body["title"])}
{_row("状态", "state", f"{body['state_zh']} / {body['state_en']}")}
{_row("车辆", "vehicle", body["vehicle"])}
{_row("立案人", "opened by", body["opened_by"])}
{_row("立案时间", "opened at", body["opened_at"])}
</table>
<h2>一案三查 / Chain of responsibility</h2>
<table>
{_row("排放工地", "emitting site", _party(parties["site"]))}
{_row("运输企业", "haulier", _party(parties["haulier"]))}
{_row("驾驶员", "driver", _party(parties["driver"]))}
{_row("消纳场所", "receiving facility", _party(parties["facility"]))}
{_row("倾倒地点", "dumping location", spot_text)}
</table>
<h2>轨迹图 / Map</h2>
<p>红点为预警位置（编号同下表），蓝线为前后 15 分钟轨迹，绿色为核准路线及走廊。<br>
Red dots: flags (numbered as below); blue: the track 15 min either side; green: approved route and corridor.</p>
{track_svg(session, store, flags, settings)}
<h2>预警 / Flags</h2>
<table><tr><th>#</th><th>类型 / type</th><th>车辆 / vehicle</th><th>开始 / start</th>
<th>分值 / score</th><th>说明 / explanation</th><th>测量值与阈值 / measured, thresholds</th></tr>
{flag_rows}</table>
<h2>处罚决定 / Decision</h2>
<table>
{_row("罚款金额（元）", "penalty (yuan)", body["penalty_amount_yuan"])}
{_row("法律依据", "legal basis", body["legal_basis"])}
{_row("决定内容", "decision", body["decision_text"])}
{_row("决定时间", "decided at", body["decided_at"])}
{_row("结案时间", "closed at", body["closed_at"])}
{_row("撤销理由", "withdrawal reason", body["withdrawal_reason"])}
</table>
<h2>文件 / Documents</h2>
<ul>{documents or "<li>—</li>"}</ul>
<h2>审计记录 / Audit trail</h2>
<table><tr><th>#</th><th>时间 / at</th><th>操作人 / actor</th><th>操作 / action</th>
<th>理由 / reason</th></tr>{history}</table>
</body></html>
"""
