"""Agent console: log contacts, verification panel, link unidentified contacts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("contacts", __name__, template_folder="templates")


@blueprint.get("/contacts/new")
def new_contact() -> Any:
    raise NotImplementedError


@blueprint.get("/contacts/unlinked")
def unlinked() -> Any:
    raise NotImplementedError
