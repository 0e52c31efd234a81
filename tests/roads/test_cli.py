"""``cdw roads propose | check | cache`` on the small network of route_world.py."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import cdw.db
import cdw.roads.cli
from cdw.cli import app as cli_app
from cdw.config import Settings
from cdw.registry.categories import ZoneKind
from cdw.roads.engine import load_network
from tests.roads.route_world import add_zone, local_line, seed, write_roads

runner = CliRunner()


@pytest.fixture
def world(engine, session, monkeypatch, tmp_path):
    monkeypatch.setattr(cdw.db, "get_engine", lambda: engine)
    roads = write_roads(tmp_path)
    monkeypatch.setattr(cdw.roads.cli, "get_settings", lambda: Settings(road_network=roads))
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
