"""Ingest benchmark: points per second and peak memory of ``cdw.tracking.ingest.ingest_file``
on a big GPS CSV, beside the polars floor (read_csv + parse ts + sort + write_parquet) of
the same file, each measured in its own child process.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--rows N] [--trucks T] [--chunk-rows C]``.
The CSV (``plate,ts,lon,lat,speed_kmh,heading,status,alarm``, ISO-8601 times with +08:00,
one fix every 10 s per truck, rows in time order as a platform exports a day) is generated
seeded into a temporary directory, or read from ``--csv``. Peak memory is the child's
``ru_maxrss`` (interpreter and imports included). The last line printed is one JSON object
with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import polars as pl

DAY_START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # 08:00 in Guangzhou
PROVINCES = "粤湘桂赣闽"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXY"  # no I or O in a plate


def plates(trucks: int) -> list[str]:
    """Distinct valid plates: province, city letter, five digits."""
    return [
        f"{PROVINCES[i // 100_000 % len(PROVINCES)]}{LETTERS[i // 10_000 % 20]}{i % 10_000:05d}"
        for i in range(trucks)
    ]


def write_csv(path: Path, rows: int, trucks: int, seed: int) -> int:
    """Trucks around Guangzhou, one fix every 10 s, written in time order; returns rows."""
    rng = np.random.default_rng(seed)
    per_truck = max(rows // trucks, 1)
    names = plates(trucks)
    lon0 = 113.2 + rng.random(trucks) * 0.4
    lat0 = 22.9 + rng.random(trucks) * 0.3
    block = max(1, 2_000_000 // trucks)  # time steps per written block
    with open(path, "wb") as out:
        out.write(b"plate,ts,lon,lat,speed_kmh,heading,status,alarm\n")
        lon, lat = lon0.copy(), lat0.copy()
        start_us = int(DAY_START.timestamp()) * 1_000_000
        for first in range(0, per_truck, block):
            steps = min(block, per_truck - first)
            dlon = rng.normal(0, 0.0003, (steps, trucks)).cumsum(axis=0) + lon
            dlat = rng.normal(0, 0.0003, (steps, trucks)).cumsum(axis=0) + lat
            lon, lat = dlon[-1], dlat[-1]
            step = np.repeat(np.arange(first, first + steps), trucks)
            frame = pl.DataFrame(
                {
                    "plate": np.tile(np.array(names, dtype=object), steps),
                    "ts": pl.from_epoch(pl.Series(start_us + step * 10_000_000), time_unit="us"),
                    "lon": dlon.ravel().round(6),
                    "lat": dlat.ravel().round(6),
                    "speed_kmh": rng.uniform(0, 60, steps * trucks).round(1),
                    "heading": rng.integers(0, 360, steps * trucks),
                    "status": np.where(rng.random(steps * trucks) < 0.5, 0x300, 0),
                    "alarm": np.zeros(steps * trucks, dtype=np.int64),
                }
            )
            frame = frame.with_columns(
                pl.col("ts")
                .dt.replace_time_zone("UTC")
                .dt.convert_time_zone("Asia/Shanghai")
                .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
            )
            frame.write_csv(out, include_header=False)
    return per_truck * trucks


def child_floor(csv_path: Path, work: Path) -> dict[str, Any]:
    """What polars alone needs: read, parse the times, sort by vehicle and time, write."""
    start = perf_counter()
    frame = pl.read_csv(csv_path)
    frame = frame.with_columns(
        pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_zone="UTC", time_unit="us")
    ).sort("plate", "ts")
    frame.write_parquet(work / "floor.parquet")
    return {"seconds": perf_counter() - start, "rows": frame.height}


def child_ingest(csv_path: Path, work: Path) -> dict[str, Any]:
    from cdw.config import get_settings
    from cdw.tracking.ingest import ingest_file
    from cdw.tracking.store import PointStore

    settings = get_settings()
    store = PointStore(work / "store", timezone=settings.local_timezone)
    start = perf_counter()
    report = ingest_file(csv_path, store, thresholds=settings.thresholds)
    seconds = perf_counter() - start
    return {"seconds": seconds, "rows": report.read, "new": report.new}


def run_child(kind: str, csv_path: Path, work: Path, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--csv", str(csv_path), "--work", str(work)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--trucks", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-rows", type=int, default=None, help="Settings.ingest_chunk_rows")
    parser.add_argument("--csv", type=Path, default=None, help="an existing GPS CSV")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--child", choices=("floor", "ingest"), default=None)
    parser.add_argument("--skip-floor", action="store_true")
    args = parser.parse_args()

    if args.child is not None:
        figures = (child_floor if args.child == "floor" else child_ingest)(args.csv, args.work)
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return

    with tempfile.TemporaryDirectory(prefix="cdw-bench-ingest-") as tmp:
        work = Path(tmp)
        csv_path = args.csv
        if csv_path is None:
            csv_path = work / "tracks.csv"
            start = perf_counter()
            rows = write_csv(csv_path, args.rows, args.trucks, args.seed)
            print(
                f"generated {rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) "
                f"in {perf_counter() - start:.1f} s"
            )
        env = dict(os.environ)
        if args.chunk_rows is not None:
            env["CDW_INGEST_CHUNK_ROWS"] = str(args.chunk_rows)
        result: dict[str, Any] = {
            "csv_mb": round(csv_path.stat().st_size / 1e6, 1),
            "load_average": os.getloadavg()[0],
        }
        if not args.skip_floor:
            floor = run_child("floor", csv_path, work, env)
            result["floor"] = floor | {"points_per_s": floor["rows"] / floor["seconds"]}
            print(
                f"floor:  {floor['rows'] / floor['seconds'] / 1e6:.2f} M points/s, "
                f"{floor['seconds']:.1f} s, peak {floor['peak_rss_mb']:.0f} MB"
            )
        ingest = run_child("ingest", csv_path, work, env)
        rate = ingest["rows"] / ingest["seconds"]
        result["ingest"] = ingest | {
            "points_per_s": rate,
            "bytes_per_point": ingest["peak_rss_mb"] * 2**20 / ingest["rows"],
        }
        line = (
            f"ingest: {rate / 1e6:.2f} M points/s, {ingest['seconds']:.1f} s, "
            f"peak {ingest['peak_rss_mb']:.0f} MB"
        )
        if "floor" in result:
            result["ratio_to_floor"] = ingest["seconds"] / result["floor"]["seconds"]
            line += f", {result['ratio_to_floor']:.2f}x the floor's time"
        print(line)
        result["load_average_after"] = os.getloadavg()[0]
        print(json.dumps(result))


if __name__ == "__main__":
    main()
