"""The change feed the marketing system pulls: every prohibition and consent change, once.

Entries are numbered by `ChoiceChange.id`, and a reader asks for those after the last number
it has seen (the cursor). For that to return every change exactly once, numbers must become
visible in order: an entry numbered 10 that commits after 11 was read would be skipped for
good. So appends are serialised until commit (a transaction-scoped advisory lock on
PostgreSQL; SQLite has a single writer anyway), and a number is taken only under that lock.

An entry names the customer by public id; the reader gets their email and phone as they are
when it reads (the marketing system matches on those). When a customer's record goes (erasure,
or retention), their entries go with it and one `customer_removed` entry tells the reader to
forget them; those entries are kept `REMOVAL_NOTICE_DAYS`, long enough for any reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cs_register.consents.models import (
    ChangeKind,
    ChoiceChange,
    CustomerChoice,
)
from cs_register.customers.models import Customer
from cs_register.db import affected_rows
from cs_register.received_via import ReceivedVia

# Arbitrary constant key of the PostgreSQL advisory lock that orders the feed's appends.
FEED_LOCK_KEY = 0x4645_4544  # "FEED"
MAX_PAGE = 500
DEFAULT_PAGE = 100
REMOVAL_NOTICE_DAYS = 180


def _take_feed_lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK_KEY})


def append_change(
    session: Session,
    *,
    customer_public_id: str,
    change: ChangeKind,
    at: datetime,
    choice: CustomerChoice | None = None,
    channel: ReceivedVia | None = None,
) -> ChoiceChange:
    """Add one entry in the caller's transaction, numbered in commit order."""
    _take_feed_lock(session)
    entry = ChoiceChange(
        occurred_at=at,
        customer_public_id=customer_public_id,
        change=change,
        kind=choice.kind if choice is not None else None,
        topic=choice.topic if choice is not None else None,
        channel=channel,
    )
    session.add(entry)
    session.flush()
    return entry


def forget_customer(session: Session, *, customer_public_id: str, at: datetime) -> int:
    """The customer's record is going: drop their entries, leave one removal notice."""
    removed = affected_rows(
        session,
        sa.delete(ChoiceChange).where(ChoiceChange.customer_public_id == customer_public_id),
    )
    append_change(
        session, customer_public_id=customer_public_id, change=ChangeKind.CUSTOMER_REMOVED, at=at
    )
    return removed


def remove_old_notices(session: Session, *, now: datetime) -> int:
    """Removal notices older than `REMOVAL_NOTICE_DAYS`: every reader has had them."""
    return affected_rows(
        session,
        sa.delete(ChoiceChange).where(
            ChoiceChange.change == ChangeKind.CUSTOMER_REMOVED,
            ChoiceChange.occurred_at <= now - timedelta(days=REMOVAL_NOTICE_DAYS),
        ),
    )


@dataclass(frozen=True)
class FeedEntry:
    """One entry as read: the change, and the customer's email and phone (E.164, as the
    marketing system matches them) as they are now."""

    change: ChoiceChange
    email: str | None
    phone: str | None

    @property
    def cursor(self) -> int:
        return self.change.id

    def as_json(self) -> dict[str, object]:
        entry = self.change
        return {
            "cursor": str(entry.id),
            "occurred_at": entry.occurred_at.isoformat().replace("+00:00", "Z"),
            "change": entry.change.value,
            "customer": {"id": entry.customer_public_id, "email": self.email, "phone": self.phone},
            "kind": entry.kind.value if entry.kind else None,
            "topic": entry.topic,
            "channel": entry.channel.value if entry.channel else None,
        }


def changes_after(
    session: Session, *, after: int, limit: int = DEFAULT_PAGE
) -> Sequence[FeedEntry]:
    """Entries numbered after `after`, oldest first, at most `limit`."""
    rows = session.execute(
        sa.select(ChoiceChange, Customer.email, Customer.phone_e164)
        .outerjoin(Customer, Customer.public_id == ChoiceChange.customer_public_id)
        .where(ChoiceChange.id > after)
        .order_by(ChoiceChange.id)
        .limit(limit)
    )
    return [FeedEntry(entry, email, phone) for entry, email, phone in rows]
