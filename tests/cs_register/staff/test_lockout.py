"""Wrong passwords lock one account for a while; they never reveal which usernames exist."""

from __future__ import annotations

import re
from datetime import timedelta

from cs_register.audit.models import AuditAction
from tests.cs_register.staff.conftest import audit_actions, form_login, is_logged_in

WRONG = "not the right password"


def _fail(client, username, times):
    for _ in range(times):
        assert form_login(client, username, WRONG).status_code == 401


def test_five_wrong_passwords_lock_only_that_account_for_15_minutes(
    client, new_client, make_staff, clock
):
    make_staff("agent", username="maija")
    make_staff("agent", username="pekka")
    _fail(client, "maija", 5)

    # Locked: even the right password is refused, with the same message as always.
    locked = form_login(client, "maija")
    assert locked.status_code == 401
    assert b"Invalid username or password" in locked.data
    assert not is_logged_in(client)

    # Not global: another account logs in normally meanwhile.
    other = new_client()
    assert form_login(other, "pekka").status_code == 302
    assert is_logged_in(other)

    clock.advance(timedelta(minutes=14, seconds=59))
    assert form_login(client, "maija").status_code == 401
    clock.advance(timedelta(seconds=1))
    assert form_login(client, "maija").status_code == 302
    assert is_logged_in(client)


def test_four_wrong_passwords_do_not_lock(client, make_staff):
    make_staff("agent", username="maija")
    _fail(client, "maija", 4)
    assert form_login(client, "maija").status_code == 302


def test_successful_login_resets_the_count(client, new_client, make_staff):
    make_staff("agent", username="maija")
    _fail(client, "maija", 4)
    assert form_login(client, "maija").status_code == 302
    browser = new_client()
    _fail(browser, "maija", 4)
    assert form_login(browser, "maija").status_code == 302


def test_unknown_username_gets_exactly_the_same_answer(client, make_staff):
    make_staff("agent", username="maija")
    known = form_login(client, "maija", WRONG)
    unknown = form_login(client, "nobody", WRONG)
    assert known.status_code == unknown.status_code == 401
    # The page echoes the typed username and carries a time-stamped CSRF token; apart from
    # those the two answers are identical.
    assert _comparable(known, "maija") == _comparable(unknown, "nobody")


def _comparable(response, username):
    page = response.get_data(as_text=True).replace(username, "X")
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def test_failed_logins_are_audited_and_committed(client, make_staff, database):
    user = make_staff("agent", username="maija")
    _fail(client, "maija", 5)
    form_login(client, "nobody", WRONG)
    form_login(client, "maija")  # right password while locked

    # Read through a separate connection: the rows exist only if the requests committed them.
    events = audit_actions(database, AuditAction.LOGIN_FAILED)
    assert [event.details["reason"] for event in events] == [
        "bad_password",
        "bad_password",
        "bad_password",
        "bad_password",
        "bad_password",
        "unknown_user",
        "locked",
    ]
    assert events[4].details.get("account_locked") is True
    assert [event.subject_id for event in events] == [user.public_id] * 5 + [None, user.public_id]
    # The typed unknown username is not written anywhere: it could be a mistyped password.
    assert all("nobody" not in str(event.details) for event in events)
    assert events[5].actor_label == "unknown"


def test_an_admin_password_reset_lifts_a_lockout(client, new_client, make_staff, login):
    agent = make_staff("agent", username="maija")
    _fail(client, "maija", 5)
    admin_browser = new_client()
    login(admin_browser, make_staff("admin", username="boss"))
    response = admin_browser.post(f"/admin/staff/{agent.public_id}/reset-password")
    assert response.status_code == 200
    one_time = response.get_data(as_text=True).split('id="one-time-password">')[1].split("<")[0]
    assert form_login(client, "maija", one_time).status_code == 302
