"""The admin pages: list, create, inspect and manage staff accounts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import create_app
from cs_register.audit.models import AuditAction
from cs_register.permissions import Role
from cs_register.staff.models import StaffUser
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import audit_actions, form_login, is_logged_in

ADMIN_GETS = ["/admin/staff", "/admin/staff/new"]


def _one_time_password(response):
    match = re.search(r'id="one-time-password">([^<]+)<', response.get_data(as_text=True))
    assert match, "the page shows the one-time password"
    return match.group(1)


def _load(database, public_id):
    with database.unit_of_work() as session:
        return session.scalar(sa.select(StaffUser).where(StaffUser.public_id == public_id))


@pytest.mark.parametrize("role", ["agent", "supervisor", "dpo"])
def test_other_roles_get_403_on_every_admin_page(client, logged_in, make_staff, database, role):
    target = make_staff("agent", username="target")
    logged_in(role)
    for path in [*ADMIN_GETS, f"/admin/staff/{target.public_id}"]:
        assert client.get(path).status_code == 403, path
    for action, data in [("role", {"role": "admin"}), ("active", {"active": "0"})]:
        response = client.post(f"/admin/staff/{target.public_id}/{action}", data=data)
        assert response.status_code == 403
    assert client.post(f"/admin/staff/{target.public_id}/reset-password").status_code == 403
    stored = _load(database, target.public_id)
    assert (stored.role, stored.is_active, stored.must_change_password) == (
        Role.AGENT,
        True,
        False,
    )


def test_anonymous_visitors_are_sent_to_login(client):
    for path in ADMIN_GETS:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_admin_home_goes_to_the_staff_list(client, logged_in):
    logged_in("admin")
    assert client.get("/").headers["Location"] == "/admin/staff"


def test_staff_list_shows_accounts_with_status_and_last_login(
    client, new_client, logged_in, make_staff, clock
):
    make_staff("supervisor", username="sanna")
    make_staff("agent", username="locked-out")
    make_staff("dpo", username="gone", active=False)
    form_login(new_client(), "sanna")  # 23.11.2026 09:00 UTC = 11:00 in Helsinki
    for _ in range(5):
        form_login(new_client(), "locked-out", "wrong password!")
    clock.advance(timedelta(minutes=5))
    logged_in("admin")

    page = client.get("/admin/staff").get_data(as_text=True)
    rows = {
        name: re.search(rf">{re.escape(name)}</a>.*?</tr>", page, re.S).group(0)
        for name in ("sanna", "locked-out", "gone")
    }
    assert "Supervisor" in rows["sanna"]
    assert "23.11.2026 11:00" in rows["sanna"]
    assert "locked" in rows["locked-out"]
    assert "never" in rows["locked-out"]
    assert "deactivated" in rows["gone"]
    assert "Data-protection officer" in rows["gone"]


def test_new_staff_shows_the_one_time_password_once(client, logged_in, new_client, database):
    admin = logged_in("admin")
    form = client.get("/admin/staff/new")
    assert form.status_code == 200
    response = client.post(
        "/admin/staff/new",
        data={"username": "New.Agent", "display_name": "  Uusi   Agentti ", "role": "agent"},
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    password = _one_time_password(response)
    assert len(password) >= 12
    # Not in a redirect, not in the cookie session (flash messages live there).
    assert "Location" not in response.headers
    with client.session_transaction() as cookie_session:
        assert password not in str(dict(cookie_session))
    # The next page does not show it again.
    assert password not in client.get("/admin/staff").get_data(as_text=True)

    with database.unit_of_work() as session:
        user = session.scalar(sa.select(StaffUser).where(StaffUser.username == "new.agent"))
        assert user.display_name == "Uusi Agentti"
        assert user.role == Role.AGENT
        assert user.must_change_password is True
        assert password not in user.password_hash
    (event,) = audit_actions(database, AuditAction.STAFF_CREATED)[-1:]
    assert event.actor_id == admin.id
    assert event.subject_id == user.public_id
    assert event.details == {"role": "agent"}

    newcomer = new_client()
    response = form_login(newcomer, "new.agent", password)
    assert response.headers["Location"] == "/account/password"


@pytest.mark.parametrize(
    ("form", "field_message"),
    [
        ({"username": "a", "display_name": "Name", "role": "agent"}, "Use 3-64 characters"),
        ({"username": "bad name!", "display_name": "Name", "role": "agent"}, "Use 3-64"),
        ({"username": "valid", "display_name": "   ", "role": "agent"}, "Display name is"),
        ({"username": "valid", "display_name": "Name", "role": "root"}, "Choose one of"),
    ],
)
def test_new_staff_validation_errors_keep_the_input(client, logged_in, form, field_message):
    logged_in("admin")
    response = client.post("/admin/staff/new", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_message in page
    assert 'class="field-error"' in page
    if form["display_name"].strip():
        assert f'value="{form["display_name"]}"' in page


def test_new_staff_with_a_taken_username_is_a_readable_conflict(client, logged_in, make_staff):
    make_staff("agent", username="maija")
    logged_in("admin")
    response = client.post(
        "/admin/staff/new", data={"username": "MAIJA", "display_name": "Other", "role": "agent"}
    )
    assert response.status_code == 409
    assert "That username is already taken." in response.get_data(as_text=True)


def test_staff_detail_shows_the_account(client, logged_in, make_staff):
    target = make_staff("supervisor", username="sanna", must_change_password=True)
    logged_in("admin")
    page = client.get(f"/admin/staff/{target.public_id}").get_data(as_text=True)
    assert "sanna" in page
    assert "Supervisor" in page
    assert "one-time password, not yet replaced" in page
    assert f'action="/admin/staff/{target.public_id}/role"' in page


def test_unknown_staff_account_is_404(client, logged_in):
    logged_in("admin")
    response = client.get("/admin/staff/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert (
        client.post(
            "/admin/staff/00000000-0000-0000-0000-000000000000/active", data={"active": "0"}
        ).status_code
        == 404
    )


def test_change_role_is_audited(client, logged_in, make_staff, database):
    # To the agent role: no second admin needed (see test_four_eyes for privileged roles).
    target = make_staff("supervisor", username="maija")
    admin = logged_in("admin")
    response = client.post(f"/admin/staff/{target.public_id}/role", data={"role": "agent"})
    assert response.headers["Location"] == f"/admin/staff/{target.public_id}"
    assert "Role is now Agent" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _load(database, target.public_id).role == Role.AGENT
    (event,) = audit_actions(database, AuditAction.STAFF_ROLE_CHANGED)
    assert event.actor_id == admin.id
    assert event.details == {"from": "supervisor", "to": "agent"}


def test_bad_role_value_is_a_readable_422(client, logged_in, make_staff, database):
    target = make_staff("agent", username="maija")
    logged_in("admin")
    response = client.post(f"/admin/staff/{target.public_id}/role", data={"role": "root"})
    assert response.status_code == 422
    assert "Choose one of" in response.get_data(as_text=True)
    assert _load(database, target.public_id).role == Role.AGENT


def test_admin_cannot_change_own_role_or_deactivate_or_reset_self(client, logged_in, database):
    admin = logged_in("admin")
    for path, data, message in [
        ("role", {"role": "agent"}, "You cannot change your own role"),
        ("active", {"active": "0"}, "You cannot deactivate"),
        ("reset-password", {}, "Change password"),
    ]:
        response = client.post(f"/admin/staff/{admin.public_id}/{path}", data=data)
        assert response.status_code == 409, path
        page = response.get_data(as_text=True)
        assert message in page
        assert 'class="flash flash-error"' in page
    me = _load(database, admin.public_id)
    assert (me.role, me.is_active) == (Role.ADMIN, True)
    assert is_logged_in(client)


def test_deactivate_and_reactivate(client, new_client, logged_in, make_staff, database):
    target = make_staff("agent", username="maija")
    logged_in("admin")
    client.post(f"/admin/staff/{target.public_id}/active", data={"active": "0"})
    stored = _load(database, target.public_id)
    assert stored.is_active is False
    assert stored.deactivated_at is not None

    response = client.post(f"/admin/staff/{target.public_id}/active", data={"active": "1"})
    assert response.status_code == 302
    stored = _load(database, target.public_id)
    assert stored.is_active is True
    assert stored.deactivated_at is None
    assert form_login(new_client(), "maija").status_code == 302
    actions = [
        event.action
        for event in audit_actions(database, AuditAction.STAFF_DEACTIVATED)
        + audit_actions(database, AuditAction.STAFF_REACTIVATED)
    ]
    assert actions == [AuditAction.STAFF_DEACTIVATED, AuditAction.STAFF_REACTIVATED]


def test_set_active_with_a_nonsense_value_is_422(client, logged_in, make_staff, database):
    target = make_staff("agent", username="maija")
    logged_in("admin")
    response = client.post(f"/admin/staff/{target.public_id}/active", data={"active": "maybe"})
    assert response.status_code == 422
    assert _load(database, target.public_id).is_active is True


def test_reset_password_shows_a_new_one_time_password(
    client, new_client, logged_in, make_staff, database
):
    target = make_staff("agent", username="maija")
    victim_browser = new_client()
    form_login(victim_browser, "maija")
    logged_in("admin")

    response = client.post(f"/admin/staff/{target.public_id}/reset-password")
    assert response.status_code == 200
    password = _one_time_password(response)
    assert not is_logged_in(victim_browser)
    assert form_login(new_client(), "maija", DEFAULT_PASSWORD).status_code == 401
    fresh = new_client()
    assert form_login(fresh, "maija", password).headers["Location"] == "/account/password"
    assert _load(database, target.public_id).must_change_password is True
    (event,) = audit_actions(database, AuditAction.STAFF_PASSWORD_RESET)
    assert password not in str(event.details)


def test_admin_pages_and_forms_carry_csrf_tokens(client, logged_in, make_staff):
    target = make_staff("agent", username="maija")
    logged_in("admin")
    new_form = client.get("/admin/staff/new").get_data(as_text=True)
    assert new_form.count('name="csrf_token"') == 2  # the form and the logout button
    detail = client.get(f"/admin/staff/{target.public_id}").get_data(as_text=True)
    # role, active, password reset, end sessions, two-step reset, logout
    assert detail.count('name="csrf_token"') == 6


def test_admin_posts_need_a_csrf_token_when_protection_is_on(
    settings, clock, database, make_staff, login
):
    app = create_app(settings.with_overrides(extra={}), clock=clock, database=database)
    client = app.test_client()
    target = make_staff("agent", username="maija")
    login(client, make_staff("admin", username="boss"))

    refused = client.post(f"/admin/staff/{target.public_id}/active", data={"active": "0"})
    assert refused.status_code == 400
    assert _load(database, target.public_id).is_active is True

    page = client.get(f"/admin/staff/{target.public_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    accepted = client.post(
        f"/admin/staff/{target.public_id}/active", data={"active": "0", "csrf_token": token}
    )
    assert accepted.status_code == 302
    assert _load(database, target.public_id).is_active is False


def test_an_admin_ends_all_of_an_accounts_sessions(
    client, new_client, logged_in, make_staff, database
):
    target = make_staff("agent", username="maija")
    laptop, phone = new_client(), new_client()
    form_login(laptop, "maija")
    form_login(phone, "maija")
    admin = logged_in("admin")
    response = client.post(f"/admin/staff/{target.public_id}/end-sessions")
    assert response.status_code == 303
    assert "Ended 2 sessions" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert not is_logged_in(laptop)
    assert not is_logged_in(phone)
    assert _load(database, target.public_id).is_active is True  # the account itself is fine
    (event,) = audit_actions(database, AuditAction.STAFF_SESSIONS_ENDED)
    assert (event.actor_id, event.details) == (admin.id, {"ended": 2})
    # One's own: log out instead.
    own = client.post(f"/admin/staff/{admin.public_id}/end-sessions")
    assert own.status_code == 409
    assert is_logged_in(client)
