"""Position push: platforms that forward their trucks' positions POST them in batches.

Each row carries the fields of the GPS CSV contract (DESIGN.md §5: ``plate, ts, lon, lat``
and optionally ``speed_kmh, heading, status, alarm``), checked as a CSV row is (the same
messages), and further: the plate must be a registered vehicle (for a haulier, one it held
at the row's time), the time not in the future, the fix not the (0, 0) of a terminal
without a position.

The valid rows take the gateway's durable path (:mod:`cdw.gateway.intake`): the answer
comes once they are in the write-ahead log; they are handed to the live engine (one per
process) after the answer is sent.
The push is idempotent on (vehicle, ts): a row whose key is already stored, waiting to be
stored, or earlier in the same batch counts as a duplicate and is not stored again. Rows
are answered one by one (accepted, duplicate or rejected with its reasons in Chinese and
English), so a client re-sends the whole batch after fixing its rejects.

Each push is recorded like an upload (a ``gps_upload`` row, channel ``push``, whose id the
stored points carry) and audited.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, BackgroundTasks, Depends
from pydantic import BaseModel, Field
from sqlmodel import col, select

from cdw.api.deps import SessionDep, SettingsDep, require_roles
from cdw.api.schemas import errors
from cdw.audit.log import audit
from cdw.auth.models import Role, User
from cdw.bounds import Count
from cdw.gateway.intake import Intake, Sink, shared_intake
from cdw.gateway.service import default_sink
from cdw.gateway.wal import Point
from cdw.registry.categories import RecordStatus
from cdw.registry.models import Vehicle
from cdw.registry.services import holding_periods, scope_for
from cdw.tracking.io.raw_rows import finish
from cdw.tracking.models import GpsUpload
from cdw.tracking.store import PointStore

router = APIRouter(tags=["tracking 轨迹"])

POSITION_PUSHERS = (Role.admin, Role.enforcement_officer, Role.haulier)
MAX_ROWS = 5000
FIELDS = ("plate", "ts", "lon", "lat", "speed_kmh", "heading", "status", "alarm")
SOURCE = "POST /api/v1/positions"


class PositionsIn(BaseModel):
    """A batch of positions; each row the GPS CSV contract's fields (numbers or text)."""

    positions: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="rows of plate, ts (ISO-8601 with offset, or epoch seconds), lon, lat, "
        "speed_kmh, heading, status, alarm",
    )
    crs: Literal["wgs84", "gcj02"] = "wgs84"


class PositionReject(BaseModel):
    row: int = Field(description="index of the row in ``positions`` (from 0)")
    field: str
    reason_zh: str
    reason_en: str


class PositionsAnswer(BaseModel):
    received: Count
    accepted: Count = Field(description="rows now durable (stored, or in the write-ahead log)")
    duplicates: Count = Field(description="rows whose (vehicle, ts) was already received")
    rejected: Count = Field(description="rows refused (see ``rejects``)")
    rejects: list[PositionReject]
    upload_id: str | None = Field(description="the gps_upload record of this push")
    message_zh: str
    message_en: str


def get_intake(settings: SettingsDep) -> Intake:
    return shared_intake(settings.wal_dir, settings.points_dir, settings.local_timezone)


def get_sink() -> Sink:
    return default_sink()


IntakeDep = Annotated[Intake, Depends(get_intake)]
SinkDep = Annotated[Sink, Depends(get_sink)]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _raw_rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    data: dict[str, list[Any]] = {"line": list(range(len(rows)))}
    for name in FIELDS:
        data[name] = [_text(row.get(name)) for row in rows]
    return pl.DataFrame(data, schema={"line": pl.Int64, **dict.fromkeys(FIELDS, pl.String)})


def _stored_keys(store: PointStore):
    def stored(points: list[Point]) -> set[tuple[str, int]]:
        start = min(p.ts_us for p in points)
        end = max(p.ts_us for p in points) + 1
        frame = store.read(
            datetime.fromtimestamp(start / 1e6, UTC) - timedelta(microseconds=1),
            datetime.fromtimestamp(end / 1e6, UTC) + timedelta(microseconds=1),
            vehicles={p.vehicle for p in points},
        )
        ts_us = frame["ts"].dt.epoch("us").to_list()
        return set(zip(frame["vehicle"].to_list(), ts_us, strict=True))

    return stored


@router.post(
    "/positions",
    response_model=PositionsAnswer,
    responses=errors(403),
    summary="推送车辆位置 / push vehicle positions",
)
def push_positions(
    body: PositionsIn,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    intake: IntakeDep,
    sink: SinkDep,
    user: Annotated[User, require_roles(*POSITION_PUSHERS)],
) -> PositionsAnswer:
    """Store a batch of positions (at most 5,000 rows), answered row by row; idempotent
    on (vehicle, ts). A haulier may push only the vehicles it held at each row's time."""
    rows = body.positions
    result = finish(_raw_rows(rows), SOURCE, crs=body.crs)
    rejects = [
        PositionReject(row=r.line or 0, field=r.field, reason_zh=r.zh, reason_en=r.en)
        for r in result.rejects
    ]
    bad = {r.row for r in rejects}
    valid_rows = [i for i in range(len(rows)) if i not in bad]
    frame = result.points.with_columns(pl.Series("row", valid_rows, dtype=pl.Int64))

    plates = frame["vehicle"].unique().to_list()
    vehicles = {
        v.plate: v
        for v in session.exec(select(Vehicle).where(col(Vehicle.plate).in_(plates))).all()
    }
    scope = scope_for(user)
    periods = {
        v.id: holding_periods(session, v.id, scope.haulier_id)
        for v in vehicles.values()
        if not scope.unrestricted and v.id is not None
    }
    latest = datetime.now(UTC) + timedelta(seconds=settings.thresholds.future_tolerance_s)

    def refuse(row: int, field: str, zh: str, en: str) -> None:
        rejects.append(PositionReject(row=row, field=field, reason_zh=zh, reason_en=en))

    upload_id = uuid.uuid4().hex
    points: list[Point] = []
    for rec in frame.iter_rows(named=True):
        row, plate, ts = rec["row"], rec["vehicle"], rec["ts"]
        vehicle = vehicles.get(plate)
        if vehicle is None or vehicle.status != RecordStatus.active:
            refuse(row, "plate", f"车辆未登记或已停用：{plate}", f"no active vehicle {plate}")
            continue
        if not scope.unrestricted and not any(
            (a is None or a <= ts) and (b is None or ts < b) for a, b in periods[vehicle.id]
        ):
            refuse(
                row,
                "plate",
                f"该时间车辆 {plate} 不属于本企业",
                f"vehicle {plate} was not held by your company at that time",
            )
            continue
        if ts > latest:
            refuse(
                row, "ts", f"时间在未来：{ts.isoformat()}", f"time in the future: {ts.isoformat()}"
            )
            continue
        if rec["lon"] == 0 and rec["lat"] == 0:
            refuse(row, "lon", "无定位（0, 0）", "no position fix (0, 0)")
            continue
        points.append(
            Point(
                plate,
                int(ts.timestamp() * 1_000_000),
                rec["lon"],
                rec["lat"],
                rec["speed_kmh"],
                rec["heading"],
                rec["status"],
                rec["alarm"],
                upload_id,
            )
        )
    store = intake.store
    submitted = intake.submit_sync(points, stored=_stored_keys(store))
    rejects.sort(key=lambda r: r.row)
    rejected = len({r.row for r in rejects})
    accepted, duplicates = len(submitted.accepted), len(submitted.duplicates)

    digest = hashlib.sha256(
        json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    record = GpsUpload(
        id=upload_id,
        uploader=user.username,
        channel="push",
        file_name=SOURCE,
        sha256=digest,
        format="json",
        rows_read=len(rows),
        rows_rejected=rejected,
        points_new=accepted,
        points_already_stored=duplicates,
    )
    session.add(record)
    session.flush()
    audit(
        session,
        actor=user,
        entity="gps_upload",
        entity_id=upload_id,
        action="push",
        data={"rows": len(rows), "accepted": accepted, "duplicates": duplicates},
    )
    session.commit()
    # the live engine takes the durable rows after the answer is sent (a pass over the
    # vehicles they move may take a while; the rows are safe already)
    background.add_task(intake.deliver_sync, submitted.accepted, sink)
    zh = f"收到 {len(rows)} 行：接收 {accepted}，重复 {duplicates}，拒绝 {rejected}"
    en = f"{len(rows)} rows: {accepted} accepted, {duplicates} duplicates, {rejected} rejected"
    return PositionsAnswer(
        received=len(rows),
        accepted=accepted,
        duplicates=duplicates,
        rejected=rejected,
        rejects=rejects,
        upload_id=upload_id,
        message_zh=zh,
        message_en=en,
    )
