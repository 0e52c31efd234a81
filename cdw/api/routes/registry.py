"""Registry endpoints: sites, facilities, hauliers, depots, vehicles, drivers, restricted zones.

Every resource has the same five endpoints — list (paginated, filtered), read one, create,
update (PATCH) and deactivate — built from one :class:`Resource` description, so that their
roles and behaviour cannot drift apart. Writes: admin and permit officer. Reads: admin,
permit, enforcement officers and viewers see everything; a facility operator only its
facility, a site dispatcher only its site, a haulier only itself and its depots, vehicles and
drivers (another record's id answers 404). Restricted zones are readable by every role.
A driver's phone and ID-card (licence) number are masked for readers who do not need them
(permit officers, viewers; full for admins, enforcement officers and the driver's own
haulier), in every answer including a write's, and those readers may not filter by them.
A PATCH of a vehicle's ``haulier_id`` is a transfer: the vehicle's period with the old
haulier closes and one with the new opens (audited), so each keeps its own history.
Sites, facilities, depots and zones carry a ``code`` (optional on create: one is generated;
a code another record holds answers 409); their lists filter by ``code``. Vehicles carry
``load_sensor``. Every write is audited with the acting user.
"""

# No ``from __future__ import annotations``: FastAPI reads the annotations built in _router.

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import SQLModel

from cdw.api.deps import ALL_ROLES, SessionDep, require_roles
from cdw.api.schemas import Label, errors
from cdw.auth.models import Role, User
from cdw.errors import Forbidden
from cdw.registry import services
from cdw.registry.categories import (
    ALL_ENUMS,
    FacilityKind,
    HaulierStatus,
    RecordStatus,
    ZoneKind,
)
from cdw.registry.models import (
    ConstructionSite,
    ConstructionSiteCreate,
    ConstructionSitePublic,
    ConstructionSitesPublic,
    ConstructionSiteUpdate,
    Depot,
    DepotCreate,
    DepotPublic,
    DepotsPublic,
    DepotUpdate,
    DisposalFacilitiesPublic,
    DisposalFacility,
    DisposalFacilityCreate,
    DisposalFacilityPublic,
    DisposalFacilityUpdate,
    Driver,
    DriverCreate,
    DriverPublic,
    DriversPublic,
    DriverUpdate,
    Haulier,
    HaulierCreate,
    HaulierPublic,
    HauliersPublic,
    HaulierUpdate,
    RestrictedZone,
    RestrictedZoneCreate,
    RestrictedZonePublic,
    RestrictedZonesPublic,
    RestrictedZoneUpdate,
    Vehicle,
    VehicleCreate,
    VehiclePublic,
    VehiclesPublic,
    VehicleUpdate,
)
from cdw.registry.validators.identifiers import CODE_MAX_LENGTH

WRITE_ROLES = (Role.admin, Role.permit_officer)
READ_ALL_ROLES = (Role.admin, Role.permit_officer, Role.enforcement_officer, Role.viewer)

_NAME = Field(default=None, description="名称包含 / name contains")
_CODE = Field(default=None, max_length=CODE_MAX_LENGTH, description="编码 / code (exact)")


class SiteFilter(BaseModel):
    status: RecordStatus | None = None
    name: str | None = _NAME
    code: str | None = _CODE


class FacilityFilter(BaseModel):
    status: RecordStatus | None = None
    name: str | None = _NAME
    code: str | None = _CODE
    kind: FacilityKind | None = None


class HaulierFilter(BaseModel):
    status: HaulierStatus | None = None
    name: str | None = _NAME
    credit_code: str | None = None


class DepotFilter(BaseModel):
    status: RecordStatus | None = None
    name: str | None = _NAME
    code: str | None = _CODE
    haulier_id: int | None = None


class VehicleFilter(BaseModel):
    status: RecordStatus | None = None
    plate: str | None = Field(default=None, description="车牌号前缀 / plate prefix")
    haulier_id: int | None = None
    terminal_id: str | None = None


class DriverFilter(BaseModel):
    status: RecordStatus | None = None
    name: str | None = _NAME
    haulier_id: int | None = None
    licence_no: str | None = None


class ZoneFilter(BaseModel):
    status: RecordStatus | None = None
    name: str | None = _NAME
    code: str | None = _CODE
    kind: ZoneKind | None = None


@dataclass(frozen=True)
class Resource:
    path: str
    zh: str
    en: str
    model: type[SQLModel]
    create: type[SQLModel]
    update: type[SQLModel]
    public: type[SQLModel]
    page: type[SQLModel]
    filters: type[BaseModel]
    read_roles: tuple[Role, ...]
    # The record as the user may read it (drivers: personal data masked by role).
    present: Callable[[Any, User], Any] = lambda record, _user: record
    # Filters that would confirm a personal-data value (drivers: licence_no).
    personal_filters: frozenset[str] = frozenset()


RESOURCES = (
    Resource(
        "/sites", "排放工地", "construction sites",
        ConstructionSite, ConstructionSiteCreate, ConstructionSiteUpdate,
        ConstructionSitePublic, ConstructionSitesPublic, SiteFilter,
        (*READ_ALL_ROLES, Role.site_dispatcher),
    ),
    Resource(
        "/facilities", "消纳场所", "disposal facilities",
        DisposalFacility, DisposalFacilityCreate, DisposalFacilityUpdate,
        DisposalFacilityPublic, DisposalFacilitiesPublic, FacilityFilter,
        (*READ_ALL_ROLES, Role.facility_operator),
    ),
    Resource(
        "/hauliers", "运输企业", "hauliers",
        Haulier, HaulierCreate, HaulierUpdate, HaulierPublic, HauliersPublic, HaulierFilter,
        (*READ_ALL_ROLES, Role.haulier),
    ),
    Resource(
        "/depots", "停车场", "depots",
        Depot, DepotCreate, DepotUpdate, DepotPublic, DepotsPublic, DepotFilter,
        (*READ_ALL_ROLES, Role.haulier),
    ),
    Resource(
        "/vehicles", "运输车辆", "vehicles",
        Vehicle, VehicleCreate, VehicleUpdate, VehiclePublic, VehiclesPublic, VehicleFilter,
        (*READ_ALL_ROLES, Role.haulier),
    ),
    Resource(
        "/drivers", "驾驶员", "drivers",
        Driver, DriverCreate, DriverUpdate, DriverPublic, DriversPublic, DriverFilter,
        (*READ_ALL_ROLES, Role.haulier),
        present=services.driver_public, personal_filters=frozenset({"licence_no"}),
    ),
    Resource(
        "/zones", "禁区", "restricted zones",
        RestrictedZone, RestrictedZoneCreate, RestrictedZoneUpdate,
        RestrictedZonePublic, RestrictedZonesPublic, ZoneFilter,
        ALL_ROLES,
    ),
)  # fmt: skip


def _router(res: Resource) -> APIRouter:
    router = APIRouter(prefix=res.path, tags=[f"registry 登记: {res.zh} {res.en}"])
    Reader = Annotated[User, require_roles(*res.read_roles)]
    Writer = Annotated[User, require_roles(*WRITE_ROLES)]
    Filters = Annotated[res.filters, Query()]
    Create = res.create
    Update = res.update
    slug = res.path.strip("/")

    @router.get(
        "",
        response_model=res.page,
        responses=errors(403),
        operation_id=f"list_{slug}",
        summary=f"列出{res.zh} / list {res.en}",
    )
    def list_records(
        session: SessionDep,
        user: Reader,
        filters: Filters,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Any:
        wanted = filters.model_dump(exclude_none=True)
        if res.personal_filters & wanted.keys() and not services.sees_personal_data(
            user, user.haulier_id
        ):
            raise Forbidden("无权按个人信息查询", "Your role may not search by personal data")
        rows, count = services.list_records(
            session,
            res.model,
            filters=wanted,
            scope=services.scope_for(user),
            offset=offset,
            limit=limit,
        )
        return res.page(data=[res.present(r, user) for r in rows], count=count)

    @router.get(
        "/{record_id}",
        response_model=res.public,
        responses=errors(403, 404),
        operation_id=f"read_{slug}",
        summary=f"查看{res.zh} / read one",
    )
    def read_record(session: SessionDep, user: Reader, record_id: int) -> Any:
        return res.present(
            services.get(session, res.model, record_id, services.scope_for(user)), user
        )

    @router.post(
        "",
        response_model=res.public,
        status_code=201,
        responses=errors(403, 404, 409),
        operation_id=f"create_{slug}",
        summary=f"登记{res.zh} / create",
    )
    def create_record(session: SessionDep, user: Writer, data: Create) -> Any:  # type: ignore[valid-type]
        record = services.create(session, res.model, data, user)
        session.commit()
        session.refresh(record)
        return res.present(record, user)

    @router.patch(
        "/{record_id}",
        response_model=res.public,
        responses=errors(403, 404, 409),
        operation_id=f"update_{slug}",
        summary=f"修改{res.zh} / update",
    )
    def update_record(session: SessionDep, user: Writer, record_id: int, data: Update) -> Any:  # type: ignore[valid-type]
        record = services.update(session, res.model, record_id, data, user)
        session.commit()
        session.refresh(record)
        return res.present(record, user)

    @router.post(
        "/{record_id}/deactivate",
        response_model=res.public,
        responses=errors(403, 404, 409),
        operation_id=f"deactivate_{slug}",
        summary=f"停用{res.zh} / deactivate",
    )
    def deactivate_record(session: SessionDep, user: Writer, record_id: int) -> Any:
        record = services.deactivate(session, res.model, record_id, user)
        session.commit()
        session.refresh(record)
        return res.present(record, user)

    return router


router = APIRouter()
for _resource in RESOURCES:
    router.include_router(_router(_resource))


@router.get(
    "/registry/enums",
    response_model=dict[str, dict[str, Label]],
    responses=errors(),
    tags=["registry 登记"],
    summary="枚举及中英文标签 / enum labels",
)
def registry_enums(
    _: Annotated[User, require_roles(*ALL_ROLES)],
) -> dict[str, dict[str, dict[str, str]]]:
    """Values of every registry enumeration with their Chinese and English labels."""
    return {enum.__name__: enum.labels() for enum in ALL_ENUMS}
