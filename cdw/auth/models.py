"""Users and roles (DESIGN.md §1)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import model_validator
from sqlmodel import Field, SQLModel

from cdw.db import plain_enum


class Role(StrEnum):
    admin = "admin"
    permit_officer = "permit_officer"
    enforcement_officer = "enforcement_officer"
    facility_operator = "facility_operator"
    site_dispatcher = "site_dispatcher"
    haulier = "haulier"
    viewer = "viewer"

    @property
    def label_zh(self) -> str:
        return ROLE_LABELS_ZH[self]


ROLE_LABELS_ZH = {
    Role.admin: "系统管理员",
    Role.permit_officer: "审批员",
    Role.enforcement_officer: "执法队员",
    Role.facility_operator: "消纳场操作员",
    Role.site_dispatcher: "工地出场管理员",
    Role.haulier: "运输企业",
    Role.viewer: "只读用户",
}

# Which binding column a bound role needs.
BINDING_OF_ROLE = {
    Role.facility_operator: "facility_id",
    Role.site_dispatcher: "site_id",
    Role.haulier: "haulier_id",
}


def binding_matches_role(record):
    """``record`` (with ``role`` and the binding columns) when its binding suits its role."""
    needed = BINDING_OF_ROLE.get(record.role)
    for column in ("facility_id", "site_id", "haulier_id"):
        value = getattr(record, column)
        if column == needed and value is None:
            raise ValueError(
                f"角色 {record.role} 必须绑定 {column} / role {record.role} must be bound via {column}"
            )
        if column != needed and value is not None:
            raise ValueError(
                f"角色 {record.role} 不能绑定 {column} / role {record.role} cannot have {column}"
            )
    return record


class UserBase(SQLModel):
    username: str = Field(min_length=3, max_length=64, unique=True, index=True)
    full_name: str = ""
    role: Role = Field(sa_type=plain_enum(Role))
    facility_id: int | None = Field(default=None, foreign_key="disposal_facility.id")
    site_id: int | None = Field(default=None, foreign_key="construction_site.id")
    haulier_id: int | None = Field(default=None, foreign_key="haulier.id")
    is_active: bool = True

    @model_validator(mode="after")
    def _binding_matches_role(self):
        return binding_matches_role(self)


# Longer passwords are refused before hashing (log-in answers 401 without the hash work).
MAX_PASSWORD_LENGTH = 128


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=MAX_PASSWORD_LENGTH)


class User(UserBase, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    hashed_password: str
    # Tokens carry the version they were issued under; raising it revokes them all.
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class UserPublic(SQLModel):
    id: int
    username: str
    full_name: str
    role: Role
    facility_id: int | None
    site_id: int | None
    haulier_id: int | None
    is_active: bool


class RoleChange(SQLModel):
    """A user's new role with the binding it needs (and no other)."""

    role: Role
    facility_id: int | None = None
    site_id: int | None = None
    haulier_id: int | None = None

    @model_validator(mode="after")
    def _binding_matches_role(self):
        return binding_matches_role(self)


class PasswordReset(SQLModel):
    password: str = Field(min_length=8, max_length=MAX_PASSWORD_LENGTH)


class PasswordChange(SQLModel):
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=8, max_length=MAX_PASSWORD_LENGTH)


class AccountChange(SQLModel):
    """Why an account is disabled or enabled (kept in the audit log)."""

    reason: str | None = Field(default=None, max_length=500)


class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"
