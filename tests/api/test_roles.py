"""Every endpoint, every role: only the roles a route declares get past its gate.

The allowed roles are read from each route's own ``require_roles`` dependency, so a new
endpoint is covered the moment it exists, and one without a role gate fails
``test_every_endpoint_declares_its_roles``.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.routing import APIRoute
from sqlmodel import Session

from cdw.api.app import API_PREFIX, ROUTERS, app
from cdw.api.deps import roles_of
from cdw.auth.models import BINDING_OF_ROLE, Role
from cdw.registry.categories import FacilityKind, WasteCategory
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier

PUBLIC_ENDPOINTS = {("POST", f"{API_PREFIX}/auth/token")}
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[113.58, 23.55], [113.581, 23.55], [113.581, 23.551], [113.58, 23.551], [113.58, 23.55]]
    ],
}


def _declared_roles(route: APIRoute) -> frozenset[Role] | None:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call is not None and (roles := roles_of(dependant.call)) is not None:
            return roles
        stack.extend(dependant.dependencies)
    return None


def _walk(routes, prefix: str):
    """APIRoutes with their full paths, through nested routers.

    FastAPI ≥ 0.165 keeps an included router as a wrapper (``original_router`` plus the
    include prefix) instead of copying its routes; older versions copy them.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)


def _api_routes() -> list[tuple[str, str, APIRoute]]:
    return [
        (method, path, route)
        for router in ROUTERS
        for path, route in _walk(router.routes, API_PREFIX)
        for method in sorted(route.methods)
    ]


GATED = [(m, p, r) for m, p, r in _api_routes() if (m, p) not in PUBLIC_ENDPOINTS]


def test_the_route_list_covers_the_whole_api():
    documented = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    assert documented == {(m, p) for m, p, _ in _api_routes()}


def test_every_endpoint_declares_its_roles():
    missing = [f"{m} {p}" for m, p, r in GATED if _declared_roles(r) is None]
    assert not missing, f"endpoints without require_roles: {missing}"
    assert len(GATED) >= 10, "the API should have its registry, auth and tracking endpoints"


@pytest.fixture
def bindings(engine) -> dict[str, int]:
    """One facility, site and haulier for the bound roles to belong to."""
    with Session(engine) as s:
        site = ConstructionSite(
            name="测试工地",
            project_permit_no="P-1",
            builder="甲",
            contractor="乙",
            geofence=SQUARE,
            expected_volume_m3=100,
        )
        facility = DisposalFacility(
            name="测试消纳场",
            kind=FacilityKind.landfill,
            geofence=SQUARE,
            capacity_m3=1000,
            accepted_categories=[WasteCategory.excavated_soil],
        )
        haulier = Haulier(
            name="测试运输公司",
            credit_code="91440101MA5CYC4X4K",
            licence_no="L-1",
            licence_valid_until=date(2030, 1, 1),
        )
        s.add_all([site, facility, haulier])
        s.commit()
        return {"facility_id": facility.id, "site_id": site.id, "haulier_id": haulier.id}


# A stream answers until it is told to stop: read it for no longer than its first poll.
BOUNDED_QUERY = {f"{API_PREFIX}/stream": "?max_seconds=0"}


def _concrete(path: str) -> str:
    """Fill path parameters with an id that exists for nobody (9999) or a plate."""
    return re.sub(r"\{[^}]+\}", "9999", path) + BOUNDED_QUERY.get(path, "")


@pytest.mark.parametrize(("method", "path", "route"), GATED, ids=[f"{m} {p}" for m, p, _ in GATED])
def test_only_declared_roles_pass_the_gate(client, auth_headers, bindings, method, path, route):
    allowed = _declared_roles(route)
    url = _concrete(path)

    anonymous = client.request(method, url)
    assert anonymous.status_code == 401, f"anonymous {method} {url}: {anonymous.status_code}"

    for role in Role:
        binding = (
            {BINDING_OF_ROLE[role]: bindings[BINDING_OF_ROLE[role]]}
            if role in BINDING_OF_ROLE
            else {}
        )
        resp = client.request(method, url, headers=auth_headers(role, **binding), json={})
        if role in allowed:
            assert resp.status_code not in (401, 403), (
                f"{role} refused on {method} {url}: {resp.text}"
            )
        else:
            assert resp.status_code == 403, (
                f"{role} let through on {method} {url}: {resp.status_code}"
            )
            assert resp.json()["code"] == "forbidden"


R = Role
TRACK_SEERS = {R.admin, R.permit_officer, R.enforcement_officer, R.haulier}  # no viewer
DRIVER_READERS = {R.admin, R.permit_officer, R.enforcement_officer, R.viewer, R.haulier}
# Who may see and do what where issue 13 drew the line (personal data masking and time
# scoping happen inside: tests/api/test_masking.py, test_transfer.py, test_scoping.py).
ROLE_TABLE = {
    ("POST", "/manifests/{manifest_id}/void"): {
        R.admin, R.permit_officer, R.enforcement_officer, R.site_dispatcher,
    },
    ("POST", "/manifests/check"): {R.site_dispatcher},
    ("GET", "/tracks/{plate}"): TRACK_SEERS,
    ("GET", "/flags"): TRACK_SEERS,  # a flag's geometry is a piece of the track
    ("GET", "/flags/{flag_id}"): TRACK_SEERS,
    ("GET", "/enforcement/flags/{flag_id}/evidence"): {R.admin, R.enforcement_officer},
    ("GET", "/enforcement/cases/{case_id}/report"): {R.admin, R.enforcement_officer},
    ("GET", "/drivers"): DRIVER_READERS,
    ("GET", "/drivers/{record_id}"): DRIVER_READERS,
    ("PATCH", "/vehicles/{record_id}"): {R.admin, R.permit_officer},
    # the console's map: every role (geofences scoped inside: tests/api/test_maps.py)
    ("GET", "/map/roads"): set(R),
    ("GET", "/map/geofences"): set(R),
    ("GET", "/dashboard/kpis"): {R.admin, R.permit_officer, R.enforcement_officer, R.viewer},
    ("GET", "/dashboard/flags-per-day"): {
        R.admin, R.permit_officer, R.enforcement_officer, R.viewer,
    },
    # citizen reports name a complaint and answer raw track data
    ("POST", "/citizen-reports"): {R.admin, R.enforcement_officer},
    ("GET", "/citizen-reports"): {R.admin, R.enforcement_officer},
    ("GET", "/citizen-reports/{report_id}"): {R.admin, R.enforcement_officer},
    ("POST", "/citizen-reports/{report_id}/photo"): {R.admin, R.enforcement_officer},
    ("GET", "/citizen-reports/{report_id}/photo"): {R.admin, R.enforcement_officer},
    ("GET", "/citizen-reports/{report_id}/trucks"): {R.admin, R.enforcement_officer},
    ("GET", "/vehicles/live"): TRACK_SEERS,  # a position is a piece of the track
    ("GET", "/stream"): TRACK_SEERS,  # positions and flags
    ("POST", "/positions"): {R.admin, R.enforcement_officer, R.haulier},
}  # fmt: skip


@pytest.mark.parametrize(("method", "path"), ROLE_TABLE, ids=[f"{m} {p}" for m, p in ROLE_TABLE])
def test_the_role_table(method, path):
    routes = {(m, p): r for m, p, r in GATED}
    assert _declared_roles(routes[(method, f"{API_PREFIX}{path}")]) == ROLE_TABLE[(method, path)]
