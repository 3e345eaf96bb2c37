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
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditAction
from cs_register.audit.services import record_event
from cs_register.errors import Conflict, NotFound, ValidationFailed
from cs_register.staff.models import Role, StaffSession, StaffUser
from cs_register.staff.permissions import Permission, require

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


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
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def check_password_policy(password: str, *, username: str = "") -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Password may be at most {MAX_PASSWORD_LENGTH} characters.")
    if username and username.lower() in password.lower():
        problems.append("Password must not contain the username.")
    return problems


def generate_one_time_password() -> str:
    return secrets.token_urlsafe(15)


def normalise_username(raw: str) -> str:
    username = raw.strip().lower()
    if not 3 <= len(username) <= 64 or not set(username) <= _USERNAME_CHARS:
        raise ValidationFailed(
            {"username": "Use 3-64 characters: letters a-z, digits, dot, dash or underscore."}
        )
    return username


def find_user_by_username(session: Session, username: str) -> StaffUser | None:
    return session.scalar(
        sa.select(StaffUser).where(StaffUser.username == username.strip().lower())
    )


def get_user(session: Session, public_id: str) -> StaffUser:
    user = session.scalar(sa.select(StaffUser).where(StaffUser.public_id == public_id))
    if user is None:
        raise NotFound("No such staff account.")
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
    username = normalise_username(username)
    errors: dict[str, list[str]] = {}
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
        password_hash=_hasher.hash(password),
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
    user = find_user_by_username(session, username) if username else None
    if user is None:
        _verify(_DUMMY_HASH, password)
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
    locked = user.locked_until is not None and user.locked_until > now
    password_ok = _verify(user.password_hash, password)
    if locked or not user.is_active or not password_ok:
        reason = "locked" if locked else "inactive" if not user.is_active else "bad_password"
        if not password_ok and not locked:
            user.failed_login_count += 1
            if user.failed_login_count >= policy.lockout_threshold:
                user.locked_until = now + policy.lockout_duration
                user.failed_login_count = 0
        record_event(
            session,
            action=AuditAction.LOGIN_FAILED,
            actor=user,
            now=now,
            subject_type="staff",
            subject_id=user.public_id,
            request_id=request_id,
            details={"reason": reason},
        )
        raise LoginFailed()
    user.failed_login_count = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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


def resume_session(
    session: Session, *, token: str, now: datetime, policy: SessionPolicy
) -> StaffSession | None:
    """The live session for a cookie token, or None if it was revoked, idle or too old."""
    row = session.scalar(sa.select(StaffSession).where(StaffSession.token_hash == hash_token(token)))
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
    row = session.scalar(sa.select(StaffSession).where(StaffSession.token_hash == hash_token(token)))
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
    if not _verify(user.password_hash, current_password):
        errors["current_password"] = ["Current password is not correct."]
    problems = check_password_policy(new_password, username=user.username)
    if problems:
        errors["new_password"] = problems
    elif _verify(user.password_hash, new_password):
        errors["new_password"] = ["The new password must differ from the current one."]
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = _hasher.hash(new_password)
    user.password_changed_at = now
    user.must_change_password = False
    revoke_all_sessions(session, user=user, now=now, reason="password_changed",
                        keep_token=current_token)
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
    require(actor, Permission.MANAGE_STAFF)
    return session.scalars(sa.select(StaffUser).order_by(StaffUser.username)).all()


def set_role(
    session: Session,
    *,
    user: StaffUser,
    role: Role,
    now: datetime,
    actor: StaffUser | None,
    request_id: str | None = None,
) -> None:
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
    if actor is not None:
        require(actor, Permission.MANAGE_STAFF)
        if actor.id == user.id:
            raise Conflict("You cannot deactivate your own account.")
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
    """Give the account a one-time password (returned once) and end all its sessions."""
    if actor is not None:
        require(actor, Permission.MANAGE_STAFF)
    password = generate_one_time_password()
    user.password_hash = _hasher.hash(password)
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
    """Delete session rows that can never be used again (revoked, or past their lifetime).

    They hold nothing personal, but there is no reason to keep them; the audit trail keeps the
    logins and logouts. Idempotent: run it as often as you like.
    """
    cutoff = now - policy.absolute_lifetime
    result = session.execute(
        sa.delete(StaffSession).where(
            sa.or_(StaffSession.revoked_at.is_not(None), StaffSession.created_at < cutoff)
        )
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_staff(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) or 0)
