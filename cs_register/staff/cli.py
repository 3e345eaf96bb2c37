"""`flask users ...`: staff account administration for deployment administrators.

These commands act as the deployment (the audit trail records the actor as "cli"), so they work
before any admin account exists and can recover from every admin being locked out. Each command
is one unit of work: it either commits completely or changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click
from flask.cli import AppGroup

from cs_register.cli_support import command_context, echo_table
from cs_register.clock import local_time
from cs_register.context import Context
from cs_register.permissions import Role
from cs_register.staff import services, two_step
from cs_register.staff.login import password_hashing, session_policy
from cs_register.staff.models import StaffUser
from cs_register.web import now as app_now

users_cli = AppGroup("users", help="Manage staff accounts.")

T = TypeVar("T")

ROLE_CHOICE = click.Choice([role.value for role in Role], case_sensitive=False)


def _change_account(
    username: str, change: Callable[[Context, StaffUser], T]
) -> tuple[StaffUser, T]:
    """Find the account called `username` and change it, in one unit of work."""
    with command_context() as ctx:
        user = services.get_user_by_username(ctx.session, username)
        result = change(ctx, user)
    return user, result


def _echo_one_time_password(password: str) -> None:
    click.echo(f"One-time password (shown once, must be changed at first login): {password}")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", "role_value", type=ROLE_CHOICE, required=True, help="The account's role.")
@click.option("--display-name", default=None, help="Name shown in the console (default: username).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of generating a one-time one.",
)
def create_command(
    username: str, role_value: str, display_name: str | None, password_stdin: bool
) -> None:
    """Create a staff account."""
    role = Role(role_value.lower())
    with command_context() as ctx:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            user = services.create_user(
                ctx,
                hashing=password_hashing(),
                username=username,
                display_name=display_name or username,
                role=role,
                password=password,
                must_change_password=False,
            )
            one_time_password = None
        else:
            user, one_time_password = services.create_user_with_one_time_password(
                ctx,
                hashing=password_hashing(),
                username=username,
                display_name=display_name or username,
                role=role,
            )
    click.echo(f"Created {user.username} ({role.label}).")
    if one_time_password is not None:
        _echo_one_time_password(one_time_password)


@users_cli.command("deactivate")
@click.argument("username")
def deactivate_command(username: str) -> None:
    """Deactivate an account and end all of its sessions immediately."""
    _set_active(username, active=False, done="Deactivated {}; its sessions have ended.")


@users_cli.command("reactivate")
@click.argument("username")
def reactivate_command(username: str) -> None:
    """Allow a deactivated account to log in again."""
    _set_active(username, active=True, done="Reactivated {}.")


def _set_active(username: str, *, active: bool, done: str) -> None:
    user, _ = _change_account(
        username, lambda ctx, user: services.set_active(ctx, user=user, active=active)
    )
    click.echo(done.format(user.username))


@users_cli.command("set-role")
@click.argument("username")
@click.argument("role_value", metavar="ROLE", type=ROLE_CHOICE)
def set_role_command(username: str, role_value: str) -> None:
    """Change an account's role (its sessions end; it logs in again under the new role)."""
    role = Role(role_value.lower())
    user, _ = _change_account(
        username, lambda ctx, user: services.set_role(ctx, user=user, role=role)
    )
    click.echo(f"{user.username} is now {role.label}.")


@users_cli.command("reset-password")
@click.argument("username")
def reset_password_command(username: str) -> None:
    """Replace the password with a one-time one and end all sessions."""
    user, password = _change_account(
        username,
        lambda ctx, user: services.reset_password(ctx, hashing=password_hashing(), user=user),
    )
    click.echo(f"Reset the password of {user.username}; its sessions have ended.")
    _echo_one_time_password(password)


@users_cli.command("reset-two-step")
@click.argument("username")
def reset_two_step_command(username: str) -> None:
    """Forget the account's authenticator and recovery codes (lost phone and codes) and end
    its sessions; it sets up two-step login again at its next login."""
    user, _ = _change_account(username, lambda ctx, user: two_step.reset_two_step(ctx, user))
    click.echo(f"Two-step login of {user.username} was reset; its sessions have ended.")


@users_cli.command("list")
def list_command() -> None:
    """List every staff account with its status, last login and live sessions."""
    app_now()
    with command_context() as ctx:
        overviews = services.staff_overviews(ctx, policy=session_policy())
    rows = []
    for overview in overviews:
        user = overview.user
        flags = [
            "active" if user.is_active else "deactivated",
            *(["must-change-password"] if user.must_change_password else []),
        ]
        last_login = local_time(overview.last_login_at) if overview.last_login_at else "never"
        rows.append(
            [
                user.username,
                user.role.value,
                f"last login {last_login}",
                f"sessions {overview.live_sessions}",
                ", ".join(flags),
            ]
        )
    echo_table(rows, empty="No staff accounts.")
