"""Integration tokens: creation, revocation, listing and bearer authentication.

A token is `csr_` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored, plus the first characters after `csr_` so an admin can match a configured token to its
row. The token itself is returned once, by `create_token`, and never again.

`actor` is None only for the deployment's own `flask integrations ...` commands.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from cs_register.audit.models import AuditAction
from cs_register.audit.services import record_event
from cs_register.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from cs_register.integrations.models import IntegrationToken
from cs_register.permissions import Permission, StaffPrincipal, require
from cs_register.staff.models import StaffUser

log = logging.getLogger(__name__)

TOKEN_SCHEME_PREFIX = "csr_"  # noqa: S105 - a public prefix, not a secret
TOKEN_RANDOM_BYTES = 32
PREFIX_LENGTH = 8
# Writing last_used_at on every request would turn each API call into a write on one hot row.
LAST_USED_GRANULARITY = timedelta(minutes=1)

_NAME = re.compile(r"[a-z0-9._-]{3,64}")
NAME_RULE = "Use 3-64 characters: letters a-z, digits, dot, dash or underscore."
# token_urlsafe(32) gives exactly 43 characters of the URL-safe base64 alphabet.
_TOKEN_SHAPE = re.compile(r"csr_[A-Za-z0-9_-]{43}")

NO_CREDENTIALS_DETAIL = "This API needs an integration token: send 'Authorization: Bearer <token>'."
BAD_CREDENTIALS_DETAIL = "The integration token is not valid (unknown, revoked or malformed)."

SUBJECT_TYPE = "integration_token"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def normalise_token_name(raw: str) -> str:
    name = (raw or "").strip().lower()
    if not _NAME.fullmatch(name):
        raise ValidationFailed({"name": NAME_RULE})
    return name


def create_token(
    session: Session,
    *,
    name: str,
    actor: StaffPrincipal | None,
    now: datetime,
    request_id: str | None = None,
) -> tuple[IntegrationToken, str]:
    """Create a named token. Returns the row and the token, which is not retrievable later."""
    if actor is not None:
        require(actor, Permission.MANAGE_INTEGRATIONS)
    clean_name = normalise_token_name(name)
    if find_token_by_name(session, clean_name) is not None:
        # Revoked tokens keep their name, so logs and the audit trail stay unambiguous.
        raise Conflict("An integration token with that name already exists.")
    raw = TOKEN_SCHEME_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    token = IntegrationToken(
        name=clean_name,
        token_hash=hash_token(raw),
        token_prefix=raw[len(TOKEN_SCHEME_PREFIX) :][:PREFIX_LENGTH],
        created_at=now,
        created_by_id=actor.id if actor is not None else None,
    )
    session.add(token)
    session.flush()
    record_event(
        session,
        action=AuditAction.INTEGRATION_TOKEN_CREATED,
        now=now,
        subject_type=SUBJECT_TYPE,
        subject_id=token.public_id,
        request_id=request_id,
        details={"name": token.name, "prefix": token.token_prefix},
        actor=actor,
        # The CLI acts as the deployment; the audit trail names it so.
        actor_label=None if actor is not None else "cli",
    )
    return token, raw


def find_token_by_name(session: Session, name: str) -> IntegrationToken | None:
    return session.scalar(
        sa.select(IntegrationToken).where(IntegrationToken.name == name.strip().lower())
    )


def get_token(session: Session, public_id: str) -> IntegrationToken:
    token = session.scalar(
        sa.select(IntegrationToken).where(IntegrationToken.public_id == public_id)
    )
    if token is None:
        raise NotFound("No such integration token.")
    return token


def get_token_by_name(session: Session, name: str) -> IntegrationToken:
    """For the command line, where administrators name tokens rather than use ids."""
    token = find_token_by_name(session, name)
    if token is None:
        raise NotFound("No integration token has that name.")
    return token


def revoke_token(
    session: Session,
    *,
    public_id: str,
    actor: StaffPrincipal | None,
    now: datetime,
    request_id: str | None = None,
) -> IntegrationToken:
    """Revoke a token; the very next request presenting it is refused."""
    if actor is not None:
        require(actor, Permission.MANAGE_INTEGRATIONS)
    token = get_token(session, public_id)
    if token.revoked_at is not None:
        raise Conflict("This integration token has already been revoked.")
    token.revoked_at = now
    token.revoked_by_id = actor.id if actor is not None else None
    session.flush()
    record_event(
        session,
        action=AuditAction.INTEGRATION_TOKEN_REVOKED,
        now=now,
        subject_type=SUBJECT_TYPE,
        subject_id=token.public_id,
        request_id=request_id,
        details={"name": token.name, "prefix": token.token_prefix},
        actor=actor,
        # The CLI acts as the deployment; the audit trail names it so.
        actor_label=None if actor is not None else "cli",
    )
    return token


@dataclass(frozen=True)
class TokenOverview:
    token: IntegrationToken
    created_by: str  # a username, or "cli"
    revoked_by: str | None

    @property
    def state(self) -> str:
        return "active" if self.token.is_active else "revoked"


def list_tokens(session: Session, *, actor: StaffPrincipal | None) -> Sequence[TokenOverview]:
    """Every token, active ones first, each with who created (and revoked) it."""
    if actor is not None:
        require(actor, Permission.MANAGE_INTEGRATIONS)
    creator = aliased(StaffUser)
    revoker = aliased(StaffUser)
    rows = session.execute(
        sa.select(IntegrationToken, creator.username, revoker.username)
        .outerjoin(creator, creator.id == IntegrationToken.created_by_id)
        .outerjoin(revoker, revoker.id == IntegrationToken.revoked_by_id)
        .order_by(IntegrationToken.revoked_at.is_not(None), IntegrationToken.name)
    ).all()
    return [
        TokenOverview(
            token=token,
            created_by=created_by or "cli",
            revoked_by=(revoked_by or "cli") if token.revoked_at is not None else None,
        )
        for token, created_by, revoked_by in rows
    ]


def authenticate_token(session: Session, *, raw: str | None, now: datetime) -> IntegrationToken:
    """The active token `raw` names, or `Unauthenticated` (401).

    The lookup is by SHA-256 of the presented token, so no stored secret is ever compared
    character by character against attacker input; `compare_digest` re-checks the hash in
    constant time all the same. Unknown, revoked and malformed tokens get one message, so the
    answer reveals nothing about which tokens exist.
    """
    if not raw:
        raise Unauthenticated(NO_CREDENTIALS_DETAIL)
    if not _TOKEN_SHAPE.fullmatch(raw):
        log.warning("integration authentication failed: malformed token")
        raise Unauthenticated(BAD_CREDENTIALS_DETAIL)
    presented_hash = hash_token(raw)
    token = session.scalar(
        sa.select(IntegrationToken).where(IntegrationToken.token_hash == presented_hash)
    )
    if token is None or not hmac.compare_digest(token.token_hash, presented_hash):
        log.warning("integration authentication failed: unknown token")
        raise Unauthenticated(BAD_CREDENTIALS_DETAIL)
    if token.revoked_at is not None:
        log.warning("integration authentication failed: revoked token %s", token.name)
        raise Unauthenticated(BAD_CREDENTIALS_DETAIL)
    _touch_last_used(session, token, now)
    return token


def _touch_last_used(session: Session, token: IntegrationToken, now: datetime) -> None:
    # A conditional UPDATE rather than read-modify-write: concurrent requests of the same
    # integration agree on one writer per minute and never move the timestamp backwards.
    result = session.execute(
        sa.update(IntegrationToken)
        .where(IntegrationToken.id == token.id)
        .where(
            sa.or_(
                IntegrationToken.last_used_at.is_(None),
                IntegrationToken.last_used_at <= now - LAST_USED_GRANULARITY,
            )
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        session.refresh(token, attribute_names=["last_used_at"])
