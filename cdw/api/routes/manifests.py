"""Manifest (电子联单) endpoints: gate check and issue, depart, receipts, close, void,
reconciliation and figures.

Roles (DESIGN.md §1): the site dispatcher of the emitting site checks, issues, marks the
departure and may void before departure (403 after); the facility operator of the
receiving facility (only that one) lists expected arrivals, confirms, rejects and corrects
receipts; permit officers and admins close disputed manifests, and with enforcement
officers void overdue or disputed ones (a reason required; the flags raised on them are
closed with it); admins and enforcement officers run reconciliation. Reads: admin, permit
and enforcement officers, viewers; bound roles their own manifests (others answer 404; a
haulier's are those its vehicles carried while it held them). Figures: admin, permit and
enforcement officers, viewers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, model_validator

from cdw.api.deps import SessionDep, SettingsDep, TodayDep, require_roles
from cdw.api.routes.tracks import StoreDep
from cdw.api.schemas import (
    FacilityCapacities,
    GateCheck,
    ManifestDays,
    ReconciliationPublic,
    RecyclingShare,
    errors,
)
from cdw.auth.models import Role, User
from cdw.bounds import Count, Day, DbId
from cdw.flows.day import reconcile_days
from cdw.flows.manifests import void_manifest
from cdw.manifests import figures, services
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import ManifestPublic, ManifestsPublic, ReceiptPublic
from cdw.manifests.services import ManifestIssue, ReceiptCorrection, ReceiptIn, StateChange
from cdw.registry.services import scope_for

router = APIRouter(tags=["manifests 电子联单"])

OFFICIALS = (Role.admin, Role.permit_officer, Role.enforcement_officer, Role.viewer)
READERS = (*OFFICIALS, Role.site_dispatcher, Role.facility_operator, Role.haulier)
Dispatcher = Annotated[User, require_roles(Role.site_dispatcher)]
Operator = Annotated[User, require_roles(Role.facility_operator)]
Officer = Annotated[User, require_roles(Role.admin, Role.permit_officer)]
VOIDERS = (Role.admin, Role.permit_officer, Role.enforcement_officer, Role.site_dispatcher)
Reader = Annotated[User, require_roles(*READERS)]
FigureReader = Annotated[User, require_roles(*OFFICIALS)]
MAX_DAYS = 31


class DayRange(BaseModel):
    date_from: Day
    date_to: Day | None = None

    @model_validator(mode="after")
    def _range(self):
        last = self.date_to or self.date_from
        if last < self.date_from or (last - self.date_from).days >= MAX_DAYS:
            raise ValueError(
                f"date_to 须不早于 date_from 且跨度不超过 {MAX_DAYS} 天 / date_to must not "
                f"precede date_from and the span is at most {MAX_DAYS} days"
            )
        return self

    @property
    def last(self) -> date:
        return self.date_to or self.date_from


@router.post(
    "/manifests/check",
    response_model=GateCheck,
    responses=errors(403, 404),
    summary="出场检查（不开单） / gate check only",
)
def gate_check(
    data: ManifestIssue, session: SessionDep, settings: SettingsDep, user: Dispatcher
) -> GateCheck:
    _, problems = services.check_at_gate(
        session, data, scope_for(user), datetime.now(UTC), settings
    )
    return GateCheck(may_leave=not problems, problems=problems)


@router.post(
    "/manifests",
    status_code=201,
    response_model=ManifestPublic,
    responses=errors(403, 404, 409),
    summary="出场开单 / issue at the gate",
)
def issue(data: ManifestIssue, session: SessionDep, user: Dispatcher) -> ManifestPublic:
    manifest = services.issue(session, data, user, scope_for(user))
    session.commit()
    return services.public(session, manifest)


@router.get(
    "/manifests",
    response_model=ManifestsPublic,
    responses=errors(403),
    summary="联单列表 / list manifests",
)
def list_manifests(
    session: SessionDep,
    user: Reader,
    state: ManifestState | None = None,
    offset: Count = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ManifestsPublic:
    rows, count = services.list_manifests(
        session, scope_for(user), state=state, offset=offset, limit=limit
    )
    return ManifestsPublic.model_validate({"data": rows, "count": count})


@router.get(
    "/manifests/expected",
    response_model=ManifestsPublic,
    responses=errors(403),
    summary="待收联单 / expected arrivals",
)
def expected(session: SessionDep, user: Operator) -> ManifestsPublic:
    rows = services.expected_arrivals(session, user.facility_id)
    return ManifestsPublic.model_validate({"data": rows, "count": len(rows)})


@router.get(
    "/manifests/{manifest_id}",
    response_model=ManifestPublic,
    responses=errors(403, 404),
    summary="联单详情 / read one manifest",
)
def read_manifest(manifest_id: DbId, session: SessionDep, user: Reader) -> ManifestPublic:
    return services.public(session, services.get_manifest(session, manifest_id, scope_for(user)))


def _changed(session, manifest_id, user, target, reason=None) -> ManifestPublic:
    manifest = services.get_manifest(session, manifest_id, scope_for(user))
    services.change_state(session, manifest, target, user, reason)
    session.commit()
    return services.public(session, manifest)


@router.post(
    "/manifests/{manifest_id}/depart",
    response_model=ManifestPublic,
    responses=errors(403, 404, 409),
    summary="确认出场 / departed",
)
def depart(manifest_id: DbId, session: SessionDep, user: Dispatcher) -> ManifestPublic:
    return _changed(session, manifest_id, user, ManifestState.departed)


@router.post(
    "/manifests/{manifest_id}/void",
    response_model=ManifestPublic,
    responses=errors(403, 404, 409),
    summary="作废 / void",
)
def void(
    manifest_id: DbId,
    data: StateChange,
    session: SessionDep,
    user: Annotated[User, require_roles(*VOIDERS)],
) -> ManifestPublic:
    """A site dispatcher voids its own manifest before it leaves (403 after); officers
    void overdue or disputed ones, the flags raised on them closed with the reason."""
    manifest = services.get_manifest(session, manifest_id, scope_for(user))
    void_manifest(session, manifest, user, data.reason)
    session.commit()
    return services.public(session, manifest)


@router.post(
    "/manifests/{manifest_id}/close",
    response_model=ManifestPublic,
    responses=errors(403, 404, 409),
    summary="闭合 / close",
)
def close(
    manifest_id: DbId, data: StateChange, session: SessionDep, user: Officer
) -> ManifestPublic:
    return _changed(session, manifest_id, user, ManifestState.closed, data.reason)


@router.post(
    "/manifests/{manifest_id}/receipt",
    status_code=201,
    response_model=ReceiptPublic,
    responses=errors(403, 404, 409),
    summary="收货或拒收 / receive",
)
def receive(
    manifest_id: DbId, data: ReceiptIn, session: SessionDep, user: Operator
) -> ReceiptPublic:
    receipt = services.confirm_receipt(session, manifest_id, data, user, scope_for(user))
    session.commit()
    return ReceiptPublic.model_validate(receipt)


@router.post(
    "/manifests/{manifest_id}/receipt/corrections",
    status_code=201,
    response_model=ReceiptPublic,
    responses=errors(403, 404, 409),
    summary="更正收货记录（新版本） / correct a receipt",
)
def correct(
    manifest_id: DbId, data: ReceiptCorrection, session: SessionDep, user: Operator
) -> ReceiptPublic:
    receipt = services.correct_receipt(session, manifest_id, data, user, scope_for(user))
    session.commit()
    return ReceiptPublic.model_validate(receipt)


@router.post(
    "/reconciliations",
    response_model=ReconciliationPublic,
    responses=errors(403, 409),
    summary="联单对账 / reconcile manifests, trips and receipts",
)
def reconcile(
    request: DayRange,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(Role.admin, Role.enforcement_officer)],
) -> dict[str, Any]:
    first, last = request.date_from, request.last
    return reconcile_days(session, store, first, last, settings, actor=user).as_dict()


@router.get(
    "/figures/facilities",
    response_model=FacilityCapacities,
    responses=errors(403),
    summary="消纳场剩余容量 / facility capacity",
)
def facility_figures(session: SessionDep, today: TodayDep, _: FigureReader) -> FacilityCapacities:
    return FacilityCapacities.model_validate({"data": figures.facility_capacity(session, today)})


@router.get(
    "/figures/manifests",
    response_model=ManifestDays,
    responses=errors(403),
    summary="每日联单 / manifests per day",
)
def manifest_figures(
    session: SessionDep,
    settings: SettingsDep,
    _: FigureReader,
    days: Annotated[DayRange, Query()],
) -> ManifestDays:
    tz = ZoneInfo(settings.local_timezone)
    return ManifestDays.model_validate(
        {"data": figures.manifests_per_day(session, days.date_from, days.last, tz)}
    )


@router.get(
    "/figures/recycling",
    response_model=RecyclingShare,
    responses=errors(403),
    summary="综合利用率 / recycling share",
)
def recycling_figures(
    session: SessionDep,
    settings: SettingsDep,
    _: FigureReader,
    days: Annotated[DayRange, Query()],
) -> RecyclingShare:
    tz = ZoneInfo(settings.local_timezone)
    return RecyclingShare.model_validate(
        figures.recycling_share(session, days.date_from, days.last, tz)
    )
