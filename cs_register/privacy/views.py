"""The DPO's page: everything the register holds about one customer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from cs_register import personal_data
from cs_register.permissions import Permission
from cs_register.privacy import services
from cs_register.web import requires, staff_context

blueprint = Blueprint("privacy", __name__, template_folder="templates")


@blueprint.get("/privacy/customers/<public_id>")
@requires(Permission.REVIEW_PERSONAL_DATA)
def everything_held(public_id: str) -> Any:
    registry = personal_data.registry()
    held = services.everything_held(staff_context(), registry, customer_public_id=public_id)
    return render_template(
        "privacy/everything_held.html",
        held=held,
        grouped=held.by_category(),
        sources=registry.describe(),
    )
