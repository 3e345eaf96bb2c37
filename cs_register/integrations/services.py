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
from sqlalchemy.orm import Session

from cs_register.context import Context
from cs_register.errors import Unauthenticated, ValidationFailed
from cs_register.integrations import credentials
from cs_register.integrations.models import IntegrationToken, TokenScope
from cs_register.languages import N_

log = logging.getLogger(__name__)

TOKEN_SCHEME_PREFIX = "csr_"  # noqa: S105 - a public prefix, not a secret
TOKEN_RANDOM_BYTES = 32
PREFIX_LENGTH = 8
# Writing last_used_at on every request would turn each API call into a write on one hot row.
LAST_USED_GRANULARITY = timedelta(minutes=1)

_NAME = re.compile(r"[a-z0-9._-]{3,64}")
NAME_RULE = N_("Use 3-64 characters: letters a-z, digits, dot, dash or underscore.")
# token_urlsafe(32) gives exactly 43 characters of the URL-safe base64 alphabet.
_TOKEN_SHAPE = re.compile(r"csr_[A-Za-z0-9_-]{43}")

NO_CREDENTIALS_DETAIL = N_(
    "This API needs an integration token: send 'Authorization: Bearer <token>'."
)
BAD_CREDENTIALS_DETAIL = N_("The integration token is not valid (unknown, revoked or malformed).")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def normalise_token_name(raw: str) -> str:
    name = (raw or "").strip().lower()
    if not _NAME.fullmatch(name):
        raise ValidationFailed({"name": NAME_RULE})
    return name


def create_token(
    ctx: Context, *, name: str, scope: TokenScope | str = TokenScope.TELEPHONY
) -> tuple[IntegrationToken, str]:
    """Create a named token for one scope. Returns the row and the token, which is not
    retrievable later."""
    credentials.require_manager(ctx)
    clean_name = normalise_token_name(name)
    try:
        token_scope = TokenScope(scope)
    except ValueError:
        # Marked outside the call: the extractor does not look inside it.
        unknown = N_("Choose what the token is for.")
        raise ValidationFailed({"scope": [unknown]}) from None
    TOKENS.refuse_taken_name(ctx.session, clean_name)
    raw = TOKEN_SCHEME_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    token = IntegrationToken(
        name=clean_name,
        token_hash=hash_token(raw),
        token_prefix=raw[len(TOKEN_SCHEME_PREFIX) :][:PREFIX_LENGTH],
        created_at=ctx.now,
        created_by_id=ctx.actor.staff_id,
        scope=token_scope,
    )
    TOKENS.add(ctx, token, {"prefix": token.token_prefix, "scope": token_scope.value})
    return token, raw


TOKENS = credentials.Kind(
    IntegrationToken,
    "an integration token",
    ended_column="revoked",
    not_found=N_("No such integration token."),
    name_taken=N_("An integration token with that name already exists."),
    already_ended=N_("This integration token has already been revoked."),
)
find_token_by_name = TOKENS.find_by_name
get_token = TOKENS.get
get_token_by_name = TOKENS.get_by_name


def revoke_token(ctx: Context, *, public_id: str) -> IntegrationToken:
    """Revoke a token; the very next request presenting it is refused."""
    return TOKENS.end(ctx, public_id, lambda token: {"prefix": token.token_prefix})


@dataclass(frozen=True)
class TokenOverview:
    token: IntegrationToken
    created_by: str  # a username, or "cli"
    revoked_by: str | None

    @property
    def state(self) -> str:
        return "active" if self.token.is_active else "revoked"


def list_tokens(ctx: Context) -> Sequence[TokenOverview]:
    """Every token, active ones first, each with who created (and revoked) it."""
    credentials.require_manager(ctx)
    rows = credentials.with_people(
        ctx.session,
        TOKENS,
        order_by=(IntegrationToken.revoked_at.is_not(None), IntegrationToken.name),
    )
    return [
        TokenOverview(token=token, created_by=created_by, revoked_by=revoked_by)
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
