"""City scale: a generated day of 1,000, 3,000 and 10,000 trucks at 10 s (whole 24 h days:
10,000 trucks are about 86 M fixes) through cdw's own command line, each step in a child
process: generate, ingest, analyse, with the polars floor beside ingest in the same run.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--trucks 1000,3000,10000]
[--interval-s 10] [--working-day] [--trucks-per-file 500] [--max-analyse-fixes N]
[--workdir DIR] [--keep] [--bundle DIR]``.

Per fleet size, in a fresh folder (deleted afterwards unless ``--keep``):

1. ``cdw scenario generate --full-day --trucks-per-file N`` (the track files arrive as a
   real feed's would: several CSV files a day);
2. ``cdw db upgrade`` and ``cdw bundle import`` of the registry alone (a fresh SQLite
   database in the folder);
3. ``cdw ingest`` of the track files: time, peak memory;
4. the polars floor: each track file read, its times parsed, sorted by plate and time and
   written as Parquet with the store's compression (``Settings.store_compression``), one
   file after another as ingest takes them (``--floor`` mode of this
   script in a child): time, peak memory;
5. ``cdw analyse --date DAY``: time, peak memory, fixes per second of wall time and per
   CPU-second (user + system of the child and its children: fixes per second per core),
   the flags written included; the default scheduler (``auto``: a local Dask cluster for a
   day of ≥ 50 M fixes), then ``--scheduler inline`` (one process), each on its own copy of
   the database as ingest left it (both first analyses of the day), after a first inline run
   on a third copy that finds the data folder new (``analyse_cold_caches``: it builds the
   matcher's distance tables and the snapped approved routes, which every later run reads).

Peak memory is the highest sum of the resident memory of the child and its descendants,
sampled every 0.1 s (psutil), or the highest peak of one of them (VmHWM) if higher. It measures
whatever the command line does on the checkout it runs on (the store layout, streaming
ingest, partitioned or Dask analysis). Targets (issue 15): a 10,000-truck day in at most
4 GB, ingest within 1.5x the floor, analysis at least 2 M fixes/s per core. Figures under
load are noisy: the load average is printed beside each run. The last line printed is one
JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import date
from pathlib import Path
from time import perf_counter
from typing import Any

import psutil

DAY = date(2026, 11, 20)
TARGET_PEAK_MB = 4096
TARGET_INGEST_OVER_FLOOR = 1.5
TARGET_FIXES_PER_CPU_S = 2_000_000


def _hwm_bytes(pid: int) -> int:
    """A process's peak resident memory so far (VmHWM: its own, not inherited at fork)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def measured(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd``; its wall time, CPU time (user + system, its children's too) and peak
    memory (MB): the highest sum of the resident memory of the process and its descendants
    sampled every 0.1 s, or the highest peak of one of them (VmHWM) if higher; beside it the
    highest sum of their proportional set sizes (``peak_pss_mb``: a page that forked
    processes share counted once in all, where the resident sum counts it in each); ``failed``
    with the end of its output when it fails."""
    started = perf_counter()
    child = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tree_peak = pss_peak = 0
    hwm: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak, pss_peak
        try:
            root = psutil.Process(child.pid)
        except psutil.Error:
            return
        while not done.wait(0.1):
            total = pss = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            for proc in procs:
                with contextlib.suppress(psutil.Error):  # a child may end meanwhile
                    memory = proc.memory_full_info()  # smaps_rollup: rss and pss
                    total += memory.rss
                    pss += memory.pss
                hwm[proc.pid] = max(hwm.get(proc.pid, 0), _hwm_bytes(proc.pid))
            tree_peak = max(tree_peak, total)
            pss_peak = max(pss_peak, pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = perf_counter() - started
    done.set()
    sampler.join()
    figures: dict[str, Any] = {
        "s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_mb": round(max(tree_peak, *hwm.values(), 0) / 2**20, 1),
        "peak_pss_mb": round(pss_peak / 2**20, 1),
    }
    if child.returncode != 0:  # e.g. -9: killed, out of memory
        figures["failed"] = f"exit {child.returncode}: {output[-2000:]}"
    return figures


def floor(files: list[Path], out_dir: Path, compression: str) -> None:
    """Read, parse, sort and write each track file with polars alone (the floor), in the
    compression the store writes."""
    import polars as pl

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        (
            pl.read_csv(path)
            .with_columns(pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z"))
            .sort("plate", "ts")
            .write_parquet(out_dir / f"{path.stem}.parquet", compression=compression)
        )


def _cdw(*args: str) -> list[str]:
    return [sys.executable, "-m", "cdw.cli", *args]


def _count_flags(database_url: str) -> int:
    from sqlalchemy import func
    from sqlmodel import Session, select

    from cdw.db import make_engine
    from cdw.flags.models import FlagRecord

    engine = make_engine(database_url)
    with Session(engine) as session:
        n = session.exec(select(func.count()).select_from(FlagRecord)).one()
    engine.dispose()
    return int(n)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run_city(
    workdir: Path,
    trucks: int,
    *,
    interval_s: float,
    full_day: bool,
    trucks_per_file: int,
    seed: int,
    max_analyse_fixes: int | None = None,
    generated: Path | None = None,
) -> dict[str, Any]:
    from cdw.bundle import REGISTRY_FILES  # not at the top: the floor's child imports no cdw
    from cdw.config import Settings
    from cdw.demo import bundle_road_network

    bundle = workdir / "bundle"
    database = f"sqlite:///{workdir / 'cdw.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDW_")} | {
        "CDW_DATABASE_URL": database,
        "CDW_DATA_DIR": str(workdir / "data"),
    }
    result: dict[str, Any] = {"trucks": trucks, "interval_s": interval_s, "full_day": full_day}
    result["load_before"] = _load()
    generate = _cdw(
        "scenario", "generate", str(bundle), "--trucks", str(trucks), "--seed", str(seed),
        "--day", DAY.isoformat(), "--interval-s", str(interval_s),
        "--trucks-per-file", str(trucks_per_file),
    )  # fmt: skip
    if generated is None:
        result["generate"] = measured(generate + (["--full-day"] if full_day else []), env)
    else:  # generated earlier with these arguments (``--bundle``): not measured again
        bundle.symlink_to(generated.resolve())
        result["generate"] = {"s": 0.0, "cpu_s": 0.0, "peak_mb": 0.0, "reused": str(generated)}
    if "failed" in result["generate"]:
        raise RuntimeError(f"generate failed: {result['generate']['failed']}")
    files = sorted(bundle.glob("tracks*.csv"))
    fixes = sum(_rows(f) for f in files)
    result |= {
        "fixes": fixes,
        "files": len(files),
        "csv_mb": round(sum(f.stat().st_size for f in files) / 2**20, 1),
    }
    network = bundle_road_network(bundle)
    env["CDW_ROAD_NETWORK"] = "" if network is None else str(network)

    registry = workdir / "registry"
    registry.mkdir()
    for name in ("scenario.json", *(f"{kind}.json" for kind in REGISTRY_FILES), "permits.json"):
        (registry / name).symlink_to(bundle / name)
    setup = {"schema": _cdw("db", "upgrade"), "registry": _cdw("bundle", "import", str(registry))}
    for step, cmd in setup.items():
        result[step] = measured(cmd, env)
        if "failed" in result[step]:
            raise RuntimeError(f"{step} failed: {result[step]['failed']}")

    result["load_ingest"] = _load()
    ingest = result["ingest"] = measured(_cdw("ingest", *map(str, files)), env)
    fl = result["floor"] = measured(
        [sys.executable, __file__, "--floor", str(workdir / "floor"), *map(str, files)],
        # the children see no CDW_ setting but the two above: the store writes the default
        env | {"FLOOR_COMPRESSION": Settings.model_fields["store_compression"].default},
    )
    shutil.rmtree(workdir / "floor", ignore_errors=True)
    ingest["fixes_per_s"] = round(fixes / ingest["s"])
    fl["fixes_per_s"] = round(fixes / fl["s"])
    result["ingest_over_floor"] = round(ingest["s"] / fl["s"], 2)
    result["ingest_over_floor_cpu"] = round(ingest["cpu_s"] / max(fl["cpu_s"], 0.01), 2)
    if "failed" in ingest or (max_analyse_fixes is not None and fixes > max_analyse_fixes):
        return result
    # Each run analyses its own copy of the database as it is now (each a first analysis of
    # the day). The first, inline, finds the data folder new: it builds the caches a bureau's
    # daily runs find there (the matcher's distance tables, the snapped approved routes); the
    # two measured against the target find them built.
    cold_database = f"sqlite:///{_sqlite_copy(workdir / 'cdw.db', workdir / 'cold.db')}"
    inline_database = f"sqlite:///{_sqlite_copy(workdir / 'cdw.db', workdir / 'inline.db')}"
    result["analyse_cold_caches"] = measured(
        _cdw("analyse", "--date", DAY.isoformat(), "--scheduler", "inline"),
        env | {"CDW_DATABASE_URL": cold_database},
    )
    if "failed" in result["analyse_cold_caches"]:
        return result
    result["flags_cold_caches"] = _count_flags(cold_database)
    result["load_analyse"] = _load()
    analyse = result["analyse"] = measured(_cdw("analyse", "--date", DAY.isoformat()), env)
    result["load_after"] = _load()
    if "failed" in analyse:
        return result
    result["flags"] = _count_flags(database)
    inline = result["analyse_inline"] = measured(
        _cdw("analyse", "--date", DAY.isoformat(), "--scheduler", "inline"),
        env | {"CDW_DATABASE_URL": inline_database},
    )
    result["load_after_inline"] = _load()
    runs = [analyse] if "failed" in inline else [analyse, inline]
    if len(runs) == 2:
        result["flags_inline"] = _count_flags(inline_database)
    for run in [result["analyse_cold_caches"], *runs]:
        run["fixes_per_s"] = round(fixes / run["s"])
        run["fixes_per_cpu_s"] = round(fixes / run["cpu_s"]) if run["cpu_s"] else None
    result["targets_met"] = {
        "peak_memory": max(ingest["peak_mb"], *(r["peak_mb"] for r in runs)) <= TARGET_PEAK_MB,
        "ingest_within_floor": result["ingest_over_floor"] <= TARGET_INGEST_OVER_FLOOR,
        "analysis_per_core": (analyse["fixes_per_cpu_s"] or 0) >= TARGET_FIXES_PER_CPU_S,
        "analysis_per_core_inline": (inline.get("fixes_per_cpu_s") or 0) >= TARGET_FIXES_PER_CPU_S,
    }
    return result


def _sqlite_copy(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite database (its WAL included), by SQLite's backup."""
    import sqlite3

    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    return target


def _rows(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1


def processor() -> str:
    """The CPU's model name (figures differ from machine to machine: print them with it)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _table(results: list[dict[str, Any]]) -> None:
    print(f"{processor()}, {os.cpu_count()} cores")
    head = (
        f"{'trucks':>7} {'fixes':>11} {'files':>5} {'gen s':>7} {'ingest s':>9} {'MB':>7} "
        f"{'floor s':>8} {'MB':>7} {'x floor':>7} {'analyse s':>9} {'MB':>7} "
        f"{'fix/s':>10} {'fix/cpu-s':>10} {'flags':>6} {'load':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        g, i, f = r["generate"], r["ingest"], r["floor"]
        prefix = (
            f"{r['trucks']:>7,} {r['fixes']:>11,} {r['files']:>5} {g['s']:>7.1f} {i['s']:>9.1f} "
            f"{i['peak_mb']:>7.0f} {f['s']:>8.1f} {f['peak_mb']:>7.0f} "
            f"{r['ingest_over_floor']:>7.2f}"
        )
        for key, flags, label in (
            ("analyse_cold_caches", "flags_cold_caches", "inline, new data folder"),
            ("analyse", "flags", "default"),
            ("analyse_inline", "flags_inline", "inline"),
        ):
            a = r.get(key, {})
            if "fixes_per_s" in a:
                analysed = (
                    f"{a['s']:>9.1f} {a['peak_mb']:>7.0f} {a['fixes_per_s']:>10,} "
                    f"{a['fixes_per_cpu_s'] or 0:>10,} {r[flags]:>6}"
                )
            else:
                status = "failed" if a else "not run"
                analysed = f"{status:>9} {a.get('peak_mb', 0):>7.0f} {'':>10} {'':>10} {'':>6}"
            print(f"{prefix} {analysed} {r['load_ingest']:>5.1f}  {label}")
            prefix = " " * len(prefix)
    print(
        f"targets: peak memory <= {TARGET_PEAK_MB} MB, ingest <= {TARGET_INGEST_OVER_FLOOR}x "
        f"the floor, analysis >= {TARGET_FIXES_PER_CPU_S:,} fixes per CPU-second"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trucks", default="1000,3000,10000", help="comma-separated fleet sizes")
    parser.add_argument("--interval-s", type=float, default=10.0)
    parser.add_argument(
        "--working-day", action="store_true", help="working hours only (not whole 24 h days)"
    )
    parser.add_argument("--trucks-per-file", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--max-analyse-fixes",
        type=int,
        help="skip the analysis of a day holding more fixes (one that would not fit in memory)",
    )
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--bundle",
        type=Path,
        help="a bundle `cdw scenario generate` wrote earlier with these arguments (one fleet size): "
        "used instead of generating it again",
    )
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor is not None:
        floor(args.files, args.floor, os.environ["FLOOR_COMPRESSION"])
        return {}

    root = args.workdir or Path(tempfile.mkdtemp(prefix="cdw-scale-"))
    results = []
    try:
        for trucks in (int(n) for n in args.trucks.split(",")):
            workdir = root / f"trucks-{trucks}"
            if workdir.exists():
                shutil.rmtree(workdir)
            workdir.mkdir(parents=True)
            try:
                result = run_city(
                    workdir,
                    trucks,
                    interval_s=args.interval_s,
                    full_day=not args.working_day,
                    trucks_per_file=args.trucks_per_file,
                    seed=args.seed,
                    max_analyse_fixes=args.max_analyse_fixes,
                    generated=args.bundle,
                )
            finally:
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
            print(json.dumps(result), file=sys.stderr, flush=True)
            results.append(result)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    _table(results)
    report = {"cores": os.cpu_count(), "processor": processor(), "runs": results}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
