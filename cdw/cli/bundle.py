"""``cdw bundle import DIR``: load a whole bundle (sample_tracks/README.md) into the database
configured by Settings, then its GPS tracks into the point store.

The registry files and permits.json go in one transaction: every file is checked, every
problem of every file is listed with its file, line and field, and if there is any, nothing
is written. A bundle whose records are all already stored (a re-import) is refused as a
conflict (409) naming each duplicate (code, plate, credit code, licence or permit number);
sites, facilities, depots and zones may share a name (permits then name them by code). Only
then are the tracks ingested, each file whole or not at all; points already stored are not
stored twice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdw.audit.log import command_actor
from cdw.bundle import REGISTRY_FILES, BundleReport, _registry_file, track_files
from cdw.config import Thresholds, get_settings
from cdw.db import make_engine, session_scope
from cdw.errors import CdwError, Conflict, InputFileError, Problem, ValidationFailed
from cdw.permits.importer import import_permits
from cdw.permits.models import Permit
from cdw.registry.importer import import_file
from cdw.registry.models import Vehicle
from cdw.tracking.ingest import IngestReport, ingest_files
from cdw.tracking.store import PointStore

console = Console(soft_wrap=True)
MAX_PROBLEMS_SHOWN = 40
# Bundle files this command leaves to the manifest module's own loader.
NOT_YET_LOADED = ("manifests.csv", "receipts.csv")
ALREADY_STORED_EN = "already registered"


@dataclass
class BundleImport:
    registry: BundleReport
    tracks: list[IngestReport] = field(default_factory=list)
    track_failures: list[tuple[Path, CdwError]] = field(default_factory=list)


def _permit_problems(session: Session, path: Path) -> tuple[int, list[Problem]]:
    """Import permits.json; a permit number already stored is said to be so (a re-import)."""
    stored = set(session.exec(select(Permit.permit_no)))
    try:
        return import_permits(session, path), []
    except ValidationFailed as exc:
        problems = []
        for p in exc.problems:
            zh, en = p.zh, p.en
            number = p.en.rsplit(": ", 1)[-1]
            if p.field == "permit_no" and number in stored:
                zh, en = f"许可编号已存在：{number}", f"permit number {ALREADY_STORED_EN}: {number}"
            problems.append(Problem(p.field, zh, en, p.line, p.source))
        return 0, problems


def load_registry_checked(session: Session, folder: Path) -> BundleReport:
    """Registry files and permits.json of ``folder`` into ``session`` (flushed, not committed).

    Every file is checked even when an earlier one has problems; raises ValidationFailed
    listing them all (Conflict when every problem is a record already stored).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"数据包目录不存在：{folder}", f"bundle folder not found: {folder}")
    report = BundleReport()
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="cdw-bundle-") as rejects_dir:
        for kind in REGISTRY_FILES:
            path = _registry_file(folder, kind)
            if path is None:
                continue
            # Good rows are staged so that later files can refer to them; any problem anywhere
            # rolls the whole transaction back.
            imported = import_file(
                session,
                kind,
                path,
                skip_invalid=True,
                rejects_path=Path(rejects_dir) / f"{kind}.rejects.csv",
            )
            problems += imported.problems
            report.registry[kind] = imported.imported
    if (folder / "permits.json").exists():
        report.permits, permit_problems = _permit_problems(session, folder / "permits.json")
        problems += permit_problems
    if not problems:
        return report
    if all(ALREADY_STORED_EN in p.en for p in problems):
        raise Conflict(
            f"数据包 {folder} 的记录已存在（{len(problems)} 处重复），未写入任何记录（是否重复导入？）",
            f"the records of bundle {folder} are already stored ({len(problems)} duplicates); "
            "nothing was written (imported before?)",
            problems=problems,
        )
    raise ValidationFailed(
        problems,
        zh=f"数据包 {folder} 有 {len(problems)} 处错误，未写入任何登记或核准记录",
        en=f"bundle {folder} has {len(problems)} problem(s); no registry record or permit was written",
    )


def import_bundle(
    engine: Engine,
    folder: Path,
    store: PointStore,
    thresholds: Thresholds,
    on_track_file: Callable[[Path], None] | None = None,
) -> BundleImport:
    """Registry and permits (one transaction, all or nothing), then the track files in order,
    each in its own transaction (the next one read while this one is stored: ``ingest_files``);
    ``on_track_file`` is told of each file once it is done."""
    with session_scope(engine) as session:
        result = BundleImport(load_registry_checked(session, folder))
    with Session(engine) as session:
        terminals = {t: p for t, p in session.exec(select(Vehicle.terminal_id, Vehicle.plate)) if t}
    outcomes = ingest_files(
        track_files(folder),
        store,
        session_scope=lambda: session_scope(engine),
        uploader=command_actor(),
        channel="bundle",
        terminal_to_plate=terminals,
        thresholds=thresholds,
    )
    for path, outcome in outcomes:
        if isinstance(outcome, CdwError):
            result.track_failures.append((path, outcome))
        else:
            result.tracks.append(outcome)
        if on_track_file is not None:
            on_track_file(path)
    return result


def _print_error(exc: CdwError) -> None:
    console.print(f"[bold red]错误 / Error ({exc.http_status}):[/]", end=" ")
    console.print(f"{exc.zh} / {exc.en}", markup=False, highlight=False)
    for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
        console.print(f"  - {problem}", markup=False, highlight=False)
    hidden = len(exc.problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        console.print(f"  … 另有 {hidden} 条 / {hidden} more", highlight=False)


def bundle_import_command(
    folder: Annotated[
        Path, typer.Argument(help="数据包目录 / bundle folder", file_okay=False, exists=True)
    ],
) -> None:
    """导入数据包：登记、核准、轨迹 / Import a bundle: registry, permits, then GPS tracks."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    try:
        with console.status("导入 / importing") as status:
            result = import_bundle(
                engine,
                folder,
                store,
                settings.thresholds,
                on_track_file=lambda p: status.update(f"已导入轨迹 / ingested {p.name}"),
            )
    except CdwError as exc:
        _print_error(exc)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    loaded = result.registry
    console.print(
        "登记 / registry: "
        + ", ".join(f"{kind} {n}" for kind, n in loaded.registry.items())
        + f"; 核准 / permits {loaded.permits}",
        highlight=False,
    )
    for report in result.tracks:
        zh, en = report.note
        console.print(f"轨迹 / tracks {Path(report.source).name}: {zh} / {en}", markup=False)
    for path, exc in result.track_failures:
        console.print(f"[bold red]轨迹文件未导入 / track file not stored:[/] {escape(str(path))}")
        _print_error(exc)
    skipped = [name for name in NOT_YET_LOADED if (folder / name).exists()]
    if skipped:
        console.print(
            f"本命令不导入联单与收货 / manifests and receipts are not loaded by this command: "
            f"{', '.join(skipped)}",
            highlight=False,
        )
    if result.track_failures:
        raise typer.Exit(1)
