"""Unidentified contacts as each channel stores them (a call with the caller's number, an
email with its sender, a chatbot conversation with what the customer gave), for the queue,
link-form and offer tests."""

from __future__ import annotations

import itertools
from datetime import datetime

from cs_register.contacts.incoming import record_incoming_contact
from cs_register.contacts.models import Channel, Direction
from cs_register.db import Database
from cs_register.intake.chatbot_payload import ChatbotPayload, render_notes
from cs_register.intake.email_models import EmailMessage
from cs_register.permissions import Actor
from recordings.models import Call
from tests.support.context import make_context

_ids = itertools.count(1)
PBX = Actor.for_integration("pbx")


def add_call(
    database: Database,
    *,
    number: str | None,
    at: datetime,
    subject: str = "Call",
    held_for: int | None = None,
) -> str:
    """An unlinked inbound call from `number` (E.164, None withheld); its contact's public id."""
    with database.unit_of_work() as session:
        incoming = record_incoming_contact(
            make_context(session, PBX, at),
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=at,
            subject=subject,
            notes="",
            customer_id=None,
            held_for_customer_id=held_for,
        )
        session.add(
            Call(
                external_call_id=f"test-call-{next(_ids)}",
                direction=Direction.INBOUND,
                customer_number=number,
                started_at=at,
                contact_id=incoming.id,
                created_at=at,
            )
        )
    return incoming.public_id


def add_email(database: Database, *, sender: str, at: datetime, subject: str = "Email") -> str:
    """An unlinked email from `sender` (normalised); its contact's public id."""
    with database.unit_of_work() as session:
        incoming = record_incoming_contact(
            make_context(session, PBX, at),
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            occurred_at=at,
            subject=subject,
            notes="Hei",
            customer_id=None,
        )
        number = next(_ids)
        session.add(
            EmailMessage(
                message_id=f"<m{number}@example.fi>",
                message_id_sha256=f"{number:064x}",
                contact_id=incoming.id,
                sender_name="",
                sender_address=sender,
                received_at=at,
                attachments=[],
            )
        )
    return incoming.public_id


def add_chat(
    database: Database, *, email: str | None, phone: str | None, at: datetime, subject: str = "Chat"
) -> str:
    """An unlinked chatbot contact whose customer gave `email` and `phone` (normalised)."""
    payload = ChatbotPayload(
        conversation_id=f"conv-{next(_ids)}",
        started_at=at,
        ended_at=None,
        customer_name="Chat Customer",
        customer_email=email,
        customer_phone=phone,
        language="fi",
        summary="Wants help.",
        transcript=(),
        handover=False,
    )
    with database.unit_of_work() as session:
        incoming = record_incoming_contact(
            make_context(session, PBX, at),
            channel=Channel.CHATBOT,
            direction=Direction.INBOUND,
            occurred_at=at,
            subject=subject,
            notes=render_notes(payload),
            customer_id=None,
        )
    return incoming.public_id
