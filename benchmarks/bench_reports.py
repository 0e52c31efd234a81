"""The citizen-report query (举报: which trucks stopped or passed within R m in a window) on a
demo month of the Panyu sample day.

The month: the bundled demo day (``sample_tracks/panyu-demo``, the scenario generator's day
on the real Panyu roads) **replicated**, not generated 30 times (the generator takes minutes
a day): each of ``--days`` days is the demo day with its dates shifted by whole days, and
``--fleet`` copies of the fleet a day (copy k: plates suffixed ``-k``, times shifted by
k × 7 min, so that copies do not move in lockstep). Default: 30 days × 10 fleets, about
6 million fixes, one Parquet file a day as the point store keeps them.

The place: where the labelled SUSPECTED_DUMPING truck of the demo day stood (the median of
its fixes in the labelled span), radius 200 m. Queries (``cdw.tracking.nearby.visits_near``,
which reads the store with a lazy scan of the days in the window, the box and the window
pushed down into the Parquet reader, then finds the visits), each run ``--repeat`` times,
the fastest counted:

- ``two_hours``: the two hours around the dumping, on day 15;
- ``one_day``: all of day 15;
- ``month``: the whole month (31 days, the longest window a report may hold).

Prints JSON: the store's size, the time to write it, and per query the seconds, the fixes
read, the visits and vehicles found and whether the dumping truck ranks first.

    .venv/bin/python benchmarks/bench_reports.py [--days 30] [--fleet 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from time import perf_counter

import polars as pl

from cdw.bundle import ingest_tracks
from cdw.demo import DEFAULT_BUNDLE
from cdw.tracking.nearby import COLUMNS, Place, visits_near
from cdw.tracking.store import PointStore

TZ = "Asia/Shanghai"


def _label() -> dict:
    truth = json.loads((DEFAULT_BUNDLE / "ground_truth.json").read_text(encoding="utf-8"))
    return next(lb for lb in truth if lb["code"] == "SUSPECTED_DUMPING" and not lb.get("near_miss"))


def build_month(root: Path, days: int, fleet: int) -> tuple[PointStore, pl.DataFrame, float]:
    """The store of ``days`` replicated demo days of ``fleet`` fleets; returns the store, the
    demo day's points and the seconds taken to write the month."""
    day_store = PointStore(root / "day", timezone=TZ)
    ingest_tracks(DEFAULT_BUNDLE, day_store, {})
    (day,) = day_store.days()
    start = datetime.fromisoformat(f"{day}T00:00:00+08:00")
    demo = day_store.read(start, start + timedelta(days=1))
    store = PointStore(root / "month", timezone=TZ)
    began = perf_counter()
    for d in range(days):
        copies = [
            demo.with_columns(
                (pl.col("vehicle") + f"-{k}") if k else pl.col("vehicle"),
                pl.col("ts") + timedelta(days=d, minutes=7 * k),
            )
            for k in range(fleet)
        ]
        store.append(pl.concat(copies))
    return store, demo, perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--fleet", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--radius", type=float, default=200.0)
    args = parser.parse_args()

    label = _label()
    with tempfile.TemporaryDirectory(prefix="cdw-bench-reports-") as tmp:
        store, demo, write_s = build_month(Path(tmp), args.days, args.fleet)
        stored = sum(p.stat().st_size for d in store.days() for p in store.files(d))
        lab_start = datetime.fromisoformat(label["start"])
        lab_end = datetime.fromisoformat(label["end"])
        there = demo.filter(
            (pl.col("vehicle") == label["plate"]) & pl.col("ts").is_between(lab_start, lab_end)
        )
        place = Place(float(there["lon"].median()), float(there["lat"].median()), args.radius)
        mid = args.days // 2
        dumped = lab_start + timedelta(days=mid)
        first_day = datetime.fromisoformat(f"{store.days()[0]}T00:00:00+08:00")
        windows = {
            "two_hours": (dumped - timedelta(hours=1), dumped + timedelta(hours=1)),
            "one_day": (
                first_day + timedelta(days=mid),
                first_day + timedelta(days=mid + 1),
            ),
            "month": (first_day, first_day + timedelta(days=31)),
        }
        figures: dict = {
            "data": "demo day replicated (dates shifted by whole days), not generated per day",
            "days": args.days,
            "fleet_copies": args.fleet,
            "fixes": demo.height * args.fleet * args.days,
            "vehicles_per_day": demo["vehicle"].n_unique() * args.fleet,
            "store_mb": round(stored / 1e6, 1),
            "write_month_s": round(write_s, 2),
            "radius_m": args.radius,
            "place": [round(place.lon, 6), round(place.lat, 6)],
            "cpu_count": os.cpu_count(),
            "queries": {},
        }
        for name, (start, end) in windows.items():
            best, visits = float("inf"), []
            for _ in range(args.repeat):
                began = perf_counter()
                visits = visits_near(
                    store, place, start, end, stop_radius_m=50.0, stop_min_s=120.0, gap_s=300.0
                )
                best = min(best, perf_counter() - began)
            read = store.read_box(start, end, place.box(300.0), columns=COLUMNS).height
            ranked = sorted(visits, key=lambda v: (not v.stopped, not v.unloaded, v.distance_m))
            figures["queries"][name] = {
                "seconds": round(best, 4),
                "window_h": round((end - start).total_seconds() / 3600, 1),
                "fixes_in_box": read,
                "visits": len(visits),
                "vehicles": len({v.vehicle for v in visits}),
                "stops": sum(v.stopped for v in visits),
                "first": ranked[0].vehicle if ranked else None,
                "dumping_truck_first": bool(ranked)
                and ranked[0].vehicle.split("-")[0] == label["plate"],
            }
        figures["load_avg_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
