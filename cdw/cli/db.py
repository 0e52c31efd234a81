"""``cdw db …``: the database schema."""

from __future__ import annotations

import typer

from cdw.cli.console import console

db_app = typer.Typer(help="数据库 / database schema", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """升级数据库结构 / Create or upgrade the schema (Alembic)."""
    from cdw.config import get_settings
    from cdw.migrate import upgrade

    upgrade(revision=revision)
    console.print(f"数据库已升级 / database upgraded: {get_settings().database_url}")
