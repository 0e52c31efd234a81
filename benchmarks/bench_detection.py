"""Detection quality: precision and recall per engine flag code against the labelled ground
truth of simulated days (issue 7), at several GPS noise levels and sampling intervals.

Run: ``.venv/bin/python benchmarks/bench_detection.py [--quick] [--trucks N] [--details DIR]``.
Each scenario is generated (cdw.scenario), loaded as a bundle into a fresh SQLite database
and point store in a temporary folder, and analysed with default thresholds. A flag is a
true flag when it overlaps in time a label of the same code and vehicle; a label is found
when some flag overlaps it (cdw.demo.match_ground_truth). ``--details`` writes, per
scenario, the missed labels and the false flags as JSON for inspection. The last line
printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlmodel import Session, select

from cdw.bundle import load_registry, track_files
from cdw.config import Settings
from cdw.db import all_models, make_engine, session_scope
from cdw.demo import match_ground_truth
from cdw.registry.models import Vehicle
from cdw.scenario.generate import generate_scenario
from cdw.tracking.analysis import ENGINE_CODES, analyse_days
from cdw.tracking.flags import FlagRecord
from cdw.tracking.ingest import ingest_file
from cdw.tracking.store import PointStore

DAY = date(2026, 11, 20)
NOISE_M = (5.0, 10.0, 20.0)
INTERVAL_S = (10.0, 15.0, 30.0)
TARGET = 0.95


def _overlaps(flag: FlagRecord, label: dict[str, Any]) -> bool:
    start, end = datetime.fromisoformat(label["start"]), datetime.fromisoformat(label["end"])
    f = flag.to_flag()
    return (
        flag.vehicle == label["plate"]
        and flag.code == label["code"]
        and f.start <= end
        and start <= f.end
    )


def run_scenario(
    workdir: Path, trucks: int, seed: int, noise_m: float, interval_s: float
) -> dict[str, Any]:
    """Generate, load, ingest and analyse one scenario; per-code counts and the mismatches."""
    bundle = workdir / "bundle"
    started = perf_counter()
    generate_scenario(
        bundle, trucks=trucks, seed=seed, day=DAY, noise_m=noise_m, interval_s=interval_s
    )
    generated = perf_counter()
    settings = Settings(database_url=f"sqlite:///{workdir / 'cdw.db'}", data_dir=workdir / "data")
    engine = make_engine(settings.database_url)
    all_models().metadata.create_all(engine)
    with session_scope(engine) as session:
        load_registry(session, bundle)
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    with Session(engine) as session:
        terminals = {t: p for t, p in session.exec(select(Vehicle.terminal_id, Vehicle.plate)) if t}
    points = 0
    for path in track_files(bundle):
        points += ingest_file(
            path, store, terminal_to_plate=terminals, thresholds=settings.thresholds
        ).new
    with session_scope(engine) as session:
        analysis = analyse_days(session, store, DAY, DAY, settings)
    with Session(engine) as session:
        flags = list(session.exec(select(FlagRecord).order_by(FlagRecord.start_ts)))
    engine.dispose()
    analysed = perf_counter()

    labels = json.loads((bundle / "ground_truth.json").read_text(encoding="utf-8"))
    engine_codes = {str(c) for c in ENGINE_CODES}
    counts = {
        code: dict(zip(("flags", "labels", "true_flags", "found"), values, strict=True))
        for code, values in match_ground_truth(flags, labels).items()
        if code in engine_codes
    }
    missed = [
        lb
        for lb in labels
        if lb["code"] in engine_codes and not any(_overlaps(f, lb) for f in flags)
    ]
    false_flags = [
        f.to_flag().as_dict()
        for f in flags
        if not any(_overlaps(f, lb) for lb in labels if lb["code"] == f.code)
    ]
    return {
        "noise_m": noise_m,
        "interval_s": interval_s,
        "seed": seed,
        "trucks": trucks,
        "points": points,
        "trips": analysis.trips,
        "generate_s": round(generated - started, 2),
        "analyse_s": round(analysed - generated, 2),
        "counts": counts,
        "missed": missed,
        "false_flags": false_flags,
    }


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _fmt(value: float | None) -> str:
    return "  —  " if value is None else f"{value:5.3f}"


def _pooled(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for code in (str(c) for c in ENGINE_CODES):
        total = {k: sum(r["counts"][code][k] for r in results) for k in results[0]["counts"][code]}
        out[code] = total | {
            "precision": _ratio(total["true_flags"], total["flags"]),
            "recall": _ratio(total["found"], total["labels"]),
        }
    return out


def _print_tables(results: list[dict[str, Any]], pooled: dict[str, dict[str, Any]]) -> None:
    codes = [str(c) for c in ENGINE_CODES]
    heads = [f"σ{r['noise_m']:g}/{r['interval_s']:g}s" for r in results]
    print("\nPrecision / recall per scenario (σ noise m / sampling s); P R")
    print(f"{'code':<18}" + "".join(f"{h:>14}" for h in heads))
    for code in codes:
        cells = []
        for r in results:
            c = r["counts"][code]
            p, rc = _ratio(c["true_flags"], c["flags"]), _ratio(c["found"], c["labels"])
            cells.append(f"{_fmt(p)} {_fmt(rc)}".rjust(14))
        print(f"{code:<18}" + "".join(cells))
    print("\nPooled over all scenarios")
    print(
        f"{'code':<18}{'flags':>7}{'labels':>8}{'true':>7}{'found':>7}"
        f"{'precision':>11}{'recall':>8}  target {TARGET}"
    )
    for code in codes:
        c = pooled[code]
        short = [
            name
            for name, value in (("P", c["precision"]), ("R", c["recall"]))
            if value is not None and value < TARGET
        ]
        print(
            f"{code:<18}{c['flags']:>7}{c['labels']:>8}{c['true_flags']:>7}{c['found']:>7}"
            f"{_fmt(c['precision']):>11}{_fmt(c['recall']):>8}  {'short: ' + ','.join(short) if short else 'ok'}"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 trucks, two scenarios")
    parser.add_argument("--trucks", type=int, default=100, help="trucks per scenario")
    parser.add_argument("--seed", type=int, default=11, help="seed of the first scenario")
    parser.add_argument("--details", type=Path, help="write missed labels and false flags here")
    args = parser.parse_args(argv)

    grid = [(n, i) for n in NOISE_M for i in INTERVAL_S]
    trucks = args.trucks
    if args.quick:
        grid, trucks = [(5.0, 10.0), (20.0, 30.0)], 10
    results = []
    started = perf_counter()
    for index, (noise_m, interval_s) in enumerate(grid):
        with tempfile.TemporaryDirectory(prefix="cdw-bench-detect-") as tmp:
            result = run_scenario(Path(tmp), trucks, args.seed + index, noise_m, interval_s)
        results.append(result)
        print(
            f"σ={noise_m:g} m, every {interval_s:g} s, seed {result['seed']}: {trucks} trucks, "
            f"{result['points']} points, {result['trips']} trips; generated in "
            f"{result['generate_s']} s, analysed in {result['analyse_s']} s; "
            f"{len(result['missed'])} missed, {len(result['false_flags'])} false",
            flush=True,
        )
        if args.details:
            args.details.mkdir(parents=True, exist_ok=True)
            name = f"noise{noise_m:g}-every{interval_s:g}s.json"
            (args.details / name).write_text(
                json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
            )
    pooled = _pooled(results)
    _print_tables(results, pooled)
    figures = {
        "benchmark": "detection",
        "trucks": trucks,
        "elapsed_s": round(perf_counter() - started, 1),
        "target": TARGET,
        "pooled": pooled,
        "scenarios": [
            {k: v for k, v in r.items() if k not in ("missed", "false_flags")} for r in results
        ],
    }
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
