"""The engine over a range of days in bounded memory, in this process or on a Dask cluster.

A run is planned as tasks: groups of whole vehicles over the whole range, each of at most
``Settings.analysis_chunk_rows`` stored points (``PointStore.vehicle_counts``; a vehicle with
more is a task alone), laid along the store's vehicle buckets (``plan_tasks``) so that a task
reads the files of one bucket, or of a few small ones, not every bucket's. Nothing in the pipeline looks across vehicles (cleaning keys on
vehicle and time, tracks and trips are per vehicle, every check reads one trip of one track
and the shared context), so the tasks' results merged are the whole-frame run's. The run has
one projector (``span_projector``: the zone ``projector_for`` gives the whole frame, from the
files' footers or a streaming pass over the span) and one context for every task.

A task reads its vehicles (``PointStore.read(vehicles=…)``), runs ``run_pipeline`` and returns
its flags, loaded legs and counts; the caller (``cdw.flows.day``) takes each result as its
task ends, keeps the flags and hands the legs on (``merge_results``: the coordinator's memory
does not grow with the range's legs), and writes the flags and legs once, in its own
transaction.

Where the tasks run (``Settings.analysis_scheduler``): ``inline`` (or unset) in this process,
one after the other; ``local``: a Dask ``LocalCluster`` of one single-threaded worker process
per core (``analysis_workers``), forked from a fork server that has loaded the engine once
(``local_cluster``); ``tcp://host:port``: a running Dask scheduler (docs/cluster.md);
``auto``: local when the run has more than one task and at least
``analysis_local_min_points`` points, else inline (``auto_scheduler``). On Dask each task is one
Dask task; workers open the store from its root (a path every worker sees, or a URL); only the
small results come back. The context goes as its road network unbuilt (``ContextParcel``; the
coordinator never builds the matcher): to a running scheduler's workers once each, which
build it; to a local cluster in a file (``ContextFile``) that the fork server builds once
before it forks the workers, which start with it (``cdw.flows.worker_start``).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

import polars as pl

from cdw.config import SCHEDULER_PATTERN
from cdw.errors import CdwError, Problem, ValidationFailed
from cdw.flags.values import Flag
from cdw.geo.projection import Projector
from cdw.manifests.reconcile import TripFacts, trip_facts
from cdw.roads.matching import MatchParams
from cdw.roads.network import RoadNetwork
from cdw.roads.services import Roads
from cdw.tracking.analysis import projector_for_bounds, projector_for_scan
from cdw.tracking.context import AnalysisContext
from cdw.tracking.pipeline import CHECKS, gc_paused, run_pipeline
from cdw.tracking.store import PointStore, vehicle_bucket

if TYPE_CHECKING:
    from distributed import Client

INLINE, LOCAL, AUTO = "inline", "local", "auto"
CONNECT_TIMEOUT_S = 10
WORKERS_TIMEOUT_S = 30
# A local cluster: its worker processes forked from a fork server that has loaded the engine
# once (``cdw.flows.worker_start``), not each started afresh to import it; its housekeeping
# made rare (by default each process wakes every 10-100 ms: statistical profiler, event-loop
# health check, memory and system monitors, for a dashboard a run does not open); and glibc's
# own memory thresholds kept: the nanny's default MALLOC_TRIM_THRESHOLD_ (64 kB), set in this
# process's environment before the fork server starts, made every worker hand freed memory
# back and fault it in again (the 86 M-point day: 2.57 M page faults against 0.81 M).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}
WORKER_PRELOAD = ["distributed", "cdw.flows.worker_start"]
# The scheduler's HTTP routes (health, metrics: it serves them with no dashboard too) on a free
# port of the loopback, not on 8787: two runs on one machine do not clash, nor warn on stderr.
LOCAL_SCHEDULER_OPTIONS = {"dashboard_address": "127.0.0.1:0"}
_FORK_SERVER = threading.Lock()  # held by the local cluster that uses it

# One engine run at a time in a process: a road matcher keeps scratch arrays (one matcher
# per thread, cdw.roads.services.Roads), and a Dask worker started with several threads
# would otherwise share one context's matcher between them.
_ENGINE = threading.Lock()


@dataclass(frozen=True)
class Task:
    """Whole vehicles over the whole span, and the points stored for them when planned."""

    vehicles: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class PickledLegs:
    """A task's loaded legs as a Dask worker sent them, still pickled (a list of
    ``TripFacts``): the coordinator writes them to its spool as they are (``cdw.flows.day``)
    rather than unpickling them and pickling them again."""

    data: bytes

    @classmethod
    def of(cls, legs: list[TripFacts] | PickledLegs) -> PickledLegs:
        """``legs`` pickled (as they are, when they came so)."""
        if isinstance(legs, PickledLegs):
            return legs
        return cls(pickle.dumps(legs, protocol=pickle.HIGHEST_PROTOCOL))

    def load(self) -> list[TripFacts]:
        legs: list[TripFacts] = pickle.loads(self.data)
        return legs


@dataclass
class TaskResult:
    """What one task found; small beside its points (these alone travel back)."""

    points_read: int
    points_kept: int
    dropped: dict[str, int]
    vehicles: int
    trips: int
    flags: list[Flag]
    legs: list[TripFacts] | PickledLegs
    timings: dict[str, float] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled in band, the legs apart: Dask's own pickling sends each leg's path array as
        # a frame of its own (a task's thousand legs then cost four times as much to send and
        # take), and the legs arrive as PickledLegs.
        rest = {k: v for k, v in vars(self).items() if k != "legs"}
        rest_data = pickle.dumps(rest, protocol=pickle.HIGHEST_PROTOCOL)
        return (_task_result, (rest_data, PickledLegs.of(self.legs).data))


def _task_result(rest: bytes, legs: bytes) -> TaskResult:
    return TaskResult(**pickle.loads(rest), legs=PickledLegs(legs))


class StoreMismatch(CdwError):
    """A task read fewer points than the plan counted: the store it sees is not the one the
    run was planned on (another path on that worker), points cannot vanish otherwise."""

    code = "store_mismatch"
    http_status = 500

    def __init__(self, root: str, planned: int, read: int):
        super().__init__(
            f"任务读取到 {read} 个轨迹点，少于计划的 {planned} 个：该节点看到的轨迹库 {root} "
            "与协调进程的不同（每个节点须能以同一路径或网址访问同一轨迹库）",
            f"a task read {read} points where {planned} were counted: the point store {root} "
            "it sees is not the coordinator's (every worker must reach the same store at the "
            "same path or URL)",
        )


class SchedulerUnavailable(CdwError):
    code = "scheduler_unavailable"
    http_status = 503


def scheduler_of(text: str | None, field: str = "scheduler") -> str:
    """``inline``, ``local``, ``auto`` or a ``tcp://host:port`` address; unset is inline."""
    value = (text or INLINE).strip()
    match = re.fullmatch(SCHEDULER_PATTERN, value)
    if match is None or (
        value.startswith("tcp://") and not 0 < int(value.rsplit(":", 1)[1]) < 65536
    ):
        raise ValidationFailed(
            [
                Problem(
                    field,
                    f"调度器应为 inline、local、auto 或 tcp://主机:端口（端口 1-65535），实际为 {text!r}",
                    "the scheduler must be inline, local, auto or tcp://host:port "
                    f"(port 1-65535), got {text!r}",
                )
            ]
        )
    return value


def plan_tasks(counts: pl.DataFrame, chunk_rows: int, buckets: int = 1) -> list[Task]:
    """Groups of whole vehicles of ``counts`` (``vehicle, rows``) of at most ``chunk_rows``
    points each, laid along the store's ``buckets`` (``vehicle_bucket``) so that a task
    reads few files: whole buckets, consecutive, as many as fit in a group; a bucket holding
    more than ``chunk_rows`` points is split alone, its vehicles in plate order, into groups
    closed once they reach an equal share (its points over the fewest groups of
    ``chunk_rows``) or when the next vehicle would overflow the chunk (a group then reads that
    bucket's files only, and the row groups of its range of plates). A vehicle with more than
    ``chunk_rows`` is a group alone."""
    counts = (
        counts.select("vehicle", "rows")
        .with_columns(vehicle_bucket(pl.col("vehicle"), buckets).alias("bucket"))
        .sort("bucket", "vehicle")
    )
    tasks: list[Task] = []
    group: list[str] = []
    rows = 0

    def close() -> None:
        nonlocal group, rows
        if group:
            tasks.append(Task(tuple(group), rows))
        group, rows = [], 0

    for bucket in counts.partition_by("bucket", maintain_order=True):
        total = int(bucket["rows"].sum())
        if rows + total > chunk_rows:
            close()  # the bucket does not fit beside the group: it starts its own
        if total <= chunk_rows:
            group.extend(bucket["vehicle"])
            rows += total
            continue
        share = -(-total // -(-total // chunk_rows))  # the fewest groups, near-equal
        for vehicle, n in bucket.select("vehicle", "rows").iter_rows():
            if group and rows + n > chunk_rows:
                close()
            group.append(vehicle)
            rows += n
            if rows >= share:
                close()
        close()  # a split bucket shares no group with the next
    close()
    return tasks


def span_projector(store: PointStore, start: datetime, end: datetime) -> Projector | None:
    """The run's projector for a span that holds points: ``projector_for`` of every point of
    the span, from the store files' footers where their extremes decide it (a city's fleet:
    one UTM zone; ``projector_for_bounds``), else from a streaming pass over the span's
    longitudes and latitudes."""
    bounds = store.coordinate_bounds(start, end)
    by_bounds = None if bounds is None else projector_for_bounds(*bounds)
    return by_bounds or projector_for_scan(store.scan(start, end, columns=["lon", "lat"]))


def store_root(store: PointStore) -> str:
    """The root a worker opens the store from: a URL as it is, a path made absolute."""
    root = store.root
    return root if isinstance(root, str) else str(Path(root).resolve())


@gc_paused()
def analyse_task(
    store: PointStore,
    start: datetime,
    end: datetime,
    task: Task,
    context: AnalysisContext,
    now: datetime,
    checks: bool,
) -> TaskResult:
    """Read the task's vehicles over the span and run the pipeline on them, the collector
    paused meanwhile as for a whole run in one process (``gc_paused``: on a Dask worker it
    resumes once the task's objects are gone, not while the pipeline's are all alive; a
    worker's collections over 24 of the 86 M-fix day's 48 tasks: 0.15 against 0.02 s)."""
    began = perf_counter()
    points = store.read(start, end, vehicles=task.vehicles)
    if points.height < task.rows:
        raise StoreMismatch(store_root(store), task.rows, points.height)
    read_s = perf_counter() - began
    with _ENGINE:
        result = run_pipeline(points, context, now, CHECKS if checks else ())
        legs = trip_facts(result, context)
    return TaskResult(
        points_read=points.height,
        points_kept=result.points_kept,
        dropped=result.cleaning.dropped,
        vehicles=len(result.tracks),
        trips=len(result.trips),
        flags=result.flags,
        legs=legs,
        timings={"read": read_s, **result.timings},
    )


def _analyse_task_on_worker(
    root: str,
    timezone: str,
    start: datetime,
    end: datetime,
    task: Task,
    context: AnalysisContext | ContextFile,
    now: datetime,
    checks: bool,
) -> TaskResult:
    """``analyse_task`` on a Dask worker: the store opened from its root."""
    if isinstance(context, ContextFile):
        context = context.context()
    return analyse_task(PointStore(root, timezone=timezone), start, end, task, context, now, checks)


@dataclass(frozen=True)
class ContextParcel:
    """An ``AnalysisContext`` unbuilt: its fields but the road network, and the network with
    the matcher's parameters. ``build()`` makes the context; sent to a Dask worker it
    unpickles as the context itself, its matcher built there, once per worker (its distance table read
    from the matcher's table cache where the worker sees that folder). The built
    matcher holds distance tables about eight times the network's size (the Panyu network:
    203 MB pickled whole, 25 MB so, ~250 MB in memory), and a coordinator that only sends the
    parcel never builds it (``cdw.flows.context.context_parts``)."""

    fields: dict[str, Any]  # every AnalysisContext field but ``roads``
    network: RoadNetwork | None = None  # in any CRS: projected by ``fields["projector"]``
    params: MatchParams | None = None
    table_cache: Path | None = None  # the matcher's distance-table cache folder

    @classmethod
    def of(cls, context: AnalysisContext) -> ContextParcel:
        """The parcel of a built context."""
        fields = {
            f.name: getattr(context, f.name)
            for f in dataclasses.fields(context)
            if f.name != "roads"
        }
        if context.roads is None:
            return cls(fields)
        matcher = context.roads.matcher
        return cls(fields, context.roads.network, matcher.params, matcher.table_cache)

    def build(self) -> AnalysisContext:
        return _unpacked_context(self.fields, self.network, self.params, self.table_cache)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpacked_context, (self.fields, self.network, self.params, self.table_cache))


def _unpacked_context(
    fields: dict[str, Any],
    network: RoadNetwork | None,
    params: MatchParams | None,
    table_cache: Path | None,
) -> AnalysisContext:
    roads = (
        None
        if network is None
        else Roads.for_projector(network, fields["projector"], params, table_cache)
    )
    return AnalysisContext(**fields, roads=roads)


# A local cluster's context file, named to its fork server in this variable (the server's
# environment is this process's when the cluster starts it).
LOCAL_CONTEXT_ENV = "CDW_LOCAL_CLUSTER_CONTEXT"
_BUILT: dict[str, AnalysisContext] = {}  # this process's context of a ContextFile, by path


@dataclass(frozen=True)
class ContextFile:
    """A run's ``ContextParcel`` pickled to a file on this machine, for a local cluster: a
    task carries the path alone. The context is built once a process (``context``): in the
    fork server before it forks the workers (``cdw.flows.worker_start``), so that each worker
    starts with it, its matcher's tables shared between them; else at a worker's first task."""

    path: str

    @classmethod
    def write(cls, parcel: ContextParcel, folder: str) -> ContextFile:
        path = os.path.join(folder, "context.pickle")
        with open(path, "wb") as out:
            pickle.dump(parcel, out, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(path)

    def context(self) -> AnalysisContext:
        built = _BUILT.get(self.path)
        if built is None:
            with open(self.path, "rb") as source:
                built = pickle.load(source)  # the parcel unpickles as its context
            _BUILT.clear()  # one run's context at a time
            _BUILT[self.path] = built
        return built


def _cdw_version() -> str:
    try:
        return metadata.version("cdw")
    except metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def local_cluster(workers: int | None, context: ContextFile | None = None) -> Iterator[Client]:
    """A ``LocalCluster`` of ``workers`` (default: cores) single-threaded worker processes,
    forked from a fork server that has loaded ``WORKER_PRELOAD`` (and built ``context``), the
    server stopped with the cluster (its workers then counted in this process's children's
    CPU time, and no process of the engine's size left behind). One at a time in a process:
    the server is shared."""
    import dask
    import distributed.utils
    from distributed import Client, LocalCluster

    with _FORK_SERVER:
        # the preload in place of distributed's own list, which imports pandas and more into
        # this process to see whether they are installed
        multiprocessing.get_context("forkserver").set_forkserver_preload(WORKER_PRELOAD)
        distributed.utils._forkserver_preload_set = True
        named = os.environ.pop(LOCAL_CONTEXT_ENV, None)
        if context is not None:
            os.environ[LOCAL_CONTEXT_ENV] = context.path
        try:
            with (
                dask.config.set(LOCAL_CLUSTER_CONFIG),
                LocalCluster(
                    n_workers=workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    scheduler_kwargs=LOCAL_SCHEDULER_OPTIONS,
                    silence_logs=logging.ERROR,
                ) as cluster,
                Client(cluster) as client,
            ):
                yield client
        finally:  # multiprocessing has no public stop; the test of local_cluster checks it
            multiprocessing.forkserver._forkserver._stop()
            os.environ.pop(LOCAL_CONTEXT_ENV, None)
            if named is not None:
                os.environ[LOCAL_CONTEXT_ENV] = named


@contextmanager
def _dask_client(
    where: str, workers: int | None, context: ContextFile | None = None
) -> Iterator[Client]:
    from distributed import Client

    if where == LOCAL:
        with local_cluster(workers, context) as client:
            yield client
        return
    try:
        client = Client(where, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnavailable(
            f"无法连接 Dask 调度器 {where}：{exc}",
            f"cannot reach the Dask scheduler {where}: {exc}",
        ) from exc
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError as exc:
            raise SchedulerUnavailable(
                f"Dask 调度器 {where} 在 {WORKERS_TIMEOUT_S} 秒内没有可用的工作节点",
                f"the Dask scheduler {where} has no worker after {WORKERS_TIMEOUT_S} s",
            ) from exc
        versions = {v for v in client.run(_cdw_version).values()}
        if versions != {_cdw_version()}:
            raise SchedulerUnavailable(
                f"工作节点的 cdw 版本 {sorted(versions)} 与本机 {_cdw_version()} 不同",
                f"workers run cdw {sorted(versions)}, this process {_cdw_version()}",
            )
        yield client


def _on_dask(
    client: Client,
    store: PointStore,
    root: str,
    start: datetime,
    end: datetime,
    tasks: list[Task],
    context: ContextParcel | ContextFile,
    now: datetime,
    checks: bool,
) -> Iterator[TaskResult]:
    """Each task's result as soon as it ends (completion order), released on the cluster as
    it is taken. A parcel is sent to each worker once; a context file's path goes with each
    task."""
    from distributed import as_completed

    run = uuid.uuid4().hex[:12]
    scattered = []
    if isinstance(context, ContextParcel):
        scattered = client.scatter([context], broadcast=True, hash=False)
    shared = scattered[0] if scattered else context
    pending = {
        client.submit(
            _analyse_task_on_worker,
            root,
            store.timezone,
            start,
            end,
            task,
            shared,
            now,
            checks,
            key=f"cdw-analysis-{run}-{i}",
            pure=False,
        )
        for i, task in enumerate(tasks)
    }
    try:
        for future in as_completed(list(pending)):
            result = future.result()
            pending.discard(future)
            del future  # the last reference: the cluster forgets the result
            yield result
    finally:
        client.cancel([*pending, *scattered])


def auto_scheduler(tasks: list[Task], workers: int | None, local_min_points: int) -> str:
    """Where ``auto`` runs ``tasks``: on a local cluster when they are more than one, there
    is more than one worker (``workers``, default: cores) and they hold at least
    ``local_min_points`` points; else in this process. Below that the cluster's fixed cost
    (a fork server, each worker's context and matcher, docs/cluster.md) is not repaid."""
    several = len(tasks) > 1 and (workers or os.cpu_count() or 1) > 1
    return LOCAL if several and sum(t.rows for t in tasks) >= local_min_points else INLINE


def run_tasks(
    store: PointStore,
    start: datetime,
    end: datetime,
    tasks: list[Task],
    context: AnalysisContext | ContextParcel,
    now: datetime,
    checks: bool,
    scheduler: str | None = None,
    workers: int | None = None,
    store_url: str | None = None,
    local_min_points: int = 0,
) -> Iterator[TaskResult]:
    """Every task's result as the task ends (in the order of ``tasks`` in this process, of
    completion on Dask), from where ``scheduler`` says (``auto``: ``auto_scheduler``); Dask
    workers open the store at ``store_url`` (default: ``store_root(store)``). A parcel is
    built here only when the tasks run here."""
    where = scheduler_of(scheduler)
    if where == AUTO:
        where = auto_scheduler(tasks, workers, local_min_points)
    if where == INLINE or not tasks:
        if isinstance(context, ContextParcel):
            context = context.build()
        for task in tasks:
            yield analyse_task(store, start, end, task, context, now, checks)
        return
    parcel = context if isinstance(context, ContextParcel) else ContextParcel.of(context)
    root = store_url or store_root(store)
    if where == LOCAL:
        with tempfile.TemporaryDirectory(prefix="cdw-context-") as folder:
            shipped = ContextFile.write(parcel, folder)
            with _dask_client(where, workers, shipped) as client:
                yield from _on_dask(client, store, root, start, end, tasks, shipped, now, checks)
        return
    with _dask_client(where, workers) as client:
        yield from _on_dask(client, store, root, start, end, tasks, parcel, now, checks)


def merge_results(
    results: Iterable[TaskResult],
    on_legs: Callable[[list[TripFacts] | PickledLegs], None] | None = None,
) -> TaskResult:
    """The tasks' results as one run's: counts summed, flags in the pipeline's order (per
    vehicle, then start, then code), legs by start, vehicle and trip; timings summed over the
    tasks (seconds of work, not of the wall clock). With ``on_legs``, each task's legs go
    there as the task's result is taken (as they came: pickled from a Dask worker) and are
    not kept (a long range's legs, each with its path, outweigh a task's points): the merged
    result then has none."""
    merged = TaskResult(0, 0, {}, 0, 0, [], [])
    legs: list[TripFacts] = []
    for r in results:
        merged.points_read += r.points_read
        merged.points_kept += r.points_kept
        merged.vehicles += r.vehicles
        merged.trips += r.trips
        merged.flags.extend(r.flags)
        if on_legs is None:
            legs.extend(r.legs.load() if isinstance(r.legs, PickledLegs) else r.legs)
        else:
            on_legs(r.legs)
        for reason, n in r.dropped.items():
            merged.dropped[reason] = merged.dropped.get(reason, 0) + n
        for stage, seconds in r.timings.items():
            merged.timings[stage] = merged.timings.get(stage, 0.0) + seconds
    merged.flags.sort(key=lambda f: (f.vehicle, f.start, f.code))
    merged.legs = sorted(legs, key=lambda t: (t.start, t.vehicle, t.trip_id))
    return merged
