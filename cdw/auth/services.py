"""User accounts."""

from __future__ import annotations

from sqlmodel import Session, select

from cdw.auth.models import User, UserCreate
from cdw.auth.security import hash_password, verify_password
from cdw.errors import Conflict


def create_user(session: Session, data: UserCreate) -> User:
    if session.exec(select(User).where(User.username == data.username)).first():
        raise Conflict(
            f"用户名已存在：{data.username}", f"Username already exists: {data.username}"
        )
    user = User.model_validate(
        data.model_dump(exclude={"password"}),
        update={"hashed_password": hash_password(data.password)},
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.is_active or not verify_password(password, user.hashed_password):
        return None
    return user
