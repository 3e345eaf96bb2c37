"""How the audit trail names a contact (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName
from cs_register.clock import local_time
from cs_register.contacts.models import Channel, Contact
from cs_register.permissions import Principal

DELETED = SubjectName("deleted contact", gone=True)
_CHANNEL_WORDS = {Channel.PHONE: "phone call", Channel.EMAIL: "email", Channel.CHATBOT: "chat"}


def contact_names(
    session: Session, subject_type: str, public_ids: Collection[str], _viewer: Principal
) -> dict[str, SubjectName] | None:
    """Channel and time only: a contact's subject and notes are free text customers and
    agents wrote, and may name people, so they stay on the contact's own page."""
    if subject_type != Contact.audit_subject_type:
        return None
    rows = session.execute(
        sa.select(Contact.public_id, Contact.channel, Contact.occurred_at).where(
            Contact.public_id.in_(public_ids)
        )
    ).all()
    found = {row.public_id: row for row in rows}
    names: dict[str, SubjectName] = {}
    for public_id in public_ids:
        row = found.get(public_id)
        names[public_id] = (
            SubjectName(
                f"{_CHANNEL_WORDS.get(row.channel, 'contact')} of {local_time(row.occurred_at)}",
                endpoint="contacts.contact_page",
            )
            if row is not None
            else DELETED
        )
    return names
