"""API tokens for integrations. Only a SHA-256 of each token is stored."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.db import Base, PublicIdentified, str_enum
from cs_register.languages import N_


class TokenScope(enum.Enum):
    """What a token may reach: each integration only its own endpoints."""

    # The telephony system (PBX) reports calls and uploads recordings: /api/v1/calls.
    TELEPHONY = "telephony"
    # The mail gateway delivers emails: /api/v1/intake/email.
    EMAIL = "email"
    # The marketing system reads prohibition and consent changes: /api/v1/marketing.
    MARKETING = "marketing"

    @property
    def label(self) -> str:
        return _SCOPE_LABELS[self]


_SCOPE_LABELS = {
    TokenScope.TELEPHONY: N_("Telephony: calls and recordings in"),
    TokenScope.EMAIL: N_("Email: messages to customer service in"),
    TokenScope.MARKETING: N_("Marketing: reads prohibition and consent changes"),
}


class IntegrationToken(PublicIdentified, Base):
    """A named bearer token for one integration (e.g. "pbx-primary").

    The token itself is shown once when created. `token_prefix` (its first characters, which
    carry no secret on their own) lets an admin match a configured token to its row.
    """

    __tablename__ = "integration_tokens"

    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(sa.String(12))
    scope: Mapped[TokenScope] = mapped_column(
        str_enum(TokenScope, "token_scope", length=16),
        default=TokenScope.TELEPHONY,
        server_default=TokenScope.TELEPHONY.value,
    )
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class WebhookSecret(PublicIdentified, Base):
    """A shared secret that signs incoming webhooks (Standard Webhooks, e.g. the chatbot).

    Unlike a bearer token the server must recompute signatures with the secret itself, so it
    is stored AES-GCM encrypted (bound to `public_id`), never hashed. Several may be active at
    once: that is how a rotation works without dropping deliveries.
    """

    __tablename__ = "webhook_secrets"

    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    secret_ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    retired_at: Mapped[datetime | None] = mapped_column(index=True)
    retired_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    @property
    def is_active(self) -> bool:
        return self.retired_at is None
