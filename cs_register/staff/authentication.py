"""Staff authentication: checking a password at login (throttled by source address and by
account and address, `staff.throttling`), and changing one's own password (which
re-authenticates first).

Failures are audited and leave a sign-in record; the caller commits even when login fails, so
both are kept.
"""

from __future__ import annotations

from datetime import timedelta

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.errors import ValidationFailed
from cs_register.languages import N_
from cs_register.permissions import Actor
from cs_register.staff import throttling, two_step
from cs_register.staff.models import StaffUser
from cs_register.staff.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordHashing,
    check_password_policy,
)
from cs_register.staff.services import find_user_by_username
from cs_register.staff.sessions import find_session, revoke_all_sessions
from cs_register.staff.sign_ins import SIGNED_IN, normalised_address, record_sign_in


class LoginFailed(Exception):
    """Wrong username, wrong password or inactive account: deliberately one message."""

    message = N_("Invalid username or password.")


class LoginThrottled(Exception):
    """Too many failed attempts from this address (for this account): wait `retry_after`."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after
        minutes = -(-retry_after // 60)
        # The page says it with ngettext (`staff.views.login`); `message` is the English.
        self.minutes = minutes
        self.message = (
            "Too many failed attempts from here. Wait"
            f" {minutes} minute{'s' if minutes != 1 else ''} and try again."
        )


def authenticate(
    ctx: Context,
    *,
    hashing: PasswordHashing,
    username: str,
    password: str,
    source_address: str | None = None,
) -> StaffUser:
    """Check credentials. Failures are audited; too many from one address (for one account)
    make that address wait (`LoginThrottled`), and no account is ever locked. The caller must
    commit even when this raises. Every attempt leaves a sign-in record with `source_address`
    (`staff.sign_ins`, 45 days).

    `ctx` is the anonymous login request; a failure for a known account is audited as that
    account's."""
    session, now = ctx.session, ctx.now
    # Hashing a megabyte "password" would be a cheap way to burn our CPU; an over-long one can
    # never be right anyway, so the (equally costly) check runs on an empty string instead.
    too_long = len(password) > MAX_PASSWORD_LENGTH
    candidate = "" if too_long else password
    user = find_user_by_username(session, username) if username else None
    held = throttling.throttle(
        session,
        address=normalised_address(source_address),
        user_id=user.id if user else None,
        now=now,
    )
    if held is not None:
        # Checked before the password, so a throttled guess learns nothing.
        audit.record(
            ctx.acting_as(Actor.for_staff(user)) if user is not None else ctx,
            AuditAction.LOGIN_THROTTLED,
            user if user is not None else None,
            details={"limit": held.limit},
        )
        record_sign_in(ctx, user=user, source_address=source_address, outcome=throttling.THROTTLED)
        raise LoginThrottled(held.retry_after)
    if user is None:
        hashing.equalise_timing(candidate)
        audit.record(ctx, AuditAction.LOGIN_FAILED, details={"reason": "unknown_user"})
        record_sign_in(ctx, user=None, source_address=source_address, outcome="unknown_user")
        raise LoginFailed()
    password_ok = hashing.verify(user.password_hash, candidate) and not too_long
    if not user.is_active or not password_ok:
        reason = "inactive" if not user.is_active else "bad_password"
        audit.record(
            ctx.acting_as(Actor.for_staff(user)),
            AuditAction.LOGIN_FAILED,
            user,
            details={"reason": reason},
        )
        record_sign_in(ctx, user=user, source_address=source_address, outcome=reason)
        raise LoginFailed()
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash(password)
    record_sign_in(ctx, user=user, source_address=source_address, outcome=SIGNED_IN)
    return user


# A session that passed its second step this recently (a first login that must replace its
# one-time password) is not asked for another code at once.
FRESH_SECOND_STEP = timedelta(minutes=5)


def needs_second_step_again(ctx: Context, user: StaffUser, current_token: str | None) -> bool:
    if not two_step.is_enrolled(user):
        return False
    row = find_session(ctx.session, current_token) if current_token else None
    return row is None or ctx.now - row.created_at > FRESH_SECOND_STEP


def change_own_password(
    ctx: Context,
    *,
    hashing: PasswordHashing,
    user: StaffUser,
    current_password: str,
    new_password: str,
    current_token: str | None,
    keyring: Keyring,
    code: str = "",
) -> None:
    """Re-authenticates with the current password, and with a second-step code unless this
    session passed its second step moments ago (`FRESH_SECOND_STEP`); ends every other
    session of the user."""
    session, now = ctx.session, ctx.now
    errors: dict[str, list[str]] = {}
    if not hashing.verify(user.password_hash, current_password):
        errors["current_password"] = [N_("Current password is not correct.")]
    if needs_second_step_again(ctx, user, current_token) and not two_step.verify_second_step(
        ctx, keyring, user, code
    ):
        errors["code"] = [two_step.WRONG_CODE]
    problems = check_password_policy(
        new_password, username=user.username, display_name=user.display_name
    )
    if problems:
        errors["new_password"] = problems
    elif hashing.verify(user.password_hash, new_password):
        errors["new_password"] = [N_("The new password must differ from the current one.")]
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hashing.hash(new_password)
    user.password_changed_at = now
    user.must_change_password = False
    revoke_all_sessions(
        session, user=user, now=now, reason="password_changed", keep_token=current_token
    )
    audit.record(ctx, AuditAction.PASSWORD_CHANGED, user)
