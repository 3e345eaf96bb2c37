"""Who an email or chatbot contact came from: the sender's address on its email row, the
email and phone the customer gave the chatbot (`pages.CONTACT_ORIGINS`, `pages.CONTACTS_FROM`,
wired in `create_app`). The contacts package cannot read these rows itself: intake sits
above it."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.contacts.models import Channel, Contact
from cs_register.identifiers import format_phone_local
from cs_register.intake.chatbot_payload import GIVEN_HEADING, GIVEN_LABELS, given_identifiers
from cs_register.intake.email_models import EmailMessage
from cs_register.pages import ContactOrigin


def contact_origins(session: Session, contact_ids: Sequence[int]) -> dict[int, list[ContactOrigin]]:
    """Senders of the emails and identifiers given to the chatbot among `contact_ids`, in two
    queries whatever their number."""
    if not contact_ids:
        return {}
    origins: dict[int, list[ContactOrigin]] = {}
    for contact_id, address in session.execute(
        sa.select(EmailMessage.contact_id, EmailMessage.sender_address).where(
            EmailMessage.contact_id.in_(contact_ids)
        )
    ):
        origins[contact_id] = [ContactOrigin(kind="email", display=address, value=address)]
    for contact_id, notes in session.execute(
        sa.select(Contact.id, Contact.notes).where(
            Contact.id.in_(contact_ids), Contact.channel == Channel.CHATBOT
        )
    ):
        given = given_identifiers(notes)
        found = [
            ContactOrigin(kind="email", display=given["email"], value=given["email"])
            if kind == "email"
            else ContactOrigin(
                kind="phone", display=format_phone_local(given[kind]), value=given[kind]
            )
            for kind in ("email", "phone")
            if kind in given
        ]
        if found:
            origins[contact_id] = found
    return origins


def contacts_from(kind: str, value: str) -> sa.Select[int] | None:
    """The unlinked contacts from the sender address `value`, or whose chatbot customer gave
    `value` (normalised as stored). Read from the queue's side (contacts with no customer), so
    the cost follows the queue, not the register."""
    label = GIVEN_LABELS.get(kind)
    if label is None:
        return None
    # The chatbot's notes keep what the customer gave as one "Label: value" line of their first
    # section; matched as a whole line, so "+3584012345" does not find "+35840123456".
    line = f"\n{label}: {value}"
    given_to_chatbot = sa.and_(
        Contact.channel == Channel.CHATBOT,
        Contact.notes.startswith(GIVEN_HEADING + "\n", autoescape=True),
        sa.or_(
            Contact.notes.contains(line + "\n", autoescape=True),
            Contact.notes.endswith(line, autoescape=True),
        ),
    )
    matches = given_to_chatbot
    if kind == "email":
        sent_from = sa.select(EmailMessage.contact_id).where(EmailMessage.sender_address == value)
        matches = sa.or_(Contact.id.in_(sent_from), given_to_chatbot)
    return sa.select(Contact.id).where(Contact.customer_id.is_(None), matches)
