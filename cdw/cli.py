"""The ``cdw`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cdw.bundle_cli import bundle_import_command
from cdw.enforcement.cli import audit_app, enforcement_app
from cdw.errors import CdwError
from cdw.manifests.cli import (
    expire_permits_command,
    figures_command,
    load_manifests_command,
    reconcile_command,
)
from cdw.registry.cli import import_command
from cdw.roads.cli import roads_app
from cdw.scenario.cli import generate_command
from cdw.tracking.analyse_cli import analyse_command
from cdw.tracking.cli import ingest_command

app = typer.Typer(
    help="cdw 建筑垃圾运输监管 / construction-waste transport supervision", no_args_is_help=True
)
db_app = typer.Typer(help="数据库 / database schema", no_args_is_help=True)
user_app = typer.Typer(help="用户 / user accounts", no_args_is_help=True)
scenario_app = typer.Typer(help="模拟场景 / simulated scenarios", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(scenario_app, name="scenario")
app.add_typer(audit_app, name="audit")
app.add_typer(enforcement_app, name="enforcement")
app.add_typer(roads_app, name="roads")
scenario_app.command("generate")(generate_command)
bundle_app = typer.Typer(help="数据包 / scenario and data bundles", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")
bundle_app.command("import")(bundle_import_command)
app.command("import")(import_command)
app.command("ingest")(ingest_command)
app.command("analyse")(analyse_command)
app.command("load-manifests")(load_manifests_command)
app.command("reconcile")(reconcile_command)
app.command("figures")(figures_command)
app.command("expire-permits")(expire_permits_command)
console = Console()


def fail(exc: CdwError) -> None:
    """Print a cdw error (both languages, every problem) and exit with status 1."""
    console.print(f"[bold red]错误 / Error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(1)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, reload: bool = False) -> None:
    """启动 API 服务 / Run the REST API server."""
    import uvicorn

    uvicorn.run("cdw.api.app:app", host=host, port=port, reload=reload)


@app.command()
def demo(
    bundle: Annotated[Path | None, typer.Option(help="数据包目录 / bundle folder")] = None,
    workdir: Annotated[Path, typer.Option(help="演示数据目录 / demo working folder")] = Path(
        "var/demo"
    ),
) -> None:
    """演示：全新 SQLite 库、示例数据、分析、汇总 / Run the whole job on the bundled sample day."""
    from cdw.demo import DEFAULT_BUNDLE, run_demo

    try:
        run_demo(bundle or DEFAULT_BUNDLE, workdir)
    except CdwError as exc:
        fail(exc)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """升级数据库结构 / Create or upgrade the schema (Alembic)."""
    from cdw.config import get_settings
    from cdw.migrate import upgrade

    upgrade(revision=revision)
    console.print(f"数据库已升级 / database upgraded: {get_settings().database_url}")


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

    from cdw.accounts.services import create_user
    from cdw.auth.models import UserCreate
    from cdw.config import get_settings
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
            user = create_user(session, data, get_settings(), actor="cli")
            console.print(f"已创建用户 / user created: {user.username} ({user.role}) id={user.id}")
    except ValidationError as exc:
        for err in exc.errors():
            console.print(
                f"[red]{escape('.'.join(map(str, err['loc'])) or 'user')}: {escape(err['msg'])}[/]"
            )
        raise typer.Exit(1) from exc
    except CdwError as exc:
        fail(exc)


if __name__ == "__main__":
    app()
