"""Helpers for the staff tests: logging in through the real form and handling the cookie."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.db import Database
from cs_register.staff.models import StaffChangeRequest, StaffSession, StaffUser
from tests.conftest import DEFAULT_PASSWORD


def form_login(
    client: FlaskClient, username: str, password: str = DEFAULT_PASSWORD, **extra: str
) -> TestResponse:
    """POST the login form as a browser would."""
    return client.post("/login", data={"username": username, "password": password, **extra})


def session_cookie(app: Flask, client: FlaskClient) -> str | None:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return None if cookie is None else cookie.value


def is_logged_in(client: FlaskClient) -> bool:
    """The password page is the one console page every role (and every state) may open."""
    response = client.get("/account/password")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    return False


def approvals_waiting(database: Database) -> list[str]:
    """The public ids of the change requests still pending, oldest first."""
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(StaffChangeRequest.public_id)
                .where(StaffChangeRequest.outcome == "pending")
                .order_by(StaffChangeRequest.id)
            )
        )


def sessions_of(database: Database, user: StaffUser) -> list[StaffSession]:
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(StaffSession).where(StaffSession.user_id == user.id).order_by("id")
            )
        )


def audit_actions(database: Database, action: AuditAction) -> list[AuditEvent]:
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


@pytest.fixture
def new_client(app: Flask) -> Callable[[], FlaskClient]:
    """Another browser: its own cookie jar."""
    return app.test_client
