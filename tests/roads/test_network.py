"""Road network readers (OSM XML, Parquet tables, Kubicka), posted limits and their sources,
officer limits, errors and the .npz cache (its current and earlier format)."""

from __future__ import annotations

import bz2
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from cdw.errors import InputFileError, ValidationFailed
from cdw.roads.network import (
    LIMIT_DEFAULT,
    LIMIT_NONE,
    LIMIT_OFFICER,
    LIMIT_SOURCE_LABELS,
    LIMIT_TAGGED,
    RoadNetwork,
)
from cdw.roads.sources import (
    load_cache,
    read_kubicka,
    read_osm_xml,
    read_parquet_tables,
    save_cache,
)

OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
 <node id="1" lat="32.0400" lon="118.7800"/>
 <node id="2" lat="32.0400" lon="118.7810"/>
 <node id="3" lat="32.0410" lon="118.7810"/>
 <node id="4" lat="32.0410" lon="118.7800"/>
 <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
  <tag k="highway" v="primary"/><tag k="name" v="中山路"/><tag k="oneway" v="yes"/>
  <tag k="maxspeed" v="50"/><tag k="maxweight" v="20"/></way>
 <way id="11"><nd ref="3"/><nd ref="4"/>
  <tag k="highway" v="residential"/><tag k="hgv" v="no"/><tag k="oneway" v="-1"/></way>
 <way id="12"><nd ref="4"/><nd ref="1"/><tag k="highway" v="footway"/></way>
 <way id="13"><nd ref="4"/><nd ref="2"/><tag k="highway" v="tertiary"/><tag k="maxspeed" v="30 mph"/></way>
</osm>
"""


def _arcs(net: RoadNetwork) -> set[tuple[int, int]]:
    return {
        (int(net.node_id[u]), int(net.node_id[v]))
        for u, v in zip(net.edge_from, net.edge_to, strict=True)
    }


@pytest.mark.parametrize("suffix", [".osm", ".osm.bz2"])
def test_osm_xml_keeps_drivable_roads_and_their_tags(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tiny{suffix}"
    data = OSM_XML.encode()
    path.write_bytes(bz2.compress(data) if suffix.endswith("bz2") else data)
    net = read_osm_xml(path)
    # way 10 one way 1->2->3; way 11 reversed (oneway=-1): 4->3; footway dropped; 13 both ways
    assert _arcs(net) == {(1, 2), (2, 3), (4, 3), (4, 2), (2, 4)}
    by_arc = {
        arc: i
        for i, arc in enumerate(
            zip(net.node_id[net.edge_from].tolist(), net.node_id[net.edge_to].tolist(), strict=True)
        )
    }
    e12, e43, e42 = by_arc[(1, 2)], by_arc[(4, 3)], by_arc[(4, 2)]
    assert net.edge_name[e12] == "中山路" and net.edge_class(e12) == "primary"
    assert (net.edge_oneway[e12], net.edge_oneway[e42]) == (True, False)
    assert (net.edge_maxspeed_kmh[e12], net.edge_speed_kmh[e12], net.edge_maxweight_t[e12]) == (
        50.0,
        50.0,
        20.0,
    )
    assert net.edge_hgv_no[e43] and not net.edge_hgv_no[e12]
    assert net.edge_maxspeed_kmh[e42] == pytest.approx(30 * 1.609344)
    assert net.edge_speed_kmh[e43] == 30.0  # residential default
    assert net.edge_length_m[e12] == pytest.approx(94.4, abs=0.5)  # 0.001° of lon at 32° N


def test_missing_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        read_osm_xml(tmp_path / "none.osm")
    assert "找不到文件" in err.value.zh and "file not found" in err.value.en
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node")
    with pytest.raises(InputFileError, match="cannot read OSM XML"):
        read_osm_xml(bad)
    with pytest.raises(InputFileError, match="file not found"):
        read_kubicka(tmp_path / "00000001")
    with pytest.raises(InputFileError, match="file not found"):
        load_cache(tmp_path / "none.npz")
    (tmp_path / "x.nodes").write_text("1.0\t2.0\n1.1\t2.0\n")
    (tmp_path / "x.arcs").write_text("0\t1\n1\t2\n")
    with pytest.raises(InputFileError) as err:
        read_kubicka(tmp_path / "x")
    assert err.value.problems[0].line == 2


def _assert_same(a: RoadNetwork, b: RoadNetwork) -> None:
    for f in fields(RoadNetwork):
        left, right = getattr(a, f.name), getattr(b, f.name)
        if isinstance(left, np.ndarray):
            assert left.dtype == right.dtype, f.name
            np.testing.assert_array_equal(left, right, err_msg=f.name)
        else:
            assert left == right


def test_nanjing_osm_keeps_chinese_names_and_oneway(shared_data: Path, tmp_path: Path) -> None:
    net = read_osm_xml(shared_data / "nanjing-xuanwu-osm" / "osm_bbox.osm.xml")
    names = set(net.edge_name.tolist())
    assert {"中山路", "汉中路", "珠江路"} <= names
    assert "footway" not in set(net.highway_classes.tolist())
    pairs = set(zip(net.edge_from.tolist(), net.edge_to.tolist(), strict=True))
    oneway = net.edge_oneway
    # a one-way arc has no reverse twin; a two-way arc always has
    assert all(
        (v, u) not in pairs for u, v in zip(net.edge_from[oneway], net.edge_to[oneway], strict=True)
    )
    assert all(
        (v, u) in pairs for u, v in zip(net.edge_from[~oneway], net.edge_to[~oneway], strict=True)
    )
    assert oneway.sum() > 100
    # arc_reverse finds exactly those twins: the arc back along a two-way road, -1 one way
    reverse = net.arc_reverse()
    assert (reverse[oneway] == -1).all() and (reverse[~oneway] >= 0).all()
    two_way = np.flatnonzero(~oneway)
    assert (net.edge_from[reverse[two_way]] == net.edge_to[two_way]).all()
    assert (net.edge_to[reverse[two_way]] == net.edge_from[two_way]).all()
    _assert_same(net, load_cache(save_cache(net, tmp_path / "nanjing.npz")))


def test_panyu_tables_and_cache(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "guangzhou-panyu-osm-roadnet"
    net = read_parquet_tables(folder / "nodes.parquet", folder / "edges.parquet")
    # 142,593 segments: 117,700 two-way (two arcs), the rest divided carriageways (one arc)
    assert (net.n_nodes, net.n_edges) == (131_276, 260_293)
    assert net.crs == "EPSG:32649"
    road_m = np.where(net.edge_oneway, 1.0, 0.5) @ net.edge_length_m
    assert road_m == pytest.approx(6_493_000, rel=1e-3)
    path = save_cache(net, tmp_path / "panyu.npz")
    again = load_cache(path)
    _assert_same(net, again)
    node = 1000
    out = again.out_edges[again.out_start[node] : again.out_start[node + 1]]
    assert (again.edge_from[out] == node).all()
    assert sorted(out.tolist()) == np.flatnonzero(again.edge_from == node).tolist()


def test_kubicka_network(shared_data: Path) -> None:
    net = read_kubicka(shared_data / "kubicka-map-matching" / "00000005")
    assert (net.n_nodes, net.n_edges) == (898, 1579)
    assert (int(net.edge_from[0]), int(net.edge_to[0])) == (1, 0)
    assert net.node_lon[0] == 35.554415 and net.node_lat[0] == 49.618875
    assert net.crs == "EPSG:32636"


def test_limits_come_from_tags_else_the_statutory_default(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm"
    path.write_text(OSM_XML)
    net = read_osm_xml(path)
    arc = {
        (int(net.node_id[u]), int(net.node_id[v])): i
        for i, (u, v) in enumerate(zip(net.edge_from, net.edge_to, strict=True))
    }
    e12, e43, e42 = arc[(1, 2)], arc[(4, 3)], arc[(4, 2)]
    assert (net.edge_limit_kmh[e12], net.edge_limit_source[e12]) == (50.0, LIMIT_TAGGED)
    assert net.edge_limit_kmh[e42] == pytest.approx(30 * 1.609344)  # tagged "30 mph"
    assert net.edge_limit_source[e42] == LIMIT_TAGGED
    # untagged residential: art. 45 (1), no centre line in a city; free flow stays 30 too
    assert (net.edge_limit_kmh[e43], net.edge_limit_source[e43]) == (30.0, LIMIT_DEFAULT)


@pytest.mark.parametrize(
    ("highway", "maxspeed", "limit", "source"),
    [
        ("motorway", math.nan, 100.0, LIMIT_DEFAULT),
        ("motorway_link", math.nan, 100.0, LIMIT_DEFAULT),
        ("trunk", math.nan, math.nan, LIMIT_NONE),
        ("primary_link", math.nan, math.nan, LIMIT_NONE),
        ("primary", 60.0, 60.0, LIMIT_TAGGED),
        ("tertiary", math.nan, 50.0, LIMIT_DEFAULT),
        ("living_street", math.nan, 30.0, LIMIT_DEFAULT),
        ("road", math.nan, math.nan, LIMIT_NONE),
        ("service", 0.0, 30.0, LIMIT_DEFAULT),  # a zero tag is no limit
    ],
)
def test_limit_table(highway: str, maxspeed: float, limit: float, source: int) -> None:
    net = RoadNetwork.from_arrays(
        np.array([1, 2]),
        np.array([113.30, 113.31]),
        np.array([23.0, 23.0]),
        np.array([0]),
        np.array([1]),
        edge_highway=np.array([highway], dtype=object),
        edge_maxspeed_kmh=np.array([maxspeed]),
    )
    np.testing.assert_equal(net.edge_limit_kmh[0], limit)
    assert net.edge_limit_source[0] == source
    assert net.edge_limit_source.dtype == np.int8 and net.edge_limit_kmh.dtype == np.float64
    assert set(LIMIT_SOURCE_LABELS) == {LIMIT_TAGGED, LIMIT_OFFICER, LIMIT_DEFAULT, LIMIT_NONE}


def _tiny(tmp_path: Path) -> RoadNetwork:
    path = tmp_path / "tiny.osm"
    path.write_text(OSM_XML)
    return read_osm_xml(path)


def test_officer_limits_override_and_copy(tmp_path: Path) -> None:
    net = _tiny(tmp_path)
    set_ = net.with_officer_limits(np.array([0, 2, 0]), np.array([40.0, 20.0, 35.0]))
    assert (set_.edge_limit_kmh[0], set_.edge_limit_kmh[2]) == (35.0, 20.0)  # last one wins
    assert set_.edge_limit_source[[0, 2]].tolist() == [LIMIT_OFFICER] * 2
    untouched = np.setdiff1d(np.arange(net.n_edges), [0, 2])
    np.testing.assert_array_equal(set_.edge_limit_kmh[untouched], net.edge_limit_kmh[untouched])
    assert LIMIT_OFFICER not in net.edge_limit_source  # the original is unchanged
    np.testing.assert_array_equal(set_.edge_maxspeed_kmh, net.edge_maxspeed_kmh)
    again = load_cache(save_cache(set_, tmp_path / "officer.npz"))
    np.testing.assert_array_equal(again.edge_limit_source, set_.edge_limit_source)
    for edges, limits, field in (
        ([0], [-30.0], "limits_kmh"),
        ([0], [math.nan], "limits_kmh"),
        ([net.n_edges], [30.0], "edges"),
        ([0, 1], [30.0], "limits_kmh"),
    ):
        with pytest.raises(ValidationFailed) as err:
            net.with_officer_limits(np.array(edges), np.array(limits))
        assert err.value.problems[0].field == field
        assert "执法人员限速无效" in err.value.zh and "Invalid officer limits" in err.value.en


def test_cache_is_compressed_deterministic_and_complete(tmp_path: Path) -> None:
    net = _tiny(tmp_path)
    first = save_cache(net, tmp_path / "a.npz").read_bytes()
    assert save_cache(net, tmp_path / "b.npz").read_bytes() == first
    _assert_same(net, load_cache(tmp_path / "a.npz"))
    with np.load(tmp_path / "a.npz") as data:
        assert int(data["format"]) == 2 and data["edge_from"].dtype == np.int32
        assert "node_x" not in data.files and "out_edges" not in data.files


def test_format_1_caches_still_load(tmp_path: Path) -> None:
    """The uncompressed cache of every array that ``save_cache`` wrote before limits existed."""
    net = _tiny(tmp_path)
    old = {
        f.name: getattr(net, f.name)
        for f in fields(RoadNetwork)
        if f.name not in ("edge_limit_kmh", "edge_limit_source")
    }
    old["crs"] = np.array(net.crs)
    np.savez(tmp_path / "old.npz", **old)
    _assert_same(net, load_cache(tmp_path / "old.npz"))


def test_bad_caches_are_clear_errors(tmp_path: Path) -> None:
    net = _tiny(tmp_path)
    good = save_cache(net, tmp_path / "good.npz").read_bytes()
    cases = {
        "truncated.npz": good[: len(good) // 2],
        "text.npz": b"not a network\n",
        "flipped.npz": good[:200] + bytes(b ^ 0xFF for b in good[200:400]) + good[400:],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputFileError) as err:
            load_cache(tmp_path / name)
        assert str(tmp_path / name) in err.value.en, name
        assert "路网缓存" in err.value.zh and "network cache" in err.value.en

    def rewritten(name: str, **changes: np.ndarray | None) -> InputFileError:
        with np.load(tmp_path / "good.npz") as data:
            arrays = {k: data[k] for k in data.files}
        for key, value in changes.items():
            if value is None:
                del arrays[key]
            else:
                arrays[key] = value
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(InputFileError) as err:
            load_cache(tmp_path / name)
        return err.value

    missing = rewritten("missing.npz", edge_to=None, edge_limit_kmh=None)
    assert [p.field for p in missing.problems] == ["edge_to", "edge_limit_kmh"]
    assert "缓存缺少该数组" in missing.problems[0].zh
    short = rewritten("short.npz", edge_length_m=np.ones(2))
    assert short.problems[0].field == "edge_length_m" and "expected (5,)" in short.problems[0].en
    out_of_range = rewritten("range.npz", edge_to=np.full(5, 99, np.int32))
    assert out_of_range.problems[0].field == "edge_to"
    typed = rewritten("typed.npz", edge_oneway=np.arange(5.0))
    assert typed.problems[0].field == "edge_oneway"
    code = rewritten("code.npz", edge_limit_source=np.full(5, 7, np.int8))
    assert code.problems[0].field == "edge_limit_source"
    stamp = rewritten("stamp.npz", format=np.array(["2"]))
    assert stamp.problems[0].field == "format" and "invalid format number" in stamp.en
    newer = rewritten("newer.npz", format=np.array(3, np.int8))
    assert newer.problems[0].field == "format" and "newer" in newer.problems[0].en
