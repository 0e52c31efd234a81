"""A seeded, reproducible simulated working day in Panyu, Guangzhou, as a scenario bundle.

``generate_scenario`` lays out sites, facilities, depots, hauliers, vehicles, drivers, a
water-source zone and permits beside the real Panyu OSM roads (:mod:`cdw.scenario.world`),
drives every truck through its day along real fastest paths (depot → site → loaded to the
permitted facility → back, 3–6 loads → depot), samples GPS fixes with noise, multipath
outliers and short dropouts, issues manifests and receipts as the gates would, injects
labelled violations of every DESIGN.md §3 code and labelled near misses just under each
threshold, and writes the bundle described in ``sample_tracks/README.md``. Everything is
drawn from one ``numpy.random.default_rng(seed)``: the same arguments give byte-identical
files. A city day scales: registry keys stay unique for any fleet it accepts, ``full_day``
adds each truck's parked fixes at its depot around its working day (00:00–24:00, drawn from
the truck's own generator, so the working day is unchanged), and ``trucks_per_file`` writes
the fixes a batch of trucks at a time.

What makes the day hard is what real days have: loaded legs chosen to run on motorways,
trunks and primaries (dual carriageways, frontage roads, ramps, interchanges), waits on the
fence line at every gate (GPS noise steps out and back in), fences drawn across through
roads (trucks pass through them without stopping), half of the trucks without a load
sensor (status bits 8–9 always 0), two phases of a project under one name, and multipath
fixes. Outside the labels the day is clean: speeds stay at 0.75–0.9 of the lower of the
posted limit and the truck limit, signal stops last < 60 s, dropouts < 2 min, lawful
paths keep 100 m from the zone, loaded legs follow the permit route.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from cdw.errors import Problem, ValidationFailed
from cdw.scenario.bundle import (
    BUNDLE_FILES,
    LOCAL_TZ,
    ScenarioSummary,
    iso,
    network_reference,
    track_files,
    write_bundle,
)
from cdw.scenario.drive import Driving
from cdw.scenario.fleet import Fleet, LoadedLeg
from cdw.scenario.gps import GpsSampling
from cdw.scenario.paperwork import Paperwork
from cdw.scenario.violations import Violations
from cdw.scenario.world import Place, panyu


def _check_args(
    trucks: int, noise_m: float, interval_s: float, trucks_per_file: int | None = None
) -> None:
    problems = []
    if trucks_per_file is not None and trucks_per_file < 1:
        problems.append(
            Problem(
                "trucks_per_file",
                f"每个轨迹文件的车辆数应至少为 1：{trucks_per_file}",
                f"trucks_per_file must be at least 1: {trucks_per_file}",
            )
        )
    if not 5 <= trucks <= 20_000:
        problems.append(
            Problem(
                "trucks", f"车辆数应在 5–20000 之间：{trucks}", f"trucks must be 5-20000: {trucks}"
            )
        )
    if not 0 <= noise_m <= 50:
        problems.append(
            Problem(
                "noise_m",
                f"定位噪声应在 0–50 米之间：{noise_m}",
                f"noise_m must be 0-50 m: {noise_m}",
            )
        )
    if not 5 <= interval_s <= 120:
        problems.append(
            Problem(
                "interval_s",
                f"采样间隔应在 5–120 秒之间：{interval_s}",
                f"interval_s must be 5-120 s: {interval_s}",
            )
        )
    if problems:
        raise ValidationFailed(problems)


class DayBuilder(Fleet, Violations, Driving, GpsSampling, Paperwork):
    """The state of one simulated day, built by its parts in order: the registry
    (``Fleet``), the violation plan (``Violations``), each truck's drive (``Driving``),
    its fixes (``GpsSampling``), the manifests and receipts (``Paperwork``)."""

    def __init__(
        self, trucks: int, seed: int, day: date, noise_m: float, interval_s: float
    ) -> None:
        self.n_trucks, self.seed, self.day = trucks, seed, day
        self.noise_m, self.interval_s = noise_m, interval_s
        self.rng = np.random.default_rng(seed)
        self.world = panyu()
        self.per_code = max(1, trucks // 25)
        self.truth: list[dict[str, Any]] = []
        self.loaded_legs: list[LoadedLeg] = []
        self.used_names: set[str] = set()
        self.used_credit_codes: set[str] = set()
        self.last_fix: dict[str, float] = {}  # plate -> seconds of its last fix
        self.detours = 0
        self.leg_s: dict[tuple[int, int], float] = {}  # (from node, to node) -> planned s
        self.vias_of_permit: dict[int, list[Place]] = {}


def plan_day(
    trucks: int, seed: int, day: date, noise_m: float = 10.0, interval_s: float = 15.0
) -> DayBuilder:
    """The day laid out (places, registry, permits, each truck's loads) and its violations
    assigned, before any truck drives."""
    _check_args(trucks, noise_m, interval_s)
    b = DayBuilder(trucks, seed, day, noise_m, interval_s)
    b.layout()
    b.assign()
    return b


def generate_scenario(
    out_dir: Path,
    *,
    trucks: int,
    seed: int,
    day: date,
    noise_m: float = 10.0,
    interval_s: float = 15.0,
    full_day: bool = False,
    trucks_per_file: int | None = None,
) -> ScenarioSummary:
    """Write a scenario bundle into ``out_dir`` (created; existing bundle files are replaced).

    ``full_day``: every truck reports from 00:00 to 24:00, parked at its depot before and
    after its working day (:meth:`GpsSampling.parked`). ``trucks_per_file``: the fixes go to
    ``tracks-00001.csv``, ``tracks-00002.csv``, … of that many trucks each, each written as
    soon as its trucks are driven (memory holds one file's fixes); by default one
    ``tracks.csv``."""
    _check_args(trucks, noise_m, interval_s, trucks_per_file)
    b = plan_day(trucks, seed, day, noise_m, interval_s)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in track_files(out_dir):
        stale.unlink()
    per_file = trucks_per_file or trucks
    epoch0 = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).timestamp()
    track_records: dict[str, int] = {}
    frames = []
    for truck in b.trucks:
        tape, windows = b.drive_truck(truck)
        frame = b.sample(truck, tape, windows)
        b.last_fix[truck.plate] = float(frame["t"][-1])
        frames.append(b.parked(truck, frame) if full_day else frame)
        if len(frames) == per_file or truck is b.trucks[-1]:
            name = (
                "tracks.csv"
                if trucks_per_file is None
                else f"tracks-{truck.index // per_file + 1:05d}.csv"
            )
            tracks = _as_tracks(pl.concat(frames), epoch0)
            tracks.write_csv(out_dir / name)
            track_records[name] = tracks.height
            frames = []
    manifests, receipts = b.manifests()
    truth = sorted(b.truth, key=lambda g: (g["start"], g["code"], g["plate"]))
    truth = [{**g, "start": iso(day, g["start"]), "end": iso(day, g["end"])} for g in truth]

    out_dir = Path(out_dir)
    permits = [{k: v for k, v in p.items() if not k.endswith("_index")} for p in b.permits]
    registry = {
        "sites.json": [s.record for s in b.sites],
        "facilities.json": [f.record for f in b.facilities],
        "hauliers.json": b.hauliers,
        "depots.json": [d.record for d in b.depots],
        "vehicles.json": b.vehicles,
        "drivers.json": b.drivers,
        "zones.json": [b.zone_record],
        "permits.json": permits,
        "ground_truth.json": truth,
    }
    meta = {
        "generator": "cdw.scenario",
        "format_version": 2,
        "seed": seed,
        "day": day.isoformat(),
        "trucks": trucks,
        "noise_m": noise_m,
        "interval_s": interval_s,
        "timezone": "Asia/Shanghai",
        "crs": "EPSG:4326",
        "files": [
            *(f for f in BUNDLE_FILES if f != "tracks.csv" or trucks_per_file is None),
            *(track_records if trucks_per_file is not None else ()),
        ],
    }
    if full_day:
        meta["full_day"] = True
    meta["road_network"] = network_reference(b.world.file, out_dir)
    records = write_bundle(out_dir, meta, registry, manifests, receipts) | track_records
    return ScenarioSummary(
        out_dir=out_dir,
        trucks=trucks,
        seed=seed,
        day=day,
        records=records,
        violations=dict(sorted(Counter(g["code"] for g in truth if "near_miss" not in g).items())),
        near_misses=dict(sorted(Counter(g["code"] for g in truth if "near_miss" in g).items())),
    )


def _as_tracks(frame: pl.DataFrame, epoch0: float) -> pl.DataFrame:
    """Fixes as the GPS CSV contract has them: local ISO-8601 times with their offset."""
    return frame.with_columns(
        ts=pl.from_epoch((pl.col("t") + epoch0).cast(pl.Int64))
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("Asia/Shanghai")
        .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    ).select("plate", "ts", "lon", "lat", "speed_kmh", "heading", "status", "alarm")
