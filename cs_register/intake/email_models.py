"""Raw emails received by the intake: one row per message, each with its own contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.db import Base, PublicIdentified


class EmailMessage(PublicIdentified, Base):
    """An inbound email and the contact it became.

    The Message-ID is the idempotency key. It may be up to 998 characters long, so uniqueness
    is enforced on its SHA-256 (a short, fixed-size index on every database). Attachments are
    never stored; only their names, types and sizes are kept, for the agent's information.
    """

    audit_subject_type: ClassVar[str] = "email"
    __tablename__ = "email_messages"

    message_id: Mapped[str] = mapped_column(sa.String(998))
    message_id_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # True when the message had no Message-ID and one was derived from the raw bytes.
    message_id_generated: Mapped[bool] = mapped_column(default=False)
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(998))
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"), unique=True)
    # The contact this message replies to, and the first contact of the whole thread.
    parent_contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id"))
    thread_root_contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id"), index=True
    )
    sender_name: Mapped[str] = mapped_column(sa.String(200), default="")
    sender_address: Mapped[str] = mapped_column(sa.String(254), index=True)
    sent_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    integration_token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("integration_tokens.id"))

    def __repr__(self) -> str:
        # No sender or subject: reprs end up in logs.
        return f"<EmailMessage {self.id}>"
