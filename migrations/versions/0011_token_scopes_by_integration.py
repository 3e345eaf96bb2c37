"""Integration token scopes by integration: the one `intake` scope splits into `telephony`
(calls and recordings) and `email` (the mail gateway), so the mail relay's token cannot read
calls and the PBX's token cannot post emails.

Each existing `intake` token becomes `email` if it has delivered emails and never a call or
recording, and `telephony` otherwise. A token that delivered both becomes `telephony`: its
mail gateway then gets 403 until an admin gives it a token of its own (the token page shows
each token's scope).

Written by hand (a data migration and a changed check constraint).

Revision ID: 0011_token_scopes_by_integration
Revises: 0010_passkeys
Created: 2026-12-04 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_token_scopes_by_integration"
down_revision: str | Sequence[str] | None = "0010_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONSTRAINT = "ck_integration_tokens_token_scope"


def _scope_column(*values: str, default: str) -> sa.Enum:
    return sa.Enum(
        *values, name="token_scope", native_enum=False, create_constraint=True, length=16
    )


def upgrade() -> None:
    with op.batch_alter_table("integration_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(_CONSTRAINT), type_="check")
    op.execute(
        "UPDATE integration_tokens SET scope = 'email' WHERE scope = 'intake'"
        " AND EXISTS (SELECT 1 FROM email_messages"
        " WHERE email_messages.integration_token_id = integration_tokens.id)"
        " AND NOT EXISTS (SELECT 1 FROM calls WHERE calls.integration_token_id = integration_tokens.id)"
        " AND NOT EXISTS (SELECT 1 FROM recordings"
        " WHERE recordings.integration_token_id = integration_tokens.id)"
    )
    op.execute("UPDATE integration_tokens SET scope = 'telephony' WHERE scope = 'intake'")
    with op.batch_alter_table("integration_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "scope",
            existing_type=sa.String(16),
            type_=_scope_column("telephony", "email", "marketing", default="telephony"),
            server_default="telephony",
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("integration_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(_CONSTRAINT), type_="check")
    op.execute("UPDATE integration_tokens SET scope = 'intake' WHERE scope IN ('telephony', 'email')")
    with op.batch_alter_table("integration_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "scope",
            existing_type=sa.String(16),
            type_=_scope_column("intake", "marketing", default="intake"),
            server_default="intake",
            existing_nullable=False,
        )
