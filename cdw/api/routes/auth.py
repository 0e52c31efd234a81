"""Log-in (OAuth2 password flow), the current user, and user management by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import select

from cdw.api.deps import ALL_ROLES, SessionDep, SettingsDep, require_roles
from cdw.api.schemas import errors
from cdw.auth.models import Role, Token, User, UserCreate, UserPublic
from cdw.auth.security import create_access_token
from cdw.auth.services import authenticate, create_user
from cdw.errors import NotAuthenticated

router = APIRouter(tags=["auth 登录与用户"])


@router.post("/auth/token", response_model=Token, responses=errors())
def login(
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """Open to everyone: exchanges username and password for a bearer token."""
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise NotAuthenticated("用户名或密码错误", "Incorrect username or password")
    return Token(access_token=create_access_token(user.username, settings))


@router.get("/auth/me", response_model=UserPublic, responses=errors())
def me(user: Annotated[User, require_roles(*ALL_ROLES)]) -> User:
    return user


@router.get("/users", response_model=list[UserPublic], responses=errors(403))
def list_users(session: SessionDep, _: Annotated[User, require_roles(Role.admin)]) -> list[User]:
    return list(session.exec(select(User).order_by(User.id)))


@router.post("/users", response_model=UserPublic, status_code=201, responses=errors(403, 404, 409))
def add_user(
    data: UserCreate, session: SessionDep, _: Annotated[User, require_roles(Role.admin)]
) -> User:
    user = create_user(session, data)
    session.commit()
    session.refresh(user)
    return user
