"""``cdw scenario generate``: write a simulated day as a scenario bundle (registered by cdw.cli)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cdw.errors import CdwError

console = Console()


def generate_command(
    out_dir: Annotated[Path, typer.Argument(help="输出目录 / bundle directory to write")],
    trucks: Annotated[int, typer.Option(help="车辆数 / number of trucks (5-20000)")] = 10,
    seed: Annotated[int, typer.Option(help="随机种子 / random seed (same seed, same files)")] = 7,
    day: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="模拟日期 / simulated day (YYYY-MM-DD)")
    ] = datetime(2026, 11, 20),
    noise_m: Annotated[
        float, typer.Option(help="定位噪声 σ（米）/ GPS noise sigma in metres")
    ] = 10.0,
    interval_s: Annotated[
        float, typer.Option(help="采样间隔（秒）/ sampling interval in seconds")
    ] = 15.0,
    full_day: Annotated[
        bool,
        typer.Option(
            "--full-day",
            help="全天 00:00–24:00 上报（收车后停在停车场熄火仍上报）/ report all 24 h, parked at the depot with the engine off before and after the working day",
        ),
    ] = False,
    trucks_per_file: Annotated[
        int | None,
        typer.Option(
            help="每个轨迹文件的车辆数（tracks-00001.csv …，逐个写出，内存只存一个文件）/ trucks per track file (tracks-00001.csv, …; written one at a time, memory holds one file)",
        ),
    ] = None,
) -> None:
    """生成模拟场景数据包（番禺真实路网）/ Generate a simulated day on the real Panyu roads, with labelled violations and near misses."""
    from cdw.scenario.generate import generate_scenario

    the_day = day.date() if isinstance(day, datetime) else day
    try:
        summary = generate_scenario(
            out_dir,
            trucks=trucks,
            seed=seed,
            day=the_day,
            noise_m=noise_m,
            interval_s=interval_s,
            full_day=full_day,
            trucks_per_file=trucks_per_file,
        )
    except CdwError as exc:
        console.print(f"[bold red]错误 / Error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    table = Table(title=f"场景数据包 / scenario bundle: {summary.out_dir}")
    table.add_column("文件 / file")
    table.add_column("记录 / records", justify="right")
    for name, count in summary.records.items():
        table.add_row(name, str(count))
    console.print(table)
    labels = Table(title="标注 / labels (ground_truth.json)")
    labels.add_column("code")
    labels.add_column("违规 / violations", justify="right")
    labels.add_column("临界 / near misses", justify="right")
    for code in sorted(summary.violations.keys() | summary.near_misses.keys()):
        labels.add_row(
            code,
            str(summary.violations.get(code, 0)),
            str(summary.near_misses.get(code, 0)),
        )
    console.print(labels)
