"""Admin pages for integration tokens (list, create shown once, revoke) and webhook secrets
(list, create shown once, rotate, retire)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from cs_register.db import get_session
from cs_register.errors import Conflict, ValidationFailed, translated
from cs_register.integrations import services, webhooks
from cs_register.integrations.credentials import Credential
from cs_register.integrations.models import TokenScope, WebhookSecret
from cs_register.languages import N_
from cs_register.permissions import Permission
from cs_register.web import current_keyring, now, requires, staff_context

blueprint = Blueprint(
    "integrations", __name__, url_prefix="/admin/integrations", template_folder="templates"
)


@blueprint.get("/")
@requires(Permission.MANAGE_INTEGRATIONS)
def token_list() -> Any:
    overviews = services.list_tokens(staff_context())
    return render_template("integrations/tokens.html", overviews=overviews)


@blueprint.route("/new", methods=["GET", "POST"])
@requires(Permission.MANAGE_INTEGRATIONS)
def new_token() -> Any:
    scopes = list(TokenScope)
    if request.method == "GET":
        return render_template("integrations/new_token.html", form={}, errors={}, scopes=scopes)
    form = {
        "name": request.form.get("name", ""),
        "scope": request.form.get("scope") or TokenScope.TELEPHONY.value,
    }
    try:
        token, raw = services.create_token(staff_context(), name=form["name"], scope=form["scope"])
    except ValidationFailed as failure:
        return (
            render_template(
                "integrations/new_token.html", form=form, errors=failure.errors, scopes=scopes
            ),
            422,
        )
    except Conflict as conflict:
        errors = {"name": [conflict.detail]}
        return render_template(
            "integrations/new_token.html", form=form, errors=errors, scopes=scopes
        ), 409
    # Rendered into this POST response only: the token is in no URL, flash message or cookie,
    # and the page is served no-store, so closing it is the end of it.
    return render_template("integrations/token_created.html", token=token, raw_token=raw), 201


def _end_credential(end: Callable[..., Credential], public_id: str, listing: str, done: str) -> Any:
    """Revoke or retire, then back to the list; `done` is the message (marked with N_), with
    %(name)s."""
    try:
        credential = end(staff_context(), public_id=public_id)
    except Conflict as conflict:
        flash(translated(conflict.detail), "warning")
    else:
        flash(gettext(done, name=credential.name), "success")
    return redirect(url_for(listing))


@blueprint.post("/<public_id>/revoke")
@requires(Permission.MANAGE_INTEGRATIONS)
def revoke(public_id: str) -> Any:
    done = N_("Token %(name)s was revoked; requests presenting it are now refused.")
    return _end_credential(services.revoke_token, public_id, "integrations.token_list", done)


# --- webhook secrets (Standard Webhooks signing, e.g. the chatbot) ------------------------


@blueprint.get("/webhook-secrets/")
@requires(Permission.MANAGE_INTEGRATIONS)
def webhook_secret_list() -> Any:
    overviews = webhooks.list_webhook_secrets(staff_context())
    return render_template("integrations/webhook_secrets.html", overviews=overviews)


def _created_page(secret: WebhookSecret, raw: str, replaced: WebhookSecret | None) -> Any:
    # Rendered into this POST response only (no-store): the secret is in no URL, flash
    # message or cookie, and cannot be shown again.
    return (
        render_template(
            "integrations/webhook_secret_created.html",
            secret=secret,
            raw_secret=raw,
            replaced=replaced,
        ),
        201,
    )


@blueprint.route("/webhook-secrets/new", methods=["GET", "POST"])
@requires(Permission.MANAGE_INTEGRATIONS)
def new_webhook_secret() -> Any:
    def create(name: str) -> tuple[WebhookSecret, str]:
        return webhooks.create_webhook_secret(staff_context(), current_keyring(), name=name)

    return _webhook_secret_form(create, replaces=None, suggested_name="")


@blueprint.route("/webhook-secrets/<public_id>/rotate", methods=["GET", "POST"])
@requires(Permission.MANAGE_INTEGRATIONS)
def rotate_webhook_secret(public_id: str) -> Any:
    old = webhooks.get_webhook_secret(get_session(), public_id)

    def rotate(name: str) -> tuple[WebhookSecret, str]:
        _, secret, raw = webhooks.rotate_webhook_secret(
            staff_context(), current_keyring(), public_id=public_id, name=name
        )
        return secret, raw

    suggested = f"{old.name}-{now().strftime('%Y%m%d')}"
    return _webhook_secret_form(rotate, replaces=old, suggested_name=suggested)


def _webhook_secret_form(
    create: Callable[[str], tuple[WebhookSecret, str]],
    *,
    replaces: WebhookSecret | None,
    suggested_name: str,
) -> Any:
    """The name form of a new secret (or of one replacing `replaces`), and its outcome."""
    template = "integrations/new_webhook_secret.html"
    if request.method == "GET":
        form = {"name": suggested_name} if suggested_name else {}
        return render_template(template, form=form, errors={}, replaces=replaces)
    form = {"name": request.form.get("name", "")}
    try:
        secret, raw = create(form["name"])
    except ValidationFailed as failure:
        return render_template(template, form=form, errors=failure.errors, replaces=replaces), 422
    except Conflict as conflict:
        errors = {"name": [conflict.detail]}
        return render_template(template, form=form, errors=errors, replaces=replaces), 409
    return _created_page(secret, raw, replaces)


@blueprint.post("/webhook-secrets/<public_id>/retire")
@requires(Permission.MANAGE_INTEGRATIONS)
def retire_webhook_secret(public_id: str) -> Any:
    done = N_("Webhook secret %(name)s was retired; webhooks signed only with it are now refused.")
    listing = "integrations.webhook_secret_list"
    return _end_credential(webhooks.retire_webhook_secret, public_id, listing, done)
