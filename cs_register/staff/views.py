"""Login, logout, own password; and the admin pages that manage staff accounts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user

from cs_register.db import get_session
from cs_register.errors import ValidationFailed
from cs_register.staff import services
from cs_register.web import is_safe_next, now, request_id, require_staff, session_policy

auth_blueprint = Blueprint("auth", __name__, template_folder="templates")
admin_blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


@auth_blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = request.values.get("next")
    if request.method == "GET":
        return render_template("staff/login.html", next_url=next_url, error=None)
    db = get_session()
    username = request.form.get("username", "")
    try:
        user = services.authenticate(
            db,
            username=username,
            password=request.form.get("password", ""),
            now=now(),
            policy=session_policy(),
            request_id=request_id(),
        )
    except services.LoginFailed as failure:
        # The form again (401); the view returned normally, so the failed attempt and the
        # lockout counter are committed with the audit trail.
        return (
            render_template(
                "staff/login.html", next_url=next_url, error=failure.message, username=username
            ),
            401,
        )
    # A fresh cookie and a fresh server-side token at every login (no session fixation).
    session.clear()
    token = services.start_session(db, user=user, now=now(), request_id=request_id())
    session["sid"] = token
    login_user(user)
    if user.must_change_password:
        flash("Please replace your one-time password before continuing.", "warning")
        return redirect(url_for("auth.change_password"))
    return redirect(next_url if is_safe_next(next_url) else "/")


@auth_blueprint.post("/logout")
def logout() -> Any:
    token = session.get("sid")
    if isinstance(token, str):
        services.end_session(get_session(), token=token, now=now(), request_id=request_id())
    logout_user()
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@auth_blueprint.route("/account/password", methods=["GET", "POST"])
def change_password() -> Any:
    user = require_staff()
    if request.method == "GET":
        return render_template("staff/change_password.html", errors={})
    try:
        services.change_own_password(
            get_session(),
            user=user,
            current_password=request.form.get("current_password", ""),
            new_password=request.form.get("new_password", ""),
            now=now(),
            current_token=session.get("sid"),
            request_id=request_id(),
        )
    except ValidationFailed as failure:
        return render_template("staff/change_password.html", errors=failure.errors), 422
    flash("Password changed. Your other sessions have been logged out.", "success")
    return redirect("/")


@auth_blueprint.get("/")
def home() -> Any:
    """Send each role to where its work is."""
    from cs_register.staff.permissions import Permission, has_permission

    user = require_staff()
    if has_permission(user, Permission.VIEW_CUSTOMERS):
        return redirect(url_for("customers.dashboard"))
    if has_permission(user, Permission.MANAGE_STAFF):
        return redirect(url_for("admin.staff_list"))
    return render_template("staff/no_access.html")


@admin_blueprint.get("/staff")
def staff_list() -> Any:
    """Placeholder until the staff administration pages land."""
    raise NotImplementedError
