"""What the web console (``cdw/web``) needs beside the resource routes: its map settings
and the latest analysed day (the console's fallback until live positions exist)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import func, select

from cdw.api.deps import ALL_ROLES, SessionDep, require_roles
from cdw.api.schemas import errors
from cdw.auth.models import User
from cdw.flows.models import AnalysedDay
from cdw.web import get_console_settings

router = APIRouter(prefix="/console", tags=["console 控制台"])


class ConsoleSettingsPublic(BaseModel):
    """The map's start (centre and zoom) and its optional tile layer; ``latest_day`` is the
    last day the engine analysed (None before the first analysis)."""

    tile_url: str | None
    tile_attribution: str
    tile_max_zoom: int
    center_lon: float
    center_lat: float
    zoom: int
    latest_day: date | None


@router.get(
    "/settings",
    response_model=ConsoleSettingsPublic,
    responses=errors(),
    summary="控制台设置 / console map settings",
)
def console_settings(
    session: SessionDep, _: Annotated[User, require_roles(*ALL_ROLES)]
) -> ConsoleSettingsPublic:
    conf = get_console_settings()
    latest = session.exec(select(func.max(AnalysedDay.day))).one()
    return ConsoleSettingsPublic(
        tile_url=conf.tile_url,
        tile_attribution=conf.tile_attribution,
        tile_max_zoom=conf.tile_max_zoom,
        center_lon=conf.center_lon,
        center_lat=conf.center_lat,
        zoom=conf.zoom,
        latest_day=latest,
    )
