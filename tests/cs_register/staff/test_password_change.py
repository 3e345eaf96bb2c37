"""Changing one's own password, and the one-time password that must be replaced first."""

from __future__ import annotations

import pytest

from cs_register.audit.models import AuditAction
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import audit_actions, form_login

NEW_PASSWORD = "my own long passphrase"


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("agent", "/"),
        ("agent", "/customers"),
        ("agent", "/contacts/new"),
        ("admin", "/admin/staff"),
        ("admin", "/admin/staff/new"),
        ("supervisor", "/audit"),
    ],
)
def test_one_time_password_users_are_sent_to_change_it_from_every_page(
    client, make_staff, role, path
):
    make_staff(role, username="fresh", must_change_password=True)
    response = form_login(client, "fresh")
    assert response.headers["Location"] == "/account/password"

    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/password"


def test_one_time_password_users_cannot_act_through_post_either(client, make_staff):
    target = make_staff("agent", username="someone")
    make_staff("admin", username="fresh", must_change_password=True)
    form_login(client, "fresh")
    response = client.post(f"/admin/staff/{target.public_id}/active", data={"active": "0"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/password"


def test_after_changing_it_the_console_opens(client, make_staff, database):
    user = make_staff("admin", username="fresh", must_change_password=True)
    form_login(client, "fresh")
    page = client.get("/account/password")
    assert page.status_code == 200
    assert b"one-time password" in page.data

    response = client.post(
        "/account/password",
        data={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert client.get("/admin/staff").status_code == 200
    (event,) = audit_actions(database, AuditAction.PASSWORD_CHANGED)
    assert event.subject_id == user.public_id


def test_logout_stays_possible_with_a_one_time_password(client, make_staff):
    make_staff("agent", username="fresh", must_change_password=True)
    form_login(client, "fresh")
    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    assert client.get("/account/password").status_code == 302


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("short pass", "at least 12 characters"),
        ("x" * 257, "at most 256 characters"),
        ("my name is maija ok", "must not contain the username"),
        (DEFAULT_PASSWORD, "must differ from the current one"),
    ],
)
def test_password_policy_errors_are_shown(client, make_staff, new_password, message):
    make_staff("agent", username="maija")
    form_login(client, "maija")
    response = client.post(
        "/account/password",
        data={"current_password": DEFAULT_PASSWORD, "new_password": new_password},
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    # Nothing changed: the old password still works.
    assert form_login(client, "maija").status_code == 302


def test_wrong_current_password_is_refused(client, make_staff, database):
    make_staff("agent", username="maija")
    form_login(client, "maija")
    response = client.post(
        "/account/password",
        data={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 422
    assert "Current password is not correct." in response.get_data(as_text=True)
    assert audit_actions(database, AuditAction.PASSWORD_CHANGED) == []
