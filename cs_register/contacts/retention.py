"""How long contacts are kept: the one place the rule is defined.

The privacy statement promises that customer-service data is kept 180 days. A contact, with
everything that hangs on it (its notes, chatbot transcript, email text and metadata, identity
checks, the call row with the caller's number, its link history), is past its time
`CONTACT_RETENTION_DAYS` after it occurred: at `occurred_at + days` it is due, the boundary
instant included. It is still kept while another part of the register needs it, and those
parts say so through the personal-data registry (`RetentionKeeper`):

- a recording of it is still stored: a hold keeps the recording, never past its 12-month cap
  (`recordings.retention`), and the contact goes at the first sweep after the recording;
- an open privacy request concerns its customer (the request must be answered with it).

A customer with nothing left about them (no contact linked to or held for them) leaves the
same period after their last contact, or after the record was created if they were never
contacted: with no contact left, identifying them has no purpose. An open privacy request
keeps the record (`cs_register.privacy.data_retention` asks); consents and prohibitions, once
recorded, will keep it too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.clock import require_aware
from cs_register.contacts.models import Contact
from cs_register.customers.models import Customer
from cs_register.db import ids_past, next_ids

DEFAULT_DAYS = 180


@dataclass(frozen=True)
class ContactRetention:
    days: int = DEFAULT_DAYS

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("contacts must be kept at least one day")

    def due_before(self, now: datetime) -> datetime:
        """Contacts that occurred at or before this instant are past their time at `now`."""
        return require_aware(now, "now") - timedelta(days=self.days)

    def is_due(self, occurred_at: datetime, *, now: datetime) -> bool:
        return require_aware(occurred_at, "occurred_at") <= self.due_before(now)


# Ids of contacts past their time, in id order after `after_id`; with `lock`, locked for
# deletion (a second sweep running at once skips them rather than deleting them twice).
past_their_time = ids_past(Contact.id, Contact.occurred_at)


def rows_digest(session: Session, contact_ids: Sequence[int]) -> str:
    """SHA-256 over the removed contacts' ids and times: the receipt proves which rows went
    without holding anything about the people in them."""
    return _digest(
        session.execute(
            sa.select(Contact.id, Contact.public_id, Contact.occurred_at)
            .where(Contact.id.in_(contact_ids))
            .order_by(Contact.id)
        )
    )


# The moment that starts a customer's period: their last contact, else their creation.
CUSTOMER_LAST_ACTIVITY = sa.func.coalesce(Customer.last_contact_at, Customer.created_at)


def customers_without_contacts(
    session: Session, *, due_before: datetime, after_id: int, limit: int, lock: bool = True
) -> list[int]:
    """Ids of customers idle since `due_before` with no contact linked to or held for them."""
    theirs = sa.select(Contact.id).where(
        sa.or_(Contact.customer_id == Customer.id, Contact.held_for_customer_id == Customer.id)
    )
    return next_ids(
        session,
        Customer.id,
        due_before >= CUSTOMER_LAST_ACTIVITY,
        ~theirs.exists(),
        after_id=after_id,
        limit=limit,
        lock=lock,
    )


def customers_digest(session: Session, customer_ids: Sequence[int]) -> str:
    """SHA-256 over the removed records' ids and last activity: which rows, nothing more."""
    return _digest(
        session.execute(
            sa.select(Customer.id, Customer.public_id, CUSTOMER_LAST_ACTIVITY)
            .where(Customer.id.in_(customer_ids))
            .order_by(Customer.id)
        )
    )


def _digest(rows: Iterable[Any]) -> str:
    lines = "\n".join(f"{row_id}:{public_id}:{at.isoformat()}" for row_id, public_id, at in rows)
    return hashlib.sha256(lines.encode()).hexdigest()
