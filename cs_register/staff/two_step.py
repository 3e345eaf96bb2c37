"""Two-step login: an authenticator app's time-based codes (TOTP, RFC 6238), with ten
one-time recovery codes.

The privacy statement promises two-step login. With `TWO_STEP_LOGIN=required` (the default)
every staff member enrols at their first login: the console shows a QR code (and the secret,
for typing in), and the first code the app shows confirms it. From then on every login asks
for a code after the password. With `optional`, only those who enrolled are asked.

- A code is accepted in the 30-second step it belongs to and one step either side (clock
  drift), and only once: the last step accepted is stored, and a code from it or an earlier
  step is refused, so a code seen over a shoulder cannot be replayed.
- Recovery codes are shown once, at enrolment; each works once, in place of a code.
- The authenticator secret is encrypted (`Keyring.totp_secret`), bound to its account.
- Five wrong codes end the half-finished login: the password must be given again (counted
  on the server from the audit trail).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.context import Context
from cs_register.crypto import Keyring
from cs_register.errors import Conflict, ValidationFailed
from cs_register.languages import N_
from cs_register.permissions import Actor, Permission, require_unless_command
from cs_register.staff import four_eyes
from cs_register.staff.models import (
    StaffChangeKind,
    StaffChangeRequest,
    StaffPasskey,
    StaffRecoveryCode,
    StaffUser,
)
from cs_register.staff.sessions import revoke_all_sessions

ISSUER = "cs-register"
STEP_SECONDS = 30
RECOVERY_CODES = 10
MAX_WRONG_CODES = 5
# How long the password step stays good for the second step.
PENDING_SECONDS = 5 * 60
# Marked here, not inside the ValidationFailed calls: the extractor does not look inside them.
_NO_PENDING_SECRET = N_("Open the enrolment page again to get a QR code.")
_NOT_ENROLLED = N_("Two-step login is not set up for this account.")
WRONG_CODE = N_("Type the code your authenticator app shows now, or a recovery code.")
_CODE_DETAIL = N_("That code is not right. Type the six digits your authenticator app shows now.")


def required(setting: str) -> bool:
    return setting == "required"


def is_enrolled(user: StaffUser) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret_ciphertext is not None


def _row_id(user: StaffUser) -> str:
    return f"staff_user:{user.public_id}"


def pending_secret(ctx: Context, keyring: Keyring, user: StaffUser) -> str:
    """The secret being enrolled, made on the first visit to the enrolment page."""
    if user.totp_pending_ciphertext is not None:
        return keyring.totp_secret.decrypt(user.totp_pending_ciphertext, row_id=_row_id(user))
    secret = pyotp.random_base32()
    user.totp_pending_ciphertext = keyring.totp_secret.encrypt(secret, row_id=_row_id(user))
    ctx.session.flush()
    return secret


def provisioning_qr(user: StaffUser, secret: str) -> str:
    """The enrolment QR code as an SVG data URI (an image: the page runs no script)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return str(segno.make(uri, error="m").svg_data_uri(scale=5))


def _matching_step(secret: str, code: str, now: datetime, after_step: int | None) -> int | None:
    """The step whose code `code` is (this one or one either side), if newer than
    `after_step`."""
    code = "".join(code.split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _hash_code(code: str) -> str:
    return hashlib.sha256("".join(code.split()).lower().encode()).hexdigest()


def _new_recovery_codes(ctx: Context, user: StaffUser) -> list[str]:
    ctx.session.execute(sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user.id))
    codes = [
        f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)
    ]  # 48 random bits each
    ctx.session.add_all(
        StaffRecoveryCode(user_id=user.id, code_hash=_hash_code(code), created_at=ctx.now)
        for code in codes
    )
    return codes


def confirm_enrolment(ctx: Context, keyring: Keyring, user: StaffUser, code: str) -> list[str]:
    """Turn two-step login on with the secret being enrolled, if `code` is its current one;
    the ten recovery codes, to be shown once."""
    if user.totp_pending_ciphertext is None:
        raise ValidationFailed({"code": [_NO_PENDING_SECRET]})
    secret = keyring.totp_secret.decrypt(user.totp_pending_ciphertext, row_id=_row_id(user))
    step = _matching_step(secret, code, ctx.now, None)
    if step is None:
        raise ValidationFailed({"code": [_CODE_DETAIL]})
    user.totp_secret_ciphertext = user.totp_pending_ciphertext
    user.totp_pending_ciphertext = None
    user.totp_enabled_at = ctx.now
    user.totp_last_step = step
    codes = _new_recovery_codes(ctx, user)
    audit.record(ctx.acting_as(Actor.for_staff(user)), AuditAction.TWO_STEP_ENROLLED, user)
    return codes


def verify_second_step(ctx: Context, keyring: Keyring, user: StaffUser, code: str) -> bool:
    """Whether `code` is the account's current authenticator code or an unused recovery code
    (then used up). A wrong one is audited."""
    actor_ctx = ctx.acting_as(Actor.for_staff(user))
    if user.totp_secret_ciphertext is not None:
        secret = keyring.totp_secret.decrypt(user.totp_secret_ciphertext, row_id=_row_id(user))
        step = _matching_step(secret, code, ctx.now, user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            return True
    recovery = ctx.session.scalar(
        sa.select(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.user_id == user.id,
            StaffRecoveryCode.code_hash == _hash_code(code),
            StaffRecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if recovery is not None:
        recovery.used_at = ctx.now
        left = unused_recovery_codes(ctx.session, user)
        audit.record(actor_ctx, AuditAction.RECOVERY_CODE_USED, user, details={"left": left})
        return True
    audit.record(actor_ctx, AuditAction.TWO_STEP_FAILED, user)
    return False


def renew_recovery_codes(
    ctx: Context, keyring: Keyring, user: StaffUser, *, password_ok: bool, code: str
) -> list[str]:
    """Ten new recovery codes in place of the old ones, after the account proves itself again
    with its password (`password_ok`) and a current code; shown once."""
    errors: dict[str, list[str]] = {}
    if not is_enrolled(user):
        raise ValidationFailed({"code": [_NOT_ENROLLED]})
    if not password_ok:
        errors["current_password"] = [N_("Current password is not correct.")]
    if not verify_second_step(ctx, keyring, user, code):
        errors["code"] = [WRONG_CODE]
    if errors:
        raise ValidationFailed(errors)
    codes = _new_recovery_codes(ctx, user)
    audit.record(ctx, AuditAction.RECOVERY_CODES_RENEWED, user)
    return codes


def reset_two_step(
    ctx: Context, user: StaffUser, *, approval: StaffChangeRequest | None = None
) -> None:
    """Forget the account's authenticator, recovery codes and passkeys and end its sessions:
    at its next login it enrols again. From the server's command line, or by an admin with a second
    admin's `approval` (`staff.four_eyes`)."""
    require_unless_command(ctx.actor, Permission.MANAGE_STAFF)
    if ctx.actor.staff_id == user.id:
        raise Conflict("Another admin resets your two-step login.")
    four_eyes.check_allowed(
        ctx.actor, StaffChangeKind.RESET_TWO_STEP, role=user.role, approval=approval
    )
    user.totp_secret_ciphertext = None
    user.totp_pending_ciphertext = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    ctx.session.execute(sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user.id))
    # Its passkeys (`staff.passkeys`) go with its other factors.
    ctx.session.execute(sa.delete(StaffPasskey).where(StaffPasskey.user_id == user.id))
    revoke_all_sessions(ctx.session, user=user, now=ctx.now, reason="two_step_reset")
    audit.record(ctx, AuditAction.TWO_STEP_RESET, user)


def wrong_codes_since(session: Session, user: StaffUser, since: datetime) -> int:
    """Wrong codes given for the account since `since` (counted on the server: the browser's
    cookie could be sent again with an older count)."""
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == AuditAction.TWO_STEP_FAILED,
                AuditEvent.subject_id == user.public_id,
                AuditEvent.occurred_at >= since,
            )
        )
        or 0
    )


def unused_recovery_codes(session: Session, user: StaffUser) -> int:
    session.flush()
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(StaffRecoveryCode)
            .where(StaffRecoveryCode.user_id == user.id, StaffRecoveryCode.used_at.is_(None))
        )
        or 0
    )
