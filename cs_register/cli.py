"""`flask ...` commands for deployment administrators."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the command groups (filled in by the staff and migration work)."""
