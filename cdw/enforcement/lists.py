"""The three control lists (三张管控清单): emitting sites, hauliers and road sections ranked
by confirmed violations (flags of decided cases), exportable as CSV and XLSX.

Road sections. With a road network (``Settings.road_network``), a flag's path (its
geometry, cut into points every ``SECTION_STEP_M``) is matched onto the network and the flag
counts for the section it runs along the most: a named road by its name and class, an
unnamed one by its class and the 500 m grid cell of the matched edge's middle. Without a
network, or for a flag no road is in reach of, the section is the 500 m grid cell (in the
UTM zone of the flags, or the network's CRS) of the flag's location, named by its centre.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from sqlmodel import Session, col, select

from cdw.enforcement.models import ReviewStatus
from cdw.exports import safe_row
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.geo.projection import Projector
from cdw.permits.models import Permit
from cdw.registry.models import ConstructionSite, Haulier
from cdw.registry.services import holder_at

if TYPE_CHECKING:
    from cdw.roads.services import Roads

ROAD_CELL_M = 500.0
SECTION_STEP_M = 20.0


class ListKind(StrEnum):
    sites = "sites"
    hauliers = "hauliers"
    roads = "roads"

    @property
    def zh(self) -> str:
        return {
            "sites": "排放工地管控清单",
            "hauliers": "运输企业管控清单",
            "roads": "路段管控清单",
        }[self.value]


@dataclass
class ListRow:
    key: str
    name: str
    violations: int = 0
    by_code: Counter = field(default_factory=Counter)
    last_violation: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def confirmed_flags(
    session: Session, day_from: date | None = None, day_to: date | None = None
) -> list[FlagRecord]:
    stmt = select(FlagRecord).where(FlagRecord.status == ReviewStatus.confirmed)
    if day_from is not None:
        stmt = stmt.where(FlagRecord.day >= day_from)
    if day_to is not None:
        stmt = stmt.where(FlagRecord.day <= day_to)
    return list(session.exec(stmt.order_by(col(FlagRecord.id))).all())


def _count(rows: dict[str, ListRow], key: str, name: str, flag: FlagRecord) -> ListRow:
    row = rows.setdefault(key, ListRow(key, name))
    row.violations += 1
    row.by_code[str(flag.code)] += 1
    start = _utc(flag.start_ts)
    row.last_violation = start if row.last_violation is None else max(row.last_violation, start)
    return row


def _site_rows(session: Session, flags: list[FlagRecord]) -> dict[str, ListRow]:
    permits = {
        p.permit_no: p.site_id
        for p in session.exec(
            select(Permit).where(col(Permit.permit_no).in_({f.permit_no for f in flags}))
        ).all()
    }
    sites = {s.id: s for s in session.exec(select(ConstructionSite)).all()}
    rows: dict[str, ListRow] = {}
    for flag in flags:
        site_id = permits.get(flag.permit_no or "")
        if site_id is not None:
            _count(rows, str(site_id), sites[site_id].name, flag)
    return rows


def _haulier_rows(session: Session, flags: list[FlagRecord]) -> dict[str, ListRow]:
    hauliers = {h.id: h for h in session.exec(select(Haulier)).all()}
    rows: dict[str, ListRow] = {}
    for flag in flags:
        haulier_id = holder_at(session, flag.vehicle, flag.start_ts)  # then, not today
        if haulier_id is None:
            continue
        haulier = hauliers[haulier_id]
        row = _count(rows, str(haulier_id), haulier.name, flag)
        row.extra = {"credit_score": haulier.credit_score, "status": str(haulier.status)}
    return rows


@dataclass(frozen=True)
class _Section:
    key: str
    name: str
    lon: float
    lat: float


def _cell(projector: Projector, x: float, y: float) -> tuple[str, float, float]:
    """The 500 m grid cell holding a projected point: its key and centre lon/lat."""
    ix, iy = math.floor(x / ROAD_CELL_M), math.floor(y / ROAD_CELL_M)
    lon, lat = projector.inverse([(ix + 0.5) * ROAD_CELL_M], [(iy + 0.5) * ROAD_CELL_M])
    return f"{projector.crs.to_epsg()}:{ix}:{iy}", float(lon[0]), float(lat[0])


def _grid_section(projector: Projector, x: float, y: float) -> _Section:
    key, lon, lat = _cell(projector, x, y)
    return _Section(key, f"{ROAD_CELL_M:.0f} m 网格 / grid cell ({lon:.5f}, {lat:.5f})", lon, lat)


def _road_section(roads: Roads, flag: FlagRecord) -> _Section | None:
    """The road section the flag's path runs along the most; None if no road is in reach."""
    net, projector = roads.network, roads.network.projector
    coords = flag.geometry.get("coordinates") if flag.geometry.get("type") == "LineString" else None
    lonlat = np.asarray(coords if coords else [[flag.lon, flag.lat]], dtype=np.float64)
    xy = np.column_stack(projector.forward(lonlat[:, 0], lonlat[:, 1]))
    if len(xy) > 1:
        xy = shapely.get_coordinates(shapely.segmentize(shapely.linestrings(xy), SECTION_STEP_M))
    edges = roads.match(xy[:, 0], xy[:, 1]).edge
    edges = edges[edges >= 0]
    if not edges.size:
        return None
    sections: dict[str, _Section] = {}
    along: Counter[str] = Counter()
    for edge in edges.tolist():
        u, v = net.edge_from[edge], net.edge_to[edge]
        mx, my = (net.node_x[u] + net.node_x[v]) / 2, (net.node_y[u] + net.node_y[v]) / 2
        cell, lon, lat = _cell(projector, mx, my)
        name = str(net.edge_name[edge])
        key = f"road:{net.edge_class(edge)}:{name or cell}"
        if key not in sections:
            zh, en = roads.label(edge)
            if not name:
                zh, en = f"{zh}（{lon:.5f}, {lat:.5f} 附近）", f"{en} near ({lon:.5f}, {lat:.5f})"
            sections[key] = _Section(key, f"{zh} / {en}", lon, lat)
        along[key] += 1
    return sections[along.most_common(1)[0][0]]


def _road_rows(flags: list[FlagRecord], roads: Roads | None) -> dict[str, ListRow]:
    if not flags:
        return {}
    lon = [f.lon for f in flags]
    lat = [f.lat for f in flags]
    projector = roads.network.projector if roads else Projector.for_points(lon, lat)
    x, y = projector.forward(lon, lat)
    rows: dict[str, ListRow] = {}
    for flag, fx, fy in zip(flags, x.tolist(), y.tolist(), strict=True):
        section = _road_section(roads, flag) if roads else None
        section = section or _grid_section(projector, fx, fy)
        row = _count(rows, section.key, section.name, flag)
        if not row.extra:  # where the section was first seen
            row.extra = {"lon": round(section.lon, 6), "lat": round(section.lat, 6)}
    return rows


def control_list(
    session: Session,
    kind: ListKind,
    day_from: date | None = None,
    day_to: date | None = None,
    roads: Roads | None = None,
) -> list[dict[str, Any]]:
    """The list, most confirmed violations first (then the most recent, then the key);
    road sections along ``roads`` where given (module docstring)."""
    flags = confirmed_flags(session, day_from, day_to)
    if kind is ListKind.sites:
        rows = _site_rows(session, flags)
    elif kind is ListKind.hauliers:
        rows = _haulier_rows(session, flags)
    else:
        rows = _road_rows(flags, roads)
    ordered = sorted(
        rows.values(),
        key=lambda r: (
            -r.violations,
            -(r.last_violation or datetime.min.replace(tzinfo=UTC)).timestamp(),
            r.key,
        ),
    )
    return [
        {
            "rank": rank,
            "key": row.key,
            "name": row.name,
            "violations": row.violations,
            "by_code": dict(sorted(row.by_code.items())),
            "last_violation": row.last_violation.isoformat() if row.last_violation else None,
            **row.extra,
        }
        for rank, row in enumerate(ordered, start=1)
    ]


COLUMNS = (
    ("rank", "排名", "rank"),
    ("key", "编号", "key"),
    ("name", "名称", "name"),
    ("violations", "确认违规数", "confirmed violations"),
    ("by_code", "违规类型", "by type"),
    ("last_violation", "最近违规时间", "last violation"),
)
EXTRA_COLUMNS = {
    ListKind.hauliers: (("credit_score", "信用分", "credit score"), ("status", "状态", "status")),
    ListKind.roads: (("lon", "位置经度", "location lon"), ("lat", "位置纬度", "location lat")),
    ListKind.sites: (),
}


def _table(kind: ListKind, rows: list[dict[str, Any]]) -> list[list[Any]]:
    columns = COLUMNS + EXTRA_COLUMNS[kind]
    header = [f"{zh} / {en}" for _, zh, en in columns]

    def cell(row: dict[str, Any], key: str) -> Any:
        value = row.get(key)
        if key == "by_code":
            return "; ".join(f"{FlagCode(c).zh} {c} ×{n}" for c, n in value.items())
        return value

    return [header] + [safe_row(cell(row, key) for key, _, _ in columns) for row in rows]


def to_csv(kind: ListKind, rows: list[dict[str, Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese right."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(_table(kind, rows))
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(kind: ListKind, rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook  # here: the command line and API start without it

    book = Workbook()
    sheet = book.active
    sheet.title = kind.value
    for line in _table(kind, rows):
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
