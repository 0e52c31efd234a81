"""Permit (处置核准) endpoints: apply, read, decide, amend, revoke, expire.

Roles (DESIGN.md §1): permit officers and admins decide; a site dispatcher may apply for its
own site; reads for admin, permit and enforcement officers and viewers (all), a site
dispatcher (its site), a facility operator (its facility), a haulier (permits naming its
vehicles). Outside a scope a permit answers 404. Route proposals and checks (computations
on the road network of ``CDW_ROAD_NETWORK``) are for deciders.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cdw.api.deps import SessionDep, SettingsDep, TodayDep, require_roles
from cdw.api.schemas import ProposalsPublic, RouteCheckPublic, errors
from cdw.auth.models import Role, User
from cdw.bounds import Count, Day, DbId
from cdw.permits import route_planning, services
from cdw.permits.models import ExpiredPermits, PermitPublic, PermitsPublic, PermitStatus
from cdw.permits.route_planning import ProposalRequest, RouteCheckRequest
from cdw.permits.services import Decision, PermitAmendment, PermitApplication
from cdw.registry.services import scope_for

router = APIRouter(prefix="/permits", tags=["permits 处置核准"])

DECIDERS = (Role.admin, Role.permit_officer)
APPLICANTS = (*DECIDERS, Role.site_dispatcher)
READERS = (
    Role.admin,
    Role.permit_officer,
    Role.enforcement_officer,
    Role.viewer,
    Role.site_dispatcher,
    Role.facility_operator,
    Role.haulier,
)
Decider = Annotated[User, require_roles(*DECIDERS)]


@router.get(
    "", response_model=PermitsPublic, responses=errors(403), summary="核准列表 / list permits"
)
def list_permits(
    session: SessionDep,
    user: Annotated[User, require_roles(*READERS)],
    status: PermitStatus | None = None,
    offset: Count = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PermitsPublic:
    rows, count = services.list_permits(session, scope_for(user), status, offset, limit)
    return PermitsPublic(data=[services.public(session, p) for p in rows], count=count)


@router.post(
    "/route-proposals",
    response_model=ProposalsPublic,
    responses=errors(403, 404),
    summary="推荐路线 / propose routes from a site to a facility",
)
def propose_routes(
    data: ProposalRequest, session: SessionDep, settings: SettingsDep, _: Decider
) -> ProposalsPublic:
    return ProposalsPublic.model_validate(route_planning.propose(session, settings, data))


@router.post(
    "/route-check",
    response_model=RouteCheckPublic,
    responses=errors(403, 404),
    summary="校验手绘路线 / snap and check a drawn route",
)
def check_route(
    data: RouteCheckRequest, session: SessionDep, settings: SettingsDep, _: Decider
) -> RouteCheckPublic:
    return RouteCheckPublic.model_validate(route_planning.check(session, settings, data))


@router.get(
    "/{permit_id}",
    response_model=PermitPublic,
    responses=errors(403, 404),
    summary="核准详情 / read one permit",
)
def read_permit(
    permit_id: DbId, session: SessionDep, user: Annotated[User, require_roles(*READERS)]
) -> PermitPublic:
    return services.public(session, services.get_permit(session, permit_id, scope_for(user)))


@router.post(
    "",
    status_code=201,
    response_model=PermitPublic,
    responses=errors(403, 404, 409),
    summary="申请核准 / apply",
)
def apply(
    data: PermitApplication, session: SessionDep, user: Annotated[User, require_roles(*APPLICANTS)]
) -> PermitPublic:
    permit = services.apply(session, data, user, scope_for(user))
    session.commit()
    return services.public(session, permit)


@router.post(
    "/{permit_id}/approve",
    response_model=PermitPublic,
    responses=errors(403, 404, 409),
    summary="核准 / approve",
)
def approve(permit_id: DbId, session: SessionDep, today: TodayDep, user: Decider) -> PermitPublic:
    permit = services.approve(session, permit_id, user, today)
    session.commit()
    return services.public(session, permit)


@router.post(
    "/{permit_id}/reject",
    response_model=PermitPublic,
    responses=errors(403, 404, 409),
    summary="驳回 / reject",
)
def reject(permit_id: DbId, data: Decision, session: SessionDep, user: Decider) -> PermitPublic:
    permit = services.reject(session, permit_id, user, data.reason)
    session.commit()
    return services.public(session, permit)


@router.post(
    "/{permit_id}/revoke",
    response_model=PermitPublic,
    responses=errors(403, 404, 409),
    summary="撤销 / revoke",
)
def revoke(permit_id: DbId, data: Decision, session: SessionDep, user: Decider) -> PermitPublic:
    permit = services.revoke(session, permit_id, user, data.reason)
    session.commit()
    return services.public(session, permit)


@router.post(
    "/{permit_id}/amend",
    status_code=201,
    response_model=PermitPublic,
    responses=errors(403, 404, 409),
    summary="变更（新版本） / amend",
)
def amend(
    permit_id: DbId, data: PermitAmendment, session: SessionDep, user: Decider
) -> PermitPublic:
    permit = services.amend(session, permit_id, data, user)
    session.commit()
    return services.public(session, permit)


@router.post(
    "/expire",
    response_model=ExpiredPermits,
    responses=errors(403),
    summary="到期处理 / expire by date or used-up volume",
)
def expire(
    session: SessionDep, today: TodayDep, user: Decider, day: Day | None = None
) -> ExpiredPermits:
    expired = services.expire_permits(session, day or today, user)
    session.commit()
    return ExpiredPermits(expired=[p.permit_no for p in expired])
