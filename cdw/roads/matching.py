"""Hidden-Markov map matching (Newson & Krumm 2009) on a ``RoadNetwork``.

Candidates are the roads within a search radius of each fix, the nearest arc of each
part of a road (both directions of a two-way road count as one road, so that a dual
carriageway and its frontage road cannot crowd out each other; a road passing the fix
twice, as a loop ramp does, counts twice), more of them where roads are dense; each
becomes one state per direction a truck may drive there, or the one its reported heading
agrees with. The emission is Gaussian in the fix-to-arc distance (sigma), plus the
agreement of heading and arc bearing; the transition exponential in the difference
between the network distance and the straight-line distance of consecutive fixes (beta),
with a floor: a share of steps (``ROUTE_OUTLIER_SHARE``) may drive any route within the
step's bound, as a truck turning round a block or taking a loop ramp between fixes 30 s
apart does, so that such a step is not traded for a shortcut on a road further off.
Network distances are searched on the chains' graph (runs of arcs between junctions),
several times smaller than the arcs', bounded by a multiple of the straight-line
distance, or looked up in a table of all node-to-node distances up to ``table_m``
computed once per matcher (as fmm's UBODT), from which the matched path is also read.
Where no candidate of a fix can be reached from the previous one, that step and the few
before it are searched again with a wider bound; only then does the match break and a new
segment start. A network that lost its roads' directions should have its divided roads'
carriageways made one-way first (``cdw.roads.divided``): GPS cannot tell two carriageways
15 m apart from each other, their directions can. A fix with no edge in reach is left
unmatched. All of it runs in one Numba call per track (``_kernels.match_track``; from
WGS-84 degrees on a UTM network, projection included: ``_kernels.match_lonlat_plain``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import mmap
import os
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import LineString, MultiLineString

from cdw.errors import Problem, ValidationFailed
from cdw.geo.index import coordinate_arrays
from cdw.geo.kernels import build_segment_index
from cdw.geo.projection import UTM_MAX_LAT, UTM_MIN_LAT, Projector, TransverseMercator
from cdw.roads import _kernels as k
from cdw.roads.network import RoadNetwork


@dataclass(frozen=True)
class MatchParams:
    """Matcher settings (metres). ``sigma_m``: GPS noise; ``beta_m``: tolerated difference
    between network and straight-line distance (None: ``2 * sigma_m``, as GPS noise
    alone moves the straight line between two fixes by ``sqrt(2) * sigma_m``); fixes
    nearer than ``2 * sigma_m`` to the previous kept fix are matched onto its edge
    instead of being states of their own.

    Candidates of a fix are roads within ``search_radius_m``, one per part of a road
    (both directions of a two-way road counting once, and a road passing twice, as a
    loop ramp does, twice): the ``max_candidates`` nearest, and every road within
    ``3 * sigma_m`` where more lie there (dense interchanges), at most
    ``max_candidates_dense``. A fix reporting a heading at ``heading_min_speed_kmh`` or
    more keeps the direction of each road nearer its heading, and an arc's bearing off
    the heading is scored with a spread of ``heading_sigma_deg``.

    Routes between consecutive fixes may be up to ``route_factor`` times their distance
    plus ``route_slack_m``; where no route fits, the bound of that step and of the
    ``break_steps - 1`` steps before it (where the truck may have taken a loop ramp the
    match did not follow) is ``break_factor`` times wider before the match breaks.
    Node-to-node distances up to ``table_m`` are computed once per matcher (memory and
    set-up time grow with it; 0: search at every step)."""

    sigma_m: float = 10.0
    beta_m: float | None = None
    search_radius_m: float = 50.0
    max_candidates: int = 8
    max_candidates_dense: int = 16
    route_factor: float = 2.0
    route_slack_m: float = 100.0
    break_factor: float = 2.0
    break_steps: int = 4
    heading_sigma_deg: float = 20.0
    heading_min_speed_kmh: float = 10.0
    table_m: float = 2000.0

    def validated(self) -> MatchParams:
        problems = [
            Problem(
                name,
                f"{name} 必须是正数，实际为 {value!r}",
                f"{name} must be positive, got {value!r}",
            )
            for name, value in vars(self).items()
            if name != "table_m"
            and not (name == "beta_m" and value is None)
            and not (isinstance(value, int | float) and math.isfinite(value) and value > 0)
        ]
        if not (math.isfinite(self.table_m) and self.table_m >= 0):
            problems.append(
                Problem(
                    "table_m",
                    f"table_m 必须是非负数，实际为 {self.table_m!r}",
                    f"table_m must be zero or positive, got {self.table_m!r}",
                )
            )
        if not problems and self.max_candidates_dense < self.max_candidates:
            problems.append(
                Problem(
                    "max_candidates_dense",
                    f"max_candidates_dense（{self.max_candidates_dense}）不能小于 "
                    f"max_candidates（{self.max_candidates}）",
                    f"max_candidates_dense ({self.max_candidates_dense}) must be at least "
                    f"max_candidates ({self.max_candidates})",
                )
            )
        if problems:
            raise ValidationFailed(problems, zh="匹配参数无效", en="Invalid matching parameters")
        return self

    def kernel(self) -> k.TrackParams:
        """The settings as ``match_track`` takes them."""
        heading_sigma = math.radians(self.heading_sigma_deg)
        return k.TrackParams(
            sigma=float(self.sigma_m),
            beta=float(2.0 * self.sigma_m if self.beta_m is None else self.beta_m),
            radius=float(self.search_radius_m),
            max_k=int(self.max_candidates),
            near=3.0 * float(self.sigma_m),
            cap=int(self.max_candidates_dense),
            route_factor=float(self.route_factor),
            route_slack=float(self.route_slack_m),
            break_factor=float(self.break_factor),
            break_steps=int(self.break_steps),
            heading_kappa=1.0 / (heading_sigma * heading_sigma),
            heading_floor=HEADING_OUTLIER_SHARE,
            heading_min_speed=float(self.heading_min_speed_kmh) / 3.6,
            route_floor=ROUTE_OUTLIER_SHARE,
        )


# Share of fixes whose heading says nothing of the road (turning, multipath): the floor
# of the heading likelihood, so one bad heading costs at most log(1/0.02) = 3.9.
HEADING_OUTLIER_SHARE = 0.02
# Share of steps whose route is nothing like the straight line between the fixes (a turn
# round a block, a loop ramp, a U-turn between fixes 30 s apart): the floor of the
# transition likelihood, a route anywhere within the step's bound, so that such a step
# costs at most log(bound / (0.02 * beta)) = 7.8 at 30 s (bound 1,000 m, beta 20 m)
# instead of growing without end, and a road within the GPS noise is not traded for a
# shortcut on one further off.
ROUTE_OUTLIER_SHARE = 0.02


@dataclass(frozen=True)
class MatchResult:
    """Per fix: matched ``edge`` (-1 if none), ``offset_m`` along it from its start,
    ``distance_m`` from the fix, ``segment`` (-1 if unmatched). Per track: the continuous
    ``path_edges`` and the segment of each; ``path_xy`` draws them."""

    edge: np.ndarray
    offset_m: np.ndarray
    distance_m: np.ndarray
    segment: np.ndarray
    path_edges: np.ndarray
    path_segment: np.ndarray
    network: RoadNetwork = field(repr=False, compare=False)

    @property
    def n_segments(self) -> int:
        return int(self.path_segment.max()) + 1 if self.path_segment.size else 0

    @cached_property
    def path_xy(self) -> list[np.ndarray]:
        """Per segment, an (m, 2) polyline in projected metres: the first fix's point on
        its edge, the nodes passed, the last fix's point on its edge."""
        net = self.network
        lines = []
        for s in range(self.n_segments):
            edges = self.path_edges[self.path_segment == s]
            fixes = np.flatnonzero(self.segment == s)
            first, last = fixes[0], fixes[-1]
            inner = net.edge_from[edges[1:]]
            lines.append(
                np.vstack(
                    (
                        _point_on(net, self.edge[first], self.offset_m[first]),
                        np.column_stack((net.node_x[inner], net.node_y[inner])),
                        _point_on(net, self.edge[last], self.offset_m[last]),
                    )
                )
            )
        return lines

    def geometry(self) -> LineString | MultiLineString:
        """The matched path in lon/lat: a LineString, or a MultiLineString where it breaks."""
        projector = self.network.projector
        lines = [np.column_stack(projector.inverse(xy[:, 0], xy[:, 1])) for xy in self.path_xy]
        if len(lines) == 1:
            return LineString(lines[0])
        return MultiLineString(lines)


@dataclass(frozen=True)
class ChainGraph:
    """The network as chains of arcs between junctions (``_kernels.build_chains``), the
    graph the matcher searches: most nodes only shape a road, so it is several times
    smaller. Its nodes are the chain ends, numbered along a Z-order curve and its chains
    by start node, so that nearby searches touch nearby memory."""

    chain_start: np.ndarray  # CSR into chain_arcs
    chain_arcs: np.ndarray
    arc_chain: np.ndarray  # per arc of the network
    arc_pos: np.ndarray
    arc_offset: np.ndarray
    chain_from: np.ndarray  # chain-end node numbers
    chain_to: np.ndarray
    chain_length: np.ndarray
    chain_reverse: np.ndarray
    out_start: np.ndarray  # chains leaving each node: out_start[v]:out_start[v+1]
    out_chains: np.ndarray

    @property
    def n_nodes(self) -> int:
        return self.out_start.size - 1

    @property
    def n_chains(self) -> int:
        return self.chain_from.size

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The fields, in the order of ``_kernels.Chains``."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def arc_road(self) -> np.ndarray:
        """Per arc, its road: the lower of its chain and that chain's reverse, so that
        both directions of a two-way road are one road."""
        c = self.arc_chain
        r = self.chain_reverse[c]
        return np.where(r >= 0, np.minimum(c, r), c)

    def arc_along(self, edge_length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per arc, where its start and its end lie along its road (``arc_road``): along
        its chain, or, on the reverse of the road's chain, back from that chain's end."""
        start = self.arc_offset
        end = start + edge_length
        length = self.chain_length[self.arc_chain]
        forward = self.arc_road() == self.arc_chain
        return np.where(forward, start, length - start), np.where(forward, end, length - end)

    def arc_reverse(self) -> np.ndarray:
        """Per arc, the arc driving it the other way (-1 on a one-way road): arc ``k`` of
        chain ``c`` reversed is arc ``n-1-k`` of ``c``'s reverse."""
        c = self.arc_chain
        r = self.chain_reverse[c]
        n_arcs = np.diff(self.chain_start)[c]
        pos = self.chain_start[np.maximum(r, 0)] + n_arcs - 1 - self.arc_pos
        return np.where(r >= 0, self.chain_arcs[np.where(r >= 0, pos, 0)], -1)

    @classmethod
    def of(cls, net: RoadNetwork) -> ChainGraph:
        start, arcs, arc_chain, arc_pos, arc_offset, c_from, c_to, length, reverse = (
            k.build_chains(net.edge_from, net.edge_to, net.edge_length_m, net.out_start,
                           net.out_edges)
        )  # fmt: skip
        ends = np.unique(np.concatenate((c_from, c_to)))
        ends = ends[np.argsort(_z_order(net.node_x[ends], net.node_y[ends]), kind="stable")]
        number = np.full(net.n_nodes, -1, np.int64)
        number[ends] = np.arange(ends.size)
        c_from, c_to = number[c_from], number[c_to]
        order = np.argsort(c_from, kind="stable")  # old chain id at each new position
        new_id = np.empty_like(order)
        new_id[order] = np.arange(order.size)
        counts = np.diff(start)[order]
        new_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        moved = np.repeat(start[:-1][order] - new_start[:-1], counts) + np.arange(arcs.size)
        out_start = np.zeros(ends.size + 1, np.int64)
        np.cumsum(np.bincount(c_from, minlength=ends.size), out=out_start[1:])
        reverse = reverse[order]
        return cls(
            chain_start=new_start,
            chain_arcs=arcs[moved],
            arc_chain=new_id[arc_chain],
            arc_pos=arc_pos,
            arc_offset=arc_offset,
            chain_from=c_from[order],
            chain_to=c_to[order],
            chain_length=length[order],
            chain_reverse=np.where(reverse >= 0, new_id[np.maximum(reverse, 0)], -1),
            out_start=out_start,
            out_chains=np.arange(order.size, dtype=np.int64),
        )


def _z_order(x: np.ndarray, y: np.ndarray, cell_m: float = 100.0) -> np.ndarray:
    """Z-order (Morton) key of each point's ``cell_m`` grid cell."""
    if x.size == 0:
        return np.zeros(0, np.uint64)
    ix = ((x - x.min()) / cell_m).astype(np.uint64)
    iy = ((y - y.min()) / cell_m).astype(np.uint64)
    key = np.zeros(x.size, np.uint64)
    for bit in range(24):
        b = np.uint64(bit)
        key |= ((ix >> b) & np.uint64(1)) << np.uint64(2 * bit)
        key |= ((iy >> b) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return key


log = logging.getLogger(__name__)

# Bumped whenever ``_kernels.distance_table`` would write another table for the same graph
# and limit, so that no file of an older layout is ever read as a table.
TABLE_FILE_VERSION = 1


def table_file(cache_dir: Path, graph: k.Graph, limit: float) -> Path:
    """Where the distance table of ``graph`` up to ``limit`` is kept in ``cache_dir``: named
    by a SHA-256 of the graph's arrays, the limit, the tiers and the file version, so a
    file is only ever read back for the very table it holds."""
    digest = hashlib.sha256()
    digest_arrays(digest, graph)
    digest.update(f"{float(limit)!r}/{k.TABLE_TIERS}/{TABLE_FILE_VERSION}".encode())
    return cache_dir / f"matcher-table-{digest.hexdigest()[:32]}.npz"


def digest_arrays(digest: Any, arrays: Iterable[np.ndarray]) -> None:
    """Feed each array's dtype, shape and bytes to ``digest`` (a hashlib object): the key
    of a cache file kept for exactly these arrays."""
    for part in arrays:
        array = np.ascontiguousarray(part)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))


def keep_file(path: Path, save: Callable[[Path], None], what: str) -> None:
    """Write a cache file whole or not at all (``save`` writes a temporary name beside
    ``path``, which then replaces it: whichever process writes last wins), best effort: a
    folder that cannot be written only logs a warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}{path.suffix}")
        save(partial)
        os.replace(partial, path)
    except OSError as exc:
        log.warning("%s not kept in %s: %s", what, path.parent, exc)


def cached_table(
    graph: k.Graph, limit: float, workspace: k.Workspace, cache_dir: Path | None
) -> k.Table:
    """``k.new_table(graph, limit, workspace)``, read from ``cache_dir`` when an earlier
    process wrote it there (``table_file``), else computed and written there for the next
    (best effort: a cache that cannot be read or written only costs the computation)."""
    if cache_dir is None:
        return k.new_table(graph, limit, workspace)
    path = table_file(cache_dir, graph, limit)
    n_starts = (graph.out_start.size - 1) * k.TABLE_TIERS + 1
    try:
        stored = mapped_npz(path)
        table = k.Table(*(stored[name] for name in k.Table._fields[:4]), float(limit))
        if table.tier_start.size == n_starts and table.tier_start[-1] == table.node.size:
            return table
        log.warning("matcher table %s does not fit its network; computing it again", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("matcher table %s unreadable (%s); computing it again", path, exc)
    table = k.new_table(graph, limit, workspace)
    arrays = dict(zip(k.Table._fields[:4], table[:4], strict=True))
    keep_file(path, lambda partial: np.savez(partial, **arrays), "matcher table")
    return table


def mapped_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` as ``np.savez`` writes it (each ``.npy`` stored, not
    compressed), mapped from the file copy-on-write instead of read: processes reading one
    file share its pages, and no copy is made. Each member's CRC-32 is checked as ``np.load``
    checks it, so a damaged file is refused (``ValueError`` or ``zipfile.BadZipFile``)."""
    arrays = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as fh:
        members = archive.infolist()
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    for info in members:
        name = info.filename
        header = data[info.header_offset : info.header_offset + 30]
        if (
            info.compress_type != zipfile.ZIP_STORED
            or not name.endswith(".npy")
            or len(header) != 30
            or header[:4] != b"PK\x03\x04"
        ):
            raise ValueError(f"{name}: not a stored .npy")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        member = memoryview(data)[start : start + info.file_size]
        if len(member) != info.file_size or zlib.crc32(member) != info.CRC:
            raise ValueError(f"{name}: damaged (CRC-32 or size)")
        stream = io.BytesIO(member[:4096])  # the .npy header is well within its start
        version = np.lib.format.read_magic(stream)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(stream)
        count = math.prod(shape)
        if dtype.hasobject or stream.tell() + count * dtype.itemsize != info.file_size:
            raise ValueError(f"{name}: size does not fit its header")
        array = np.frombuffer(data, dtype, count, start + stream.tell())
        arrays[name[: -len(".npy")]] = array.reshape(shape, order="F" if fortran else "C")
    return arrays


class MapMatcher:
    """Matches tracks onto one network; holds its edge grid, projector and a search
    workspace, so keep one per network and thread. With ``table_cache``, a folder, the
    distance table (seconds to compute on a city's network) is kept there and read back
    by the next matcher of the same network and ``table_m`` (``cached_table``)."""

    def __init__(
        self,
        network: RoadNetwork,
        params: MatchParams | None = None,
        table_cache: Path | None = None,
    ) -> None:
        self.network = network
        self.table_cache = table_cache
        self.params = (params or MatchParams()).validated()
        self._kernel_params = self.params.kernel()
        self._projector = network.projector
        # a UTM network's projection, done inside the matcher's own call (``match``)
        tm = TransverseMercator.of(self._projector.crs)
        self._projection = None if tm is None else (
            tm.lon0, tm.k0_a, tm.false_easting, tm.false_northing, tm.e, tm.alpha,
            UTM_MIN_LAT, UTM_MAX_LAT,
        )  # fmt: skip
        net = network
        self._x0 = np.ascontiguousarray(net.node_x[net.edge_from])
        self._y0 = np.ascontiguousarray(net.node_y[net.edge_from])
        self._x1 = np.ascontiguousarray(net.node_x[net.edge_to])
        self._y1 = np.ascontiguousarray(net.node_y[net.edge_to])
        cell = max(2.0 * self.params.search_radius_m, 50.0)
        if net.n_edges:
            span = max(np.ptp(net.node_x), np.ptp(net.node_y))
            cell = max(cell, span / 2000.0)  # at most ~4 M cells
        origin_x, origin_y, n_cols, n_rows, cell_start, cell_items = build_segment_index(
            self._x0, self._y0, self._x1, self._y1, cell
        )
        self._chains = g = ChainGraph.of(net)
        # each grid entry's segment ends, road and place along it, in grid order (read
        # cell by cell)
        along0, along1 = g.arc_along(net.edge_length_m)
        ends = np.column_stack((self._x0, self._y0, self._x1, self._y1))
        self._grid = k.SegmentGrid(
            origin_x, origin_y, cell, n_cols, n_rows, cell_start, cell_items,
            *(np.ascontiguousarray(a[cell_items]) for a in (ends, g.arc_road(), along0, along1)),
        )  # fmt: skip
        self._arc_reverse = g.arc_reverse()
        self._arc_bearing = np.arctan2(self._x1 - self._x0, self._y1 - self._y0)
        self._workspace = k.new_workspace(g.n_nodes, g.n_chains)
        self._table = k.no_table(g.n_nodes)
        if self.params.table_m > 0:
            self._table = cached_table(
                k.Graph(g.out_start, g.out_chains, g.chain_to, g.chain_length),
                float(self.params.table_m), self._workspace, table_cache,
            )  # fmt: skip
        # ``match_track``'s arguments that describe the network, gathered once
        self._network_args = (
            self._grid,
            k.Arcs(self._x0, self._y0, self._x1, self._y1, net.edge_length_m,
                   self._arc_reverse, self._arc_bearing),
            k.Chains(*g.arrays()),
            self._table,
        )  # fmt: skip
        # the same as plain tuples, which Numba types at each call from a cached fingerprint
        self._plain_args = (
            tuple(tuple(bundle) for bundle in self._network_args),
            tuple(self._kernel_params),
            tuple(self._workspace),
        )

    @property
    def projector(self) -> Projector:
        """The network's projector (one per matcher: ``RoadNetwork.projector`` builds one)."""
        return self._projector

    def match(
        self,
        lon: np.ndarray | Sequence[float],
        lat: np.ndarray | Sequence[float],
        heading_deg: np.ndarray | Sequence[float] | None = None,
        speed_kmh: np.ndarray | Sequence[float] | None = None,
    ) -> MatchResult:
        """Match one track given in WGS-84 degrees, in driving order; ``heading_deg``
        (clockwise from north) and ``speed_kmh`` per fix as the unit reports them, where
        it does (NaN for a fix without)."""
        if self._projection is not None and _plain(lon) and _plain(lat) and lon.size == lat.size:
            # one call projects and matches; where a coordinate is out of range, the
            # projector below names it
            n = lon.size
            heading = _NONE if heading_deg is None else _per_fix(heading_deg, n, "heading_deg")
            speed = _NONE if speed_kmh is None else _per_fix(speed_kmh, n, "speed_kmh")
            ok, out = k.match_lonlat_plain(
                lon, lat, heading, speed, self._projection, *self._plain_args
            )
            if ok:
                return MatchResult(*out, self.network)
        x, y = self._projector.forward(lon, lat)  # (checked: float64, equally long)
        return self._match(x, y, heading_deg, speed_kmh)

    def match_xy(
        self,
        px: np.ndarray | Sequence[float],
        py: np.ndarray | Sequence[float],
        heading_deg: np.ndarray | Sequence[float] | None = None,
        speed_kmh: np.ndarray | Sequence[float] | None = None,
    ) -> MatchResult:
        """Match one track given in the network's projected metres, in driving order
        (heading and speed as in ``match``)."""
        x, y = coordinate_arrays(px, py, ("x", "y"))
        return self._match(x, y, heading_deg, speed_kmh)

    def _match(
        self,
        x: np.ndarray,
        y: np.ndarray,
        heading_deg: np.ndarray | Sequence[float] | None,
        speed_kmh: np.ndarray | Sequence[float] | None,
    ) -> MatchResult:
        heading = _per_fix(heading_deg, x.size, "heading_deg")
        speed = _per_fix(speed_kmh, x.size, "speed_kmh") / 3.6
        edge, offset, distance, segment, path_edges, path_segment = k.match_track_plain(
            x, y, heading, speed, *self._plain_args
        )
        return MatchResult(edge, offset, distance, segment, path_edges, path_segment, self.network)


_NONE = np.zeros(0)  # heading or speed not reported at all


def _plain(values: object) -> bool:
    """Whether ``values`` is already what the kernels take: a 1-D contiguous float64 array."""
    return (
        isinstance(values, np.ndarray)
        and values.dtype == np.float64
        and values.ndim == 1
        and values.flags.c_contiguous
    )


def _per_fix(values: np.ndarray | Sequence[float] | None, n: int, name: str) -> np.ndarray:
    """A float64 array of ``n`` values (NaN: not reported), all NaN for None."""
    if values is None:
        return np.full(n, np.nan)
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.size != n:
        shape = "?" if arr is None else f"{arr.ndim}-D, {arr.size}"
        raise ValidationFailed(
            [Problem(name, f"{name} 必须是每个定位点一个数值（{n} 个），实际为 {shape}",
                     f"{name} must hold one number per fix ({n}), got {shape}")],
            zh="匹配输入无效", en="Invalid matching input",
        )  # fmt: skip
    return arr


def _point_on(network: RoadNetwork, edge: int, offset: float) -> np.ndarray:
    """The point ``offset`` metres along ``edge``, as a (1, 2) array."""
    u = offset / network.edge_length_m[edge] if network.edge_length_m[edge] > 0 else 0.0
    a, b = network.edge_from[edge], network.edge_to[edge]
    x = network.node_x[a] + u * (network.node_x[b] - network.node_x[a])
    y = network.node_y[a] + u * (network.node_y[b] - network.node_y[a])
    return np.array([[x, y]])


def path_length_m(network: RoadNetwork, edges: np.ndarray) -> float:
    """Total length of a list of edges."""
    return float(network.edge_length_m[np.asarray(edges, np.int64)].sum())


__all__ = ["MapMatcher", "MatchParams", "MatchResult", "path_length_m"]
