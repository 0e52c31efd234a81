"""Request dependencies: database session, current user and role gates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session, select

from cdw.auth.models import Role, User
from cdw.auth.security import claims_from_token
from cdw.config import Settings, get_settings
from cdw.db import get_engine
from cdw.errors import Forbidden, NotAuthenticated

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_session() -> Iterator[Session]:
    with Session(get_engine()) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def local_today(settings: SettingsDep) -> date:
    """Today in the configured timezone (not the server's)."""
    return datetime.now(ZoneInfo(settings.local_timezone)).date()


TodayDep = Annotated[date, Depends(local_today)]


def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    if not token:
        raise NotAuthenticated()
    claims = claims_from_token(token, settings)
    user = session.exec(select(User).where(User.username == claims.username)).first()
    if user is None or not user.is_active or user.token_version != claims.token_version:
        raise NotAuthenticated()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Depends:
    """A dependency that lets only ``roles`` through (403 otherwise).

    The returned callable keeps ``roles`` as an attribute so that tests can read, for every
    route, which roles it admits.
    """
    allowed = frozenset(roles)

    def gate(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(
                f"角色「{user.role.label_zh}」无权执行此操作",
                f"Role '{user.role}' may not do this",
            )
        return user

    gate.roles = allowed  # type: ignore[attr-defined]
    return Depends(gate)


def roles_of(dependency: Callable) -> frozenset[Role] | None:
    return getattr(dependency, "roles", None)


ALL_ROLES = tuple(Role)
