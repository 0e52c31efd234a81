"""Citizen reports (举报): enter one (audited), attach a photo, find the trucks that were there.

``trucks_near`` asks the point store for the visits within the report's radius and window
(``cdw.tracking.nearby``) and ranks the vehicles: one that stopped there before one that
changed from loaded to empty there, before one off its approved route (a route-deviation
flag overlapping the visit), before one that only passed; nearer first within each. Each
comes with its vehicle, plate, haulier (the one holding it then), the closest time and
distance, the time it stood there, the flags overlapping the visit (to open a case from) and
a replay window for the console.

Photos: JPEG, PNG or WebP (known by their first bytes, not by the client's name or type),
at most ``MAX_PHOTO_BYTES``, stored as ``<data_dir>/citizen-reports/<id>/<sha256>.<ext>``
(written to a temporary name and renamed); the file name the client gave is kept for
display only (its last path part, 100 characters at most).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import BinaryIO
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import shape
from sqlalchemy import func
from sqlmodel import Session, col, select

from cdw.audit.log import audit
from cdw.auth.models import User
from cdw.config import Settings
from cdw.enforcement.citizen_models import (
    CitizenReport,
    CitizenReportCreate,
    LocationSource,
    Reason,
    ReplayLink,
    TruckNear,
    TrucksNearPublic,
)
from cdw.errors import NotFound, Problem, ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.registry.categories import RecordStatus
from cdw.registry.models import (
    ConstructionSite,
    Depot,
    DisposalFacility,
    Haulier,
    RestrictedZone,
    Vehicle,
)
from cdw.registry.services import holder_at
from cdw.tracking.nearby import Place, Visit, visits_near
from cdw.tracking.points import LOAD_EMPTY, LOAD_FULL, LOAD_HALF
from cdw.tracking.store import PointStore

ENTITY = "citizen_report"
MAX_PHOTO_BYTES = 8 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
REPLAY_MARGIN = timedelta(minutes=15)
OFF_ROUTE_CODES = (FlagCode.ROUTE_DEVIATION,)
MAX_TRUCKS = 200

REASONS = {
    "stopped": ("在此停留", "stopped there"),
    "unloaded": ("在此由重变空", "loaded → empty there"),
    "off_route": ("偏离核准路线", "off its approved route"),
    "passed": ("途经", "passed by"),
}
LOAD_LABELS = {LOAD_EMPTY: "empty", LOAD_HALF: "half", LOAD_FULL: "full"}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _aware(moment: datetime, tz: str) -> datetime:
    """A time without offset is local time (``Settings.local_timezone``)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz))


# --- places ---------------------------------------------------------------------------------


def place_of_address(session: Session, address: str) -> tuple[float, float] | None:
    """The centre of the first active registry place (site, facility, depot, zone) whose name
    or address holds ``address`` or is held in it; None when nothing matches."""
    text = address.strip()
    if not text:
        return None
    for model in (ConstructionSite, DisposalFacility, Depot, RestrictedZone):
        rows = session.exec(
            select(model).where(col(model.status) == RecordStatus.active).order_by(col(model.id))
        ).all()
        for row in rows:
            known = [k for k in (row.name, getattr(row, "address", "")) if k]
            if any(text in k or k in text for k in known):
                centre = shapely.centroid(shape(row.geofence))
                return float(centre.x), float(centre.y)
    return None


# --- reports --------------------------------------------------------------------------------


def create_report(
    session: Session, data: CitizenReportCreate, actor: User, settings: Settings
) -> CitizenReport:
    """Store a report (flushed and audited, not committed)."""
    if data.lon is not None and data.lat is not None:
        lon, lat, source = data.lon, data.lat, LocationSource.map
    else:
        found = place_of_address(session, data.address)
        if found is None:
            raise ValidationFailed(
                [
                    Problem(
                        "address",
                        "登记库中找不到该地址，请在地图上标点",
                        "no place of the registry matches the address: place it on the map",
                    )
                ]
            )
        (lon, lat), source = found, LocationSource.address
    tz = settings.local_timezone
    report = CitizenReport(
        created_by=actor.username,
        lon=lon,
        lat=lat,
        location_source=source,
        address=data.address.strip(),
        window_start=_utc(_aware(data.window_start, tz)),
        window_end=_utc(_aware(data.window_end, tz)),
        radius_m=data.radius_m,
        notes=data.notes.strip(),
    )
    session.add(report)
    session.flush()
    audit(
        session,
        actor=actor,
        entity=ENTITY,
        entity_id=report.id,
        action="create",
        data={
            "lon": lon,
            "lat": lat,
            "location_source": str(source),
            "address": report.address,
            "window_start": report.window_start.isoformat(),
            "window_end": report.window_end.isoformat(),
            "radius_m": report.radius_m,
            "notes": report.notes,
        },
    )
    return report


def get_report(session: Session, report_id: int) -> CitizenReport:
    report = session.get(CitizenReport, report_id)
    if report is None:
        raise NotFound("举报", "citizen report", report_id)
    return report


def list_reports(session: Session, offset: int, limit: int) -> tuple[list[CitizenReport], int]:
    count = session.exec(select(func.count()).select_from(CitizenReport)).one()
    rows = session.exec(
        select(CitizenReport).order_by(col(CitizenReport.id).desc()).offset(offset).limit(limit)
    ).all()
    return list(rows), int(count)


# --- photos ---------------------------------------------------------------------------------


def photo_type(head: bytes) -> str | None:
    """The image type of a file from its first bytes (JPEG, PNG, WebP), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def photo_dir(settings: Settings, report_id: int) -> Path:
    return settings.data_dir / "citizen-reports" / str(int(report_id))


def photo_path(settings: Settings, report: CitizenReport) -> Path | None:
    if report.photo_sha256 is None or report.photo_type not in PHOTO_TYPES:
        return None
    return photo_dir(settings, report.id) / f"{report.photo_sha256}{PHOTO_TYPES[report.photo_type]}"


def attach_photo(
    session: Session,
    report: CitizenReport,
    stream: BinaryIO,
    name: str | None,
    actor: User,
    settings: Settings,
) -> Path:
    """Store the photo read from ``stream`` for ``report`` (flushed and audited); returns the
    file written, which the caller removes if its transaction fails. A second photo replaces
    the first (the audit keeps both hashes)."""
    folder = photo_dir(settings, report.id)
    folder.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, temp_name = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            head = b""
            while chunk := stream.read(1 << 16):
                size += len(chunk)
                if size > MAX_PHOTO_BYTES:
                    raise ValidationFailed(
                        [
                            Problem(
                                "file",
                                f"照片不得超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
                                f"the photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
                            )
                        ]
                    )
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        kind = photo_type(head)
        if size == 0 or kind is None:
            raise ValidationFailed(
                [
                    Problem(
                        "file",
                        "照片须为 JPEG、PNG 或 WebP 图片",
                        "the photo must be a JPEG, PNG or WebP image",
                    )
                ]
            )
        sha = digest.hexdigest()
        target = folder / f"{sha}{PHOTO_TYPES[kind]}"
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    previous = report.photo_sha256
    shown = Path(name or "photo").name[:100] or "photo"
    report.photo_name, report.photo_type = shown, kind
    report.photo_bytes, report.photo_sha256 = size, sha
    session.add(report)
    session.flush()
    audit(
        session,
        actor=actor,
        entity=ENTITY,
        entity_id=report.id,
        action="photo",
        data={"name": shown, "type": kind, "bytes": size, "sha256": sha, "replaced": previous},
    )
    return target


# --- the trucks that were there -------------------------------------------------------------


def _sort_key(v: Visit, off_route: bool) -> tuple:
    return (not v.stopped, not v.unloaded, not off_route, v.distance_m, v.closest_ts)


def trucks_near(
    session: Session, store: PointStore, report: CitizenReport, settings: Settings
) -> TrucksNearPublic:
    """The vehicles within the report's radius in its window, ranked (module docstring)."""
    th = settings.thresholds
    start, end = _utc(report.window_start), _utc(report.window_end)
    began = perf_counter()
    visits = visits_near(
        store,
        Place(report.lon, report.lat, report.radius_m),
        start,
        end,
        stop_radius_m=th.stop_radius_m,
        stop_min_s=th.fence_stop_min_s,
        gap_s=th.signal_gap_s,
    )
    query_s = perf_counter() - began
    plates = sorted({v.vehicle for v in visits})
    flags = (
        session.exec(
            select(FlagRecord).where(
                col(FlagRecord.vehicle).in_(plates),
                col(FlagRecord.start_ts) < end,
                col(FlagRecord.end_ts) >= start,
            )
        ).all()
        if plates
        else []
    )
    flags_of: dict[str, list[FlagRecord]] = {}
    for flag in flags:
        flags_of.setdefault(flag.vehicle, []).append(flag)

    def overlapping(v: Visit) -> list[FlagRecord]:
        return [
            f
            for f in flags_of.get(v.vehicle, [])
            if _utc(f.start_ts) <= v.last_seen and v.first_seen <= _utc(f.end_ts)
        ]

    best: dict[str, tuple[tuple, Visit, list[FlagRecord], bool]] = {}
    for v in visits:
        near_flags = overlapping(v)
        off = any(f.code in OFF_ROUTE_CODES for f in near_flags)
        key = _sort_key(v, off)
        if v.vehicle not in best or key < best[v.vehicle][0]:
            best[v.vehicle] = (key, v, near_flags, off)
    ranked = sorted(best.values(), key=lambda item: item[0])[:MAX_TRUCKS]
    vehicles = {
        row.plate: row
        for row in session.exec(
            select(Vehicle).where(col(Vehicle.plate).in_([item[1].vehicle for item in ranked]))
        ).all()
    }
    hauliers: dict[int, str] = {}
    out = []
    for rank, (_, v, near_flags, off) in enumerate(ranked, start=1):
        vehicle = vehicles.get(v.vehicle)
        haulier_id = holder_at(session, v.vehicle, v.closest_ts) if vehicle else None
        if haulier_id is not None and haulier_id not in hauliers:
            haulier = session.get(Haulier, haulier_id)
            hauliers[haulier_id] = haulier.name if haulier else ""
        codes = [
            c
            for c, on in (("stopped", v.stopped), ("unloaded", v.unloaded), ("off_route", off))
            if on
        ] or ["passed"]
        out.append(
            TruckNear(
                rank=rank,
                vehicle_id=vehicle.id if vehicle else None,
                plate=v.vehicle,
                haulier_id=haulier_id,
                haulier_name=hauliers.get(haulier_id) if haulier_id is not None else None,
                closest_ts=v.closest_ts,
                closest_lon=round(v.closest_lon, 6),
                closest_lat=round(v.closest_lat, 6),
                distance_m=round(v.distance_m, 1),
                first_seen=v.first_seen,
                last_seen=v.last_seen,
                inside_s=round(v.inside_s, 1),
                dwell_s=round(v.dwell_s, 1),
                stopped=v.stopped,
                unloaded=v.unloaded,
                off_route=off,
                load_before=LOAD_LABELS.get(v.load_before),
                load_after=LOAD_LABELS.get(v.load_after),
                reasons=[Reason(code=c, zh=REASONS[c][0], en=REASONS[c][1]) for c in codes],
                flag_ids=sorted(f.id for f in near_flags),
                replay=ReplayLink(
                    vehicle_id=vehicle.id if vehicle else None,
                    plate=v.vehicle,
                    start=v.first_seen - REPLAY_MARGIN,
                    end=v.last_seen + REPLAY_MARGIN,
                ),
            )
        )
    return TrucksNearPublic(
        report_id=report.id,
        lon=report.lon,
        lat=report.lat,
        radius_m=report.radius_m,
        window_start=start,
        window_end=end,
        vehicles=len(best),
        visits=len(visits),
        data=out,
        query_s=round(query_s, 4),
    )
