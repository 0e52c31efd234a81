"""The point store: appending a city-sized batch, and reading one vehicle-day back.

A synthetic day of ``--vehicles`` trucks reporting every ``--interval`` s over ``--hours``
hours (default 1,000 × 2,160 fixes = 2.16 M, the issue-15 figure for 1,000 trucks), built
once and kept as a Parquet file. Each step runs in a fresh process so that its peak memory
(``ru_maxrss``) is its own:

- ``append``: read the day into a frame (its size is the baseline), append it to an empty
  store: seconds and peak RSS above the baseline;
- ``reappend``: the same frame again into that store (every key already stored);
- ``read``: one vehicle-day (``read(start, end, vehicles=[one])``) from that store for
  ``--repeat`` different vehicles: the median and fastest, and the files of the day;
- ``live``: what the gateway does, ``--live-appends`` appends of one fix per vehicle (the
  fleet reporting once) into a fresh store with the default automatic compaction: the
  median, 95th percentile and slowest append, and the files left.

Prints JSON. ``PYTHONPATH`` picks the cdw under test, so the same script measures two
versions of the store side by side.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_store.py [--vehicles 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

import numpy as np
import polars as pl

TZ = "Asia/Shanghai"
DAY_START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 local: the whole span in one local day


def build_day(path: Path, vehicles: int, hours: float, interval_s: int) -> int:
    per = int(hours * 3600 // interval_s)
    rng = np.random.default_rng(7)
    plates = [f"粤A{i:05d}" for i in range(vehicles)]
    offsets = np.arange(per, dtype=np.int64) * interval_s * 1_000_000
    frame = pl.DataFrame(
        {
            "vehicle": np.repeat(np.array(plates, dtype=object), per),
            "ts": np.tile(offsets, vehicles)
            + int(DAY_START.timestamp() * 1_000_000)
            + np.repeat(rng.integers(0, interval_s * 1_000_000, vehicles), per),
            "lon": 113.2 + rng.random(vehicles * per) * 0.3,
            "lat": 22.9 + rng.random(vehicles * per) * 0.3,
            "speed_kmh": (rng.random(vehicles * per) * 60).astype(np.float32),
            "heading": (rng.random(vehicles * per) * 360).astype(np.float32),
            "status": np.full(vehicles * per, 768, dtype=np.uint32),
            "alarm": np.zeros(vehicles * per, dtype=np.uint32),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    # arrival order, as a file or a gateway batch brings it: by time, vehicles interleaved
    frame.sort("ts").write_parquet(path)
    return frame.height


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(name: str, day_file: str, root: str, repeat: int) -> dict:
    from cdw.tracking.store import PointStore

    store = PointStore(root, timezone=TZ, compact_files=None)
    if name in ("append", "reappend"):
        frame = pl.read_parquet(day_file)
        base = _peak_mb()
        t0 = perf_counter()
        result = store.append(frame)
        seconds = perf_counter() - t0
        return {
            "rows": frame.height,
            "new": result.new,
            "duplicates": result.duplicates,
            "seconds": round(seconds, 3),
            "baseline_rss_mb": round(base, 1),
            "peak_rss_mb": round(_peak_mb(), 1),
            "peak_above_baseline_mb": round(_peak_mb() - base, 1),
        }
    if name == "live":
        return live(root, repeat)
    vehicles = sorted(pl.read_parquet(day_file, columns=["vehicle"])["vehicle"].unique())
    start, end = DAY_START - timedelta(hours=8), DAY_START + timedelta(hours=16)
    times, rows = [], 0
    for k in range(repeat):  # a different vehicle each time
        t0 = perf_counter()
        rows += store.read(start, end, vehicles=[vehicles[k * len(vehicles) // repeat]]).height
        times.append(perf_counter() - t0)
    times.sort()
    return {
        "reads": repeat,
        "rows_each": rows // repeat,
        "seconds_median": round(times[len(times) // 2], 4),
        "seconds_best": round(times[0], 4),
        "store_files": len(list(Path(root).rglob("*.parquet"))),
    }


def live(root: str, appends: int) -> dict:
    from cdw.tracking.store import PointStore

    store = PointStore(root, timezone=TZ)  # default compact_files, as the gateway runs it
    plates = [f"粤A{i:05d}" for i in range(1000)]
    times = []
    for k in range(appends):
        batch = pl.DataFrame(
            {
                "vehicle": plates,
                "ts": [DAY_START + timedelta(seconds=5 * k)] * len(plates),
                "lon": [113.3] * len(plates),
                "lat": [23.1] * len(plates),
            }
        )
        t0 = perf_counter()
        store.append(batch)
        times.append(perf_counter() - t0)
    times.sort()
    return {
        "appends": appends,
        "fixes_each": len(plates),
        "median_s": round(times[len(times) // 2], 4),
        "p95_s": round(times[int(len(times) * 0.95)], 4),
        "max_s": round(times[-1], 4),
        "total_s": round(sum(times), 2),
        "files_left": len(list(Path(root).rglob("*.parquet"))),
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--live-appends", type=int, default=200)
    parser.add_argument(
        "--steps", default="append,reappend,read,live", help="comma-separated steps to run"
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--day-file", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.day_file, args.root, args.repeat)))
        return
    with tempfile.TemporaryDirectory(prefix="cdw-bench-store-") as tmp:
        day_file = Path(tmp) / "day.parquet"
        rows = build_day(day_file, args.vehicles, args.hours, args.interval)
        root = Path(tmp) / "points"
        out: dict = {"vehicles": args.vehicles, "fixes": rows}
        for name in args.steps.split(","):  # "append" first: the others need its store
            live_step = name == "live"
            run = subprocess.run(
                [sys.executable, __file__, "--step", name, "--day-file", str(day_file)]
                + ["--root", str(Path(tmp) / "live" if live_step else root)]
                + ["--repeat", str(args.live_appends if live_step else args.repeat)],
                check=True,
                capture_output=True,
                text=True,
            )
            out[name] = json.loads(run.stdout)
        print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
