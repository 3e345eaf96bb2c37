"""Webhook deliveries (for replay protection) and chatbot conversations with their handovers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.db import Base, str_enum
from cs_register.languages import N_


class WebhookDelivery(Base):
    """One accepted signed webhook and the exact response it got.

    A sender retries when it missed our answer; a retry (same `webhook_id`) gets the stored
    status and body back and creates nothing. Only successful deliveries are stored: a refused
    one stores nothing, and its retry is simply checked again. Rows are kept for
    `intake.chatbot.DELIVERY_RETENTION` and then purged.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[str] = mapped_column(sa.String(256), unique=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id"), index=True)
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class HandoverOutcome(enum.Enum):
    """How a handover ended, as the agent who closed it tells it."""

    RESOLVED = "resolved"
    FORWARDED = "forwarded"
    NO_ANSWER_NEEDED = "no_answer_needed"

    @property
    def label(self) -> str:
        return {
            "resolved": N_("Resolved"),
            "forwarded": N_("Forwarded"),
            "no_answer_needed": N_("No answer needed"),
        }[self.value]


class ChatbotConversation(Base):
    """The chatbot's side of a contact: its conversation id, and the handover to a human.

    `conversation_id` is unique, so a conversation delivered twice (under different webhook
    ids) is still one contact. A handover is open while `handover_closed_at` is empty; while
    open, one agent may hold it (`handover_claimed_by_id`). Closing records an outcome and a
    note the agent typed (free text about the customer: claimed by `intake.personal_data`,
    deleted with the contact).
    """

    __tablename__ = "chatbot_conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"), unique=True)
    language: Mapped[str | None] = mapped_column(sa.String(8))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    needs_handover: Mapped[bool] = mapped_column(default=False, index=True)
    handover_closed_at: Mapped[datetime | None]
    handover_closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    handover_claimed_at: Mapped[datetime | None]
    handover_claimed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    handover_outcome: Mapped[HandoverOutcome | None] = mapped_column(
        str_enum(HandoverOutcome, "handover_outcome")
    )
    handover_outcome_note: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def handover_open(self) -> bool:
        return self.needs_handover and self.handover_closed_at is None
