"""The telephony API authenticates integrations by bearer token only, and every failure is a
401 problem+json with a Bearer challenge: never a redirect to the staff login page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cs_register.integrations.conftest import PROBE_URL, bearer, stored_token
from tests.support.context import make_context

# (method, path, extra request arguments): every route of the API blueprint.
API_ROUTES = [
    ("POST", "/api/v1/calls", {"json": {"external_call_id": "c-1"}}),
    ("GET", "/api/v1/calls/c-1", {}),
    ("PUT", "/api/v1/calls/c-1/recording", {"data": b"RIFF", "content_type": "audio/wav"}),
    ("POST", "/api/v1/calls/c-1/events", {"json": {"event": "ringing", "agent": "anna"}}),
]


def assert_unauthorised(response):
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Location" not in response.headers
    body = response.get_json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    return body


def test_every_api_route_is_covered_here(app):
    # The telephony API's routes; the intake API's chatbot webhook authenticates by signature
    # instead (tests/cs_register/intake/test_webhook_signature.py).
    api_rules = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint.startswith("telephony_api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert api_rules == {
        ("POST", "/api/v1/calls"),
        ("GET", "/api/v1/calls/<external_call_id>"),
        ("PUT", "/api/v1/calls/<external_call_id>/recording"),
        ("POST", "/api/v1/calls/<external_call_id>/events"),
    }


@pytest.mark.parametrize(("method", "path", "kwargs"), API_ROUTES)
def test_no_token_is_refused_on_every_route(client, method, path, kwargs):
    body = assert_unauthorised(client.open(path, method=method, **kwargs))
    assert "Authorization: Bearer" in body["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Token csr_" + "a" * 43,
        "Bearer csr_short",
        "Bearer csr_" + "a" * 43,  # well-formed, unknown
    ],
)
@pytest.mark.parametrize(("method", "path", "kwargs"), API_ROUTES)
def test_malformed_and_unknown_tokens_are_refused(client, make_token, header, method, path, kwargs):
    make_token()
    body = assert_unauthorised(
        client.open(path, method=method, headers={"Authorization": header}, **kwargs)
    )
    assert "not valid" in body["detail"]


def test_a_revoked_token_is_refused_from_the_next_request_on(client, make_token, database, clock):
    from cs_register.integrations import services

    row, raw = make_token()
    assert client.get(PROBE_URL, headers=bearer(raw)).status_code == 404
    with database.unit_of_work() as session:
        services.revoke_token(make_context(session, None, clock.now), public_id=row.public_id)
    assert_unauthorised(client.get(PROBE_URL, headers=bearer(raw)))


def test_the_scheme_is_case_insensitive(client, make_token):
    _, raw = make_token()
    response = client.get(PROBE_URL, headers={"Authorization": f"bearer {raw}"})
    assert response.status_code == 404


def test_a_staff_login_does_not_authenticate_the_api(client, logged_in):
    for role in ("admin", "supervisor"):
        logged_in(role)
        assert_unauthorised(client.get(PROBE_URL))
        assert_unauthorised(
            client.post("/api/v1/calls", json={"external_call_id": "c-1", "direction": "inbound"})
        )


def test_authenticated_requests_record_last_use_even_when_they_fail(
    client, make_token, database, clock
):
    _, raw = make_token()
    # 404: the request failed (and rolled back), but the token was used.
    assert client.get(PROBE_URL, headers=bearer(raw)).status_code == 404
    assert stored_token(database, "pbx-test").last_used_at == clock.now

    first_use = clock.now
    clock.advance(timedelta(seconds=30))
    client.get(PROBE_URL, headers=bearer(raw))
    assert stored_token(database, "pbx-test").last_used_at == first_use
    clock.advance(timedelta(minutes=1))
    client.get(PROBE_URL, headers=bearer(raw))
    assert stored_token(database, "pbx-test").last_used_at == clock.now


def test_failed_authentication_leaves_the_token_untouched(client, make_token, database):
    _, raw = make_token()
    client.get(PROBE_URL, headers=bearer(raw[:-1] + ("a" if raw[-1] != "a" else "b")))
    assert stored_token(database, "pbx-test").last_used_at is None


def test_a_request_id_is_echoed_on_a_refusal(client):
    response = client.get(PROBE_URL, headers={"X-Request-Id": "pbx-req-12345"})
    assert_unauthorised(response)
    assert response.get_json()["request_id"] == "pbx-req-12345"
