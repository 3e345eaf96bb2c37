"""CSRF protection with the real setting (enabled), and GET requests that change nothing.

The shared `app` fixture switches CSRF off so ordinary tests can post forms directly; here it
is on, exactly as deployed.
"""

from __future__ import annotations

import re

import pytest

from app import create_app
from cs_register.web import PUBLIC_ENDPOINTS
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.conftest import (
    STATE_CHANGING_METHODS,
    build_url,
    console_rules,
    rule_methods,
)

# Bookkeeping that reading pages legitimately writes: audit rows ("who looked at what") and
# the server-side session's last-seen time.
BOOKKEEPING_TABLES = frozenset({"audit_events", "staff_sessions"})


@pytest.fixture
def csrf_app(settings, clock, database):
    # `extra={}` drops the suite's WTF_CSRF_ENABLED=False, so Flask-WTF's default (on) applies.
    return create_app(settings.with_overrides(extra={}), clock=clock, database=database)


@pytest.fixture
def csrf_client(csrf_app):
    return csrf_app.test_client()


def csrf_token_from(html):
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token field"
    return match.group(1)


def test_csrf_is_really_enabled(csrf_app):
    assert csrf_app.config.get("WTF_CSRF_ENABLED", True) is True


def test_every_state_changing_route_refuses_a_request_without_token(
    csrf_app, csrf_client, make_staff, login, console_objects, db_snapshot
):
    login(csrf_client, make_staff("supervisor"))
    before = db_snapshot()
    checked = []
    for rule in console_rules(csrf_app):
        url = build_url(csrf_app, rule, console_objects)
        for method in set(rule_methods(rule)) & STATE_CHANGING_METHODS:
            response = csrf_client.open(url, method=method, data={"value": "x"})
            checked.append(rule.endpoint)
            assert response.status_code == 400, f"{method} {url}: {response.status_code}"
            assert response.mimetype == "text/html"
            assert "Form expired" in response.text
            assert 'class="card error-page"' in response.text
    # Logging in, logging out and the console's forms were all among them.
    assert {"auth.login", "auth.logout", "customers.new_customer"} <= set(checked)
    assert db_snapshot() == before


def test_a_wrong_token_is_refused_too(csrf_client, make_staff, login, db_snapshot):
    login(csrf_client, make_staff("agent"))
    before = db_snapshot()
    response = csrf_client.post(
        "/customers/new",
        data={"csrf_token": "forged", "given_names": "Ei", "family_name": "Tallennu"},
    )
    assert response.status_code == 400
    assert db_snapshot() == before


def test_a_token_from_the_page_lets_logout_work(csrf_client, make_staff, login):
    login(csrf_client, make_staff("agent"))
    page = csrf_client.get("/account/password")
    assert page.status_code == 200
    token = csrf_token_from(page.text)
    response = csrf_client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert csrf_client.get("/account/password").status_code == 302


def test_login_form_works_with_its_token(csrf_client, make_staff):
    make_staff("agent", username="maija")
    token = csrf_token_from(csrf_client.get("/login").text)
    response = csrf_client.post(
        "/login", data={"username": "maija", "password": DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    assert csrf_client.get("/account/password").status_code == 200


def test_logout_by_get_is_not_allowed(csrf_client, make_staff, login):
    login(csrf_client, make_staff("agent"))
    response = csrf_client.get("/logout")
    assert response.status_code == 405
    # Still logged in: a link or an <img src="/logout"> cannot end someone's session.
    assert csrf_client.get("/account/password").status_code == 200


def test_get_requests_change_nothing_but_bookkeeping(
    app, client, make_staff, login, console_objects, db_snapshot
):
    login(client, make_staff("supervisor"))
    before = db_snapshot(exclude=BOOKKEEPING_TABLES)
    visited = []
    for rule in console_rules(app):
        if "GET" not in rule_methods(rule):
            continue
        url = build_url(app, rule, console_objects)
        response = client.get(url)
        assert response.status_code < 500, f"GET {url}: {response.status_code}"
        visited.append(rule.endpoint)
    assert "customers.customer_page" in visited
    assert "audit.browse" in visited
    assert set(visited) >= PUBLIC_ENDPOINTS
    assert db_snapshot(exclude=BOOKKEEPING_TABLES) == before
