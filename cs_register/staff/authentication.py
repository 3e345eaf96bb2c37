"""Staff authentication: checking a password at login, lockout after repeated failures, and
changing one's own password (which re-authenticates first).

Failures are audited and counted per account; the caller commits even when login fails, so
the count and the audit row are kept.
"""

from __future__ import annotations

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.errors import ValidationFailed
from cs_register.permissions import Actor
from cs_register.staff.models import StaffUser
from cs_register.staff.passwords import (
    MAX_PASSWORD_LENGTH,
    check_password_policy,
    equalise_timing,
    hash_password,
    needs_rehash,
    verify_password,
)
from cs_register.staff.services import find_user_by_username, is_locked
from cs_register.staff.sessions import SessionPolicy, revoke_all_sessions
from cs_register.staff.sign_ins import SIGNED_IN, record_sign_in


class LoginFailed(Exception):
    """Wrong username, wrong password, inactive or locked account: deliberately one message."""

    message = "Invalid username or password, or the account is locked. Try again later."


def authenticate(
    ctx: Context,
    *,
    username: str,
    password: str,
    policy: SessionPolicy,
    source_address: str | None = None,
) -> StaffUser:
    """Check credentials. Failures are audited and counted per account (not globally, so one
    attacker cannot lock everyone out); the caller must commit even when this raises. Every
    attempt leaves a sign-in record with `source_address` (`staff.sign_ins`, 45 days).

    `ctx` is the anonymous login request; a failure for a known account is audited as that
    account's."""
    session, now = ctx.session, ctx.now
    # Hashing a megabyte "password" would be a cheap way to burn our CPU; an over-long one can
    # never be right anyway, so the (equally costly) check runs on an empty string instead.
    too_long = len(password) > MAX_PASSWORD_LENGTH
    candidate = "" if too_long else password
    user = find_user_by_username(session, username) if username else None
    if user is None:
        equalise_timing(candidate)
        audit.record(ctx, AuditAction.LOGIN_FAILED, details={"reason": "unknown_user"})
        record_sign_in(ctx, user=None, source_address=source_address, outcome="unknown_user")
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
        audit.record(
            ctx.acting_as(Actor.for_staff(user)),
            AuditAction.LOGIN_FAILED,
            ("staff", user.public_id),
            details=details,
        )
        record_sign_in(ctx, user=user, source_address=source_address, outcome=reason)
        raise LoginFailed()
    user.failed_login_count = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record_sign_in(ctx, user=user, source_address=source_address, outcome=SIGNED_IN)
    return user


def change_own_password(
    ctx: Context,
    *,
    user: StaffUser,
    current_password: str,
    new_password: str,
    current_token: str | None,
) -> None:
    """Re-authenticates with the current password; ends every other session of the user."""
    session, now = ctx.session, ctx.now
    errors: dict[str, list[str]] = {}
    if not verify_password(user.password_hash, current_password):
        errors["current_password"] = ["Current password is not correct."]
    problems = check_password_policy(
        new_password, username=user.username, display_name=user.display_name
    )
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
    audit.record(ctx, AuditAction.PASSWORD_CHANGED, ("staff", user.public_id))
