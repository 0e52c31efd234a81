"""A month of a city's trucks analysed in vehicle groups: in one process, and on a local Dask
cluster of one and of two worker processes (``cdw.flows.partitioned``).

The month: the bundled demo day (``sample_tracks/panyu-demo``: 12 trucks, the scenario
generator's day on the real Panyu roads) **replicated**, not generated (as
``bench_reports.py``): ``--fleet`` copies of its fleet (copy k: plates suffixed ``-kkk``,
registered and on the same permits as the original truck, times shifted by (7 k mod 60)
minutes so that copies do not move in lockstep), each of ``--days`` days the demo day with
its dates shifted by whole days. Default: 30 days × 84 copies = 1,008 trucks, about 51 M
fixes. The road network of the bundle is used (``--no-roads``: the checks on geometry alone).

Runs, each the engine over the whole range (``cdw.flows.day._run``: plan, projector, context,
tasks, merge; the flags are not written; each task's legs spooled to a file as in
``analyse_days``, read back after the run to compare them):

- ``inline``: this process, task after task (the single-process run); peak memory of this
  process during the run (RSS sampled every 50 ms);
- ``dask_1``, ``dask_2``: a fresh local cluster (``cdw.flows.partitioned.local_cluster``:
  workers forked from a fork server preloaded with the engine) of 1 and 2 single-threaded worker
  processes; peak RSS of each worker (``VmHWM``) and how far the coordinator's rose during the
  run, the worker's warm-up (context received,
  matcher built, JIT caches loaded: a one-vehicle run on a fresh worker minus the same run
  again) and whether the flags and legs equal the inline run's.

Then ``analyse_days_with_write_s``: ``analyse_days`` on the 2-worker cluster, the flags and legs written to
SQLite (one transaction), end to end. Prints a line per step and, last, one JSON object.

    .venv/bin/python benchmarks/bench_cluster.py [--days 30] [--fleet 84] [--chunk-rows N]
        [--keep DIR] [--workers [1 2]]

``--keep DIR`` builds the month there once and reuses it; a later run with fewer ``--days``
analyses the first days of it (the peak memory of 5, 10, 20 and 30 days at one chunk).
``--workers`` with no number: the inline run alone. CPU seconds are printed beside the wall
time (on Dask: the coordinator's and the workers'), and the coordinator's peak beside the
workers'.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter
from zoneinfo import ZoneInfo

import polars as pl
import psutil
from sqlmodel import Session, select

from cdw.bundle import ingest_tracks, load_registry
from cdw.config import Settings, day_bounds
from cdw.db import make_engine
from cdw.demo import DEFAULT_BUNDLE, bundle_road_network
from cdw.flows.context import context_parts
from cdw.flows.day import _run, _spooled, analyse_days
from cdw.flows.partitioned import ContextParcel, local_cluster, span_projector
from cdw.migrate import upgrade
from cdw.permits.models import PermitVehicle
from cdw.registry.models import Vehicle
from cdw.tracking.store import PointStore

TZ = "Asia/Shanghai"


def build_month(folder: Path, days: int, fleet: int, roads: bool) -> tuple[Settings, date, int]:
    """The database (registry, permits, fleet copies) and the point store of the month;
    returns the settings, the first day and the fixes stored."""
    settings = Settings(
        database_url=f"sqlite:///{folder / 'cdw.db'}",
        data_dir=folder / "data",
        road_network=bundle_road_network(DEFAULT_BUNDLE) if roads else None,
        local_timezone=TZ,
    )
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        load_registry(session, DEFAULT_BUNDLE)
        session.commit()
        originals = session.exec(select(Vehicle).order_by(Vehicle.id)).all()
        links = session.exec(select(PermitVehicle)).all()
        for k in range(1, fleet):
            for vehicle in originals:
                fields = vehicle.model_dump(exclude={"id", "created_at", "updated_at"})
                copy = Vehicle(
                    **{**fields, "plate": f"{vehicle.plate}-{k:03d}", "terminal_id": None}
                )
                session.add(copy)
                session.flush()
                session.add_all(
                    PermitVehicle(permit_id=link.permit_id, vehicle_id=copy.id)
                    for link in links
                    if link.vehicle_id == vehicle.id
                )
        session.commit()
    engine.dispose()

    day_store = PointStore(folder / "day", timezone=TZ)
    ingest_tracks(DEFAULT_BUNDLE, day_store, {})
    (first,) = day_store.days()
    start, end = day_bounds(first, first, ZoneInfo(TZ))
    demo = day_store.read(start, end)
    fleet_day = pl.concat(
        demo.with_columns(
            (pl.col("vehicle") + f"-{k:03d}") if k else pl.col("vehicle"),
            pl.col("ts") + timedelta(minutes=(7 * k) % 60),
        )
        for k in range(fleet)
    )
    store = PointStore(settings.points_dir, timezone=TZ)
    for d in range(days):
        store.append(fleet_day.with_columns(pl.col("ts") + timedelta(days=d)))
    return settings, first, fleet_day.height * days


class PeakRss:
    """Peak resident memory of this process while the block runs (sampled every 50 ms)."""

    def __enter__(self) -> PeakRss:
        self.start = psutil.Process().memory_info().rss
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM: not ``ru_maxrss``, which a spawned
    worker inherits from the process that started it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def flag_rows(report) -> list[dict]:
    return [f.as_dict() for f in report.flags]


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def engine_run(settings: Settings, first: date, last: date, now: datetime, spool=None):
    """The engine over the days as ``analyse_days`` runs it: each task's legs spooled to a
    file as the task ends (``spool``; default: dropped), not kept. Returns the report, wall
    seconds and this process's CPU seconds."""
    engine = make_engine(settings.database_url)
    store = PointStore(settings.points_dir, timezone=TZ)

    def keep(legs):
        if spool is not None:
            pickle.dump(legs, spool, protocol=pickle.HIGHEST_PROTOCOL)

    with Session(engine) as session:
        began, cpu = perf_counter(), _cpu_s()
        report = _run(session, store, first, last, settings, now, True, keep)[0]
        seconds, cpu = perf_counter() - began, _cpu_s() - cpu
    engine.dispose()
    return report, seconds, cpu


def spooled_legs(spool) -> list:
    """The legs of a run's spool, in the order ``analyse_days`` reads them back (after the
    run: outside its measured memory)."""
    legs = [leg for batch in _spooled(spool) for leg in batch]
    return sorted(legs, key=lambda t: (t.start, t.vehicle, t.trip_id))


def _worker_cpu_s() -> float:
    return _cpu_s()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--fleet", type=int, default=84, help="copies of the 12-truck fleet")
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: the setting's")
    parser.add_argument("--no-roads", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="build (or reuse) the month here")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="Dask runs after the inline one (default: 1 and 2 workers; none: inline only)",
    )
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="cdw-bench-cluster-"))
    began = perf_counter()
    marker = folder / "month.json"
    if args.keep and marker.exists():
        meta = json.loads(marker.read_text())
        settings = Settings.model_validate_json(meta["settings"])
        first, fixes = date.fromisoformat(meta["first"]), meta["fixes"]
    else:
        folder.mkdir(parents=True, exist_ok=True)
        settings, first, fixes = build_month(folder, args.days, args.fleet, not args.no_roads)
        marker.write_text(
            json.dumps(
                {"settings": settings.model_dump_json(), "first": str(first), "fixes": fixes}
            )
        )
    build_s = perf_counter() - began
    print(f"month built: {fixes:,} fixes in {build_s:.1f} s ({folder})", flush=True)
    if args.chunk_rows:
        settings = settings.model_copy(update={"analysis_chunk_rows": args.chunk_rows})
    last = first + timedelta(days=args.days - 1)
    now = datetime.combine(last + timedelta(days=2), datetime.min.time(), UTC)
    figures: dict = {
        "data": "demo day replicated (fleet copies, dates shifted), not generated per day",
        "days": args.days,
        "trucks": 12 * args.fleet,
        "fixes": fixes,
        "roads": not args.no_roads,
        "chunk_rows": settings.analysis_chunk_rows,
        "cpu_count": os.cpu_count(),
        "build_s": round(build_s, 1),
        "runs": {},
    }

    store = PointStore(settings.points_dir, timezone=TZ)
    start, end = day_bounds(first, last, ZoneInfo(TZ))
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        parcel = ContextParcel(
            *context_parts(session, first, last, span_projector(store, start, end), settings)
        )
    engine.dispose()
    figures["context_shipped_mb"] = round(len(pickle.dumps(parcel)) / 1e6, 1)
    del parcel

    inline = settings.model_copy(update={"analysis_scheduler": "inline"})
    with tempfile.TemporaryFile() as spool:
        with PeakRss() as peak:
            reference, seconds, cpu = engine_run(inline, first, last, now, spool)
        reference_legs = spooled_legs(spool)
    fixes = figures["fixes"] = reference.points_read  # of the days run (a kept month may hold more)
    figures["runs"]["inline"] = {
        "seconds": round(seconds, 1),
        "cpu_s": round(cpu, 1),
        "fixes_per_s": round(fixes / seconds),
        "fixes_per_cpu_s": round(fixes / cpu),
        "peak_rss_mb": round(peak.peak / 1e6),
        "flags": len(reference.flags),
        "legs": len(reference_legs),
        "tasks_timings_s": {k: round(v, 1) for k, v in reference.timings.items()},
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    print(f"inline: {json.dumps(figures['runs']['inline'])}", flush=True)

    for workers in args.workers:
        with local_cluster(workers) as client:
            on_dask = settings.model_copy(update={"analysis_scheduler": client.scheduler.address})
            before = sum(client.run(_worker_cpu_s).values())
            with tempfile.TemporaryFile() as spool:
                with PeakRss() as peak:
                    report, seconds, cpu = engine_run(on_dask, first, last, now, spool)
                legs = spooled_legs(spool)
            cpu += sum(client.run(_worker_cpu_s).values()) - before
            peaks = client.run(_peak_rss_bytes)
            run = {
                "seconds": round(seconds, 1),
                "cpu_s": round(cpu, 1),  # the coordinator's and the workers'
                "fixes_per_s": round(fixes / seconds),
                "fixes_per_cpu_s": round(fixes / cpu),
                # above its RSS at the start: this process also holds the inline run's flags
                # and legs (the reference), which a coordinator of its own would not
                "coordinator_rise_mb": round((peak.peak - peak.start) / 1e6),
                "worker_peak_rss_mb": sorted(round(v / 1e6) for v in peaks.values()),
                "same_flags": flag_rows(report) == flag_rows(reference),
                "same_legs": legs == reference_legs,
                "load_avg_1min": round(os.getloadavg()[0], 2),
            }
            if workers == 2:
                began = perf_counter()
                engine = make_engine(settings.database_url)
                with Session(engine) as session, PeakRss() as peak:
                    written = analyse_days(session, store, first, last, on_dask, now=now)
                engine.dispose()
                run["analyse_days_with_write_s"] = round(perf_counter() - began, 1)
                run["analyse_days_coordinator_rise_mb"] = round((peak.peak - peak.start) / 1e6)
                run["flags_stored"] = written.stored
        figures["runs"][f"dask_{workers}"] = run
        print(f"dask {workers}: {json.dumps(run)}", flush=True)

    if sorted(args.workers) != [1, 2]:
        figures["load_avg_1min"] = round(os.getloadavg()[0], 2)
        print(json.dumps(figures, ensure_ascii=False))
        return
    # Warm-up of a fresh worker: a one-vehicle, one-day run on it, minus the same run again.
    one_day = settings.model_copy(update={"analysis_chunk_rows": 1})
    with local_cluster(1) as client:
        tiny_store = Path(folder / "tiny")
        shutil.rmtree(tiny_store, ignore_errors=True)
        day_start, day_end = day_bounds(first, first, ZoneInfo(TZ))
        one = store.read(
            day_start, day_end, vehicles=[store.vehicle_counts(day_start, day_end)["vehicle"][0]]
        )
        PointStore(tiny_store / "points", timezone=TZ).append(one)
        tiny = one_day.model_copy(
            update={"analysis_scheduler": client.scheduler.address, "data_dir": tiny_store}
        )
        cold = engine_run(tiny, first, first, now)[1]
        warm = engine_run(tiny, first, first, now)[1]
    here = engine_run(tiny.model_copy(update={"analysis_scheduler": "inline"}), first, first, now)[
        1
    ]
    figures["one_vehicle_day_s"] = {
        "fresh_worker": round(cold, 2),
        "same_worker_again": round(warm, 2),
        "inline": round(here, 2),
    }
    figures["worker_warmup_s"] = round(cold - warm, 2)
    print(f"one vehicle-day: fresh worker {cold:.2f} s, again {warm:.2f} s, inline {here:.2f} s")

    one_worker, two_workers = figures["runs"]["dask_1"], figures["runs"]["dask_2"]
    figures["speedup_2_over_1"] = round(one_worker["seconds"] / two_workers["seconds"], 2)
    figures["same_flags_everywhere"] = one_worker["same_flags"] and two_workers["same_flags"]
    figures["load_avg_1min"] = round(os.getloadavg()[0], 2)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
