"""``cdw ingest``: store GPS files in the point store, with a progress bar and a summary."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cdw.audit.log import command_actor
from cdw.config import get_settings
from cdw.db import session_scope
from cdw.errors import CdwError
from cdw.tracking.clean import REASONS
from cdw.tracking.ingest import IngestReport, ingest_files
from cdw.tracking.store import PointStore

console = Console()
MAX_PROBLEMS_SHOWN = 20


def ingest_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="GPS 文件 / GPS files (csv, parquet, geojson, gpx, jt808)", dir_okay=False
        ),
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="存储有效行，无效行写入 <文件名>.rejects.csv / store the valid rows, write the rejects beside the file",
        ),
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv | parquet | geojson | gpx | jt808（默认按扩展名 / default: by extension）",
        ),
    ] = None,
    crs: Annotated[
        str, typer.Option("--crs", help="源坐标系 / source coordinates: wgs84 | gcj02")
    ] = "wgs84",
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="无时区偏移的时间按此时区解释 / time zone for timestamps without offset, e.g. Asia/Shanghai",
        ),
    ] = None,
    vehicle: Annotated[
        str | None,
        typer.Option(
            "--vehicle",
            help="文件未写车牌时使用的车牌 / plate for files that name none (GPX, GeoJSON)",
        ),
    ] = None,
    terminal_map: Annotated[
        Path | None,
        typer.Option(
            "--terminal-map",
            help="JT/T 808 终端号—车牌 CSV（terminal,plate）/ terminal-to-plate CSV",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """导入 GPS 轨迹文件 / Ingest GPS track files into the point store."""
    settings = get_settings()
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    mapping = _read_terminal_map(terminal_map) if terminal_map is not None else None
    reports: list[IngestReport] = []
    failures: list[tuple[Path, CdwError]] = []
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"导入 / ingesting {files[0].name}", total=len(files))
        outcomes = ingest_files(
            files,
            store,
            session_scope=session_scope,
            uploader=command_actor(),
            channel="cli",
            skip_invalid=skip_invalid,
            fmt=fmt,
            crs=crs,
            terminal_to_plate=mapping,
            vehicle=vehicle,
            tz=tz,
            thresholds=settings.thresholds,
        )
        for done, (path, outcome) in enumerate(outcomes, start=1):
            if isinstance(outcome, CdwError):
                failures.append((path, outcome))
            else:
                reports.append(outcome)
            following = f" {files[done].name}" if done < len(files) else ""
            progress.update(task, advance=1, description=f"导入 / ingesting{following}")
    if reports:
        console.print(summary_table(reports))
        console.print(reasons_table(reports))
        for report in reports:
            zh, en = report.note
            console.print(f"{Path(report.source).name}: {zh} / {en}", markup=False, highlight=False)
    for path, exc in failures:
        _print_failure(path, exc)
    if failures:
        raise typer.Exit(1)


def summary_table(reports: list[IngestReport]) -> Table:
    table = Table(title="导入结果 / Ingest summary")
    for label in (
        "文件 / file",
        "读取 / read",
        "无效 / rejected",
        "清洗剔除 / cleaned out",
        "乱序重排 / reordered",
        "新增 / new",
        "已存在 / already stored",
    ):
        table.add_column(label, justify="left" if label.startswith("文件") else "right")
    for r in reports:
        table.add_row(
            Path(r.source).name,
            str(r.read),
            str(r.rejected),
            str(sum(r.dropped.values())),
            str(r.reordered),
            str(r.new),
            str(r.already_stored),
        )
    return table


def reasons_table(reports: list[IngestReport]) -> Table:
    table = Table(title="清洗剔除原因 / Cleaning, by reason")
    table.add_column("原因 / reason")
    table.add_column("点数 / points", justify="right")
    for reason in REASONS.values():
        if reason.action == "dropped":
            total = sum(r.dropped.get(reason.code, 0) for r in reports)
            table.add_row(f"{reason.zh} / {reason.en}", str(total))
    return table


def _print_failure(path: Path, exc: CdwError) -> None:
    console.print("[bold red]错误 / Error[/]", end=" ")
    console.print(f"{path}: {exc.zh} / {exc.en}", markup=False, highlight=False)
    for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
        console.print(f"  - {problem}", markup=False, highlight=False)
    hidden = getattr(exc, "problem_count", len(exc.problems)) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        console.print(f"  … 另有 {hidden} 条 / {hidden} more", highlight=False)


def _read_terminal_map(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"terminal", "plate"} <= set(reader.fieldnames or []):
            raise typer.BadParameter(
                "表头应为 terminal,plate / the header must be terminal,plate",
                param_hint="--terminal-map",
            )
        return {row["terminal"].strip(): row["plate"].strip() for row in reader}
