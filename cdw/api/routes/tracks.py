"""GPS tracks: upload files into the point store, read a vehicle's track as GeoJSON.

A raw track is where a driver was, minute by minute: admins and permit and enforcement
officers read any; a haulier reads its vehicles' tracks for the time it held them
(:func:`cdw.registry.services.holding_periods`); viewers get none (403), their figures
are the aggregated statistics, hotspots and control lists.
"""

from __future__ import annotations

import re
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import polars as pl
from fastapi import APIRouter, Depends, Query, UploadFile
from sqlmodel import col, select

from cdw.api.deps import SessionDep, SettingsDep, require_roles
from cdw.api.schemas import Feature, FeatureCollection, RejectOut, UploadPublic, errors
from cdw.auth.models import Role, User
from cdw.config import Settings, get_settings
from cdw.errors import NotFound, Problem, ValidationFailed
from cdw.registry.models import Vehicle
from cdw.registry.services import holding_periods, scope_for
from cdw.registry.validators.plates import validate_plate
from cdw.tracking.ingest import ingest_file
from cdw.tracking.store import PointStore

router = APIRouter(tags=["tracking 轨迹"])

TRACK_UPLOADERS = (Role.admin, Role.enforcement_officer)
TRACK_READERS = (
    Role.admin,
    Role.permit_officer,
    Role.enforcement_officer,
    Role.haulier,
)
MAX_TRACK_SPAN = timedelta(days=7)


def get_store(settings: SettingsDep) -> PointStore:
    return PointStore(settings.points_dir, timezone=settings.local_timezone)


StoreDep = Annotated[PointStore, Depends(get_store)]


def terminal_map(session: SessionDep) -> dict[str, str]:
    """JT/T 808 terminal phone number → plate, from the vehicle registry."""
    rows = session.exec(
        select(Vehicle.terminal_id, Vehicle.plate).where(col(Vehicle.terminal_id).is_not(None))
    )
    return {terminal: plate for terminal, plate in rows}


def _safe_name(name: str | None) -> str:
    stem = re.sub(r"[^\w.\-]", "_", Path(name or "upload").name)
    return stem or "upload"


@router.post(
    "/tracks/upload",
    response_model=UploadPublic,
    responses=errors(403),
    summary="上传轨迹文件 / upload a GPS file",
)
def upload_track(
    file: UploadFile,
    store: StoreDep,
    session: SessionDep,
    _: Annotated[User, require_roles(*TRACK_UPLOADERS)],
    skip_invalid: bool = False,
    fmt: Annotated[str | None, Query(description="csv, parquet, geojson, gpx, jt808")] = None,
    crs: Literal["wgs84", "gcj02"] = "wgs84",
) -> UploadPublic:
    """Store a GPS file whole, or (``skip_invalid``) its good rows with the rejects listed."""
    with tempfile.TemporaryDirectory(prefix="cdw-upload-") as tmp:
        path = Path(tmp) / _safe_name(file.filename)
        with open(path, "wb") as out:
            while chunk := file.file.read(1 << 20):
                out.write(chunk)
        report = ingest_file(
            path,
            store,
            skip_invalid=skip_invalid,
            fmt=fmt,
            crs=crs,
            terminal_to_plate=terminal_map(session),
            write_rejects_file=False,
        )
    return UploadPublic.model_validate(
        report.as_dict()
        | {
            "source": file.filename,
            "rejects": [RejectOut.model_validate(r) for r in report.rejects],
        }
    )


def _aware(moment: datetime, settings: Settings) -> datetime:
    """A time without offset is local time (Settings.local_timezone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(settings.local_timezone))


Window = tuple[datetime, datetime]


def visible_windows(
    session, user: User, plate: str, start: datetime, end: datetime
) -> list[Window]:
    """The parts of ``[start, end)`` in which ``user`` may see the vehicle's track: all of
    it for an unrestricted user, the periods it held the vehicle for a haulier (404 for a
    vehicle it never held)."""
    scope = scope_for(user)
    if scope.unrestricted:
        return [(start, end)]
    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == plate)).first()
    periods = [] if vehicle is None else holding_periods(session, vehicle.id, scope.haulier_id)
    if not periods:
        raise NotFound("车辆", "vehicle", plate)
    clipped = [
        (max(start, held_from or start), min(end, held_to or end)) for held_from, held_to in periods
    ]
    return [(a, b) for a, b in clipped if a < b]


@router.get(
    "/tracks/{plate}",
    response_model=FeatureCollection,
    responses=errors(403, 404),
    summary="车辆轨迹 GeoJSON / a vehicle's track as GeoJSON",
)
def read_track(
    plate: str,
    start: datetime,
    end: datetime,
    store: StoreDep,
    session: SessionDep,
    user: Annotated[User, require_roles(*TRACK_READERS)],
) -> FeatureCollection:
    """The points of ``plate`` with ``start <= ts < end`` (at most 7 days) as a GeoJSON
    FeatureCollection: one LineString with per-vertex times, speeds, status and alarm."""
    settings = get_settings()
    plate = validate_plate(plate)
    start, end = _aware(start, settings), _aware(end, settings)
    if end <= start or end - start > MAX_TRACK_SPAN:
        raise ValidationFailed(
            [
                Problem(
                    "end",
                    "时间范围须大于 0 且不超过 7 天",
                    "the range must be positive and at most 7 days",
                )
            ]
        )
    windows = visible_windows(session, user, plate, start, end)
    parts = [part for a, b in windows if (part := store.read(a, b, vehicles=[plate])).height]
    if not parts:
        return FeatureCollection(features=[])
    points = pl.concat(parts)
    coords = points.select("lon", "lat").rows()
    properties = {
        "vehicle": plate,
        "points": points.height,
        "start": points["ts"][0].isoformat(),
        "end": points["ts"][-1].isoformat(),
        "times": [t.isoformat() for t in points["ts"]],
        "speed_kmh": points["speed_kmh"].to_list(),
        "status": points["status"].to_list(),
        "alarm": points["alarm"].to_list(),
    }
    geometry = (
        {"type": "LineString", "coordinates": coords}
        if len(coords) > 1
        else {"type": "Point", "coordinates": coords[0]}
    )
    return FeatureCollection(features=[Feature(geometry=geometry, properties=properties)])
