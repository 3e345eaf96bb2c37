"""Login, logout, one's own password and two-step login (the admin pages are in
`staff.admin_views`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, ngettext
from flask_login import login_user, logout_user

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.errors import ValidationFailed
from cs_register.languages import N_
from cs_register.permissions import Actor, Permission, has_permission
from cs_register.staff import authentication as staff_authentication
from cs_register.staff import language_views, passkey_views, passkeys, two_step
from cs_register.staff import sessions as staff_sessions
from cs_register.staff.login import current_account, password_hashing, session_policy
from cs_register.staff.models import StaffUser
from cs_register.web import (
    current_keyring,
    current_settings,
    current_staff,
    is_safe_next,
    request_context,
    staff_context,
)

auth_blueprint = Blueprint("auth", __name__, template_folder="templates")
passkey_views.register(auth_blueprint)
language_views.register(auth_blueprint)


def _safe_next(target: str | None) -> str | None:
    """`target` if it is a same-site relative path, else None (never an open redirect)."""
    try:
        return target if is_safe_next(target) else None
    except ValueError:
        # urlsplit() refuses some malformed inputs (e.g. a bracketed "host"); not ours to follow.
        return None


@auth_blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    # An unsafe `next` is dropped here, so it is not even carried along in the form.
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("staff/login.html", next_url=next_url, error=None)
    ctx = request_context(Actor.anonymous())
    username = request.form.get("username", "")
    try:
        user = staff_authentication.authenticate(
            ctx,
            hashing=password_hashing(),
            username=username,
            password=request.form.get("password", ""),
            source_address=request.remote_addr,
        )
    except staff_authentication.LoginThrottled as held:
        wait = ngettext(
            "Too many failed attempts from here. Wait %(num)d minute and try again.",
            "Too many failed attempts from here. Wait %(num)d minutes and try again.",
            held.minutes,
        )
        page = render_template("staff/login.html", next_url=next_url, error=wait, username=username)
        return page, 429, {"Retry-After": str(held.retry_after)}
    except staff_authentication.LoginFailed as failure:
        # The form again (401); the view returned normally, so the failed attempt's sign-in
        # record (which the throttle counts) is committed with the audit trail.
        return (
            render_template(
                "staff/login.html", next_url=next_url, error=failure.message, username=username
            ),
            401,
        )
    previous_token = session.get("sid")
    if isinstance(previous_token, str):
        # Logging in over an existing session (or a planted cookie) ends that one first, so no
        # orphaned token stays usable in the background.
        staff_sessions.end_session(ctx, token=previous_token)
    session.clear()
    if two_step.is_enrolled(user) or two_step.required(current_settings().two_step_login):
        # The password was right; the session starts only after the second step. What the
        # (signed) cookie carries until then is the account and the time, nothing secret.
        session[_PENDING] = {"user": user.id, "at": int(ctx.now.timestamp()), "next": next_url}
        if two_step.is_enrolled(user):
            return redirect(url_for("auth.second_step"))
        return redirect(url_for("auth.enrol_second_step"))
    return _start_session(ctx, user, next_url)


def _start_session(ctx: Context, user: StaffUser, next_url: str | None) -> Any:
    # A fresh cookie and a fresh server-side token at every login (no session fixation).
    session.clear()
    token = staff_sessions.start_session(ctx, user=user)
    session["sid"] = token
    login_user(user)
    if user.must_change_password:
        flash(gettext("Please replace your one-time password before continuing."), "warning")
        return redirect(url_for("auth.change_password"))
    return redirect(next_url or "/")


_PENDING = "two_step"


def _pending_user(ctx: Context) -> tuple[StaffUser, dict[str, Any]] | None:
    """The account whose password step this browser passed, if still fresh and usable."""
    pending = session.get(_PENDING)
    if not isinstance(pending, dict):
        return None
    age = ctx.now.timestamp() - float(pending.get("at", 0))
    user = ctx.session.get(StaffUser, pending.get("user"))
    if not 0 <= age <= two_step.PENDING_SECONDS or user is None or not user.is_active:
        session.pop(_PENDING, None)
        return None
    return user, pending


def _back_to_login(message: str) -> Any:
    """Flashes `message` (marked with N_) in the reader's language."""
    flash(gettext(message), "warning")
    return redirect(url_for("auth.login"))


def _login_to_finish(*, enrolled: bool) -> tuple[Context, StaffUser, dict[str, Any]] | Any:
    """The half-finished login this page finishes (enrolled or enrolling), or where to go
    instead."""
    if current_staff() is not None:
        return redirect("/")  # already logged in: nothing to finish
    ctx = request_context(Actor.anonymous())
    found = _pending_user(ctx)
    if found is None:
        return _back_to_login(N_("Log in again: the login was not finished in time."))
    user, pending = found
    if two_step.is_enrolled(user) != enrolled:
        other = "auth.second_step" if two_step.is_enrolled(user) else "auth.enrol_second_step"
        return redirect(url_for(other))
    return ctx, user, pending


FinishingView = Callable[[Context, StaffUser, dict[str, Any]], Any]


def _finishing_login(*, enrolled: bool) -> Callable[[FinishingView], Callable[[], Any]]:
    """A page of the login's second step: it gets the half-finished login it finishes, or
    the browser is sent where that login belongs."""

    def decorator(view: FinishingView) -> Callable[[], Any]:
        @functools.wraps(view)
        def page() -> Any:
            step = _login_to_finish(enrolled=enrolled)
            if not isinstance(step, tuple):
                return step
            return view(*step)

        return page

    return decorator


@auth_blueprint.route("/login/second-step", methods=["GET", "POST"])
@_finishing_login(enrolled=True)
def second_step(ctx: Context, user: StaffUser, pending: dict[str, Any]) -> Any:
    if request.method == "GET":
        return _second_step_page(ctx, user, error=None)
    since = datetime.fromtimestamp(float(pending["at"]), tz=UTC)
    if two_step.wrong_codes_since(ctx.session, user, since) >= two_step.MAX_WRONG_CODES:
        session.pop(_PENDING, None)
        return _back_to_login(N_("Too many wrong codes. Log in again."))
    credential = request.form.get("credential")
    if credential:
        started = passkey_views.end_ceremony(ctx, "login", user)
        if started is not None and passkeys.verify_login(
            ctx, passkey_views.relying_party(), user, credential=credential, challenge=started[0]
        ):
            return _start_session(ctx, user, pending.get("next"))
        error = N_("The passkey did not answer in time or is not yours. Try again, or type a code.")
    elif two_step.verify_second_step(ctx, current_keyring(), user, request.form.get("code", "")):
        return _start_session(ctx, user, pending.get("next"))
    else:
        error = N_(
            "That code is not right. Type the code your authenticator app shows now,"
            " or a recovery code."
        )
    page, _ = _second_step_page(ctx, user, error=error)
    return page, 401


def _second_step_page(ctx: Context, user: StaffUser, *, error: str | None) -> tuple[str, int]:
    """The code form, and the passkey button when the account has passkeys (each showing
    starts a new ceremony)."""
    options = None
    if passkeys.passkeys_of(ctx.session, user):
        options, challenge = passkeys.authentication_options(
            ctx, passkey_views.relying_party(), user
        )
        passkey_views.begin_ceremony(ctx, "login", user, challenge)
    return render_template("staff/second_step.html", error=error, options=options), 200


@auth_blueprint.route("/login/enrol", methods=["GET", "POST"])
@_finishing_login(enrolled=False)
def enrol_second_step(ctx: Context, user: StaffUser, pending: dict[str, Any]) -> Any:
    secret = two_step.pending_secret(ctx, current_keyring(), user)
    page = {"secret": secret, "qr": two_step.provisioning_qr(user, secret), "user": user}
    if request.method == "GET":
        return render_template("staff/enrol.html", errors={}, **page)
    try:
        codes = two_step.confirm_enrolment(
            ctx, current_keyring(), user, request.form.get("code", "")
        )
    except ValidationFailed as failure:
        return render_template("staff/enrol.html", errors=failure.errors, **page), 422
    _start_session(ctx, user, pending.get("next"))
    # Rendered into this response only (served no-store): the codes are in no URL or cookie.
    continue_to = (
        url_for("auth.change_password") if user.must_change_password else pending.get("next")
    )
    return render_template("staff/recovery_codes.html", codes=codes, continue_to=continue_to or "/")


@auth_blueprint.post("/logout")
def logout() -> Any:
    token = session.get("sid")
    if isinstance(token, str):
        staff_sessions.end_session(request_context(Actor.anonymous()), token=token)
    logout_user()
    session.clear()
    flash(gettext("You have been logged out."), "info")
    return redirect(url_for("auth.login"))


@auth_blueprint.route("/account/password", methods=["GET", "POST"])
def change_password() -> Any:
    user = current_account()
    ctx = staff_context()
    ask_code = staff_authentication.needs_second_step_again(ctx, user, session.get("sid"))
    if request.method == "GET":
        return render_template("staff/change_password.html", errors={}, ask_code=ask_code)
    try:
        staff_authentication.change_own_password(
            ctx,
            hashing=password_hashing(),
            user=user,
            current_password=request.form.get("current_password", ""),
            new_password=request.form.get("new_password", ""),
            current_token=session.get("sid"),
            keyring=current_keyring(),
            code=request.form.get("code", ""),
        )
    except ValidationFailed as failure:
        page = render_template(
            "staff/change_password.html", errors=failure.errors, ask_code=ask_code
        )
        return page, 422
    flash(gettext("Password changed. Your other sessions have been logged out."), "success")
    return redirect("/")


@auth_blueprint.route("/account/two-step", methods=["GET", "POST"])
def two_step_settings() -> Any:
    """One's own two-step login: its state, and new recovery codes after proving oneself
    again (password and a current code)."""
    user = current_account()
    ctx = staff_context()
    if request.method == "GET":
        return passkey_views.render_two_step_page(user, errors={})
    try:
        codes = two_step.renew_recovery_codes(
            ctx,
            current_keyring(),
            user,
            password_ok=password_hashing().verify(
                user.password_hash, request.form.get("current_password", "")
            ),
            code=request.form.get("code", ""),
        )
    except ValidationFailed as failure:
        return passkey_views.render_two_step_page(user, errors=failure.errors, status=422)
    return render_template(
        "staff/recovery_codes.html", codes=codes, continue_to="/account/two-step"
    )


@auth_blueprint.route("/account/sessions", methods=["GET", "POST"])
def own_sessions() -> Any:
    """One's own live sessions (when started, last used); ending the others asks for the
    password again."""
    user = current_account()
    ctx = staff_context()
    current = session.get("sid")
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if not password_hashing().verify(
            user.password_hash, request.form.get("current_password", "")
        ):
            errors["current_password"] = [N_("Current password is not correct.")]
            status = 422
        else:
            ended = staff_sessions.revoke_all_sessions(
                ctx.session,
                user=user,
                now=ctx.now,
                reason="ended_by_owner",
                keep_token=current if isinstance(current, str) else None,
            )
            audit.record(ctx, AuditAction.OWN_SESSIONS_ENDED, user, details={"ended": ended})
            flash(
                ngettext("Ended %(num)d other session.", "Ended %(num)d other sessions.", ended),
                "success",
            )
            return redirect(url_for("auth.own_sessions"), code=303)
    live = staff_sessions.live_sessions_of(
        ctx.session, user=user, now=ctx.now, policy=session_policy()
    )
    this_one = staff_sessions.hash_token(current) if isinstance(current, str) else None
    page = render_template("staff/sessions.html", sessions=live, this_one=this_one, errors=errors)
    return page, status


@auth_blueprint.get("/")
def home() -> Any:
    """Send each role to where its work is."""
    user = current_account()
    if has_permission(user, Permission.VIEW_CUSTOMERS):
        return redirect(url_for("customers.dashboard"))
    if has_permission(user, Permission.MANAGE_STAFF):
        return redirect(url_for("admin.staff_list"))
    return render_template("staff/no_access.html")
