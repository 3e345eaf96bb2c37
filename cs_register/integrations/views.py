"""Admin pages for integration tokens: list, create (token shown once), revoke."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from cs_register.db import get_session
from cs_register.errors import Conflict, ValidationFailed
from cs_register.integrations import services
from cs_register.staff.permissions import Permission
from cs_register.web import now, request_id, require_staff, requires

blueprint = Blueprint(
    "integrations", __name__, url_prefix="/admin/integrations", template_folder="templates"
)


@blueprint.get("/")
@requires(Permission.MANAGE_INTEGRATIONS)
def token_list() -> Any:
    overviews = services.list_tokens(get_session(), actor=require_staff())
    return render_template("integrations/tokens.html", overviews=overviews)


@blueprint.route("/new", methods=["GET", "POST"])
@requires(Permission.MANAGE_INTEGRATIONS)
def new_token() -> Any:
    if request.method == "GET":
        return render_template("integrations/new_token.html", form={}, errors={})
    form = {"name": request.form.get("name", "")}
    try:
        token, raw = services.create_token(
            get_session(),
            name=form["name"],
            actor=require_staff(),
            now=now(),
            request_id=request_id(),
        )
    except ValidationFailed as failure:
        return (
            render_template("integrations/new_token.html", form=form, errors=failure.errors),
            422,
        )
    except Conflict as conflict:
        errors = {"name": [conflict.detail]}
        return render_template("integrations/new_token.html", form=form, errors=errors), 409
    # Rendered into this POST response only: the token is in no URL, flash message or cookie,
    # and the page is served no-store, so closing it is the end of it.
    return render_template("integrations/token_created.html", token=token, raw_token=raw), 201


@blueprint.post("/<public_id>/revoke")
@requires(Permission.MANAGE_INTEGRATIONS)
def revoke(public_id: str) -> Any:
    try:
        token = services.revoke_token(
            get_session(),
            public_id=public_id,
            actor=require_staff(),
            now=now(),
            request_id=request_id(),
        )
    except Conflict as conflict:
        flash(conflict.detail, "warning")
        return redirect(url_for("integrations.token_list"))
    flash(f"Token {token.name} was revoked; requests presenting it are now refused.", "success")
    return redirect(url_for("integrations.token_list"))
