"""A customer's prohibitions and consents, and the feed of their changes.

A `CustomerChoice` is one period of one choice: a prohibition in force from `started_at` until
it is lifted, or a consent given at `started_at` until it is withdrawn. Recording the same
choice again after it ended is a new row, so the history stays as it was.

`ChoiceChange` is the feed the marketing system pulls (`cs_register.consents.feed`): one row
per change, in the order the changes committed, numbered by `id`. It names the customer by
public id only; the feed adds their current email and phone when it is read.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.db import Base, PublicIdentified, str_enum
from cs_register.received_via import ReceivedVia


class ChoiceKind(enum.Enum):
    PROHIBITION = "prohibition"
    CONSENT = "consent"


class ChangeKind(enum.Enum):
    """What a feed entry says happened."""

    STARTED = "started"  # a prohibition came into force, a consent was given
    ENDED = "ended"  # a prohibition was lifted, a consent withdrawn
    # The customer's record was erased or its time was up: forget them.
    CUSTOMER_REMOVED = "customer_removed"


class CustomerChoice(PublicIdentified, Base):
    __tablename__ = "customer_choices"

    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    kind: Mapped[ChoiceKind] = mapped_column(str_enum(ChoiceKind, "choice_kind"))
    # A prohibition's name or a consent's purpose, from the deployment's settings.
    topic: Mapped[str] = mapped_column(sa.String(64))
    started_at: Mapped[datetime]
    started_channel: Mapped[ReceivedVia] = mapped_column(
        str_enum(ReceivedVia, "choice_started_channel")
    )
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    # The contact it was recorded during; contacts leave after their retention period and
    # the choice stays, so the link is cleared first (`ChoiceRecords.erase`).
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id"), index=True)
    ended_at: Mapped[datetime | None]
    ended_channel: Mapped[ReceivedVia | None] = mapped_column(
        str_enum(ReceivedVia, "choice_ended_channel")
    )
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    @property
    def in_force(self) -> bool:
        return self.ended_at is None


class ChoiceChange(Base):
    __tablename__ = "customer_choice_changes"
    # Entries are deleted (a customer's, when they are removed), and a number once given must
    # never come back: SQLite would otherwise reuse the highest deleted id, below a reader's
    # cursor. PostgreSQL's sequence never does.
    __table_args__ = {"sqlite_autoincrement": True}

    # The feed's cursor: 64-bit, and appended in commit order (`feed.append_change`).
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    customer_public_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    change: Mapped[ChangeKind] = mapped_column(str_enum(ChangeKind, "choice_change"))
    kind: Mapped[ChoiceKind | None] = mapped_column(str_enum(ChoiceKind, "choice_kind"))
    topic: Mapped[str | None] = mapped_column(sa.String(64))
    channel: Mapped[ReceivedVia | None] = mapped_column(str_enum(ReceivedVia, "choice_channel"))
