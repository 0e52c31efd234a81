"""Citizen reports (举报): enter, read, attach a photo, and find the trucks that were there.

Enforcement officers and admins only: a report names a citizen's complaint and the answer
is raw track data (where each truck was, minute by minute).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, UploadFile
from fastapi.responses import FileResponse

from cdw.api.deps import SessionDep, SettingsDep, require_roles
from cdw.api.routes.tracks import StoreDep
from cdw.api.schemas import errors
from cdw.auth.models import Role, User
from cdw.bounds import Count, DbId
from cdw.enforcement import citizen
from cdw.enforcement.citizen_models import (
    CitizenReportCreate,
    CitizenReportPublic,
    CitizenReportsPublic,
    TrucksNearPublic,
)
from cdw.errors import NotFound

router = APIRouter(prefix="/citizen-reports", tags=["citizen reports 举报"])

REPORT_ROLES = (Role.admin, Role.enforcement_officer)
Officer = Annotated[User, require_roles(*REPORT_ROLES)]


@router.post(
    "",
    response_model=CitizenReportPublic,
    status_code=201,
    responses=errors(403),
    summary="登记举报 / enter a citizen report",
)
def create_report(
    data: CitizenReportCreate, session: SessionDep, settings: SettingsDep, user: Officer
) -> CitizenReportPublic:
    """A place (``lon``/``lat``, or an ``address`` the registry knows), a time window (a
    time without offset is local time), a radius of 10–2000 m and notes."""
    report = citizen.create_report(session, data, user, settings)
    session.commit()
    return CitizenReportPublic.of(report)


@router.get(
    "", response_model=CitizenReportsPublic, responses=errors(403), summary="举报列表 / list"
)
def list_reports(
    session: SessionDep,
    _: Officer,
    offset: Count = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CitizenReportsPublic:
    rows, count = citizen.list_reports(session, offset, limit)
    return CitizenReportsPublic(data=[CitizenReportPublic.of(r) for r in rows], count=count)


@router.get(
    "/{report_id}",
    response_model=CitizenReportPublic,
    responses=errors(403, 404),
    summary="举报详情 / read one report",
)
def read_report(report_id: DbId, session: SessionDep, _: Officer) -> CitizenReportPublic:
    return CitizenReportPublic.of(citizen.get_report(session, report_id))


@router.post(
    "/{report_id}/photo",
    response_model=CitizenReportPublic,
    responses=errors(403, 404),
    summary="上传举报照片 / attach a photo (JPEG, PNG or WebP, at most 8 MB)",
)
def attach_photo(
    report_id: DbId, file: UploadFile, session: SessionDep, settings: SettingsDep, user: Officer
) -> CitizenReportPublic:
    report = citizen.get_report(session, report_id)
    written = citizen.attach_photo(session, report, file.file, file.filename, user, settings)
    try:
        session.commit()
    except BaseException:
        session.rollback()
        still_used = citizen.photo_path(settings, citizen.get_report(session, report_id))
        if still_used != written:
            written.unlink(missing_ok=True)
        raise
    return CitizenReportPublic.of(report)


@router.get(
    "/{report_id}/photo",
    response_class=FileResponse,
    responses={
        **errors(403, 404),
        200: {
            "description": "the photo",
            "content": {t: {} for t in citizen.PHOTO_TYPES},
        },
    },
    summary="举报照片 / the report's photo",
)
def read_photo(
    report_id: DbId, session: SessionDep, settings: SettingsDep, _: Officer
) -> FileResponse:
    report = citizen.get_report(session, report_id)
    path = citizen.photo_path(settings, report)
    if path is None or not path.is_file():
        raise NotFound("举报照片", "photo of citizen report", report_id)
    return FileResponse(path, media_type=report.photo_type)


@router.get(
    "/{report_id}/trucks",
    response_model=TrucksNearPublic,
    responses=errors(403, 404),
    summary="涉事车辆 / trucks that stopped or passed there, ranked",
)
def read_trucks(
    report_id: DbId, session: SessionDep, settings: SettingsDep, store: StoreDep, _: Officer
) -> TrucksNearPublic:
    """Vehicles within the report's radius in its window: stopped there, then loaded → empty
    there, then off their approved route, then passed; nearer first within each."""
    report = citizen.get_report(session, report_id)
    return citizen.trucks_near(session, store, report, settings)
