"""The review queue: open flags, their evidence packets, and the reviewer's actions.

Services take a Session, ``flush`` and never ``commit`` (the caller owns the transaction);
every action is appended to the audit log in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import shapely
from shapely.geometry import Point, mapping
from sqlalchemy import func
from sqlmodel import Session, col, select

from cdw.audit.log import audit, history
from cdw.auth.models import User
from cdw.config import Settings
from cdw.enforcement.models import (
    EarlierFlag,
    EvidencePublic,
    ExplanationPublic,
    FlagExplanation,
    FlagPublic,
    FlagReview,
    HistoryEntry,
    ReviewOutcome,
    ReviewPublic,
    ReviewStatus,
    VehicleRef,
)
from cdw.errors import Conflict, NotFound, Problem, ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.flags.counts import counted
from cdw.flags.models import FlagRecord
from cdw.geo import shapes
from cdw.geo.projection import Projector
from cdw.permits.models import Permit, PermitRow
from cdw.registry.categories import RecordStatus
from cdw.registry.models import (
    ConstructionSite,
    Depot,
    DisposalFacility,
    RestrictedZone,
    Vehicle,
    VehicleAssignment,
)
from cdw.registry.services import UNRESTRICTED, Scope, held_by, holder_at
from cdw.tracking.store import PointStore

TRACK_MARGIN = timedelta(minutes=15)
EARLIER_FLAGS_SHOWN = 20
FLAG_ENTITY = "flag"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- scope and lookup ------------------------------------------------------------------------


def of_haulier(haulier_id: int):
    """Flags raised while ``haulier_id`` held the vehicle (not those before or after a
    transfer: cdw.registry.services). The plates it ever held are named first, so that the
    flags' vehicle index finds its flags and the holding periods are checked on those only
    (not on every flag of the city)."""
    ever_held = (
        select(Vehicle.plate)
        .join(VehicleAssignment, col(VehicleAssignment.vehicle_id) == col(Vehicle.id))
        .where(VehicleAssignment.haulier_id == haulier_id)
    )
    return col(FlagRecord.vehicle).in_(ever_held) & held_by(
        haulier_id, FlagRecord.vehicle, FlagRecord.start_ts
    )


def scoped_flags(stmt, scope: Scope):
    """A haulier user sees the flags of the vehicles it held at the time only."""
    if scope.unrestricted:
        return stmt
    if scope.haulier_id is None:
        return stmt.where(col(FlagRecord.id).is_(None))
    return stmt.where(of_haulier(scope.haulier_id))


def get_flag(session: Session, flag_id: int, scope: Scope | None = None) -> FlagRecord:
    stmt = select(FlagRecord).where(FlagRecord.id == flag_id)
    if scope is not None:
        stmt = scoped_flags(stmt, scope)
    record = session.exec(stmt).first()
    if record is None:
        raise NotFound("预警", "flag", flag_id)
    return record


# --- the queue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    code: FlagCode | None = None
    min_severity: int = 0
    haulier_id: int | None = None
    vehicle: str | None = None
    site_id: int | None = None
    facility_id: int | None = None
    day_from: date | None = None
    day_to: date | None = None
    status: ReviewStatus | None = ReviewStatus.open


def _only_counted_dimensions(where: QueueFilter) -> bool:
    """Whether ``where`` filters by status, code and days only, the cells of ``flag_count``."""
    return (
        where.min_severity == 0
        and not where.vehicle
        and where.haulier_id is None
        and where.site_id is None
        and where.facility_id is None
    )


def queue(
    session: Session,
    where: QueueFilter,
    *,
    scope: Scope = UNRESTRICTED,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[FlagRecord], int]:
    """Flags matching ``where`` within ``scope``, highest severity first, then oldest; and
    the exact total (from the flag counts when ``where`` names only their dimensions)."""
    stmt = scoped_flags(select(FlagRecord), scope)
    if where.min_severity > 0:  # severities are 0-100: no always-true test to slow the count
        stmt = stmt.where(FlagRecord.severity >= where.min_severity)
    if where.status is not None:
        stmt = stmt.where(FlagRecord.status == where.status)
    if where.code is not None:
        stmt = stmt.where(FlagRecord.code == where.code)
    if where.vehicle:
        stmt = stmt.where(FlagRecord.vehicle == where.vehicle.strip().upper())
    if where.haulier_id is not None:
        stmt = stmt.where(of_haulier(where.haulier_id))
    if where.site_id is not None:
        permits = select(Permit.permit_no).where(Permit.site_id == where.site_id)
        stmt = stmt.where(col(FlagRecord.permit_no).in_(permits))
    if where.facility_id is not None:
        permits = select(Permit.permit_no).where(Permit.facility_id == where.facility_id)
        stmt = stmt.where(col(FlagRecord.permit_no).in_(permits))
    if where.day_from is not None:
        stmt = stmt.where(FlagRecord.day >= where.day_from)
    if where.day_to is not None:
        stmt = stmt.where(FlagRecord.day <= where.day_to)
    if scope.unrestricted and _only_counted_dimensions(where):
        count = counted(
            session,
            status=where.status,
            code=where.code,
            day_from=where.day_from,
            day_to=where.day_to,
        )
    else:  # a vehicle, a holder, a severity: not among the counted dimensions, COUNT the rows
        count = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    # The page's ids first, from the rank, code-day or vehicle index alone (each holds the
    # order's columns), then only those rows: not every matching row read to be sorted.
    rank = (col(FlagRecord.severity).desc(), col(FlagRecord.start_ts), col(FlagRecord.id))
    page = stmt.with_only_columns(col(FlagRecord.id)).order_by(*rank).offset(offset).limit(limit)
    rows = session.exec(
        select(FlagRecord).where(col(FlagRecord.id).in_(page)).order_by(*rank)
    ).all()
    return list(rows), count


# --- evidence --------------------------------------------------------------------------------


def track_geojson(store: PointStore, record: FlagRecord) -> dict[str, Any]:
    """The vehicle's track from 15 min before to 15 min after the flag, as a FeatureCollection
    of one LineString (with the fix times) — empty when the store holds no points there."""
    start, end = _utc(record.start_ts) - TRACK_MARGIN, _utc(record.end_ts) + TRACK_MARGIN
    points = store.read(start, end, [record.vehicle])
    if points.height == 0:
        return {"type": "FeatureCollection", "features": []}
    coords = [[lon, lat] for lon, lat in zip(points["lon"], points["lat"], strict=True)]
    times = [ts.isoformat() for ts in points["ts"]]
    geometry = (
        {"type": "LineString", "coordinates": coords}
        if len(coords) > 1
        else {"type": "Point", "coordinates": coords[0]}
    )
    feature = {
        "type": "Feature",
        "geometry": geometry,
        "properties": {
            "vehicle": record.vehicle,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "points": len(coords),
            "times": times,
        },
    }
    return {"type": "FeatureCollection", "features": [feature]}


def permit_by_no(session: Session, permit_no: str | None) -> Permit | None:
    if not permit_no:
        return None
    return session.exec(select(Permit).where(Permit.permit_no == permit_no)).first()


def corridor_geojson(permit: Permit | None, settings: Settings, projector: Projector) -> dict:
    """The permit's approved routes and their corridor (buffered by the half-width)."""
    if permit is None or not permit.routes:
        return {"type": "FeatureCollection", "features": []}
    half_width = permit.corridor_half_width_m or settings.thresholds.corridor_half_width_m
    routes = shapes.parse_geometry(
        permit.routes, shapes.LINE_KINDS, field="routes", what=shapes.ROUTE
    )
    corridor = projector.geom_inverse(projector.geom_forward(routes).buffer(half_width))
    props = {"permit_no": permit.permit_no, "corridor_half_width_m": half_width}
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": permit.routes,
                "properties": {**props, "kind": "route"},
            },
            {
                "type": "Feature",
                "geometry": mapping(corridor),
                "properties": {**props, "kind": "corridor"},
            },
        ],
    }


GEOFENCE_KINDS = (
    (ConstructionSite, "site", "排放工地", "construction site"),
    (DisposalFacility, "facility", "消纳场所", "disposal facility"),
    (Depot, "depot", "停车场", "depot"),
    (RestrictedZone, "restricted_zone", "禁区", "restricted zone"),
)


def nearby_geofences(
    session: Session, record: FlagRecord, radius_m: float, projector: Projector
) -> dict[str, Any]:
    """Active sites, facilities, depots and restricted zones within ``radius_m`` of the flag,
    nearest first, each with its distance in metres (0 inside)."""
    x, y = projector.forward([record.lon], [record.lat])
    here = Point(x[0], y[0])
    found: list[tuple[float, dict[str, Any]]] = []
    for model, kind, zh, en in GEOFENCE_KINDS:
        rows = session.exec(select(model).where(model.status == RecordStatus.active)).all()
        if not rows:
            continue
        fences = projector.geom_forward(
            [
                shapes.parse_geometry(
                    r.geofence, shapes.GEOFENCE_KINDS, field="geofence", what=shapes.GEOFENCE
                )
                for r in rows
            ]
        )
        distances = shapely.distance(fences, here)
        for row, distance in zip(rows, distances, strict=True):
            if distance <= radius_m:
                props = {
                    "kind": kind,
                    "kind_zh": zh,
                    "kind_en": en,
                    "id": row.id,
                    "name": row.name,
                    "distance_m": round(float(distance), 1),
                }
                found.append((float(distance), _feature(row.geofence, props)))
    found.sort(key=lambda item: item[0])
    return {"type": "FeatureCollection", "features": [f for _, f in found]}


def _feature(geometry: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def earlier_flags(session: Session, record: FlagRecord) -> list[FlagRecord]:
    stmt = (
        select(FlagRecord)
        .where(FlagRecord.vehicle == record.vehicle, FlagRecord.start_ts < record.start_ts)
        .order_by(col(FlagRecord.start_ts).desc())
        .limit(EARLIER_FLAGS_SHOWN)
    )
    return list(session.exec(stmt).all())


def explanations(session: Session, flag_id: int) -> list[FlagExplanation]:
    return list(
        session.exec(
            select(FlagExplanation)
            .where(FlagExplanation.flag_id == flag_id)
            .order_by(col(FlagExplanation.id))
        ).all()
    )


def reviews(session: Session, flag_id: int) -> list[FlagReview]:
    return list(
        session.exec(
            select(FlagReview).where(FlagReview.flag_id == flag_id).order_by(col(FlagReview.id))
        ).all()
    )


def evidence(
    session: Session, store: PointStore, record: FlagRecord, settings: Settings
) -> EvidencePublic:
    """Everything an officer needs to judge one flag without re-running anything."""
    projector = Projector.for_points([record.lon], [record.lat])
    permit = permit_by_no(session, record.permit_no)
    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == record.vehicle)).first()
    return EvidencePublic(
        flag=FlagPublic.model_validate(record),
        measured=record.measured,
        thresholds=record.thresholds,
        flag_geometry=_feature(record.geometry, {"code": str(record.code)}),
        track=track_geojson(store, record),
        corridor=corridor_geojson(permit, settings, projector),
        geofences=nearby_geofences(
            session, record, settings.thresholds.dumping_facility_radius_m, projector
        ),
        permit=None if permit is None else PermitRow.model_validate(permit),
        vehicle=None if vehicle is None else VehicleRef.model_validate(vehicle),
        earlier_flags=[EarlierFlag.model_validate(f) for f in earlier_flags(session, record)],
        explanations=[
            ExplanationPublic.model_validate(e)
            for e in explanations(session, record.id)  # type: ignore[arg-type]
        ],
        reviews=[ReviewPublic.model_validate(r) for r in reviews(session, record.id)],  # type: ignore[arg-type]
        history=[HistoryEntry.model_validate(e) for e in history(session, FLAG_ENTITY, record.id)],
    )


# --- actions ---------------------------------------------------------------------------------


def require_open(record: FlagRecord) -> None:
    if record.status != ReviewStatus.open:
        status = ReviewStatus.of(record.status)
        raise Conflict(
            f"预警 {record.id} 已处理（{status.zh if status else record.status}），不能再次审核",
            f"flag {record.id} was already reviewed ({record.status})",
        )


def _reason_required(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(
            [Problem("reason", "排除预警必须填写理由", "a reason is required to dismiss a flag")]
        )
    return text


def set_status(
    session: Session,
    record: FlagRecord,
    status: ReviewStatus,
    *,
    actor: User | str,
    reason: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    before = record.status
    record.status = status
    session.add(record)
    audit(
        session,
        actor=actor,
        entity=FLAG_ENTITY,
        entity_id=record.id,
        action=f"status:{status}",
        reason=reason,
        data={"from": before, "to": str(status), **(data or {})},
    )


def _review(
    session: Session,
    record: FlagRecord,
    outcome: ReviewOutcome,
    status: ReviewStatus,
    actor: User,
    reason: str,
) -> FlagReview:
    require_open(record)
    review = FlagReview(
        flag_id=record.id,  # type: ignore[arg-type]
        outcome=outcome,
        reason=reason,
        reviewer=actor.username,
    )
    session.add(review)
    set_status(session, record, status, actor=actor, reason=reason)
    session.flush()
    return review


def dismiss(session: Session, record: FlagRecord, actor: User, reason: str | None) -> FlagReview:
    """Not a violation (reason required)."""
    return _review(
        session,
        record,
        ReviewOutcome.dismissed,
        ReviewStatus.dismissed,
        actor,
        _reason_required(reason),
    )


def warn(session: Session, record: FlagRecord, actor: User, reason: str | None) -> FlagReview:
    """A warning to the haulier, no case."""
    return _review(
        session, record, ReviewOutcome.warned, ReviewStatus.warned, actor, (reason or "").strip()
    )


def close_flags_of_void_manifest(
    session: Session, manifest_no: str, plate: str, actor: User, reason: str
) -> list[FlagRecord]:
    """Dismiss the open flags raised on manifest ``manifest_no`` (NO_RECEIPT, QUANTITY_…),
    each with a review naming the void and its reason: they stay on the record (and in
    the vehicle's earlier flags) instead of vanishing at the next reconciliation."""
    rows = session.exec(
        select(FlagRecord).where(
            FlagRecord.vehicle == plate, FlagRecord.status == ReviewStatus.open
        )
    ).all()
    raised = [r for r in rows if (r.measured or {}).get("manifest_no") == manifest_no]
    text = f"联单 {manifest_no} 作废 / manifest {manifest_no} voided: {reason}"
    for record in raised:
        _review(session, record, ReviewOutcome.dismissed, ReviewStatus.dismissed, actor, text)
    return raised


def explain(session: Session, record: FlagRecord, user: User, text: str) -> FlagExplanation:
    """A haulier's explanation (申诉) on a flag raised while it held the vehicle."""
    body = text.strip()
    if not body:
        raise ValidationFailed([Problem("text", "申诉内容不能为空", "the explanation is empty")])
    holder = holder_at(session, record.vehicle, record.start_ts)
    if holder is None or holder != user.haulier_id:
        raise NotFound("预警", "flag", record.id)
    entry = FlagExplanation(
        flag_id=record.id,  # type: ignore[arg-type]
        haulier_id=holder,
        author=user.username,
        text=body,
    )
    session.add(entry)
    session.flush()
    audit(
        session,
        actor=user,
        entity=FLAG_ENTITY,
        entity_id=record.id,
        action="explanation",
        data={"explanation_id": entry.id, "text": body},
    )
    return entry
