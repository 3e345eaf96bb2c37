"""How errors reach people: problem+json under /api/, console pages elsewhere, and rollback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Blueprint, jsonify

from cs_register import audit
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.context import Context
from cs_register.db import get_session
from cs_register.errors import NotFound, ValidationFailed
from cs_register.permissions import Actor, ActorKind
from cs_register.web import now

CANARY_LABEL = "rollback-canary"
SECRET_MESSAGE = "internal detail: customer 131052-308T broke the frobnicator"

# Test-only routes. Registered per test app (before its first request), never in production.
api_probe = Blueprint("api_probe", __name__, url_prefix="/api/probe")
console_probe = Blueprint("console_probe", __name__, url_prefix="/probe")


@api_probe.get("/items")
def api_items():
    return jsonify(items=[])


@api_probe.post("/invalid")
def api_invalid():
    raise ValidationFailed({"email": ["Email address is not valid."], "phone": "Too short."})


@api_probe.get("/missing")
def api_missing():
    raise NotFound("No such item.")


@api_probe.get("/boom")
def api_boom():
    raise RuntimeError(SECRET_MESSAGE)


@console_probe.get("/boom")
def console_boom():
    # A write that must not survive the failure of the request that made it.
    actor = Actor(kind=ActorKind.SYSTEM, audit_label=CANARY_LABEL)
    audit.record(Context(get_session(), actor, now()), AuditAction.LOGIN)
    raise RuntimeError(SECRET_MESSAGE)


@pytest.fixture
def probe_app(app):
    app.register_blueprint(api_probe)
    app.register_blueprint(console_probe)
    return app


@pytest.fixture
def probe_client(probe_app, client):
    # The shared client, so `logged_in` logs this very client in.
    return client


def assert_problem(response, status, instance):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["instance"] == instance
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


def assert_console_page(response, status):
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert 'class="card error-page"' in response.text
    assert 'href="/static/console.css' in response.text
    assert f"<h1>{status} · " in response.text


def test_unknown_api_url_is_a_problem_document(probe_client):
    body = assert_problem(probe_client.get("/api/nothing/here"), 404, "/api/nothing/here")
    assert body["title"] == "Not Found"


def test_wrong_method_under_api_is_a_problem_document_with_allow(probe_client):
    response = probe_client.delete("/api/probe/items")
    body = assert_problem(response, 405, "/api/probe/items")
    assert body["title"] == "Method Not Allowed"
    assert "GET" in response.headers["Allow"]


def test_validation_failure_under_api_lists_field_errors(probe_client):
    response = probe_client.post("/api/probe/invalid")
    body = assert_problem(response, 422, "/api/probe/invalid")
    assert body["title"] == "Validation failed"
    assert body["errors"] == {
        "email": ["Email address is not valid."],
        "phone": ["Too short."],
    }


def test_domain_not_found_under_api(probe_client):
    body = assert_problem(probe_client.get("/api/probe/missing"), 404, "/api/probe/missing")
    assert body["detail"] == "No such item."
    assert "errors" not in body


def test_unexpected_api_error_is_a_bare_500_problem(probe_app, probe_client):
    probe_app.config["PROPAGATE_UNEXPECTED"] = False
    response = probe_client.get("/api/probe/boom")
    body = assert_problem(response, 500, "/api/probe/boom")
    assert response.headers["X-Request-Id"] in body["detail"]
    assert "frobnicator" not in response.text
    assert "131052-308T" not in response.text


def test_console_404_is_a_console_page(probe_client, logged_in):
    logged_in("agent")
    response = probe_client.get("/no/such/page")
    assert_console_page(response, 404)
    # Logged-in chrome (navigation) is there, so the person can find their way back.
    assert "Log out" in response.text


def test_console_404_for_anonymous_reveals_nothing_and_is_still_a_page(probe_client):
    response = probe_client.get("/customers/not-a-real-route/at-all")
    assert_console_page(response, 404)
    assert "Log out" not in response.text


def test_console_403_is_a_console_page(probe_client, logged_in):
    logged_in("agent")
    response = probe_client.get("/audit")
    assert_console_page(response, 403)
    assert "Your role does not allow" in response.text


def test_console_405_is_a_console_page_with_allow(probe_client, logged_in):
    logged_in("agent")
    response = probe_client.get("/logout")
    assert_console_page(response, 405)
    assert "POST" in response.headers["Allow"].split(", ")


def test_unexpected_error_shows_request_id_only_and_rolls_back(
    probe_app, probe_client, logged_in, db_session, caplog
):
    probe_app.config["PROPAGATE_UNEXPECTED"] = False
    logged_in("agent")
    response = probe_client.get("/probe/boom", headers={"X-Request-Id": "trace-0001-boom"})
    assert_console_page(response, 500)
    assert "trace-0001-boom" in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert "frobnicator" not in response.text
    assert "131052-308T" not in response.text
    # The traceback went to the server log instead, tagged with the request id.
    (logged,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged.request_id == "trace-0001-boom"
    assert logged.exc_info is not None
    canaries = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.actor_label == CANARY_LABEL)
    ).all()
    assert canaries == []


def test_in_tests_unexpected_errors_propagate_by_default(probe_client, logged_in):
    logged_in("agent")
    with pytest.raises(RuntimeError, match="frobnicator"):
        probe_client.get("/probe/boom")
