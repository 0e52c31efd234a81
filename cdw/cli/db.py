"""``cdw db …``: the database schema."""

from __future__ import annotations

import typer

from cdw.cli.console import console

db_app = typer.Typer(help="数据库 / database schema", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """升级数据库结构 / Create or upgrade the schema (Alembic)."""
    from cdw.auth.keys import key_file, signing_key
    from cdw.config import get_settings
    from cdw.migrate import upgrade

    settings = get_settings()
    upgrade(revision=revision)
    console.print(f"数据库已升级 / database upgraded: {settings.database_url}")
    if settings.secret_key is None:
        signing_key(settings)  # made on first use, owner-only
        console.print(f"令牌签名密钥 / token signing key: {key_file(settings)}")
