"""`flask ...` commands for deployment administrators.

- `flask db upgrade [REVISION]`, `flask db downgrade REVISION`, `flask db current`: schema
  migrations (Alembic, see cs_register.migrate).
- `flask seed-demo-staff`: one account per role on an empty development database.
- `flask seed-demo-data`: synthetic customers, contacts, recordings and holds for a living
  console, development only (cs_register.demo_data).
- `flask users ...`: staff account administration (cs_register.staff.cli).
- `flask integrations ...`: integration tokens (cs_register.integrations.cli).
- `flask retention ...`: purge sweep, status, ledger verification, reconciliation
  (recordings.cli).
- `flask intake email < message.eml`: pipe a raw email in (cs_register.intake.cli).
- `flask privacy status`: data-subject request deadlines (cs_register.privacy.cli).
- `flask keys rotate|status|retire`: master key versions and their rotation (recordings.key_cli).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from cs_register import migrate
from cs_register.config import Settings
from cs_register.context import Context
from cs_register.db import Database, get_database
from cs_register.permissions import Actor, Role
from cs_register.runtime import password_hashing_for
from cs_register.staff.services import count_staff, create_user_with_one_time_password
from cs_register.web import current_settings
from cs_register.web import now as app_now

db_cli = AppGroup("db", help="Apply or inspect database schema migrations.")

# (username, role, display name): one account per role, so every screen can be tried out.
DEMO_STAFF = (
    ("agent", Role.AGENT, "Demo Agent"),
    ("supervisor", Role.SUPERVISOR, "Demo Supervisor"),
    ("admin", Role.ADMIN, "Demo Admin"),
    ("dpo", Role.DPO, "Demo Data-Protection Officer"),
)


@dataclass(frozen=True)
class SeedOutcome:
    """What `seed_demo_staff` did: the one-time passwords it set, or why it did nothing."""

    passwords: Mapping[str, str] = field(default_factory=dict)
    skipped_because: str | None = None

    @property
    def seeded(self) -> bool:
        return bool(self.passwords)


def seed_demo_staff(database: Database, *, settings: Settings, now: datetime) -> SeedOutcome:
    """Create the demo accounts (one per role) if the staff table is empty and this is not
    production. Passwords are one-time: each must be changed at first login."""
    if settings.is_production:
        return SeedOutcome(skipped_because="this is a production deployment")
    passwords: dict[str, str] = {}
    hashing = password_hashing_for(settings)
    with database.unit_of_work() as session:
        if count_staff(session) > 0:
            return SeedOutcome(skipped_because="staff accounts already exist")
        ctx = Context(session=session, actor=Actor.deployment(), now=now)
        for username, role, display_name in DEMO_STAFF:
            _, passwords[username] = create_user_with_one_time_password(
                ctx, hashing=hashing, username=username, display_name=display_name, role=role
            )
    return SeedOutcome(passwords=passwords)


def format_password_box(passwords: Mapping[str, str]) -> str:
    """The one-time passwords in a box that stands out in a scrolling terminal."""
    lines = [
        "Demo staff accounts (one-time passwords, shown only this once):",
        "",
        *(f"  {username:<12} {password}" for username, password in passwords.items()),
        "",
        "Each password must be changed at first login, after setting up",
        "two-step login with an authenticator app (the console shows a QR code).",
    ]
    width = max(len(line) for line in lines)
    border = "+" + "-" * (width + 2) + "+"
    return "\n".join([border, *(f"| {line:<{width}} |" for line in lines), border])


DEMO_ACCOUNTS_FILE = "demo-accounts.txt"
# Enough numbered alternatives for any number of resets; a stale file is never overwritten.
MAX_DEMO_ACCOUNTS_FILES = 100


def write_password_file(folder: Path, passwords: Mapping[str, str]) -> Path:
    """Write the one-time passwords to a new file only this account can read, and return it.

    The terminal scrolls them away behind the worker's start-up lines; a file stays. It is
    created with O_EXCL and mode 0600 so it never replaces (or is read through) an existing
    file: when demo-accounts.txt is left over from an earlier database, the next free
    demo-accounts-2.txt, -3.txt ... is used. The passwords never go through logging.
    """
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(
        [
            "cs-register demo staff accounts: ONE-TIME PASSWORDS.",
            "Each must be changed at first login, after setting up two-step login.",
            "Delete this file once every account has logged in for the first time.",
            "",
            *(f"{username:<12} {password}" for username, password in passwords.items()),
            "",
        ]
    )
    for number in range(1, MAX_DEMO_ACCOUNTS_FILES + 1):
        stem, suffix = DEMO_ACCOUNTS_FILE.rsplit(".", 1)
        name = DEMO_ACCOUNTS_FILE if number == 1 else f"{stem}-{number}.{suffix}"
        path = folder / name
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path
    raise FileExistsError(f"{folder / DEMO_ACCOUNTS_FILE} and its numbered alternatives exist")


def format_password_pointer(path: Path, usernames: Iterable[str]) -> str:
    """The short block that points to the password file, printed after start-up."""
    lines = [
        f"Demo staff accounts created: {', '.join(usernames)}.",
        f"Their one-time passwords are in {path} (readable by you only).",
        "Delete that file after the first logins.",
    ]
    width = max(len(line) for line in lines)
    border = "+" + "-" * (width + 2) + "+"
    return "\n".join([border, *(f"| {line:<{width}} |" for line in lines), border])


def _database() -> Database:
    return get_database(current_app)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    url = _database().url
    migrate.upgrade(url, revision)
    click.echo(f"Database schema is at {_describe(migrate.current_revisions(url))}.")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ("base" removes every table)."""
    url = _database().url
    migrate.downgrade(url, revision)
    click.echo(f"Database schema is at {_describe(migrate.current_revisions(url))}.")


@db_cli.command("current")
def db_current() -> None:
    """Show the schema revision of the database and whether it is the newest."""
    current = migrate.current_revisions(_database().url)
    heads = migrate.head_revisions()
    status = "up to date" if set(current) == set(heads) else f"newest is {_describe(heads)}"
    click.echo(f"Database schema is at {_describe(current)} ({status}).")


def _describe(revisions: tuple[str, ...]) -> str:
    # The URL is never printed: it may carry a password.
    return ", ".join(revisions) if revisions else "no revision (empty database)"


@click.command("seed-demo-staff")
@with_appcontext
def seed_demo_staff_command() -> None:
    """Create demo accounts agent, supervisor, admin and dpo on an empty, non-production
    database and print their one-time passwords once."""
    settings = current_settings()
    outcome = seed_demo_staff(_database(), settings=settings, now=app_now())
    if outcome.seeded:
        click.echo(format_password_box(outcome.passwords))
    else:
        click.echo(f"No demo accounts were created: {outcome.skipped_because}.")


def init_app(app: Flask) -> None:
    """Register the command groups."""
    from cs_register.demo_data import seed_demo_data_command
    from cs_register.intake.cli import intake_cli
    from cs_register.integrations.cli import integrations_cli
    from cs_register.privacy.cli import privacy_cli
    from cs_register.staff.cli import users_cli
    from recordings.cli import recordings_cli, retention_cli
    from recordings.key_cli import keys_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(seed_demo_staff_command)
    app.cli.add_command(seed_demo_data_command)
    app.cli.add_command(integrations_cli)
    app.cli.add_command(retention_cli)
    app.cli.add_command(recordings_cli)
    app.cli.add_command(intake_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(keys_cli)
