"""`flask users ...`: staff account administration for deployment administrators."""

from __future__ import annotations

from flask.cli import AppGroup

users_cli = AppGroup("users", help="Manage staff accounts.")
