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
from cs_register.personal_data import DataSubject, Finding, SourceDescription, TableClaim

SOURCE = "intake"


@dataclass(frozen=True)
class IntakeRecords:
    def describe(self) -> SourceDescription:
        return SourceDescription(
            name=SOURCE,
            title="Emails and chatbot conversations",
            tables=(
                TableClaim(
                    table="email_messages",
                    columns=(
                        "contact_id",
                        "parent_contact_id",
                        "thread_root_contact_id",
                        "sender_name",
                        "sender_address",
                        "message_id",
                        "in_reply_to",
                        "attachments",
                    ),
                    purpose="The email a contact came as: sender, thread, attachment names.",
                ),
                TableClaim(
                    table="chatbot_conversations",
                    columns=("contact_id", "conversation_id", "language"),
                    purpose="The chatbot conversation a contact came as, and its handover.",
                ),
                TableClaim(
                    table="webhook_deliveries",
                    columns=("contact_id", "response"),
                    purpose="Chatbot deliveries already answered, so retries are not stored twice.",
                ),
            ),
        )

    def find(
        self, ctx: Context, subject: DataSubject, earlier: Sequence[Finding]
    ) -> Sequence[Finding]:
        contact_ids = sa.select(Contact.id).where(Contact.customer_id == subject.customer_id)
        findings: list[Finding] = [
            Finding(
                source=SOURCE,
                category="Email",
                table="email_messages",
                reference=message.public_id,
                occurred_at=message.received_at,
                fields=(
                    ("Sender", f"{message.sender_name} <{message.sender_address}>".strip()),
                    ("Attachments", str(len(message.attachments))),
                ),
            )
            for message in ctx.session.scalars(
                sa.select(EmailMessage)
                .where(EmailMessage.contact_id.in_(contact_ids))
                .order_by(EmailMessage.received_at, EmailMessage.id)
            )
        ]
        findings.extend(
            Finding(
                source=SOURCE,
                category="Chatbot conversation",
                table="chatbot_conversations",
                reference=f"chatbot_conversations:{conversation.id}",
                occurred_at=conversation.started_at,
                fields=(
                    ("Language", conversation.language or ""),
                    ("Handed over", "yes" if conversation.needs_handover else "no"),
                ),
            )
            for conversation in ctx.session.scalars(
                sa.select(ChatbotConversation)
                .where(ChatbotConversation.contact_id.in_(contact_ids))
                .order_by(ChatbotConversation.started_at, ChatbotConversation.id)
            )
        )
        findings.extend(
            Finding(
                source=SOURCE,
                category="Chatbot delivery",
                table="webhook_deliveries",
                reference=f"webhook_deliveries:{delivery.id}",
                occurred_at=delivery.received_at,
                fields=(("Answer", str(delivery.status_code)),),
            )
            for delivery in ctx.session.scalars(
                sa.select(WebhookDelivery)
                .where(WebhookDelivery.contact_id.in_(contact_ids))
                .order_by(WebhookDelivery.received_at, WebhookDelivery.id)
            )
        )
        return findings
