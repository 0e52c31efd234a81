"""Log-in (OAuth2 password flow), the current user, and user management by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import select

from cdw.accounts.services import (
    change_own_password,
    change_role,
    create_user,
    find_user,
    get_user,
    set_active,
    set_password,
)
from cdw.api.deps import ALL_ROLES, SessionDep, SettingsDep, require_roles
from cdw.api.schemas import ErrorBody, errors
from cdw.auth.login import LoginGuard, TooManyAttempts
from cdw.auth.models import (
    AccountChange,
    PasswordChange,
    PasswordReset,
    Role,
    RoleChange,
    Token,
    User,
    UserCreate,
    UserPublic,
)
from cdw.auth.security import create_access_token
from cdw.bounds import DbId
from cdw.errors import NotAuthenticated

router = APIRouter(tags=["auth 登录与用户"])

AdminDep = Annotated[User, require_roles(Role.admin)]
TOO_MANY = {
    429: {
        "model": ErrorBody,
        "description": "登录失败过多或请求过多（见 Retry-After）/ too many log-ins (see Retry-After)",
    }
}


def _find_and_release(session: SessionDep, username: str) -> User | None:
    """The user (detached, attributes loaded); the session gives its database connection
    back at once, so log-ins waiting for a hash slot do not hold the connection pool."""
    user = find_user(session, username)
    session.close()
    return user


@router.post("/auth/token", response_model=Token, responses={**errors(), **TOO_MANY})
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token | JSONResponse:
    """Open to everyone: exchanges username and password for a bearer token.

    Failed log-ins are throttled per account and per client address (429 with
    ``Retry-After``); see :mod:`cdw.auth.login`."""
    guard: LoginGuard = request.app.state.login_guard
    address = request.client.host if request.client else "unknown"
    try:
        attempt = guard.begin(form.username, address)
        user = await run_in_threadpool(_find_and_release, session, form.username)
        usable = user is not None and user.is_active
        try:
            matches = await guard.verify(form.password, user.hashed_password if usable else None)
        except TooManyAttempts:
            guard.withdraw(attempt)
            raise
    except TooManyAttempts as exc:
        return JSONResponse(
            exc.as_dict(), status_code=429, headers={"Retry-After": str(exc.retry_after_s)}
        )
    if not matches:
        raise NotAuthenticated("用户名或密码错误", "Incorrect username or password")
    guard.succeeded(attempt)
    return Token(access_token=create_access_token(user.username, settings, user.token_version))


@router.get("/auth/me", response_model=UserPublic, responses=errors())
def me(user: Annotated[User, require_roles(*ALL_ROLES)]) -> User:
    return user


@router.post("/auth/me/password", response_model=UserPublic, responses=errors())
def change_my_password(
    data: PasswordChange,
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[User, require_roles(*ALL_ROLES)],
) -> User:
    """Any user: a new password, given the current one. Every token issued before lapses."""
    change_own_password(session, user, data.current_password, data.new_password, settings)
    session.commit()
    session.refresh(user)
    return user


@router.get("/users", response_model=list[UserPublic], responses=errors(403))
def list_users(session: SessionDep, _: AdminDep) -> list[User]:
    return list(session.exec(select(User).order_by(User.id)))


@router.post("/users", response_model=UserPublic, status_code=201, responses=errors(403, 404, 409))
def add_user(data: UserCreate, session: SessionDep, settings: SettingsDep, admin: AdminDep) -> User:
    user = create_user(session, data, settings, actor=admin)
    session.commit()
    session.refresh(user)
    return user


@router.get("/users/{user_id}", response_model=UserPublic, responses=errors(403, 404))
def read_user(user_id: DbId, session: SessionDep, _: AdminDep) -> User:
    return get_user(session, user_id)


def _committed(session: SessionDep, user: User) -> User:
    session.commit()
    session.refresh(user)
    return user


@router.post("/users/{user_id}/disable", response_model=UserPublic, responses=errors(403, 404, 409))
def disable_user(
    user_id: DbId, session: SessionDep, admin: AdminDep, data: AccountChange | None = None
) -> User:
    """The user can no longer log in; every token issued before lapses."""
    user = get_user(session, user_id)
    set_active(session, user, False, actor=admin, reason=data.reason if data else None)
    return _committed(session, user)


@router.post("/users/{user_id}/enable", response_model=UserPublic, responses=errors(403, 404))
def enable_user(
    user_id: DbId, session: SessionDep, admin: AdminDep, data: AccountChange | None = None
) -> User:
    user = get_user(session, user_id)
    set_active(session, user, True, actor=admin, reason=data.reason if data else None)
    return _committed(session, user)


@router.put("/users/{user_id}/role", response_model=UserPublic, responses=errors(403, 404, 409))
def set_user_role(user_id: DbId, data: RoleChange, session: SessionDep, admin: AdminDep) -> User:
    """A new role with its binding (facility, site or haulier); every token issued before
    lapses."""
    user = get_user(session, user_id)
    change_role(session, user, data, actor=admin)
    return _committed(session, user)


@router.post("/users/{user_id}/password", response_model=UserPublic, responses=errors(403, 404))
def reset_user_password(
    user_id: DbId, data: PasswordReset, session: SessionDep, settings: SettingsDep, admin: AdminDep
) -> User:
    """An admin sets a new password; every token issued before lapses."""
    user = get_user(session, user_id)
    set_password(session, user, data.password, settings, actor=admin)
    return _committed(session, user)
