"""Schemathesis against the whole API: generated valid and invalid requests to every
operation, as an admin and as a facility operator bound to one facility; no answer may be a
server error or differ from the OpenAPI document.

The budget is ``CDW_FUZZ_EXAMPLES`` examples per operation and generation mode (default 3,
about a minute on a 2-core machine); ``make fuzz`` runs the same test with a larger budget.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session

from cdw.api.app import app
from cdw.api.routes.tracks import get_store
from cdw.auth.models import Role
from cdw.tracking.store import PointStore
from tests.manifests.seed import seed

EXAMPLES = int(os.environ.get("CDW_FUZZ_EXAMPLES", "3"))
# writes that may revoke the caller's own tokens (password, role, disable): run last, so the
# rest of the run is not answered 401 by a token the run itself revoked
REVOKING = ("/api/v1/users/{user_id}", "/api/v1/auth/me/password")
CHECKS = [not_a_server_error, response_schema_conformance]
STREAM = "/api/v1/stream"


@pytest.fixture
def store(tmp_path):
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    app.dependency_overrides[get_store] = lambda: points
    yield points
    app.dependency_overrides.pop(get_store, None)


def _run(operation, mode: GenerationMode, headers, examples, statuses, failures) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{operation.label} [{mode.value}] {case!r}: {exc}"[:2000])

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
        assert mode is GenerationMode.NEGATIVE, operation.label


def fuzz(headers: dict[str, str], examples: int) -> tuple[Counter, list[str]]:
    """Every operation, ``examples`` valid and ``examples`` invalid cases each: the answers
    by status and the failures (operation, case, what was wrong)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: Counter = Counter()
    failures: list[str] = []
    # The live stream answers until max_seconds (up to an hour): tests/live reads it.
    operations = [
        op for result in schema.get_all_operations() if (op := result.ok()).path != STREAM
    ]
    operations.sort(key=lambda op: op.method.upper() != "GET" and op.path.startswith(REVOKING))
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(operation, mode, headers, examples, statuses, failures)
    return statuses, failures


@pytest.mark.parametrize("role", [Role.admin, Role.facility_operator])
def test_no_server_errors_and_no_schema_violations(
    client, auth_headers, session: Session, store, role
):
    s = seed(session)
    session.commit()
    binding = {"facility_id": s.facility.id} if role is Role.facility_operator else {}
    statuses, failures = fuzz(auth_headers(role, **binding), EXAMPLES)
    print(f"\nschemathesis {role}: {sum(statuses.values())} requests, by status {dict(statuses)}")
    assert not failures, "\n\n".join(failures[:20]) + f"\n\n{len(failures)} failures"
    assert sum(statuses.values()) > 100
    assert statuses[401] < 0.05 * sum(statuses.values()), "the run lost its own token"
