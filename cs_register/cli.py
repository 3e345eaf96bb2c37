"""`flask ...` commands for deployment administrators."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the command groups."""
    from cs_register.staff.cli import users_cli

    app.cli.add_command(users_cli)
