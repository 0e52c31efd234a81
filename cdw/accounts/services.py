"""User accounts: creation and the changes an admin makes.

Every change is written to the audit log in the same transaction, and every change that
alters what a user may do (disable, password, role or binding) raises the user's
``token_version``, which revokes the tokens issued before.
"""

from __future__ import annotations

from sqlmodel import Session, func, select

from cdw.audit.log import audit
from cdw.auth.models import BINDING_OF_ROLE, RoleChange, User, UserCreate
from cdw.auth.passwords import check_password
from cdw.auth.security import hash_password, verify_password
from cdw.config import Settings
from cdw.errors import Conflict, NotFound, Problem, ValidationFailed
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier

AUDIT_ENTITY = "user"
_BOUND_TABLES = {
    "facility_id": (DisposalFacility, "消纳场", "Disposal facility"),
    "site_id": (ConstructionSite, "工地", "Construction site"),
    "haulier_id": (Haulier, "运输企业", "Haulier"),
}


def _binding(record: User | UserCreate | RoleChange) -> dict[str, int | None]:
    return {column: getattr(record, column) for column in _BOUND_TABLES}


def _check_bound_record_exists(session: Session, record: UserCreate | RoleChange) -> None:
    column = BINDING_OF_ROLE.get(record.role)
    if column is None:
        return
    table, what_zh, what_en = _BOUND_TABLES[column]
    if session.get(table, getattr(record, column)) is None:
        raise NotFound(what_zh, what_en, getattr(record, column))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("用户", "User", user_id)
    return user


def create_user(session: Session, data: UserCreate, settings: Settings, actor: User | str) -> User:
    if session.exec(select(User).where(User.username == data.username)).first():
        raise Conflict(
            f"用户名已存在：{data.username}", f"Username already exists: {data.username}"
        )
    check_password(data.password, data.username, settings.password_min_length)
    _check_bound_record_exists(session, data)
    user = User.model_validate(
        data.model_dump(exclude={"password"}),
        update={"hashed_password": hash_password(data.password)},
    )
    session.add(user)
    session.flush()
    audit(
        session,
        actor=actor,
        entity=AUDIT_ENTITY,
        entity_id=user.id,
        action="create",
        data={"username": user.username, "role": str(user.role), **_binding(user)},
    )
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def get_user_by_name(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise NotFound("用户", "User", username)
    return user


def _revoke_tokens(user: User) -> None:
    user.token_version += 1


def _keep_an_active_admin(session: Session, user: User) -> None:
    """Refuse a change that would leave no active admin (nobody could manage accounts)."""
    others = select(func.count()).where(User.role == "admin", User.is_active, User.id != user.id)
    if session.exec(others).one() == 0:
        raise Conflict(
            "这是最后一个有效的管理员账号，不能停用或改为其他角色",
            "This is the last active admin account: it cannot be disabled or given another role",
        )


def set_active(
    session: Session, user: User, active: bool, actor: User | str, reason: str | None = None
) -> User:
    if user.is_active == active:
        return user
    if not active and user.role == "admin":
        _keep_an_active_admin(session, user)
    user.is_active = active
    if not active:
        _revoke_tokens(user)
    session.add(user)
    audit(
        session,
        actor=actor,
        entity=AUDIT_ENTITY,
        entity_id=user.id,
        action="enable" if active else "disable",
        reason=reason,
        data={"username": user.username},
    )
    return user


def change_role(session: Session, user: User, change: RoleChange, actor: User | str) -> User:
    before = {"role": str(user.role), **_binding(user)}
    after = {"role": str(change.role), **_binding(change)}
    if before == after:
        return user
    if user.role == "admin" and change.role != "admin":
        _keep_an_active_admin(session, user)
    _check_bound_record_exists(session, change)
    user.role = change.role
    for column, value in _binding(change).items():
        setattr(user, column, value)
    _revoke_tokens(user)
    session.add(user)
    audit(
        session,
        actor=actor,
        entity=AUDIT_ENTITY,
        entity_id=user.id,
        action="change_role",
        data={"username": user.username, "from": before, "to": after},
    )
    return user


def set_password(
    session: Session, user: User, password: str, settings: Settings, actor: User | str
) -> User:
    """A new password (an admin's reset or the user's own change); the old tokens lapse."""
    check_password(password, user.username, settings.password_min_length)
    user.hashed_password = hash_password(password)
    _revoke_tokens(user)
    session.add(user)
    is_own = isinstance(actor, User) and actor.id == user.id
    audit(
        session,
        actor=actor,
        entity=AUDIT_ENTITY,
        entity_id=user.id,
        action="change_password" if is_own else "reset_password",
        data={"username": user.username},
    )
    return user


def change_own_password(
    session: Session, user: User, current: str, new: str, settings: Settings
) -> User:
    if not verify_password(current, user.hashed_password):
        raise ValidationFailed(
            [Problem("current_password", "当前密码错误", "The current password is wrong")]
        )
    return set_password(session, user, new, settings, actor=user)
