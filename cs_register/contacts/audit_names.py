"""How the audit trail names a contact (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from cs_register.audit.naming import SubjectName, name_each
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
    return name_each(
        session,
        Contact,
        (Contact.channel, Contact.occurred_at),
        public_ids,
        name=lambda row: SubjectName(
            f"{_CHANNEL_WORDS.get(row.channel, 'contact')} of {local_time(row.occurred_at)}",
            endpoint="contacts.contact_page",
        ),
        gone=DELETED,
    )
