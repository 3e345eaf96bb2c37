"""Who a phone contact came from: the caller's number on its call row, for the unidentified
queue, the link form and the customer page's offer (`pages.CONTACT_ORIGINS`,
`pages.CONTACTS_FROM`, wired in `create_app`). The contacts package cannot read the calls
table itself: recordings sit above it."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.contacts.models import Contact
from cs_register.identifiers import format_phone_local
from cs_register.pages import ContactOrigin
from recordings.models import Call

WITHHELD = "withheld"


def contact_origins(session: Session, contact_ids: Sequence[int]) -> dict[int, list[ContactOrigin]]:
    """The caller's number of each call among `contact_ids`, in one query."""
    if not contact_ids:
        return {}
    # Only the two columns: the page needs no more of the call, and the call row grows.
    rows = session.execute(
        sa.select(Call.contact_id, Call.customer_number).where(Call.contact_id.in_(contact_ids))
    )
    return {
        contact_id: [
            ContactOrigin(
                kind="phone",
                display=format_phone_local(number) if number is not None else WITHHELD,
                value=number,
            )
        ]
        for contact_id, number in rows
    }


def contacts_from(kind: str, value: str) -> sa.Select[int] | None:
    """The unlinked contacts whose call came from `value` (E.164, as stored); None for an
    email. Joined from the queue's side (contacts with no customer): the number has no index,
    and the queue is far shorter than the calls table."""
    if kind != "phone":
        return None
    return (
        sa.select(Contact.id)
        .join(Call, Call.contact_id == Contact.id)
        .where(Contact.customer_id.is_(None), Call.customer_number == value)
    )
