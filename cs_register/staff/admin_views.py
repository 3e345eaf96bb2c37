"""The admin pages: staff accounts, and the changes to them that wait for a second admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext

from cs_register.db import get_session
from cs_register.errors import Conflict, NotFound, ValidationFailed, translated
from cs_register.languages import N_
from cs_register.permissions import Permission, Role
from cs_register.staff import approvals, four_eyes, services
from cs_register.staff.login import password_hashing, session_policy
from cs_register.staff.models import StaffChangeKind, StaffUser
from cs_register.web import requires, staff_context

admin_blueprint = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


def _overview(public_id: str) -> services.StaffOverview:
    return services.staff_overviews(staff_context(), policy=session_policy(), public_id=public_id)[
        0
    ]


def _render_detail(public_id: str, *, error: str | None = None, status: int = 200) -> Any:
    return (
        render_template(
            "staff/staff_detail.html", overview=_overview(public_id), roles=list(Role), error=error
        ),
        status,
    )


def _render_one_time_password(user: StaffUser, password: str, *, created: bool) -> Any:
    # Rendered straight into the POST response: the password is in no URL, no flash message and
    # no cookie, and the page is served no-store, so closing it is the end of it.
    return render_template(
        "staff/one_time_password.html", user=user, password=password, created=created
    )


def _waiting_for_approval() -> Any:
    flash(
        gettext("Asked for. The change takes effect when a second admin approves it on this page."),
        "info",
    )
    return redirect(url_for("admin.approval_list"), code=303)


@admin_blueprint.get("/staff")
@requires(Permission.MANAGE_STAFF)
def staff_list() -> Any:
    ctx = staff_context()
    overviews = services.staff_overviews(ctx, policy=session_policy())
    return render_template(
        "staff/staff_list.html", overviews=overviews, waiting=len(approvals.waiting(ctx))
    )


@admin_blueprint.route("/staff/new", methods=["GET", "POST"])
@requires(Permission.MANAGE_STAFF)
def new_staff() -> Any:
    roles = list(Role)
    if request.method == "GET":
        return render_template("staff/staff_new.html", form={}, errors={}, roles=roles)
    form = {name: request.form.get(name, "") for name in ("username", "display_name", "role")}
    ctx = staff_context()
    try:
        role = services.parse_role(form["role"])
        if four_eyes.needs_second_admin(StaffChangeKind.CREATE_ACCOUNT, role=role):
            approvals.ask_to_create(
                ctx, username=form["username"], display_name=form["display_name"], role=role
            )
            return _waiting_for_approval()
        user, password = services.create_user_with_one_time_password(
            ctx,
            hashing=password_hashing(),
            username=form["username"],
            display_name=form["display_name"],
            role=role,
        )
    except ValidationFailed as failure:
        return (
            render_template("staff/staff_new.html", form=form, errors=failure.errors, roles=roles),
            422,
        )
    except Conflict as conflict:
        errors = {"username": [conflict.detail]}
        return render_template("staff/staff_new.html", form=form, errors=errors, roles=roles), 409
    return _render_one_time_password(user, password, created=True), 201


@admin_blueprint.get("/staff/<public_id>")
@requires(Permission.MANAGE_STAFF)
def staff_detail(public_id: str) -> Any:
    return _render_detail(public_id)


@admin_blueprint.post("/staff/<public_id>/role")
@requires(Permission.MANAGE_STAFF)
def change_role(public_id: str) -> Any:
    user = services.get_user(get_session(), public_id)
    ctx = staff_context()
    try:
        role = services.parse_role(request.form.get("role", ""))
        if role != user.role and four_eyes.needs_second_admin(
            StaffChangeKind.CHANGE_ROLE, role=role
        ):
            approvals.ask_to_change(ctx, StaffChangeKind.CHANGE_ROLE, user=user, role=role)
            return _waiting_for_approval()
        services.set_role(ctx, user=user, role=role)
    except ValidationFailed as failure:
        message = " ".join(
            translated(message) for messages in failure.errors.values() for message in messages
        )
        return _render_detail(public_id, error=message, status=422)
    except Conflict as conflict:
        return _render_detail(public_id, error=conflict.detail, status=409)
    flash(
        gettext(
            "Role is now %(role)s. The account's sessions were ended.", role=translated(role.label)
        ),
        "success",
    )
    return redirect(url_for("admin.staff_detail", public_id=public_id))


@admin_blueprint.post("/staff/<public_id>/active")
@requires(Permission.MANAGE_STAFF)
def set_active(public_id: str) -> Any:
    user = services.get_user(get_session(), public_id)
    raw = request.form.get("active", "")
    if raw not in ("0", "1"):
        return _render_detail(public_id, error=N_("Choose to activate or deactivate."), status=422)
    active = raw == "1"
    try:
        services.set_active(staff_context(), user=user, active=active)
    except Conflict as conflict:
        return _render_detail(public_id, error=conflict.detail, status=409)
    if active:
        flash(gettext("The account was reactivated."), "success")
    else:
        flash(gettext("The account was deactivated and its sessions were ended."), "success")
    return redirect(url_for("admin.staff_detail", public_id=public_id))


@admin_blueprint.post("/staff/<public_id>/reset-password")
@requires(Permission.MANAGE_STAFF)
def reset_password(public_id: str) -> Any:
    user = services.get_user(get_session(), public_id)
    ctx = staff_context()
    try:
        if ctx.actor.staff_id != user.id and four_eyes.needs_second_admin(
            StaffChangeKind.RESET_PASSWORD, role=user.role
        ):
            approvals.ask_to_change(ctx, StaffChangeKind.RESET_PASSWORD, user=user)
            return _waiting_for_approval()
        password = services.reset_password(ctx, hashing=password_hashing(), user=user)
    except Conflict as conflict:
        return _render_detail(public_id, error=conflict.detail, status=409)
    return _render_one_time_password(user, password, created=False)


@admin_blueprint.post("/staff/<public_id>/end-sessions")
@requires(Permission.MANAGE_STAFF)
def end_sessions(public_id: str) -> Any:
    user = services.get_user(get_session(), public_id)
    try:
        ended = services.end_sessions(staff_context(), user=user)
    except Conflict as conflict:
        return _render_detail(public_id, error=conflict.detail, status=409)
    flash(
        ngettext(
            "Ended %(num)d session; the account logs in again.",
            "Ended %(num)d sessions; the account logs in again.",
            ended,
        ),
        "success",
    )
    return redirect(url_for("admin.staff_detail", public_id=public_id), code=303)


@admin_blueprint.post("/staff/<public_id>/reset-two-step")
@requires(Permission.MANAGE_STAFF)
def reset_two_step(public_id: str) -> Any:
    """Always asks a second admin (`staff.four_eyes`)."""
    user = services.get_user(get_session(), public_id)
    try:
        approvals.ask_to_change(staff_context(), StaffChangeKind.RESET_TWO_STEP, user=user)
    except Conflict as conflict:
        return _render_detail(public_id, error=conflict.detail, status=409)
    return _waiting_for_approval()


def _render_approvals(*, error: str | None = None, status: int = 200) -> Any:
    ctx = staff_context()
    page = render_template(
        "staff/approvals.html",
        waiting=approvals.waiting(ctx),
        recent=approvals.recent(ctx),
        status_of=lambda change: four_eyes.status_label(four_eyes.status(change, ctx.now)),
        error=error,
    )
    return page, status


@admin_blueprint.get("/approvals")
@requires(Permission.MANAGE_STAFF)
def approval_list() -> Any:
    return _render_approvals()


@admin_blueprint.post("/approvals/<public_id>/<decision>")
@requires(Permission.MANAGE_STAFF)
def decide(public_id: str, decision: str) -> Any:
    ctx = staff_context()
    try:
        if decision == "approve":
            made = approvals.approve(ctx, public_id, hashing=password_hashing())
        elif decision == "reject":
            approvals.reject(ctx, public_id)
            flash(gettext("Rejected: nothing was changed."), "success")
            return redirect(url_for("admin.approval_list"), code=303)
        elif decision == "withdraw":
            approvals.withdraw(ctx, public_id)
            flash(gettext("Your request was withdrawn."), "success")
            return redirect(url_for("admin.approval_list"), code=303)
        else:
            raise NotFound("No such decision.")
    except Conflict as conflict:
        return _render_approvals(error=conflict.detail, status=409)
    if made.one_time_password is not None:
        created = made.request.kind is StaffChangeKind.CREATE_ACCOUNT
        page = _render_one_time_password(made.user, made.one_time_password, created=created)
        return page, 201 if created else 200
    flash(
        gettext(
            "Approved: %(change)s of %(username)s is done.",
            change=translated(made.request.kind.label).lower(),
            username=made.user.username,
        ),
        "success",
    )
    return redirect(url_for("admin.staff_detail", public_id=made.user.public_id), code=303)
