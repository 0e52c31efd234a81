"""Registry services: create, get, update, list and deactivate, for every registry table.

Pure functions taking a Session. They ``flush`` but never ``commit``: the caller owns the
transaction (an API route commits once, the bulk importer commits all rows at once).
Records are never deleted; ``deactivate`` sets the status to inactive (a haulier to revoked).
Every write appends an entry to the audit log (who, which record, what changed from what),
under the entity ``registry.<table>`` (``registry.vehicle``, …).
Sites, facilities, depots and zones are known by a ``code`` unique within the kind; one
created without a code gets a generated one (``cdw.registry.models``).

Personal data (a driver's phone and ID-card number) is read in full by admins, enforcement
officers and the driver's own haulier, masked for everyone else (:func:`driver_public`).

A vehicle's haulier has validity periods (``VehicleAssignment``; ``vehicle.haulier_id`` is
the current one): a transfer closes one period and opens the next, and a haulier reads the
flags and tracks of a vehicle for the times it held it (:func:`held_by`,
:func:`holding_periods`), so after a transfer the old haulier keeps its history and the new
one does not inherit it. Before its first period a vehicle counts as its first haulier's
(data imported for days before the vehicle was registered).

Reads take a :class:`Scope`: a user bound to one facility, site or haulier sees only that
record (and, for a haulier, its vehicles, drivers and depots). A record outside the scope is
reported as not found, so that its existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from sqlalchemy import ColumnElement, bindparam, exists, false, func, or_, true
from sqlalchemy import insert as sql_insert
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, SQLModel, col, select

from cdw.audit.log import Change, audit, audit_many
from cdw.auth.models import BINDING_OF_ROLE, Role, User
from cdw.db import insert_rows
from cdw.errors import Conflict, NotFound, Problem, ValidationFailed
from cdw.registry.categories import HaulierStatus, RecordStatus
from cdw.registry.models import (
    CODE_PREFIX,
    ConstructionSite,
    Depot,
    DisposalFacility,
    Driver,
    DriverPublic,
    Haulier,
    RestrictedZone,
    Vehicle,
    VehicleAssignment,
    generated_codes,
    is_placeholder,
    placeholder_code,
    utcnow,
)
from cdw.registry.validators.plates import plate_key

T = TypeVar("T", bound=SQLModel)


@dataclass(frozen=True)
class Entity:
    """What the services need to know about one registry table."""

    zh: str
    en: str
    unique: tuple[tuple[str, str, str], ...] = ()  # (field, zh, en)
    scope_binding: str | None = None  # the Scope attribute that limits reads
    scope_column: str = "id"  # the column compared with it
    inactive: Any = RecordStatus.inactive


CODE = ("code", "编码", "code")
ENTITIES: dict[type[SQLModel], Entity] = {
    ConstructionSite: Entity("排放工地", "construction site", (CODE,), scope_binding="site_id"),
    DisposalFacility: Entity("消纳场所", "disposal facility", (CODE,), scope_binding="facility_id"),
    Haulier: Entity(
        "运输企业",
        "haulier",
        unique=(("credit_code", "统一社会信用代码", "credit code"),),
        scope_binding="haulier_id",
        inactive=HaulierStatus.revoked,
    ),
    Depot: Entity(
        "停车场",
        "depot",
        (CODE,),
        scope_binding="haulier_id",
        scope_column="haulier_id",
    ),
    Vehicle: Entity(
        "运输车辆",
        "vehicle",
        unique=(("plate", "车牌号", "plate"), ("terminal_id", "终端手机号", "terminal id")),
        scope_binding="haulier_id",
        scope_column="haulier_id",
    ),
    Driver: Entity(
        "驾驶员",
        "driver",
        unique=(("licence_no", "驾驶证号", "driving licence number"),),
        scope_binding="haulier_id",
        scope_column="haulier_id",
    ),
    RestrictedZone: Entity("禁区", "restricted zone", (CODE,)),  # public to every role
}


# --- scope ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which records a user may read: everything, or those of one facility, site or haulier."""

    unrestricted: bool = True
    facility_id: int | None = None
    site_id: int | None = None
    haulier_id: int | None = None


UNRESTRICTED = Scope()


def scope_for(user: User) -> Scope:
    """The read scope of ``user``: bound roles see their own record only."""
    binding = BINDING_OF_ROLE.get(Role(user.role))
    if binding is None:
        return UNRESTRICTED
    return Scope(unrestricted=False, **{binding: getattr(user, binding)})


def scope_filter(model: type[SQLModel], scope: Scope) -> ColumnElement[bool]:
    """A WHERE clause limiting ``model`` to ``scope`` (false when the scope allows none)."""
    entity = ENTITIES[model]
    if scope.unrestricted or entity.scope_binding is None:
        return true()
    bound_id = getattr(scope, entity.scope_binding)
    if bound_id is None:
        return false()
    return col(getattr(model, entity.scope_column)) == bound_id


# --- personal data ---------------------------------------------------------------------------

PERSONAL_DATA_ROLES = frozenset({Role.admin, Role.enforcement_officer})


def sees_personal_data(user: User, haulier_id: int | None) -> bool:
    """Whether ``user`` reads in full the personal data of a driver of ``haulier_id``."""
    return user.role in PERSONAL_DATA_ROLES or (
        user.role == Role.haulier and haulier_id is not None and user.haulier_id == haulier_id
    )


def driver_public(driver: Driver, user: User) -> DriverPublic:
    """``driver`` as ``user`` may read it: personal data full or masked."""
    public = DriverPublic.model_validate(driver)
    return public if sees_personal_data(user, driver.haulier_id) else public.masked()


# --- reads ------------------------------------------------------------------------------------


def get(session: Session, model: type[T], record_id: int, scope: Scope = UNRESTRICTED) -> T:
    """The record ``record_id`` of ``model``; NotFound if missing or outside ``scope``."""
    entity = ENTITIES[model]
    stmt = select(model).where(col(model.id) == record_id, scope_filter(model, scope))  # type: ignore[attr-defined]
    record = session.exec(stmt).first()
    if record is None:
        raise NotFound(entity.zh, entity.en, record_id)
    return record


def _filter_clause(model: type[SQLModel], key: str, value: Any) -> ColumnElement[bool]:
    column = col(getattr(model, key))
    if key == "name":
        return column.icontains(value, autoescape=True)
    if key == "plate":  # prefix
        return column.startswith(plate_key(value), autoescape=True)
    if key == "code":
        return column == str(value).strip()
    if key in ("credit_code", "licence_no"):
        return column == str(value).strip().upper()
    return column == value


def list_records(
    session: Session,
    model: type[T],
    *,
    filters: Mapping[str, Any] | None = None,
    scope: Scope = UNRESTRICTED,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[T], int]:
    """One page of ``model`` ordered by id, and the total count matching the filters.

    ``filters`` maps a column to a value: ``name`` matches a substring (case-insensitive),
    ``plate`` a prefix, every other column equality; ``None`` values are ignored.
    """
    unknown = [k for k in (filters or {}) if not hasattr(model, k)]
    if unknown:
        raise TypeError(f"{model.__name__} cannot be filtered by {unknown}")
    clauses = [scope_filter(model, scope)] + [
        _filter_clause(model, k, v) for k, v in (filters or {}).items() if v is not None
    ]
    count = session.exec(select(func.count()).select_from(model).where(*clauses)).one()
    rows = session.exec(
        select(model).where(*clauses).order_by(col(model.id)).offset(offset).limit(limit)  # type: ignore[attr-defined]
    ).all()
    return list(rows), count


def get_vehicle_by_plate(session: Session, plate: str) -> Vehicle | None:
    norm = plate_key(plate)
    return session.exec(select(Vehicle).where(Vehicle.plate == norm)).first()


def get_vehicle_by_terminal(session: Session, terminal_id: str) -> Vehicle | None:
    return session.exec(select(Vehicle).where(Vehicle.terminal_id == terminal_id.strip())).first()


def get_haulier_by_credit_code(session: Session, credit_code: str) -> Haulier | None:
    norm = credit_code.strip().upper()
    return session.exec(select(Haulier).where(Haulier.credit_code == norm)).first()


# --- writes -----------------------------------------------------------------------------------


def _check_references(session: Session, values: Mapping[str, Any]) -> None:
    haulier_id = values.get("haulier_id")
    if haulier_id is not None and session.get(Haulier, haulier_id) is None:
        raise ValidationFailed(
            [
                Problem(
                    "haulier_id",
                    f"运输企业不存在：{haulier_id}",
                    f"haulier does not exist: {haulier_id}",
                )
            ]
        )


def duplicate_of(
    session: Session, model: type[SQLModel], field: str, value: Any, exclude_id: int | None = None
) -> SQLModel | None:
    """The record of ``model`` other than ``exclude_id`` whose ``field`` equals ``value``."""
    stmt = select(model).where(col(getattr(model, field)) == value)
    if exclude_id is not None:
        stmt = stmt.where(col(model.id) != exclude_id)  # type: ignore[attr-defined]
    return session.exec(stmt).first()


def duplicate_conflict(
    entity: Entity, field: str, label_zh: str, label_en: str, value: Any, other_id: int | None
) -> Conflict:
    return Conflict(
        f"{label_zh}已被{entity.zh}（编号 {other_id}）使用：{value}",
        f"{label_en} already used by {entity.en} {other_id}: {value}",
        problems=[Problem(field, f"{label_zh}重复：{value}", f"duplicate {label_en}: {value}")],
    )


def _check_unique(
    session: Session, model: type[SQLModel], values: Mapping[str, Any], exclude_id: int | None
) -> None:
    entity = ENTITIES[model]
    for field, label_zh, label_en in entity.unique:
        value = values.get(field)
        if value is None:
            continue
        other = duplicate_of(session, model, field, value, exclude_id)
        if other is not None:
            raise duplicate_conflict(entity, field, label_zh, label_en, value, other.id)  # type: ignore[attr-defined]


def _flush(session: Session, model: type[SQLModel], values: Mapping[str, Any]) -> None:
    """Flush, turning a constraint violation (a concurrent duplicate) into Conflict."""
    try:
        session.flush()
    except IntegrityError:
        _conflict(session, model, values)


def _conflict(session: Session, model: type[SQLModel], values: Mapping[str, Any]) -> NoReturn:
    session.rollback()
    entity = ENTITIES[model]
    keys = [f"{f}={values.get(f)}" for f, _, _ in entity.unique if values.get(f) is not None]
    raise Conflict(
        f"{entity.zh}与已有记录冲突（{', '.join(keys) or '唯一约束'}）",
        f"{entity.en} conflicts with an existing record ({', '.join(keys) or 'unique key'})",
    ) from None


def _audit(
    session: Session, actor: User | str, record: SQLModel, action: str, data: dict[str, Any]
) -> None:
    audit(
        session,
        actor=actor,
        entity=f"registry.{record.__tablename__}",  # type: ignore[attr-defined]
        entity_id=record.id,  # type: ignore[attr-defined]
        action=action,
        data=data,
    )


def create(session: Session, model: type[T], data: SQLModel, actor: User | str = "system") -> T:
    """Insert a record of ``model`` from its validated Create model ``data``."""
    values = data.model_dump()
    _check_references(session, values)
    _check_unique(session, model, values, None)
    record = model.model_validate(data)
    record.updated_at = record.created_at  # type: ignore[attr-defined]
    session.add(record)
    _flush(session, model, values)
    _audit(session, actor, record, "create", _created(record.model_dump()))
    return record


def _created(values: Mapping[str, Any]) -> dict[str, Any]:
    """What a record's creation entry records: the fence is left out (bulky; a later change
    of it records its old value), and so are the id and the time stamps."""
    return {
        k: v for k, v in values.items() if k not in {"id", "created_at", "updated_at", "geofence"}
    }


def create_checked(
    session: Session, model: type[SQLModel], items: Sequence[SQLModel], actor: User | str = "system"
) -> list[int]:
    """Insert records of ``model`` from validated Create models whose references and unique
    fields the caller checked for the whole lot (cdw.registry.importer), and append their
    audit entries: the ids, in the order of ``items``. Written in bulk (executemany, one
    entry batch); a kind with a generated code is inserted with placeholders, then given the
    codes its ids make. A record a concurrent writer took meanwhile is a Conflict."""
    if not items:
        return []
    if model in CODE_PREFIX:
        stored = _insert_coded(session, model, items)
    else:
        stored = _insert_plain(session, model, items)
    changes = [
        Change(f"registry.{model.__tablename__}", row["id"], "create", _created(row))  # type: ignore[attr-defined]
        for row in stored
    ]
    audit_many(session, actor=actor, changes=changes)
    return [row["id"] for row in stored]


def _insert_plain(
    session: Session, model: type[SQLModel], items: Sequence[SQLModel]
) -> list[dict[str, Any]]:
    """The records as rows, inserted; a vehicle's first holding period opened with it, as the
    ORM insert does (cdw.registry.models)."""
    table = model.__table__  # type: ignore[attr-defined]
    now = utcnow()
    rows = [
        {**data.model_dump(include=set(table.c.keys())), "created_at": now, "updated_at": now}
        for data in items
    ]
    _insert_rows(session, model, rows)
    if model is Vehicle:
        periods = [
            {"vehicle_id": r["id"], "haulier_id": r["haulier_id"], "valid_from": now} for r in rows
        ]
        insert_rows(session, VehicleAssignment.__table__, periods)  # type: ignore[attr-defined]
    return rows


def _insert_coded(
    session: Session, model: type[SQLModel], items: Sequence[SQLModel]
) -> list[dict[str, Any]]:
    """Records of a kind with a generated code as rows (the table model's values, as the ORM
    insert has them), inserted with a placeholder code where they have none, then given the
    codes their ids make (cdw.registry.models.generated_codes) by one executemany."""
    now = utcnow()
    rows = [model.model_validate(data).model_dump(exclude={"id"}) for data in items]
    for row in rows:
        row.update(created_at=now, updated_at=now, code=row["code"] or placeholder_code())
    _insert_rows(session, model, rows)
    pending = [row for row in rows if is_placeholder(row["code"])]
    if pending:
        codes = generated_codes(session.connection(), model, [row["id"] for row in pending])
        for row in pending:
            row["code"] = codes[row["id"]]
        table = model.__table__  # type: ignore[attr-defined]
        session.execute(
            sql_update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(code=bindparam("b_code")),
            [{"b_id": row["id"], "b_code": row["code"]} for row in pending],
        )
    return rows


def _insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` by executemany, each given its id: found by the record's first unique
    field (a RETURNING in the order of the rows would be one row per statement on SQLite)."""
    table = model.__table__  # type: ignore[attr-defined]
    key = ENTITIES[model].unique[0][0]
    stmt = sql_insert(table).returning(table.c.id, table.c[key])
    try:
        ids = {value: record_id for record_id, value in session.execute(stmt, rows)}
    except IntegrityError:
        _conflict(session, model, {})
    for row in rows:
        row["id"] = ids[row[key]]


def update(
    session: Session, model: type[T], record_id: int, data: SQLModel, actor: User | str = "system"
) -> T:
    """Apply the fields set in the Update model ``data`` to record ``record_id``."""
    record = get(session, model, record_id)
    changes = data.model_dump(exclude_unset=True)
    _check_references(session, changes)
    _check_unique(session, model, changes, record_id)
    changed = {
        key: {"from": getattr(record, key), "to": value}
        for key, value in changes.items()
        if getattr(record, key) != value
    }
    for key, value in changes.items():
        setattr(record, key, value)
    if changed:
        record.updated_at = utcnow()  # type: ignore[attr-defined]
    session.add(record)
    _flush(session, model, changes)
    if changed:
        _audit(session, actor, record, "update", changed)
    if isinstance(record, Vehicle) and "haulier_id" in changed:
        moved = changed["haulier_id"]
        _reassign(session, record, moved["from"], moved["to"], record.updated_at, actor)
    return record


def deactivate(session: Session, model: type[T], record_id: int, actor: User | str = "system") -> T:
    """Set the record inactive (a haulier: revoked). Idempotent; nothing is ever deleted."""
    record = get(session, model, record_id)
    inactive = ENTITIES[model].inactive
    if record.status != inactive:  # type: ignore[attr-defined]
        before = record.status  # type: ignore[attr-defined]
        record.status = inactive  # type: ignore[attr-defined]
        record.updated_at = utcnow()  # type: ignore[attr-defined]
        session.add(record)
        session.flush()
        _audit(session, actor, record, "deactivate", {"status": {"from": before, "to": inactive}})
    return record


# --- ownership in time -----------------------------------------------------------------------


def _reassign(
    session: Session, vehicle: Vehicle, before: int, after: int, at: datetime, actor: User | str
) -> None:
    """Close ``vehicle``'s open period at ``at`` and open ``after``'s; audited."""
    at = at.astimezone(UTC)
    current = session.exec(
        select(VehicleAssignment).where(
            VehicleAssignment.vehicle_id == vehicle.id, col(VehicleAssignment.valid_to).is_(None)
        )
    ).first()
    if current is not None and _utc(current.valid_from) >= at:
        raise ValidationFailed(
            [
                Problem(
                    "at",
                    f"转移时间须晚于当前归属开始时间 {_utc(current.valid_from).isoformat()}",
                    f"a transfer must follow the start of the current period, "
                    f"{_utc(current.valid_from).isoformat()}",
                )
            ]
        )
    session.execute(
        sql_update(VehicleAssignment)
        .where(
            col(VehicleAssignment.vehicle_id) == vehicle.id,
            col(VehicleAssignment.valid_to).is_(None),
        )
        .values(valid_to=at)
        .execution_options(synchronize_session=False)
    )
    session.add(VehicleAssignment(vehicle_id=vehicle.id, haulier_id=after, valid_from=at))
    session.flush()
    _audit(
        session,
        actor,
        vehicle,
        "transfer",
        {"haulier_id": {"from": before, "to": after}, "at": at.isoformat()},
    )


def transfer_vehicle(
    session: Session,
    vehicle_id: int,
    haulier_id: int,
    actor: User | str = "system",
    at: datetime | None = None,
) -> Vehicle:
    """Move the vehicle to ``haulier_id`` from ``at`` (now): its open period closes there and
    the new haulier's opens (a PATCH of ``haulier_id`` does the same, at the time of the
    change). Audited as ``transfer``."""
    at = at or utcnow()
    record = get(session, Vehicle, vehicle_id)
    _check_references(session, {"haulier_id": haulier_id})
    if record.haulier_id == haulier_id:
        return record
    before = record.haulier_id
    _reassign(session, record, before, haulier_id, at, actor)
    record.haulier_id = haulier_id
    record.updated_at = at
    session.add(record)
    session.flush()
    _audit(session, actor, record, "update", {"haulier_id": {"from": before, "to": haulier_id}})
    return record


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def holding_periods(
    session: Session, vehicle_id: int, haulier_id: int
) -> list[tuple[datetime | None, datetime | None]]:
    """The ``[from, to)`` periods (UTC) in which ``haulier_id`` held the vehicle; None is
    unbounded (before the first period, or still held)."""
    periods = session.exec(
        select(VehicleAssignment)
        .where(VehicleAssignment.vehicle_id == vehicle_id)
        .order_by(col(VehicleAssignment.valid_from))
    ).all()
    return [
        (
            None if i == 0 else _utc(p.valid_from),
            None if p.valid_to is None else _utc(p.valid_to),
        )
        for i, p in enumerate(periods)
        if p.haulier_id == haulier_id
    ]


def held_by(haulier_id: int, plate: Any, at: Any) -> ColumnElement[bool]:
    """A WHERE clause: ``haulier_id`` held the vehicle of ``plate`` (a column of plates)
    at ``at`` (a column of UTC times)."""
    period = aliased(VehicleAssignment)
    earlier = aliased(VehicleAssignment)
    vehicle = aliased(Vehicle)
    first = ~exists().where(
        earlier.vehicle_id == period.vehicle_id, earlier.valid_from < period.valid_from
    )
    return exists().where(
        vehicle.id == period.vehicle_id,
        vehicle.plate == plate,
        period.haulier_id == haulier_id,
        or_(period.valid_from <= at, first),
        or_(col(period.valid_to).is_(None), at < period.valid_to),
    )


def holder_at(session: Session, plate: str, at: datetime) -> int | None:
    """The haulier that held the vehicle of ``plate`` at ``at`` (None: unknown plate)."""
    vehicle = get_vehicle_by_plate(session, plate)
    if vehicle is None:
        return None
    at = _utc(at)
    periods = session.exec(
        select(VehicleAssignment)
        .where(VehicleAssignment.vehicle_id == vehicle.id)
        .order_by(col(VehicleAssignment.valid_from))
    ).all()
    holder = periods[0].haulier_id if periods else vehicle.haulier_id
    for p in periods:
        if _utc(p.valid_from) <= at:
            holder = p.haulier_id
    return holder
