"""What the intake holds about a person (the emails and chats behind contacts), for the
personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.db import affected_rows
from cs_register.intake.email_models import EmailMessage
from cs_register.intake.models import ChatbotConversation, WebhookDelivery
from cs_register.personal_data import (
    DataSubject,
    ErasureScope,
    ErasureTally,
    Finding,
    FindingKind,
    SourceDescription,
    claim,
)

SOURCE = "intake"
EMAIL = FindingKind(SOURCE, "Email", "email_messages")
UNLINKED_EMAIL = FindingKind(
    SOURCE, "Unlinked email from their address", "email_messages", needs_confirmation=True
)
CONVERSATION = FindingKind(SOURCE, "Chatbot conversation", "chatbot_conversations")
DELIVERY = FindingKind(SOURCE, "Chatbot delivery", "webhook_deliveries")
_EMAIL_COLUMNS = ("sender_name", "sender_address", "message_id", "in_reply_to", "attachments")
DESCRIPTION = SourceDescription(
    name=SOURCE,
    title="Emails and chatbot conversations",
    retention="With their contact (contacts.retention); chatbot deliveries 7 days.",
    tables=(
        claim("email_messages", "The email a contact came as.", "contact_id", *_EMAIL_COLUMNS),
        claim("chatbot_conversations", "The chat a contact came as.", "contact_id", "language"),
        claim("webhook_deliveries", "Answered chatbot deliveries.", "contact_id", "response"),
    ),
)


@dataclass(frozen=True)
class IntakeRecords:
    def describe(self) -> SourceDescription:
        return DESCRIPTION

    def contacts_about(self, session: Session, subject: DataSubject) -> set[int]:
        """Unlinked emails sent from their address are about them too."""
        if subject.email is None:
            return set()
        unlinked = sa.select(Contact.id).where(Contact.customer_id.is_(None))
        return set(
            session.scalars(
                sa.select(EmailMessage.contact_id).where(
                    sa.func.lower(EmailMessage.sender_address) == subject.email.lower(),
                    EmailMessage.contact_id.in_(unlinked),
                )
            )
        )

    def erase(self, ctx: Context, scope: ErasureScope, tally: ErasureTally) -> None:
        session, in_scope = ctx.session, scope.contact_ids
        # Someone else's email in the same thread keeps its own row, no longer threaded to
        # an erased one.
        for pointer in (EmailMessage.thread_root_contact_id, EmailMessage.parent_contact_id):
            session.execute(
                sa.update(EmailMessage)
                .where(pointer.in_(in_scope), EmailMessage.contact_id.not_in(in_scope))
                .values({pointer.key: None})
            )
        kinds: tuple[
            tuple[FindingKind, type[EmailMessage | ChatbotConversation | WebhookDelivery]], ...
        ] = (
            (EMAIL, EmailMessage),
            (CONVERSATION, ChatbotConversation),
            (DELIVERY, WebhookDelivery),
        )
        for kind, model in kinds:
            deleted = affected_rows(session, sa.delete(model).where(model.contact_id.in_(in_scope)))
            tally.count(kind.category, deleted)

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        theirs = sa.select(Contact.id).where(Contact.customer_id == subject.customer_id)
        session = ctx.session
        findings: list[Finding] = []
        for email in session.scalars(
            sa.select(EmailMessage).where(EmailMessage.contact_id.in_(theirs))
        ):
            sender = ("Sender", f"{email.sender_name} <{email.sender_address}>".strip())
            attached = ("Attachments", str(len(email.attachments)))
            findings.append(EMAIL.of(email.public_id, email.received_at, sender, attached))
        if subject.email is not None:
            # Not linked to them (yet), but sent from their address: held about them too.
            unlinked = sa.select(Contact.id).where(Contact.customer_id.is_(None))
            for email in session.scalars(
                sa.select(EmailMessage).where(
                    EmailMessage.sender_address == subject.email,
                    EmailMessage.contact_id.in_(unlinked),
                )
            ):
                sender = ("Sender", f"{email.sender_name} <{email.sender_address}>".strip())
                findings.append(UNLINKED_EMAIL.of(email.public_id, email.received_at, sender))
        for chat in session.scalars(
            sa.select(ChatbotConversation).where(ChatbotConversation.contact_id.in_(theirs))
        ):
            row = f"chatbot_conversations:{chat.id}"
            handed = ("Handed over", "yes" if chat.needs_handover else "no")
            findings.append(
                CONVERSATION.of(row, chat.started_at, ("Language", chat.language or ""), handed)
            )
        for delivery in session.scalars(
            sa.select(WebhookDelivery).where(WebhookDelivery.contact_id.in_(theirs))
        ):
            row = f"webhook_deliveries:{delivery.id}"
            answer = ("Answer", str(delivery.status_code))
            findings.append(DELIVERY.of(row, delivery.received_at, answer))
        return findings
