"""The OpenAPI document: valid OpenAPI 3.1, served publicly, and complete for every /api/ route."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient

from cs_register.openapi import openapi_document

SELF_ENDPOINT = "openapi.openapi_json"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every /api/ rule of the app, except the document itself."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint == SELF_ENDPOINT:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) & METHODS:
            routes.add((path, method.lower()))
    return routes


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1.")
    # Schemathesis validates the document against the official OpenAPI 3.1 meta-schema.
    schemathesis.openapi.from_dict(document).validate()
    # ... which does not look inside Schema Objects; these must be valid JSON Schema 2020-12.
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid({"$schema": DRAFT_2020_12, **schema}), name


def test_an_invalid_document_would_be_caught() -> None:
    document = openapi_document()
    document["paths"]["/api/v1/calls"]["post"]["responses"] = "nothing"
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(document).validate()


def test_every_api_route_is_documented(app: Flask) -> None:
    documented = {
        (path, method)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method.upper() in METHODS
    }
    routes = api_routes(app)
    assert ("/api/v1/intake/email", "post") in routes  # the scan itself works
    assert routes - documented == set(), "undocumented /api/ routes"
    assert documented - routes == set(), "documented routes the app does not have"


def test_every_operation_documents_its_errors_as_problem_details() -> None:
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            responses: dict[str, Any] = operation["responses"]
            assert any(code.startswith("2") for code in responses), (path, method)
            errors = {code: r for code, r in responses.items() if code.startswith("4")}
            assert errors, (path, method)
            for response in errors.values():
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
            # Token endpoints declare bearer auth and a 401; the webhook declares its headers.
            assert "401" in responses, (path, method)
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            assert (
                operation.get("security")
                or {
                    "webhook-id",
                    "webhook-timestamp",
                    "webhook-signature",
                }
                <= headers
            ), (path, method)


def test_the_document_is_served_without_credentials(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == openapi_document()
