"""``cdw roads propose | check | cache`` on the small network of route_world.py (and, for
``cache`` from Parquet tables, a three-node one)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import cdw.cli.roads
import cdw.db
from cdw.cli import app as cli_app
from cdw.config import Settings
from cdw.registry.categories import ZoneKind
from cdw.roads.network import LIMIT_OFFICER
from cdw.roads.sources import load_network
from tests.roads.route_world import add_zone, local_line, seed, write_roads

runner = CliRunner()


@pytest.fixture
def world(engine, session, monkeypatch, tmp_path):
    monkeypatch.setattr(cdw.db, "get_engine", lambda: engine)
    roads = write_roads(tmp_path)
    monkeypatch.setattr(cdw.cli.roads, "get_settings", lambda: Settings(road_network=roads))
    return seed(session)


def test_propose_prints_the_routes_and_writes_them(world, tmp_path):
    site_id, facility_id = world
    out = tmp_path / "routes.geojson"
    args = ["roads", "propose", "--site-id", str(site_id), "--facility-id", str(facility_id)]
    result = runner.invoke(cli_app, [*args, "--alternatives", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "南环路" in result.output and "北环路" in result.output and "中路" not in result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [f["properties"]["rank"] for f in written["features"]] == [1, 2]

    excluded = ["--exclude-class", "primary", "--exclude-class", "secondary"]
    none = runner.invoke(cli_app, [*args, *excluded, "--exclude-class", "tertiary"])
    assert none.exit_code == 1 and "no permitted route" in none.output
    unknown = runner.invoke(cli_app, ["roads", "propose", "--site-id", "99", "--facility-id", "1"])
    assert unknown.exit_code == 1 and "construction site not found: 99" in unknown.output


def test_check_lists_what_a_line_breaks(world, session, tmp_path):
    add_zone(session, "中路禁行路段", ZoneKind.banned_road, local_line((200, 0), (800, 0)))
    drawn = tmp_path / "line.geojson"
    drawn.write_text(json.dumps(local_line((-100, 0), (1100, 0))))
    result = runner.invoke(cli_app, ["roads", "check", str(drawn)])
    assert result.exit_code == 1, result.output
    assert "禁行道路：中路" in result.output and "banned road: 中路" in result.output
    assert "中路禁行路段" in result.output

    drawn.write_text(json.dumps(local_line((-100, 0), (500, -100), (1100, 0))))
    ok = runner.invoke(cli_app, ["roads", "check", str(drawn)])
    assert ok.exit_code == 0 and "acceptable" in ok.output
    weighed = runner.invoke(cli_app, ["roads", "check", str(drawn), "--weight-t", "-3"])
    assert weighed.exit_code == 1 and "vehicle_weight_t" in weighed.output

    drawn.write_text(json.dumps({"type": "Point", "coordinates": [117.0, 31.6]}))
    bad = runner.invoke(cli_app, ["roads", "check", str(drawn)])
    assert bad.exit_code == 1 and "[route]" in bad.output and "got Point" in bad.output


def test_cache_writes_a_network_that_reloads(tmp_path):
    source = write_roads(tmp_path)
    out = tmp_path / "roads.npz"
    result = runner.invoke(cli_app, ["roads", "cache", str(source), str(out)])
    assert result.exit_code == 0, result.output
    cached, original = load_network(out), load_network(source)
    assert (cached.n_nodes, cached.n_edges) == (original.n_nodes, original.n_edges)
    assert list(cached.edge_name) == list(original.edge_name)

    wrong = runner.invoke(cli_app, ["roads", "cache", str(source), str(tmp_path / "x.bin")])
    assert wrong.exit_code == 1 and ".npz" in wrong.output
    missing = runner.invoke(cli_app, ["roads", "cache", str(tmp_path / "no.pbf"), str(out)])
    assert missing.exit_code == 1 and "file not found" in missing.output


def _limits_file(path, *features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def test_cache_applies_an_officers_limits(tmp_path):
    source = write_roads(tmp_path)
    out = tmp_path / "roads.npz"
    along = {  # drawn a little off 中路 (tertiary, statutory 50), as an officer would
        "type": "Feature",
        "geometry": local_line((100, 4), (900, 4)),
        "properties": {"speed_limit_kmh": 40},
    }
    limits = _limits_file(tmp_path / "limits.geojson", along)
    result = runner.invoke(
        cli_app, ["roads", "cache", str(source), str(out), "--limits", str(limits)]
    )
    assert result.exit_code == 0, result.output
    net, plain = load_network(out), load_network(source)
    officer = net.edge_limit_source == LIMIT_OFFICER
    assert set(net.edge_name[officer].tolist()) == {"中路"}
    assert officer.sum() == (plain.edge_name == "中路").sum() == 2  # both directions
    assert (net.edge_limit_kmh[officer] == 40.0).all()
    np.testing.assert_array_equal(net.edge_limit_kmh[~officer], plain.edge_limit_kmh[~officer])
    assert (plain.edge_limit_kmh[plain.edge_name == "中路"] == 50.0).all()


def test_cache_refuses_a_bad_limits_file_and_writes_nothing(tmp_path):
    source = write_roads(tmp_path)
    out = tmp_path / "roads.npz"
    limits = _limits_file(
        tmp_path / "limits.geojson",
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.0, 31.6]},
         "properties": {"speed_limit_kmh": 40}},
        {"type": "Feature", "geometry": local_line((100, 0), (900, 0)),
         "properties": {"speed_limit_kmh": -20}},
        {"type": "Feature", "geometry": local_line((100, 0), (900, 0)), "properties": {}},
        {"type": "Feature", "geometry": local_line((100, 3000), (900, 3000)),
         "properties": {"speed_limit_kmh": 30}},
    )  # fmt: skip
    result = runner.invoke(
        cli_app, ["roads", "cache", str(source), str(out), "--limits", str(limits)]
    )
    assert result.exit_code == 1
    assert "4 条限速无效" in result.output and "4 invalid limit feature(s)" in result.output
    assert "limits.geojson:0 [geometry]" in result.output and "got Point" in result.output
    assert "limits.geojson:1 [speed_limit_kmh]" in result.output and "got -20" in result.output
    assert "limits.geojson:2 [speed_limit_kmh]" in result.output and "got None" in result.output
    assert "limits.geojson:3 [geometry]" in result.output and "off the network" in result.output
    assert not out.exists()
    (tmp_path / "broken.geojson").write_text("{")
    broken = runner.invoke(
        cli_app,
        ["roads", "cache", str(source), str(out), "--limits", str(tmp_path / "broken.geojson")],
    )
    assert broken.exit_code == 1 and "cannot read limits file" in broken.output
    assert not out.exists()


def test_cache_reads_a_folder_of_parquet_tables_byte_identically(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    pq.write_table(
        pa.table({"node_id": [11, 12, 13], "lon": [113.30, 113.301, 113.302], "lat": [23.0] * 3}),
        folder / "nodes.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "u": [11, 12],
                "v": [12, 13],
                "distance_km": [0.1, 0.1],
                "speed_kmh": [60.0, 45.0],
                "highway": ["primary", "primary"],
            }
        ),
        folder / "edges.parquet",
    )
    outs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for out in outs:
        result = runner.invoke(cli_app, ["roads", "cache", str(folder), str(out)])
        assert result.exit_code == 0, result.output
    assert outs[0].read_bytes() == outs[1].read_bytes()
    net = load_network(outs[0])
    assert (net.n_nodes, net.n_edges) == (3, 4)
    # primary at the build's default 60 is untagged (no statutory figure); 45 is a tag
    np.testing.assert_array_equal(net.edge_limit_kmh, [np.nan, 45.0, np.nan, 45.0])
    (folder / "edges.parquet").unlink()
    missing = runner.invoke(cli_app, ["roads", "cache", str(folder), str(outs[0])])
    assert missing.exit_code == 1 and "file not found" in missing.output
