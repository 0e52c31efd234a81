"""``cdw demo``: the whole job on the bundled sample day, then the web console on it.

The console is served at the end (URL and demo log-ins printed) unless ``--no-serve`` is
given or ``CDW_DEMO_SERVE=0`` is set: tests and CI run the batch only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from cdw.cli.console import console, fail
from cdw.errors import CdwError

SERVE_ENV = "CDW_DEMO_SERVE"


def serve_wanted(flag: bool | None) -> bool:
    """The ``--serve/--no-serve`` flag when given, else ``CDW_DEMO_SERVE`` (default on)."""
    if flag is not None:
        return flag
    return os.environ.get(SERVE_ENV, "1").strip().lower() not in {"0", "false", "no", "off", ""}


def demo_command(
    bundle: Annotated[Path | None, typer.Option(help="数据包目录 / bundle folder")] = None,
    workdir: Annotated[Path, typer.Option(help="演示数据目录 / demo working folder")] = Path(
        "var/demo"
    ),
    serve: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="结束后启动控制台（默认启动；或设 CDW_DEMO_SERVE=0）/ serve the web console "
            "afterwards (default; CDW_DEMO_SERVE=0 turns it off)",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="控制台地址 / console host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="控制台端口 / console port")] = 8000,
) -> None:
    """演示：全新 SQLite 库、示例数据、分析、汇总，然后启动控制台 / Run the whole job on the
    bundled sample day, then serve the web console on it."""
    from cdw.demo import DEFAULT_BUNDLE, bundle_road_network, run_demo

    bundle = bundle or DEFAULT_BUNDLE
    try:
        run_demo(bundle, workdir)
    except CdwError as exc:
        fail(exc)
    if serve_wanted(serve):
        serve_demo(workdir, bundle_road_network(bundle), host, port)


def demo_environment(workdir: Path, road_network: Path | None) -> dict[str, str]:
    """The ``CDW_*`` settings that point the API at the demo's database, point store and
    road network. The demo's audit entries were keyed with the current settings' audit key:
    that key is copied next to the point store (when none is there) so the chain still checks."""
    from cdw.audit.key import key_path
    from cdw.config import get_settings

    data_dir = (workdir / "data").resolve()
    used_key = key_path(get_settings())
    if used_key.exists() and not (data_dir / used_key.name).exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(used_key, data_dir / used_key.name)
    return {
        "CDW_DATABASE_URL": f"sqlite:///{(workdir / 'cdw.db').resolve()}",
        "CDW_DATA_DIR": str(data_dir),
        "CDW_ROAD_NETWORK": "" if road_network is None else str(road_network),
    }


def serve_demo(workdir: Path, road_network: Path | None, host: str, port: int) -> None:
    """Serve the API and the console on the demo's database and point store (blocks)."""
    import uvicorn

    from cdw.config import get_settings
    from cdw.db import get_engine
    from cdw.demo import DEMO_PASSWORD, DEMO_USERS

    os.environ.update(demo_environment(workdir, road_network))
    get_settings.cache_clear()
    get_engine.cache_clear()
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    console.rule("[bold]控制台 / web console[/]")
    console.print(f"打开 / open: [bold]http://{shown}:{port}/[/]   (Ctrl+C 停止 / to stop)")
    console.print(
        "演示账户 / demo log-ins: "
        + ", ".join(f"{name} ({role.label_zh})" for name, role, _ in DEMO_USERS)
        + f"; 密码 / password: {DEMO_PASSWORD}"
    )
    console.print(f"不启动控制台 / batch only: cdw demo --no-serve, or {SERVE_ENV}=0")
    uvicorn.run("cdw.api.app:app", host=host, port=port)
