"""Road benchmark: map-matching accuracy on the Kubicka tracks, matching speed on Panyu
side by side with LeuvenMapMatching, and route proposals across Panyu.

Run: ``.venv/bin/python benchmarks/bench_roads.py [--quick]``. One thread; rates are per
core. Needs ../shared/data (Kubicka tracks, Panyu tables); LeuvenMapMatching and rtree
(the ``bench`` extra) for the comparison, else it reports ``skipped``. The last line
printed is one JSON object with every figure.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from time import perf_counter  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cdw.roads import _kernels as k  # noqa: E402
from cdw.roads.matching import MapMatcher, MatchParams  # noqa: E402
from cdw.roads.network import RoadNetwork  # noqa: E402
from cdw.roads.routing import propose_routes  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
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
        net = RoadNetwork.from_kubicka(folder)
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


def simulate_tracks(
    net: RoadNetwork, n_tracks: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Trucks driving shortest paths between random nodes, a fix every 10-30 s, 10 m
    noise: ``(x, y, driven arcs)`` per track."""
    workspace = k.new_workspace(net.n_nodes, net.n_edges)
    dist, pred, settled, _, _, touched = workspace
    tracks = []
    speed = np.minimum(net.edge_speed_kmh, TRUCK_KMH) / 3.6
    while len(tracks) < n_tracks:
        source, target = rng.integers(0, net.n_nodes, 2)
        n_touched = k.dijkstra(net.out_start, net.out_edges, net.edge_to, net.edge_length_m,
                               np.array([source]), np.zeros(1), np.array([target]),
                               np.array([np.inf]), 20_000.0, *workspace)  # fmt: skip
        found = settled[target] and dist[target] > 3_000.0
        edges = k.path_edges(pred, net.edge_from, int(target)) if found else None
        k.reset_workspace(touched[:n_touched], dist, pred, settled)
        if edges is None:
            continue
        nodes = np.concatenate((net.edge_from[edges[:1]], net.edge_to[edges]))
        t_nodes = np.concatenate(([0.0], np.cumsum(net.edge_length_m[edges] / speed[edges])))
        t_fix = np.cumsum(rng.uniform(10.0, 30.0, int(t_nodes[-1] / 10) + 2))
        t_fix = np.concatenate(([0.0], t_fix[t_fix < t_nodes[-1]]))
        x = np.interp(t_fix, t_nodes, net.node_x[nodes]) + rng.normal(0, NOISE_M, t_fix.size)
        y = np.interp(t_fix, t_nodes, net.node_y[nodes]) + rng.normal(0, NOISE_M, t_fix.size)
        tracks.append((x, y, edges))
    return tracks


# LeuvenMapMatching settings that carry its DistanceMatcher through every track here (fixes
# 10-30 s apart over 45 m arcs need non-emitting states, a wide lattice, no early pruning).
LEUVEN = {"max_dist": 300, "max_dist_init": 60, "min_prob_norm": None, "max_lattice_width": 16,
          "dist_noise": 50, "non_emitting_length_factor": 0.95, "non_emitting_states": True}  # fmt: skip


def leuven_match(net: RoadNetwork, tracks: list, budget_s: float) -> dict[str, Any]:
    """LeuvenMapMatching's DistanceMatcher on the same network (projected metres) and tracks,
    until ``budget_s`` of matching time is spent."""
    try:
        from leuvenmapmatching.map.inmem import InMemMap
        from leuvenmapmatching.matcher.distance import DistanceMatcher
    except ImportError as exc:
        return {"skipped": f"LeuvenMapMatching not installed: {exc}"}
    start = perf_counter()
    graph = InMemMap("panyu", use_latlon=False, use_rtree=True, index_edges=True)
    for i in range(net.n_nodes):
        graph.add_node(i, (float(net.node_y[i]), float(net.node_x[i])))
    for u, v in zip(net.edge_from.tolist(), net.edge_to.tolist(), strict=True):
        graph.add_edge(u, v)
    graph.purge()
    build_s = perf_counter() - start
    arc_of = {(u, v): e for e, (u, v) in enumerate(zip(net.edge_from.tolist(), net.edge_to.tolist(), strict=True))}  # fmt: skip
    points = reached = n_tracks = 0
    spent = 0.0
    totals = [0.0, 0.0, 0.0]
    for x, y, truth in tracks:
        matcher = DistanceMatcher(graph, obs_noise=NOISE_M, obs_noise_ne=2 * NOISE_M, **LEUVEN)
        t0 = perf_counter()
        _, last = matcher.match(list(zip(y.tolist(), x.tolist(), strict=True)))
        spent += perf_counter() - t0
        nodes = matcher.path_pred_onlynodes
        pairs = zip(nodes, nodes[1:], strict=False)
        matched = np.array([arc_of[p] for p in pairs if p in arc_of], np.int64)
        for t, v in enumerate(route_scores(net.edge_length_m, truth, matched)):
            totals[t] += v
        points += x.size
        reached += last + 1
        n_tracks += 1
        if spent > budget_s:
            break
    return {"settings": LEUVEN, "build_s": round(build_s, 2), "tracks": n_tracks,
            "points": points, "points_reached": reached, "seconds": round(spent, 3),
            "points_per_s": round(points / spent, 1), **shares(*totals)}  # fmt: skip


def panyu(
    n_tracks: int, leuven_budget_s: float, n_routes: int, rng: np.random.Generator
) -> dict[str, Any]:
    folder = DATA / "guangzhou-panyu-osm-roadnet"
    start = perf_counter()
    net = RoadNetwork.from_parquet_tables(folder / "nodes.parquet", folder / "edges.parquet")
    parse_s = perf_counter() - start
    cache = Path("/tmp") / "cdw-bench-panyu.npz"
    net.save(cache)
    start = perf_counter()
    net = RoadNetwork.load(cache)
    load_s = perf_counter() - start
    cache.unlink()
    tracks = simulate_tracks(net, n_tracks, rng)
    n_points = sum(x.size for x, _, _ in tracks)
    MapMatcher(net, MatchParams(sigma_m=NOISE_M))  # compile / load kernels before timing
    start = perf_counter()
    matcher = MapMatcher(net, MatchParams(sigma_m=NOISE_M))
    index_s = perf_counter() - start
    best = math.inf
    for _ in range(3):
        start = perf_counter()
        results = [matcher.match_xy(x, y) for x, y, _ in tracks]
        best = min(best, perf_counter() - start)
    totals = [0.0, 0.0, 0.0]
    for (_, _, truth), result in zip(tracks, results, strict=True):
        for t, v in enumerate(route_scores(net.edge_length_m, truth, result.path_edges)):
            totals[t] += v
    ours = {
        "tracks": len(tracks), "points": n_points, "seconds": round(best, 3),
        "points_per_s": round(n_points / best, 1),
        "unmatched_share": round(sum(int((r.edge < 0).sum()) for r in results) / n_points, 4),
        "breaks": sum(r.n_segments - 1 for r in results), **shares(*totals),
    }  # fmt: skip
    leuven = leuven_match(net, tracks, leuven_budget_s)
    if "points_per_s" in leuven:
        leuven["ratio_ours_to_leuven"] = round(ours["points_per_s"] / leuven["points_per_s"], 1)
        same = [0.0, 0.0, 0.0]  # ours on the tracks Leuven got through, for its accuracy
        for (_, _, truth), result in zip(tracks[: leuven["tracks"]], results, strict=False):
            for t, v in enumerate(route_scores(net.edge_length_m, truth, result.path_edges)):
                same[t] += v
        leuven["ours_on_these_tracks"] = shares(*same)
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
    return {
        "network": {"nodes": net.n_nodes, "edges": net.n_edges, "parse_s": round(parse_s, 2),
                    "cache_load_s": round(load_s, 3), "match_index_s": round(index_s, 3)},
        "matching": {"ours": ours, "leuven": leuven},
        "routing": {"requests": n_routes, "alternatives_asked": 3,
                    "mean_s": round(float(np.mean(times)), 3), "max_s": round(float(np.max(times)), 3),
                    "routes_found_mean": round(float(np.mean(counts)), 2)},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10 Kubicka tracks, fewer Panyu tracks"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"shared data not found at {DATA}"}))
        return
    rng = np.random.default_rng(args.seed)
    accuracy = kubicka_accuracy(10 if args.quick else None)
    print("Kubicka accuracy (share of ground-truth length matched / share of matched length wrong)")
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
    roads = panyu(
        40 if args.quick else 300, 10.0 if args.quick else 60.0, 3 if args.quick else 10, rng
    )
    ours, leuven = roads["matching"]["ours"], roads["matching"]["leuven"]
    print(f"Panyu matching: ours {ours['points_per_s']:.0f} points/s/core on {ours['points']} points "
          f"({ours['tracks']} tracks), correct {ours['correct_share']}, wrong {ours['wrong_share']}, "
          f"breaks {ours['breaks']}")  # fmt: skip
    if "skipped" in leuven:
        print(f"LeuvenMapMatching: skipped ({leuven['skipped']})")
    else:
        print(f"LeuvenMapMatching: {leuven['points_per_s']} points/s/core on {leuven['points']} points "
              f"({leuven['tracks']} tracks, {leuven['points_reached']} reached), correct "
              f"{leuven['correct_share']}, wrong {leuven['wrong_share']} (ours on these tracks: "
              f"correct {leuven['ours_on_these_tracks']['correct_share']}, wrong "
              f"{leuven['ours_on_these_tracks']['wrong_share']}); ours / Leuven = "
              f"{leuven['ratio_ours_to_leuven']}x")  # fmt: skip
    print(
        f"Panyu routes + 3 alternatives: mean {roads['routing']['mean_s']} s, max {roads['routing']['max_s']} s"
    )
    accuracy_short = {key: value for key, value in accuracy.items() if key != "per_track"}
    print(json.dumps({"kubicka": accuracy_short, "kubicka_per_track": accuracy["per_track"], "panyu": roads,
                      "quick": args.quick}, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
