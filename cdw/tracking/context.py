"""What the checks need to know besides the points: geofences, permits, thresholds, timezone.

Everything is projected once per batch into the batch's metric CRS. Plain values only:
tests build an ``AnalysisContext`` by hand from the dataclasses below (geometries already in
projected metres); ``cdw.flows.context.load_context`` builds the same from the registry and
permit tables, with the road network of ``Settings.road_network`` where one is set
(``roads``; without one every check works on the geometry alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from cdw.config import Thresholds
from cdw.geo.index import PolygonSet, SegmentIndex
from cdw.geo.projection import Projector
from cdw.permits.rules import Hours, hours_label
from cdw.roads.zones import banned_arcs

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
    allowed_hours: Hours  # cdw.permits.rules: local seconds of day, None = any time
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
        return hours_label(self.allowed_hours)


@dataclass
class AnalysisContext:
    projector: Projector
    thresholds: Thresholds = field(default_factory=Thresholds)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    sites: list[Zone] = field(default_factory=list)
    facilities: list[Zone] = field(default_factory=list)
    depots: list[Zone] = field(default_factory=list)
    restricted: list[Zone] = field(default_factory=list)
    # Known illegal-dumping spots (polygons): ``load_context`` draws them from the hotspots
    # of the flags before the days analysed (cdw.enforcement.hotspots).
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
        for i, z in enumerate(self.restricted):
            arcs = banned_arcs(self.roads, z.line)
            if arcs is not None:
                self._banned_edges[i] = arcs

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

    def fence_distance(
        self, kind: str, index: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> np.ndarray:
        """Distance from each point to the fence of zone ``index[i]`` of ``kind`` (to its
        boundary: for a point outside the zone, the distance to the zone)."""
        polygons = self._polygon_sets[kind]
        if polygons is None:
            raise ValueError(f"没有{kind}类区域 / no zones of kind {kind}")
        return polygons.boundary_distance(x, y, index)

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
