"""``cdw demo``: the whole job on the bundled sample day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cdw.cli.console import fail
from cdw.errors import CdwError


def demo_command(
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
