"""Command functions for manifests and permits (registered by cdw.cli)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from cdw.cli.console import console, fail
from cdw.config import get_settings, local_today
from cdw.errors import CdwError


def load_manifests_command(
    folder: Annotated[Path, typer.Argument(help="含 manifests.csv、receipts.csv 的目录 / folder")],
) -> None:
    """导入联单与收货记录 / Load a bundle's manifests.csv and receipts.csv."""
    from cdw.db import session_scope
    from cdw.manifests.importer import load_manifests

    try:
        with session_scope() as session:
            manifests, receipts = load_manifests(session, folder)
    except CdwError as exc:
        fail(exc)
    console.print(f"已导入 / loaded: {manifests} 联单 manifests, {receipts} 收货 receipts")


def reconcile_command(
    date_: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    to: Annotated[str | None, typer.Option(help="结束日期 / last day, YYYY-MM-DD")] = None,
    out: Annotated[Path | None, typer.Option(help="JSON 报告 / write the report")] = None,
) -> None:
    """联单对账 / Reconcile manifests, GPS trips and receipts of a day or range."""
    from cdw.db import session_scope
    from cdw.flows.day import reconcile_days
    from cdw.tracking.store import PointStore

    settings = get_settings()
    try:
        first = date.fromisoformat(date_)
        last = date.fromisoformat(to) if to else first
    except ValueError:
        console.print("[red]日期格式应为 YYYY-MM-DD / dates must be YYYY-MM-DD[/]")
        raise typer.Exit(1) from None
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    try:
        with session_scope() as session:
            report = reconcile_days(session, store, first, last, settings)
    except CdwError as exc:
        fail(exc)
    for code, n in report.counts.items():
        console.print(f"{code:22} {n}")
    console.print(
        f"联单 manifests {report.manifests}, 重车行程 loaded trips {report.trips}, "
        f"已存 stored {report.stored}, 状态变更 state changes {report.state_changes}"
    )
    if out:
        out.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=1), "utf-8")


def figures_command(
    date_: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    to: Annotated[str | None, typer.Option(help="结束日期 / last day")] = None,
) -> None:
    """统计：消纳场容量、每日联单、综合利用率 / Capacity, manifests per day, recycling share."""
    from cdw.db import session_scope
    from cdw.manifests import figures

    settings = get_settings()
    tz = ZoneInfo(settings.local_timezone)
    first = date.fromisoformat(date_)
    last = date.fromisoformat(to) if to else first
    with session_scope() as session:
        body = {
            "facilities": figures.facility_capacity(session, last),
            "manifests_per_day": figures.manifests_per_day(session, first, last, tz),
            "recycling": figures.recycling_share(session, first, last, tz),
        }
    console.print_json(json.dumps(body, ensure_ascii=False))


def expire_permits_command(
    date_: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD（默认今天）")] = None,
) -> None:
    """核准到期处理 / Expire permits past their dates or with their volume used up."""
    from cdw.db import session_scope
    from cdw.permits.services import expire_permits

    day = date.fromisoformat(date_) if date_ else local_today()
    with session_scope() as session:
        expired = [p.permit_no for p in expire_permits(session, day)]
    console.print(f"已到期 / expired: {', '.join(expired) or '无 / none'}")
