"""``cdw audit …`` and ``cdw enforcement …`` commands."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cdw.audit.log import chain_head, verify_chain
from cdw.config import get_settings
from cdw.db import session_scope
from cdw.enforcement.cases import get_case
from cdw.enforcement.hotspots import DEFAULT_MIN_EVENTS, DEFAULT_RADIUS_M, hotspots
from cdw.enforcement.lists import ListKind, control_list, to_csv, to_xlsx
from cdw.enforcement.report import case_report_html
from cdw.enforcement.statistics import statistics
from cdw.errors import CdwError
from cdw.roads.services import configured_roads
from cdw.tracking.store import PointStore

console = Console(soft_wrap=True)
audit_app = typer.Typer(help="审计日志 / tamper-evident audit log", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify_command() -> None:
    """校验审计日志哈希链 / Check the hash chain; exit 1 and list each broken entry."""
    with session_scope() as session:
        problems = verify_chain(session)
        head = chain_head(session)
    for problem in problems:
        console.print(f"[red]  - {escape(str(problem))}[/]", highlight=False)
    if problems:
        console.print(
            f"[bold red]审计日志校验失败：{len(problems)} 处问题 / "
            f"audit chain broken: {len(problems)} problem(s)[/]",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(
        f"审计日志完好：{head.entries} 条，末条 #{head.head_id} 哈希 {head.head_hash} / "
        f"audit chain intact: {head.entries} entries, head #{head.head_id} hash {head.head_hash}",
        highlight=False,
    )


enforcement_app = typer.Typer(
    help="执法：热点、管控清单、统计、案件报告 / hotspots, control lists, statistics, case reports",
    no_args_is_help=True,
)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"日期须为 YYYY-MM-DD：「{value}」 / a date must be YYYY-MM-DD: '{value}'",
            param_hint=option,
        ) from None


DayFrom = Annotated[str | None, typer.Option("--from", help="起始日期 / first day YYYY-MM-DD")]
DayTo = Annotated[str | None, typer.Option("--to", help="结束日期 / last day YYYY-MM-DD")]


@enforcement_app.command("hotspots")
def hotspots_command(
    day_from: DayFrom = None,
    day_to: DayTo = None,
    radius_m: Annotated[float, typer.Option(min=1, help="聚类半径（米） / radius in metres")] = (
        DEFAULT_RADIUS_M
    ),
    min_events: Annotated[int, typer.Option(min=1, help="最少事件数 / minimum events")] = (
        DEFAULT_MIN_EVENTS
    ),
) -> None:
    """偷倒与长时间停留热点 / Rank the hotspots of suspected dumping and long stops."""
    with session_scope() as session:
        found = hotspots(
            session,
            day_from=_day(day_from, "--from"),
            day_to=_day(day_to, "--to"),
            radius_m=radius_m,
            min_events=min_events,
        )
    if not found:
        console.print("没有热点 / no hotspots")
    for h in found:
        console.print(
            f"{h.rank:>3}. ({h.lon:.6f}, {h.lat:.6f}) {h.count} 次 / events, "
            f"{len(h.vehicles)} 辆车 / vehicles, {h.first_seen:%Y-%m-%d %H:%M} – "
            f"{h.last_seen:%Y-%m-%d %H:%M} UTC",
            highlight=False,
        )


@enforcement_app.command("list")
def list_command(
    kind: Annotated[ListKind, typer.Argument(help="sites, hauliers, roads")],
    out: Annotated[Path, typer.Option(help="输出文件 .csv 或 .xlsx / output file")],
    day_from: DayFrom = None,
    day_to: DayTo = None,
) -> None:
    """导出管控清单 / Export a control list (CSV or XLSX, by the file's suffix)."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        console.print(
            f"[red]输出文件须以 .csv 或 .xlsx 结尾：{escape(str(out))} / "
            f"the output must end in .csv or .xlsx[/]",
            highlight=False,
        )
        raise typer.Exit(1)
    with session_scope() as session:
        rows = control_list(
            session,
            kind,
            _day(day_from, "--from"),
            _day(day_to, "--to"),
            configured_roads(get_settings()) if kind is ListKind.roads else None,
        )
    out.write_bytes(to_csv(kind, rows) if suffix == ".csv" else to_xlsx(kind, rows))
    console.print(
        f"{kind.zh}：{len(rows)} 行 / {kind} list: {len(rows)} rows → {out}", highlight=False
    )


@enforcement_app.command("stats")
def stats_command(
    day_from: Annotated[str, typer.Option("--from", help="起始日期 / first day YYYY-MM-DD")],
    day_to: Annotated[str, typer.Option("--to", help="结束日期 / last day YYYY-MM-DD")],
) -> None:
    """期间统计（JSON） / Statistics of a period, as JSON."""
    try:
        with session_scope() as session:
            body = statistics(
                session,
                _day(day_from, "--from"),  # type: ignore[arg-type]
                _day(day_to, "--to"),  # type: ignore[arg-type]
                get_settings().local_timezone,
            )
    except CdwError as exc:
        console.print(f"[bold red]错误 / Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2))


@enforcement_app.command("report")
def report_command(
    case_id: Annotated[int, typer.Argument(help="案件 id / case id")],
    out: Annotated[Path, typer.Option(help="输出 HTML 文件 / output HTML file")],
) -> None:
    """案件证据报告 / Write the printable evidence report of a case (HTML)."""
    settings = get_settings()
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    try:
        with session_scope() as session:
            page = case_report_html(session, store, get_case(session, case_id), settings)
    except CdwError as exc:
        console.print(f"[bold red]错误 / Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    out.write_text(page, encoding="utf-8")
    console.print(f"报告已写入 / report written: {out}", highlight=False)
