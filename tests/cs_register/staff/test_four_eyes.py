"""Four eyes on privilege: privileged accounts, role changes to them, their password resets and
every two-step reset take effect only when a second admin approves."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.permissions import Role
from cs_register.staff.models import StaffChangeRequest, StaffRecoveryCode, StaffUser
from tests.cs_register.staff.conftest import (
    approvals_waiting,
    audit_actions,
    form_login,
    is_logged_in,
)


@pytest.fixture
def admins(client, new_client, make_staff, login):
    """Two admins in two browsers: (first, its browser, second, its browser)."""
    first = make_staff("admin", username="first-admin")
    login(client, first)
    second = make_staff("admin", username="second-admin")
    second_browser = new_client()
    login(second_browser, second)
    return first, client, second, second_browser


def _user(database, username):
    with database.unit_of_work() as session:
        return session.scalar(sa.select(StaffUser).where(StaffUser.username == username))


def _request(database, public_id):
    with database.unit_of_work() as session:
        return session.scalar(
            sa.select(StaffChangeRequest).where(StaffChangeRequest.public_id == public_id)
        )


def _one_time_password(response):
    match = re.search(r'id="one-time-password">([^<]+)<', response.get_data(as_text=True))
    assert match, "the page shows the one-time password"
    return match.group(1)


NEW_SUPERVISOR = {"username": "sanna", "display_name": "Sanna Esimies", "role": "supervisor"}


def test_a_privileged_account_exists_only_after_a_second_admin_approves(
    admins, database, new_client
):
    first, first_browser, second, second_browser = admins
    response = first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/approvals"
    assert _user(database, "sanna") is None
    (change,) = approvals_waiting(database)

    # The admin who asked cannot approve it, and sees only "withdraw" on the page.
    page = first_browser.get("/admin/approvals").get_data(as_text=True)
    assert "New account: sanna (Sanna Esimies) as Supervisor" in page
    assert f"/admin/approvals/{change}/approve" not in page
    refused = first_browser.post(f"/admin/approvals/{change}/approve")
    assert refused.status_code == 409
    assert "A second admin approves your request" in refused.get_data(as_text=True)
    assert _user(database, "sanna") is None

    assert f"/admin/approvals/{change}/approve" in second_browser.get("/admin/approvals").text
    approved = second_browser.post(f"/admin/approvals/{change}/approve")
    assert approved.status_code == 201
    password = _one_time_password(approved)
    created = _user(database, "sanna")
    assert created.role == Role.SUPERVISOR
    assert created.must_change_password is True
    assert form_login(new_client(), "sanna", password).headers["Location"] == "/account/password"

    stored = _request(database, change)
    assert (stored.outcome, stored.decided_by_id, stored.target_user_id) == (
        "approved",
        second.id,
        created.id,
    )
    (asked,) = audit_actions(database, AuditAction.STAFF_CHANGE_REQUESTED)
    (yes,) = audit_actions(database, AuditAction.STAFF_CHANGE_APPROVED)
    (made,) = audit_actions(database, AuditAction.STAFF_CREATED)[-1:]
    assert (asked.actor_id, yes.actor_id, made.actor_id) == (first.id, second.id, second.id)
    assert asked.subject_id == yes.subject_id == change
    assert asked.details == {"kind": "create_account", "role": "supervisor"}
    assert made.subject_id == created.public_id


@pytest.mark.parametrize("role", ["supervisor", "dpo", "admin"])
def test_every_privileged_role_waits(admins, database, role):
    _, first_browser, _, _ = admins
    first_browser.post("/admin/staff/new", data={**NEW_SUPERVISOR, "role": role})
    assert _user(database, "sanna") is None
    assert len(approvals_waiting(database)) == 1


def test_an_agent_account_needs_no_second_admin(admins, database):
    _, first_browser, _, _ = admins
    response = first_browser.post("/admin/staff/new", data={**NEW_SUPERVISOR, "role": "agent"})
    assert response.status_code == 201
    assert _user(database, "sanna").role == Role.AGENT
    assert approvals_waiting(database) == []


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({**NEW_SUPERVISOR, "username": "x"}, 422, "Use 3-64 characters"),
        ({**NEW_SUPERVISOR, "display_name": " "}, 422, "Display name is required"),
        ({**NEW_SUPERVISOR, "username": "first-admin"}, 409, "already taken"),
    ],
)
def test_a_request_is_checked_when_asked(admins, database, form, status, message):
    _, first_browser, _, _ = admins
    response = first_browser.post("/admin/staff/new", data=form)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert approvals_waiting(database) == []


def test_the_same_change_is_asked_once(admins, database):
    _, first_browser, _, second_browser = admins
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    again = second_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    assert again.status_code == 409
    assert "already waits for approval" in again.get_data(as_text=True)
    assert len(approvals_waiting(database)) == 1


def test_a_role_change_to_a_privileged_role_waits_and_a_rejection_changes_nothing(
    admins, make_staff, database, new_client, login
):
    first, first_browser, second, second_browser = admins
    agent = make_staff("agent", username="maija")
    agent_browser = new_client()
    login(agent_browser, agent)
    response = first_browser.post(f"/admin/staff/{agent.public_id}/role", data={"role": "admin"})
    assert response.headers["Location"] == "/admin/approvals"
    assert _user(database, "maija").role == Role.AGENT
    assert is_logged_in(agent_browser)
    (change,) = approvals_waiting(database)
    assert "Role change: maija, Agent" in second_browser.get("/admin/approvals").text

    rejected = second_browser.post(f"/admin/approvals/{change}/reject")
    assert rejected.status_code == 303
    assert _user(database, "maija").role == Role.AGENT
    assert is_logged_in(agent_browser)
    assert _request(database, change).outcome == "rejected"
    assert audit_actions(database, AuditAction.STAFF_ROLE_CHANGED) == []
    (no,) = audit_actions(database, AuditAction.STAFF_CHANGE_REJECTED)
    assert no.actor_id == second.id
    # Decided is decided: approving afterwards is refused.
    late = second_browser.post(f"/admin/approvals/{change}/approve")
    assert late.status_code == 409
    assert "already rejected" in late.get_data(as_text=True)


def test_an_approved_role_change_applies_and_ends_the_sessions(
    admins, make_staff, database, new_client, login
):
    _, first_browser, _, second_browser = admins
    agent = make_staff("agent", username="maija")
    agent_browser = new_client()
    login(agent_browser, agent)
    first_browser.post(f"/admin/staff/{agent.public_id}/role", data={"role": "supervisor"})
    (change,) = approvals_waiting(database)
    response = second_browser.post(f"/admin/approvals/{change}/approve")
    assert response.headers["Location"] == f"/admin/staff/{agent.public_id}"
    assert _user(database, "maija").role == Role.SUPERVISOR
    assert not is_logged_in(agent_browser)


def test_a_role_that_changed_meanwhile_makes_the_request_stale(admins, make_staff, database):
    _, first_browser, _, second_browser = admins
    agent = make_staff("agent", username="maija")
    first_browser.post(f"/admin/staff/{agent.public_id}/role", data={"role": "dpo"})
    (change,) = approvals_waiting(database)
    with database.unit_of_work() as session:
        session.get(StaffUser, agent.id).role = Role.SUPERVISOR
    response = second_browser.post(f"/admin/approvals/{change}/approve")
    assert response.status_code == 409
    assert "role changed since" in response.get_data(as_text=True)
    assert _user(database, "maija").role == Role.SUPERVISOR


def test_a_privileged_accounts_password_reset_waits(
    admins, make_staff, database, new_client, login
):
    _, first_browser, _, second_browser = admins
    supervisor = make_staff("supervisor", username="sanna")
    supervisor_browser = new_client()
    login(supervisor_browser, supervisor)
    before = _user(database, "sanna").password_hash

    response = first_browser.post(f"/admin/staff/{supervisor.public_id}/reset-password")
    assert response.headers["Location"] == "/admin/approvals"
    assert _user(database, "sanna").password_hash == before
    assert is_logged_in(supervisor_browser)

    (change,) = approvals_waiting(database)
    approved = second_browser.post(f"/admin/approvals/{change}/approve")
    assert approved.status_code == 200
    password = _one_time_password(approved)
    assert not is_logged_in(supervisor_browser)
    assert form_login(new_client(), "sanna", password).headers["Location"] == "/account/password"


def test_an_agents_password_reset_needs_no_second_admin(admins, make_staff, database):
    _, first_browser, _, _ = admins
    agent = make_staff("agent", username="maija")
    response = first_browser.post(f"/admin/staff/{agent.public_id}/reset-password")
    assert response.status_code == 200
    _one_time_password(response)
    assert approvals_waiting(database) == []


def test_a_two_step_reset_always_waits_then_forgets_the_factor(
    admins, make_staff, database, new_client, login, clock
):
    _, first_browser, second, second_browser = admins
    agent = make_staff("agent", username="maija")
    with database.unit_of_work() as session:
        row = session.get(StaffUser, agent.id)
        row.totp_secret_ciphertext = b"sealed"
        row.totp_enabled_at = clock.now
        session.add(StaffRecoveryCode(user_id=agent.id, code_hash="0" * 64, created_at=clock.now))
    agent_browser = new_client()
    login(agent_browser, agent)

    detail = first_browser.get(f"/admin/staff/{agent.public_id}").get_data(as_text=True)
    assert "Reset two-step login" in detail
    response = first_browser.post(f"/admin/staff/{agent.public_id}/reset-two-step")
    assert response.headers["Location"] == "/admin/approvals"
    assert _user(database, "maija").totp_enabled_at is not None
    (change,) = approvals_waiting(database)
    assert "Two-step login reset: maija" in second_browser.get("/admin/approvals").text

    second_browser.post(f"/admin/approvals/{change}/approve")
    reset = _user(database, "maija")
    assert (reset.totp_secret_ciphertext, reset.totp_enabled_at) == (None, None)
    with database.unit_of_work() as session:
        assert session.scalars(sa.select(StaffRecoveryCode)).all() == []
    assert not is_logged_in(agent_browser)
    (event,) = audit_actions(database, AuditAction.TWO_STEP_RESET)
    assert event.actor_id == second.id


def test_a_change_to_ones_own_account_is_decided_by_someone_else(admins, make_staff, database):
    first, first_browser, second, second_browser = admins
    third = make_staff("admin", username="third-admin")
    # The first admin asks to reset the second admin's two-step login: the second, whose
    # account it is, cannot approve it.
    first_browser.post(f"/admin/staff/{second.public_id}/reset-two-step")
    (change,) = approvals_waiting(database)
    page = second_browser.get("/admin/approvals").get_data(as_text=True)
    assert "about your own account" in page
    response = second_browser.post(f"/admin/approvals/{change}/approve")
    assert response.status_code == 409
    assert _request(database, change).outcome == "pending"
    # Nor can anyone ask for a change to their own account this way.
    own = first_browser.post(f"/admin/staff/{first.public_id}/reset-two-step")
    assert own.status_code == 409
    assert third.role == Role.ADMIN


def test_a_request_lapses_after_a_day_to_the_second(admins, database, clock, login):
    first, first_browser, second, second_browser = admins
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    (change,) = approvals_waiting(database)
    clock.advance(timedelta(hours=24))
    login(first_browser, first)  # sessions last 12 hours at most
    login(second_browser, second)
    response = second_browser.post(f"/admin/approvals/{change}/approve")
    assert response.status_code == 409
    assert "lapsed" in response.get_data(as_text=True)
    assert _user(database, "sanna") is None
    page = second_browser.get("/admin/approvals").get_data(as_text=True)
    assert "Nothing waits for approval" in page
    assert "lapsed" in page
    # ... and can be asked for again.
    assert first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR).status_code == 303


def test_a_request_a_second_before_it_lapses_is_approved(admins, database, clock, login):
    _, first_browser, second, second_browser = admins
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    (change,) = approvals_waiting(database)
    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    login(second_browser, second)
    assert second_browser.post(f"/admin/approvals/{change}/approve").status_code == 201


def test_only_the_admin_who_asked_withdraws(admins, database):
    first, first_browser, _, second_browser = admins
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    (change,) = approvals_waiting(database)
    other = second_browser.post(f"/admin/approvals/{change}/withdraw")
    assert other.status_code == 409
    assert "Only the admin who asked" in other.get_data(as_text=True)
    assert first_browser.post(f"/admin/approvals/{change}/withdraw").status_code == 303
    stored = _request(database, change)
    assert (stored.outcome, stored.decided_by_id) == ("withdrawn", first.id)
    (event,) = audit_actions(database, AuditAction.STAFF_CHANGE_WITHDRAWN)
    assert event.actor_id == first.id


def test_a_deactivated_requesters_change_is_not_approved(admins, make_staff, database):
    first, first_browser, _, second_browser = admins
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    (change,) = approvals_waiting(database)
    with database.unit_of_work() as session:
        session.get(StaffUser, first.id).is_active = False
    response = second_browser.post(f"/admin/approvals/{change}/approve")
    assert response.status_code == 409
    assert "deactivated since" in response.get_data(as_text=True)


def test_unknown_requests_and_decisions_are_404(admins, database):
    _, first_browser, _, second_browser = admins
    assert second_browser.post("/admin/approvals/no-such-request/approve").status_code == 404
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    (change,) = approvals_waiting(database)
    assert second_browser.post(f"/admin/approvals/{change}/maybe").status_code == 404
    assert _request(database, change).outcome == "pending"


def test_the_staff_list_says_what_waits(admins, database):
    _, first_browser, _, second_browser = admins
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    page = second_browser.get("/admin/staff").get_data(as_text=True)
    assert "1 change to staff accounts waits for a second admin" in page


def test_other_roles_cannot_see_or_decide_requests(admins, database, new_client, make_staff, login):
    _, first_browser, _, _ = admins
    first_browser.post("/admin/staff/new", data=NEW_SUPERVISOR)
    (change,) = approvals_waiting(database)
    for role in ("agent", "supervisor", "dpo"):
        browser = new_client()
        login(browser, make_staff(role))
        assert browser.get("/admin/approvals").status_code == 403
        assert browser.post(f"/admin/approvals/{change}/approve").status_code == 403
    assert _request(database, change).outcome == "pending"


def test_the_command_line_needs_no_second_admin(app, database):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "root2", "--role", "admin", "--display-name", "Root Two"]
    )
    assert result.exit_code == 0, result.output
    assert _user(database, "root2").role == Role.ADMIN
