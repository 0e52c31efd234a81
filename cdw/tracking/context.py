"""What the checks need to know besides the points: geofences, permits, thresholds, timezone.

Everything is projected once per batch into the batch's metric CRS. Tests build an
``AnalysisContext`` by hand from the plain dataclasses below (geometries already in
projected metres); ``load_context`` builds the same from the registry and permit tables,
with the road network of ``Settings.road_network`` where one is set (``roads``; without
one every check works on the geometry alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, shape
from shapely.geometry.base import BaseGeometry
from sqlmodel import Session, col, select

from cdw.config import Settings, Thresholds, get_settings
from cdw.errors import Problem, ValidationFailed
from cdw.tracking.geometry import PolygonSet, SegmentIndex
from cdw.tracking.projection import Projector

if TYPE_CHECKING:
    from cdw.roads.services import Roads

ZONE_KINDS = ("site", "facility", "depot", "restricted")
# Places that excuse a stop (DESIGN.md §3: sites, facilities, registered depots).
AUTHORISED_KINDS = ("site", "facility", "depot")


@dataclass(frozen=True)
class Zone:
    """A geofenced place; ``geometry`` is a projected (Multi)Polygon. A banned road also
    keeps its projected ``line`` (``geometry`` is then the line's corridor)."""

    id: int
    name: str
    geometry: BaseGeometry
    kind: str = ""
    line: BaseGeometry | None = None


@dataclass(frozen=True)
class PermitRule:
    """A disposal approval as the checks read it (routes projected, thresholds effective)."""

    permit_no: str
    site_id: int
    facility_id: int
    vehicles: frozenset[str]
    valid_from: date
    valid_to: date
    # Allowed window in seconds after local midnight; start > end spans midnight;
    # None = any time of day.
    allowed_hours: tuple[float, float] | None
    routes: tuple[LineString, ...]
    thresholds: Thresholds
    route_index: SegmentIndex | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.routes and self.route_index is None:
            object.__setattr__(self, "route_index", SegmentIndex(list(self.routes)))

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to

    @property
    def hours_label(self) -> str:
        if self.allowed_hours is None:
            return "00:00-24:00"
        return f"{_hhmm(self.allowed_hours[0])}-{_hhmm(self.allowed_hours[1])}"


def _hhmm(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass
class AnalysisContext:
    projector: Projector
    thresholds: Thresholds = field(default_factory=Thresholds)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    sites: list[Zone] = field(default_factory=list)
    facilities: list[Zone] = field(default_factory=list)
    depots: list[Zone] = field(default_factory=list)
    restricted: list[Zone] = field(default_factory=list)
    # Known illegal-dumping spots (polygons). No registry table holds them yet, so
    # ``load_context`` leaves this empty.
    hotspots: list[Zone] = field(default_factory=list)
    permits: list[PermitRule] = field(default_factory=list)
    roads: Roads | None = None  # the road network in this CRS, with its matcher
    # Plates whose registry says the vehicle has no load sensor (its status bits are no
    # evidence of its load state: trips.py infers it).
    no_load_sensor: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._polygon_sets = {
            kind: PolygonSet([z.geometry for z in self.zones(kind)]) if self.zones(kind) else None
            for kind in ZONE_KINDS
        }
        self._permits_by_vehicle: dict[str, list[PermitRule]] = {}
        for permit in self.permits:
            for plate in permit.vehicles:
                self._permits_by_vehicle.setdefault(plate, []).append(permit)
        # Distance to the nearest facility fence: 0 inside one, else to the nearest edge.
        # Facilities lie kilometres apart, so a coarse grid (an eighth of their extent a
        # cell) finds the nearest in a few cells where the default 100-250 m would search
        # hundreds of empty ones.
        self._facility_edges = None
        if self.facilities:
            fences = [shapely.boundary(z.geometry) for z in self.facilities]
            x0, y0, x1, y1 = shapely.total_bounds(fences)
            cell = max(250.0, max(x1 - x0, y1 - y0) / 8)
            self._facility_edges = SegmentIndex(fences, cell_size=cell)
        self._hotspots = PolygonSet([z.geometry for z in self.hotspots]) if self.hotspots else None
        # Banned roads tied to the network's edges (RESTRICTED_ZONE): zone index -> edges.
        self._banned_edges = {}
        if self.roads is not None:
            for i, z in enumerate(self.restricted):
                edges = self.roads.edges_along(z.line) if z.line is not None else None
                if edges is not None and edges.size:
                    self._banned_edges[i] = edges

    def zones(self, kind: str) -> list[Zone]:
        return {
            "site": self.sites,
            "facility": self.facilities,
            "depot": self.depots,
            "restricted": self.restricted,
        }[kind]

    def locate(self, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index into ``zones(kind)`` of the zone holding each point, -1 where none."""
        polygons = self._polygon_sets[kind]
        if polygons is None:
            return np.full(x.size, -1, np.int64)
        return np.asarray(polygons.locate(x, y), dtype=np.int64)

    def facility_distance(self, x: float, y: float) -> tuple[float, int]:
        """Distance (m) to the nearest facility geofence and its index; (inf, -1) if none."""
        dist, index = self.facility_distances(np.array([x]), np.array([y]))
        return float(dist[0]), int(index[0])

    def facility_distances(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``facility_distance`` of many points at once (arrays of distances and indexes)."""
        if self._facility_edges is None:
            return np.full(x.size, np.inf), np.full(x.size, -1, np.int64)
        dist, segment = self._facility_edges.distance(x, y)
        index = np.where(segment >= 0, self._facility_edges.segment_part[segment], -1)
        inside = self.locate("facility", x, y)
        return np.where(inside >= 0, 0.0, dist), np.where(inside >= 0, inside, index)

    def banned_edges(self, zone_index: int) -> np.ndarray | None:
        """The network edges of restricted zone ``zone_index`` when it is a banned road tied
        to the network; None for a polygon or a line off the network."""
        return self._banned_edges.get(zone_index)

    def hotspot_at(self, x: float, y: float) -> Zone | None:
        """The known dumping hotspot holding this point, if any."""
        if self._hotspots is None:
            return None
        index = int(self._hotspots.locate(np.array([x]), np.array([y]))[0])
        return self.hotspots[index] if index >= 0 else None

    def permits_for(self, vehicle: str, day: date) -> list[PermitRule]:
        return [p for p in self._permits_by_vehicle.get(vehicle, ()) if p.valid_on(day)]

    def select_permit(
        self, vehicle: str, day: date, site_id: int | None, facility_id: int | None
    ) -> PermitRule | None:
        """The permit a loaded leg runs under, among the vehicle's permits of the day.

        Leaving a known site: the one for that site and facility, else one for that site
        (it then went to the wrong facility), else none (no permit for that site). Origin
        unknown (after a gap, or loaded by the load bits): the one for the destination
        facility, else the vehicle's only permit of the day, else none.
        """
        candidates = self.permits_for(vehicle, day)
        if site_id is not None:
            groups = (
                [p for p in candidates if p.site_id == site_id and p.facility_id == facility_id],
                [p for p in candidates if p.site_id == site_id],
            )
        else:
            groups = (
                [p for p in candidates if p.facility_id == facility_id],
                candidates if len(candidates) == 1 else [],
            )
        for group in groups:
            if group:
                return group[0]
        return None


# --- building from the database -------------------------------------------------------


def parse_hours(start: str, end: str, source: str) -> tuple[float, float] | None:
    """``"HH:MM"`` pair → seconds after midnight; ``00:00-24:00`` (or equal ends) → None."""
    problems: list[Problem] = []
    parsed: list[float] = []
    for name, text in (("allowed_hours_start", start), ("allowed_hours_end", end)):
        try:
            hh, mm = (int(part) for part in text.split(":"))
            if not (0 <= hh <= 24 and 0 <= mm < 60 and hh * 60 + mm <= 24 * 60):
                raise ValueError
            parsed.append(hh * 3600.0 + mm * 60.0)
        except (ValueError, AttributeError):
            problems.append(
                Problem(
                    field=name,
                    zh=f"时段格式应为 HH:MM，实际为 {text!r}",
                    en=f"hours must be HH:MM, got {text!r}",
                    source=source,
                )
            )
    if problems:
        raise ValidationFailed(problems)
    lo, hi = parsed[0] % 86400.0, parsed[1]
    if (lo == 0.0 and hi == 86400.0) or lo == hi:
        return None
    return lo, hi % 86400.0


def effective_thresholds(
    base: Thresholds,
    overrides: dict[str, Any] | None,
    corridor_half_width_m: float | None,
    source: str,
) -> Thresholds:
    """Settings thresholds with a permit's corridor width and overrides applied."""
    values = base.model_dump()
    if corridor_half_width_m is not None:
        values["corridor_half_width_m"] = corridor_half_width_m
    unknown = sorted(set(overrides or {}) - set(values))
    if unknown:
        raise ValidationFailed(
            [
                Problem(
                    field="threshold_overrides",
                    zh=f"未知的阈值名称：{', '.join(unknown)}",
                    en=f"unknown threshold names: {', '.join(unknown)}",
                    source=source,
                )
            ]
        )
    values.update(overrides or {})
    try:
        return Thresholds.model_validate(values)
    except ValueError as exc:
        raise ValidationFailed(
            [
                Problem(
                    field="threshold_overrides",
                    zh=f"阈值无效：{exc}",
                    en=f"invalid threshold value: {exc}",
                    source=source,
                )
            ]
        ) from exc


def _route_lines(routes: Any, source: str) -> list[BaseGeometry]:
    """Lines of a permit's ``routes``: a GeoJSON (Multi)LineString, Feature(Collection),
    GeometryCollection, or a list of those."""
    if routes is None:
        return []
    items = routes if isinstance(routes, list) else [routes]
    lines: list[BaseGeometry] = []
    for item in items:
        try:
            if item.get("type") == "FeatureCollection":
                lines += _route_lines([f["geometry"] for f in item["features"]], source)
                continue
            geom = shape(item["geometry"] if item.get("type") == "Feature" else item)
        except (
            AttributeError,
            KeyError,
            TypeError,
            ValueError,
            shapely.errors.ShapelyError,
        ) as exc:
            raise ValidationFailed(
                [
                    Problem(
                        "routes",
                        f"路线不是有效的 GeoJSON：{exc}",
                        f"route is not valid GeoJSON: {exc}",
                        source=source,
                    )
                ]
            ) from exc
        parts = getattr(geom, "geoms", [geom])
        for part in parts:
            if not isinstance(part, LineString | MultiLineString):
                raise ValidationFailed(
                    [
                        Problem(
                            "routes",
                            f"路线必须是线（LineString），实际为 {part.geom_type}",
                            f"a route must be a LineString, got {part.geom_type}",
                            source=source,
                        )
                    ]
                )
            lines += list(getattr(part, "geoms", [part]))
    return lines


def _zone_geometry(
    geofence: dict[str, Any] | None, projector: Projector, buffer_lines_m: float, source: str
) -> tuple[BaseGeometry, BaseGeometry | None]:
    """Projected polygon of a geofence, and its line where it is one (a banned road, whose
    polygon is the line buffered by ``buffer_lines_m``)."""
    try:
        geom = shape(geofence["geometry"] if geofence.get("type") == "Feature" else geofence)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError) as exc:
        raise ValidationFailed(
            [
                Problem(
                    "geofence",
                    f"地理围栏不是有效的 GeoJSON：{exc}",
                    f"geofence is not valid GeoJSON: {exc}",
                    source=source,
                )
            ]
        ) from exc
    projected = line = projector.geom_forward(geom)
    if projected.geom_type in ("LineString", "MultiLineString"):
        projected = projected.buffer(buffer_lines_m)
    else:
        line = None
    if projected.geom_type not in ("Polygon", "MultiPolygon") or projected.is_empty:
        raise ValidationFailed(
            [
                Problem(
                    "geofence",
                    f"地理围栏必须是多边形，实际为 {projected.geom_type}",
                    f"a geofence must be a polygon, got {projected.geom_type}",
                    source=source,
                )
            ]
        )
    return projected, line


def load_context(
    session: Session,
    day_start: date,
    day_end: date,
    projector: Projector,
    settings: Settings | None = None,
) -> AnalysisContext:
    """Active geofences and the permits approved for any day in ``day_start..day_end``."""
    from cdw.permits.models import Permit, PermitStatus, PermitVehicle
    from cdw.registry.models import (
        ConstructionSite,
        Depot,
        DisposalFacility,
        RecordStatus,
        RestrictedZone,
        Vehicle,
    )
    from cdw.roads.services import configured_roads

    settings = settings or get_settings()
    base = settings.thresholds
    half_width = base.corridor_half_width_m

    def zones(model: Any, table: str) -> list[Zone]:
        rows = session.exec(
            select(model).where(model.status == RecordStatus.active).order_by(model.id)
        ).all()
        out = []
        for row in rows:
            polygon, line = _zone_geometry(row.geofence, projector, half_width, f"{table} {row.id}")
            kind = str(getattr(row, "kind", None) or "")
            out.append(Zone(id=row.id, name=row.name, geometry=polygon, kind=kind, line=line))
        return out

    plates_by_permit: dict[int, set[str]] = {}
    links = session.exec(
        select(PermitVehicle.permit_id, Vehicle.plate).join(
            Vehicle, col(Vehicle.id) == col(PermitVehicle.vehicle_id)
        )
    ).all()
    for permit_id, plate in links:
        plates_by_permit.setdefault(permit_id, set()).add(plate)

    permits = session.exec(
        select(Permit)
        .where(
            Permit.status == PermitStatus.approved,
            Permit.valid_from <= day_end,
            Permit.valid_to >= day_start,
        )
        .order_by(Permit.id)
    ).all()
    rules = []
    for permit in permits:
        source = f"permit {permit.permit_no}"
        rules.append(
            PermitRule(
                permit_no=permit.permit_no,
                site_id=permit.site_id,
                facility_id=permit.facility_id,
                vehicles=frozenset(plates_by_permit.get(permit.id, ())),
                valid_from=permit.valid_from,
                valid_to=permit.valid_to,
                allowed_hours=parse_hours(
                    permit.allowed_hours_start, permit.allowed_hours_end, source
                ),
                routes=tuple(
                    projector.geom_forward(line) for line in _route_lines(permit.routes, source)
                ),
                thresholds=effective_thresholds(
                    base, permit.threshold_overrides, permit.corridor_half_width_m, source
                ),
            )
        )

    return AnalysisContext(
        projector=projector,
        thresholds=base,
        timezone=ZoneInfo(settings.local_timezone),
        sites=zones(ConstructionSite, "construction_site"),
        facilities=zones(DisposalFacility, "disposal_facility"),
        depots=zones(Depot, "depot"),
        restricted=zones(RestrictedZone, "restricted_zone"),
        permits=rules,
        roads=configured_roads(settings, projector),
        no_load_sensor=frozenset(
            session.exec(select(Vehicle.plate).where(col(Vehicle.load_sensor).is_(False))).all()
        ),
    )
