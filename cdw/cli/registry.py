"""``cdw import KIND FILE``: bulk registry import from the shell."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cdw.db import session_scope
from cdw.errors import CdwError
from cdw.registry.importer import KINDS, import_file

console = Console(soft_wrap=True)  # never cut file paths or messages

ImportKindName = StrEnum("ImportKindName", {k: k for k in KINDS})  # type: ignore[misc]


def import_command(
    kind: Annotated[ImportKindName, typer.Argument(help="登记类型 / registry kind")],
    file: Annotated[Path, typer.Argument(help="CSV、JSON 或 Excel 文件 / CSV, JSON or .xlsx file")],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="导入有效行，无效行写入拒绝文件 / import the good rows, write rejects to a file",
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(help="拒绝文件路径 / rejects file (default FILE.rejects.csv)"),
    ] = None,
) -> None:
    """批量导入登记数据 / Bulk-import registry records (all-or-nothing unless --skip-invalid)."""
    try:
        with session_scope() as session:
            report = import_file(
                session, kind.value, file, skip_invalid=skip_invalid, rejects_path=rejects
            )
    except CdwError as exc:
        console.print(f"[bold red]错误 / Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"读取 {report.read} 行，导入 {report.imported} 行，拒绝 {report.rejected} 行 / "
        f"read {report.read}, imported {report.imported}, rejected {report.rejected}",
        highlight=False,
    )
    shown = 20
    for problem in report.problems[:shown]:
        console.print(f"  - {problem}", highlight=False, markup=False)
    if len(report.problems) > shown:
        console.print(
            f"  … 另有 {len(report.problems) - shown} 项 / {len(report.problems) - shown} more"
        )
    if report.rejects_path:
        console.print(f"拒绝明细 / rejects: {report.rejects_path}", highlight=False, markup=False)
