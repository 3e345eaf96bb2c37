"""Passkeys (WebAuthn, with py_webauthn) as a second factor beside the authenticator app.

A staff member who has set up two-step login may add passkeys on their own two-step page,
after giving their password and a current code again. At the second step of a later login
a passkey answers in place of the code. The server keeps only public keys and signature
counters; the challenge of each ceremony is random, kept in the signed session cookie for
`CHALLENGE_SECONDS` and used once. A passkey is bound to the console's host name (the
relying party), so a look-alike site cannot use it. A failed passkey answer counts as a
wrong code (`two_step_failed`); resetting two-step login forgets the passkeys too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.context import Context
from cs_register.errors import NotFound, ValidationFailed
from cs_register.languages import N_, Message
from cs_register.permissions import Actor
from cs_register.request_bodies import NotJson, parse_strict_json
from cs_register.staff import two_step
from cs_register.staff.models import StaffPasskey, StaffUser

RP_NAME = "cs-register"
CHALLENGE_SECONDS = 120
MAX_PASSKEYS = 10
_NAME_LENGTH = 64

# What the library's check returns: the registration's or the login's verified answer.
Verified = TypeVar("Verified")


@dataclass(frozen=True)
class RelyingParty:
    """The console as WebAuthn sees it: its host name and its origin."""

    id: str
    origin: str

    @classmethod
    def for_origin(cls, origin: str) -> RelyingParty:
        parts = urlsplit(origin)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("an origin is scheme://host[:port]")
        return cls(id=parts.hostname, origin=f"{parts.scheme}://{parts.netloc}")

    def check(
        self, verify: Callable[..., Verified], challenge: bytes, **answer: Any
    ) -> Verified | None:
        """`verify` (the library's check of a registration or a login) on `answer`, expecting
        `challenge` at this host and origin; None when the library refuses it."""
        try:
            return verify(
                expected_challenge=challenge,
                expected_rp_id=self.id,
                expected_origin=self.origin,
                **answer,
            )
        # Any of the library's refusals (structure, CBOR, signature, ...) and malformed values.
        except (WebAuthnException, ValueError, TypeError, KeyError):
            return None


def passkeys_of(session: Session, user: StaffUser) -> Sequence[StaffPasskey]:
    return session.scalars(
        sa.select(StaffPasskey).where(StaffPasskey.user_id == user.id).order_by(StaffPasskey.id)
    ).all()


def _descriptors(keys: Sequence[StaffPasskey]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=key.credential_id) for key in keys]


def registration_options(ctx: Context, rp: RelyingParty, user: StaffUser) -> tuple[str, bytes]:
    """The options for the browser's `navigator.credentials.create()` and their challenge."""
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_name=user.username,
        user_id=user.public_id.encode(),
        user_display_name=user.display_name,
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        # The same authenticator twice would be one factor counted twice.
        exclude_credentials=_descriptors(passkeys_of(ctx.session, user)),
        timeout=CHALLENGE_SECONDS * 1000,
    )
    return options_to_json(options), challenge


# Marked here, not inside the ValidationFailed calls: the extractor does not look inside them.
_UNREADABLE = N_("The passkey's answer could not be checked. Try again, or use a code.")
_REGISTERED_ALREADY = N_("This passkey is registered already.")
_WRONG_PASSWORD = N_("Current password is not correct.")


def _unreadable() -> ValidationFailed:
    return ValidationFailed({"passkey": [_UNREADABLE]})


def register(
    ctx: Context,
    rp: RelyingParty,
    user: StaffUser,
    *,
    credential: str,
    challenge: bytes,
    name: str,
) -> StaffPasskey:
    """Keep the passkey the browser created for `challenge` (issued to this account)."""
    name = " ".join(name.split())[:_NAME_LENGTH] or "Passkey"
    if len(passkeys_of(ctx.session, user)) >= MAX_PASSKEYS:
        message = Message("At most %(limit)d passkeys per account.", limit=MAX_PASSKEYS)
        raise ValidationFailed({"passkey": [message]})
    try:
        # Parsed once, strictly (deep nesting is a refusal, not a RecursionError), and handed
        # to the library as the dict it would otherwise parse again.
        parsed = parse_strict_json(credential)
    except NotJson:
        raise _unreadable() from None
    if not isinstance(parsed, dict):
        raise _unreadable()
    verified = rp.check(verify_registration_response, challenge, credential=parsed)
    if verified is None:
        raise _unreadable()
    duplicate = ctx.session.scalar(
        sa.select(StaffPasskey.id).where(StaffPasskey.credential_id == verified.credential_id)
    )
    if duplicate is not None:
        raise ValidationFailed({"passkey": [_REGISTERED_ALREADY]})
    passkey = StaffPasskey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        created_at=ctx.now,
    )
    ctx.session.add(passkey)
    _record_change(ctx, AuditAction.PASSKEY_ADDED, user)
    return passkey


def _record_change(ctx: Context, action: AuditAction, user: StaffUser) -> None:
    """Audit an added or removed passkey with how many the account has now."""
    ctx.session.flush()
    audit.record(ctx, action, user, details={"passkeys": len(passkeys_of(ctx.session, user))})


def authentication_options(ctx: Context, rp: RelyingParty, user: StaffUser) -> tuple[str, bytes]:
    """The options for `navigator.credentials.get()` (this account's passkeys only)."""
    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        allow_credentials=_descriptors(passkeys_of(ctx.session, user)),
        user_verification=UserVerificationRequirement.PREFERRED,
        timeout=CHALLENGE_SECONDS * 1000,
    )
    return options_to_json(options), challenge


def _credential_id(credential: str) -> bytes | None:
    try:
        parsed = parse_strict_json(credential)
    except NotJson:
        return None
    raw = parsed.get("rawId") if isinstance(parsed, dict) else None
    try:
        return base64url_to_bytes(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def verify_login(
    ctx: Context, rp: RelyingParty, user: StaffUser, *, credential: str, challenge: bytes
) -> bool:
    """Whether `credential` is this account's passkey answering `challenge`. A wrong answer is
    audited as a wrong code, so it counts towards ending the half-finished login."""
    actor_ctx = ctx.acting_as(Actor.for_staff(user))
    credential_id = _credential_id(credential)
    passkey = (
        ctx.session.scalar(
            sa.select(StaffPasskey)
            .where(StaffPasskey.user_id == user.id, StaffPasskey.credential_id == credential_id)
            .with_for_update()
        )
        if credential_id is not None
        else None
    )
    if passkey is not None:
        verified = rp.check(
            verify_authentication_response,
            challenge,
            credential=credential,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
        if verified is not None:
            passkey.sign_count = verified.new_sign_count
            passkey.last_used_at = ctx.now
            audit.record(actor_ctx, AuditAction.PASSKEY_USED, user)
            return True
    audit.record(actor_ctx, AuditAction.TWO_STEP_FAILED, user, details={"by": "passkey"})
    return False


def own_passkey(ctx: Context, user: StaffUser, public_id: str) -> StaffPasskey:
    """One of `user`'s passkeys (another's is not found, as no passkey would be)."""
    passkey = ctx.session.scalar(
        sa.select(StaffPasskey).where(
            StaffPasskey.public_id == public_id, StaffPasskey.user_id == user.id
        )
    )
    if passkey is None:
        raise NotFound("No such passkey.")
    return passkey


def remove(
    ctx: Context, user: StaffUser, passkey: StaffPasskey, *, password_ok: bool, code_ok: bool
) -> None:
    """Forget one of one's own passkeys, after giving the password and a current code."""
    if passkey.user_id != user.id:
        raise NotFound("No such passkey.")
    if not password_ok:
        raise ValidationFailed({"current_password": [_WRONG_PASSWORD]})
    if not code_ok:
        raise ValidationFailed({"code": [two_step.WRONG_CODE]})
    ctx.session.delete(passkey)
    _record_change(ctx, AuditAction.PASSKEY_REMOVED, user)
