"""How the audit trail names a contact (`audit.naming`, wired in `create_app`)."""

from __future__ import annotations

from cs_register.audit.naming import SubjectName, subject_namer
from cs_register.clock import local_time
from cs_register.contacts.models import Channel, Contact

DELETED = SubjectName("deleted contact", gone=True)
_CHANNEL_WORDS = {Channel.PHONE: "phone call", Channel.EMAIL: "email", Channel.CHATBOT: "chat"}

# Channel and time only: a contact's subject and notes are free text customers and agents
# wrote, and may name people, so they stay on the contact's own page.
contact_names = subject_namer(
    Contact,
    (Contact.channel, Contact.occurred_at),
    name=lambda row, _viewer: SubjectName(
        f"{_CHANNEL_WORDS.get(row.channel, 'contact')} of {local_time(row.occurred_at)}",
        endpoint="contacts.contact_page",
    ),
    gone=DELETED,
)
