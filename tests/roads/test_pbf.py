"""RoadNetwork from OSM PBF (pyosmium): same network as from OSM XML; clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium
import pytest

from cdw.errors import InputFileError
from cdw.roads.network import RoadNetwork
from cdw.roads.sources import read_osm_file, read_osm_pbf, read_osm_xml

NODES = {
    1: (118.7800, 32.0400),
    2: (118.7810, 32.0400),
    3: (118.7810, 32.0410),
    4: (118.7800, 32.0410),
    5: (118.7800, 32.0420),
}
Way = tuple[int, list[int], dict[str, str]]
WAYS: list[Way] = [
    (10, [1, 2, 3], {"highway": "primary", "name": "中山路", "oneway": "yes", "maxspeed": "50"}),
    (11, [3, 4], {"highway": "residential", "hgv": "no", "oneway": "-1", "maxweight": "20"}),
    (12, [4, 1], {"highway": "footway"}),
    (13, [4, 2], {"highway": "tertiary", "maxspeed": "30 mph"}),
]
# What osmnx reads specially: implied one-way motorways, roundabouts, ``reverse``, repeated
# nodes, ``access=no``, a capitalised ``Yes`` (two-way) and a zone code as maxspeed.
ODD_WAYS: list[Way] = [
    (20, [1, 2], {"highway": "motorway"}),
    (21, [2, 3], {"highway": "motorway", "oneway": "no"}),
    (22, [3, 4], {"highway": "motorway_link", "oneway": "-1"}),
    (23, [1, 2, 3, 1], {"highway": "tertiary", "junction": "roundabout"}),
    (24, [4, 5], {"highway": "service", "access": "no"}),
    (25, [4, 4, 5], {"highway": "service", "oneway": "reverse", "maxweight": "5.5 t"}),
    (26, [5, 1], {"highway": "road", "oneway": "Yes", "maxspeed": "CN:urban"}),
]


def write_osm(path: Path, ways: list[Way], nodes: dict[int, tuple[float, float]] = NODES) -> Path:
    """An OSM file in the format its suffix names (XML, bz2 or PBF), written by pyosmium."""
    with osmium.SimpleWriter(str(path)) as writer:
        for node_id, location in nodes.items():
            writer.add_node(osmium.osm.mutable.Node(id=node_id, location=location))
        for way_id, refs, tags in ways:
            writer.add_way(osmium.osm.mutable.Way(id=way_id, nodes=refs, tags=tags))
    return path


def arc_rows(net: RoadNetwork) -> list[tuple]:
    """Every arc with its attributes and OSM node ids, in a canonical order."""
    ids = net.node_id
    return sorted(
        zip(
            ids[net.edge_from].tolist(),
            ids[net.edge_to].tolist(),
            net.edge_length_m.tolist(),
            net.highway_classes[net.edge_highway].tolist(),
            net.edge_oneway.tolist(),
            [str(s) for s in net.edge_maxspeed_kmh.tolist()],  # NaN compares as "nan"
            [str(w) for w in net.edge_maxweight_t.tolist()],
            net.edge_hgv_no.tolist(),
            net.edge_name.tolist(),
            net.edge_speed_kmh.tolist(),
            strict=True,
        )
    )


def assert_same_network(pbf: RoadNetwork, xml: RoadNetwork) -> None:
    assert pbf.crs == xml.crs
    for name in ("node_id", "node_lon", "node_lat", "node_x", "node_y", "highway_classes"):
        np.testing.assert_array_equal(getattr(pbf, name), getattr(xml, name), err_msg=name)
    assert arc_rows(pbf) == arc_rows(xml)


def test_pbf_keeps_drivable_roads_and_their_tags(tmp_path: Path) -> None:
    net = read_osm_pbf(write_osm(tmp_path / "tiny.osm.pbf", WAYS))
    rows = {(u, v): rest for u, v, *rest in arc_rows(net)}
    # way 10 one way 1->2->3; 11 reversed (oneway=-1): 4->3; footway dropped; 13 both ways
    assert set(rows) == {(1, 2), (2, 3), (4, 3), (4, 2), (2, 4)}
    assert net.node_id.tolist() == [1, 2, 3, 4]
    length, highway, oneway, maxspeed, maxweight, hgv_no, name, speed = rows[(1, 2)]
    assert (highway, oneway, maxspeed, maxweight, hgv_no, name, speed) == (
        "primary",
        True,
        "50.0",
        "nan",
        False,
        "中山路",
        50.0,
    )
    assert length == pytest.approx(94.4, abs=0.5)  # 0.001° of lon at 32° N
    assert rows[(4, 3)][1:] == ["residential", True, "nan", "20.0", True, "", 30.0]
    for arc in ((4, 2), (2, 4)):
        assert rows[arc][1:3] == ["tertiary", False]
        assert float(rows[arc][3]) == pytest.approx(30 * 1.609344)
    assert net.out_start[-1] == net.n_edges == 5


@pytest.mark.parametrize("ways", [WAYS, ODD_WAYS], ids=["plain", "odd"])
def test_pbf_and_xml_of_the_same_data_give_the_same_network(
    tmp_path: Path, ways: list[Way]
) -> None:
    pbf = read_osm_pbf(write_osm(tmp_path / "a.osm.pbf", ways))
    xml = read_osm_xml(write_osm(tmp_path / "a.osm", ways))
    assert_same_network(pbf, xml)


def test_odd_ways_are_read_as_osmnx_reads_them(tmp_path: Path) -> None:
    net = read_osm_pbf(write_osm(tmp_path / "odd.pbf", ODD_WAYS))
    arcs = {(u, v, highway, oneway) for u, v, _, highway, oneway, *_ in arc_rows(net)}
    assert arcs == {
        (1, 2, "motorway", True),  # implied one-way
        (2, 3, "motorway", True),  # oneway=no on a motorway is still one direction
        (4, 3, "motorway_link", True),
        (1, 2, "tertiary", True),  # roundabout
        (2, 3, "tertiary", True),
        (3, 1, "tertiary", True),
        (5, 4, "service", True),  # reverse; the repeated node 4 gives no loop
        (5, 1, "road", False),  # "Yes" is not a oneway value
        (1, 5, "road", False),
    }


@pytest.mark.parametrize("suffix", [".osm", ".osm.xml", ".osm.bz2", ".osm.pbf", ".pbf"])
def test_from_osm_file_picks_the_reader_by_suffix(tmp_path: Path, suffix: str) -> None:
    net = read_osm_file(write_osm(tmp_path / f"tiny{suffix}", WAYS))
    assert {(u, v) for u, v, *_ in arc_rows(net)} == {(1, 2), (2, 3), (4, 3), (4, 2), (2, 4)}


def test_nanjing_pbf_equals_xml(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "nanjing-xuanwu-osm" / "osm_bbox.osm.xml"
    pbf_path = tmp_path / "nanjing.osm.pbf"
    with osmium.SimpleWriter(str(pbf_path)) as writer:
        for obj in osmium.FileProcessor(source):
            writer.add(obj)
    pbf = read_osm_file(pbf_path)
    xml = read_osm_xml(source)
    assert_same_network(pbf, xml)
    assert (pbf.n_nodes, pbf.n_edges) == (1073, 2255)
    assert {"中山路", "汉中路", "珠江路"} <= set(pbf.edge_name.tolist())
    assert pbf.edge_oneway.sum() > 100


def test_bad_pbf_files_are_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none.osm.pbf"
    for load in (read_osm_pbf, read_osm_file):
        with pytest.raises(InputFileError) as err:
            load(missing)
        assert "找不到文件" in err.value.zh and "file not found" in err.value.en
        assert str(missing) in err.value.en
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(bytes(range(256)) * 8)
    xml_as_pbf = write_osm(tmp_path / "tiny.osm", WAYS).rename(tmp_path / "tiny.osm.pbf")
    empty = tmp_path / "empty.pbf"
    empty.write_bytes(b"")
    for bad in (garbage, xml_as_pbf, empty):
        with pytest.raises(InputFileError) as err:
            read_osm_file(bad)
        assert f"无法读取 OSM PBF 文件 {bad}" in err.value.zh
        assert f"cannot read OSM PBF file {bad}" in err.value.en
        assert err.value.problems[0].source == str(bad)
    footways = write_osm(tmp_path / "footways.osm.pbf", [WAYS[2]])
    with pytest.raises(InputFileError, match="has no drivable roads") as err:
        read_osm_pbf(footways)
    assert "没有可通行车辆的道路" in err.value.zh
    clipped = write_osm(tmp_path / "clipped.osm.pbf", WAYS, {n: NODES[n] for n in (1, 2, 3)})
    with pytest.raises(
        InputFileError, match=r"lacks the locations of 1 road node\(s\) \(e.g. node 4\)"
    ):
        read_osm_pbf(clipped)
    other = tmp_path / "roads.csv"
    other.write_text("u,v\n")
    with pytest.raises(InputFileError, match="unknown OSM file type") as err:
        read_osm_file(other)
    assert "无法识别的 OSM 文件类型" in err.value.zh
