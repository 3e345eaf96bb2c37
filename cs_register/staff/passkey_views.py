"""Passkey pages: adding one's own passkeys (after proving oneself again) and removing them.

The browser's part, the WebAuthn ceremony, is `static/passkeys.js`: it reads the options
from the page, asks the authenticator, and posts its answer in an ordinary form (CSRF token
included). The second step of login answers with a passkey in `staff.views.second_step`.
The routes are added to the auth blueprint by `register`.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext

from cs_register.context import Context
from cs_register.errors import ValidationFailed
from cs_register.languages import N_
from cs_register.staff import passkeys, two_step
from cs_register.staff.login import current_account, password_hashing
from cs_register.staff.models import StaffUser
from cs_register.web import current_keyring, current_settings, staff_context

_CEREMONY = "passkey"


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/account/passkeys/new", view_func=new_passkey, methods=["POST"])
    blueprint.add_url_rule("/account/passkeys", view_func=add_passkey, methods=["POST"])
    blueprint.add_url_rule(
        "/account/passkeys/<public_id>/remove", view_func=remove_passkey, methods=["POST"]
    )


def relying_party() -> passkeys.RelyingParty:
    """The deployment's `PUBLIC_ORIGIN`, else the origin this request came to."""
    return passkeys.RelyingParty.for_origin(current_settings().public_origin or request.host_url)


def begin_ceremony(
    ctx: Context, purpose: str, user: StaffUser, challenge: bytes, **extra: Any
) -> None:
    """Remember the ceremony's challenge (in the signed cookie; it is no secret) to check the
    answer against, once, within `passkeys.CHALLENGE_SECONDS`."""
    session[_CEREMONY] = {
        "purpose": purpose,
        "user": user.id,
        "at": int(ctx.now.timestamp()),
        "challenge": base64.urlsafe_b64encode(challenge).decode(),
        **extra,
    }


def end_ceremony(
    ctx: Context, purpose: str, user: StaffUser
) -> tuple[bytes, dict[str, Any]] | None:
    """The challenge of this account's ceremony for `purpose`, if fresh; used up either way."""
    ceremony = session.pop(_CEREMONY, None)
    if not isinstance(ceremony, dict):
        return None
    age = ctx.now.timestamp() - float(ceremony.get("at", 0))
    if (
        ceremony.get("purpose") != purpose
        or ceremony.get("user") != user.id
        or not 0 <= age <= passkeys.CHALLENGE_SECONDS
    ):
        return None
    return base64.urlsafe_b64decode(str(ceremony["challenge"])), ceremony


def render_two_step_page(
    user: StaffUser, *, errors: dict[str, list[str]], status: int = 200
) -> Any:
    ctx = staff_context()
    page = render_template(
        "staff/two_step.html",
        user=user,
        left=two_step.unused_recovery_codes(ctx.session, user),
        keys=passkeys.passkeys_of(ctx.session, user),
        errors=errors,
    )
    return page, status


def new_passkey() -> Any:
    """Prove it is you (password and a current code), then the page that creates the key."""
    user = current_account()
    ctx = staff_context()
    errors: dict[str, list[str]] = {}
    if not two_step.is_enrolled(user):
        errors["passkey"] = [N_("Set up two-step login with an authenticator app first.")]
    elif not password_hashing().verify(
        user.password_hash, request.form.get("current_password", "")
    ):
        errors["passkey"] = [N_("Current password is not correct.")]
    elif not two_step.verify_second_step(
        ctx, current_keyring(), user, request.form.get("code", "")
    ):
        errors["passkey"] = [two_step.WRONG_CODE]
    if errors:
        return render_two_step_page(user, errors=errors, status=422)
    options, challenge = passkeys.registration_options(ctx, relying_party(), user)
    name = " ".join(request.form.get("name", "").split())[:64]
    begin_ceremony(ctx, "register", user, challenge, name=name)
    return render_template("staff/passkey_new.html", options=options, name=name)


def add_passkey() -> Any:
    user = current_account()
    ctx = staff_context()
    started = end_ceremony(ctx, "register", user)
    if started is None:
        errors = {"passkey": [N_("That took too long. Start adding the passkey again.")]}
        return render_two_step_page(user, errors=errors, status=422)
    challenge, ceremony = started
    try:
        passkeys.register(
            ctx,
            relying_party(),
            user,
            credential=request.form.get("credential", ""),
            challenge=challenge,
            name=str(ceremony.get("name", "")),
        )
    except ValidationFailed as failure:
        return render_two_step_page(user, errors=failure.errors, status=422)
    flash(
        gettext("Passkey added. You can use it at the second step of your next login."), "success"
    )
    return redirect(url_for("auth.two_step_settings"), code=303)


def remove_passkey(public_id: str) -> Any:
    user = current_account()
    ctx = staff_context()
    passkey = passkeys.own_passkey(ctx, user, public_id)
    password_ok = password_hashing().verify(
        user.password_hash, request.form.get("current_password", "")
    )
    try:
        passkeys.remove(
            ctx,
            user,
            passkey,
            password_ok=password_ok,
            # Checked only after the password, so a wrong password spends no code.
            code_ok=password_ok
            and two_step.verify_second_step(
                ctx, current_keyring(), user, request.form.get("code", "")
            ),
        )
    except ValidationFailed as failure:
        messages = [message for field in failure.errors.values() for message in field]
        return render_two_step_page(user, errors={"passkey": messages}, status=422)
    flash(gettext("Passkey removed."), "success")
    return redirect(url_for("auth.two_step_settings"), code=303)
