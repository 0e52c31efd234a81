"""Registry tables and their API shapes (DESIGN.md §2).

Per entity, as in fastapi/full-stack-fastapi-template: ``XBase`` (shared fields) →
``XCreate`` / ``XUpdate`` (input, validated) → ``X`` (table) → ``XPublic`` (output) and
``XsPublic`` (a page of a list with the total count). Input validation lives on Create and
Update only, so that a stored record always serialises even if a rule later tightens.

Sites, facilities, depots and zones are known by ``code``, unique within its kind; their
names may repeat. A record stored without a code gets one when it is inserted, whichever way
it is created (:func:`generated_codes`): the kind's letter and its id in six digits
(site 123 → ``S000123``; facilities ``F``, depots ``D``, zones ``Z``), with ``-2``, ``-3`` …
appended if another record of the kind already holds that code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any, ClassVar
from uuid import uuid4

import sqlalchemy as sa
from pydantic import AfterValidator, BeforeValidator, ConfigDict, ValidationInfo, field_validator
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import JSON, Column, Field, SQLModel

from cdw.bounds import (
    Day,
    DbId,
    PositiveLoadM3,
    PositiveVolumeM3,
    PositiveWeightT,
    Score,
    VolumeM3,
)
from cdw.errors import Problem, ValidationFailed
from cdw.registry.categories import (
    FacilityKind,
    HaulierStatus,
    LabelledEnum,
    RecordStatus,
    WasteCategory,
    ZoneKind,
)
from cdw.registry.validators.choices import parse_categories, parse_enum
from cdw.registry.validators.geofences import ZONE_MAX_AREA_M2, normalise_geofence
from cdw.registry.validators.hours import validate_opening_hours
from cdw.registry.validators.identifiers import (
    CODE_MAX_LENGTH,
    validate_code,
    validate_credit_code,
    validate_terminal_id,
)
from cdw.registry.validators.plates import validate_plate


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum_type(enum: type[LabelledEnum]) -> sa.Enum:
    """Stored as VARCHAR holding the value (no PostgreSQL ENUM type to migrate)."""
    return sa.Enum(
        enum,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def _json_column(nullable: bool = False) -> Any:
    return Field(sa_column=Column(JSON, nullable=nullable))


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _labelled(enum: type[LabelledEnum], field: str) -> BeforeValidator:
    return BeforeValidator(partial(parse_enum, enum, field=field))


_YES = {"是", "有", "y", "yes", "true", "1"}
_NO = {"否", "无", "n", "no", "false", "0"}


def _yes_no(value: Any) -> Any:
    if isinstance(value, str):
        folded = value.strip().casefold()
        if folded in _YES:
            return True
        if folded in _NO:
            return False
    return value


def _upper(value: str) -> str:
    return value.upper()


def _phone(value: str) -> str:
    digits = value.replace(" ", "").replace("-", "")
    if digits and not (digits.lstrip("+").isdigit() and 5 <= len(digits.lstrip("+")) <= 20):
        raise ValidationFailed(
            [Problem("phone", f"电话号码无效：「{value}」", f"invalid phone number: '{value}'")]
        )
    return digits


# Input types: each runs the validator of cdw.registry.validators on API and import input.
Name = Annotated[str, Field(min_length=1, max_length=200)]
PlateIn = Annotated[str, AfterValidator(validate_plate)]
# A code on input: optional (a missing one is generated when the record is stored).
CodeIn = Annotated[
    str | None,
    BeforeValidator(_blank_to_none),
    AfterValidator(lambda v: None if v is None else validate_code(v)),
]
CreditCodeIn = Annotated[str, AfterValidator(validate_credit_code)]
TerminalIdIn = Annotated[
    str | None,
    BeforeValidator(_blank_to_none),
    AfterValidator(lambda v: None if v is None else validate_terminal_id(v)),
]
OpeningHoursIn = Annotated[str, AfterValidator(validate_opening_hours)]
GeofenceIn = Annotated[dict[str, Any], BeforeValidator(normalise_geofence)]
ZoneGeofenceIn = Annotated[
    dict[str, Any], BeforeValidator(partial(normalise_geofence, max_area_m2=ZONE_MAX_AREA_M2))
]
CategoriesIn = Annotated[list[WasteCategory], BeforeValidator(parse_categories)]
RecordStatusIn = Annotated[RecordStatus, _labelled(RecordStatus, "status")]
HaulierStatusIn = Annotated[HaulierStatus, _labelled(HaulierStatus, "status")]
FacilityKindIn = Annotated[FacilityKind, _labelled(FacilityKind, "kind")]
ZoneKindIn = Annotated[ZoneKind, _labelled(ZoneKind, "kind")]
YesNo = Annotated[bool, BeforeValidator(_yes_no)]
PhoneIn = Annotated[str, AfterValidator(_phone)]


class _Input(SQLModel):
    """Input models strip text and reject unknown fields (a misspelt field is an error) and
    non-finite numbers; numbers, ids and dates carry the bounds of :mod:`cdw.bounds`."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", allow_inf_nan=False)


class _Patch(_Input):
    """PATCH bodies: every field optional; ``null`` only where the column may be empty."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _no_null_for_required(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValidationFailed(
                [Problem(str(info.field_name), "此字段不能为空", "this field cannot be null")]
            )
        return value


class _Stamps(SQLModel):
    """Output timestamps, always timezone-aware UTC (SQLite returns them naive)."""

    id: int
    created_at: datetime
    updated_at: datetime

    @field_validator("created_at", "updated_at")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _code_column() -> Any:
    """NOT NULL in the database; ``None`` in Python until a generated code is assigned."""
    return Field(default=None, max_length=CODE_MAX_LENGTH, unique=True, index=True, nullable=False)


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


def _updated_at() -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# --- ConstructionSite 排放工地 --------------------------------------------------------------


class ConstructionSiteBase(SQLModel):
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, unique=True, index=True)
    name: str = Field(min_length=1, max_length=200, index=True)
    address: str = Field(default="", max_length=300)
    project_permit_no: str = Field(min_length=1, max_length=100)
    builder: str = Field(min_length=1, max_length=200)
    contractor: str = Field(min_length=1, max_length=200)
    geofence: dict[str, Any] = _json_column()
    expected_categories: list[WasteCategory] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    expected_volume_m3: float = Field(ge=0)
    status: RecordStatus = Field(
        default=RecordStatus.active, sa_type=_enum_type(RecordStatus), index=True
    )


class ConstructionSiteCreate(_Input, ConstructionSiteBase):
    code: CodeIn = None
    geofence: GeofenceIn
    expected_categories: CategoriesIn = []
    expected_volume_m3: VolumeM3
    status: RecordStatusIn = RecordStatus.active


class ConstructionSiteUpdate(_Patch):
    code: CodeIn = None
    name: Name | None = None
    address: str | None = Field(default=None, max_length=300)
    project_permit_no: str | None = Field(default=None, min_length=1, max_length=100)
    builder: str | None = Field(default=None, min_length=1, max_length=200)
    contractor: str | None = Field(default=None, min_length=1, max_length=200)
    geofence: GeofenceIn | None = None
    expected_categories: CategoriesIn | None = None
    expected_volume_m3: VolumeM3 | None = None
    status: RecordStatusIn | None = None


class ConstructionSite(ConstructionSiteBase, table=True):
    __tablename__ = "construction_site"

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = _code_column()  # type: ignore[assignment]
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class ConstructionSitePublic(ConstructionSiteBase, _Stamps):
    pass


class ConstructionSitesPublic(SQLModel):
    data: list[ConstructionSitePublic]
    count: int


# --- DisposalFacility 消纳场 / 综合利用厂 / 临时消纳点 / 回填工地 ---------------------------


class DisposalFacilityBase(SQLModel):
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, unique=True, index=True)
    name: str = Field(min_length=1, max_length=200, index=True)
    kind: FacilityKind = Field(sa_type=_enum_type(FacilityKind), index=True)
    address: str = Field(default="", max_length=300)
    geofence: dict[str, Any] = _json_column()
    capacity_m3: float = Field(gt=0)
    used_m3: float = Field(default=0.0, ge=0)
    accepted_categories: list[WasteCategory] = Field(
        sa_column=Column(JSON, nullable=False), min_length=1
    )
    opening_hours: str = Field(default="00:00-24:00", max_length=11)
    status: RecordStatus = Field(
        default=RecordStatus.active, sa_type=_enum_type(RecordStatus), index=True
    )


class DisposalFacilityCreate(_Input, DisposalFacilityBase):
    code: CodeIn = None
    kind: FacilityKindIn
    geofence: GeofenceIn
    capacity_m3: PositiveVolumeM3
    used_m3: VolumeM3 = 0.0
    accepted_categories: Annotated[CategoriesIn, Field(min_length=1)]
    opening_hours: OpeningHoursIn = "00:00-24:00"
    status: RecordStatusIn = RecordStatus.active


class DisposalFacilityUpdate(_Patch):
    code: CodeIn = None
    name: Name | None = None
    kind: FacilityKindIn | None = None
    address: str | None = Field(default=None, max_length=300)
    geofence: GeofenceIn | None = None
    capacity_m3: PositiveVolumeM3 | None = None
    used_m3: VolumeM3 | None = None
    accepted_categories: Annotated[CategoriesIn, Field(min_length=1)] | None = None
    opening_hours: OpeningHoursIn | None = None
    status: RecordStatusIn | None = None


class DisposalFacility(DisposalFacilityBase, table=True):
    __tablename__ = "disposal_facility"

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = _code_column()  # type: ignore[assignment]
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class DisposalFacilityPublic(DisposalFacilityBase, _Stamps):
    pass


class DisposalFacilitiesPublic(SQLModel):
    data: list[DisposalFacilityPublic]
    count: int


# --- Haulier 运输企业 -----------------------------------------------------------------------


class HaulierBase(SQLModel):
    name: str = Field(min_length=1, max_length=200, index=True)
    credit_code: str = Field(min_length=18, max_length=18, unique=True, index=True)
    licence_no: str = Field(min_length=1, max_length=100)
    licence_valid_until: date
    status: HaulierStatus = Field(
        default=HaulierStatus.active, sa_type=_enum_type(HaulierStatus), index=True
    )
    credit_score: int = Field(default=100, ge=0, le=100)


class HaulierCreate(_Input, HaulierBase):
    credit_code: CreditCodeIn
    licence_valid_until: Day
    status: HaulierStatusIn = HaulierStatus.active
    credit_score: Score = 100


class HaulierUpdate(_Patch):
    name: Name | None = None
    credit_code: CreditCodeIn | None = None
    licence_no: str | None = Field(default=None, min_length=1, max_length=100)
    licence_valid_until: Day | None = None
    status: HaulierStatusIn | None = None
    credit_score: Score | None = None


class Haulier(HaulierBase, table=True):
    __tablename__ = "haulier"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class HaulierPublic(HaulierBase, _Stamps):
    pass


class HauliersPublic(SQLModel):
    data: list[HaulierPublic]
    count: int


# --- Depot 停车场 ---------------------------------------------------------------------------


class DepotBase(SQLModel):
    haulier_id: int = Field(foreign_key="haulier.id", index=True)
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, unique=True, index=True)
    name: str = Field(min_length=1, max_length=200, index=True)
    address: str = Field(default="", max_length=300)
    geofence: dict[str, Any] = _json_column()
    status: RecordStatus = Field(
        default=RecordStatus.active, sa_type=_enum_type(RecordStatus), index=True
    )


class DepotCreate(_Input, DepotBase):
    haulier_id: DbId
    code: CodeIn = None
    geofence: GeofenceIn
    status: RecordStatusIn = RecordStatus.active


class DepotUpdate(_Patch):
    code: CodeIn = None
    haulier_id: DbId | None = None
    name: Name | None = None
    address: str | None = Field(default=None, max_length=300)
    geofence: GeofenceIn | None = None
    status: RecordStatusIn | None = None


class Depot(DepotBase, table=True):
    __tablename__ = "depot"

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = _code_column()  # type: ignore[assignment]
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class DepotPublic(DepotBase, _Stamps):
    pass


class DepotsPublic(SQLModel):
    data: list[DepotPublic]
    count: int


# --- Vehicle 运输车辆 -----------------------------------------------------------------------


class VehicleBase(SQLModel):
    plate: str = Field(min_length=7, max_length=8, unique=True, index=True)
    haulier_id: int = Field(foreign_key="haulier.id", index=True)
    rated_capacity_m3: float = Field(gt=0)
    rated_load_t: float = Field(gt=0)
    sealed_body: bool = False
    # False: the terminal reports no load state (JT/T 808 status bits 8-9 always 0).
    load_sensor: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    terminal_id: str | None = Field(
        default=None, min_length=11, max_length=20, unique=True, index=True
    )
    inspection_valid_until: date
    status: RecordStatus = Field(
        default=RecordStatus.active, sa_type=_enum_type(RecordStatus), index=True
    )


class VehicleCreate(_Input, VehicleBase):
    plate: PlateIn
    haulier_id: DbId
    rated_capacity_m3: PositiveLoadM3
    rated_load_t: PositiveWeightT
    inspection_valid_until: Day
    sealed_body: YesNo = False
    load_sensor: YesNo = True
    terminal_id: TerminalIdIn = None
    status: RecordStatusIn = RecordStatus.active


class VehicleUpdate(_Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"terminal_id"})

    plate: PlateIn | None = None
    haulier_id: DbId | None = None
    rated_capacity_m3: PositiveLoadM3 | None = None
    rated_load_t: PositiveWeightT | None = None
    sealed_body: YesNo | None = None
    load_sensor: YesNo | None = None
    terminal_id: TerminalIdIn = None
    inspection_valid_until: Day | None = None
    status: RecordStatusIn | None = None


class Vehicle(VehicleBase, table=True):
    __tablename__ = "vehicle"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class VehiclePublic(VehicleBase, _Stamps):
    pass


class VehiclesPublic(SQLModel):
    data: list[VehiclePublic]
    count: int


# --- VehicleAssignment 车辆归属 -------------------------------------------------------------


class VehicleAssignment(SQLModel, table=True):
    """Which haulier held a vehicle when: ``valid_from`` inclusive, ``valid_to`` exclusive
    (None: the current holder, ``vehicle.haulier_id``). A vehicle's first period opens when
    it is inserted (:func:`_open_first_assignment`); a transfer closes the open period and
    opens the next (``cdw.registry.services.transfer_vehicle``)."""

    __tablename__ = "vehicle_assignment"

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(foreign_key="vehicle.id", index=True)
    haulier_id: int = Field(foreign_key="haulier.id", index=True)
    valid_from: datetime = Field(sa_type=sa.DateTime(timezone=True))
    valid_to: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


def _open_first_assignment(_mapper: Mapper, connection: sa.Connection, target: Vehicle) -> None:
    """Every way a vehicle is inserted (API, import, scenario) opens its first period."""
    connection.execute(
        sa.insert(VehicleAssignment.__table__).values(  # type: ignore[attr-defined]
            vehicle_id=target.id, haulier_id=target.haulier_id, valid_from=target.created_at
        )
    )


sa.event.listen(Vehicle, "after_insert", _open_first_assignment)


# --- Driver 驾驶员 --------------------------------------------------------------------------


class DriverBase(SQLModel):
    name: str = Field(min_length=1, max_length=100, index=True)
    licence_no: str = Field(min_length=1, max_length=32, unique=True, index=True)
    haulier_id: int = Field(foreign_key="haulier.id", index=True)
    phone: str = Field(default="", max_length=24)
    status: RecordStatus = Field(
        default=RecordStatus.active, sa_type=_enum_type(RecordStatus), index=True
    )


class DriverCreate(_Input, DriverBase):
    haulier_id: DbId
    licence_no: Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_upper)]
    phone: PhoneIn = ""
    status: RecordStatusIn = RecordStatus.active


class DriverUpdate(_Patch):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    licence_no: (
        Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_upper)] | None
    ) = None
    haulier_id: DbId | None = None
    phone: PhoneIn | None = None
    status: RecordStatusIn | None = None


class Driver(DriverBase, table=True):
    __tablename__ = "driver"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


def mask(value: str, head: int, tail: int) -> str:
    """``value`` with all but its first ``head`` and last ``tail`` characters starred
    (``13812345678`` → ``138****5678``); a value that short is starred whole."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


class DriverPublic(DriverBase, _Stamps):
    # Personal data (个人信息): the phone and the licence number, which is the ID-card number.
    PERSONAL: ClassVar[dict[str, tuple[int, int]]] = {"phone": (3, 4), "licence_no": (4, 4)}

    def masked(self) -> DriverPublic:
        """This answer for a reader who does not need the driver's personal data."""
        return self.model_copy(
            update={
                field: mask(getattr(self, field), *kept) for field, kept in self.PERSONAL.items()
            }
        )


class DriversPublic(SQLModel):
    data: list[DriverPublic]
    count: int


# --- RestrictedZone 禁区 --------------------------------------------------------------------


class RestrictedZoneBase(SQLModel):
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH, unique=True, index=True)
    name: str = Field(min_length=1, max_length=200, index=True)
    kind: ZoneKind = Field(sa_type=_enum_type(ZoneKind), index=True)
    geofence: dict[str, Any] = _json_column()
    status: RecordStatus = Field(
        default=RecordStatus.active, sa_type=_enum_type(RecordStatus), index=True
    )


class RestrictedZoneCreate(_Input, RestrictedZoneBase):
    code: CodeIn = None
    kind: ZoneKindIn
    geofence: ZoneGeofenceIn
    status: RecordStatusIn = RecordStatus.active


class RestrictedZoneUpdate(_Patch):
    code: CodeIn = None
    name: Name | None = None
    kind: ZoneKindIn | None = None
    geofence: ZoneGeofenceIn | None = None
    status: RecordStatusIn | None = None


class RestrictedZone(RestrictedZoneBase, table=True):
    __tablename__ = "restricted_zone"

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = _code_column()  # type: ignore[assignment]
    created_at: datetime = _created_at()
    updated_at: datetime = _updated_at()


class RestrictedZonePublic(RestrictedZoneBase, _Stamps):
    pass


class RestrictedZonesPublic(SQLModel):
    data: list[RestrictedZonePublic]
    count: int


# --- generated codes --------------------------------------------------------------------------

CODE_PREFIX: dict[type[SQLModel], str] = {
    ConstructionSite: "S",
    DisposalFacility: "F",
    Depot: "D",
    RestrictedZone: "Z",
}
# The placeholder a record without a code is inserted with starts so (no valid code does).
_PENDING = "~"
_CODE_LOOKUP_BATCH = 1_000  # candidate codes per SELECT … IN


def placeholder_code() -> str:
    """A unique code a record without one is inserted with, until its id gives it its own."""
    return f"{_PENDING}{uuid4().hex}"


def is_placeholder(code: str) -> bool:
    return code.startswith(_PENDING)


def generated_codes(
    connection: sa.Connection, model: type[SQLModel], ids: list[int]
) -> dict[int, str]:
    """The codes that records ``ids`` of ``model``, inserted with placeholders, take: the
    kind's letter and the id in six digits, then ``-2``, ``-3`` … while another record of
    the kind holds it (one look-up per ``_CODE_LOOKUP_BATCH`` candidates)."""
    table = model.__table__  # type: ignore[attr-defined]
    bases = {record_id: f"{CODE_PREFIX[model]}{record_id:06d}" for record_id in ids}
    codes: dict[int, str] = {}
    n = 1
    while bases:
        candidates = {i: base if n == 1 else f"{base}-{n}" for i, base in bases.items()}
        wanted = list(candidates.values())
        taken: set[str] = set()
        for first in range(0, len(wanted), _CODE_LOOKUP_BATCH):
            batch = wanted[first : first + _CODE_LOOKUP_BATCH]
            taken.update(
                connection.execute(sa.select(table.c.code).where(table.c.code.in_(batch))).scalars()
            )
        for record_id, code in candidates.items():
            if code not in taken:
                codes[record_id] = code
                del bases[record_id]
        n += 1
    return codes


def _placeholder_code(_mapper: Mapper, _connection: sa.Connection, target: Any) -> None:
    if target.code is None:
        target.code = placeholder_code()


def _assign_generated_code(mapper: Mapper, connection: sa.Connection, target: Any) -> None:
    """Replace the placeholder by the generated code, now that the id is known."""
    if not is_placeholder(target.code):
        return
    code = generated_codes(connection, mapper.class_, [target.id])[target.id]
    table = mapper.local_table
    connection.execute(table.update().where(table.c.id == target.id).values(code=code))
    set_committed_value(target, "code", code)


for _model in CODE_PREFIX:
    sa.event.listen(_model, "before_insert", _placeholder_code)
    sa.event.listen(_model, "after_insert", _assign_generated_code)
