"""``cdw store info | compact``: the point store's figures, and merging its small files."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cdw.cli.analyse import parse_day
from cdw.cli.console import console, fail
from cdw.config import get_settings
from cdw.errors import CdwError
from cdw.tracking.store import PointStore, StoreInfo

store_app = typer.Typer(help="轨迹点位库 / the point store", no_args_is_help=True)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="点位库目录或 URL（默认 data_dir/points）/ store folder or URL "
        "(default: data_dir/points)",
    ),
]


def _open(store: str | None) -> PointStore:
    settings = get_settings()
    return PointStore(store or settings.points_dir, timezone=settings.local_timezone)


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GB"


def info_table(info: StoreInfo) -> Table:
    table = Table(
        title=f"点位库 / point store {info.root} (布局 / layout {info.layout}, "
        f"分桶 / buckets {info.buckets})"
    )
    for name in ("日期 / day", "点数 / rows", "车辆 / vehicles", "文件 / files", "大小 / size"):
        table.add_column(name, justify="left" if name.startswith("日期") else "right")
    for day in info.days:
        files = f"{day.files}" + (f" ({day.legacy_files} 旧/old)" if day.legacy_files else "")
        table.add_row(
            day.day.isoformat(), f"{day.rows:,}", f"{day.vehicles:,}", files, _size(day.bytes)
        )
    table.add_section()
    table.add_row(
        f"合计 / total: {len(info.days)} 天 / days",
        f"{info.rows:,}",
        f"{info.vehicles:,}",
        f"{info.files}",
        _size(info.bytes),
    )
    return table


def info_command(
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / print JSON")] = False,
) -> None:
    """点位库统计（行数、车辆、天数、文件、大小）/ The store's rows, vehicles, days, files, bytes."""
    try:
        info = _open(store).info()
    except CdwError as exc:
        fail(exc)
    if as_json:
        print(json.dumps(info.as_dict(), ensure_ascii=False, indent=2))
        return
    console.print(info_table(info))


def compact_command(
    days: Annotated[
        list[str] | None,
        typer.Option("--day", help="只整理这些本地日期，可重复 / only these local days (repeat)"),
    ] = None,
    store: StoreOption = None,
    recompress: Annotated[
        bool,
        typer.Option(
            "--recompress",
            help="也重写压缩方式与当前设置（CDW_STORE_COMPRESSION）不同的单个文件 / also rewrite "
            "single files written in another compression than the current setting",
        ),
    ] = False,
) -> None:
    """合并小文件并把旧布局改写为分桶 / Merge small files; rewrite old-layout days into buckets."""
    try:
        chosen = None if days is None else [parse_day(d, "day") for d in days]
        written = _open(store).compact(chosen, recompress=recompress)
    except CdwError as exc:
        fail(exc)
    console.print(
        f"已整理，写出 {written} 个文件 / compacted: {written} file(s) written", highlight=False
    )


store_app.command("info")(info_command)
store_app.command("compact")(compact_command)
