"""The OpenAPI document is complete: every route answers a typed body and declares its errors.

Walks ``app.openapi()``, so a route added without ``response_model`` (a bare ``dict``
answer) or without its error answers fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from cdw.api.app import app
from cdw.api.deps import ALL_ROLES
from cdw.api.schemas import ERROR_BODY_REF
from tests.api.test_roles import _api_routes, _declared_roles

DOCUMENT = app.openapi()
SCHEMAS = DOCUMENT["components"]["schemas"]
OPERATIONS = [
    (method, path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def untyped(schema: dict[str, Any], where: str = "body") -> list[str]:
    """Places in ``schema`` that say nothing of their content: an object without properties
    nor a typed value, an array without items, or no type at all."""
    schema = _resolve(schema)
    if "anyOf" in schema:
        return [p for option in schema["anyOf"] for p in untyped(option, where)]
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        return untyped(items, f"{where}[]") if items else [where]
    if kind == "object" or "properties" in schema:
        if "properties" in schema:
            return []
        values = schema.get("additionalProperties")
        if isinstance(values, dict) and values:
            return untyped(values, f"{where}{{}}")
        return [where]
    return [] if kind else [where]


def _success(operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (code,) = [c for c in operation["responses"] if c.startswith("2")]
    return code, operation["responses"][code]


def test_the_document_lists_every_route():
    assert len(OPERATIONS) == len(_api_routes()) > 60


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_every_route_answers_a_typed_body(method, path, operation):
    _, answer = _success(operation)
    content = answer["content"]
    if "text/event-stream" in content:  # the live push channel: typed events
        assert set(content) == {"text/event-stream"}
        assert untyped(content["text/event-stream"]["schema"]) == []
        return
    if "application/json" not in content:  # the printable case report, a report's photo
        assert set(content) in ({"text/html"}, {"image/jpeg", "image/png", "image/webp"})
        return
    assert untyped(content["application/json"]["schema"]) == []


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_every_route_declares_its_errors(method, path, operation):
    responses = operation["responses"]
    expected = {"401", "422"} | ({"404"} if "_id}" in path else set())  # a record by id
    assert expected <= set(responses)
    for code, answer in responses.items():
        if not code.startswith("2"):
            assert answer["content"] == {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}


@pytest.mark.parametrize(("method", "path", "route"), _api_routes(), ids=lambda v: str(v))
def test_a_route_closed_to_some_roles_declares_403(method, path, route):
    roles = _declared_roles(route)
    if roles is not None and roles != frozenset(ALL_ROLES):
        operation = DOCUMENT["paths"][path][method.lower()]
        assert "403" in operation["responses"]


def test_the_check_finds_an_untyped_answer():
    assert untyped({"type": "object"}) == ["body"]
    assert untyped({"type": "array", "items": {"type": "object"}}) == ["body[]"]
    assert untyped({"type": "object", "additionalProperties": True}) == ["body"]
    assert untyped({}) == ["body"]
    assert untyped({"$ref": ERROR_BODY_REF}) == []
