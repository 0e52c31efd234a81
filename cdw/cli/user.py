"""``cdw user …``: user accounts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from cdw.cli.console import console, fail
from cdw.errors import CdwError

user_app = typer.Typer(help="用户 / user accounts", no_args_is_help=True)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[
        str,
        typer.Option(
            help="admin, permit_officer, enforcement_officer, facility_operator, site_dispatcher, haulier, viewer"
        ),
    ],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    full_name: str = "",
    facility_id: int | None = None,
    site_id: int | None = None,
    haulier_id: int | None = None,
) -> None:
    """新建用户 / Create a user."""
    from pydantic import ValidationError

    from cdw.auth.models import UserCreate
    from cdw.auth.services import create_user
    from cdw.db import session_scope

    try:
        data = UserCreate(
            username=username,
            role=role,
            password=password,
            full_name=full_name,
            facility_id=facility_id,
            site_id=site_id,
            haulier_id=haulier_id,
        )
        with session_scope() as session:
            user = create_user(session, data)
            console.print(f"已创建用户 / user created: {user.username} ({user.role}) id={user.id}")
    except ValidationError as exc:
        for err in exc.errors():
            console.print(
                f"[red]{escape('.'.join(map(str, err['loc'])) or 'user')}: {escape(err['msg'])}[/]"
            )
        raise typer.Exit(1) from exc
    except CdwError as exc:
        fail(exc)
