"""Agent console: search, customer pages, create and edit (rectification)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("customers", __name__, template_folder="templates")


@blueprint.get("/customers")
def dashboard() -> Any:
    raise NotImplementedError


@blueprint.get("/customers/new")
def new_customer() -> Any:
    raise NotImplementedError
