"""``cdw user …``: user accounts. Passwords come from a hidden prompt or standard input,
never from the command line (where ``ps`` and the shell history would keep them)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.markup import escape

from cdw.cli.console import console, fail
from cdw.errors import CdwError

user_app = typer.Typer(help="用户 / user accounts", no_args_is_help=True)

RoleOption = Annotated[
    str,
    typer.Option(
        help="admin, permit_officer, enforcement_officer, facility_operator, site_dispatcher, haulier, viewer"
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="从标准输入读取密码（第一行）/ read the password from the first line of standard input",
    ),
]


def _actor() -> str:
    """Who acts from the shell, as the audit log records it (role ``system``)."""
    return f"cli:{getpass.getuser()}"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("密码 / Password", hide_input=True, confirmation_prompt=True)


def _run(change: Callable[[], str]) -> None:
    """Run ``change`` (it returns what to print); print validation and cdw errors."""
    from pydantic import ValidationError

    try:
        console.print(change())
    except ValidationError as exc:
        for err in exc.errors():
            console.print(
                f"[red]{escape('.'.join(map(str, err['loc'])) or 'user')}: {escape(err['msg'])}[/]"
            )
        raise typer.Exit(1) from exc
    except CdwError as exc:
        fail(exc)


@user_app.command("add")
def user_add(
    username: str,
    role: RoleOption,
    password_stdin: PasswordStdin = False,
    full_name: str = "",
    facility_id: int | None = None,
    site_id: int | None = None,
    haulier_id: int | None = None,
) -> None:
    """新建用户 / Create a user."""
    from cdw.accounts.services import create_user
    from cdw.auth.models import UserCreate
    from cdw.config import get_settings
    from cdw.db import session_scope

    def change() -> str:
        data = UserCreate(
            username=username,
            role=role,
            password=_password(password_stdin),
            full_name=full_name,
            facility_id=facility_id,
            site_id=site_id,
            haulier_id=haulier_id,
        )
        with session_scope() as session:
            user = create_user(session, data, get_settings(), actor=_actor())
            return f"已创建用户 / user created: {user.username} ({user.role}) id={user.id}"

    _run(change)


def _set_active(username: str, active: bool, reason: str | None) -> None:
    from cdw.accounts.services import get_user_by_name, set_active
    from cdw.db import session_scope

    def change() -> str:
        with session_scope() as session:
            user = set_active(
                session, get_user_by_name(session, username), active, _actor(), reason
            )
            state = "已启用 / enabled" if user.is_active else "已停用 / disabled"
            return f"{state}: {user.username}"

    _run(change)


@user_app.command("disable")
def user_disable(username: str, reason: str | None = None) -> None:
    """停用用户（其令牌立即失效）/ Disable a user (their tokens stop working at once)."""
    _set_active(username, False, reason)


@user_app.command("enable")
def user_enable(username: str, reason: str | None = None) -> None:
    """启用用户 / Enable a user."""
    _set_active(username, True, reason)


@user_app.command("set-role")
def user_set_role(
    username: str,
    role: RoleOption,
    facility_id: int | None = None,
    site_id: int | None = None,
    haulier_id: int | None = None,
) -> None:
    """更改角色与绑定（其令牌立即失效）/ Change role and binding (their tokens stop working)."""
    from cdw.accounts.services import change_role, get_user_by_name
    from cdw.auth.models import RoleChange
    from cdw.db import session_scope

    def change() -> str:
        data = RoleChange(
            role=role, facility_id=facility_id, site_id=site_id, haulier_id=haulier_id
        )
        with session_scope() as session:
            user = change_role(session, get_user_by_name(session, username), data, _actor())
            return f"角色已更改 / role changed: {user.username} ({user.role})"

    _run(change)


@user_app.command("reset-password")
def user_reset_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """重设密码（其令牌立即失效）/ Set a new password (their tokens stop working)."""
    from cdw.accounts.services import get_user_by_name, set_password
    from cdw.config import get_settings
    from cdw.db import session_scope

    def change() -> str:
        with session_scope() as session:
            user = get_user_by_name(session, username)
            set_password(session, user, _password(password_stdin), get_settings(), _actor())
            return f"密码已重设 / password reset: {user.username}"

    _run(change)
