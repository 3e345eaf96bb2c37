"""`flask users ...` through Click's test runner against the test database."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from cs_register.audit.models import AuditAction
from cs_register.permissions import Role
from cs_register.staff.models import StaffUser
from tests.conftest import DEFAULT_PASSWORD
from tests.cs_register.staff.conftest import audit_actions, form_login, is_logged_in

CHOSEN_PASSWORD = "a deployment passphrase"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(args=["users", *args], input=input)

    return invoke


def _stored(database, username):
    with database.unit_of_work() as session:
        return session.scalar(sa.select(StaffUser).where(StaffUser.username == username))


def _printed_password(output):
    match = re.search(r"One-time password \(shown once[^)]*\): (\S+)", output)
    assert match, output
    return match.group(1)


def test_create_prints_a_one_time_password_once(cli, client, database):
    result = cli("create", "Root.Admin", "--role", "admin", "--display-name", "Root Admin")
    assert result.exit_code == 0, result.output
    password = _printed_password(result.output)
    assert result.output.count(password) == 1

    user = _stored(database, "root.admin")
    assert (user.role, user.display_name, user.must_change_password) == (
        Role.ADMIN,
        "Root Admin",
        True,
    )
    assert form_login(client, "root.admin", password).headers["Location"] == "/account/password"
    (event,) = audit_actions(database, AuditAction.STAFF_CREATED)
    assert (event.actor_id, event.actor_label) == (None, "cli")


def test_create_with_password_from_stdin(cli, client, database):
    result = cli("create", "maija", "--role", "agent", "--password-stdin", input=CHOSEN_PASSWORD)
    assert result.exit_code == 0, result.output
    assert CHOSEN_PASSWORD not in result.output
    assert "One-time password" not in result.output
    user = _stored(database, "maija")
    assert user.must_change_password is False
    assert user.display_name == "maija"
    form_login(client, "maija", CHOSEN_PASSWORD)
    assert is_logged_in(client)
    # No detour: the chosen password need not be replaced.
    assert client.get("/").headers["Location"] != "/account/password"


def test_create_rejects_a_weak_stdin_password(cli, database):
    result = cli("create", "maija", "--role", "agent", "--password-stdin", input="short\n")
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    assert _stored(database, "maija") is None


def test_create_rejects_a_bad_role_and_a_bad_username(cli, database):
    bad_role = cli("create", "maija", "--role", "root")
    assert bad_role.exit_code == 2
    assert "'root' is not one of" in bad_role.output
    bad_name = cli("create", "no spaces allowed", "--role", "agent")
    assert bad_name.exit_code == 1
    assert "Use 3-64 characters" in bad_name.output
    assert _stored(database, "maija") is None


def test_create_refuses_a_taken_username(cli, make_staff):
    make_staff("agent", username="maija")
    result = cli("create", "maija", "--role", "admin")
    assert result.exit_code == 1
    assert "already taken" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("deactivate", "ghost"),
        ("reactivate", "ghost"),
        ("set-role", "ghost", "agent"),
        ("reset-password", "ghost"),
    ],
)
def test_unknown_username_is_a_clear_error(cli, args):
    result = cli(*args)
    assert result.exit_code == 1
    assert "No staff account has that username." in result.output


def test_deactivate_ends_live_sessions_and_blocks_login(
    cli, client, new_client, make_staff, database
):
    make_staff("agent", username="maija")
    form_login(client, "maija")
    assert is_logged_in(client)

    result = cli("deactivate", "maija")
    assert result.exit_code == 0, result.output

    assert not is_logged_in(client)
    assert form_login(new_client(), "maija").status_code == 401
    assert _stored(database, "maija").is_active is False
    (event,) = audit_actions(database, AuditAction.STAFF_DEACTIVATED)
    assert event.actor_label == "cli"

    assert cli("reactivate", "maija").exit_code == 0
    assert form_login(new_client(), "maija").status_code == 302


def test_set_role(cli, client, make_staff, database):
    make_staff("agent", username="maija")
    form_login(client, "maija")
    result = cli("set-role", "MAIJA", "Supervisor")
    assert result.exit_code == 0, result.output
    assert _stored(database, "maija").role == Role.SUPERVISOR
    assert not is_logged_in(client)
    assert cli("set-role", "maija", "emperor").exit_code == 2


def test_reset_password(cli, client, new_client, make_staff, database):
    make_staff("agent", username="maija")
    form_login(client, "maija")
    result = cli("reset-password", "maija")
    assert result.exit_code == 0, result.output
    password = _printed_password(result.output)
    assert not is_logged_in(client)
    assert form_login(new_client(), "maija", DEFAULT_PASSWORD).status_code == 401
    assert form_login(new_client(), "maija", password).status_code == 302
    assert _stored(database, "maija").must_change_password is True


def test_list(cli, new_client, make_staff):
    make_staff("agent", username="maija")
    make_staff("admin", username="boss", must_change_password=True)
    make_staff("dpo", username="gone", active=False)
    form_login(new_client(), "maija")

    result = cli("list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert list(lines) == ["boss", "gone", "maija"]
    assert "admin" in lines["boss"]
    assert "must-change-password" in lines["boss"]
    assert "last login never" in lines["boss"]
    assert "deactivated" in lines["gone"]
    assert "sessions 1" in lines["maija"]
    assert "last login 23.11.2026 11:00" in lines["maija"]


def test_list_on_an_empty_database(cli):
    result = cli("list")
    assert result.exit_code == 0
    assert "No staff accounts." in result.output
