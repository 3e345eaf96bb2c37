"""Audit trail browser for supervisors and the data-protection officer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

blueprint = Blueprint("audit", __name__, template_folder="templates")


@blueprint.get("/audit")
def browse() -> Any:
    raise NotImplementedError
