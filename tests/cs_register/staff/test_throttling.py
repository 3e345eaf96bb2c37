"""Wrong passwords slow the address down, never lock the account; failures never reveal which
usernames exist."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.staff import throttling
from cs_register.staff.models import StaffSignIn
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import audit_actions, form_login, is_logged_in

WRONG = "not the right password"
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


def _attempt(client, username, password=DEFAULT_PASSWORD, address=ATTACKER):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def _fail(client, username, times, address=ATTACKER):
    for _ in range(times):
        assert _attempt(client, username, WRONG, address).status_code == 401


def test_five_wrong_passwords_hold_back_that_address_for_that_account_only(
    client, new_client, make_staff, clock
):
    make_staff("agent", username="maija")
    make_staff("agent", username="pekka")
    _fail(client, "maija", 5)

    # From the attacker's address, even the right password must wait; the answer says how long.
    held = _attempt(client, "maija")
    assert held.status_code == 429
    assert held.headers["Retry-After"] == str(15 * 60)
    assert "Too many failed attempts from here. Wait 15 minutes" in held.get_data(as_text=True)
    assert not is_logged_in(client)

    # The account is not locked: its owner, from their own address, logs in at once.
    owner = new_client()
    assert _attempt(owner, "maija", address=OWNER).status_code == 302
    assert is_logged_in(owner)
    # Nor is the address blocked for other accounts (under the address limit).
    assert _attempt(new_client(), "pekka").status_code == 302

    # Waiting is enough: to the second.
    clock.advance(timedelta(minutes=14, seconds=59))
    assert _attempt(client, "maija").status_code == 429
    assert _attempt(client, "maija").headers["Retry-After"] == "1"
    clock.advance(timedelta(seconds=1))
    assert _attempt(client, "maija").status_code == 302


def test_four_wrong_passwords_do_not_hold_anyone_back(client, make_staff):
    make_staff("agent", username="maija")
    _fail(client, "maija", 4)
    assert _attempt(client, "maija").status_code == 302


def test_an_address_guessing_many_accounts_is_held_back(client, make_staff, clock):
    # Password spraying: one guess at each of many accounts.
    for n in range(throttling.PER_ADDRESS):
        make_staff("agent", username=f"user{n}")
        assert _attempt(client, f"user{n}", WRONG).status_code == 401
    make_staff("agent", username="maija")
    held = _attempt(client, "maija")
    assert held.status_code == 429
    assert int(held.headers["Retry-After"]) == 15 * 60
    # Somewhere else, the same account logs in normally.
    assert _attempt(client, "maija", address=OWNER).status_code == 302


def test_throttled_attempts_are_audited_and_do_not_count(client, make_staff, database, clock):
    user = make_staff("agent", username="maija")
    _fail(client, "maija", 5)
    for _ in range(10):  # hammering while held back does not extend the wait
        assert _attempt(client, "maija", WRONG).status_code == 429
    clock.advance(timedelta(minutes=15))
    assert _attempt(client, "maija").status_code == 302
    held = audit_actions(database, AuditAction.LOGIN_THROTTLED)
    assert len(held) == 10
    assert {event.subject_id for event in held} == {user.public_id}
    assert {event.details["limit"] for event in held} == {"account_address"}
    with database.session_factory() as session:
        outcomes = session.scalars(sa.select(StaffSignIn.outcome)).all()
    assert outcomes.count("throttled") == 10


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
    _fail(client, "maija", 2)
    form_login(client, "nobody", WRONG)

    # Read through a separate connection: the rows exist only if the requests committed them.
    events = audit_actions(database, AuditAction.LOGIN_FAILED)
    assert [event.details["reason"] for event in events] == [
        "bad_password",
        "bad_password",
        "unknown_user",
    ]
    assert [event.subject_id for event in events] == [user.public_id] * 2 + [None]
    # The typed unknown username is not written anywhere: it could be a mistyped password.
    assert all("nobody" not in str(event.details) for event in events)
    assert events[2].actor_label == "unknown"


def test_the_limit_does_not_tell_which_usernames_exist(client, make_staff):
    make_staff("agent", username="maija")
    _fail(client, "maija", 5)
    _fail(client, "nobody", 5)
    known = _attempt(client, "maija", WRONG)
    unknown = _attempt(client, "nobody", WRONG)
    assert known.status_code == unknown.status_code == 429
    assert known.headers["Retry-After"] == unknown.headers["Retry-After"]
