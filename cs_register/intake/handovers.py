"""The handover queue: chatbot conversations the bot passed to a human, as the console reads
them (filtered lists, the agents one can be given to), and what the contact page shows about a
conversation. The steps that change a handover are in `intake.handover_steps`."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext, ngettext
from sqlalchemy.orm import Session, aliased

from cs_register.clock import local_day_start, local_today
from cs_register.contacts import services as contact_services
from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.intake.models import ChatbotConversation
from cs_register.languages import N_
from cs_register.permissions import ROLE_PERMISSIONS, Permission, require
from cs_register.staff.models import StaffUser

# The queue's first line of a conversation is a hint, not the conversation: the contact page
# has the rest.
FIRST_LINE_LENGTH = 120


class QueueFilter(enum.Enum):
    """What the queue lists (`?show=`)."""

    WAITING = "waiting"  # open and nobody has it
    MINE = "mine"  # open and claimed by (or assigned to) the one looking
    OPEN = "open"  # every open handover
    CLOSED_TODAY = "closed_today"  # closed since midnight, Helsinki time

    @property
    def label(self) -> str:
        return {
            "waiting": N_("Waiting"),
            "mine": N_("Mine"),
            "open": N_("All open"),
            "closed_today": N_("Closed today"),
        }[self.value]

    @classmethod
    def parse(cls, raw: str | None) -> QueueFilter:
        """The filter a link asked for; anything unknown shows every open handover."""
        try:
            return cls(raw or cls.OPEN.value)
        except ValueError:
            return cls.OPEN


@dataclass(frozen=True)
class HandoverRow:
    contact: Contact
    conversation: ChatbotConversation
    # Open: how long it has waited so far; closed: how long it waited until it was closed.
    age: timedelta
    first_line: str
    claimed_by: str | None  # a display name
    closed_by: str | None

    @property
    def age_text(self) -> str:
        return duration_text(self.age)


def duration_text(age: timedelta) -> str:
    """How long, in the reader's language (shown in the queue and on the contact page)."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return gettext("%(minutes)s min", minutes=max(minutes, 0))
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)
    return ngettext("%(num)d day", "%(num)d days", hours // 24)


def first_line(notes: str | None) -> str:
    """The summary's first line, or else the customer's first words to the bot.

    The notes begin with what the customer said about themselves (name, email, phone); the
    queue skips that section, so a list on a shared screen shows what the matter is rather
    than who. The notes were redacted of identity codes when they arrived.
    """
    sections = (notes or "").split("\n\n")
    for heading, prefix in (("Summary:", ""), ("Transcript:", "customer: ")):
        for section in sections:
            lines = section.split("\n")
            if lines[0] != heading:
                continue
            for line in lines[1:]:
                if line.strip() and line.startswith(prefix):
                    text = line[len(prefix) :].strip()
                    if len(text) > FIRST_LINE_LENGTH:
                        return text[: FIRST_LINE_LENGTH - 1].rstrip() + "…"
                    return text
    return ""


def _is_open() -> sa.ColumnElement[bool]:
    return sa.and_(
        ChatbotConversation.needs_handover.is_(True),
        ChatbotConversation.handover_closed_at.is_(None),
    )


def list_handovers(
    ctx: Context, *, show: QueueFilter = QueueFilter.OPEN, limit: int = 200
) -> Sequence[HandoverRow]:
    """The queue as `show` asks: open ones oldest first, closed ones latest closed first."""
    session, now = ctx.session, ctx.now
    require(ctx.actor, Permission.LOG_CONTACTS)
    claimer, closer = aliased(StaffUser), aliased(StaffUser)
    query = (
        sa.select(Contact, ChatbotConversation, claimer.display_name, closer.display_name)
        .join(ChatbotConversation, ChatbotConversation.contact_id == Contact.id)
        .outerjoin(claimer, claimer.id == ChatbotConversation.handover_claimed_by_id)
        .outerjoin(closer, closer.id == ChatbotConversation.handover_closed_by_id)
        .where(contact_services.listed_for(ctx.actor))
    )
    if show is QueueFilter.CLOSED_TODAY:
        since = local_day_start(local_today(now))
        query = query.where(
            ChatbotConversation.needs_handover.is_(True),
            ChatbotConversation.handover_closed_at >= since,
        ).order_by(ChatbotConversation.handover_closed_at.desc(), ChatbotConversation.id.desc())
    else:
        query = query.where(_is_open()).order_by(
            ChatbotConversation.received_at, ChatbotConversation.id
        )
        if show is QueueFilter.WAITING:
            query = query.where(ChatbotConversation.handover_claimed_by_id.is_(None))
        elif show is QueueFilter.MINE:
            query = query.where(ChatbotConversation.handover_claimed_by_id == ctx.actor.staff_id)
    rows = session.execute(query.limit(limit)).all()
    return [
        HandoverRow(
            contact=contact,
            conversation=conversation,
            age=(conversation.handover_closed_at or now) - conversation.received_at,
            first_line=first_line(contact.notes),
            claimed_by=claimed_by,
            closed_by=closed_by,
        )
        for contact, conversation, claimed_by, closed_by in rows
    ]


def queue_state(rows: Sequence[HandoverRow], assignees: Sequence[StaffUser]) -> str:
    """A digest of what the queue's table shows, so the page's script redraws it only when
    something changed (the rendered HTML differs on every request: fresh CSRF tokens)."""
    digest = hashlib.sha256()
    for row in rows:
        conversation = row.conversation
        digest.update(
            f"{row.contact.public_id}|{row.age_text}|{conversation.handover_claimed_by_id}|"
            f"{conversation.handover_closed_at}|{row.contact.customer_id is not None}\n".encode()
        )
    for staff in assignees:
        digest.update(f"staff:{staff.id}\n".encode())
    return digest.hexdigest()[:16]


def assignable_staff(session: Session) -> Sequence[StaffUser]:
    """Active staff whose role serves customers: whom a supervisor can give a handover to."""
    roles = [
        role for role, granted in ROLE_PERMISSIONS.items() if Permission.LOG_CONTACTS in granted
    ]
    return list(
        session.scalars(
            sa.select(StaffUser)
            .where(StaffUser.is_active.is_(True), StaffUser.role.in_(roles))
            .order_by(StaffUser.display_name, StaffUser.id)
        )
    )


def count_open_handovers(session: Session) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count()).select_from(ChatbotConversation).where(_is_open())
        )
        or 0
    )


@dataclass(frozen=True)
class ConversationDetails:
    """What the contact page shows about the conversation behind a chatbot contact."""

    conversation: ChatbotConversation
    handover_closed_by: str | None  # a username
    handover_claimed_by: str | None

    @property
    def waited_text(self) -> str | None:
        closed_at: datetime | None = self.conversation.handover_closed_at
        if closed_at is None:
            return None
        return duration_text(closed_at - self.conversation.received_at)


def conversation_details(session: Session, contact_id: int) -> ConversationDetails | None:
    """The chatbot conversation behind contact `contact_id`, or None for other contacts."""
    claimer, closer = aliased(StaffUser), aliased(StaffUser)
    row = session.execute(
        sa.select(ChatbotConversation, closer.username, claimer.username)
        .outerjoin(closer, closer.id == ChatbotConversation.handover_closed_by_id)
        .outerjoin(claimer, claimer.id == ChatbotConversation.handover_claimed_by_id)
        .where(ChatbotConversation.contact_id == contact_id)
    ).first()
    if row is None:
        return None
    return ConversationDetails(
        conversation=row[0], handover_closed_by=row[1], handover_claimed_by=row[2]
    )
