"""Server-side sessions end for real: logout, password change, deactivation, role change,
idle timeout and absolute lifetime all make an existing cookie worthless."""

from __future__ import annotations

from datetime import timedelta

from cs_register.audit.models import AuditAction
from cs_register.staff.sessions import hash_token
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import (
    approvals_waiting,
    audit_actions,
    form_login,
    is_logged_in,
    session_cookie,
    sessions_of,
)

NEW_PASSWORD = "a completely new passphrase"


def test_replayed_cookie_after_logout_is_rejected(app, client, new_client, make_staff, database):
    user = make_staff("agent", username="maija")
    form_login(client, "maija")
    stolen = session_cookie(app, client)
    assert stolen is not None
    client.post("/logout")

    attacker = new_client()
    attacker.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    response = attacker.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    (row,) = sessions_of(database, user)
    assert row.revoked_reason == "logout"


def test_copied_cookie_works_until_logout(app, client, new_client, make_staff):
    # The control for the test above: the copy is only refused because logout revoked it.
    make_staff("agent", username="maija")
    form_login(client, "maija")
    copy = new_client()
    copy.set_cookie(app.config["SESSION_COOKIE_NAME"], session_cookie(app, client))
    assert is_logged_in(copy)


def test_password_change_ends_other_sessions_but_keeps_this_one(
    client, new_client, make_staff, database
):
    user = make_staff("agent", username="maija")
    other_browser = new_client()
    form_login(other_browser, "maija")
    form_login(client, "maija")
    assert is_logged_in(other_browser)

    response = client.post(
        "/account/password",
        data={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 302

    assert is_logged_in(client)
    assert not is_logged_in(other_browser)
    reasons = sorted(row.revoked_reason or "live" for row in sessions_of(database, user))
    assert reasons == ["live", "password_changed"]
    # And the new password is the one that works now.
    third = new_client()
    assert form_login(third, "maija").status_code == 401
    assert form_login(third, "maija", NEW_PASSWORD).status_code == 302


def test_deactivation_by_an_admin_ends_the_live_session_and_blocks_login(
    client, new_client, make_staff, login
):
    agent = make_staff("agent", username="maija")
    form_login(client, "maija")
    assert is_logged_in(client)

    admin_browser = new_client()
    login(admin_browser, make_staff("admin", username="boss"))
    response = admin_browser.post(f"/admin/staff/{agent.public_id}/active", data={"active": "0"})
    assert response.status_code == 302

    assert not is_logged_in(client)
    response = form_login(new_client(), "maija")
    assert response.status_code == 401
    assert b"Invalid username or password" in response.data


def test_role_change_ends_the_accounts_sessions(client, new_client, make_staff, login, database):
    agent = make_staff("agent", username="maija")
    form_login(client, "maija")

    admin_browser = new_client()
    login(admin_browser, make_staff("admin", username="boss"))
    response = admin_browser.post(f"/admin/staff/{agent.public_id}/role", data={"role": "dpo"})
    assert response.headers["Location"] == "/admin/approvals"
    # A privileged role waits for a second admin: until then nothing changes.
    assert is_logged_in(client)
    second_admin = new_client()
    login(second_admin, make_staff("admin", username="second"))
    (change,) = approvals_waiting(database)
    response = second_admin.post(f"/admin/approvals/{change}/approve")
    assert response.status_code == 303

    assert not is_logged_in(client)
    assert [row.revoked_reason for row in sessions_of(database, agent)] == ["role_changed"]
    # Logging in again works, under the new role.
    form_login(client, "maija")
    assert is_logged_in(client)


def test_idle_for_29_minutes_stays_in_and_30_minutes_is_out(client, make_staff, clock, database):
    user = make_staff("agent", username="maija")
    form_login(client, "maija")

    clock.advance(timedelta(minutes=29))
    assert is_logged_in(client)
    clock.advance(timedelta(minutes=29))
    # Still in: the request at 29 minutes counted as activity.
    assert is_logged_in(client)
    clock.advance(timedelta(minutes=30))
    assert not is_logged_in(client)
    (row,) = sessions_of(database, user)
    assert row.revoked_reason == "idle_timeout"


def test_absolute_lifetime_ends_even_an_active_session(client, make_staff, clock, database):
    user = make_staff("agent", username="maija")
    form_login(client, "maija")
    # Busy all day: a request every 29 minutes for 11 h 36 min.
    for _ in range(24):
        clock.advance(timedelta(minutes=29))
        assert is_logged_in(client)
    # 24 minutes idle is well inside the idle timeout, but the session is now 12 hours old.
    clock.advance(timedelta(minutes=24))
    assert not is_logged_in(client)
    (row,) = sessions_of(database, user)
    assert row.revoked_reason == "lifetime"


def test_login_issues_a_new_token_and_ignores_a_planted_one(app, client, make_staff, database):
    user = make_staff("agent", username="maija")
    planted = "attacker-chosen-token"
    with client.session_transaction() as cookie_session:
        cookie_session["sid"] = planted
    cookie_before = session_cookie(app, client)

    form_login(client, "maija")

    cookie_after = session_cookie(app, client)
    assert cookie_after is not None
    assert cookie_after != cookie_before
    with client.session_transaction() as cookie_session:
        token = cookie_session["sid"]
    assert token != planted
    (row,) = sessions_of(database, user)
    assert row.token_hash == hash_token(token)
    assert row.token_hash != hash_token(planted)


def test_every_login_gets_its_own_token(app, client, make_staff, database):
    user = make_staff("agent", username="maija")
    form_login(client, "maija")
    first_cookie = session_cookie(app, client)
    with client.session_transaction() as cookie_session:
        first_token = cookie_session["sid"]
    form_login(client, "maija")
    with client.session_transaction() as cookie_session:
        second_token = cookie_session["sid"]
    assert second_token != first_token
    assert session_cookie(app, client) != first_cookie
    # Logging in over a session ends the old one rather than leaving it usable.
    rows = sessions_of(database, user)
    assert [row.revoked_reason for row in rows] == ["logout", None]


def test_a_cookie_for_one_account_cannot_be_relabelled_as_another(client, make_staff, login):
    agent = make_staff("agent", username="maija")
    admin = make_staff("admin", username="boss")
    login(client, agent)
    with client.session_transaction() as cookie_session:
        cookie_session["_user_id"] = str(admin.id)
    assert client.get("/admin/staff").status_code == 302
    assert not is_logged_in(client)


def test_one_sees_ones_own_sessions_and_ends_the_others_with_the_password(
    client, new_client, make_staff, database
):
    make_staff("agent", username="maija")
    other = new_client()
    form_login(other, "maija")
    form_login(client, "maija")
    page = client.get("/account/sessions").get_data(as_text=True)
    assert page.count("<tr>") == 3  # the header row and two sessions
    assert "this browser" in page
    wrong = client.post("/account/sessions", data={"current_password": "not my password"})
    assert wrong.status_code == 422
    assert is_logged_in(other)
    done = client.post("/account/sessions", data={"current_password": DEFAULT_PASSWORD})
    assert done.status_code == 303
    assert not is_logged_in(other)
    assert is_logged_in(client)
    (event,) = audit_actions(database, AuditAction.OWN_SESSIONS_ENDED)
    assert event.details == {"ended": 1}
