"""Security headers on every console response, request ids, and the production cookie."""

from __future__ import annotations

import re

import pytest

from app import create_app
from tests.conftest import DEFAULT_PASSWORD


def assert_console_security_headers(response):
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/login", "/health", "/account/password", "/no-such-page"])
def test_console_responses_carry_security_headers_and_are_not_cached(client, logged_in, path):
    logged_in("agent")
    response = client.get(path)
    assert_console_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_redirects_and_error_pages_are_not_cached_either(client, logged_in):
    logged_in("agent")
    forbidden = client.get("/audit")
    assert forbidden.status_code == 403
    assert forbidden.headers["Cache-Control"] == "no-store"
    assert_console_security_headers(forbidden)
    client.post("/logout")
    redirect = client.get("/account/password")
    assert redirect.status_code == 302
    assert redirect.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached_but_keep_the_other_headers(client):
    response = client.get("/static/console.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert_console_security_headers(response)


def test_no_hsts_over_plain_http_in_development(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_a_valid_incoming_request_id_is_echoed(client):
    response = client.get("/login", headers={"X-Request-Id": "lb-7f3a9c2e.01"})
    assert response.headers["X-Request-Id"] == "lb-7f3a9c2e.01"


@pytest.mark.parametrize(
    "incoming",
    ["short", "x" * 65, "has space in it", "semi;colon;id", "<script>alert(1)</script>", ""],
)
def test_an_invalid_request_id_is_replaced(client, incoming):
    response = client.get("/login", headers={"X-Request-Id": incoming})
    echoed = response.headers["X-Request-Id"]
    assert echoed != incoming
    assert re.fullmatch(r"[0-9a-f]{16}", echoed)


def test_each_request_gets_its_own_id(client):
    first = client.get("/login").headers["X-Request-Id"]
    second = client.get("/login").headers["X-Request-Id"]
    assert first != second


@pytest.fixture
def secure_app(settings, clock, database):
    app = create_app(settings.with_overrides(cookie_secure=True), clock=clock, database=database)
    # The test client then speaks https://, as browsers do to a secure deployment.
    app.config["PREFERRED_URL_SCHEME"] = "https"
    return app


def test_secure_deployment_sends_hsts(secure_app):
    response = secure_app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert_console_security_headers(response)


def test_secure_deployment_session_cookie_is_host_prefixed_secure_httponly_lax(
    secure_app, make_staff
):
    make_staff("agent", username="maija")
    client = secure_app.test_client()
    response = client.post("/login", data={"username": "maija", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    cookies = [value for name, value in response.headers.items() if name == "Set-Cookie"]
    (session_cookie,) = [c for c in cookies if c.startswith("__Host-cs_session=")]
    attributes = {part.strip().split("=", 1)[0].lower() for part in session_cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes
    assert "samesite=lax" in session_cookie.lower()
    assert "path=/" in session_cookie.lower().replace(" ", "")
    # __Host- cookies must not name a domain (browsers reject them otherwise).
    assert "domain" not in attributes
    # The logged-in cookie actually works over HTTPS.
    assert client.get("/account/password").status_code == 200
