"""What the web console (``cdw/web``) needs beside the resource routes: its map settings
and the latest analysed day (the console's fallback until live positions exist)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import col, func, select

from cdw.api.deps import ALL_ROLES, SessionDep, SettingsDep, require_roles
from cdw.api.routes.tracks import TRACK_READERS, StoreDep, read_track, visible_windows
from cdw.api.schemas import Feature, FeatureCollection, errors
from cdw.auth.models import User
from cdw.bounds import Day, Moment
from cdw.config import day_bounds
from cdw.enforcement.models import FlagPublic, ReviewStatus
from cdw.enforcement.review import corridor_geojson, permit_by_no, scoped_flags
from cdw.errors import NotFound
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flows.models import AnalysedDay
from cdw.geo.projection import Projector
from cdw.live.state import vehicle_state
from cdw.manifests.models import Manifest
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.registry.models import Haulier, Vehicle
from cdw.registry.services import scope_for
from cdw.registry.validators.plates import validate_plate
from cdw.tracking.points import LOAD_EMPTY, load_state
from cdw.web import get_console_settings

router = APIRouter(prefix="/console", tags=["console 控制台"])


class Label(BaseModel):
    value: str
    zh: str
    en: str


class ConsoleSettingsPublic(BaseModel):
    """The map's start (centre and zoom) and its optional tile layer; ``latest_day`` is the
    last day the engine analysed (None before the first analysis)."""

    tile_url: str | None
    tile_attribution: str
    tile_max_zoom: int
    center_lon: float
    center_lat: float
    zoom: int
    latest_day: date | None
    signal_gap_s: float
    stop_radius_m: float
    flag_codes: list[Label]
    review_statuses: list[Label]


@router.get(
    "/settings",
    response_model=ConsoleSettingsPublic,
    responses=errors(),
    summary="控制台设置 / console map settings",
)
def console_settings(
    session: SessionDep, settings: SettingsDep, _: Annotated[User, require_roles(*ALL_ROLES)]
) -> ConsoleSettingsPublic:
    conf = get_console_settings()
    latest = session.exec(select(func.max(AnalysedDay.day))).one()
    return ConsoleSettingsPublic(
        tile_url=conf.tile_url,
        tile_attribution=conf.tile_attribution,
        tile_max_zoom=conf.tile_max_zoom,
        center_lon=conf.center_lon,
        center_lat=conf.center_lat,
        zoom=conf.zoom,
        latest_day=latest,
        signal_gap_s=settings.thresholds.signal_gap_s,
        stop_radius_m=settings.thresholds.stop_radius_m,
        flag_codes=[Label(value=str(c), zh=c.zh, en=c.en) for c in FlagCode],
        review_statuses=[Label(value=str(s), zh=s.zh, en=s.en) for s in ReviewStatus],
    )


# --- monitoring: the last stored position of each vehicle on a day ---------------------------


class VehicleState(StrEnum):
    loaded = "loaded"
    empty = "empty"
    stopped = "stopped"
    offline = "offline"
    flagged = "flagged"


class VehiclePosition(BaseModel):
    """A vehicle's last fix of a day, in the shape of the live channel's positions
    (``GET /vehicles/live``), with the names the console shows on a click."""

    vehicle_id: int | None
    plate: str
    haulier_id: int | None
    haulier_name: str | None
    lon: float
    lat: float
    ts: datetime
    speed_kmh: float | None
    heading: float | None
    state: VehicleState
    load_state_source: Literal["reported", "inferred"]
    open_flags: int
    manifest_id: int | None
    manifest_no: str | None
    permit_no: str | None


@router.get(
    "/positions",
    response_model=list[VehiclePosition],
    responses=errors(403),
    summary="车辆最后位置 / each vehicle's last stored position on a day",
)
def last_positions(
    day: Day,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(*TRACK_READERS)],
) -> list[VehiclePosition]:
    """The console's monitoring view until live positions exist: the last fix of each
    vehicle on ``day`` (local), its state as the live channel gives it
    (``cdw.live.state.vehicle_state``: offline when it stopped reporting a signal gap before
    the day's last fix; flagged when it has open flags that day; then stopped, loaded or
    empty from the fix), its open flags, and its last manifest of the day. A haulier sees the
    vehicles it held, for the time it held them."""
    start, end = day_bounds(day, day, ZoneInfo(settings.local_timezone))
    points = store.read(start, end)
    if not points.height:
        return []
    scope = scope_for(user)
    vehicles = {v.plate: v for v in session.exec(select(Vehicle))}
    if not scope.unrestricted:
        parts = []
        for plate in points["vehicle"].unique().to_list():
            try:
                windows = visible_windows(session, user, plate, start, end)
            except NotFound:
                continue
            for a, b in windows:
                parts.append(
                    points.filter(
                        (pl.col("vehicle") == plate) & (pl.col("ts") >= a) & (pl.col("ts") < b)
                    )
                )
        points = pl.concat(parts) if parts else points.clear()
        if not points.height:
            return []
    last = points.group_by("vehicle").agg(pl.all().sort_by("ts").last()).sort("vehicle")
    latest_ts = last["ts"].max()
    hauliers = {h.id: h.name for h in session.exec(select(Haulier))}
    flags_of: dict[str, int] = {}
    flag_permit: dict[str, str] = {}
    stmt = select(FlagRecord).where(FlagRecord.day == day, FlagRecord.status == ReviewStatus.open)
    for flag in session.exec(scoped_flags(stmt, scope)):
        flags_of[flag.vehicle] = flags_of.get(flag.vehicle, 0) + 1
        if flag.permit_no:
            flag_permit.setdefault(flag.vehicle, flag.permit_no)
    manifests: dict[str, Manifest] = {}
    stmt = (
        select(Manifest)
        .where(Manifest.issued_at >= start, Manifest.issued_at < end)
        .order_by(col(Manifest.issued_at))
    )
    if not scope.unrestricted:
        stmt = stmt.where(Manifest.haulier_id == scope.haulier_id)
    for manifest in session.exec(stmt):
        manifests[manifest.plate] = manifest
    out = []
    for row in last.iter_rows(named=True):
        plate = row["vehicle"]
        vehicle = vehicles.get(plate)
        manifest = manifests.get(plate)
        speed = row["speed_kmh"]
        state = vehicle_state(
            silent_s=(latest_ts - row["ts"]).total_seconds(),
            offline_after_s=settings.thresholds.signal_gap_s,
            flagged=bool(flags_of.get(plate)),
            speed_kmh=speed,
            loaded=load_state(row["status"] or 0) != LOAD_EMPTY,
        )
        sensor = vehicle is None or vehicle.load_sensor
        out.append(
            VehiclePosition(
                vehicle_id=vehicle.id if vehicle else None,
                plate=plate,
                haulier_id=vehicle.haulier_id if vehicle else None,
                haulier_name=hauliers.get(vehicle.haulier_id) if vehicle else None,
                lon=row["lon"],
                lat=row["lat"],
                ts=row["ts"],
                speed_kmh=speed,
                heading=row["heading"],
                state=VehicleState(state),
                load_state_source="reported" if sensor else "inferred",
                open_flags=flags_of.get(plate, 0),
                manifest_id=manifest.id if manifest else None,
                manifest_no=manifest.manifest_no if manifest else None,
                permit_no=manifest.permit_no if manifest else flag_permit.get(plate),
            )
        )
    return out


# --- track replay: the track with its stops, gaps, flags and approved routes -----------------


class TrackStop(BaseModel):
    start: datetime
    end: datetime
    duration_s: float
    lon: float
    lat: float


class TrackGap(BaseModel):
    start: datetime
    end: datetime
    duration_s: float
    jump_m: float
    from_lon: float
    from_lat: float
    to_lon: float
    to_lat: float


class ReplayPublic(BaseModel):
    """Everything a replay shows: the track (``GET /tracks/{plate}``'s answer), where the
    truck stood still and where its signal was lost, its flags in the window, and the
    approved routes with their corridors of its permits valid in the window."""

    plate: str
    haulier_name: str | None
    load_sensor: bool | None
    track: FeatureCollection
    stops: list[TrackStop]
    gaps: list[TrackGap]
    flags: list[FlagPublic]
    routes: FeatureCollection
    stop_min_s: float
    gap_min_s: float


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance (haversine, metres)."""
    r = 6_371_008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


def stops_and_gaps(
    times: list[datetime], lon: np.ndarray, lat: np.ndarray, radius_m: float, stop_min_s: float,
    gap_min_s: float,
) -> tuple[list[TrackStop], list[TrackGap]]:  # fmt: skip
    """Stops: runs of fixes within ``radius_m`` of the run's first fix lasting at least
    ``stop_min_s``; gaps: consecutive fixes at least ``gap_min_s`` apart."""
    n = len(times)
    secs = np.array([t.timestamp() for t in times])
    gaps = []
    for i in np.flatnonzero(np.diff(secs) >= gap_min_s):
        gaps.append(
            TrackGap(
                start=times[i], end=times[i + 1], duration_s=float(secs[i + 1] - secs[i]),
                jump_m=float(_metres(lon[i : i + 1], lat[i : i + 1], lon[i + 1 : i + 2],
                                     lat[i + 1 : i + 2])[0]),
                from_lon=float(lon[i]), from_lat=float(lat[i]),
                to_lon=float(lon[i + 1]), to_lat=float(lat[i + 1]),
            )
        )  # fmt: skip
    stops = []
    i = 0
    while i < n:
        dist = _metres(lon[i], lat[i], lon[i:], lat[i:])
        beyond = np.flatnonzero(dist > radius_m)
        j = i + (int(beyond[0]) if beyond.size else n - i) - 1  # last fix of the run
        if secs[j] - secs[i] >= stop_min_s:
            stops.append(
                TrackStop(
                    start=times[i], end=times[j], duration_s=float(secs[j] - secs[i]),
                    lon=float(lon[i : j + 1].mean()), lat=float(lat[i : j + 1].mean()),
                )
            )  # fmt: skip
            i = j + 1
        else:
            i += 1
    return stops, gaps


@router.get(
    "/replay/{plate}",
    response_model=ReplayPublic,
    responses=errors(403, 404),
    summary="轨迹回放 / a vehicle's track with stops, gaps, flags and approved routes",
)
def replay(
    plate: str,
    start: Moment,
    end: Moment,
    store: StoreDep,
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(*TRACK_READERS)],
) -> ReplayPublic:
    """``start <= ts < end`` (at most 7 days), scoped as ``GET /tracks/{plate}``."""
    track = read_track(plate, start, end, store, session, user)
    plate = validate_plate(plate)
    tz = ZoneInfo(settings.local_timezone)
    start = start if start.tzinfo else start.replace(tzinfo=tz)
    end = end if end.tzinfo else end.replace(tzinfo=tz)
    limits = settings.thresholds
    stops: list[TrackStop] = []
    gaps: list[TrackGap] = []
    if track.features:
        feature = track.features[0]
        coords = feature.geometry["coordinates"]
        coords = [coords] if feature.geometry["type"] == "Point" else coords
        xy = np.asarray(coords, dtype=float).reshape(-1, 2)
        times = [datetime.fromisoformat(t) for t in feature.properties["times"]]
        stops, gaps = stops_and_gaps(
            times, xy[:, 0], xy[:, 1], limits.stop_radius_m,
            limits.dumping_stop_min_duration_s, limits.signal_gap_s,
        )  # fmt: skip
    scope = scope_for(user)
    stmt = (
        select(FlagRecord)
        .where(FlagRecord.vehicle == plate, FlagRecord.start_ts < end, FlagRecord.end_ts >= start)
        .order_by(col(FlagRecord.start_ts))
    )
    flags = list(session.exec(scoped_flags(stmt, scope)))
    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == plate)).first()
    permits: dict[str, Permit] = {}
    if vehicle is not None:
        first_day, last_day = start.astimezone(tz).date(), end.astimezone(tz).date()
        held = session.exec(
            select(Permit)
            .join(PermitVehicle, col(PermitVehicle.permit_id) == col(Permit.id))
            .where(
                PermitVehicle.vehicle_id == vehicle.id,
                Permit.status == PermitStatus.approved,
                Permit.valid_from <= last_day,
                Permit.valid_to >= first_day,
            )
            .order_by(col(Permit.version))
        )
        permits.update({p.permit_no: p for p in held})
    for flag in flags:
        if flag.permit_no and flag.permit_no not in permits:
            permit = permit_by_no(session, flag.permit_no)
            if permit is not None:
                permits[permit.permit_no] = permit
    features = []
    if permits:
        some = next(iter(permits.values()))
        anchor = (flags[0].lon, flags[0].lat) if flags else _route_anchor(some)
        projector = Projector.for_points([anchor[0]], [anchor[1]])
        for permit in permits.values():
            features += corridor_geojson(permit, settings, projector)["features"]
    haulier = session.get(Haulier, vehicle.haulier_id) if vehicle else None
    return ReplayPublic(
        plate=plate,
        haulier_name=haulier.name if haulier else None,
        load_sensor=vehicle.load_sensor if vehicle else None,
        track=track,
        stops=stops,
        gaps=gaps,
        flags=[FlagPublic.model_validate(f) for f in flags],
        routes=FeatureCollection(features=[Feature(**f) for f in features]),
        stop_min_s=limits.dumping_stop_min_duration_s,
        gap_min_s=limits.signal_gap_s,
    )


def _route_anchor(permit: Permit) -> tuple[float, float]:
    """A point of a permit's routes (for the projection's UTM zone)."""
    coords = (permit.routes or {}).get("coordinates") or [[113.38, 22.94]]
    while coords and isinstance(coords[0], list | tuple) and isinstance(coords[0][0], list | tuple):
        coords = coords[0]
    return float(coords[0][0]), float(coords[0][1])
