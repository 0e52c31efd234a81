"""``cdw roads …``: propose and check permit routes, build the network cache."""

from __future__ import annotations

import json
from pathlib import Path
from time import perf_counter
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from cdw.cli.console import console, fail
from cdw.config import get_settings
from cdw.db import session_scope
from cdw.errors import CdwError, InputFileError, ValidationFailed
from cdw.permits.route_planning import (
    MAX_ALTERNATIVES,
    ProposalRequest,
    RouteCheckRequest,
    check,
    propose,
)
from cdw.registry.validators.pydantic_errors import problems_from_validation_error
from cdw.roads.limits import read_officer_limits
from cdw.roads.network import LIMIT_OFFICER
from cdw.roads.sources import load_network, read_parquet_tables, save_cache

roads_app = typer.Typer(
    help="路网与核准路线 / road network and permit routes", no_args_is_help=True
)

ExcludeClass = Annotated[
    list[str] | None,
    typer.Option("--exclude-class", help="排除的道路等级，可重复 / road class to avoid (repeat)"),
]
WeightT = Annotated[
    float | None, typer.Option("--weight-t", help="车辆总重（吨） / vehicle weight (t)")
]


def _request(model: type[ProposalRequest | RouteCheckRequest], **values: Any) -> Any:
    try:
        return model(**values)
    except ValidationError as exc:
        fail(ValidationFailed(problems_from_validation_error(exc)))


def _route_table(title: str, features: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("方案 / rank", "里程 km", "时间 min", "途经道路 / roads"):
        table.add_column(column)
    for k, feature in enumerate(features, 1):
        props = feature["properties"]
        table.add_row(
            str(props.get("rank", k)),
            f"{props['length_m'] / 1000:.2f}",
            f"{props['travel_time_s'] / 60:.1f}",
            escape(" → ".join(r["name_zh"] for r in props["roads"])),
        )
    return table


def _print_problems(problems: list[dict[str, Any]]) -> None:
    table = Table(title="问题 / problems")
    for column in ("项 / field", "中文", "English"):
        table.add_column(column)
    for p in problems:
        table.add_row(p["field"], escape(p["zh"]), escape(p["en"]))
    console.print(table)


@roads_app.command("propose")
def propose_command(
    site_id: Annotated[int, typer.Option(help="排放工地编号 / site id")],
    facility_id: Annotated[int, typer.Option(help="消纳场所编号 / facility id")],
    alternatives: Annotated[
        int, typer.Option(min=0, max=MAX_ALTERNATIVES, help="备选路线数 / alternatives")
    ] = 3,
    exclude_class: ExcludeClass = None,
    weight_t: WeightT = None,
    out: Annotated[
        Path | None, typer.Option(help="写出 GeoJSON FeatureCollection / write the routes")
    ] = None,
) -> None:
    """推荐核准路线 / Propose the fastest permitted route and alternatives."""
    request = _request(
        ProposalRequest,
        site_id=site_id,
        facility_id=facility_id,
        alternatives=alternatives,
        excluded_road_classes=exclude_class or [],
        vehicle_weight_t=weight_t,
    )
    try:
        with session_scope() as session:
            result = propose(session, get_settings(), request)
    except CdwError as exc:
        fail(exc)
    if not result["features"]:
        _print_problems(result["problems"])
        raise typer.Exit(1)
    console.print(_route_table("推荐路线 / proposed routes", result["features"]))
    if out is not None:
        out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        console.print(f"已写出 / written: {escape(str(out))}", highlight=False)


@roads_app.command("check")
def check_command(
    line: Annotated[Path, typer.Argument(help="GeoJSON 路线文件 / a GeoJSON LineString file")],
    exclude_class: ExcludeClass = None,
    weight_t: WeightT = None,
) -> None:
    """校验手绘路线 / Snap a drawn route onto the network, list what it breaks (exit 1 if any)."""
    try:
        geojson = json.loads(line.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(InputFileError(f"无法读取 {line}：{exc}", f"cannot read {line}: {exc}"))
    request = _request(
        RouteCheckRequest,
        route=geojson,
        excluded_road_classes=exclude_class or [],
        vehicle_weight_t=weight_t,
    )
    try:
        with session_scope() as session:
            result = check(session, get_settings(), request)
    except CdwError as exc:
        fail(exc)
    if result["route"] is not None:
        console.print(_route_table("贴合路网后的路线 / snapped route", [result["route"]]))
    for zone in result["zones"]:
        console.print(f"进入禁区 / enters zone: {escape(zone['name'])}（{zone['kind_zh']}）")
    if result["acceptable"]:
        console.print("[green]路线可用 / the route is acceptable[/]")
        return
    _print_problems(result["problems"])
    raise typer.Exit(1)


@roads_app.command("cache")
def cache_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="路网文件，或含 nodes.parquet 与 edges.parquet 的文件夹 / network file "
            "(.osm.pbf, .osm, .osm.bz2, .geojson, .npz) or a folder of nodes.parquet + "
            "edges.parquet"
        ),
    ],
    out: Annotated[Path, typer.Argument(help="缓存文件 .npz / cache file")],
    limits: Annotated[
        Path | None,
        typer.Option(
            help="执法人员限速 GeoJSON（LineString，speed_limit_kmh） / an officer's limits: "
            "GeoJSON LineStrings with speed_limit_kmh, snapped onto the roads they run along"
        ),
    ] = None,
) -> None:
    """生成路网缓存（秒级重载） / Build the .npz cache that CDW_ROAD_NETWORK reloads fast.

    The same source gives a byte-identical file: sample_tracks/panyu-osm/panyu.npz is
    ``cdw roads cache ../shared/data/guangzhou-panyu-osm-roadnet sample_tracks/panyu-osm/panyu.npz``.
    """
    if out.suffix.lower() != ".npz":
        fail(
            InputFileError(
                f"缓存文件须以 .npz 结尾：{out}", f"the cache file must end in .npz: {out}"
            )
        )
    started = perf_counter()
    try:
        if source.is_dir():
            network = read_parquet_tables(source / "nodes.parquet", source / "edges.parquet")
        else:
            network = load_network(source)
        if limits is not None:
            network = network.with_officer_limits(*read_officer_limits(network, limits))
    except CdwError as exc:
        fail(exc)
    save_cache(network, out)
    officer = int((network.edge_limit_source == LIMIT_OFFICER).sum())
    console.print(
        f"已写出 / written: {escape(str(out))} — {network.n_nodes} 节点 / nodes, "
        f"{network.n_edges} 路段 / arcs, {officer} 条执法人员限速 / with an officer's limit, "
        f"{perf_counter() - started:.1f} s",
        highlight=False,
    )
