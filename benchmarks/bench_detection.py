"""Detection quality: precision and recall per flag code against the labelled ground truth of
simulated days on the real Panyu road network, at several GPS noise levels and sampling
intervals, and the flags raised on labelled near misses.

Run: ``.venv/bin/python benchmarks/bench_detection.py [--quick] [--seeds N] [--trucks N]
[--noise M ...] [--interval S ...] [--details DIR] [--full-day]``. ``--full-day``: whole
24 h days, every truck also reporting while parked at its depot (the parked fixes must
raise no flag: the figures are those of the working day).

Each scenario is generated (cdw.scenario, seeds ``--seed``, ``--seed``+1, …) and then run
through cdw's own command line as a user would, in a fresh SQLite database and point store
in a temporary folder, with the road network its ``scenario.json`` names: ``db upgrade``,
``bundle import``, ``load-manifests``, ``analyse``, ``reconcile`` (default thresholds). A
flag is a true flag when it overlaps in time a labelled violation of the same code and
vehicle; a violation is found when some flag overlaps it; a flag on a labelled near miss
(and on no violation) is a false flag counted apart (cdw.demo.match_ground_truth).
``--details`` writes, per scenario, the missed violations and the false flags as JSON. The
last line printed is one JSON object with every figure. ``--from-details DIR`` runs nothing:
it prints the tables and the JSON of the scenarios already written to DIR (runs of separate
cells side by side, pooled into one report).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlmodel import Session, select

from cdw.db import make_engine
from cdw.demo import COUNT_KEYS, bundle_road_network, match_ground_truth, overlaps
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.scenario.generate import generate_scenario

DAY = date(2026, 11, 20)
NOISE_M = (5.0, 10.0, 20.0)
INTERVAL_S = (10.0, 15.0, 30.0)
TARGET = 0.95


def _cdw(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdw.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"cdw {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )


def run_scenario(
    workdir: Path,
    trucks: int,
    seed: int,
    noise_m: float,
    interval_s: float,
    *,
    full_day: bool = False,
) -> dict[str, Any]:
    """Generate one day, run it through the CLI; per-code counts and the mismatches."""
    bundle = workdir / "bundle"
    started = perf_counter()
    summary = generate_scenario(
        bundle,
        trucks=trucks,
        seed=seed,
        day=DAY,
        noise_m=noise_m,
        interval_s=interval_s,
        full_day=full_day,
    )
    generated = perf_counter()
    database = f"sqlite:///{workdir / 'cdw.db'}"
    network = bundle_road_network(bundle)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDW_")} | {
        "CDW_DATABASE_URL": database,
        "CDW_DATA_DIR": str(workdir / "data"),
        "CDW_ROAD_NETWORK": "" if network is None else str(network),
    }
    _cdw(env, "db", "upgrade")
    _cdw(env, "bundle", "import", str(bundle))
    _cdw(env, "load-manifests", str(bundle))
    _cdw(env, "analyse", "--date", DAY.isoformat())
    _cdw(env, "reconcile", "--date", DAY.isoformat())
    engine = make_engine(database)
    with Session(engine) as session:
        flags = list(session.exec(select(FlagRecord).order_by(FlagRecord.start_ts)))
    engine.dispose()
    analysed = perf_counter()

    labels = json.loads((bundle / "ground_truth.json").read_text(encoding="utf-8"))
    violations = [lb for lb in labels if not lb.get("near_miss")]
    return {
        "noise_m": noise_m,
        "interval_s": interval_s,
        "seed": seed,
        "trucks": trucks,
        "points": summary.points,
        "generate_s": round(generated - started, 2),
        "cli_s": round(analysed - generated, 2),
        "counts": match_ground_truth(flags, labels),
        "missed": [lb for lb in violations if not any(overlaps(f, lb) for f in flags)],
        "false_flags": [
            f.to_flag().as_dict()
            | {"near_miss": any(overlaps(f, lb) for lb in labels if lb.get("near_miss"))}
            for f in flags
            if not any(overlaps(f, lb) for lb in violations)
        ],
    }


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _fmt(value: float | None) -> str:
    return "  —  " if value is None else f"{value:5.3f}"


def _pooled(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for code in (str(c) for c in FlagCode):
        total = {k: sum(r["counts"][code][k] for r in results) for k in COUNT_KEYS}
        out[code] = total | {
            "precision": _ratio(total["true_flags"], total["flags"]),
            "recall": _ratio(total["found"], total["labels"]),
        }
    return out


def _cells(results: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Results grouped by (noise, interval), seeds pooled."""
    keys = sorted({(r["noise_m"], r["interval_s"]) for r in results})
    return [
        (
            f"σ{n:g}/{i:g}s",
            [r for r in results if (r["noise_m"], r["interval_s"]) == (n, i)],
        )
        for n, i in keys
    ]


def _print_tables(results: list[dict[str, Any]], pooled: dict[str, dict[str, Any]]) -> None:
    codes = [str(c) for c in FlagCode]
    cells = [(head, _pooled(rs)) for head, rs in _cells(results)]
    print("\nPrecision / recall per cell (σ noise m / sampling s, seeds pooled); P R")
    print(f"{'code':<22}" + "".join(f"{h:>14}" for h, _ in cells))
    for code in codes:
        row = "".join(
            f"{_fmt(c[code]['precision'])} {_fmt(c[code]['recall'])}".rjust(14) for _, c in cells
        )
        print(f"{code:<22}{row}")
    print("\nPooled over all scenarios")
    print(
        f"{'code':<22}{'flags':>7}{'true':>7}{'precision':>11}{'labels':>8}{'found':>7}"
        f"{'recall':>8}{'near':>6}{'on near':>9}  target {TARGET}"
    )
    for code in codes:
        c = pooled[code]
        short = [
            name
            for name, value in (("P", c["precision"]), ("R", c["recall"]))
            if value is not None and value < TARGET
        ]
        if c["near_miss_flags"]:
            short.append("near-miss flags")
        print(
            f"{code:<22}{c['flags']:>7}{c['true_flags']:>7}{_fmt(c['precision']):>11}"
            f"{c['labels']:>8}{c['found']:>7}{_fmt(c['recall']):>8}{c['near_misses']:>6}"
            f"{c['near_miss_flags']:>9}  {'short: ' + ', '.join(short) if short else 'ok'}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small cell: σ 10 m, 15 s")
    parser.add_argument("--trucks", type=int, default=60, help="trucks per scenario")
    parser.add_argument("--seeds", type=int, default=3, help="scenarios per cell")
    parser.add_argument("--seed", type=int, default=11, help="seed of the first scenario")
    parser.add_argument("--noise", type=float, nargs="+", default=NOISE_M, help="σ in metres")
    parser.add_argument("--interval", type=float, nargs="+", default=INTERVAL_S, help="seconds")
    parser.add_argument("--details", type=Path, help="write missed labels and false flags here")
    parser.add_argument(
        "--full-day", action="store_true", help="whole 24 h days (trucks report while parked)"
    )
    parser.add_argument(
        "--from-details", type=Path, help="report the scenarios written to this folder, run none"
    )
    args = parser.parse_args(argv)
    if args.from_details:
        done = [
            json.loads(f.read_text(encoding="utf-8"))
            for f in sorted(args.from_details.glob("noise*-every*s-seed*.json"))
        ]
        seeds_run = len({r["seed"] for r in done})
        spent = sum(r["generate_s"] + r["cli_s"] for r in done)
        return _report(done, done[0]["trucks"] if done else 0, seeds_run, spent)

    grid = [(n, i) for n in args.noise for i in args.interval]
    trucks, seeds = args.trucks, args.seeds
    if args.quick:
        grid, trucks, seeds = [(10.0, 15.0)], 10, 1
    results = []
    started = perf_counter()
    for noise_m, interval_s in grid:
        for k in range(seeds):
            seed = args.seed + k
            with tempfile.TemporaryDirectory(prefix="cdw-bench-detect-") as tmp:
                result = run_scenario(
                    Path(tmp), trucks, seed, noise_m, interval_s, full_day=args.full_day
                )
            results.append(result)
            print(
                f"σ={noise_m:g} m, every {interval_s:g} s, seed {seed}: {trucks} trucks, "
                f"{result['points']} points; generated in {result['generate_s']} s, "
                f"cdw import/analyse/reconcile in {result['cli_s']} s; "
                f"{len(result['missed'])} missed, {len(result['false_flags'])} false",
                flush=True,
            )
            if args.details:
                args.details.mkdir(parents=True, exist_ok=True)
                name = f"noise{noise_m:g}-every{interval_s:g}s-seed{seed}.json"
                (args.details / name).write_text(
                    json.dumps(result, ensure_ascii=False, indent=1, default=str),
                    encoding="utf-8",
                )
    return _report(results, trucks, seeds, perf_counter() - started)


def _report(
    results: list[dict[str, Any]], trucks: int, seeds: int, elapsed_s: float
) -> dict[str, Any]:
    """Print the tables and, last, the JSON of every figure; return the figures."""
    pooled = _pooled(results)
    _print_tables(results, pooled)
    figures = {
        "benchmark": "detection",
        "network": "Guangzhou Panyu OSM",
        "trucks": trucks,
        "seeds": seeds,
        "elapsed_s": round(elapsed_s, 1),
        "target": TARGET,
        "pooled": pooled,
        "cells": {head: _pooled(rs) for head, rs in _cells(results)},
        "scenarios": [
            {k: v for k, v in r.items() if k not in ("missed", "false_flags")} for r in results
        ],
    }
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
