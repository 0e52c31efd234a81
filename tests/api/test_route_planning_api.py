"""Route proposals and checks for permits on the small network of tests/roads/route_world.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlmodel import Session

from cdw.api.app import app
from cdw.auth.models import Role
from cdw.config import Settings, get_settings
from cdw.registry.categories import ZoneKind
from cdw.registry.models import RecordStatus
from tests.roads.route_world import add_zone, local, local_line, seed, write_roads
from tests.sample_registry import box

API = "/api/v1/permits"
SITE_EXIT, SOUTH, NORTH, MIDDLE, FACILITY_ACCESS = (
    "工地出口路", "南环路", "北环路", "中路", "消纳场进场路",
)  # fmt: skip


def _use_network(path: Path | None) -> None:
    app.dependency_overrides[get_settings] = lambda: Settings(road_network=path)


@pytest.fixture
def world(tmp_path: Path, session: Session) -> Iterator[tuple[int, int]]:
    _use_network(write_roads(tmp_path))
    yield seed(session)
    app.dependency_overrides.pop(get_settings, None)


@pytest.fixture
def officer(auth_headers) -> dict[str, str]:
    return auth_headers(Role.permit_officer)


def _roads(feature: dict[str, Any]) -> list[str]:
    """The names in a feature's ``roads`` (labels are 「name」（class）)."""
    return [r["name_zh"].split("」")[0].removeprefix("「") for r in feature["properties"]["roads"]]


def _propose(client: TestClient, headers: dict, world: tuple[int, int], **body: Any) -> dict:
    site_id, facility_id = world
    resp = client.post(
        f"{API}/route-proposals",
        json={"site_id": site_id, "facility_id": facility_id, **body},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _check(client: TestClient, headers: dict, route: dict, **body: Any) -> dict:
    resp = client.post(f"{API}/route-check", json={"route": route, **body}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_fastest_route_first_then_distinct_alternatives(client, officer, world):
    out = _propose(client, officer, world)
    features = out["features"]
    assert [f["properties"]["rank"] for f in features] == [1, 2, 3]
    assert [_roads(f) for f in features] == [
        [SITE_EXIT, road, FACILITY_ACCESS] for road in (SOUTH, NORTH, MIDDLE)
    ]
    best = features[0]["properties"]
    assert best["length_m"] == pytest.approx(1219.8, abs=0.2)
    assert best["travel_time_s"] == pytest.approx(97.2, abs=0.1)  # 200 m at 20 km/h, 60 km/h
    assert [r["length_m"] for r in best["roads"]] == pytest.approx([100, 1019.8, 100], abs=0.2)
    assert len({tuple(f["properties"]["edge_ids"]) for f in features}) == 3
    assert out["problems"] == []
    # Each feature is what a permit's routes takes: a LineString from site to facility.
    line = shapely.from_geojson(shapely.to_geojson(shape(features[0]["geometry"])))
    assert line.geom_type == "LineString"
    assert line.coords[0] == pytest.approx(local(-100, 0), abs=1e-6)
    assert line.coords[-1] == pytest.approx(local(1100, 0), abs=1e-6)


def test_explicit_points_and_no_alternatives(client, auth_headers, world):
    resp = client.post(
        f"{API}/route-proposals",
        json={"origin": local(-100, 0), "destination": local(1000, 0), "alternatives": 0},
        headers=auth_headers(Role.admin),
    )
    assert resp.status_code == 200, resp.text
    assert [_roads(f) for f in resp.json()["features"]] == [[SITE_EXIT, SOUTH]]


def test_active_restricted_zones_are_avoided(client, officer, world, session):
    zone = box(*local(500, -100), 60, 60)
    add_zone(session, "水源保护区", ZoneKind.water_source, zone)
    add_zone(
        session, "已撤销禁区", ZoneKind.other, box(*local(500, 100), 60, 60),
        status=RecordStatus.inactive,
    )  # fmt: skip
    features = _propose(client, officer, world)["features"]
    assert [_roads(f)[1] for f in features] == [NORTH, MIDDLE]
    assert not any(shape(f["geometry"]).intersects(shape(zone)) for f in features)


def test_a_banned_road_is_avoided_and_a_line_along_it_is_reported(client, officer, world, session):
    add_zone(session, "中路禁行路段", ZoneKind.banned_road, local_line((200, 0), (800, 0)))
    features = _propose(client, officer, world)["features"]
    assert [_roads(f)[1] for f in features] == [SOUTH, NORTH]

    out = _check(client, officer, local_line((-100, 0), (1100, 0)))
    assert out["acceptable"] is False
    assert _roads(out["route"]) == [SITE_EXIT, MIDDLE, FACILITY_ACCESS]
    assert out["problems"] == [
        {"field": "banned_edges", "zh": f"禁行道路：{MIDDLE}", "en": f"banned road: {MIDDLE}"}
    ]
    assert [(z["name"], z["kind_zh"]) for z in out["zones"]] == [("中路禁行路段", "禁行道路")]


def test_excluded_classes_are_avoided_and_unknown_ones_refused(client, officer, world):
    no_primary = _propose(client, officer, world, excluded_road_classes=["primary"])
    assert [_roads(f)[1] for f in no_primary["features"]] == [NORTH, MIDDLE]
    only_tertiary = _propose(
        client, officer, world, excluded_road_classes=["primary", "secondary"], alternatives=0
    )
    assert [_roads(f)[1] for f in only_tertiary["features"]] == [MIDDLE]

    checked = _check(
        client, officer, local_line((-100, 0), (500, -100), (1100, 0)),
        excluded_road_classes=["primary"], vehicle_weight_t=31,
    )  # fmt: skip
    assert checked["problems"] == [
        {
            "field": "highway",
            "zh": f"道路等级已被排除：{SOUTH}",
            "en": f"road class excluded: {SOUTH}",
        }
    ]

    site_id, facility_id = world
    resp = client.post(
        f"{API}/route-proposals",
        json={"site_id": site_id, "facility_id": facility_id, "excluded_road_classes": ["motor"]},
        headers=officer,
    )
    assert resp.status_code == 422
    problem = resp.json()["problems"][0]
    assert problem["field"] == "excluded_road_classes" and "motor" in problem["en"]


def test_no_route_under_the_restrictions(client, officer, world):
    out = _propose(
        client, officer, world, excluded_road_classes=["primary", "secondary", "tertiary"]
    )
    assert out["features"] == []
    assert out["problems"][0]["en"] == "no permitted route under these restrictions"


def test_a_drawn_line_on_the_network_is_snapped_and_accepted(client, officer, world):
    best = _propose(client, officer, world, alternatives=0)["features"][0]
    # drawn a few metres beside the road, as a hand on a map would
    drawn = local_line((-100, 4), (0, 3), (500, -96), (1000, 4), (1100, -3))
    out = _check(client, officer, {"type": "Feature", "geometry": drawn, "properties": {}})
    assert out["acceptable"] is True and out["problems"] == [] and out["zones"] == []
    assert out["route"]["properties"]["edge_ids"] == best["properties"]["edge_ids"]
    assert out["route"]["geometry"] == best["geometry"]


def test_a_line_off_the_network_is_reported(client, officer, world):
    out = _check(client, officer, local_line((-100, 3000), (1100, 3000)))
    assert out["acceptable"] is False and out["route"] is None
    assert [p["field"] for p in out["problems"]] == ["route"]
    assert "off the network" in out["problems"][0]["en"]


def test_without_a_network_both_endpoints_say_so(client, officer, session, tmp_path):
    site_id, facility_id = seed(session)
    try:
        for path in (None, tmp_path / "missing.geojson"):
            _use_network(path)
            for url, body in (
                ("route-proposals", {"site_id": site_id, "facility_id": facility_id}),
                ("route-check", {"route": local_line((0, 0), (100, 0))}),
            ):
                resp = client.post(f"{API}/{url}", json=body, headers=officer)
                assert resp.status_code == 409, resp.text
                assert resp.json()["code"] == "conflict"
                assert "CDW_ROAD_NETWORK" in resp.json()["message_en"]
                assert "CDW_ROAD_NETWORK" in resp.json()["message_zh"]
    finally:
        app.dependency_overrides.pop(get_settings, None)


@pytest.mark.parametrize("which", ["site_id", "facility_id"])
def test_unknown_site_or_facility_is_404(client, officer, world, which):
    site_id, facility_id = world
    body = {"site_id": site_id, "facility_id": facility_id, which: 9999}
    resp = client.post(f"{API}/route-proposals", json=body, headers=officer)
    assert resp.status_code == 404
    assert "9999" in resp.json()["message_en"]


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ({"type": "Point", "coordinates": [117.0, 31.6]}, "got Point"),
        ({"type": "LineString", "coordinates": [[117.0, 31.6]]}, "not valid GeoJSON"),
        ({"type": "LineString", "coordinates": [[117.0, 31.6], [117.0, 31.6]]}, "distinct"),
        ({"type": "LineString", "coordinates": [[217.0, 31.6], [117.0, 31.6]]}, "WGS-84"),
        ({"type": "LineString", "coordinates": "x"}, "not valid GeoJSON"),
        ({"foo": 1}, "not valid GeoJSON"),
        ({"type": "FeatureCollection", "features": []}, "one route"),
    ],
)
def test_a_malformed_line_is_422_naming_the_field(client, officer, world, route, words):
    resp = client.post(f"{API}/route-check", json={"route": route}, headers=officer)
    assert resp.status_code == 422, resp.text
    (problem,) = resp.json()["problems"]
    assert problem["field"] == "route" and words in problem["en"], problem


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"facility_id": 1}, "site_id"),
        ({"site_id": 1, "origin": [117.0, 31.6], "facility_id": 1}, "site_id"),
        ({"site_id": 1}, "facility_id"),
        ({"origin": [117.0, 91.0], "facility_id": 1}, "origin.1"),
        ({"site_id": 1, "facility_id": 1, "alternatives": 6}, "alternatives"),
        ({"site_id": 1, "facility_id": 1, "vehicle_weight_t": -1}, "vehicle_weight_t"),
        ({"site_id": 1, "facility_id": 1, "avoid": "x"}, "avoid"),
    ],
)
def test_bad_proposal_requests_are_422_naming_the_field(client, officer, world, body, field):
    resp = client.post(f"{API}/route-proposals", json=body, headers=officer)
    assert resp.status_code == 422, resp.text
    assert [p["field"] for p in resp.json()["problems"]] == [field]
