"""The console the top-level commands print to, and how they fail on a cdw error."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from cdw.errors import CdwError

console = Console(soft_wrap=True)  # long zh/en messages are not broken mid-word


def fail(exc: CdwError) -> None:
    """Print a cdw error (both languages, every problem) and exit with status 1."""
    console.print(f"[bold red]错误 / Error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(1)
