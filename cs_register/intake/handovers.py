"""The handover queue: chatbot conversations the bot passed to a human, until an agent closes
them, and what the contact page shows about a conversation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import audit
from cs_register.audit.models import AuditAction
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.errors import Conflict, NotFound
from cs_register.intake.models import ChatbotConversation
from cs_register.permissions import Permission, require
from cs_register.staff.models import StaffUser


@dataclass(frozen=True)
class OpenHandover:
    contact: Contact
    conversation: ChatbotConversation
    age: timedelta

    @property
    def age_text(self) -> str:
        minutes = int(self.age.total_seconds() // 60)
        if minutes < 60:
            return f"{max(minutes, 0)} min"
        hours, minutes = divmod(minutes, 60)
        if hours < 48:
            return f"{hours} h {minutes} min"
        return f"{hours // 24} days"


def open_handovers(ctx: Context, *, limit: int = 200) -> Sequence[OpenHandover]:
    """Conversations the bot handed over and no agent has closed yet, oldest first."""
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.LOG_CONTACTS)
    rows = session.execute(
        sa.select(Contact, ChatbotConversation)
        .join(ChatbotConversation, ChatbotConversation.contact_id == Contact.id)
        .where(
            ChatbotConversation.needs_handover.is_(True),
            ChatbotConversation.handover_closed_at.is_(None),
        )
        .order_by(ChatbotConversation.received_at, ChatbotConversation.id)
        .limit(limit)
    ).all()
    return [
        OpenHandover(contact=contact, conversation=conversation, age=now - conversation.received_at)
        for contact, conversation in rows
    ]


def count_open_handovers(session: Session) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(ChatbotConversation)
            .where(
                ChatbotConversation.needs_handover.is_(True),
                ChatbotConversation.handover_closed_at.is_(None),
            )
        )
        or 0
    )


def close_handover(
    ctx: Context,
    *,
    contact_public_id: str,
) -> ChatbotConversation:
    """Mark a handover as taken care of by `actor`; it leaves the queue.

    Closing an already closed handover is a 409 (someone else got there first).
    """
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.LOG_CONTACTS)
    row = session.execute(
        sa.select(Contact, ChatbotConversation)
        .join(ChatbotConversation, ChatbotConversation.contact_id == Contact.id)
        .where(Contact.public_id == contact_public_id)
    ).first()
    if row is None or not row[1].needs_handover:
        raise NotFound("No chatbot handover for this contact.")
    contact, conversation = row
    # A conditional UPDATE, so two agents closing at once cannot both succeed.
    closed = session.execute(
        sa.update(ChatbotConversation)
        .where(
            ChatbotConversation.id == conversation.id,
            ChatbotConversation.handover_closed_at.is_(None),
        )
        .values(handover_closed_at=now, handover_closed_by_id=ctx.actor.staff_id)
        .execution_options(synchronize_session=False)
    )
    if not closed.rowcount:  # type: ignore[attr-defined]
        raise Conflict("This handover has already been closed.")
    session.refresh(conversation)
    audit.record(
        ctx,
        AuditAction.HANDOVER_CLOSED,
        contact,
        details={"waited_seconds": int((now - conversation.received_at).total_seconds())},
    )
    return conversation


@dataclass(frozen=True)
class ConversationDetails:
    """What the contact page shows about the conversation behind a chatbot contact."""

    conversation: ChatbotConversation
    handover_closed_by: str | None  # a username


def conversation_details(session: Session, contact_id: int) -> ConversationDetails | None:
    """The chatbot conversation behind contact `contact_id`, or None for other contacts."""
    row = session.execute(
        sa.select(ChatbotConversation, StaffUser.username)
        .outerjoin(StaffUser, StaffUser.id == ChatbotConversation.handover_closed_by_id)
        .where(ChatbotConversation.contact_id == contact_id)
    ).first()
    if row is None:
        return None
    return ConversationDetails(conversation=row[0], handover_closed_by=row[1])
