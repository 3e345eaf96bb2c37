"""Staff accounts: creation, authentication, server-side sessions, administration.

Every function takes the session and `now`; none commits. Passwords are hashed with argon2id.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.audit.services import record_event
from cs_register.errors import Conflict, NotFound, ValidationFailed
from cs_register.permissions import Permission, Role, require
from cs_register.staff.models import StaffSession, StaffUser
from cs_register.staff.passwords import (
    equalise_timing,
    hash_password,
    needs_rehash,
    verify_password,
)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: timedelta
    absolute_lifetime: timedelta
    lockout_threshold: int
    lockout_duration: timedelta


class LoginFailed(Exception):
    """Wrong username, wrong password, inactive or locked account: deliberately one message."""

    message = "Invalid username or password, or the account is locked. Try again later."


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_password_policy(password: str, *, username: str = "") -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Password may be at most {MAX_PASSWORD_LENGTH} characters.")
    if username and username.lower() in password.lower():
        problems.append("Password must not contain the username.")
    return problems


def generate_one_time_password(username: str = "") -> str:
    """A random 20-character password that satisfies the policy for `username`."""
    while True:
        password = secrets.token_urlsafe(15)
        # A random string can, very rarely, contain a short username; draw again then.
        if not check_password_policy(password, username=username):
            return password


_USERNAME_RULE = "Use 3-64 characters: letters a-z, digits, dot, dash or underscore."


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
        raise ValidationFailed({"role": f"Choose one of: {choices}."}) from None


def find_user_by_username(session: Session, username: str) -> StaffUser | None:
    return session.scalar(
        sa.select(StaffUser).where(StaffUser.username == username.strip().lower())
    )


def get_user(session: Session, public_id: str) -> StaffUser:
    user = session.scalar(sa.select(StaffUser).where(StaffUser.public_id == public_id))
    if user is None:
        raise NotFound("No such staff account.")
    return user


def get_user_by_username(session: Session, username: str) -> StaffUser:
    """For the command line, where administrators name accounts by username."""
    user = find_user_by_username(session, username)
    if user is None:
        raise NotFound("No staff account has that username.")
    return user


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    now: datetime,
    must_change_password: bool,
    actor: StaffUser | None,
    request_id: str | None = None,
) -> StaffUser:
    """Create a staff account. `actor` is None only for deployment CLI commands."""
    if actor is not None:
        require(actor, Permission.MANAGE_STAFF)
    errors: dict[str, list[str]] = {}
    try:
        username = normalise_username(username)
    except ValidationFailed as failure:
        errors.update(failure.errors)
    display_name = " ".join(display_name.split())
    if not 1 <= len(display_name) <= 100:
        errors["display_name"] = ["Display name is required (at most 100 characters)."]
    password_problems = check_password_policy(password, username=username)
    if password_problems:
        errors["password"] = password_problems
    if errors:
        raise ValidationFailed(errors)
    if find_user_by_username(session, username) is not None:
        raise Conflict("That username is already taken.")
    user = StaffUser(
        username=username,
        display_name=display_name,
        role=role,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
        password_changed_at=now,
        created_at=now,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        action=AuditAction.STAFF_CREATED,
        actor=actor,
        actor_label=None if actor else "cli",
        now=now,
        subject_type="staff",
        subject_id=user.public_id,
        request_id=request_id,
        details={"role": role.value},
    )
    return user


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    now: datetime,
    policy: SessionPolicy,
    request_id: str | None = None,
) -> StaffUser:
    """Check credentials. Failures are audited and counted per account (not globally, so one
    attacker cannot lock everyone out); the caller must commit even when this raises."""
    # Hashing a megabyte "password" would be a cheap way to burn our CPU; an over-long one can
    # never be right anyway, so the (equally costly) check runs on an empty string instead.
    too_long = len(password) > MAX_PASSWORD_LENGTH
    candidate = "" if too_long else password
    user = find_user_by_username(session, username) if username else None
    if user is None:
        equalise_timing(candidate)
        record_event(
            session,
            action=AuditAction.LOGIN_FAILED,
            actor=None,
            actor_label="unknown",
            now=now,
            request_id=request_id,
            details={"reason": "unknown_user"},
        )
        raise LoginFailed()
    locked = is_locked(user, now=now)
    password_ok = verify_password(user.password_hash, candidate) and not too_long
    if locked or not user.is_active or not password_ok:
        reason = "locked" if locked else "inactive" if not user.is_active else "bad_password"
        details: dict[str, object] = {"reason": reason}
        if not password_ok and not locked:
            user.failed_login_count += 1
            if user.failed_login_count >= policy.lockout_threshold:
                user.locked_until = now + policy.lockout_duration
                user.failed_login_count = 0
                details["account_locked"] = True
        record_event(
            session,
            action=AuditAction.LOGIN_FAILED,
            actor=user,
            now=now,
            subject_type="staff",
            subject_id=user.public_id,
            request_id=request_id,
            details=details,
        )
        raise LoginFailed()
    user.failed_login_count = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def is_locked(user: StaffUser, *, now: datetime) -> bool:
    """Locked out by too many wrong passwords, until `locked_until` passes."""
    return user.locked_until is not None and user.locked_until > now


def start_session(
    session: Session, *, user: StaffUser, now: datetime, request_id: str | None = None
) -> str:
    """Open a server-side session and return the token for the cookie (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(token_hash=hash_token(token), user=user, created_at=now, last_seen_at=now)
    )
    record_event(
        session,
        action=AuditAction.LOGIN,
        actor=user,
        now=now,
        subject_type="staff",
        subject_id=user.public_id,
        request_id=request_id,
    )
    return token


# Writing last_seen_at on every request would make every page view a write; a minute of
# slack on a 30-minute idle timeout is immaterial.
_LAST_SEEN_GRANULARITY = timedelta(minutes=1)


def _find_session_row(session: Session, token: str) -> StaffSession | None:
    return session.scalar(
        sa.select(StaffSession).where(StaffSession.token_hash == hash_token(token))
    )


def resume_session(
    session: Session, *, token: str, now: datetime, policy: SessionPolicy
) -> StaffSession | None:
    """The live session for a cookie token, or None if it was revoked, idle or too old."""
    row = _find_session_row(session, token)
    if row is None or row.revoked_at is not None:
        return None
    if not row.user.is_active:
        return None
    if now - row.last_seen_at >= policy.idle_timeout:
        _revoke(row, now, "idle_timeout")
        return None
    if now - row.created_at >= policy.absolute_lifetime:
        _revoke(row, now, "lifetime")
        return None
    if now - row.last_seen_at >= _LAST_SEEN_GRANULARITY:
        row.last_seen_at = now
    return row


def _revoke(row: StaffSession, now: datetime, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_reason = reason


def end_session(
    session: Session, *, token: str, now: datetime, request_id: str | None = None
) -> None:
    row = _find_session_row(session, token)
    if row is None or row.revoked_at is not None:
        return
    _revoke(row, now, "logout")
    record_event(
        session,
        action=AuditAction.LOGOUT,
        actor=row.user,
        now=now,
        subject_type="staff",
        subject_id=row.user.public_id,
        request_id=request_id,
    )


def revoke_all_sessions(
    session: Session, *, user: StaffUser, now: datetime, reason: str, keep_token: str | None = None
) -> int:
    keep_hash = hash_token(keep_token) if keep_token else None
    rows = session.scalars(
        sa.select(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None)
        )
    ).all()
    count = 0
    for row in rows:
        if row.token_hash != keep_hash:
            _revoke(row, now, reason)
            count += 1
    return count


def change_own_password(
    session: Session,
    *,
    user: StaffUser,
    current_password: str,
    new_password: str,
    now: datetime,
    current_token: str | None,
    request_id: str | None = None,
) -> None:
    """Re-authenticates with the current password; ends every other session of the user."""
    errors: dict[str, list[str]] = {}
    if not verify_password(user.password_hash, current_password):
        errors["current_password"] = ["Current password is not correct."]
    problems = check_password_policy(new_password, username=user.username)
    if problems:
        errors["new_password"] = problems
    elif verify_password(user.password_hash, new_password):
        errors["new_password"] = ["The new password must differ from the current one."]
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    user.must_change_password = False
    revoke_all_sessions(
        session, user=user, now=now, reason="password_changed", keep_token=current_token
    )
    record_event(
        session,
        action=AuditAction.PASSWORD_CHANGED,
        actor=user,
        now=now,
        subject_type="staff",
        subject_id=user.public_id,
        request_id=request_id,
    )


def list_users(session: Session, *, actor: StaffUser) -> Sequence[StaffUser]:
    """Every account, by username (the admin pages use `staff_overviews`)."""
    require(actor, Permission.MANAGE_STAFF)
    return session.scalars(sa.select(StaffUser).order_by(StaffUser.username)).all()


@dataclass(frozen=True)
class StaffOverview:
    """One account as the admin pages show it: the row plus facts derived from other tables."""

    user: StaffUser
    last_login_at: datetime | None
    live_sessions: int
    locked: bool


def staff_overviews(
    session: Session,
    *,
    actor: StaffUser | None,
    now: datetime,
    policy: SessionPolicy,
    public_id: str | None = None,
) -> list[StaffOverview]:
    """Every account (or the one with `public_id`) with its last login and live session count.
    `actor` is None only for deployment CLI commands.

    The last login comes from the audit trail because session rows are purged; two grouped
    queries keep the page at three queries however many accounts there are.
    """
    if actor is not None:
        require(actor, Permission.MANAGE_STAFF)
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
            .where(_live_session_condition(now, policy))
            .group_by(StaffSession.user_id)
        ).all()
    )
    return [
        StaffOverview(
            user=user,
            last_login_at=last_logins.get(user.public_id),
            live_sessions=int(live_counts.get(user.id, 0)),
            locked=is_locked(user, now=now),
        )
        for user in users
    ]


def _live_session_condition(now: datetime, policy: SessionPolicy) -> sa.ColumnElement[bool]:
    """Rows `resume_session` would still accept (the user's own active flag aside)."""
    return sa.and_(
        StaffSession.revoked_at.is_(None),
        StaffSession.last_seen_at > now - policy.idle_timeout,
        StaffSession.created_at > now - policy.absolute_lifetime,
    )


def create_user_with_one_time_password(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: Role,
    now: datetime,
    actor: StaffUser | None,
    request_id: str | None = None,
) -> tuple[StaffUser, str]:
    """Create an account with a generated password that must be replaced at first login.

    Returns the account and the password; the caller shows the password once and keeps it
    nowhere.
    """
    password = generate_one_time_password(username.strip().lower())
    user = create_user(
        session,
        username=username,
        display_name=display_name,
        role=role,
        password=password,
        now=now,
        must_change_password=True,
        actor=actor,
        request_id=request_id,
    )
    return user, password


def set_role(
    session: Session,
    *,
    user: StaffUser,
    role: Role,
    now: datetime,
    actor: StaffUser | None,
    request_id: str | None = None,
) -> None:
    """Give the account another role and end its sessions, so it logs in again under it."""
    if actor is not None:
        require(actor, Permission.MANAGE_STAFF)
        if actor.id == user.id:
            raise Conflict("You cannot change your own role; ask another admin.")
    if user.role == role:
        return
    old = user.role
    user.role = role
    # A role change narrows or widens access: make the person log in again under the new role.
    revoke_all_sessions(session, user=user, now=now, reason="role_changed")
    record_event(
        session,
        action=AuditAction.STAFF_ROLE_CHANGED,
        actor=actor,
        actor_label=None if actor else "cli",
        now=now,
        subject_type="staff",
        subject_id=user.public_id,
        request_id=request_id,
        details={"from": old.value, "to": role.value},
    )


def set_active(
    session: Session,
    *,
    user: StaffUser,
    active: bool,
    now: datetime,
    actor: StaffUser | None,
    request_id: str | None = None,
) -> None:
    """Deactivate (ending every session at once) or reactivate an account."""
    if actor is not None:
        require(actor, Permission.MANAGE_STAFF)
        if actor.id == user.id:
            raise Conflict("You cannot deactivate or reactivate your own account.")
    if user.is_active == active:
        return
    user.is_active = active
    user.deactivated_at = None if active else now
    if not active:
        revoke_all_sessions(session, user=user, now=now, reason="deactivated")
    record_event(
        session,
        action=AuditAction.STAFF_REACTIVATED if active else AuditAction.STAFF_DEACTIVATED,
        actor=actor,
        actor_label=None if actor else "cli",
        now=now,
        subject_type="staff",
        subject_id=user.public_id,
        request_id=request_id,
    )


def reset_password(
    session: Session,
    *,
    user: StaffUser,
    now: datetime,
    actor: StaffUser | None,
    request_id: str | None = None,
) -> str:
    """Give the account a one-time password (returned once), lift any lockout and end all its
    sessions."""
    if actor is not None:
        require(actor, Permission.MANAGE_STAFF)
        if actor.id == user.id:
            # It would log the admin out mid-page; their own password has its own form.
            raise Conflict("Use 'Change password' for your own account.")
    password = generate_one_time_password(user.username)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = True
    user.failed_login_count = 0
    user.locked_until = None
    revoke_all_sessions(session, user=user, now=now, reason="password_reset")
    record_event(
        session,
        action=AuditAction.STAFF_PASSWORD_RESET,
        actor=actor,
        actor_label=None if actor else "cli",
        now=now,
        subject_type="staff",
        subject_id=user.public_id,
        request_id=request_id,
    )
    return password


def purge_expired_sessions(session: Session, *, now: datetime, policy: SessionPolicy) -> int:
    """Delete session rows that can never be used again: revoked, idle past the timeout, or
    past their absolute lifetime.

    They hold nothing personal, but there is no reason to keep them; the audit trail keeps the
    logins and logouts. Idempotent: run it as often as you like.
    """
    result = session.execute(
        sa.delete(StaffSession)
        .where(sa.not_(_live_session_condition(now, policy)))
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_staff(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) or 0)
