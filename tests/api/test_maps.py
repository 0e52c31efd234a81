"""Map layers for the console on the shipped Panyu network: roads per zoom band by bbox, and
geofences scoped by role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shapely
from shapely.geometry import LineString, box

from cdw.api.app import app
from cdw.auth.models import Role
from cdw.config import Settings, get_settings
from cdw.roads.layers import BANDS, MAJOR, road_layers
from cdw.roads.network import BUNDLED_NETWORK
from tests import factories as f

ROADS, GEOFENCES = "/api/v1/map/roads", "/api/v1/map/geofences"
# a few streets of Shiqiao (市桥), the district centre
CENTRE_BOX = (113.36, 22.93, 113.38, 22.95)


@pytest.fixture
def panyu() -> Iterator[None]:
    app.dependency_overrides[get_settings] = lambda: Settings(road_network=BUNDLED_NETWORK)
    yield
    app.dependency_overrides.pop(get_settings, None)


def _bbox(b: tuple[float, float, float, float]) -> str:
    return ",".join(str(v) for v in b)


def _roads(client, headers, bbox, zoom) -> dict:
    resp = client.get(ROADS, params={"bbox": _bbox(bbox), "zoom": zoom}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_low_zooms_draw_the_major_roads_and_high_zooms_every_road(client, auth_headers, panyu):
    headers = auth_headers(Role.viewer)
    layers = road_layers(BUNDLED_NETWORK)
    whole = _roads(client, headers, layers.bounds, 10)
    assert whole["configured"] and whole["classes"] == list(MAJOR)
    assert {ft["properties"]["highway"] for ft in whole["features"]} == set(MAJOR)
    assert not whole["truncated"] and 100 < len(whole["features"]) < 2000

    near = _roads(client, headers, CENTRE_BOX, 16)
    classes = {ft["properties"]["highway"] for ft in near["features"]}
    assert near["classes"] is None
    assert {"residential", "service", "primary"} <= classes
    area = box(*CENTRE_BOX)
    for ft in near["features"]:
        line = LineString(ft["geometry"]["coordinates"])
        assert line.distance(area) < 1e-6  # every road drawn meets the bbox
    labels = {
        ft["properties"]["highway"]: ft["properties"]["highway_zh"] for ft in near["features"]
    }
    assert labels["primary"] == "主干路" and labels["residential"] == "居住区道路"


def test_the_district_s_segments_are_merged_and_simplified_per_band(panyu):
    layers = road_layers(BUNDLED_NETWORK)
    assert layers.segments > 140_000  # the undirected segments of the network
    assert layers.lines < layers.segments / 4  # merged into polylines
    vertices = [
        int(shapely.get_num_coordinates(layer.lines).sum())
        for layer in layers._layers  # noqa: SLF001 - the per-band layers themselves
    ]
    assert vertices == sorted(vertices) and vertices[0] < vertices[-1] / 5
    # the first band, unsimplified, would hold more vertices than it draws
    major = layers._layers[0]  # noqa: SLF001
    full = layers.features(layers.bounds, 16 - 16)  # zoom 0: the first band
    assert len(full.features) == len(major.lines)


def test_the_bbox_is_bounded_by_the_zoom_and_checked(client, auth_headers, panyu):
    headers = auth_headers(Role.enforcement_officer)
    wide = (113.2, 22.8, 113.6, 23.1)
    resp = client.get(ROADS, params={"bbox": _bbox(wide), "zoom": 17}, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["field"] == "bbox"
    assert f"{BANDS[-1].max_span_deg}" in resp.json()["problems"][0]["en"]
    for bad in ("1,2,3", "a,b,c,d", "113.4,23.0,113.3,23.1", "nan,1,2,3", "200,1,201,2"):
        resp = client.get(ROADS, params={"bbox": bad, "zoom": 12}, headers=headers)
        assert resp.status_code == 422, bad
        assert resp.json()["problems"][0]["field"] == "bbox"
    for zoom in (-1, 23):
        resp = client.get(ROADS, params={"bbox": _bbox(CENTRE_BOX), "zoom": zoom}, headers=headers)
        assert resp.status_code == 422


def test_without_a_network_the_layer_is_empty_and_says_so(client, auth_headers):
    app.dependency_overrides[get_settings] = lambda: Settings(road_network=None)
    try:
        body = _roads(client, auth_headers(Role.viewer), CENTRE_BOX, 14)
    finally:
        app.dependency_overrides.pop(get_settings, None)
    assert body["configured"] is False and body["features"] == []


def test_geofences_are_scoped_like_the_registry(client, auth_headers, session):
    site = f.add_site(session, name="甲工地")
    other_site = f.add_site(session, name="乙工地", geofence=f.square(113.585, 23.555))
    facility = f.add_facility(session)
    haulier = f.add_haulier(session, 1)
    other_haulier = f.add_haulier(session, 2)
    depot = f.add_depot(session, haulier, name="甲停车场")
    f.add_depot(session, other_haulier, name="乙停车场", geofence=f.square(113.61, 23.56, 80))
    zone = f.add_zone(session)

    def seen(role: Role, **binding: int) -> set[tuple[str, int]]:
        resp = client.get(GEOFENCES, headers=auth_headers(role, **binding))
        assert resp.status_code == 200, resp.text
        feats = resp.json()["features"]
        assert all(ft["geometry"]["type"] in ("Polygon", "MultiPolygon") for ft in feats)
        return {(ft["properties"]["kind"], ft["properties"]["id"]) for ft in feats}

    everything = seen(Role.viewer)
    assert {("site", site.id), ("site", other_site.id), ("facility", facility.id)} <= everything
    assert len([k for k, _ in everything if k == "depot"]) == 2
    assert seen(Role.site_dispatcher, site_id=site.id) == {("site", site.id), ("zone", zone.id)}
    assert seen(Role.facility_operator, facility_id=facility.id) == {
        ("facility", facility.id),
        ("zone", zone.id),
    }
    assert seen(Role.haulier, haulier_id=haulier.id) == {("depot", depot.id), ("zone", zone.id)}

    only = client.get(
        GEOFENCES, params={"kind": ["zone", "facility"]}, headers=auth_headers(Role.admin)
    ).json()["features"]
    assert {ft["properties"]["kind"] for ft in only} == {"zone", "facility"}
    props = next(ft["properties"] for ft in only if ft["properties"]["kind"] == "zone")
    assert props["subkind"] == "water_source" and props["subkind_zh"] == "水源保护区"
    assert props["kind_zh"] == "禁区"
    bad = client.get(GEOFENCES, params={"kind": "road"}, headers=auth_headers(Role.admin))
    assert bad.status_code == 422
