"""Staff services called directly: session purging, one-time passwords, role parsing."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import sqlalchemy as sa

from cs_register.errors import Conflict, PermissionDenied, ValidationFailed
from cs_register.permissions import Role
from cs_register.staff import passwords as staff_passwords
from cs_register.staff import services
from cs_register.staff import sessions as staff_sessions
from cs_register.staff.models import StaffSession, StaffUser
from tests.conftest import START
from tests.support.context import make_context

POLICY = staff_sessions.SessionPolicy(
    idle_timeout=timedelta(minutes=30),
    absolute_lifetime=timedelta(hours=12),
)


def _session_row(db_session, user, *, created, last_seen, revoked=None):
    row = StaffSession(
        token_hash=staff_sessions.hash_token(f"token-{created}-{last_seen}-{revoked}"),
        user_id=user.id,
        created_at=created,
        last_seen_at=last_seen,
        revoked_at=revoked,
        revoked_reason="logout" if revoked else None,
    )
    db_session.add(row)
    return row


def test_purge_expired_sessions_deletes_only_unusable_rows(db_session, make_staff):
    user = make_staff("agent")
    now = START + timedelta(days=1)
    keep = {
        "fresh": _session_row(db_session, user, created=now, last_seen=now),
        "almost idle": _session_row(
            db_session,
            user,
            created=now - timedelta(hours=1),
            last_seen=now - timedelta(minutes=29),
        ),
        "almost too old": _session_row(
            db_session, user, created=now - timedelta(hours=11, minutes=59), last_seen=now
        ),
    }
    _session_row(db_session, user, created=now, last_seen=now, revoked=now)
    _session_row(
        db_session, user, created=now - timedelta(hours=1), last_seen=now - timedelta(minutes=30)
    )
    _session_row(db_session, user, created=now - timedelta(hours=12), last_seen=now)
    db_session.commit()
    kept_ids = {row.id for row in keep.values()}

    assert staff_sessions.purge_expired_sessions(db_session, now=now, policy=POLICY) == 3
    db_session.commit()
    remaining = set(db_session.scalars(sa.select(StaffSession.id)))
    assert remaining == kept_ids
    # Idempotent.
    assert staff_sessions.purge_expired_sessions(db_session, now=now, policy=POLICY) == 0


def test_purged_rows_are_exactly_those_resume_session_refuses(db_session, make_staff):
    # The purge must never delete a session the login check would still accept.
    user = make_staff("agent")
    now = START + timedelta(days=1)
    tokens = {}
    for minutes_idle in (0, 29, 30, 31):
        token = f"idle-{minutes_idle}"
        db_session.add(
            StaffSession(
                token_hash=staff_sessions.hash_token(token),
                user_id=user.id,
                created_at=now - timedelta(hours=1),
                last_seen_at=now - timedelta(minutes=minutes_idle),
            )
        )
        tokens[token] = minutes_idle
    db_session.commit()
    accepted = {
        token
        for token in tokens
        if staff_sessions.resume_session(db_session, token=token, now=now, policy=POLICY)
        is not None
    }
    db_session.rollback()
    staff_sessions.purge_expired_sessions(db_session, now=now, policy=POLICY)
    remaining = set(db_session.scalars(sa.select(StaffSession.token_hash)))
    assert remaining == {staff_sessions.hash_token(token) for token in accepted}
    assert accepted == {"idle-0", "idle-29"}


def test_one_time_password_never_contains_the_username():
    draws = iter(["xxabcxq7Rk2Lx9Vb4Nw8", "ABC-q7Rk2Lx9Vb4Nw8Jm", "q7Rk2Lx9Vb4Nw8Jm3Tz6"])
    with mock.patch.object(
        staff_passwords.secrets, "token_urlsafe", side_effect=lambda _n: next(draws)
    ):
        assert staff_passwords.generate_one_time_password("abc") == "q7Rk2Lx9Vb4Nw8Jm3Tz6"


def test_one_time_passwords_pass_the_policy_and_differ():
    passwords = {staff_passwords.generate_one_time_password("someone") for _ in range(20)}
    assert len(passwords) == 20
    assert all(not staff_passwords.check_password_policy(p, username="someone") for p in passwords)


@pytest.mark.parametrize(("raw", "role"), [("agent", Role.AGENT), (" DPO ", Role.DPO)])
def test_parse_role(raw, role):
    assert services.parse_role(raw) is role


def test_parse_role_rejects_unknown_values():
    with pytest.raises(ValidationFailed) as failure:
        services.parse_role("root")
    assert "agent, supervisor, admin, dpo" in failure.value.errors["role"][0]


def test_create_user_reports_every_problem_at_once(db_session, password_hashing):
    with pytest.raises(ValidationFailed) as failure:
        services.create_user(
            make_context(db_session, None, START),
            hashing=password_hashing,
            username="x",
            display_name=" ",
            role=Role.AGENT,
            password="short",
            must_change_password=True,
        )
    assert set(failure.value.errors) == {"username", "display_name", "password"}


def test_admin_services_check_the_role_themselves(db_session, make_staff, password_hashing):
    agent = db_session.get(StaffUser, make_staff("agent").id)
    target = db_session.get(StaffUser, make_staff("agent").id)
    calls = [
        lambda: services.staff_overviews(make_context(db_session, agent, START), policy=POLICY),
        lambda: services.set_role(
            make_context(db_session, agent, START), user=target, role=Role.ADMIN
        ),
        lambda: services.set_active(
            make_context(db_session, agent, START), user=target, active=False
        ),
        lambda: services.reset_password(
            make_context(db_session, agent, START), hashing=password_hashing, user=target
        ),
        lambda: services.create_user_with_one_time_password(
            make_context(db_session, agent, START),
            hashing=password_hashing,
            username="new",
            display_name="New",
            role=Role.ADMIN,
        ),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert target.role == Role.AGENT


def test_an_inactive_admin_can_do_nothing(db_session, make_staff):
    admin = db_session.get(StaffUser, make_staff("admin", active=False).id)
    target = db_session.get(StaffUser, make_staff("agent").id)
    with pytest.raises(PermissionDenied):
        services.set_role(make_context(db_session, admin, START), user=target, role=Role.ADMIN)


def test_self_service_guards(db_session, make_staff, password_hashing):
    admin = db_session.get(StaffUser, make_staff("admin").id)
    with pytest.raises(Conflict):
        services.set_role(make_context(db_session, admin, START), user=admin, role=Role.AGENT)
    with pytest.raises(Conflict):
        services.set_active(make_context(db_session, admin, START), user=admin, active=False)
    with pytest.raises(Conflict):
        services.reset_password(
            make_context(db_session, admin, START), hashing=password_hashing, user=admin
        )


def test_resume_session_refuses_an_inactive_users_token(db_session, make_staff):
    user = db_session.get(StaffUser, make_staff("agent").id)
    token = staff_sessions.start_session(make_context(db_session, None, START), user=user)
    assert (
        staff_sessions.resume_session(db_session, token=token, now=START, policy=POLICY) is not None
    )
    user.is_active = False
    assert staff_sessions.resume_session(db_session, token=token, now=START, policy=POLICY) is None


def test_resume_session_writes_last_seen_at_most_once_a_minute(db_session, make_staff):
    user = db_session.get(StaffUser, make_staff("agent").id)
    token = staff_sessions.start_session(make_context(db_session, None, START), user=user)
    row = staff_sessions.resume_session(
        db_session, token=token, now=START + timedelta(seconds=59), policy=POLICY
    )
    assert row.last_seen_at == START
    row = staff_sessions.resume_session(
        db_session, token=token, now=START + timedelta(minutes=1), policy=POLICY
    )
    assert row.last_seen_at == START + timedelta(minutes=1)


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "aaaaaaaaaaaa",
        " " * 12,
        "qwertyuiop12",
        "cs-register2026",
        "asiakaspalvelu1",
    ],
)
def test_guessable_passwords_are_refused_whatever_their_length(password):
    problems = staff_passwords.check_password_policy(password, username="maija")
    assert any("too easy to guess" in problem for problem in problems)


def test_the_accounts_own_names_count_as_guessable():
    # Strong enough for anyone else; not for Maija herself.
    assert staff_passwords.check_password_policy("MeikalainenMaija", username="mm") == []
    assert (
        staff_passwords.check_password_policy(
            "MeikalainenMaija", username="mm", display_name="Maija Meikalainen"
        )
        != []
    )
    assert staff_passwords.check_password_policy("tuuli kahvi purjevene", username="mm") == []
