"""``make demo``: a fresh SQLite database, the bundled Panyu sample day, the whole job.

Steps: create the schema, load the registry and permits, ingest the GPS tracks, load the
manifests, then analyse and reconcile the day on one engine run (``cdw.flows.day``, on the
road network that the bundle's ``scenario.json`` names, when it names one), then print what
was found next to the scenario's labelled ground truth.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path
from time import perf_counter

from rich.console import Console
from rich.table import Table
from sqlmodel import Session, select

from cdw.accounts.services import create_user
from cdw.auth.models import Role, UserCreate
from cdw.bundle import load_registry, track_files
from cdw.config import Settings
from cdw.db import make_engine, session_scope
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flows.day import analyse_and_reconcile_days, analyse_days
from cdw.manifests.importer import load_manifests
from cdw.migrate import upgrade
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier, Vehicle
from cdw.report import report_from_database
from cdw.tracking.ingest import ingest_file
from cdw.tracking.store import PointStore

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "sample_tracks" / "panyu-demo"
DEFAULT_WORKDIR = Path("var/demo")


def bundle_road_network(bundle: Path) -> Path | None:
    """The road network file a bundle's ``scenario.json`` names (relative to the bundle or
    absolute), or None."""
    meta = bundle / "scenario.json"
    if not meta.exists():
        return None
    name = json.loads(meta.read_text(encoding="utf-8")).get("road_network")
    return None if not name else (bundle / name).resolve()


# One log-in per role for the web console on the demo day (a demo database only).
DEMO_PASSWORD = "panyu-demo-2026"
DEMO_USERS = (
    ("admin", Role.admin, "演示管理员"),
    ("permit", Role.permit_officer, "演示审批员"),
    ("enforce", Role.enforcement_officer, "演示执法队员"),
    ("facility", Role.facility_operator, "演示消纳场操作员"),
    ("dispatch", Role.site_dispatcher, "演示工地出场管理员"),
    ("haulier", Role.haulier, "演示运输企业"),
    ("viewer", Role.viewer, "演示只读用户"),
)


def create_demo_users(session: Session, settings: Settings) -> list[tuple[str, Role, str]]:
    """One user per role (password ``DEMO_PASSWORD``); the bound roles are bound to the first
    facility, site and haulier of the registry. Returns (username, role, bound to)."""
    first = {
        "facility_id": session.exec(select(DisposalFacility).order_by(DisposalFacility.id)).first(),
        "site_id": session.exec(select(ConstructionSite).order_by(ConstructionSite.id)).first(),
        "haulier_id": session.exec(select(Haulier).order_by(Haulier.id)).first(),
    }
    binding_of = {
        Role.facility_operator: "facility_id",
        Role.site_dispatcher: "site_id",
        Role.haulier: "haulier_id",
    }
    made = []
    for username, role, full_name in DEMO_USERS:
        column = binding_of.get(role)
        record = first[column] if column else None
        if column and record is None:
            continue  # a bundle without that kind of record: no user for the role
        binding = {column: record.id} if column else {}
        data = UserCreate(
            username=username, full_name=full_name, role=role, password=DEMO_PASSWORD, **binding
        )
        create_user(session, data, settings, actor="demo")
        made.append((username, role, record.name if record else ""))
    return made


COUNT_KEYS = ("flags", "labels", "true_flags", "found", "near_misses", "near_miss_flags")


def overlaps(flag: FlagRecord, label: dict) -> bool:
    """A flag matches a label of its code and vehicle when their time spans overlap."""
    start, end = datetime.fromisoformat(label["start"]), datetime.fromisoformat(label["end"])
    f = flag.to_flag()
    return (
        flag.vehicle == label["plate"]
        and flag.code == label["code"]
        and f.start <= end
        and start <= f.end
    )


def match_ground_truth(flags: list[FlagRecord], labels: list[dict]) -> dict[str, dict[str, int]]:
    """Per code: flags, labelled violations, flags on a violation (true flags), violations
    with a flag (found), labelled near misses, and flags on a near miss (and on no
    violation: each of those is a false flag)."""
    out = {}
    for code in FlagCode:
        code_flags = [f for f in flags if f.code == code]
        real = [lb for lb in labels if lb["code"] == code and not lb.get("near_miss")]
        near = [lb for lb in labels if lb["code"] == code and lb.get("near_miss")]
        true = [f for f in code_flags if any(overlaps(f, lb) for lb in real)]
        counts = (
            len(code_flags),
            len(real),
            len(true),
            sum(any(overlaps(f, lb) for f in code_flags) for lb in real),
            len(near),
            sum(
                any(overlaps(f, lb) for lb in near)
                for f in code_flags
                if not any(overlaps(f, lb) for lb in real)
            ),
        )
        out[code.value] = dict(zip(COUNT_KEYS, counts, strict=True))
    return out


def run_demo(
    bundle: Path = DEFAULT_BUNDLE, workdir: Path = DEFAULT_WORKDIR, console: Console | None = None
) -> Path:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or logged: wide enough for the tables
            console = Console(width=160)
    started = perf_counter()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'cdw.db'}",
        data_dir=workdir / "data",
        road_network=bundle_road_network(bundle),
    )
    scenario = json.loads((bundle / "scenario.json").read_text(encoding="utf-8"))
    day = date.fromisoformat(scenario["day"])

    console.rule("[bold]cdw 演示 / demo[/]")
    console.print(
        f"数据包 / bundle: {bundle}  日期 / day: {day}  数据库 / database: {settings.database_url}"
    )
    if settings.road_network is not None:
        console.print(f"路网 / road network: {settings.road_network}")

    with console.status("1/4 建库 / creating the schema"):
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)

    with (
        console.status("2/4 导入登记与核准 / loading registry and permits"),
        session_scope(engine) as session,
    ):
        loaded = load_registry(session, bundle)
    console.print(
        "登记 / registry: "
        + ", ".join(f"{kind} {n}" for kind, n in loaded.registry.items())
        + f"; 核准 / permits {loaded.permits}"
    )
    with console.status("演示账户 / demo log-ins"), session_scope(engine) as session:
        users = create_demo_users(session, settings)

    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    with Session(engine) as session:
        terminals = {t: p for t, p in session.exec(select(Vehicle.terminal_id, Vehicle.plate)) if t}
    ingested = []
    for path in track_files(bundle):
        with console.status(f"3/4 导入轨迹 / ingesting {path.name}"), session_scope(engine) as s:
            ingested.append(
                ingest_file(path, store, terminal_to_plate=terminals, session=s,
                            thresholds=settings.thresholds, uploader="demo", channel="demo")
            )  # fmt: skip
    for report in ingested:
        zh, en = report.note
        console.print(f"轨迹 / tracks {Path(report.source).name}: {zh} / {en}")

    if (bundle / "manifests.csv").exists():
        with (
            console.status("4/4 联单与分析、对账 / manifests, analysing and reconciling the day"),
            session_scope(engine) as session,
        ):
            n_manifests, n_receipts = load_manifests(session, bundle)
            analysis, _ = analyse_and_reconcile_days(session, store, day, day, settings)
        console.print(f"联单 / manifests {n_manifests}, 接收 / receipts {n_receipts}")
    else:
        with console.status("4/4 分析 / analysing the day"), session_scope(engine) as session:
            analysis = analyse_days(session, store, day, day, settings)
    with Session(engine) as session:
        flags = list(session.exec(select(FlagRecord).order_by(FlagRecord.start_ts)))
        facilities = list(session.exec(select(DisposalFacility).order_by(DisposalFacility.id)))

    labels = json.loads((bundle / "ground_truth.json").read_text(encoding="utf-8"))
    console.print(_flags_table(flags, labels))
    console.print(_facility_table(facilities))
    console.print(_top_flags_table(flags))

    out = workdir / "flags.json"
    out.write_text(
        json.dumps([f.to_flag().as_dict() for f in flags], ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    summary = analysis.as_dict()
    with console.status("写出报告 / writing the HTML report"), Session(engine) as session:
        report = report_from_database(
            session, store, day, day, workdir / "report.html", settings, trips=analysis.trips
        )
    console.print(
        f"行程 / trips: {summary.get('trips')}  预警 / flags: {len(flags)}  "
        f"用时 / elapsed: {perf_counter() - started:.1f} s"
    )
    console.print(f"预警明细 / flags written to: {out.resolve()}")
    console.print(f"报告（含地图）/ HTML report with maps: {report.resolve()}")
    console.print(_users_table(users))
    return out


def _users_table(users: list[tuple[str, Role, str]]) -> Table:
    table = Table(
        title=f"演示账户（密码均为 {DEMO_PASSWORD}）/ demo log-ins (password {DEMO_PASSWORD})"
    )
    for header in ("用户名 / username", "角色 / role", "绑定 / bound to"):
        table.add_column(header)
    for username, role, bound in users:
        table.add_row(username, f"{role.label_zh} / {role}", bound)
    return table


def _flags_table(flags: list[FlagRecord], labels: list[dict]) -> Table:
    table = Table(title="预警与标注对照 / flags against the scenario's labelled violations")
    table.add_column("代码 / code")
    table.add_column("名称 / name")
    for header in (
        "预警 / flags",
        "标注 / labelled",
        "命中 / true flags",
        "检出 / labels found",
        "临界 / near misses",
        "临界误报 / flags on near misses",
    ):
        table.add_column(header, justify="right")
    for code, counts in match_ground_truth(flags, labels).items():
        fc = FlagCode(code)
        table.add_row(code, f"{fc.zh} / {fc.en}", *(str(counts[k]) for k in COUNT_KEYS))
    return table


def _facility_table(facilities: list[DisposalFacility]) -> Table:
    table = Table(title="消纳场容量 / facility capacity")
    for header in (
        "消纳场 / facility",
        "类型 / kind",
        "容量 m³ / capacity",
        "已用 m³ / used",
        "剩余 m³ / remaining",
    ):
        table.add_column(header)
    for f in facilities:
        table.add_row(
            f.name,
            f.kind.value,
            f"{f.capacity_m3:,.0f}",
            f"{f.used_m3:,.0f}",
            f"{f.capacity_m3 - f.used_m3:,.0f}",
        )
    return table


def _top_flags_table(flags: list[FlagRecord], limit: int = 8) -> Table:
    table = Table(title=f"最高分预警 / top {limit} flags by severity")
    for header in ("分 / score", "车牌 / plate", "代码 / code", "说明 / explanation"):
        table.add_column(header)
    for f in sorted(flags, key=lambda f: -f.severity)[:limit]:
        table.add_row(str(f.severity), f.vehicle, str(f.code), f.explanation_zh)
    return table
