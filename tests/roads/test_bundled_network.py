"""The real Panyu network shipped in the repository (sample_tracks/panyu-osm/panyu.npz).

It loads from the repository alone; where ../shared/data is present it must equal, byte
for byte, what ``cdw roads cache`` builds from the Panyu tables.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import cdw
from cdw.cli import app as cli_app
from cdw.roads import sources
from cdw.roads.divided import divided_directions
from cdw.roads.network import (
    BUNDLED_NETWORK,
    LIMIT_DEFAULT,
    LIMIT_NONE,
    LIMIT_OFFICER,
    LIMIT_TAGGED,
    STATUTORY_LIMIT_KMH,
    RoadNetwork,
)
from cdw.roads.sources import load_cache, load_network

PANYU = "guangzhou-panyu-osm-roadnet"
# Carriageways of divided roads (OSM node → node, the way traffic drives them).
ONE_WAY = frozenset(
    {
        (623883163, 13401691560),  # motorway
        (279960367, 4087099084),  # motorway
        (987414334, 13109905748),  # secondary
        (279960479, 12097557423),  # trunk
    }
)


@pytest.fixture(scope="session")
def panyu() -> RoadNetwork:
    return load_cache(BUNDLED_NETWORK)


def _arcs(net: RoadNetwork, u: int, v: int) -> np.ndarray:
    """The arcs from OSM node u to OSM node v."""
    ids = {int(n): i for i, n in enumerate(net.node_id.tolist()) if n in (u, v)}
    return np.flatnonzero((net.edge_from == ids[u]) & (net.edge_to == ids[v]))


def _arc(net: RoadNetwork, u: int, v: int) -> int:
    """The one arc from OSM node u to OSM node v."""
    found = _arcs(net, u, v)
    assert found.size == 1
    return int(found[0])


def test_the_file_ships_in_the_repository(panyu: RoadNetwork) -> None:
    root = Path(cdw.__file__).resolve().parents[1]
    assert root / "sample_tracks" / "panyu-osm" / "panyu.npz" == BUNDLED_NETWORK
    assert "© OpenStreetMap contributors" in (BUNDLED_NETWORK.parent / "SOURCE.md").read_text()
    assert (panyu.n_nodes, panyu.n_edges) == (131_276, 260_293)
    assert panyu.crs == "EPSG:32649"
    assert load_network(BUNDLED_NETWORK).n_edges == panyu.n_edges
    # a segment is two arcs with one limit, or one arc of a divided road's carriageway
    reverse = panyu.arc_reverse()
    np.testing.assert_array_equal(reverse < 0, panyu.edge_oneway)
    assert int(panyu.edge_oneway.sum()) == 24_893
    two_way = reverse >= 0
    np.testing.assert_array_equal(
        panyu.edge_limit_kmh[two_way], panyu.edge_limit_kmh[reverse[two_way]]
    )
    node = 1000
    out = panyu.out_edges[panyu.out_start[node] : panyu.out_start[node + 1]]
    assert sorted(out.tolist()) == np.flatnonzero(panyu.edge_from == node).tolist()


@pytest.mark.parametrize(
    ("u", "v", "highway", "free_flow", "limit", "source"),
    [
        (623883163, 13401691560, "motorway", 120.0, 120.0, LIMIT_TAGGED),
        (279960367, 4087099084, "motorway", 80.0, 100.0, LIMIT_DEFAULT),  # art. 78
        (987414334, 13109905748, "secondary", 40.0, 40.0, LIMIT_TAGGED),
        (279960480, 4511536357, "secondary", 50.0, 50.0, LIMIT_DEFAULT),  # art. 45 (2)
        (74577983, 7329078276, "residential", 30.0, 30.0, LIMIT_DEFAULT),  # art. 45 (1)
        (627273367, 3121668840, "service", 20.0, 30.0, LIMIT_DEFAULT),
        (279960479, 12097557423, "trunk", 70.0, math.nan, LIMIT_NONE),
        (279960955, 12630594971, "trunk_link", 45.0, math.nan, LIMIT_NONE),
        (1199440362, 12378187518, "footway", 30.0, math.nan, LIMIT_NONE),
    ],
)
def test_limits_of_known_roads(
    panyu: RoadNetwork,
    u: int,
    v: int,
    highway: str,
    free_flow: float,
    limit: float,
    source: int,
) -> None:
    one_way = (u, v) in ONE_WAY
    for a, b in ((u, v),) if one_way else ((u, v), (v, u)):
        arc = _arc(panyu, a, b)
        assert panyu.edge_oneway[arc] == one_way
        assert panyu.edge_class(arc) == highway
        assert panyu.edge_speed_kmh[arc] == free_flow
        np.testing.assert_equal(panyu.edge_limit_kmh[arc], limit)
        assert panyu.edge_limit_source[arc] == source
        tagged = panyu.edge_maxspeed_kmh[arc]
        assert tagged == limit if source == LIMIT_TAGGED else math.isnan(tagged)


@pytest.mark.parametrize(("u", "v"), sorted(ONE_WAY))
def test_the_carriageways_of_divided_roads_are_one_way(panyu: RoadNetwork, u: int, v: int) -> None:
    """The tables lost OSM oneway; these carriageways run only from u to v again."""
    arc = _arc(panyu, u, v)
    assert panyu.edge_oneway[arc]
    assert panyu.arc_reverse()[arc] == -1
    assert not _arcs(panyu, v, u).size


def test_every_limit_agrees_with_its_source(panyu: RoadNetwork) -> None:
    source, limit = panyu.edge_limit_source, panyu.edge_limit_kmh
    assert not (source == LIMIT_OFFICER).any()
    tagged = source == LIMIT_TAGGED
    np.testing.assert_array_equal(limit[tagged], panyu.edge_maxspeed_kmh[tagged])
    assert np.isnan(panyu.edge_maxspeed_kmh[~tagged]).all()
    classes = panyu.highway_classes[panyu.edge_highway]
    for code in (LIMIT_DEFAULT, LIMIT_NONE):
        picked = source == code
        expected = [STATUTORY_LIMIT_KMH.get(c, math.nan) for c in classes[picked].tolist()]
        np.testing.assert_array_equal(limit[picked], expected)
    assert np.isnan(limit[source == LIMIT_NONE]).all()


def test_the_file_is_what_the_tables_build(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = shared_data / PANYU
    out = tmp_path / "panyu.npz"
    result = CliRunner().invoke(cli_app, ["roads", "cache", str(folder), str(out)])
    assert result.exit_code == 0, result.output
    # every array byte for byte (the zip around them is too, with the same zlib)
    with zipfile.ZipFile(out) as built, zipfile.ZipFile(BUNDLED_NETWORK) as shipped:
        assert built.namelist() == shipped.namelist()
        for name in shipped.namelist():
            assert built.read(name) == shipped.read(name), name
    # the tables as read before the divided-road step: every undirected segment two arcs
    # (the first half, then its reverse); the step only drops arcs, in order
    built = load_cache(out)
    monkeypatch.setattr(sources, "infer_divided_oneway", lambda network: network)
    net = sources.read_parquet_tables(folder / "nodes.parquet", folder / "edges.parquet")
    assert not net.edge_oneway.any()
    half = net.n_edges // 2
    np.testing.assert_array_equal(net.edge_from[:half], net.edge_to[half:])
    np.testing.assert_array_equal(net.edge_limit_kmh[:half], net.edge_limit_kmh[half:])
    keep = ~divided_directions(net)
    assert int(keep.sum()) == built.n_edges
    for name in ("edge_from", "edge_to", "edge_speed_kmh", "edge_limit_kmh"):
        np.testing.assert_array_equal(getattr(built, name), getattr(net, name)[keep])
    # free-flow speeds are the tables' own; a speed other than the one most of its class
    # carries (the build's default) is read as a tagged maxspeed
    table = pq.read_table(folder / "edges.parquet")
    speed, highway = table.column("speed_kmh").to_numpy(), table.column("highway").to_numpy()
    np.testing.assert_array_equal(net.edge_speed_kmh, np.concatenate([speed, speed]))
    half = net.edge_maxspeed_kmh[: speed.size]
    for cls in np.unique(highway):
        values, counts = np.unique(speed[highway == cls], return_counts=True)
        usual = values[np.argmax(counts)]
        tagged = (highway == cls) & (speed != usual)
        np.testing.assert_array_equal(half[tagged], speed[tagged])
        assert np.isnan(half[(highway == cls) & (speed == usual)]).all()
