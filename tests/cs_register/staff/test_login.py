"""Logging in and out through the real form."""

from __future__ import annotations

from tests.conftest import DEFAULT_PASSWORD


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


def test_health_is_public(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
