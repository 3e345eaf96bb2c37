"""What the intake holds about a person (the emails and chats behind contacts), for the
personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from cs_register.contacts.models import Contact
from cs_register.context import Context
from cs_register.intake.email_models import EmailMessage
from cs_register.intake.models import ChatbotConversation, WebhookDelivery
from cs_register.personal_data import DataSubject, Finding, FindingKind, SourceDescription, claim

SOURCE = "intake"
EMAIL = FindingKind(SOURCE, "Email", "email_messages")
UNLINKED_EMAIL = FindingKind(SOURCE, "Unlinked email from their address", "email_messages")
CONVERSATION = FindingKind(SOURCE, "Chatbot conversation", "chatbot_conversations")
DELIVERY = FindingKind(SOURCE, "Chatbot delivery", "webhook_deliveries")
_EMAIL_COLUMNS = ("sender_name", "sender_address", "message_id", "in_reply_to", "attachments")
DESCRIPTION = SourceDescription(
    name=SOURCE,
    title="Emails and chatbot conversations",
    retention="With their contact; chatbot deliveries 7 days.",
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
