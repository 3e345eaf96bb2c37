"""Logging in and out through the real form."""

from __future__ import annotations

import pytest

from cs_register.audit.models import AuditAction
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import audit_actions, form_login, is_logged_in


def test_login_form_opens_a_session_and_logout_ends_it(client, make_staff):
    make_staff("agent", username="maija")
    response = client.post("/login", data={"username": "maija", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert client.get("/account/password").status_code == 200
    client.post("/logout")
    assert client.get("/account/password").status_code == 302


def test_wrong_password_is_rejected_with_a_generic_message(client, make_staff):
    make_staff("agent", username="maija")
    response = client.post("/login", data={"username": "maija", "password": "x" * 12})
    assert response.status_code == 401
    assert b"Invalid username or password" in response.data


def test_username_is_case_insensitive(client, make_staff):
    make_staff("agent", username="maija")
    assert form_login(client, "  MaiJa ").status_code == 302
    assert is_logged_in(client)


def test_health_is_public(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_console_pages_send_anonymous_visitors_to_login_with_next(client):
    response = client.get("/admin/staff?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/staff?page%3D2"


def test_logout_is_post_only(client, logged_in):
    logged_in("agent")
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    # The GET changed nothing: still logged in.
    assert is_logged_in(client)


def test_logout_is_audited(client, make_staff, database):
    user = make_staff("agent", username="maija")
    form_login(client, "maija")
    client.post("/logout")
    logouts = audit_actions(database, AuditAction.LOGOUT)
    assert [event.subject_id for event in logouts] == [user.public_id]


def test_successful_login_is_audited_without_the_password(client, make_staff, database):
    user = make_staff("agent", username="maija")
    form_login(client, "maija")
    (event,) = audit_actions(database, AuditAction.LOGIN)
    assert event.actor_id == user.id
    assert DEFAULT_PASSWORD not in str(event.details)


def test_login_goes_to_a_safe_next_path(client, make_staff):
    make_staff("admin", username="boss")
    response = form_login(client, "boss", next="/admin/staff?sort=role")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/staff?sort=role"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "http://evil.com/admin",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "javascript:alert(1)",
        "evil.com",
        "/\t/[evil",
    ],
)
def test_login_ignores_unsafe_next_targets(client, make_staff, target):
    make_staff("admin", username="boss")
    response = form_login(client, "boss", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_page_does_not_carry_an_unsafe_next_along(client):
    response = client.get("/login", query_string={"next": "https://evil.com"})
    assert response.status_code == 200
    assert b"evil.com" not in response.data
    safe = client.get("/login", query_string={"next": "/admin/staff"})
    assert b'name="next" value="/admin/staff"' in safe.data


def test_over_long_password_is_refused_like_any_wrong_one(client, make_staff):
    make_staff("agent", username="maija")
    response = form_login(client, "maija", DEFAULT_PASSWORD + "x" * 100_000)
    assert response.status_code == 401
    assert b"Invalid username or password" in response.data
