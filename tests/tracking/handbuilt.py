"""Tiny hand-built tracks in local metres (movingpandas style) and contexts around them.

Local (0, 0) is a point in Guangzhou; ``x`` east and ``y`` north in metres of its UTM zone.
Times are seconds after ``T0`` (2024-05-06 10:00 local, 02:00 UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import shapely
from shapely.geometry import LineString, Polygon

from cdw.config import Thresholds
from cdw.geo.projection import Projector
from cdw.roads.network import RoadNetwork
from cdw.roads.services import Roads
from cdw.tracking.context import AnalysisContext, PermitRule, Zone
from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, conform
from cdw.tracking.trips import Trip, VehicleTrack, prepare_tracks, segment_trips

PROJ = Projector.for_points([113.30], [23.10])
_X0, _Y0 = (float(v[0]) for v in PROJ.forward([113.30], [23.10]))
T0 = datetime(2024, 5, 6, 2, 0, tzinfo=UTC).timestamp()
DAY = date(2024, 5, 6)
PLATE = "粤A12345D"
FULL = LOAD_FULL << 8
EMPTY = LOAD_EMPTY << 8


def box(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """An axis-aligned rectangle in local metres, projected."""
    return shapely.box(x0 + _X0, y0 + _Y0, x1 + _X0, y1 + _Y0)


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres to (lon, lat) rounded as flags round them."""
    lon, lat = PROJ.inverse([x + _X0], [y + _Y0])
    return round(float(lon[0]), 7), round(float(lat[0]), 7)


def line(*coords: tuple[float, float]) -> LineString:
    return LineString([(x + _X0, y + _Y0) for x, y in coords])


def utc(seconds: float) -> datetime:
    """Aware UTC datetime ``seconds`` after T0."""
    return datetime.fromtimestamp(T0 + seconds, UTC)


def zone(id: int, geom: Polygon, name: str | None = None, kind: str = "") -> Zone:
    return Zone(id=id, name=name or f"zone-{id}", geometry=geom, kind=kind)


def permit(
    *,
    site_id: int = 1,
    facility_id: int = 10,
    routes: tuple[LineString, ...] = (),
    hours: tuple[float, float] | None = None,
    thresholds: Thresholds | None = None,
    vehicles: frozenset[str] = frozenset({PLATE}),
    permit_no: str = "HZ-2024-001",
) -> PermitRule:
    return PermitRule(
        permit_no=permit_no,
        site_id=site_id,
        facility_id=facility_id,
        vehicles=vehicles,
        valid_from=date(2024, 1, 1),
        valid_to=date(2024, 12, 31),
        allowed_hours=hours,
        routes=routes,
        thresholds=thresholds or Thresholds(),
    )


def context(**kwargs) -> AnalysisContext:
    return AnalysisContext(projector=PROJ, **kwargs)


@dataclass
class TrackBuilder:
    """Append fixes: ``at`` one, ``stay`` still, ``drive`` in a straight line."""

    vehicle: str = PLATE
    rows: list[dict] = field(default_factory=list)

    def at(
        self,
        t: float,
        x: float,
        y: float,
        *,
        speed_kmh: float | None = None,
        status: int | None = None,
        alarm: int | None = None,
    ) -> TrackBuilder:
        self.rows.append(
            {"t": t, "x": x, "y": y, "speed_kmh": speed_kmh, "status": status, "alarm": alarm}
        )
        return self

    def stay(
        self, t0: float, t1: float, x: float, y: float, step: float = 10.0, **kw
    ) -> TrackBuilder:
        """Fixes at ``t0, t0 + step, … ≤ t1`` at one place (``t1`` included when on the grid)."""
        for t in np.arange(t0, t1 + step / 2, step):
            self.at(float(t), x, y, **kw)
        return self

    def drive(
        self,
        t0: float,
        start: tuple[float, float],
        end: tuple[float, float],
        speed_mps: float,
        step: float = 10.0,
        include_start: bool = True,
        **kw,
    ) -> TrackBuilder:
        """Fixes every ``step`` s along start→end at ``speed_mps``; returns with the end reached
        (the last fix is at the end point, possibly after a shorter step)."""
        length = float(np.hypot(end[0] - start[0], end[1] - start[1]))
        duration = length / speed_mps
        times = list(np.arange(0.0, duration, step)) + [duration]
        if not include_start:
            times = times[1:]
        for dt in times:
            f = dt / duration if duration else 0.0
            self.at(
                t0 + float(dt),
                start[0] + f * (end[0] - start[0]),
                start[1] + f * (end[1] - start[1]),
                **kw,
            )
        return self

    def sensor_shown(self) -> TrackBuilder:
        """Put first, an hour before the track (a piece of its own), one fix at the first
        fix's place reporting a full load: the terminal's load sensor works, so load bits
        "empty" elsewhere in the track are evidence (trips.py)."""
        first = self.rows[0]
        self.rows.insert(0, {**first, "t": first["t"] - 3600.0, "speed_kmh": None, "status": FULL})
        return self

    @property
    def last_t(self) -> float:
        return self.rows[-1]["t"]

    def frame(self) -> pl.DataFrame:
        x = np.array([r["x"] for r in self.rows]) + _X0
        y = np.array([r["y"] for r in self.rows]) + _Y0
        lon, lat = PROJ.inverse(x, y)
        frame = pl.DataFrame(
            {
                "vehicle": [self.vehicle] * len(self.rows),
                "ts": [utc(r["t"]) for r in self.rows],
                "lon": lon,
                "lat": lat,
                "speed_kmh": [r["speed_kmh"] for r in self.rows],
                "status": [r["status"] for r in self.rows],
                "alarm": [r["alarm"] for r in self.rows],
            },
            schema_overrides={"speed_kmh": pl.Float64, "status": pl.Int64, "alarm": pl.Int64},
        )
        return conform(frame)


def track_of(builder: TrackBuilder, ctx: AnalysisContext) -> VehicleTrack:
    (track,) = prepare_tracks(builder.frame(), ctx)
    return track


def trips_of(builder: TrackBuilder, ctx: AnalysisContext) -> tuple[VehicleTrack, list[Trip]]:
    track = track_of(builder, ctx)
    return track, segment_trips(track, ctx)


def run_check(check, builder: TrackBuilder, ctx: AnalysisContext) -> list:
    """Every flag of one check over every trip of the track."""
    track, trips = trips_of(builder, ctx)
    return [flag for trip in trips for flag in check(trip, track, ctx)]


def roads(nodes: dict[int, tuple[float, float]], streets: list[tuple[list[int], dict]]) -> Roads:
    """A road network in local metres for ``ctx.roads``: ``nodes`` id -> (x, y); each street
    a node path with attrs among name, highway, maxspeed, all two-way."""
    ids = list(nodes)
    pos = {n: k for k, n in enumerate(ids)}
    lon, lat = PROJ.inverse(
        np.array([nodes[i][0] for i in ids]) + _X0, np.array([nodes[i][1] for i in ids]) + _Y0
    )
    arcs = [
        (pos[a], pos[b], attrs)
        for path, attrs in streets
        for u, v in zip(path, path[1:], strict=False)
        for a, b in ((u, v), (v, u))
    ]
    network = RoadNetwork.from_arrays(
        np.array(ids),
        lon,
        lat,
        np.array([a for a, _, _ in arcs]),
        np.array([b for _, b, _ in arcs]),
        edge_highway=np.array([a.get("highway", "residential") for *_, a in arcs], dtype=object),
        edge_maxspeed_kmh=np.array([a.get("maxspeed", np.nan) for *_, a in arcs]),
        edge_name=np.array([a.get("name", "") for *_, a in arcs], dtype=object),
    )
    return Roads.for_projector(network, PROJ)
