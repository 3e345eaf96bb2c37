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
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.clock import require_aware
from cs_register.contacts.models import Contact

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


def past_their_time(
    session: Session, *, due_before: datetime, after_id: int, limit: int, lock: bool = True
) -> list[int]:
    """Ids of contacts past their time, in id order after `after_id`; with `lock`, locked for
    deletion (a second sweep running at once skips them rather than deleting them twice)."""
    query = (
        sa.select(Contact.id)
        .where(Contact.occurred_at <= due_before, Contact.id > after_id)
        .order_by(Contact.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def rows_digest(session: Session, contact_ids: Sequence[int]) -> str:
    """SHA-256 over the removed contacts' ids and times: the receipt proves which rows went
    without holding anything about the people in them."""
    rows = session.execute(
        sa.select(Contact.id, Contact.public_id, Contact.occurred_at)
        .where(Contact.id.in_(contact_ids))
        .order_by(Contact.id)
    )
    lines = "\n".join(f"{row_id}:{public_id}:{at.isoformat()}" for row_id, public_id, at in rows)
    return hashlib.sha256(lines.encode()).hexdigest()
