"""Road benchmark: map matching on Panyu drives (before/after, beside Valhalla Meili),
accuracy on the Kubicka tracks, and route proposals across Panyu.

Run: ``.venv/bin/python benchmarks/bench_roads.py [--quick] [--baseline ../main]``. One
thread; rates are per core (CPU time). Needs ../shared/data (Kubicka tracks, Panyu
tables); pyvalhalla (its tile builder) and pyosmium for the Meili comparison, else it
reports ``skipped``. ``--baseline`` runs the same drives through another checkout's
matcher first. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from time import perf_counter, process_time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

# the cdw under test: this checkout, or the baseline's (``--baseline``, run in a subprocess)
sys.path.insert(0, os.environ.get("CDW_BENCH_CODE", str(Path(__file__).resolve().parents[1])))

from cdw.roads.matching import MapMatcher, MatchParams  # noqa: E402
from cdw.roads.network import RoadNetwork  # noqa: E402
from cdw.roads.routing import propose_routes  # noqa: E402
from cdw.roads.sources import read_kubicka, read_parquet_tables  # noqa: E402

DATA = Path(
    os.environ.get(
        "CDW_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)
INTERVALS_S = (1, 10, 30)
NOISE_M = 10.0
TRUCK_KMH = 60.0  # trucks keep below this even where the road allows more


def thin_by_time(t: np.ndarray, interval: float) -> np.ndarray:
    """Indices keeping one fix per ``interval`` seconds (the first, then each at least
    ``interval`` after the last kept)."""
    keep = []
    last = -math.inf
    for i, ti in enumerate(t):
        if ti - last >= interval:
            keep.append(i)
            last = ti
    return np.array(keep, np.int64)


def route_scores(length: np.ndarray, truth: np.ndarray, matched: np.ndarray) -> tuple[float, ...]:
    """(truth length, correctly matched length, matched length) over distinct arcs."""
    truth, matched = np.unique(truth), np.unique(matched)
    correct = np.intersect1d(truth, matched)
    return float(length[truth].sum()), float(length[correct].sum()), float(length[matched].sum())


def shares(truth_len: float, correct: float, matched_len: float) -> dict[str, float | None]:
    return {
        "correct_share": round(correct / truth_len, 4) if truth_len else None,
        "wrong_share": round((matched_len - correct) / matched_len, 4) if matched_len else None,
    }


def kubicka_accuracy(limit: int | None) -> dict[str, Any]:
    folders = sorted(p for p in (DATA / "kubicka-map-matching").iterdir() if p.is_dir())[:limit]
    totals = {s: [0.0, 0.0, 0.0] for s in INTERVALS_S}  # truth, correct, matched
    rows = []
    points = 0
    start = perf_counter()
    for folder in folders:
        net = read_kubicka(folder)
        track = np.loadtxt(folder / f"{folder.name}.track", ndmin=2)
        truth = np.loadtxt(folder / f"{folder.name}.route", dtype=np.int64, ndmin=1)
        matcher = MapMatcher(net)
        row: dict[str, Any] = {"track": folder.name, "points": int(track.shape[0])}
        for interval in INTERVALS_S:
            idx = thin_by_time(track[:, 2], interval)
            points += idx.size
            result = matcher.match(track[idx, 0], track[idx, 1])
            scores = route_scores(net.edge_length_m, truth, result.path_edges)
            for t, v in enumerate(scores):
                totals[interval][t] += v
            row.update({f"{key}_{interval}s": v for key, v in shares(*scores).items()})
        rows.append(row)
    elapsed = perf_counter() - start
    overall = {f"{s}s": shares(*scores) for s, scores in totals.items()}
    return {"tracks": len(rows), "per_track": rows, "overall": overall, "points_matched": points,
            "seconds_incl_loading": round(elapsed, 2)}  # fmt: skip


# --- Panyu drives ------------------------------------------------------------------------


def _junctions(net: RoadNetwork) -> np.ndarray:
    """Nodes where at least three roads meet."""
    pairs = np.unique(np.column_stack((np.minimum(net.edge_from, net.edge_to),
                                       np.maximum(net.edge_from, net.edge_to))), axis=0)  # fmt: skip
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    degree = np.bincount(pairs.ravel(), minlength=net.n_nodes)
    return np.flatnonzero(degree >= 3)


def simulate_drives(net: RoadNetwork, n_drives: int, rng: np.random.Generator) -> list[dict]:
    """Trucks driving the fastest path (free-flow speed capped at ``TRUCK_KMH``) between two
    random junctions 2-8 km apart, each at 75-100 % of that speed: the driven arcs, and the
    time and true position/heading/speed every second of the drive."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    speed = np.minimum(net.edge_speed_kmh, TRUCK_KMH) / 3.6
    cost = net.edge_length_m / speed
    # the fastest arc between each pair of nodes (scipy keeps one entry per pair), found
    # with scipy so that a ``--baseline`` checkout drives the very same paths
    order = np.lexsort((cost, net.edge_to, net.edge_from))
    first = np.ones(order.size, bool)
    first[1:] = (np.diff(net.edge_from[order]) != 0) | (np.diff(net.edge_to[order]) != 0)
    arcs = order[first]
    graph = csr_matrix((cost[arcs], (net.edge_from[arcs], net.edge_to[arcs])),
                       shape=(net.n_nodes, net.n_nodes))  # fmt: skip
    arc_of = {(int(u), int(v)): int(e) for u, v, e in
              zip(net.edge_from[arcs], net.edge_to[arcs], arcs, strict=True)}  # fmt: skip
    junctions = _junctions(net)
    drives: list[dict] = []
    while len(drives) < n_drives:
        source, target = junctions[rng.integers(0, junctions.size, 2)]
        gap = math.hypot(
            net.node_x[target] - net.node_x[source], net.node_y[target] - net.node_y[source]
        )
        if not 2_000.0 <= gap <= 8_000.0:
            continue
        _, pred = dijkstra(graph, indices=int(source), return_predecessors=True)
        if source == target or pred[target] < 0:
            continue
        nodes = [int(target)]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        edges = np.array([arc_of[u, v] for u, v in zip(nodes, nodes[1:], strict=False)])
        v = speed[edges] * rng.uniform(0.75, 1.0)
        nodes = np.concatenate((net.edge_from[edges[:1]], net.edge_to[edges]))
        t_nodes = np.concatenate(([0.0], np.cumsum(net.edge_length_m[edges] / v)))
        t = np.arange(0.0, t_nodes[-1], 1.0)
        arc = np.searchsorted(t_nodes, t, side="right") - 1
        dx = net.node_x[net.edge_to[edges]] - net.node_x[net.edge_from[edges]]
        dy = net.node_y[net.edge_to[edges]] - net.node_y[net.edge_from[edges]]
        drives.append({
            "edges": edges, "t": t,
            "x": np.interp(t, t_nodes, net.node_x[nodes]),
            "y": np.interp(t, t_nodes, net.node_y[nodes]),
            "heading": np.degrees(np.arctan2(dx, dy))[arc] % 360.0,
            "speed_kmh": v[arc] * 3.6, "arc": arc,
        })  # fmt: skip
    return drives


def sample(drive: dict, interval: float, rng: np.random.Generator, projector: Any) -> dict:
    """Fixes every ``interval`` s from a random start: position with Gaussian noise of
    ``NOISE_M`` per axis, heading (deg, noise 10 deg) and speed (km/h, noise 5 % + 1 km/h)
    as a GPS unit reports them (whole degrees, 0.1 km/h); ``truth``: the arcs driven from
    the first fix to the last."""
    idx = np.arange(int(rng.integers(0, interval)), drive["t"].size, int(interval))
    n = idx.size
    x = drive["x"][idx] + rng.normal(0, NOISE_M, n)
    y = drive["y"][idx] + rng.normal(0, NOISE_M, n)
    lon, lat = projector.inverse(x, y)
    speed = drive["speed_kmh"][idx] * (1 + rng.normal(0, 0.05, n)) + rng.normal(0, 1.0, n)
    first, last = drive["arc"][idx[[0, -1]]]
    return {"lon": lon, "lat": lat, "t": drive["t"][idx], "truth": drive["edges"][first : last + 1],
            "heading": np.round(drive["heading"][idx] + rng.normal(0, 10.0, n)) % 360.0,
            "speed_kmh": np.round(np.maximum(speed, 0.0), 1)}  # fmt: skip


class Scorer:
    """Coverage of a drive's true arcs by a matched path (distinct arcs, by length), and
    what lies where a true arc was missed."""

    def __init__(self, net: RoadNetwork) -> None:
        import shapely

        self.net = net
        u, v = net.edge_from, net.edge_to
        self.mid = shapely.points(
            (net.node_x[u] + net.node_x[v]) / 2, (net.node_y[u] + net.node_y[v]) / 2
        )
        self.lines = shapely.linestrings(np.stack((np.column_stack((net.node_x[u], net.node_y[u])),
                                                   np.column_stack((net.node_x[v], net.node_y[v]))), axis=1))  # fmt: skip
        self.bearing = np.arctan2(net.node_x[v] - net.node_x[u], net.node_y[v] - net.node_y[u])
        keys = u * net.n_nodes + v
        order = np.argsort(keys)
        back = v * net.n_nodes + u
        pos = np.minimum(np.searchsorted(keys[order], back), keys.size - 1)
        self.reverse = np.where(keys[order][pos] == back, order[pos], -1)

    def __call__(self, truth: np.ndarray, matched: np.ndarray) -> np.ndarray:
        """[truth m, covered m, covered-or-within-30-m m, and missed m: reverse arc matched,
        parallel road of the same class within 30 m (the other carriageway on Panyu), another
        road within 30 m, nothing within 30 m]."""
        import shapely

        net = self.net
        truth = np.unique(truth)
        matched = np.unique(matched)
        length = net.edge_length_m
        hit = np.isin(truth, matched)
        out = np.zeros(7)
        out[0] = length[truth].sum()
        out[1] = length[truth[hit]].sum()
        missed = truth[~hit]
        if missed.size == 0:
            out[2] = out[1]
            return out
        near = np.zeros(missed.size, bool)
        if matched.size:
            tree = shapely.STRtree(self.lines[matched])
            pairs = tree.query(self.mid[missed], predicate="dwithin", distance=30.0)
            near[np.unique(pairs[0])] = True
        out[2] = out[1] + length[missed[near]].sum()
        for q, e in enumerate(missed):
            if self.reverse[e] >= 0 and self.reverse[e] in matched:
                out[3] += length[e]
            elif near[q]:
                cands = matched[tree.query(self.mid[e], predicate="dwithin", distance=30.0)]
                parallel = (np.cos(self.bearing[cands] - self.bearing[e]) > math.cos(math.radians(30))) & (
                    net.edge_highway[cands] == net.edge_highway[e])  # fmt: skip
                out[4 if parallel.any() else 5] += length[e]
            else:
                out[6] += length[e]
        return out


def _takes(name: str) -> bool:
    return name in inspect.signature(MapMatcher.match).parameters


def match_drives(matcher: MapMatcher, fixes: list[dict]) -> tuple[list, float]:
    """Every track through the public ``match(lon, lat)`` (with heading, speed and time
    where the matcher takes them); CPU seconds."""
    extra = [name for name in ("t", "heading_deg", "speed_kmh") if _takes(name)]
    key = {"t": "t", "heading_deg": "heading", "speed_kmh": "speed_kmh"}
    start = process_time()
    results = [matcher.match(f["lon"], f["lat"], **{n: f[key[n]] for n in extra}) for f in fixes]
    return results, process_time() - start


def panyu_network() -> RoadNetwork:
    """The Panyu tables as the project reads them (``read_parquet_tables``: OSM ``oneway``
    was lost, so the carriageways of divided roads are made one-way the way traffic drives
    them, ``cdw.roads.divided``)."""
    folder = DATA / "guangzhou-panyu-osm-roadnet"
    return read_parquet_tables(folder / "nodes.parquet", folder / "edges.parquet")


class DriveRun:
    """The Panyu drives, sampled at 10 s and 30 s, and the matcher of the cdw this process
    imports: passes over them (CPU seconds each) and the figures of the last pass."""

    def __init__(self, n_drives: int, seed: int) -> None:
        self.net = net = panyu_network()
        rng = np.random.default_rng(seed)
        drives = simulate_drives(net, n_drives, rng)
        projector = net.projector
        self.fixes = {s: [sample(d, s, rng, projector) for d in drives] for s in INTERVALS_DRIVES}
        self.params = MatchParams(sigma_m=NOISE_M)
        start = process_time()
        self.matcher = MapMatcher(net, self.params)
        self.setup_cpu_s = process_time() - start
        match_drives(self.matcher, self.fixes[10][:5])  # compile / load kernels before timing
        self.results: dict[int, list] = {}

    def run_pass(self, interval: int) -> float:
        self.results[interval], cpu = match_drives(self.matcher, self.fixes[interval])
        return cpu

    def figures(self, interval: int) -> dict[str, Any]:
        score = Scorer(self.net)
        tracks, results = self.fixes[interval], self.results[interval]
        sums = sum(score(f["truth"], r.path_edges) for f, r in zip(tracks, results, strict=True))
        row = _figures(sums)
        row.update({"points": sum(f["lon"].size for f in tracks),
                    "broken_tracks": sum(r.n_segments > 1 for r in results),
                    "unmatched_fixes": sum(int((r.edge < 0).sum()) for r in results)})  # fmt: skip
        return row


INTERVALS_DRIVES = (10, 30)


def worker(n_drives: int, seed: int) -> None:
    """A side of the drives' A/B run, driven over stdin: ``pass S`` answers the CPU seconds
    of one pass at S s sampling, ``figures`` the figures of the last passes (one JSON
    line each)."""
    run = DriveRun(n_drives, seed)
    print(json.dumps({"ready": True, "setup_cpu_s": round(run.setup_cpu_s, 2)}), flush=True)
    for line in sys.stdin:
        word = line.split()
        if word[:1] == ["pass"]:
            print(json.dumps({"cpu_s": run.run_pass(int(word[1]))}), flush=True)
        elif word[:1] == ["figures"]:
            print(json.dumps({str(s): run.figures(s) for s in INTERVALS_DRIVES}), flush=True)
            return


class Side:
    """A worker process (``--worker``) matching the drives with the cdw at ``code``."""

    def __init__(self, code: Path, n_drives: int, seed: int) -> None:
        env = {**os.environ, "CDW_BENCH_CODE": str(code.resolve())}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--seed", str(seed), "--drives", str(n_drives)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.setup_cpu_s = self._ask(None)["setup_cpu_s"]

    def _ask(self, command: str | None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker ended (exit {self.proc.wait()})")
        return json.loads(line)

    def run_pass(self, interval: int) -> float:
        return float(self._ask(f"pass {interval}")["cpu_s"])

    def figures(self) -> dict[str, Any]:
        out = self._ask("figures")
        self.proc.wait()
        return out


def panyu_drives(
    n_drives: int, seed: int, passes: int, baseline: Path | None, valhalla: bool
) -> dict[str, Any]:
    """The matcher on Panyu drives at 10 s and 30 s, ``passes`` times, and with a
    ``baseline`` checkout the same drives through its matcher, pass for pass alternating
    with ours (which side goes first alternates too) in two worker processes; the rate is
    the median pass's, the ratio the median of the passes' ratios. Valhalla Meili on the
    same tracks, once."""
    here = Path(__file__).resolve().parents[1]
    sides = {"after": Side(Path(os.environ.get("CDW_BENCH_CODE", here)), n_drives, seed)}
    if baseline is not None:
        sides = {"before": Side(baseline, n_drives, seed), **sides}
    cpu: dict[str, dict[int, list[float]]] = {n: {s: [] for s in INTERVALS_DRIVES} for n in sides}
    for p in range(passes):
        for s in INTERVALS_DRIVES:
            names = list(sides) if p % 2 == 0 else list(sides)[::-1]
            for name in names:
                cpu[name][s].append(sides[name].run_pass(s))
    out: dict[str, Any] = {"drives": n_drives, "passes": passes,
                           "matcher_params": {f: getattr(MatchParams(sigma_m=NOISE_M), f)
                                              for f in MatchParams.__dataclass_fields__}}  # fmt: skip
    for name, side in sides.items():
        figures = side.figures()
        for s in INTERVALS_DRIVES:
            row = figures[str(s)]
            spent = cpu[name][s]
            row["cpu_s"] = round(float(np.median(spent)), 3)
            row["points_per_cpu_s"] = round(row["points"] / float(np.median(spent)))
            row["points_per_cpu_s_passes"] = [round(row["points"] / c) for c in spent]
        out[name] = {"drives": n_drives, "matcher_setup_cpu_s": side.setup_cpu_s,
                     **{f"{s}s": figures[str(s)] for s in INTERVALS_DRIVES}}  # fmt: skip
    if baseline is not None:
        out["speed_after_over_before"] = {
            f"{s}s": round(float(np.median(np.divide(cpu["before"][s], cpu["after"][s]))), 3)
            for s in INTERVALS_DRIVES
        }
    if valhalla:
        from valhalla_side import meili_side_by_side

        net = panyu_network()
        rng = np.random.default_rng(seed)
        drives = simulate_drives(net, n_drives, rng)
        fixes = {s: [sample(d, s, rng, net.projector) for d in drives] for s in INTERVALS_DRIVES}
        score = Scorer(net)
        for s, tracks in fixes.items():
            row = out["after"][f"{s}s"]
            meili = meili_side_by_side(net, tracks, NOISE_M)
            if "arcs" in meili:
                vsums = sum(
                    score(f["truth"], a) for f, a in zip(tracks, meili.pop("arcs"), strict=True)
                )
                meili.update(_figures(vsums))
                meili["points_per_cpu_s"] = round(row["points"] / meili.pop("cpu_s"))
                meili["coverage_ours_over_valhalla"] = round(row["coverage"] / meili["coverage"], 4)
                meili["speed_ours_over_valhalla"] = round(
                    row["points_per_cpu_s"] / meili["points_per_cpu_s"], 1
                )
            row["valhalla"] = meili
    return out


def _figures(sums: np.ndarray) -> dict[str, float]:
    truth = sums[0]
    return {"coverage": round(sums[1] / truth, 4), "coverage_within_30m": round(sums[2] / truth, 4),
            "missed_reverse_arc": round(sums[3] / truth, 4),
            "missed_parallel_same_class_30m": round(sums[4] / truth, 4),
            "missed_other_road_30m": round(sums[5] / truth, 4),
            "missed_nothing_30m": round(sums[6] / truth, 4)}  # fmt: skip


def routing(n_routes: int, rng: np.random.Generator) -> dict[str, Any]:
    net = panyu_network()
    times = []
    counts = []
    propose_routes(net, (113.30, 23.05), (113.50, 22.90), alternatives=3)  # warm
    for _ in range(n_routes):
        a, b = rng.integers(0, net.n_nodes, 2)
        origin = (float(net.node_lon[a]), float(net.node_lat[a]))
        destination = (float(net.node_lon[b]), float(net.node_lat[b]))
        start = perf_counter()
        routes = propose_routes(net, origin, destination, alternatives=3)
        times.append(perf_counter() - start)
        counts.append(len(routes))
    return {"requests": n_routes, "alternatives_asked": 3,
            "mean_s": round(float(np.mean(times)), 3), "max_s": round(float(np.max(times)), 3),
            "routes_found_mean": round(float(np.mean(counts)), 2)}  # fmt: skip


def _print_drives(label: str, figures: dict[str, Any]) -> None:
    for s in ("10s", "30s"):
        f = figures[s]
        passes = ", ".join(str(r) for r in f["points_per_cpu_s_passes"])
        print(f"{label} {s}: coverage {f['coverage']:.4f}, within 30 m {f['coverage_within_30m']:.4f}, "
              f"broken tracks {f['broken_tracks']}/{figures['drives']}, {f['points_per_cpu_s']} points/CPU-s "
              f"(median; passes {passes}); missed: reverse arc {f['missed_reverse_arc']}, parallel "
              f"same-class road (other carriageway) {f['missed_parallel_same_class_30m']}, other road "
              f"within 30 m {f['missed_other_road_30m']}, nothing within 30 m {f['missed_nothing_30m']}")  # fmt: skip
        v = f.get("valhalla")
        if v and "skipped" in v:
            print(f"  Valhalla Meili {s}: skipped ({v['skipped']})")
        elif v:
            print(f"  Valhalla Meili {s}: coverage {v['coverage']:.4f}, within 30 m {v['coverage_within_30m']:.4f}, "
                  f"{v['points_per_cpu_s']} points/CPU-s (tiles built in {v['tiles_s']} s); ours / Valhalla: "
                  f"coverage {v['coverage_ours_over_valhalla']}x, speed {v['speed_ours_over_valhalla']}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 Kubicka tracks, 40 drives")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drives", type=int, default=200, help="Panyu drives (default 200)")
    parser.add_argument(
        "--baseline", type=Path, help="a checkout whose matcher gives the before figures"
    )
    parser.add_argument(
        "--passes", type=int, default=5,
        help="timed passes over the drives per side and interval, alternating (default 5)",
    )  # fmt: skip
    parser.add_argument("--no-valhalla", action="store_true", help="skip Valhalla Meili")
    parser.add_argument(
        "--drives-only", action="store_true", help="only the Panyu drives (no Kubicka, routing)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"shared data not found at {DATA}"}))
        return
    n_drives = 40 if args.quick else args.drives
    if args.worker:  # one side of the drives, in a process importing that side's cdw
        worker(n_drives, args.seed)
        return
    drives = panyu_drives(n_drives, args.seed, max(1, args.passes), args.baseline,
                          valhalla=not args.no_valhalla)  # fmt: skip
    if args.baseline:
        _print_drives(f"Panyu drives BEFORE ({args.baseline})", drives["before"])
    _print_drives("Panyu drives AFTER", drives["after"])
    if args.baseline:
        ratio = drives["speed_after_over_before"]
        print(f"speed after / before (median of the passes' ratios): 10 s {ratio['10s']}x, "
              f"30 s {ratio['30s']}x")  # fmt: skip
    report: dict[str, Any] = {"panyu_drives": drives, "quick": args.quick}
    if not args.drives_only:
        rng = np.random.default_rng(args.seed)
        accuracy = kubicka_accuracy(10 if args.quick else None)
        print(
            "Kubicka accuracy (share of ground-truth length matched / share of matched length wrong)"
        )
        print(
            f"{'track':>10} {'points':>7} "
            + " ".join(f"{f'{s}s ok':>8} {f'{s}s bad':>8}" for s in INTERVALS_S)
        )
        for row in accuracy["per_track"]:
            cells = " ".join(
                f"{row[f'correct_share_{s}s']:>8.3f} {row[f'wrong_share_{s}s']:>8.3f}"
                for s in INTERVALS_S
            )
            print(f"{row['track']:>10} {row['points']:>7} {cells}")
        for s, o in accuracy["overall"].items():
            print(f"overall {s}: correct {o['correct_share']:.4f}, wrong {o['wrong_share']:.4f}")
        routes = routing(3 if args.quick else 10, rng)
        print(f"Panyu routes + 3 alternatives: mean {routes['mean_s']} s, max {routes['max_s']} s")
        report["kubicka"] = {key: value for key, value in accuracy.items() if key != "per_track"}
        report["kubicka_per_track"] = accuracy["per_track"]
        report["routing"] = routes
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
