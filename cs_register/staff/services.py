"""Staff accounts and their administration: creating accounts, roles, deactivation, password
resets, and the overview the admin pages and `flask staff list` show.

Login and one's own password are in `staff.authentication`, sessions in `staff.sessions`,
password hashing and policy in `staff.passwords`. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.context import Context
from cs_register.errors import Conflict, NotFound, ValidationFailed
from cs_register.languages import N_, Message
from cs_register.lookup import by_public_id
from cs_register.permissions import Permission, Role, require, require_unless_command
from cs_register.staff import four_eyes
from cs_register.staff.models import StaffChangeKind, StaffChangeRequest, StaffSession, StaffUser
from cs_register.staff.passwords import (
    PasswordHashing,
    check_password_policy,
    generate_one_time_password,
)
from cs_register.staff.sessions import SessionPolicy, live_session_condition, revoke_all_sessions

_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


_USERNAME_RULE = N_("Use 3-64 characters: letters a-z, digits, dot, dash or underscore.")


def normalise_username(raw: str) -> str:
    username = raw.strip().lower()
    if not 3 <= len(username) <= 64 or not set(username) <= _USERNAME_CHARS:
        raise ValidationFailed({"username": _USERNAME_RULE})
    return username


def parse_role(raw: str) -> Role:
    """The role named by a form or command-line value, or a ValidationFailed on `role`."""
    try:
        return Role(raw.strip().lower())
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise ValidationFailed(
            {"role": Message("Choose one of: %(choices)s.", choices=choices)}
        ) from None


def find_user_by_username(session: Session, username: str) -> StaffUser | None:
    return session.scalar(
        sa.select(StaffUser).where(StaffUser.username == username.strip().lower())
    )


def get_user(session: Session, public_id: str) -> StaffUser:
    return by_public_id(session, StaffUser, public_id, missing="No such staff account.")


def get_user_by_username(session: Session, username: str) -> StaffUser:
    """For the command line, where administrators name accounts by username."""
    user = find_user_by_username(session, username)
    if user is None:
        raise NotFound("No staff account has that username.")
    return user


def create_user(
    ctx: Context,
    *,
    hashing: PasswordHashing,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    must_change_password: bool,
    approval: StaffChangeRequest | None = None,
) -> StaffUser:
    """Create a staff account, by an admin or by the deployment's command line. A privileged
    role needs a second admin's `approval` in the console (`staff.four_eyes`)."""
    session, now = ctx.session, ctx.now
    require_unless_command(ctx.actor, Permission.MANAGE_STAFF)
    errors: dict[str, list[str]] = {}
    try:
        username = normalise_username(username)
    except ValidationFailed as failure:
        errors.update(failure.errors)
    display_name = " ".join(display_name.split())
    if not 1 <= len(display_name) <= 100:
        errors["display_name"] = [N_("Display name is required (at most 100 characters).")]
    password_problems = check_password_policy(
        password, username=username, display_name=display_name
    )
    if password_problems:
        errors["password"] = password_problems
    if errors:
        raise ValidationFailed(errors)
    if find_user_by_username(session, username) is not None:
        raise Conflict("That username is already taken.")
    four_eyes.check_allowed(ctx.actor, StaffChangeKind.CREATE_ACCOUNT, role=role, approval=approval)
    user = StaffUser(
        username=username,
        display_name=display_name,
        role=role,
        password_hash=hashing.hash(password),
        must_change_password=must_change_password,
        password_changed_at=now,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(ctx, AuditAction.STAFF_CREATED, user, details={"role": role.value})
    return user


def list_users(ctx: Context) -> Sequence[StaffUser]:
    """Every account, by username (the admin pages use `staff_overviews`)."""
    session = ctx.session
    require(ctx.actor, Permission.MANAGE_STAFF)
    return session.scalars(sa.select(StaffUser).order_by(StaffUser.username)).all()


@dataclass(frozen=True)
class StaffOverview:
    """One account as the admin pages show it: the row plus facts derived from other tables."""

    user: StaffUser
    last_login_at: datetime | None
    live_sessions: int


def staff_overviews(
    ctx: Context,
    *,
    policy: SessionPolicy,
    public_id: str | None = None,
) -> list[StaffOverview]:
    """Every account (or the one with `public_id`) with its last login and live session count.
    Admins see it; so does the deployment's command line.

    The last login comes from the audit trail because session rows are purged; two grouped
    queries keep the page at three queries however many accounts there are.
    """
    session, now = ctx.session, ctx.now
    require_unless_command(ctx.actor, Permission.MANAGE_STAFF)
    query = sa.select(StaffUser).order_by(StaffUser.username)
    if public_id is not None:
        query = query.where(StaffUser.public_id == public_id)
    users = session.scalars(query).all()
    if public_id is not None and not users:
        raise NotFound("No such staff account.")
    public_ids = [user.public_id for user in users]
    last_logins = dict(
        session.execute(
            sa.select(AuditEvent.subject_id, sa.func.max(AuditEvent.occurred_at))
            .where(
                AuditEvent.action == AuditAction.LOGIN,
                AuditEvent.subject_type == "staff",
                AuditEvent.subject_id.in_(public_ids),
            )
            .group_by(AuditEvent.subject_id)
        ).all()
    )
    live_counts = dict(
        session.execute(
            sa.select(StaffSession.user_id, sa.func.count())
            .where(live_session_condition(now, policy))
            .group_by(StaffSession.user_id)
        ).all()
    )
    return [
        StaffOverview(
            user=user,
            last_login_at=last_logins.get(user.public_id),
            live_sessions=int(live_counts.get(user.id, 0)),
        )
        for user in users
    ]


def create_user_with_one_time_password(
    ctx: Context,
    *,
    hashing: PasswordHashing,
    username: str,
    display_name: str,
    role: Role,
    approval: StaffChangeRequest | None = None,
) -> tuple[StaffUser, str]:
    """Create an account with a generated password that must be replaced at first login.

    Returns the account and the password; the caller shows the password once and keeps it
    nowhere.
    """
    password = generate_one_time_password(username.strip().lower())
    user = create_user(
        ctx,
        hashing=hashing,
        username=username,
        display_name=display_name,
        role=role,
        password=password,
        must_change_password=True,
        approval=approval,
    )
    return user, password


def _administer(ctx: Context, user: StaffUser, *, own: str) -> None:
    """An admin (or the deployment's command line) changes someone else's account; changing
    one's own this way is refused with `own`."""
    require_unless_command(ctx.actor, Permission.MANAGE_STAFF)
    if ctx.actor.staff_id == user.id:
        raise Conflict(own)


def set_role(
    ctx: Context,
    *,
    user: StaffUser,
    role: Role,
    approval: StaffChangeRequest | None = None,
) -> None:
    """Give the account another role and end its sessions, so it logs in again under it. A
    privileged role needs a second admin's `approval` in the console (`staff.four_eyes`)."""
    _administer(ctx, user, own="You cannot change your own role; ask another admin.")
    if user.role == role:
        return
    four_eyes.check_allowed(ctx.actor, StaffChangeKind.CHANGE_ROLE, role=role, approval=approval)
    old = user.role
    user.role = role
    # A role change narrows or widens access: make the person log in again under the new role.
    revoke_all_sessions(ctx.session, user=user, now=ctx.now, reason="role_changed")
    audit.record(
        ctx, AuditAction.STAFF_ROLE_CHANGED, user, details={"from": old.value, "to": role.value}
    )


def set_active(
    ctx: Context,
    *,
    user: StaffUser,
    active: bool,
) -> None:
    """Deactivate (ending every session at once) or reactivate an account."""
    _administer(ctx, user, own="You cannot deactivate or reactivate your own account.")
    if user.is_active == active:
        return
    user.is_active = active
    user.deactivated_at = None if active else ctx.now
    if not active:
        revoke_all_sessions(ctx.session, user=user, now=ctx.now, reason="deactivated")
    audit.record(
        ctx, AuditAction.STAFF_REACTIVATED if active else AuditAction.STAFF_DEACTIVATED, user
    )


def reset_password(
    ctx: Context,
    *,
    hashing: PasswordHashing,
    user: StaffUser,
    approval: StaffChangeRequest | None = None,
) -> str:
    """Give the account a one-time password (returned once), and end all its sessions. A
    privileged account's needs a second admin's `approval` in the console."""
    session, now = ctx.session, ctx.now
    # It would log the admin out mid-page; their own password has its own form.
    _administer(ctx, user, own="Use 'Change password' for your own account.")
    four_eyes.check_allowed(
        ctx.actor, StaffChangeKind.RESET_PASSWORD, role=user.role, approval=approval
    )
    password = generate_one_time_password(user.username)
    user.password_hash = hashing.hash(password)
    user.password_changed_at = now
    user.must_change_password = True
    revoke_all_sessions(session, user=user, now=now, reason="password_reset")
    audit.record(ctx, AuditAction.STAFF_PASSWORD_RESET, user)
    return password


def end_sessions(ctx: Context, *, user: StaffUser) -> int:
    """End every live session of the account (a lost laptop, a shared screen): it logs in
    again. Returns how many ended."""
    _administer(ctx, user, own="Log out to end your own session.")
    ended = revoke_all_sessions(ctx.session, user=user, now=ctx.now, reason="ended_by_admin")
    audit.record(ctx, AuditAction.STAFF_SESSIONS_ENDED, user, details={"ended": ended})
    return ended


def count_staff(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) or 0)
