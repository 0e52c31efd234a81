"""The analysis run in vehicle groups (``cdw.flows.partitioned``): the same flags, legs and
counts as one pipeline run over the whole frame, inline and on a Dask cluster; the run's one
projector, found by a streaming pass, is ``projector_for`` of the whole frame.

The world is the bundled sample day (12 trucks, every engine code) and the same day again
one day later, on SQLite, without the road network (the checks then work on geometry alone
and a run takes a tenth of a second; ``benchmarks/bench_cluster.py`` compares runs with it).
"""

from __future__ import annotations

import gc
import math
import multiprocessing.forkserver
import os
import pickle
import shutil
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cdw.bundle import ingest_tracks, load_registry
from cdw.config import Settings, day_bounds
from cdw.db import make_engine
from cdw.demo import DEFAULT_BUNDLE
from cdw.errors import ValidationFailed
from cdw.flags.models import FlagRecord
from cdw.flows import partitioned
from cdw.flows.context import load_context
from cdw.flows.day import _run, analyse_days, analysed_legs
from cdw.flows.partitioned import ContextParcel, plan_tasks, scheduler_of, span_projector
from cdw.geo.projection import Projector
from cdw.manifests.reconcile import trip_facts
from cdw.roads.services import Roads
from cdw.tracking.analysis import projector_for, projector_for_bounds, projector_for_scan
from cdw.tracking.context import AnalysisContext, Zone
from cdw.tracking.pipeline import run_pipeline
from cdw.tracking.points import conform
from cdw.tracking.store import PointStore, vehicle_bucket
from tests.roads.handbuilt import X0, Y0, grid

DAY = date(2026, 11, 20)
LAST = DAY + timedelta(days=1)
NOW = datetime(2026, 11, 23, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not DEFAULT_BUNDLE.is_dir(), reason=f"sample bundle missing: {DEFAULT_BUNDLE}"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory, sqlite_template: Path) -> tuple[Engine, PointStore, Settings]:
    folder = tmp_path_factory.mktemp("partitioned")
    shutil.copyfile(sqlite_template, folder / "cdw.db")
    settings = Settings(database_url=f"sqlite:///{folder / 'cdw.db'}", data_dir=folder)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        load_registry(session, DEFAULT_BUNDLE)
        session.commit()
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    ingest_tracks(DEFAULT_BUNDLE, store, {})
    start, end = day_bounds(DAY, DAY, ZoneInfo(settings.local_timezone))
    store.append(store.read(start, end).with_columns(pl.col("ts") + timedelta(days=1)))
    yield engine, store, settings
    engine.dispose()


def whole_frame_run(session: Session, store: PointStore, settings: Settings):
    """The run as it was before partitions: every point of the days in one pipeline run."""
    start, end = day_bounds(DAY, LAST, ZoneInfo(settings.local_timezone))
    points = store.read(start, end)
    context = load_context(session, DAY, LAST, projector_for(points), settings)
    result = run_pipeline(points, context, NOW)
    legs = sorted(trip_facts(result, context), key=lambda t: (t.start, t.vehicle, t.trip_id))
    return points, result, legs


def flag_dicts(flags) -> list[dict]:
    return [f.as_dict() for f in flags]


@pytest.mark.parametrize("chunk_rows", [1, 9_000])
def test_vehicle_groups_give_the_whole_frame_run(world, chunk_rows, monkeypatch):
    engine, store, settings = world
    runs: list[int] = []
    run = partitioned.run_pipeline
    monkeypatch.setattr(
        partitioned,
        "run_pipeline",
        lambda points, *a: runs.append(points.height) or run(points, *a),
    )
    with Session(engine) as session:
        points, whole, whole_legs = whole_frame_run(session, store, settings)
        grouped = settings.model_copy(update={"analysis_chunk_rows": chunk_rows})
        report, legs = _run(session, store, DAY, LAST, grouped, NOW, checks=True)
    vehicles = points["vehicle"].n_unique()
    if chunk_rows == 1:
        assert len(runs) == vehicles == 12  # one task per vehicle, over both days
    else:
        assert 1 < len(runs) < vehicles and max(runs) <= chunk_rows
    assert sum(runs) == points.height
    assert len({f.code for f in whole.flags}) >= 8 and len(whole_legs) > 10
    assert flag_dicts(report.flags) == flag_dicts(whole.flags)
    assert legs == whole_legs
    assert report.points_read == points.height
    assert report.points_kept == whole.points_kept
    assert report.dropped == whole.cleaning.dropped
    assert (report.vehicles, report.trips) == (len(whole.tracks), len(whole.trips))


def test_stored_flags_are_the_same_whatever_the_groups(world):
    engine, store, settings = world

    def stored(chunk_rows: int) -> list[tuple]:
        with Session(engine) as session:
            grouped = settings.model_copy(update={"analysis_chunk_rows": chunk_rows})
            analyse_days(session, store, DAY, LAST, grouped, now=NOW)
            rows = session.exec(select(FlagRecord).order_by(FlagRecord.id)).all()
            return [(r.code, r.vehicle, r.start_ts, r.end_ts, r.measured, r.status) for r in rows]

    whole = stored(10**8)
    assert whole and stored(1) == whole


def test_a_task_result_travels_with_its_legs_pickled_once(world):
    """A task's result from a Dask worker: its legs arrive still pickled, go to the spool as
    they came (``on_legs``), and are unpickled only where a caller keeps them."""
    engine, store, settings = world
    with Session(engine) as session:
        run, legs = _run(session, store, DAY, LAST, settings, NOW, checks=True)
    result = partitioned.TaskResult(9, 8, {"future": 1}, 2, 3, run.flags, legs, {"read": 0.5})
    arrived = pickle.loads(pickle.dumps(result))
    assert isinstance(arrived.legs, partitioned.PickledLegs) and legs
    assert arrived.legs.load() == legs
    assert flag_dicts(arrived.flags) == flag_dicts(run.flags)
    assert (arrived.points_read, arrived.dropped, arrived.timings) == (
        9,
        {"future": 1},
        {"read": 0.5},
    )
    assert pickle.loads(pickle.dumps(arrived)).legs == arrived.legs  # passed on as it came
    spooled: list = []
    assert partitioned.merge_results([arrived], spooled.append).legs == []
    assert spooled == [arrived.legs]
    assert partitioned.merge_results([arrived]).legs == legs


def test_legs_from_dask_workers_are_stored_as_inline(world):
    distributed = pytest.importorskip("distributed")
    engine, store, settings = world
    grouped = settings.model_copy(update={"analysis_chunk_rows": 6_000})

    def stored(run_settings: Settings) -> list:
        with Session(engine) as session:
            analyse_days(session, store, DAY, LAST, run_settings, now=NOW)
            return analysed_legs(session, DAY, LAST) or []

    inline = stored(grouped)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        dashboard_address=None,
        scheduler_kwargs=partitioned.LOCAL_SCHEDULER_OPTIONS,
    ) as cluster:
        on_dask = stored(
            grouped.model_copy(update={"analysis_scheduler": cluster.scheduler_address})
        )
    assert inline and on_dask == inline


def _task_threads(monkeypatch) -> list[str]:
    """The names of the threads the analysis tasks run on, appended as each task starts."""
    threads: list[str] = []
    task = partitioned.analyse_task
    monkeypatch.setattr(
        partitioned,
        "analyse_task",
        lambda *a: threads.append(threading.current_thread().name) or task(*a),
    )
    return threads


def test_a_dask_cluster_finds_the_inline_flags(world, monkeypatch, tmp_path):
    distributed = pytest.importorskip("distributed")
    engine, store, settings = world
    grouped = settings.model_copy(update={"analysis_chunk_rows": 6_000})
    threads = _task_threads(monkeypatch)
    with Session(engine) as session:
        inline, inline_legs = _run(session, store, DAY, LAST, grouped, NOW, checks=True)
        tasks = len(threads)
        threads.clear()
        with distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",  # messages serialised as between machines
            dashboard_address=None,
            scheduler_kwargs=partitioned.LOCAL_SCHEDULER_OPTIONS,
        ) as cluster:
            on_dask = grouped.model_copy(update={"analysis_scheduler": cluster.scheduler_address})
            report, legs = _run(session, store, DAY, LAST, on_dask, NOW, checks=True)
            # The workers open the store read-only by URL; at a URL with another store (none),
            # the first task's error reaches this process whole and stops the run.
            by_url = on_dask.model_copy(
                update={"analysis_store_url": f"file://{partitioned.store_root(store)}"}
            )
            url_report = _run(session, store, DAY, LAST, by_url, NOW, checks=True)[0]
            ran = list(threads)
            elsewhere = on_dask.model_copy(
                update={"analysis_store_url": f"file://{tmp_path / 'elsewhere'}"}
            )
            with pytest.raises(partitioned.StoreMismatch) as caught:
                _run(session, store, DAY, LAST, elsewhere, NOW, checks=True)
    assert "elsewhere" in caught.value.zh and "elsewhere" in caught.value.en
    assert flag_dicts(url_report.flags) == flag_dicts(inline.flags)
    assert tasks > 1 and len(ran) == 2 * tasks
    assert all("Dask-" in name for name in ran), ran
    assert flag_dicts(report.flags) == flag_dicts(inline.flags) and inline.flags
    assert legs == inline_legs
    assert (report.points_read, report.points_kept, report.dropped, report.trips) == (
        inline.points_read,
        inline.points_kept,
        inline.dropped,
        inline.trips,
    )


def test_a_local_cluster_forks_its_workers_and_finds_the_inline_flags(world, monkeypatch):
    """``auto`` from no threshold on: a local cluster whose worker processes are forked from
    the fork server (preloaded with the engine, the run's context built there), quiet, with
    glibc's own memory thresholds (not the nanny's MALLOC_TRIM_THRESHOLD_), its scheduler's
    HTTP routes on a free loopback port, and stopped with the cluster."""
    pytest.importorskip("distributed")
    import dask

    # an earlier cluster in this process may have left the nanny's setting in os.environ
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)

    engine, store, settings = world
    grouped = settings.model_copy(update={"analysis_chunk_rows": 6_000})
    seen: dict[str, object] = {}
    on_dask = partitioned._on_dask

    def spied(client, *args):
        seen["context"] = args[5]
        # before any task: what each worker found built when it was forked
        seen["built"] = set(
            client.run(lambda: tuple(sys.modules["cdw.flows.partitioned"]._BUILT)).values()
        )
        seen["frozen"] = set(client.run(gc.get_freeze_count).values())
        seen["server"] = multiprocessing.forkserver._forkserver._forkserver_pid
        with open(f"/proc/{seen['server']}/environ", "rb") as environ:
            seen["server_environ"] = environ.read().split(b"\0")
        seen["parents"] = set(client.run(os.getppid).values())
        seen["profiling"] = set(
            client.run(dask.config.get, "distributed.worker.profile.enabled").values()
        )
        http = client.cluster.scheduler.http_server
        seen["scheduler_http"] = (http.address, http.port)
        yield from on_dask(client, *args)

    monkeypatch.setattr(partitioned, "_on_dask", spied)
    local = grouped.model_copy(
        update={
            "analysis_scheduler": "auto",
            "analysis_workers": 2,
            "analysis_local_min_points": 0,
        }
    )
    with Session(engine) as session:
        inline, inline_legs = _run(session, store, DAY, LAST, grouped, NOW, checks=True)
        report, legs = _run(session, store, DAY, LAST, local, NOW, checks=True)
    assert seen["server"] is not None and seen["parents"] == {seen["server"]}
    assert isinstance(seen["context"], partitioned.ContextFile)
    assert seen["built"] == {(seen["context"].path,)}
    assert min(seen["frozen"]) > 10_000  # the engine's objects left out of collections
    assert partitioned.LOCAL_CONTEXT_ENV not in os.environ
    assert not os.path.exists(seen["context"].path)  # the run's folder removed
    assert seen["profiling"] == {False}
    # the scheduler's HTTP routes on a free port of the loopback, not 8787 for every run
    assert seen["scheduler_http"][0] == "127.0.0.1" and seen["scheduler_http"][1] != 8787
    assert not any(v.startswith(b"MALLOC_TRIM_THRESHOLD_=") for v in seen["server_environ"])
    assert multiprocessing.forkserver._forkserver._forkserver_pid is None  # stopped
    assert flag_dicts(report.flags) == flag_dicts(inline.flags) and inline.flags
    assert legs == inline_legs
    assert (report.points_read, report.points_kept, report.trips) == (
        inline.points_read,
        inline.points_kept,
        inline.trips,
    )


def test_a_task_runs_with_the_collector_paused(monkeypatch, tmp_path):
    """Wherever it runs (a Dask worker's process has it on): paused for the task, resumed
    after it, after a failure too."""
    seen = []

    def pipeline(*args):
        seen.append(gc.isenabled())
        raise RuntimeError("stop")

    monkeypatch.setattr(partitioned, "run_pipeline", pipeline)
    assert gc.isenabled()
    store = PointStore(tmp_path, timezone="Asia/Shanghai")
    with pytest.raises(RuntimeError, match="stop"):
        partitioned.analyse_task(store, NOW, NOW, partitioned.Task((), 0), None, NOW, True)
    assert seen == [False] and gc.isenabled()


def test_auto_runs_a_small_run_in_this_process(world, monkeypatch):
    """Under the default ``analysis_local_min_points`` no cluster starts, whatever the tasks."""
    engine, store, settings = world
    monkeypatch.setattr(partitioned, "local_cluster", lambda *a: pytest.fail("a cluster"))
    auto = settings.model_copy(
        update={"analysis_chunk_rows": 6_000, "analysis_scheduler": "auto", "analysis_workers": 2}
    )
    threads = _task_threads(monkeypatch)
    with Session(engine) as session:
        report = _run(session, store, DAY, LAST, auto, NOW, checks=True)[0]
    assert report.flags and len(threads) > 1
    assert set(threads) == {threading.current_thread().name}


@pytest.mark.parametrize(
    ("rows", "workers", "min_points", "where"),
    [
        ([5, 5], 2, 10, "local"),
        ([5, 5], 2, 11, "inline"),  # too few points to repay the cluster
        ([10], 2, 0, "inline"),  # one task
        ([5, 5], 1, 0, "inline"),  # one worker
        ([5, 5, 5], 3, 0, "local"),
    ],
)
def test_auto_runs_alocal_cluster_only_for_enough_points(rows, workers, min_points, where):
    tasks = [partitioned.Task((f"v{i}",), n) for i, n in enumerate(rows)]
    assert partitioned.auto_scheduler(tasks, workers, min_points) == where


def test_a_task_reading_fewer_points_than_planned_stops_the_run(world, tmp_path):
    engine, store, settings = world
    (task,) = plan_tasks(pl.DataFrame({"vehicle": ["粤A10966"], "rows": [10**6]}), 10**7)
    start, end = day_bounds(DAY, LAST, ZoneInfo(settings.local_timezone))
    with pytest.raises(partitioned.StoreMismatch, match="not the coordinator's"):
        partitioned.analyse_task(store, start, end, task, AnalysisContext(None), NOW, True)


counts_strategy = st.lists(st.integers(1, 50), max_size=30)


@given(counts_strategy, st.integers(1, 120), st.sampled_from([1, 2, 5, 16]))
@settings(max_examples=300, deadline=None)
def test_plan_groups_whole_vehicles_along_the_buckets_up_to_the_chunk(rows, chunk, buckets):
    counts = pl.DataFrame(
        {"vehicle": [f"v{i:03d}" for i in range(len(rows))], "rows": rows},
        schema={"vehicle": pl.String, "rows": pl.UInt32},
    ).sample(fraction=1.0, shuffle=True, seed=len(rows))  # any order in
    tasks = plan_tasks(counts, chunk, buckets)
    by_vehicle = dict(zip(counts["vehicle"], counts["rows"], strict=True))
    bucket_of = dict(
        zip(counts["vehicle"], vehicle_bucket(counts["vehicle"], buckets), strict=True)
    )
    in_bucket: dict[int, list[str]] = {}
    for vehicle in sorted(by_vehicle, key=lambda v: (bucket_of[v], v)):
        in_bucket.setdefault(bucket_of[vehicle], []).append(vehicle)
    bucket_rows = {b: sum(by_vehicle[v] for v in vs) for b, vs in in_bucket.items()}
    # every vehicle once, in bucket then plate order
    assert [v for t in tasks for v in t.vehicles] == [v for vs in in_bucket.values() for v in vs]
    for k, task in enumerate(tasks):
        assert task.rows == sum(by_vehicle[v] for v in task.vehicles)
        assert task.rows <= chunk or len(task.vehicles) == 1
        held = {bucket_of[v] for v in task.vehicles}
        # whole buckets that fit, or a part of one bucket that does not
        if len(held) > 1 or bucket_rows[next(iter(held))] <= chunk:
            assert all(bucket_rows[b] <= chunk for b in held)
            assert sorted(task.vehicles) == sorted(v for b in held for v in in_bucket[b])
        if k + 1 == len(tasks):
            continue
        nxt = tasks[k + 1]
        first = bucket_of[nxt.vehicles[0]]
        if first in held:  # the same bucket split: its share reached, or the chunk full
            total = bucket_rows[first]
            share = math.ceil(total / math.ceil(total / chunk))
            assert task.rows >= share or task.rows + by_vehicle[nxt.vehicles[0]] > chunk
        elif bucket_rows[first] <= chunk and all(bucket_rows[b] <= chunk for b in held):
            assert task.rows + bucket_rows[first] > chunk  # the next bucket did not fit


# Longitudes on and next to zone edges (6° apart from -180°), latitudes next to the equator.
EDGES = [-180.0 + 6 * k for k in range(61)]
lon_values = st.one_of(
    st.sampled_from(EDGES),
    st.sampled_from(EDGES).map(lambda e: float(np.nextafter(e, -np.inf))),
    st.sampled_from(EDGES).map(lambda e: float(np.nextafter(e, np.inf))),
    st.floats(-200, 200),
    st.sampled_from([np.nan, np.inf, -np.inf]),
    st.just(0.0),
    st.none(),
)
lat_values = st.one_of(
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 80.0, -80.0, 80.5]),
    st.floats(-90, 90),
    st.just(np.nan),
    st.none(),
)


@given(st.lists(st.tuples(lon_values, lat_values), max_size=40))
@settings(max_examples=400, deadline=None)
def test_the_streaming_projector_is_the_whole_frames(fixes):
    frame = pl.DataFrame(
        {"lon": [f[0] for f in fixes], "lat": [f[1] for f in fixes]},
        schema={"lon": pl.Float64, "lat": pl.Float64},
    )
    expected = projector_for(frame.with_columns(pl.all().fill_null(np.nan)))
    found = projector_for_scan(frame.lazy())
    assert (found is None) == (expected is None)
    if expected is not None:
        assert found.crs == expected.crs


def _footer_bounds(values: list[float | None]) -> tuple[float, float] | None:
    """Least and greatest value as a Parquet footer has them: nulls and NaN left out."""
    kept = [v for v in values if v is not None and not np.isnan(v)]
    return (min(kept), max(kept)) if kept else None


fleet = st.tuples(  # a fleet around one place, and a few odd fixes
    st.one_of(st.sampled_from(EDGES), st.floats(-180, 180)),
    st.floats(-80, 80),
    st.lists(st.tuples(st.floats(-0.3, 0.3), st.floats(-0.3, 0.3)), min_size=1, max_size=30),
    st.lists(st.tuples(lon_values, lat_values), max_size=2),
)


@given(fleet)
@settings(max_examples=400, deadline=None)
def test_the_projector_from_footer_bounds_is_the_whole_frames_where_they_decide(fixes):
    lon0, lat0, offsets, odd = fixes
    points = [(lon0 + dx, lat0 + dy) for dx, dy in offsets] + odd
    lon, lat = _footer_bounds([p[0] for p in points]), _footer_bounds([p[1] for p in points])
    if lon is None or lat is None:
        return
    found = projector_for_bounds(lon[0], lon[1], lat[0], lat[1])
    if found is None:
        return  # undecided: the scan tells
    frame = pl.DataFrame(
        {"lon": [p[0] for p in points], "lat": [p[1] for p in points]},
        schema={"lon": pl.Float64, "lat": pl.Float64},
    )
    expected = projector_for(frame.with_columns(pl.all().fill_null(np.nan)))
    assert expected is not None and found.crs == expected.crs


def test_bounds_decide_only_one_zone_one_hemisphere_and_no_null_island():
    assert projector_for_bounds(113.2, 113.6, 22.8, 23.1).crs.to_epsg() == 32649
    assert projector_for_bounds(113.2, 114.1, 22.8, 23.1) is None  # zones 49 and 50
    assert projector_for_bounds(113.2, 113.6, -0.1, 0.1) is None  # both hemispheres
    assert projector_for_bounds(-0.5, 0.5, 0.0, 0.5) is None  # a (0, 0) fix may be there
    assert projector_for_bounds(113.2, np.inf, 22.8, 23.1) is None
    assert projector_for_bounds(113.2, 113.6, 22.8, 80.5) is None


def test_the_span_projector_reads_footers_and_scans_when_they_do_not_decide(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    store = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    start = datetime(2026, 11, 19, 16, tzinfo=UTC)
    fixes = pl.DataFrame(
        {
            "vehicle": ["粤A00001", "粤A00001", "粤A00002"],
            "ts": [start + timedelta(minutes=m) for m in (1, 2, 3)],
            "lon": [113.3, 113.4, 113.5],
            "lat": [22.9, float("nan"), 23.0],  # a NaN is left out of the footer
        }
    )
    store.append(conform(fixes))
    assert store.coordinate_bounds(start, start + timedelta(days=1)) == (113.3, 113.5, 22.9, 23.0)
    scans: list[object] = []
    scan = partitioned.projector_for_scan
    monkeypatch.setattr(partitioned, "projector_for_scan", lambda lf: scans.append(lf) or scan(lf))
    assert span_projector(store, start, start + timedelta(days=1)).crs.to_epsg() == 32649
    assert scans == []
    store.append(
        conform(
            fixes[:1].with_columns(pl.lit(-123.1).alias("lon"), pl.col("ts") + timedelta(hours=1))
        )
    )
    assert span_projector(store, start, start + timedelta(days=1)).crs.to_epsg() == 32649
    assert len(scans) == 1  # two zones: which one holds the median is the scan's to find


def test_the_context_travels_to_a_worker_without_its_matcher_tables():
    network, _ = grid()
    projector = Projector.for_points([117.0], [31.6])
    roads = Roads.for_projector(network, projector)
    banned = LineString([(X0, Y0), (X0 + 300, Y0)])
    context = AnalysisContext(
        projector,
        restricted=[Zone(1, "禁行路", banned.buffer(20), "restricted", line=banned)],
        roads=roads,
    )
    shipped = pickle.dumps(ContextParcel.of(context))
    assert len(shipped) < len(pickle.dumps(context))
    arrived = pickle.loads(shipped)
    assert isinstance(arrived, AnalysisContext) and arrived.roads is not roads
    assert arrived.projector.crs == projector.crs
    np.testing.assert_array_equal(arrived.banned_edges(0), context.banned_edges(0))
    x = X0 + np.array([5.0, 60.0, 120.0, 180.0, 250.0, 290.0])
    y = Y0 + np.array([3.0, -4.0, 2.0, 5.0, -3.0, 1.0])
    expected, got = roads.match(x, y), arrived.roads.match(x, y)
    assert (expected.edge >= 0).all()
    np.testing.assert_array_equal(got.edge, expected.edge)
    np.testing.assert_array_equal(got.offset_m, expected.offset_m)
    np.testing.assert_array_equal(got.path_edges, expected.path_edges)


@pytest.mark.parametrize(
    "text", ["bogus", "tcp://host", "http://h:8786", "tcp://h:0", "tcp://h:70000", "tcp://:8786"]
)
def test_a_bad_scheduler_is_refused_in_both_languages(text):
    with pytest.raises(ValidationFailed) as caught:
        scheduler_of(text, "--scheduler")
    (problem,) = caught.value.problems
    assert problem.field == "--scheduler" and "调度器" in problem.zh
    assert "tcp://host:port" in problem.en and repr(text) in problem.en


@pytest.mark.parametrize(
    "text", [None, "inline", "local", "auto", "tcp://10.0.0.5:8786", "tcp://[::1]:8786"]
)
def test_good_schedulers_pass(text):
    assert scheduler_of(text) == (text or "inline")


def test_the_cli_refuses_a_bad_scheduler_before_running(world, monkeypatch):
    from cdw.cli import analyse as analyse_cli
    from cdw.flows import day as day_flow

    engine, store, settings = world
    ran = []
    monkeypatch.setattr(day_flow, "analyse_days", lambda *a, **kw: ran.append(1))
    cli = __import__("typer").Typer()
    cli.command()(analyse_cli.analyse_command)
    result = CliRunner().invoke(cli, ["--date", DAY.isoformat(), "--scheduler", "tcp://nohost"])
    assert result.exit_code == 1 and not ran
    assert "调度器" in result.output and "tcp://host:port" in result.output


def test_the_fork_server_builds_a_context_file_once_with_its_road_indexes(tmp_path, caplog):
    from cdw.flows.worker_start import prebuild

    network, _ = grid()
    projector = Projector.for_points([117.0], [31.6])
    context = AnalysisContext(projector, roads=Roads.for_projector(network, projector))
    shipped = partitioned.ContextFile.write(ContextParcel.of(context), str(tmp_path))
    prebuild(shipped.path)
    built = shipped.context()
    assert {shipped.path: built} == partitioned._BUILT and built.roads is not context.roads
    assert built.roads._posted is not None and built.roads._edge_index is not None
    assert shipped.context() is built  # each task of the process: the same context
    caplog.clear()
    prebuild(str(tmp_path / "missing.pickle"))  # logged: the workers build it themselves
    assert "could not be built ahead" in caplog.text
    assert {shipped.path: built} == partitioned._BUILT
    partitioned._BUILT.clear()


def test_the_fork_server_loads_the_kernels_numba_cached_for_this_machine():
    """``load_cached_kernels`` in a new process: a kernel the cache holds is loaded without
    a call (a first call would only look it up)."""
    import subprocess

    from cdw.tracking._clean_kernels import any_repeat

    assert any_repeat(np.array([3, 1, 3], np.int64)) is False  # its signature cached now
    code = (
        "from cdw.flows.worker_start import load_cached_kernels\n"
        "from cdw.tracking._clean_kernels import any_repeat\n"
        "before = len(any_repeat.overloads)\n"
        "print(before, load_cached_kernels(), len(any_repeat.overloads))\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    before, loaded, after = map(int, printed)
    assert before == 0 and loaded >= 1 and after >= 1


def test_a_parcel_builds_its_matcher_only_where_it_arrives(monkeypatch):
    """The coordinator sends the network as loaded (not projected, no matcher): the worker
    projects it and builds the matcher, and gets the context built from a built network."""
    from cdw.roads import services

    network, _ = grid()
    projector = Projector.for_points([117.0], [31.6])
    banned = LineString([(X0, Y0), (X0 + 300, Y0)])
    built_here = AnalysisContext(
        projector,
        restricted=[Zone(1, "禁行路", banned.buffer(20), "restricted", line=banned)],
        roads=Roads.for_projector(network, projector),
    )
    matchers: list[int] = []
    real = services.MapMatcher
    monkeypatch.setattr(services, "MapMatcher", lambda *a: matchers.append(1) or real(*a))
    parcel = ContextParcel(ContextParcel.of(built_here).fields, network)
    shipped = pickle.dumps(parcel)
    assert matchers == []
    arrived = pickle.loads(shipped)
    assert matchers == [1] and arrived.roads.network.crs == projector.crs.to_string()
    np.testing.assert_array_equal(arrived.banned_edges(0), built_here.banned_edges(0))
    x = X0 + np.array([5.0, 60.0, 120.0, 180.0, 250.0, 290.0])
    y = Y0 + np.array([3.0, -4.0, 2.0, 5.0, -3.0, 1.0])
    np.testing.assert_array_equal(arrived.roads.match(x, y).edge, built_here.roads.match(x, y).edge)
