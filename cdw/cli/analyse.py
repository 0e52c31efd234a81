"""``cdw analyse``: run the trajectory engine over local days and print what it flagged."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cdw.audit.log import command_actor
from cdw.config import get_settings
from cdw.errors import CdwError, Problem, ValidationFailed
from cdw.flags.codes import FlagCode

if TYPE_CHECKING:
    from cdw.tracking.analysis import AnalysisReport

console = Console()


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(
            [
                Problem(
                    field,
                    f"日期格式应为 YYYY-MM-DD，实际为 {text!r}",
                    f"a day must be YYYY-MM-DD, got {text!r}",
                )
            ]
        ) from exc


def keep_freed_pages() -> None:
    """Let polars's allocator (jemalloc) keep the pages a task frees for the next task's frames:
    polars hands freed pages back to the system after 0.5 s (its default ``dirty_decay_ms:500``),
    and each task then faults fresh ones in (~170 k minor page faults, ~0.5 s of system time on
    an 8.6 M-point day). What is kept is at most polars's own peak (~+100 MB). polars appends
    ``_RJEM_MALLOC_CONF`` to its default when it is imported, so this runs first; the local
    cluster's workers inherit it. A setting of the caller's own is left as it is."""
    os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:-1,muzzy_decay_ms:-1")


def summary_table(report: AnalysisReport) -> Table:
    days = (
        report.start_day.isoformat()
        if report.start_day == report.end_day
        else f"{report.start_day}..{report.end_day}"
    )
    table = Table(title=f"分析结果 / Analysis {days}")
    table.add_column("代码 / code")
    table.add_column("中文")
    table.add_column("English")
    table.add_column("数量 / count", justify="right")
    for code, count in report.counts.items():
        flag_code = FlagCode(code)
        table.add_row(code, flag_code.zh, flag_code.en, str(count))
    table.add_section()
    table.add_row("", "合计", "total", str(len(report.flags)))
    return table


def analyse_command(
    date: Annotated[str, typer.Option("--date", help="本地日期 / local day, YYYY-MM-DD")],
    to_date: Annotated[
        str | None,
        typer.Option("--to", help="结束日期（含）/ last day of a range, inclusive"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="把全部标记写入 JSON 文件 / write every flag to a JSON file",
            dir_okay=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="在哪里运行：inline（本进程）、local（本机每核一个 Dask 工作进程）、"
            "tcp://主机:端口（Dask 调度器）；默认：多于一个任务且轨迹点不少于 "
            "CDW_ANALYSIS_LOCAL_MIN_POINTS（5,000 万）时 local，否则 inline / where to run: "
            "inline (this process), local (a Dask worker process per core), tcp://host:port "
            "(a Dask scheduler); default: local for more than one task holding at least "
            "CDW_ANALYSIS_LOCAL_MIN_POINTS points (50 M), else inline",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=1024,
            help="local 集群的工作进程数（默认：核数）/ worker processes of the local cluster "
            "(default: cores)",
        ),
    ] = None,
) -> None:
    """分析轨迹并生成违规标记 / Analyse the tracks of a day (or range) and store the flags."""
    keep_freed_pages()
    # the engine is imported here, not with the command line: other commands start faster
    from cdw.db import session_scope
    from cdw.flows.day import analyse_days
    from cdw.flows.partitioned import AUTO, scheduler_of
    from cdw.tracking.store import PointStore

    settings = get_settings()
    try:
        start_day = parse_day(date, "date")
        end_day = parse_day(to_date, "to") if to_date else start_day
        chosen = scheduler or settings.analysis_scheduler or AUTO
        settings = settings.model_copy(
            update={
                "analysis_scheduler": scheduler_of(chosen, "--scheduler"),
                "analysis_workers": workers or settings.analysis_workers,
            }
        )
        store = PointStore(settings.points_dir, timezone=settings.local_timezone)
        with session_scope() as session:
            report = analyse_days(
                session, store, start_day, end_day, settings, actor=command_actor()
            )
    except CdwError as exc:
        console.print("[bold red]错误 / Error[/]", end=" ")
        console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from exc

    console.print(summary_table(report))
    console.print(
        f"轨迹点 {report.points_read}（保留 {report.points_kept}），车辆 {report.vehicles}，"
        f"行程 {report.trips}；新写入 {report.stored}，替换旧标记 {report.replaced}，"
        f"已在处理中保留 {report.kept_reviewed} / "
        f"{report.points_read} points ({report.points_kept} kept), {report.vehicles} vehicles, "
        f"{report.trips} trips; {report.stored} flags stored, {report.replaced} earlier replaced, "
        f"{report.kept_reviewed} already under review kept",
        highlight=False,
    )
    if out is not None:
        out.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        console.print(f"已写出 / written: {out}", highlight=False)
