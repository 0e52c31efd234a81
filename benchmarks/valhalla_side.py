"""Valhalla Meili beside cdw's matcher in ``bench_roads.py``, on the same network.

We have no OSM extract of the network, only its tables, so the network is written out as
an ``.osm.pbf`` (pyosmium): one way per road (both arcs of a two-way road, or one arc of
a one-way road) with its ``highway`` class, then tiled by ``valhalla_build_tiles`` from
the ``pyvalhalla`` wheel (``pyvalhalla-weekly`` ships the executables; ``pyvalhalla``
3.9.1 is a source package and 3.2.0 has no tile builder). Way ``i`` is road ``i``, so
Meili's matched edges map back onto our arcs by way id and the direction they are drawn in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import numpy as np

from cdw.roads.network import RoadNetwork


def _roads(net: RoadNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per road: its first arc, its reverse arc (-1 for one way), one-way flag."""
    keys = net.edge_from * net.n_nodes + net.edge_to
    back = net.edge_to * net.n_nodes + net.edge_from
    order = np.argsort(keys)
    pos = np.searchsorted(keys[order], back)
    pos = np.minimum(pos, keys.size - 1)
    reverse = np.where(keys[order][pos] == back, order[pos], -1)
    first = np.flatnonzero((reverse < 0) | (np.arange(keys.size) < reverse))
    return first, reverse[first], reverse[first] < 0


def write_pbf(net: RoadNetwork, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The network as an OSM file; returns (first arc, reverse arc) per way id."""
    import osmium

    first, reverse, oneway = _roads(net)
    used = np.unique(np.concatenate((net.edge_from[first], net.edge_to[first])))
    with osmium.SimpleWriter(str(path)) as writer:
        for v in used.tolist():
            writer.add_node(
                osmium.osm.mutable.Node(
                    id=v + 1,
                    location=(float(net.node_lon[v]), float(net.node_lat[v])),
                    version=1,
                    visible=True,
                )  # fmt: skip
            )
        for w, e in enumerate(first.tolist()):
            tags = {"highway": net.edge_class(e)}
            if oneway[w]:
                tags["oneway"] = "yes"
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=w + 1,
                    nodes=[int(net.edge_from[e]) + 1, int(net.edge_to[e]) + 1],
                    tags=tags,
                    version=1,
                    visible=True,
                )  # fmt: skip
            )
    return first, reverse


class Meili:
    """Valhalla tiles of ``net`` in a temporary folder, and an actor for trace_attributes."""

    def __init__(self, net: RoadNetwork, sigma_m: float) -> None:
        from valhalla import Actor, get_config
        from valhalla._scripts import PYVALHALLA_BIN_DIR

        self.net = net
        self.folder = Path(tempfile.mkdtemp(prefix="cdw-valhalla-"))
        pbf = self.folder / "network.osm.pbf"
        self.first, self.reverse = write_pbf(net, pbf)
        (self.folder / "tiles").mkdir()
        config = get_config(tile_extract="",
                            tile_dir=str(self.folder / "tiles"), verbose=False)  # fmt: skip
        config["meili"]["default"]["gps_accuracy"] = sigma_m
        config["meili"]["default"]["search_radius"] = 50
        config["mjolnir"]["concurrency"] = 1
        (self.folder / "valhalla.json").write_text(json.dumps(config))
        subprocess.run(
            [str(PYVALHALLA_BIN_DIR / "valhalla_build_tiles"), "-c",
             str(self.folder / "valhalla.json"), "-j", "1", str(pbf)],
            check=True, capture_output=True, cwd=self.folder,  # (it writes files there)
        )  # fmt: skip
        self.actor = Actor(str(self.folder / "valhalla.json"))

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def match(self, lon: np.ndarray, lat: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The arcs Meili matched a track onto, in its order."""
        request = {
            "shape": [{"lon": float(a), "lat": float(b), "time": float(c)}
                      for a, b, c in zip(lon, lat, t, strict=True)],  # fmt: skip
            "costing": "auto",
            "shape_match": "map_snap",
            "filters": {"attributes": ["edge.way_id", "edge.begin_shape_index",
                                       "edge.end_shape_index", "shape"], "action": "include"},
        }  # fmt: skip
        try:
            answer = json.loads(self.actor.trace_attributes(json.dumps(request)))
        except RuntimeError:  # no match at all
            return np.zeros(0, np.int64)
        shape = _decode(answer["shape"])
        arcs = []
        net = self.net
        for edge in answer.get("edges", []):
            w = edge["way_id"] - 1
            if not 0 <= w < self.first.size:
                continue
            a, b = shape[edge["begin_shape_index"]], shape[edge["end_shape_index"]]
            e = int(self.first[w])
            u, v = net.edge_from[e], net.edge_to[e]
            along = (net.node_lon[v] - net.node_lon[u]) * (b[0] - a[0]) + (
                net.node_lat[v] - net.node_lat[u]
            ) * (b[1] - a[1])
            arcs.append(e if along >= 0 or self.reverse[w] < 0 else int(self.reverse[w]))
        return np.array(arcs, np.int64)


def _decode(encoded: str, precision: int = 6) -> list[tuple[float, float]]:
    """A Valhalla polyline (precision 6) as (lon, lat) pairs."""
    out, index, lat, lon = [], 0, 0, 0
    factor = 10.0**precision
    while index < len(encoded):
        for coord in range(2):
            shift = result = 0
            while True:
                byte = ord(encoded[index]) - 63
                index += 1
                result |= (byte & 0x1F) << shift
                shift += 5
                if byte < 0x20:
                    break
            delta = ~(result >> 1) if result & 1 else result >> 1
            if coord == 0:
                lat += delta
            else:
                lon += delta
        out.append((lon / factor, lat / factor))
    return out


def meili_side_by_side(
    net: RoadNetwork, tracks: list[dict[str, Any]], sigma_m: float
) -> dict[str, Any]:
    """Meili on every track (``lon``, ``lat``, ``t``): the arcs of each, its CPU seconds
    (Meili runs in this process), and the wall seconds to build its tiles."""
    try:
        import osmium  # noqa: F401
        import valhalla  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"pyvalhalla / pyosmium not installed: {exc}"}
    start = perf_counter()
    try:
        meili = Meili(net, sigma_m)
    except (subprocess.CalledProcessError, OSError, KeyError) as exc:
        return {"skipped": f"Valhalla tiles could not be built from the network: {exc}"}
    build_s = perf_counter() - start  # wall time: the tile builder is a child process
    try:
        spent = 0.0
        results = []
        for d in tracks:
            t0 = process_time()
            arcs = meili.match(d["lon"], d["lat"], d["t"])
            spent += process_time() - t0
            results.append(arcs)
    finally:
        meili.close()
    return {"tiles_s": round(build_s, 1), "cpu_s": spent, "arcs": results}
