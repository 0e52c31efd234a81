"""load_context: the registry, permit and flag tables as the engine's context."""

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import mapping
from sqlmodel import Session, select

from cdw.config import Settings
from cdw.errors import InputFileError, ValidationFailed
from cdw.flows.context import load_context
from cdw.permits.models import Permit, PermitStatus
from cdw.registry.models import ConstructionSite, RecordStatus, RestrictedZone, Vehicle
from tests.tracking.handbuilt import DAY, PLATE, PROJ, box, line
from tests.tracking.test_analysis import seed_registry


def test_load_context_reads_active_zones_and_permits_in_force(session: Session):
    seed_registry(session)
    lonlat = lambda geom: mapping(PROJ.geom_inverse(geom))  # noqa: E731
    session.add_all(
        [
            ConstructionSite(
                name="停用工地",
                project_permit_no="440117202401010002",
                builder="b",
                contractor="c",
                geofence=lonlat(box(9000, 0, 9100, 100)),
                expected_categories=[],
                expected_volume_m3=1,
                status=RecordStatus.inactive,
            ),
            RestrictedZone(
                name="禁行路段",
                kind="banned_road",
                geofence=lonlat(line((0, 3000), (1000, 3000))),
            ),
            Permit(
                permit_no="HZ-OLD",
                site_id=1,
                facility_id=1,
                volume_m3=1,
                valid_from=date(2023, 1, 1),
                valid_to=date(2023, 12, 31),
                status=PermitStatus.approved,
            ),
            Permit(
                permit_no="HZ-DRAFT",
                site_id=1,
                facility_id=1,
                volume_m3=1,
                valid_from=date(2024, 1, 1),
                valid_to=date(2024, 12, 31),
            ),
        ]
    )
    session.commit()
    settings = Settings()
    ctx = load_context(session, DAY, DAY, PROJ, settings)
    assert [z.name for z in ctx.sites] == ["工地甲"]
    assert [z.name for z in ctx.facilities] == ["消纳场乙"]
    assert [p.permit_no for p in ctx.permits] == ["HZ-2024-001"]
    (rule,) = ctx.permits
    assert rule.vehicles == frozenset({PLATE})
    assert rule.allowed_hours is None
    assert rule.route_index is not None and len(rule.routes) == 1
    assert rule.routes[0].length == pytest.approx(5100, abs=0.01)
    # The banned road is buffered by the corridor half-width (50 m).
    x0, y0 = (float(v[0]) for v in PROJ.forward([113.30], [23.10]))
    inside = ctx.locate(
        "restricted", np.array([x0 + 500, x0 + 500]), np.array([y0 + 3040, y0 + 3060])
    )
    np.testing.assert_array_equal(inside, [0, -1])
    assert ctx.restricted[0].kind == "banned_road"
    assert ctx.permits_for(PLATE, DAY) == [rule]
    assert ctx.permits_for(PLATE, date(2025, 1, 1)) == []


def test_a_bad_route_names_the_permit(session: Session):
    seed_registry(session)
    permit = session.get(Permit, 1)
    permit.routes = {"type": "Point", "coordinates": [113.3, 23.1]}
    session.add(permit)
    session.commit()
    with pytest.raises(ValidationFailed) as err:
        load_context(session, DAY, DAY, PROJ, Settings())
    problem = err.value.problems[0]
    assert (problem.field, problem.source) == ("routes", "permit HZ-2024-001")
    assert "LineString" in problem.en and "Point" in problem.en


def _road_file(tmp_path, *streets: list[tuple[float, float]]) -> str:
    """A GeoJSON road network of local-metre polylines."""
    features = [
        {
            "type": "Feature",
            "properties": {"name_zh": f"路{k}", "speed_limit_kmh": 40},
            "geometry": mapping(PROJ.geom_inverse(line(*street))),
        }
        for k, street in enumerate(streets)
    ]
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return str(path)


def test_a_configured_road_network_comes_with_the_context(session: Session, tmp_path):
    seed_registry(session)
    session.add(
        RestrictedZone(
            name="禁行路段",
            kind="banned_road",
            geofence=mapping(PROJ.geom_inverse(line((0, 3000), (1000, 3000)))),
        )
    )
    session.commit()
    assert load_context(session, DAY, DAY, PROJ, Settings()).roads is None
    path = _road_file(
        tmp_path, [(-500, 3000), (0, 3000), (1000, 3000), (1500, 3000)], [(0, 0), (0, 3000)]
    )
    ctx = load_context(session, DAY, DAY, PROJ, Settings(road_network=path))
    net = ctx.roads.network
    assert (net.n_nodes, net.n_edges, net.crs) == (5, 8, PROJ.crs.to_string())
    assert ctx.restricted[0].line is not None
    # The banned line runs along the road's middle piece: its two arcs.
    banned = ctx.banned_edges(0)
    ends = {
        tuple(sorted((float(net.node_x[net.edge_from[e]]), float(net.node_x[net.edge_to[e]]))))
        for e in banned
    }
    assert banned.size == 2 and len(ends) == 1


def test_a_missing_road_network_file_is_a_clear_error(session: Session, tmp_path):
    seed_registry(session)
    with pytest.raises(InputFileError) as err:
        load_context(session, DAY, DAY, PROJ, Settings(road_network=tmp_path / "nope.geojson"))
    assert "nope.geojson" in err.value.en


def test_an_empty_road_network_setting_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDW_ROAD_NETWORK", " ")
    assert Settings().road_network is None
    monkeypatch.setenv("CDW_ROAD_NETWORK", "roads.npz")
    assert Settings().road_network == Path("roads.npz")


def test_vehicles_without_a_load_sensor_come_with_the_context(session: Session):
    seed_registry(session)
    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == PLATE)).one()
    assert load_context(session, DAY, DAY, PROJ, Settings()).no_load_sensor == frozenset()
    vehicle.load_sensor = False
    session.add(vehicle)
    session.commit()
    assert load_context(session, DAY, DAY, PROJ, Settings()).no_load_sensor == {PLATE}


def test_geofences_and_routes_projected_at_once_as_one_at_a_time(session: Session):
    """Every geofence and every permit's routes are projected in one call over all their
    coordinates: each is, to the last bit, its own ``geom_forward``, and each permit keeps
    its own routes in their order (a MultiLineString's parts, a FeatureCollection's lines)."""
    from cdw.geo.shapes import GEOFENCE_KINDS, parse_geometry, route_lines

    seed_registry(session)
    lonlat = lambda geom: mapping(PROJ.geom_inverse(geom))  # noqa: E731
    first = session.get(Permit, 1)
    first.routes = {
        "type": "MultiLineString",
        "coordinates": [
            lonlat(line((0, 0), (1000, 7.3)))["coordinates"],
            lonlat(line((0, 50), (400, 90), (900, 20)))["coordinates"],
        ],
    }
    session.add(first)
    second = Permit(
        permit_no="HZ-2024-002",
        site_id=1,
        facility_id=1,
        volume_m3=1,
        valid_from=DAY,
        valid_to=DAY,
        status=PermitStatus.approved,
        routes={
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {}, "geometry": lonlat(line((5, 5), (70, 9)))}
            ],
        },
    )
    session.add_all(
        [
            second,
            RestrictedZone(name="禁行路段", kind="banned_road",
                           geofence=lonlat(line((0, 3000), (1000, 3000.5)))),
        ]
    )  # fmt: skip
    session.commit()
    ctx = load_context(session, DAY, DAY, PROJ, Settings())
    for permit in session.exec(select(Permit)).all():
        (rule,) = [r for r in ctx.permits if r.permit_no == permit.permit_no]
        want = [PROJ.geom_forward(g).wkb for g in route_lines(permit.routes)]
        assert [r.wkb for r in rule.routes] == want
    assert [len(r.routes) for r in ctx.permits] == [2, 1]
    for zones, model in ((ctx.sites, ConstructionSite), (ctx.restricted, RestrictedZone)):
        rows = session.exec(select(model).where(model.status == RecordStatus.active)).all()
        fences = [
            PROJ.geom_forward(parse_geometry(r.geofence, GEOFENCE_KINDS, field="g")) for r in rows
        ]
        got = [z.line if z.line is not None else z.geometry for z in zones]
        assert [g.wkb for g in got] == [f.wkb for f in fences]
