"""What the intake holds about a person (the emails and chats behind contacts), for the
personal-data registry."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register import personal_data as registry
from cs_register.contacts.models import Contact
from cs_register.contacts.services import unlinked_contacts
from cs_register.context import Context
from cs_register.db import affected_rows
from cs_register.intake.email_models import EmailMessage
from cs_register.intake.models import ChatbotConversation, WebhookDelivery
from cs_register.languages import N_

_EMAIL_COLUMNS = ("sender_name", "sender_address", "message_id", "in_reply_to", "attachments")
DESCRIPTION = registry.SourceDescription(
    name="intake",
    title=N_("Emails and chatbot conversations"),
    retention=N_("With their contact (contacts.retention); chatbot deliveries 7 days."),
    tables=(
        registry.claim(
            "email_messages", N_("The email a contact came as."), "contact_id", *_EMAIL_COLUMNS
        ),
        registry.claim(
            "chatbot_conversations",
            N_("The chat a contact came as, and the note its handover was closed with."),
            "contact_id",
            "language",
            "handover_outcome_note",
        ),
        registry.claim(
            "webhook_deliveries", N_("Answered chatbot deliveries."), "contact_id", "response"
        ),
    ),
)
EMAIL = DESCRIPTION.finding_kind("email_messages", N_("Email"))
CONVERSATION = DESCRIPTION.finding_kind("chatbot_conversations", N_("Chatbot conversation"))
DELIVERY = DESCRIPTION.finding_kind("webhook_deliveries", N_("Chatbot delivery"))
UNLINKED_EMAIL = EMAIL.unlinked(N_("Unlinked email from their address"))


class IntakeRecords(registry.DescribedSource, description=DESCRIPTION):
    def contacts_about(self, session: Session, subject: registry.DataSubject) -> set[int]:
        """Unlinked emails sent from their address are about them too."""
        if subject.email is None:
            return set()
        found = sa.select(EmailMessage.contact_id).where(_from_their_address(subject.email))
        return {contact_id for contact_id in session.scalars(found) if contact_id is not None}

    def erase(
        self, ctx: Context, scope: registry.ErasureScope, tally: registry.ErasureTally
    ) -> None:
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
            tuple[registry.FindingKind, type[EmailMessage | ChatbotConversation | WebhookDelivery]],
            ...,
        ] = (
            (EMAIL, EmailMessage),
            (CONVERSATION, ChatbotConversation),
            (DELIVERY, WebhookDelivery),
        )
        for kind, model in kinds:
            deleted = affected_rows(session, sa.delete(model).where(model.contact_id.in_(in_scope)))
            tally.count(kind.category, deleted)

    def find(
        self, ctx: Context, subject: registry.DataSubject, earlier: Sequence[registry.Finding]
    ) -> Sequence[registry.Finding]:
        theirs = sa.select(Contact.id).where(Contact.customer_id == subject.customer_id)
        session = ctx.session
        findings: list[registry.Finding] = []
        for email in session.scalars(
            sa.select(EmailMessage).where(EmailMessage.contact_id.in_(theirs))
        ):
            sender = (N_("Sender"), f"{email.sender_name} <{email.sender_address}>".strip())
            attached = (N_("Attachments"), str(len(email.attachments)))
            findings.append(EMAIL.of(email.public_id, email.received_at, sender, attached))
        if subject.email is not None:
            # Not linked to them (yet), but sent from their address: held about them too.
            unlinked = sa.select(EmailMessage).where(_from_their_address(subject.email))
            for email in session.scalars(unlinked):
                sender = (N_("Sender"), f"{email.sender_name} <{email.sender_address}>".strip())
                findings.append(UNLINKED_EMAIL.of(email.public_id, email.received_at, sender))
        for chat in session.scalars(
            sa.select(ChatbotConversation).where(ChatbotConversation.contact_id.in_(theirs))
        ):
            row = f"chatbot_conversations:{chat.id}"
            handed = (N_("Handed over"), "yes" if chat.needs_handover else "no")
            facts = [(N_("Language"), chat.language or ""), handed]
            if chat.handover_outcome is not None:
                facts.append((N_("Outcome"), chat.handover_outcome.label))
                facts.append((N_("Outcome note"), chat.handover_outcome_note or ""))
            findings.append(CONVERSATION.of(row, chat.started_at, *facts))
        for delivery in session.scalars(
            sa.select(WebhookDelivery).where(WebhookDelivery.contact_id.in_(theirs))
        ):
            row = f"webhook_deliveries:{delivery.id}"
            answer = (N_("Answer"), str(delivery.status_code))
            findings.append(DELIVERY.of(row, delivery.received_at, answer))
        return findings


def _from_their_address(address: str) -> sa.ColumnElement[bool]:
    """An email still unlinked, sent from `address` (as mail compares it, case-insensitively):
    the erasure reaches and the access answer shows the same emails."""
    return sa.and_(
        sa.func.lower(EmailMessage.sender_address) == address.lower(),
        EmailMessage.contact_id.in_(unlinked_contacts()),
    )
